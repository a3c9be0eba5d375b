//! The MQTT session as the client keeps it: packet identifiers, the outgoing requests in flight
//! (in the order they were first sent, for replay), the bounded queue of requests not yet sent,
//! and the incoming QoS 2 packet ids already delivered (for exactly-once delivery).
//!
//! Requests are kept as typed entries ([`Outgoing`]: what the application asked to send), not
//! as wire packets: the packet, with its id, is built when it is sent or resent.
//!
//! This module owns *bookkeeping* only; it never decides when to send. The client state machine
//! (`client/`) asks it to admit requests, to pick the next one to send, to match acks, and to
//! rebuild itself after a reconnect ([`Session::resume`] when the broker kept the
//! session, [`Session::reset_for_new_session`] when it did not). Each request is known by the
//! [`Token`] its command returned, defined here so the session needs nothing from `client/`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::shared_str::SharedStr;
use bytes::Bytes;

use crate::packet::{
    Ack, MessageProperties, Packet, Publish, QoS, Subscribe, SubscribeFilter, SubscribeProperties,
    Unsubscribe, UserProperties,
};

/// Identifies one command (publish, subscribe, unsubscribe); its completion event carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub(crate) u64);

impl Token {
    /// The raw number: unique per client, increasing.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// What the application asked to send, checked and measured at admission. It has no packet id:
/// [`Outgoing::packet`] builds the wire packet when it is (re)sent, with the id allocated then.
#[derive(Debug, Clone)]
pub(crate) enum Outgoing {
    Publish {
        qos: QoS,
        retain: bool,
        /// Made from the application's `String` without a copy (and without an allocation
        /// when the string has no spare capacity).
        topic: SharedStr,
        payload: Bytes,
        /// Empty (no allocation) in the common case: an entry stays small while in flight.
        properties: MessageProperties,
    },
    Subscribe {
        filters: Vec<SubscribeFilter>,
        properties: SubscribeProperties,
    },
    Unsubscribe {
        filters: Vec<String>,
        user_properties: UserProperties,
    },
}

impl Outgoing {
    /// How many filters a SUBSCRIBE or UNSUBSCRIBE carries (0 for a PUBLISH).
    pub(crate) fn filter_count(&self) -> usize {
        match self {
            Outgoing::Subscribe { filters, .. } => filters.len(),
            Outgoing::Unsubscribe { filters, .. } => filters.len(),
            Outgoing::Publish { .. } => 0,
        }
    }

    fn needs_packet_id(&self) -> bool {
        match self {
            Outgoing::Publish { qos, .. } => *qos != QoS::AtMostOnce,
            _ => true,
        }
    }

