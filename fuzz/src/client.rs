//! Fuzz harness `client`: a whole [`Client`] session driven by the input.
//!
//! The input (read with `arbitrary`) is a configuration and then a list of steps in any order:
//! broker bytes (raw, or well-formed packets encoded with the codec, whole or cut in two),
//! application commands (connect, publish, subscribe, unsubscribe, disconnect), time advances
//! and transport events (open, failed open, loss). Packet ids in broker packets are mostly ones
//! the client really used, so that acks reach deep states.
//!
//! After every step the client's outputs are drained (as an adapter would) and these invariants
//! are asserted:
//! - no panic;
//! - in flight <= `max_inflight`; queued <= `max_queued + max_inflight + 1` (requests put back
//!   after a session loss may exceed `max_queued` by what was in flight, see
//!   `Session::requeue_front`, plus the client's own re-subscribes, one per subscription
//!   identifier in use);
//! - a refused command queues nothing; tokens are fresh and increasing;
//! - `poll_timeout` never reports a past instant twice without progress (after `handle_timeout`
//!   at that instant something happened or the deadline moved past `now`), and a call to
//!   `handle_timeout` before the deadline does nothing;
//! - nothing is transmitted without an open transport; every write is whole valid packets, the
//!   first on a transport is CONNECT and only CONNECT goes before CONNACK;
//! - closing: once the close is decided (state `Closing`, or a state without a transport after
//!   a loss) the write may still carry what was owed before the decision (acks for packets
//!   received earlier, requests already due), and then ends with one DISCONNECT; nothing is
//!   written on that transport after a DISCONNECT, and `Action::Close` follows it. A state
//!   without a transport writes nothing but that final DISCONNECT;
//! - the socket takes written bytes one step late (`handle_written` at the next step), so the
//!   buffer bound is exercised: buffered bytes stay within `max_buffered_bytes` (or one packet)
//!   plus what is owed to the broker; the final close waits for everything to be written;
//! - `Action::Connect` only when no transport is open or being opened;
//! - every completion (Published, RequestFailed, Subscribed, Unsubscribed) names a token the
//!   application was given, at most once; once the client is `Closed` every token completed.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime};

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use jamey_mqtt_core::codec::Codec;
use jamey_mqtt_core::packet::{
    Ack, AckProperties, ConnAck, ConnAckProperties, Disconnect, Packet, ProtocolVersion, Publish,
    PublishProperties, QoS, ReasonCode, SubAck, SubscribeFilter, SubscribeProperties, UnsubAck,
};
use jamey_mqtt_core::permissions::Permissions;
use jamey_mqtt_core::reconnect::ReconnectConfig;
use jamey_mqtt_core::topic::TopicFilter;
use jamey_mqtt_core::{
    Action, AuthToken, Client, ClientConfig, ConnectionState, EnhancedAuth, Event, Output,
    PublishRequest, SessionLostPolicy, SubscriptionId, Token, TokenAuth, TokenError,
    TransportError, TransportErrorKind,
};

const TOPICS: &[&str] = &[
    "a",
    "a/b",
    "x/y/z",
    "$SYS/x",
    "",
    "a/+",
    "#",
    "sensors/1",
    "t",
];
const FILTERS: &[&str] = &[
    "a/#",
    "+",
    "#",
    "a/+/c",
    "$share/g/a",
    "",
    "a/#/b",
    "sensors/#",
];
const CONNACK_CODES: &[ReasonCode] = &[
    ReasonCode::SUCCESS,
    ReasonCode::SERVER_UNAVAILABLE,
    ReasonCode::NOT_AUTHORIZED,
    ReasonCode::BAD_USER_NAME_OR_PASSWORD,
    ReasonCode::UNSPECIFIED_ERROR,
];

/// A packet id: mostly one the client (or the harness, for PUBREL) really used.
#[derive(Arbitrary, Debug)]
enum Id {
    Recent(u8),
    Raw(u16),
}

/// A packet from the broker, built into a real [`Packet`] and encoded with the codec.
#[derive(Arbitrary, Debug)]
enum In {
    ConnAck {
        session_present: bool,
        code: u8,
        receive_maximum: Option<u8>,
        maximum_packet_size: Option<u16>,
        server_keep_alive: Option<u8>,
        assigned_client_identifier: bool,
    },
    Publish {
        qos: u8,
        dup: bool,
        retain: bool,
        topic: u8,
        pkid: Id,
        payload: Vec<u8>,
        topic_alias: Option<u16>,
    },
    PubAck(Id, u8),
    PubRec(Id, u8),
    PubRel(Id),
    PubComp(Id),
    SubAck(Id, Vec<u8>),
    UnsubAck(Id, Vec<u8>),
    PingResp,
    Disconnect(u8),
}

