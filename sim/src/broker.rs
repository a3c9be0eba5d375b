//! The simulated broker: enough MQTT 3.1.1 and 5.0 to check a client against (used by the core
//! simulation, `core/tests/simulation.rs`, and by the whole-client simulation).
//!
//! - sessions keyed by client id: clean start discards the old one; a session outlives its
//!   connection when the client asked for it (3.1.1 clean session 0, MQTT 5 session expiry > 0);
//!   a second connection with the same id takes the session over;
//! - QoS 1 and 2 both ways: incoming QoS 1 is routed on every receipt (duplicates allowed);
//!   incoming QoS 2 is routed once per packet id until PUBREL (exactly once); outgoing QoS 1/2
//!   wait for their acks in a window, in order, and are resent in order (DUP, or PUBREL) when a
//!   session resumes; an incoming resend (a packet id and message already received in this
//!   session) without DUP=1 is a violation;
//! - subscriptions with wildcard matching (`jamey_mqtt_core::topic`), one delivery per session
//!   at the highest granted QoS of the matching subscriptions, in order per session;
//! - retained messages (an empty payload clears), sent on subscribe with RETAIN set;
//! - restarts with persistence (sessions, their queues and retained messages survive) or
//!   without (everything is forgotten); refused connects (CONNACK "server unavailable");
//! - limits announced in the MQTT 5 CONNACK ([`Limits`]) and enforced on that connection: the
//!   client's unacknowledged QoS 1/2 PUBLISHes never exceed the receive maximum, no packet
//!   exceeds the maximum packet size, topic aliases stay within 1..=the maximum (the alias ->
//!   topic map is kept per connection, so aliased publishes route). With [`Broker::hold_acks`]
//!   the broker holds PUBACK and PUBCOMP until [`Broker::release_acks`], so that the client's
//!   send quota is actually used up.
//!
//! - a subscription policy ([`Broker::refuse_after_restart`]): from the next restart on, a
//!   SUBSCRIBE of one of those filters gets the SUBACK failure code (0x80 on 3.1.1,
//!   NOT_AUTHORIZED on 5) and the others are granted; each refusal is logged in the oracle.
//!
//! Its outputs are pulled like the client's ([`Broker::poll_output`]). It also keeps an oracle
//! log that survives restarts: which messages it accepted from publishers and which it routed
//! into each session, and which of those a session still owes (cleared when the broker forgets
//! the session). The simulation checks the client against that log. A client that sends bytes
//! that do not decode, or a packet the broker does not expect, is recorded in
//! [`Broker::violations`] and fails the run.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::{Bytes, BytesMut};
use jamey_mqtt_core::codec::Codec;
use jamey_mqtt_core::packet::{
    Ack, AckProperties, ConnAck, ConnAckProperties, Connect, Disconnect, Packet, ProtocolVersion,
    Publish, QoS, ReasonCode, SubAck, UnsubAck,
};
use jamey_mqtt_core::topic::{TopicFilter, TopicName};

use crate::link::ConnId;

/// What the broker wants done with a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerOutput {
    Send(ConnId, Vec<u8>),
    /// Close after what was sent: the client sees the end of the stream.
    Close(ConnId),
}

#[derive(Debug, Clone)]
struct Message {
    topic: String,
    payload: Bytes,
    qos: QoS,
    retain: bool,
}

#[derive(Debug, Clone)]
struct OutFlight {
    pkid: u16,
    message: Message,
    /// PUBREC received, PUBREL sent: waiting for PUBCOMP.
    released: bool,
}

#[derive(Debug, Default)]
struct Session {
    /// Filter -> granted QoS.
    subscriptions: BTreeMap<String, QoS>,
    conn: Option<ConnId>,
    /// The session ends with its connection.
    expires: bool,
    in_flight: VecDeque<OutFlight>,
    pending: VecDeque<Message>,
    /// Incoming QoS 2 packet ids routed and waiting for PUBREL.
    incoming_qos2: BTreeSet<u16>,
    /// The last QoS 1/2 PUBLISH received from the client under each packet id in this session
    /// (topic, payload): the same id with the same message again is a resend, which must carry
    /// DUP=1. (Payloads are unique in the simulation, so a new message that reuses a freed id
    /// is told apart from a resend; a new session starts with an empty record, so resending as
    /// new after a session loss, DUP=0, is legal.)
    incoming_seen: BTreeMap<u16, (String, Bytes)>,
    next_pkid: u16,
    window: usize,
    /// The client sent a packet after this session's CONNACK: it knows the session exists.
    confirmed: bool,
}

