//! The client state machine driven through its public API against a scripted broker on a
//! simulated link and clock (see `support/mod.rs`).

mod support;

use std::time::Duration;

use bytes::Bytes;
use jamey_mqtt_core::packet::{
    Ack, Packet, ProtocolVersion, Publish, PublishProperties, QoS, ReasonCode, SubscribeFilter,
    UnsubAck,
};
use jamey_mqtt_core::permissions::Permissions;
use jamey_mqtt_core::reconnect::ReconnectConfig;
use jamey_mqtt_core::topic::TopicFilter;
use jamey_mqtt_core::{
    Action, ClientConfig, ClientError, ConnectError, ConnectionState, Event, LostReason,
    ProtocolError, PublishRequest, RequestError, SessionLostPolicy, SubscriptionEnd,
    SubscriptionId,
};
use support::Pair;

fn config() -> ClientConfig {
    ClientConfig {
        client_id: "test-client".into(),
        keep_alive: Duration::from_secs(10),
        ..ClientConfig::default()
    }
}

fn v5_config() -> ClientConfig {
    ClientConfig {
        protocol: ProtocolVersion::V5,
        ..config()
    }
}

fn incoming(topic: &str, qos: QoS, pkid: u16, payload: &'static [u8]) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos,
        retain: false,
        topic: topic.into(),
        pkid,
        payload: Bytes::from_static(payload),
        properties: PublishProperties::default().into(),
    })
}

fn publish(pair: &mut Pair, topic: &str, qos: QoS) -> jamey_mqtt_core::Token {
    let token = pair
        .client
        .publish(pair.now, PublishRequest::new(topic, "payload", qos))
        .expect("publish accepted");
    pair.drive();
    token
}

