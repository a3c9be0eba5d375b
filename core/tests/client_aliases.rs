//! MQTT 5 topic aliases through the whole core: what we announce, the broker's aliases
//! resolved per connection, and automatic outgoing aliases within the broker's maximum.

mod support;

use std::time::Duration;

use bytes::Bytes;
use jamey_mqtt_core::packet::{
    ConnAck, ConnAckProperties, Packet, ProtocolVersion, Publish, PublishProperties, QoS,
    ReasonCode,
};
use jamey_mqtt_core::{ClientConfig, Event, LostReason, ProtocolError, PublishRequest};
use support::Pair;

fn v5(config: ClientConfig) -> Pair {
    let mut pair = Pair::new(ClientConfig {
        protocol: ProtocolVersion::V5,
        client_id: "aliases".into(),
        keep_alive: Duration::from_secs(30),
        ..config
    });
    pair.client.connect(pair.now);
    pair.drive();
    pair.expect_connect();
    pair
}

fn connack(pair: &mut Pair, topic_alias_maximum: u16) {
    pair.send(Packet::ConnAck(Box::new(ConnAck {
        session_present: false,
        code: ReasonCode::SUCCESS,
        properties: ConnAckProperties {
            topic_alias_maximum: Some(topic_alias_maximum),
            ..ConnAckProperties::default()
        },
    })));
    pair.take_events();
}

fn incoming(topic: &str, alias: u16, payload: &'static [u8]) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: topic.into(),
        pkid: 0,
        payload: Bytes::from_static(payload),
        properties: PublishProperties {
            topic_alias: Some(alias),
            ..PublishProperties::default()
        }
        .into(),
    })
}

fn sent_topics(pair: &mut Pair) -> Vec<(String, Option<u16>)> {
    pair.take_sent()
        .into_iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some((p.topic.into(), p.properties.topic_alias)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_brokers_aliases_resolve_within_what_we_announced_and_per_connection() {
    let mut pair = Pair::new(ClientConfig {
        protocol: ProtocolVersion::V5,
        client_id: "aliases".into(),
        topic_alias_maximum: 5,
        ..ClientConfig::default()
    });
    pair.client.connect(pair.now);
    pair.drive();
    assert_eq!(
        pair.expect_connect().properties.topic_alias_maximum,
        Some(5)
    );
    connack(&mut pair, 0);
    pair.subscribe_everything();
    pair.send(incoming("sensors/long/topic", 2, b"first"));
    pair.send(incoming("", 2, b"second"));
    let topics: Vec<String> = pair
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Message { message, .. } => Some(message.topic.into()),
            _ => None,
        })
        .collect();
    assert_eq!(topics, ["sensors/long/topic", "sensors/long/topic"]);
    // A new connection starts with no mapping: the same alias alone is a protocol error.
    pair.cut();
    pair.reconnect(true);
    pair.take_events();
    pair.send(incoming("", 2, b"stale"));
    assert!(matches!(
        pair.take_events().first(),
        Some(Event::ConnectionLost(LostReason::Protocol(
            ProtocolError::InvalidTopicAlias(2)
        )))
    ));
}

#[test]
fn an_alias_above_what_we_announced_is_a_protocol_error() {
    let mut pair = v5(ClientConfig {
        topic_alias_maximum: 5,
        ..ClientConfig::default()
    });
    connack(&mut pair, 0);
    pair.send(incoming("t", 6, b"x"));
    assert!(matches!(
        pair.take_events().first(),
        Some(Event::ConnectionLost(LostReason::Protocol(
            ProtocolError::InvalidTopicAlias(6)
        )))
    ));
}

#[test]
fn automatic_aliases_drop_repeated_topics_within_the_brokers_maximum_and_reset_per_connection() {
    let mut pair = v5(ClientConfig {
        auto_topic_alias: true,
        ..ClientConfig::default()
    });
    connack(&mut pair, 2);
    for topic in [
        "a/long/topic",
        "b/long/topic",
        "a/long/topic",
        "c/long/topic",
    ] {
        pair.client
            .publish(pair.now, PublishRequest::new(topic, "x", QoS::AtMostOnce))
            .unwrap();
        pair.drive();
    }
    assert_eq!(
        sent_topics(&mut pair),
        vec![
            ("a/long/topic".into(), Some(1)),
            ("b/long/topic".into(), Some(2)),
            (String::new(), Some(1)),
            // Both aliases taken: the least recently used ("b", alias 2) is replaced.
            ("c/long/topic".into(), Some(2)),
        ]
    );
    pair.cut();
    pair.reconnect(true);
    pair.take_sent();
    first_publish_after_a_reconnect_carries_its_topic(&mut pair);
}

/// After a reconnect, the first publish carries its topic again (the broker forgot the
/// aliases with the connection).
fn first_publish_after_a_reconnect_carries_its_topic(pair: &mut Pair) {
    pair.client
        .publish(
            pair.now,
            PublishRequest::new("a/long/topic", "x", QoS::AtMostOnce),
        )
        .unwrap();
    pair.drive();
    let sent = sent_topics(pair);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, "a/long/topic");
}

