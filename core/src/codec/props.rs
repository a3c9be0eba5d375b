//! MQTT 5 properties: the identifiers, a [`Sink`] that either counts or writes (so each packet's
//! length and bytes come from one description), the encoder of every property set, and the
//! property reader the hand-written decoders use (type-checked, duplicates rejected).

use bytes::{BufMut, BytesMut};

use super::wire::{self, malformed, Reader};
use super::EncodeError;
use crate::error::{Malformed as M, ProtocolError};
use crate::packet::{
    AckProperties, AuthProperties, ConnAckProperties, ConnectProperties, DisconnectProperties,
    PublishProperties, SubscribeProperties, UserProperties, WillProperties,
};

pub(crate) const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
pub(crate) const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
pub(crate) const CONTENT_TYPE: u8 = 0x03;
pub(crate) const RESPONSE_TOPIC: u8 = 0x08;
pub(crate) const CORRELATION_DATA: u8 = 0x09;
pub(crate) const SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
pub(crate) const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
pub(crate) const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
pub(crate) const SERVER_KEEP_ALIVE: u8 = 0x13;
pub(crate) const AUTHENTICATION_METHOD: u8 = 0x15;
pub(crate) const AUTHENTICATION_DATA: u8 = 0x16;
pub(crate) const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
pub(crate) const WILL_DELAY_INTERVAL: u8 = 0x18;
pub(crate) const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
pub(crate) const RESPONSE_INFORMATION: u8 = 0x1A;
pub(crate) const SERVER_REFERENCE: u8 = 0x1C;
pub(crate) const REASON_STRING: u8 = 0x1F;
pub(crate) const RECEIVE_MAXIMUM: u8 = 0x21;
pub(crate) const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
pub(crate) const TOPIC_ALIAS: u8 = 0x23;
pub(crate) const MAXIMUM_QOS: u8 = 0x24;
pub(crate) const RETAIN_AVAILABLE: u8 = 0x25;
pub(crate) const USER_PROPERTY: u8 = 0x26;
pub(crate) const MAXIMUM_PACKET_SIZE: u8 = 0x27;
pub(crate) const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
pub(crate) const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
pub(crate) const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2A;

/// Where an encoding goes: [`Counter`] measures it, [`Writer`] writes it. Encoders describe a
/// packet once, generically over the sink, so `encoded_len` and `encode` cannot disagree.
pub(crate) trait Sink {
    fn u8(&mut self, v: u8);
    fn u16(&mut self, v: u16);
    fn u32(&mut self, v: u32);
    fn varint(&mut self, v: usize);
    /// A two-byte-length field (string or binary data).
    fn field(&mut self, what: &'static str, bytes: &[u8]);
    /// Bytes with no length prefix (a PUBLISH payload).
    fn raw(&mut self, bytes: &[u8]);
}

/// Counts bytes and records the first field that cannot be encoded.
#[derive(Default)]
pub(crate) struct Counter {
    pub(crate) len: usize,
    pub(crate) error: Option<EncodeError>,
}

impl Counter {
    fn fail(&mut self, e: EncodeError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }
}

impl Sink for Counter {
    fn u8(&mut self, _: u8) {
        self.len += 1;
    }
    fn u16(&mut self, _: u16) {
        self.len += 2;
    }
    fn u32(&mut self, _: u32) {
        self.len += 4;
    }
    fn varint(&mut self, v: usize) {
        if v > wire::MAX_VARINT {
            self.fail(EncodeError::VarintTooLarge { value: v });
        }
        self.len += wire::varint_len(v);
    }
    fn field(&mut self, what: &'static str, bytes: &[u8]) {
        match wire::field_len(bytes.len(), what) {
            Ok(n) => self.len += n,
            Err(e) => self.fail(e),
        }
    }
    fn raw(&mut self, bytes: &[u8]) {
        self.len += bytes.len();
    }
}

/// Appends to the output buffer. Only used after a [`Counter`] pass found no error.
pub(crate) struct Writer<'a>(pub(crate) &'a mut BytesMut);

