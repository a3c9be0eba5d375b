//! The [`Client`] state machine: the one place where MQTT decisions are made.
//!
//! Methods come in four groups (quinn-proto's `Connection` is the model):
//! - getters: [`Client::state`], [`Client::stats`], [`Client::health`];
//! - inputs: [`Client::handle_connected`], [`Client::handle_bytes`],
//!   [`Client::handle_written`], [`Client::handle_closed`], [`Client::handle_disconnected`],
//!   [`Client::handle_timeout`];
//! - commands: [`Client::connect`], [`Client::publish`], [`Client::subscribe`] (and
//!   [`Client::subscribe_with_properties`]: MQTT 5 user properties and a subscription
//!   identifier), [`Client::unsubscribe`] (and [`Client::unsubscribe_with_properties`]),
//!   [`Client::disconnect`] (or [`Client::disconnect_with`] a reason code and properties), each
//!   checked before anything is queued;
//! - one output call, [`Client::poll_output`], called after any input or command until it
//!   returns [`Output::Timeout`] (str0m's model): bytes to write, a transport action, an event,
//!   and last the instant `handle_timeout` must be called.
//!
//! Time only comes in as `now`; the client never reads a clock.
//!
//! Flow (`flow.rs`): bytes handed out count as buffered until the adapter reports them taken
//! by the transport with `handle_written`. At `ClientConfig::max_buffered_bytes` no request is
//! encoded (they wait in the bounded queue), and a QoS 0 publish completes only when its last
//! byte was taken, so "published" never means "sitting in a buffer".
//!
//! Where the rest lives: the commands (`commands.rs`), admission checks (`admission.rs`), the
//! send path (`transmit.rs`), packets from the broker (`incoming.rs`), attempts, losses and
//! closing (`lifecycle.rs`, over the transition function in `state.rs`; the endpoint of each
//! attempt, redirects and per-endpoint counts in `crate::endpoints`), the values handed out
//! (`events.rs`), CONNACK information (`connection.rs`), topic aliases (`aliases.rs`), the
//! DISCONNECT the application asks for (`farewell.rs`), MQTT 5 enhanced authentication
//! (`auth_exchange.rs`: [`Client::auth_respond`], [`Client::auth_abort`],
//! [`Client::reauthenticate`]), the acks held for the application under
//! `ClientConfig::manual_ack` (`acks.rs`, released by [`Client::ack`]).
//!
//! Routing (`routing.rs`): the one subscription table. Each incoming message carries the ids of
//! the subscriptions it matched (by MQTT 5 subscription identifier when it carries any, else by
//! topic); one that matches none waits, bounded, for a later one.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use bytes::BytesMut;

use crate::codec::Codec;
use crate::config::{ClientConfig, ConfigError};
use crate::credentials::{AuthToken, Credentials, ForConnect, TokenError};
use crate::endpoints::{EndpointStats, RedirectKind, Rotation};
use crate::error::{ClientError, ConnectError, TransportError};
use crate::packet::{Connect, ConnectProperties, Disconnect, Packet, ProtocolVersion};
use crate::permissions::Permissions;
use crate::reconnect::ReconnectPolicy;
use crate::session::Session;
pub use crate::session::Token;
use crate::state::{ConnectionState, Input, Lifecycle};
use crate::stats::Stats;

mod acks;
mod admission;
mod aliases;
mod auth_exchange;
mod commands;
mod connection;
mod events;
mod farewell;
mod flow;
mod health;
mod incoming;
mod lifecycle;
mod routing;
mod transmit;

pub use acks::AckId;
pub use auth_exchange::{AuthChallenge, EnhancedAuth, ReauthError};
pub use connection::{BrokerLimits, ConnectionInfo};
pub use events::{
    Action, Event, LostReason, Message, Output, PublishRequest, RequestError, SubscriptionEnd,
    SubscriptionId, SubscriptionIds,
};
pub use farewell::DisconnectOptions;
use flow::Flow;
pub use health::{Health, LastError};
use lifecycle::earliest;
use routing::Routing;

