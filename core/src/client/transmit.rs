//! The send path: control packets first (CONNECT, acks, PINGREQ, replays, DISCONNECT), then
//! queued requests while the in-flight and buffer bounds allow, all appended to one buffer.
//!
//! Message expiry (MQTT 5): a queued publish whose message expiry interval passed while it
//! waited here is never sent (its request fails with [`RequestError::Expired`]); one sent after
//! waiting carries its interval reduced by the whole seconds it waited, as a broker does.

use std::time::Instant;

use bytes::BytesMut;

use super::{Client, LastError, RequestError};
use crate::packet::Packet;
use crate::session::{age, aged, Request, Sent};

impl Client {
    /// Appends every packet ready to go to `out` (the `Output::Transmit` of `poll_output`);
    /// `None` when there is nothing to send.
    pub(super) fn poll_transmit(&mut self, now: Instant, out: &mut BytesMut) -> Option<usize> {
        // Called once per output (so once per received message too): each step is skipped
        // by a plain check when it has nothing to do.
        let start = out.len();
        let established = self.state().is_established();
        if established && self.session.resends_pending() {
            self.send_resends(now);
        }
        if !self.control.is_empty() {
            self.encode_control(out);
        }
        if established {
            if self.session.queued() > 0 {
                self.send_queued(now, out, start);
            }
            // Draining and everything sent: DISCONNECT goes out in this same write.
            self.close_if_drained();
            if !self.control.is_empty() {
                self.encode_control(out);
            }
        }
        let written = out.len() - start;
        if written == 0 {
            return None;
        }
        self.flow.handed_out(written);
        self.stats.buffered_bytes_high_water = self
            .stats
            .buffered_bytes_high_water
            .max(self.flow.buffered() as u64);
        self.last_sent = now;
        self.stats.bytes_sent += written as u64;
        Some(written)
    }

    /// Encodes the control packets (CONNECT, acks, PINGREQ, replays, DISCONNECT). The client
    /// builds them itself, so they encode; one that did not would be dropped, never half-sent.
    pub(super) fn encode_control(&mut self, out: &mut BytesMut) {
        while let Some(packet) = self.control.pop_front() {
            if let Err(error) = self.codec.encode(&packet, out) {
                self.last_error = Some(LastError::Unencodable {
                    packet: packet.name(),
                    error,
                });
            }
        }
    }

    /// Resumed entries that waited for room on this connection (`Session::resume`) go out
    /// again as acks free it, before anything new; they are control packets from here on.
    fn send_resends(&mut self, now: Instant) {
        let alias_max = self.limits.topic_alias_maximum;
        while let Some(packet) = self.session.next_resend(now, alias_max, self.max_in_flight) {
            self.stats.packets_replayed += 1;
            self.control.push_back(packet);
        }
    }

    /// Moves queued requests into flight while the in-flight bound and the buffer bound allow,
    /// encoding each. `start`: where this call's output began in `out`.
    pub(super) fn send_queued(&mut self, now: Instant, out: &mut BytesMut, start: usize) {
        loop {
            let Some(next) = self.session.peek_queued() else {
                return;
            };
            if next.is_expired(now) {
                if let Some(request) = self.session.pop_queued() {
                    self.expired(request);
                }
                continue;
            }
            let waited = next.waited_secs(now);
            // Measured at admission; dropping a topic alias (see `Outgoing::packet`) only
            // makes it smaller.
            if next.size > self.max_outgoing {
                // The broker's limits (CONNACK) are below what was admitted.
                let error = RequestError::PacketTooLarge {
                    size: next.size,
                    max: self.max_outgoing,
                };
                if let Some(request) = self.session.pop_queued() {
                    self.fail(request.token, error);
                }
                continue;
            }
            let size = next.size;
            let buffered = self.flow.buffered() + (out.len() - start);
            if buffered > 0 && buffered.saturating_add(size) > self.config.max_buffered_bytes {
                return;
            }
            let alias_max = self.limits.topic_alias_maximum;
            let room = self.max_outgoing.saturating_sub(size);
            // Without topic aliases the packet only borrows the request's topic (no copy).
            let aliasing = self.config.auto_topic_alias && alias_max > 0;
            let result = match self.session.next_to_send(self.max_in_flight) {
                None => return,
                Some(Sent::InFlight { pkid, body }) if !aliasing => {
                    let codec = &self.codec;
                    body.lend(pkid, false, alias_max, |packet| {
                        age(packet, waited);
                        codec.encode(packet, out)
                    })
                    .map(|_| ())
                    .map_err(|e| (pkid, e))
                }
                Some(Sent::InFlight { pkid, body }) => {
                    let mut packet = aged(body.packet(pkid, false, alias_max), waited);
                    self.alias_outgoing(&mut packet, room);
                    self.codec
                        .encode(&packet, out)
                        .map(|_| ())
                        .map_err(|e| (pkid, e))
                }
                Some(Sent::AtMostOnce(mut request)) => {
                    let encoded = if aliasing {
                        let mut packet = aged(request.body.packet(0, false, alias_max), waited);
                        self.alias_outgoing(&mut packet, room);
                        self.codec.encode(&packet, out)
                    } else {
                        let codec = &self.codec;
                        request.body.lend(0, false, alias_max, |packet| {
                            age(packet, waited);
                            codec.encode(packet, out)
                        })
                    };
                    match encoded {
                        Ok(_) => {
                            let pending = self.flow.buffered() + out.len() - start;
                            self.flow.track_qos0(pending, request);
                            Ok(())
                        }
                        Err(e) => {
                            self.fail(request.token, RequestError::Unencodable(e));
                            Ok(())
                        }
                    }
                }
            };
            if let Err((pkid, error)) = result {
                if let Some(token) = self.session.abandon(pkid) {
                    self.fail(token, RequestError::Unencodable(error));
                }
            }
        }
    }

    /// With `auto_topic_alias`, a PUBLISH goes out with an alias (see `aliases.rs`).
    fn alias_outgoing(&mut self, packet: &mut Packet, room: usize) {
        if let (true, Packet::Publish(publish)) = (self.config.auto_topic_alias, packet) {
            let maximum = self.limits.topic_alias_maximum;
            self.outgoing_aliases.apply(publish, maximum, room);
        }
    }
}

impl Client {
    /// Fails every queued publish whose message expiry interval has passed at `now` (from
    /// `handle_timeout`, so a request stuck behind a full in-flight window or a reconnect
    /// still fails on time).
    pub(super) fn expire_queued(&mut self, now: Instant) {
        for request in self.session.take_expired(now) {
            self.expired(request);
        }
    }

    /// A queued publish expired before it could be sent: counted, and its request fails.
    fn expired(&mut self, request: Request) {
        self.stats.messages_expired += 1;
        self.fail(request.token, RequestError::Expired);
    }
}
