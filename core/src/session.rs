//! The MQTT session as the client keeps it: packet identifiers, the outgoing requests in flight
//! (in the order they were first sent, for replay), the bounded queue of requests not yet sent,
//! and the incoming QoS 2 packet ids already delivered (for exactly-once delivery).
//!
//! This module owns *bookkeeping* only; it never decides when to send. `client.rs` asks it to
//! admit requests, to pick the next one to send, to match acks, and to rebuild itself after a
//! reconnect ([`Session::resume`] / [`Session::reset_for_new_session`]).

use std::collections::VecDeque;

use crate::client::Token;
use crate::packet::{Ack, Packet, QoS};

/// A request the application handed over: a PUBLISH, SUBSCRIBE or UNSUBSCRIBE packet whose
/// packet id is assigned when it is sent.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) token: Token,
    pub(crate) packet: Packet,
    /// Connections in a row the broker ended with an error while this was the oldest request
    /// it had not acknowledged (see `ClientConfig::poison_threshold`).
    pub(crate) strikes: u32,
}

impl Request {
    pub(crate) fn new(token: Token, packet: Packet) -> Request {
        Request {
            token,
            packet,
            strikes: 0,
        }
    }
}

impl Request {
    fn needs_packet_id(&self) -> bool {
        match &self.packet {
            Packet::Publish(p) => p.qos != QoS::AtMostOnce,
            _ => true,
        }
    }
}

/// Where an in-flight request is in its acknowledgement flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Sent; waiting for PUBACK, PUBREC, SUBACK or UNSUBACK.
    AwaitingAck,
    /// QoS 2 only: PUBREC received, PUBREL sent, waiting for PUBCOMP. The broker owns the
    /// message now; `packet` holds the PUBREL to resend.
    AwaitingComplete,
}

/// A request sent and not yet completely acknowledged. `packet` is exactly what is resent on
/// session resume (with DUP set for a PUBLISH).
#[derive(Debug, Clone)]
pub(crate) struct InFlight {
    pub(crate) token: Token,
    pub(crate) pkid: u16,
    pub(crate) stage: Stage,
    pub(crate) packet: Packet,
    pub(crate) strikes: u32,
}

/// Packet identifiers in use, one bit each: ids are never reused while in flight.
#[derive(Debug, Clone)]
struct PacketIds {
    used: Vec<u64>,
    next: u16,
    count: usize,
}

impl PacketIds {
    fn new() -> PacketIds {
        PacketIds {
            used: vec![0; 1024],
            next: 1,
            count: 0,
        }
    }

    fn is_used(&self, id: u16) -> bool {
        self.used[usize::from(id / 64)] & (1 << (id % 64)) != 0
    }

    fn set(&mut self, id: u16, used: bool) {
        let word = &mut self.used[usize::from(id / 64)];
        let bit = 1u64 << (id % 64);
        if used && *word & bit == 0 {
            *word |= bit;
            self.count += 1;
        } else if !used && *word & bit != 0 {
            *word &= !bit;
            self.count -= 1;
        }
    }

    /// The next free id after the last one handed out; `None` when all 65,535 are in use.
    fn allocate(&mut self) -> Option<u16> {
        if self.count >= usize::from(u16::MAX) {
            return None;
        }
        loop {
            let id = self.next;
            self.next = if self.next == u16::MAX {
                1
            } else {
                self.next + 1
            };
            if !self.is_used(id) {
                self.set(id, true);
                return Some(id);
            }
        }
    }
}

/// What leaves the queue when the client may send.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // returned by value and consumed at once, never stored
pub(crate) enum Sent<'a> {
    /// A request that now waits for its ack: encode `packet`, which stays in flight.
    InFlight(&'a InFlight),
    /// A QoS 0 publish: nothing to wait for; encode it and complete its token.
    AtMostOnce(Request),
}

/// The client side of an MQTT session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    ids: PacketIds,
    /// Sent, not fully acknowledged, in first-sent order (the replay order).
    in_flight: VecDeque<InFlight>,
    /// Waiting to be sent, in the order the application handed them over.
    queue: VecDeque<Request>,
    max_queued: usize,
    /// Incoming QoS 2 publishes delivered to the application, waiting for PUBREL.
    incoming_qos2: Vec<u16>,
}

impl Session {
    pub(crate) fn new(max_queued: usize) -> Session {
        Session {
            ids: PacketIds::new(),
            in_flight: VecDeque::new(),
            queue: VecDeque::new(),
            max_queued,
            incoming_qos2: Vec::new(),
        }
    }

    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    pub(crate) fn queue_is_full(&self) -> bool {
        self.queue.len() >= self.max_queued
    }

