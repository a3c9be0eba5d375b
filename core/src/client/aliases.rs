//! MQTT 5 topic aliases, both directions, for one connection (both tables start empty on each
//! connection, as the specification says).
//!
//! - Incoming ([`Incoming`]): the broker may use aliases up to the maximum we announced
//!   (`ClientConfig::topic_alias_maximum`); a PUBLISH with a topic and an alias sets the
//!   mapping, one with an empty topic uses it.
//! - Outgoing ([`Outgoing`], with `ClientConfig::auto_topic_alias`): the policy is "least
//!   recently used". A topic sent before on this connection goes out as its alias alone (an
//!   empty topic); a new topic takes a free alias, or, when all the broker allows are taken,
//!   the one used least recently, and goes out with the topic and the alias (which sets the
//!   broker's mapping). An alias the application set itself is recorded the same way, also
//!   when its publish is replayed on a resumed session.

use std::collections::HashMap;

use crate::shared_str::SharedStr;

use crate::error::ProtocolError;
use crate::packet::Publish;

/// The broker's aliases on this connection.
#[derive(Debug, Default)]
pub(crate) struct Incoming {
    topics: HashMap<u16, SharedStr>,
}

impl Incoming {
    /// Resolves the alias of an incoming PUBLISH against `maximum` (what we announced): the
    /// topic is filled in, or the mapping recorded. An alias out of range, or an empty topic
    /// with an alias never set, is a protocol error.
    pub(crate) fn resolve(
        &mut self,
        publish: &mut Publish,
        maximum: u16,
    ) -> Result<(), ProtocolError> {
        let Some(alias) = publish.properties.topic_alias else {
            return Ok(());
        };
        if alias == 0 || alias > maximum {
            return Err(ProtocolError::InvalidTopicAlias(alias));
        }
        if publish.topic.is_empty() {
            match self.topics.get(&alias) {
                Some(topic) => publish.topic.clone_from(topic),
                None => return Err(ProtocolError::InvalidTopicAlias(alias)),
            }
        } else {
            self.topics.insert(alias, publish.topic.clone());
        }
        Ok(())
    }

    pub(crate) fn clear(&mut self) {
        self.topics.clear();
    }
}

/// Our aliases on this connection (least recently used is replaced first).
#[derive(Debug, Default)]
pub(crate) struct Outgoing {
    /// alias -> (topic, last use).
    by_alias: HashMap<u16, (String, u64)>,
    by_topic: HashMap<String, u16>,
    clock: u64,
}

impl Outgoing {
    /// Rewrites an outgoing PUBLISH to use an alias, within `maximum` (the broker's). A first
    /// use carries the topic and the alias property (3 bytes more), so it is only made when
    /// `room` (what the packet size limit leaves) has them; later uses drop the topic.
    pub(crate) fn apply(&mut self, publish: &mut Publish, maximum: u16, room: usize) {
        if maximum == 0 {
            return;
        }
        self.clock += 1;
        if publish.properties.topic_alias.is_some() {
            // The application chose it (checked at admission): remember what it now means.
            self.record(publish);
            return;
        }
        if let Some(&alias) = self.by_topic.get(&*publish.topic) {
            if let Some(entry) = self.by_alias.get_mut(&alias) {
                entry.1 = self.clock;
            }
            publish.properties.make_mut().topic_alias = Some(alias);
            publish.topic = SharedStr::new();
            return;
        }
        // A first use is 3 bytes longer (the alias property): only if that still fits.
        if room < 3 {
            return;
        }
        let alias = (1..=maximum)
            .find(|a| !self.by_alias.contains_key(a))
            .or_else(|| {
                self.by_alias
                    .iter()
                    .min_by_key(|(_, (_, used))| *used)
                    .map(|(alias, _)| *alias)
            });
        if let Some(alias) = alias {
            self.assign(alias, publish.topic.to_string());
            publish.properties.make_mut().topic_alias = Some(alias);
        }
    }

    /// A PUBLISH that goes out with a topic and an alias the application set (sent now, or
    /// replayed on a resumed session) sets the broker's mapping: recorded, so that no alias
    /// this table hands out later means something else at the broker.
    pub(crate) fn record(&mut self, publish: &Publish) {
        if let (Some(alias), false) = (publish.properties.topic_alias, publish.topic.is_empty()) {
            self.clock += 1;
            self.assign(alias, publish.topic.to_string());
        }
    }

    fn assign(&mut self, alias: u16, topic: String) {
        if let Some((old, _)) = self.by_alias.remove(&alias) {
            self.by_topic.remove(&old);
        }
        if let Some(previous) = self.by_topic.insert(topic.clone(), alias) {
            if previous != alias {
                self.by_alias.remove(&previous);
            }
        }
        self.by_alias.insert(alias, (topic, self.clock));
    }

    pub(crate) fn clear(&mut self) {
        self.by_alias.clear();
        self.by_topic.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{PublishProperties, QoS};

    fn publish(topic: &str) -> Publish {
        Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: topic.into(),
            pkid: 0,
            payload: Default::default(),
            properties: PublishProperties::default().into(),
        }
    }

    fn send(aliases: &mut Outgoing, topic: &str) -> (String, Option<u16>) {
        let mut p = publish(topic);
        aliases.apply(&mut p, 2, usize::MAX);
        (p.topic.into(), p.properties.topic_alias)
    }

    #[test]
    fn least_recently_used_alias_is_replaced_and_repeats_go_without_the_topic() {
        let mut aliases = Outgoing::default();
        assert_eq!(send(&mut aliases, "a"), ("a".into(), Some(1)));
        assert_eq!(send(&mut aliases, "b"), ("b".into(), Some(2)));
        assert_eq!(send(&mut aliases, "a"), (String::new(), Some(1)));
        // Both taken: "b" is the least recently used, so "c" takes its alias.
        assert_eq!(send(&mut aliases, "c"), ("c".into(), Some(2)));
        assert_eq!(send(&mut aliases, "b"), ("b".into(), Some(1)));
        assert_eq!(send(&mut aliases, "c"), (String::new(), Some(2)));
        aliases.clear();
        assert_eq!(send(&mut aliases, "c"), ("c".into(), Some(1)));
    }

    #[test]
    fn incoming_aliases_set_and_use_the_mapping_within_the_maximum() {
        let mut aliases = Incoming::default();
        let mut set = publish("t/x");
        set.properties.make_mut().topic_alias = Some(3);
        aliases.resolve(&mut set, 5).unwrap();
        let mut used = publish("");
        used.properties.make_mut().topic_alias = Some(3);
        aliases.resolve(&mut used, 5).unwrap();
        assert_eq!(used.topic, "t/x");
        let mut unknown = publish("");
        unknown.properties.make_mut().topic_alias = Some(4);
        assert!(aliases.resolve(&mut unknown, 5).is_err());
        let mut too_high = publish("t");
        too_high.properties.make_mut().topic_alias = Some(6);
        assert!(aliases.resolve(&mut too_high, 5).is_err());
    }
}
