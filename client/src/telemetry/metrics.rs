//! Metrics: the client's counters, health and timings as `prometheus-client` metrics,
//! registered into the application's own [`Registry`] so one `/metrics` endpoint serves the
//! application's metrics and the client's.
//!
//! The driver keeps a [`Snapshot`] of the core's `Stats` and `Health` up to date (only once
//! metrics were registered) and observes the publish-to-ack latency; a [`Collector`] renders
//! the snapshot on each scrape. Every name starts with `mqtt_` and carries a `client_id` label;
//! the metric list is in the README ("Tracing and metrics").

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use jamey_mqtt_core::{ConnectionState, Health, Stats};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

/// What the driver last saw, for the collector.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    pub stats: Stats,
    pub health: Option<Health>,
    /// The runtime clock's instant and the wall-clock time of the last CONNACK accepted, while
    /// that connection lasts.
    pub connected_at: Option<(Instant, SystemTime)>,
}

/// Shared by the driver (writer) and the collector (reader).
pub(crate) struct MetricsState {
    enabled: AtomicBool,
    snapshot: Mutex<Snapshot>,
    /// Publish admitted to QoS flow completed (written, PUBACK, PUBCOMP), in seconds. Made
    /// when metrics are registered: its buckets are computed with `powf`, and a client without
    /// metrics should not pay for libm's tables in its resident memory.
    publish_latency: OnceLock<Histogram>,
    /// The runtime's clock, for the uptime at scrape time.
    clock: Box<dyn Fn() -> Instant + Send + Sync>,
}

