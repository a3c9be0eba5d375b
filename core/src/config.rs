//! `ClientConfig`: everything the state machine needs to know up front, with defaults and
//! `validate()`, which names the offending field and says why.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use crate::credentials::TokenAuth;
use crate::endpoints::Brokers;
use crate::packet::{ProtocolVersion, QoS, UserProperties, Will, WillProperties};
use crate::permissions::Permissions;
use crate::reconnect::ReconnectConfig;

pub mod env;

/// A configuration value is out of range or inconsistent.
///
/// The reason never contains a secret (password, JWT secret, token or key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid config `{field}`: {reason}")]
pub struct ConfigError {
    /// The field, as named in the config struct (`keep_alive`, `reconnect.max_delay`), or the
    /// environment variable (`MQTT_KEEP_ALIVE`) when the config was read with
    /// [`ClientConfig::from_env_with`]. Owned only when a variable prefix had to be added.
    pub field: Cow<'static, str>,
    /// Why the value is refused, and what is expected.
    pub reason: String,
}

impl ConfigError {
    /// `field` is usually a `&'static str`; a `String` works too (an environment variable name
    /// with its prefix).
    pub fn new(field: impl Into<Cow<'static, str>>, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// What happens to in-flight and queued publishes when the broker reports no session
/// (CONNACK with session present = false) after a reconnect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionLostPolicy {
    /// Resend every unacknowledged publish as a new message (DUP=0), in the original order.
    /// A QoS 2 publish whose PUBREC had arrived is complete (the broker took ownership of it).
    /// Nothing the application handed over is dropped (a QoS 1 message may arrive twice, as
    /// QoS 1 allows). The default.
    #[default]
    ResendAsNew,
    /// Fail every unacknowledged publish with [`Event::PublishFailed`](crate::Event) and
    /// `SessionLost`, so the application decides. Queued (never sent) publishes are still sent.
    FailInFlight,
}

/// The state machine's configuration.
///
/// `Debug` shows whether a password is set, never the password (the JWT source redacts its own
/// secrets).
#[derive(Clone)]
pub struct ClientConfig {
    /// The brokers to connect to, the order they are tried in and which MQTT 5 redirects are
    /// followed (see [`crate::endpoints`]). Default: `localhost:1883`.
    pub brokers: Brokers,
    /// The MQTT version spoken (default: 3.1.1). Options that exist only in MQTT 5 are refused
    /// by [`ClientConfig::validate`] on 3.1.1, each error naming its field.
    pub protocol: ProtocolVersion,
    /// Empty: one is generated from `seed` ("jamey-" and 16 hex digits), or, with
    /// `broker_assigns_client_id`, the broker assigns one.
    pub client_id: String,
    /// MQTT 5: with an empty `client_id`, CONNECT carries an empty id and the broker assigns
    /// one (CONNACK); the client keeps it for its reconnects, so the session resumes. Needs an
    /// empty `client_id` and MQTT 5. Default `false`.
    pub broker_assigns_client_id: bool,
    /// MQTT 5: the highest topic alias the broker may use in what it sends us (announced in
    /// CONNECT; 0: none). Default 0.
    pub topic_alias_maximum: u16,
    /// MQTT 5: give outgoing publishes topic aliases automatically, within the broker's topic
    /// alias maximum, least recently used replaced first, fresh on every connection (saves the
    /// topic's bytes on every repeat). Default `false`.
    pub auto_topic_alias: bool,
    /// MQTT 5: ask the broker for response information in CONNECT (the broker's answer is in
    /// `ConnectionInfo::response_information`; `Client::request` uses it as the prefix of its
    /// response topics). Default `false`.
    pub request_response_information: bool,
    /// Clean session (3.1.1) / clean start (5.0) on the *first* connect. Reconnects always ask to
    /// resume the session, so in-flight messages can be replayed.
    pub clean_start: bool,
    /// MQTT 5 session expiry interval (seconds) requested in CONNECT. `None`: 0 (ends with the
    /// connection) when `clean_start`, else "never expires" (u32::MAX).
    pub session_expiry_interval: Option<u32>,
    /// Keep-alive interval; a PINGREQ goes out when nothing was sent for this long. Whole seconds,
    /// at most 65535 s; zero disables keep-alive.
    pub keep_alive: Duration,
    /// How long to wait for PINGRESP before declaring the connection lost. Default: half the
    /// keep-alive, so a dead broker is noticed within 1.5 x keep-alive.
    pub ping_timeout: Option<Duration>,
    /// The CONNECT user name.
    pub username: Option<String>,
    /// The CONNECT password (never shown by `Debug`).
    pub password: Option<Bytes>,
    /// The last will, published by the broker if the connection ends abnormally.
    pub will: Option<Will>,
    /// MQTT 5 user properties sent in every CONNECT. Must stay empty on MQTT 3.1.1.
    pub connect_user_properties: UserProperties,
    /// Outgoing requests (QoS 1/2 publishes, subscribes, unsubscribes) in flight at once; also
    /// capped by the broker's receive maximum (MQTT 5). The default, 20, matches Mosquitto's
    /// default `max_inflight_messages`: on MQTT 3.1.1 a broker cannot say "too many" and
    /// Mosquitto silently drops QoS 2 publishes beyond its limit.
    pub max_inflight: u16,
    /// Requests (publish, subscribe, unsubscribe) waiting to be sent. Beyond it: `QueueFull`.
    pub max_queued: usize,
    /// Largest packet accepted from the broker, whole packet. Larger: protocol error.
    pub max_incoming_packet_size: usize,
    /// Largest packet we send (also capped by the broker's maximum packet size on MQTT 5).
    pub max_outgoing_packet_size: usize,
    /// Bytes handed out by `poll_output` that the transport has not yet taken
    /// (`handle_written`). At the bound no request is encoded; requests wait in the queue (then
    /// `QueueFull`). A single request larger than the bound is sent alone when nothing is
    /// buffered, so requests never fill the buffer beyond `max(max_buffered_bytes, one
    /// packet)`. What the client owes the broker goes out whatever the bound: on a resumed
    /// session the requests in flight are resent at once, before any queued request (at most
    /// `max_inflight` packets), and the acks, PUBRELs, PINGREQ and DISCONNECT (a few bytes
    /// each; at most one ack per message the broker has in flight to us and one PUBREL per
    /// request in flight). So the buffer never holds more than `max(max_buffered_bytes, one
    /// packet, the resent requests)` plus those small packets (asserted on every seed of the
    /// whole-client simulation). Default 64 KiB.
    pub max_buffered_bytes: usize,
    /// A request still outstanding when the broker ends the connection with an error reason
    /// (DISCONNECT >= 0x80) this many connections in a row is failed with
    /// `RequestError::Poison` (carrying the reason) instead of being resent forever. Each time
    /// the oldest request the broker had not acknowledged is the one suspected. Default 3.
    pub poison_threshold: u32,
    /// Messages that match no subscription when they arrive (a resumed session delivers before
    /// the application subscribed again), kept for the first subscription made later that
    /// matches them. Beyond it the oldest is dropped and counted
    /// (`Stats::messages_unmatched_dropped`); 0 keeps none. Default 1024.
    pub unmatched_capacity: usize,
    /// Incoming QoS 1/2 publishes the broker may have in flight to us (MQTT 5 receive maximum).
    pub receive_maximum: u16,
    /// The application acknowledges each received QoS 1/2 message itself
    /// (`Client::ack` with `Message::ack`) once it has processed it: the PUBACK / PUBREC is held
    /// until then, so a crash before processing leaves the message with the broker (it is
    /// resent on a resumed session). Held messages count against `receive_maximum`. Works on
    /// 3.1.1 and 5. Default `false`: acknowledged on receipt.
    pub manual_ack: bool,
    /// What happens to requests in flight when the broker lost the session.
    pub session_lost_policy: SessionLostPolicy,
    /// When and how often to reconnect (backoff, jitter, circuit breaker).
    pub reconnect: ReconnectConfig,
    /// Token (JWT) authentication: the client asks for a token with `Action::FetchToken`
    /// before connecting and before the one in use expires, sends it as the CONNECT password
    /// (MQTT 5: as authentication data under the method `JWT`, refreshed in place by
    /// re-authentication), and puts the permissions it grants in force. `password` must be
    /// unset; `username` is used when the token brings none. Default `None`.
    pub token_auth: Option<TokenAuth>,
    /// MQTT 5 enhanced authentication: CONNECT carries this method (and initial data); the
    /// broker's challenges come out as `Event::AuthChallenge`, answered with
    /// `Client::auth_respond`. MQTT 5 only. Default `None`.
    pub authentication: Option<crate::client::EnhancedAuth>,
    /// Client-side topic permissions, checked before anything is queued. `None`: no check.
    pub permissions: Option<Permissions>,
    /// Whether shared subscriptions (`$share/{group}/{filter}`) may be sent. An MQTT 5 broker
    /// says in its CONNACK whether it supports them, and the client refuses them locally when
    /// it does not; an MQTT 3.1.1 broker cannot say, and one without support takes the filter
    /// literally (RabbitMQ 3.10: nothing is shared, nothing arrives). Set `false` for such a
    /// broker: every shared subscription is then refused locally
    /// (`ClientError::Unsupported`). Default `true`.
    pub shared_subscriptions: bool,
    /// Seeds jitter and the generated client id. Same seed, same behaviour.
    pub seed: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            brokers: Brokers::default(),
            protocol: ProtocolVersion::V311,
            client_id: String::new(),
            broker_assigns_client_id: false,
            topic_alias_maximum: 0,
            auto_topic_alias: false,
            request_response_information: false,
            clean_start: true,
            session_expiry_interval: None,
            keep_alive: Duration::from_secs(30),
            ping_timeout: None,
            username: None,
            password: None,
            will: None,
            connect_user_properties: Vec::new(),
            max_inflight: 20,
            max_queued: 1000,
            max_incoming_packet_size: 256 * 1024,
            max_outgoing_packet_size: 256 * 1024,
            max_buffered_bytes: 64 * 1024,
            poison_threshold: 3,
            unmatched_capacity: 1024,
            receive_maximum: 100,
            manual_ack: false,
            session_lost_policy: SessionLostPolicy::ResendAsNew,
            reconnect: ReconnectConfig::default(),
            token_auth: None,
            authentication: None,
            permissions: None,
            shared_subscriptions: true,
            seed: 0,
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured so a new field cannot be forgotten here.
        let ClientConfig {
            brokers,
            protocol,
            client_id,
            broker_assigns_client_id,
            topic_alias_maximum,
            auto_topic_alias,
            request_response_information,
            clean_start,
            session_expiry_interval,
            keep_alive,
            ping_timeout,
            username,
            password,
            will,
            connect_user_properties,
            max_inflight,
            max_queued,
            max_incoming_packet_size,
            max_outgoing_packet_size,
            max_buffered_bytes,
            poison_threshold,
            unmatched_capacity,
            receive_maximum,
            manual_ack,
            session_lost_policy,
            reconnect,
            token_auth,
            authentication,
            permissions,
            shared_subscriptions,
            seed,
        } = self;
        f.debug_struct("ClientConfig")
            .field("brokers", brokers)
            .field("protocol", protocol)
            .field("client_id", client_id)
            .field("broker_assigns_client_id", broker_assigns_client_id)
            .field("topic_alias_maximum", topic_alias_maximum)
            .field("auto_topic_alias", auto_topic_alias)
            .field("request_response_information", request_response_information)
            .field("clean_start", clean_start)
            .field("session_expiry_interval", session_expiry_interval)
            .field("keep_alive", keep_alive)
            .field("ping_timeout", ping_timeout)
            .field("username", username)
            .field("password", &password.as_ref().map(|_| "[redacted]"))
            .field("will", will)
            .field("connect_user_properties", connect_user_properties)
            .field("max_inflight", max_inflight)
            .field("max_queued", max_queued)
            .field("max_incoming_packet_size", max_incoming_packet_size)
            .field("max_outgoing_packet_size", max_outgoing_packet_size)
            .field("max_buffered_bytes", max_buffered_bytes)
            .field("poison_threshold", poison_threshold)
            .field("unmatched_capacity", unmatched_capacity)
            .field("receive_maximum", receive_maximum)
            .field("manual_ack", manual_ack)
            .field("session_lost_policy", session_lost_policy)
            .field("reconnect", reconnect)
            .field("token_auth", token_auth)
            .field(
                "authentication",
                &authentication
                    .as_ref()
                    .map(|a| (&a.method, a.initial_data.as_ref().map(|_| "[redacted]"))),
            )
            .field("permissions", permissions)
            .field("shared_subscriptions", shared_subscriptions)
            .field("seed", seed)
            .finish()
    }
}