fn sent_publish(packet: &Packet) -> &Publish {
    match packet {
        Packet::Publish(p) => p,
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

#[test]
fn connect_sends_connect_and_reports_connected() {
    let mut pair = Pair::new(config());
    assert_eq!(pair.client.state(), ConnectionState::Disconnected);
    pair.client.connect(pair.now);
    pair.drive();
    assert_eq!(
        pair.actions,
        vec![Action::Connect(jamey_mqtt_core::Endpoint::new(
            "localhost",
            1883
        ))]
    );
    let connect = pair.expect_connect();
    assert_eq!(connect.client_id, "test-client");
    assert_eq!(connect.keep_alive, 10);
    assert!(connect.clean_start);
    assert_eq!(pair.client.state(), ConnectionState::Connecting);
    pair.connack(false);
    assert!(matches!(
        pair.take_events().as_slice(),
        [Event::Connected {
            session_present: false,
            ..
        }]
    ));
    assert_eq!(pair.client.state(), ConnectionState::Connected);
}

#[test]
fn generated_client_id_depends_only_on_the_seed() {
    let make = |seed| {
        let c = ClientConfig {
            seed,
            ..ClientConfig::default()
        };
        Pair::new(c).client.client_id().to_owned()
    };
    assert_eq!(make(7), make(7));
    assert_ne!(make(7), make(8));
    assert!(make(7).starts_with("jamey-"));
}

#[test]
fn refused_connack_is_a_typed_error_and_schedules_a_retry() {
    let mut pair = Pair::new(config());
    pair.client.connect(pair.now);
    pair.drive();
    pair.expect_connect();
    pair.connack_with(false, ReasonCode::NOT_AUTHORIZED);
    let events = pair.take_events();
    assert_eq!(
        events[0],
        Event::ConnectFailed(ConnectError::Refused(ReasonCode::NOT_AUTHORIZED))
    );
    assert!(
        matches!(events[1], Event::EndpointFailed { failures: 1, .. }),
        "{events:?}"
    );
    assert!(
        matches!(events[2], Event::Reconnecting { attempt: 2, .. }),
        "{events:?}"
    );
    assert_eq!(pair.actions.last(), Some(&Action::Close));
    assert_eq!(pair.client.state(), ConnectionState::Waiting);
    // It keeps the reason code (MQTT 5 form even for 3.1.1's "not authorized" = 5).
    assert!(ConnectError::Refused(ReasonCode::NOT_AUTHORIZED).is_permanent());
}

#[test]
fn connect_timeout_fails_the_attempt_and_closes_the_transport() {
    let connect_timeout = Duration::from_secs(3);
    let mut pair = Pair::new(ClientConfig {
        reconnect: ReconnectConfig {
            connect_timeout,
            ..ReconnectConfig::default()
        },
        ..config()
    });
    pair.client.connect(pair.now);
    pair.drive();
    pair.expect_connect();
    assert_eq!(
        pair.client.poll_timeout(),
        Some(pair.start + connect_timeout)
    );
    pair.advance(connect_timeout - Duration::from_millis(1));
    assert!(pair.take_events().is_empty(), "nothing before the deadline");
    pair.advance(Duration::from_millis(1));
    let events = pair.take_events();
    assert_eq!(events[0], Event::ConnectFailed(ConnectError::Timeout));
    assert_eq!(pair.actions.last(), Some(&Action::Close));
}

#[test]
fn keep_alive_pings_only_after_an_idle_interval() {
    let mut pair = Pair::connected(config());
    // Activity at 6 s pushes the ping to 16 s.
    pair.advance(Duration::from_secs(6));
    publish(&mut pair, "a/b", QoS::AtMostOnce);
    pair.take_sent();
    pair.advance(Duration::from_secs(9));
    assert!(
        pair.take_sent().is_empty(),
        "no PINGREQ while traffic flows"
    );
    pair.advance(Duration::from_secs(1));
    assert_eq!(pair.take_sent(), vec![Packet::PingReq]);
    assert_eq!(pair.elapsed(), Duration::from_secs(16));
    pair.send(Packet::PingResp);
    pair.advance(Duration::from_secs(9));
    assert!(pair.take_sent().is_empty());
    pair.advance(Duration::from_secs(1));
    assert_eq!(pair.take_sent(), vec![Packet::PingReq]);
    assert_eq!(pair.client.state(), ConnectionState::Connected);
}

#[test]
fn health_reports_the_round_trip_of_the_last_ping_answered() {
    let mut pair = Pair::connected(config());
    assert_eq!(pair.client.health().ping_rtt, None);
    pair.advance(Duration::from_secs(10));
    assert_eq!(pair.take_sent(), vec![Packet::PingReq]);
    pair.advance(Duration::from_millis(120));
    pair.send(Packet::PingResp);
    assert_eq!(
        pair.client.health().ping_rtt,
        Some(Duration::from_millis(120))
    );
    // No JWT configured: no token expiry to report.
    assert_eq!(pair.client.health().token_expires_at, None);
}

#[test]
fn missing_pingresp_declares_the_connection_lost_at_the_deadline() {
    let mut pair = Pair::connected(config());
    pair.advance(Duration::from_secs(10));
    assert_eq!(pair.take_sent(), vec![Packet::PingReq]);
    // Default ping timeout: half the keep-alive, so lost at 1.5 x keep-alive.
    pair.advance(Duration::from_millis(4999));
    assert_eq!(pair.client.state(), ConnectionState::Connected);
    pair.advance(Duration::from_millis(1));
    let events = pair.take_events();
    assert_eq!(
        events[0],
        Event::ConnectionLost(LostReason::KeepAliveTimeout)
    );
    assert_eq!(pair.elapsed(), Duration::from_secs(15));
    assert_eq!(pair.actions.last(), Some(&Action::Close));
    assert_eq!(pair.client.state(), ConnectionState::Waiting);
}

#[test]
fn qos1_publish_completes_on_puback() {
    let mut pair = Pair::connected(config());
    let token = publish(&mut pair, "a/b", QoS::AtLeastOnce);
    let sent = pair.take_sent();
    let p = sent_publish(&sent[0]);
    assert_eq!(
        (p.qos, p.dup, p.topic.as_str()),
        (QoS::AtLeastOnce, false, "a/b")
    );
    assert!(pair.take_events().is_empty(), "not complete before PUBACK");
    pair.puback(p.pkid);
    assert_eq!(
        pair.take_events(),
        vec![Event::Published {
            token,
            pkid: p.pkid
        }]
    );
    assert_eq!(pair.client.health().in_flight, 0);
}

#[test]
fn qos2_publish_runs_pubrec_pubrel_pubcomp() {
    let mut pair = Pair::connected(config());
    let token = publish(&mut pair, "a/b", QoS::ExactlyOnce);
    let pkid = sent_publish(&pair.take_sent()[0]).pkid;
    pair.send(Packet::PubRec(Ack::success(pkid)));
    assert_eq!(pair.take_sent(), vec![Packet::PubRel(Ack::success(pkid))]);
    assert!(pair.take_events().is_empty());
    pair.send(Packet::PubComp(Ack::success(pkid)));
    assert_eq!(pair.take_events(), vec![Event::Published { token, pkid }]);
}

#[test]
fn qos0_publish_completes_when_written() {
    let mut pair = Pair::connected(config());
    let token = publish(&mut pair, "a/b", QoS::AtMostOnce);
    assert_eq!(sent_publish(&pair.take_sent()[0]).pkid, 0);
    assert_eq!(
        pair.take_events(),
        vec![Event::Published { token, pkid: 0 }]
    );
}

#[test]
fn packet_ids_are_not_reused_while_in_flight() {
    let mut pair = Pair::connected(ClientConfig {
        max_inflight: 100,
        ..config()
    });
    let mut ids = Vec::new();
    for _ in 0..50 {
        publish(&mut pair, "a", QoS::AtLeastOnce);
    }
    for packet in pair.take_sent() {
        ids.push(sent_publish(&packet).pkid);
    }
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 50);
    assert!(!ids.contains(&0));
}

#[test]
fn incoming_qos1_is_delivered_and_acked() {
    let mut pair = Pair::connected(config());
    let everything = pair.subscribe_everything();
    pair.send(incoming("x/y", QoS::AtLeastOnce, 7, b"hi"));
    assert_eq!(pair.take_sent(), vec![Packet::PubAck(Ack::success(7))]);
    match pair.take_events().as_slice() {
        [Event::Message {
            message: m,
            subscriptions,
        }] => {
            assert_eq!(subscriptions.as_slice(), &[everything]);
            assert_eq!(
                (m.topic.as_str(), &m.payload[..], m.qos),
                ("x/y", &b"hi"[..], QoS::AtLeastOnce)
            )
        }
        other => panic!("expected one message, got {other:?}"),
    }
}

#[test]
fn incoming_qos2_duplicates_are_acked_but_delivered_once() {
    let mut pair = Pair::connected(config());
    pair.subscribe_everything();
    pair.send(incoming("x", QoS::ExactlyOnce, 9, b"once"));
    let mut dup = incoming("x", QoS::ExactlyOnce, 9, b"once");
    if let Packet::Publish(p) = &mut dup {
        p.dup = true;
    }
    pair.send(dup);
    assert_eq!(
        pair.take_sent(),
        vec![
            Packet::PubRec(Ack::success(9)),
            Packet::PubRec(Ack::success(9))
        ]
    );
    let messages = pair
        .take_events()
        .into_iter()
        .filter(|e| matches!(e, Event::Message { .. }))
        .count();
    assert_eq!(messages, 1, "a QoS 2 duplicate must not be delivered twice");
    assert_eq!(pair.client.stats().duplicates_suppressed, 1);
    pair.send(Packet::PubRel(Ack::success(9)));
    assert_eq!(pair.take_sent(), vec![Packet::PubComp(Ack::success(9))]);
    // After the flow completed, the id is free: the same id is a new message.
    pair.send(incoming("x", QoS::ExactlyOnce, 9, b"again"));
    assert_eq!(pair.take_events().len(), 1);
}

#[test]
fn session_present_replays_publishes_with_dup_and_pubrels_in_order() {
    let mut pair = Pair::connected(ClientConfig {
        clean_start: false,
        ..config()
    });
    publish(&mut pair, "first", QoS::AtLeastOnce);
    publish(&mut pair, "second", QoS::ExactlyOnce);
    publish(&mut pair, "third", QoS::AtLeastOnce);
    let sent = pair.take_sent();
    let ids: Vec<u16> = sent.iter().map(|p| sent_publish(p).pkid).collect();
    pair.send(Packet::PubRec(Ack::success(ids[1])));
    pair.take_sent();
    pair.cut();
    assert!(matches!(
        pair.take_events()[0],
        Event::ConnectionLost(LostReason::Transport(_))
    ));
    let connect = pair.reconnect(true);
    assert!(!connect.clean_start, "a reconnect resumes the session");
    let replay = pair.take_sent();
    assert_eq!(replay.len(), 3);
    let first = sent_publish(&replay[0]);
    assert_eq!(
        (first.topic.as_str(), first.pkid, first.dup),
        ("first", ids[0], true)
    );
    assert_eq!(replay[1], Packet::PubRel(Ack::success(ids[1])));
    let third = sent_publish(&replay[2]);
    assert_eq!(
        (third.topic.as_str(), third.pkid, third.dup),
        ("third", ids[2], true)
    );
    assert_eq!(pair.client.stats().packets_replayed, 3);
}

#[test]
fn session_lost_resends_unacked_publishes_as_new_by_default() {
    let mut pair = Pair::connected(config());
    let t1 = publish(&mut pair, "one", QoS::AtLeastOnce);
    let t2 = publish(&mut pair, "two", QoS::ExactlyOnce);
    pair.take_sent();
    pair.cut();
    pair.reconnect(false);
    let resent = pair.take_sent();
    let topics: Vec<(&str, bool)> = resent
        .iter()
        .map(|p| (sent_publish(p).topic.as_str(), sent_publish(p).dup))
        .collect();
    assert_eq!(topics, vec![("one", false), ("two", false)]);
    let pkid1 = sent_publish(&resent[0]).pkid;
    let pkid2 = sent_publish(&resent[1]).pkid;
    assert_ne!(pkid1, pkid2);
    assert_eq!(sent_publish(&resent[1]).qos, QoS::ExactlyOnce);
    // Nothing was replayed: the broker had no session, so both went out as new messages.
    assert_eq!(pair.client.stats().packets_replayed, 0);
    pair.take_events();
    pair.puback(pkid1);
    assert_eq!(
        pair.take_events(),
        vec![Event::Published {
            token: t1,
            pkid: pkid1
        }]
    );
    // The QoS 2 publish runs a whole new flow under its new id: PUBREC -> PUBREL -> PUBCOMP.
    pair.send(Packet::PubRec(Ack::success(pkid2)));
    assert_eq!(pair.take_sent(), vec![Packet::PubRel(Ack::success(pkid2))]);
    assert!(pair.take_events().is_empty(), "completed before PUBCOMP");
    pair.send(Packet::PubComp(Ack::success(pkid2)));
    assert_eq!(
        pair.take_events(),
        vec![Event::Published {
            token: t2,
            pkid: pkid2
        }]
    );
    assert_eq!(pair.client.health().in_flight, 0);
    assert!(pair.take_sent().is_empty());
}

#[test]
fn session_lost_with_fail_policy_fails_in_flight_tokens() {
    let mut pair = Pair::connected(ClientConfig {
        session_lost_policy: SessionLostPolicy::FailInFlight,
        ..config()
    });
    let token = publish(&mut pair, "one", QoS::AtLeastOnce);
    pair.take_sent();
    pair.cut();
    pair.reconnect(false);
    assert!(pair.take_sent().is_empty());
    assert!(pair.take_events().contains(&Event::RequestFailed {
        token,
        error: RequestError::SessionLost
    }));
}

#[test]
fn session_lost_resubscribes_the_applications_subscriptions() {
    let mut pair = Pair::connected(config());
    pair.client
        .subscribe(
            pair.now,
            vec![SubscribeFilter::new("a/+", QoS::AtLeastOnce)],
        )
        .unwrap();
    pair.drive();
    let pkid = pair.expect_subscribe().pkid;
    pair.suback(pkid, vec![ReasonCode::GRANTED_QOS_1]);
    pair.cut();
    pair.reconnect(false);
    let pkid = match pair.take_sent().as_slice() {
        [Packet::Subscribe(s)] => {
            assert_eq!(
                s.filters,
                vec![SubscribeFilter::new("a/+", QoS::AtLeastOnce)]
            );
            s.pkid
        }
        other => panic!("expected a re-SUBSCRIBE, got {other:?}"),
    };
    pair.take_events();
    pair.suback(pkid, vec![ReasonCode::GRANTED_QOS_1]);
    assert_eq!(
        pair.take_events(),
        vec![Event::Resubscribed {
            results: vec![("a/+".into(), Ok(QoS::AtLeastOnce))]
        }]
    );
}

#[test]
fn queue_full_is_back_pressure_and_nothing_is_queued() {
    let mut pair = Pair::new(ClientConfig {
        max_queued: 2,
        ..config()
    });
    let req = || PublishRequest::new("t", "x", QoS::AtLeastOnce);
    pair.client.publish(pair.now, req()).unwrap();
    pair.client.publish(pair.now, req()).unwrap();
    assert_eq!(
        pair.client.publish(pair.now, req()),
        Err(ClientError::QueueFull { capacity: 2 })
    );
    assert_eq!(pair.client.health().queued, 2);
    assert_eq!(pair.client.stats().queue_full, 1);
    // Once connected the queue drains and accepts again; the two queued go out, not the third.
    pair.client.connect(pair.now);
    pair.drive();
    pair.expect_connect();
    pair.connack(false);
    assert_eq!(pair.take_sent().len(), 2);
    assert!(pair.client.publish(pair.now, req()).is_ok());
}

#[test]
fn max_in_flight_holds_back_until_an_ack() {
    let mut pair = Pair::connected(ClientConfig {
        max_inflight: 2,
        ..config()
    });
    for _ in 0..3 {
        publish(&mut pair, "t", QoS::AtLeastOnce);
    }
    let sent = pair.take_sent();
    assert_eq!(sent.len(), 2);
    pair.puback(sent_publish(&sent[0]).pkid);
    assert_eq!(pair.take_sent().len(), 1, "the third goes out after an ack");
}

#[test]
fn many_packets_go_out_in_one_write() {
    let mut pair = Pair::connected(config());
    pair.writes.clear();
    for _ in 0..20 {
        pair.client
            .publish(pair.now, PublishRequest::new("t", "x", QoS::AtLeastOnce))
            .unwrap();
    }
    pair.drive();
    assert_eq!(pair.take_sent().len(), 20);
    assert_eq!(
        pair.writes.len(),
        1,
        "one write carries every pending packet"
    );
}

#[test]
fn oversized_incoming_packet_is_a_protocol_error_and_the_client_recovers() {
    let mut pair = Pair::connected(ClientConfig {
        max_incoming_packet_size: 1024,
        ..config()
    });
    pair.subscribe_everything();
    let big = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: "big".into(),
        pkid: 0,
        payload: Bytes::from(vec![0u8; 2000]),
        properties: PublishProperties::default().into(),
    });
    let bytes = pair.encode(&big);
    pair.send_bytes(&bytes[..10]);
    let events = pair.take_events();
    assert!(
        matches!(
            events[0],
            Event::ConnectionLost(LostReason::Protocol(ProtocolError::PacketTooLarge { .. }))
        ),
        "{events:?}"
    );
    assert_eq!(pair.client.stats().protocol_errors, 1);
    pair.reconnect(true);
    pair.send(incoming("small", QoS::AtMostOnce, 0, b"ok"));
    assert!(matches!(
        pair.take_events().as_slice(),
        [.., Event::Message { .. }]
    ));
}

