//! Property tests of the codec: every packet of the model, with every property present or not,
//! encodes and decodes to itself on both protocol versions (3.1.1 only with what it can carry),
//! `encoded_len` is exactly what `encode` writes, and a stream split anywhere decodes the same.

use bytes::{Bytes, BytesMut};
use jamey_mqtt_core::codec::Codec;
use jamey_mqtt_core::packet::*;
use proptest::option::of as opt;
use proptest::prelude::*;
use proptest::sample::select;

const V4: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;

fn name() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,6}(/[a-z0-9]{0,6}){0,3}"
}

fn filter() -> impl Strategy<Value = String> {
    prop_oneof![
        name(),
        Just("#".to_owned()),
        Just("a/+/b".to_owned()),
        Just("+/x/#".to_owned())
    ]
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,8}"
}

fn bin() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

fn user() -> impl Strategy<Value = UserProperties> {
    proptest::collection::vec((text(), text()), 0..3)
}

fn qos() -> impl Strategy<Value = QoS> {
    select(vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])
}

fn pkid() -> impl Strategy<Value = u16> {
    1..=u16::MAX
}

fn flag() -> impl Strategy<Value = Option<u8>> {
    opt(0..=1u8)
}

fn reason(codes: &[u8]) -> impl Strategy<Value = ReasonCode> {
    select(codes.to_vec()).prop_map(ReasonCode)
}

const PUBACK_CODES: &[u8] = &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];
const PUBREL_CODES: &[u8] = &[0x00, 0x92];
const SUBACK_CODES: &[u8] = &[
    0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
];
const UNSUBACK_CODES: &[u8] = &[0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91];
const CONNACK_CODES: &[u8] = &[
    0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
    0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
];
const DISCONNECT_CODES: &[u8] = &[
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95,
    0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
];

fn ack_props(v: ProtocolVersion) -> BoxedStrategy<AckProperties> {
    if v == V4 {
        return Just(AckProperties::default()).boxed();
    }
    (opt(text()), user())
        .prop_map(|(reason_string, user_properties)| AckProperties {
            reason_string,
            user_properties,
        })
        .boxed()
}

fn connect(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let props = (
        opt(any::<u32>()),
        opt(1..=u16::MAX),
        opt(1..=u32::MAX),
        opt(any::<u16>()),
        flag(),
        flag(),
        opt(text()),
        opt(bin()),
        user(),
    )
        .prop_map(|(a, b, c, d, e, f, g, h, i)| ConnectProperties {
            session_expiry_interval: a,
            receive_maximum: b,
            maximum_packet_size: c,
            topic_alias_maximum: d,
            request_response_information: e,
            request_problem_information: f,
            authentication_method: g,
            authentication_data: h,
            user_properties: i,
        });
    let will_props = (
        opt(any::<u32>()),
        flag(),
        opt(any::<u32>()),
        opt(text()),
        opt(name()),
        opt(bin()),
        user(),
    )
        .prop_map(|(a, b, c, d, e, f, g)| WillProperties {
            delay_interval: a,
            payload_format_indicator: b,
            message_expiry_interval: c,
            content_type: d,
            response_topic: e,
            correlation_data: f,
            user_properties: g,
        });
    let will = (name(), bin(), qos(), any::<bool>(), will_props).prop_map(
        move |(topic, payload, qos, retain, properties)| Will {
            topic,
            payload,
            qos,
            retain,
            properties: if v == V5 {
                properties
            } else {
                WillProperties::default()
            },
        },
    );
    (
        text(),
        any::<bool>(),
        any::<u16>(),
        opt(text()),
        opt(bin()),
        opt(will),
        props,
    )
        .prop_map(
            move |(client_id, clean_start, keep_alive, mut username, password, will, props)| {
                if v == V4 && password.is_some() && username.is_none() {
                    username = Some(String::new());
                }
                Packet::Connect(Box::new(Connect {
                    client_id,
                    clean_start,
                    keep_alive,
                    username,
                    password,
                    will,
                    properties: if v == V5 {
                        props
                    } else {
                        ConnectProperties::default()
                    },
                }))
            },
        )
}

