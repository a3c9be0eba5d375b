//! Simulated-clock tests of the reconnect policy: backoff, each jitter mode, the cap, the reset
//! on success, the circuit breaker's states, giving up, disabled, and config validation.
//!
//! Time is a base `Instant` taken once per test plus offsets; the policy never reads a clock.

use std::time::{Duration, Instant};

use jamey_mqtt_core::reconnect::{
    Attempt, CircuitState, Decision, Jitter, ReconnectConfig, ReconnectPolicy, MAX_DURATION,
};
use jamey_mqtt_core::ClientConfig;

const MS: Duration = Duration::from_millis(1);
const NS: Duration = Duration::from_nanos(1);

/// A config without jitter and without breaker: the schedule is the bare envelope.
fn plain() -> ReconnectConfig {
    ReconnectConfig {
        initial_delay: 100 * MS,
        max_delay: Duration::from_secs(1),
        multiplier: 2.0,
        jitter: Jitter::None,
        max_failures: None,
        ..ReconnectConfig::default()
    }
}

fn retry(decision: Decision) -> (Instant, u32, Duration) {
    match decision {
        Decision::Retry { at, attempt, delay } => (at, attempt, delay),
        other => panic!("expected Retry, got {other:?}"),
    }
}

/// Fails `n` times in a row at `now` (no attempts in between) and returns the delays.
fn delays(policy: &mut ReconnectPolicy, now: Instant, n: usize) -> Vec<Duration> {
    (0..n).map(|_| retry(policy.on_failure(now)).2).collect()
}

// ---------------------------------------------------------------- defaults and validation

#[test]
fn defaults_match_the_documented_values_and_validate() {
    let c = ReconnectConfig::default();
    assert!(c.enabled);
    assert_eq!(c.initial_delay, 100 * MS);
    assert_eq!(c.max_delay, Duration::from_secs(30));
    assert_eq!(c.multiplier, 2.0);
    assert_eq!(c.jitter, Jitter::Full);
    assert_eq!(c.connect_timeout, Duration::from_secs(10));
    assert_eq!(c.max_failures, Some(10));
    assert_eq!(c.open_duration, Duration::from_secs(60));
    assert_eq!(c.max_attempts, None);
    assert_eq!(c.validate(), Ok(()));
    assert_eq!(Jitter::default(), Jitter::Full);
}

/// One test per rejected value: the error names the field.
macro_rules! rejected {
    ($($name:ident: $field:literal, |$c:ident| $change:expr;)*) => {$(
        #[test]
        fn $name() {
            let mut $c = ReconnectConfig::default();
            $change;
            let err = $c.validate().expect_err("config should be rejected");
            assert_eq!(err.field, $field, "{err}");
            assert!(!err.reason.is_empty());
        }
    )*};
}

rejected! {
    rejects_zero_multiplier: "reconnect.multiplier", |c| c.multiplier = 0.0;
    rejects_negative_multiplier: "reconnect.multiplier", |c| c.multiplier = -2.0;
    rejects_nan_multiplier: "reconnect.multiplier", |c| c.multiplier = f64::NAN;
    rejects_infinite_multiplier: "reconnect.multiplier", |c| c.multiplier = f64::INFINITY;
    rejects_multiplier_below_one: "reconnect.multiplier", |c| c.multiplier = 0.999;
    rejects_max_delay_below_initial_delay: "reconnect.max_delay", |c| {
        c.initial_delay = Duration::from_secs(5);
        c.max_delay = Duration::from_secs(4);
    };
    rejects_zero_initial_delay: "reconnect.initial_delay", |c| c.initial_delay = Duration::ZERO;
    rejects_zero_connect_timeout: "reconnect.connect_timeout", |c| {
        c.connect_timeout = Duration::ZERO
    };
    rejects_zero_max_failures: "reconnect.max_failures", |c| c.max_failures = Some(0);
    rejects_zero_open_duration_with_breaker: "reconnect.open_duration", |c| {
        c.open_duration = Duration::ZERO
    };
    rejects_zero_max_attempts: "reconnect.max_attempts", |c| c.max_attempts = Some(0);
    rejects_initial_delay_over_a_year: "reconnect.initial_delay", |c| {
        c.initial_delay = MAX_DURATION + NS;
        c.max_delay = Duration::MAX;
    };
    rejects_max_delay_over_a_year: "reconnect.max_delay", |c| c.max_delay = MAX_DURATION + NS;
    rejects_connect_timeout_over_a_year: "reconnect.connect_timeout", |c| {
        c.connect_timeout = Duration::MAX
    };
    rejects_open_duration_over_a_year: "reconnect.open_duration", |c| {
        c.open_duration = MAX_DURATION + NS
    };
}

