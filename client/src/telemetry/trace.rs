//! Tracing: the spans and events the client emits through the `tracing` crate, built from the
//! driver's command handling and the core's events. It decides nothing; it only reports.
//!
//! - one `mqtt.connection` span per connection attempt (the `host` and `port` of the endpoint
//!   the core chose, `protocol`, `attempt`), closed when that attempt's connection ends;
//! - one `mqtt.publish` span per publish and one `mqtt.subscribe` span per SUBSCRIBE (`topic`,
//!   `qos`, then `pkid` once the request is sent, and `outcome` when it completes or fails: a
//!   failed request carries the packet id it was sent under, if it was sent);
//! - events for state changes, reconnects (with their delay), the circuit breaker, token
//!   refreshes and every protocol error.
//!
//! Levels: connection changes at `info` (quiet in steady state), failures at `warn`/`error`,
//! per-message spans and events at `debug`/`trace`. Never a payload, a password, a token or
//! authentication data: only topics, QoS, packet ids, reason codes and error kinds.

use std::collections::HashMap;

use jamey_mqtt_core::{ConnectError, Endpoint, Event, LostReason, Message, Token};
use jamey_mqtt_core::{ProtocolVersion, SubscribeFilter};
use tracing::field::Empty;
use tracing::{debug, debug_span, error, info, info_span, trace, warn, Span};

/// The spans in progress.
pub(crate) struct Tracer {
    protocol: &'static str,
    attempt: u64,
    connection: Span,
    requests: HashMap<Token, Request>,
}

/// The span of a request in progress, and the packet id recorded in it so far.
struct Request {
    span: Span,
    pkid: Option<u16>,
}

impl Request {
    /// Records `pkid` unless that one is recorded already (a resend after a session loss may
    /// use another id: the span then names the last one).
    fn record_pkid(&mut self, pkid: u16) {
        if self.pkid != Some(pkid) {
            self.pkid = Some(pkid);
            self.span.record("pkid", pkid);
        }
    }
}

impl Tracer {
    pub(crate) fn new(protocol: ProtocolVersion) -> Tracer {
        Tracer {
            protocol: match protocol {
                ProtocolVersion::V5 => "5.0",
                _ => "3.1.1",
            },
            attempt: 0,
            connection: Span::none(),
            requests: HashMap::new(),
        }
    }

    /// The core asked for a transport: a new connection attempt starts.
    pub(crate) fn connect_started(&mut self, endpoint: &Endpoint) {
        self.attempt += 1;
        self.connection = info_span!(
            "mqtt.connection",
            host = %endpoint.host,
            port = endpoint.port,
            protocol = self.protocol,
            attempt = self.attempt,
        );
        info!(parent: &self.connection, "connecting");
    }

    /// The span of a publish about to be handed to the core (`Span::none()` when disabled,
    /// so a client without a subscriber pays no allocation).
    pub(crate) fn publish_span(&self, topic: &str, qos: u8) -> Span {
        debug_span!(
            parent: &self.connection,
            "mqtt.publish",
            topic = %topic,
            qos,
            pkid = Empty,
            outcome = Empty,
        )
    }

    /// The span of a SUBSCRIBE about to be handed to the core.
    pub(crate) fn subscribe_span(&self, filters: &[SubscribeFilter]) -> Span {
        let span = debug_span!(
            parent: &self.connection,
            "mqtt.subscribe",
            topic = Empty,
            qos = Empty,
            pkid = Empty,
            outcome = Empty,
        );
        if !span.is_disabled() {
            let topics: Vec<&str> = filters.iter().map(|f| f.filter.as_str()).collect();
            let qos: Vec<u8> = filters.iter().map(|f| f.qos as u8).collect();
            span.record("topic", tracing::field::display(topics.join(",")));
            span.record("qos", tracing::field::debug(qos));
        }
        span
    }

    /// A received message (`trace` level). Its own small function: the driver calls it once
    /// per message, and the general [`Tracer::event`] has a large frame.
    #[inline]
    pub(crate) fn message(&self, message: &Message) {
        trace!(
            parent: &self.connection,
            topic = %message.topic,
            qos = message.qos as u8,
            retain = message.retain,
            dup = message.dup,
            "message received"
        )
    }

    /// The core admitted the request of `span` as `token`: the span lasts until it completes.
    pub(crate) fn started(&mut self, token: Token, span: Span) {
        if !span.is_disabled() {
            self.requests.insert(token, Request { span, pkid: None });
        }
    }

