//! Packets from the broker: CONNACK, PUBLISH and every ack, PINGRESP, DISCONNECT.

use std::time::{Duration, Instant};

use super::connection::{BrokerLimits, ConnectionInfo};
use super::routing::Unmatched;
use super::{
    Client, Event, LastError, LostReason, Message, RequestError, SubscriptionEnd, SubscriptionId,
    Token,
};
use crate::config::SessionLostPolicy;
use crate::error::{ConnectError, Malformed, ProtocolError};
use crate::packet::{
    Ack, ConnAck, Packet, ProtocolVersion, Publish, QoS, ReasonCode, SubAck, SubscribeProperties,
    UnsubAck,
};
use crate::session::{Outgoing, Request, Stage};
use crate::state::{ConnectionState, Input};
use crate::topic::TopicFilter;

impl Client {
    pub(super) fn handle_packet(
        &mut self,
        now: Instant,
        packet: Packet,
    ) -> Result<(), ProtocolError> {
        // Mosquitto 2.0.11 refuses a re-authentication with a failure CONNACK on the open
        // connection, where the specification asks for DISCONNECT: read it as that refusal.
        if let Packet::ConnAck(connack) = &packet {
            if self.state().is_established()
                && !connack.code.is_success()
                && !self.auth_exchange_idle()
                && self.reauthentication_refused(now, connack.code)
            {
                return Ok(());
            }
        }
        if !self.state().allows_incoming(&packet) {
            return Err(ProtocolError::UnexpectedPacket {
                packet: packet.name(),
                state: self.state().name(),
            });
        }
        match packet {
            Packet::ConnAck(connack) => return self.handle_connack(now, *connack),
            Packet::Auth(auth) => return self.handle_auth(*auth),
            Packet::Publish(publish) => return self.handle_publish(publish),
            Packet::PubAck(ack) => self.handle_puback(ack),
            Packet::PubRec(ack) => self.handle_pubrec(ack),
            Packet::PubRel(ack) => {
                self.session.incoming_release(ack.pkid);
                self.control
                    .push_back(Packet::PubComp(Ack::success(ack.pkid)));
            }
            Packet::PubComp(ack) => match self.session.pubcomp(ack.pkid) {
                Some(entry) => self.complete_publish(entry.token, ack.pkid),
                None => self.stats.unexpected_acks += 1,
            },
            Packet::SubAck(suback) => return self.handle_suback(suback),
            Packet::UnsubAck(unsuback) => return self.handle_unsuback(unsuback),
            Packet::PingResp => {
                self.ping_deadline = None;
                if let Some(sent) = self.ping_sent_at.take() {
                    self.ping_rtt = Some(now.saturating_duration_since(sent));
                }
            }
            Packet::Disconnect(disconnect) => {
                let code = disconnect.reason;
                let properties = disconnect.properties;
                let reason = LostReason::ServerDisconnect {
                    reason: code,
                    reason_string: properties.reason_string,
                    server_reference: properties.server_reference,
                    user_properties: properties.user_properties,
                };
                match self.state() {
                    ConnectionState::Connecting => {
                        if let LostReason::ServerDisconnect {
                            server_reference, ..
                        } = &reason
                        {
                            self.note_redirect(code, server_reference.as_deref());
                        }
                        self.attempt_failed(now, ConnectError::Refused(code), true, None)
                    }
                    _ => self.connection_lost(now, reason, None),
                }
            }
            // `allows_incoming` refuses everything else.
            _ => {}
        }
        Ok(())
    }

