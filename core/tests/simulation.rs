//! Deterministic fault simulation: real core [`Client`]s (publishers, a subscriber, and at the
//! end a late subscriber) joined to a simulated broker (`jamey_mqtt_sim::broker`) through a
//! seeded faulty network (`jamey_mqtt_sim::link`), on a virtual clock.
//!
//! Each seed picks the protocol version of each client, the link profile (latency, how byte
//! streams are split), the client bounds (in flight, queue), the subscription QoS, the broker's
//! persistence and the publishers' session mode, a publish plan, and a fault plan: connections
//! cut at random points (a random prefix of the bytes in transit still arrives, so packets are
//! cut in the middle), latency spikes (keep-alive timeouts), broker restarts with or without
//! persistence (and down time), refused connects (CONNACK "server unavailable"), transports that
//! fail to open or hang, and the broker ending connections. Then faults stop and the run settles.
//!
//! What is asserted, per seed:
//! 1. every publish the application got a token for completes with `Published`: nothing
//!    accepted into the queue is lost or failed, whatever the faults (the policy is the
//!    default resend-as-new; the application never asks to drop anything);
//! 2. every QoS >= 1 publish reached the broker;
//! 3. at least once: with a persistent broker, every message delivered at QoS >= 1 reached the
//!    subscriber; with a broker that forgets sessions on restart, every QoS >= 1 message the
//!    broker had routed into the subscriber's *surviving* session reached it (messages routed
//!    into a forgotten session, or published while the re-created session had no subscription
//!    yet, are lost by the broker, not by the client: counted, not asserted);
//! 4. exactly once: with a persistent broker and persistent publisher sessions, every message
//!    delivered at QoS 2 reached the subscriber exactly once. Otherwise (a broker or a publisher
//!    session that forgets in-flight QoS 2 state, so the client resends as new) QoS 2 holds at
//!    least once and the subscriber never delivers a message more often than the broker sent it
//!    into its session (the client's own duplicate suppression);
//! 5. order: per publisher and topic, QoS >= 1 messages reach the broker for the first time in
//!    publish order, and arrive at the subscriber in publish order, redeliveries allowed (a
//!    message seen for the first time never comes after a later one; with a broker that forgets
//!    sessions, a publisher's redelivery may be the first copy the subscriber sees);
//! 6. a message arrives at the QoS the broker sent it with; tokens complete at most once; no
//!    client ever exceeds its in-flight maximum or queue bound; no client writes without a
//!    transport or sends bytes the broker cannot decode or does not expect, or resends a
//!    PUBLISH within a session without DUP=1; re-subscriptions after a session loss succeed;
//! 7. after the faults, everything settles: every client connected, nothing queued or in
//!    flight anywhere; a late subscriber then gets exactly the broker's retained messages.
//!
//! `SIM_SEEDS=n` (default 2000) sets how many seeds run, `SIM_FIRST_SEED` the first. A failing
//! seed is printed with the command that replays it alone, with a trace:
//! `SIM_SEED=1234 cargo test -p jamey-mqtt-core --test simulation -- --nocapture`.

mod support;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use jamey_mqtt_core::packet::{ProtocolVersion, QoS, SubscribeFilter};
use jamey_mqtt_core::reconnect::ReconnectConfig;
use jamey_mqtt_core::{
    Action, Client, ClientConfig, ClientError, ConnectionState, Event, Output, PublishRequest,
    Token, TransportError, TransportErrorKind,
};
use jamey_mqtt_sim::broker::{Broker, BrokerOutput};
use jamey_mqtt_sim::link::{Conn, ConnId, LinkProfile};
use jamey_mqtt_sim::seeds;

const TOPICS: [&str; 3] = ["t/a", "t/b", "t/c/d"];
/// Subscription sets of the subscriber, with the QoS each grants per topic above.
const SUBSCRIPTIONS: [&[(&str, QoS)]; 3] = [
    &[("t/#", QoS::ExactlyOnce)],
    &[("t/+", QoS::ExactlyOnce), ("t/c/#", QoS::AtLeastOnce)],
    &[("t/#", QoS::AtLeastOnce), ("t/a", QoS::ExactlyOnce)],
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Publisher(usize),
    Subscriber,
    Late,
}

#[derive(Debug, Clone)]
enum Plan {
    Publish {
        topic: usize,
        qos: QoS,
        retain: bool,
    },
    /// Subscribe to / unsubscribe from a filter no one publishes to (token completion only).
    Churn(bool),
}

/// What the simulation knows about one accepted publish.
#[derive(Debug, Clone)]
struct Sent {
    publisher: usize,
    topic: usize,
    seq: u64,
    qos: QoS,
    retain: bool,
}