fn connack(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let a = (
        opt(any::<u32>()),
        opt(1..=u16::MAX),
        flag(),
        flag(),
        opt(1..=u32::MAX),
        opt(text()),
        opt(any::<u16>()),
        opt(text()),
        user(),
    );
    let b = (
        flag(),
        flag(),
        flag(),
        opt(any::<u16>()),
        opt(text()),
        opt(text()),
        opt(text()),
        opt(bin()),
    );
    let props = (a, b).prop_map(|((a, b, c, d, e, f, g, h, i), (j, k, l, m, n, o, p, q))| {
        ConnAckProperties {
            session_expiry_interval: a,
            receive_maximum: b,
            maximum_qos: c,
            retain_available: d,
            maximum_packet_size: e,
            assigned_client_identifier: f,
            topic_alias_maximum: g,
            reason_string: h,
            user_properties: i,
            wildcard_subscription_available: j,
            subscription_identifiers_available: k,
            shared_subscription_available: l,
            server_keep_alive: m,
            response_information: n,
            server_reference: o,
            authentication_method: p,
            authentication_data: q,
        }
    });
    let codes: &[u8] = if v == V5 {
        CONNACK_CODES
    } else {
        &[0x00, 0x84, 0x85, 0x88, 0x86, 0x87]
    };
    (any::<bool>(), reason(codes), props).prop_map(move |(sp, code, props)| {
        Packet::ConnAck(Box::new(ConnAck {
            session_present: sp && code == ReasonCode::SUCCESS,
            code,
            properties: if v == V5 {
                props
            } else {
                ConnAckProperties::default()
            },
        }))
    })
}

fn publish(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let props = (
        flag(),
        opt(any::<u32>()),
        opt(1..=u16::MAX),
        opt(name()),
        opt(bin()),
        user(),
        proptest::collection::vec(1usize..=268_435_455, 0..3),
        opt(text()),
    )
        .prop_map(|(a, b, c, d, e, f, g, h)| PublishProperties {
            payload_format_indicator: a,
            message_expiry_interval: b,
            topic_alias: c,
            response_topic: d,
            correlation_data: e,
            user_properties: f,
            subscription_identifiers: g,
            content_type: h,
        });
    (
        any::<bool>(),
        qos(),
        any::<bool>(),
        prop_oneof![4 => name(), 1 => Just(String::new())],
        pkid(),
        bin(),
        props,
    )
        .prop_map(
            move |(dup, qos, retain, mut topic, pkid, payload, mut props)| {
                if v == V4 {
                    props = PublishProperties::default();
                }
                if topic.is_empty() && props.topic_alias.is_none() {
                    topic = "t".to_owned();
                }
                let qos0 = qos == QoS::AtMostOnce;
                Packet::Publish(Publish {
                    dup: dup && !qos0,
                    qos,
                    retain,
                    topic: topic.into(),
                    pkid: if qos0 { 0 } else { pkid },
                    payload,
                    properties: props.into(),
                })
            },
        )
}

fn ack(v: ProtocolVersion, codes: &'static [u8]) -> impl Strategy<Value = Ack> {
    let codes = if v == V5 { codes } else { &[0x00] };
    (pkid(), reason(codes), ack_props(v)).prop_map(|(pkid, reason, properties)| Ack {
        pkid,
        reason,
        properties,
    })
}

fn subscribe(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let f = (
        filter(),
        qos(),
        any::<bool>(),
        any::<bool>(),
        select(vec![
            RetainHandling::SendAtSubscribe,
            RetainHandling::SendAtSubscribeIfNew,
            RetainHandling::DoNotSend,
        ]),
    )
        .prop_map(move |(filter, qos, nl, rap, rh)| {
            let mut f = SubscribeFilter::new(filter, qos);
            if v == V5 {
                (f.no_local, f.retain_as_published, f.retain_handling) = (nl, rap, rh);
            }
            f
        });
    let props = (opt(1usize..=268_435_455), user()).prop_map(move |(id, u)| {
        if v == V5 {
            SubscribeProperties {
                subscription_identifier: id,
                user_properties: u,
            }
        } else {
            SubscribeProperties::default()
        }
    });
    (pkid(), proptest::collection::vec(f, 1..4), props).prop_map(|(pkid, filters, properties)| {
        Packet::Subscribe(Subscribe {
            pkid,
            filters,
            properties,
        })
    })
}

fn suback(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let codes: &[u8] = if v == V5 {
        SUBACK_CODES
    } else {
        &[0x00, 0x01, 0x02, 0x80]
    };
    (
        pkid(),
        proptest::collection::vec(reason(codes), 1..4),
        ack_props(v),
    )
        .prop_map(|(pkid, reasons, properties)| {
            Packet::SubAck(SubAck {
                pkid,
                reasons,
                properties,
            })
        })
}

fn unsubscribe(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (pkid(), proptest::collection::vec(filter(), 1..4), user()).prop_map(
        move |(pkid, filters, u)| {
            Packet::Unsubscribe(Unsubscribe {
                pkid,
                filters,
                user_properties: if v == V5 { u } else { Vec::new() },
            })
        },
    )
}

