//! Fixed inputs, real and malformed, each with the exact outcome the state machine relies on:
//! what mqttbytes gets wrong is answered correctly at the seam, and bad input is a typed error.

use bytes::{Bytes, BytesMut};
use jamey_mqtt_core::codec::{Codec, EncodeError};
use jamey_mqtt_core::packet::*;
use jamey_mqtt_core::topic::TopicError;
use jamey_mqtt_core::{Malformed, Malformed as M, ProtocolError};

const V4: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;

fn decode(v: ProtocolVersion, bytes: &[u8]) -> Result<Option<Packet>, ProtocolError> {
    Codec::new(v, 1024).decode(&mut BytesMut::from(bytes))
}

fn malformed(kind: Malformed) -> Result<Option<Packet>, ProtocolError> {
    Err(ProtocolError::MalformedPacket(kind))
}

fn encode(v: ProtocolVersion, p: &Packet) -> Result<Vec<u8>, EncodeError> {
    let mut out = BytesMut::new();
    Codec::new(v, 1024).encode(p, &mut out)?;
    Ok(out.to_vec())
}

#[test]
fn v5_disconnect_with_only_a_reason_code_is_decoded_not_lost() {
    // What Mosquitto sends; mqttbytes consumes it and answers "insufficient bytes".
    let mut buf = BytesMut::from(&[0xE0, 0x01, 0x81, 0xC0][..]);
    let got = Codec::new(V5, 1024).decode(&mut buf).unwrap();
    let want = Disconnect {
        reason: ReasonCode::MALFORMED_PACKET,
        properties: DisconnectProperties::default(),
    };
    assert_eq!(got, Some(Packet::Disconnect(want)));
    assert_eq!(
        &buf[..],
        &[0xC0],
        "exactly the DISCONNECT frame is consumed"
    );
}

#[test]
fn v5_empty_disconnect_is_normal_disconnection() {
    let want = Some(Packet::Disconnect(Disconnect::normal()));
    assert_eq!(decode(V5, &[0xE0, 0x00]), Ok(want.clone()));
    assert_eq!(decode(V4, &[0xE0, 0x00]), Ok(want));
    assert_eq!(
        encode(V5, &Packet::Disconnect(Disconnect::normal())),
        Ok(vec![0xE0, 0x00])
    );
}

#[test]
fn v5_connack_and_disconnect_without_properties_encode_in_decodable_form() {
    let connack = Packet::ConnAck(Box::new(ConnAck {
        session_present: true,
        code: ReasonCode::SUCCESS,
        properties: ConnAckProperties::default(),
    }));
    assert_eq!(encode(V5, &connack), Ok(vec![0x20, 0x03, 0x01, 0x00, 0x00]));
    let d = Packet::Disconnect(Disconnect {
        reason: ReasonCode::SERVER_SHUTTING_DOWN,
        properties: DisconnectProperties::default(),
    });
    assert_eq!(encode(V5, &d), Ok(vec![0xE0, 0x01, 0x8B]));
    assert_eq!(decode(V5, &[0xE0, 0x01, 0x8B]), Ok(Some(d)));
}

#[test]
fn remaining_length_of_five_bytes_is_malformed() {
    let want = malformed(M::VarintTooLong);
    assert_eq!(decode(V4, &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]), want);
    // Known to be malformed as soon as the fourth length byte still continues.
    assert_eq!(decode(V5, &[0x30, 0xFF, 0xFF, 0xFF, 0xFF]), want);
}

#[test]
fn remaining_length_not_in_shortest_form_is_malformed() {
    let want = malformed(M::VarintNotShortest);
    assert_eq!(decode(V4, &[0xC0, 0x80, 0x00]), want);
}

#[test]
fn header_announcing_more_than_max_is_refused_before_the_body_arrives() {
    // 0xE8 0x07 = 1000 bytes of body announced, none buffered.
    let codec = Codec::new(V4, 100);
    let got = codec.decode(&mut BytesMut::from(&[0x30, 0xE8, 0x07][..]));
    assert_eq!(
        got,
        Err(ProtocolError::PacketTooLarge {
            size: 1003,
            max: 100
        })
    );
    // Exactly at the cap is fine: 98 bytes of body + 2 of header = 100.
    let mut ok = vec![0x30, 98, 0x00, 0x01, b'a'];
    ok.resize(100, 0x55);
    assert!(matches!(
        codec.decode(&mut BytesMut::from(&ok[..])),
        Ok(Some(Packet::Publish(_)))
    ));
}