#[derive(Arbitrary, Debug)]
enum Step {
    Connect,
    /// Answer a pending `Action::Connect`: the transport is open.
    Open,
    /// Answer a pending `Action::Connect`: the transport could not be opened.
    OpenFails,
    /// The open transport ends (EOF).
    Eof,
    Bytes(Vec<u8>),
    Packet(In),
    /// A packet delivered in two `handle_bytes` calls, cut at `at` (mod its length).
    Split(In, u16),
    /// Several packets in one `handle_bytes` call.
    Batch(Vec<In>),
    Publish {
        topic: u8,
        qos: u8,
        retain: bool,
        len: u8,
        properties: bool,
    },
    Subscribe(Vec<(u8, u8)>),
    Unsubscribe(Vec<u8>),
    Disconnect,
    /// Move the clock forward by this many tens of milliseconds.
    Advance(u16),
    /// Jump to the client's next deadline.
    ToDeadline,
}

fn config(u: &mut Unstructured<'_>) -> arbitrary::Result<ClientConfig> {
    let protocol = if bool::arbitrary(u)? {
        ProtocolVersion::V5
    } else {
        ProtocolVersion::V311
    };
    let reconnect = ReconnectConfig {
        enabled: u.ratio(7, 8)?,
        connect_timeout: Duration::from_secs(u.int_in_range(1..=10)?),
        max_failures: if bool::arbitrary(u)? {
            Some(u.int_in_range(1..=4)?)
        } else {
            None
        },
        max_attempts: if u.ratio(1, 4)? {
            Some(u.int_in_range(1..=5)?)
        } else {
            None
        },
        open_duration: Duration::from_secs(u.int_in_range(1..=60)?),
        ..ReconnectConfig::default()
    };
    Ok(ClientConfig {
        protocol,
        client_id: if bool::arbitrary(u)? {
            String::new()
        } else {
            "fuzz".into()
        },
        clean_start: bool::arbitrary(u)?,
        keep_alive: Duration::from_secs(*u.choose(&[0, 1, 5, 30])?),
        max_inflight: u.int_in_range(1..=4)?,
        max_queued: u.int_in_range(1..=6)?,
        max_incoming_packet_size: *u.choose(&[64, 1024, 256 * 1024])?,
        max_outgoing_packet_size: *u.choose(&[64, 1024, 256 * 1024])?,
        receive_maximum: u.int_in_range(1..=3)?,
        session_lost_policy: if bool::arbitrary(u)? {
            SessionLostPolicy::FailInFlight
        } else {
            SessionLostPolicy::ResendAsNew
        },
        permissions: if u.ratio(1, 4)? {
            let grant = vec![TopicFilter::new("sensors/#").expect("valid")];
            Some(Permissions::new(grant.clone(), grant))
        } else {
            None
        },
        reconnect,
        seed: u64::arbitrary(u)?,
        ..ClientConfig::default()
    })
    .map(|mut config| {
        // MQTT 5 enhanced authentication for half the seeds (decided from the seed, so the
        // existing corpus keeps its meaning): AUTH from the broker is then allowed while
        // connecting (raw bytes reach it), and challenges are answered in `check_event`.
        if config.protocol == ProtocolVersion::V5 && config.seed % 2 == 0 {
            config.authentication = Some(EnhancedAuth::new("fuzz"));
        }
        config
    })
}