#[test]
fn without_a_broker_maximum_nothing_is_aliased() {
    let mut pair = v5(ClientConfig {
        auto_topic_alias: true,
        ..ClientConfig::default()
    });
    connack(&mut pair, 0);
    for _ in 0..2 {
        pair.client
            .publish(pair.now, PublishRequest::new("t/x", "x", QoS::AtMostOnce))
            .unwrap();
        pair.drive();
    }
    assert_eq!(
        sent_topics(&mut pair),
        vec![("t/x".into(), None), ("t/x".into(), None)]
    );
}

#[test]
fn alias_options_are_mqtt5_only() {
    for (config, field) in [
        (
            ClientConfig {
                topic_alias_maximum: 1,
                ..ClientConfig::default()
            },
            "topic_alias_maximum",
        ),
        (
            ClientConfig {
                auto_topic_alias: true,
                ..ClientConfig::default()
            },
            "auto_topic_alias",
        ),
    ] {
        let error = config.validate().expect_err("MQTT 5 only on 3.1.1");
        assert_eq!(error.field, field);
        assert!(error.reason.contains("MQTT 5 only"), "{error}");
        // The same settings are fine on MQTT 5.
        ClientConfig {
            protocol: ProtocolVersion::V5,
            ..config
        }
        .validate()
        .expect("valid on MQTT 5");
    }
}

#[test]
fn session_expiry_and_will_properties_are_refused_on_3_1_1_naming_the_field() {
    let expiry = ClientConfig {
        session_expiry_interval: Some(60),
        ..ClientConfig::default()
    };
    assert_eq!(ClientConfig::default().protocol, ProtocolVersion::V311);
    assert_eq!(
        expiry
            .validate()
            .expect_err("3.1.1 has no session expiry")
            .field,
        "session_expiry_interval"
    );
    ClientConfig {
        protocol: ProtocolVersion::V5,
        ..expiry
    }
    .validate()
    .expect("valid on MQTT 5");
    let will = ClientConfig {
        will: Some(jamey_mqtt_core::Will {
            topic: "wills/x".into(),
            payload: Bytes::from_static(b"gone"),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: jamey_mqtt_core::WillProperties {
                delay_interval: Some(5),
                ..Default::default()
            },
        }),
        ..ClientConfig::default()
    };
    assert_eq!(
        will.validate()
            .expect_err("3.1.1 has no will properties")
            .field,
        "will.properties"
    );
}

/// The broker's side of outgoing aliases: each PUBLISH with a topic and an alias sets the
/// mapping, one with an alias alone uses it. Returns the topic each publish resolves to.
fn resolve_at_broker(sent: &[(String, Option<u16>)]) -> Vec<String> {
    let mut mapping = std::collections::HashMap::new();
    sent.iter()
        .map(|(topic, alias)| match alias {
            Some(alias) if topic.is_empty() => mapping
                .get(alias)
                .cloned()
                .unwrap_or_else(|| panic!("alias {alias} used before it was set")),
            Some(alias) => {
                mapping.insert(*alias, topic.clone());
                topic.clone()
            }
            None => topic.clone(),
        })
        .collect()
}

#[test]
fn a_replayed_publish_with_an_alias_set_by_hand_is_recorded_for_automatic_aliases() {
    let mut pair = v5(ClientConfig {
        auto_topic_alias: true,
        ..ClientConfig::default()
    });
    connack(&mut pair, 2);
    // The application sets alias 2 itself on a QoS 1 publish the broker does not ack.
    pair.client
        .publish(
            pair.now,
            PublishRequest::new("a/long/topic", "by hand", QoS::AtLeastOnce).properties(
                PublishProperties {
                    topic_alias: Some(2),
                    ..PublishProperties::default()
                },
            ),
        )
        .unwrap();
    pair.drive();
    assert_eq!(
        sent_topics(&mut pair),
        vec![("a/long/topic".into(), Some(2))]
    );
    // The session resumes on a new connection: the publish is replayed with its alias, which
    // maps alias 2 to "a/long/topic" at the broker again.
    pair.cut();
    pair.reconnect_transport();
    pair.send(Packet::ConnAck(Box::new(ConnAck {
        session_present: true,
        code: ReasonCode::SUCCESS,
        properties: ConnAckProperties {
            topic_alias_maximum: Some(2),
            ..ConnAckProperties::default()
        },
    })));
    pair.take_events();
    for topic in [
        "b/long/topic",
        "a/long/topic",
        "c/long/topic",
        "a/long/topic",
    ] {
        pair.client
            .publish(pair.now, PublishRequest::new(topic, "x", QoS::AtMostOnce))
            .unwrap();
        pair.drive();
    }
    let sent = sent_topics(&mut pair);
    assert_eq!(
        sent,
        vec![
            ("a/long/topic".into(), Some(2)),
            ("b/long/topic".into(), Some(1)),
            // The replay's mapping is known: the topic goes as its alias alone.
            (String::new(), Some(2)),
            // Both taken: "b" (alias 1) is the least recently used.
            ("c/long/topic".into(), Some(1)),
            (String::new(), Some(2)),
        ]
    );
    assert_eq!(
        resolve_at_broker(&sent),
        [
            "a/long/topic",
            "b/long/topic",
            "a/long/topic",
            "c/long/topic",
            "a/long/topic"
        ]
    );
}
