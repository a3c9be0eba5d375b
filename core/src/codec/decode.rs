//! The decoder: turns exactly one complete frame into a validated [`Packet`].
//!
//! PUBLISH, the packet a client receives most, is parsed by hand in one pass
//! ([`hand::publish`](super::hand)). The other packets a client receives in bulk (CONNACK, the
//! four publish acks, SUBACK, UNSUBACK) are parsed by mqttbytes and then held to the frame: the
//! declared property length must equal the properties actually read, and the packet must
//! account for every byte of the frame. Then every packet is checked against the specification
//! ([`validate`]). The other packets are parsed by hand in [`hand`](super::hand) too.

use bytes::{Buf, Bytes};
use mqttbytes::{v4, v5, FixedHeader};

use super::encode;
use super::hand;
use super::props::{self as p, not_allowed, Counter};
use super::wire::{
    check_no_nul, flag, malformed, nonzero_limits, nonzero_pkid, parse_varint, varint_len, Reader,
};
use crate::error::{Malformed as M, ProtocolError};
use crate::packet::*;

/// Checks the first byte of a fixed header: a known packet type with the flags it requires.
pub(crate) fn check_first_byte(byte1: u8, v: ProtocolVersion) -> Result<(), ProtocolError> {
    let (kind, flags) = (byte1 >> 4, byte1 & 0x0F);
    let required = match kind {
        0 => return Err(ProtocolError::UnknownPacketType(0)),
        15 if v == ProtocolVersion::V311 => return Err(ProtocolError::UnknownPacketType(15)),
        3 => {
            let qos = (flags >> 1) & 0b11;
            if qos == 3 {
                return Err(malformed(M::QoS3 { field: "PUBLISH" }));
            }
            if qos == 0 && flags & 0b1000 != 0 {
                return Err(malformed(M::FixedHeaderFlags {
                    packet_type: kind,
                    flags,
                }));
            }
            return Ok(());
        }
        6 | 8 | 10 => 0b0010,
        _ => 0,
    };
    if flags != required {
        return Err(malformed(M::FixedHeaderFlags {
            packet_type: kind,
            flags,
        }));
    }
    Ok(())
}

/// Decodes one frame: `frame` is the whole packet, its fixed header `header_len` bytes long.
/// The first byte has passed [`check_first_byte`].
pub(crate) fn frame(
    v: ProtocolVersion,
    frame: Bytes,
    header_len: usize,
) -> Result<Packet, ProtocolError> {
    let byte1 = frame[0];
    if byte1 >> 4 == 3 {
        // The packet a client receives in bulk: parsed in one pass, consuming the frame
        // exactly, so there is nothing to hold it to.
        let mut body = frame;
        body.advance(header_len);
        return hand::publish(v, byte1, Reader::new(body));
    }
    let remaining = frame.len() - header_len;
    let fh = FixedHeader::new(byte1, header_len - 1, remaining);
    let body = frame.slice(header_len..);
    let v5 = v == ProtocolVersion::V5;
    let packet = match byte1 >> 4 {
        1 => return hand::connect(v, Reader::new(body)),
        2 if v5 => conv_connack_v5(v5::ConnAck::read(fh, frame).map_err(mb("CONNACK"))?),
        2 => conv_connack_v4(v4::ConnAck::read(fh, frame).map_err(mb("CONNACK"))?, &body)?,
        4 if v5 => Packet::PubAck(v5_ack!(v5::PubAck, fh, frame, "PUBACK")),
        5 if v5 => Packet::PubRec(v5_ack!(v5::PubRec, fh, frame, "PUBREC")),
        6 if v5 => Packet::PubRel(v5_ack!(v5::PubRel, fh, frame, "PUBREL")),
        7 if v5 => Packet::PubComp(v5_ack!(v5::PubComp, fh, frame, "PUBCOMP")),
        4 => Packet::PubAck(Ack::success(
            v4::PubAck::read(fh, frame).map_err(mb("PUBACK"))?.pkid,
        )),
        5 => Packet::PubRec(Ack::success(
            v4::PubRec::read(fh, frame).map_err(mb("PUBREC"))?.pkid,
        )),
        6 => Packet::PubRel(Ack::success(
            v4::PubRel::read(fh, frame).map_err(mb("PUBREL"))?.pkid,
        )),
        7 => Packet::PubComp(Ack::success(
            v4::PubComp::read(fh, frame).map_err(mb("PUBCOMP"))?.pkid,
        )),
        8 => return hand::subscribe(v, Reader::new(body)),
        9 if v5 => {
            let a = v5::SubAck::read(fh, frame).map_err(mb("SUBACK"))?;
            let (reason_string, user_properties) =
                split_ack_props(a.properties.map(|p| (p.reason_string, p.user_properties)));
            Packet::SubAck(SubAck {
                pkid: a.pkid,
                reasons: a
                    .return_codes
                    .iter()
                    .map(|c| ReasonCode(*c as u8))
                    .collect(),
                properties: AckProperties {
                    reason_string,
                    user_properties,
                },
            })
        }
        9 => {
            let a = v4::SubAck::read(fh, frame).map_err(mb("SUBACK"))?;
            let code = |c: &v4::SubscribeReasonCode| match c {
                v4::SubscribeReasonCode::Success(q) => ReasonCode(*q as u8),
                v4::SubscribeReasonCode::Failure => ReasonCode::UNSPECIFIED_ERROR,
            };
            Packet::SubAck(SubAck {
                pkid: a.pkid,
                reasons: a.return_codes.iter().map(code).collect(),
                properties: AckProperties::default(),
            })
        }
        10 => return hand::unsubscribe(v, Reader::new(body)),
        11 if v5 => {
            let a = v5::UnsubAck::read(fh, frame).map_err(mb("UNSUBACK"))?;
            let (reason_string, user_properties) =
                split_ack_props(a.properties.map(|p| (p.reason_string, p.user_properties)));
            Packet::UnsubAck(UnsubAck {
                pkid: a.pkid,
                reasons: a.reasons.iter().map(|c| ReasonCode(*c as u8)).collect(),
                properties: AckProperties {
                    reason_string,
                    user_properties,
                },
            })
        }
        11 => Packet::UnsubAck(UnsubAck {
            pkid: v4::UnsubAck::read(fh, frame).map_err(mb("UNSUBACK"))?.pkid,
            reasons: Vec::new(),
            properties: AckProperties::default(),
        }),
        12 | 13 => {
            if remaining != 0 {
                return Err(malformed(M::LengthMismatch {
                    actual: remaining,
                    expected: 0,
                }));
            }
            return Ok(if byte1 >> 4 == 12 {
                Packet::PingReq
            } else {
                Packet::PingResp
            });
        }
        14 => return hand::disconnect(v, Reader::new(body)),
        15 => return hand::auth(Reader::new(body)),
        // check_first_byte rejected everything else.
        kind => return Err(ProtocolError::UnknownPacketType(kind)),
    };
    held_to_frame(v, &packet, &body)?;
    validate(&packet)?;
    Ok(packet)
}