#[test]
fn malformed_bytes_end_the_connection_with_a_protocol_error() {
    for garbage in [
        &[0x00u8, 0x00][..],             // packet type 0
        &[0x30, 0xFF, 0xFF, 0xFF, 0xFF], // remaining length of 5 bytes
        &[0x62, 0x02, 0x00],             // PUBREL cut short, then... (incomplete: waits)
        &[0x30, 0x03, 0x00, 0x05, 0x61], // topic length beyond the packet
    ] {
        let mut pair = Pair::connected(config());
        pair.send_bytes(garbage);
        let events = pair.take_events();
        if garbage[0] == 0x62 {
            assert!(events.is_empty(), "a partial packet waits for the rest");
            continue;
        }
        assert!(
            matches!(
                events.first(),
                Some(Event::ConnectionLost(LostReason::Protocol(_)))
            ),
            "{garbage:?} -> {events:?}"
        );
        assert_eq!(pair.actions.last(), Some(&Action::Close));
        // The core stays usable for the next connection.
        pair.reconnect(true);
        assert_eq!(pair.client.state(), ConnectionState::Connected);
    }
}

#[test]
fn packets_not_allowed_in_the_state_are_protocol_errors() {
    let mut pair = Pair::new(config());
    pair.client.connect(pair.now);
    pair.drive();
    pair.expect_connect();
    pair.send(incoming("early", QoS::AtMostOnce, 0, b""));
    assert!(matches!(
        pair.take_events()[0],
        Event::ConnectFailed(ConnectError::Protocol(ProtocolError::UnexpectedPacket {
            packet: "PUBLISH",
            ..
        }))
    ));
    let mut pair = Pair::connected(config());
    pair.connack(false);
    assert!(matches!(
        pair.take_events()[0],
        Event::ConnectionLost(LostReason::Protocol(ProtocolError::UnexpectedPacket {
            packet: "CONNACK",
            ..
        }))
    ));
}