impl ClientConfig {
    /// Checks every field; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.brokers.validate()?;
        if self.client_id.len() > 65535 {
            return Err(ConfigError::new("client_id", "longer than 65535 bytes"));
        }
        if self.client_id.contains('\0') {
            return Err(ConfigError::new("client_id", "contains U+0000"));
        }
        if self.protocol != ProtocolVersion::V5 {
            if self.topic_alias_maximum != 0 {
                return Err(ConfigError::new("topic_alias_maximum", "MQTT 5 only"));
            }
            if self.auto_topic_alias {
                return Err(ConfigError::new("auto_topic_alias", "MQTT 5 only"));
            }
            if self.authentication.is_some() {
                return Err(ConfigError::new("authentication", "MQTT 5 only"));
            }
            if self.session_expiry_interval.is_some() {
                return Err(ConfigError::new("session_expiry_interval", "MQTT 5 only"));
            }
            if self
                .will
                .as_ref()
                .is_some_and(|will| will.properties != WillProperties::default())
            {
                return Err(ConfigError::new("will.properties", "MQTT 5 only"));
            }
            if self.request_response_information {
                return Err(ConfigError::new(
                    "request_response_information",
                    "MQTT 5 only",
                ));
            }
        }
        if self.broker_assigns_client_id {
            if self.protocol != ProtocolVersion::V5 {
                return Err(ConfigError::new(
                    "broker_assigns_client_id",
                    "MQTT 5 only (a 3.1.1 broker tells the client no assigned id)",
                ));
            }
            if !self.client_id.is_empty() {
                return Err(ConfigError::new(
                    "broker_assigns_client_id",
                    "needs an empty client_id",
                ));
            }
        }
        if self.keep_alive.as_secs() > u64::from(u16::MAX) {
            return Err(ConfigError::new("keep_alive", "more than 65535 seconds"));
        }
        if self.keep_alive.subsec_nanos() != 0 {
            return Err(ConfigError::new("keep_alive", "must be whole seconds"));
        }
        if let Some(timeout) = self.ping_timeout {
            if timeout.is_zero() {
                return Err(ConfigError::new(
                    "ping_timeout",
                    "must be greater than zero",
                ));
            }
        }
        if self.max_inflight == 0 {
            return Err(ConfigError::new("max_inflight", "must be at least 1"));
        }
        if self.max_queued == 0 {
            return Err(ConfigError::new("max_queued", "must be at least 1"));
        }
        if self.max_buffered_bytes == 0 {
            return Err(ConfigError::new("max_buffered_bytes", "must be at least 1"));
        }
        if self.poison_threshold == 0 {
            return Err(ConfigError::new("poison_threshold", "must be at least 1"));
        }
        if self.receive_maximum == 0 {
            return Err(ConfigError::new("receive_maximum", "must be at least 1"));
        }
        for (field, size) in [
            ("max_incoming_packet_size", self.max_incoming_packet_size),
            ("max_outgoing_packet_size", self.max_outgoing_packet_size),
        ] {
            if !(16..=MAX_PACKET_SIZE).contains(&size) {
                return Err(ConfigError::new(
                    field,
                    format!("must be between 16 and {MAX_PACKET_SIZE} bytes"),
                ));
            }
        }
        if let Some(will) = &self.will {
            crate::topic::TopicName::new(will.topic.as_str())
                .map_err(|e| ConfigError::new("will.topic", e.to_string()))?;
            if will.qos > QoS::ExactlyOnce {
                return Err(ConfigError::new("will.qos", "must be 0, 1 or 2"));
            }
        }
        if self.password.is_some()
            && self.username.is_none()
            && self.protocol == ProtocolVersion::V311
        {
            return Err(ConfigError::new(
                "password",
                "MQTT 3.1.1 does not allow a password without a username",
            ));
        }
        if !self.connect_user_properties.is_empty() && self.protocol == ProtocolVersion::V311 {
            return Err(ConfigError::new(
                "connect_user_properties",
                "user properties are MQTT 5 only",
            ));
        }
        if self
            .authentication
            .as_ref()
            .is_some_and(|a| a.method.is_empty())
        {
            return Err(ConfigError::new(
                "authentication.method",
                "must not be empty",
            ));
        }
        self.check_connect_encodable()?;
        self.reconnect.validate()?;
        if let Some(problem) = self.token_auth.as_ref().and_then(TokenAuth::problem) {
            return Err(ConfigError::new("token_auth.refresh_margin", problem));
        }
        if self.token_auth.is_some() && self.password.is_some() {
            return Err(ConfigError::new(
                "password",
                "set together with token auth, which sends the token as the password",
            ));
        }
        Ok(())
    }

    /// The CONNECT this configuration produces must be encodable: the same check admission
    /// uses (`Codec::encoded_len`), so a username, password or will too long for a field is
    /// refused here, not discovered when connecting. A JWT password is checked when minted.
    fn check_connect_encodable(&self) -> Result<(), ConfigError> {
        use crate::codec::{Codec, EncodeError};
        use crate::packet::{Connect, ConnectProperties, Packet};
        let connect = Packet::Connect(Box::new(Connect {
            client_id: self.client_id.clone(),
            clean_start: self.clean_start,
            keep_alive: 0,
            username: self.username.clone(),
            password: self.password.clone(),
            will: self.will.clone(),
            properties: ConnectProperties {
                user_properties: self.connect_user_properties.clone(),
                authentication_method: self.authentication.as_ref().map(|a| a.method.clone()),
                authentication_data: self
                    .authentication
                    .as_ref()
                    .and_then(|a| a.initial_data.clone()),
                ..ConnectProperties::default()
            },
        }));
        let codec = Codec::new(self.protocol, self.max_incoming_packet_size);
        match codec.encoded_len(&connect) {
            Ok(size) if size > self.max_outgoing_packet_size => Err(ConfigError::new(
                "max_outgoing_packet_size",
                format!("the CONNECT packet is {size} bytes, more than this maximum"),
            )),
            Ok(_) => Ok(()),
            Err(EncodeError::FieldTooLong { field, len }) => Err(ConfigError::new(
                match field {
                    "user name" => "username",
                    "will topic" => "will.topic",
                    "will payload" => "will.payload",
                    "client id" => "client_id",
                    other => other,
                },
                format!("{len} bytes, more than the 65535 an MQTT field can carry"),
            )),
            Err(other) => Err(ConfigError::new("will", other.to_string())),
        }
    }

    /// The PINGRESP deadline after a PINGREQ.
    pub fn effective_ping_timeout(&self) -> Duration {
        self.ping_timeout
            .unwrap_or(self.keep_alive / 2)
            .max(Duration::from_millis(1))
    }
}

/// The largest packet MQTT can express: 268,435,455 bytes of remaining length plus a 5-byte
/// fixed header.
pub const MAX_PACKET_SIZE: usize = 268_435_455 + 5;