    /// The wire packet: `pkid` (ignored for QoS 0), DUP on a resent PUBLISH. A topic alias above
    /// `alias_max` (the maximum of the connection it goes out on) is left out: aliases belong to
    /// one connection, and the topic is always sent too.
    pub(crate) fn packet(&self, pkid: u16, dup: bool, alias_max: u16) -> Packet {
        match self {
            Outgoing::Publish {
                qos,
                retain,
                topic,
                payload,
                properties,
            } => {
                let mut properties = properties.clone();
                if let Some(properties) = properties.get_mut() {
                    if properties
                        .topic_alias
                        .is_some_and(|alias| alias > alias_max)
                    {
                        properties.topic_alias = None;
                    }
                }
                let at_most_once = *qos == QoS::AtMostOnce;
                Packet::Publish(Publish {
                    dup: dup && !at_most_once,
                    qos: *qos,
                    retain: *retain,
                    topic: topic.clone(),
                    pkid: if at_most_once { 0 } else { pkid },
                    payload: payload.clone(),
                    properties,
                })
            }
            Outgoing::Subscribe {
                filters,
                properties,
            } => Packet::Subscribe(Subscribe {
                pkid,
                filters: filters.clone(),
                properties: properties.clone(),
            }),
            Outgoing::Unsubscribe {
                filters,
                user_properties,
            } => Packet::Unsubscribe(Unsubscribe {
                pkid,
                filters: filters.clone(),
                user_properties: user_properties.clone(),
            }),
        }
    }
}

impl Outgoing {
    /// [`Outgoing::packet`] for `f` to read or encode, with the topic lent rather than copied:
    /// moved into the packet and back out after `f`, so a PUBLISH costs no allocation (its
    /// properties are copied only when it has some). `f` must leave the packet's topic as it
    /// found it (topic-alias rewriting needs its own copy: [`Outgoing::packet`]).
    pub(crate) fn lend<R>(
        &mut self,
        pkid: u16,
        dup: bool,
        alias_max: u16,
        f: impl FnOnce(&mut Packet) -> R,
    ) -> R {
        let topic = match self {
            Outgoing::Publish { topic, .. } => std::mem::take(topic),
            _ => return f(&mut self.packet(pkid, dup, alias_max)),
        };
        // The topic is empty now: the copy `packet` makes of it allocates nothing.
        let mut packet = self.packet(pkid, dup, alias_max);
        if let Packet::Publish(publish) = &mut packet {
            publish.topic = topic;
        }
        let result = f(&mut packet);
        if let (Outgoing::Publish { topic, .. }, Packet::Publish(publish)) = (self, packet) {
            *topic = publish.topic;
        }
        result
    }
}

/// An in-flight entry as it goes out again: DUP set, its expiry interval aged; PUBREL past
/// PUBREC.
fn resent(entry: &InFlight, now: Instant, alias_max: u16) -> Packet {
    match &entry.stage {
        Stage::AwaitingAck { body, .. } => {
            let waited = now.saturating_duration_since(entry.admitted_at).as_secs();
            aged(
                body.packet(entry.pkid, true, alias_max),
                u32::try_from(waited).unwrap_or(u32::MAX),
            )
        }
        Stage::AwaitingComplete => Packet::PubRel(Ack::success(entry.pkid)),
    }
}

/// [`aged`] in place.
pub(crate) fn age(packet: &mut Packet, waited: u32) {
    if let Packet::Publish(publish) = packet {
        let properties = publish.properties.get_mut();
        if let Some(interval) = properties.and_then(|p| p.message_expiry_interval.as_mut()) {
            *interval = interval.saturating_sub(waited).max(1);
        }
    }
}

/// `packet` with its message expiry interval reduced by the `waited` whole seconds since the
/// application handed it over (at least one second is left: a queued publish past its interval
/// is failed before it gets here, and one in flight was sent in time).
pub(crate) fn aged(mut packet: Packet, waited: u32) -> Packet {
    if let Packet::Publish(publish) = &mut packet {
        let properties = publish.properties.get_mut();
        if let Some(interval) = properties.and_then(|p| p.message_expiry_interval.as_mut()) {
            *interval = interval.saturating_sub(waited).max(1);
        }
    }
    packet
}

/// A request the application handed over, waiting to be sent.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) token: Token,
    pub(crate) body: Outgoing,
    /// Its encoded size, measured at admission (the packet id's value does not change it).
    pub(crate) size: usize,
    /// Connections in a row the broker ended with an error while this was the oldest request
    /// it had not acknowledged (see `ClientConfig::poison_threshold`).
    pub(crate) strikes: u32,
    /// When the application handed it over: a publish's message expiry interval counts from
    /// here while it waits in the client's queue.
    pub(crate) admitted_at: Instant,
}

impl Request {
    pub(crate) fn new(token: Token, body: Outgoing, size: usize, admitted_at: Instant) -> Request {
        Request {
            token,
            body,
            size,
            strikes: 0,
            admitted_at,
        }
    }

