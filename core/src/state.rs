//! The connection lifecycle: its states, which incoming packets each state allows, and the
//! deadlines that belong to each state. Every lifecycle transition the client makes goes
//! through [`Lifecycle`], so this file is the one place to read them.
//!
//! ```text
//!  Disconnected --connect()--> Opening --handle_connected--> Connecting --CONNACK ok--> Connected
//!       ^                        |  ^                          |                         |
//!       | (reconnect disabled)   |  | attempt allowed          | refused / timeout       | lost /
//!       +------------------------+--+------- Waiting <---------+-------------------------+ error
//!
//!  Connected --disconnect()--> Draining --all accepted requests done, or deadline--> Closing
//!  Closing --handle_closed (everything written, transport shut down)--> Closed (final)
//!  Draining / Closing --transport lost or close deadline--> Closed
//!  any other state --disconnect() or GaveUp--> Closed
//! ```
//!
//! `Draining` still reads and writes (acks complete the requests it waits for); `Closing` has
//! queued its final DISCONNECT after whatever was already owed to the broker (acks for packets
//! received before the close was decided), writes nothing after it, and reads nothing.
use std::time::Instant;

use crate::packet::Packet;

/// Where the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Not connected and not trying (never started, or reconnect disabled after a loss).
    Disconnected,
    /// Waiting for the reconnect policy's next attempt (backoff or open circuit).
    Waiting,
    /// The adapter was asked to open a transport (TCP, TLS).
    Opening,
    /// CONNECT sent, waiting for CONNACK.
    Connecting,
    /// CONNACK accepted.
    Connected,
    /// `disconnect()` was called while connected: no new requests; the accepted ones complete
    /// (or fail at the close deadline), then DISCONNECT is sent.
    Draining,
    /// DISCONNECT is queued last: the adapter writes everything, flushes, closes the transport
    /// (TLS close_notify) and reports `handle_closed`.
    Closing,
    /// Disconnected on request, or gave up reconnecting. Final: no more requests.
    Closed,
}

impl ConnectionState {
    /// A short name for errors and logs.
    pub fn name(self) -> &'static str {
        match self {
            ConnectionState::Disconnected => "disconnected",
            ConnectionState::Waiting => "waiting to reconnect",
            ConnectionState::Opening => "opening transport",
            ConnectionState::Connecting => "waiting for CONNACK",
            ConnectionState::Connected => "connected",
            ConnectionState::Draining => "draining before disconnect",
            ConnectionState::Closing => "closing the transport",
            ConnectionState::Closed => "closed",
        }
    }

    /// Whether a transport is (or is being) open.
    pub fn has_transport(self) -> bool {
        matches!(
            self,
            ConnectionState::Opening
                | ConnectionState::Connecting
                | ConnectionState::Connected
                | ConnectionState::Draining
                | ConnectionState::Closing
        )
    }

    /// Whether a CONNACK was accepted on the open transport and the session runs on it
    /// (requests are sent, acks are handled, keep-alive runs).
    pub fn is_established(self) -> bool {
        matches!(self, ConnectionState::Connected | ConnectionState::Draining)
    }

    /// Whether a packet from the broker may arrive in this state. Packets only a client sends
    /// (CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ) never may; before CONNACK only CONNACK may
    /// AUTH never may: this client does not do MQTT 5 enhanced authentication.
    pub fn allows_incoming(self, packet: &Packet) -> bool {
        match packet {
            Packet::Connect(_)
            | Packet::Subscribe(_)
            | Packet::Unsubscribe(_)
            | Packet::PingReq
            | Packet::Auth(_) => false,
            Packet::ConnAck(_) => self == ConnectionState::Connecting,
            Packet::Disconnect(_) => self == ConnectionState::Connecting || self.is_established(),
            _ => self.is_established(),
        }
    }
}

/// The lifecycle state plus the deadline that belongs to it.
#[derive(Debug, Clone)]
pub(crate) struct Lifecycle {
    state: ConnectionState,
    /// Opening/Connecting: no CONNACK by then is a failed attempt.
    connect_deadline: Option<Instant>,
    /// Waiting: the earliest instant the reconnect policy allows the next attempt.
    retry_at: Option<Instant>,
    /// Draining / Closing: the close completes by then whatever is left.
    close_deadline: Option<Instant>,
}

impl Lifecycle {
    pub(crate) fn new() -> Lifecycle {
        Lifecycle {
            state: ConnectionState::Disconnected,
            connect_deadline: None,
            retry_at: None,
            close_deadline: None,
        }
    }

    pub(crate) fn state(&self) -> ConnectionState {
        self.state
    }

    pub(crate) fn connect_deadline(&self) -> Option<Instant> {
        self.connect_deadline
    }

    pub(crate) fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    pub(crate) fn close_deadline(&self) -> Option<Instant> {
        self.close_deadline
    }

    /// Ask the adapter for a transport; the attempt must end by `deadline`.
    pub(crate) fn open(&mut self, deadline: Instant) {
        self.set(ConnectionState::Opening);
        self.connect_deadline = Some(deadline);
    }

    /// The transport is up and CONNECT is queued.
    pub(crate) fn connecting(&mut self) {
        self.set(ConnectionState::Connecting);
    }

    /// CONNACK accepted.
    pub(crate) fn connected(&mut self) {
        self.set(ConnectionState::Connected);
    }

    /// The attempt failed or the connection was lost; the next attempt may start at `at`.
    pub(crate) fn wait_until(&mut self, at: Instant) {
        self.set(ConnectionState::Waiting);
        self.retry_at = Some(at);
    }

    /// `disconnect()` while connected: finish what was accepted by `deadline`.
    pub(crate) fn draining(&mut self, deadline: Instant) {
        self.set(ConnectionState::Draining);
        self.close_deadline = Some(deadline);
    }

    /// The final DISCONNECT is queued; the transport must be closed by `deadline`.
    pub(crate) fn closing(&mut self, deadline: Instant) {
        self.set(ConnectionState::Closing);
        self.close_deadline = Some(deadline);
    }

    /// Lost and not reconnecting by ourselves.
    pub(crate) fn disconnected(&mut self) {
        self.set(ConnectionState::Disconnected);
    }

    /// Final.
    pub(crate) fn close(&mut self) {
        self.set(ConnectionState::Closed);
    }

    fn set(&mut self, state: ConnectionState) {
        self.state = state;
        if !matches!(
            state,
            ConnectionState::Opening | ConnectionState::Connecting
        ) {
            self.connect_deadline = None;
        }
        if state != ConnectionState::Waiting {
            self.retry_at = None;
        }
        if !matches!(state, ConnectionState::Draining | ConnectionState::Closing) {
            self.close_deadline = None;
        }
    }
}
