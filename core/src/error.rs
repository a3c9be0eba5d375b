//! The core's error types, split the three ways DESIGN.md asks for:
//! - [`ProtocolError`]: the peer misbehaved; the connection ends, the core stays usable;
//! - [`ClientError`]: the caller misused the API or hit a bound; nothing was queued;
//! - connection loss is not an error value but an [`Event`](crate::Event).
//!
//! Every error here is `Send + Sync + 'static`, `Clone`, and comparable. Its `Display` names
//! what failed and why, the wrapped error's text included, so one line in a log says it all;
//! the wrapped error is also its [`source`](std::error::Error::source), to match on or walk.
//!
//! Configuration problems are [`ConfigError`](crate::ConfigError), token problems
//! [`TokenError`](crate::TokenError), topic problems [`TopicError`].

use std::sync::Arc;

use crate::packet::{QoS, ReasonCode};
use crate::topic::TopicError;

/// The peer sent something the specification does not allow. Ends the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The bytes do not form a valid packet; [`Malformed`] says which rule they break.
    #[error("malformed packet: {0}")]
    MalformedPacket(#[source] Malformed),
    /// The fixed header names a packet type that does not exist (0 or 15 on 3.1.1).
    #[error("unknown packet type {0}")]
    UnknownPacketType(u8),
    /// A packet larger than the configured maximum.
    #[error("packet of {size} bytes exceeds the maximum of {max}")]
    PacketTooLarge {
        /// The packet's size, fixed header included.
        size: usize,
        /// `ClientConfig::max_incoming_packet_size`.
        max: usize,
    },
    /// A valid packet that is not allowed in the current state (e.g. PUBLISH before CONNACK).
    #[error("unexpected {packet} while {state}")]
    UnexpectedPacket {
        /// The packet type.
        packet: &'static str,
        /// The connection state it arrived in.
        state: &'static str,
    },
    /// A topic in an incoming packet is not a valid topic name.
    #[error("invalid topic from peer: {0}")]
    InvalidTopic(#[from] TopicError),
    /// The peer sent more QoS>0 publishes in flight than we allowed (receive maximum).
    #[error("peer exceeded the receive maximum of {0}")]
    ReceiveMaximumExceeded(u16),
    /// The peer used a topic alias that is zero, above our maximum, or never set.
    #[error("invalid topic alias {0}")]
    InvalidTopicAlias(u16),
    /// An AUTH or CONNACK naming an authentication method that is not the one CONNECT used.
    #[error("authentication method {got:?} from the broker, expected {expected:?}")]
    AuthenticationMethodMismatch {
        /// The method CONNECT used.
        expected: String,
        /// The method the broker named (`None`: none).
        got: Option<String>,
    },
}

/// Which rule of the packet format a [`ProtocolError::MalformedPacket`] breaks: a kind to
/// match on, with the field, packet or value that broke it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// The packet ends inside a field, or a length prefix runs past its end.
    #[error("the packet ends inside a field")]
    Truncated,
    /// A variable byte integer with a fifth continuation byte.
    #[error("a variable byte integer is longer than 4 bytes")]
    VarintTooLong,
    /// A variable byte integer (or the remaining length) not in its shortest form.
    #[error("a variable byte integer is not in its shortest form")]
    VarintNotShortest,
    /// The remaining length disagrees with the fields the packet carries.
    #[error("the packet is {actual} bytes long but its fields take {expected}")]
    LengthMismatch {
        /// The remaining length of the frame.
        actual: usize,
        /// What the fields take.
        expected: usize,
    },
    /// Bytes left over after the last field of a packet.
    #[error("{count} bytes after the last field of {packet}")]
    TrailingBytes {
        /// How many bytes were left.
        count: usize,
        /// The packet type (`"CONNECT"`, `"DISCONNECT"`...).
        packet: &'static str,
    },
    /// A property block whose length disagrees with the properties in it.
    #[error("a property length disagrees with the properties")]
    PropertyLength,
    /// A string that is not valid UTF-8.
    #[error("a string is not valid UTF-8")]
    InvalidUtf8,
    /// A string containing U+0000, which MQTT forbids.
    #[error("a string contains U+0000")]
    NullCharacter,
    /// Fixed header flags the packet type does not allow (or DUP on a QoS 0 PUBLISH).
    #[error("fixed header flags 0b{flags:04b} are invalid for packet type {packet_type}")]
    FixedHeaderFlags {
        /// The packet type (the high four bits of the first byte).
        packet_type: u8,
        /// The low four bits of the first byte.
        flags: u8,
    },
    /// A QoS of 3, in the named field (`"PUBLISH"`, `"will"`, `"subscription options"`).
    #[error("QoS 3 in {field}")]
    QoS3 {
        /// Where the QoS was.
        field: &'static str,
    },
    /// Reserved bits set in the named field.
    #[error("reserved bits set in {field}")]
    ReservedBits {
        /// The field (`"CONNACK flags"`, `"CONNECT flags"`, `"subscription options"`).
        field: &'static str,
    },
    /// Packet identifier 0 on a packet that needs one.
    #[error("packet identifier 0 is not allowed")]
    PacketIdZero,
    /// Subscription identifier 0.
    #[error("subscription identifier 0 is not allowed")]
    SubscriptionIdentifierZero,
    /// A limit property that must not be 0 (receive maximum, maximum packet size).
    #[error("{property} must not be 0")]
    ZeroLimit {
        /// The property's name.
        property: &'static str,
    },
    /// A property that must be 0 or 1 is something else.
    #[error("{property} must be 0 or 1")]
    NotABoolean {
        /// The property's name.
        property: &'static str,
    },
    /// A reason (or CONNACK return) code the packet type may not carry.
    #[error("reason code 0x{code:02X} is not allowed in {packet}")]
    ReasonCode {
        /// The code received.
        code: u8,
        /// The packet type.
        packet: &'static str,
    },
    /// A property identifier unknown or not allowed in this packet type.
    #[error("property 0x{id:02X} is not allowed in {packet}")]
    PropertyNotAllowed {
        /// The property identifier.
        id: u8,
        /// The packet type.
        packet: &'static str,
    },
    /// A property that may appear once appears twice.
    #[error("property 0x{id:02X} appears more than once")]
    DuplicateProperty {
        /// The property identifier.
        id: u8,
    },
    /// CONNACK with the session present flag and a failure code.
    #[error("session present set on a refused CONNACK")]
    SessionPresentOnRefusal,
    /// A SUBACK or UNSUBACK whose number of reason codes is not the number of filters of the
    /// request it answers.
    #[error("{packet} has {reasons} reason codes for {filters} filters")]
    ReasonCountMismatch {
        /// `"SUBACK"` or `"UNSUBACK"`.
        packet: &'static str,
        /// Reason codes received.
        reasons: usize,
        /// Filters in the request.
        filters: usize,
    },
    /// A SUBSCRIBE or UNSUBSCRIBE without a topic filter.
    #[error("{packet} with no topic filter")]
    NoTopicFilter {
        /// `"SUBSCRIBE"` or `"UNSUBSCRIBE"`.
        packet: &'static str,
    },
    /// Retain handling 3 in subscription options.
    #[error("retain handling 3 in subscription options")]
    RetainHandling3,
    /// CONNECT whose protocol name is not `MQTT`.
    #[error("CONNECT protocol name is not MQTT")]
    ProtocolName,
    /// CONNECT with a protocol level other than the codec's.
    #[error("CONNECT with protocol level {level} on a codec for level {expected}")]
    ProtocolLevel {
        /// The level received.
        level: u8,
        /// The codec's level (4 for 3.1.1, 5 for 5.0).
        expected: u8,
    },
    /// CONNECT with will QoS or will retain set and no will.
    #[error("CONNECT has will QoS or will retain set without a will")]
    WillFlagsWithoutWill,
    /// MQTT 3.1.1 CONNECT with a password and no user name.
    #[error("CONNECT has a password without a user name")]
    PasswordWithoutUsername,
    /// A packet the wire parser refused for another reason; `detail` is its description.
    #[error("{packet} does not parse ({detail})")]
    Unparsable {
        /// The packet type.
        packet: &'static str,
        /// What the parser reported.
        detail: String,
    },
}

