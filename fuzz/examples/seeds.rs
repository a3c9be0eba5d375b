//! Writes the committed seed corpora (`fuzz/corpus/<target>/seed-*`): real packets encoded by the
//! codec for `decode`, real topics for `topic`, token shapes for `token`. Run from `fuzz/`:
//! `cargo +nightly run --example seeds`. (`client` seeds are sessions kept from fuzzing runs:
//! its input is `arbitrary`-encoded.)

use std::fs;

use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use jamey_mqtt_auth::{Algorithm, ClaimTemplate, JwtSigner};
use jamey_mqtt_core::codec::Codec;
use jamey_mqtt_core::packet::*;

fn packets(v5: bool) -> Vec<(&'static str, Packet)> {
    let publish = |qos, pkid, properties| Publish {
        dup: false,
        qos,
        retain: true,
        topic: "sensors/1/temp".into(),
        pkid,
        payload: Bytes::from_static(b"21.5"),
        properties,
    };
    let mut props = PublishProperties::default();
    if v5 {
        props.content_type = Some("text/plain".into());
        props.user_properties = vec![("k".into(), "v".into())];
        props.message_expiry_interval = Some(60);
    }
    let mut connack = ConnAckProperties::default();
    if v5 {
        connack.receive_maximum = Some(10);
        connack.maximum_packet_size = Some(4096);
        connack.server_keep_alive = Some(20);
        connack.assigned_client_identifier = Some("id-1".into());
    }
    vec![
        (
            "connect",
            Packet::Connect(Connect {
                client_id: "jamey-0000000000000001".into(),
                clean_start: true,
                keep_alive: 30,
                username: Some("user".into()),
                password: Some(Bytes::from_static(b"secret")),
                will: None,
                properties: if v5 {
                    ConnectProperties {
                        session_expiry_interval: Some(0),
                        receive_maximum: Some(100),
                        ..ConnectProperties::default()
                    }
                } else {
                    ConnectProperties::default()
                },
            }),
        ),
        (
            "connack",
            Packet::ConnAck(ConnAck {
                session_present: true,
                code: ReasonCode::SUCCESS,
                properties: connack,
            }),
        ),
        (
            "publish0",
            Packet::Publish(publish(QoS::AtMostOnce, 0, PublishProperties::default())),
        ),
        (
            "publish1",
            Packet::Publish(publish(QoS::AtLeastOnce, 7, props.clone())),
        ),
        (
            "publish2",
            Packet::Publish(publish(QoS::ExactlyOnce, 8, props)),
        ),
        ("puback", Packet::PubAck(Ack::success(7))),
        ("pubrec", Packet::PubRec(Ack::success(8))),
        ("pubrel", Packet::PubRel(Ack::success(8))),
        ("pubcomp", Packet::PubComp(Ack::success(8))),
        (
            "subscribe",
            Packet::Subscribe(Subscribe {
                pkid: 3,
                filters: vec![
                    SubscribeFilter::new("sensors/+/temp", QoS::AtLeastOnce),
                    SubscribeFilter::new("alerts/#", QoS::ExactlyOnce),
                ],
                properties: SubscribeProperties::default(),
            }),
        ),
        (
            "suback",
            Packet::SubAck(SubAck {
                pkid: 3,
                reasons: vec![ReasonCode::GRANTED_QOS_1, ReasonCode::UNSPECIFIED_ERROR],
                properties: AckProperties::default(),
            }),
        ),
        (
            "unsubscribe",
            Packet::Unsubscribe(Unsubscribe {
                pkid: 4,
                filters: vec!["alerts/#".into()],
                user_properties: Vec::new(),
            }),
        ),
        (
            "unsuback",
            Packet::UnsubAck(UnsubAck {
                pkid: 4,
                reasons: if v5 {
                    vec![ReasonCode::SUCCESS]
                } else {
                    Vec::new()
                },
                properties: AckProperties::default(),
            }),
        ),
        ("pingreq", Packet::PingReq),
        ("pingresp", Packet::PingResp),
        ("disconnect", Packet::Disconnect(Disconnect::normal())),
    ]
}

