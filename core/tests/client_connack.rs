//! MQTT 5 CONNACK information: what the application sees of the connection in force
//! (`Client::connection`, `Event::Connected`), the requests refused locally because the broker
//! said it cannot serve them, and client ids the broker assigns.

mod support;

use std::time::Duration;

use jamey_mqtt_core::packet::{
    ConnAck, ConnAckProperties, Packet, ProtocolVersion, QoS, ReasonCode, SubscribeFilter,
};
use jamey_mqtt_core::{
    ClientConfig, ClientError, Event, PublishRequest, RequestError, SubscriptionEnd, Unsupported,
};
use support::Pair;

fn v5(client_id: &str) -> ClientConfig {
    ClientConfig {
        protocol: ProtocolVersion::V5,
        client_id: client_id.into(),
        keep_alive: Duration::from_secs(30),
        ..ClientConfig::default()
    }
}

fn connack(properties: ConnAckProperties) -> Packet {
    Packet::ConnAck(Box::new(ConnAck {
        session_present: false,
        code: ReasonCode::SUCCESS,
        properties,
    }))
}

fn subscribe(pair: &mut Pair, filter: &str) -> Result<jamey_mqtt_core::Token, ClientError> {
    pair.client.subscribe(
        pair.now,
        vec![SubscribeFilter::new(filter, QoS::AtLeastOnce)],
    )
}

#[test]
fn every_connack_property_reaches_the_application_and_goes_with_the_connection() {
    let mut pair = Pair::new(v5("info"));
    pair.client.connect(pair.now);
    pair.drive();
    pair.expect_connect();
    pair.send(connack(ConnAckProperties {
        session_expiry_interval: Some(60),
        receive_maximum: Some(7),
        maximum_qos: Some(1),
        retain_available: Some(0),
        maximum_packet_size: Some(4096),
        topic_alias_maximum: Some(3),
        reason_string: Some("welcome".into()),
        user_properties: vec![("region".into(), "eu".into())],
        wildcard_subscription_available: Some(0),
        subscription_identifiers_available: Some(0),
        shared_subscription_available: Some(0),
        server_keep_alive: Some(12),
        response_information: Some("replies/info".into()),
        server_reference: Some("other.example:1883".into()),
        ..ConnAckProperties::default()
    }));
    let info = match pair.take_events().as_slice() {
        [Event::Connected {
            session_present: false,
            info,
        }] => (**info).clone(),
        other => panic!("expected Connected, got {other:?}"),
    };
    assert_eq!(pair.client.connection(), Some(&info));
    assert_eq!(info.client_id, "info");
    assert_eq!(info.keep_alive, Duration::from_secs(12));
    assert_eq!(info.server_keep_alive, Some(12));
    assert_eq!(info.session_expiry_interval, Some(60));
    assert_eq!(info.reason_string.as_deref(), Some("welcome"));
    assert_eq!(info.response_information.as_deref(), Some("replies/info"));
    assert_eq!(info.server_reference.as_deref(), Some("other.example:1883"));
    assert_eq!(info.user_properties, vec![("region".into(), "eu".into())]);
    let limits = info.limits;
    assert_eq!(limits.maximum_qos, QoS::AtLeastOnce);
    assert!(!limits.retain_available);
    assert_eq!(limits.receive_maximum, 7);
    assert_eq!(limits.maximum_packet_size, Some(4096));
    assert_eq!(limits.topic_alias_maximum, 3);
    assert!(!limits.wildcard_subscription_available);
    assert!(!limits.subscription_identifiers_available);
    assert!(!limits.shared_subscription_available);
    // The server keep alive is obeyed: PINGREQ after 12 s of silence, not 30.
    pair.advance(Duration::from_secs(12));
    assert_eq!(pair.take_sent(), vec![Packet::PingReq]);
    // The information belongs to the connection in force.
    pair.cut();
    assert_eq!(pair.client.connection(), None);
}

#[test]
fn what_the_broker_said_it_cannot_serve_is_refused_locally() {
    let mut pair = Pair::new(v5("limits"));
    pair.client.connect(pair.now);
    pair.drive();
    pair.expect_connect();
    pair.send(connack(ConnAckProperties {
        wildcard_subscription_available: Some(0),
        shared_subscription_available: Some(0),
        ..ConnAckProperties::default()
    }));
    pair.take_events();
    for filter in ["a/+", "a/#", "$share/g/a"] {
        assert!(
            matches!(
                subscribe(&mut pair, filter),
                Err(ClientError::Unsupported(_))
            ),
            "{filter} must be refused"
        );
    }
    pair.drive();
    assert!(pair.take_sent().is_empty(), "nothing refused may be sent");
    assert!(subscribe(&mut pair, "a/b").is_ok());
}

