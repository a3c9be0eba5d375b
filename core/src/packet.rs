//! The one packet model the core speaks, for both MQTT 3.1.1 and MQTT 5.0.
//!
//! Everything outside the codec (`codec/`) sees only these types. Reason codes are kept in MQTT 5 form for
//! both versions: the codec maps 3.1.1 CONNACK return codes and SUBACK failure (0x80) to and from
//! their MQTT 5 equivalents, so the state machine has one vocabulary. Properties are MQTT 5 only;
//! on a 3.1.1 connection they are always empty (the codec rejects encoding non-empty ones).

use bytes::Bytes;
use crate::shared_str::SharedStr;

/// The protocol version spoken on the wire. A configuration choice; the state machine is shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ProtocolVersion {
    /// MQTT 3.1.1 (protocol level 4).
    V311,
    /// MQTT 5.0 (protocol level 5).
    V5,
}

/// Quality of service of a publish or a subscription.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum QoS {
    /// QoS 0: delivered at most once, no acknowledgement.
    AtMostOnce = 0,
    /// QoS 1: delivered at least once (PUBACK).
    AtLeastOnce = 1,
    /// QoS 2: delivered exactly once (PUBREC, PUBREL, PUBCOMP).
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS for a wire value 0..=2.
    pub fn from_u8(value: u8) -> Option<QoS> {
        match value {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }
}

/// An MQTT 5 reason code (also used for 3.1.1, mapped by the codec).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReasonCode(
    /// The code as on the wire.
    pub u8,
);

