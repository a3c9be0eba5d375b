//! The [`Client`] state machine: the one place where MQTT decisions are made.
//!
//! Methods come in four groups (quinn-proto's `Connection` is the model):
//! - getters: [`Client::state`], [`Client::stats`], [`Client::health`];
//! - inputs: [`Client::handle_connected`], [`Client::handle_bytes`],
//!   [`Client::handle_disconnected`], [`Client::handle_timeout`];
//! - commands: [`Client::connect`], [`Client::publish`], [`Client::subscribe`],
//!   [`Client::unsubscribe`], [`Client::disconnect`], each checked before anything is queued;
//! - outputs, each polled until `None` after any input or command:
//!   [`Client::poll_transmit`], [`Client::poll_action`], [`Client::poll_event`], and
//!   [`Client::poll_timeout`] (the next instant `handle_timeout` must be called).
//!
//! Time only comes in as `now`; the client never reads a clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::codec::Codec;
use crate::config::{ClientConfig, ConfigError, SessionLostPolicy};
use crate::error::{ClientError, ConnectError, ProtocolError, TransportError};
use crate::packet::{
    Ack, ConnAck, Connect, ConnectProperties, Disconnect, Packet, ProtocolVersion, Publish,
    PublishProperties, QoS, ReasonCode, SubAck, Subscribe, SubscribeFilter, SubscribeProperties,
    UnsubAck, Unsubscribe,
};
use crate::permissions::{Action as PermissionAction, Permissions};
use crate::reconnect::{Decision, ReconnectPolicy};
use crate::session::{InFlight, Request, Sent, Session, Stage};
use crate::state::{ConnectionState, Lifecycle};
use crate::stats::{Health, Stats};
use crate::topic::{TopicFilter, TopicName};

/// Identifies one command (publish, subscribe, unsubscribe); its completion event carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(u64);

impl Token {
    /// The raw number: unique per client, increasing.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// What the adapter must do with the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Open a transport (TCP, then TLS) now; report `handle_connected` or `handle_disconnected`.
    Connect,
    /// Write what `poll_transmit` handed out, then close the transport. Do not report its end.
    Close,
}

/// A message from the broker.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub topic: String,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
    /// The broker says it may have sent this before (QoS 1 redelivery).
    pub dup: bool,
    pub properties: PublishProperties,
}

/// Why an established connection ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LostReason {
    #[error(transparent)]
    Transport(TransportError),
    #[error("no PINGRESP within the keep-alive deadline")]
    KeepAliveTimeout,
    #[error(transparent)]
    Protocol(ProtocolError),
    #[error("broker sent DISCONNECT: {0}")]
    ServerDisconnect(ReasonCode),
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
    PacketTooLarge { size: usize, max: usize },
    /// The client disconnected or gave up before this completed.
    #[error("the client closed before this completed")]
    Closed,
}

/// Something the application should know. Drain with [`Client::poll_event`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// CONNACK accepted.
    Connected { session_present: bool },
    /// A connection attempt failed (refused, timed out, transport or protocol error).
    ConnectFailed(ConnectError),
    /// An established connection ended.
    ConnectionLost(LostReason),
    /// A message arrived (QoS 2: exactly once).
    Message(Message),
    /// The publish's QoS flow completed (QoS 0: written; 1: PUBACK; 2: PUBCOMP).
    Published { token: Token, pkid: u16 },
    /// SUBACK: one result per requested filter, in order.
    Subscribed {
        token: Token,
        results: Vec<Result<QoS, ReasonCode>>,
    },
    /// UNSUBACK: one result per filter, in order.
    Unsubscribed {
        token: Token,
        results: Vec<Result<(), ReasonCode>>,
    },
    /// A command will never complete successfully.
    RequestFailed { token: Token, error: RequestError },
    /// The next connection attempt starts after `delay`.
    Reconnecting { attempt: u32, delay: Duration },
    /// Too many consecutive failures: no attempt before `until`.
    CircuitOpen { until: Instant },
    /// The one probe attempt after the circuit was open is starting.
    CircuitHalfOpen,
    /// The reconnect policy gave up; the client is closed.
    GaveUp,
    /// The broker had lost the session; the client subscribed its subscriptions again.
    Resubscribed {
        results: Vec<(String, Result<QoS, ReasonCode>)>,
    },
    /// `disconnect()` finished: DISCONNECT sent (when connected), the client is closed.
    Disconnected,
}