#[test]
fn a_broker_assigned_client_id_is_kept_for_reconnects_so_the_session_resumes() {
    let mut pair = Pair::new(ClientConfig {
        broker_assigns_client_id: true,
        clean_start: false,
        ..v5("")
    });
    pair.client.connect(pair.now);
    pair.drive();
    assert_eq!(pair.expect_connect().client_id, "");
    pair.send(connack(ConnAckProperties {
        assigned_client_identifier: Some("broker-made-42".into()),
        ..ConnAckProperties::default()
    }));
    let events = pair.take_events();
    let Some(Event::Connected { info, .. }) = events.first() else {
        panic!("expected Connected, got {events:?}");
    };
    assert_eq!(info.assigned_client_id.as_deref(), Some("broker-made-42"));
    assert_eq!(info.client_id, "broker-made-42");
    assert_eq!(pair.client.client_id(), "broker-made-42");
    pair.cut();
    let again = pair.reconnect_transport();
    assert_eq!(again.client_id, "broker-made-42");
    assert!(!again.clean_start, "the reconnect resumes the session");
}

#[test]
fn broker_assigned_ids_need_mqtt5_and_an_empty_client_id() {
    let on_311 = ClientConfig {
        broker_assigns_client_id: true,
        ..ClientConfig::default()
    };
    assert_eq!(
        on_311.validate().unwrap_err().field,
        "broker_assigns_client_id"
    );
    let with_id = ClientConfig {
        broker_assigns_client_id: true,
        ..v5("mine")
    };
    assert_eq!(
        with_id.validate().unwrap_err().field,
        "broker_assigns_client_id"
    );
    // Without the option, an empty id is generated from the seed, as before.
    let generated = jamey_mqtt_core::Client::new(v5(""), std::time::Instant::now()).unwrap();
    assert!(generated.client_id().starts_with("jamey-"));
}

#[test]
fn response_information_is_requested_when_asked_and_a_response_carries_the_correlation() {
    let mut pair = Pair::new(ClientConfig {
        request_response_information: true,
        ..v5("asks")
    });
    pair.client.connect(pair.now);
    pair.drive();
    assert_eq!(
        pair.expect_connect()
            .properties
            .request_response_information,
        Some(1)
    );
    let request = jamey_mqtt_core::Message {
        topic: "service/x".into(),
        payload: "q".into(),
        qos: QoS::AtLeastOnce,
        retain: false,
        dup: false,
        properties: jamey_mqtt_core::packet::PublishProperties {
            response_topic: Some("replies/7".into()),
            correlation_data: Some(bytes::Bytes::from_static(b"c7")),
            ..Default::default()
        }
        .into(),
        ack: None,
    };
    let response = request.response("a", QoS::AtMostOnce).unwrap();
    assert_eq!(response.topic, "replies/7");
    assert_eq!(
        response.properties.correlation_data.as_deref(),
        Some(&b"c7"[..])
    );
    let no_topic = jamey_mqtt_core::Message {
        properties: Default::default(),
        ..request
    };
    assert!(no_topic.response("a", QoS::AtMostOnce).is_none());
    assert!(ClientConfig {
        request_response_information: true,
        ..ClientConfig::default()
    }
    .validate()
    .is_err());
}

/// Requests made before the CONNACK that announces the limits (the first one, or after a
/// failover to a stricter broker) are checked again when it comes: each one beyond the limits
/// fails with the error admission gives, and none of them is sent.
fn failures(events: &[Event]) -> Vec<(jamey_mqtt_core::Token, RequestError)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::RequestFailed { token, error } => Some((*token, error.clone())),
            _ => None,
        })
        .collect()
}

fn publish(pair: &mut Pair, topic: &str, qos: QoS, retain: bool) -> jamey_mqtt_core::Token {
    let request = PublishRequest::new(topic, "x", qos).retain(retain);
    pair.client.publish(pair.now, request).expect("admitted")
}

#[test]
fn a_queued_publish_above_the_maximum_qos_fails_when_the_connack_announces_it() {
    let mut pair = Pair::new(v5("max-qos"));
    pair.client.connect(pair.now);
    pair.drive();
    pair.expect_connect();
    // Before the CONNACK the limits are not known: admitted.
    let qos2 = publish(&mut pair, "t/2", QoS::ExactlyOnce, false);
    let qos1 = publish(&mut pair, "t/1", QoS::AtLeastOnce, false);
    pair.send(connack(ConnAckProperties {
        maximum_qos: Some(1),
        ..ConnAckProperties::default()
    }));
    let events = pair.take_events();
    assert_eq!(
        failures(&events),
        vec![(
            qos2,
            RequestError::Unsupported(Unsupported::QoSAboveMaximum {
                requested: QoS::ExactlyOnce,
                maximum: QoS::AtLeastOnce,
            })
        )]
    );
    let topics: Vec<(String, QoS)> = pair
        .take_sent()
        .into_iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some((p.topic.into(), p.qos)),
            _ => None,
        })
        .collect();
    assert_eq!(topics, vec![("t/1".to_owned(), QoS::AtLeastOnce)]);
    let _ = qos1;
}