impl ReasonCode {
    /// 0x00: success.
    pub const SUCCESS: ReasonCode = ReasonCode(0x00);
    /// 0x01: granted QoS 1.
    pub const GRANTED_QOS_1: ReasonCode = ReasonCode(0x01);
    /// 0x02: granted QoS 2.
    pub const GRANTED_QOS_2: ReasonCode = ReasonCode(0x02);
    /// 0x04: disconnect with will message.
    pub const DISCONNECT_WITH_WILL: ReasonCode = ReasonCode(0x04);
    /// 0x10: no matching subscribers.
    pub const NO_MATCHING_SUBSCRIBERS: ReasonCode = ReasonCode(0x10);
    /// 0x11: no subscription existed.
    pub const NO_SUBSCRIPTION_EXISTED: ReasonCode = ReasonCode(0x11);
    /// 0x18: continue authentication.
    pub const CONTINUE_AUTHENTICATION: ReasonCode = ReasonCode(0x18);
    /// 0x19: re-authenticate.
    pub const RE_AUTHENTICATE: ReasonCode = ReasonCode(0x19);
    /// 0x80: unspecified error.
    pub const UNSPECIFIED_ERROR: ReasonCode = ReasonCode(0x80);
    /// 0x81: malformed packet.
    pub const MALFORMED_PACKET: ReasonCode = ReasonCode(0x81);
    /// 0x82: protocol error.
    pub const PROTOCOL_ERROR: ReasonCode = ReasonCode(0x82);
    /// 0x83: implementation specific error.
    pub const IMPLEMENTATION_SPECIFIC_ERROR: ReasonCode = ReasonCode(0x83);
    /// 0x84: unsupported protocol version.
    pub const UNSUPPORTED_PROTOCOL_VERSION: ReasonCode = ReasonCode(0x84);
    /// 0x85: client identifier not valid.
    pub const CLIENT_IDENTIFIER_NOT_VALID: ReasonCode = ReasonCode(0x85);
    /// 0x86: bad user name or password.
    pub const BAD_USER_NAME_OR_PASSWORD: ReasonCode = ReasonCode(0x86);
    /// 0x87: not authorized.
    pub const NOT_AUTHORIZED: ReasonCode = ReasonCode(0x87);
    /// 0x88: server unavailable.
    pub const SERVER_UNAVAILABLE: ReasonCode = ReasonCode(0x88);
    /// 0x89: server busy.
    pub const SERVER_BUSY: ReasonCode = ReasonCode(0x89);
    /// 0x8A: banned.
    pub const BANNED: ReasonCode = ReasonCode(0x8A);
    /// 0x8B: server shutting down.
    pub const SERVER_SHUTTING_DOWN: ReasonCode = ReasonCode(0x8B);
    /// 0x8C: bad authentication method.
    pub const BAD_AUTHENTICATION_METHOD: ReasonCode = ReasonCode(0x8C);
    /// 0x8D: keep alive timeout.
    pub const KEEP_ALIVE_TIMEOUT: ReasonCode = ReasonCode(0x8D);
    /// 0x8E: session taken over.
    pub const SESSION_TAKEN_OVER: ReasonCode = ReasonCode(0x8E);
    /// 0x8F: topic filter invalid.
    pub const TOPIC_FILTER_INVALID: ReasonCode = ReasonCode(0x8F);
    /// 0x90: topic name invalid.
    pub const TOPIC_NAME_INVALID: ReasonCode = ReasonCode(0x90);
    /// 0x91: packet identifier in use.
    pub const PACKET_IDENTIFIER_IN_USE: ReasonCode = ReasonCode(0x91);
    /// 0x92: packet identifier not found.
    pub const PACKET_IDENTIFIER_NOT_FOUND: ReasonCode = ReasonCode(0x92);
    /// 0x93: receive maximum exceeded.
    pub const RECEIVE_MAXIMUM_EXCEEDED: ReasonCode = ReasonCode(0x93);
    /// 0x94: topic alias invalid.
    pub const TOPIC_ALIAS_INVALID: ReasonCode = ReasonCode(0x94);
    /// 0x95: packet too large.
    pub const PACKET_TOO_LARGE: ReasonCode = ReasonCode(0x95);
    /// 0x96: message rate too high.
    pub const MESSAGE_RATE_TOO_HIGH: ReasonCode = ReasonCode(0x96);
    /// 0x97: quota exceeded.
    pub const QUOTA_EXCEEDED: ReasonCode = ReasonCode(0x97);
    /// 0x98: administrative action.
    pub const ADMINISTRATIVE_ACTION: ReasonCode = ReasonCode(0x98);
    /// 0x99: payload format invalid.
    pub const PAYLOAD_FORMAT_INVALID: ReasonCode = ReasonCode(0x99);
    /// 0x9A: retain not supported.
    pub const RETAIN_NOT_SUPPORTED: ReasonCode = ReasonCode(0x9A);
    /// 0x9B: QoS not supported.
    pub const QOS_NOT_SUPPORTED: ReasonCode = ReasonCode(0x9B);
    /// 0x9C: use another server.
    pub const USE_ANOTHER_SERVER: ReasonCode = ReasonCode(0x9C);
    /// 0x9D: server moved.
    pub const SERVER_MOVED: ReasonCode = ReasonCode(0x9D);
    /// 0x9E: shared subscriptions not supported.
    pub const SHARED_SUBSCRIPTIONS_NOT_SUPPORTED: ReasonCode = ReasonCode(0x9E);
    /// 0x9F: connection rate exceeded.
    pub const CONNECTION_RATE_EXCEEDED: ReasonCode = ReasonCode(0x9F);
    /// 0xA0: maximum connect time.
    pub const MAXIMUM_CONNECT_TIME: ReasonCode = ReasonCode(0xA0);
    /// 0xA1: subscription identifiers not supported.
    pub const SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED: ReasonCode = ReasonCode(0xA1);
    /// 0xA2: wildcard subscriptions not supported.
    pub const WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED: ReasonCode = ReasonCode(0xA2);

    /// Codes below 0x80 report success (possibly with a qualifier such as a granted QoS).
    pub fn is_success(self) -> bool {
        self.0 < 0x80
    }