#[derive(Debug, Clone)]
struct Received {
    payload: Bytes,
    topic: String,
    qos: QoS,
    retain: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Completion {
    Ok,
    Failed,
}

struct Node {
    name: String,
    role: Role,
    version: ProtocolVersion,
    client: Client,
    max_inflight: usize,
    max_queued: usize,
    /// The transport the client has open, as far as it knows.
    conn: Option<ConnId>,
    /// An `Action::Connect` being answered at this instant.
    opening: Option<Instant>,
    /// The transport being opened never answers (the client's connect timeout must fire).
    hanging: bool,
    plan: VecDeque<(Instant, Plan)>,
    /// After `QueueFull`, the application waits until then.
    retry_at: Option<Instant>,
    tokens: BTreeMap<Token, Option<Completion>>,
    /// Token -> payload, for publishes.
    publishes: BTreeMap<Token, Bytes>,
    received: Vec<Received>,
    connects: u32,
}

#[derive(Debug, Default, Clone)]
struct Totals {
    seeds: u64,
    published: u64,
    delivered: u64,
    excused: u64,
    cuts: u64,
    restarts: u64,
    persistent_runs: u64,
    exactly_once_runs: u64,
    refusals: u64,
    open_failures: u64,
    spikes: u64,
    kicks: u64,
    connects: u64,
    simulated: Duration,
}

impl Totals {
    fn add(&mut self, other: &Totals) {
        self.seeds += other.seeds;
        self.published += other.published;
        self.delivered += other.delivered;
        self.excused += other.excused;
        self.cuts += other.cuts;
        self.restarts += other.restarts;
        self.persistent_runs += other.persistent_runs;
        self.exactly_once_runs += other.exactly_once_runs;
        self.refusals += other.refusals;
        self.open_failures += other.open_failures;
        self.spikes += other.spikes;
        self.kicks += other.kicks;
        self.connects += other.connects;
        self.simulated += other.simulated;
    }
}

struct Sim {
    trace: bool,
    rng: fastrand::Rng,
    start: Instant,
    now: Instant,
    broker: Broker,
    broker_down_until: Option<Instant>,
    conns: BTreeMap<ConnId, Conn>,
    next_conn: ConnId,
    profile: LinkProfile,
    nodes: Vec<Node>,
    sent: BTreeMap<Bytes, Sent>,
    next_seq: BTreeMap<(usize, usize), u64>,
    subscriptions: &'static [(&'static str, QoS)],
    /// Broker keeps state across restarts.
    persistent: bool,
    /// Publishers ask for a clean session (their in-flight QoS 2 state is forgotten).
    publisher_clean: bool,
    faults_on: bool,
    fault_end: Instant,
    next_fault: Instant,
    mean_fault_gap_ms: u64,
    open_failures: u32,
    open_hangs: u32,
    totals: Totals,
    failures: Vec<String>,
}

impl Sim {
    fn new(seed: u64, trace: bool) -> Sim {
        let mut rng = fastrand::Rng::with_seed(seed);
        let start = Instant::now();
        let persistent = rng.bool();
        let publisher_clean = rng.u8(0..4) == 0;
        let window = rng.usize(1..=10);
        let fault_span = Duration::from_millis(rng.u64(10_000..=40_000));
        let mean_fault_gap_ms = rng.u64(100..=4_000);
        let profile = LinkProfile::random(&mut rng);
        let mut sim = Sim {
            trace,
            start,
            now: start,
            broker: Broker::new(persistent, window),
            broker_down_until: None,
            conns: BTreeMap::new(),
            next_conn: 1,
            profile,
            nodes: Vec::new(),
            sent: BTreeMap::new(),
            next_seq: BTreeMap::new(),
            subscriptions: SUBSCRIPTIONS[rng.usize(0..SUBSCRIPTIONS.len())],
            persistent,
            publisher_clean,
            faults_on: false,
            fault_end: start + fault_span,
            next_fault: start,
            mean_fault_gap_ms,
            open_failures: 0,
            open_hangs: 0,
            totals: Totals {
                seeds: 1,
                persistent_runs: u64::from(persistent),
                exactly_once_runs: u64::from(persistent && !publisher_clean),
                ..Totals::default()
            },
            failures: Vec::new(),
            rng,
        };
        sim.add_node(Role::Subscriber, false);
        for p in 0..sim.rng.usize(1..=3) {
            sim.add_node(Role::Publisher(p), publisher_clean);
        }
        sim.log(format_args!(
            "seed {seed}: persistent broker {persistent}, clean publishers {publisher_clean}, \
             window {window}, subscriptions {:?}, link {:?}, faults for {fault_span:?} every \
             ~{mean_fault_gap_ms} ms",
            sim.subscriptions, sim.profile
        ));
        sim
    }

    fn log(&self, args: std::fmt::Arguments<'_>) {
        if self.trace {
            eprintln!("[{:>9.3}s] {args}", (self.now - self.start).as_secs_f64());
        }
    }

    fn add_node(&mut self, role: Role, clean: bool) {
        let name = match role {
            Role::Publisher(p) => format!("pub{p}"),
            Role::Subscriber => "sub".to_owned(),
            Role::Late => "late".to_owned(),
        };
        let protocol = if self.rng.bool() {
            ProtocolVersion::V5
        } else {
            ProtocolVersion::V311
        };
        let config = ClientConfig {
            protocol,
            client_id: name.clone(),
            clean_start: clean || role == Role::Late,
            keep_alive: Duration::from_secs(10),
            max_inflight: self.rng.u16(1..=10),
            max_queued: self.rng.usize(3..=40),
            reconnect: ReconnectConfig {
                connect_timeout: Duration::from_secs(5),
                ..ReconnectConfig::default()
            },
            seed: self.rng.u64(..),
            ..ClientConfig::default()
        };
        let mut node = Node {
            name,
            role,
            version: protocol,
            max_inflight: usize::from(config.max_inflight),
            max_queued: config.max_queued,
            client: Client::new(config, self.now).expect("valid config"),
            conn: None,
            opening: None,
            hanging: false,
            plan: VecDeque::new(),
            retry_at: None,
            tokens: BTreeMap::new(),
            publishes: BTreeMap::new(),
            received: Vec::new(),
            connects: 0,
        };
        node.client.connect(self.now);
        self.nodes.push(node);
    }