/// The largest MQTT 5 subscription identifier (a variable byte integer); 0 is not allowed.
pub const MAX_SUBSCRIPTION_IDENTIFIER: usize = 268_435_455;

/// The sans-IO MQTT client. See the module documentation for the calling contract.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    client_id: String,
    codec: Codec,
    lifecycle: Lifecycle,
    reconnect: ReconnectPolicy,
    /// The broker list: the endpoint of each attempt, redirects, per-endpoint counts.
    rotation: Rotation,
    /// A redirect (MQTT 5 0x9C / 0x9D with a Server Reference) that came with the failure
    /// being handled: followed, or refused, when that failure is counted.
    pending_redirect: Option<(RedirectKind, String)>,
    session: Session,
    permissions: Option<Permissions>,
    credentials: Credentials,
    /// The transport of the attempt in progress is open, and CONNECT waits for a token.
    connect_held: bool,
    /// The broker refused the authentication method `JWT` (CONNACK 0x8C): the token goes as
    /// the password from then on, and refreshes reconnect.
    jwt_method_refused: bool,
    /// The application's subscriptions: routing, unmatched messages, re-subscribing.
    routing: Routing,
    /// Manual acknowledgement: the PUBACK / PUBREC held for the application.
    held_acks: acks::HeldAcks,
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
    /// What the broker allows (MQTT 5 CONNACK; everything on 3.1.1).
    limits: BrokerLimits,
    /// The connection in force, as its CONNACK described it.
    connection: Option<ConnectionInfo>,
    /// MQTT 5 topic aliases of the connection in force, both directions.
    incoming_aliases: aliases::Incoming,
    outgoing_aliases: aliases::Outgoing,
    last_sent: Instant,
    ping_deadline: Option<Instant>,
    /// When the PINGREQ awaiting its PINGRESP was queued, and the last measured round trip.
    ping_sent_at: Option<Instant>,
    ping_rtt: Option<Duration>,
    /// When the connection in force counts as stable (`ReconnectConfig::stable_after`).
    stable_at: Option<Instant>,
    flow: Flow,
    stats: Stats,
    last_error: Option<LastError>,
    /// The final DISCONNECT (normal unless `disconnect_with` chose a reason or properties).
    farewell: Disconnect,
    /// MQTT 5 enhanced authentication on the connection in force (`auth_exchange.rs`).
    auth_exchange: auth_exchange::Exchange,
}

impl Client {
    /// A client in state `Disconnected`. Call [`Client::connect`] to start.
    pub fn new(config: ClientConfig, now: Instant) -> Result<Client, ConfigError> {
        config.validate()?;
        let client_id = if config.client_id.is_empty() && !config.broker_assigns_client_id {
            let mut rng = fastrand::Rng::with_seed(config.seed);
            format!("jamey-{:016x}", rng.u64(..))
        } else {
            config.client_id.clone()
        };
        Ok(Client {
            codec: Codec::new(config.protocol, config.max_incoming_packet_size),
            lifecycle: Lifecycle::new(),
            reconnect: ReconnectPolicy::new(config.reconnect.clone(), config.seed),
            rotation: Rotation::new(&config.brokers, config.seed),
            pending_redirect: None,
            session: Session::new(config.max_queued),
            permissions: config.permissions.clone(),
            credentials: Credentials::new(config.token_auth.clone()),
            connect_held: false,
            jwt_method_refused: false,
            routing: Routing::new(config.unmatched_capacity),
            held_acks: acks::HeldAcks::default(),
            inbuf: BytesMut::new(),
            control: VecDeque::new(),
            events: VecDeque::new(),
            actions: VecDeque::new(),
            next_token: 0,
            connected_once: false,
            keep_alive: config.keep_alive,
            max_in_flight: usize::from(config.max_inflight),
            max_outgoing: config.max_outgoing_packet_size,
            limits: BrokerLimits::default(),
            connection: None,
            incoming_aliases: Default::default(),
            outgoing_aliases: Default::default(),
            last_sent: now,
            ping_deadline: None,
            ping_sent_at: None,
            ping_rtt: None,
            stable_at: None,
            flow: Flow::default(),
            stats: Stats::default(),
            last_error: None,
            farewell: Disconnect::normal(),
            auth_exchange: Default::default(),
            client_id,
            config,
        })
    }

