//! The values the client hands out: tokens, transport actions, events, messages, and the
//! request type the application hands in.

use std::time::{Duration, Instant, SystemTime};

use crate::shared_str::SharedStr;
use bytes::Bytes;

use crate::credentials::TokenError;
use crate::endpoints::{Endpoint, RedirectRefused};
use crate::error::{ConnectError, ProtocolError, TransportError};
use crate::packet::{MessageProperties, PublishProperties, QoS, ReasonCode, UserProperties};
use crate::session::Token;

/// Identifies one subscription: filter `index` of the SUBSCRIBE request `request`. An incoming
/// message carries the ids of the subscriptions it matched ([`Event::Message`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId {
    request: Token,
    index: u32,
}

/// The subscriptions one message goes to ([`Event::Message`]): inline up to two (the common
/// case is one), so routing a message allocates nothing.
pub type SubscriptionIds = smallvec::SmallVec<[SubscriptionId; 2]>;

impl SubscriptionId {
    /// The subscription made by filter `index` (0-based) of the request `request`.
    pub fn new(request: Token, index: usize) -> SubscriptionId {
        SubscriptionId {
            request,
            index: u32::try_from(index).unwrap_or(u32::MAX),
        }
    }

    /// The SUBSCRIBE request that made it.
    pub fn request(self) -> Token {
        self.request
    }

    /// Its filter's position in that request.
    pub fn index(self) -> usize {
        self.index as usize
    }
}

/// Why a subscription ended ([`Event::SubscriptionEnded`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscriptionEnd {
    /// The application unsubscribed its filter (UNSUBACK): the normal end.
    #[error("unsubscribed")]
    Unsubscribed,
    /// The broker refused it (SUBACK failure code).
    #[error("refused by the broker: {0}")]
    Refused(ReasonCode),
    /// The broker lost the session and refused the client's re-subscription of this filter:
    /// nothing more will arrive for it.
    #[error("re-subscription after a session loss refused by the broker: {0}")]
    ResubscribeRefused(ReasonCode),
    /// Its SUBSCRIBE (the application's, or the re-subscription after a session loss) failed.
    #[error(transparent)]
    Failed(RequestError),
}

/// The next thing the adapter must do, from [`Client::poll_output`](super::Client::poll_output).
/// Not boxed: an output is moved once, out of the queue to the caller; a box would cost an
/// allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// This many bytes were appended to the buffer: write them to the transport, in order,
    /// reporting progress with `handle_written`.
    Transmit(usize),
    /// Open or close the transport.
    Action(Action),
    /// Something for the application.
    Event(Event),
    /// Nothing more until an input: call `handle_timeout` at this instant (`None`: no timer).
    Timeout(Option<Instant>),
}

/// What the adapter must do with the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a transport (TCP, then TLS) to this endpoint now (the core chose it from the
    /// broker list, or a redirect); report `handle_connected` or `handle_disconnected`.
    Connect(Endpoint),
    /// Token auth (`ClientConfig::token_auth`): get a token from the token source and hand it
    /// over with `handle_token` (or the source's error). Asked once until answered; the
    /// CONNECT of an attempt waits for it, within the connect timeout.
    FetchToken,
    /// Write what `poll_output` handed out, flush, then close the transport (TLS
    /// close_notify), and report how it ended: `handle_closed` when done, `handle_disconnected`
    /// if it failed. Only the final close (state `Closing`) waits for that; after any other
    /// close the client has moved on and ignores the report.
    Close,
}

