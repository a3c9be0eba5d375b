//! Property tests of the whole client: how the broker's bytes are split must not matter.

mod support;

use std::time::Duration;

use bytes::Bytes;
use jamey_mqtt_core::packet::{Ack, Packet, ProtocolVersion, Publish, PublishProperties, QoS};
use jamey_mqtt_core::{ClientConfig, Event};
use proptest::prelude::*;
use support::Pair;

fn broker_packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        (
            0u8..3,
            1u16..20,
            "[a-c]{1,3}(/[a-c]{1,3}){0,2}",
            prop::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(qos, pkid, topic, payload)| {
                let qos = QoS::from_u8(qos).unwrap();
                Packet::Publish(Publish {
                    dup: false,
                    qos,
                    retain: false,
                    topic: topic.into(),
                    pkid: if qos == QoS::AtMostOnce { 0 } else { pkid },
                    payload: Bytes::from(payload),
                    properties: PublishProperties::default().into(),
                })
            }),
        (1u16..20).prop_map(|pkid| Packet::PubRel(Ack::success(pkid))),
        Just(Packet::PingResp),
    ]
}

/// Runs a connected client, feeds it `chunks` of the broker's byte stream, returns what it did.
fn run(protocol: ProtocolVersion, stream: &[u8], cuts: &[usize]) -> (Vec<Event>, Vec<Packet>) {
    let mut pair = Pair::connected(ClientConfig {
        protocol,
        client_id: "prop".into(),
        keep_alive: Duration::from_secs(30),
        ..ClientConfig::default()
    });
    pair.subscribe_everything();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
        let cut = cut.clamp(start, stream.len());
        pair.send_bytes(&stream[start..cut]);
        start = cut;
    }
    (pair.take_events(), pair.take_sent())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn splitting_the_broker_stream_anywhere_gives_the_same_events(
        packets in prop::collection::vec(broker_packet(), 1..12),
        mut cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..16),
        v5 in any::<bool>(),
    ) {
        let protocol = if v5 { ProtocolVersion::V5 } else { ProtocolVersion::V311 };
        let codec = jamey_mqtt_core::codec::Codec::new(protocol, 1 << 20);
        let mut stream = bytes::BytesMut::new();
        for packet in &packets {
            codec.encode(packet, &mut stream).unwrap();
        }
        let mut offsets: Vec<usize> = cuts.drain(..).map(|i| i.index(stream.len() + 1)).collect();
        offsets.sort_unstable();
        let whole = run(protocol, &stream, &[]);
        let split = run(protocol, &stream, &offsets);
        prop_assert_eq!(&whole, &split);
        // And the stream was understood: one message per first-seen publish at least.
        let published = packets.iter().filter(|p| matches!(p, Packet::Publish(_))).count();
        let delivered = whole.0.iter().filter(|e| matches!(e, Event::Message { .. })).count();
        prop_assert!(delivered >= 1 || published == 0);
    }
}