/// A publish as the application hands it over.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishRequest {
    pub topic: String,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
    /// MQTT 5 only; must stay empty on 3.1.1.
    pub properties: PublishProperties,
}

impl PublishRequest {
    pub fn new(topic: impl Into<String>, payload: impl Into<Bytes>, qos: QoS) -> PublishRequest {
        PublishRequest {
            topic: topic.into(),
            payload: payload.into(),
            qos,
            retain: false,
            properties: PublishProperties::default(),
        }
    }

    pub fn retain(mut self, retain: bool) -> PublishRequest {
        self.retain = retain;
        self
    }

    pub fn properties(mut self, properties: PublishProperties) -> PublishRequest {
        self.properties = properties;
        self
    }
}

/// The sans-IO MQTT client. See the module documentation for the calling contract.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    client_id: String,
    codec: Codec,
    lifecycle: Lifecycle,
    reconnect: ReconnectPolicy,
    session: Session,
    permissions: Option<Permissions>,
    /// The application's subscriptions the broker granted, for re-subscribe after session loss.
    subscriptions: Vec<SubscribeFilter>,
    /// The token of the internal re-subscribe request, if one is in progress.
    resubscribe: Option<Token>,
    /// Bytes received that do not form a whole packet yet (at most one max-size packet).
    inbuf: BytesMut,
    /// Packets to send before any queued request: CONNECT, acks, PINGREQ, replays, DISCONNECT.
    control: VecDeque<Packet>,
    events: VecDeque<Event>,
    actions: VecDeque<Action>,
    next_token: u64,
    /// Whether a CONNACK was ever accepted (reconnects resume the session).
    connected_once: bool,
    /// Effective values for this connection (the broker may lower or override them).
    keep_alive: Duration,
    max_in_flight: usize,
    max_outgoing: usize,
    last_sent: Instant,
    ping_deadline: Option<Instant>,
    /// `disconnect()` was called: no new requests; close once drained or at this deadline.
    closing_deadline: Option<Instant>,
    stats: Stats,
    last_error: Option<String>,
}

impl Client {
    /// A client in state `Disconnected`. Call [`Client::connect`] to start.
    pub fn new(config: ClientConfig, now: Instant) -> Result<Client, ConfigError> {
        config.validate()?;
        let client_id = if config.client_id.is_empty() {
            let mut rng = fastrand::Rng::with_seed(config.seed);
            format!("jamey-{:016x}", rng.u64(..))
        } else {
            config.client_id.clone()
        };
        Ok(Client {
            codec: Codec::new(config.protocol, config.max_incoming_packet_size),
            lifecycle: Lifecycle::new(),
            reconnect: ReconnectPolicy::new(config.reconnect.clone(), config.seed),
            session: Session::new(config.max_queued),
            permissions: config.permissions.clone(),
            subscriptions: Vec::new(),
            resubscribe: None,
            inbuf: BytesMut::new(),
            control: VecDeque::new(),
            events: VecDeque::new(),
            actions: VecDeque::new(),
            next_token: 0,
            connected_once: false,
            keep_alive: config.keep_alive,
            max_in_flight: usize::from(config.max_inflight),
            max_outgoing: config.max_outgoing_packet_size,
            last_sent: now,
            ping_deadline: None,
            closing_deadline: None,
            stats: Stats::default(),
            last_error: None,
            client_id,
            config,
        })
    }

    // ---- getters -------------------------------------------------------------------------