impl From<Malformed> for ProtocolError {
    fn from(kind: Malformed) -> ProtocolError {
        ProtocolError::MalformedPacket(kind)
    }
}

/// The broker closed or refused the connection with a reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// CONNACK with a failure code. Kept as the MQTT 5 reason code (3.1.1 codes are mapped).
    #[error("connection refused by broker: {0}")]
    Refused(ReasonCode),
    /// No CONNACK within the connect timeout.
    #[error("no CONNACK within the connect timeout")]
    Timeout,
    /// The transport could not be opened or ended before CONNACK.
    #[error(transparent)]
    Transport(TransportError),
    /// The token source could not give a token for the CONNECT (token auth).
    #[error(transparent)]
    Token(crate::credentials::TokenError),
    /// The broker answered with something that is not a valid CONNACK.
    #[error(transparent)]
    Protocol(ProtocolError),
    /// The CONNECT packet cannot be encoded (a minted JWT longer than a field can carry).
    #[error("CONNECT cannot be encoded: {0}")]
    Unencodable(#[source] crate::codec::EncodeError),
    /// The application gave up an enhanced authentication exchange (`auth_abort`).
    #[error("enhanced authentication aborted by the application")]
    AuthenticationAborted,
}

impl ConnectError {
    /// Refusals that retrying with the same credentials cannot fix.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            ConnectError::Refused(
                ReasonCode::BAD_USER_NAME_OR_PASSWORD
                    | ReasonCode::NOT_AUTHORIZED
                    | ReasonCode::UNSUPPORTED_PROTOCOL_VERSION
                    | ReasonCode::CLIENT_IDENTIFIER_NOT_VALID
                    | ReasonCode::BANNED
                    | ReasonCode::BAD_AUTHENTICATION_METHOD
            )
        )
    }
}

