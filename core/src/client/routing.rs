//! The application's subscriptions, in one table: their identity ([`SubscriptionId`]), which of
//! them an incoming message goes to, the bounded buffer for messages that match none yet, and
//! which filters to subscribe again when the broker lost the session.
//!
//! An entry is made when a SUBSCRIBE is admitted (one per filter). Messages are routed to it
//! once the broker granted it (SUBACK): before that the application has no stream to read it
//! from, so a message matching only subscriptions still waiting for their SUBACK waits in the
//! unmatched buffer, and the grant hands it over. An entry ends with exactly one
//! [`Event::SubscriptionEnded`](super::Event): unsubscribed (when the application asks, not at
//! UNSUBACK: it stops reading at once), refused (at SUBACK, or when a re-subscription after a
//! session loss is refused), failed, or dropped by the application
//! ([`Client::drop_subscription`](super::Client::drop_subscription), which ends it silently).
//! Closing the client ends every stream in the adapter; no event is needed for that.
//!
//! Subscription identifiers (MQTT 5): a subscription made with one receives exactly the
//! messages that carry it (and match its filter); a message without identifiers goes, by
//! topic, to the subscriptions without one. So overlapping and shared subscriptions with
//! different identifiers each get exactly their own copies. The broker keeps one subscription
//! per filter, so when a filter is granted again, every subscription with that filter takes
//! the identifier of the latest grant.

use std::collections::VecDeque;

use super::events::{Message, SubscriptionEnd, SubscriptionId, SubscriptionIds};
use crate::packet::SubscribeFilter;
use crate::session::Token;
use crate::topic::{TopicFilter, TopicName};

#[derive(Debug)]
struct Entry {
    id: SubscriptionId,
    filter: TopicFilter,
    options: SubscribeFilter,
    /// The MQTT 5 subscription identifier the broker holds for this filter, if any.
    identifier: Option<usize>,
    grant: Grant,
}

impl Entry {
    /// Whether `message` is for this subscription (see the module documentation).
    fn receives(&self, message: &Message) -> bool {
        let carried = &message.properties.subscription_identifiers;
        let for_identifier = match self.identifier {
            Some(id) => carried.contains(&id),
            None => carried.is_empty(),
        };
        for_identifier && matches(&self.filter, &message.topic)
    }
}

/// Where a subscription stands with the broker's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    /// Its SUBSCRIBE is not answered yet.
    Requested,
    /// Granted in the session in force: messages are routed to it.
    Granted,
    /// Granted in a session the broker lost; the client's re-subscription is not answered
    /// yet. Not routed to (the new session may refuse it), but subscribed again on every
    /// further session loss.
    Regranting,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Routing {
    entries: Vec<Entry>,
    /// Messages that matched no entry, oldest first, for the next subscription that matches.
    unmatched: VecDeque<Message>,
    unmatched_capacity: usize,
    /// The internal re-subscribe requests in flight (their tokens are never handed out), each
    /// with the filters it carries: one per subscription identifier, since a SUBSCRIBE
    /// carries at most one.
    resubscribe: Vec<(Token, Vec<String>)>,
}

/// What routing an incoming message did with it.
pub(crate) enum Unmatched {
    /// Kept in the unmatched buffer; `dropped` the oldest one it pushed out.
    Kept { dropped: Option<Message> },
    /// The buffer holds nothing (capacity 0): dropped (handed back).
    Dropped(Message),
}

impl Routing {
    pub(crate) fn new(unmatched_capacity: usize) -> Routing {
        Routing {
            entries: Vec::new(),
            unmatched: VecDeque::new(),
            unmatched_capacity,
            resubscribe: Vec::new(),
        }
    }

    /// Registers the filters of an admitted SUBSCRIBE (`filters` were validated), with the
    /// request's subscription identifier; they get messages once granted.
    pub(crate) fn add(
        &mut self,
        token: Token,
        filters: &[SubscribeFilter],
        identifier: Option<usize>,
    ) {
        for (index, options) in filters.iter().enumerate() {
            if let Ok(filter) = TopicFilter::new(options.filter.as_str()) {
                self.entries.push(Entry {
                    id: SubscriptionId::new(token, index),
                    filter,
                    options: options.clone(),
                    identifier,
                    grant: Grant::Requested,
                });
            }
        }
    }