    // ---- getters -------------------------------------------------------------------------

    /// Where the connection is (its lifecycle state).
    pub fn state(&self) -> ConnectionState {
        self.lifecycle.state()
    }

    /// The counters since the client was created.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The client id sent in CONNECT (generated from the seed when the config left it empty).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The connection in force, as its CONNACK described it (`None` while not connected).
    pub fn connection(&self) -> Option<&ConnectionInfo> {
        self.connection.as_ref()
    }

    /// Counts per endpoint (attempts, connections, failures): the configured list in its
    /// order, then the servers redirects led to.
    pub fn endpoint_stats(&self) -> &[EndpointStats] {
        self.rotation.stats()
    }

    /// The requests in flight (sent, not yet completely acknowledged): each one's token and
    /// the packet id it was sent under. A queued request, a completed or failed one and a QoS 0
    /// publish are not in it.
    pub fn in_flight_packet_ids(&self) -> impl Iterator<Item = (Token, u16)> + '_ {
        self.session.packet_ids()
    }

    /// A health snapshot: state, liveness, queue and buffer sizes, the last error.
    pub fn health(&self) -> Health {
        let state = self.state();
        Health {
            state,
            healthy: state == ConnectionState::Connected && self.ping_deadline.is_none(),
            in_flight: self.session.in_flight(),
            queued: self.session.queued(),
            buffered_bytes: self.flow.buffered(),
            unmatched_buffered: self.routing.unmatched_len(),
            last_error: self.last_error.clone(),
            ping_rtt: self.ping_rtt,
            token_expires_at: self.credentials.token_expires_at(),
        }
    }

    // ---- inputs --------------------------------------------------------------------------

    /// The wall-clock time at `now`. Needed once before connecting when JWT auth is configured
    /// (token `iat`/`exp` are wall-clock times); call again any time to correct drift.
    pub fn handle_wall_clock(&mut self, now: Instant, wall: SystemTime) {
        self.credentials.set_wall_clock(now, wall);
    }

    /// The transport the client asked for with [`Action::Connect`] is open: CONNECT is queued
    /// (with token auth, as soon as a token is here: see [`Action::FetchToken`]).
    pub fn handle_connected(&mut self, now: Instant) {
        if self.state() != ConnectionState::Opening || self.connect_held {
            return;
        }
        self.send_connect(now);
    }

    /// The answer to [`Action::FetchToken`]: a token from the token source, or its error.
    ///
    /// A token's permissions are in force at once (queued requests they do not allow fail with
    /// [`RequestError::PermissionDenied`]); the token goes in the next CONNECT, or, during a
    /// refresh, replaces the one in use (MQTT 5 re-authentication, else a graceful reconnect).
    /// An error fails the connect attempt that waits for it (the reconnect policy retries), or
    /// during a refresh is reported ([`Event::TokenRefreshFailed`]) and asked again later.
    /// Without token auth, or when nothing was asked, a token is kept for the next CONNECT.
    pub fn handle_token(&mut self, now: Instant, token: Result<AuthToken, TokenError>) {
        if !self.credentials.enabled() {
            return;
        }
        let refreshing = self.credentials.take_refreshing();
        match token {
            Ok(token) => {
                if let Some(permissions) = self.credentials.supplied(token) {
                    self.put_permissions_in_force(permissions);
                }
                match self.state() {
                    ConnectionState::Opening if self.connect_held => {
                        self.connect_held = false;
                        self.send_connect(now);
                    }
                    ConnectionState::Connected if refreshing => self.use_fresh_token(now),
                    _ => {}
                }
            }
            Err(error) => {
                self.credentials.fetch_failed();
                match self.state() {
                    ConnectionState::Opening | ConnectionState::Connecting if !refreshing => {
                        self.connect_held = false;
                        self.attempt_failed(now, ConnectError::Token(error), true, None);
                    }
                    ConnectionState::Connected | ConnectionState::Draining if refreshing => {
                        self.stats.token_refresh_failures += 1;
                        self.events.push_back(Event::TokenRefreshFailed(error));
                        self.credentials.retry_refresh(now);
                    }
                    _ => {}
                }
            }
        }
    }

    /// CONNECT for the attempt in progress, or, with token auth and no token yet, wait for one.
    fn send_connect(&mut self, now: Instant) {
        if self.credentials.lacks_wall_clock() {
            let error = TokenError::new(
                "token auth needs the wall clock: call Client::handle_wall_clock first",
            );
            self.attempt_failed(now, ConnectError::Token(error), true, None);
            return;
        }
        let credentials = match self.credentials.for_connect(
            now,
            self.config.username.as_ref(),
            self.config.password.as_ref(),
        ) {
            ForConnect::Ready(credentials) => credentials,
            ForConnect::Waiting => {
                self.connect_held = true;
                if self.credentials.request_for_connect(now) {
                    self.actions.push_back(Action::FetchToken);
                }
                return;
            }
        };
        // 3.1.1 clean session also means "do not keep the session after this connection", so it
        // is asked for on every connect; MQTT 5 separates the two, so reconnects resume.
        let clean_start = match self.config.protocol {
            ProtocolVersion::V311 => self.config.clean_start,
            ProtocolVersion::V5 => self.config.clean_start && !self.connected_once,
        };
        let (authentication_method, authentication_data) =
            self.connect_authentication(credentials.token);
        // Under the method `JWT` the token travels as authentication data, not twice.
        let password = match authentication_method.as_deref() {
            Some(crate::credentials::JWT_AUTH_METHOD) => None,
            _ => credentials.password,
        };
        let properties = match self.config.protocol {
            ProtocolVersion::V311 => ConnectProperties::default(),
            ProtocolVersion::V5 => ConnectProperties {
                authentication_method,
                authentication_data,
                session_expiry_interval: Some(self.connect_session_expiry()),
                receive_maximum: Some(self.config.receive_maximum),
                topic_alias_maximum: Some(self.config.topic_alias_maximum).filter(|max| *max > 0),
                request_response_information: self.config.request_response_information.then_some(1),
                maximum_packet_size: u32::try_from(self.config.max_incoming_packet_size).ok(),
                user_properties: self.config.connect_user_properties.clone(),
                ..ConnectProperties::default()
            },
        };
        let connect = Packet::Connect(Box::new(Connect {
            client_id: self.client_id.clone(),
            clean_start,
            keep_alive: u16::try_from(self.config.keep_alive.as_secs()).unwrap_or(u16::MAX),
            username: credentials.username,
            password,
            will: self.config.will.clone(),
            properties,
        }));
        // The configuration was checked by `validate`; a minted token is only known now.
        if let Err(error) = self.codec.encoded_len(&connect) {
            self.attempt_failed(now, ConnectError::Unencodable(error), true, None);
            return;
        }
        self.control.push_back(connect);
        self.transition(Input::TransportOpen);
    }

    /// Bytes from the transport. Complete packets are handled at once; a partial packet waits
    /// for the rest. A malformed or oversized packet ends the connection with a protocol error.
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) {
        let reading =
            |state: ConnectionState| state == ConnectionState::Connecting || state.is_established();
        if !reading(self.state()) {
            return;
        }
        self.stats.bytes_received += bytes.len() as u64;
        self.inbuf.extend_from_slice(bytes);
        while reading(self.state()) {
            // The whole packets are frozen at once; each one is then a view of them.
            let whole = self.codec.whole_frames_len(&self.inbuf);
            if whole == 0 {
                // A partial packet (room is reserved for the rest), or an invalid header.
                match self.codec.decode(&mut self.inbuf) {
                    Ok(Some(packet)) => self.handle_incoming(now, packet),
                    Ok(None) => break,
                    Err(error) => self.protocol_error(now, error),
                }
                continue;
            }
            let mut packets = self.inbuf.split_to(whole).freeze();
            while !packets.is_empty() && reading(self.state()) {
                match self.codec.decode_whole(&mut packets) {
                    Ok(Some(packet)) => self.handle_incoming(now, packet),
                    // Not reached: `whole` covers complete packets only.
                    Ok(None) => break,
                    Err(error) => self.protocol_error(now, error),
                }
            }
        }
    }

    fn handle_incoming(&mut self, now: Instant, packet: Packet) {
        if let Err(error) = self.handle_packet(now, packet) {
            self.protocol_error(now, error);
        }
    }

    /// The transport took `n` more of the bytes `poll_output` handed out (a write call
    /// returned `n`). Frees room under `max_buffered_bytes` and completes the QoS 0 publishes
    /// whose last byte is now written.
    pub fn handle_written(&mut self, _now: Instant, n: usize) {
        self.flow.written(n);
        while let Some(request) = self.flow.pop_written() {
            self.complete_publish(request.token, 0);
        }
    }

    /// After the final [`Action::Close`] (state `Closing`): everything was written and
    /// flushed and the transport is closed. The client is now `Closed`.
    pub fn handle_closed(&mut self, _now: Instant) {
        if self.state() == ConnectionState::Closing {
            self.finish_closed();
        }
    }

    /// The transport ended (EOF or error), or could not be opened. After [`Action::Close`] it
    /// reports a failed close: the final close (state `Closing`) ends with it, and in a state
    /// without a transport of its own it is ignored.
    pub fn handle_disconnected(&mut self, now: Instant, error: TransportError) {
        match self.state() {
            ConnectionState::Opening | ConnectionState::Connecting => {
                self.attempt_failed(now, ConnectError::Transport(error), false, None);
            }
            ConnectionState::Connected | ConnectionState::Draining => {
                self.connection_lost(now, LostReason::Transport(error), None);
            }
            ConnectionState::Closing => self.finish_closed(),
            _ => {}
        }
    }

    /// The adapter holds a message for an application stream that is full: it stops reading
    /// ([`Client::wants_read`]) so TCP pushes back on the broker. Until
    /// [`Client::handle_delivery_resumed`], a missing PINGRESP is not held against the broker:
    /// it may be sitting unread in the socket.
    pub fn handle_delivery_blocked(&mut self, _now: Instant) {
        self.flow.set_delivery_blocked(true);
    }

    /// The held message was delivered: reading resumes, and an outstanding PINGRESP gets a full
    /// timeout from `now`.
    pub fn handle_delivery_resumed(&mut self, now: Instant) {
        if !self.flow.delivery_blocked() {
            return;
        }
        self.flow.set_delivery_blocked(false);
        if let Some(deadline) = self.ping_deadline {
            self.ping_deadline = Some(deadline.max(now + self.config.effective_ping_timeout()));
        }
    }

    /// Whether the adapter should read the transport now: a CONNACK or the session's packets
    /// may arrive, and no application stream is full.
    pub fn wants_read(&self) -> bool {
        let state = self.state();
        (state == ConnectionState::Connecting || state.is_established())
            && !self.flow.delivery_blocked()
    }

    /// Timers: connect timeout, keep-alive, reconnect, close deadline, and the message expiry
    /// of queued MQTT 5 publishes. Safe to call early or more than once: only deadlines that
    /// have passed do anything.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire_queued(now);
        if self.lifecycle.close_deadline().is_some_and(|d| now >= d) {
            match self.state() {
                // Requests still outstanding fail; DISCONNECT goes out after what is owed.
                ConnectionState::Draining => self.begin_close(now),
                // The transport did not close in time: the client is closed anyway.
                _ => self.finish_closed(),
            }
            return;
        }
        if self.state().is_established() && self.stable_at.is_some_and(|at| now >= at) {
            self.connection_stable();
        }
        match self.state() {
            ConnectionState::Opening | ConnectionState::Connecting => {
                if self.lifecycle.connect_deadline().is_some_and(|d| now >= d) {
                    self.attempt_failed(now, ConnectError::Timeout, true, None);
                }
            }
            ConnectionState::Connected | ConnectionState::Draining => {
                self.keep_alive_timeout(now);
                self.credentials_timeout(now);
                self.reauth_timeout(now);
            }
            ConnectionState::Waiting => {
                if self.lifecycle.retry_at().is_some_and(|at| now >= at) {
                    self.start_attempt(now);
                }
            }
            // No timer of their own (Closing's close deadline is handled above).
            ConnectionState::Disconnected | ConnectionState::Closing | ConnectionState::Closed => {}
        }
    }

    // ---- outputs -------------------------------------------------------------------------

    /// The next output, in this order: bytes to write (appended to `out`: every packet ready
    /// goes in one write), then transport actions, then events; when there is none of those,
    /// [`Output::Timeout`] with the instant [`Client::handle_timeout`] must be called. Call it
    /// after every input and command until it returns `Output::Timeout`.
    ///
    /// Bytes appended count as buffered until reported with [`Client::handle_written`];
    /// requests are only encoded while less than `max_buffered_bytes` is buffered.
    pub fn poll_output(&mut self, now: Instant, out: &mut BytesMut) -> Output {
        if let Some(n) = self.poll_transmit(now, out) {
            return Output::Transmit(n);
        }
        if let Some(action) = self.actions.pop_front() {
            return Output::Action(action);
        }
        if let Some(event) = self.events.pop_front() {
            return Output::Event(event);
        }
        Output::Timeout(self.poll_timeout())
    }

    /// The next instant [`Client::handle_timeout`] must be called, if any (also the last
    /// output of [`Client::poll_output`]).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let state_deadline = match self.state() {
            ConnectionState::Opening | ConnectionState::Connecting => {
                self.lifecycle.connect_deadline()
            }
            ConnectionState::Connected | ConnectionState::Draining => {
                let keep_alive = match self.ping_deadline {
                    _ if self.keep_alive.is_zero() => None,
                    // The PINGRESP deadline waits until the adapter reads again.
                    Some(_) if self.flow.delivery_blocked() => None,
                    Some(deadline) => Some(deadline),
                    None => Some(self.last_sent + self.keep_alive),
                };
                // A refresh only matters to a connection that stays: not while draining.
                let refresh = self
                    .credentials
                    .deadline()
                    .filter(|_| self.state() == ConnectionState::Connected);
                let timers = earliest(keep_alive, refresh);
                let timers = earliest(timers, self.auth_exchange.reauth_deadline());
                earliest(timers, self.stable_at)
            }
            ConnectionState::Waiting => self.lifecycle.retry_at(),
            _ => None,
        };
        let deadline = earliest(state_deadline, self.lifecycle.close_deadline());
        earliest(deadline, self.session.next_expiry())
    }

    // ---- internals ------------------------------------------------------------------------

    /// Fails request `token`. A SUBSCRIBE's subscriptions end with it; the internal
    /// re-subscription is not the application's request, so the subscriptions it carried end
    /// instead.
    pub(super) fn fail(&mut self, token: Token, error: RequestError) {
        let ended = if self.routing.is_resubscribe(token) {
            self.routing.remove_regranting(token)
        } else {
            self.stats.requests_failed += 1;
            self.events.push_back(Event::RequestFailed {
                token,
                error: error.clone(),
            });
            self.routing.remove_request(token)
        };
        self.end_subscriptions(ended, SubscriptionEnd::Failed(error));
    }

    fn end_subscriptions(&mut self, ids: Vec<SubscriptionId>, end: SubscriptionEnd) {
        for id in ids {
            self.events.push_back(Event::SubscriptionEnded {
                id,
                end: end.clone(),
            });
        }
    }

    /// Moves the lifecycle along `input`. An edge the lifecycle does not have is refused and
    /// counted (a bug in the client; the fuzzer and simulations require the count to stay 0).
    fn transition(&mut self, input: Input) {
        if let Err(illegal) = self.lifecycle.apply(input) {
            self.stats.illegal_transitions += 1;
            self.last_error = Some(LastError::IllegalTransition(illegal));
        }
    }
}
