//! MQTT 5 messages and DISCONNECT, byte-level, against the scripted broker: PUBLISH properties
//! both ways, message expiry of publishes waiting in the client's queue, DISCONNECT with a
//! reason code and properties both ways, and the MQTT 3.1.1 refusals.

mod support;

use std::time::Duration;

use bytes::Bytes;
use jamey_mqtt_core::packet::{
    Disconnect, DisconnectProperties, Packet, ProtocolVersion, Publish, PublishProperties,
    ReasonCode,
};
use jamey_mqtt_core::{
    ClientConfig, ClientError, ConnectionState, DisconnectOptions, Event, LostReason,
    PublishRequest, QoS, RequestError, Token,
};
use support::Pair;

fn v5_config() -> ClientConfig {
    ClientConfig {
        client_id: "mqtt5-messages".into(),
        protocol: ProtocolVersion::V5,
        // No PINGREQ in the way of the packets these tests look at.
        keep_alive: Duration::from_secs(600),
        ..ClientConfig::default()
    }
}

fn every_property() -> PublishProperties {
    PublishProperties {
        payload_format_indicator: Some(1),
        message_expiry_interval: Some(120),
        response_topic: Some("replies/me".into()),
        correlation_data: Some(Bytes::from_static(b"\x00\x01corr")),
        user_properties: vec![
            ("trace".into(), "abc".into()),
            ("trace".into(), "def".into()),
        ],
        content_type: Some("application/json".into()),
        ..PublishProperties::default()
    }
}

fn expiring(topic: &str, qos: QoS, seconds: u32) -> PublishRequest {
    PublishRequest::new(topic, &b"payload"[..], qos).properties(PublishProperties {
        message_expiry_interval: Some(seconds),
        ..PublishProperties::default()
    })
}

fn sent_publishes(pair: &mut Pair) -> Vec<Publish> {
    pair.take_sent()
        .into_iter()
        .filter_map(|packet| match packet {
            Packet::Publish(publish) => Some(publish),
            _ => None,
        })
        .collect()
}

fn failures(events: &[Event]) -> Vec<(Token, RequestError)> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::RequestFailed { token, error } => Some((*token, error.clone())),
            _ => None,
        })
        .collect()
}

/// A connected v5 pair with one QoS 1 publish in flight and room for no other.
fn window_full() -> (Pair, u16) {
    let mut pair = Pair::connected(ClientConfig {
        max_inflight: 1,
        ..v5_config()
    });
    pair.client
        .publish(
            pair.now,
            PublishRequest::new("a", &b"1"[..], QoS::AtLeastOnce),
        )
        .expect("admitted");
    pair.drive();
    let first = sent_publishes(&mut pair);
    assert_eq!(first.len(), 1);
    (pair, first[0].pkid)
}

#[test]
fn publish_properties_go_out_unchanged() {
    let mut pair = Pair::connected(v5_config());
    pair.client
        .publish(
            pair.now,
            PublishRequest::new("t", &b"{}"[..], QoS::AtLeastOnce).properties(every_property()),
        )
        .expect("admitted");
    pair.drive();
    let sent = sent_publishes(&mut pair);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].properties, every_property());
}

#[test]
fn received_publish_properties_reach_the_message_unchanged() {
    let mut pair = Pair::connected(v5_config());
    pair.subscribe_everything();
    pair.send(Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: "t".into(),
        pkid: 7,
        payload: Bytes::from_static(b"{}"),
        properties: every_property().into(),
    }));
    let message = pair
        .take_events()
        .into_iter()
        .find_map(|event| match event {
            Event::Message { message, .. } => Some(message),
            _ => None,
        })
        .expect("message delivered");
    assert_eq!(message.properties, every_property());
}

#[test]
fn queued_publish_whose_interval_passes_fails_is_counted_and_is_never_sent() {
    let (mut pair, first) = window_full();
    let token = pair
        .client
        .publish(pair.now, expiring("b", QoS::AtLeastOnce, 5))
        .expect("admitted");
    pair.drive();
    assert!(
        sent_publishes(&mut pair).is_empty(),
        "waits for in-flight room"
    );

    pair.advance(Duration::from_millis(4_999));
    assert!(failures(&pair.take_events()).is_empty(), "not expired yet");
    pair.advance(Duration::from_millis(1));
    assert_eq!(
        failures(&pair.take_events()),
        vec![(token, RequestError::Expired)],
        "fails at its expiry, without waiting for in-flight room"
    );
    assert_eq!(pair.client.stats().messages_expired, 1);

    pair.puback(first);
    assert!(
        sent_publishes(&mut pair).is_empty(),
        "an expired publish is never sent"
    );
    assert_eq!(pair.client.health().queued, 0);
}