struct Harness {
    client: Client,
    /// Manual acknowledgement: handles of messages delivered, acked at the next step.
    unacked: Vec<jamey_mqtt_core::AckId>,
    /// The broker's codec: decodes what the client writes, encodes what the broker sends.
    codec: Codec,
    version: ProtocolVersion,
    now: Instant,
    /// When the run started (the wall clock is `WALL_START` then).
    start: Instant,
    max_inflight: usize,
    max_queued: usize,
    /// An `Action::Connect` not answered yet.
    opening: bool,
    /// A transport is open (from `handle_connected` until EOF or `Action::Close`).
    transport: bool,
    /// Packets the client wrote on the current transport.
    written_on_transport: usize,
    /// A DISCONNECT was written on the current transport: nothing may follow it.
    disconnect_written: bool,
    /// Bytes handed out and not yet reported to `handle_written` (the socket is one step late).
    unreported: usize,
    /// The bound the buffered bytes must respect (see `check_bounds`).
    buffer_bound: usize,
    /// Packet ids the client used (PUBLISH, SUBSCRIBE, UNSUBSCRIBE), most recent last.
    client_ids: Vec<u16>,
    /// Packet ids the broker used for QoS 2 publishes.
    broker_ids: Vec<u16>,
    issued: BTreeSet<Token>,
    completed: BTreeSet<Token>,
    /// Subscriptions that ended: no message may carry their ids again.
    ended: BTreeSet<SubscriptionId>,
    /// Outputs seen so far: any output counts as progress.
    outputs: u64,
    /// Enhanced authentication challenges seen (every third is aborted).
    challenges: u64,
    /// Tokens asked for (`Action::FetchToken`; every fourth fails).
    fetches: u64,
}

/// The wall clock when a run starts (token times are wall-clock times).
const WALL_START: SystemTime = SystemTime::UNIX_EPOCH;

impl Harness {
    fn pick(ids: &[u16], id: &Id) -> u16 {
        match id {
            Id::Recent(i) if !ids.is_empty() => ids[ids.len() - 1 - usize::from(*i) % ids.len()],
            Id::Recent(i) => u16::from(*i),
            Id::Raw(raw) => *raw,
        }
    }

    fn reason(&self, code: u8) -> ReasonCode {
        match self.version {
            // 3.1.1 acks carry no reason: only success encodes.
            ProtocolVersion::V311 => ReasonCode::SUCCESS,
            ProtocolVersion::V5 if matches!(code % 3, 0) => ReasonCode(code),
            ProtocolVersion::V5 => ReasonCode::SUCCESS,
        }
    }

    fn ack(&self, id: &Id, code: u8) -> Ack {
        Ack {
            pkid: Harness::pick(&self.client_ids, id),
            reason: self.reason(code),
            properties: AckProperties::default(),
        }
    }

    fn build(&mut self, input: &In) -> Packet {
        let v5 = self.version == ProtocolVersion::V5;
        match input {
            In::ConnAck {
                session_present,
                code,
                receive_maximum,
                maximum_packet_size,
                server_keep_alive,
                assigned_client_identifier,
            } => {
                let mut properties = ConnAckProperties::default();
                if v5 {
                    properties.receive_maximum = receive_maximum.map(|m| u16::from(m).max(1));
                    properties.maximum_packet_size =
                        maximum_packet_size.map(|m| u32::from(m).max(16));
                    properties.server_keep_alive = server_keep_alive.map(u16::from);
                    if *assigned_client_identifier {
                        properties.assigned_client_identifier = Some("assigned".into());
                    }
                    // Now and then a broker without subscription identifiers.
                    if usize::from(*code) / CONNACK_CODES.len() % 4 == 3 {
                        properties.subscription_identifiers_available = Some(0);
                    }
                }
                Packet::ConnAck(Box::new(ConnAck {
                    session_present: *session_present,
                    code: CONNACK_CODES[usize::from(*code) % CONNACK_CODES.len()],
                    properties,
                }))
            }
            In::Publish {
                qos,
                dup,
                retain,
                topic,
                pkid,
                payload,
                topic_alias,
            } => {
                let qos = QoS::from_u8(qos % 3).expect("0..=2");
                let pkid = match qos {
                    QoS::AtMostOnce => 0,
                    _ => Harness::pick(&self.broker_ids, pkid).max(1),
                };
                if qos == QoS::ExactlyOnce {
                    self.broker_ids.push(pkid);
                }
                // MQTT 5: none, one or two of the identifiers the subscribe steps use.
                let subscription_identifiers = match usize::from(*topic) / TOPICS.len() % 4 {
                    _ if !v5 => Vec::new(),
                    0 => Vec::new(),
                    3 => vec![1, 2],
                    n => vec![n],
                };
                let properties = PublishProperties {
                    topic_alias: if v5 { *topic_alias } else { None },
                    subscription_identifiers,
                    ..PublishProperties::default()
                };
                Packet::Publish(Publish {
                    dup: *dup && qos != QoS::AtMostOnce,
                    qos,
                    retain: *retain,
                    topic: TOPICS[usize::from(*topic) % TOPICS.len()].into(),
                    pkid,
                    payload: Bytes::from(payload.clone()),
                    properties: properties.into(),
                })
            }
            In::PubAck(id, code) => Packet::PubAck(self.ack(id, *code)),
            In::PubRec(id, code) => Packet::PubRec(self.ack(id, *code)),
            In::PubRel(id) => Packet::PubRel(Ack::success(Harness::pick(&self.broker_ids, id))),
            In::PubComp(id) => Packet::PubComp(self.ack(id, 0)),
            In::SubAck(id, codes) => Packet::SubAck(SubAck {
                pkid: Harness::pick(&self.client_ids, id),
                reasons: codes
                    .iter()
                    .take(8)
                    .map(|c| match c % 5 {
                        0..=2 => ReasonCode(c % 5),
                        _ => ReasonCode::UNSPECIFIED_ERROR,
                    })
                    .collect(),
                properties: AckProperties::default(),
            }),
            In::UnsubAck(id, codes) => Packet::UnsubAck(UnsubAck {
                pkid: Harness::pick(&self.client_ids, id),
                reasons: if v5 {
                    codes.iter().take(8).map(|c| self.reason(*c)).collect()
                } else {
                    Vec::new()
                },
                properties: AckProperties::default(),
            }),
            In::PingResp => Packet::PingResp,
            In::Disconnect(code) => Packet::Disconnect(Disconnect {
                reason: self.reason(*code),
                ..Disconnect::normal()
            }),
        }
    }

