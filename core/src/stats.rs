//! Counters the client keeps, and the health snapshot built from them and the state.

use crate::state::ConnectionState;

/// Monotonic counters since the client was created. Cheap to copy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Publishes whose QoS flow completed (QoS 0: written; QoS 1: PUBACK; QoS 2: PUBCOMP).
    pub publishes_completed: u64,
    /// Requests whose token failed (broker refusal on MQTT 5, session-lost policy, closed).
    pub requests_failed: u64,
    /// Messages delivered to the application (QoS 2 duplicates not counted).
    pub messages_received: u64,
    /// QoS 2 duplicates acknowledged and not delivered again.
    pub duplicates_suppressed: u64,
    /// Requests refused with `QueueFull`.
    pub queue_full: u64,
    /// Requests refused by the permission check.
    pub permission_denied: u64,
    /// Connection attempts started (transport requested).
    pub connect_attempts: u64,
    /// CONNACKs accepted.
    pub connections: u64,
    /// Established connections that were lost (not counting requested disconnects).
    pub connections_lost: u64,
    /// Protocol errors from the peer (each ended a connection).
    pub protocol_errors: u64,
    /// PINGREQs sent.
    pub pings_sent: u64,
    /// Packets resent on session resume (PUBLISH with DUP, PUBREL).
    pub packets_replayed: u64,
    /// Acks for packet ids not in flight (ignored).
    pub unexpected_acks: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

/// A point-in-time health report, for a health endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    pub state: ConnectionState,
    /// Connected with a live keep-alive.
    pub healthy: bool,
    pub in_flight: usize,
    pub queued: usize,
    /// The last reason a connection ended or an attempt failed, if any.
    pub last_error: Option<String>,
}