#[test]
fn reserved_packet_types_are_unknown_except_auth_on_v5() {
    for v in [V4, V5] {
        assert_eq!(
            decode(v, &[0x00, 0x00]),
            Err(ProtocolError::UnknownPacketType(0))
        );
    }
    assert_eq!(
        decode(V4, &[0xF0, 0x00]),
        Err(ProtocolError::UnknownPacketType(15))
    );
    let auth = Auth {
        reason: ReasonCode::SUCCESS,
        properties: AuthProperties::default(),
    };
    assert_eq!(
        decode(V5, &[0xF0, 0x00]),
        Ok(Some(Packet::Auth(Box::new(auth))))
    );
    // AUTH with reason "continue authentication" and a method property.
    let bytes = [0xF0, 0x08, 0x18, 0x06, 0x15, 0x00, 0x03, b'J', b'W', b'T'];
    let want = Auth {
        reason: ReasonCode::CONTINUE_AUTHENTICATION,
        properties: AuthProperties {
            authentication_method: Some("JWT".into()),
            ..Default::default()
        },
    };
    assert_eq!(
        decode(V5, &bytes),
        Ok(Some(Packet::Auth(Box::new(want.clone()))))
    );
    assert_eq!(
        encode(V5, &Packet::Auth(Box::new(want.clone()))),
        Ok(bytes.to_vec())
    );
    assert!(matches!(
        encode(V4, &Packet::Auth(Box::new(want))),
        Err(EncodeError::NotInVersion { what: "AUTH", .. })
    ));
}

#[test]
fn invalid_utf8_is_malformed_in_mqttbytes_and_hand_parsed_packets() {
    let want = malformed(M::InvalidUtf8);
    // PUBLISH (parsed by mqttbytes), topic 0xC3 0x28.
    for v in [V4, V5] {
        let mut bytes = vec![0x30, 0x04, 0x00, 0x02, 0xC3, 0x28];
        if v == V5 {
            bytes[1] = 0x05;
            bytes.push(0x00);
        }
        assert_eq!(decode(v, &bytes), want, "{v:?}");
    }
    // SUBSCRIBE (parsed here), filter 0xFF.
    assert_eq!(
        decode(V4, &[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0xFF, 0x00]),
        want
    );
    // U+0000 inside a string is malformed too.
    let nul = [0x30, 0x05, 0x00, 0x03, b'a', 0x00, b'b'];
    assert_eq!(decode(V4, &nul), malformed(M::NullCharacter));
}

#[test]
fn publish_to_a_wildcard_topic_is_rejected() {
    let bytes = [0x30, 0x05, 0x00, 0x03, b'a', b'/', b'#'];
    let want = Err(ProtocolError::InvalidTopic(TopicError::WildcardInName));
    assert_eq!(decode(V4, &bytes), want);
}

#[test]
fn empty_publish_topic_needs_v5_and_a_topic_alias() {
    let v4 = [0x30, 0x02, 0x00, 0x00];
    assert_eq!(
        decode(V4, &v4),
        Err(ProtocolError::InvalidTopic(TopicError::Empty))
    );
    let no_alias = [0x30, 0x03, 0x00, 0x00, 0x00];
    assert_eq!(
        decode(V5, &no_alias),
        Err(ProtocolError::InvalidTopic(TopicError::Empty))
    );
    let alias = [0x30, 0x06, 0x00, 0x00, 0x03, 0x23, 0x00, 0x07];
    let Ok(Some(Packet::Publish(p))) = decode(V5, &alias) else {
        panic!("not decoded")
    };
    assert_eq!((p.topic.as_str(), p.properties.topic_alias), ("", Some(7)));
}

#[test]
fn publish_with_qos_3_is_malformed() {
    let bytes = [0x36, 0x07, 0x00, 0x01, b'a', 0x00, 0x01, b'x', b'y'];
    assert_eq!(decode(V4, &bytes), malformed(M::QoS3 { field: "PUBLISH" }));
}