/// The application asked for something the client cannot do now. Nothing was queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The outgoing queue is at its bound: back off and retry (back-pressure).
    #[error("outgoing queue is full ({capacity} requests)")]
    QueueFull {
        /// The queue's bound (`ClientConfig::max_queued`).
        capacity: usize,
    },
    /// The topic or filter is not valid MQTT.
    #[error(transparent)]
    InvalidTopic(#[from] TopicError),
    /// The permissions (from the JWT or config) do not allow this.
    #[error("permission denied: {action} on {topic:?}")]
    PermissionDenied {
        /// What was asked (publish or subscribe).
        action: crate::permissions::Action,
        /// The topic or filter refused.
        topic: String,
    },
    /// The payload or packet would exceed the maximum packet size.
    #[error("packet of {size} bytes exceeds the maximum of {max}")]
    PacketTooLarge {
        /// The encoded packet's size.
        size: usize,
        /// The maximum in force (configured, or lowered by the broker's CONNACK).
        max: usize,
    },
    /// A feature the protocol version or the broker (its CONNACK) does not have.
    #[error("not supported: {0}")]
    Unsupported(#[source] Unsupported),
    /// A subscribe or unsubscribe with no filters.
    #[error("at least one topic filter is required")]
    NoFilters,
    /// The request cannot be encoded as an MQTT packet (a field over 65,535 bytes, a value
    /// the protocol version cannot carry); the error names the field.
    #[error("cannot send this request: {0}")]
    Unencodable(#[source] crate::codec::EncodeError),
    /// A topic alias that is 0 or above the maximum the broker announced in CONNACK (0 before
    /// any CONNACK, and on brokers that announce none).
    #[error("topic alias {alias} is not allowed: the broker accepts 1..={max}")]
    InvalidTopicAlias {
        /// The alias asked for.
        alias: u16,
        /// The broker's topic alias maximum.
        max: u16,
    },
    /// The connection ended and the client will not reconnect by itself (reconnect disabled):
    /// call `connect()` first.
    #[error("not connected, and reconnect is disabled")]
    NotConnected,
    /// `disconnect_with` a reason code a client may not send in DISCONNECT (MQTT 5 allows
    /// 0x00, 0x04 and some error codes: 0x80..=0x83, 0x90, 0x93..=0x99).
    #[error("a client may not disconnect with reason {0}")]
    InvalidDisconnectReason(ReasonCode),
    /// `disconnect_with` a non-zero session expiry interval, while CONNECT sent 0: the
    /// specification makes that a protocol error, so it is refused here.
    #[error("cannot set a session expiry interval of {requested} s on DISCONNECT: CONNECT set 0")]
    SessionExpiryWasZero {
        /// The interval asked for, in seconds.
        requested: u32,
    },
    /// The client was told to disconnect, or gave up reconnecting; it takes no more requests.
    #[error("the client is closed")]
    Closed,
    /// An MQTT 5 subscription identifier outside 1..=268,435,455.
    #[error("subscription identifier {0} is not allowed: it must be 1..=268435455")]
    InvalidSubscriptionIdentifier(usize),
    /// The broker's CONNACK said it does not support subscription identifiers.
    #[error("the broker does not support subscription identifiers")]
    SubscriptionIdentifiersUnavailable,
    /// `reauthenticate` without `ClientConfig::authentication` (enhanced authentication).
    #[error("enhanced authentication is not configured")]
    NoEnhancedAuth,
    /// `auth_respond` while no broker challenge waits for an answer.
    #[error("no authentication challenge waits for an answer")]
    NoAuthChallenge,
    /// `reauthenticate` while a re-authentication is in progress (one at a time).
    #[error("a re-authentication is already in progress")]
    ReauthenticationInProgress,
}

/// What a [`ClientError::Unsupported`] request asked for that the connection cannot do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unsupported {
    /// A publish with a QoS above the maximum QoS the broker announced in CONNACK.
    #[error("QoS {requested:?} is above the maximum QoS {maximum:?} the broker announced")]
    QoSAboveMaximum {
        /// The publish's QoS.
        requested: QoS,
        /// The broker's maximum.
        maximum: QoS,
    },
    /// A retained publish to a broker that announced it does not support retain.
    #[error("retain: the broker announced it does not support it")]
    Retain,
    /// A wildcard filter on a broker that announced wildcard subscriptions are not available.
    #[error("wildcard subscriptions: the broker announced they are not available")]
    WildcardSubscriptions,
    /// A shared (`$share/`) filter on a broker that announced they are not available.
    #[error("shared subscriptions: the broker announced they are not available")]
    SharedSubscriptions,
    /// A shared (`$share/`) filter while `ClientConfig::shared_subscriptions` is off.
    #[error("shared subscriptions: off in the configuration (shared_subscriptions)")]
    SharedSubscriptionsDisabled,
    /// MQTT 5 properties or subscription options on an MQTT 3.1.1 connection.
    #[error("MQTT 5 properties or subscription options on an MQTT 3.1.1 connection")]
    Mqtt5Request,
    /// A DISCONNECT reason code or properties on an MQTT 3.1.1 connection.
    #[error("a DISCONNECT reason code or properties on an MQTT 3.1.1 connection")]
    Mqtt5Disconnect,
}

/// Why a transport went away, as the adapter reports it to `handle_disconnected`: a kind the
/// core decides on, and the adapter's own error (an `io::Error`, which may wrap a
/// `rustls::Error`) as the source, so no layer needs a second copy.
#[derive(Debug, Clone)]
pub struct TransportError {
    kind: TransportErrorKind,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{}: {source}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

/// The source is the adapter's error itself (not the `Arc` that shares it), so walking the
/// chain finds the `io::Error` and, through it, a `rustls::Error`.
impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// What kind of transport failure a [`TransportError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The peer closed the stream (EOF).
    #[error("connection closed by peer")]
    Closed,
    /// Opening the transport failed (TCP connect, TLS handshake, DNS).
    #[error("could not open transport")]
    ConnectFailed,
    /// An I/O error on an open transport.
    #[error("transport error")]
    Io,
}

impl TransportError {
    /// A failure of this kind caused by `source`.
    pub fn new(
        kind: TransportErrorKind,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> TransportError {
        TransportError {
            kind,
            source: Some(Arc::from(source.into())),
        }
    }

    /// The peer closed the stream (EOF), no error behind it.
    pub fn closed() -> TransportError {
        TransportError {
            kind: TransportErrorKind::Closed,
            source: None,
        }
    }

    /// What kind of failure it is.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// The adapter's error, to downcast (`std::io::Error`, and through it `rustls::Error`).
    pub fn source_error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.source.as_deref()
    }
}

/// Equal when the kinds and the sources' messages are equal (the sources are not comparable).
impl PartialEq for TransportError {
    fn eq(&self, other: &TransportError) -> bool {
        self.kind == other.kind
            && self.source.as_ref().map(ToString::to_string)
                == other.source.as_ref().map(ToString::to_string)
    }
}

impl Eq for TransportError {}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use super::*;
    use crate::client::{LastError, LostReason, ReauthError, RequestError, SubscriptionEnd};

    /// Compiles only for a `std::error::Error` that may cross threads and live anywhere.
    fn is_error<E: Error + Send + Sync + 'static>() {}

    #[test]
    fn every_public_error_is_send_sync_static() {
        is_error::<ProtocolError>();
        is_error::<Malformed>();
        is_error::<ConnectError>();
        is_error::<ClientError>();
        is_error::<Unsupported>();
        is_error::<TransportError>();
        is_error::<TransportErrorKind>();
        is_error::<TopicError>();
        is_error::<crate::ConfigError>();
        is_error::<crate::EnvelopeError>();
        #[cfg(feature = "tls")]
        is_error::<crate::tls::TlsError>();
        is_error::<crate::codec::EncodeError>();
        is_error::<crate::TokenError>();
        is_error::<RequestError>();
        is_error::<SubscriptionEnd>();
        is_error::<LostReason>();
        is_error::<ReauthError>();
        is_error::<LastError>();
        is_error::<crate::state::IllegalTransition>();
    }

    /// Every error in the chain, outermost first, as `Display` shows it.
    fn chain(error: &(dyn Error + 'static)) -> Vec<String> {
        let mut messages = vec![error.to_string()];
        let mut source = error.source();
        while let Some(error) = source {
            messages.push(error.to_string());
            source = error.source();
        }
        messages
    }

    #[test]
    fn a_wrapped_error_is_the_source_and_named_in_the_message() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let error = LastError::ConnectFailed(ConnectError::Transport(TransportError::new(
            TransportErrorKind::ConnectFailed,
            io,
        )));
        let chain = chain(&error);
        assert_eq!(
            chain[0],
            "connection attempt failed: could not open transport: refused"
        );
        let mut source = error.source();
        let io = std::iter::from_fn(|| {
            let current = source?;
            source = current.source();
            Some(current)
        })
        .find_map(|e| e.downcast_ref::<std::io::Error>())
        .expect("the io::Error is in the source chain");
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);

        let malformed = ProtocolError::MalformedPacket(Malformed::PacketIdZero);
        assert_eq!(
            malformed.to_string(),
            "malformed packet: packet identifier 0 is not allowed"
        );
        let kind = malformed
            .source()
            .and_then(|e| e.downcast_ref::<Malformed>());
        assert_eq!(kind, Some(&Malformed::PacketIdZero));

        let refused = ClientError::Unsupported(Unsupported::Retain);
        let kind = refused
            .source()
            .and_then(|e| e.downcast_ref::<Unsupported>());
        assert_eq!(kind, Some(&Unsupported::Retain));
        assert_eq!(
            refused.to_string(),
            "not supported: retain: the broker announced it does not support it"
        );
    }
}