    fn fail(&mut self, what: String) {
        self.log(format_args!("FAILURE: {what}"));
        self.failures.push(what);
    }

    // ---- the event loop ------------------------------------------------------------------

    /// The earliest instant anything is due.
    fn next_instant(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        if self.faults_on {
            consider(Some(self.next_fault));
            consider(Some(self.fault_end));
        }
        for node in &self.nodes {
            consider(node.opening.filter(|_| !node.hanging));
            consider(node.client.poll_timeout());
            if let Some((at, _)) = node.plan.front() {
                consider(Some(node.retry_at.map_or(*at, |r| r.max(*at))));
            }
        }
        for conn in self.conns.values() {
            consider(conn.next_at());
        }
        next
    }

    /// Moves the clock to the next instant anything is due and handles it all. False when
    /// nothing at all is scheduled.
    fn step(&mut self) -> bool {
        let Some(next) = self.next_instant() else {
            return false;
        };
        self.now = self.now.max(next);
        let now = self.now;
        if self.faults_on && now >= self.fault_end {
            self.stop_faults();
        }
        if self.faults_on && now >= self.next_fault {
            self.inject_fault();
            let gap = self.rng.u64(0..=2 * self.mean_fault_gap_ms);
            self.next_fault = now + Duration::from_millis(gap);
        }
        for i in 0..self.nodes.len() {
            self.application(i);
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i].opening.is_some_and(|at| at <= now) && !self.nodes[i].hanging {
                self.open(i);
            }
        }
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            self.deliver(id);
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i]
                .client
                .poll_timeout()
                .is_some_and(|d| d <= now)
            {
                self.nodes[i].client.handle_timeout(now);
                self.flush();
            }
        }
        true
    }

    /// Drains every client's and the broker's outputs until all are quiet.
    fn flush(&mut self) {
        loop {
            let mut progress = false;
            for i in 0..self.nodes.len() {
                progress |= self.drive(i);
            }
            while let Some(output) = self.broker.poll_output() {
                progress = true;
                match output {
                    BrokerOutput::Send(id, bytes) => {
                        if let Some(conn) = self.conns.get_mut(&id) {
                            if !conn.broker_closed {
                                conn.to_client.write(
                                    &mut self.rng,
                                    &self.profile,
                                    self.now,
                                    &bytes,
                                );
                            }
                        }
                    }
                    BrokerOutput::Close(id) => {
                        if let Some(conn) = self.conns.get_mut(&id) {
                            conn.broker_closed = true;
                            conn.broker_done = true;
                            conn.to_broker.clear();
                        }
                    }
                }
            }
            if !progress {
                return;
            }
        }
    }

    /// One client's outputs, as an adapter handles them. Returns whether there were any.
    fn drive(&mut self, i: usize) -> bool {
        let now = self.now;
        let mut progress = false;
        let mut out = BytesMut::new();
        loop {
            match self.nodes[i].client.poll_output(now, &mut out) {
                Output::Transmit(n) => {
                    // The simulated socket takes every byte at once (delays happen in the pipe).
                    self.nodes[i].client.handle_written(now, n);
                    let bytes = out.split();
                    self.transmit(i, &bytes);
                }
                Output::Action(action) => self.action(i, action),
                Output::Event(event) => self.event(i, event),
                Output::Timeout(_) => break,
            }
            progress = true;
        }
        let node = &self.nodes[i];
        let health = node.client.health();
        let mut broken = Vec::new();
        if health.in_flight > node.max_inflight {
            broken.push(format!(
                "{}: {} in flight, max {}",
                node.name, health.in_flight, node.max_inflight
            ));
        }
        if node.client.stats().illegal_transitions > 0 {
            broken.push(format!("{}: {:?}", node.name, health.last_error));
        }
        if health.queued > node.max_queued + node.max_inflight {
            broken.push(format!(
                "{}: {} queued, bound {} + {}",
                node.name, health.queued, node.max_queued, node.max_inflight
            ));
        }
        for what in broken {
            self.fail(what);
        }
        progress
    }

    fn transmit(&mut self, i: usize, bytes: &[u8]) {
        match self.nodes[i].conn {
            Some(id) => {
                // A transport that broke without the client knowing yet loses the bytes.
                if let Some(conn) = self.conns.get_mut(&id).filter(|c| !c.client_closed) {
                    conn.to_broker
                        .write(&mut self.rng, &self.profile, self.now, bytes);
                }
            }
            None => {
                let name = self.nodes[i].name.clone();
                self.fail(format!(
                    "{name} wrote {} bytes with no transport",
                    bytes.len()
                ));
            }
        }
    }

    fn action(&mut self, i: usize, action: Action) {
        let now = self.now;
        let node = &mut self.nodes[i];
        match action {
            Action::Connect(_) => {
                if node.conn.is_some() || node.opening.is_some() {
                    let name = node.name.clone();
                    self.fail(format!("{name}: Action::Connect with a transport open"));
                    return;
                }
                node.opening = Some(now + Duration::from_millis(self.rng.u64(1..=30)));
            }
            // The simulated clients do not use token auth.
            Action::FetchToken => {
                let name = node.name.clone();
                self.fail(format!("{name}: Action::FetchToken without token auth"));
            }
            Action::Close => {
                if let Some(id) = node.conn.take() {
                    if let Some(conn) = self.conns.get_mut(&id) {
                        conn.client_closed = true;
                        conn.client_done = true;
                        conn.to_client.clear();
                    }
                }
                node.opening = None;
                node.hanging = false;
                // What it wrote is in the pipe already: the final close is done.
                node.client.handle_closed(now);
            }
        }
    }

    fn event(&mut self, i: usize, event: Event) {
        self.log(format_args!("{} {event:?}", self.nodes[i].name));
        if let Event::Subscribed { results, .. } = &event {
            if results.iter().any(|r| r.is_err()) {
                let what = format!("{}: subscription refused {results:?}", self.nodes[i].name);
                self.fail(what);
            }
        }
        let node = &mut self.nodes[i];
        let (token, completion) = match &event {
            Event::Published { token, .. } => (*token, Completion::Ok),
            Event::Subscribed { token, .. } => (*token, Completion::Ok),
            Event::Unsubscribed { token, .. } => (*token, Completion::Ok),
            Event::RequestFailed { token, .. } => (*token, Completion::Failed),
            Event::Message { message: m, .. } => {
                node.received.push(Received {
                    payload: m.payload.clone(),
                    topic: m.topic.to_string(),
                    qos: m.qos,
                    retain: m.retain,
                });
                return;
            }
            Event::Connected { .. } => {
                node.connects += 1;
                return;
            }
            Event::Resubscribed { results } => {
                if results.iter().any(|(_, r)| r.is_err()) {
                    let what = format!("{}: re-subscription refused {results:?}", node.name);
                    self.fail(what);
                }
                return;
            }
            Event::GaveUp | Event::Disconnected => {
                let what = format!("{}: unexpected {event:?}", node.name);
                self.fail(what);
                return;
            }
            _ => return,
        };
        match node.tokens.get_mut(&token) {
            Some(slot @ None) => *slot = Some(completion),
            Some(Some(_)) => {
                let what = format!("{}: token completed twice: {event:?}", node.name);
                self.fail(what);
            }
            None => {
                let what = format!("{}: completion for an unknown token: {event:?}", node.name);
                self.fail(what);
            }
        }
    }

    /// The application's planned commands that are due.
    fn application(&mut self, i: usize) {
        let now = self.now;
        loop {
            let node = &mut self.nodes[i];
            if node.retry_at.is_some_and(|r| r > now) {
                return;
            }
            let Some((at, plan)) = node.plan.front().cloned() else {
                return;
            };
            if at > now {
                return;
            }
            let result = match plan {
                Plan::Publish { topic, qos, retain } => {
                    let Role::Publisher(p) = node.role else {
                        unreachable!("only publishers publish")
                    };
                    let seq = *self.next_seq.get(&(p, topic)).unwrap_or(&0);
                    let payload = Bytes::from(format!("{p}:{topic}:{seq}"));
                    let request =
                        PublishRequest::new(TOPICS[topic], payload.clone(), qos).retain(retain);
                    let result = node.client.publish(now, request);
                    if let Ok(token) = result {
                        self.next_seq.insert((p, topic), seq + 1);
                        node.publishes.insert(token, payload.clone());
                        self.sent.insert(
                            payload,
                            Sent {
                                publisher: p,
                                topic,
                                seq,
                                qos,
                                retain,
                            },
                        );
                        self.totals.published += 1;
                    }
                    result
                }
                Plan::Churn(subscribe) => {
                    if subscribe {
                        node.client
                            .subscribe(now, vec![SubscribeFilter::new("other/x", QoS::AtLeastOnce)])
                    } else {
                        node.client.unsubscribe(now, vec!["other/x".into()])
                    }
                }
            };
            let node = &mut self.nodes[i];
            match result {
                Ok(token) => {
                    node.tokens.insert(token, None);
                    node.plan.pop_front();
                    node.retry_at = None;
                }
                Err(ClientError::QueueFull { .. }) => {
                    node.retry_at = Some(now + Duration::from_millis(self.rng.u64(20..=500)));
                    return;
                }
                Err(error) => {
                    node.plan.pop_front();
                    let what = format!("{}: command refused: {error}", node.name);
                    self.fail(what);
                }
            }
            self.flush();
        }
    }

    /// A transport the client asked for is answered.
    fn open(&mut self, i: usize) {
        let now = self.now;
        self.nodes[i].opening = None;
        let down = self.broker_down_until.is_some_and(|t| now < t);
        if down || self.open_failures > 0 {
            if !down {
                self.open_failures -= 1;
            }
            self.totals.open_failures += 1;
            self.nodes[i].client.handle_disconnected(
                now,
                TransportError::new(TransportErrorKind::ConnectFailed, "refused"),
            );
        } else if self.open_hangs > 0 {
            self.open_hangs -= 1;
            self.nodes[i].hanging = true;
            self.nodes[i].opening = Some(now);
            self.log(format_args!("{}: transport open hangs", self.nodes[i].name));
        } else {
            let id = self.next_conn;
            self.next_conn += 1;
            self.conns.insert(id, Conn::new(id, i));
            self.broker.accept(id, self.nodes[i].version);
            self.nodes[i].conn = Some(id);
            self.totals.connects += 1;
            self.nodes[i].client.handle_connected(now);
        }
        self.flush();
    }

    /// Delivers what has arrived on a connection, and ends of stream.
    fn deliver(&mut self, id: ConnId) {
        let now = self.now;
        loop {
            let Some(conn) = self.conns.get_mut(&id) else {
                return;
            };
            if let Some(bytes) = conn.to_broker.pop_due(now) {
                if !conn.broker_closed {
                    self.broker.handle_bytes(id, &bytes);
                    self.flush();
                }
                continue;
            }
            if let Some(bytes) = conn.to_client.pop_due(now) {
                let client = conn.client;
                if !conn.client_closed {
                    self.nodes[client].client.handle_bytes(now, &bytes);
                    self.flush();
                }
                continue;
            }
            break;
        }
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if conn.client_closed && conn.to_broker.is_empty() && !conn.broker_done {
            conn.broker_done = true;
            self.broker.closed(id);
            self.flush();
        }
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if conn.broker_closed && conn.to_client.is_empty() && !conn.client_done {
            conn.client_done = true;
            let client = conn.client;
            self.end_of_stream(client, id, TransportError::closed());
        }
        if let Some(conn) = self.conns.get(&id) {
            if conn.client_done && conn.broker_done && conn.next_at().is_none() {
                self.conns.remove(&id);
            }
        }
    }

    /// The client's transport `id` ended under it.
    fn end_of_stream(&mut self, i: usize, id: ConnId, error: TransportError) {
        if self.nodes[i].conn == Some(id) {
            self.nodes[i].conn = None;
            self.nodes[i].client.handle_disconnected(self.now, error);
            self.flush();
        }
    }

    // ---- faults --------------------------------------------------------------------------

    fn stop_faults(&mut self) {
        self.log(format_args!("faults stop"));
        self.faults_on = false;
        self.profile = LinkProfile::calm();
        self.broker.refuse_connects = 0;
        self.broker_down_until = None;
        self.open_failures = 0;
        self.open_hangs = 0;
    }

    fn inject_fault(&mut self) {
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        match self.rng.u8(0..100) {
            0..=39 if !ids.is_empty() => {
                let id = ids[self.rng.usize(0..ids.len())];
                self.log(format_args!("fault: cut connection {id}"));
                self.totals.cuts += 1;
                self.cut(id, true);
            }
            40..=54 => {
                let down = Duration::from_millis(self.rng.u64(0..=3_000));
                self.log(format_args!(
                    "fault: broker restart (persistent {}), down {down:?}",
                    self.persistent
                ));
                self.totals.restarts += 1;
                self.broker.restart();
                for id in ids {
                    self.cut(id, false);
                }
                self.broker_down_until = Some(self.now + down);
            }
            55..=64 => {
                let n = self.rng.u32(1..=3);
                self.log(format_args!("fault: refuse the next {n} connects"));
                self.totals.refusals += u64::from(n);
                self.broker.refuse_connects += n;
            }
            65..=74 => {
                let n = self.rng.u32(1..=3);
                self.log(format_args!("fault: the next {n} transports fail to open"));
                self.open_failures += n;
            }
            75..=79 => {
                self.log(format_args!("fault: the next transport open hangs"));
                self.open_hangs += 1;
            }
            80..=89 => {
                let spike = Duration::from_millis(self.rng.u64(500..=8_000));
                let span = Duration::from_millis(self.rng.u64(500..=10_000));
                self.log(format_args!("fault: latency +{spike:?} for {span:?}"));
                self.totals.spikes += 1;
                self.profile.spike = spike;
                self.profile.spike_until = Some(self.now + span);
            }
            _ if !ids.is_empty() => {
                let id = ids[self.rng.usize(0..ids.len())];
                self.log(format_args!("fault: broker ends connection {id}"));
                self.totals.kicks += 1;
                self.broker.kick(id);
                self.flush();
            }
            _ => {}
        }
        self.flush();
    }

    /// The connection breaks: a random prefix of the bytes in transit each way still arrives
    /// (to the broker only if it is alive), then both ends see it end.
    fn cut(&mut self, id: ConnId, to_broker: bool) {
        let Some(mut conn) = self.conns.remove(&id) else {
            return;
        };
        let to_b = conn.to_broker.cut(&mut self.rng);
        let to_c = conn.to_client.cut(&mut self.rng);
        if !conn.broker_done {
            if to_broker && !to_b.is_empty() && !conn.broker_closed {
                self.broker.handle_bytes(id, &to_b);
            }
            self.broker.closed(id);
        }
        if !conn.client_closed && !conn.client_done {
            let i = conn.client;
            if !to_c.is_empty() && self.nodes[i].conn == Some(id) {
                self.nodes[i].client.handle_bytes(self.now, &to_c);
            }
            self.flush();
            self.end_of_stream(
                i,
                id,
                TransportError::new(TransportErrorKind::Io, "connection reset"),
            );
        }
        self.flush();
    }
}