    /// The specification's name for this code, for errors and logs.
    pub fn name(self) -> &'static str {
        match self.0 {
            0x00 => "success",
            0x01 => "granted QoS 1",
            0x02 => "granted QoS 2",
            0x04 => "disconnect with will message",
            0x10 => "no matching subscribers",
            0x11 => "no subscription existed",
            0x18 => "continue authentication",
            0x19 => "re-authenticate",
            0x80 => "unspecified error",
            0x81 => "malformed packet",
            0x82 => "protocol error",
            0x83 => "implementation specific error",
            0x84 => "unsupported protocol version",
            0x85 => "client identifier not valid",
            0x86 => "bad user name or password",
            0x87 => "not authorized",
            0x88 => "server unavailable",
            0x89 => "server busy",
            0x8A => "banned",
            0x8B => "server shutting down",
            0x8C => "bad authentication method",
            0x8D => "keep alive timeout",
            0x8E => "session taken over",
            0x8F => "topic filter invalid",
            0x90 => "topic name invalid",
            0x91 => "packet identifier in use",
            0x92 => "packet identifier not found",
            0x93 => "receive maximum exceeded",
            0x94 => "topic alias invalid",
            0x95 => "packet too large",
            0x96 => "message rate too high",
            0x97 => "quota exceeded",
            0x98 => "administrative action",
            0x99 => "payload format invalid",
            0x9A => "retain not supported",
            0x9B => "QoS not supported",
            0x9C => "use another server",
            0x9D => "server moved",
            0x9E => "shared subscriptions not supported",
            0x9F => "connection rate exceeded",
            0xA0 => "maximum connect time",
            0xA1 => "subscription identifiers not supported",
            0xA2 => "wildcard subscriptions not supported",
            _ => "unknown reason code",
        }
    }
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (0x{:02X})", self.name(), self.0)
    }
}

/// MQTT 5 user properties: ordered name/value pairs, duplicates allowed.
pub type UserProperties = Vec<(String, String)>;

/// Every MQTT control packet, version-independent.
#[derive(Debug, Clone, PartialEq)]
pub enum Packet {
    // The large, rare packets are boxed: a packet moves by value from the decoder to the
    // state machine, and PUBLISH (the one that comes in bulk) sets the size of every move.
    Connect(Box<Connect>),
    ConnAck(Box<ConnAck>),
    Publish(Publish),
    PubAck(Ack),
    PubRec(Ack),
    PubRel(Ack),
    PubComp(Ack),
    Subscribe(Subscribe),
    SubAck(SubAck),
    Unsubscribe(Unsubscribe),
    UnsubAck(UnsubAck),
    PingReq,
    PingResp,
    Disconnect(Disconnect),
    /// MQTT 5 only.
    Auth(Box<Auth>),
}

impl Packet {
    /// The packet type's name, for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Packet::Connect(_) => "CONNECT",
            Packet::ConnAck(_) => "CONNACK",
            Packet::Publish(_) => "PUBLISH",
            Packet::PubAck(_) => "PUBACK",
            Packet::PubRec(_) => "PUBREC",
            Packet::PubRel(_) => "PUBREL",
            Packet::PubComp(_) => "PUBCOMP",
            Packet::Subscribe(_) => "SUBSCRIBE",
            Packet::SubAck(_) => "SUBACK",
            Packet::Unsubscribe(_) => "UNSUBSCRIBE",
            Packet::UnsubAck(_) => "UNSUBACK",
            Packet::PingReq => "PINGREQ",
            Packet::PingResp => "PINGRESP",
            Packet::Disconnect(_) => "DISCONNECT",
            Packet::Auth(_) => "AUTH",
        }
    }
}

/// CONNECT. `clean_start` is "clean session" in 3.1.1. `Debug` never shows the password (it is
/// often a JWT).
#[derive(Clone, PartialEq, Default)]
pub struct Connect {
    pub client_id: String,
    pub clean_start: bool,
    /// Seconds; 0 disables keep-alive.
    pub keep_alive: u16,
    pub username: Option<String>,
    pub password: Option<Bytes>,
    pub will: Option<Will>,
    pub properties: ConnectProperties,
}