    /// The subscriptions `message` goes to (empty: none; see [`Routing::keep_unmatched`]).
    pub(crate) fn route(&self, message: &Message) -> SubscriptionIds {
        // The topic is a valid name: the decoder checked it (or, for an alias, its first use).
        self.entries
            .iter()
            .filter(|e| e.grant == Grant::Granted && e.receives(message))
            .map(|e| e.id)
            .collect()
    }

    /// A message no subscription takes: kept for a subscription still to come, within the
    /// unmatched buffer's bound.
    pub(crate) fn keep_unmatched(&mut self, message: Message) -> Unmatched {
        if self.unmatched_capacity == 0 {
            return Unmatched::Dropped(message);
        }
        let dropped = if self.unmatched.len() >= self.unmatched_capacity {
            self.unmatched.pop_front()
        } else {
            None
        };
        self.unmatched.push_back(message);
        Unmatched::Kept { dropped }
    }

    /// SUBACK granted these subscriptions: messages are routed to them from now on and they
    /// are subscribed again after a session loss. Returns the buffered unmatched messages they
    /// match, handed over to them (oldest first, each with every id it matches).
    pub(crate) fn grant(&mut self, ids: &[SubscriptionId]) -> Vec<(Message, SubscriptionIds)> {
        let mut granted = Vec::new();
        let mut identifiers = Vec::new();
        for entry in self.entries.iter_mut().filter(|e| ids.contains(&e.id)) {
            entry.grant = Grant::Granted;
            granted.push(entry.id);
            identifiers.push((entry.options.filter.clone(), entry.identifier));
        }
        // The broker replaced its subscription of each filter, identifier included.
        for (filter, identifier) in identifiers {
            for entry in self
                .entries
                .iter_mut()
                .filter(|e| e.grant != Grant::Requested && e.options.filter == filter)
            {
                entry.identifier = identifier;
            }
        }
        let mut adopted = Vec::new();
        let mut kept = VecDeque::with_capacity(self.unmatched.len());
        for message in std::mem::take(&mut self.unmatched) {
            let matched: SubscriptionIds = self
                .entries
                .iter()
                .filter(|e| {
                    granted.contains(&e.id)
                        && TopicName::validate(&message.topic).is_ok()
                        && e.receives(&message)
                })
                .map(|e| e.id)
                .collect();
            if matched.is_empty() {
                kept.push_back(message);
            } else {
                adopted.push((message, matched));
            }
        }
        self.unmatched = kept;
        adopted
    }

    /// The broker lost the session: every granted subscription waits for its re-subscription
    /// to be answered before messages are routed to it again.
    pub(crate) fn session_lost(&mut self) {
        for entry in self
            .entries
            .iter_mut()
            .filter(|e| e.grant == Grant::Granted)
        {
            entry.grant = Grant::Regranting;
        }
    }

    /// The subscriptions waiting for the re-subscription of `filter`.
    pub(crate) fn regranting(&self, filter: &str) -> Vec<SubscriptionId> {
        self.entries
            .iter()
            .filter(|e| e.grant == Grant::Regranting && e.options.filter == filter)
            .map(|e| e.id)
            .collect()
    }