    fn encode(&mut self, input: &In) -> Option<BytesMut> {
        let packet = self.build(input);
        let mut out = BytesMut::new();
        // Some combinations cannot be encoded (e.g. a reason code a packet cannot carry): skip.
        self.codec.encode(&packet, &mut out).ok()?;
        Some(out)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        if self.transport {
            self.client.handle_bytes(self.now, bytes);
        }
    }

    /// Drains every output, checking each, until the client is quiet.
    fn drive(&mut self) {
        let mut out = BytesMut::new();
        // A write that ended with DISCONNECT must be followed by `Action::Close` at once.
        let mut expect_close = false;
        loop {
            let output = self.client.poll_output(self.now, &mut out);
            if expect_close {
                assert!(
                    output == Output::Action(Action::Close),
                    "DISCONNECT not followed by Close: {output:?}"
                );
                expect_close = false;
            }
            match output {
                Output::Transmit(n) => {
                    self.outputs += 1;
                    self.unreported += n;
                    expect_close = self.check_written(&mut out);
                }
                Output::Action(action) => {
                    self.outputs += 1;
                    self.action(action);
                }
                Output::Event(event) => {
                    self.outputs += 1;
                    self.check_event(event);
                }
                Output::Timeout(deadline) => {
                    assert_eq!(deadline, self.client.poll_timeout());
                    return;
                }
            }
        }
    }

    fn action(&mut self, action: Action) {
        match action {
            Action::Connect(_) => {
                assert!(
                    !self.opening && !self.transport,
                    "Action::Connect while a transport is open or opening"
                );
                self.opening = true;
            }
            Action::FetchToken => {
                // The token source answers at once: a 2-second token, or (every fourth) an error.
                self.fetches += 1;
                let token = if self.fetches % 4 == 0 {
                    Err(TokenError::new("the token source is down"))
                } else {
                    let wall = WALL_START + self.now.duration_since(self.start);
                    let mut token = AuthToken::new(format!("token-{}", self.fetches));
                    token.issued_at = Some(wall);
                    token.expires_at = Some(wall + Duration::from_secs(2));
                    Ok(token)
                };
                self.client.handle_token(self.now, token);
            }
            Action::Close => {
                self.transport = false;
                self.opening = false;
                if self.client.state() == ConnectionState::Closing {
                    // The adapter writes everything, flushes, closes, and says so.
                    self.report_written();
                    self.client.handle_closed(self.now);
                }
            }
        }
    }

