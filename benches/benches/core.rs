//! Criterion benches of `jamey-mqtt-core`: no sockets, no clock, only the core's own work.
//!
//! - `codec/{encode,decode}/{v311,v5}/{64B,4KiB}`: one PUBLISH (QoS 1, 38-byte topic).
//! - `client/publish/{v311,v5}/{qos0,qos1,qos2}`: 1,000 publishes through the whole client
//!   path (`publish`, `poll_output` into one buffer, the scripted broker's acks fed back as
//!   bytes, events drained); throughput is messages per second.
//! - `client/receive/{v311,v5}/{qos0,qos1}`: a stream of 1,000 incoming PUBLISHes fed in
//!   16 KiB reads, acks written, delivered as `Event::Message`.
//!
//! Run with `cargo bench -p jamey-mqtt-benches --bench core`; `cargo test --all-targets` runs
//! each bench once (criterion's test mode).

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use jamey_mqtt_benches::scripted::{
    config, connected_client, incoming_stream, publish_all, receive_all, ScriptedBroker, TOPIC,
};
use jamey_mqtt_core::codec::Codec;
use jamey_mqtt_core::packet::{Packet, ProtocolVersion, Publish, PublishProperties, QoS};

const VERSIONS: [(ProtocolVersion, &str); 2] =
    [(ProtocolVersion::V311, "v311"), (ProtocolVersion::V5, "v5")];
const MESSAGES: usize = 1000;

fn payload(len: usize) -> Bytes {
    Bytes::from((0..len).map(|i| i as u8).collect::<Vec<u8>>())
}

fn publish_packet(len: usize) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: TOPIC.into(),
        pkid: 42,
        payload: payload(len),
        properties: PublishProperties::default().into(),
    })
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    for (version, name) in VERSIONS {
        let codec = Codec::new(version, 1 << 20);
        for (len, size) in [(64, "64B"), (4096, "4KiB")] {
            let packet = publish_packet(len);
            let mut encoded = BytesMut::new();
            let frame = codec.encode(&packet, &mut encoded).expect("encode");
            group.throughput(Throughput::Bytes(frame as u64));
            let mut out = BytesMut::with_capacity(2 * frame);
            group.bench_function(format!("encode/{name}/{size}"), |b| {
                b.iter(|| {
                    out.clear();
                    codec.encode(black_box(&packet), &mut out).expect("encode")
                })
            });
            group.bench_function(format!("decode/{name}/{size}"), |b| {
                b.iter_batched_ref(
                    || encoded.clone(),
                    |buf| codec.decode(black_box(buf)).expect("decode"),
                    BatchSize::SmallInput,
                )
            });
        }
    }
    group.finish();
}

fn client_publish(c: &mut Criterion) {
    let mut group = c.benchmark_group("client/publish");
    group.throughput(Throughput::Elements(MESSAGES as u64));
    let payload = payload(64);
    let now = Instant::now();
    for (version, name) in VERSIONS {
        for (qos, q) in [
            (QoS::AtMostOnce, "qos0"),
            (QoS::AtLeastOnce, "qos1"),
            (QoS::ExactlyOnce, "qos2"),
        ] {
            let mut client = connected_client(config(version), now);
            let mut broker = ScriptedBroker::default();
            let mut out = BytesMut::new();
            group.bench_function(format!("{name}/{q}"), |b| {
                b.iter(|| {
                    let done = publish_all(
                        &mut client,
                        &mut broker,
                        now,
                        MESSAGES,
                        qos,
                        &payload,
                        &mut out,
                    );
                    assert_eq!(done, MESSAGES);
                })
            });
        }
    }
    group.finish();
}

fn client_receive(c: &mut Criterion) {
    let mut group = c.benchmark_group("client/receive");
    group.throughput(Throughput::Elements(MESSAGES as u64));
    let payload = payload(64);
    let now = Instant::now();
    for (version, name) in VERSIONS {
        for (qos, q) in [(QoS::AtMostOnce, "qos0"), (QoS::AtLeastOnce, "qos1")] {
            let mut client = connected_client(config(version), now);
            let stream = incoming_stream(version, MESSAGES as u16, qos, &payload);
            let mut out = BytesMut::new();
            group.bench_function(format!("{name}/{q}"), |b| {
                b.iter(|| {
                    let got = receive_all(&mut client, now, &stream, 16 * 1024, &mut out);
                    assert_eq!(got, MESSAGES);
                })
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Short runs: the machine is small and shared; the figures are stable at this length.
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = codec, client_publish, client_receive
}
criterion_main!(benches);