impl Session {
    fn allocate(&mut self) -> u16 {
        loop {
            self.next_pkid = self.next_pkid.wrapping_add(1).max(1);
            let id = self.next_pkid;
            if !self.in_flight.iter().any(|f| f.pkid == id) {
                return id;
            }
        }
    }
}

/// Limits the broker announces in its MQTT 5 CONNACK and then enforces (`None`: not
/// announced, no limit). A 3.1.1 connection announces nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub receive_maximum: Option<u16>,
    pub maximum_packet_size: Option<u32>,
    pub topic_alias_maximum: Option<u16>,
}

impl Limits {
    /// Each limit announced or not, at random; small values so that clients reach them.
    pub fn random(rng: &mut fastrand::Rng) -> Limits {
        Limits {
            receive_maximum: rng.bool().then(|| rng.u16(1..=8)),
            maximum_packet_size: rng.bool().then(|| rng.u32(128..=2048)),
            topic_alias_maximum: rng.bool().then(|| rng.u16(0..=4)),
        }
    }
}

#[derive(Debug)]
struct BrokerConn {
    codec: Codec,
    inbuf: BytesMut,
    client_id: Option<String>,
    /// What this connection's CONNACK announced.
    limits: Limits,
    /// Packet ids of QoS 1/2 PUBLISHes received on this connection and not yet answered with
    /// PUBACK / PUBCOMP: the client's used send quota, as the broker can see it.
    unacked: BTreeSet<u16>,
    /// Topic aliases the client set on this connection.
    aliases: BTreeMap<u16, String>,
}

/// What the broker did, kept across restarts, for the simulation's assertions.
#[derive(Debug, Default)]
pub struct Oracle {
    /// Payloads of the publishes accepted from clients, every receipt (QoS 2: once per flow).
    pub accepted: BTreeMap<Bytes, u32>,
    /// The same, in the order received.
    pub accepted_log: Vec<Bytes>,
    /// (client id, payload) -> times routed into that client's session at QoS 2 (retained
    /// copies too: one per matching subscription).
    pub routed_qos2: BTreeMap<(String, Bytes), u32>,
    /// client id -> QoS >= 1 payloads routed into its current session: still owed to it unless
    /// the broker forgets the session.
    pub owed: BTreeMap<String, BTreeSet<Bytes>>,
    /// Sessions forgotten while they owed messages (restart without persistence).
    pub sessions_forgotten: u32,
    /// Every SUBSCRIBE filter refused by the policy: (client id, filter, length of
    /// `accepted_log` then: what was accepted from that index on came after the refusal).
    pub refusals: Vec<(String, String, usize)>,
    /// client id -> CONNACKs with session present for a session the client never confirmed
    /// (no packet after the CONNACK that created it, which may have been lost): the client
    /// cannot tell such a session from its own, and does not re-subscribe into it.
    pub blind_resumes: BTreeMap<String, u32>,
}

#[derive(Debug)]
pub struct Broker {
    /// Whether restarts keep sessions and retained messages.
    pub persistent: bool,
    /// The next connects to refuse with CONNACK "server unavailable".
    pub refuse_connects: u32,
    /// Outgoing QoS 1/2 messages in flight per session (further capped by MQTT 5 receive max).
    pub window: usize,
    sessions: BTreeMap<String, Session>,
    retained: BTreeMap<String, Message>,
    conns: BTreeMap<ConnId, BrokerConn>,
    out: VecDeque<BrokerOutput>,
    pub oracle: Oracle,
    /// Client misbehaviour seen (undecodable bytes, unexpected packets): fails the run.
    pub violations: Vec<String>,
    /// Announced in every MQTT 5 CONNACK from now on, and enforced.
    pub limits: Limits,
    /// Hold PUBACK and PUBCOMP until [`Broker::release_acks`].
    pub hold_acks: bool,
    held_acks: Vec<(ConnId, Packet)>,
    /// Filters refused on SUBSCRIBE from the next restart on (a policy change).
    pub refuse_after_restart: BTreeSet<String>,
    /// Filters refused on SUBSCRIBE now.
    pub refused_filters: BTreeSet<String>,
}