/// A message from the broker.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The topic it was published to (resolved from a topic alias if the broker used one).
    /// Reads as a `&str`; shares the memory it was read into, as the payload does.
    pub topic: SharedStr,
    /// The payload, shared with the buffer it was read from (no copy).
    pub payload: Bytes,
    /// The QoS it was delivered with (at most the subscription's).
    pub qos: QoS,
    /// A retained message the broker sent on subscribing (or retain as published).
    pub retain: bool,
    /// The broker says it may have sent this before (QoS 1 redelivery).
    pub dup: bool,
    /// MQTT 5: as the broker sent them (content type, payload format indicator, message
    /// expiry interval, response topic, correlation data, user properties in order,
    /// subscription identifiers). Always empty on 3.1.1. Reads as a [`PublishProperties`]
    /// (`message.properties.content_type`); kept out of line, see [`MessageProperties`].
    pub properties: MessageProperties,
    /// Under `ClientConfig::manual_ack`, the handle to acknowledge this QoS 1/2 message with
    /// `Client::ack` once it was processed; `None` for QoS 0 and in automatic mode. Every
    /// subscription's copy carries the same handle: acking one acks the message.
    pub ack: Option<super::AckId>,
}

/// Why an established connection ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LostReason {
    /// The transport failed or the peer closed it.
    #[error(transparent)]
    Transport(TransportError),
    /// No PINGRESP came back within the keep-alive deadline: the broker is presumed dead.
    #[error("no PINGRESP within the keep-alive deadline")]
    KeepAliveTimeout,
    /// The broker sent something the protocol does not allow.
    #[error(transparent)]
    Protocol(ProtocolError),
    /// The broker sent DISCONNECT (MQTT 5 carries a reason and properties; on 3.1.1 the broker
    /// closes without one, which is a transport close). `server_reference` names another
    /// server to use (with 0x9C "use another server" or 0x9D "server moved").
    #[error("broker sent DISCONNECT: {reason}{}", .reason_string.as_ref().map(|s| format!(" ({s})")).unwrap_or_default())]
    ServerDisconnect {
        /// The DISCONNECT reason code.
        reason: ReasonCode,
        /// The broker's human-readable reason, if it sent one.
        reason_string: Option<String>,
        /// Another server to use, if the broker named one.
        server_reference: Option<String>,
        /// The DISCONNECT's user properties, in order.
        user_properties: UserProperties,
    },
    /// A re-authentication was aborted by the application (`auth_abort`) or not finished
    /// within the connect timeout: the client closed the connection with DISCONNECT 0x87.
    #[error(transparent)]
    Reauthentication(super::ReauthError),
}

/// Why a command's token completed without success.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The broker refused it (MQTT 5 reason code on PUBACK/PUBREC).
    #[error("refused by broker: {0}")]
    Refused(ReasonCode),
    /// The broker lost the session and the policy is `FailInFlight`.
    #[error("the broker lost the session while this was in flight")]
    SessionLost,
    /// The packet exceeds the broker's maximum packet size (learnt after it was queued).
    #[error("packet of {size} bytes exceeds the broker's maximum of {max}")]
    PacketTooLarge {
        /// The encoded packet's size.
        size: usize,
        /// The broker's maximum packet size.
        max: usize,
    },
    /// The client disconnected or gave up before this completed.
    #[error("the client closed before this completed")]
    Closed,
    /// A QoS 0 publish whose bytes had not reached the transport when the connection ended,
    /// with no room left in the queue to send it on the next one.
    #[error("the connection ended before this QoS 0 publish was written")]
    NotWritten,
    /// The connection ended and the client does not reconnect (reconnect disabled).
    #[error("the connection ended and reconnect is disabled")]
    NotConnected,
    /// The broker ended `connections` connections in a row with an error while this request
    /// was the oldest it had not acknowledged: it is not sent again.
    #[error("the broker ended {connections} connections in a row over this request: {reason}")]
    Poison {
        /// The reason code of the last DISCONNECT.
        reason: ReasonCode,
        /// How many connections in a row ended over it.
        connections: u32,
    },
    /// A publish with an MQTT 5 message expiry interval that passed while it waited in the
    /// client's queue (for in-flight room, the buffer bound or a reconnect): it was not sent.
    #[error("the message expiry interval passed before this publish could be sent")]
    Expired,
    /// The permissions of a token that arrived after the request was queued (the first token,
    /// or a refreshed one) do not allow it: it was not sent.
    #[error("permission denied: {action} on {topic:?}")]
    PermissionDenied {
        /// What was asked (publish or subscribe).
        action: crate::permissions::Action,
        /// The topic or filter refused.
        topic: String,
    },
    /// A CONNACK that came after the request was queued (the first one, or one after a
    /// reconnect or a failover to another broker) announced limits it is beyond (maximum QoS,
    /// retain, wildcard or shared subscriptions): it was not sent. The same reasons admission
    /// refuses a request with ([`ClientError::Unsupported`](crate::ClientError::Unsupported)).
    #[error("beyond the broker's limits: {0}")]
    Unsupported(crate::error::Unsupported),
    /// The request could not be encoded when it was due to be sent (admission makes this
    /// unreachable; it is reported rather than lost if it ever happens).
    #[error("cannot encode: {0}")]
    Unencodable(#[source] crate::codec::EncodeError),
}