#[test]
fn accepts_the_boundary_values() {
    let c = ReconnectConfig {
        initial_delay: NS,
        max_delay: NS,
        multiplier: 1.0,
        connect_timeout: NS,
        max_failures: Some(1),
        open_duration: NS,
        max_attempts: Some(1),
        ..ReconnectConfig::default()
    };
    assert_eq!(c.validate(), Ok(()));
    let c = ReconnectConfig {
        max_delay: MAX_DURATION,
        open_duration: MAX_DURATION,
        connect_timeout: MAX_DURATION,
        ..ReconnectConfig::default()
    };
    assert_eq!(c.validate(), Ok(()));
}

#[test]
fn zero_open_duration_is_fine_without_breaker() {
    let c = ReconnectConfig {
        max_failures: None,
        open_duration: Duration::ZERO,
        ..ReconnectConfig::default()
    };
    assert_eq!(c.validate(), Ok(()));
}

#[test]
fn disabled_config_is_still_validated() {
    let c = ReconnectConfig {
        enabled: false,
        multiplier: 0.5,
        ..ReconnectConfig::default()
    };
    assert_eq!(c.validate().unwrap_err().field, "reconnect.multiplier");
}

#[test]
fn client_config_validate_reports_reconnect_errors() {
    let mut config = ClientConfig::default();
    config.reconnect.max_failures = Some(0);
    assert_eq!(
        config.validate().unwrap_err().field,
        "reconnect.max_failures"
    );
}

// ---------------------------------------------------------------- backoff and waiting

#[test]
fn first_attempt_is_allowed_at_once_and_only_one_at_a_time() {
    let t0 = Instant::now();
    let mut p = ReconnectPolicy::new(plain(), 7);
    assert_eq!(p.next_attempt_at(), None);
    assert_eq!(
        p.start_attempt(t0),
        Some(Attempt {
            number: 1,
            half_open: false
        })
    );
    assert!(p.is_attempting());
    assert_eq!(p.start_attempt(t0), None, "an attempt is already in flight");
    assert_eq!(p.start_attempt(t0 + Duration::from_secs(3600)), None);
    assert_eq!(p.attempts(), 1);
}

#[test]
fn backoff_without_jitter_multiplies_up_to_the_cap() {
    let t0 = Instant::now();
    let mut p = ReconnectPolicy::new(plain(), 0);
    let got = delays(&mut p, t0, 7);
    let want: Vec<Duration> = [100, 200, 400, 800, 1000, 1000, 1000]
        .iter()
        .map(|&ms| ms * MS)
        .collect();
    assert_eq!(got, want);
    assert_eq!(p.envelope(), Some(Duration::from_secs(1)));
    assert_eq!(p.failures(), 7);
}

#[test]
fn fractional_multiplier_grows_the_envelope() {
    let t0 = Instant::now();
    let config = ReconnectConfig {
        multiplier: 1.5,
        max_delay: Duration::from_secs(10),
        ..plain()
    };
    let mut p = ReconnectPolicy::new(config, 0);
    assert_eq!(delays(&mut p, t0, 3), vec![100 * MS, 150 * MS, 225 * MS]);
}