/// An mqttbytes error, with the packet it happened in.
fn mb(packet: &'static str) -> impl Fn(mqttbytes::Error) -> ProtocolError {
    use mqttbytes::Error as E;
    move |e| match e {
        E::PacketIdZero => malformed(M::PacketIdZero),
        E::SubscriptionIdZero => malformed(M::SubscriptionIdentifierZero),
        E::TopicNotUtf8 => malformed(M::InvalidUtf8),
        E::InvalidQoS(_) => malformed(M::QoS3 { field: packet }),
        E::InvalidPropertyType(id) => not_allowed(id, packet),
        E::InvalidConnectReturnCode(code)
        | E::InvalidReason(code)
        | E::InvalidSubscribeReasonCode(code) => malformed(M::ReasonCode { code, packet }),
        other => malformed(M::Unparsable {
            packet,
            detail: format!("{other:?}"),
        }),
    }
}

type AckParts = (Option<String>, UserProperties);

fn split_ack_props(p: Option<AckParts>) -> AckParts {
    p.unwrap_or_default()
}

/// Reads one of mqttbytes' four MQTT 5 ack types (same fields, distinct types) into an [`Ack`].
macro_rules! v5_ack {
    ($kind:ty, $fh:expr, $frame:expr, $name:literal) => {{
        let a = <$kind>::read($fh, $frame).map_err(mb($name))?;
        ack(
            a.pkid,
            a.reason as u8,
            a.properties.map(|p| (p.reason_string, p.user_properties)),
        )
    }};
}
use v5_ack;

fn ack(pkid: u16, reason: u8, props: Option<AckParts>) -> Ack {
    let (reason_string, user_properties) = split_ack_props(props);
    Ack {
        pkid,
        reason: ReasonCode(reason),
        properties: AckProperties {
            reason_string,
            user_properties,
        },
    }
}

fn conv_connack_v4(c: v4::ConnAck, body: &[u8]) -> Result<Packet, ProtocolError> {
    if body.first().is_some_and(|f| f & 0xFE != 0) {
        return Err(malformed(M::ReservedBits {
            field: "CONNACK flags",
        }));
    }
    let code = encode::connack_from_v4(c.code as u8).ok_or_else(|| {
        malformed(M::ReasonCode {
            code: c.code as u8,
            packet: "CONNACK",
        })
    })?;
    Ok(Packet::ConnAck(Box::new(ConnAck {
        session_present: c.session_present,
        code,
        properties: ConnAckProperties::default(),
    })))
}

