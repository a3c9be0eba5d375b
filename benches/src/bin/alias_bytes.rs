//! Bytes on the wire with and without automatic topic aliases (MQTT 5).
//!
//! `cargo run --release -p jamey-mqtt-benches --bin alias_bytes [publishes] [topic length]`
//!
//! One core client per mode publishes the same QoS 0 messages (64-byte payload) to one long
//! topic against the in-memory scripted broker, whose CONNACK allows 10 aliases; the figure is
//! the client's own count of bytes handed to the transport (`Stats::bytes_sent`), the CONNECT
//! and the scripted client's one SUBSCRIBE included. No sockets and no clock: the result is exact and the same on every run.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use jamey_mqtt_benches::scripted::{self, ScriptedBroker};
use jamey_mqtt_core::packet::{ProtocolVersion, QoS};
use jamey_mqtt_core::ClientConfig;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map_or(10_000, |a| a.parse().expect("publishes"));
    let topic_len: usize = args
        .next()
        .map_or(100, |a| a.parse().expect("topic length"));
    let topic = format!("t/{}", "x".repeat(topic_len.saturating_sub(2)));
    let payload = Bytes::from(vec![7u8; 64]);
    println!(
        "{n} QoS 0 publishes, {}-byte topic, 64-byte payload, MQTT 5",
        topic.len()
    );
    let mut sent = Vec::new();
    for auto_topic_alias in [false, true] {
        let now = Instant::now();
        let config = ClientConfig {
            auto_topic_alias,
            ..scripted::config(ProtocolVersion::V5)
        };
        let mut client = scripted::connected_client_with_aliases(config, now, 10);
        let mut broker = ScriptedBroker::default();
        let mut out = BytesMut::new();
        scripted::publish_all_to(
            &mut client,
            &mut broker,
            now,
            n,
            QoS::AtMostOnce,
            &payload,
            &topic,
            &mut out,
        );
        let bytes = client.stats().bytes_sent;
        println!(
            "  auto_topic_alias = {auto_topic_alias:<5}  {bytes:>10} bytes  {:>6.1} bytes/message",
            bytes as f64 / n as f64
        );
        sent.push(bytes);
    }
    println!(
        "saved: {} bytes ({:.1} %)",
        sent[0] - sent[1],
        100.0 * (sent[0] - sent[1]) as f64 / sent[0] as f64
    );
}
