//! Manual acknowledgement (`ClientConfig::manual_ack`) against the scripted broker: the
//! PUBACK / PUBREC of a received QoS 1/2 message is held until `Client::ack`, survives a
//! reconnect with the session resumed, is dropped with a lost session, and held messages count
//! against the receive maximum.

mod support;

use std::time::Duration;

use bytes::Bytes;
use jamey_mqtt_core::packet::{Ack, Packet, ProtocolVersion, Publish, PublishProperties, QoS};
use jamey_mqtt_core::{AckId, ClientConfig, Event, LostReason, Message, ProtocolError};
use support::Pair;

fn config(protocol: ProtocolVersion) -> ClientConfig {
    ClientConfig {
        protocol,
        client_id: "manual".into(),
        keep_alive: Duration::from_secs(10),
        manual_ack: true,
        ..ClientConfig::default()
    }
}

fn incoming(qos: QoS, pkid: u16, dup: bool) -> Packet {
    Packet::Publish(Publish {
        dup,
        qos,
        retain: false,
        topic: "jobs/1".into(),
        pkid,
        payload: Bytes::from_static(b"work"),
        properties: PublishProperties::default().into(),
    })
}

/// The messages delivered since the last call.
fn messages(pair: &mut Pair) -> Vec<Message> {
    pair.take_events()
        .into_iter()
        .filter_map(|event| match event {
            Event::Message { message, .. } => Some(message),
            _ => None,
        })
        .collect()
}

fn one_message(pair: &mut Pair) -> Message {
    match messages(pair).as_slice() {
        [message] => message.clone(),
        other => panic!("expected one message, got {other:?}"),
    }
}

fn ack(pair: &mut Pair, id: AckId) {
    pair.client.ack(pair.now, id).expect("ack is never refused");
    pair.drive();
}

/// Connected on `protocol` with `#` subscribed, the session kept across reconnects.
fn subscribed(protocol: ProtocolVersion) -> Pair {
    let mut pair = Pair::connected(config(protocol));
    pair.subscribe_everything();
    pair
}

#[test]
fn qos1_puback_is_held_until_the_application_acks() {
    for protocol in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let mut pair = subscribed(protocol);
        pair.send(incoming(QoS::AtLeastOnce, 7, false));
        let message = one_message(&mut pair);
        assert_eq!(
            pair.take_sent(),
            vec![],
            "{protocol:?}: nothing before the ack"
        );
        let id = message.ack.expect("a QoS 1 message carries a handle");
        ack(&mut pair, id);
        assert_eq!(pair.take_sent(), vec![Packet::PubAck(Ack::success(7))]);
        ack(&mut pair, id);
        assert_eq!(pair.take_sent(), vec![], "acking twice sends nothing");
    }
}

#[test]
fn qos2_pubrec_is_held_then_the_flow_completes_by_itself() {
    let mut pair = subscribed(ProtocolVersion::V5);
    pair.send(incoming(QoS::ExactlyOnce, 9, false));
    let id = one_message(&mut pair).ack.expect("handle");
    assert_eq!(pair.take_sent(), vec![]);
    ack(&mut pair, id);
    assert_eq!(pair.take_sent(), vec![Packet::PubRec(Ack::success(9))]);
    pair.send(Packet::PubRel(Ack::success(9)));
    assert_eq!(pair.take_sent(), vec![Packet::PubComp(Ack::success(9))]);
}

#[test]
fn qos0_has_no_handle() {
    let mut pair = subscribed(ProtocolVersion::V5);
    pair.send(incoming(QoS::AtMostOnce, 0, false));
    assert_eq!(one_message(&mut pair).ack, None);
    assert_eq!(pair.take_sent(), vec![]);
}

#[test]
fn automatic_mode_is_unchanged() {
    let mut pair = Pair::connected(ClientConfig {
        manual_ack: false,
        ..config(ProtocolVersion::V5)
    });
    pair.subscribe_everything();
    pair.send(incoming(QoS::AtLeastOnce, 7, false));
    assert_eq!(one_message(&mut pair).ack, None);
    assert_eq!(pair.take_sent(), vec![Packet::PubAck(Ack::success(7))]);
    pair.send(incoming(QoS::ExactlyOnce, 8, false));
    assert_eq!(one_message(&mut pair).ack, None);
    assert_eq!(pair.take_sent(), vec![Packet::PubRec(Ack::success(8))]);
}

#[test]
fn qos2_resend_on_a_resumed_session_is_held_until_the_ack() {
    let mut pair = subscribed(ProtocolVersion::V5);
    pair.send(incoming(QoS::ExactlyOnce, 9, false));
    let id = one_message(&mut pair).ack.expect("handle");
    pair.cut();
    pair.reconnect(true);
    pair.take_sent();
    pair.send(incoming(QoS::ExactlyOnce, 9, true));
    assert!(messages(&mut pair).is_empty(), "delivered once only");
    assert_eq!(pair.take_sent(), vec![], "still not processed");
    ack(&mut pair, id);
    assert_eq!(pair.take_sent(), vec![Packet::PubRec(Ack::success(9))]);
}