fn conv_connack_v5(c: v5::ConnAck) -> Packet {
    let p = c.properties.map(|p| ConnAckProperties {
        session_expiry_interval: p.session_expiry_interval,
        receive_maximum: p.receive_max,
        maximum_qos: p.max_qos,
        retain_available: p.retain_available,
        maximum_packet_size: p.max_packet_size,
        assigned_client_identifier: p.assigned_client_identifier,
        topic_alias_maximum: p.topic_alias_max,
        reason_string: p.reason_string,
        user_properties: p.user_properties,
        wildcard_subscription_available: p.wildcard_subscription_available,
        subscription_identifiers_available: p.subscription_identifiers_available,
        shared_subscription_available: p.shared_subscription_available,
        server_keep_alive: p.server_keep_alive,
        response_information: p.response_information,
        server_reference: p.server_reference,
        authentication_method: p.authentication_method,
        authentication_data: p.authentication_data,
    });
    Packet::ConnAck(Box::new(ConnAck {
        session_present: c.session_present,
        code: ReasonCode(c.code as u8),
        properties: p.unwrap_or_default(),
    }))
}

/// Holds a packet parsed by mqttbytes to its frame: the declared property length must equal the
/// length of the properties read, and the packet must account for exactly the frame's bytes.
/// mqttbytes checks neither (it reads properties past their declared end, ignores trailing
/// bytes). Arithmetic only: nothing is re-encoded.
fn held_to_frame(v: ProtocolVersion, packet: &Packet, body: &[u8]) -> Result<(), ProtocolError> {
    let declared = |offset: usize, actual: usize| -> Result<(), ProtocolError> {
        match body.get(offset..).map(parse_varint) {
            Some(Ok(Some((len, _)))) if len == actual => Ok(()),
            _ => Err(malformed(M::PropertyLength)),
        }
    };
    if v == ProtocolVersion::V5 {
        match packet {
            Packet::ConnAck(c) => declared(2, p::content_len(&c.properties))?,
            Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
                // 2 bytes: packet id; 3: plus reason; both read exactly by mqttbytes.
                if body.len() <= 3 {
                    return Ok(());
                }
                let len = p::content_len(&a.properties);
                declared(3, len)?;
                return exact(body.len(), 3 + varint_len(len) + len);
            }
            Packet::SubAck(a) => declared(2, p::content_len(&a.properties))?,
            Packet::UnsubAck(a) => declared(2, p::content_len(&a.properties))?,
            _ => {}
        }
    }
    let mut c = Counter::default();
    encode::body(v, packet, &mut c);
    exact(body.len(), c.len)
}

fn exact(actual: usize, expected: usize) -> Result<(), ProtocolError> {
    if actual != expected {
        return Err(malformed(M::LengthMismatch { actual, expected }));
    }
    Ok(())
}

fn opt_str(s: &Option<String>) -> Result<(), ProtocolError> {
    s.as_deref().map_or(Ok(()), check_no_nul)
}

fn user_strs(u: &UserProperties) -> Result<(), ProtocolError> {
    u.iter().try_for_each(|(k, v)| {
        check_no_nul(k)?;
        check_no_nul(v)
    })
}

/// Specification checks on packets parsed by mqttbytes (the hand parsers check as they go).
fn validate(packet: &Packet) -> Result<(), ProtocolError> {
    match packet {
        Packet::ConnAck(c) => {
            if c.session_present && c.code != ReasonCode::SUCCESS {
                return Err(malformed(M::SessionPresentOnRefusal));
            }
            let p = &c.properties;
            flag(p.maximum_qos, "maximum QoS")?;
            flag(p.retain_available, "retain available")?;
            flag(
                p.wildcard_subscription_available,
                "wildcard subscription available",
            )?;
            flag(
                p.subscription_identifiers_available,
                "subscription identifiers available",
            )?;
            flag(
                p.shared_subscription_available,
                "shared subscription available",
            )?;
            nonzero_limits(p.receive_maximum, p.maximum_packet_size)?;
            opt_str(&p.assigned_client_identifier)?;
            opt_str(&p.reason_string)?;
            opt_str(&p.response_information)?;
            opt_str(&p.server_reference)?;
            opt_str(&p.authentication_method)?;
            user_strs(&p.user_properties)?;
        }
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
            nonzero_pkid(a.pkid)?;
            opt_str(&a.properties.reason_string)?;
            user_strs(&a.properties.user_properties)?;
        }
        Packet::SubAck(a) => {
            nonzero_pkid(a.pkid)?;
            opt_str(&a.properties.reason_string)?;
            user_strs(&a.properties.user_properties)?;
        }
        Packet::UnsubAck(a) => {
            nonzero_pkid(a.pkid)?;
            opt_str(&a.properties.reason_string)?;
            user_strs(&a.properties.user_properties)?;
        }
        _ => {}
    }
    Ok(())
}
