//! The fault plan: while it is on, faults come at random instants (mean gap chosen per seed):
//! connections cut mid-packet, broker restarts (with or without persistence, and down time),
//! refused connects (TCP refused, or CONNACK "server unavailable"), connects that hang until
//! the client's timeout, latency spikes, stalled writes, and the broker kicking a connection.

use std::task::Waker;
use std::time::{Duration, Instant};

use crate::broker::Limits;
use crate::link::{ConnId, LinkProfile};
use crate::net::Network;

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
        let live: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| !c.link.broker_done)
            .map(|(id, _)| *id)
            .collect();
        let pick = |rng: &mut fastrand::Rng| live.get(rng.usize(0..live.len().max(1))).copied();
        match self.rng.u8(0..100) {
            0..=34 => {
                if let Some(id) = pick(&mut self.rng) {
                    self.log(now, format_args!("fault: cut connection {id}"));
                    self.stats.cuts += 1;
                    self.cut(id, true, now, wake);
                }
            }
            35..=46 => {
                let down = Duration::from_millis(self.rng.u64(0..=3_000));
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
            47..=54 => {
                let n = self.rng.u32(1..=3);
                self.log(
                    now,
                    format_args!("fault: CONNACK refuses the next {n} connects"),
                );
                self.stats.refused_connack += u64::from(n);
                self.broker.refuse_connects += n;
            }
            55..=62 => {
                let n = self.rng.u32(1..=3);
                self.log(
                    now,
                    format_args!("fault: TCP refuses the next {n} connects"),
                );
                self.faults.refuse_tcp += n;
            }
            63..=67 => {
                self.log(now, format_args!("fault: the next connect hangs"));
                self.faults.hang_opens += 1;
            }
            68..=77 => {
                let spike = Duration::from_millis(self.rng.u64(500..=8_000));
                let span = Duration::from_millis(self.rng.u64(500..=10_000));
                self.log(now, format_args!("fault: latency +{spike:?} for {span:?}"));
                self.stats.spikes += 1;
                self.profile.spike = spike;
                self.profile.spike_until = Some(now + span);
            }
            78..=87 => {
                if let Some(id) = pick(&mut self.rng) {
                    let span = Duration::from_millis(self.rng.u64(100..=6_000));
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
            _ => {
                if let Some(id) = pick(&mut self.rng) {
                    self.log(now, format_args!("fault: broker ends connection {id}"));
                    self.stats.kicks += 1;
                    self.broker.kick(id);
                    self.drain_broker(now);
                }
            }
        }
    }
}