    /// When a publish with a message expiry interval expires, waiting here (`None`: never).
    pub(crate) fn expires_at(&self) -> Option<Instant> {
        match &self.body {
            Outgoing::Publish { properties, .. } => properties
                .message_expiry_interval
                .map(|secs| self.admitted_at + Duration::from_secs(u64::from(secs))),
            _ => None,
        }
    }

    /// Whether its message expiry interval has passed at `now` (it must not be sent then).
    pub(crate) fn is_expired(&self, now: Instant) -> bool {
        self.expires_at().is_some_and(|at| now >= at)
    }

    /// The whole seconds it has waited at `now`: the expiry interval it carries is reduced by
    /// this much when it is sent (as a broker does for a message it forwards).
    pub(crate) fn waited_secs(&self, now: Instant) -> u32 {
        let waited = now.saturating_duration_since(self.admitted_at).as_secs();
        u32::try_from(waited).unwrap_or(u32::MAX)
    }
}

/// Where an in-flight request is in its acknowledgement flow.
#[derive(Debug, Clone)]
pub(crate) enum Stage {
    /// Sent; waiting for PUBACK, PUBREC, SUBACK or UNSUBACK. Kept whole for a resend.
    AwaitingAck { body: Outgoing, size: usize },
    /// QoS 2 only: PUBREC received, PUBREL sent, waiting for PUBCOMP. The broker owns the
    /// message now, so it is no longer kept; a resend is the PUBREL.
    AwaitingComplete,
}

/// A request sent and not yet completely acknowledged.
#[derive(Debug, Clone)]
pub(crate) struct InFlight {
    pub(crate) token: Token,
    pub(crate) pkid: u16,
    pub(crate) stage: Stage,
    pub(crate) strikes: u32,
    /// When it was first admitted (kept for a requeue after a session loss).
    pub(crate) admitted_at: Instant,
    /// Resumed on a connection whose in-flight bound it is beyond: it goes out again once
    /// acks make room ([`Session::next_resend`]), before anything new.
    resend_pending: bool,
}

impl InFlight {
    /// Back to a request to send again (session lost); `None` past PUBREC (the broker owns it).
    pub(crate) fn into_request(self) -> Option<Request> {
        match self.stage {
            Stage::AwaitingAck { body, size } => Some(Request {
                token: self.token,
                body,
                size,
                strikes: self.strikes,
                admitted_at: self.admitted_at,
            }),
            Stage::AwaitingComplete => None,
        }
    }

    fn awaiting_ack(&self, want: impl Fn(&Outgoing) -> bool) -> bool {
        matches!(&self.stage, Stage::AwaitingAck { body, .. } if want(body))
    }
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
    /// A request that now waits for its ack under `pkid`: encode `body`, which stays in flight.
    InFlight { pkid: u16, body: &'a mut Outgoing },
    /// A QoS 0 publish: nothing to wait for once written.
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
    /// How many queued requests have a message expiry interval: the expiry scans of the
    /// queue run only when some do (most applications never set one).
    queued_expiring: usize,
    /// Incoming QoS 2 publishes delivered to the application, waiting for PUBREL.
    incoming_qos2: Vec<u16>,
    /// How many in-flight entries wait to be sent again on this connection.
    resends_pending: usize,
}

impl Session {
    pub(crate) fn new(max_queued: usize) -> Session {
        Session {
            ids: PacketIds::new(),
            in_flight: VecDeque::new(),
            queue: VecDeque::new(),
            max_queued,
            queued_expiring: 0,
            incoming_qos2: Vec::new(),
            resends_pending: 0,
        }
    }

    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The token and packet id of each request in flight.
    pub(crate) fn packet_ids(&self) -> impl Iterator<Item = (Token, u16)> + '_ {
        self.in_flight.iter().map(|entry| (entry.token, entry.pkid))
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
        self.queued_expiring += usize::from(request.expires_at().is_some());
        self.queue.push_back(request);
    }