    pub fn state(&self) -> ConnectionState {
        self.lifecycle.state()
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The client id sent in CONNECT (generated from the seed when the config left it empty).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn health(&self) -> Health {
        let state = self.state();
        Health {
            state,
            healthy: state == ConnectionState::Connected && self.ping_deadline.is_none(),
            in_flight: self.session.in_flight(),
            queued: self.session.queued(),
            last_error: self.last_error.clone(),
        }
    }

    // ---- inputs --------------------------------------------------------------------------

    /// The transport the client asked for with [`Action::Connect`] is open: CONNECT is queued.
    pub fn handle_connected(&mut self, _now: Instant) {
        if self.state() != ConnectionState::Opening {
            return;
        }
        // 3.1.1 clean session also means "do not keep the session after this connection", so it
        // is asked for on every connect; MQTT 5 separates the two, so reconnects resume.
        let clean_start = match self.config.protocol {
            ProtocolVersion::V311 => self.config.clean_start,
            ProtocolVersion::V5 => self.config.clean_start && !self.connected_once,
        };
        let properties = match self.config.protocol {
            ProtocolVersion::V311 => ConnectProperties::default(),
            ProtocolVersion::V5 => ConnectProperties {
                session_expiry_interval: Some(
                    self.config
                        .session_expiry_interval
                        .unwrap_or(if self.config.clean_start { 0 } else { u32::MAX }),
                ),
                receive_maximum: Some(self.config.receive_maximum),
                maximum_packet_size: u32::try_from(self.config.max_incoming_packet_size).ok(),
                ..ConnectProperties::default()
            },
        };
        let connect = Connect {
            client_id: self.client_id.clone(),
            clean_start,
            keep_alive: u16::try_from(self.config.keep_alive.as_secs()).unwrap_or(u16::MAX),
            username: self.config.username.clone(),
            password: self.config.password.clone(),
            will: self.config.will.clone(),
            properties,
        };
        self.control.push_back(Packet::Connect(connect));
        self.lifecycle.connecting();
    }

    /// Bytes from the transport. Complete packets are handled at once; a partial packet waits
    /// for the rest. A malformed or oversized packet ends the connection with a protocol error.
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) {
        if !matches!(
            self.state(),
            ConnectionState::Connecting | ConnectionState::Connected
        ) {
            return;
        }
        self.stats.bytes_received += bytes.len() as u64;
        self.inbuf.extend_from_slice(bytes);
        while self.state().has_transport() {
            match self.codec.decode(&mut self.inbuf) {
                Ok(Some(packet)) => {
                    if let Err(error) = self.handle_packet(now, packet) {
                        self.protocol_error(now, error);
                    }
                }
                Ok(None) => break,
                Err(error) => self.protocol_error(now, error),
            }
        }
    }

    /// The transport ended (EOF or error), or could not be opened. Not called after
    /// [`Action::Close`].
    pub fn handle_disconnected(&mut self, now: Instant, error: TransportError) {
        match self.state() {
            ConnectionState::Opening | ConnectionState::Connecting => {
                self.attempt_failed(now, ConnectError::Transport(error), false, None);
            }
            ConnectionState::Connected => {
                self.connection_lost(now, LostReason::Transport(error), None);
            }
            _ => {}
        }
    }