    /// Checks one write; returns whether it must be followed by `Action::Close`.
    fn check_written(&mut self, out: &mut BytesMut) -> bool {
        assert!(
            self.transport,
            "{} bytes written with no transport open",
            out.len()
        );
        let state = self.client.state();
        let mut packets = Vec::new();
        loop {
            match self.codec.decode(out) {
                Ok(Some(packet)) => packets.push(packet),
                Ok(None) => break,
                Err(error) => panic!("client wrote an invalid packet: {error}"),
            }
        }
        assert!(out.is_empty(), "client wrote part of a packet");
        // No transport of its own any more: only the DISCONNECT to the one being closed.
        let farewell_only = !state.has_transport();
        for packet in &packets {
            let first = self.written_on_transport == 0;
            self.written_on_transport += 1;
            assert!(
                !self.disconnect_written,
                "{} written after DISCONNECT while {}",
                packet.name(),
                state.name()
            );
            if matches!(packet, Packet::Disconnect(_)) {
                self.disconnect_written = true;
                continue;
            }
            if farewell_only {
                panic!("{} written while {}", packet.name(), state.name());
            }
            assert_eq!(
                first,
                matches!(packet, Packet::Connect(_)),
                "CONNECT must be the first packet on a transport, and only the first ({})",
                packet.name()
            );
            if state == ConnectionState::Connecting {
                assert!(
                    matches!(
                        packet,
                        Packet::Connect(_) | Packet::Disconnect(_) | Packet::Auth(_)
                    ),
                    "{} before CONNACK",
                    packet.name()
                );
            }
            match packet {
                Packet::Publish(p) if p.qos != QoS::AtMostOnce => self.client_ids.push(p.pkid),
                Packet::Subscribe(s) => self.client_ids.push(s.pkid),
                Packet::Unsubscribe(u) => self.client_ids.push(u.pkid),
                _ => {}
            }
        }
        if self.client_ids.len() > 64 {
            self.client_ids.drain(..32);
        }
        if state == ConnectionState::Closing || farewell_only {
            assert!(
                self.disconnect_written,
                "a write after the close was decided must end with DISCONNECT ({})",
                state.name()
            );
        }
        self.disconnect_written
    }

    /// The socket takes what it was handed.
    fn report_written(&mut self) {
        if self.unreported > 0 {
            self.client
                .handle_written(self.now, std::mem::take(&mut self.unreported));
        }
    }

    fn check_event(&mut self, event: Event) {
        if std::env::var_os("FUZZ_TRACE").is_some() {
            eprintln!("  event {event:?}");
        }
        let token = match &event {
            Event::Published { token, .. }
            | Event::RequestFailed { token, .. }
            | Event::Subscribed { token, .. }
            | Event::Unsubscribed { token, .. } => *token,
            Event::Disconnected => {
                assert_eq!(self.client.state(), ConnectionState::Closed);
                return;
            }
            Event::Message {
                subscriptions,
                message,
            } => {
                assert!(!subscriptions.is_empty(), "a message for no subscription");
                self.unacked.extend(message.ack);
                for id in subscriptions {
                    assert!(
                        self.issued.contains(&id.request()) && !self.ended.contains(id),
                        "a message for subscription {id:?}, never made or already ended"
                    );
                }
                return;
            }
            Event::SubscriptionEnded { id, .. } => {
                assert!(
                    self.issued.contains(&id.request()),
                    "an end for a subscription never made: {id:?}"
                );
                assert!(self.ended.insert(*id), "subscription {id:?} ended twice");
                return;
            }
            Event::AuthChallenge(challenge) => {
                assert_eq!(challenge.method, "fuzz", "a challenge for another method");
                // Answer two in three, abort the third (both must leave the client sound).
                self.challenges += 1;
                if self.challenges % 3 == 0 {
                    self.client.auth_abort(self.now);
                } else {
                    let answer = self
                        .client
                        .auth_respond(self.now, Some(Bytes::from_static(b"answer")));
                    assert_eq!(answer, Ok(()), "a challenge that cannot be answered");
                }
                return;
            }
            _ => return,
        };
        assert!(
            self.issued.contains(&token),
            "completion for a token never issued: {event:?}"
        );
        assert!(
            self.completed.insert(token),
            "token completed twice: {event:?}"
        );
    }

    fn command(&mut self, result: Result<Token, jamey_mqtt_core::ClientError>) {
        if let Ok(token) = result {
            assert!(
                self.issued.last().is_none_or(|last| token > *last),
                "token {token:?} is not fresh"
            );
            self.issued.insert(token);
        }
    }

    fn checked_command(
        &mut self,
        f: impl FnOnce(&mut Client, Instant) -> Result<Token, jamey_mqtt_core::ClientError>,
    ) {
        let before = self.client.health();
        let result = f(&mut self.client, self.now);
        if result.is_err() {
            let after = self.client.health();
            assert_eq!(
                (before.queued, before.in_flight),
                (after.queued, after.in_flight),
                "a refused command changed the queue: {result:?}"
            );
        }
        self.command(result);
    }