#[test]
fn subscribe_reports_each_filter_result() {
    let mut pair = Pair::connected(config());
    let token = pair
        .client
        .subscribe(
            pair.now,
            vec![
                SubscribeFilter::new("ok/#", QoS::ExactlyOnce),
                SubscribeFilter::new("denied/#", QoS::AtLeastOnce),
            ],
        )
        .unwrap();
    pair.drive();
    let pkid = pair.expect_subscribe().pkid;
    pair.suback(
        pkid,
        vec![ReasonCode::GRANTED_QOS_1, ReasonCode::UNSPECIFIED_ERROR],
    );
    assert_eq!(
        pair.take_events(),
        vec![
            // The refused filter's subscription ends: no message will carry its id.
            Event::SubscriptionEnded {
                id: SubscriptionId::new(token, 1),
                end: SubscriptionEnd::Refused(ReasonCode::UNSPECIFIED_ERROR),
            },
            Event::Subscribed {
                token,
                results: vec![Ok(QoS::AtLeastOnce), Err(ReasonCode::UNSPECIFIED_ERROR)]
            }
        ]
    );
}

#[test]
fn unsubscribe_completes_on_unsuback() {
    let mut pair = Pair::connected(config());
    let token = pair
        .client
        .unsubscribe(pair.now, vec!["a/b".into()])
        .unwrap();
    pair.drive();
    let pkid = match pair.take_sent().as_slice() {
        [Packet::Unsubscribe(u)] => u.pkid,
        other => panic!("{other:?}"),
    };
    pair.send(Packet::UnsubAck(UnsubAck {
        pkid,
        reasons: vec![],
        properties: Default::default(),
    }));
    assert_eq!(
        pair.take_events(),
        vec![Event::Unsubscribed {
            token,
            results: vec![Ok(())]
        }]
    );
}