// ---- a run: setup, faults, settling, checks ------------------------------------------------

impl Sim {
    fn granted(&self, topic: &str) -> QoS {
        let name = jamey_mqtt_core::topic::TopicName::new(topic).expect("valid topic");
        self.subscriptions
            .iter()
            .filter(|(f, _)| {
                jamey_mqtt_core::topic::TopicFilter::new(*f).is_ok_and(|f| f.matches(&name))
            })
            .map(|(_, q)| *q)
            .max()
            .unwrap_or(QoS::AtMostOnce)
    }

    /// The QoS the subscriber receives a message with.
    fn delivered_qos(&self, sent: &Sent) -> QoS {
        sent.qos.min(self.granted(TOPICS[sent.topic]))
    }

    fn plan(&mut self, begin: Instant) {
        let span = (self.fault_end - begin).as_millis() as u64;
        for i in 0..self.nodes.len() {
            let mut times: Vec<(Instant, Plan)> = Vec::new();
            match self.nodes[i].role {
                Role::Publisher(_) => {
                    for _ in 0..self.rng.usize(10..=80) {
                        let at = begin + Duration::from_millis(self.rng.u64(0..=span));
                        let plan = Plan::Publish {
                            topic: self.rng.usize(0..TOPICS.len()),
                            qos: QoS::from_u8(self.rng.u8(0..3)).expect("0..=2"),
                            retain: self.rng.u8(0..10) == 0,
                        };
                        times.push((at, plan));
                    }
                }
                Role::Subscriber => {
                    for k in 0..self.rng.usize(0..=4) {
                        let at = begin + Duration::from_millis(self.rng.u64(0..=span));
                        times.push((at, Plan::Churn(k % 2 == 0)));
                    }
                }
                Role::Late => {}
            }
            // Stable: equal instants keep their drawing order.
            times.sort_by_key(|(at, _)| *at);
            if let Role::Subscriber = self.nodes[i].role {
                // Alternate subscribe / unsubscribe in time order.
                for (k, (_, plan)) in times.iter_mut().enumerate() {
                    *plan = Plan::Churn(k % 2 == 0);
                }
            }
            self.nodes[i].plan = times.into();
        }
    }

