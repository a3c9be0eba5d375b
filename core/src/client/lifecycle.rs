//! Connection attempts, losses, timers and closing: how the client moves through the states
//! that `state.rs` defines, and what it tells the reconnect policy.

use std::time::Instant;

use super::{Action, Client, Event, LostReason, RequestError};
use crate::credentials::Due;
use crate::endpoints::RedirectKind;
use crate::error::{ConnectError, ProtocolError};
use crate::packet::{Disconnect, Packet, ProtocolVersion, ReasonCode};
use crate::reconnect::Decision;
use crate::state::{ConnectionState, Input};

impl Client {
    pub(super) fn start_attempt(&mut self, now: Instant) {
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
        // Topic aliases belong to a connection.
        self.incoming_aliases.clear();
        self.outgoing_aliases.clear();
        // A new transport: bytes handed to the old one (a farewell DISCONNECT) are its own.
        // (QoS 0 publishes it never took were requeued when it ended.)
        self.flow.transport_gone();
        self.connect_held = false;
        self.transition(Input::Open {
            deadline: now + self.config.reconnect.connect_timeout,
        });
        // The token and the transport are fetched side by side; CONNECT waits for both.
        if self.credentials.request_for_connect(now) {
            self.actions.push_back(Action::FetchToken);
        }
        let endpoint = self.rotation.begin_attempt();
        self.actions.push_back(Action::Connect(endpoint));
    }

    pub(super) fn keep_alive_timeout(&mut self, now: Instant) {
        if self.keep_alive.is_zero() {
            return;
        }
        match self.ping_deadline {
            // While the adapter does not read, the PINGRESP may be waiting unread.
            Some(_) if self.flow.delivery_blocked() => {}
            Some(deadline) if now >= deadline => {
                self.connection_lost(now, LostReason::KeepAliveTimeout, None);
            }
            Some(_) => {}
            None if now >= self.last_sent + self.keep_alive => {
                self.control.push_back(Packet::PingReq);
                self.ping_deadline = Some(now + self.config.effective_ping_timeout());
                self.stats.pings_sent += 1;
                self.ping_sent_at = Some(now);
            }
            None => {}
        }
    }

    pub(super) fn credentials_timeout(&mut self, now: Instant) {
        if self.state() != ConnectionState::Connected
            || self.credentials.deadline().is_none_or(|d| now < d)
        {
            return;
        }
        match self.credentials.due(now) {
            Due::Refresh => self.actions.push_back(Action::FetchToken),
            Due::Expired => self.reconnect_with_new_credentials(now),
        }
    }

    /// A fresh token arrived for the connection in force: MQTT 5 re-authentication when the
    /// broker took the method `JWT` at CONNECT and no exchange is in progress, else a graceful
    /// reconnect (which sends it in CONNECT).
    pub(super) fn use_fresh_token(&mut self, now: Instant) {
        self.stats.tokens_refreshed += 1;
        let expires_at = self.credentials.fresh_expires_at();
        let reauthenticating = self.jwt_method_in_use()
            && self.auth_exchange_idle()
            && self.start_jwt_reauthentication(now);
        self.events.push_back(Event::TokenRefreshed {
            expires_at,
            reauthenticating,
        });
        if !reauthenticating {
            self.reconnect_with_new_credentials(now);
        }
    }

    /// A graceful reconnect: DISCONNECT (the will is not published), close, and start a new
    /// attempt at once. The session resumes, so in-flight messages are replayed.
    pub(super) fn reconnect_with_new_credentials(&mut self, now: Instant) {
        // A reconnect we chose is no failure: the connection counts as a success.
        if self.stable_at.is_some() {
            self.connection_stable();
        }
        // Back to the same endpoint.
        self.rotation.ended();
        self.end_transport(true, Some(Disconnect::normal()));
        self.transition(Input::Wait { retry_at: now });
    }