    /// Takes the front of the queue, keeping `queued_expiring` right.
    fn pop_front_queued(&mut self) -> Option<Request> {
        let request = self.queue.pop_front()?;
        self.queued_expiring = self
            .queued_expiring
            .saturating_sub(usize::from(request.expires_at().is_some()));
        Some(request)
    }

    /// The next request in the queue, without taking it.
    pub(crate) fn peek_queued(&self) -> Option<&Request> {
        self.queue.front()
    }

    /// Takes the next queued request off the queue whatever the bounds (it is failed).
    pub(crate) fn pop_queued(&mut self) -> Option<Request> {
        self.pop_front_queued()
    }

    /// The broker ended the connection with an error: the oldest request it had not
    /// acknowledged (in first-sent order) gets a strike. Returns it, taken out of the session,
    /// when it reached `threshold` strikes.
    pub(crate) fn strike_oldest_unacked(&mut self, threshold: u32) -> Option<InFlight> {
        let index = self
            .in_flight
            .iter()
            .position(|e| matches!(e.stage, Stage::AwaitingAck { .. }))?;
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
        if !self.queue.front()?.body.needs_packet_id() {
            return self.pop_front_queued().map(Sent::AtMostOnce);
        }
        if self.in_flight.len() >= max_in_flight || self.resends_pending > 0 {
            return None;
        }
        let pkid = self.ids.allocate()?;
        let Request {
            token,
            body,
            size,
            strikes,
            admitted_at,
        } = self.pop_front_queued()?;
        self.in_flight.push_back(InFlight {
            token,
            pkid,
            stage: Stage::AwaitingAck { body, size },
            strikes,
            admitted_at,
            resend_pending: false,
        });
        match self.in_flight.back_mut() {
            Some(InFlight {
                pkid,
                stage: Stage::AwaitingAck { body, .. },
                ..
            }) => Some(Sent::InFlight { pkid: *pkid, body }),
            _ => None,
        }
    }

    /// The entry with this id waiting for its first ack, if `want` accepts what it sent.
    fn awaiting_ack(&self, pkid: u16, want: impl Fn(&Outgoing) -> bool) -> Option<usize> {
        self.in_flight
            .iter()
            .position(|e| e.pkid == pkid && e.awaiting_ack(&want))
    }

    /// The QoS 2 entry with this id waiting for PUBCOMP.
    fn awaiting_complete(&self, pkid: u16) -> Option<usize> {
        self.in_flight
            .iter()
            .position(|e| e.pkid == pkid && matches!(e.stage, Stage::AwaitingComplete))
    }

    fn take(&mut self, index: usize) -> Option<InFlight> {
        let entry = self.in_flight.remove(index)?;
        self.ids.set(entry.pkid, false);
        self.resends_pending -= usize::from(entry.resend_pending);
        Some(entry)
    }

    /// PUBACK: completes a QoS 1 publish.
    pub(crate) fn puback(&mut self, pkid: u16) -> Option<InFlight> {
        let index = self.awaiting_ack(pkid, |body| {
            matches!(
                body,
                Outgoing::Publish {
                    qos: QoS::AtLeastOnce,
                    ..
                }
            )
        })?;
        self.take(index)
    }

    /// PUBREC for a QoS 2 publish. Success: the entry moves to [`Stage::AwaitingComplete`] in
    /// place (keeping replay order) and the PUBREL to send is returned. `failed` (MQTT 5 reason
    /// >= 0x80): the flow ends and the entry is returned in `Err`.
    pub(crate) fn pubrec(&mut self, pkid: u16, failed: bool) -> Option<Result<Token, InFlight>> {
        let index = self.awaiting_ack(pkid, |body| {
            matches!(
                body,
                Outgoing::Publish {
                    qos: QoS::ExactlyOnce,
                    ..
                }
            )
        })?;
        if failed {
            return self.take(index).map(Err);
        }
        let entry = &mut self.in_flight[index];
        entry.stage = Stage::AwaitingComplete;
        Some(Ok(entry.token))
    }