    fn settled(&self) -> bool {
        self.nodes.iter().all(|n| {
            let health = n.client.health();
            n.plan.is_empty()
                && n.client.state() == ConnectionState::Connected
                && n.conn.is_some()
                && n.tokens.values().all(Option::is_some)
                && health.in_flight == 0
                && health.queued == 0
        }) && self.broker.idle()
            && self.conns.values().all(|c| c.next_at().is_none())
    }

    fn describe(&self) -> String {
        let mut s = String::new();
        for n in &self.nodes {
            let open = n.tokens.values().filter(|c| c.is_none()).count();
            s.push_str(&format!(
                "  {}: {:?}, conn {:?}, opening {:?} hanging {}, {open} tokens open, plan {}, \
                 next timeout in {:?}\n",
                n.name,
                n.client.health(),
                n.conn,
                n.opening.map(|o| o.saturating_duration_since(self.now)),
                n.hanging,
                n.plan.len(),
                n.client
                    .poll_timeout()
                    .map(|t| t.saturating_duration_since(self.now)),
            ));
        }
        s.push_str(&self.broker.describe());
        s
    }

    /// Runs until `done` holds, at most `limit` of simulated time.
    fn run_until(&mut self, limit: Duration, what: &str, done: impl Fn(&Sim) -> bool) -> bool {
        let deadline = self.now + limit;
        while !done(self) {
            if self.failures.len() > 10 {
                return false;
            }
            if self.now > deadline || !self.step() {
                let what = format!("{what}: not done after {limit:?}\n{}", self.describe());
                self.fail(what);
                return false;
            }
        }
        true
    }