#[test]
fn dup_on_qos_0_publish_is_malformed() {
    let bytes = [0x38, 0x03, 0x00, 0x01, b'a'];
    assert_eq!(
        decode(V5, &bytes),
        malformed(M::FixedHeaderFlags {
            packet_type: 3,
            flags: 0b1000
        })
    );
}

#[test]
fn wrong_fixed_header_flags_are_malformed() {
    let pubrel = malformed(M::FixedHeaderFlags {
        packet_type: 6,
        flags: 0,
    });
    assert_eq!(decode(V4, &[0x60, 0x02, 0x00, 0x01]), pubrel);
    let sub = malformed(M::FixedHeaderFlags {
        packet_type: 8,
        flags: 0,
    });
    assert_eq!(
        decode(V4, &[0x80, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x00]),
        sub
    );
    let puback = malformed(M::FixedHeaderFlags {
        packet_type: 4,
        flags: 0b0010,
    });
    assert_eq!(decode(V5, &[0x42, 0x02, 0x00, 0x01]), puback);
    // And the right flags decode.
    assert_eq!(
        decode(V4, &[0x62, 0x02, 0x00, 0x01]),
        Ok(Some(Packet::PubRel(Ack::success(1))))
    );
}

#[test]
fn packet_id_zero_is_malformed_where_one_is_required() {
    let want = malformed(M::PacketIdZero);
    let publish = [0x32, 0x05, 0x00, 0x01, b'a', 0x00, 0x00];
    assert_eq!(decode(V4, &publish), want);
    let publish_v5 = [0x34, 0x06, 0x00, 0x01, b'a', 0x00, 0x00, 0x00];
    assert_eq!(decode(V5, &publish_v5), want);
    assert_eq!(decode(V4, &[0x40, 0x02, 0x00, 0x00]), want);
    assert_eq!(decode(V5, &[0xB0, 0x04, 0x00, 0x00, 0x00, 0x00]), want);
    let p = Packet::PubAck(Ack::success(0));
    assert_eq!(
        encode(V5, &p),
        Err(EncodeError::Zero {
            field: "packet identifier"
        })
    );
}

#[test]
fn v5_publish_whose_property_length_disagrees_is_malformed() {
    // Declared property length 1, but the property (message expiry) takes 5 bytes: mqttbytes
    // reads on into the payload and returns a different, shorter payload.
    let bytes = [
        0x30, 0x0B, 0x00, 0x01, b'a', 0x01, 0x02, 0x00, 0x00, 0x00, 0x0A, b'h', b'i',
    ];
    let want = malformed(M::PropertyLength);
    assert_eq!(decode(V5, &bytes), want);
    // The same property given twice (mqttbytes keeps the last) is refused.
    let twice = [
        0x30, 0x10, 0x00, 0x01, b'a', 0x0A, 0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2, b'h', b'i',
    ];
    assert_eq!(
        decode(V5, &twice[..]),
        malformed(M::DuplicateProperty { id: 0x02 })
    );
}

#[test]
fn topic_alias_zero_is_invalid() {
    let bytes = [0x30, 0x07, 0x00, 0x01, b'a', 0x03, 0x23, 0x00, 0x00];
    assert_eq!(decode(V5, &bytes), Err(ProtocolError::InvalidTopicAlias(0)));
}

#[test]
fn trailing_garbage_inside_a_frame_is_malformed() {
    // mqttbytes alone ignores the extra byte of this PUBACK.
    let want = malformed(M::LengthMismatch {
        actual: 3,
        expected: 2,
    });
    assert_eq!(decode(V4, &[0x40, 0x03, 0x00, 0x01, 0xFF]), want);
    assert_eq!(
        decode(V4, &[0x20, 0x03, 0x00, 0x00, 0x00]),
        malformed(M::LengthMismatch {
            actual: 3,
            expected: 2
        })
    );
    assert_eq!(
        decode(V5, &[0xE0, 0x03, 0x00, 0x00, 0xFF]),
        malformed(M::TrailingBytes {
            count: 1,
            packet: "DISCONNECT"
        })
    );
    assert_eq!(
        decode(V4, &[0xC0, 0x01, 0x00]),
        malformed(M::LengthMismatch {
            actual: 1,
            expected: 0
        })
    );
}