    fn step(&mut self, step: &Step) {
        if self.transport {
            self.report_written();
        }
        for id in std::mem::take(&mut self.unacked) {
            self.client
                .ack(self.now, id)
                .expect("an ack is never refused");
        }
        match step {
            Step::Connect => self.client.connect(self.now),
            Step::Open if self.opening => {
                self.opening = false;
                self.transport = true;
                self.written_on_transport = 0;
                self.disconnect_written = false;
                self.unreported = 0;
                self.client.handle_connected(self.now);
            }
            Step::OpenFails if self.opening => {
                self.opening = false;
                self.client.handle_disconnected(
                    self.now,
                    TransportError::new(TransportErrorKind::ConnectFailed, "fuzz"),
                );
            }
            Step::Eof if self.transport => {
                self.transport = false;
                self.client
                    .handle_disconnected(self.now, TransportError::closed());
            }
            Step::Open | Step::OpenFails | Step::Eof => {}
            Step::Bytes(bytes) => self.bytes(bytes),
            Step::Packet(input) => {
                if let Some(bytes) = self.encode(input) {
                    self.bytes(&bytes);
                }
            }
            Step::Split(input, at) => {
                if let Some(bytes) = self.encode(input) {
                    let at = usize::from(*at) % (bytes.len() + 1);
                    self.bytes(&bytes[..at]);
                    self.drive();
                    self.bytes(&bytes[at..]);
                }
            }
            Step::Batch(inputs) => {
                let mut all = BytesMut::new();
                for input in inputs.iter().take(16) {
                    if let Some(bytes) = self.encode(input) {
                        all.extend_from_slice(&bytes);
                    }
                }
                self.bytes(&all);
            }
            Step::Publish {
                topic,
                qos,
                retain,
                len,
                properties,
            } => {
                let mut request = PublishRequest::new(
                    TOPICS[usize::from(*topic) % TOPICS.len()],
                    vec![7u8; usize::from(*len)],
                    QoS::from_u8(qos % 3).expect("0..=2"),
                )
                .retain(*retain);
                if *properties {
                    request = request.properties(PublishProperties {
                        content_type: Some("text/plain".into()),
                        ..PublishProperties::default()
                    });
                }
                self.checked_command(|c, now| c.publish(now, request));
            }
            Step::Subscribe(filters) => {
                // MQTT 5: a subscription identifier 1..=3 now and then (from the first QoS byte).
                let identifier = match filters.first().map_or(0, |(_, q)| q / 3 % 4) {
                    _ if self.version != ProtocolVersion::V5 => None,
                    0 => None,
                    n => Some(usize::from(n)),
                };
                let filters: Vec<SubscribeFilter> = filters
                    .iter()
                    .take(4)
                    .map(|(f, q)| {
                        SubscribeFilter::new(
                            FILTERS[usize::from(*f) % FILTERS.len()],
                            QoS::from_u8(q % 3).expect("0..=2"),
                        )
                    })
                    .collect();
                let properties = SubscribeProperties {
                    subscription_identifier: identifier,
                    user_properties: Vec::new(),
                };
                self.checked_command(|c, now| {
                    c.subscribe_with_properties(now, filters, properties)
                });
            }
            Step::Unsubscribe(filters) => {
                let filters: Vec<String> = filters
                    .iter()
                    .take(4)
                    .map(|f| FILTERS[usize::from(*f) % FILTERS.len()].to_owned())
                    .collect();
                self.checked_command(|c, now| c.unsubscribe(now, filters));
            }
            Step::Disconnect => self.client.disconnect(self.now),
            Step::Advance(tens) => self.now += Duration::from_millis(u64::from(*tens) * 10),
            Step::ToDeadline => {
                if let Some(deadline) = self.client.poll_timeout() {
                    self.now = self.now.max(deadline);
                }
            }
        }
        self.drive();
        self.timers();
        self.check_bounds();
    }

