//! The packets decoded by hand rather than by mqttbytes, each checked as it is read: PUBLISH
//! (the hot path; see [`publish`]), CONNECT (mqttbytes drops an empty user name, requires a
//! UTF-8 password, ignores the reserved flag), SUBSCRIBE (it discards the reserved option bits), UNSUBSCRIBE (its MQTT 5 parser
//! prints a `dbg!` line on every packet), DISCONNECT (its MQTT 5 parser rejects the short forms
//! brokers send) and AUTH (absent from mqttbytes). Each must consume its frame exactly.

use super::encode::{reason_allowed, Reasons};
use super::props::{self as p, not_allowed, once, read_block, read_user};
use super::wire::{flag, malformed, nonzero_limits, nonzero_pkid, Reader};
use crate::error::{Malformed as M, ProtocolError};
use crate::packet::*;
use crate::topic::{TopicError, TopicFilter, TopicName};

/// The reader must be exhausted: anything left is garbage inside the frame.
fn end(r: &Reader, packet: &'static str) -> Result<(), ProtocolError> {
    if !r.is_empty() {
        return Err(malformed(M::TrailingBytes {
            count: r.remaining(),
            packet,
        }));
    }
    Ok(())
}

pub(super) fn connect(v: ProtocolVersion, mut r: Reader) -> Result<Packet, ProtocolError> {
    if &r.bin()?[..] != b"MQTT" {
        return Err(malformed(M::ProtocolName));
    }
    let level = r.u8()?;
    let expected = if v == ProtocolVersion::V5 { 5 } else { 4 };
    if level != expected {
        return Err(malformed(M::ProtocolLevel { level, expected }));
    }
    let flags = r.u8()?;
    let (has_will, will_qos, will_retain) =
        (flags & 0x04 != 0, (flags >> 3) & 0b11, flags & 0x20 != 0);
    let (has_password, has_username) = (flags & 0x40 != 0, flags & 0x80 != 0);
    if flags & 0x01 != 0 {
        return Err(malformed(M::ReservedBits {
            field: "CONNECT flags",
        }));
    }
    if !has_will && (will_qos != 0 || will_retain) {
        return Err(malformed(M::WillFlagsWithoutWill));
    }
    let will_qos = QoS::from_u8(will_qos).ok_or_else(|| malformed(M::QoS3 { field: "will" }))?;
    if v == ProtocolVersion::V311 && has_password && !has_username {
        return Err(malformed(M::PasswordWithoutUsername));
    }
    let keep_alive = r.u16()?;
    let mut properties = ConnectProperties::default();
    if v == ProtocolVersion::V5 {
        let c = &mut properties;
        read_block(&mut r, |id, r| match id {
            p::SESSION_EXPIRY_INTERVAL => once(&mut c.session_expiry_interval, r.u32()?, id),
            p::RECEIVE_MAXIMUM => once(&mut c.receive_maximum, r.u16()?, id),
            p::MAXIMUM_PACKET_SIZE => once(&mut c.maximum_packet_size, r.u32()?, id),
            p::TOPIC_ALIAS_MAXIMUM => once(&mut c.topic_alias_maximum, r.u16()?, id),
            p::REQUEST_RESPONSE_INFORMATION => {
                once(&mut c.request_response_information, r.u8()?, id)
            }
            p::REQUEST_PROBLEM_INFORMATION => once(&mut c.request_problem_information, r.u8()?, id),
            p::AUTHENTICATION_METHOD => once(&mut c.authentication_method, r.string()?, id),
            p::AUTHENTICATION_DATA => once(&mut c.authentication_data, r.bin()?, id),
            p::USER_PROPERTY => read_user(r, &mut c.user_properties),
            _ => Err(not_allowed(id, "CONNECT")),
        })?;
        flag(
            c.request_response_information,
            "request response information",
        )?;
        flag(c.request_problem_information, "request problem information")?;
        nonzero_limits(c.receive_maximum, c.maximum_packet_size)?;
    }
    let client_id = r.string()?;
    let will = if has_will {
        let mut wp = WillProperties::default();
        if v == ProtocolVersion::V5 {
            let w = &mut wp;
            read_block(&mut r, |id, r| match id {
                p::WILL_DELAY_INTERVAL => once(&mut w.delay_interval, r.u32()?, id),
                p::PAYLOAD_FORMAT_INDICATOR => once(&mut w.payload_format_indicator, r.u8()?, id),
                p::MESSAGE_EXPIRY_INTERVAL => once(&mut w.message_expiry_interval, r.u32()?, id),
                p::CONTENT_TYPE => once(&mut w.content_type, r.string()?, id),
                p::RESPONSE_TOPIC => once(&mut w.response_topic, r.string()?, id),
                p::CORRELATION_DATA => once(&mut w.correlation_data, r.bin()?, id),
                p::USER_PROPERTY => read_user(r, &mut w.user_properties),
                _ => Err(not_allowed(id, "CONNECT will properties")),
            })?;
            flag(wp.payload_format_indicator, "payload format indicator")?;
        }
        let topic = r.string()?;
        TopicName::validate(&topic)?;
        let payload = r.bin()?;
        Some(Will {
            topic,
            payload,
            qos: will_qos,
            retain: will_retain,
            properties: wp,
        })
    } else {
        None
    };
    let username = if has_username {
        Some(r.string()?)
    } else {
        None
    };
    let password = if has_password { Some(r.bin()?) } else { None };
    end(&r, "CONNECT")?;
    Ok(Packet::Connect(Box::new(Connect {
        client_id,
        clean_start: flags & 0x02 != 0,
        keep_alive,
        username,
        password,
        will,
        properties,
    })))
}

