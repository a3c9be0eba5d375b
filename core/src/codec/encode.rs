//! The encoder: every packet of the model, for both versions, written by hand straight into the
//! output buffer. Each packet is described once ([`body`]) over a [`Sink`], so the length pass
//! (`encoded_len`, and the remaining length) and the write pass cannot disagree.
//!
//! [`check`] refuses, before anything is written, what the wire version cannot carry (MQTT 5
//! properties or AUTH on 3.1.1, reason codes outside a packet's list) and what our own decoder
//! would reject (packet id 0, DUP on QoS 0, no filters, topic alias 0, an empty topic without an
//! alias). String and binary fields over 65,535 bytes are refused by the length pass.

use super::props::{self, Props, Sink, UserOnly};
use super::EncodeError;
use crate::packet::*;

/// Which list of reason codes a packet accepts (MQTT 5.0 section 2.4).
#[derive(Clone, Copy)]
pub(crate) enum Reasons {
    ConnAck,
    PubAckRec,
    PubRelComp,
    SubAck,
    UnsubAck,
    Disconnect,
    Auth,
}

/// Is `code` one of the reason codes this packet may carry?
pub(crate) fn reason_allowed(kind: Reasons, code: u8) -> bool {
    match kind {
        Reasons::ConnAck => {
            matches!(code, 0x00 | 0x80..=0x8A | 0x8C | 0x90 | 0x95 | 0x97 | 0x99..=0x9D | 0x9F)
        }
        Reasons::PubAckRec => matches!(
            code,
            0x00 | 0x10 | 0x80 | 0x83 | 0x87 | 0x90 | 0x91 | 0x97 | 0x99
        ),
        Reasons::PubRelComp => matches!(code, 0x00 | 0x92),
        Reasons::SubAck => matches!(
            code,
            0x00..=0x02 | 0x80 | 0x83 | 0x87 | 0x8F | 0x91 | 0x97 | 0x9E | 0xA1 | 0xA2
        ),
        Reasons::UnsubAck => matches!(code, 0x00 | 0x11 | 0x80 | 0x83 | 0x87 | 0x8F | 0x91),
        Reasons::Disconnect => {
            matches!(code, 0x00 | 0x04 | 0x80..=0x83 | 0x87 | 0x89 | 0x8B | 0x8D..=0x90 | 0x93..=0xA2)
        }
        Reasons::Auth => matches!(code, 0x00 | 0x18 | 0x19),
    }
}

/// 3.1.1 CONNACK return code for an MQTT 5 reason code, if 3.1.1 has one.
pub(crate) fn connack_v4_code(code: ReasonCode) -> Option<u8> {
    Some(match code {
        ReasonCode::SUCCESS => 0,
        ReasonCode::UNSUPPORTED_PROTOCOL_VERSION => 1,
        ReasonCode::CLIENT_IDENTIFIER_NOT_VALID => 2,
        ReasonCode::SERVER_UNAVAILABLE => 3,
        ReasonCode::BAD_USER_NAME_OR_PASSWORD => 4,
        ReasonCode::NOT_AUTHORIZED => 5,
        _ => return None,
    })
}

/// MQTT 5 reason code for a 3.1.1 CONNACK return code 0..=5.
pub(crate) fn connack_from_v4(code: u8) -> Option<ReasonCode> {
    Some(match code {
        0 => ReasonCode::SUCCESS,
        1 => ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
        2 => ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
        3 => ReasonCode::SERVER_UNAVAILABLE,
        4 => ReasonCode::BAD_USER_NAME_OR_PASSWORD,
        5 => ReasonCode::NOT_AUTHORIZED,
        _ => return None,
    })
}

fn not_in_v311(what: &'static str) -> EncodeError {
    EncodeError::NotInVersion {
        what,
        version: "3.1.1",
    }
}

fn empty(packet: &'static str, what: &'static str) -> EncodeError {
    EncodeError::Empty { packet, what }
}

fn no_props_on_v4<P: PartialEq + Default>(v: ProtocolVersion, p: &P) -> Result<(), EncodeError> {
    if v == ProtocolVersion::V311 && *p != P::default() {
        return Err(not_in_v311("MQTT 5 properties"));
    }
    Ok(())
}

fn pkid(id: u16) -> Result<(), EncodeError> {
    if id == 0 {
        return Err(EncodeError::Zero {
            field: "packet identifier",
        });
    }
    Ok(())
}

fn reason(
    v: ProtocolVersion,
    kind: Reasons,
    code: ReasonCode,
    packet: &'static str,
) -> Result<(), EncodeError> {
    let ok = match v {
        ProtocolVersion::V311 => code == ReasonCode::SUCCESS,
        ProtocolVersion::V5 => reason_allowed(kind, code.0),
    };
    if !ok {
        return Err(EncodeError::ReasonCode { packet, code });
    }
    Ok(())
}

fn ack(v: ProtocolVersion, kind: Reasons, a: &Ack, packet: &Packet) -> Result<(), EncodeError> {
    pkid(a.pkid)?;
    reason(v, kind, a.reason, packet.name())?;
    no_props_on_v4(v, &a.properties)
}