impl std::fmt::Debug for MetricsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsState")
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl MetricsState {
    pub(crate) fn new(clock: Box<dyn Fn() -> Instant + Send + Sync>) -> MetricsState {
        MetricsState {
            enabled: AtomicBool::new(false),
            snapshot: Mutex::new(Snapshot::default()),
            publish_latency: OnceLock::new(),
            clock,
        }
    }

    /// Whether metrics were registered (the driver skips the bookkeeping otherwise).
    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// The driver's update, after each turn of its loop.
    pub(crate) fn update(&self, apply: impl FnOnce(&mut Snapshot)) {
        apply(&mut self.snapshot.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Records one publish's latency (only once metrics are registered).
    pub(crate) fn observe_publish_latency(&self, seconds: f64) {
        if let Some(histogram) = self.publish_latency.get() {
            histogram.observe(seconds);
        }
    }

    /// Registers the client's metrics under `mqtt_`, labelled `client_id`.
    pub(crate) fn register(self: &Arc<Self>, registry: &mut Registry, client_id: &str) {
        let sub = registry
            .sub_registry_with_prefix("mqtt")
            .sub_registry_with_label(("client_id".into(), client_id.to_owned().into()));
        sub.register_with_unit(
            "publish_ack_latency",
            // `register` appends the full stop itself.
            "Time from a publish admitted to its QoS flow completed (written, PUBACK, PUBCOMP)",
            Unit::Seconds,
            self.publish_latency
                // 0.5 ms .. ~16 s.
                .get_or_init(|| Histogram::new(exponential_buckets(0.0005, 2.0, 16)))
                .clone(),
        );
        sub.register_collector(Box::new(ClientCollector(self.clone())));
        self.enabled.store(true, Ordering::Relaxed);
    }
}

/// Renders the snapshot on each scrape.
#[derive(Debug)]
struct ClientCollector(Arc<MetricsState>);

type Counter = (&'static str, &'static str, Option<Unit>, u64);

fn counters(s: &Stats) -> [Counter; 22] {
    [
        (
            "publishes_completed",
            "Publishes whose QoS flow completed.",
            None,
            s.publishes_completed,
        ),
        (
            "requests_failed",
            "Requests whose token failed.",
            None,
            s.requests_failed,
        ),
        (
            "messages_received",
            "Messages delivered to the application.",
            None,
            s.messages_received,
        ),
        (
            "duplicates_suppressed",
            "QoS 2 duplicates acked and not redelivered.",
            None,
            s.duplicates_suppressed,
        ),
        (
            "queue_full",
            "Requests refused because the queue was full.",
            None,
            s.queue_full,
        ),
        (
            "permission_denied",
            "Requests refused by the permission check.",
            None,
            s.permission_denied,
        ),
        (
            "connect_attempts",
            "Connection attempts started.",
            None,
            s.connect_attempts,
        ),
        ("connections", "CONNACKs accepted.", None, s.connections),
        (
            "connections_lost",
            "Established connections lost.",
            None,
            s.connections_lost,
        ),
        (
            "protocol_errors",
            "Protocol errors from the peer.",
            None,
            s.protocol_errors,
        ),
        ("pings_sent", "PINGREQs sent.", None, s.pings_sent),
        (
            "packets_replayed",
            "Packets resent on session resume.",
            None,
            s.packets_replayed,
        ),
        (
            "unexpected_acks",
            "Acks for packet ids not in flight.",
            None,
            s.unexpected_acks,
        ),
        (
            "tokens_refreshed",
            "JWTs refreshed while connected.",
            None,
            s.tokens_refreshed,
        ),
        (
            "token_refresh_failures",
            "Failed JWT refresh attempts.",
            None,
            s.token_refresh_failures,
        ),
        (
            "sent",
            "Bytes handed to the transport.",
            Some(Unit::Bytes),
            s.bytes_sent,
        ),
        (
            "received",
            "Bytes received from the transport.",
            Some(Unit::Bytes),
            s.bytes_received,
        ),
        (
            "requests_poisoned",
            "Requests failed after the broker ended several connections over them.",
            None,
            s.requests_poisoned,
        ),
        (
            "messages_expired",
            "Publishes whose message expiry interval passed before they were sent.",
            None,
            s.messages_expired,
        ),
        (
            "messages_unmatched",
            "Messages that matched no subscription when they arrived.",
            None,
            s.messages_unmatched,
        ),
        (
            "messages_unmatched_dropped",
            "Unmatched messages dropped because their buffer was full.",
            None,
            s.messages_unmatched_dropped,
        ),
        (
            "illegal_transitions",
            "Lifecycle edges refused (a client bug; always 0).",
            None,
            s.illegal_transitions,
        ),
    ]
}

const STATES: [(ConnectionState, &str); 8] = [
    (ConnectionState::Disconnected, "disconnected"),
    (ConnectionState::Waiting, "waiting"),
    (ConnectionState::Opening, "opening"),
    (ConnectionState::Connecting, "connecting"),
    (ConnectionState::Connected, "connected"),
    (ConnectionState::Draining, "draining"),
    (ConnectionState::Closing, "closing"),
    (ConnectionState::Closed, "closed"),
];

fn gauge<N: EncodeGaugeValue + Clone + std::fmt::Debug + Send + Sync + 'static>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: N,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, unit, metric.metric_type())?)
}

fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Collector for ClientCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snapshot = self
            .0
            .snapshot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for (name, help, unit, value) in counters(&snapshot.stats) {
            let metric = ConstCounter::new(value);
            metric.encode(encoder.encode_descriptor(
                name,
                help,
                unit.as_ref(),
                metric.metric_type(),
            )?)?;
        }
        let e = &mut encoder;
        let bytes = Some(&Unit::Bytes);
        let seconds = Some(&Unit::Seconds);
        gauge(
            e,
            "buffered_high_water",
            "Most bytes ever buffered for the transport.",
            bytes,
            snapshot.stats.buffered_bytes_high_water,
        )?;
        if let Some(health) = &snapshot.health {
            let mut family = e.encode_descriptor(
                "state",
                "The connection state: 1 for the state in force, 0 for the others.",
                None,
                MetricType::Gauge,
            )?;
            for (state, label) in STATES {
                let value = i64::from(health.state == state);
                ConstGauge::new(value).encode(family.encode_family(&[("state", label)])?)?;
            }
            gauge(
                e,
                "healthy",
                "1 when connected with a live keep-alive.",
                None,
                i64::from(health.healthy),
            )?;
            gauge(
                e,
                "in_flight_requests",
                "Requests sent and waiting for their acknowledgement.",
                None,
                health.in_flight,
            )?;
            gauge(
                e,
                "queued_requests",
                "Requests waiting in the client's queue.",
                None,
                health.queued,
            )?;
            gauge(
                e,
                "buffered",
                "Bytes handed to the adapter and not yet written.",
                bytes,
                health.buffered_bytes,
            )?;
            gauge(
                e,
                "unmatched_buffered_messages",
                "Messages that matched no subscription, waiting for one.",
                None,
                health.unmatched_buffered,
            )?;
            if let Some(rtt) = health.ping_rtt {
                gauge(
                    e,
                    "ping_rtt",
                    "Round-trip time of the last PINGREQ answered.",
                    seconds,
                    rtt.as_secs_f64(),
                )?;
            }
            if let Some(expiry) = health.token_expires_at {
                gauge(
                    e,
                    "token_expiry_timestamp",
                    "When the JWT in use expires (Unix time).",
                    seconds,
                    unix_seconds(expiry),
                )?;
            }
        }
        let uptime = snapshot
            .connected_at
            .map(|(at, _)| (self.0.clock)().saturating_duration_since(at).as_secs_f64())
            .unwrap_or(0.0);
        gauge(
            e,
            "connection_uptime",
            "How long the connection in force has lasted (0 when not connected).",
            seconds,
            uptime,
        )?;
        if let Some((_, since)) = snapshot.connected_at {
            gauge(
                e,
                "connected_since_timestamp",
                "When the connection in force was accepted (Unix time).",
                seconds,
                unix_seconds(since),
            )?;
        }
        Ok(())
    }
}