    /// Timers: connect timeout, keep-alive, reconnect, close deadline. Safe to call early or
    /// more than once: only deadlines that have passed do anything.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(deadline) = self.closing_deadline {
            if now >= deadline {
                self.finish_close();
                return;
            }
        }
        match self.state() {
            ConnectionState::Opening | ConnectionState::Connecting => {
                if self.lifecycle.connect_deadline().is_some_and(|d| now >= d) {
                    self.attempt_failed(now, ConnectError::Timeout, true, None);
                }
            }
            ConnectionState::Connected => self.keep_alive_timeout(now),
            ConnectionState::Waiting => {
                if self.lifecycle.retry_at().is_some_and(|at| now >= at) {
                    self.start_attempt(now);
                }
            }
            ConnectionState::Disconnected | ConnectionState::Closed => {}
        }
    }

    // ---- commands ------------------------------------------------------------------------

    /// Start connecting (from `Disconnected`); does nothing in any other state.
    pub fn connect(&mut self, now: Instant) {
        if self.state() == ConnectionState::Disconnected {
            // After "reconnect disabled" stopped the policy, an explicit connect starts afresh.
            if self.reconnect.is_stopped() {
                self.reconnect.reset();
            }
            self.start_attempt(now);
        }
    }

    /// Queue a publish. Checked first (topic, permissions, size, queue bound): on error nothing
    /// is queued. Completion: [`Event::Published`] or [`Event::RequestFailed`] with the token.
    pub fn publish(
        &mut self,
        _now: Instant,
        request: PublishRequest,
    ) -> Result<Token, ClientError> {
        self.check_open()?;
        let topic = TopicName::new(request.topic)?;
        if let Some(permissions) = &self.permissions {
            if !permissions.allows_publish(&topic) {
                return Err(self.denied(PermissionAction::Publish, topic.as_str()));
            }
        }
        self.check_properties_allowed(request.properties != PublishProperties::default())?;
        let packet = Packet::Publish(Publish {
            dup: false,
            qos: request.qos,
            retain: request.retain,
            topic: topic.into_string(),
            pkid: if request.qos == QoS::AtMostOnce { 0 } else { 1 },
            payload: request.payload,
            properties: request.properties,
        });
        self.admit(packet)
    }

    /// Queue a SUBSCRIBE for one or more filters. Completion: [`Event::Subscribed`] with one
    /// result per filter.
    pub fn subscribe(
        &mut self,
        _now: Instant,
        filters: Vec<SubscribeFilter>,
    ) -> Result<Token, ClientError> {
        self.check_open()?;
        if filters.is_empty() {
            return Err(ClientError::NoFilters);
        }
        for filter in &filters {
            let valid = TopicFilter::new(filter.filter.as_str())?;
            if let Some(permissions) = &self.permissions {
                if !permissions.allows_subscribe(&valid) {
                    return Err(self.denied(PermissionAction::Subscribe, &filter.filter));
                }
            }
            let default_options = SubscribeFilter::new(filter.filter.as_str(), filter.qos);
            self.check_properties_allowed(
                filter.no_local != default_options.no_local
                    || filter.retain_as_published != default_options.retain_as_published
                    || filter.retain_handling != default_options.retain_handling,
            )?;
        }
        self.admit(Packet::Subscribe(Subscribe {
            pkid: 1,
            filters,
            properties: SubscribeProperties::default(),
        }))
    }

    /// Queue an UNSUBSCRIBE. Completion: [`Event::Unsubscribed`].
    pub fn unsubscribe(
        &mut self,
        _now: Instant,
        filters: Vec<String>,
    ) -> Result<Token, ClientError> {
        self.check_open()?;
        if filters.is_empty() {
            return Err(ClientError::NoFilters);
        }
        for filter in &filters {
            TopicFilter::new(filter.as_str())?;
        }
        self.admit(Packet::Unsubscribe(Unsubscribe {
            pkid: 1,
            filters,
            user_properties: Vec::new(),
        }))
    }

    /// Graceful shutdown. When connected, requests already accepted get until the connect
    /// timeout to complete, then DISCONNECT is sent and the transport closed. Whatever has not
    /// completed by then fails with [`RequestError::Closed`]. Ends with [`Event::Disconnected`].
    pub fn disconnect(&mut self, now: Instant) {
        if self.state() == ConnectionState::Closed || self.closing_deadline.is_some() {
            return;
        }
        if self.state() == ConnectionState::Connected {
            self.closing_deadline = Some(now + self.config.reconnect.connect_timeout);
            self.close_if_drained();
        } else {
            self.finish_close();
        }
    }

    // ---- outputs -------------------------------------------------------------------------

    /// Appends every packet ready to go to `out` (many packets, one write). Returns the number
    /// of bytes appended, or `None` when there is nothing to send.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut BytesMut) -> Option<usize> {
        let start = out.len();
        while let Some(packet) = self.control.pop_front() {
            if let Err(error) = self.codec.encode(&packet, out) {
                // Every control packet is built by this client; failing to encode one is a bug.
                debug_assert!(false, "cannot encode {}: {error}", packet.name());
            }
        }
        if self.state() == ConnectionState::Connected {
            self.send_queued(out);
        }
        let written = out.len() - start;
        if written == 0 {
            return None;
        }
        self.last_sent = now;
        self.stats.bytes_sent += written as u64;
        Some(written)
    }

    /// What to do with the transport, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next instant [`Client::handle_timeout`] must be called, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let state_deadline = match self.state() {
            ConnectionState::Opening | ConnectionState::Connecting => {
                self.lifecycle.connect_deadline()
            }
            ConnectionState::Connected if !self.keep_alive.is_zero() => Some(
                self.ping_deadline
                    .unwrap_or(self.last_sent + self.keep_alive),
            ),
            ConnectionState::Waiting => self.lifecycle.retry_at(),
            _ => None,
        };
        match (state_deadline, self.closing_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ---- internals: admission ------------------------------------------------------------

    fn check_open(&self) -> Result<(), ClientError> {
        if self.state() == ConnectionState::Closed || self.closing_deadline.is_some() {
            return Err(ClientError::Closed);
        }
        Ok(())
    }

    fn check_properties_allowed(&self, uses_v5_features: bool) -> Result<(), ClientError> {
        if uses_v5_features && self.config.protocol == ProtocolVersion::V311 {
            return Err(ClientError::Unsupported(
                "MQTT 5 properties or subscription options on an MQTT 3.1.1 connection",
            ));
        }
        Ok(())
    }

    fn denied(&mut self, action: PermissionAction, topic: &str) -> ClientError {
        self.stats.permission_denied += 1;
        ClientError::PermissionDenied {
            action,
            topic: topic.to_owned(),
        }
    }

    /// Size and queue-bound checks, then queue it.
    fn admit(&mut self, packet: Packet) -> Result<Token, ClientError> {
        let size = self.codec.encoded_len(&packet);
        if size > self.max_outgoing {
            return Err(ClientError::PacketTooLarge {
                size,
                max: self.max_outgoing,
            });
        }
        if self.session.queue_is_full() {
            self.stats.queue_full += 1;
            return Err(ClientError::QueueFull {
                capacity: self.session.max_queued(),
            });
        }
        let token = self.new_token();
        self.session.enqueue(Request { token, packet });
        Ok(token)
    }

    fn new_token(&mut self) -> Token {
        self.next_token += 1;
        Token(self.next_token)
    }

    /// Moves queued requests into flight while the in-flight bound allows, encoding each.
    fn send_queued(&mut self, out: &mut BytesMut) {
        loop {
            let (token, result) = match self.session.next_to_send(self.max_in_flight) {
                None => return,
                Some(Sent::InFlight(entry)) => {
                    let size = self.codec.encoded_len(&entry.packet);
                    if size > self.max_outgoing {
                        (entry.token, Err(size))
                    } else {
                        let encoded = self.codec.encode(&entry.packet, out);
                        debug_assert!(encoded.is_ok(), "admitted request failed to encode");
                        (entry.token, Ok(()))
                    }
                }
                Some(Sent::AtMostOnce(request)) => {
                    let size = self.codec.encoded_len(&request.packet);
                    if size > self.max_outgoing {
                        (request.token, Err(size))
                    } else {
                        let encoded = self.codec.encode(&request.packet, out);
                        debug_assert!(encoded.is_ok(), "admitted request failed to encode");
                        self.stats.publishes_completed += 1;
                        self.events.push_back(Event::Published {
                            token: request.token,
                            pkid: 0,
                        });
                        continue;
                    }
                }
            };
            if let Err(size) = result {
                // The broker's maximum packet size (CONNACK) is below what we admitted.
                self.session.abandon(token);
                self.fail(
                    token,
                    RequestError::PacketTooLarge {
                        size,
                        max: self.max_outgoing,
                    },
                );
            }
        }
    }

    fn fail(&mut self, token: Token, error: RequestError) {
        self.stats.requests_failed += 1;
        self.events.push_back(Event::RequestFailed { token, error });
    }

    // ---- internals: incoming packets -----------------------------------------------------

    fn handle_packet(&mut self, now: Instant, packet: Packet) -> Result<(), ProtocolError> {
        if !self.state().allows_incoming(&packet) {
            return Err(ProtocolError::UnexpectedPacket {
                packet: packet.name(),
                state: self.state().name(),
            });
        }
        match packet {
            Packet::ConnAck(connack) => self.handle_connack(now, connack),
            Packet::Publish(publish) => return self.handle_publish(publish),
            Packet::PubAck(ack) => self.handle_puback(ack),
            Packet::PubRec(ack) => self.handle_pubrec(ack),
            Packet::PubRel(ack) => {
                self.session.incoming_release(ack.pkid);
                self.control
                    .push_back(Packet::PubComp(Ack::success(ack.pkid)));
            }
            Packet::PubComp(ack) => match self.session.pubcomp(ack.pkid) {
                Some(entry) => self.complete_publish(entry.token, ack.pkid),
                None => self.stats.unexpected_acks += 1,
            },
            Packet::SubAck(suback) => return self.handle_suback(suback),
            Packet::UnsubAck(unsuback) => return self.handle_unsuback(unsuback),
            Packet::PingResp => self.ping_deadline = None,
            Packet::Disconnect(disconnect) => {
                let reason = LostReason::ServerDisconnect(disconnect.reason);
                match self.state() {
                    ConnectionState::Connecting => self.attempt_failed(
                        now,
                        ConnectError::Refused(disconnect.reason),
                        true,
                        None,
                    ),
                    _ => self.connection_lost(now, reason, None),
                }
            }
            // `allows_incoming` refuses everything else.
            _ => {}
        }
        Ok(())
    }

    fn handle_connack(&mut self, now: Instant, connack: ConnAck) {
        if !connack.code.is_success() {
            self.attempt_failed(now, ConnectError::Refused(connack.code), true, None);
            return;
        }
        let props = &connack.properties;
        self.max_in_flight = usize::from(
            props
                .receive_maximum
                .unwrap_or(u16::MAX)
                .min(self.config.max_inflight),
        );
        self.max_outgoing = props
            .maximum_packet_size
            .map_or(usize::MAX, |max| max as usize)
            .min(self.config.max_outgoing_packet_size);
        self.keep_alive = props
            .server_keep_alive
            .map_or(self.config.keep_alive, |secs| {
                Duration::from_secs(secs.into())
            });
        if let Some(id) = &props.assigned_client_identifier {
            self.client_id.clone_from(id);
        }
        self.lifecycle.connected();
        self.reconnect.on_success();
        self.stats.connections += 1;
        self.ping_deadline = None;

        if connack.session_present {
            for packet in self.session.packets_to_resume() {
                self.control.push_back(packet.clone());
                self.stats.packets_replayed += 1;
            }
        } else {
            self.session_lost();
        }
        self.connected_once = true;
        self.events.push_back(Event::Connected {
            session_present: connack.session_present,
        });
    }

    /// The broker has no session: apply the session-lost policy to what was in flight, and
    /// subscribe the application's subscriptions again.
    fn session_lost(&mut self) {
        let mut requeue = Vec::new();
        for InFlight {
            token,
            pkid,
            stage,
            packet,
        } in self.session.reset_for_new_session()
        {
            match (stage, &packet) {
                // PUBREC came back: the broker took ownership of the message.
                (Stage::AwaitingComplete, _) => self.complete_publish(token, pkid),
                (_, Packet::Publish(_))
                    if self.config.session_lost_policy == SessionLostPolicy::FailInFlight =>
                {
                    self.fail(token, RequestError::SessionLost)
                }
                _ => requeue.push(Request { token, packet }),
            }
        }
        if self.connected_once && !self.subscriptions.is_empty() {
            let token = self.new_token();
            self.resubscribe = Some(token);
            requeue.insert(
                0,
                Request {
                    token,
                    packet: Packet::Subscribe(Subscribe {
                        pkid: 1,
                        filters: self.subscriptions.clone(),
                        properties: SubscribeProperties::default(),
                    }),
                },
            );
        }
        self.session.requeue_front(requeue);
    }

    fn handle_publish(&mut self, publish: Publish) -> Result<(), ProtocolError> {
        if let Some(alias) = publish.properties.topic_alias {
            // We announce a topic alias maximum of 0: the broker may not use aliases.
            return Err(ProtocolError::InvalidTopicAlias(alias));
        }
        let pkid = publish.pkid;
        let deliver = match publish.qos {
            QoS::AtMostOnce => true,
            QoS::AtLeastOnce => {
                self.control.push_back(Packet::PubAck(Ack::success(pkid)));
                true
            }
            QoS::ExactlyOnce => {
                let limit = match self.config.protocol {
                    ProtocolVersion::V5 => usize::from(self.config.receive_maximum),
                    ProtocolVersion::V311 => usize::from(u16::MAX),
                };
                let first_time = self.session.incoming_qos2(pkid, limit).ok_or(
                    ProtocolError::ReceiveMaximumExceeded(self.config.receive_maximum),
                )?;
                self.control.push_back(Packet::PubRec(Ack::success(pkid)));
                first_time
            }
        };
        if deliver {
            self.stats.messages_received += 1;
            self.events.push_back(Event::Message(Message {
                topic: publish.topic,
                payload: publish.payload,
                qos: publish.qos,
                retain: publish.retain,
                dup: publish.dup,
                properties: publish.properties,
            }));
        } else {
            self.stats.duplicates_suppressed += 1;
        }
        Ok(())
    }

    fn handle_puback(&mut self, ack: Ack) {
        match self.session.puback(ack.pkid) {
            Some(entry) if ack.reason.is_success() => self.complete_publish(entry.token, ack.pkid),
            Some(entry) => self.fail(entry.token, RequestError::Refused(ack.reason)),
            None => self.stats.unexpected_acks += 1,
        }
        self.close_if_drained();
    }

    fn handle_pubrec(&mut self, ack: Ack) {
        match self.session.pubrec(ack.pkid, !ack.reason.is_success()) {
            Some(Ok(_)) => self
                .control
                .push_back(Packet::PubRel(Ack::success(ack.pkid))),
            Some(Err(entry)) => {
                self.fail(entry.token, RequestError::Refused(ack.reason));
                self.close_if_drained();
            }
            None if self.session.release_pending(ack.pkid) => {
                self.control
                    .push_back(Packet::PubRel(Ack::success(ack.pkid)));
            }
            None => {
                self.stats.unexpected_acks += 1;
                // The spec asks for a PUBREL anyway, so the broker can end its flow.
                let mut release = Ack::success(ack.pkid);
                if self.config.protocol == ProtocolVersion::V5 {
                    release.reason = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
                }
                self.control.push_back(Packet::PubRel(release));
            }
        }
    }

    fn complete_publish(&mut self, token: Token, pkid: u16) {
        self.stats.publishes_completed += 1;
        self.events.push_back(Event::Published { token, pkid });
        self.close_if_drained();
    }

    fn handle_suback(&mut self, suback: SubAck) -> Result<(), ProtocolError> {
        let Some(entry) = self.session.suback(suback.pkid) else {
            self.stats.unexpected_acks += 1;
            return Ok(());
        };
        let Packet::Subscribe(subscribe) = entry.packet else {
            return Ok(());
        };
        if suback.reasons.len() != subscribe.filters.len() {
            return Err(ProtocolError::MalformedPacket(format!(
                "SUBACK has {} reason codes for {} filters",
                suback.reasons.len(),
                subscribe.filters.len()
            )));
        }
        let mut results = Vec::with_capacity(subscribe.filters.len());
        for (filter, reason) in subscribe.filters.into_iter().zip(suback.reasons) {
            let result = match QoS::from_u8(reason.0) {
                Some(granted) if reason.is_success() => Ok(granted),
                _ => Err(reason),
            };
            if result.is_ok() {
                self.remember_subscription(filter.clone());
            }
            results.push((filter.filter, result));
        }
        if self.resubscribe == Some(entry.token) {
            self.resubscribe = None;
            self.events.push_back(Event::Resubscribed { results });
        } else {
            self.events.push_back(Event::Subscribed {
                token: entry.token,
                results: results.into_iter().map(|(_, r)| r).collect(),
            });
        }
        self.close_if_drained();
        Ok(())
    }

    fn remember_subscription(&mut self, filter: SubscribeFilter) {
        match self
            .subscriptions
            .iter_mut()
            .find(|known| known.filter == filter.filter)
        {
            Some(known) => *known = filter,
            None => self.subscriptions.push(filter),
        }
    }

    fn handle_unsuback(&mut self, unsuback: UnsubAck) -> Result<(), ProtocolError> {
        let Some(entry) = self.session.unsuback(unsuback.pkid) else {
            self.stats.unexpected_acks += 1;
            return Ok(());
        };
        let Packet::Unsubscribe(unsubscribe) = entry.packet else {
            return Ok(());
        };
        // MQTT 3.1.1 UNSUBACK carries no reason codes: every filter succeeded.
        let reasons = if unsuback.reasons.is_empty() {
            vec![ReasonCode::SUCCESS; unsubscribe.filters.len()]
        } else if unsuback.reasons.len() == unsubscribe.filters.len() {
            unsuback.reasons
        } else {
            return Err(ProtocolError::MalformedPacket(format!(
                "UNSUBACK has {} reason codes for {} filters",
                unsuback.reasons.len(),
                unsubscribe.filters.len()
            )));
        };
        let mut results = Vec::with_capacity(reasons.len());
        for (filter, reason) in unsubscribe.filters.iter().zip(reasons) {
            if reason.is_success() {
                self.subscriptions.retain(|known| &known.filter != filter);
                results.push(Ok(()));
            } else {
                results.push(Err(reason));
            }
        }
        self.events.push_back(Event::Unsubscribed {
            token: entry.token,
            results,
        });
        self.close_if_drained();
        Ok(())
    }

    // ---- internals: lifecycle ------------------------------------------------------------

    fn start_attempt(&mut self, now: Instant) {
        let Some(attempt) = self.reconnect.start_attempt(now) else {
            return;
        };
        if attempt.half_open {
            self.events.push_back(Event::CircuitHalfOpen);
        }
        self.stats.connect_attempts += 1;
        self.control.clear();
        self.inbuf.clear();
        self.ping_deadline = None;
        self.lifecycle
            .open(now + self.config.reconnect.connect_timeout);
        self.actions.push_back(Action::Connect);
    }

    fn keep_alive_timeout(&mut self, now: Instant) {
        if self.keep_alive.is_zero() {
            return;
        }
        match self.ping_deadline {
            Some(deadline) if now >= deadline => {
                self.connection_lost(now, LostReason::KeepAliveTimeout, None);
            }
            Some(_) => {}
            None if now >= self.last_sent + self.keep_alive => {
                self.control.push_back(Packet::PingReq);
                self.ping_deadline = Some(now + self.config.effective_ping_timeout());
                self.stats.pings_sent += 1;
            }
            None => {}
        }
    }

    fn protocol_error(&mut self, now: Instant, error: ProtocolError) {
        self.stats.protocol_errors += 1;
        let farewell = match self.config.protocol {
            ProtocolVersion::V5 => Some(Disconnect {
                reason: disconnect_reason(&error),
                ..Disconnect::normal()
            }),
            ProtocolVersion::V311 => None,
        };
        match self.state() {
            ConnectionState::Connecting => {
                self.attempt_failed(now, ConnectError::Protocol(error), true, farewell)
            }
            _ => self.connection_lost(now, LostReason::Protocol(error), farewell),
        }
    }

    /// A connection attempt failed. `close`: the transport is still open and must be closed.
    fn attempt_failed(
        &mut self,
        now: Instant,
        error: ConnectError,
        close: bool,
        farewell: Option<Disconnect>,
    ) {
        self.last_error = Some(error.to_string());
        self.events.push_back(Event::ConnectFailed(error));
        self.end_transport(close, farewell);
        self.after_failure(now);
    }

    /// An established connection ended. `farewell`: a DISCONNECT to send before closing (the
    /// transport is then still open and is closed).
    fn connection_lost(&mut self, now: Instant, reason: LostReason, farewell: Option<Disconnect>) {
        let close = !matches!(reason, LostReason::Transport(_));
        self.last_error = Some(reason.to_string());
        self.stats.connections_lost += 1;
        self.events.push_back(Event::ConnectionLost(reason));
        self.end_transport(close, farewell);
        self.after_failure(now);
    }

    fn end_transport(&mut self, close: bool, farewell: Option<Disconnect>) {
        self.lifecycle.disconnected();
        self.control.clear();
        self.inbuf.clear();
        self.ping_deadline = None;
        if close {
            if let Some(farewell) = farewell {
                self.control.push_back(Packet::Disconnect(farewell));
            }
            self.actions.push_back(Action::Close);
        }
    }

    /// After a failed attempt or a lost connection: ask the reconnect policy what next.
    fn after_failure(&mut self, now: Instant) {
        if self.closing_deadline.is_some() {
            self.finish_close();
            return;
        }
        match self.reconnect.on_failure(now) {
            Decision::Retry { at, attempt, delay } => {
                self.lifecycle.wait_until(at);
                self.events
                    .push_back(Event::Reconnecting { attempt, delay });
            }
            Decision::OpenCircuit { until } => {
                self.lifecycle.wait_until(until);
                self.events.push_back(Event::CircuitOpen { until });
            }
            Decision::GiveUp => {
                self.events.push_back(Event::GaveUp);
                self.close_all();
            }
            Decision::Disabled => self.lifecycle.disconnected(),
        }
    }

    fn close_if_drained(&mut self) {
        if self.closing_deadline.is_some()
            && self.session.in_flight() == 0
            && self.session.queued() == 0
        {
            self.finish_close();
        }
    }

    /// Sends DISCONNECT if connected, closes the transport, fails what is left.
    fn finish_close(&mut self) {
        self.closing_deadline = None;
        if self.state() == ConnectionState::Connected {
            self.control
                .push_back(Packet::Disconnect(Disconnect::normal()));
        }
        if self.state().has_transport() {
            self.actions.push_back(Action::Close);
        }
        self.close_all();
        self.events.push_back(Event::Disconnected);
    }

    fn close_all(&mut self) {
        for token in self.session.drain_all() {
            self.fail(token, RequestError::Closed);
        }
        self.resubscribe = None;
        self.lifecycle.close();
    }
}

/// The MQTT 5 DISCONNECT reason for a protocol error we detected.
fn disconnect_reason(error: &ProtocolError) -> ReasonCode {
    match error {
        ProtocolError::PacketTooLarge { .. } => ReasonCode::PACKET_TOO_LARGE,
        ProtocolError::ReceiveMaximumExceeded(_) => ReasonCode::RECEIVE_MAXIMUM_EXCEEDED,
        ProtocolError::InvalidTopicAlias(_) => ReasonCode::TOPIC_ALIAS_INVALID,
        ProtocolError::MalformedPacket(_)
        | ProtocolError::UnknownPacketType(_)
        | ProtocolError::InvalidTopic(_) => ReasonCode::MALFORMED_PACKET,
        _ => ReasonCode::PROTOCOL_ERROR,
    }
}