/// Refuses what `body` must not write; see the module documentation.
pub(crate) fn check(v: ProtocolVersion, packet: &Packet) -> Result<(), EncodeError> {
    use ProtocolVersion::{V311, V5};
    match packet {
        Packet::Connect(c) => {
            no_props_on_v4(v, &c.properties)?;
            if let Some(w) = &c.will {
                no_props_on_v4(v, &w.properties)?;
            }
            if v == V311 && c.password.is_some() && c.username.is_none() {
                return Err(not_in_v311("a password without a user name"));
            }
        }
        Packet::ConnAck(c) => {
            no_props_on_v4(v, &c.properties)?;
            if c.session_present && c.code != ReasonCode::SUCCESS {
                return Err(EncodeError::SessionPresentOnRefusal);
            }
            let ok = match v {
                V311 => connack_v4_code(c.code).is_some(),
                V5 => reason_allowed(Reasons::ConnAck, c.code.0),
            };
            if !ok {
                return Err(EncodeError::ReasonCode {
                    packet: "CONNACK",
                    code: c.code,
                });
            }
        }
        Packet::Publish(p) => {
            // `is_empty`, not `== default()`: the derived comparison goes through `memcmp`,
            // a tenth of the publish path's CPU when it ran here.
            if v == V311 && !p.properties.is_empty() {
                return Err(not_in_v311("MQTT 5 properties"));
            }
            if p.qos == QoS::AtMostOnce {
                if p.dup {
                    return Err(EncodeError::DupOnQoS0);
                }
            } else {
                pkid(p.pkid)?;
            }
            if p.topic.is_empty() && (v == V311 || p.properties.topic_alias.is_none()) {
                return Err(EncodeError::EmptyTopicWithoutAlias);
            }
            if p.properties.topic_alias == Some(0) {
                return Err(EncodeError::Zero {
                    field: "topic alias",
                });
            }
            if p.properties.subscription_identifiers.contains(&0) {
                return Err(EncodeError::Zero {
                    field: "subscription identifier",
                });
            }
        }
        Packet::PubAck(a) | Packet::PubRec(a) => ack(v, Reasons::PubAckRec, a, packet)?,
        Packet::PubRel(a) | Packet::PubComp(a) => ack(v, Reasons::PubRelComp, a, packet)?,
        Packet::Subscribe(s) => {
            pkid(s.pkid)?;
            no_props_on_v4(v, &s.properties)?;
            if s.filters.is_empty() {
                return Err(empty("SUBSCRIBE", "topic filter"));
            }
            if s.properties.subscription_identifier == Some(0) {
                return Err(EncodeError::Zero {
                    field: "subscription identifier",
                });
            }
            let plain = |f: &SubscribeFilter| {
                !f.no_local
                    && !f.retain_as_published
                    && f.retain_handling == RetainHandling::SendAtSubscribe
            };
            if v == V311 && !s.filters.iter().all(plain) {
                return Err(not_in_v311("MQTT 5 subscription options"));
            }
        }
        Packet::SubAck(s) => {
            pkid(s.pkid)?;
            no_props_on_v4(v, &s.properties)?;
            if s.reasons.is_empty() {
                return Err(empty("SUBACK", "reason code"));
            }
            let ok = |r: &ReasonCode| match v {
                V311 => matches!(r.0, 0x00..=0x02 | 0x80),
                V5 => reason_allowed(Reasons::SubAck, r.0),
            };
            if let Some(bad) = s.reasons.iter().find(|r| !ok(r)) {
                return Err(EncodeError::ReasonCode {
                    packet: "SUBACK",
                    code: *bad,
                });
            }
        }
        Packet::Unsubscribe(u) => {
            pkid(u.pkid)?;
            no_props_on_v4(v, &u.user_properties)?;
            if u.filters.is_empty() {
                return Err(empty("UNSUBSCRIBE", "topic filter"));
            }
        }
        Packet::UnsubAck(u) => {
            pkid(u.pkid)?;
            no_props_on_v4(v, &u.properties)?;
            match v {
                V311 if !u.reasons.is_empty() => {
                    return Err(not_in_v311("UNSUBACK reason codes"))
                }
                V5 if u.reasons.is_empty() => {
                    return Err(empty("UNSUBACK", "reason code"))
                }
                _ => {}
            }
            if let Some(bad) = u
                .reasons
                .iter()
                .find(|r| !reason_allowed(Reasons::UnsubAck, r.0))
            {
                return Err(EncodeError::ReasonCode {
                    packet: "UNSUBACK",
                    code: *bad,
                });
            }
        }
        Packet::PingReq | Packet::PingResp => {}
        Packet::Disconnect(d) => {
            reason(v, Reasons::Disconnect, d.reason, "DISCONNECT")?;
            no_props_on_v4(v, &d.properties)?;
        }
        Packet::Auth(a) => {
            if v == V311 {
                return Err(not_in_v311("AUTH"));
            }
            reason(v, Reasons::Auth, a.reason, "AUTH")?;
        }
    }
    Ok(())
}

