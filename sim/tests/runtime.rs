//! The simulated runtime on its own: virtual time, FIFO order, deadlock and time-limit reports,
//! and a raw MQTT exchange with the simulated broker through a `SimStream` (version sniffed
//! from CONNECT, limits announced in CONNACK and enforced).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use futures_util::{AsyncReadExt, AsyncWriteExt};
use jamey_mqtt::Runtime;
use jamey_mqtt_core::codec::Codec;
use jamey_mqtt_core::packet::{
    Connect, ConnectProperties, Packet, ProtocolVersion, Publish, PublishProperties, QoS,
};
use jamey_mqtt_sim::broker::{Broker, Limits};
use jamey_mqtt_sim::link::LinkProfile;
use jamey_mqtt_sim::{SimError, SimRuntime};

const LIMIT: Duration = Duration::from_secs(3600);

fn runtime(limits: Limits) -> SimRuntime {
    let mut broker = Broker::new(true, 10);
    broker.limits = limits;
    SimRuntime::new(fastrand::Rng::with_seed(1), broker, LinkProfile::calm())
}

#[test]
fn time_is_virtual_and_moves_to_the_next_timer() {
    let rt = runtime(Limits::default());
    let started = std::time::Instant::now();
    let r = rt.clone();
    rt.block_on(
        async move { r.sleep(Duration::from_secs(3600 * 24)).await },
        LIMIT * 25,
    )
    .expect("runs");
    assert_eq!(rt.elapsed(), Duration::from_secs(3600 * 24));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn tasks_run_in_wake_order() {
    let rt = runtime(Limits::default());
    let order = Arc::new(Mutex::new(Vec::new()));
    for (i, ms) in [(0, 30), (1, 10), (2, 10), (3, 0)] {
        let (r, order) = (rt.clone(), order.clone());
        rt.spawn(async move {
            r.sleep(Duration::from_millis(ms)).await;
            order.lock().unwrap().push(i);
        });
    }
    let r = rt.clone();
    rt.block_on(async move { r.sleep(Duration::from_secs(1)).await }, LIMIT)
        .expect("runs");
    assert_eq!(*order.lock().unwrap(), [3, 1, 2, 0]);
}

#[test]
fn a_future_nothing_can_wake_is_a_deadlock() {
    let rt = runtime(Limits::default());
    let outcome = rt.block_on(std::future::pending::<()>(), LIMIT);
    assert!(
        matches!(outcome, Err(SimError::Deadlock { .. })),
        "{outcome:?}"
    );
}

#[test]
fn a_run_past_its_limit_is_reported() {
    let rt = runtime(Limits::default());
    let r = rt.clone();
    let outcome = rt.block_on(
        async move {
            loop {
                r.sleep(Duration::from_secs(1)).await;
            }
        },
        Duration::from_secs(10),
    );
    assert!(
        matches!(outcome, Err(SimError::TimeLimit { .. })),
        "{outcome:?}"
    );
}

/// Connects over a raw stream, reads the CONNACK, sends `publishes`; returns the CONNACK and
/// the broker's violations.
fn exchange(limits: Limits, publishes: Vec<Publish>) -> (Packet, Vec<String>) {
    let rt = runtime(limits);
    let r = rt.clone();
    let connack = rt
        .block_on(
            async move {
                let codec = Codec::new(ProtocolVersion::V5, 1 << 20);
                let mut stream = r.connect_tcp("broker.sim", 1883).await.expect("connects");
                let connect = Packet::Connect(Box::new(Connect {
                    client_id: "raw".into(),
                    clean_start: true,
                    keep_alive: 0,
                    username: None,
                    password: None,
                    will: None,
                    properties: ConnectProperties::default(),
                }));
                let mut out = BytesMut::new();
                codec.encode(&connect, &mut out).expect("encodes");
                for publish in publishes {
                    codec
                        .encode(&Packet::Publish(publish), &mut out)
                        .expect("encodes");
                }
                stream.write_all(&out).await.expect("writes");
                let mut input = BytesMut::new();
                let mut buf = [0u8; 256];
                loop {
                    if let Some(packet) = codec.decode(&mut input).expect("decodes") {
                        // Let the publishes arrive before the run ends.
                        r.sleep(Duration::from_secs(1)).await;
                        return packet;
                    }
                    let n = stream.read(&mut buf).await.expect("reads");
                    assert!(n > 0, "the broker closed the stream before CONNACK");
                    input.extend_from_slice(&buf[..n]);
                }
            },
            LIMIT,
        )
        .expect("runs");
    let violations = rt.with_net(|net| net.broker.violations.clone());
    (connack, violations)
}

fn publish(pkid: u16, payload: &str, alias: Option<u16>) -> Publish {
    Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: "t/a".into(),
        pkid,
        payload: payload.to_owned().into(),
        properties: PublishProperties {
            topic_alias: alias,
            ..PublishProperties::default()
        }
        .into(),
    }
}