    pub(super) fn handle_connack(
        &mut self,
        now: Instant,
        connack: ConnAck,
    ) -> Result<(), ProtocolError> {
        if !connack.code.is_success() {
            if connack.code == ReasonCode::BAD_AUTHENTICATION_METHOD && self.jwt_method_in_use() {
                // The broker does not take the token under `JWT`: send it as the password
                // from now on, at once (this is no failure of the broker or the token).
                self.jwt_method_refused = true;
                self.last_error = Some(LastError::ConnectFailed(ConnectError::Refused(
                    connack.code,
                )));
                self.end_transport(true, None);
                self.reconnect.retry_now(now);
                self.transition(Input::Wait { retry_at: now });
                return Ok(());
            }
            if matches!(
                connack.code,
                ReasonCode::BAD_USER_NAME_OR_PASSWORD | ReasonCode::NOT_AUTHORIZED
            ) {
                self.credentials.rejected();
            }
            self.note_redirect(connack.code, connack.properties.server_reference.as_deref());
            self.attempt_failed(now, ConnectError::Refused(connack.code), true, None);
            return Ok(());
        }
        self.connack_authentication(connack.properties.authentication_method.as_deref())?;
        let props = &connack.properties;
        self.limits = BrokerLimits::from_connack(&connack);
        self.max_in_flight = usize::from(self.limits.receive_maximum.min(self.config.max_inflight));
        self.max_outgoing = self
            .limits
            .maximum_packet_size
            .map_or(usize::MAX, |max| max as usize)
            .min(self.config.max_outgoing_packet_size);
        // Server keep alive: the broker's value replaces ours for this connection.
        self.keep_alive = props
            .server_keep_alive
            .map_or(self.config.keep_alive, |secs| {
                Duration::from_secs(secs.into())
            });
        // Kept for reconnects, so that the session the broker made for it resumes.
        if let Some(id) = &props.assigned_client_identifier {
            self.client_id.clone_from(id);
        }
        let endpoint = self.rotation.connected();
        let info =
            ConnectionInfo::from_connack(&connack, &self.client_id, self.keep_alive, endpoint);
        self.connection = Some(info.clone());
        self.transition(Input::Accepted);
        // The backoff resets only once the connection has lasted (see `connection_stable`).
        let stable_after = self.config.reconnect.stable_after;
        if stable_after.is_zero() {
            self.connection_stable();
        } else {
            self.stable_at = Some(now + stable_after);
        }
        self.credentials.connected();
        self.stats.connections += 1;
        self.ping_deadline = None;
        self.ping_sent_at = None;

        if connack.session_present {
            let (replay, too_large) = self.session.resume(
                now,
                self.limits.topic_alias_maximum,
                self.max_in_flight,
                self.max_outgoing,
            );
            // The broker's maximum packet size is now below what was sent before.
            for (token, size) in too_large {
                let max = self.max_outgoing;
                self.fail(token, RequestError::PacketTooLarge { size, max });
            }
            self.stats.packets_replayed += replay.len() as u64;
            // A replayed publish with an alias the application set maps it at the broker:
            // the automatic aliases of this connection start from that mapping.
            if self.config.auto_topic_alias {
                for packet in &replay {
                    if let Packet::Publish(publish) = packet {
                        self.outgoing_aliases.record(publish);
                    }
                }
            }
            self.control.extend(replay);
        } else {
            self.session_lost(now);
        }
        self.refuse_beyond_limits();
        if !self.limits.subscription_identifiers_available {
            self.refuse_subscription_identifiers();
        }
        self.connected_once = true;
        self.events.push_back(Event::Connected {
            session_present: connack.session_present,
            info: Box::new(info),
        });
        Ok(())
    }

    /// The broker has no session: apply the session-lost policy to what was in flight, and
    /// subscribe the application's subscriptions again.
    pub(super) fn session_lost(&mut self, now: Instant) {
        // Earlier re-subscribes that never completed are replaced by the ones made below.
        let previous_resubscribe = self.routing.take_resubscribes();
        for token in &previous_resubscribe {
            self.session.remove_queued(*token);
        }
        let mut requeue = Vec::new();
        let fail_publishes = self.config.session_lost_policy == SessionLostPolicy::FailInFlight;
        // The broker forgot the messages whose acks were held: nothing to acknowledge.
        self.held_acks.clear();
        for entry in self.session.reset_for_new_session() {
            if previous_resubscribe.contains(&entry.token) {
                continue;
            }
            match &entry.stage {
                // PUBREC came back: the broker took ownership of the message.
                Stage::AwaitingComplete => self.complete_publish(entry.token, entry.pkid),
                Stage::AwaitingAck {
                    body: Outgoing::Publish { .. },
                    ..
                } if fail_publishes => self.fail(entry.token, RequestError::SessionLost),
                Stage::AwaitingAck { .. } => requeue.extend(entry.into_request()),
            }
        }
        let groups = if self.connected_once {
            self.routing.to_resubscribe()
        } else {
            Vec::new()
        };
        // Nothing is routed to them until the new session grants them again.
        self.routing.session_lost();
        // One SUBSCRIBE per subscription identifier (a packet carries at most one).
        let mut resubscribes = Vec::with_capacity(groups.len());
        for (identifier, mut filters) in groups {
            // A filter the new broker's limits refuse (wildcards or shared subscriptions
            // unavailable) is not sent: its subscriptions end with the reason it would give.
            let limits = self.limits;
            let mut refused = Vec::new();
            filters.retain(|f| {
                let refusal = TopicFilter::new(f.filter.as_str())
                    .ok()
                    .and_then(|filter| limits.refuses_filter(&filter));
                if let Some(unsupported) = &refusal {
                    refused.push((f.filter.clone(), unsupported.reason_code()));
                }
                refusal.is_none()
            });
            for (filter, reason) in refused {
                let ended = self.routing.refused_again(&filter);
                self.end_subscriptions(ended, SubscriptionEnd::ResubscribeRefused(reason));
            }
            if filters.is_empty() {
                continue;
            }
            let token = self.new_token();
            self.routing.add_resubscribe(token, &filters);
            let mut body = Outgoing::Subscribe {
                filters,
                properties: SubscribeProperties {
                    subscription_identifier: identifier,
                    user_properties: Vec::new(),
                },
            };
            // Each filter was admitted alone; together they may exceed the packet size, and
            // then the re-subscribe fails when it is due (`send_queued`), never silently.
            let size = self.measure(&mut body).unwrap_or(usize::MAX);
            resubscribes.push(Request::new(token, body, size, now));
        }
        resubscribes.extend(requeue);
        self.session.requeue_front(resubscribes);
    }