/// The first byte of the fixed header: packet type and flags.
pub(crate) fn first_byte(packet: &Packet) -> u8 {
    match packet {
        Packet::Connect(_) => 0x10,
        Packet::ConnAck(_) => 0x20,
        Packet::Publish(p) => {
            0x30 | (u8::from(p.dup) << 3) | ((p.qos as u8) << 1) | u8::from(p.retain)
        }
        Packet::PubAck(_) => 0x40,
        Packet::PubRec(_) => 0x50,
        Packet::PubRel(_) => 0x62,
        Packet::PubComp(_) => 0x70,
        Packet::Subscribe(_) => 0x82,
        Packet::SubAck(_) => 0x90,
        Packet::Unsubscribe(_) => 0xA2,
        Packet::UnsubAck(_) => 0xB0,
        Packet::PingReq => 0xC0,
        Packet::PingResp => 0xD0,
        Packet::Disconnect(_) => 0xE0,
        Packet::Auth(_) => 0xF0,
    }
}

fn is_v5(v: ProtocolVersion) -> bool {
    v == ProtocolVersion::V5
}

/// Describes the variable header and payload of `packet` (everything after the remaining
/// length). Only called on packets that passed [`check`].
pub(crate) fn body<S: Sink>(v: ProtocolVersion, packet: &Packet, s: &mut S) {
    match packet {
        Packet::Connect(c) => connect(v, c, s),
        Packet::ConnAck(c) => {
            s.u8(u8::from(c.session_present));
            if is_v5(v) {
                s.u8(c.code.0);
                props::block(s, &c.properties);
            } else {
                s.u8(connack_v4_code(c.code).unwrap_or(0));
            }
        }
        Packet::Publish(p) => {
            s.field("topic", p.topic.as_bytes());
            if p.qos != QoS::AtMostOnce {
                s.u16(p.pkid);
            }
            if is_v5(v) {
                props::block(s, &*p.properties);
            }
            s.raw(&p.payload);
        }
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
            s.u16(a.pkid);
            reason_and_props(v, a.reason, &a.properties, s);
        }
        Packet::Subscribe(sub) => {
            s.u16(sub.pkid);
            if is_v5(v) {
                props::block(s, &sub.properties);
            }
            for f in &sub.filters {
                s.field("topic filter", f.filter.as_bytes());
                s.u8(f.qos as u8
                    | (u8::from(f.no_local) << 2)
                    | (u8::from(f.retain_as_published) << 3)
                    | ((f.retain_handling as u8) << 4));
            }
        }
        Packet::SubAck(a) => {
            s.u16(a.pkid);
            if is_v5(v) {
                props::block(s, &a.properties);
            }
            for r in &a.reasons {
                s.u8(r.0);
            }
        }
        Packet::Unsubscribe(u) => {
            s.u16(u.pkid);
            if is_v5(v) {
                props::block(s, &UserOnly(&u.user_properties));
            }
            for f in &u.filters {
                s.field("topic filter", f.as_bytes());
            }
        }
        Packet::UnsubAck(a) => {
            s.u16(a.pkid);
            if is_v5(v) {
                props::block(s, &a.properties);
                for r in &a.reasons {
                    s.u8(r.0);
                }
            }
        }
        Packet::PingReq | Packet::PingResp => {}
        Packet::Disconnect(d) => reason_and_props(v, d.reason, &d.properties, s),
        Packet::Auth(a) => reason_and_props(v, a.reason, &a.properties, s),
    }
}

/// The MQTT 5 tail shared by the acks, DISCONNECT and AUTH, in its shortest form: nothing for
/// success without properties, the reason alone without properties, else reason + properties.
/// Nothing at all on 3.1.1 (where `check` guaranteed success and no properties).
fn reason_and_props<S: Sink, P: Props + PartialEq + Default>(
    v: ProtocolVersion,
    code: ReasonCode,
    p: &P,
    s: &mut S,
) {
    if !is_v5(v) {
        return;
    }
    let no_props = *p == P::default();
    if code == ReasonCode::SUCCESS && no_props {
        return;
    }
    s.u8(code.0);
    if !no_props {
        props::block(s, p);
    }
}

fn connect<S: Sink>(v: ProtocolVersion, c: &Connect, s: &mut S) {
    s.field("protocol name", b"MQTT");
    s.u8(if is_v5(v) { 5 } else { 4 });
    let mut flags = u8::from(c.clean_start) << 1;
    if let Some(w) = &c.will {
        flags |= 0x04 | ((w.qos as u8) << 3) | (u8::from(w.retain) << 5);
    }
    if c.password.is_some() {
        flags |= 0x40;
    }
    if c.username.is_some() {
        flags |= 0x80;
    }
    s.u8(flags);
    s.u16(c.keep_alive);
    if is_v5(v) {
        props::block(s, &c.properties);
    }
    s.field("client id", c.client_id.as_bytes());
    if let Some(w) = &c.will {
        if is_v5(v) {
            props::block(s, &w.properties);
        }
        s.field("will topic", w.topic.as_bytes());
        s.field("will payload", &w.payload);
    }
    if let Some(u) = &c.username {
        s.field("user name", u.as_bytes());
    }
    if let Some(p) = &c.password {
        s.field("password", p);
    }
}