/// Something the application should know. Drained with [`Client::poll_output`](super::Client::poll_output).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// CONNACK accepted: whether the session resumed, and everything the CONNACK said.
    Connected {
        /// The broker resumed the session (CONNACK session present).
        session_present: bool,
        /// Everything the CONNACK said (limits, assigned client id, ...).
        info: Box<super::ConnectionInfo>,
    },
    /// A connection attempt failed (refused, timed out, transport or protocol error).
    ConnectFailed(ConnectError),
    /// An established connection ended.
    ConnectionLost(LostReason),
    /// Follows every [`Event::ConnectFailed`] and [`Event::ConnectionLost`]: the endpoint it
    /// happened on and its counts (also in `Client::endpoint_stats`). The next attempt goes to
    /// the next endpoint of the list (or where a redirect says).
    EndpointFailed {
        /// Where it happened.
        endpoint: Endpoint,
        /// Failures on this endpoint since the client was created.
        failures: u64,
        /// Failures on it in a row.
        consecutive_failures: u32,
    },
    /// MQTT 5: the broker said "use another server" (0x9C, `permanent: false`) or "server
    /// moved" (0x9D, `permanent: true`); the next attempt goes to `to`.
    Redirected {
        /// The endpoint that redirected.
        from: Endpoint,
        /// Where the next attempt goes.
        to: Endpoint,
        /// 0x9D "server moved" (`true`) or 0x9C "use another server" (`false`).
        permanent: bool,
    },
    /// MQTT 5: a redirect the configuration does not allow (`Brokers::redirects`) or whose
    /// Server Reference is not an address: the next endpoint of the list is tried instead.
    RedirectRefused {
        /// The endpoint that redirected.
        from: Endpoint,
        /// The Server Reference as the broker sent it.
        reference: String,
        /// Why it is not followed.
        refused: RedirectRefused,
    },
    /// A message arrived (QoS 2: exactly once), for the subscriptions it matched (never
    /// empty: a message that matches none waits in the unmatched buffer for a later one).
    Message {
        /// The message.
        message: Message,
        /// The subscriptions it matched.
        subscriptions: SubscriptionIds,
    },
    /// A subscription ended: no message will carry its id again.
    SubscriptionEnded {
        /// The subscription.
        id: SubscriptionId,
        /// Why it ended.
        end: SubscriptionEnd,
    },
    /// The publish's QoS flow completed (QoS 0: its bytes were taken by the transport,
    /// `handle_written`; 1: PUBACK; 2: PUBCOMP).
    Published {
        /// The token `publish` returned.
        token: Token,
        /// The packet identifier it used (0 for QoS 0).
        pkid: u16,
    },
    /// SUBACK: one result per requested filter, in order.
    Subscribed {
        /// The token `subscribe` returned.
        token: Token,
        /// The granted QoS, or the refusal code, per filter.
        results: Vec<Result<QoS, ReasonCode>>,
    },
    /// UNSUBACK: one result per filter, in order.
    Unsubscribed {
        /// The token `unsubscribe` returned.
        token: Token,
        /// Success, or the refusal code, per filter.
        results: Vec<Result<(), ReasonCode>>,
    },
    /// A command will never complete successfully.
    RequestFailed {
        /// The token the command returned.
        token: Token,
        /// Why it failed.
        error: RequestError,
    },
    /// The next connection attempt starts after `delay`.
    Reconnecting {
        /// The attempt number (1 for the first retry).
        attempt: u32,
        /// The wait before it (backoff with jitter).
        delay: Duration,
    },
    /// Too many consecutive failures: no attempt before `until`.
    CircuitOpen {
        /// When the next (probe) attempt may start.
        until: Instant,
    },
    /// The one probe attempt after the circuit was open is starting.
    CircuitHalfOpen,
    /// The reconnect policy gave up; the client is closed.
    GaveUp,
    /// The broker had lost the session; the client subscribed its subscriptions again (the
    /// refused ones also end with [`Event::SubscriptionEnded`]). One per SUBSCRIBE sent again:
    /// one for the subscriptions without an identifier, one per subscription identifier.
    Resubscribed {
        /// Each filter with its granted QoS or refusal code.
        results: Vec<(String, Result<QoS, ReasonCode>)>,
    },
    /// A fresh token arrived for the connection in force; it replaces the old one by MQTT 5
    /// re-authentication (`reauthenticating`) or by a graceful reconnect (nothing in flight is
    /// lost either way).
    TokenRefreshed {
        /// The new token's expiry, when it has one.
        expires_at: Option<SystemTime>,
        /// `true`: by MQTT 5 re-authentication on the live connection; `false`: by a reconnect.
        reauthenticating: bool,
    },
    /// The token source failed during a refresh; asked again shortly, the connection is kept
    /// until the old token expires.
    TokenRefreshFailed(TokenError),
    /// MQTT 5 enhanced authentication: the broker asks for the next round (AUTH 0x18).
    /// Answer with `Client::auth_respond` or `Client::auth_abort`; during a connect the
    /// connect timeout bounds the whole exchange.
    AuthChallenge(super::AuthChallenge),
    /// The broker accepted a re-authentication (AUTH 0x00), with its final data if any.
    Reauthenticated {
        /// The broker's final authentication data, if any.
        data: Option<Bytes>,
    },
    /// A re-authentication ended without success.
    ReauthenticationFailed(super::ReauthError),
    /// `disconnect()` finished: every accepted request completed or failed, DISCONNECT was
    /// written and the transport closed (when connected); the client is closed.
    Disconnected,
}