    /// Records the packet id of each traced request the core has sent since the last call
    /// (`in_flight` lists the core's requests in flight). Called after each turn of the driver
    /// loop: an ack can only arrive in a later turn than the packet it answers, so every request
    /// that was sent has its id recorded before it completes or fails. Costs nothing while no
    /// request span is enabled (the list is not even asked for), one hash lookup per request in
    /// flight otherwise.
    pub(crate) fn record_packet_ids<I: Iterator<Item = (Token, u16)>>(
        &mut self,
        in_flight: impl FnOnce() -> I,
    ) {
        if self.requests.is_empty() {
            return;
        }
        for (token, pkid) in in_flight() {
            if let Some(request) = self.requests.get_mut(&token) {
                request.record_pkid(pkid);
            }
        }
    }

    /// A command was refused at once by the core (it never got a token).
    pub(crate) fn refused(&self, what: &'static str, error: &dyn std::fmt::Display) {
        debug!(parent: &self.connection, request = what, %error, "request refused");
    }

    /// Reports one event of the core (before it is forwarded).
    pub(crate) fn event(&mut self, event: &Event) {
        let conn = &self.connection;
        match event {
            Event::Connected {
                session_present, ..
            } => info!(parent: conn, session_present, "connected"),
            Event::ConnectFailed(error) => {
                if let ConnectError::Protocol(protocol) = error {
                    warn!(parent: conn, error = %protocol, "protocol error");
                }
                warn!(parent: conn, %error, "connection attempt failed");
                self.connection = Span::none();
            }
            Event::ConnectionLost(reason) => {
                if let LostReason::Protocol(protocol) = reason {
                    warn!(parent: conn, error = %protocol, "protocol error");
                }
                warn!(parent: conn, reason = %reason, "connection lost");
                self.connection = Span::none();
            }
            Event::Reconnecting { attempt, delay } => {
                info!(attempt, delay_ms = delay.as_millis() as u64, "reconnecting")
            }
            Event::EndpointFailed {
                endpoint,
                failures,
                consecutive_failures,
            } => warn!(
                endpoint = %endpoint,
                failures,
                consecutive_failures,
                "endpoint failed"
            ),
            Event::Redirected {
                from,
                to,
                permanent,
            } => info!(from = %from, to = %to, permanent, "redirected by the broker"),
            Event::RedirectRefused { from, refused, .. } => {
                warn!(from = %from, reason = %refused, "redirect not followed")
            }
            Event::CircuitOpen { .. } => warn!("circuit breaker open: attempts paused"),
            Event::CircuitHalfOpen => info!("circuit breaker half-open: one probe attempt"),
            Event::GaveUp => {
                error!("reconnect policy gave up: client closed");
                self.connection = Span::none();
            }
            Event::Disconnected => {
                info!(parent: conn, "disconnected");
                self.connection = Span::none();
            }
            Event::TokenRefreshed {
                expires_at,
                reauthenticating,
            } => {
                let expires_in_s = expires_at
                    .and_then(|at| at.duration_since(std::time::SystemTime::now()).ok())
                    .map(|d| d.as_secs());
                if *reauthenticating {
                    info!(parent: conn, ?expires_in_s, "token refreshed: re-authenticating");
                } else {
                    info!(parent: conn, ?expires_in_s, "token refreshed: reconnecting with it");
                }
            }
            Event::TokenRefreshFailed(error) => {
                warn!(parent: conn, %error, "token refresh failed: retrying")
            }
            Event::Reauthenticated { .. } => info!(parent: conn, "re-authenticated"),
            Event::ReauthenticationFailed(error) => {
                warn!(parent: conn, %error, "re-authentication failed")
            }
            Event::AuthChallenge(_) => debug!(parent: conn, "authentication challenge"),
            Event::Resubscribed { results } => {
                info!(parent: conn, filters = results.len(), "resubscribed after session loss")
            }
            Event::SubscriptionEnded { id, end } => {
                debug!(parent: conn, subscription = ?id, %end, "subscription ended")
            }
            Event::Message { message, .. } => self.message(message),
            Event::Published { token, pkid } => {
                if let Some(mut request) = self.requests.remove(token) {
                    request.record_pkid(*pkid);
                    request.span.record("outcome", "completed");
                    debug!(parent: &request.span, pkid, "publish completed");
                }
            }
            Event::Subscribed { token, results } => {
                if let Some(request) = self.requests.remove(token) {
                    let refused = results.iter().filter(|r| r.is_err()).count();
                    let outcome = if refused == 0 { "granted" } else { "refused" };
                    request.span.record("outcome", outcome);
                    debug!(parent: &request.span, ?results, "subscribe answered");
                }
            }
            Event::Unsubscribed { .. } => debug!(parent: conn, "unsubscribed"),
            Event::RequestFailed { token, error } => {
                if let Some(request) = self.requests.remove(token) {
                    request.span.record("outcome", "failed");
                    debug!(parent: &request.span, %error, "request failed");
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
