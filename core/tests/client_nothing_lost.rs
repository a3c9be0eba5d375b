//! Issue 10 at the core: a graceful close loses nothing and waits for the transport, the
//! buffer between `poll_output` and the socket has a bound, what cannot be encoded is refused
//! at admission, topic aliases are checked, and a poison request ends instead of causing a
//! reconnect storm. Driven through the public API against the scripted broker of
//! `support/mod.rs`, with the test playing the socket where the flow matters.

mod support;

use std::time::Duration;

use bytes::Bytes;
use jamey_mqtt_core::codec::EncodeError;
use jamey_mqtt_core::packet::{
    Ack, ConnAck, ConnAckProperties, Disconnect, Packet, ProtocolVersion, PublishProperties, QoS,
    ReasonCode, Will,
};
use jamey_mqtt_core::reconnect::{Jitter, ReconnectConfig};
use jamey_mqtt_core::{
    Action, ClientConfig, ClientError, ConnectionState, Event, PublishRequest, RequestError, Token,
};
use support::Pair;

fn config() -> ClientConfig {
    ClientConfig {
        client_id: "nothing-lost".into(),
        keep_alive: Duration::ZERO,
        ..ClientConfig::default()
    }
}

fn v5() -> ClientConfig {
    ClientConfig {
        protocol: ProtocolVersion::V5,
        clean_start: false,
        ..config()
    }
}

fn publish(pair: &mut Pair, topic: &str, payload: &[u8], qos: QoS) -> Token {
    let token = pair
        .client
        .publish(
            pair.now,
            PublishRequest::new(topic, Bytes::copy_from_slice(payload), qos),
        )
        .expect("accepted");
    pair.drive();
    token
}

fn published(events: &[Event]) -> Vec<Token> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Published { token, .. } => Some(*token),
            _ => None,
        })
        .collect()
}

/// A QoS 0 publish completes when the socket took its last byte, not when it was encoded.
#[test]
fn qos0_publish_completes_when_the_socket_took_its_bytes() {
    let mut pair = Pair::connected(config());
    pair.manual_socket = true;
    let token = publish(&mut pair, "a", b"0123456789", QoS::AtMostOnce);
    let written = pair.writes.last().copied().expect("encoded");
    assert!(published(&pair.take_events()).is_empty(), "not yet written");
    assert_eq!(pair.client.health().buffered_bytes, written);
    pair.socket_takes(written - 1);
    assert!(
        published(&pair.take_events()).is_empty(),
        "one byte still waits"
    );
    pair.socket_takes(1);
    assert_eq!(published(&pair.take_events()), vec![token]);
    assert_eq!(pair.client.health().buffered_bytes, 0);
}

/// At `max_buffered_bytes` no more requests are encoded; they wait in the queue and go out as
/// the socket takes bytes. The high-water mark stays within the bound.
#[test]
fn requests_wait_while_the_write_buffer_is_at_its_bound() {
    let bound = 1_000;
    let mut pair = Pair::connected(ClientConfig {
        max_buffered_bytes: bound,
        ..config()
    });
    pair.manual_socket = true;
    pair.writes.clear();
    let tokens: Vec<Token> = (0..50)
        .map(|_| publish(&mut pair, "t", &[7; 100], QoS::AtMostOnce))
        .collect();
    let first: usize = pair.writes.iter().sum();
    assert!(first <= bound, "{first} bytes handed out over the bound");
    assert!(first >= bound - 110, "the bound is used: {first}");
    assert_eq!(pair.client.health().buffered_bytes, first);
    assert!(
        pair.client.health().queued > 0,
        "the rest waits in the queue"
    );
    let mut done = published(&pair.take_events());
    assert!(done.is_empty());
    // The socket takes everything it is handed, a chunk at a time: all 50 go out in order.
    for _ in 0..100 {
        let buffered = pair.client.health().buffered_bytes;
        if buffered == 0 {
            break;
        }
        pair.socket_takes(buffered);
        done.extend(published(&pair.take_events()));
        assert!(pair.client.health().buffered_bytes <= bound);
    }
    assert_eq!(done, tokens, "every publish completed, in order");
    assert!(pair.client.stats().buffered_bytes_high_water <= bound as u64);
}

/// A packet larger than the bound still goes out, alone, when nothing else is buffered.
#[test]
fn one_request_larger_than_the_bound_is_sent_alone() {
    let mut pair = Pair::connected(ClientConfig {
        max_buffered_bytes: 100,
        ..config()
    });
    pair.manual_socket = true;
    let big = publish(&mut pair, "big", &[1; 500], QoS::AtMostOnce);
    let small = publish(&mut pair, "small", b"x", QoS::AtMostOnce);
    let buffered = pair.client.health().buffered_bytes;
    assert!(
        buffered > 500 && buffered < 520,
        "only the big one: {buffered}"
    );
    pair.socket_takes(buffered);
    let buffered = pair.client.health().buffered_bytes;
    pair.socket_takes(buffered);
    assert_eq!(published(&pair.take_events()), vec![big, small]);
}