#[test]
fn the_broker_announces_its_limits_in_connack() {
    let limits = Limits {
        receive_maximum: Some(3),
        maximum_packet_size: Some(500),
        topic_alias_maximum: Some(2),
    };
    let (connack, violations) = exchange(limits, Vec::new());
    let Packet::ConnAck(connack) = connack else {
        panic!("expected CONNACK, got {connack:?}");
    };
    assert_eq!(connack.properties.receive_maximum, Some(3));
    assert_eq!(connack.properties.maximum_packet_size, Some(500));
    assert_eq!(connack.properties.topic_alias_maximum, Some(2));
    assert!(violations.is_empty(), "{violations:?}");
}

#[test]
fn the_broker_records_a_client_that_breaks_them() {
    let limits = Limits {
        receive_maximum: None,
        maximum_packet_size: Some(100),
        topic_alias_maximum: Some(2),
    };
    let (_, violations) = exchange(limits, vec![publish(1, &"x".repeat(200), None)]);
    assert!(
        violations[0].contains("maximum packet size"),
        "{violations:?}"
    );
    let (_, violations) = exchange(limits, vec![publish(1, "a", Some(3))]);
    assert!(violations[0].contains("topic alias 3"), "{violations:?}");
    let (_, violations) = exchange(limits, vec![publish(1, "a", Some(2))]);
    assert!(violations.is_empty(), "{violations:?}");
}

#[test]
fn the_broker_counts_unacknowledged_publishes_against_its_receive_maximum() {
    let limits = Limits {
        receive_maximum: Some(1),
        ..Limits::default()
    };
    let mut broker = Broker::new(true, 10);
    broker.limits = limits;
    broker.hold_acks = true;
    let rt = SimRuntime::new(fastrand::Rng::with_seed(2), broker, LinkProfile::calm());
    let r = rt.clone();
    rt.block_on(
        async move {
            let codec = Codec::new(ProtocolVersion::V5, 1 << 20);
            let mut stream = r.connect_tcp("broker.sim", 1883).await.expect("connects");
            let mut out = BytesMut::new();
            let connect = Packet::Connect(Box::new(Connect {
                client_id: "raw".into(),
                clean_start: true,
                keep_alive: 0,
                username: None,
                password: None,
                will: None,
                properties: ConnectProperties::default(),
            }));
            codec.encode(&connect, &mut out).expect("encodes");
            for (pkid, payload) in [(1, "a"), (2, "b")] {
                codec
                    .encode(&Packet::Publish(publish(pkid, payload, None)), &mut out)
                    .expect("encodes");
            }
            stream.write_all(&out).await.expect("writes");
            r.sleep(Duration::from_secs(1)).await;
        },
        LIMIT,
    )
    .expect("runs");
    let violations = rt.with_net(|net| net.broker.violations.clone());
    assert!(
        violations[0].contains("receive maximum 1"),
        "{violations:?}"
    );
}

#[test]
fn the_broker_records_a_resend_without_dup() {
    // The same packet id and message again in the same session is a resend: DUP=1 or a
    // violation.
    let (_, violations) = exchange(
        Limits::default(),
        vec![publish(7, "m", None), publish(7, "m", None)],
    );
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(
        violations[0].contains("PUBLISH 7 resent in the same session without DUP=1"),
        "{violations:?}"
    );
    let resend = Publish {
        dup: true,
        ..publish(7, "m", None)
    };
    let (_, violations) = exchange(Limits::default(), vec![publish(7, "m", None), resend]);
    assert!(violations.is_empty(), "{violations:?}");
    // A new message that reuses a freed packet id is not a resend.
    let (_, violations) = exchange(
        Limits::default(),
        vec![publish(7, "m", None), publish(7, "n", None)],
    );
    assert!(violations.is_empty(), "{violations:?}");
}