/// PUBLISH, both versions: the packet a client receives in bulk, read in one pass, its topic and
/// payload views of the frame (no copy). Not mqttbytes: its MQTT 5 parser adds the identifier
/// byte twice when it counts a subscription identifier, so a PUBLISH carrying several (a broker
/// sends one per matching subscription) would be cut short, and its 3.1.1 parser builds a
/// packet of its own that would only be converted.
pub(super) fn publish(v: ProtocolVersion, byte1: u8, mut r: Reader) -> Result<Packet, ProtocolError> {
    let qos =
        QoS::from_u8((byte1 >> 1) & 0b11).ok_or_else(|| malformed(M::QoS3 { field: "PUBLISH" }))?;
    let (topic, wildcard) = r.topic_name()?;
    let pkid = if qos == QoS::AtMostOnce {
        0
    } else {
        let pkid = r.u16()?;
        nonzero_pkid(pkid)?;
        pkid
    };
    let mut properties = MessageProperties::default();
    if v == ProtocolVersion::V5 {
        let mut read = PublishProperties::default();
        let x = &mut read;
        read_block(&mut r, |id, r| match id {
            p::PAYLOAD_FORMAT_INDICATOR => once(&mut x.payload_format_indicator, r.u8()?, id),
            p::MESSAGE_EXPIRY_INTERVAL => once(&mut x.message_expiry_interval, r.u32()?, id),
            p::TOPIC_ALIAS => once(&mut x.topic_alias, r.u16()?, id),
            p::RESPONSE_TOPIC => once(&mut x.response_topic, r.string()?, id),
            p::CORRELATION_DATA => once(&mut x.correlation_data, r.bin()?, id),
            p::USER_PROPERTY => read_user(r, &mut x.user_properties),
            p::SUBSCRIPTION_IDENTIFIER => match r.varint()? {
                0 => Err(malformed(M::SubscriptionIdentifierZero)),
                identifier => {
                    x.subscription_identifiers.push(identifier);
                    Ok(())
                }
            },
            p::CONTENT_TYPE => once(&mut x.content_type, r.string()?, id),
            _ => Err(not_allowed(id, "PUBLISH")),
        })?;
        check_publish_properties(&read)?;
        properties = read.into();
    }
    // An empty name is allowed only where a topic alias stands for it.
    if topic.is_empty() && properties.topic_alias.is_none() {
        return Err(TopicError::Empty.into());
    }
    if wildcard {
        return Err(TopicError::WildcardInName.into());
    }
    Ok(Packet::Publish(Publish {
        dup: byte1 & 0x08 != 0,
        qos,
        retain: byte1 & 0x01 != 0,
        topic,
        pkid,
        // Whatever follows is the payload: the frame is consumed exactly.
        payload: r.rest(),
        properties,
    }))
}

/// The PUBLISH properties' own rules (the reader refused U+0000 in every string already).
fn check_publish_properties(p: &PublishProperties) -> Result<(), ProtocolError> {
    if p.topic_alias == Some(0) {
        return Err(ProtocolError::InvalidTopicAlias(0));
    }
    flag(p.payload_format_indicator, "payload format indicator")?;
    if let Some(response_topic) = &p.response_topic {
        TopicName::validate(response_topic)?;
    }
    Ok(())
}