#[test]
fn retry_reports_when_and_which_attempt() {
    let t0 = Instant::now();
    let mut p = ReconnectPolicy::new(plain(), 0);
    p.start_attempt(t0).unwrap();
    let (at, attempt, delay) = retry(p.on_failure(t0 + 5 * MS));
    assert_eq!((at, attempt, delay), (t0 + 105 * MS, 2, 100 * MS));
    assert_eq!(p.next_attempt_at(), Some(at));
    assert_eq!(p.circuit(), CircuitState::Closed);

    assert_eq!(p.start_attempt(t0), None);
    assert_eq!(p.start_attempt(at - NS), None, "one nanosecond early");
    assert_eq!(
        p.start_attempt(at),
        Some(Attempt {
            number: 2,
            half_open: false
        })
    );
    assert_eq!(p.next_attempt_at(), None);
    let (at, attempt, delay) = retry(p.on_failure(at + 7 * MS));
    assert_eq!((attempt, delay), (3, 200 * MS));
    assert_eq!(at, t0 + (105 + 7 + 200) * MS);
}

#[test]
fn lost_connection_schedules_the_first_retry_with_the_initial_delay() {
    let t0 = Instant::now();
    let mut p = ReconnectPolicy::new(plain(), 0);
    p.start_attempt(t0).unwrap();
    p.on_success();
    let (at, attempt, delay) = retry(p.on_failure(t0 + Duration::from_secs(600)));
    assert_eq!(attempt, 1);
    assert_eq!(delay, 100 * MS);
    assert_eq!(at, t0 + Duration::from_secs(600) + 100 * MS);
}

#[test]
fn success_resets_backoff_failures_and_attempts() {
    let t0 = Instant::now();
    let mut p = ReconnectPolicy::new(plain(), 0);
    let mut now = t0;
    for _ in 0..5 {
        p.start_attempt(now).unwrap();
        let (at, _, _) = retry(p.on_failure(now));
        now = at;
    }
    assert_eq!(p.failures(), 5);
    assert_eq!(p.envelope(), Some(Duration::from_secs(1)));
    p.start_attempt(now).unwrap();
    p.on_success();
    assert_eq!((p.failures(), p.attempts(), p.envelope()), (0, 0, None));
    assert_eq!(p.next_attempt_at(), None);
    let (_, attempt, delay) = retry(p.on_failure(now));
    assert_eq!((attempt, delay), (1, 100 * MS));
}

// ---------------------------------------------------------------- jitter

#[test]
fn full_jitter_spreads_over_zero_to_envelope() {
    let t0 = Instant::now();
    let config = ReconnectConfig {
        jitter: Jitter::Full,
        multiplier: 1.0,
        ..plain()
    };
    let mut p = ReconnectPolicy::new(config, 42);
    let got = delays(&mut p, t0, 400);
    assert!(got.iter().all(|&d| d <= 100 * MS));
    assert!(got.iter().any(|&d| d < 10 * MS), "low tenth never drawn");
    assert!(got.iter().any(|&d| d > 90 * MS), "high tenth never drawn");
    let mean = got.iter().sum::<Duration>() / 400;
    assert!(mean > 40 * MS && mean < 60 * MS, "mean {mean:?}");
}

#[test]
fn full_jitter_respects_the_growing_envelope() {
    let t0 = Instant::now();
    let config = ReconnectConfig {
        jitter: Jitter::Full,
        ..plain()
    };
    let mut p = ReconnectPolicy::new(config, 3);
    for _ in 0..30 {
        let (_, _, delay) = retry(p.on_failure(t0));
        assert!(delay <= p.envelope().unwrap());
    }
}

#[test]
fn equal_jitter_stays_in_the_upper_half() {
    let t0 = Instant::now();
    let config = ReconnectConfig {
        jitter: Jitter::Equal,
        multiplier: 1.0,
        ..plain()
    };
    let mut p = ReconnectPolicy::new(config, 42);
    let got = delays(&mut p, t0, 400);
    assert!(got.iter().all(|&d| (50 * MS..=100 * MS).contains(&d)));
    assert!(got.iter().any(|&d| d < 55 * MS));
    assert!(got.iter().any(|&d| d > 95 * MS));
}