    fn run(&mut self) {
        // Setup, no faults: the subscriber subscribes before anything is published.
        let filters: Vec<SubscribeFilter> = self
            .subscriptions
            .iter()
            .map(|(f, q)| SubscribeFilter::new(*f, *q))
            .collect();
        let token = self.nodes[0]
            .client
            .subscribe(self.now, filters)
            .expect("subscribe accepted");
        self.nodes[0].tokens.insert(token, None);
        self.flush();
        if !self.run_until(Duration::from_secs(30), "setup", |s| {
            s.nodes[0].tokens[&token].is_some()
        }) {
            return;
        }

        let begin = self.now;
        self.fault_end = begin + (self.fault_end - self.start);
        self.next_fault = begin + Duration::from_millis(self.rng.u64(0..=self.mean_fault_gap_ms));
        self.faults_on = true;
        self.plan(begin);
        self.log(format_args!("faults start"));

        // Faults, then settling: reconnect backoff is at most 30 s and the circuit breaker
        // stays open 60 s, so 15 minutes of simulated time is plenty.
        let limit = self.fault_end - self.now + Duration::from_secs(900);
        if !self.run_until(limit, "settling after the faults", |s| {
            !s.faults_on && s.settled()
        }) {
            return;
        }
        self.log(format_args!("settled"));

        // A late subscriber gets exactly the retained messages.
        self.add_node(Role::Late, true);
        let late = self.nodes.len() - 1;
        let token = self.nodes[late]
            .client
            .subscribe(
                self.now,
                vec![SubscribeFilter::new("t/#", QoS::AtLeastOnce)],
            )
            .expect("subscribe accepted");
        self.nodes[late].tokens.insert(token, None);
        self.flush();
        self.run_until(Duration::from_secs(60), "late subscriber", |s| s.settled());
    }