#[test]
fn v5_connect_fed_to_the_v4_codec_is_rejected() {
    let connect = Packet::Connect(Box::new(Connect {
        client_id: "c".into(),
        clean_start: true,
        keep_alive: 30,
        ..Default::default()
    }));
    let bytes = encode(V5, &connect).unwrap();
    let want = malformed(M::ProtocolLevel {
        level: 5,
        expected: 4,
    });
    assert_eq!(decode(V4, &bytes), want);
    assert_eq!(decode(V5, &bytes), Ok(Some(connect)));
}

#[test]
fn subscribe_option_reserved_bits_and_empty_lists_are_malformed() {
    let reserved = malformed(M::ReservedBits {
        field: "subscription options",
    });
    // 3.1.1: only the QoS bits may be set (0x04 is no-local, MQTT 5 only).
    assert_eq!(
        decode(V4, &[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x04]),
        reserved
    );
    // MQTT 5: bits 6 and 7 are reserved; retain handling 3 is invalid.
    let sub5 = |opts| [0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, b'a', opts];
    assert_eq!(decode(V5, &sub5(0x40)), reserved);
    assert_eq!(decode(V5, &sub5(0x30)), malformed(M::RetainHandling3));
    assert_eq!(
        decode(V4, &[0x82, 0x02, 0x00, 0x01]),
        malformed(M::NoTopicFilter {
            packet: "SUBSCRIBE"
        })
    );
    assert_eq!(
        decode(V5, &[0xA2, 0x03, 0x00, 0x01, 0x00]),
        malformed(M::NoTopicFilter {
            packet: "UNSUBSCRIBE"
        })
    );
}

#[test]
fn property_not_allowed_in_the_packet_is_malformed() {
    // DISCONNECT carrying a topic alias (0x23).
    let bytes = [0xE0, 0x05, 0x00, 0x03, 0x23, 0x00, 0x01];
    assert_eq!(
        decode(V5, &bytes),
        malformed(M::PropertyNotAllowed {
            id: 0x23,
            packet: "DISCONNECT"
        })
    );
    // PUBACK carrying a topic alias (parsed by mqttbytes).
    let bytes = [0x40, 0x07, 0x00, 0x01, 0x00, 0x03, 0x23, 0x00, 0x01];
    assert_eq!(
        decode(V5, &bytes),
        malformed(M::PropertyNotAllowed {
            id: 0x23,
            packet: "PUBACK"
        })
    );
}

#[test]
fn v311_reason_codes_map_to_mqtt5_form() {
    let connack = |code| {
        Packet::ConnAck(Box::new(ConnAck {
            session_present: false,
            code,
            properties: ConnAckProperties::default(),
        }))
    };
    let table = [
        (0u8, ReasonCode::SUCCESS),
        (1, ReasonCode::UNSUPPORTED_PROTOCOL_VERSION),
        (2, ReasonCode::CLIENT_IDENTIFIER_NOT_VALID),
        (3, ReasonCode::SERVER_UNAVAILABLE),
        (4, ReasonCode::BAD_USER_NAME_OR_PASSWORD),
        (5, ReasonCode::NOT_AUTHORIZED),
    ];
    for (wire, code) in table {
        let bytes = [0x20, 0x02, 0x00, wire];
        assert_eq!(decode(V4, &bytes), Ok(Some(connack(code))));
        assert_eq!(encode(V4, &connack(code)), Ok(bytes.to_vec()));
    }
    // 3.1.1 has no CONNACK return code 6, and no way to say "banned".
    assert_eq!(
        decode(V4, &[0x20, 0x02, 0x00, 0x06]),
        malformed(M::ReasonCode {
            code: 0x06,
            packet: "CONNACK"
        })
    );
    assert_eq!(
        encode(V4, &connack(ReasonCode::BANNED)),
        Err(EncodeError::ReasonCode {
            packet: "CONNACK",
            code: ReasonCode::BANNED
        })
    );

    let suback = SubAck {
        pkid: 1,
        reasons: vec![ReasonCode(0x01), ReasonCode(0x80)],
        properties: AckProperties::default(),
    };
    let bytes = [0x90, 0x04, 0x00, 0x01, 0x01, 0x80];
    assert_eq!(decode(V4, &bytes), Ok(Some(Packet::SubAck(suback.clone()))));
    assert_eq!(encode(V4, &Packet::SubAck(suback)), Ok(bytes.to_vec()));

    let unsuback = UnsubAck {
        pkid: 7,
        reasons: vec![],
        properties: AckProperties::default(),
    };
    assert_eq!(
        decode(V4, &[0xB0, 0x02, 0x00, 0x07]),
        Ok(Some(Packet::UnsubAck(unsuback)))
    );
}