/// `disconnect()` completes the accepted requests, writes DISCONNECT after them, and reports
/// `Disconnected` only after the socket took everything and the transport was closed.
#[test]
fn disconnect_waits_for_requests_writes_and_the_close() {
    let mut pair = Pair::connected(config());
    pair.manual_socket = true;
    let q0 = publish(&mut pair, "a", b"zero", QoS::AtMostOnce);
    let q1 = publish(&mut pair, "a", b"one", QoS::AtLeastOnce);
    pair.take_sent();
    pair.client.disconnect(pair.now);
    pair.drive();
    assert_eq!(pair.client.state(), ConnectionState::Draining);
    assert_eq!(
        pair.client
            .publish(pair.now, PublishRequest::new("a", "late", QoS::AtMostOnce)),
        Err(ClientError::Closed),
        "no new requests while draining"
    );
    pair.puback(1);
    assert_eq!(pair.client.state(), ConnectionState::Closing);
    assert!(matches!(
        pair.take_sent().last(),
        Some(Packet::Disconnect(_))
    ));
    assert_eq!(pair.actions.last(), Some(&Action::Close));
    let events = pair.take_events();
    assert_eq!(published(&events), vec![q1], "QoS 0 not written yet");
    assert!(!events.contains(&Event::Disconnected));
    let buffered = pair.client.health().buffered_bytes;
    pair.socket_takes(buffered);
    assert_eq!(published(&pair.take_events()), vec![q0]);
    assert_eq!(
        pair.client.state(),
        ConnectionState::Closing,
        "not closed yet"
    );
    pair.close_completes();
    assert_eq!(pair.take_events(), vec![Event::Disconnected]);
    assert_eq!(pair.client.state(), ConnectionState::Closed);
}

/// If the transport fails while closing, what was not written fails with a typed error: every
/// request resolves.
#[test]
fn a_failed_close_fails_what_was_not_written() {
    let mut pair = Pair::connected(config());
    pair.manual_socket = true;
    let q0 = publish(&mut pair, "a", b"zero", QoS::AtMostOnce);
    pair.client.disconnect(pair.now);
    pair.drive();
    assert_eq!(pair.client.state(), ConnectionState::Closing);
    pair.client.handle_disconnected(
        pair.now,
        jamey_mqtt_core::TransportError::new(jamey_mqtt_core::TransportErrorKind::Io, "reset"),
    );
    pair.drive();
    let events = pair.take_events();
    assert!(events.contains(&Event::RequestFailed {
        token: q0,
        error: RequestError::Closed
    }));
    assert_eq!(events.last(), Some(&Event::Disconnected));
}

/// Issue 18: acks owed for packets received before the close was decided still go out, before
/// the final DISCONNECT; nothing goes out after it, and later input is ignored.
#[test]
fn acks_owed_before_the_close_precede_the_final_disconnect() {
    let mut pair = Pair::connected(config());
    let q1 = publish(&mut pair, "a", b"one", QoS::AtLeastOnce);
    pair.client.disconnect(pair.now);
    pair.drive();
    pair.take_sent();
    // One read: the broker releases a QoS 2 message (PUBREL) and acks the publish.
    let mut bytes = pair.encode(&Packet::PubRel(Ack::success(9)));
    bytes.extend_from_slice(&pair.encode(&Packet::PubAck(Ack::success(1))));
    bytes.extend_from_slice(&pair.encode(&Packet::PubRel(Ack::success(10))));
    pair.send_bytes(&bytes);
    let sent = pair.take_sent();
    assert!(
        matches!(
            sent.as_slice(),
            [Packet::PubComp(a), Packet::Disconnect(_)] if a.pkid == 9
        ),
        "PUBCOMP owed before the close decision, then DISCONNECT last: {sent:?}"
    );
    assert!(published(&pair.take_events()).contains(&q1));
    assert_eq!(pair.client.state(), ConnectionState::Closed);
}

