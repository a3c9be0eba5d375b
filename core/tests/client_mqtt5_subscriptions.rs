//! MQTT 5 subscriptions: several filters and user properties in one SUBSCRIBE / UNSUBSCRIBE,
//! user properties on CONNECT, and subscription identifiers (on the wire, routed exactly,
//! kept when subscribing again after a session loss, refused where they cannot be used).

mod support;

use std::time::Duration;

use bytes::Bytes;
use jamey_mqtt_core::packet::{
    ConnAck, ConnAckProperties, Packet, ProtocolVersion, Publish, PublishProperties, QoS,
    ReasonCode, Subscribe, SubscribeFilter, SubscribeProperties, Unsubscribe,
};
use jamey_mqtt_core::{
    Client, ClientConfig, ClientError, Event, RequestError, SubscriptionEnd, SubscriptionId, Token,
};
use support::Pair;

fn config(protocol: ProtocolVersion) -> ClientConfig {
    ClientConfig {
        protocol,
        client_id: "mqtt5-subs".into(),
        keep_alive: Duration::from_secs(10),
        ..ClientConfig::default()
    }
}

fn user(name: &str, value: &str) -> (String, String) {
    (name.into(), value.into())
}

fn with_identifier(identifier: usize) -> SubscribeProperties {
    SubscribeProperties {
        subscription_identifier: Some(identifier),
        user_properties: Vec::new(),
    }
}

/// Subscribes `filters` with `properties`; the broker grants them all. Returns the token.
fn subscribe(pair: &mut Pair, filters: &[&str], properties: SubscribeProperties) -> Token {
    let token = pair
        .client
        .subscribe_with_properties(
            pair.now,
            filters
                .iter()
                .map(|f| SubscribeFilter::new(*f, QoS::AtLeastOnce))
                .collect(),
            properties,
        )
        .expect("subscribe admitted");
    pair.drive();
    let pkid = pair.expect_subscribe().pkid;
    pair.suback(pkid, vec![ReasonCode::GRANTED_QOS_1; filters.len()]);
    pair.take_events();
    token
}

fn message(topic: &str, payload: &'static [u8], identifiers: &[usize]) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: topic.into(),
        pkid: 0,
        payload: Bytes::from_static(payload),
        properties: PublishProperties {
            subscription_identifiers: identifiers.to_vec(),
            ..PublishProperties::default()
        }
        .into(),
    })
}

/// The messages among `events`: (payload, the subscriptions it went to, sorted).
fn deliveries(events: &[Event]) -> Vec<(Bytes, Vec<SubscriptionId>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message {
                message,
                subscriptions,
            } => {
                let mut ids = subscriptions.to_vec();
                ids.sort();
                Some((message.payload.clone(), ids))
            }
            _ => None,
        })
        .collect()
}

fn delivered(payload: &'static [u8], ids: &[SubscriptionId]) -> (Bytes, Vec<SubscriptionId>) {
    let mut ids = ids.to_vec();
    ids.sort();
    (Bytes::from_static(payload), ids)
}

#[test]
fn one_subscribe_packet_carries_every_filter_the_identifier_and_the_user_properties() {
    let mut pair = Pair::connected(config(ProtocolVersion::V5));
    let properties = SubscribeProperties {
        subscription_identifier: Some(7),
        user_properties: vec![user("k", "v"), user("k", "w")],
    };
    let token = pair
        .client
        .subscribe_with_properties(
            pair.now,
            vec![
                SubscribeFilter::new("a/b", QoS::AtLeastOnce),
                SubscribeFilter::new("c/#", QoS::ExactlyOnce),
            ],
            properties.clone(),
        )
        .expect("admitted");
    pair.drive();
    let subscribe = pair.expect_subscribe();
    assert_eq!(
        subscribe,
        Subscribe {
            pkid: subscribe.pkid,
            filters: vec![
                SubscribeFilter::new("a/b", QoS::AtLeastOnce),
                SubscribeFilter::new("c/#", QoS::ExactlyOnce),
            ],
            properties,
        }
    );
    // The bytes on the wire: identifier 7 (0x0B 0x07), then the user properties (0x26).
    let bytes = pair.encode(&Packet::Subscribe(Subscribe {
        pkid: 1,
        filters: vec![SubscribeFilter::new("a/b", QoS::AtLeastOnce)],
        properties: SubscribeProperties {
            subscription_identifier: Some(7),
            user_properties: vec![user("k", "v")],
        },
    }));
    assert_eq!(
        &bytes[..],
        &[0x82, 18, 0, 1, 9, 0x0B, 7, 0x26, 0, 1, b'k', 0, 1, b'v', 0, 3, b'a', b'/', b'b', 1][..]
    );
    // Per-filter results: one granted, one refused.
    pair.suback(
        subscribe.pkid,
        vec![ReasonCode::GRANTED_QOS_1, ReasonCode::NOT_AUTHORIZED],
    );
    let events = pair.take_events();
    assert!(events.contains(&Event::Subscribed {
        token,
        results: vec![Ok(QoS::AtLeastOnce), Err(ReasonCode::NOT_AUTHORIZED)],
    }));
    assert!(events.contains(&Event::SubscriptionEnded {
        id: SubscriptionId::new(token, 1),
        end: SubscriptionEnd::Refused(ReasonCode::NOT_AUTHORIZED),
    }));
}