#[test]
fn invalid_topics_and_denied_permissions_queue_nothing() {
    let mut pair = Pair::connected(ClientConfig {
        permissions: Some(Permissions::new(
            vec![TopicFilter::new("sensors/#").unwrap()],
            vec![TopicFilter::new("sensors/#").unwrap()],
        )),
        ..config()
    });
    let err = pair
        .client
        .publish(pair.now, PublishRequest::new("a/#", "x", QoS::AtMostOnce))
        .unwrap_err();
    assert!(matches!(err, ClientError::InvalidTopic(_)));
    let err = pair
        .client
        .publish(
            pair.now,
            PublishRequest::new("admin/x", "x", QoS::AtMostOnce),
        )
        .unwrap_err();
    assert!(matches!(err, ClientError::PermissionDenied { .. }));
    let err = pair
        .client
        .subscribe(pair.now, vec![SubscribeFilter::new("#", QoS::AtMostOnce)])
        .unwrap_err();
    assert!(matches!(err, ClientError::PermissionDenied { .. }));
    pair.drive();
    assert!(pair.take_sent().is_empty());
    assert_eq!(pair.client.stats().permission_denied, 2);
    assert!(pair
        .client
        .publish(
            pair.now,
            PublishRequest::new("sensors/1", "x", QoS::AtMostOnce)
        )
        .is_ok());
}