fn main() {
    let mut all = Vec::new();
    for v5 in [false, true] {
        let version = if v5 {
            ProtocolVersion::V5
        } else {
            ProtocolVersion::V311
        };
        let codec = Codec::new(version, 1 << 20);
        let mode = u8::from(v5) | (3 << 1); // version bit, largest maximum
        let mut stream = vec![mode, 0];
        for (name, packet) in packets(v5) {
            let mut out = BytesMut::new();
            codec
                .encode(&packet, &mut out)
                .expect("seed packet encodes");
            let mut seed = vec![mode, 1];
            seed.extend_from_slice(&out);
            let version_name = if v5 { "v5" } else { "v311" };
            fs::write(format!("corpus/decode/seed-{version_name}-{name}"), &seed).unwrap();
            stream.extend_from_slice(&out);
            all.push((version_name, name, out.to_vec()));
        }
        fs::write(
            format!(
                "corpus/decode/seed-{}-stream",
                if v5 { "v5" } else { "v311" }
            ),
            &stream,
        )
        .unwrap();
    }
    // The dictionaries: fixed-header bytes and MQTT words, then the real packets as bytes.
    let mut dict = String::from(
        "# Generated by `cargo +nightly run --example seeds` in fuzz/: do not edit by hand.\n",
    );
    for (i, first) in [
        0x10u8, 0x20, 0x30, 0x32, 0x34, 0x3A, 0x3D, 0x40, 0x50, 0x62, 0x70, 0x82, 0x90, 0xA2, 0xB0,
        0xC0, 0xD0, 0xE0, 0xF0,
    ]
    .iter()
    .enumerate()
    {
        dict.push_str(&format!("header_{i}=\"\\x{first:02X}\"\n"));
    }
    for (name, value) in [
        ("mqtt", "\\x00\\x04MQTT"),
        ("level4", "\\x00\\x04MQTT\\x04"),
        ("level5", "\\x00\\x04MQTT\\x05"),
        ("varint_max", "\\xFF\\xFF\\xFF\\x7F"),
        ("varint_overlong", "\\x80\\x80\\x80\\x80\\x01"),
        ("varint_zero_pad", "\\x80\\x00"),
        ("topic_alias", "\\x23\\x00\\x01"),
        ("receive_maximum", "\\x21\\x00\\x00"),
        ("max_packet_size", "\\x27\\x00\\x00\\x00\\x10"),
        ("user_property", "\\x26\\x00\\x01k\\x00\\x01v"),
        ("sub_id", "\\x0B\\x01"),
        ("nul", "\\x00"),
        ("bad_utf8", "\\xC0\\xAF"),
    ] {
        dict.push_str(&format!("{name}=\"{value}\"\n"));
    }
    for (version, name, bytes) in &all {
        let escaped: String = bytes.iter().map(|b| format!("\\x{b:02X}")).collect();
        dict.push_str(&format!("{version}_{name}=\"{escaped}\"\n"));
    }
    fs::write("dict/decode.dict", &dict).unwrap();
    fs::write("dict/client.dict", &dict).unwrap();

    let topics: &[&[&str]] = &[
        &[
            "sport/tennis/player1/#",
            "sport/#",
            "+/+",
            "sport/tennis/player1",
        ],
        &["#", "+/#", "$SYS/#", "$SYS/uptime"],
        &["$share/g/a/+", "a/#", "a/+/c", "a/b"],
        &["+", "/+", "//", "/"],
        &["a/+/#", "a/b/#", "a/b/c/d", "a/b/c/d"],
    ];
    for (i, set) in topics.iter().enumerate() {
        let mut bytes = Vec::new();
        for (j, s) in set.iter().enumerate() {
            if j > 0 {
                bytes.push(0xFF);
            }
            bytes.extend_from_slice(s.as_bytes());
        }
        fs::write(format!("corpus/topic/seed-{i}"), bytes).unwrap();
    }

    // token: a real token signed with another key (raw: it must fail), token parts as JSON
    // (structured), and a few edits of a token signed with the right key (tampered).
    let signer = JwtSigner::from_secret(
        Algorithm::HS256,
        b"not the fuzz target's secret, 32 bytes or more long",
        ClaimTemplate::new("device-1", Duration::from_secs(600)),
    )
    .unwrap();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let token = signer.sign(now).unwrap().expose().to_owned();
    let mut raw = vec![0u8];
    raw.extend_from_slice(token.as_bytes());
    fs::write("corpus/token/seed-raw-signed", raw).unwrap();
    let mut none = vec![0u8];
    none.extend_from_slice(
        b"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4IiwiaWF0IjoxLCJleHAiOjk5OTk5OTk5OTl9.",
    );
    fs::write("corpus/token/seed-raw-alg-none", none).unwrap();
    for (name, header, payload) in [
        (
            "hs256",
            r#"{"alg":"HS256","typ":"JWT"}"#,
            r#"{"sub":"x","iat":1800000000,"exp":1800000600}"#,
        ),
        (
            "none",
            r#"{"alg":"none"}"#,
            r#"{"sub":"x","iat":1800000000,"exp":1800000600}"#,
        ),
        (
            "rs256",
            r#"{"alg":"RS256","kid":"k"}"#,
            r#"{"sub":"x","iat":1,"exp":2,"permissions":{"publish":["a/#"],"subscribe":["+"]}}"#,
        ),
    ] {
        let mut seed = vec![1u8];
        seed.extend_from_slice(header.as_bytes());
        seed.push(0xFF);
        seed.extend_from_slice(payload.as_bytes());
        seed.push(0xFF);
        seed.extend_from_slice(b"signature");
        fs::write(format!("corpus/token/seed-json-{name}"), seed).unwrap();
    }
    for (name, edits) in [
        ("flip", &[0u8, 200, b'A'][..]),
        ("truncate", &[3, 0, 3]),
        ("insert", &[1, 128, b'.']),
    ] {
        let mut seed = vec![2u8];
        seed.extend_from_slice(edits);
        fs::write(format!("corpus/token/seed-tampered-{name}"), seed).unwrap();
    }
}