    /// Removes the subscription `id`; whether it was there.
    pub(crate) fn remove(&mut self, id: SubscriptionId) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.id != id);
        before != self.entries.len()
    }

    /// Every subscription of request `token` ends (the request failed): their ids.
    pub(crate) fn remove_request(&mut self, token: Token) -> Vec<SubscriptionId> {
        self.remove_where(|e| e.id.request() == token)
    }

    /// The application unsubscribes `filter`: every subscription with exactly this filter
    /// ends now (one made later is not affected by this UNSUBSCRIBE).
    pub(crate) fn unsubscribe(&mut self, filter: &str) -> Vec<SubscriptionId> {
        self.remove_where(|e| e.options.filter == filter)
    }

    /// The re-subscribe request `token` failed as a whole: every subscription it carried
    /// ends.
    pub(crate) fn remove_regranting(&mut self, token: Token) -> Vec<SubscriptionId> {
        let Some(index) = self.resubscribe.iter().position(|(t, _)| *t == token) else {
            return Vec::new();
        };
        let (_, filters) = self.resubscribe.remove(index);
        self.remove_where(|e| e.grant == Grant::Regranting && filters.contains(&e.options.filter))
    }

    /// A re-subscription of `filter` was refused: every subscription waiting for it ends.
    pub(crate) fn refused_again(&mut self, filter: &str) -> Vec<SubscriptionId> {
        self.remove_where(|e| e.grant == Grant::Regranting && e.options.filter == filter)
    }

    fn remove_where(&mut self, ends: impl Fn(&Entry) -> bool) -> Vec<SubscriptionId> {
        let ended = self
            .entries
            .iter()
            .filter(|e| ends(e))
            .map(|e| e.id)
            .collect();
        self.entries.retain(|e| !ends(e));
        ended
    }

    /// The filters to subscribe again after a session loss: each granted filter once, with
    /// the options of its latest grant, grouped by subscription identifier (one SUBSCRIBE
    /// each; the group without one first).
    pub(crate) fn to_resubscribe(&self) -> Vec<(Option<usize>, Vec<SubscribeFilter>)> {
        let mut filters: Vec<(Option<usize>, SubscribeFilter)> = Vec::new();
        for entry in self.entries.iter().filter(|e| e.grant != Grant::Requested) {
            let latest = (entry.identifier, entry.options.clone());
            match filters
                .iter_mut()
                .find(|(_, f)| f.filter == entry.options.filter)
            {
                Some(known) => *known = latest,
                None => filters.push(latest),
            }
        }
        let mut groups: Vec<(Option<usize>, Vec<SubscribeFilter>)> = Vec::new();
        for (identifier, filter) in filters {
            match groups.iter_mut().find(|(id, _)| *id == identifier) {
                Some((_, group)) => group.push(filter),
                None => groups.push((identifier, vec![filter])),
            }
        }
        groups.sort_by_key(|(identifier, _)| *identifier);
        groups
    }

    /// The re-subscribe requests in flight (`add_resubscribe`), taken.
    pub(crate) fn take_resubscribes(&mut self) -> Vec<Token> {
        std::mem::take(&mut self.resubscribe)
            .into_iter()
            .map(|(token, _)| token)
            .collect()
    }

    /// The re-subscribe request `token` (answered or failed) is no longer in flight.
    pub(crate) fn resubscribe_done(&mut self, token: Token) {
        self.resubscribe.retain(|(t, _)| *t != token);
    }

    /// An internal re-subscribe request for `filters`.
    pub(crate) fn add_resubscribe(&mut self, token: Token, filters: &[SubscribeFilter]) {
        let filters = filters.iter().map(|f| f.filter.clone()).collect();
        self.resubscribe.push((token, filters));
    }

    pub(crate) fn is_resubscribe(&self, token: Token) -> bool {
        self.resubscribe.iter().any(|(t, _)| *t == token)
    }

    /// How many messages wait in the unmatched buffer.
    pub(crate) fn unmatched_len(&self) -> usize {
        self.unmatched.len()
    }

    /// The client closed: nothing more is routed; buffered messages are gone.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.unmatched.clear();
        self.resubscribe.clear();
    }
}

impl SubscriptionEnd {
    /// Whether the stream ends with an error item (anything but an unsubscribe).
    pub fn is_error(&self) -> bool {
        !matches!(self, SubscriptionEnd::Unsubscribed)
    }
}

/// `topic` was validated by the caller ([`TopicName::validate`]).
fn matches(filter: &TopicFilter, topic: &str) -> bool {
    filter.matches_str(topic)
}