    fn check(&mut self) {
        let mut failures = Vec::new();
        // 1. Every accepted request completed, and successfully.
        for node in &self.nodes {
            for (token, completion) in &node.tokens {
                let what = node
                    .publishes
                    .get(token)
                    .map_or_else(|| "request".to_owned(), |p| format!("publish {p:?}"));
                match completion {
                    None => failures.push(format!("{}: {what} never completed", node.name)),
                    Some(Completion::Failed) => {
                        failures.push(format!("{}: {what} failed", node.name))
                    }
                    Some(Completion::Ok) => {}
                }
            }
        }
        let sub = &self.nodes[0];
        let mut counts: BTreeMap<&Bytes, u32> = BTreeMap::new();
        let mut counts_qos2: BTreeMap<&Bytes, u32> = BTreeMap::new();
        for r in &sub.received {
            let Some(sent) = self.sent.get(&r.payload) else {
                failures.push(format!("sub received an unknown message {r:?}"));
                continue;
            };
            *counts.entry(&r.payload).or_default() += 1;
            if r.qos == QoS::ExactlyOnce {
                *counts_qos2.entry(&r.payload).or_default() += 1;
            }
            if !r.retain && r.qos != self.delivered_qos(sent) {
                failures.push(format!(
                    "sub received {:?} at {:?}, expected {:?}",
                    r.payload,
                    r.qos,
                    self.delivered_qos(sent)
                ));
            }
            if r.topic != TOPICS[sent.topic] {
                failures.push(format!("sub received {:?} on topic {}", r.payload, r.topic));
            }
        }
        let exactly_once = self.persistent && !self.publisher_clean;
        let owed = self.broker.oracle.owed.get("sub");
        for (payload, sent) in &self.sent {
            // 2. QoS >= 1 publishes reached the broker.
            if sent.qos != QoS::AtMostOnce && !self.broker.oracle.accepted.contains_key(payload) {
                failures.push(format!(
                    "{payload:?} ({:?}) never reached the broker",
                    sent.qos
                ));
            }
            let delivered = self.delivered_qos(sent);
            if delivered == QoS::AtMostOnce {
                continue;
            }
            let count = counts.get(payload).copied().unwrap_or(0);
            // 3. At least once.
            let is_owed = owed.is_some_and(|o| o.contains(payload));
            if count == 0 {
                if self.persistent || is_owed {
                    failures.push(format!(
                        "{payload:?} (published {:?}, delivered {delivered:?}) never reached \
                         the subscriber",
                        sent.qos
                    ));
                } else {
                    self.totals.excused += 1;
                }
            }
            // 4. Exactly once, or never more often at QoS 2 than the broker sent it at QoS 2
            //    (a retained copy per matching subscription, QoS 1 copies redelivered, are not
            //    duplicates of the QoS 2 flow).
            if delivered == QoS::ExactlyOnce {
                let routed = self
                    .broker
                    .oracle
                    .routed_qos2
                    .get(&("sub".to_owned(), payload.clone()))
                    .copied()
                    .unwrap_or(0);
                let count2 = counts_qos2.get(payload).copied().unwrap_or(0);
                if exactly_once && (count != 1 || count2 != 1) {
                    failures.push(format!(
                        "QoS 2 {payload:?} reached the subscriber {count} times, {count2} at QoS \
                         2 (routed {routed} at QoS 2)"
                    ));
                } else if count2 > routed {
                    failures.push(format!(
                        "QoS 2 {payload:?} delivered {count2} times at QoS 2, the broker sent it \
                         {routed}"
                    ));
                }
            }
        }
        // 5. Order per publisher and topic, redeliveries allowed. (a) The publisher: the broker
        //    receives QoS >= 1 messages for the first time in publish order. (b) The subscriber:
        //    a message seen for the first time never comes after a later one, unless (broker
        //    without persistence) the publisher sent it again: then the copy that arrives may be
        //    that redelivery, the first having been routed into a session the broker forgot.
        let mut newest: BTreeMap<(usize, usize), u64> = BTreeMap::new();
        let mut seen: BTreeSet<&Bytes> = BTreeSet::new();
        for payload in &self.broker.oracle.accepted_log {
            let Some(sent) = self.sent.get(payload) else {
                continue;
            };
            if sent.qos == QoS::AtMostOnce || !seen.insert(payload) {
                continue;
            }
            let key = (sent.publisher, sent.topic);
            if let Some(&last) = newest.get(&key) {
                if sent.seq < last {
                    failures.push(format!(
                        "order: the broker got {payload:?} for the first time after {}:{}:{last}",
                        sent.publisher, sent.topic
                    ));
                }
            }
            newest.insert(key, sent.seq.max(*newest.get(&key).unwrap_or(&0)));
        }
        let mut newest: BTreeMap<(usize, usize), u64> = BTreeMap::new();
        let mut seen: BTreeSet<&Bytes> = BTreeSet::new();
        for r in &sub.received {
            let Some(sent) = self.sent.get(&r.payload) else {
                continue;
            };
            if self.delivered_qos(sent) == QoS::AtMostOnce || !seen.insert(&r.payload) {
                continue;
            }
            let key = (sent.publisher, sent.topic);
            let resent = self
                .broker
                .oracle
                .accepted
                .get(&r.payload)
                .is_some_and(|n| *n > 1);
            if let Some(&last) = newest.get(&key) {
                if sent.seq < last && (self.persistent || !resent) {
                    failures.push(format!(
                        "order: {:?} arrived for the first time after {}:{}:{last}",
                        r.payload, sent.publisher, sent.topic
                    ));
                }
            }
            newest.insert(key, sent.seq.max(*newest.get(&key).unwrap_or(&0)));
        }
        // 6. The broker saw nothing it could not decode or did not expect.
        for v in &self.broker.violations {
            failures.push(format!("broker: {v}"));
        }
        // 7. The late subscriber got exactly the retained messages.
        if let Some(late) = self.nodes.iter().find(|n| n.role == Role::Late) {
            let got: BTreeMap<String, Bytes> = late
                .received
                .iter()
                .filter(|r| r.retain)
                .map(|r| (r.topic.clone(), r.payload.clone()))
                .collect();
            let want = self.broker.retained();
            if got != want {
                failures.push(format!(
                    "late subscriber got retained {got:?}, broker has {want:?}"
                ));
            }
            for (topic, payload) in &want {
                let ok = self
                    .sent
                    .get(payload)
                    .is_some_and(|s| s.retain && TOPICS[s.topic] == topic);
                if !ok {
                    failures.push(format!(
                        "retained {payload:?} on {topic} was never published so"
                    ));
                }
            }
        }
        self.totals.delivered += sub.received.len() as u64;
        self.totals.simulated += self.now - self.start;
        for f in failures {
            self.fail(f);
        }
    }
}

