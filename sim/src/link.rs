//! The simulated network: byte pipes with seeded latency and random splitting, and the
//! connections built from two of them.
//!
//! A [`Pipe`] is one direction of a TCP-like stream: bytes written are cut into chunks at random
//! points and each chunk arrives at an instant after the write (latency), never before an
//! earlier chunk (FIFO). A cut takes a random prefix of whatever is still in transit (it may end
//! in the middle of a packet) and drops the rest. No clock is read: instants come from the
//! simulation's virtual clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Identifies one transport connection (one TCP stream) for the whole simulation.
pub type ConnId = u64;

/// How the link behaves while it is healthy: per-chunk latency and how bytes are split.
#[derive(Debug, Clone)]
pub struct LinkProfile {
    pub min_latency: Duration,
    pub max_latency: Duration,
    /// Largest chunk a write is cut into (`usize::MAX`: writes arrive whole).
    pub max_chunk: usize,
    /// Extra latency for writes until `spike_until` (a congested or stalled link).
    pub spike: Duration,
    pub spike_until: Option<Instant>,
}

impl LinkProfile {
    pub fn random(rng: &mut fastrand::Rng) -> LinkProfile {
        let min_latency = Duration::from_micros(rng.u64(0..=5_000));
        LinkProfile {
            min_latency,
            max_latency: min_latency + Duration::from_micros(rng.u64(0..=40_000)),
            max_chunk: match rng.u8(0..4) {
                0 => usize::MAX,
                1 => 1 + rng.usize(0..4),
                _ => 1 + rng.usize(0..200),
            },
            spike: Duration::ZERO,
            spike_until: None,
        }
    }

    /// A fault-free link for the end of a run: low latency, whole writes.
    pub fn calm() -> LinkProfile {
        LinkProfile {
            min_latency: Duration::from_millis(1),
            max_latency: Duration::from_millis(5),
            max_chunk: usize::MAX,
            spike: Duration::ZERO,
            spike_until: None,
        }
    }

    fn latency(&self, rng: &mut fastrand::Rng, now: Instant) -> Duration {
        let span = (self.max_latency - self.min_latency).as_micros() as u64;
        let mut latency = self.min_latency + Duration::from_micros(rng.u64(0..=span));
        if self.spike_until.is_some_and(|until| now < until) {
            latency += self.spike;
        }
        latency
    }
}

/// One direction of a stream: chunks in flight, each with its arrival instant, in order.
#[derive(Debug, Default)]
pub struct Pipe {
    chunks: VecDeque<(Instant, Vec<u8>)>,
}

impl Pipe {
    /// Writes `bytes`: cut into chunks, each arriving after the link's latency, in order.
    pub fn write(
        &mut self,
        rng: &mut fastrand::Rng,
        profile: &LinkProfile,
        now: Instant,
        bytes: &[u8],
    ) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = if profile.max_chunk == usize::MAX {
                rest.len()
            } else {
                rng.usize(1..=profile.max_chunk).min(rest.len())
            };
            let earliest = self.chunks.back().map_or(now, |(at, _)| *at);
            let at = (now + profile.latency(rng, now)).max(earliest);
            self.chunks.push_back((at, rest[..n].to_vec()));
            rest = &rest[n..];
        }
    }

    /// When the next chunk arrives.
    pub fn next_at(&self) -> Option<Instant> {
        self.chunks.front().map(|(at, _)| *at)
    }

    /// The next chunk if it has arrived by `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.next_at()? <= now {
            self.chunks.pop_front().map(|(_, bytes)| bytes)
        } else {
            None
        }
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// The connection breaks: a random prefix of the bytes in transit still arrives (possibly
    /// ending inside a packet), the rest is lost.
    pub fn cut(&mut self, rng: &mut fastrand::Rng) -> Vec<u8> {
        let all: Vec<u8> = self.chunks.drain(..).flat_map(|(_, b)| b).collect();
        let keep = rng.usize(0..=all.len());
        all[..keep].to_vec()
    }

    /// Drops everything in transit.
    pub fn clear(&mut self) {
        self.chunks.clear();
    }
}

/// One transport connection between a client and the broker.
#[derive(Debug)]
pub struct Conn {
    pub id: ConnId,
    /// Index of the client in the simulation.
    pub client: usize,
    pub to_broker: Pipe,
    pub to_client: Pipe,
    /// The client closed it (`Action::Close`): it reads nothing more; what it wrote still
    /// arrives, then the broker sees the end of the stream.
    pub client_closed: bool,
    /// The broker closed it: it reads nothing more; what it wrote still arrives, then the
    /// client sees the end of the stream.
    pub broker_closed: bool,
    /// The broker has been told the stream ended (or closed it itself).
    pub broker_done: bool,
    /// The client has been told the stream ended (or closed it itself).
    pub client_done: bool,
}

impl Conn {
    pub fn new(id: ConnId, client: usize) -> Conn {
        Conn {
            id,
            client,
            to_broker: Pipe::default(),
            to_client: Pipe::default(),
            client_closed: false,
            broker_closed: false,
            broker_done: false,
            client_done: false,
        }
    }

    /// The earliest instant something happens on this connection.
    pub fn next_at(&self) -> Option<Instant> {
        match (self.to_broker.next_at(), self.to_client.next_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
