//! A scripted in-memory broker for driving a core [`Client`] without sockets or clocks.
//!
//! The broker does not decode what the client writes with a full codec (that would bill a
//! second decode to the client): it walks the frames, reads the QoS and packet id of each
//! PUBLISH and the packet id of each PUBREL, and answers with pre-shaped PUBACK, PUBREC and
//! PUBCOMP bytes (`[type, 2, id_hi, id_lo]`, valid on 3.1.1 and, as "success, no properties",
//! on MQTT 5). Everything else the client writes (CONNECT, SUBSCRIBE, acks of incoming
//! messages) is skipped. The time passed to the client is one fixed `Instant`.
//!
//! The client's outputs are drained with [`drive`], the one loop over `poll_output`.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use jamey_mqtt_core::codec::Codec;
use jamey_mqtt_core::packet::{
    ConnAck, ConnAckProperties, Packet, ProtocolVersion, Publish, PublishProperties, QoS,
    ReasonCode, SubAck, SubscribeFilter,
};
use jamey_mqtt_core::{Action, Client, ClientConfig, Event, Output, PublishRequest};

/// The topic every bench publishes to.
pub const TOPIC: &str = "bench/sensors/device-0042/temperature";

/// A client config for the benches: `version`, a fixed client id, default bounds
/// (100 in flight, 1000 queued).
pub fn config(version: ProtocolVersion) -> ClientConfig {
    ClientConfig {
        protocol: version,
        client_id: "bench".into(),
        ..ClientConfig::default()
    }
}

/// A client that has connected (CONNECT written, CONNACK handled, events drained) at `now`,
/// and subscribed to [`TOPIC`] (so that incoming messages are routed to a subscription).
pub fn connected_client(config: ClientConfig, now: Instant) -> Client {
    connected_client_with_aliases(config, now, 0)
}

/// [`connected_client`] whose CONNACK allows `topic_alias_maximum` topic aliases (MQTT 5).
pub fn connected_client_with_aliases(
    config: ClientConfig,
    now: Instant,
    topic_alias_maximum: u16,
) -> Client {
    let version = config.protocol;
    let mut client = Client::new(config, now).expect("valid bench config");
    let codec = Codec::new(version, 1 << 20);
    client.connect(now);
    let mut out = BytesMut::new();
    let mut connect_asked = false;
    drive(&mut client, now, &mut out, |event| {
        connect_asked |= matches!(event, Output::Action(Action::Connect(_)));
    });
    assert!(connect_asked, "the client did not ask for a transport");
    client.handle_connected(now);
    let token = client
        .subscribe(now, vec![SubscribeFilter::new(TOPIC, QoS::ExactlyOnce)])
        .expect("subscribe admitted");
    let mut answers = BytesMut::new();
    for packet in [
        Packet::ConnAck(Box::new(ConnAck {
            session_present: false,
            code: ReasonCode::SUCCESS,
            properties: ConnAckProperties {
                topic_alias_maximum: Some(topic_alias_maximum).filter(|max| *max > 0),
                ..ConnAckProperties::default()
            },
        })),
        Packet::SubAck(SubAck {
            pkid: 1,
            reasons: vec![ReasonCode::GRANTED_QOS_2],
            properties: Default::default(),
        }),
    ] {
        drive(&mut client, now, &mut out, |_| {});
        answers.clear();
        codec.encode(&packet, &mut answers).expect("encode answer");
        client.handle_bytes(now, &answers);
    }
    let mut subscribed = false;
    drive(&mut client, now, &mut out, |output| {
        subscribed |=
            matches!(output, Output::Event(Event::Subscribed { token: t, .. }) if t == token);
    });
    assert!(
        subscribed,
        "the client did not accept the CONNACK and SUBACK"
    );
    client
}

/// Answers the client's writes the way a broker would for outgoing publishes.
#[derive(Debug, Default)]
pub struct ScriptedBroker {
    replies: BytesMut,
}

impl ScriptedBroker {
    /// Reads whole packets the client wrote and returns the broker's answers to them, as the
    /// bytes one socket read would deliver.
    pub fn answer(&mut self, written: &[u8]) -> &[u8] {
        self.replies.clear();
        let mut rest = written;
        while let Some(&first) = rest.first() {
            let (remaining, len_len) = varint(&rest[1..]);
            let body = &rest[1 + len_len..1 + len_len + remaining];
            match first >> 4 {
                3 => {
                    let qos = (first >> 1) & 3;
                    if qos > 0 {
                        let topic_len = usize::from(u16::from_be_bytes([body[0], body[1]]));
                        let id = &body[2 + topic_len..4 + topic_len];
                        let kind = if qos == 1 { 0x40 } else { 0x50 };
                        self.replies.extend_from_slice(&[kind, 2, id[0], id[1]]);
                    }
                }
                6 => self.replies.extend_from_slice(&[0x70, 2, body[0], body[1]]),
                _ => {}
            }
            rest = &rest[1 + len_len + remaining..];
        }
        &self.replies
    }
}