impl std::fmt::Debug for Connect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Connect {
            client_id,
            clean_start,
            keep_alive,
            username,
            password,
            will,
            properties,
        } = self;
        f.debug_struct("Connect")
            .field("client_id", client_id)
            .field("clean_start", clean_start)
            .field("keep_alive", keep_alive)
            .field("username", username)
            .field("password", &password.as_ref().map(|_| "[redacted]"))
            .field("will", will)
            .field("properties", properties)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConnectProperties {
    pub session_expiry_interval: Option<u32>,
    pub receive_maximum: Option<u16>,
    pub maximum_packet_size: Option<u32>,
    pub topic_alias_maximum: Option<u16>,
    pub request_response_information: Option<u8>,
    pub request_problem_information: Option<u8>,
    pub authentication_method: Option<String>,
    pub authentication_data: Option<Bytes>,
    pub user_properties: UserProperties,
}

/// The last will: published by the broker when the connection ends abnormally.
#[derive(Debug, Clone, PartialEq)]
pub struct Will {
    /// The topic the will is published to.
    pub topic: String,
    /// Its payload.
    pub payload: Bytes,
    /// Its QoS.
    pub qos: QoS,
    /// Whether the broker retains it.
    pub retain: bool,
    /// Its MQTT 5 properties (empty on 3.1.1).
    pub properties: WillProperties,
}

/// MQTT 5 properties of the will.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WillProperties {
    /// Seconds the broker waits after the connection ends before publishing the will.
    pub delay_interval: Option<u32>,
    /// 1: the payload is UTF-8 text; 0 or none: unspecified bytes.
    pub payload_format_indicator: Option<u8>,
    /// Seconds the broker keeps the will message for subscribers.
    pub message_expiry_interval: Option<u32>,
    /// A MIME type for the payload, for the receiver.
    pub content_type: Option<String>,
    /// The topic a receiver should answer on (request/response).
    pub response_topic: Option<String>,
    /// Data the answer carries back to match it to this message.
    pub correlation_data: Option<Bytes>,
    /// User properties, in order.
    pub user_properties: UserProperties,
}

/// CONNACK. `code` is an MQTT 5 reason code (3.1.1 return codes are mapped by the codec).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnAck {
    pub session_present: bool,
    pub code: ReasonCode,
    pub properties: ConnAckProperties,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConnAckProperties {
    pub session_expiry_interval: Option<u32>,
    pub receive_maximum: Option<u16>,
    pub maximum_qos: Option<u8>,
    pub retain_available: Option<u8>,
    pub maximum_packet_size: Option<u32>,
    pub assigned_client_identifier: Option<String>,
    pub topic_alias_maximum: Option<u16>,
    pub reason_string: Option<String>,
    pub user_properties: UserProperties,
    pub wildcard_subscription_available: Option<u8>,
    pub subscription_identifiers_available: Option<u8>,
    pub shared_subscription_available: Option<u8>,
    pub server_keep_alive: Option<u16>,
    pub response_information: Option<String>,
    pub server_reference: Option<String>,
    pub authentication_method: Option<String>,
    pub authentication_data: Option<Bytes>,
}

/// PUBLISH. `pkid` is 0 for QoS 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Publish {
    pub dup: bool,
    pub qos: QoS,
    pub retain: bool,
    pub topic: SharedStr,
    pub pkid: u16,
    pub payload: Bytes,
    pub properties: MessageProperties,
}