    /// Drops the in-flight request sent under `pkid` that could not be encoded after all;
    /// returns its token so the caller can fail it.
    pub(crate) fn abandon(&mut self, pkid: u16) -> Option<Token> {
        let index = self.in_flight.iter().rposition(|e| e.pkid == pkid)?;
        self.take(index).map(|entry| entry.token)
    }

    /// Takes every queued request whose message expiry interval has passed at `now` out of the
    /// queue, in order (they are failed, never sent).
    pub(crate) fn take_expired(&mut self, now: Instant) -> Vec<Request> {
        if self.queued_expiring == 0 || !self.queue.iter().any(|r| r.is_expired(now)) {
            return Vec::new();
        }
        let mut expired = Vec::new();
        for request in std::mem::take(&mut self.queue) {
            if request.is_expired(now) {
                expired.push(request);
            } else {
                self.queue.push_back(request);
            }
        }
        self.queued_expiring = self.queued_expiring.saturating_sub(expired.len());
        expired
    }

    /// The earliest instant a queued publish expires, if any waits with an expiry interval.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        if self.queued_expiring == 0 {
            return None;
        }
        self.queue.iter().filter_map(Request::expires_at).min()
    }

    /// Drops a queued (not yet sent) request.
    pub(crate) fn remove_queued(&mut self, token: Token) {
        let expiring = &mut self.queued_expiring;
        self.queue.retain(|request| {
            let keep = request.token != token;
            if !keep {
                *expiring = expiring.saturating_sub(usize::from(request.expires_at().is_some()));
            }
            keep
        });
    }

    /// Removes the queued requests whose body `remove` picks; returns their tokens, in order.
    pub(crate) fn remove_queued_where(&mut self, remove: impl Fn(&Outgoing) -> bool) -> Vec<Token> {
        self.take_queued_where(remove)
            .into_iter()
            .map(|request| request.token)
            .collect()
    }

    /// Removes and returns the queued requests whose body `remove` picks, in order.
    pub(crate) fn take_queued_where(&mut self, remove: impl Fn(&Outgoing) -> bool) -> Vec<Request> {
        let (taken, kept): (VecDeque<Request>, VecDeque<Request>) = std::mem::take(&mut self.queue)
            .into_iter()
            .partition(|request| remove(&request.body));
        self.queue = kept;
        let taken = Vec::from(taken);
        let expiring = taken.iter().filter(|r| r.expires_at().is_some()).count();
        self.queued_expiring = self.queued_expiring.saturating_sub(expiring);
        taken
    }

    /// Is a PUBREL pending for this id (so a repeated PUBREC is answered again)?
    pub(crate) fn release_pending(&self, pkid: u16) -> bool {
        self.awaiting_complete(pkid).is_some()
    }

    /// PUBCOMP: completes a QoS 2 publish.
    pub(crate) fn pubcomp(&mut self, pkid: u16) -> Option<InFlight> {
        let index = self.awaiting_complete(pkid)?;
        self.take(index)
    }

    /// SUBACK: the subscribe request it answers, with its token, filters and strikes.
    pub(crate) fn suback(&mut self, pkid: u16) -> Option<Request> {
        let index = self.awaiting_ack(pkid, |body| matches!(body, Outgoing::Subscribe { .. }))?;
        self.take(index).and_then(InFlight::into_request)
    }

    /// UNSUBACK: the unsubscribe request it answers.
    pub(crate) fn unsuback(&mut self, pkid: u16) -> Option<Request> {
        let index = self.awaiting_ack(pkid, |body| matches!(body, Outgoing::Unsubscribe { .. }))?;
        self.take(index).and_then(InFlight::into_request)
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

    /// Incoming QoS 2 ids not yet released by PUBREL (the broker counts them in flight).
    pub(crate) fn incoming_qos2_pending(&self) -> usize {
        self.incoming_qos2.len()
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

    /// The broker still has our session: what is in flight is sent again in its original
    /// order, publishes with DUP=1 (a message expiry interval reduced by the whole seconds
    /// since admission, never expired: it was sent), PUBREL for a QoS 2 publish past PUBREC,
    /// within the new connection's limits:
    /// - at most `max_in_flight` entries now (its receive maximum); the rest wait, in order,
    ///   for acks to make room ([`Session::next_resend`]), and nothing new goes before them;
    /// - a request larger than `max_outgoing` (its maximum packet size) cannot be sent again:
    ///   it leaves the session, and its token is returned with its size, to be failed.
    ///
    /// `alias_max`: the topic alias maximum of the new connection.
    pub(crate) fn resume(
        &mut self,
        now: Instant,
        alias_max: u16,
        max_in_flight: usize,
        max_outgoing: usize,
    ) -> (Vec<Packet>, Vec<(Token, usize)>) {
        let mut refused = Vec::new();
        let mut index = 0;
        while let Some(entry) = self.in_flight.get(index) {
            match entry.stage {
                Stage::AwaitingAck { size, .. } if size > max_outgoing => {
                    let token = entry.token;
                    self.take(index);
                    refused.push((token, size));
                }
                _ => index += 1,
            }
        }
        let mut packets = Vec::new();
        self.resends_pending = 0;
        for (index, entry) in self.in_flight.iter_mut().enumerate() {
            entry.resend_pending = index >= max_in_flight;
            if entry.resend_pending {
                self.resends_pending += 1;
            } else {
                packets.push(resent(entry, now, alias_max));
            }
        }
        (packets, refused)
    }

    /// Whether resumed entries still wait to be resent ([`Session::next_resend`]).
    pub(crate) fn resends_pending(&self) -> bool {
        self.resends_pending > 0
    }

    /// The next entry waiting to be sent again ([`Session::resume`]), once fewer than
    /// `max_in_flight` are out on this connection.
    pub(crate) fn next_resend(
        &mut self,
        now: Instant,
        alias_max: u16,
        max_in_flight: usize,
    ) -> Option<Packet> {
        if self.resends_pending == 0 || self.in_flight.len() - self.resends_pending >= max_in_flight
        {
            return None;
        }
        let entry = self.in_flight.iter_mut().find(|e| e.resend_pending)?;
        entry.resend_pending = false;
        self.resends_pending -= 1;
        Some(resent(entry, now, alias_max))
    }

    /// The broker has no session for us: packet ids and incoming QoS 2 state start over.
    /// Returns the in-flight entries in their original order; the caller applies the
    /// session-lost policy (re-queue them with [`Session::requeue_front`], or fail them).
    pub(crate) fn reset_for_new_session(&mut self) -> Vec<InFlight> {
        self.ids = PacketIds::new();
        self.resends_pending = 0;
        self.incoming_qos2.clear();
        self.in_flight.drain(..).collect()
    }

    /// Puts requests back at the front of the queue, keeping their order. The queue may exceed
    /// its bound by these (they were admitted once already); new requests are refused until it
    /// drains below the bound again, so memory stays bounded by `max_queued + max_in_flight`
    /// requests, plus the client's own re-subscribe after a session loss.
    pub(crate) fn requeue_front(&mut self, requests: Vec<Request>) {
        for request in requests.into_iter().rev() {
            self.queued_expiring += usize::from(request.expires_at().is_some());
            self.queue.push_front(request);
        }
    }

    /// Empties the queue and the in-flight set (the client is closing); returns the tokens that
    /// will never complete, in order, so the caller can fail them.
    pub(crate) fn drain_all(&mut self) -> Vec<Token> {
        self.resends_pending = 0;
        let mut tokens: Vec<Token> = self.in_flight.drain(..).map(|e| e.token).collect();
        tokens.extend(self.queue.drain(..).map(|r| r.token));
        self.queued_expiring = 0;
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
