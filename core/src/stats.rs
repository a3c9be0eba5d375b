//! Counters the client keeps ([`Stats`]); the health snapshot built from them and the state is
//! [`Health`](crate::Health).

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
    /// JWTs refreshed while connected (each followed by a reconnect with the new token).
    pub tokens_refreshed: u64,
    /// Refresh attempts that failed (retried; the connection is kept until expiry).
    pub token_refresh_failures: u64,
    /// Bytes the transport took (`handle_written`).
    pub bytes_sent: u64,
    /// Bytes received (`handle_bytes`).
    pub bytes_received: u64,
    /// Requests failed as poison: outstanding on `poison_threshold` connections in a row that
    /// the broker ended with an error reason.
    pub requests_poisoned: u64,
    /// Publishes whose MQTT 5 message expiry interval passed while they waited in the client's
    /// queue: never sent, their requests failed with `RequestError::Expired`.
    pub messages_expired: u64,
    /// The most bytes ever buffered between `poll_output` and the transport (see
    /// `ClientConfig::max_buffered_bytes`). A gauge of the peak, not a counter.
    pub buffered_bytes_high_water: u64,
    /// Messages that matched no subscription when they arrived (kept for a later one).
    pub messages_unmatched: u64,
    /// Unmatched messages dropped: the oldest, when the buffer (`unmatched_capacity`) was full.
    pub messages_unmatched_dropped: u64,
    /// Lifecycle edges the client tried and the lifecycle refused: a bug in the client, always
    /// 0 (the fuzzer and the simulations check it).
    pub illegal_transitions: u64,
}
