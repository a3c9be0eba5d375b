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
//! its session is refused them when it re-subscribes. On some seeds the subscriber restarts as
//! a fresh process that resumes its session (what the session delivers first waits in its
//! unmatched buffer), the publisher ends by dropping its last handle instead of
//! `disconnect()`, and writes stall right before the final burst. The invariants are in
//! `sim/src/whole/checks.rs`.
//!
//! `SIM_SEEDS=n` (default 1000) sets how many seeds run, `SIM_FIRST_SEED` the first; a failing
//! seed prints the command that replays it alone with a trace:
//! `SIM_SEED=1234 cargo test -p jamey-mqtt-sim --test whole_client -- --nocapture`.

use std::time::Instant;

use jamey_mqtt_sim::seeds;
use jamey_mqtt_sim::whole::record::App;
use jamey_mqtt_sim::whole::scenario::Scenario;
use jamey_mqtt_sim::whole::{run, simulate, Totals};

fn replay_command(seed: u64) -> String {
    format!("SIM_SEED={seed} cargo test -p jamey-mqtt-sim --test whole_client -- --nocapture")
}

#[test]
fn the_whole_client_loses_nothing_under_faults() {
    if let Some(seed) = seeds::env_u64("SIM_SEED") {
        match seeds::caught(seed, || simulate(&Scenario::new(seed), true)) {
            Ok(totals) => eprintln!("seed {seed} passed: {totals:?}"),
            Err(report) => panic!("{report}replay: {}", replay_command(seed)),
        }
        return;
    }
    let started = Instant::now();
    let outcome = seeds::run(1000, |seed| simulate(&Scenario::new(seed), false));
    let mut totals = Totals::default();
    for t in &outcome.passed {
        totals.add(t);
    }
    eprintln!(
        "whole client: {} seeds from {} in {:.1?} ({} passed); {} publishes, {} \
         deliveries; {} connections, {} cuts, {} broker restarts, {} refused connects, {} hung \
         connects, {} kicks, {} stalls; {} re-subscriptions refused, {} blind resumes; {} \
         subscriber restarts ({} messages unmatched, {} of them dropped); {} publishers gone by \
         dropping their handle; {:.0?} simulated",
        outcome.count,
        outcome.first,
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
        totals.subscriber_restarts,
        totals.unmatched,
        totals.unmatched_dropped,
        totals.handles_dropped,
        totals.simulated,
    );
    outcome.assert_passed(replay_command);
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