impl Sink for Writer<'_> {
    fn u8(&mut self, v: u8) {
        self.0.put_u8(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.put_u16(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.put_u32(v);
    }
    fn varint(&mut self, v: usize) {
        wire::put_varint(self.0, v);
    }
    fn field(&mut self, _: &'static str, bytes: &[u8]) {
        wire::put_bin(self.0, bytes);
    }
    fn raw(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

/// A property set that can describe itself to a [`Sink`] (without its length prefix).
pub(crate) trait Props {
    fn visit<S: Sink>(&self, s: &mut S);
}

/// Writes a property block: its variable-byte length, then the properties.
pub(crate) fn block<S: Sink, P: Props>(s: &mut S, props: &P) {
    let mut c = Counter::default();
    props.visit(&mut c);
    s.varint(c.len);
    props.visit(s);
}

/// The property block's content length (without the length prefix).
pub(crate) fn content_len<P: Props>(props: &P) -> usize {
    let mut c = Counter::default();
    props.visit(&mut c);
    c.len
}

fn byte<S: Sink>(s: &mut S, id: u8, v: Option<u8>) {
    if let Some(v) = v {
        s.u8(id);
        s.u8(v);
    }
}
fn two<S: Sink>(s: &mut S, id: u8, v: Option<u16>) {
    if let Some(v) = v {
        s.u8(id);
        s.u16(v);
    }
}
fn four<S: Sink>(s: &mut S, id: u8, v: Option<u32>) {
    if let Some(v) = v {
        s.u8(id);
        s.u32(v);
    }
}
fn text<S: Sink>(s: &mut S, id: u8, what: &'static str, v: Option<&str>) {
    if let Some(v) = v {
        s.u8(id);
        s.field(what, v.as_bytes());
    }
}
fn binary<S: Sink>(s: &mut S, id: u8, what: &'static str, v: Option<&[u8]>) {
    if let Some(v) = v {
        s.u8(id);
        s.field(what, v);
    }
}
fn user<S: Sink>(s: &mut S, v: &UserProperties) {
    for (k, val) in v {
        s.u8(USER_PROPERTY);
        s.field("user property name", k.as_bytes());
        s.field("user property value", val.as_bytes());
    }
}

impl Props for ConnectProperties {
    fn visit<S: Sink>(&self, s: &mut S) {
        four(s, SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        two(s, RECEIVE_MAXIMUM, self.receive_maximum);
        four(s, MAXIMUM_PACKET_SIZE, self.maximum_packet_size);
        two(s, TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum);
        byte(
            s,
            REQUEST_RESPONSE_INFORMATION,
            self.request_response_information,
        );
        byte(
            s,
            REQUEST_PROBLEM_INFORMATION,
            self.request_problem_information,
        );
        user(s, &self.user_properties);
        let m = self.authentication_method.as_deref();
        text(s, AUTHENTICATION_METHOD, "authentication method", m);
        let d = self.authentication_data.as_deref();
        binary(s, AUTHENTICATION_DATA, "authentication data", d);
    }
}

impl Props for WillProperties {
    fn visit<S: Sink>(&self, s: &mut S) {
        four(s, WILL_DELAY_INTERVAL, self.delay_interval);
        byte(s, PAYLOAD_FORMAT_INDICATOR, self.payload_format_indicator);
        four(s, MESSAGE_EXPIRY_INTERVAL, self.message_expiry_interval);
        text(
            s,
            CONTENT_TYPE,
            "content type",
            self.content_type.as_deref(),
        );
        let rt = self.response_topic.as_deref();
        text(s, RESPONSE_TOPIC, "response topic", rt);
        let cd = self.correlation_data.as_deref();
        binary(s, CORRELATION_DATA, "correlation data", cd);
        user(s, &self.user_properties);
    }
}

impl Props for ConnAckProperties {
    fn visit<S: Sink>(&self, s: &mut S) {
        four(s, SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        two(s, RECEIVE_MAXIMUM, self.receive_maximum);
        byte(s, MAXIMUM_QOS, self.maximum_qos);
        byte(s, RETAIN_AVAILABLE, self.retain_available);
        four(s, MAXIMUM_PACKET_SIZE, self.maximum_packet_size);
        let id = self.assigned_client_identifier.as_deref();
        text(s, ASSIGNED_CLIENT_IDENTIFIER, "assigned client id", id);
        two(s, TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum);
        text(
            s,
            REASON_STRING,
            "reason string",
            self.reason_string.as_deref(),
        );
        user(s, &self.user_properties);
        let w = self.wildcard_subscription_available;
        byte(s, WILDCARD_SUBSCRIPTION_AVAILABLE, w);
        let si = self.subscription_identifiers_available;
        byte(s, SUBSCRIPTION_IDENTIFIER_AVAILABLE, si);
        let sh = self.shared_subscription_available;
        byte(s, SHARED_SUBSCRIPTION_AVAILABLE, sh);
        two(s, SERVER_KEEP_ALIVE, self.server_keep_alive);
        let ri = self.response_information.as_deref();
        text(s, RESPONSE_INFORMATION, "response information", ri);
        let sr = self.server_reference.as_deref();
        text(s, SERVER_REFERENCE, "server reference", sr);
        let m = self.authentication_method.as_deref();
        text(s, AUTHENTICATION_METHOD, "authentication method", m);
        let d = self.authentication_data.as_deref();
        binary(s, AUTHENTICATION_DATA, "authentication data", d);
    }
}

impl Props for PublishProperties {
    fn visit<S: Sink>(&self, s: &mut S) {
        byte(s, PAYLOAD_FORMAT_INDICATOR, self.payload_format_indicator);
        four(s, MESSAGE_EXPIRY_INTERVAL, self.message_expiry_interval);
        two(s, TOPIC_ALIAS, self.topic_alias);
        let rt = self.response_topic.as_deref();
        text(s, RESPONSE_TOPIC, "response topic", rt);
        let cd = self.correlation_data.as_deref();
        binary(s, CORRELATION_DATA, "correlation data", cd);
        user(s, &self.user_properties);
        for &id in &self.subscription_identifiers {
            s.u8(SUBSCRIPTION_IDENTIFIER);
            s.varint(id);
        }
        text(
            s,
            CONTENT_TYPE,
            "content type",
            self.content_type.as_deref(),
        );
    }
}

impl Props for AckProperties {
    fn visit<S: Sink>(&self, s: &mut S) {
        text(
            s,
            REASON_STRING,
            "reason string",
            self.reason_string.as_deref(),
        );
        user(s, &self.user_properties);
    }
}

impl Props for SubscribeProperties {
    fn visit<S: Sink>(&self, s: &mut S) {
        if let Some(id) = self.subscription_identifier {
            s.u8(SUBSCRIPTION_IDENTIFIER);
            s.varint(id);
        }
        user(s, &self.user_properties);
    }
}

/// UNSUBSCRIBE carries only user properties.
pub(crate) struct UserOnly<'a>(pub(crate) &'a UserProperties);

impl Props for UserOnly<'_> {
    fn visit<S: Sink>(&self, s: &mut S) {
        user(s, self.0);
    }
}

impl Props for DisconnectProperties {
    fn visit<S: Sink>(&self, s: &mut S) {
        four(s, SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        text(
            s,
            REASON_STRING,
            "reason string",
            self.reason_string.as_deref(),
        );
        user(s, &self.user_properties);
        let sr = self.server_reference.as_deref();
        text(s, SERVER_REFERENCE, "server reference", sr);
    }
}

impl Props for AuthProperties {
    fn visit<S: Sink>(&self, s: &mut S) {
        let m = self.authentication_method.as_deref();
        text(s, AUTHENTICATION_METHOD, "authentication method", m);
        let d = self.authentication_data.as_deref();
        binary(s, AUTHENTICATION_DATA, "authentication data", d);
        text(
            s,
            REASON_STRING,
            "reason string",
            self.reason_string.as_deref(),
        );
        user(s, &self.user_properties);
    }
}

// ---- decoding (for the packets decoded by hand) ----

/// Reads a property block: its length, then each property, handed to `f` with a reader
/// positioned on its value. The block must be consumed exactly by its properties.
pub(crate) fn read_block(
    r: &mut Reader,
    mut f: impl FnMut(u8, &mut Reader) -> Result<(), ProtocolError>,
) -> Result<(), ProtocolError> {
    let len = r.varint()?;
    if len > r.remaining() {
        return Err(malformed(M::PropertyLength));
    }
    let mut block = Reader::new(r.take(len)?);
    while !block.is_empty() {
        let id = block.u8()?;
        let before = block.remaining();
        f(id, &mut block).map_err(|error| {
            // A value running past the declared block: the length is what is wrong.
            if block.remaining() == before && error == malformed(M::Truncated) {
                malformed(M::PropertyLength)
            } else {
                error
            }
        })?;
    }
    Ok(())
}

/// Stores a property that may appear at most once.
pub(crate) fn once<T>(slot: &mut Option<T>, value: T, id: u8) -> Result<(), ProtocolError> {
    if slot.is_some() {
        return Err(malformed(M::DuplicateProperty { id }));
    }
    *slot = Some(value);
    Ok(())
}

/// A property identifier that is unknown or not allowed in this packet.
pub(crate) fn not_allowed(id: u8, packet: &'static str) -> ProtocolError {
    malformed(M::PropertyNotAllowed { id, packet })
}

/// Reads one user property pair.
pub(crate) fn read_user(r: &mut Reader, into: &mut UserProperties) -> Result<(), ProtocolError> {
    let k = r.string()?;
    let v = r.string()?;
    into.push((k, v));
    Ok(())
}