/// Runs one seed. `Err`: what failed, with the seed.
fn simulate(seed: u64, trace: bool) -> Result<Totals, String> {
    let mut sim = Sim::new(seed, trace);
    sim.run();
    if sim.failures.len() <= 10 {
        sim.check();
    }
    if sim.failures.is_empty() {
        Ok(sim.totals)
    } else {
        let mut report = format!("seed {seed}:\n");
        for f in sim.failures.iter().take(10) {
            report.push_str(&format!("  - {f}\n"));
        }
        Err(report)
    }
}

fn replay_command(seed: u64) -> String {
    format!("SIM_SEED={seed} cargo test -p jamey-mqtt-core --test simulation -- --nocapture")
}

#[test]
fn faults_never_lose_reorder_or_duplicate_messages() {
    if let Some(seed) = seeds::env_u64("SIM_SEED") {
        match simulate(seed, true) {
            Ok(totals) => eprintln!("seed {seed} passed: {totals:?}"),
            Err(report) => panic!("{report}"),
        }
        return;
    }
    let started = Instant::now();
    let outcome = seeds::run(2000, |seed| simulate(seed, false));
    let mut totals = Totals::default();
    for t in &outcome.passed {
        totals.add(t);
    }
    eprintln!(
        "simulation: {} seeds from {} in {:.1?} ({} passed); {} publishes, {} \
         deliveries, {} not owed after a broker forgot a session; {} persistent-broker runs \
         ({} exactly-once); faults: {} cuts, {} broker restarts, {} refused connects, {} failed \
         opens, {} latency spikes, {} broker kicks; {} transports opened; {:.0?} simulated",
        outcome.count,
        outcome.first,
        started.elapsed(),
        totals.seeds,
        totals.published,
        totals.delivered,
        totals.excused,
        totals.persistent_runs,
        totals.exactly_once_runs,
        totals.cuts,
        totals.restarts,
        totals.refusals,
        totals.open_failures,
        totals.spikes,
        totals.kicks,
        totals.connects,
        totals.simulated,
    );
    outcome.assert_passed(replay_command);
}

#[test]
fn a_seed_replays_identically() {
    let run = |seed| {
        let mut sim = Sim::new(seed, false);
        sim.run();
        let received: Vec<Bytes> = sim.nodes[0]
            .received
            .iter()
            .map(|r| r.payload.clone())
            .collect();
        (
            received,
            sim.now - sim.start,
            sim.totals.connects,
            sim.totals.cuts,
        )
    };
    assert_eq!(run(42), run(42));
}
