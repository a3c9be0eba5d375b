//! The fault plan: while it is on, faults come at random instants (mean gap chosen per seed):
//! connections cut mid-packet, broker restarts (with or without persistence, and down time),
//! refused connects (TCP refused, or CONNACK "server unavailable"), connects that hang until
//! the client's timeout, latency spikes, stalled writes, and the broker kicking a connection.

use std::task::Waker;
use std::time::{Duration, Instant};

use crate::broker::Limits;
use crate::link::{ConnId, LinkProfile};
use crate::net::Network;

/// One fault. `pick` chooses among the connections open at the broker's end (modulo their
/// number; none open: nothing happens).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Cut a connection mid-packet.
    Cut { pick: usize },
    /// The broker restarts (keeping its state only if persistent) and is down for `down`.
    Restart { down: Duration },
    /// CONNACK "server unavailable" for the next `n` connects.
    RefuseConnack { n: u32 },
    /// TCP refuses the next `n` connects.
    RefuseTcp { n: u32 },
    /// The next connect hangs until the client's timeout.
    HangConnect,
    /// Latency `spike` added for `span`.
    Spike { spike: Duration, span: Duration },
    /// Writes on a connection stall for `span`.
    Stall { pick: usize, span: Duration },
    /// The broker ends a connection (DISCONNECT on MQTT 5).
    Kick { pick: usize },
}

/// Fault state: the plan's schedule and the faults waiting for the next connects.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// (next fault, end of the plan, mean gap between faults).
    schedule: Option<(Instant, Instant, Duration)>,
    /// The next TCP connects are refused.
    pub refuse_tcp: u32,
    /// The next TCP connects hang (never answer).
    pub hang_opens: u32,
    /// The broker is down (restarting): connects are refused until then.
    pub down_until: Option<Instant>,
    /// A restarted broker comes back with new limits (a reconfigured broker): requests
    /// admitted under the old ones meet the new ones.
    pub new_limits_on_restart: bool,
}

impl Faults {
    pub fn next_at(&self) -> Option<Instant> {
        self.schedule.map(|(next, end, _)| next.min(end))
    }

    pub fn due(&self, now: Instant) -> bool {
        self.next_at().is_some_and(|at| at <= now)
    }
}

impl Network {
    /// Faults from `now` until `now + span`, about one per `mean_gap`.
    pub fn start_faults(&mut self, now: Instant, span: Duration, mean_gap: Duration) {
        let first = now + mean_gap.mul_f64(self.rng.f64());
        self.faults.schedule = Some((first, now + span, mean_gap));
        self.faults.new_limits_on_restart = self.rng.u8(0..4) == 0;
        self.log(now, format_args!("faults start for {span:?}"));
    }

    /// Whether the fault plan is still running.
    pub fn faults_on(&self) -> bool {
        self.faults.schedule.is_some()
    }

    /// Faults stop: a calm link, nothing refused; what was injected already stays done.
    pub(crate) fn stop_faults(&mut self, now: Instant) {
        self.log(now, format_args!("faults stop"));
        self.faults = Faults::default();
        self.profile = LinkProfile::calm();
        self.broker.refuse_connects = 0;
        for conn in self.conns.values_mut() {
            conn.stall_until = None;
        }
    }

    pub(crate) fn inject_fault(&mut self, now: Instant, wake: &mut Vec<Waker>) {
        let Some((_, end, mean_gap)) = self.faults.schedule else {
            return;
        };
        if now >= end {
            self.stop_faults(now);
            return;
        }
        let gap = mean_gap.mul_f64(2.0 * self.rng.f64());
        self.faults.schedule = Some((now + gap.max(Duration::from_millis(1)), end, mean_gap));
        let fault = self.draw_fault();
        self.apply_fault(now, fault, wake);
    }