fn unsuback(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let reasons = if v == V5 {
        proptest::collection::vec(reason(UNSUBACK_CODES), 1..4).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    (pkid(), reasons, ack_props(v)).prop_map(|(pkid, reasons, properties)| {
        Packet::UnsubAck(UnsubAck {
            pkid,
            reasons,
            properties,
        })
    })
}

fn disconnect(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    if v == V4 {
        return Just(Packet::Disconnect(Disconnect::normal())).boxed();
    }
    let props = (opt(any::<u32>()), opt(text()), user(), opt(text())).prop_map(|(a, b, c, d)| {
        DisconnectProperties {
            session_expiry_interval: a,
            reason_string: b,
            user_properties: c,
            server_reference: d,
        }
    });
    (reason(DISCONNECT_CODES), props)
        .prop_map(|(reason, properties)| Packet::Disconnect(Disconnect { reason, properties }))
        .boxed()
}

fn auth() -> impl Strategy<Value = Packet> {
    let props =
        (opt(text()), opt(bin()), opt(text()), user()).prop_map(|(a, b, c, d)| AuthProperties {
            authentication_method: a,
            authentication_data: b,
            reason_string: c,
            user_properties: d,
        });
    (reason(&[0x00, 0x18, 0x19]), props)
        .prop_map(|(reason, properties)| Packet::Auth(Box::new(Auth { reason, properties })))
}

/// Any packet the version can carry.
fn packet(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    let common = prop_oneof![
        connect(v),
        connack(v),
        publish(v),
        ack(v, PUBACK_CODES).prop_map(Packet::PubAck),
        ack(v, PUBACK_CODES).prop_map(Packet::PubRec),
        ack(v, PUBREL_CODES).prop_map(Packet::PubRel),
        ack(v, PUBREL_CODES).prop_map(Packet::PubComp),
        subscribe(v),
        suback(v),
        unsubscribe(v),
        unsuback(v),
        Just(Packet::PingReq),
        Just(Packet::PingResp),
        disconnect(v),
    ];
    if v == V5 {
        prop_oneof![14 => common, 1 => auth()].boxed()
    } else {
        common.boxed()
    }
}

fn version() -> impl Strategy<Value = ProtocolVersion> {
    select(vec![V4, V5])
}

fn versioned_packet() -> impl Strategy<Value = (ProtocolVersion, Packet)> {
    version().prop_flat_map(|v| (Just(v), packet(v)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// encode -> decode is the identity, consumes exactly the encoding, and `encoded_len` is
    /// exactly what `encode` wrote (and appended after existing content).
    #[test]
    fn every_packet_roundtrips_on_both_versions((v, p) in versioned_packet(), prefix in bin()) {
        let codec = Codec::new(v, 1 << 20);
        let mut out = BytesMut::from(&prefix[..]);
        let n = codec.encode(&p, &mut out).expect("encodable");
        prop_assert_eq!(n, out.len() - prefix.len());
        prop_assert_eq!(Ok(n), codec.encoded_len(&p));
        let mut buf = out.split_off(prefix.len());
        prop_assert_eq!(&out[..], &prefix[..], "encode must append, not overwrite");
        let decoded = codec.decode(&mut buf).expect("decodes").expect("complete");
        prop_assert_eq!(decoded, p);
        prop_assert!(buf.is_empty());
    }

    /// A stream of packets cut at arbitrary points and fed piece by piece decodes to the same
    /// packets as the whole stream; incomplete input is never consumed.
    #[test]
    fn split_stream_decodes_like_whole_stream(
        (v, packets) in version().prop_flat_map(|v| (Just(v), proptest::collection::vec(packet(v), 1..6))),
        cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..8),
    ) {
        let codec = Codec::new(v, 1 << 20);
        let mut stream = BytesMut::new();
        for p in &packets {
            codec.encode(p, &mut stream).unwrap();
        }
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        points.push(0);
        points.push(stream.len());
        points.sort_unstable();

        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for w in points.windows(2) {
            buf.extend_from_slice(&stream[w[0]..w[1]]);
            loop {
                let before = buf.len();
                match codec.decode(&mut buf).unwrap() {
                    Some(p) => got.push(p),
                    None => {
                        prop_assert_eq!(buf.len(), before, "Ok(None) consumed bytes");
                        break;
                    }
                }
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(&got, &packets);

        let mut whole = stream.clone();
        let mut all = Vec::new();
        while let Some(p) = codec.decode(&mut whole).unwrap() {
            all.push(p);
        }
        prop_assert_eq!(all, packets);
    }
}
