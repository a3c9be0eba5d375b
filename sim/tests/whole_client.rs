//! The whole-client simulation: the real async `jamey_mqtt::Client` (API and driver) on the
//! deterministic `SimRuntime`, against the simulated broker through a seeded faulty network.
//!
//! Per seed (`sim/src/whole/scenario.rs`): a publisher client and a subscriber client with random
//! bounds, protocol versions and session modes; long-lived subscriptions with overlapping
//! wildcard filters, some read slowly (back-pressure); subscriptions made and dropped or
//! unsubscribed; publisher tasks at QoS 0/1/2 (some detached, some with topic aliases); a
//! broker with or without persistence that announces (or not) a receive maximum, a maximum
//! packet size and a topic alias maximum; faults for a while, then settling, a final burst of
//! publishes and a graceful `disconnect()`. On some seeds the broker refuses some long-lived
//! filters on SUBSCRIBE after its first restart (a policy change), so a subscriber that lost
//! its session is refused them when it re-subscribes. The invariants are in `sim/src/whole/checks.rs`.
//!
//! `SIM_SEEDS=n` (default 1000) sets how many seeds run, `SIM_FIRST_SEED` the first; a failing
//! seed prints the command that replays it alone with a trace:
//! `SIM_SEED=1234 cargo test -p jamey-mqtt-sim --test whole_client -- --nocapture`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use jamey_mqtt_sim::whole::record::App;
use jamey_mqtt_sim::whole::scenario::Scenario;
use jamey_mqtt_sim::whole::{run, simulate, Totals};

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
    )
}

fn replay_command(seed: u64) -> String {
    format!("SIM_SEED={seed} cargo test -p jamey-mqtt-sim --test whole_client -- --nocapture")
}

/// `simulate`, with a panic turned into a failure of that seed.
fn simulate_caught(seed: u64, trace: bool) -> Result<Totals, String> {
    std::panic::catch_unwind(|| simulate(&Scenario::new(seed), trace)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        Err(format!("seed {seed}: panicked: {message}\n"))
    })
}

#[test]
fn the_whole_client_loses_nothing_under_faults() {
    if let Some(seed) = env_u64("SIM_SEED") {
        match simulate_caught(seed, true) {
            Ok(totals) => eprintln!("seed {seed} passed: {totals:?}"),
            Err(report) => panic!("{report}replay: {}", replay_command(seed)),
        }
        return;
    }
    let first = env_u64("SIM_FIRST_SEED").unwrap_or(0);
    let count = env_u64("SIM_SEEDS").unwrap_or(1000);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let started = Instant::now();
    let next = AtomicU64::new(first);
    let totals = Mutex::new(Totals::default());
    let failures: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= first + count {
                    return;
                }
                match simulate_caught(seed, false) {
                    Ok(t) => totals.lock().expect("no poison").add(&t),
                    Err(report) => failures.lock().expect("no poison").push((seed, report)),
                }
            });
        }
    });
    let totals = totals.into_inner().expect("no poison");
    let mut failures = failures.into_inner().expect("no poison");
    failures.sort();
    eprintln!(
        "whole client: {count} seeds from {first} in {:.1?} ({} passed); {} publishes, {} \
         deliveries; {} connections, {} cuts, {} broker restarts, {} refused connects, {} hung \
         connects, {} kicks, {} stalls; {} re-subscriptions refused, {} blind resumes; {:.0?} \
         simulated",
        started.elapsed(),
        totals.seeds,
        totals.publishes,
        totals.deliveries,
        totals.connects,
        totals.cuts,
        totals.restarts,
        totals.refusals,
        totals.hangs,
        totals.kicks,
        totals.stalls,
        totals.resubscribe_refusals,
        totals.blind_resumes,
        totals.simulated,
    );
    if let Some((seed, _)) = failures.first() {
        let seeds: Vec<u64> = failures.iter().map(|(seed, _)| *seed).collect();
        let mut report = format!("{} of {count} seeds failed: {seeds:?}\n", failures.len());
        for (_, f) in failures.iter().take(5) {
            report.push_str(f);
        }
        report.push_str(&format!("replay one: {}\n", replay_command(*seed)));
        panic!("{report}");
    }
}

#[test]
fn a_seed_replays_identically() {
    let run = |seed| {
        let scenario = Scenario::new(seed);
        let rt = scenario.runtime();
        let app = App::new(rt.clone(), false);
        let limit = scenario.fault_span + run::SETTLE;
        let _ = rt.block_on(run::run(&app, &scenario), limit);
        let record = app.record();
        let received: Vec<Vec<bytes::Bytes>> = record
            .received
            .iter()
            .map(|r| r.iter().map(|m| m.payload.clone()).collect())
            .collect();
        let outcomes: Vec<String> = record
            .publishes
            .iter()
            .map(|p| format!("{:?}", p.outcome))
            .collect();
        let elapsed = rt.elapsed();
        let (accepted, connects) =
            rt.with_net(|net| (net.broker.oracle.accepted_log.clone(), net.stats.connects));
        (received, outcomes, accepted, elapsed, connects)
    };
    for seed in 0..40 {
        assert_eq!(run(seed), run(seed), "seed {seed} ran differently twice");
    }
}