/// Issue 10, item 3: a request that cannot be encoded is refused at admission with the field
/// named, and nothing is queued; the configuration's CONNECT is checked by `validate`.
#[test]
fn unencodable_requests_are_refused_at_admission_naming_the_field() {
    let mut pair = Pair::connected(v5());
    let request = PublishRequest::new("a", "x", QoS::AtLeastOnce).properties(PublishProperties {
        content_type: Some("t".repeat(70_000)),
        ..PublishProperties::default()
    });
    assert_eq!(
        pair.client.publish(pair.now, request),
        Err(ClientError::Unencodable(EncodeError::FieldTooLong {
            field: "content type",
            len: 70_000
        }))
    );
    let health = pair.client.health();
    assert_eq!((health.queued, health.in_flight), (0, 0), "nothing queued");
    // The in-flight slots are free: an ordinary publish completes.
    let token = publish(&mut pair, "a", b"ok", QoS::AtLeastOnce);
    pair.puback(1);
    assert_eq!(published(&pair.take_events()), vec![token]);

    let long = "u".repeat(70_000);
    for (config, field) in [
        (
            ClientConfig {
                username: Some(long.clone()),
                ..config()
            },
            "username",
        ),
        (
            ClientConfig {
                username: Some("u".into()),
                password: Some(Bytes::from(long.clone())),
                ..config()
            },
            "password",
        ),
        (
            ClientConfig {
                will: Some(Will {
                    topic: "w".into(),
                    payload: Bytes::from(long.clone()),
                    qos: QoS::AtMostOnce,
                    retain: false,
                    properties: Default::default(),
                }),
                ..config()
            },
            "will.payload",
        ),
    ] {
        let error = config.validate().expect_err(field);
        assert_eq!(error.field, field, "{error}");
    }
}

/// Issue 10, item 4: topic aliases are checked against the maximum the broker announced (0 is
/// never valid); after a reconnect whose broker allows fewer, a resend leaves the alias out.
#[test]
fn topic_aliases_are_checked_against_the_broker_maximum() {
    let mut pair = Pair::new(v5());
    pair.client.connect(pair.now);
    pair.drive();
    pair.expect_connect();
    pair.send(Packet::ConnAck(Box::new(ConnAck {
        session_present: false,
        code: ReasonCode::SUCCESS,
        properties: ConnAckProperties {
            topic_alias_maximum: Some(2),
            ..ConnAckProperties::default()
        },
    })));
    pair.take_events();
    let with_alias = |alias| {
        PublishRequest::new("a/b", "x", QoS::AtLeastOnce).properties(PublishProperties {
            topic_alias: Some(alias),
            ..PublishProperties::default()
        })
    };
    for alias in [0, 3] {
        assert_eq!(
            pair.client.publish(pair.now, with_alias(alias)),
            Err(ClientError::InvalidTopicAlias { alias, max: 2 })
        );
    }
    pair.client
        .publish(pair.now, with_alias(2))
        .expect("2 is allowed");
    pair.drive();
    let sent = pair.take_sent();
    assert!(
        matches!(&sent[..], [Packet::Publish(p)] if p.properties.topic_alias == Some(2)),
        "{sent:?}"
    );
    // Lost before PUBACK; the broker resumes the session but allows no aliases now.
    pair.cut();
    pair.reconnect_transport();
    pair.send(Packet::ConnAck(Box::new(ConnAck {
        session_present: true,
        code: ReasonCode::SUCCESS,
        properties: ConnAckProperties::default(),
    })));
    let sent = pair.take_sent();
    assert!(
        matches!(&sent[..], [Packet::Publish(p)] if p.dup && p.topic == "a/b" && p.properties.topic_alias.is_none()),
        "resent with its topic and without the alias: {sent:?}"
    );
}

fn disconnect_with(pair: &mut Pair, reason: ReasonCode) {
    pair.send(Packet::Disconnect(Disconnect {
        reason,
        ..Disconnect::normal()
    }));
}

/// Issue 10, item 5: a request the broker ends the connection over, three connections in a
/// row, fails with the broker's reason instead of being resent forever; the request behind it
/// goes on.
#[test]
fn a_poison_request_fails_after_three_error_disconnects_and_the_others_go_on() {
    let mut pair = Pair::connected(ClientConfig {
        max_inflight: 1,
        reconnect: ReconnectConfig {
            jitter: Jitter::None,
            ..ReconnectConfig::default()
        },
        ..v5()
    });
    let poison = publish(&mut pair, "a", b"poison", QoS::AtLeastOnce);
    let next = publish(&mut pair, "a", b"fine", QoS::AtLeastOnce);
    pair.take_sent();
    let mut connections = 0;
    loop {
        disconnect_with(&mut pair, ReasonCode::TOPIC_ALIAS_INVALID);
        connections += 1;
        let events = pair.take_events();
        if let Some(error) = events.iter().find_map(|e| match e {
            Event::RequestFailed { token, error } if *token == poison => Some(error.clone()),
            _ => None,
        }) {
            assert_eq!(
                error,
                RequestError::Poison {
                    reason: ReasonCode::TOPIC_ALIAS_INVALID,
                    connections: 3
                }
            );
            break;
        }
        assert!(connections < 3, "still resent after {connections}");
        pair.reconnect(true);
        let sent = pair.take_sent();
        assert!(
            matches!(&sent[..], [Packet::Publish(p)] if p.payload == "poison"),
            "{sent:?}"
        );
    }
    assert_eq!(connections, 3);
    assert_eq!(pair.client.stats().requests_poisoned, 1);
    pair.reconnect(true);
    let sent = pair.take_sent();
    let pkid = match &sent[..] {
        [Packet::Publish(p)] if p.payload == "fine" => p.pkid,
        other => panic!("the next request goes out: {other:?}"),
    };
    pair.puback(pkid);
    assert_eq!(published(&pair.take_events()), vec![next]);
}