#[test]
fn decorrelated_jitter_follows_the_aws_recurrence() {
    let t0 = Instant::now();
    let config = ReconnectConfig {
        jitter: Jitter::Decorrelated,
        max_delay: Duration::from_secs(5),
        ..plain()
    };
    let mut p = ReconnectPolicy::new(config, 9);
    let mut prev = 100 * MS;
    let mut reached_cap = false;
    for _ in 0..200 {
        let (_, _, delay) = retry(p.on_failure(t0));
        assert!(delay >= 100 * MS, "{delay:?} below initial_delay");
        assert!(delay <= (prev * 3).min(Duration::from_secs(5)), "{delay:?}");
        reached_cap |= delay == Duration::from_secs(5);
        prev = delay;
    }
    assert!(reached_cap, "min(cap, ..) never hit the cap");
    // Success restarts the recurrence from initial_delay.
    p.on_success();
    let (_, _, delay) = retry(p.on_failure(t0));
    assert!(delay <= 300 * MS);
}

#[test]
fn no_jitter_draws_nothing_and_is_seed_independent() {
    let t0 = Instant::now();
    let a = delays(&mut ReconnectPolicy::new(plain(), 1), t0, 10);
    let b = delays(&mut ReconnectPolicy::new(plain(), 2), t0, 10);
    assert_eq!(a, b);
}

#[test]
fn same_seed_same_schedule_for_every_jitter() {
    let t0 = Instant::now();
    for jitter in [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
    ] {
        let config = ReconnectConfig {
            jitter,
            ..ReconnectConfig::default()
        };
        let mut a = ReconnectPolicy::new(config.clone(), 1234);
        let mut b = ReconnectPolicy::new(config, 1234);
        let run = |p: &mut ReconnectPolicy| (0..30).map(|_| p.on_failure(t0)).collect::<Vec<_>>();
        assert_eq!(run(&mut a), run(&mut b), "{jitter:?}");
    }
}

#[test]
fn different_seeds_give_different_full_jitter_schedules() {
    let t0 = Instant::now();
    let config = ReconnectConfig {
        max_failures: None,
        ..ReconnectConfig::default()
    };
    let a = delays(&mut ReconnectPolicy::new(config.clone(), 1), t0, 20);
    let b = delays(&mut ReconnectPolicy::new(config, 2), t0, 20);
    let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
    assert_eq!(same, 0, "{a:?} vs {b:?}");
}

// ---------------------------------------------------------------- circuit breaker

fn breaker() -> ReconnectConfig {
    ReconnectConfig {
        max_failures: Some(3),
        open_duration: Duration::from_secs(60),
        ..plain()
    }
}