#[test]
fn publish_sent_after_waiting_carries_its_interval_less_the_whole_seconds_waited() {
    let (mut pair, first) = window_full();
    pair.client
        .publish(pair.now, expiring("b", QoS::ExactlyOnce, 10))
        .expect("admitted");
    pair.drive();
    pair.advance(Duration::from_millis(3_900));
    pair.puback(first);
    let sent = sent_publishes(&mut pair);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].topic, "b");
    assert_eq!(
        sent[0].properties.message_expiry_interval,
        Some(7),
        "10 s less 3 whole seconds waited"
    );
    assert!(failures(&pair.take_events()).is_empty());
    assert_eq!(pair.client.stats().messages_expired, 0);
}

#[test]
fn publish_sent_at_once_carries_its_interval_unchanged() {
    let mut pair = Pair::connected(v5_config());
    pair.client
        .publish(pair.now, expiring("t", QoS::AtMostOnce, 30))
        .expect("admitted");
    pair.drive();
    let sent = sent_publishes(&mut pair);
    assert_eq!(sent[0].properties.message_expiry_interval, Some(30));
}

#[test]
fn publish_in_flight_is_not_expired_by_the_client() {
    let mut pair = Pair::connected(v5_config());
    let token = pair
        .client
        .publish(pair.now, expiring("t", QoS::AtLeastOnce, 1))
        .expect("admitted");
    pair.drive();
    let sent = sent_publishes(&mut pair);
    assert_eq!(sent.len(), 1);
    pair.advance(Duration::from_secs(5));
    assert!(failures(&pair.take_events()).is_empty());
    pair.puback(sent[0].pkid);
    assert!(pair
        .take_events()
        .iter()
        .any(|event| matches!(event, Event::Published { token: t, .. } if *t == token)));
    assert_eq!(pair.client.stats().messages_expired, 0);
}

#[test]
fn publish_queued_across_a_reconnect_expires_while_disconnected() {
    let mut pair = Pair::connected(v5_config());
    pair.cut();
    pair.take_events();
    let admitted = pair.now;
    let token = pair
        .client
        .publish(pair.now, expiring("t", QoS::AtMostOnce, 1))
        .expect("admitted while reconnecting");
    pair.client
        .publish(pair.now, expiring("kept", QoS::AtMostOnce, 3_600))
        .expect("admitted while reconnecting");
    pair.advance(Duration::from_secs(1));
    assert_eq!(
        failures(&pair.take_events()),
        vec![(token, RequestError::Expired)]
    );
    pair.reconnect(false);
    let sent = sent_publishes(&mut pair);
    assert_eq!(sent.len(), 1, "only the one that did not expire: {sent:?}");
    assert_eq!(sent[0].topic, "kept");
    let waited = u32::try_from((pair.now - admitted).as_secs()).expect("small");
    assert!(waited >= 1);
    assert_eq!(
        sent[0].properties.message_expiry_interval,
        Some(3_600 - waited)
    );
    assert_eq!(pair.client.stats().messages_expired, 1);
}

fn last_disconnect(pair: &mut Pair) -> Disconnect {
    pair.take_sent()
        .into_iter()
        .filter_map(|packet| match packet {
            Packet::Disconnect(disconnect) => Some(disconnect),
            _ => None,
        })
        .next_back()
        .expect("a DISCONNECT was sent")
}

#[test]
fn disconnect_with_will_sends_reason_0x04_and_the_properties() {
    let mut pair = Pair::connected(ClientConfig {
        clean_start: false,
        session_expiry_interval: Some(3_600),
        ..v5_config()
    });
    pair.client
        .disconnect_with(
            pair.now,
            DisconnectOptions::with_will()
                .session_expiry_interval(0)
                .reason_string("going away")
                .user_property("k", "v"),
        )
        .expect("allowed");
    pair.drive();
    let disconnect = last_disconnect(&mut pair);
    let expected = Disconnect {
        reason: ReasonCode::DISCONNECT_WITH_WILL,
        properties: DisconnectProperties {
            session_expiry_interval: Some(0),
            reason_string: Some("going away".into()),
            user_properties: vec![("k".into(), "v".into())],
            server_reference: None,
        },
    };
    assert_eq!(disconnect, expected);
    // On the wire: fixed header 0xE0, remaining length, then reason code 0x04.
    let bytes = pair.encode(&Packet::Disconnect(disconnect));
    assert_eq!(bytes[0], 0xE0);
    assert_eq!(bytes[2], 0x04);
    assert_eq!(pair.client.state(), ConnectionState::Closed);
}

#[test]
fn plain_disconnect_stays_normal() {
    let mut pair = Pair::connected(v5_config());
    pair.client.disconnect(pair.now);
    pair.drive();
    assert_eq!(last_disconnect(&mut pair), Disconnect::normal());
}

