//! The connection lifecycle: its states, which incoming packets each state allows, and the
//! deadlines that belong to each state. Every lifecycle transition the client makes goes
//! through [`Lifecycle`], so this file is the one place to read them.
//!
//! ```text
//!  Disconnected --connect()--> Opening --handle_connected--> Connecting --CONNACK ok--> Connected
//!       ^                        |  ^                          |                         |
//!       | (reconnect disabled)   |  | attempt allowed          | refused / timeout       | lost /
//!       +------------------------+--+------- Waiting <---------+-------------------------+ error
//!  any state --disconnect() or GaveUp--> Closed (final)
//! ```
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
            ConnectionState::Closed => "closed",
        }
    }

    /// Whether a transport is (or is being) open.
    pub fn has_transport(self) -> bool {
        matches!(
            self,
            ConnectionState::Opening | ConnectionState::Connecting | ConnectionState::Connected
        )
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
            Packet::Disconnect(_) => {
                matches!(
                    self,
                    ConnectionState::Connecting | ConnectionState::Connected
                )
            }
            _ => self == ConnectionState::Connected,
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
}

impl Lifecycle {
    pub(crate) fn new() -> Lifecycle {
        Lifecycle {
            state: ConnectionState::Disconnected,
            connect_deadline: None,
            retry_at: None,
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
    }
}