#[test]
fn a_queued_retained_publish_fails_when_the_connack_says_retain_is_unavailable() {
    let mut pair = Pair::new(v5("no-retain"));
    pair.client.connect(pair.now);
    pair.drive();
    pair.expect_connect();
    let retained = publish(&mut pair, "t/r", QoS::AtLeastOnce, true);
    publish(&mut pair, "t/plain", QoS::AtLeastOnce, false);
    pair.send(connack(ConnAckProperties {
        retain_available: Some(0),
        ..ConnAckProperties::default()
    }));
    assert_eq!(
        failures(&pair.take_events()),
        vec![(retained, RequestError::Unsupported(Unsupported::Retain))]
    );
    let sent: Vec<(String, bool)> = pair
        .take_sent()
        .into_iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some((p.topic.into(), p.retain)),
            _ => None,
        })
        .collect();
    assert_eq!(sent, vec![("t/plain".to_owned(), false)]);
}

fn subscribed_filters(sent: Vec<Packet>) -> Vec<String> {
    sent.into_iter()
        .flat_map(|p| match p {
            Packet::Subscribe(s) => s.filters.into_iter().map(|f| f.filter).collect(),
            _ => Vec::new(),
        })
        .collect()
}

#[test]
fn a_queued_wildcard_subscribe_fails_when_the_connack_says_wildcards_are_unavailable() {
    let mut pair = Pair::new(v5("no-wildcards"));
    pair.client.connect(pair.now);
    pair.drive();
    pair.expect_connect();
    let wildcard = subscribe(&mut pair, "a/+").expect("admitted before the CONNACK");
    // One wildcard among several filters refuses the whole request, as admission does.
    let mixed = pair
        .client
        .subscribe(
            pair.now,
            vec![
                SubscribeFilter::new("b/c", QoS::AtLeastOnce),
                SubscribeFilter::new("b/#", QoS::AtLeastOnce),
            ],
        )
        .expect("admitted before the CONNACK");
    subscribe(&mut pair, "a/b").expect("admitted");
    pair.send(connack(ConnAckProperties {
        wildcard_subscription_available: Some(0),
        ..ConnAckProperties::default()
    }));
    let unsupported = RequestError::Unsupported(Unsupported::WildcardSubscriptions);
    assert_eq!(
        failures(&pair.take_events()),
        vec![(wildcard, unsupported.clone()), (mixed, unsupported)]
    );
    assert_eq!(subscribed_filters(pair.take_sent()), vec!["a/b".to_owned()]);
}

#[test]
fn a_queued_shared_subscribe_fails_when_the_connack_says_shared_subscriptions_are_unavailable() {
    let mut pair = Pair::new(v5("no-shared"));
    pair.client.connect(pair.now);
    pair.drive();
    pair.expect_connect();
    let shared = subscribe(&mut pair, "$share/g/jobs").expect("admitted before the CONNACK");
    subscribe(&mut pair, "jobs").expect("admitted");
    pair.send(connack(ConnAckProperties {
        shared_subscription_available: Some(0),
        ..ConnAckProperties::default()
    }));
    assert_eq!(
        failures(&pair.take_events()),
        vec![(
            shared,
            RequestError::Unsupported(Unsupported::SharedSubscriptions)
        )]
    );
    assert_eq!(
        subscribed_filters(pair.take_sent()),
        vec!["jobs".to_owned()]
    );
}

