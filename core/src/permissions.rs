//! Allowed publish/subscribe topic filters and the checks made before a packet is queued.
//! (Interface stub.)
use crate::topic::{TopicFilter, TopicName};

/// What the application tried to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Publish,
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

/// The topics a client may publish to and subscribe to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Permissions {
    publish: Vec<TopicFilter>,
    subscribe: Vec<TopicFilter>,
}

impl Permissions {
    pub fn new(publish: Vec<TopicFilter>, subscribe: Vec<TopicFilter>) -> Permissions {
        Permissions { publish, subscribe }
    }
    pub fn allows_publish(&self, topic: &TopicName) -> bool {
        self.publish.iter().any(|f| f.matches(topic))
    }
    pub fn allows_subscribe(&self, filter: &TopicFilter) -> bool {
        self.subscribe.iter().any(|f| f.covers(filter))
    }
}