#[test]
fn oversized_publish_is_refused_before_queueing() {
    let mut pair = Pair::connected(ClientConfig {
        max_outgoing_packet_size: 100,
        ..config()
    });
    let err = pair
        .client
        .publish(
            pair.now,
            PublishRequest::new("t", vec![0u8; 200], QoS::AtMostOnce),
        )
        .unwrap_err();
    assert!(matches!(err, ClientError::PacketTooLarge { max: 100, .. }));
    assert_eq!(pair.client.health().queued, 0);
}

#[test]
fn graceful_disconnect_waits_for_in_flight_then_sends_disconnect() {
    let mut pair = Pair::connected(config());
    let token = publish(&mut pair, "t", QoS::AtLeastOnce);
    let pkid = sent_publish(&pair.take_sent()[0]).pkid;
    pair.client.disconnect(pair.now);
    pair.drive();
    assert!(pair.take_sent().is_empty(), "waits for the PUBACK first");
    assert!(matches!(
        pair.client
            .publish(pair.now, PublishRequest::new("t", "x", QoS::AtMostOnce)),
        Err(ClientError::Closed)
    ));
    pair.puback(pkid);
    assert!(matches!(
        pair.take_sent().as_slice(),
        [Packet::Disconnect(_)]
    ));
    assert_eq!(
        pair.take_events(),
        vec![Event::Published { token, pkid }, Event::Disconnected]
    );
    assert_eq!(pair.actions.last(), Some(&Action::Close));
    assert_eq!(pair.client.state(), ConnectionState::Closed);
}