pub(super) fn subscribe(v: ProtocolVersion, mut r: Reader) -> Result<Packet, ProtocolError> {
    let pkid = r.u16()?;
    nonzero_pkid(pkid)?;
    let mut properties = SubscribeProperties::default();
    if v == ProtocolVersion::V5 {
        let s = &mut properties;
        read_block(&mut r, |id, r| match id {
            p::SUBSCRIPTION_IDENTIFIER => once(&mut s.subscription_identifier, r.varint()?, id),
            p::USER_PROPERTY => read_user(r, &mut s.user_properties),
            _ => Err(not_allowed(id, "SUBSCRIBE")),
        })?;
        if properties.subscription_identifier == Some(0) {
            return Err(malformed(M::SubscriptionIdentifierZero));
        }
    }
    let mut filters = Vec::with_capacity(1);
    while !r.is_empty() {
        let filter = r.string()?;
        let options = r.u8()?;
        let reserved = if v == ProtocolVersion::V5 { 0xC0 } else { 0xFC };
        if options & reserved != 0 {
            return Err(malformed(M::ReservedBits {
                field: "subscription options",
            }));
        }
        let qos = QoS::from_u8(options & 0b11).ok_or_else(|| {
            malformed(M::QoS3 {
                field: "subscription options",
            })
        })?;
        let retain_handling = match (options >> 4) & 0b11 {
            0 => RetainHandling::SendAtSubscribe,
            1 => RetainHandling::SendAtSubscribeIfNew,
            2 => RetainHandling::DoNotSend,
            _ => return Err(malformed(M::RetainHandling3)),
        };
        TopicFilter::new(filter.as_str())?;
        filters.push(SubscribeFilter {
            filter,
            qos,
            no_local: options & 0x04 != 0,
            retain_as_published: options & 0x08 != 0,
            retain_handling,
        });
    }
    if filters.is_empty() {
        return Err(malformed(M::NoTopicFilter {
            packet: "SUBSCRIBE",
        }));
    }
    Ok(Packet::Subscribe(Subscribe {
        pkid,
        filters,
        properties,
    }))
}

pub(super) fn unsubscribe(v: ProtocolVersion, mut r: Reader) -> Result<Packet, ProtocolError> {
    let pkid = r.u16()?;
    nonzero_pkid(pkid)?;
    let mut user_properties = UserProperties::new();
    if v == ProtocolVersion::V5 {
        read_block(&mut r, |id, r| match id {
            p::USER_PROPERTY => read_user(r, &mut user_properties),
            _ => Err(not_allowed(id, "UNSUBSCRIBE")),
        })?;
    }
    let mut filters = Vec::with_capacity(1);
    while !r.is_empty() {
        let filter = r.string()?;
        TopicFilter::new(filter.as_str())?;
        filters.push(filter);
    }
    if filters.is_empty() {
        return Err(malformed(M::NoTopicFilter {
            packet: "UNSUBSCRIBE",
        }));
    }
    Ok(Packet::Unsubscribe(Unsubscribe {
        pkid,
        filters,
        user_properties,
    }))
}

/// The MQTT 5 tail of DISCONNECT and AUTH: nothing (success), a reason, or reason + properties.
fn reason(
    r: &mut Reader,
    kind: Reasons,
    packet: &'static str,
) -> Result<ReasonCode, ProtocolError> {
    if r.is_empty() {
        return Ok(ReasonCode::SUCCESS);
    }
    let code = r.u8()?;
    if !reason_allowed(kind, code) {
        return Err(malformed(M::ReasonCode { code, packet }));
    }
    Ok(ReasonCode(code))
}

pub(super) fn disconnect(v: ProtocolVersion, mut r: Reader) -> Result<Packet, ProtocolError> {
    if v == ProtocolVersion::V311 {
        end(&r, "DISCONNECT")?;
        return Ok(Packet::Disconnect(Disconnect::normal()));
    }
    let code = reason(&mut r, Reasons::Disconnect, "DISCONNECT")?;
    let mut properties = DisconnectProperties::default();
    if !r.is_empty() {
        let d = &mut properties;
        read_block(&mut r, |id, r| match id {
            p::SESSION_EXPIRY_INTERVAL => once(&mut d.session_expiry_interval, r.u32()?, id),
            p::REASON_STRING => once(&mut d.reason_string, r.string()?, id),
            p::SERVER_REFERENCE => once(&mut d.server_reference, r.string()?, id),
            p::USER_PROPERTY => read_user(r, &mut d.user_properties),
            _ => Err(not_allowed(id, "DISCONNECT")),
        })?;
    }
    end(&r, "DISCONNECT")?;
    Ok(Packet::Disconnect(Disconnect {
        reason: code,
        properties,
    }))
}

pub(super) fn auth(mut r: Reader) -> Result<Packet, ProtocolError> {
    let code = reason(&mut r, Reasons::Auth, "AUTH")?;
    let mut properties = AuthProperties::default();
    if !r.is_empty() {
        let a = &mut properties;
        read_block(&mut r, |id, r| match id {
            p::AUTHENTICATION_METHOD => once(&mut a.authentication_method, r.string()?, id),
            p::AUTHENTICATION_DATA => once(&mut a.authentication_data, r.bin()?, id),
            p::REASON_STRING => once(&mut a.reason_string, r.string()?, id),
            p::USER_PROPERTY => read_user(r, &mut a.user_properties),
            _ => Err(not_allowed(id, "AUTH")),
        })?;
    }
    end(&r, "AUTH")?;
    Ok(Packet::Auth(Box::new(Auth {
        reason: code,
        properties,
    })))
}