    pub(super) fn protocol_error(&mut self, now: Instant, error: ProtocolError) {
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
    pub(super) fn attempt_failed(
        &mut self,
        now: Instant,
        error: ConnectError,
        close: bool,
        farewell: Option<Disconnect>,
    ) {
        self.last_error = Some(error.to_string());
        self.events.push_back(Event::ConnectFailed(error));
        self.endpoint_failed();
        self.end_transport(close, farewell);
        self.after_failure(now);
    }

    /// An established connection ended. `farewell`: a DISCONNECT to send before closing (the
    /// transport is then still open and is closed).
    pub(super) fn connection_lost(
        &mut self,
        now: Instant,
        reason: LostReason,
        farewell: Option<Disconnect>,
    ) {
        let close = !matches!(reason, LostReason::Transport(_));
        let draining = self.state() == ConnectionState::Draining;
        if let LostReason::ServerDisconnect {
            reason: code,
            server_reference,
            ..
        } = &reason
        {
            // During a re-authentication "not authorized" is about the token, not a packet.
            if blames_a_packet(*code) && !self.reauthenticating() {
                self.strike_oldest_request(*code);
            }
            self.note_redirect(*code, server_reference.as_deref());
        }
        self.last_error = Some(reason.to_string());
        self.stats.connections_lost += 1;
        self.events.push_back(Event::ConnectionLost(reason));
        self.endpoint_failed();
        self.end_transport(close, farewell);
        if draining {
            // `disconnect()` was waiting for this connection: the close ends here.
            self.finish_closed();
        } else {
            self.after_failure(now);
        }
    }

    /// A CONNACK or DISCONNECT said "use another server" (0x9C) or "server moved" (0x9D) with
    /// a Server Reference: kept for the failure it comes with ([`Client::endpoint_failed`]).
    pub(super) fn note_redirect(&mut self, code: ReasonCode, reference: Option<&str>) {
        if let (Some(kind), Some(reference)) = (RedirectKind::from_reason(code), reference) {
            self.pending_redirect = Some((kind, reference.to_owned()));
        }
    }

    /// The attempt or connection in force failed: counted against its endpoint (and the
    /// rotation moves on), and a redirect that came with the failure is followed or refused.
    fn endpoint_failed(&mut self) {
        let redirect = self.pending_redirect.take();
        let from = self.rotation.current().cloned();
        if let Some(stats) = self.rotation.failed() {
            self.events.push_back(Event::EndpointFailed {
                endpoint: stats.endpoint.clone(),
                failures: stats.failures,
                consecutive_failures: stats.consecutive_failures,
            });
        }
        let (Some((kind, reference)), Some(from)) = (redirect, from) else {
            return;
        };
        let permanent = kind == RedirectKind::Permanent;
        let event = match self.rotation.redirect(&from, &reference, kind) {
            Ok(to) => Event::Redirected {
                from,
                to,
                permanent,
            },
            Err(refused) => Event::RedirectRefused {
                from,
                reference,
                refused,
            },
        };
        self.events.push_back(event);
    }

    /// The broker ended the connection with an error: the oldest request it had not
    /// acknowledged is the suspect. At `poison_threshold` strikes in a row it fails instead of
    /// being sent again on every connection (a poison message and a reconnect storm).
    fn strike_oldest_request(&mut self, reason: ReasonCode) {
        let threshold = self.config.poison_threshold;
        if let Some(entry) = self.session.strike_oldest_unacked(threshold) {
            self.stats.requests_poisoned += 1;
            self.fail(
                entry.token,
                RequestError::Poison {
                    reason,
                    connections: entry.strikes,
                },
            );
        }
    }

    /// The connection stayed up `stable_after`: the reconnect policy counts it as a success
    /// (backoff and failure count reset), and strikes against requests start over.
    pub(super) fn connection_stable(&mut self) {
        self.stable_at = None;
        self.reconnect.on_success();
        self.session.clear_strikes();
    }

    /// The transport in force ends (the caller moves the lifecycle on). `close`: it is still
    /// open and must be closed, after `farewell` if any.
    pub(super) fn end_transport(&mut self, close: bool, farewell: Option<Disconnect>) {
        self.end_auth_exchange(super::ReauthError::ConnectionLost);
        self.connection = None;
        self.credentials.disarm();
        self.control.clear();
        self.inbuf.clear();
        self.ping_deadline = None;
        self.stable_at = None;
        // QoS 0 publishes that never reached the transport go out on the next connection, as
        // far as the queue has room (its bound holds); the rest fail, the application is told.
        let mut unwritten = self.flow.transport_gone();
        let room = self
            .session
            .max_queued()
            .saturating_sub(self.session.queued());
        for request in unwritten.split_off(room.min(unwritten.len())) {
            self.fail(request.token, RequestError::NotWritten);
        }
        self.session.requeue_front(unwritten);
        if close {
            if let Some(farewell) = farewell {
                self.control.push_back(Packet::Disconnect(farewell));
            }
            self.actions.push_back(Action::Close);
        }
    }

    /// After a failed attempt or a lost connection: ask the reconnect policy what next.
    pub(super) fn after_failure(&mut self, now: Instant) {
        match self.reconnect.on_failure(now) {
            Decision::Retry { at, attempt, delay } => {
                self.transition(Input::Wait { retry_at: at });
                self.events
                    .push_back(Event::Reconnecting { attempt, delay });
            }
            Decision::OpenCircuit { until } => {
                self.transition(Input::Wait { retry_at: until });
                self.events.push_back(Event::CircuitOpen { until });
            }
            Decision::GiveUp => {
                self.events.push_back(Event::GaveUp);
                self.close_all();
            }
            Decision::Disabled => {
                // Nothing will send what is pending: it fails now, not at some later close.
                self.transition(Input::Stop);
                self.fail_all(RequestError::NotConnected);
            }
        }
    }

    /// Draining and nothing left to wait for: start closing (DISCONNECT goes out last).
    pub(super) fn close_if_drained(&mut self) {
        if self.state() == ConnectionState::Draining
            && self.session.in_flight() == 0
            && self.session.queued() == 0
        {
            let deadline = self.lifecycle.close_deadline();
            self.queue_final_disconnect(deadline);
        }
    }

    /// The draining deadline passed: what is still outstanding fails; DISCONNECT goes out after
    /// what is already buffered and owed, and the transport gets a fresh deadline to close.
    pub(super) fn begin_close(&mut self, now: Instant) {
        self.fail_session(RequestError::Closed);
        self.queue_final_disconnect(Some(now + self.config.reconnect.connect_timeout));
    }

    fn queue_final_disconnect(&mut self, deadline: Option<Instant>) {
        // Normal, or the reason and properties `disconnect_with` chose.
        self.control
            .push_back(Packet::Disconnect(self.farewell.clone()));
        self.actions.push_back(Action::Close);
        match deadline {
            Some(deadline) => self.transition(Input::Close { deadline }),
            None => self.finish_closed(),
        }
    }

    /// The close is over (transport closed, failed, or out of time): fail what is left, the
    /// client is `Closed`, and the application hears [`Event::Disconnected`].
    pub(super) fn finish_closed(&mut self) {
        self.end_auth_exchange(super::ReauthError::Closed);
        self.stable_at = None;
        self.close_all();
        self.events.push_back(Event::Disconnected);
    }

    /// Fails everything pending (queued, in flight, QoS 0 not yet written) and closes for good:
    /// nothing is routed any more (the adapter ends every stream when it sees the client closed).
    pub(super) fn close_all(&mut self) {
        self.fail_all(RequestError::Closed);
        self.routing.clear();
        self.transition(Input::Finish);
    }

    pub(super) fn fail_all(&mut self, error: RequestError) {
        for request in self.flow.transport_gone() {
            self.fail(request.token, error.clone());
        }
        self.fail_session(error);
    }

    /// Fails every queued and in-flight request (the session starts over).
    fn fail_session(&mut self, error: RequestError) {
        let internal = self.routing.take_resubscribes();
        self.held_acks.clear();
        for token in self.session.drain_all() {
            // The internal re-subscribes' tokens were never handed to the application.
            if !internal.contains(&token) {
                self.fail(token, error.clone());
            }
        }
    }
}
pub(super) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Whether a DISCONNECT reason can be about a packet we sent (so the oldest unacknowledged
/// request is a suspect). The broker's own reasons (shutting down, busy, administrative action,
/// session taken over, keep-alive, use another server, rates) are not held against a request:
/// a broker kicking us three times is no poison message.
fn blames_a_packet(code: ReasonCode) -> bool {
    matches!(
        code,
        ReasonCode::UNSPECIFIED_ERROR
            | ReasonCode::MALFORMED_PACKET
            | ReasonCode::PROTOCOL_ERROR
            | ReasonCode::IMPLEMENTATION_SPECIFIC_ERROR
            | ReasonCode::NOT_AUTHORIZED
            | ReasonCode::TOPIC_FILTER_INVALID
            | ReasonCode::TOPIC_NAME_INVALID
            | ReasonCode::TOPIC_ALIAS_INVALID
            | ReasonCode::PACKET_TOO_LARGE
            | ReasonCode::QUOTA_EXCEEDED
            | ReasonCode::PAYLOAD_FORMAT_INVALID
            | ReasonCode::RETAIN_NOT_SUPPORTED
            | ReasonCode::QOS_NOT_SUPPORTED
            | ReasonCode::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED
            | ReasonCode::SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED
            | ReasonCode::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED
    )
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