impl Broker {
    pub fn new(persistent: bool, window: usize) -> Broker {
        Broker {
            persistent,
            refuse_connects: 0,
            window,
            sessions: BTreeMap::new(),
            retained: BTreeMap::new(),
            conns: BTreeMap::new(),
            out: VecDeque::new(),
            oracle: Oracle::default(),
            violations: Vec::new(),
            limits: Limits::default(),
            hold_acks: false,
            held_acks: Vec::new(),
            refuse_after_restart: BTreeSet::new(),
            refused_filters: BTreeSet::new(),
        }
    }

    /// Sends the PUBACKs and PUBCOMPs held back (see [`Broker::hold_acks`]).
    pub fn release_acks(&mut self) {
        for (conn, packet) in std::mem::take(&mut self.held_acks) {
            self.send_ack(conn, packet);
        }
    }

    /// Whether acks are held back, waiting for [`Broker::release_acks`].
    pub fn holds_acks(&self) -> bool {
        !self.held_acks.is_empty()
    }

    /// Sends (or holds) a PUBACK / PUBCOMP: the client's send quota is given back.
    fn ack(&mut self, conn: ConnId, packet: Packet) {
        if self.hold_acks {
            self.held_acks.push((conn, packet));
        } else {
            self.send_ack(conn, packet);
        }
    }

    fn send_ack(&mut self, conn: ConnId, packet: Packet) {
        let pkid = match &packet {
            Packet::PubAck(ack) | Packet::PubComp(ack) => ack.pkid,
            _ => 0,
        };
        if let Some(c) = self.conns.get_mut(&conn) {
            c.unacked.remove(&pkid);
        }
        self.send(conn, &packet);
    }

    pub fn poll_output(&mut self) -> Option<BrokerOutput> {
        self.out.pop_front()
    }

    /// A client opened a transport.
    pub fn accept(&mut self, conn: ConnId, version: ProtocolVersion) {
        self.conns.insert(
            conn,
            BrokerConn {
                codec: Codec::new(version, 1 << 20),
                inbuf: BytesMut::new(),
                client_id: None,
                limits: Limits::default(),
                unacked: BTreeSet::new(),
                aliases: BTreeMap::new(),
            },
        );
    }