    /// Fires due deadlines like an adapter whose timer woke up at `now`, checking that a due
    /// deadline is never reported again without progress and that early calls do nothing.
    fn timers(&mut self) {
        for _ in 0..64 {
            match self.client.poll_timeout() {
                Some(deadline) if deadline <= self.now => {
                    let (before, state) = (self.outputs, self.client.state());
                    self.client.handle_timeout(self.now);
                    self.drive();
                    let progressed = self.outputs != before || self.client.state() != state;
                    if !progressed {
                        assert!(
                            self.client.poll_timeout().is_none_or(|d| d > self.now),
                            "poll_timeout reported the passed deadline {deadline:?} twice \
                             without progress (now {:?}, state {:?})",
                            self.now,
                            self.client.state()
                        );
                    }
                }
                _ => {
                    let (before, state) = (self.outputs, self.client.state());
                    self.client.handle_timeout(self.now);
                    self.drive();
                    assert!(
                        self.outputs == before && self.client.state() == state,
                        "handle_timeout before the deadline did something"
                    );
                    return;
                }
            }
        }
        panic!("a deadline kept expiring at {:?}: a busy loop", self.now);
    }

    fn check_bounds(&self) {
        assert_eq!(
            self.client.stats().illegal_transitions,
            0,
            "the lifecycle refused an edge: {:?}",
            self.client.health().last_error
        );
        let health = self.client.health();
        assert!(
            health.buffered_bytes <= self.buffer_bound,
            "{} bytes buffered, over the bound {}",
            health.buffered_bytes,
            self.buffer_bound
        );
        assert!(
            health.in_flight <= self.max_inflight,
            "in flight {} over the maximum {}",
            health.in_flight,
            self.max_inflight
        );
        // The client's own re-subscribes after a session loss are a few requests more: one
        // per subscription identifier in use (none, 1, 2, 3).
        assert!(
            health.queued <= self.max_queued + self.max_inflight + 4,
            "queued {} over the bound {} + {} + 4",
            health.queued,
            self.max_queued,
            self.max_inflight
        );
        if self.client.state() == ConnectionState::Closed {
            let open: Vec<_> = self.issued.difference(&self.completed).collect();
            assert!(
                open.is_empty(),
                "closed with tokens never completed: {open:?}"
            );
            assert_eq!((health.in_flight, health.queued), (0, 0));
        }
    }
}

pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(mut config) = config(&mut u) else {
        return;
    };
    // From bytes already read, so that the inputs found before this setting replay the same.
    config.max_buffered_bytes = 32 + (config.seed % 1024) as usize;
    // Likewise: manual acknowledgement for half the inputs; the harness acks each message at
    // the start of the next step (so acks race with cuts and reconnects).
    config.manual_ack = config.seed & (1 << 20) != 0;
    // Token auth for a quarter of the inputs, with 2-second tokens (so refreshes, and MQTT 5
    // re-authentications under `JWT`, happen within a run); every fourth fetch fails.
    if config.seed & (3 << 21) == 0 && config.authentication.is_none() {
        config.password = None;
        config.token_auth = Some(TokenAuth {
            refresh_margin: Duration::from_secs(1),
            reauthenticate: config.seed & (1 << 23) != 0,
        });
    }
    // Requests stop at the bound (or one packet alone); acks, pings and replays are owed to
    // the broker whatever the bound, at most one per in-flight request or packet received.
    let largest = config
        .max_buffered_bytes
        .max(config.max_outgoing_packet_size);
    let buffer_bound = largest * (2 + usize::from(config.max_inflight)) + 16 * 1024;
    let now = Instant::now();
    let mut harness = Harness {
        codec: Codec::new(config.protocol, 1 << 20),
        version: config.protocol,
        now,
        start: now,
        max_inflight: usize::from(config.max_inflight),
        max_queued: config.max_queued,
        client: Client::new(config, now).expect("the fuzz config is valid"),
        unacked: Vec::new(),
        opening: false,
        transport: false,
        written_on_transport: 0,
        disconnect_written: false,
        unreported: 0,
        buffer_bound,
        client_ids: Vec::new(),
        broker_ids: Vec::new(),
        issued: BTreeSet::new(),
        completed: BTreeSet::new(),
        ended: BTreeSet::new(),
        outputs: 0,
        challenges: 0,
        fetches: 0,
    };
    harness.client.handle_wall_clock(now, WALL_START);
    let trace = std::env::var_os("FUZZ_TRACE").is_some();
    if trace {
        eprintln!("{:?}", harness.client.health());
    }
    for _ in 0..512 {
        let Ok(step) = Step::arbitrary(&mut u) else {
            break;
        };
        if trace {
            eprintln!("step {step:?}");
        }
        harness.step(&step);
        if u.is_empty() {
            break;
        }
    }
}