    /// The broker does not take subscription identifiers: the queued SUBSCRIBEs that carry
    /// one are refused (the broker would end the connection over them), and so are the
    /// re-subscriptions of subscriptions made with one.
    fn refuse_subscription_identifiers(&mut self) {
        let carries_identifier = |body: &Outgoing| {
            matches!(
                body,
                Outgoing::Subscribe { properties, .. }
                    if properties.subscription_identifier.is_some()
            )
        };
        let reason = ReasonCode::SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED;
        for token in self.session.remove_queued_where(carries_identifier) {
            if self.routing.is_resubscribe(token) {
                let ended = self.routing.remove_regranting(token);
                self.end_subscriptions(ended, SubscriptionEnd::ResubscribeRefused(reason));
            } else {
                self.fail(token, RequestError::Refused(reason));
            }
        }
    }

    pub(super) fn handle_publish(&mut self, mut publish: Publish) -> Result<(), ProtocolError> {
        // Within the maximum we announced (0 unless configured), per connection.
        self.incoming_aliases
            .resolve(&mut publish, self.config.topic_alias_maximum)?;
        let pkid = publish.pkid;
        let (deliver, ack) = if self.config.manual_ack {
            self.incoming_held(pkid, publish.qos)?
        } else {
            (self.incoming_automatic(pkid, publish.qos)?, None)
        };
        if !deliver {
            self.stats.duplicates_suppressed += 1;
            return Ok(());
        }
        self.stats.messages_received += 1;
        let message = Message {
            topic: publish.topic,
            payload: publish.payload,
            qos: publish.qos,
            retain: publish.retain,
            dup: publish.dup,
            properties: publish.properties,
            ack,
        };
        let subscriptions = self.routing.route(&message);
        if !subscriptions.is_empty() {
            self.events.push_back(Event::Message {
                message,
                subscriptions,
            });
            return Ok(());
        }
        self.stats.messages_unmatched += 1;
        match self.routing.keep_unmatched(message) {
            Unmatched::Kept { dropped: None } => {}
            Unmatched::Kept {
                dropped: Some(dropped),
            }
            | Unmatched::Dropped(dropped) => {
                self.stats.messages_unmatched_dropped += 1;
                self.release_dropped(&dropped);
            }
        }
        Ok(())
    }

    pub(super) fn handle_puback(&mut self, ack: Ack) {
        match self.session.puback(ack.pkid) {
            Some(entry) if ack.reason.is_success() => self.complete_publish(entry.token, ack.pkid),
            Some(entry) => self.fail(entry.token, RequestError::Refused(ack.reason)),
            None => self.stats.unexpected_acks += 1,
        }
        self.close_if_drained();
    }

    pub(super) fn handle_pubrec(&mut self, ack: Ack) {
        match self.session.pubrec(ack.pkid, !ack.reason.is_success()) {
            Some(Ok(_)) => self
                .control
                .push_back(Packet::PubRel(Ack::success(ack.pkid))),
            Some(Err(entry)) => {
                self.fail(entry.token, RequestError::Refused(ack.reason));
                self.close_if_drained();
            }
            None if self.session.release_pending(ack.pkid) => {
                self.control
                    .push_back(Packet::PubRel(Ack::success(ack.pkid)));
            }
            None => {
                self.stats.unexpected_acks += 1;
                // The spec asks for a PUBREL anyway, so the broker can end its flow.
                let mut release = Ack::success(ack.pkid);
                if self.config.protocol == ProtocolVersion::V5 {
                    release.reason = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
                }
                self.control.push_back(Packet::PubRel(release));
            }
        }
    }