#[test]
fn qos2_resend_after_the_ack_is_answered_at_once() {
    let mut pair = subscribed(ProtocolVersion::V5);
    pair.send(incoming(QoS::ExactlyOnce, 9, false));
    let id = one_message(&mut pair).ack.expect("handle");
    pair.cut();
    // Acked while no connection is up: remembered for the resend.
    ack(&mut pair, id);
    pair.reconnect(true);
    pair.take_sent();
    pair.send(incoming(QoS::ExactlyOnce, 9, true));
    assert!(messages(&mut pair).is_empty());
    assert_eq!(pair.take_sent(), vec![Packet::PubRec(Ack::success(9))]);
}

#[test]
fn qos1_resend_is_delivered_again_with_a_fresh_handle() {
    let mut pair = subscribed(ProtocolVersion::V5);
    pair.send(incoming(QoS::AtLeastOnce, 7, false));
    let first = one_message(&mut pair).ack.expect("handle");
    pair.cut();
    pair.reconnect(true);
    pair.take_sent();
    pair.send(incoming(QoS::AtLeastOnce, 7, true));
    let again = one_message(&mut pair);
    assert!(again.dup);
    let second = again.ack.expect("handle");
    assert_ne!(first, second);
    ack(&mut pair, first);
    assert_eq!(pair.take_sent(), vec![], "the old handle is stale");
    ack(&mut pair, second);
    assert_eq!(pair.take_sent(), vec![Packet::PubAck(Ack::success(7))]);
}

#[test]
fn qos1_acked_while_disconnected_is_answered_not_redelivered() {
    let mut pair = subscribed(ProtocolVersion::V311);
    pair.send(incoming(QoS::AtLeastOnce, 7, false));
    let id = one_message(&mut pair).ack.expect("handle");
    pair.cut();
    ack(&mut pair, id);
    pair.reconnect(true);
    pair.take_sent();
    pair.send(incoming(QoS::AtLeastOnce, 7, true));
    assert!(messages(&mut pair).is_empty());
    assert_eq!(pair.take_sent(), vec![Packet::PubAck(Ack::success(7))]);
}

#[test]
fn a_lost_session_drops_held_acks() {
    let mut pair = subscribed(ProtocolVersion::V5);
    pair.send(incoming(QoS::AtLeastOnce, 7, false));
    let qos1 = one_message(&mut pair).ack.expect("handle");
    pair.send(incoming(QoS::ExactlyOnce, 8, false));
    let qos2 = one_message(&mut pair).ack.expect("handle");
    pair.cut();
    pair.reconnect(false);
    let resubscribe = pair.expect_subscribe();
    pair.suback(
        resubscribe.pkid,
        vec![jamey_mqtt_core::ReasonCode::GRANTED_QOS_2],
    );
    pair.take_events();
    ack(&mut pair, qos1);
    ack(&mut pair, qos2);
    assert_eq!(
        pair.take_sent(),
        vec![],
        "the broker forgot them: nothing to ack"
    );
    // The same ids are new messages on the new session.
    pair.send(incoming(QoS::ExactlyOnce, 8, false));
    assert_eq!(messages(&mut pair).len(), 1);
}

#[test]
fn held_messages_count_against_the_receive_maximum() {
    let mut pair = Pair::connected(ClientConfig {
        receive_maximum: 2,
        ..config(ProtocolVersion::V5)
    });
    pair.subscribe_everything();
    pair.send(incoming(QoS::AtLeastOnce, 1, false));
    pair.send(incoming(QoS::ExactlyOnce, 2, false));
    let held = messages(&mut pair);
    assert_eq!(held.len(), 2);
    // Acking one makes room for one more.
    ack(&mut pair, held[0].ack.expect("handle"));
    pair.send(incoming(QoS::AtLeastOnce, 3, false));
    assert_eq!(messages(&mut pair).len(), 1);
    pair.send(incoming(QoS::AtLeastOnce, 4, false));
    let lost = pair.take_events().into_iter().any(|event| {
        matches!(
            event,
            Event::ConnectionLost(LostReason::Protocol(ProtocolError::ReceiveMaximumExceeded(
                2
            )))
        )
    });
    assert!(lost, "a third held message is a protocol error");
}

#[test]
fn a_message_the_client_drops_is_acked_for_the_application() {
    let mut pair = Pair::connected(ClientConfig {
        unmatched_capacity: 0,
        ..config(ProtocolVersion::V5)
    });
    // No subscription: nothing will ever see it, so the client acks it itself.
    pair.send(incoming(QoS::AtLeastOnce, 5, false));
    assert!(messages(&mut pair).is_empty());
    assert_eq!(pair.take_sent(), vec![Packet::PubAck(Ack::success(5))]);
}