/// MQTT 5 properties of a PUBLISH (empty on 3.1.1).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PublishProperties {
    /// 1: the payload is UTF-8 text; 0 or none: unspecified bytes.
    pub payload_format_indicator: Option<u8>,
    /// Seconds the message lives (reduced by the time it waited, when forwarded).
    pub message_expiry_interval: Option<u32>,
    /// A topic alias (see `ClientConfig::auto_topic_alias`; received ones are resolved).
    pub topic_alias: Option<u16>,
    /// The topic a receiver should answer on (request/response).
    pub response_topic: Option<String>,
    /// Data the answer carries back to match it to this message.
    pub correlation_data: Option<Bytes>,
    /// User properties, in order.
    pub user_properties: UserProperties,
    /// On a received message: the identifiers of the subscriptions it matched.
    pub subscription_identifiers: Vec<usize>,
    /// A MIME type for the payload, for the receiver.
    pub content_type: Option<String>,
}

impl PublishProperties {
    /// Whether no property is set (as on every 3.1.1 PUBLISH).
    pub fn is_empty(&self) -> bool {
        // Field by field: the derived `==` against a default compares the vectors through
        // `memcmp`, which showed in the receive path's profile.
        let PublishProperties {
            payload_format_indicator,
            message_expiry_interval,
            topic_alias,
            response_topic,
            correlation_data,
            user_properties,
            subscription_identifiers,
            content_type,
        } = self;
        payload_format_indicator.is_none()
            && message_expiry_interval.is_none()
            && topic_alias.is_none()
            && response_topic.is_none()
            && correlation_data.is_none()
            && user_properties.is_empty()
            && subscription_identifiers.is_empty()
            && content_type.is_none()
    }
}

/// The MQTT 5 properties of one PUBLISH (a received `Message`, a packet, an entry in flight),
/// kept out of line: a message without any (every 3.1.1 message, and most 5.0 ones) holds one
/// null pointer and allocates nothing, so messages stay small while they move between queues.
/// Reads as a [`PublishProperties`] through `Deref` (empty when there are none);
/// [`make_mut`](MessageProperties::make_mut) changes them. Compares as what it reads as.
#[derive(Clone, Default)]
pub struct MessageProperties(Option<Box<PublishProperties>>);

/// What [`MessageProperties`] reads as when there are none.
static NO_PROPERTIES: PublishProperties = PublishProperties {
    payload_format_indicator: None,
    message_expiry_interval: None,
    topic_alias: None,
    response_topic: None,
    correlation_data: None,
    user_properties: Vec::new(),
    subscription_identifiers: Vec::new(),
    content_type: None,
};

impl MessageProperties {
    /// Whether no property is set.
    pub fn is_empty(&self) -> bool {
        self.0.as_deref().is_none_or(PublishProperties::is_empty)
    }

    /// The properties to change, if there are any.
    pub fn get_mut(&mut self) -> Option<&mut PublishProperties> {
        self.0.as_deref_mut()
    }

    /// The properties to change, made (empty) if there are none.
    pub fn make_mut(&mut self) -> &mut PublishProperties {
        self.0.get_or_insert_with(Box::default)
    }

    /// The properties, by value.
    pub fn into_inner(self) -> PublishProperties {
        self.0.map(|boxed| *boxed).unwrap_or_default()
    }
}

impl From<PublishProperties> for MessageProperties {
    fn from(properties: PublishProperties) -> MessageProperties {
        if properties.is_empty() {
            MessageProperties(None)
        } else {
            MessageProperties(Some(Box::new(properties)))
        }
    }
}

impl PartialEq for MessageProperties {
    fn eq(&self, other: &MessageProperties) -> bool {
        **self == **other
    }
}

impl PartialEq<PublishProperties> for MessageProperties {
    fn eq(&self, other: &PublishProperties) -> bool {
        **self == *other
    }
}

impl std::ops::Deref for MessageProperties {
    type Target = PublishProperties;
    fn deref(&self) -> &PublishProperties {
        self.0.as_deref().unwrap_or(&NO_PROPERTIES)
    }
}

impl std::fmt::Debug for MessageProperties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        PublishProperties::fmt(self, f)
    }
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP share this shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Ack {
    pub pkid: u16,
    pub reason: ReasonCode,
    pub properties: AckProperties,
}