#[test]
fn one_unsubscribe_packet_carries_every_filter_and_the_user_properties() {
    let mut pair = Pair::connected(config(ProtocolVersion::V5));
    let token = pair
        .client
        .unsubscribe_with_properties(
            pair.now,
            vec!["a/b".into(), "c/#".into()],
            vec![user("why", "done")],
        )
        .expect("admitted");
    pair.drive();
    let sent = pair.take_sent();
    let [Packet::Unsubscribe(unsubscribe)] = sent.as_slice() else {
        panic!("expected one UNSUBSCRIBE, got {sent:?}");
    };
    assert_eq!(
        unsubscribe,
        &Unsubscribe {
            pkid: unsubscribe.pkid,
            filters: vec!["a/b".into(), "c/#".into()],
            user_properties: vec![user("why", "done")],
        }
    );
    pair.send(Packet::UnsubAck(jamey_mqtt_core::packet::UnsubAck {
        pkid: unsubscribe.pkid,
        reasons: vec![ReasonCode::SUCCESS, ReasonCode::NO_SUBSCRIPTION_EXISTED],
        properties: Default::default(),
    }));
    assert!(pair.take_events().contains(&Event::Unsubscribed {
        token,
        results: vec![Ok(()), Ok(())],
    }));
}

#[test]
fn connect_carries_the_configured_user_properties() {
    let mut pair = Pair::new(ClientConfig {
        connect_user_properties: vec![user("app", "jamey"), user("zone", "eu")],
        ..config(ProtocolVersion::V5)
    });
    pair.client.connect(pair.now);
    pair.drive();
    let connect = pair.expect_connect();
    assert_eq!(
        connect.properties.user_properties,
        vec![user("app", "jamey"), user("zone", "eu")]
    );
}

#[test]
fn mqtt_5_only_options_are_refused_on_3_1_1() {
    let error = Client::new(
        ClientConfig {
            connect_user_properties: vec![user("app", "jamey")],
            ..config(ProtocolVersion::V311)
        },
        std::time::Instant::now(),
    )
    .expect_err("3.1.1 has no CONNECT properties");
    assert_eq!(error.field, "connect_user_properties");

    let mut pair = Pair::connected(config(ProtocolVersion::V311));
    let filters = vec![SubscribeFilter::new("a", QoS::AtLeastOnce)];
    for properties in [
        with_identifier(1),
        SubscribeProperties {
            subscription_identifier: None,
            user_properties: vec![user("k", "v")],
        },
    ] {
        assert!(matches!(
            pair.client
                .subscribe_with_properties(pair.now, filters.clone(), properties),
            Err(ClientError::Unsupported(_))
        ));
    }
    assert!(matches!(
        pair.client
            .unsubscribe_with_properties(pair.now, vec!["a".into()], vec![user("k", "v")]),
        Err(ClientError::Unsupported(_))
    ));
    pair.drive();
    assert!(pair.take_sent().is_empty(), "nothing refused is sent");
}

#[test]
fn identifiers_outside_the_range_are_refused() {
    let mut pair = Pair::connected(config(ProtocolVersion::V5));
    let filters = vec![SubscribeFilter::new("a", QoS::AtLeastOnce)];
    for identifier in [0, 268_435_456, usize::MAX] {
        assert_eq!(
            pair.client.subscribe_with_properties(
                pair.now,
                filters.clone(),
                with_identifier(identifier)
            ),
            Err(ClientError::InvalidSubscriptionIdentifier(identifier))
        );
    }
    pair.client
        .subscribe_with_properties(pair.now, filters, with_identifier(268_435_455))
        .expect("the largest identifier is allowed");
    pair.drive();
    assert_eq!(
        pair.expect_subscribe().properties.subscription_identifier,
        Some(268_435_455)
    );
}

