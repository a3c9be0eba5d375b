//! The in-memory network between the clients' streams and the simulated broker: each
//! connection is a pair of [`Pipe`]s (seeded latency and splitting) and the broker is driven
//! by the network itself, as bytes arrive. The client side of a connection keeps what has
//! arrived and not been read yet, and the wakers of the task reading or writing it.

use std::collections::{BTreeMap, VecDeque};
use std::task::Waker;
use std::time::{Duration, Instant};

use jamey_mqtt_core::packet::ProtocolVersion;

use crate::broker::{Broker, BrokerOutput};
use crate::faults::Faults;
use crate::link::{Conn, ConnId, LinkProfile};

/// How the streams behave towards the client, besides latency: reads that return few bytes,
/// writes that take part of the buffer (sometimes after a `Pending`).
#[derive(Debug, Clone, Copy, Default)]
pub struct IoProfile {
    pub slow_reads: bool,
    pub short_writes: bool,
}

impl IoProfile {
    pub fn random(rng: &mut fastrand::Rng) -> IoProfile {
        IoProfile {
            slow_reads: rng.u8(0..3) == 0,
            short_writes: rng.u8(0..3) == 0,
        }
    }
}

/// What happened on the network, for the run summary.
#[derive(Debug, Clone, Default)]
pub struct NetStats {
    pub connects: u64,
    pub cuts: u64,
    pub restarts: u64,
    pub refused_tcp: u64,
    pub refused_connack: u64,
    pub hangs: u64,
    pub spikes: u64,
    pub stalls: u64,
    pub kicks: u64,
}

/// One connection: the two pipes and the client end's state.
#[derive(Debug)]
pub(crate) struct SimConn {
    pub link: Conn,
    /// The broker has not seen the whole CONNECT header yet: its protocol version is unknown.
    pub sniff: Option<Vec<u8>>,
    /// Bytes arrived at the client and not read yet.
    pub inbox: VecDeque<u8>,
    /// The connection was reset: once `inbox` is read, reads and writes fail.
    pub reset: bool,
    /// Writes wait until then (a stalled link).
    pub stall_until: Option<Instant>,
    /// The next short write returns `Pending` first (and wakes itself).
    pub pending_once: bool,
    /// The client's stream was dropped: the connection goes when the broker is done too.
    pub dropped: bool,
    /// The client's task was woken for the end of the stream (once is enough).
    pub end_woken: bool,
    pub wakers: Vec<Waker>,
}

impl SimConn {
    fn wake(&mut self, out: &mut Vec<Waker>) {
        out.append(&mut self.wakers);
    }
}

/// The simulated network and the broker at its far end.
pub struct Network {
    pub(crate) rng: fastrand::Rng,
    pub broker: Broker,
    pub(crate) conns: BTreeMap<ConnId, SimConn>,
    next_conn: ConnId,
    pub profile: LinkProfile,
    pub io: IoProfile,
    pub(crate) faults: Faults,
    pub stats: NetStats,
    /// With `broker.hold_acks`: when held acks go out.
    ack_release_at: Option<Instant>,
    pub(crate) trace: Option<Instant>,
}

impl Network {
    pub(crate) fn new(rng: fastrand::Rng, broker: Broker, profile: LinkProfile) -> Network {
        Network {
            rng,
            broker,
            conns: BTreeMap::new(),
            next_conn: 1,
            profile,
            io: IoProfile::default(),
            faults: Faults::default(),
            stats: NetStats::default(),
            ack_release_at: None,
            trace: None,
        }
    }

    pub(crate) fn log(&self, now: Instant, what: std::fmt::Arguments<'_>) {
        if let Some(start) = self.trace {
            eprintln!("[{:>9.3}s] net: {what}", (now - start).as_secs_f64());
        }
    }

    /// Nothing in transit on any connection and no ack held.
    pub fn quiet(&self) -> bool {
        self.conns.values().all(|c| c.link.next_at().is_none()) && !self.broker.holds_acks()
    }

    /// A new connection from a client; the broker accepts it when the CONNECT header arrives.
    pub(crate) fn open(&mut self, now: Instant) -> ConnId {
        let id = self.next_conn;
        self.next_conn += 1;
        self.stats.connects += 1;
        self.conns.insert(
            id,
            SimConn {
                link: Conn::new(id, 0),
                sniff: Some(Vec::new()),
                inbox: VecDeque::new(),
                reset: false,
                stall_until: None,
                pending_once: false,
                dropped: false,
                end_woken: false,
                wakers: Vec::new(),
            },
        );
        self.log(now, format_args!("connection {id} opened"));
        id
    }

    /// The earliest instant something is due on the network.
    pub(crate) fn next_at(&self) -> Option<Instant> {
        let conns = self.conns.values().flat_map(|c| {
            let stall = c.stall_until.filter(|_| !c.wakers.is_empty());
            [c.link.next_at(), stall]
        });
        conns
            .chain([self.ack_release_at, self.faults.next_at()])
            .flatten()
            .min()
    }