#[test]
fn session_expiry_on_disconnect_cannot_turn_zero_into_non_zero() {
    // clean_start and no interval configured: CONNECT carried 0.
    let mut pair = Pair::connected(v5_config());
    assert_eq!(
        pair.client.disconnect_with(
            pair.now,
            DisconnectOptions::normal().session_expiry_interval(60)
        ),
        Err(ClientError::SessionExpiryWasZero { requested: 60 })
    );
    pair.drive();
    assert!(pair.take_sent().is_empty(), "nothing sent");
    assert_eq!(pair.client.state(), ConnectionState::Connected);
    // 0 stays 0: allowed.
    pair.client
        .disconnect_with(
            pair.now,
            DisconnectOptions::normal().session_expiry_interval(0),
        )
        .expect("0 to 0 is allowed");
    pair.drive();
    assert_eq!(
        last_disconnect(&mut pair)
            .properties
            .session_expiry_interval,
        Some(0)
    );
}

#[test]
fn a_reason_a_client_may_not_send_is_refused() {
    let mut pair = Pair::connected(v5_config());
    assert_eq!(
        pair.client.disconnect_with(
            pair.now,
            DisconnectOptions::normal().reason(ReasonCode::SESSION_TAKEN_OVER)
        ),
        Err(ClientError::InvalidDisconnectReason(
            ReasonCode::SESSION_TAKEN_OVER
        ))
    );
    pair.drive();
    assert!(pair.take_sent().is_empty());
    assert_eq!(pair.client.state(), ConnectionState::Connected);
}

#[test]
fn on_mqtt_311_only_the_normal_disconnect_is_allowed() {
    let mut pair = Pair::connected(ClientConfig {
        protocol: ProtocolVersion::V311,
        ..v5_config()
    });
    for options in [
        DisconnectOptions::with_will(),
        DisconnectOptions::normal().reason_string("why"),
        DisconnectOptions::normal().session_expiry_interval(0),
        DisconnectOptions::normal().user_property("k", "v"),
    ] {
        assert!(
            matches!(
                pair.client.disconnect_with(pair.now, options.clone()),
                Err(ClientError::Unsupported(_))
            ),
            "{options:?}"
        );
    }
    pair.drive();
    assert!(pair.take_sent().is_empty(), "nothing sent");
    assert_eq!(pair.client.state(), ConnectionState::Connected);
    pair.client
        .disconnect_with(pair.now, DisconnectOptions::normal())
        .expect("the normal case is fine");
    pair.drive();
    assert_eq!(last_disconnect(&mut pair), Disconnect::normal());
}

#[test]
fn on_mqtt_311_publish_properties_are_refused_at_admission() {
    let mut pair = Pair::connected(ClientConfig {
        protocol: ProtocolVersion::V311,
        ..v5_config()
    });
    assert!(matches!(
        pair.client
            .publish(pair.now, expiring("t", QoS::AtLeastOnce, 5)),
        Err(ClientError::Unsupported(_))
    ));
}

#[test]
fn the_brokers_disconnect_reason_and_properties_reach_the_application() {
    let mut pair = Pair::connected(v5_config());
    pair.send(Packet::Disconnect(Disconnect {
        reason: ReasonCode::USE_ANOTHER_SERVER,
        properties: DisconnectProperties {
            session_expiry_interval: None,
            reason_string: Some("maintenance".into()),
            user_properties: vec![("node".into(), "b".into())],
            server_reference: Some("other.example:1883".into()),
        },
    }));
    let lost = pair
        .take_events()
        .into_iter()
        .find_map(|event| match event {
            Event::ConnectionLost(reason) => Some(reason),
            _ => None,
        })
        .expect("connection lost");
    assert_eq!(
        lost,
        LostReason::ServerDisconnect {
            reason: ReasonCode::USE_ANOTHER_SERVER,
            reason_string: Some("maintenance".into()),
            server_reference: Some("other.example:1883".into()),
            user_properties: vec![("node".into(), "b".into())],
        }
    );
    assert!(lost.to_string().contains("maintenance"));
}

#[test]
fn publish_replayed_on_resume_carries_its_interval_less_the_time_since_admission() {
    let mut pair = Pair::connected(v5_config());
    let admitted = pair.now;
    pair.client
        .publish(pair.now, expiring("t", QoS::AtLeastOnce, 100))
        .expect("admitted");
    pair.drive();
    assert_eq!(sent_publishes(&mut pair).len(), 1);
    pair.advance(Duration::from_secs(4));
    pair.cut();
    pair.reconnect(true);
    let replayed = sent_publishes(&mut pair);
    assert_eq!(replayed.len(), 1);
    assert!(replayed[0].dup);
    let waited = u32::try_from((pair.now - admitted).as_secs()).expect("small");
    assert!(waited >= 4);
    assert_eq!(
        replayed[0].properties.message_expiry_interval,
        Some(100 - waited)
    );
}