fn connack_without_identifiers(pair: &mut Pair) {
    pair.send(Packet::ConnAck(Box::new(ConnAck {
        session_present: false,
        code: ReasonCode::SUCCESS,
        properties: ConnAckProperties {
            subscription_identifiers_available: Some(0),
            ..ConnAckProperties::default()
        },
    })));
}

#[test]
fn identifiers_are_refused_when_the_broker_has_none() {
    let mut pair = Pair::new(config(ProtocolVersion::V5));
    pair.client.connect(pair.now);
    pair.drive();
    pair.expect_connect();
    // Queued before the CONNACK said so: failed, never sent.
    let queued = pair
        .client
        .subscribe_with_properties(
            pair.now,
            vec![SubscribeFilter::new("q", QoS::AtLeastOnce)],
            with_identifier(3),
        )
        .expect("admitted before the CONNACK");
    let plain = pair
        .client
        .subscribe(pair.now, vec![SubscribeFilter::new("p", QoS::AtLeastOnce)])
        .expect("admitted");
    connack_without_identifiers(&mut pair);
    let events = pair.take_events();
    let failed = RequestError::Refused(ReasonCode::SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED);
    assert!(events.contains(&Event::RequestFailed {
        token: queued,
        error: failed.clone(),
    }));
    assert!(events.contains(&Event::SubscriptionEnded {
        id: SubscriptionId::new(queued, 0),
        end: SubscriptionEnd::Failed(failed),
    }));
    let subscribe = pair.expect_subscribe();
    assert_eq!(
        subscribe.filters,
        vec![SubscribeFilter::new("p", QoS::AtLeastOnce)]
    );
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::RequestFailed { token, .. } if *token == plain)));
    // After it: refused at once.
    assert_eq!(
        pair.client.subscribe_with_properties(
            pair.now,
            vec![SubscribeFilter::new("a", QoS::AtLeastOnce)],
            with_identifier(1),
        ),
        Err(ClientError::SubscriptionIdentifiersUnavailable)
    );
}

#[test]
fn a_message_with_identifiers_goes_exactly_to_the_subscriptions_with_them() {
    let mut pair = Pair::connected(config(ProtocolVersion::V5));
    let wide = SubscriptionId::new(subscribe(&mut pair, &["s/#"], with_identifier(1)), 0);
    let narrow = SubscriptionId::new(subscribe(&mut pair, &["s/+"], with_identifier(2)), 0);
    let plain = SubscriptionId::new(
        subscribe(&mut pair, &["s/a"], SubscribeProperties::default()),
        0,
    );
    // The broker sends a copy per overlapping subscription, each with its identifier.
    pair.send(message("s/a", b"one", &[1]));
    pair.send(message("s/a", b"two", &[2]));
    pair.send(message("s/a", b"none", &[]));
    pair.send(message("s/a", b"both", &[2, 1]));
    assert_eq!(
        deliveries(&pair.take_events()),
        vec![
            delivered(b"one", &[wide]),
            delivered(b"two", &[narrow]),
            delivered(b"none", &[plain]),
            delivered(b"both", &[wide, narrow]),
        ]
    );
    // An identifier nobody holds: unmatched, not guessed by topic.
    pair.send(message("s/a", b"stray", &[9]));
    assert_eq!(deliveries(&pair.take_events()), vec![]);
    assert_eq!(pair.client.health().unmatched_buffered, 1);
}

#[test]
fn one_identifier_on_several_filters_still_routes_by_topic_and_shared_ones_apart() {
    let mut pair = Pair::connected(config(ProtocolVersion::V5));
    let token = subscribe(&mut pair, &["a/#", "b/#"], with_identifier(5));
    let shared = SubscriptionId::new(subscribe(&mut pair, &["$share/g/t"], with_identifier(3)), 0);
    let direct = SubscriptionId::new(subscribe(&mut pair, &["t"], with_identifier(4)), 0);
    pair.send(message("a/x", b"a", &[5]));
    pair.send(message("b/x", b"b", &[5]));
    pair.send(message("t", b"for the group", &[3]));
    pair.send(message("t", b"for me", &[4]));
    assert_eq!(
        deliveries(&pair.take_events()),
        vec![
            delivered(b"a", &[SubscriptionId::new(token, 0)]),
            delivered(b"b", &[SubscriptionId::new(token, 1)]),
            delivered(b"for the group", &[shared]),
            delivered(b"for me", &[direct]),
        ]
    );
}