/// Decodes a remaining length (the client only writes valid ones): (value, bytes used).
fn varint(bytes: &[u8]) -> (usize, usize) {
    let mut value = 0;
    for (i, &b) in bytes.iter().enumerate().take(4) {
        value |= usize::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return (value, i + 1);
        }
    }
    panic!("malformed remaining length from the client");
}

/// The whole client path for `n` publishes: `publish` each (the queue takes up to its bound at
/// a time), `poll_output` into one buffer, let the broker answer, feed the answer back with
/// `handle_bytes`, drain events; until every publish completed. Returns the completions seen.
pub fn publish_all(
    client: &mut Client,
    broker: &mut ScriptedBroker,
    now: Instant,
    n: usize,
    qos: QoS,
    payload: &Bytes,
    out: &mut BytesMut,
) -> usize {
    publish_all_to(client, broker, now, n, qos, payload, TOPIC, out)
}

/// [`publish_all`] to `topic`.
#[allow(clippy::too_many_arguments)]
pub fn publish_all_to(
    client: &mut Client,
    broker: &mut ScriptedBroker,
    now: Instant,
    n: usize,
    qos: QoS,
    payload: &Bytes,
    topic: &str,
    out: &mut BytesMut,
) -> usize {
    let (mut submitted, mut completed) = (0, 0);
    while completed < n {
        while submitted < n {
            let request = PublishRequest::new(topic, payload.clone(), qos);
            match client.publish(now, request) {
                Ok(_) => submitted += 1,
                Err(jamey_mqtt_core::ClientError::QueueFull { .. }) => break,
                Err(e) => panic!("publish refused: {e}"),
            }
        }
        out.clear();
        drive(client, now, out, |output| match output {
            Output::Event(Event::Published { .. }) => completed += 1,
            Output::Transmit(_) => {}
            other => panic!("unexpected {other:?}"),
        });
        let answer = broker.answer(out);
        if !answer.is_empty() {
            client.handle_bytes(now, answer);
            // The PUBRELs for QoS 2 go out in the next round's write.
        }
    }
    completed
}

/// `n` PUBLISHes from the broker (packet ids 1..=n for QoS > 0) encoded back to back.
pub fn incoming_stream(version: ProtocolVersion, n: u16, qos: QoS, payload: &Bytes) -> Bytes {
    let codec = Codec::new(version, 1 << 20);
    let mut buf = BytesMut::new();
    for i in 1..=n {
        let publish = Publish {
            dup: false,
            qos,
            retain: false,
            topic: TOPIC.into(),
            pkid: if qos == QoS::AtMostOnce { 0 } else { i },
            payload: payload.clone(),
            properties: PublishProperties::default().into(),
        };
        codec
            .encode(&Packet::Publish(publish), &mut buf)
            .expect("encode PUBLISH");
    }
    buf.freeze()
}

/// Feeds `stream` to the client in `chunk`-byte reads (as a socket would deliver it), writing
/// the acks it owes after each read and draining events. Returns the messages delivered.
pub fn receive_all(
    client: &mut Client,
    now: Instant,
    stream: &[u8],
    chunk: usize,
    out: &mut BytesMut,
) -> usize {
    let mut messages = 0;
    for read in stream.chunks(chunk) {
        client.handle_bytes(now, read);
        out.clear();
        drive(client, now, out, |output| match output {
            Output::Event(Event::Message { .. }) => messages += 1,
            Output::Transmit(_) => {}
            other => panic!("unexpected {other:?}"),
        });
    }
    messages
}

/// Every output of the client until it is quiet, each handed to `seen` (the final
/// `Output::Timeout` is not). Bytes are appended to `out` as a socket that takes every byte at
/// once: each write is reported written (which is when QoS 0 publishes complete and the buffer
/// bound frees up).
pub fn drive(client: &mut Client, now: Instant, out: &mut BytesMut, mut seen: impl FnMut(Output)) {
    loop {
        match client.poll_output(now, out) {
            Output::Timeout(_) => return,
            Output::Transmit(n) => {
                client.handle_written(now, n);
                seen(Output::Transmit(n));
            }
            other => seen(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_publish_completes_at_every_qos_and_version() {
        let now = Instant::now();
        let payload = Bytes::from(vec![7u8; 64]);
        for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
            for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
                let mut client = connected_client(config(version), now);
                let mut broker = ScriptedBroker::default();
                let mut out = BytesMut::new();
                // More than the queue bound (1000) and than the packet-id space per round.
                for _ in 0..3 {
                    let done =
                        publish_all(&mut client, &mut broker, now, 2500, qos, &payload, &mut out);
                    assert_eq!(done, 2500, "{version:?} {qos:?}");
                }
                assert_eq!(client.health().in_flight, 0);
            }
        }
    }

    #[test]
    fn every_incoming_publish_becomes_a_message() {
        let now = Instant::now();
        let payload = Bytes::from(vec![7u8; 64]);
        for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
            for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
                let mut client = connected_client(config(version), now);
                let stream = incoming_stream(version, 1000, qos, &payload);
                let mut out = BytesMut::new();
                for _ in 0..2 {
                    assert_eq!(
                        receive_all(&mut client, now, &stream, 16 * 1024, &mut out),
                        1000
                    );
                }
            }
        }
    }
}