    /// The stream from the client ended (EOF or cut). A partial packet is dropped.
    pub fn closed(&mut self, conn: ConnId) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        if let Some(id) = c.client_id {
            let forget = match self.sessions.get_mut(&id) {
                Some(session) if session.conn == Some(conn) => {
                    session.conn = None;
                    session.expires
                }
                _ => false,
            };
            if forget {
                self.forget_session(&id);
            }
        }
    }

    /// The broker process restarts: every connection drops; without persistence every session
    /// and retained message is forgotten. The caller cuts the links.
    pub fn restart(&mut self) -> Vec<ConnId> {
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in &conns {
            self.closed(*conn);
        }
        self.out.clear();
        self.held_acks.clear();
        self.refused_filters.clone_from(&self.refuse_after_restart);
        if !self.persistent {
            let ids: Vec<String> = self.sessions.keys().cloned().collect();
            for id in ids {
                self.forget_session(&id);
            }
            self.retained.clear();
        }
        conns
    }

    /// The broker ends a connection on its own (administrative action): DISCONNECT on MQTT 5,
    /// then close. The session stays as the client asked.
    pub fn kick(&mut self, conn: ConnId) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        if self.version(conn) == ProtocolVersion::V5 {
            self.send(
                conn,
                &Packet::Disconnect(Disconnect {
                    reason: ReasonCode::ADMINISTRATIVE_ACTION,
                    ..Disconnect::normal()
                }),
            );
        }
        self.close(conn);
    }

    fn forget_session(&mut self, id: &str) {
        self.sessions.remove(id);
        if let Some(owed) = self.oracle.owed.remove(id) {
            if !owed.is_empty() {
                self.oracle.sessions_forgotten += 1;
            }
        }
    }

    /// Is everything delivered: no session has a message in flight or waiting?
    pub fn idle(&self) -> bool {
        self.sessions
            .values()
            .all(|s| s.in_flight.is_empty() && s.pending.is_empty())
    }

    /// The retained messages, topic -> payload.
    pub fn retained(&self) -> BTreeMap<String, Bytes> {
        self.retained
            .iter()
            .map(|(t, m)| (t.clone(), m.payload.clone()))
            .collect()
    }

    /// The filters of client `id`'s session while it has a connection (`None`: no session,
    /// or no connection).
    pub fn live_subscriptions(&self, id: &str) -> Option<BTreeSet<String>> {
        let session = self.sessions.get(id)?;
        session.conn?;
        Some(session.subscriptions.keys().cloned().collect())
    }

    /// A description of the sessions, for failure reports.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for (id, session) in &self.sessions {
            s.push_str(&format!(
                "  session {id}: conn {:?}, expires {}, subs {:?}, in flight {:?}, pending {}\n",
                session.conn,
                session.expires,
                session.subscriptions,
                session
                    .in_flight
                    .iter()
                    .map(|f| (f.pkid, f.released))
                    .collect::<Vec<_>>(),
                session.pending.len()
            ));
        }
        s
    }

    /// Bytes from a client.
    pub fn handle_bytes(&mut self, conn: ConnId, bytes: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.inbuf.extend_from_slice(bytes);
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            let before = c.inbuf.len();
            match c.codec.decode(&mut c.inbuf) {
                Ok(Some(packet)) => {
                    let size = before - c.inbuf.len();
                    if let Some(max) = c.limits.maximum_packet_size {
                        if size > max as usize {
                            let what = format!(
                                "{} of {size} bytes, over the maximum packet size {max}",
                                packet.name()
                            );
                            self.violation(conn, what);
                            return;
                        }
                    }
                    self.handle_packet(conn, packet)
                }
                Ok(None) => return,
                Err(error) => {
                    self.violation(conn, format!("undecodable bytes from the client: {error}"));
                    return;
                }
            }
        }
    }

    fn violation(&mut self, conn: ConnId, what: String) {
        let who = self
            .conns
            .get(&conn)
            .and_then(|c| c.client_id.clone())
            .unwrap_or_default();
        self.violations.push(format!("{who} (conn {conn}): {what}"));
        self.close(conn);
    }

    fn close(&mut self, conn: ConnId) {
        if self.conns.contains_key(&conn) {
            self.out.push_back(BrokerOutput::Close(conn));
            self.closed(conn);
        }
    }

    fn send(&mut self, conn: ConnId, packet: &Packet) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let mut bytes = BytesMut::new();
        c.codec
            .encode(packet, &mut bytes)
            .unwrap_or_else(|e| panic!("the broker cannot encode {packet:?}: {e}"));
        self.out.push_back(BrokerOutput::Send(conn, bytes.to_vec()));
    }

    fn version(&self, conn: ConnId) -> ProtocolVersion {
        self.conns[&conn].codec.version()
    }

    fn handle_packet(&mut self, conn: ConnId, packet: Packet) {
        let client_id = self.conns[&conn].client_id.clone();
        let Some(id) = client_id else {
            match packet {
                Packet::Connect(connect) => self.handle_connect(conn, *connect),
                other => self.violation(conn, format!("{} before CONNECT", other.name())),
            }
            return;
        };
        if let Some(s) = self.sessions.get_mut(&id) {
            s.confirmed |= s.conn == Some(conn);
        }
        match packet {
            Packet::Publish(publish) => self.handle_publish(conn, &id, publish),
            Packet::PubRel(ack) => {
                if let Some(s) = self.sessions.get_mut(&id) {
                    s.incoming_qos2.remove(&ack.pkid);
                }
                self.ack(conn, Packet::PubComp(Ack::success(ack.pkid)));
            }
            Packet::PubAck(ack) => {
                if let Some(s) = self.sessions.get_mut(&id) {
                    if let Some(i) = s
                        .in_flight
                        .iter()
                        .position(|f| f.pkid == ack.pkid && f.message.qos == QoS::AtLeastOnce)
                    {
                        s.in_flight.remove(i);
                    }
                }
                self.pump(&id);
            }
            Packet::PubRec(ack) => {
                if let Some(s) = self.sessions.get_mut(&id) {
                    if let Some(f) = s
                        .in_flight
                        .iter_mut()
                        .find(|f| f.pkid == ack.pkid && f.message.qos == QoS::ExactlyOnce)
                    {
                        f.released = true;
                    }
                }
                self.send(conn, &Packet::PubRel(Ack::success(ack.pkid)));
            }
            Packet::PubComp(ack) => {
                if let Some(s) = self.sessions.get_mut(&id) {
                    if let Some(i) = s
                        .in_flight
                        .iter()
                        .position(|f| f.pkid == ack.pkid && f.released)
                    {
                        s.in_flight.remove(i);
                    }
                }
                self.pump(&id);
            }
            Packet::Subscribe(subscribe) => {
                let mut reasons = Vec::new();
                let mut retained = Vec::new();
                for f in &subscribe.filters {
                    let Ok(filter) = TopicFilter::new(f.filter.as_str()) else {
                        self.violation(conn, format!("invalid filter {:?}", f.filter));
                        return;
                    };
                    if self.refused_filters.contains(&f.filter) {
                        reasons.push(match self.version(conn) {
                            ProtocolVersion::V5 => ReasonCode::NOT_AUTHORIZED,
                            _ => ReasonCode::UNSPECIFIED_ERROR,
                        });
                        let at = self.oracle.accepted_log.len();
                        self.oracle
                            .refusals
                            .push((id.clone(), f.filter.clone(), at));
                        continue;
                    }
                    reasons.push(ReasonCode(f.qos as u8));
                    for m in self.retained.values() {
                        let name = TopicName::new(m.topic.as_str()).expect("retained topic");
                        if filter.matches(&name) {
                            retained.push(Message {
                                qos: m.qos.min(f.qos),
                                retain: true,
                                ..m.clone()
                            });
                        }
                    }
                    if let Some(s) = self.sessions.get_mut(&id) {
                        s.subscriptions.insert(f.filter.clone(), f.qos);
                    }
                }
                self.send(
                    conn,
                    &Packet::SubAck(SubAck {
                        pkid: subscribe.pkid,
                        reasons,
                        properties: AckProperties::default(),
                    }),
                );
                for message in retained {
                    self.enqueue(&id, message);
                }
                self.pump(&id);
            }
            Packet::Unsubscribe(unsubscribe) => {
                let mut reasons = Vec::new();
                if let Some(s) = self.sessions.get_mut(&id) {
                    for f in &unsubscribe.filters {
                        reasons.push(match s.subscriptions.remove(f) {
                            Some(_) => ReasonCode::SUCCESS,
                            None => ReasonCode::NO_SUBSCRIPTION_EXISTED,
                        });
                    }
                }
                if self.version(conn) == ProtocolVersion::V311 {
                    reasons.clear();
                }
                self.send(
                    conn,
                    &Packet::UnsubAck(UnsubAck {
                        pkid: unsubscribe.pkid,
                        reasons,
                        properties: AckProperties::default(),
                    }),
                );
            }
            Packet::PingReq => self.send(conn, &Packet::PingResp),
            Packet::Disconnect(_) => self.close(conn),
            other => self.violation(conn, format!("unexpected {}", other.name())),
        }
    }

    fn handle_connect(&mut self, conn: ConnId, connect: Connect) {
        let v5 = self.version(conn) == ProtocolVersion::V5;
        if self.refuse_connects > 0 {
            self.refuse_connects -= 1;
            self.send(
                conn,
                &Packet::ConnAck(Box::new(ConnAck {
                    session_present: false,
                    code: ReasonCode::SERVER_UNAVAILABLE,
                    properties: ConnAckProperties::default(),
                })),
            );
            self.close(conn);
            return;
        }
        let id = connect.client_id.clone();
        // Session takeover: the older connection is closed.
        if let Some(old) = self.sessions.get(&id).and_then(|s| s.conn) {
            if v5 {
                self.send(
                    old,
                    &Packet::Disconnect(Disconnect {
                        reason: ReasonCode::SESSION_TAKEN_OVER,
                        ..Disconnect::normal()
                    }),
                );
            }
            // The session stays: it is taken over, not ended (unless this connect is clean).
            if let Some(s) = self.sessions.get_mut(&id) {
                s.conn = None;
            }
            self.close(old);
        }
        if connect.clean_start {
            self.forget_session(&id);
        }
        let expires = if v5 {
            connect.properties.session_expiry_interval.unwrap_or(0) == 0
        } else {
            connect.clean_start
        };
        let present = self.sessions.contains_key(&id);
        let limits = if v5 { self.limits } else { Limits::default() };
        self.conns.get_mut(&conn).expect("open").limits = limits;
        let window = match connect.properties.receive_maximum {
            Some(max) if v5 => self.window.min(usize::from(max)),
            _ => self.window,
        };
        let session = self.sessions.entry(id.clone()).or_default();
        if present && !session.confirmed {
            *self.oracle.blind_resumes.entry(id.clone()).or_default() += 1;
        }
        session.conn = Some(conn);
        session.expires = expires;
        session.window = window;
        self.conns.get_mut(&conn).expect("open").client_id = Some(id.clone());
        self.send(
            conn,
            &Packet::ConnAck(Box::new(ConnAck {
                session_present: present,
                code: ReasonCode::SUCCESS,
                properties: ConnAckProperties {
                    receive_maximum: limits.receive_maximum,
                    maximum_packet_size: limits.maximum_packet_size,
                    topic_alias_maximum: limits.topic_alias_maximum,
                    ..ConnAckProperties::default()
                },
            })),
        );
        // Resume: what was in flight goes again first, in order.
        let resend: Vec<Packet> = self.sessions[&id]
            .in_flight
            .iter()
            .map(|f| {
                if f.released {
                    Packet::PubRel(Ack::success(f.pkid))
                } else {
                    Packet::Publish(publish_packet(&f.message, f.pkid, true))
                }
            })
            .collect();
        for packet in &resend {
            self.send(conn, packet);
        }
        self.pump(&id);
    }

    fn handle_publish(&mut self, conn: ConnId, id: &str, mut publish: Publish) {
        if let Some(alias) = publish.properties.topic_alias {
            let c = self.conns.get_mut(&conn).expect("open");
            let max = c.limits.topic_alias_maximum.unwrap_or(0);
            if alias == 0 || alias > max {
                let what = format!("topic alias {alias}, the broker accepts 1..={max}");
                self.violation(conn, what);
                return;
            }
            if publish.topic.is_empty() {
                match c.aliases.get(&alias) {
                    Some(topic) => publish.topic = topic.as_str().into(),
                    None => {
                        self.violation(conn, format!("unknown topic alias {alias}"));
                        return;
                    }
                }
            } else {
                c.aliases.insert(alias, publish.topic.to_string());
            }
        }
        if publish.qos != QoS::AtMostOnce {
            let c = self.conns.get_mut(&conn).expect("open");
            c.unacked.insert(publish.pkid);
            if let Some(max) = c.limits.receive_maximum {
                if c.unacked.len() > usize::from(max) {
                    let what = format!(
                        "{} unacknowledged QoS 1/2 PUBLISHes, over the receive maximum {max}",
                        c.unacked.len()
                    );
                    self.violation(conn, what);
                    return;
                }
            }
        }
        if TopicName::new(&*publish.topic).is_err() {
            self.violation(
                conn,
                format!("PUBLISH to invalid topic {:?}", publish.topic),
            );
            return;
        }
        if publish.qos != QoS::AtMostOnce {
            let message = (publish.topic.to_string(), publish.payload.clone());
            let resend = self.sessions.get_mut(id).is_some_and(|s| {
                s.incoming_seen.insert(publish.pkid, message.clone()) == Some(message)
            });
            if resend && !publish.dup {
                self.violation(
                    conn,
                    format!(
                        "PUBLISH {} resent in the same session without DUP=1 ({:?})",
                        publish.pkid, publish.payload
                    ),
                );
                return;
            }
        }
        let message = Message {
            topic: publish.topic.into(),
            payload: publish.payload,
            qos: publish.qos,
            retain: publish.retain,
        };
        match publish.qos {
            QoS::AtMostOnce => self.route(message),
            QoS::AtLeastOnce => {
                self.route(message);
                self.ack(conn, Packet::PubAck(Ack::success(publish.pkid)));
            }
            QoS::ExactlyOnce => {
                let first = self
                    .sessions
                    .get_mut(id)
                    .is_some_and(|s| s.incoming_qos2.insert(publish.pkid));
                if first {
                    self.route(message);
                }
                self.send(conn, &Packet::PubRec(Ack::success(publish.pkid)));
            }
        }
    }

    /// A publish accepted from a client: retain it, queue it for every matching session.
    fn route(&mut self, message: Message) {
        *self
            .oracle
            .accepted
            .entry(message.payload.clone())
            .or_default() += 1;
        self.oracle.accepted_log.push(message.payload.clone());
        if message.retain {
            if message.payload.is_empty() {
                self.retained.remove(&message.topic);
            } else {
                self.retained.insert(message.topic.clone(), message.clone());
            }
        }
        let name = TopicName::new(message.topic.as_str()).expect("checked");
        let targets: Vec<(String, QoS)> = self
            .sessions
            .iter()
            .filter_map(|(id, s)| {
                let granted = s
                    .subscriptions
                    .iter()
                    .filter(|(f, _)| TopicFilter::new(f.as_str()).is_ok_and(|f| f.matches(&name)))
                    .map(|(_, q)| *q)
                    .max()?;
                Some((id.clone(), granted))
            })
            .collect();
        for (id, granted) in targets {
            let copy = Message {
                qos: message.qos.min(granted),
                retain: false,
                ..message.clone()
            };
            self.enqueue(&id, copy);
            self.pump(&id);
        }
    }

    fn enqueue(&mut self, id: &str, message: Message) {
        let Some(s) = self.sessions.get_mut(id) else {
            return;
        };
        if message.qos == QoS::AtMostOnce && s.conn.is_none() {
            return;
        }
        if message.qos == QoS::ExactlyOnce {
            *self
                .oracle
                .routed_qos2
                .entry((id.to_owned(), message.payload.clone()))
                .or_default() += 1;
        }
        if message.qos != QoS::AtMostOnce {
            self.oracle
                .owed
                .entry(id.to_owned())
                .or_default()
                .insert(message.payload.clone());
        }
        s.pending.push_back(message);
    }

    /// Sends what the session's window allows, in order.
    fn pump(&mut self, id: &str) {
        let mut packets = Vec::new();
        let Some(s) = self.sessions.get_mut(id) else {
            return;
        };
        let Some(conn) = s.conn else {
            return;
        };
        while s.in_flight.len() < s.window.max(1) {
            let Some(message) = s.pending.pop_front() else {
                break;
            };
            if message.qos == QoS::AtMostOnce {
                packets.push(Packet::Publish(publish_packet(&message, 0, false)));
                continue;
            }
            let pkid = s.allocate();
            packets.push(Packet::Publish(publish_packet(&message, pkid, false)));
            s.in_flight.push_back(OutFlight {
                pkid,
                message,
                released: false,
            });
        }
        // QoS 0 messages behind a full window wait too: order is kept.
        for packet in &packets {
            self.send(conn, packet);
        }
    }
}

fn publish_packet(message: &Message, pkid: u16, dup: bool) -> Publish {
    Publish {
        dup,
        qos: message.qos,
        retain: message.retain,
        topic: message.topic.clone().into(),
        pkid,
        payload: message.payload.clone(),
        properties: Default::default(),
    }
}