    /// Handles everything due by `now`: bytes arriving at either end, ends of streams, held
    /// acks, faults. Returns the wakers of the client tasks to wake.
    pub(crate) fn process(&mut self, now: Instant) -> Vec<Waker> {
        let mut wake = Vec::new();
        if self.faults.due(now) {
            self.inject_fault(now, &mut wake);
        }
        if self.ack_release_at.is_some_and(|at| at <= now) {
            self.ack_release_at = None;
            self.broker.release_acks();
            self.drain_broker(now);
        }
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            self.deliver(id, now, &mut wake);
        }
        if self.broker.holds_acks() && self.ack_release_at.is_none() {
            self.ack_release_at = Some(now + Duration::from_millis(self.rng.u64(0..=50)));
        }
        self.conns
            .retain(|_, c| !(c.dropped && c.link.broker_done && c.link.to_broker.is_empty()));
        wake
    }

    fn deliver(&mut self, id: ConnId, now: Instant, wake: &mut Vec<Waker>) {
        loop {
            let Some(conn) = self.conns.get_mut(&id) else {
                return;
            };
            if let Some(bytes) = conn.link.to_broker.pop_due(now) {
                if !conn.link.broker_closed {
                    self.arrive_at_broker(id, &bytes, now);
                }
                continue;
            }
            if let Some(bytes) = conn.link.to_client.pop_due(now) {
                if !conn.link.client_closed {
                    conn.inbox.extend(bytes);
                    conn.wake(wake);
                }
                continue;
            }
            break;
        }
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if conn.stall_until.is_some_and(|until| until <= now) {
            conn.stall_until = None;
            conn.wake(wake);
        }
        if conn.link.client_closed && conn.link.to_broker.is_empty() && !conn.link.broker_done {
            conn.link.broker_done = true;
            self.broker.closed(id);
            self.drain_broker(now);
        }
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if conn.link.broker_closed && conn.link.to_client.is_empty() && !conn.end_woken {
            // The end of the stream is visible once the inbox is read.
            conn.end_woken = true;
            conn.wake(wake);
        }
    }

    /// Bytes arriving at the broker: the first ones tell it the protocol version.
    fn arrive_at_broker(&mut self, id: ConnId, bytes: &[u8], now: Instant) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let bytes = match conn.sniff.as_mut() {
            None => bytes.to_vec(),
            Some(sniff) => {
                sniff.extend_from_slice(bytes);
                let Some(version) = connect_version(sniff) else {
                    return;
                };
                let bytes = conn.sniff.take().unwrap_or_default();
                self.broker.accept(id, version);
                bytes
            }
        };
        self.broker.handle_bytes(id, &bytes);
        self.drain_broker(now);
    }

    /// Carries out what the broker asked for.
    pub(crate) fn drain_broker(&mut self, now: Instant) {
        while let Some(output) = self.broker.poll_output() {
            match output {
                BrokerOutput::Send(id, bytes) => {
                    if let Some(conn) = self.conns.get_mut(&id) {
                        if !conn.link.broker_closed {
                            conn.link
                                .to_client
                                .write(&mut self.rng, &self.profile, now, &bytes);
                        }
                    }
                }
                BrokerOutput::Close(id) => {
                    if let Some(conn) = self.conns.get_mut(&id) {
                        conn.link.broker_closed = true;
                        conn.link.broker_done = true;
                        conn.link.to_broker.clear();
                    }
                }
            }
        }
    }

    /// The connection breaks: a random prefix of what is in transit arrives each way (to the
    /// broker only if it is alive), then the broker sees the end and the client a reset or an
    /// end of stream.
    pub(crate) fn cut(
        &mut self,
        id: ConnId,
        broker_alive: bool,
        now: Instant,
        wake: &mut Vec<Waker>,
    ) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let to_b = conn.link.to_broker.cut(&mut self.rng);
        let to_c = conn.link.to_client.cut(&mut self.rng);
        if !conn.link.client_closed {
            conn.inbox.extend(to_c);
        }
        conn.reset = self.rng.bool();
        conn.link.broker_closed = true;
        conn.wake(wake);
        if !conn.link.broker_done {
            conn.link.broker_done = true;
            if broker_alive && !to_b.is_empty() && conn.sniff.is_none() {
                self.broker.handle_bytes(id, &to_b);
            }
            self.broker.closed(id);
            self.drain_broker(now);
        }
    }
}

/// The protocol level of a CONNECT at the start of `bytes`, once enough has arrived. Bytes
/// that cannot start a CONNECT are handed to a 3.1.1 codec, which reports them.
fn connect_version(bytes: &[u8]) -> Option<ProtocolVersion> {
    let first = *bytes.first()?;
    if first != 0x10 {
        return Some(ProtocolVersion::V311);
    }
    let mut at = 1;
    loop {
        let byte = *bytes.get(at)?;
        at += 1;
        if byte & 0x80 == 0 {
            break;
        }
        if at > 4 {
            return Some(ProtocolVersion::V311);
        }
    }
    // Protocol name: length 4, "MQTT"; then the level.
    let level = *bytes.get(at + 6)?;
    Some(if level == 5 {
        ProtocolVersion::V5
    } else {
        ProtocolVersion::V311
    })
}