    pub(super) fn complete_publish(&mut self, token: Token, pkid: u16) {
        self.stats.publishes_completed += 1;
        self.events.push_back(Event::Published { token, pkid });
        self.close_if_drained();
    }

    pub(super) fn handle_suback(&mut self, suback: SubAck) -> Result<(), ProtocolError> {
        let Some(entry) = self.session.suback(suback.pkid) else {
            self.stats.unexpected_acks += 1;
            return Ok(());
        };
        let filters = match &entry.body {
            Outgoing::Subscribe { filters, .. } if filters.len() == suback.reasons.len() => {
                filters.clone()
            }
            body => {
                let filters = body.filter_count();
                return Err(self.reason_count_mismatch(entry, "SUBACK", suback.reasons, filters));
            }
        };
        let token = entry.token;
        let again = self.routing.is_resubscribe(token);
        if again {
            self.routing.resubscribe_done(token);
        }
        let mut results = Vec::with_capacity(filters.len());
        let mut granted = Vec::new();
        for (index, (filter, reason)) in filters.into_iter().zip(suback.reasons).enumerate() {
            let result = match QoS::from_u8(reason.0) {
                Some(qos) if reason.is_success() => Ok(qos),
                _ => Err(reason),
            };
            match (result, again) {
                (Ok(_), false) => granted.push(SubscriptionId::new(token, index)),
                (Ok(_), true) => granted.extend(self.routing.regranting(&filter.filter)),
                (Err(code), false) => {
                    // Unless the application unsubscribed it meanwhile (it ended then).
                    let id = SubscriptionId::new(token, index);
                    if self.routing.remove(id) {
                        self.end_subscriptions(vec![id], SubscriptionEnd::Refused(code));
                    }
                }
                (Err(code), true) => {
                    // Nothing more will arrive for it: its streams end with the reason.
                    let ended = self.routing.refused_again(&filter.filter);
                    self.end_subscriptions(ended, SubscriptionEnd::ResubscribeRefused(code));
                }
            }
            results.push((filter.filter, result));
        }
        if again {
            self.events.push_back(Event::Resubscribed { results });
        } else {
            self.events.push_back(Event::Subscribed {
                token,
                results: results.into_iter().map(|(_, r)| r).collect(),
            });
        }
        // What waited for these subscriptions comes right after the answer, before anything
        // newer (the adapter has handed out their streams by then).
        for (message, subscriptions) in self.routing.grant(&granted) {
            self.events.push_back(Event::Message {
                message,
                subscriptions,
            });
        }
        self.close_if_drained();
        Ok(())
    }

    pub(super) fn handle_unsuback(&mut self, unsuback: UnsubAck) -> Result<(), ProtocolError> {
        let Some(entry) = self.session.unsuback(unsuback.pkid) else {
            self.stats.unexpected_acks += 1;
            return Ok(());
        };
        let filters = match &entry.body {
            Outgoing::Unsubscribe { filters, .. } => filters.clone(),
            _ => Vec::new(),
        };
        // MQTT 3.1.1 UNSUBACK carries no reason codes: every filter succeeded.
        let reasons = if unsuback.reasons.is_empty() {
            vec![ReasonCode::SUCCESS; filters.len()]
        } else if unsuback.reasons.len() == filters.len() {
            unsuback.reasons
        } else {
            let filters = filters.len();
            return Err(self.reason_count_mismatch(entry, "UNSUBACK", unsuback.reasons, filters));
        };
        // The subscriptions ended when the UNSUBSCRIBE was accepted (`Client::unsubscribe`).
        let results = reasons
            .into_iter()
            .map(|reason| {
                if reason.is_success() {
                    Ok(())
                } else {
                    Err(reason)
                }
            })
            .collect();
        self.events.push_back(Event::Unsubscribed {
            token: entry.token,
            results,
        });
        self.close_if_drained();
        Ok(())
    }

    /// A SUBACK or UNSUBACK with a reason code count that is not its request's filter count:
    /// the connection ends with the error returned, and the request goes back to the front of
    /// the queue, to be sent again on the next connection (not lost).
    fn reason_count_mismatch(
        &mut self,
        entry: Request,
        packet: &'static str,
        reasons: Vec<ReasonCode>,
        filters: usize,
    ) -> ProtocolError {
        self.session.requeue_front(vec![entry]);
        ProtocolError::MalformedPacket(Malformed::ReasonCountMismatch {
            packet,
            reasons: reasons.len(),
            filters,
        })
    }
}
