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
    /// JWTs refreshed while connected (each followed by a reconnect with the new token).
    pub tokens_refreshed: u64,
    /// Refresh attempts that failed (retried; the connection is kept until expiry).
    pub token_refresh_failures: u64,
    pub bytes_sent: u64,
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

/// A point-in-time health report, for a health endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    pub state: ConnectionState,
    /// Connected with a live keep-alive.
    pub healthy: bool,
    pub in_flight: usize,
    pub queued: usize,
    /// Bytes handed to the adapter and not yet written to the transport.
    pub buffered_bytes: usize,
    /// Messages that matched no subscription, waiting for one (`unmatched_capacity`).
    pub unmatched_buffered: usize,
    /// The last reason a connection ended or an attempt failed, if any.
    pub last_error: Option<String>,
}

impl Stats {
    /// The counters in the Prometheus text exposition format (version 0.0.4), each labelled
    /// with `client_id`, ready to be served from a `/metrics` endpoint.
    pub fn to_prometheus(&self, client_id: &str) -> String {
        let label = client_id
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let counters: [(&str, &str, u64); 22] = [
            (
                "publishes_completed",
                "Publishes whose QoS flow completed.",
                self.publishes_completed,
            ),
            (
                "requests_failed",
                "Requests whose token failed.",
                self.requests_failed,
            ),
            (
                "messages_received",
                "Messages delivered to the application.",
                self.messages_received,
            ),
            (
                "duplicates_suppressed",
                "QoS 2 duplicates acked and not redelivered.",
                self.duplicates_suppressed,
            ),
            (
                "queue_full",
                "Requests refused because the queue was full.",
                self.queue_full,
            ),
            (
                "permission_denied",
                "Requests refused by the permission check.",
                self.permission_denied,
            ),
            (
                "connect_attempts",
                "Connection attempts started.",
                self.connect_attempts,
            ),
            ("connections", "CONNACKs accepted.", self.connections),
            (
                "connections_lost",
                "Established connections lost.",
                self.connections_lost,
            ),
            (
                "protocol_errors",
                "Protocol errors from the peer.",
                self.protocol_errors,
            ),
            ("pings_sent", "PINGREQs sent.", self.pings_sent),
            (
                "packets_replayed",
                "Packets resent on session resume.",
                self.packets_replayed,
            ),
            (
                "unexpected_acks",
                "Acks for packet ids not in flight.",
                self.unexpected_acks,
            ),
            (
                "tokens_refreshed",
                "JWTs refreshed while connected.",
                self.tokens_refreshed,
            ),
            (
                "token_refresh_failures",
                "Failed JWT refresh attempts.",
                self.token_refresh_failures,
            ),
            (
                "bytes_sent",
                "Bytes handed to the transport.",
                self.bytes_sent,
            ),
            (
                "bytes_received",
                "Bytes received from the transport.",
                self.bytes_received,
            ),
            (
                "requests_poisoned",
                "Requests failed after the broker ended several connections over them.",
                self.requests_poisoned,
            ),
            (
                "messages_expired",
                "Publishes whose message expiry interval passed before they were sent.",
                self.messages_expired,
            ),
            (
                "messages_unmatched",
                "Messages that matched no subscription when they arrived.",
                self.messages_unmatched,
            ),
            (
                "messages_unmatched_dropped",
                "Unmatched messages dropped because their buffer was full.",
                self.messages_unmatched_dropped,
            ),
            (
                "illegal_transitions",
                "Lifecycle edges refused (a client bug; always 0).",
                self.illegal_transitions,
            ),
        ];
        let mut out = String::new();
        for (name, help, value) in counters {
            out.push_str(&format!(
                "# HELP mqtt_{name}_total {help}\n# TYPE mqtt_{name}_total counter\nmqtt_{name}_total{{client_id=\"{label}\"}} {value}\n"
            ));
        }
        out.push_str(&format!(
            "# HELP mqtt_buffered_bytes_high_water Most bytes ever buffered for the transport.\n# TYPE mqtt_buffered_bytes_high_water gauge\nmqtt_buffered_bytes_high_water{{client_id=\"{label}\"}} {}\n",
            self.buffered_bytes_high_water
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_every_counter_with_an_escaped_label() {
        let stats = Stats {
            publishes_completed: 7,
            bytes_sent: 1234,
            ..Stats::default()
        };
        let text = stats.to_prometheus("a\"b");
        assert!(text.contains("mqtt_publishes_completed_total{client_id=\"a\\\"b\"} 7\n"));
        assert!(text.contains("# TYPE mqtt_bytes_sent_total counter\n"));
        assert!(text.contains("mqtt_bytes_sent_total{client_id=\"a\\\"b\"} 1234\n"));
        assert_eq!(text.matches("# TYPE").count(), 23);
    }
}
