//! Client-side permissions: this module owns the allowed publish and subscribe topic filters
//! (from JWT claims or configuration) and the checks the client makes before it queues a
//! PUBLISH or SUBSCRIBE.
//!
//! - Publishing to a topic is allowed when an allowed publish filter
//!   [matches](TopicFilter::matches) it.
//! - Subscribing to a filter is allowed only when an allowed subscribe filter
//!   [covers](TopicFilter::covers) it, i.e. when the subscription can never deliver a topic the
//!   grants do not match: `sensors/#` allows `sensors/+/temp`, `sensors/+/temp` does not allow
//!   `sensors/#`.
//! - `$` topics (`$SYS/...`) need an explicit grant whose first level is that `$` literal: a
//!   grant of `#` or `+/...` does not match them, exactly as MQTT matching says.
//! - [`Permissions::allow_all`] really allows everything, `$` topics included: it is a flag,
//!   not the filter `#`. It is also the [`Default`], because the broker is the authority on
//!   access control and these checks are an early, local refusal on top of it.
//! - Shared subscriptions (`$share/{ShareName}/{filter}`) are checked by their inner filter: a
//!   grant is about which topics may be received, not about the share group.

use crate::topic::{TopicError, TopicFilter, TopicName};

/// What the application tried to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Send a PUBLISH to a topic name.
    Publish,
    /// Send a SUBSCRIBE for a topic filter.
    Subscribe,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Action::Publish => "publish",
            Action::Subscribe => "subscribe",
        })
    }
}

/// A refused publish or subscribe: what was tried and on which topic name or filter (as
/// written, `$share/` prefix included). Converts into
/// [`ClientError::PermissionDenied`](crate::error::ClientError::PermissionDenied).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("permission denied: {action} on {topic:?}")]
pub struct Denied {
    /// Publish or subscribe.
    pub action: Action,
    /// The topic name (publish) or topic filter (subscribe) that was refused.
    pub topic: String,
}

impl From<Denied> for crate::error::ClientError {
    fn from(d: Denied) -> Self {
        crate::error::ClientError::PermissionDenied {
            action: d.action,
            topic: d.topic,
        }
    }
}

/// The grants for one action.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Grant {
    /// Everything, `$` topics included.
    All,
    /// Only what these filters match (publish) or cover (subscribe).
    Filters(Vec<TopicFilter>),
}

impl Grant {
    fn filters(&self) -> Option<&[TopicFilter]> {
        match self {
            Grant::All => None,
            Grant::Filters(f) => Some(f),
        }
    }
}

/// The topics a client may publish to and subscribe to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    publish: Grant,
    subscribe: Grant,
}

impl Default for Permissions {
    /// [`Permissions::allow_all`]: the broker stays the authority on access control.
    fn default() -> Self {
        Permissions::allow_all()
    }
}

impl Permissions {
    /// Allows publishing to the topics some filter in `publish` matches, and subscribing to the
    /// filters some filter in `subscribe` covers. Empty lists allow nothing.
    pub fn new(publish: Vec<TopicFilter>, subscribe: Vec<TopicFilter>) -> Permissions {
        Permissions {
            publish: Grant::Filters(publish),
            subscribe: Grant::Filters(subscribe),
        }
    }

    /// Allows every publish and every subscription, `$` topics included (unlike the filter
    /// `#`, which does not match `$SYS/...`).
    pub fn allow_all() -> Permissions {
        Permissions {
            publish: Grant::All,
            subscribe: Grant::All,
        }
    }

    /// Allows nothing: every publish and subscription is refused.
    pub fn deny_all() -> Permissions {
        Permissions::new(Vec::new(), Vec::new())
    }

    /// Parses the filters, e.g. from JWT claims or configuration; the first invalid filter is
    /// the error. A shared-subscription grant counts as its inner filter.
    pub fn from_strings(
        publish: &[impl AsRef<str>],
        subscribe: &[impl AsRef<str>],
    ) -> Result<Permissions, TopicError> {
        fn parse(list: &[impl AsRef<str>]) -> Result<Vec<TopicFilter>, TopicError> {
            list.iter().map(|s| TopicFilter::new(s.as_ref())).collect()
        }
        Ok(Permissions::new(parse(publish)?, parse(subscribe)?))
    }

    /// The publish grants, or `None` when every publish is allowed.
    pub fn publish_filters(&self) -> Option<&[TopicFilter]> {
        self.publish.filters()
    }

    /// The subscribe grants, or `None` when every subscription is allowed.
    pub fn subscribe_filters(&self) -> Option<&[TopicFilter]> {
        self.subscribe.filters()
    }

    /// Whether publishing to `topic` is allowed: some publish grant matches it.
    pub fn allows_publish(&self, topic: &TopicName) -> bool {
        match &self.publish {
            Grant::All => true,
            Grant::Filters(f) => f.iter().any(|f| f.matches(topic)),
        }
    }

    /// Whether subscribing to `filter` is allowed: some subscribe grant covers it, so every
    /// topic the subscription can deliver is matched by that grant.
    pub fn allows_subscribe(&self, filter: &TopicFilter) -> bool {
        match &self.subscribe {
            Grant::All => true,
            Grant::Filters(f) => f.iter().any(|f| f.covers(filter)),
        }
    }

    /// Whether a message on `topic` may be delivered to the holder: some subscribe grant
    /// matches it. This is what a broker checks before delivering (a subscription the holder
    /// was allowed may still match topics through another client's grant-less wildcard, and a
    /// grant may have changed since it subscribed); the client's own subscriptions are already
    /// limited by [`allows_subscribe`](Self::allows_subscribe).
    pub fn allows_receive(&self, topic: &TopicName) -> bool {
        match &self.subscribe {
            Grant::All => true,
            Grant::Filters(f) => f.iter().any(|f| f.matches(topic)),
        }
    }

    /// [`Permissions::allows_publish`] as a `Result` the client can return with `?`.
    pub fn check_publish(&self, topic: &TopicName) -> Result<(), Denied> {
        if self.allows_publish(topic) {
            Ok(())
        } else {
            Err(Denied {
                action: Action::Publish,
                topic: topic.as_str().to_owned(),
            })
        }
    }

    /// [`Permissions::allows_subscribe`] as a `Result` the client can return with `?`.
    pub fn check_subscribe(&self, filter: &TopicFilter) -> Result<(), Denied> {
        if self.allows_subscribe(filter) {
            Ok(())
        } else {
            Err(Denied {
                action: Action::Subscribe,
                topic: filter.as_str().to_owned(),
            })
        }
    }
}