#[test]
fn a_filter_subscribed_again_takes_the_new_identifier() {
    let mut pair = Pair::connected(config(ProtocolVersion::V5));
    let first = SubscriptionId::new(subscribe(&mut pair, &["x"], with_identifier(1)), 0);
    let second = SubscriptionId::new(subscribe(&mut pair, &["x"], with_identifier(2)), 0);
    // The broker replaced its subscription of "x": it now sends identifier 2, for both.
    pair.send(message("x", b"m", &[2]));
    assert_eq!(
        deliveries(&pair.take_events()),
        vec![delivered(b"m", &[first, second])]
    );
}

#[test]
fn identifiers_are_kept_when_subscribing_again_after_a_session_loss() {
    let mut pair = Pair::connected(config(ProtocolVersion::V5));
    let plain = SubscriptionId::new(
        subscribe(&mut pair, &["c"], SubscribeProperties::default()),
        0,
    );
    let one = subscribe(&mut pair, &["a", "a2"], with_identifier(1));
    let two = SubscriptionId::new(subscribe(&mut pair, &["b"], with_identifier(2)), 0);
    pair.cut();
    pair.reconnect(false);
    // One SUBSCRIBE per identifier, the one without first.
    let sent: Vec<Subscribe> = pair
        .take_sent()
        .into_iter()
        .map(|p| match p {
            Packet::Subscribe(s) => s,
            other => panic!("expected SUBSCRIBEs, got {other:?}"),
        })
        .collect();
    let shape: Vec<(Option<usize>, Vec<String>)> = sent
        .iter()
        .map(|s| {
            (
                s.properties.subscription_identifier,
                s.filters.iter().map(|f| f.filter.clone()).collect(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            (None, vec!["c".to_string()]),
            (Some(1), vec!["a".to_string(), "a2".to_string()]),
            (Some(2), vec!["b".to_string()]),
        ]
    );
    // Nothing routed before the new session grants them; "b" is refused this time.
    pair.send(message("a", b"early", &[1]));
    assert_eq!(deliveries(&pair.take_events()), vec![]);
    pair.suback(sent[0].pkid, vec![ReasonCode::GRANTED_QOS_1]);
    pair.suback(sent[1].pkid, vec![ReasonCode::GRANTED_QOS_1; 2]);
    pair.suback(sent[2].pkid, vec![ReasonCode::NOT_AUTHORIZED]);
    let events = pair.take_events();
    assert!(events.contains(&Event::SubscriptionEnded {
        id: two,
        end: SubscriptionEnd::ResubscribeRefused(ReasonCode::NOT_AUTHORIZED),
    }));
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Resubscribed { .. }))
            .count(),
        3
    );
    // The early message waited in the unmatched buffer for its subscription.
    assert_eq!(
        deliveries(&events),
        vec![delivered(b"early", &[SubscriptionId::new(one, 0)])]
    );
    pair.send(message("a2", b"a2", &[1]));
    pair.send(message("c", b"c", &[]));
    pair.send(message("b", b"b", &[2]));
    assert_eq!(
        deliveries(&pair.take_events()),
        vec![
            delivered(b"a2", &[SubscriptionId::new(one, 1)]),
            delivered(b"c", &[plain]),
        ]
    );
    // A second loss subscribes again only what is still held, identifiers kept.
    pair.cut();
    pair.reconnect(false);
    let again: Vec<Option<usize>> = pair
        .take_sent()
        .into_iter()
        .filter_map(|p| match p {
            Packet::Subscribe(s) => Some(s.properties.subscription_identifier),
            _ => None,
        })
        .collect();
    assert_eq!(again, vec![None, Some(1)]);
}

#[test]
fn a_broker_without_identifiers_after_a_session_loss_ends_the_subscriptions_that_need_them() {
    let mut pair = Pair::connected(config(ProtocolVersion::V5));
    let plain = subscribe(&mut pair, &["c"], SubscribeProperties::default());
    let one = SubscriptionId::new(subscribe(&mut pair, &["a"], with_identifier(1)), 0);
    pair.cut();
    pair.reconnect_transport();
    connack_without_identifiers(&mut pair);
    let events = pair.take_events();
    assert!(events.contains(&Event::SubscriptionEnded {
        id: one,
        end: SubscriptionEnd::ResubscribeRefused(
            ReasonCode::SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED
        ),
    }));
    let subscribe = pair.expect_subscribe();
    assert_eq!(subscribe.properties.subscription_identifier, None);
    assert_eq!(
        subscribe.filters,
        vec![SubscribeFilter::new("c", QoS::AtLeastOnce)]
    );
    let _ = plain;
}
