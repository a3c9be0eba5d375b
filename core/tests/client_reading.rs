//! Whether the adapter reads the transport (`Client::wants_read`): only while a CONNACK or
//! the session's packets may arrive, and never while an application stream is full (the
//! adapter then holds a message, and not reading makes TCP push back on the broker).

mod support;

use std::time::Duration;

use jamey_mqtt_core::packet::{Ack, Packet, QoS};
use jamey_mqtt_core::{ClientConfig, ConnectionState, PublishRequest};
use support::Pair;

fn config() -> ClientConfig {
    ClientConfig {
        client_id: "reader".into(),
        keep_alive: Duration::from_secs(10),
        ..ClientConfig::default()
    }
}

#[test]
fn the_adapter_reads_from_the_transport_opened_until_the_close() {
    let mut pair = Pair::new(config());
    assert!(!pair.client.wants_read(), "no transport before connect()");
    pair.client.connect(pair.now);
    // `Action::Connect` is out, the transport is not open yet: nothing to read.
    let mut out = bytes::BytesMut::new();
    while !matches!(
        pair.client.poll_output(pair.now, &mut out),
        jamey_mqtt_core::Output::Timeout(_)
    ) {}
    assert_eq!(pair.client.state(), ConnectionState::Opening);
    assert!(!pair.client.wants_read(), "the transport is still opening");
    pair.link_up = true;
    pair.client.handle_connected(pair.now);
    pair.drive();
    assert_eq!(pair.client.state(), ConnectionState::Connecting);
    assert!(pair.client.wants_read(), "the CONNACK may arrive");
    pair.expect_connect();
    pair.connack(false);
    assert!(pair.client.wants_read(), "connected");

    // Draining: the PUBACK of what is in flight must still be read.
    pair.client
        .publish(
            pair.now,
            PublishRequest::new("a", "payload", QoS::AtLeastOnce),
        )
        .expect("accepted");
    pair.drive();
    let pkid = match pair.take_sent().as_slice() {
        [Packet::Publish(p)] => p.pkid,
        other => panic!("expected one PUBLISH, got {other:?}"),
    };
    pair.manual_socket = true;
    pair.client.disconnect(pair.now);
    pair.drive();
    assert_eq!(pair.client.state(), ConnectionState::Draining);
    assert!(pair.client.wants_read(), "draining waits for the PUBACK");
    pair.send(Packet::PubAck(Ack::success(pkid)));
    // DISCONNECT is out, the close is under way: nothing more is read.
    assert_eq!(pair.client.state(), ConnectionState::Closing);
    assert!(!pair.client.wants_read(), "closing");
    pair.close_completes();
    assert_eq!(pair.client.state(), ConnectionState::Closed);
    assert!(!pair.client.wants_read(), "closed");
}

#[test]
fn a_full_application_stream_pauses_reading_until_the_message_is_delivered() {
    let mut pair = Pair::connected(config());
    assert!(pair.client.wants_read());
    pair.client.handle_delivery_blocked(pair.now);
    assert!(!pair.client.wants_read(), "a stream is full");
    // Still connected: only reading pauses.
    assert_eq!(pair.client.state(), ConnectionState::Connected);
    pair.client.handle_delivery_resumed(pair.now);
    assert!(pair.client.wants_read(), "the held message was delivered");
}

#[test]
fn nothing_is_read_between_connections_and_the_next_connection_reads() {
    let mut pair = Pair::connected(config());
    pair.client.handle_delivery_blocked(pair.now);
    pair.cut();
    assert_eq!(pair.client.state(), ConnectionState::Waiting);
    assert!(!pair.client.wants_read(), "no transport while waiting");
    // The reconnect's transport is new: a block of the old one does not carry over.
    for _ in 0..600 {
        if pair.client.state() == ConnectionState::Connecting {
            break;
        }
        pair.advance(Duration::from_millis(100));
    }
    assert_eq!(pair.client.state(), ConnectionState::Connecting);
    assert!(pair.client.wants_read(), "the new CONNACK may arrive");
}

fn publish(topic: &str, payload: Vec<u8>) -> Packet {
    Packet::Publish(jamey_mqtt_core::packet::Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: topic.into(),
        pkid: 0,
        payload: payload.into(),
        properties: jamey_mqtt_core::packet::PublishProperties::default().into(),
    })
}

fn messages(events: &[jamey_mqtt_core::Event]) -> Vec<(String, usize)> {
    events
        .iter()
        .filter_map(|event| match event {
            jamey_mqtt_core::Event::Message { message, .. } => {
                Some((message.topic.to_string(), message.payload.len()))
            }
            _ => None,
        })
        .collect()
}

/// One read brings whole packets and then a malformed fixed header: the packets before it are
/// handled (each read's whole packets are decoded as one frozen block), then the connection
/// ends with the protocol error, and nothing after the bad header is read as a packet.
#[test]
fn whole_packets_before_a_malformed_header_in_the_same_read_are_handled_first() {
    let mut pair = Pair::connected(config());
    pair.subscribe_everything();
    let mut read = pair.encode(&publish("a", vec![1; 3]));
    read.extend_from_slice(&pair.encode(&publish("b", vec![2; 5])));
    // Packet type 0 is reserved, then what would be a valid PUBLISH.
    read.extend_from_slice(&[0x00, 0x00]);
    read.extend_from_slice(&pair.encode(&publish("c", vec![3; 7])));
    pair.send_bytes(&read);
    let events = pair.take_events();
    assert_eq!(
        messages(&events),
        vec![("a".to_string(), 3), ("b".to_string(), 5)]
    );
    assert!(
        events.iter().any(|e| matches!(
            e,
            jamey_mqtt_core::Event::ConnectionLost(jamey_mqtt_core::LostReason::Protocol(_))
        )),
        "{events:?}"
    );
}

/// A packet far larger than one read arrives over many reads, with a small packet on each side
/// of it: every byte is used once, in order.
#[test]
fn a_packet_spread_over_many_reads_is_read_once_whole() {
    let mut pair = Pair::connected(config());
    pair.subscribe_everything();
    let mut stream = pair.encode(&publish("before", vec![1; 10]));
    stream.extend_from_slice(&pair.encode(&publish("big", vec![7; 200_000])));
    stream.extend_from_slice(&pair.encode(&publish("after", vec![2; 10])));
    for read in stream.chunks(4096) {
        pair.send_bytes(read);
    }
    assert_eq!(
        messages(&pair.take_events()),
        vec![
            ("before".to_string(), 10),
            ("big".to_string(), 200_000),
            ("after".to_string(), 10)
        ]
    );
    assert_eq!(pair.client.state(), ConnectionState::Connected);
}