#[test]
fn every_strict_prefix_of_a_packet_is_incomplete_and_untouched() {
    let publish = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: true,
        topic: "a/b".into(),
        pkid: 9,
        payload: Bytes::from(vec![7u8; 200]),
        properties: PublishProperties {
            user_properties: vec![("k".into(), "v".into())],
            ..Default::default()
        }
        .into(),
    });
    let bytes = encode(V5, &publish).unwrap();
    let codec = Codec::new(V5, 1024);
    for n in 0..bytes.len() {
        let mut buf = BytesMut::from(&bytes[..n]);
        assert_eq!(codec.decode(&mut buf), Ok(None), "prefix of {n} bytes");
        assert_eq!(&buf[..], &bytes[..n]);
    }
}

#[test]
fn publish_payload_shares_the_input_buffer() {
    let mut buf = BytesMut::from(&[0x30, 0x07, 0x00, 0x01, b'a', b'h', b'e', b'l', b'o'][..]);
    let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
    let Ok(Some(Packet::Publish(p))) = Codec::new(V4, 64).decode(&mut buf) else {
        panic!("not a publish")
    };
    assert_eq!(&p.payload[..], b"helo");
    assert!(
        range.contains(&(p.payload.as_ptr() as usize)),
        "payload was copied"
    );
}

#[test]
fn after_any_decode_error_the_codec_decodes_a_fresh_buffer() {
    use ProtocolError::{InvalidTopic, InvalidTopicAlias, PacketTooLarge, UnknownPacketType};
    let m = ProtocolError::MalformedPacket;
    // Each input with the error it must give on 3.1.1 and on 5 (`None`: valid on that version).
    let bad: Vec<(&[u8], Option<ProtocolError>, ProtocolError)> = vec![
        (
            &[0x00, 0x00],
            Some(UnknownPacketType(0)),
            UnknownPacketType(0),
        ),
        (
            &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
            Some(m(M::VarintTooLong)),
            m(M::VarintTooLong),
        ),
        (
            &[0x30, 0xE8, 0x07],
            Some(PacketTooLarge {
                size: 1003,
                max: 100,
            }),
            PacketTooLarge {
                size: 1003,
                max: 100,
            },
        ),
        (
            &[0x36, 0x03, 0x00, 0x01, b'a'],
            Some(m(M::QoS3 { field: "PUBLISH" })),
            m(M::QoS3 { field: "PUBLISH" }),
        ),
        (
            &[0x60, 0x02, 0x00, 0x01],
            Some(m(M::FixedHeaderFlags {
                packet_type: 6,
                flags: 0,
            })),
            m(M::FixedHeaderFlags {
                packet_type: 6,
                flags: 0,
            }),
        ),
        (
            &[0x40, 0x03, 0x00, 0x01, 0xFF],
            Some(m(M::LengthMismatch {
                actual: 3,
                expected: 2,
            })),
            m(M::ReasonCode {
                code: 0xFF,
                packet: "PUBACK",
            }),
        ),
        (
            // On 5 the bytes after the topic are read as the property length.
            &[0x30, 0x05, 0x00, 0x03, b'a', b'/', b'#'],
            Some(InvalidTopic(TopicError::WildcardInName)),
            m(M::Truncated),
        ),
        (
            // Topic alias 0 on 5; on 3.1.1 these bytes are a valid PUBLISH.
            &[0x30, 0x07, 0x00, 0x01, b'a', 0x03, 0x23, 0x00, 0x00],
            None,
            InvalidTopicAlias(0),
        ),
        (
            &[0xE0, 0x01, 0x01],
            Some(m(M::TrailingBytes {
                count: 1,
                packet: "DISCONNECT",
            })),
            m(M::ReasonCode {
                code: 0x01,
                packet: "DISCONNECT",
            }),
        ),
    ];
    for v in [V4, V5] {
        let codec = Codec::new(v, 100);
        for (input, v4_error, v5_error) in &bad {
            let want = match v {
                V4 => match v4_error {
                    Some(e) => e,
                    None => continue,
                },
                _ => v5_error,
            };
            let mut buf = BytesMut::from(*input);
            assert_eq!(
                codec.decode(&mut buf),
                Err(want.clone()),
                "{v:?} {input:02X?}"
            );
            let mut fresh = BytesMut::from(&[0xD0, 0x00][..]);
            assert_eq!(codec.decode(&mut fresh), Ok(Some(Packet::PingResp)));
        }
    }
}

