//! The core's error types, split the three ways DESIGN.md asks for:
//! - [`ProtocolError`]: the peer misbehaved; the connection ends, the core stays usable;
//! - [`ClientError`]: the caller misused the API or hit a bound; nothing was queued;
//! - connection loss is not an error value but an [`Event`](crate::Event).
//!
//! Configuration problems are [`ConfigError`](crate::ConfigError), JWT problems
//! [`AuthError`](crate::auth::AuthError), topic problems [`TopicError`].

use std::sync::Arc;

use crate::packet::ReasonCode;
use crate::topic::TopicError;

/// The peer sent something the specification does not allow. Ends the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The bytes do not form a valid packet (bad length, bad UTF-8, bad flags, ...).
    #[error("malformed packet: {0}")]
    MalformedPacket(String),
    /// The fixed header names a packet type that does not exist (0 or 15 on 3.1.1).
    #[error("unknown packet type {0}")]
    UnknownPacketType(u8),
    /// A packet larger than the configured maximum.
    #[error("packet of {size} bytes exceeds the maximum of {max}")]
    PacketTooLarge { size: usize, max: usize },
    /// A valid packet that is not allowed in the current state (e.g. PUBLISH before CONNACK).
    #[error("unexpected {packet} while {state}")]
    UnexpectedPacket {
        packet: &'static str,
        state: &'static str,
    },
    /// An ack for a packet id that is not in flight, or a duplicate id on a new request.
    #[error("{packet} for unknown packet id {pkid}")]
    UnknownPacketId { packet: &'static str, pkid: u16 },
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
        expected: String,
        got: Option<String>,
    },
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
    Unencodable(crate::codec::EncodeError),
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
    QueueFull { capacity: usize },
    /// The topic or filter is not valid MQTT.
    #[error(transparent)]
    InvalidTopic(#[from] TopicError),
    /// The permissions (from the JWT or config) do not allow this.
    #[error("permission denied: {action} on {topic:?}")]
    PermissionDenied {
        action: crate::permissions::Action,
        topic: String,
    },
    /// The payload or packet would exceed the maximum packet size.
    #[error("packet of {size} bytes exceeds the maximum of {max}")]
    PacketTooLarge { size: usize, max: usize },
    /// A feature the configured protocol version does not have (e.g. MQTT 5 properties on 3.1.1).
    #[error("not supported: {0}")]
    Unsupported(&'static str),
    /// A subscribe or unsubscribe with no filters.
    #[error("at least one topic filter is required")]
    NoFilters,
    /// The request cannot be encoded as an MQTT packet (a field over 65,535 bytes, a value
    /// the protocol version cannot carry); the error names the field.
    #[error("cannot send this request: {0}")]
    Unencodable(crate::codec::EncodeError),
    /// A topic alias that is 0 or above the maximum the broker announced in CONNACK (0 before
    /// any CONNACK, and on brokers that announce none).
    #[error("topic alias {alias} is not allowed: the broker accepts 1..={max}")]
    InvalidTopicAlias { alias: u16, max: u16 },
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
    SessionExpiryWasZero { requested: u32 },
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

/// Why a transport went away, as the adapter reports it to `handle_disconnected`: a kind the
/// core decides on, and the adapter's own error (an `io::Error`, which may wrap a
/// `rustls::Error`) as the source, so no layer needs a second copy.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind}{}", .source.as_ref().map(|s| format!(": {s}")).unwrap_or_default())]
pub struct TransportError {
    kind: TransportErrorKind,
    #[source]
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
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