impl Message {
    /// The response to this request (MQTT 5 request/response): a publish to its response
    /// topic carrying its correlation data; `None` when it names no response topic.
    pub fn response(&self, payload: impl Into<Bytes>, qos: QoS) -> Option<PublishRequest> {
        let topic = self.properties.response_topic.clone()?;
        Some(
            PublishRequest::new(topic, payload, qos).properties(PublishProperties {
                correlation_data: self.properties.correlation_data.clone(),
                ..PublishProperties::default()
            }),
        )
    }
}

/// A publish as the application hands it over.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishRequest {
    /// The topic to publish to (validated at admission).
    pub topic: String,
    /// The payload.
    pub payload: Bytes,
    /// The QoS of the publish flow.
    pub qos: QoS,
    /// Ask the broker to retain it for future subscribers.
    pub retain: bool,
    /// MQTT 5 only; must stay empty on 3.1.1 (refused at admission otherwise). Sent as given,
    /// except `message_expiry_interval`: a publish that waited in the client's queue carries
    /// it reduced by the whole seconds it waited, and one whose interval passed while it
    /// waited is not sent at all ([`RequestError::Expired`]).
    pub properties: PublishProperties,
}

impl PublishRequest {
    /// A publish of `payload` to `topic` with `qos`, not retained, without properties.
    pub fn new(topic: impl Into<String>, payload: impl Into<Bytes>, qos: QoS) -> PublishRequest {
        PublishRequest {
            topic: topic.into(),
            payload: payload.into(),
            qos,
            retain: false,
            properties: PublishProperties::default(),
        }
    }

    /// Sets the retain flag.
    pub fn retain(mut self, retain: bool) -> PublishRequest {
        self.retain = retain;
        self
    }

    /// Sets the MQTT 5 properties.
    pub fn properties(mut self, properties: PublishProperties) -> PublishRequest {
        self.properties = properties;
        self
    }
}