    pub(crate) fn max_queued(&self) -> usize {
        self.max_queued
    }

    /// Queues a request; the caller checked `queue_is_full` first.
    pub(crate) fn enqueue(&mut self, request: Request) {
        self.queue.push_back(request);
    }

    /// The next request in the queue, without taking it.
    pub(crate) fn peek_queued(&self) -> Option<&Request> {
        self.queue.front()
    }

    /// Takes the next queued request off the queue whatever the bounds (it is failed).
    pub(crate) fn pop_queued(&mut self) -> Option<Request> {
        self.queue.pop_front()
    }

    /// The broker ended the connection with an error: the oldest request it had not
    /// acknowledged (in first-sent order) gets a strike. Returns it, taken out of the session,
    /// when it reached `threshold` strikes.
    pub(crate) fn strike_oldest_unacked(&mut self, threshold: u32) -> Option<InFlight> {
        let index = self
            .in_flight
            .iter()
            .position(|e| e.stage == Stage::AwaitingAck)?;
        let entry = &mut self.in_flight[index];
        entry.strikes = entry.strikes.saturating_add(1);
        if entry.strikes >= threshold {
            self.take(index)
        } else {
            None
        }
    }

    /// A connection stayed up: the broker lives with every request, strikes start over.
    pub(crate) fn clear_strikes(&mut self) {
        self.in_flight.iter_mut().for_each(|e| e.strikes = 0);
        self.queue.iter_mut().for_each(|r| r.strikes = 0);
    }