#[test]
fn disconnect_deadline_fails_what_never_completed() {
    let mut pair = Pair::connected(config());
    let token = publish(&mut pair, "t", QoS::AtLeastOnce);
    pair.take_sent();
    pair.client.disconnect(pair.now);
    pair.advance(Duration::from_secs(60));
    assert!(pair.take_events().contains(&Event::RequestFailed {
        token,
        error: RequestError::Closed
    }));
    assert_eq!(pair.client.state(), ConnectionState::Closed);
}

#[test]
fn v5_puback_failure_reason_fails_the_publish() {
    let mut pair = Pair::connected(v5_config());
    let token = publish(&mut pair, "t", QoS::AtLeastOnce);
    let pkid = sent_publish(&pair.take_sent()[0]).pkid;
    pair.send(Packet::PubAck(Ack {
        pkid,
        reason: ReasonCode::NOT_AUTHORIZED,
        properties: Default::default(),
    }));
    assert_eq!(
        pair.take_events(),
        vec![Event::RequestFailed {
            token,
            error: RequestError::Refused(ReasonCode::NOT_AUTHORIZED)
        }]
    );
}

#[test]
fn v5_protocol_error_sends_disconnect_with_reason_before_closing() {
    let mut pair = Pair::connected(v5_config());
    let mut aliased = incoming("t", QoS::AtMostOnce, 0, b"x");
    if let Packet::Publish(p) = &mut aliased {
        p.properties.make_mut().topic_alias = Some(3);
    }
    pair.send(aliased);
    match pair.take_sent().as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason, ReasonCode::TOPIC_ALIAS_INVALID),
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
    assert_eq!(pair.actions.last(), Some(&Action::Close));
}

#[test]
fn poll_timeout_never_reports_a_passed_deadline_twice() {
    let mut pair = Pair::connected(config());
    publish(&mut pair, "t", QoS::AtLeastOnce);
    for _ in 0..50 {
        let Some(deadline) = pair.client.poll_timeout() else {
            break;
        };
        pair.now = pair.now.max(deadline);
        pair.client.handle_timeout(pair.now);
        // A second call at the same instant is harmless.
        pair.client.handle_timeout(pair.now);
        pair.drive();
        if let Some(next) = pair.client.poll_timeout() {
            assert!(
                next > pair.now,
                "deadline {next:?} reported again at {:?}",
                pair.now
            );
        }
        if pair.client.state() == ConnectionState::Connecting {
            pair.connack(true);
        }
    }
}