impl Ack {
    /// A successful ack with no properties.
    pub fn success(pkid: u16) -> Ack {
        Ack {
            pkid,
            reason: ReasonCode::SUCCESS,
            properties: AckProperties::default(),
        }
    }
}

/// Properties of acknowledgements (PUBACK..PUBCOMP, SUBACK, UNSUBACK).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AckProperties {
    pub reason_string: Option<String>,
    pub user_properties: UserProperties,
}

/// What the broker should do with retained messages when a subscription is made (MQTT 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetainHandling {
    /// Send the retained messages whenever the subscription is made.
    #[default]
    SendAtSubscribe = 0,
    /// Send them only if the subscription did not exist yet.
    SendAtSubscribeIfNew = 1,
    /// Never send retained messages for this subscription.
    DoNotSend = 2,
}

/// One topic filter of a SUBSCRIBE, with its options.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscribeFilter {
    /// The topic filter (wildcards allowed; validated at admission).
    pub filter: String,
    /// The maximum QoS asked for.
    pub qos: QoS,
    /// MQTT 5 option: do not receive one's own publishes. The MQTT 5 options stay at their
    /// defaults on 3.1.1.
    pub no_local: bool,
    /// MQTT 5 option: keep the retain flag as published when forwarding.
    pub retain_as_published: bool,
    /// MQTT 5 option: when to send retained messages.
    pub retain_handling: RetainHandling,
}

impl SubscribeFilter {
    /// A filter with `qos` and the default options.
    pub fn new(filter: impl Into<String>, qos: QoS) -> SubscribeFilter {
        SubscribeFilter {
            filter: filter.into(),
            qos,
            no_local: false,
            retain_as_published: false,
            retain_handling: RetainHandling::SendAtSubscribe,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Subscribe {
    pub pkid: u16,
    pub filters: Vec<SubscribeFilter>,
    pub properties: SubscribeProperties,
}

/// MQTT 5 properties of a SUBSCRIBE (empty on 3.1.1).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SubscribeProperties {
    /// An identifier (1..=268,435,455) the broker attaches to every message this subscription matches.
    pub subscription_identifier: Option<usize>,
    /// User properties, in order.
    pub user_properties: UserProperties,
}

/// SUBACK: one reason per requested filter, in order. 0x00..=0x02 grant a QoS.
#[derive(Debug, Clone, PartialEq)]
pub struct SubAck {
    pub pkid: u16,
    pub reasons: Vec<ReasonCode>,
    pub properties: AckProperties,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Unsubscribe {
    pub pkid: u16,
    pub filters: Vec<String>,
    pub user_properties: UserProperties,
}

/// UNSUBACK. On 3.1.1 `reasons` is empty (the packet carries none: all succeeded).
#[derive(Debug, Clone, PartialEq)]
pub struct UnsubAck {
    pub pkid: u16,
    pub reasons: Vec<ReasonCode>,
    pub properties: AckProperties,
}

/// DISCONNECT. On 3.1.1 the reason is always success and there are no properties.
#[derive(Debug, Clone, PartialEq)]
pub struct Disconnect {
    pub reason: ReasonCode,
    pub properties: DisconnectProperties,
}

impl Disconnect {
    /// A normal disconnection with no properties.
    pub fn normal() -> Disconnect {
        Disconnect {
            reason: ReasonCode::SUCCESS,
            properties: DisconnectProperties::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct DisconnectProperties {
    pub session_expiry_interval: Option<u32>,
    pub reason_string: Option<String>,
    pub user_properties: UserProperties,
    pub server_reference: Option<String>,
}

/// AUTH (MQTT 5 enhanced authentication).
#[derive(Debug, Clone, PartialEq)]
pub struct Auth {
    pub reason: ReasonCode,
    pub properties: AuthProperties,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuthProperties {
    pub authentication_method: Option<String>,
    pub authentication_data: Option<Bytes>,
    pub reason_string: Option<String>,
    pub user_properties: UserProperties,
}