    /// A fault at random (the draws in the order the plan has always made them).
    fn draw_fault(&mut self) -> Fault {
        let live = self.live().len();
        let rng = &mut self.rng;
        let pick = |rng: &mut fastrand::Rng| rng.usize(0..live.max(1));
        match rng.u8(0..100) {
            0..=34 => Fault::Cut { pick: pick(rng) },
            35..=46 => Fault::Restart {
                down: Duration::from_millis(rng.u64(0..=3_000)),
            },
            47..=54 => Fault::RefuseConnack { n: rng.u32(1..=3) },
            55..=62 => Fault::RefuseTcp { n: rng.u32(1..=3) },
            63..=67 => Fault::HangConnect,
            68..=77 => Fault::Spike {
                spike: Duration::from_millis(rng.u64(500..=8_000)),
                span: Duration::from_millis(rng.u64(500..=10_000)),
            },
            78..=87 => {
                let pick = pick(rng);
                Fault::Stall {
                    pick,
                    span: Duration::from_millis(rng.u64(100..=6_000)),
                }
            }
            _ => Fault::Kick { pick: pick(rng) },
        }
    }

    /// The connections still open at the broker's end.
    fn live(&self) -> Vec<ConnId> {
        self.conns
            .iter()
            .filter(|(_, c)| !c.link.broker_done)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Injects one fault now (from the plan, or scripted: [`crate::SimRuntime::inject`]).
    pub(crate) fn apply_fault(&mut self, now: Instant, fault: Fault, wake: &mut Vec<Waker>) {
        let live = self.live();
        let pick = |i: usize| (!live.is_empty()).then(|| live[i % live.len()]);
        match fault {
            Fault::Cut { pick: i } => {
                if let Some(id) = pick(i) {
                    self.log(now, format_args!("fault: cut connection {id}"));
                    self.stats.cuts += 1;
                    self.cut(id, true, now, wake);
                }
            }
            Fault::Restart { down } => {
                self.log(
                    now,
                    format_args!(
                        "fault: broker restart (persistent {}), down {down:?}",
                        self.broker.persistent
                    ),
                );
                self.stats.restarts += 1;
                // Every live connection goes, those whose CONNECT has not arrived yet too.
                self.broker.restart();
                if self.faults.new_limits_on_restart {
                    self.broker.limits = Limits::random(&mut self.rng);
                    self.log(
                        now,
                        format_args!("broker limits now {:?}", self.broker.limits),
                    );
                }
                for id in live {
                    self.cut(id, false, now, wake);
                }
                self.faults.down_until = Some(now + down);
            }
            Fault::RefuseConnack { n } => {
                self.log(
                    now,
                    format_args!("fault: CONNACK refuses the next {n} connects"),
                );
                self.stats.refused_connack += u64::from(n);
                self.broker.refuse_connects += n;
            }
            Fault::RefuseTcp { n } => {
                self.log(
                    now,
                    format_args!("fault: TCP refuses the next {n} connects"),
                );
                self.faults.refuse_tcp += n;
            }
            Fault::HangConnect => {
                self.log(now, format_args!("fault: the next connect hangs"));
                self.faults.hang_opens += 1;
            }
            Fault::Spike { spike, span } => {
                self.log(now, format_args!("fault: latency +{spike:?} for {span:?}"));
                self.stats.spikes += 1;
                self.profile.spike = spike;
                self.profile.spike_until = Some(now + span);
            }
            Fault::Stall { pick: i, span } => {
                if let Some(id) = pick(i) {
                    self.log(
                        now,
                        format_args!("fault: writes on {id} stall for {span:?}"),
                    );
                    self.stats.stalls += 1;
                    if let Some(conn) = self.conns.get_mut(&id) {
                        conn.stall_until = Some(now + span);
                    }
                }
            }
            Fault::Kick { pick: i } => {
                if let Some(id) = pick(i) {
                    self.log(now, format_args!("fault: broker ends connection {id}"));
                    self.stats.kicks += 1;
                    self.broker.kick(id);
                    self.drain_broker(now);
                }
            }
        }
    }
}