#[test]
fn v5_connack_limits_are_applied() {
    use jamey_mqtt_core::packet::{ConnAck, ConnAckProperties};
    let mut pair = Pair::new(v5_config());
    pair.client.connect(pair.now);
    pair.drive();
    let connect = pair.expect_connect();
    assert_eq!(connect.properties.receive_maximum, Some(100));
    pair.send(Packet::ConnAck(Box::new(ConnAck {
        session_present: false,
        code: ReasonCode::SUCCESS,
        properties: ConnAckProperties {
            receive_maximum: Some(1),
            maximum_qos: Some(1),
            retain_available: Some(0),
            server_keep_alive: Some(5),
            maximum_packet_size: Some(64),
            ..Default::default()
        },
    })));
    let qos2 = pair
        .client
        .publish(pair.now, PublishRequest::new("t", "x", QoS::ExactlyOnce));
    assert!(matches!(qos2, Err(ClientError::Unsupported(_))));
    let retained = pair.client.publish(
        pair.now,
        PublishRequest::new("t", "x", QoS::AtMostOnce).retain(true),
    );
    assert_eq!(
        retained,
        Err(ClientError::Unsupported(
            jamey_mqtt_core::Unsupported::Retain
        ))
    );
    let big = pair.client.publish(
        pair.now,
        PublishRequest::new("t", vec![0u8; 100], QoS::AtMostOnce),
    );
    assert!(matches!(
        big,
        Err(ClientError::PacketTooLarge { max: 64, .. })
    ));
    // Receive maximum 1: the second QoS 1 publish waits for the first ack.
    publish(&mut pair, "t", QoS::AtLeastOnce);
    publish(&mut pair, "t", QoS::AtLeastOnce);
    assert_eq!(pair.take_sent().len(), 1);
    // Server keep-alive 5 s overrides our 10 s.
    pair.take_events();
    pair.advance(Duration::from_secs(5));
    assert_eq!(pair.take_sent(), vec![Packet::PingReq]);
}

#[test]
fn malformed_suback_ends_the_connection_but_the_subscribe_is_sent_again() {
    let mut pair = Pair::connected(config());
    let token = pair
        .client
        .subscribe(pair.now, vec![SubscribeFilter::new("a", QoS::AtLeastOnce)])
        .unwrap();
    pair.drive();
    let pkid = pair.expect_subscribe().pkid;
    pair.suback(pkid, vec![ReasonCode::SUCCESS, ReasonCode::SUCCESS]);
    assert!(matches!(
        pair.take_events()[0],
        Event::ConnectionLost(LostReason::Protocol(ProtocolError::MalformedPacket(_)))
    ));
    pair.reconnect(false);
    let pkid = pair.expect_subscribe().pkid;
    pair.suback(pkid, vec![ReasonCode::GRANTED_QOS_1]);
    assert!(pair.take_events().contains(&Event::Subscribed {
        token,
        results: vec![Ok(QoS::AtLeastOnce)]
    }));
}

#[test]
fn paused_reading_suspends_the_pingresp_deadline_until_resumed() {
    let mut pair = Pair::connected(config());
    pair.advance(Duration::from_secs(10));
    assert_eq!(pair.take_sent(), vec![Packet::PingReq]);
    // The consumer is slow: the adapter stops reading; the PINGRESP may be unread.
    pair.client.handle_delivery_blocked(pair.now);
    pair.advance(Duration::from_secs(60));
    assert_eq!(pair.client.state(), ConnectionState::Connected);
    assert!(pair.take_events().is_empty());
    // Reading again: the PINGRESP gets a full timeout (5 s) from now, then the loss counts.
    pair.client.handle_delivery_resumed(pair.now);
    pair.advance(Duration::from_millis(4999));
    assert_eq!(pair.client.state(), ConnectionState::Connected);
    pair.advance(Duration::from_millis(1));
    assert_eq!(
        pair.take_events().first(),
        Some(&Event::ConnectionLost(LostReason::KeepAliveTimeout))
    );
}