#[test]
fn after_a_failover_to_a_stricter_broker_queued_requests_and_resubscriptions_obey_it() {
    let mut pair = Pair::new(v5("failover"));
    pair.client.connect(pair.now);
    pair.drive();
    pair.expect_connect();
    pair.send(connack(ConnAckProperties::default()));
    pair.take_events();
    let wildcard = subscribe(&mut pair, "a/#").expect("the first broker takes wildcards");
    let plain = subscribe(&mut pair, "a/b").expect("admitted");
    pair.drive();
    let sent = pair.take_sent();
    let pkids: Vec<u16> = sent
        .iter()
        .filter_map(|p| match p {
            Packet::Subscribe(s) => Some(s.pkid),
            _ => None,
        })
        .collect();
    assert_eq!(pkids.len(), 2);
    for pkid in pkids {
        pair.suback(pkid, vec![ReasonCode::GRANTED_QOS_1]);
    }
    pair.take_events();
    // The connection is lost; meanwhile a QoS 2 publish waits in the queue.
    pair.cut();
    let queued = publish(&mut pair, "t/2", QoS::ExactlyOnce, false);
    pair.reconnect_transport();
    // The new broker has no session, no wildcards and QoS 1 at most.
    pair.send(connack(ConnAckProperties {
        maximum_qos: Some(1),
        wildcard_subscription_available: Some(0),
        ..ConnAckProperties::default()
    }));
    let events = pair.take_events();
    assert_eq!(
        failures(&events),
        vec![(
            queued,
            RequestError::Unsupported(Unsupported::QoSAboveMaximum {
                requested: QoS::ExactlyOnce,
                maximum: QoS::AtLeastOnce,
            })
        )]
    );
    let ended: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::SubscriptionEnded { id, end } => Some((id.request(), end.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        ended,
        vec![(
            wildcard,
            SubscriptionEnd::ResubscribeRefused(ReasonCode::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED)
        )]
    );
    let sent = pair.take_sent();
    assert!(
        !sent.iter().any(|p| matches!(p, Packet::Publish(_))),
        "nothing beyond the limits is sent: {sent:?}"
    );
    assert_eq!(subscribed_filters(sent), vec!["a/b".to_owned()]);
    let _ = plain;
}

/// The first CONNACK with `session_present` and these properties (after a cut).
fn resume_with(pair: &mut Pair, properties: ConnAckProperties) {
    pair.cut();
    pair.take_events();
    pair.reconnect_transport();
    pair.send(Packet::ConnAck(Box::new(ConnAck {
        session_present: true,
        code: ReasonCode::SUCCESS,
        properties,
    })));
}

fn sent_publishes(pair: &mut Pair) -> Vec<(u16, bool, String)> {
    pair.take_sent()
        .into_iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some((p.pkid, p.dup, String::from(p.topic))),
            _ => None,
        })
        .collect()
}

#[test]
fn a_resumed_session_resends_within_the_new_receive_maximum_and_the_rest_as_acks_make_room() {
    let mut pair = Pair::connected(ClientConfig {
        clean_start: false,
        ..v5("resume-quota")
    });
    for topic in ["t/0", "t/1", "t/2", "t/3", "t/4"] {
        pair.client
            .publish(pair.now, PublishRequest::new(topic, "x", QoS::AtLeastOnce))
            .unwrap();
    }
    pair.drive();
    let first = sent_publishes(&mut pair);
    assert_eq!(first.len(), 5);
    // The broker comes back with a receive maximum of 2: two resends now, the others as
    // PUBACKs make room, in order, and nothing new before them.
    resume_with(
        &mut pair,
        ConnAckProperties {
            receive_maximum: Some(2),
            ..ConnAckProperties::default()
        },
    );
    pair.client
        .publish(
            pair.now,
            PublishRequest::new("t/new", "x", QoS::AtLeastOnce),
        )
        .unwrap();
    pair.drive();
    let resent = sent_publishes(&mut pair);
    let topics = |sent: &[(u16, bool, String)]| -> Vec<String> {
        sent.iter().map(|(_, _, t)| t.clone()).collect()
    };
    assert_eq!(topics(&resent), ["t/0", "t/1"]);
    assert!(resent.iter().all(|(_, dup, _)| *dup));
    let mut order = topics(&resent);
    for (pkid, _, _) in first {
        pair.puback(pkid);
        let sent = sent_publishes(&mut pair);
        assert!(sent.len() <= 1, "one ack, one packet out: {sent:?}");
        order.extend(topics(&sent));
    }
    assert_eq!(order, ["t/0", "t/1", "t/2", "t/3", "t/4", "t/new"]);
    assert_eq!(pair.client.stats().packets_replayed, 5);
}

#[test]
fn a_resumed_publish_beyond_the_new_maximum_packet_size_fails_and_is_not_sent() {
    let mut pair = Pair::connected(ClientConfig {
        clean_start: false,
        ..v5("resume-size")
    });
    let big = pair
        .client
        .publish(
            pair.now,
            PublishRequest::new("t/big", vec![b'x'; 500], QoS::AtLeastOnce),
        )
        .unwrap();
    pair.client
        .publish(
            pair.now,
            PublishRequest::new("t/small", "x", QoS::AtLeastOnce),
        )
        .unwrap();
    pair.drive();
    assert_eq!(sent_publishes(&mut pair).len(), 2);
    resume_with(
        &mut pair,
        ConnAckProperties {
            maximum_packet_size: Some(100),
            ..ConnAckProperties::default()
        },
    );
    let resent = sent_publishes(&mut pair);
    assert_eq!(resent.len(), 1);
    assert_eq!(resent[0].2, "t/small");
    let failed = pair.take_events().into_iter().any(|e| {
        matches!(e, Event::RequestFailed { token, error: RequestError::PacketTooLarge { max: 100, .. } } if token == big)
    });
    assert!(
        failed,
        "the big publish fails with its size and the new maximum"
    );
}
