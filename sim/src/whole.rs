//! The whole-client simulation as a library, shared by `tests/whole_client.rs` (seeds) and the
//! fuzz target `client_async` (inputs): the real async `jamey_mqtt::Client` (API and driver)
//! on the deterministic [`SimRuntime`](crate::SimRuntime), against the simulated broker
//! through a seeded faulty network.
//!
//! - [`scenario`]: everything one run does, drawn from a seed ([`Scenario::new`]) or built
//!   field by field (the fuzz target);
//! - [`run`]: the run as the main future; [`tasks`]: the application tasks; [`api`]: the client
//!   API shape the run leans on; [`record`]: what the application saw;
//! - [`checks`]: the invariants, against the broker's oracle;
//! - [`simulate`]: one scenario, run and checked.

pub mod api;
pub mod checks;
pub mod record;
pub mod run;
pub mod scenario;
pub mod tasks;

use std::time::Duration;

use record::App;
use scenario::Scenario;

/// What the seeds did, summed.
#[derive(Debug, Default, Clone)]
pub struct Totals {
    pub seeds: u64,
    pub publishes: u64,
    pub deliveries: u64,
    pub connects: u64,
    pub cuts: u64,
    pub restarts: u64,
    pub refusals: u64,
    pub hangs: u64,
    pub kicks: u64,
    pub stalls: u64,
    /// Filters the broker refused on re-subscription; resumes of sessions the client never saw.
    pub resubscribe_refusals: u64,
    pub blind_resumes: u64,
    /// Subscriber processes restarted (a fresh `Client` resuming the session); messages the
    /// resumed sessions delivered before the new process subscribed (unmatched), and those of
    /// them dropped from a full unmatched buffer; publishers that ended by dropping their last
    /// handle instead of `disconnect()`.
    pub subscriber_restarts: u64,
    pub unmatched: u64,
    pub unmatched_dropped: u64,
    pub handles_dropped: u64,
    pub simulated: Duration,
}

impl Totals {
    pub fn add(&mut self, o: &Totals) {
        self.seeds += o.seeds;
        self.publishes += o.publishes;
        self.deliveries += o.deliveries;
        self.connects += o.connects;
        self.cuts += o.cuts;
        self.restarts += o.restarts;
        self.refusals += o.refusals;
        self.hangs += o.hangs;
        self.kicks += o.kicks;
        self.stalls += o.stalls;
        self.resubscribe_refusals += o.resubscribe_refusals;
        self.blind_resumes += o.blind_resumes;
        self.subscriber_restarts += o.subscriber_restarts;
        self.unmatched += o.unmatched;
        self.unmatched_dropped += o.unmatched_dropped;
        self.handles_dropped += o.handles_dropped;
        self.simulated += o.simulated;
    }
}

/// Runs one scenario and checks it. `Err`: what failed.
pub fn simulate(scenario: &Scenario, trace: bool) -> Result<Totals, String> {
    let seed = scenario.seed;
    if trace {
        eprintln!("{scenario:#?}");
    }
    let rt = scenario.runtime();
    rt.trace(trace);
    let app = App::new(rt.clone(), trace);
    let limit = scenario.fault_span + run::SETTLE + Duration::from_secs(600);
    let outcome = rt.block_on(run::run(&app, scenario), limit);
    let mut failures = Vec::new();
    let mut finish = match outcome {
        Ok(finish) => finish,
        Err(e) => {
            failures.push(format!("simulation: {e}"));
            run::Finish::default()
        }
    };
    finish.read_counters();
    let record = app.record();
    let simulated = rt.elapsed();
    let (checked, totals) = rt.with_net(|net| {
        let totals = Totals {
            seeds: 1,
            publishes: record.publishes.len() as u64,
            deliveries: record.received.iter().map(|r| r.len() as u64).sum(),
            connects: net.stats.connects,
            cuts: net.stats.cuts,
            restarts: net.stats.restarts,
            refusals: net.stats.refused_tcp + net.stats.refused_connack,
            hangs: net.stats.hangs,
            kicks: net.stats.kicks,
            stalls: net.stats.stalls,
            resubscribe_refusals: net.broker.oracle.refusals.len() as u64,
            blind_resumes: net
                .broker
                .oracle
                .blind_resumes
                .values()
                .map(|n| u64::from(*n))
                .sum(),
            subscriber_restarts: u64::from(record.restarted.is_some()),
            unmatched: record.restarted.map_or(0, |r| r.unmatched),
            unmatched_dropped: record.restarted.map_or(0, |r| r.unmatched_dropped),
            handles_dropped: u64::from(scenario.publisher_drops_handle),
            simulated,
        };
        (
            checks::check(scenario, &record, &net.broker, &finish),
            totals,
        )
    });
    failures.extend(checked);
    if failures.is_empty() {
        return Ok(totals);
    }
    let mut report = format!("seed {seed}:\n");
    for f in failures.iter().take(8) {
        report.push_str(&format!("  - {f}\n"));
    }
    if failures.len() > 8 {
        report.push_str(&format!("  ... and {} more\n", failures.len() - 8));
    }
    Err(report)
}