    /// Takes the next queued request if it may be sent now, giving it a packet id when it needs
    /// one. A request that needs an id waits while `max_in_flight` are in flight (QoS 0
    /// publishes queued behind it wait too: order is kept).
    pub(crate) fn next_to_send(&mut self, max_in_flight: usize) -> Option<Sent<'_>> {
        let needs_id = self.queue.front()?.needs_packet_id();
        if !needs_id {
            return self.queue.pop_front().map(Sent::AtMostOnce);
        }
        if self.in_flight.len() >= max_in_flight {
            return None;
        }
        let pkid = self.ids.allocate()?;
        let Request {
            token,
            mut packet,
            strikes,
        } = self.queue.pop_front()?;
        match &mut packet {
            Packet::Publish(p) => {
                p.pkid = pkid;
                p.dup = false;
            }
            Packet::Subscribe(s) => s.pkid = pkid,
            Packet::Unsubscribe(u) => u.pkid = pkid,
            _ => {}
        }
        self.in_flight.push_back(InFlight {
            token,
            pkid,
            stage: Stage::AwaitingAck,
            packet,
            strikes,
        });
        self.in_flight.back().map(Sent::InFlight)
    }

    fn position(&self, pkid: u16, stage: Stage, want: impl Fn(&Packet) -> bool) -> Option<usize> {
        self.in_flight
            .iter()
            .position(|e| e.pkid == pkid && e.stage == stage && want(&e.packet))
    }

    fn take(&mut self, index: usize) -> Option<InFlight> {
        let entry = self.in_flight.remove(index)?;
        self.ids.set(entry.pkid, false);
        Some(entry)
    }

    /// PUBACK: completes a QoS 1 publish.
    pub(crate) fn puback(&mut self, pkid: u16) -> Option<InFlight> {
        let index = self.position(
            pkid,
            Stage::AwaitingAck,
            |p| matches!(p, Packet::Publish(p) if p.qos == QoS::AtLeastOnce),
        )?;
        self.take(index)
    }

    /// PUBREC for a QoS 2 publish. Success: the entry moves to [`Stage::AwaitingComplete`] in
    /// place (keeping replay order) and the PUBREL to send is returned. `failed` (MQTT 5 reason
    /// >= 0x80): the flow ends and the entry is returned in `Err`.
    pub(crate) fn pubrec(&mut self, pkid: u16, failed: bool) -> Option<Result<Token, InFlight>> {
        let index = self.position(
            pkid,
            Stage::AwaitingAck,
            |p| matches!(p, Packet::Publish(p) if p.qos == QoS::ExactlyOnce),
        )?;
        if failed {
            return self.take(index).map(Err);
        }
        let entry = &mut self.in_flight[index];
        entry.stage = Stage::AwaitingComplete;
        entry.packet = Packet::PubRel(Ack::success(pkid));
        Some(Ok(entry.token))
    }

    /// Drops an in-flight request that cannot be sent after all (it is failed by the caller).
    pub(crate) fn abandon(&mut self, token: Token) {
        if let Some(index) = self.in_flight.iter().rposition(|e| e.token == token) {
            self.take(index);
        }
    }

    /// Drops a queued (not yet sent) request.
    pub(crate) fn remove_queued(&mut self, token: Token) {
        self.queue.retain(|request| request.token != token);
    }

    /// Is a PUBREL pending for this id (so a repeated PUBREC is answered again)?
    pub(crate) fn release_pending(&self, pkid: u16) -> bool {
        self.position(pkid, Stage::AwaitingComplete, |_| true)
            .is_some()
    }

    /// PUBCOMP: completes a QoS 2 publish.
    pub(crate) fn pubcomp(&mut self, pkid: u16) -> Option<InFlight> {
        let index = self.position(pkid, Stage::AwaitingComplete, |_| true)?;
        self.take(index)
    }

    pub(crate) fn suback(&mut self, pkid: u16) -> Option<InFlight> {
        let index = self.position(pkid, Stage::AwaitingAck, |p| {
            matches!(p, Packet::Subscribe(_))
        })?;
        self.take(index)
    }

    pub(crate) fn unsuback(&mut self, pkid: u16) -> Option<InFlight> {
        let index = self.position(pkid, Stage::AwaitingAck, |p| {
            matches!(p, Packet::Unsubscribe(_))
        })?;
        self.take(index)
    }

    /// Incoming QoS 2 PUBLISH: `Some(true)` the first time this id is seen (deliver it),
    /// `Some(false)` for a duplicate (ack it again, do not deliver). `None`: `limit` ids are
    /// already pending (the peer broke the receive maximum).
    pub(crate) fn incoming_qos2(&mut self, pkid: u16, limit: usize) -> Option<bool> {
        if self.incoming_qos2.contains(&pkid) {
            return Some(false);
        }
        if self.incoming_qos2.len() >= limit {
            return None;
        }
        self.incoming_qos2.push(pkid);
        Some(true)
    }

    /// Incoming PUBREL: forget the id. Returns whether it was known.
    pub(crate) fn incoming_release(&mut self, pkid: u16) -> bool {
        match self.incoming_qos2.iter().position(|&id| id == pkid) {
            Some(index) => {
                self.incoming_qos2.swap_remove(index);
                true
            }
            None => false,
        }
    }

    /// The broker still has our session: everything in flight is sent again in its original
    /// order; publishes get DUP=1.
    pub(crate) fn packets_to_resume(&mut self) -> impl Iterator<Item = &Packet> {
        for entry in &mut self.in_flight {
            if let Packet::Publish(p) = &mut entry.packet {
                p.dup = true;
            }
        }
        self.in_flight.iter().map(|e| &e.packet)
    }

    /// The broker has no session for us: packet ids and incoming QoS 2 state start over.
    /// Returns the in-flight entries in their original order; the caller applies the
    /// session-lost policy (re-queue them with [`Session::requeue_front`], or fail them).
    pub(crate) fn reset_for_new_session(&mut self) -> Vec<InFlight> {
        self.ids = PacketIds::new();
        self.incoming_qos2.clear();
        self.in_flight.drain(..).collect()
    }

    /// Puts requests back at the front of the queue, keeping their order. The queue may exceed
    /// its bound by these (they were admitted once already); new requests are refused until it
    /// drains below the bound again, so memory stays bounded by `max_queued + max_in_flight`.
    pub(crate) fn requeue_front(&mut self, requests: Vec<Request>) {
        for request in requests.into_iter().rev() {
            self.queue.push_front(request);
        }
    }

    /// Empties the queue and the in-flight set (the client is closing); returns the tokens that
    /// will never complete, in order, so the caller can fail them.
    pub(crate) fn drain_all(&mut self) -> Vec<Token> {
        let mut tokens: Vec<Token> = self.in_flight.drain(..).map(|e| e.token).collect();
        tokens.extend(self.queue.drain(..).map(|r| r.token));
        self.ids = PacketIds::new();
        self.incoming_qos2.clear();
        tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_ids_skip_ids_in_use_and_wrap() {
        let mut ids = PacketIds::new();
        ids.next = u16::MAX;
        assert_eq!(ids.allocate(), Some(u16::MAX));
        ids.set(1, true);
        assert_eq!(ids.allocate(), Some(2), "1 is in use, 0 is never an id");
    }

    #[test]
    fn packet_ids_run_out_only_when_all_are_in_use() {
        let mut ids = PacketIds::new();
        for _ in 0..u16::MAX {
            assert!(ids.allocate().is_some());
        }
        assert_eq!(ids.allocate(), None);
        ids.set(777, false);
        assert_eq!(ids.allocate(), Some(777));
    }
}