/// Fails attempts until the circuit opens; returns the open-until instant and the failure time.
fn open_circuit(p: &mut ReconnectPolicy, t0: Instant) -> (Instant, Instant) {
    let mut now = t0;
    loop {
        p.start_attempt(now).expect("attempt allowed");
        match p.on_failure(now) {
            Decision::Retry { at, .. } => now = at,
            Decision::OpenCircuit { until } => return (until, now),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn breaker_opens_after_max_failures_and_refuses_every_attempt() {
    let t0 = Instant::now();
    let mut p = ReconnectPolicy::new(breaker(), 0);
    let (until, failed_at) = open_circuit(&mut p, t0);
    assert_eq!(p.failures(), 3);
    assert_eq!(until, failed_at + Duration::from_secs(60));
    assert_eq!(p.circuit(), CircuitState::Open { until });
    assert_eq!(p.next_attempt_at(), Some(until));
    for offset in [Duration::ZERO, NS, 100 * MS, Duration::from_secs(30)] {
        assert_eq!(p.start_attempt(failed_at + offset), None, "{offset:?}");
    }
    assert_eq!(p.start_attempt(until - NS), None);
    assert_eq!(p.circuit(), CircuitState::Open { until });
}

#[test]
fn breaker_closed_open_half_open_closed() {
    let t0 = Instant::now();
    let mut p = ReconnectPolicy::new(breaker(), 0);
    assert_eq!(p.circuit(), CircuitState::Closed);
    let (until, _) = open_circuit(&mut p, t0);
    let probe = p.start_attempt(until).expect("half-open probe");
    assert_eq!(
        probe,
        Attempt {
            number: 4,
            half_open: true
        }
    );
    assert_eq!(p.circuit(), CircuitState::HalfOpen);
    assert_eq!(p.start_attempt(until), None, "only one half-open probe");
    p.on_success();
    assert_eq!(p.circuit(), CircuitState::Closed);
    assert_eq!(p.failures(), 0);
    // Closed again: failures follow the backoff from the start.
    let (_, attempt, delay) = retry(p.on_failure(until));
    assert_eq!((attempt, delay), (1, 100 * MS));
}

#[test]
fn half_open_failure_opens_the_circuit_again() {
    let t0 = Instant::now();
    let mut p = ReconnectPolicy::new(breaker(), 0);
    let (until, _) = open_circuit(&mut p, t0);
    let probe_at = until + 250 * MS;
    assert!(p.start_attempt(probe_at).unwrap().half_open);
    let failed_at = probe_at + Duration::from_secs(2);
    assert_eq!(
        p.on_failure(failed_at),
        Decision::OpenCircuit {
            until: failed_at + Duration::from_secs(60)
        }
    );
    let until2 = failed_at + Duration::from_secs(60);
    assert_eq!(p.circuit(), CircuitState::Open { until: until2 });
    assert_eq!(p.start_attempt(until2 - NS), None);
    let probe = p.start_attempt(until2).unwrap();
    assert!(probe.half_open);
    assert_eq!(probe.number, 5);
}

#[test]
fn lost_connections_count_towards_the_breaker() {
    let t0 = Instant::now();
    let config = ReconnectConfig {
        max_failures: Some(1),
        ..breaker()
    };
    let mut p = ReconnectPolicy::new(config, 0);
    assert_eq!(
        p.on_failure(t0),
        Decision::OpenCircuit {
            until: t0 + Duration::from_secs(60)
        }
    );
}

// ---------------------------------------------------------------- giving up, disabled

#[test]
fn gives_up_after_max_attempts_for_good() {
    let t0 = Instant::now();
    let config = ReconnectConfig {
        max_attempts: Some(3),
        ..plain()
    };
    let mut p = ReconnectPolicy::new(config, 0);
    let mut now = t0;
    for n in 1..=3 {
        let (at, attempt, _) = retry(p.on_failure(now));
        assert_eq!(attempt, n);
        assert_eq!(p.start_attempt(at).unwrap().number, n);
        now = at;
    }
    assert_eq!(p.on_failure(now), Decision::GiveUp);
    assert!(p.is_stopped());
    assert_eq!(p.next_attempt_at(), None);
    assert_eq!(p.start_attempt(now + Duration::from_secs(86_400)), None);
    assert_eq!(p.on_failure(now), Decision::GiveUp, "final");
    // Only an explicit reset (or a success) revives it.
    p.reset();
    assert!(!p.is_stopped());
    assert_eq!(p.start_attempt(now).unwrap().number, 1);
}

#[test]
fn the_first_connect_counts_as_an_attempt() {
    let t0 = Instant::now();
    let config = ReconnectConfig {
        max_attempts: Some(1),
        ..plain()
    };
    let mut p = ReconnectPolicy::new(config, 0);
    p.start_attempt(t0).unwrap();
    assert_eq!(p.on_failure(t0), Decision::GiveUp);
}

#[test]
fn half_open_probes_count_towards_max_attempts() {
    let t0 = Instant::now();
    let config = ReconnectConfig {
        max_attempts: Some(4),
        ..breaker()
    };
    let mut p = ReconnectPolicy::new(config, 0);
    let (until, _) = open_circuit(&mut p, t0); // attempts 1..=3
    assert_eq!(p.start_attempt(until).unwrap().number, 4);
    assert_eq!(p.on_failure(until), Decision::GiveUp);
}

#[test]
fn success_restores_the_attempt_budget() {
    let t0 = Instant::now();
    let config = ReconnectConfig {
        max_attempts: Some(2),
        ..plain()
    };
    let mut p = ReconnectPolicy::new(config, 0);
    for _ in 0..5 {
        let (at, _, _) = retry(p.on_failure(t0));
        p.start_attempt(at).unwrap();
        let (at, _, _) = retry(p.on_failure(at));
        p.start_attempt(at).unwrap();
        p.on_success();
    }
}

#[test]
fn disabled_allows_the_first_connect_and_never_retries() {
    let t0 = Instant::now();
    let config = ReconnectConfig {
        enabled: false,
        ..ReconnectConfig::default()
    };
    let mut p = ReconnectPolicy::new(config, 0);
    assert_eq!(p.start_attempt(t0).unwrap().number, 1);
    assert_eq!(p.on_failure(t0), Decision::Disabled);
    assert!(p.is_stopped());
    assert_eq!(p.next_attempt_at(), None);
    assert_eq!(p.start_attempt(t0 + Duration::from_secs(3600)), None);
    assert_eq!(p.on_failure(t0), Decision::Disabled);
}

#[test]
fn connect_timeout_is_held_for_the_client() {
    let config = ReconnectConfig {
        connect_timeout: Duration::from_secs(3),
        ..ReconnectConfig::default()
    };
    let p = ReconnectPolicy::new(config, 0);
    assert_eq!(p.config().connect_timeout, Duration::from_secs(3));
}

// ---------------------------------------------------------------- no panics on bad configs

#[test]
fn invalid_configs_never_panic() {
    let t0 = Instant::now();
    let bad = [
        ReconnectConfig {
            initial_delay: Duration::MAX,
            max_delay: Duration::MAX,
            open_duration: Duration::MAX,
            ..ReconnectConfig::default()
        },
        ReconnectConfig {
            multiplier: f64::NAN,
            ..ReconnectConfig::default()
        },
        ReconnectConfig {
            multiplier: f64::INFINITY,
            max_delay: Duration::MAX,
            ..ReconnectConfig::default()
        },
        ReconnectConfig {
            multiplier: -3.0,
            initial_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(1),
            ..ReconnectConfig::default()
        },
        ReconnectConfig {
            initial_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            max_failures: Some(0),
            max_attempts: Some(0),
            open_duration: Duration::ZERO,
            ..ReconnectConfig::default()
        },
    ];
    for config in bad {
        for jitter in [
            Jitter::None,
            Jitter::Full,
            Jitter::Equal,
            Jitter::Decorrelated,
        ] {
            let max_delay = config.max_delay;
            let mut p = ReconnectPolicy::new(
                ReconnectConfig {
                    jitter,
                    ..config.clone()
                },
                5,
            );
            let mut now = t0;
            for _ in 0..80 {
                p.start_attempt(now);
                match p.on_failure(now) {
                    Decision::Retry { at, delay, .. } => {
                        assert!(at >= now);
                        assert!(delay <= max_delay);
                        now = at;
                    }
                    Decision::OpenCircuit { until } => now = until,
                    Decision::GiveUp | Decision::Disabled => {}
                }
            }
        }
    }
}

#[test]
fn connect_deadline_adds_the_timeout_and_never_overflows() {
    let now = Instant::now();
    let policy = ReconnectPolicy::new(ReconnectConfig::default(), 0);
    assert_eq!(policy.connect_deadline(now), now + Duration::from_secs(10));
    // Even an (invalid) endless timeout saturates instead of panicking.
    let policy = ReconnectPolicy::new(
        ReconnectConfig {
            connect_timeout: Duration::MAX,
            ..ReconnectConfig::default()
        },
        0,
    );
    let far = policy.connect_deadline(now);
    assert!(far > now);
    assert_eq!(
        policy.connect_deadline(far),
        far,
        "already at the end of time: stays put"
    );
}