/// A connection that stays up `stable_after` clears the strikes: errors far apart are not a
/// poison request.
#[test]
fn strikes_start_over_after_a_stable_connection() {
    let mut pair = Pair::connected(ClientConfig {
        reconnect: ReconnectConfig {
            jitter: Jitter::None,
            ..ReconnectConfig::default()
        },
        ..v5()
    });
    let token = publish(&mut pair, "a", b"slow", QoS::AtLeastOnce);
    for _ in 0..5 {
        pair.take_sent();
        disconnect_with(&mut pair, ReasonCode::SERVER_BUSY);
        pair.reconnect(true);
        pair.advance(ReconnectConfig::default().stable_after);
    }
    assert_eq!(
        pair.client.health().in_flight,
        1,
        "still in flight, resent each time"
    );
    assert!(
        !pair
            .take_events()
            .iter()
            .any(|e| matches!(e, Event::RequestFailed { token: t, .. } if *t == token)),
        "never failed as poison"
    );
}

/// A QoS 0 publish the socket had not taken when the connection broke goes out on the next
/// connection (it never reached the broker, so this is no duplicate); beyond the queue's room
/// it fails with `NotWritten` instead of stretching the queue's bound.
#[test]
fn unwritten_qos0_is_sent_on_the_next_connection_as_far_as_the_queue_has_room() {
    let mut pair = Pair::connected(ClientConfig {
        max_queued: 1,
        reconnect: ReconnectConfig {
            jitter: Jitter::None,
            ..ReconnectConfig::default()
        },
        ..config()
    });
    pair.manual_socket = true;
    let first = publish(&mut pair, "a", b"first", QoS::AtMostOnce);
    let second = publish(&mut pair, "a", b"second", QoS::AtMostOnce);
    pair.take_sent();
    pair.cut();
    let events = pair.take_events();
    assert!(
        events.contains(&Event::RequestFailed {
            token: second,
            error: RequestError::NotWritten
        }),
        "no room for the second: {events:?}"
    );
    assert_eq!(pair.client.health().queued, 1);
    pair.manual_socket = false;
    pair.reconnect(false);
    let sent = pair.take_sent();
    assert!(
        matches!(&sent[..], [Packet::Publish(p)] if p.payload == "first"),
        "{sent:?}"
    );
    assert_eq!(published(&pair.take_events()), vec![first]);
}

/// A broker that kicks the client for its own reasons (administrative action, shutting down,
/// session taken over) is not blaming a packet: the oldest request is resent on every
/// connection, never failed as poison.
#[test]
fn the_brokers_own_disconnect_reasons_poison_no_request() {
    let mut pair = Pair::connected(ClientConfig {
        max_inflight: 1,
        reconnect: ReconnectConfig {
            jitter: Jitter::None,
            ..ReconnectConfig::default()
        },
        ..v5()
    });
    let request = publish(&mut pair, "a", b"innocent", QoS::AtLeastOnce);
    pair.take_sent();
    for reason in [
        ReasonCode::ADMINISTRATIVE_ACTION,
        ReasonCode::SERVER_SHUTTING_DOWN,
        ReasonCode::SESSION_TAKEN_OVER,
        ReasonCode::ADMINISTRATIVE_ACTION,
    ] {
        disconnect_with(&mut pair, reason);
        assert!(
            !pair
                .take_events()
                .iter()
                .any(|e| matches!(e, Event::RequestFailed { token, .. } if *token == request)),
            "failed after {reason:?}"
        );
        pair.reconnect(true);
        let sent = pair.take_sent();
        assert!(
            matches!(&sent[..], [Packet::Publish(p)] if p.payload == "innocent"),
            "{sent:?}"
        );
    }
    assert_eq!(pair.client.stats().requests_poisoned, 0);
}