#[test]
fn fields_over_65535_bytes_are_an_encode_error_not_a_truncation() {
    let publish = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: "a".repeat(65_536).into(),
        pkid: 0,
        payload: Bytes::new(),
        properties: PublishProperties::default().into(),
    });
    for v in [V4, V5] {
        let codec = Codec::new(v, 1024);
        let mut out = BytesMut::new();
        let err = codec.encode(&publish, &mut out).unwrap_err();
        assert_eq!(
            err,
            EncodeError::FieldTooLong {
                field: "topic",
                len: 65536
            }
        );
        assert!(out.is_empty(), "nothing written on error");
        assert_eq!(codec.encoded_len(&publish), Err(err));
    }
    // 65,535 is the largest that fits, and it round-trips.
    let Packet::Publish(mut p) = publish else {
        unreachable!()
    };
    p.topic = p.topic[..65_535].into();
    let codec = Codec::new(V4, 70_000);
    let mut out = BytesMut::new();
    codec.encode(&Packet::Publish(p.clone()), &mut out).unwrap();
    assert_eq!(codec.decode(&mut out), Ok(Some(Packet::Publish(p))));
    // A user property value counts too.
    let mut d = Disconnect::normal();
    d.properties
        .user_properties
        .push(("k".into(), "v".repeat(70_000)));
    assert_eq!(
        encode(V5, &Packet::Disconnect(d)),
        Err(EncodeError::FieldTooLong {
            field: "user property value",
            len: 70_000
        })
    );
}

#[test]
fn mqtt5_only_content_is_an_encode_error_on_v311() {
    let mut ack = Ack::success(1);
    ack.properties.reason_string = Some("why".into());
    let want = EncodeError::NotInVersion {
        what: "MQTT 5 properties",
        version: "3.1.1",
    };
    assert_eq!(encode(V4, &Packet::PubAck(ack.clone())), Err(want));
    assert!(encode(V5, &Packet::PubAck(ack)).is_ok());
    let mut nack = Ack::success(1);
    nack.reason = ReasonCode::QUOTA_EXCEEDED;
    assert_eq!(
        encode(V4, &Packet::PubAck(nack)),
        Err(EncodeError::ReasonCode {
            packet: "PUBACK",
            code: ReasonCode::QUOTA_EXCEEDED
        })
    );
    let mut sub = SubscribeFilter::new("a", QoS::AtLeastOnce);
    sub.no_local = true;
    let s = Packet::Subscribe(Subscribe {
        pkid: 1,
        filters: vec![sub],
        properties: SubscribeProperties::default(),
    });
    assert_eq!(
        encode(V4, &s),
        Err(EncodeError::NotInVersion {
            what: "MQTT 5 subscription options",
            version: "3.1.1"
        })
    );
}

#[test]
fn connect_keeps_empty_user_name_and_binary_password() {
    // mqttbytes drops an empty user name and requires the password to be UTF-8.
    for v in [V4, V5] {
        let c = Packet::Connect(Box::new(Connect {
            client_id: String::new(),
            clean_start: true,
            keep_alive: 0,
            username: Some(String::new()),
            password: Some(Bytes::from_static(&[0xFF, 0x00, 0xC3])),
            will: None,
            properties: ConnectProperties::default(),
        }));
        let bytes = encode(v, &c).unwrap();
        assert_eq!(decode(v, &bytes), Ok(Some(c)));
    }
}
