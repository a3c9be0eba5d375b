//! Telemetry: what the client tells the outside about itself, built only from the driver's
//! command handling and the core's events and getters (no protocol decision is made here).
//!
//! - [`trace`]: `tracing` spans and events (connection attempts, publishes, subscribes, state
//!   changes, reconnects, the circuit breaker, token refreshes, protocol errors);
//! - [`metrics`]: `prometheus-client` metrics registered with
//!   [`Client::register_metrics`](crate::Client::register_metrics).

pub(crate) mod metrics;
pub(crate) mod trace;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use jamey_mqtt_core::SubscribeFilter;
use jamey_mqtt_core::{Event, Token};
use tracing::Span;

pub(crate) use metrics::MetricsState;
use trace::Tracer;

/// The driver's telemetry: the tracer and the metrics bookkeeping.
pub(crate) struct Telemetry {
    tracer: Tracer,
    metrics: Arc<MetricsState>,
    /// When each publish in progress was admitted (only while metrics are registered).
    publish_started: HashMap<Token, Instant>,
    connected_at: Option<(Instant, SystemTime)>,
}

impl Telemetry {
    pub(crate) fn new(tracer: Tracer, metrics: Arc<MetricsState>) -> Telemetry {
        Telemetry {
            tracer,
            metrics,
            publish_started: HashMap::new(),
            connected_at: None,
        }
    }

    pub(crate) fn connect_started(&mut self, endpoint: &jamey_mqtt_core::Endpoint) {
        self.tracer.connect_started(endpoint);
    }

    /// The span of a publish about to be handed to the core; see [`Telemetry::publish_started`].
    pub(crate) fn publish_span(&self, topic: &str, qos: u8) -> Span {
        self.tracer.publish_span(topic, qos)
    }

    /// The core admitted the publish of `span` as `token`.
    pub(crate) fn publish_started(&mut self, now: Instant, token: Token, span: Span) {
        self.tracer.started(token, span);
        if self.metrics.enabled() {
            self.publish_started.insert(token, now);
        }
    }

    pub(crate) fn subscribe_span(&self, filters: &[SubscribeFilter]) -> Span {
        self.tracer.subscribe_span(filters)
    }

    /// The core admitted the SUBSCRIBE of `span` as `token`.
    pub(crate) fn subscribe_started(&mut self, token: Token, span: Span) {
        self.tracer.started(token, span);
    }

    pub(crate) fn refused(&self, what: &'static str, error: &dyn std::fmt::Display) {
        self.tracer.refused(what, error);
    }

    /// A received message, before it is delivered (the driver's per-message path).
    #[inline]
    pub(crate) fn message(&self, message: &jamey_mqtt_core::Message) {
        self.tracer.message(message);
    }

    /// One event of the core, before it is forwarded. `now` reads the runtime clock, only for
    /// the events that are timed (a message costs no clock read).
    pub(crate) fn event(&mut self, now: impl FnOnce() -> Instant, event: &Event) {
        self.tracer.event(event);
        match event {
            Event::Published { token, .. } => {
                if let Some(started) = self.publish_started.remove(token) {
                    let latency = now().saturating_duration_since(started);
                    self.metrics.observe_publish_latency(latency.as_secs_f64());
                }
            }
            Event::RequestFailed { token, .. } => {
                self.publish_started.remove(token);
            }
            Event::Connected { .. } => self.connected_at = Some((now(), SystemTime::now())),
            Event::ConnectionLost(_) | Event::GaveUp | Event::Disconnected => {
                self.connected_at = None
            }
            _ => {}
        }
    }

    /// After each turn of the driver loop: the packet ids of the requests the core sent (for
    /// their spans) and the snapshot the metrics collector renders.
    pub(crate) fn update(&mut self, core: &jamey_mqtt_core::Client) {
        self.tracer
            .record_packet_ids(|| core.in_flight_packet_ids());
        if !self.metrics.enabled() {
            return;
        }
        self.metrics.update(|snapshot| {
            snapshot.stats = *core.stats();
            snapshot.health = Some(core.health());
            snapshot.connected_at = self.connected_at;
        });
    }
}
