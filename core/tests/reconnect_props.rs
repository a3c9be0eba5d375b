//! Property tests of the reconnect policy: for any valid config, seed and sequence of outcomes,
//! delays stay in `[0, max_delay]`, the un-jittered envelope never decreases within an outage and
//! never passes `max_delay`, the open circuit refuses every attempt before `until`, and the same
//! seed replays the same schedule.

use std::time::{Duration, Instant};

use jamey_mqtt_core::reconnect::{Decision, Jitter, ReconnectConfig, ReconnectPolicy};
use proptest::prelude::*;

fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated),
    ]
}

/// Valid configs, durations in nanoseconds so odd values show up.
fn config() -> impl Strategy<Value = ReconnectConfig> {
    (
        1u64..=5_000_000_000,   // initial_delay
        0u64..=120_000_000_000, // max_delay - initial_delay
        1.0f64..8.0,            // multiplier
        jitter(),
        proptest::option::of(1u32..8),  // max_failures
        1u64..=600_000_000_000,         // open_duration
        proptest::option::of(1u32..40), // max_attempts
        proptest::bool::weighted(0.9),  // enabled
    )
        .prop_map(
            |(initial, extra, multiplier, jitter, max_failures, open, max_attempts, enabled)| {
                ReconnectConfig {
                    enabled,
                    initial_delay: Duration::from_nanos(initial),
                    max_delay: Duration::from_nanos(initial + extra),
                    multiplier,
                    jitter,
                    connect_timeout: Duration::from_secs(10),
                    max_failures,
                    open_duration: Duration::from_nanos(open),
                    max_attempts,
                    stable_after: Duration::ZERO,
                }
            },
        )
}

/// One step of a simulated outage: how long after the allowed instant the client tries, and
/// whether the attempt succeeds (then the connection is lost again `gap` later).
#[derive(Debug, Clone, Copy)]
struct Step {
    gap: Duration,
    success: bool,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(
        (0u64..=2_000_000_000, proptest::bool::weighted(0.15)).prop_map(|(gap, success)| Step {
            gap: Duration::from_nanos(gap),
            success,
        }),
        1..60,
    )
}

/// Drives a policy through `steps`, checking the invariants after every decision, and returns
/// every decision with the envelope for replay comparisons.
fn drive(
    config: &ReconnectConfig,
    seed: u64,
    steps: &[Step],
    probes: &[u64],
    base: Instant,
) -> Result<Vec<(Decision, Option<Duration>)>, TestCaseError> {
    let mut p = ReconnectPolicy::new(config.clone(), seed);
    let mut now = base;
    let mut decisions = Vec::new();
    let mut last_envelope: Option<Duration> = None;
    // An outage starts with a lost connection.
    let mut decision = p.on_failure(now);
    for step in steps {
        decisions.push((decision, p.envelope()));
        match decision {
            Decision::Retry { at, delay, attempt } => {
                prop_assert!(delay <= config.max_delay, "{delay:?} > max_delay");
                prop_assert_eq!(at, now + delay);
                prop_assert_eq!(attempt, p.attempts() + 1);
                // Neither the cap nor the breaker should have answered instead.
                prop_assert!(config.enabled);
                prop_assert!(config.max_attempts.is_none_or(|max| p.attempts() < max));
                prop_assert!(config.max_failures.is_none_or(|max| p.failures() < max));
                let envelope = p.envelope().expect("envelope after a retry");
                prop_assert!(envelope <= config.max_delay);
                if let Some(last) = last_envelope {
                    prop_assert!(envelope >= last, "envelope shrank {last:?} -> {envelope:?}");
                }
                last_envelope = Some(envelope);
                match config.jitter {
                    Jitter::None => prop_assert_eq!(delay, envelope),
                    Jitter::Full => prop_assert!(delay <= envelope),
                    Jitter::Equal => prop_assert!(delay >= envelope / 2 && delay <= envelope),
                    Jitter::Decorrelated => prop_assert!(delay >= config.initial_delay),
                    _ => {}
                }
                prop_assert_eq!(p.next_attempt_at(), Some(at));
                if at > now {
                    prop_assert!(p.start_attempt(at - Duration::from_nanos(1)).is_none());
                }
                now = at + step.gap;
                let attempt = p.start_attempt(now);
                prop_assert!(attempt.is_some_and(|a| !a.half_open));
            }
            Decision::OpenCircuit { until } => {
                prop_assert!(config.max_failures.is_some_and(|max| p.failures() >= max));
                prop_assert!(config.max_attempts.is_none_or(|max| p.attempts() < max));
                prop_assert_eq!(until, now + config.open_duration);
                prop_assert_eq!(p.next_attempt_at(), Some(until));
                // No attempt at any instant before `until`: the ends, and spread-out probes.
                let span = (until - now).as_nanos() as u64;
                let mut instants = vec![now, until - Duration::from_nanos(1)];
                instants.extend(probes.iter().map(|&x| now + Duration::from_nanos(x % span)));
                for t in instants {
                    prop_assert!(p.start_attempt(t).is_none(), "attempt while open at {t:?}");
                }
                now = until + step.gap;
                let attempt = p.start_attempt(now);
                prop_assert!(attempt.is_some_and(|a| a.half_open), "no half-open probe");
            }
            Decision::GiveUp => {
                prop_assert_eq!(Some(p.attempts()), config.max_attempts);
                prop_assert!(p.start_attempt(now + step.gap).is_none());
                prop_assert_eq!(p.on_failure(now), Decision::GiveUp);
                break;
            }
            Decision::Disabled => {
                prop_assert!(!config.enabled);
                prop_assert!(p.start_attempt(now + step.gap).is_none());
                break;
            }
        }
        if step.success {
            p.on_success();
            prop_assert_eq!(p.failures(), 0);
            last_envelope = None;
            now += step.gap;
        }
        decision = p.on_failure(now);
    }
    Ok(decisions)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_configs_are_valid(config in config()) {
        prop_assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn invariants_hold_for_any_schedule(
        config in config(),
        seed in any::<u64>(),
        steps in steps(),
        probes in proptest::collection::vec(any::<u64>(), 8),
    ) {
        drive(&config, seed, &steps, &probes, Instant::now())?;
    }

    #[test]
    fn envelope_never_decreases_nor_passes_the_cap(
        config in config(),
        seed in any::<u64>(),
        failures in 1usize..200,
    ) {
        let config = ReconnectConfig { enabled: true, max_failures: None, max_attempts: None, ..config };
        let base = Instant::now();
        let mut p = ReconnectPolicy::new(config.clone(), seed);
        let mut last = Duration::ZERO;
        for _ in 0..failures {
            let Decision::Retry { delay, .. } = p.on_failure(base) else {
                return Err(TestCaseError::fail("expected Retry"));
            };
            let envelope = p.envelope().unwrap();
            prop_assert!(delay <= config.max_delay);
            prop_assert!(envelope >= last && envelope <= config.max_delay);
            last = envelope;
        }
        // With a real multiplier the envelope reaches the cap eventually.
        if config.multiplier >= 1.5 && failures >= 120 {
            prop_assert_eq!(last, config.max_delay);
        }
    }

    #[test]
    fn same_seed_replays_the_same_schedule(
        config in config(),
        seed in any::<u64>(),
        steps in steps(),
    ) {
        let probes = [0u64, 1, 1 << 20, u64::MAX];
        let base = Instant::now();
        let a = drive(&config, seed, &steps, &probes, base)?;
        let b = drive(&config, seed, &steps, &probes, base)?;
        prop_assert_eq!(a, b);
    }
}
