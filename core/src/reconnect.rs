//! Reconnect timing: exponential backoff, seeded jitter and a circuit breaker, without a clock.
//!
//! [`ReconnectPolicy`] decides *when* the client may open a new transport after a connection
//! attempt failed or a live connection was lost. It never reads a clock: every method that needs
//! the time takes `now: Instant`, and randomness comes from a [`fastrand::Rng`] seeded in
//! [`ReconnectPolicy::new`], so the same seed and the same calls give the same schedule.
//!
//! # Behaviour
//!
//! - **Backoff.** The *n*-th consecutive failure has an un-jittered envelope of
//!   `min(max_delay, initial_delay * multiplier^(n-1))`. The envelope never decreases and never
//!   passes `max_delay`.
//! - **Jitter** ([`Jitter`]) turns the envelope into the actual delay, drawn from the seeded
//!   generator: `None` (the envelope itself), `Full` (uniform in `[0, envelope]`, the default),
//!   `Equal` (`envelope/2` plus uniform in `[0, envelope/2]`) or `Decorrelated` (AWS "Exponential
//!   Backoff and Jitter": `min(max_delay, uniform(initial_delay, previous_delay * 3))`, which
//!   ignores `multiplier`). Every delay lies in `[0, max_delay]`.
//! - **Waiting.** [`on_failure`](ReconnectPolicy::on_failure) answers [`Decision::Retry`] with the
//!   instant the next attempt may start; [`start_attempt`](ReconnectPolicy::start_attempt) returns
//!   `None` before that instant, and also while an attempt it allowed is still in flight (one
//!   attempt at a time). Before any failure (the first connect) an attempt may start at once.
//! - **Circuit breaker.** When `max_failures` consecutive failures have been reported (a lost live
//!   connection counts as one), the circuit opens for `open_duration`
//!   ([`Decision::OpenCircuit`]): no attempt at all before `until`. After it, exactly one
//!   *half-open* probe attempt is allowed ([`Attempt::half_open`]). Its success closes the
//!   circuit; its failure opens it again for another `open_duration`. `max_failures: None`
//!   disables the breaker.
//! - **Success.** [`on_success`](ReconnectPolicy::on_success) (CONNACK accepted) resets the
//!   backoff, the failure count and the attempt count, and closes the circuit.
//! - **Giving up.** `max_attempts: Some(n)` caps the attempts started (through `start_attempt`)
//!   since the last success, half-open probes included: the failure of the *n*-th attempt answers
//!   [`Decision::GiveUp`]. `enabled: false` answers [`Decision::Disabled`] to the first failure
//!   (the first connect is still allowed). Both are final: every later failure gets the same
//!   answer and `start_attempt` returns `None`, until `on_success` or
//!   [`reset`](ReconnectPolicy::reset).
//! - **Connect timeout.** `connect_timeout` is held here and validated; the client enforces it
//!   (no CONNACK by then is a failed attempt, reported through `on_failure`);
//!   [`connect_deadline`](ReconnectPolicy::connect_deadline) computes the instant.
//!
//! The generator is not reseeded on success, so successive outages get different (but
//! reproducible) jitter.
//!
//! # Defaults
//!
//! | field             | default            |
//! |-------------------|--------------------|
//! | `enabled`         | `true`             |
//! | `initial_delay`   | 100 ms             |
//! | `max_delay`       | 30 s               |
//! | `multiplier`      | 2.0                |
//! | `jitter`          | [`Jitter::Full`]   |
//! | `connect_timeout` | 10 s               |
//! | `max_failures`    | `Some(10)`         |
//! | `open_duration`   | 60 s               |
//! | `max_attempts`    | `None` (forever)   |
//!
//! # Validation
//!
//! [`ReconnectConfig::validate`] rejects, naming the field (`reconnect.<field>`): a zero
//! `initial_delay` (the backoff would never grow); a `max_delay` below `initial_delay`; a
//! `multiplier` that is NaN, infinite or below 1.0 (zero and negatives included); a zero
//! `connect_timeout`; `max_failures: Some(0)` (use `None` to disable the breaker); a zero
//! `open_duration` while the breaker is enabled; `max_attempts: Some(0)` (use `enabled: false`);
//! and any duration above [`MAX_DURATION`] (365 days). The policy never panics, even with a
//! configuration that `validate` rejects.
use std::time::{Duration, Instant};

use crate::ConfigError;

/// The longest duration any reconnect setting may hold: 365 days.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// How the backoff envelope becomes an actual delay. All modes draw from the seeded generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// The envelope itself: fully predictable, prone to thundering herds.
    None,
    /// Uniform in `[0, envelope]`. The default.
    #[default]
    Full,
    /// `envelope / 2` plus uniform in `[0, envelope / 2]`.
    Equal,
    /// `min(max_delay, uniform(initial_delay, previous_delay * 3))`; ignores `multiplier`.
    Decorrelated,
}

/// How reconnection is timed. See the [module docs](self) for the behaviour and the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct ReconnectConfig {
    /// Whether to reconnect at all after a failure. The first connect happens either way.
    pub enabled: bool,
    /// The envelope of the first retry. Greater than zero.
    pub initial_delay: Duration,
    /// The cap on every delay. At least `initial_delay`.
    pub max_delay: Duration,
    /// Growth of the envelope per consecutive failure. Finite and at least 1.0.
    pub multiplier: f64,
    /// How the envelope becomes the actual delay.
    pub jitter: Jitter,
    /// No CONNACK within this time after the transport opened: the attempt failed (enforced by
    /// the client). Greater than zero.
    pub connect_timeout: Duration,
    /// Consecutive failures that open the circuit breaker; `None` disables the breaker.
    pub max_failures: Option<u32>,
    /// How long the open circuit refuses every attempt before one half-open probe.
    pub open_duration: Duration,
    /// Attempts allowed since the last success before giving up for good; `None`: never give up.
    pub max_attempts: Option<u32>,
    /// How long a connection must stay up after CONNACK before it counts as a success (the
    /// backoff and the failure count reset only then). A broker that accepts and then drops
    /// every connection is retried with a growing delay and opens the circuit breaker, instead
    /// of being hammered at `initial_delay`. Zero: CONNACK alone is a success.
    pub stable_after: Duration,
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        ReconnectConfig {
            enabled: true,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: Jitter::Full,
            connect_timeout: Duration::from_secs(10),
            max_failures: Some(10),
            open_duration: Duration::from_secs(60),
            max_attempts: None,
            stable_after: Duration::from_secs(10),
        }
    }
}

impl ReconnectConfig {
    /// Checks every field; the first problem is a [`ConfigError`] naming the field
    /// (`reconnect.<field>`) and saying why.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let limit = |field: &'static str, value: Duration| {
            if value > MAX_DURATION {
                Err(ConfigError::new(field, "must be at most 365 days"))
            } else {
                Ok(())
            }
        };
        if self.initial_delay.is_zero() {
            return Err(ConfigError::new(
                "reconnect.initial_delay",
                "must be greater than zero (the backoff would never grow)",
            ));
        }
        limit("reconnect.initial_delay", self.initial_delay)?;
        if self.max_delay < self.initial_delay {
            return Err(ConfigError::new(
                "reconnect.max_delay",
                format!(
                    "must be at least initial_delay ({:?}), got {:?}",
                    self.initial_delay, self.max_delay
                ),
            ));
        }
        limit("reconnect.max_delay", self.max_delay)?;
        if !self.multiplier.is_finite() {
            return Err(ConfigError::new(
                "reconnect.multiplier",
                format!("must be a finite number, got {}", self.multiplier),
            ));
        }
        if self.multiplier < 1.0 {
            return Err(ConfigError::new(
                "reconnect.multiplier",
                format!(
                    "must be at least 1.0 (delays must not shrink), got {}",
                    self.multiplier
                ),
            ));
        }
        if self.connect_timeout.is_zero() {
            return Err(ConfigError::new(
                "reconnect.connect_timeout",
                "must be greater than zero",
            ));
        }
        limit("reconnect.connect_timeout", self.connect_timeout)?;
        if self.max_failures == Some(0) {
            return Err(ConfigError::new(
                "reconnect.max_failures",
                "must be at least 1 (use None to disable the circuit breaker)",
            ));
        }
        if self.max_failures.is_some() && self.open_duration.is_zero() {
            return Err(ConfigError::new(
                "reconnect.open_duration",
                "must be greater than zero while the circuit breaker is enabled",
            ));
        }
        limit("reconnect.open_duration", self.open_duration)?;
        limit("reconnect.stable_after", self.stable_after)?;
        if self.max_attempts == Some(0) {
            return Err(ConfigError::new(
                "reconnect.max_attempts",
                "must be at least 1 (use enabled = false to never reconnect)",
            ));
        }
        Ok(())
    }
}

/// What to do after a failure, as answered by [`ReconnectPolicy::on_failure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Attempt number `attempt` may start at `at` (= now + `delay`).
    Retry {
        /// The earliest instant [`ReconnectPolicy::start_attempt`] allows the attempt.
        at: Instant,
        /// The number the attempt will have (attempts since the last success, from 1).
        attempt: u32,
        /// The jittered delay.
        delay: Duration,
    },
    /// Too many consecutive failures: no attempt before `until`, then one half-open attempt.
    OpenCircuit {
        /// The end of the open period.
        until: Instant,
    },
    /// The attempt cap was reached: stop for good.
    GiveUp,
    /// Reconnecting is disabled.
    Disabled,
}

/// An attempt the policy allowed to start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// Attempts started since the last success, this one included (from 1).
    pub number: u32,
    /// The single probe after an open circuit: its outcome closes or re-opens the circuit.
    pub half_open: bool,
}

/// The circuit breaker, as reported by [`ReconnectPolicy::circuit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Attempts follow the backoff.
    Closed,
    /// No attempt before `until`; once `until` has passed, one half-open attempt may start.
    Open {
        /// The end of the open period.
        until: Instant,
    },
    /// The half-open probe attempt is in flight.
    HalfOpen,
}

/// Where the policy is between the calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No failure pending: an attempt may start at once.
    Idle,
    /// After a failure: the next attempt may start at `at`.
    Waiting { at: Instant },
    /// The circuit is open until `until`.
    Open { until: Instant },
    /// An attempt is in flight.
    Attempting { half_open: bool },
    /// GiveUp or Disabled was answered.
    Stopped(Decision),
}

/// The reconnect state: consecutive failures, the backoff, the breaker, the seeded generator.
#[derive(Debug, Clone)]
pub struct ReconnectPolicy {
    config: ReconnectConfig,
    rng: fastrand::Rng,
    phase: Phase,
    /// Consecutive failures since the last success.
    failures: u32,
    /// Attempts started since the last success.
    attempts: u32,
    /// The un-jittered envelope of the last delay; `None` after a success.
    envelope: Option<Duration>,
    /// The last actual delay (for decorrelated jitter); `None` after a success.
    last_delay: Option<Duration>,
}

impl ReconnectPolicy {
    /// A policy in its initial state (an attempt may start at once), jitter seeded by `seed`.
    /// The config is used as given: call [`ReconnectConfig::validate`] first.
    pub fn new(config: ReconnectConfig, seed: u64) -> ReconnectPolicy {
        ReconnectPolicy {
            config,
            rng: fastrand::Rng::with_seed(seed),
            phase: Phase::Idle,
            failures: 0,
            attempts: 0,
            envelope: None,
            last_delay: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ReconnectConfig {
        &self.config
    }

    /// Consecutive failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Attempts started since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The un-jittered backoff envelope of the last delay; `None` before any failure.
    pub fn envelope(&self) -> Option<Duration> {
        self.envelope
    }

    /// The instant the next attempt may start, when it is in the future of the last failure:
    /// the retry instant while waiting, the end of the open period while the circuit is open.
    /// `None` when an attempt may start at once, one is in flight, or the policy stopped.
    /// This is the deadline for the client's timer.
    pub fn next_attempt_at(&self) -> Option<Instant> {
        match self.phase {
            Phase::Waiting { at } => Some(at),
            Phase::Open { until } => Some(until),
            _ => None,
        }
    }

    /// The circuit breaker's state.
    pub fn circuit(&self) -> CircuitState {
        match self.phase {
            Phase::Open { until } => CircuitState::Open { until },
            Phase::Attempting { half_open: true } => CircuitState::HalfOpen,
            _ => CircuitState::Closed,
        }
    }

    /// Whether `GiveUp` or `Disabled` was answered: no attempt until `on_success` or `reset`.
    pub fn is_stopped(&self) -> bool {
        matches!(self.phase, Phase::Stopped(_))
    }

    /// Whether an attempt allowed by `start_attempt` is in flight (no outcome reported yet).
    pub fn is_attempting(&self) -> bool {
        matches!(self.phase, Phase::Attempting { .. })
    }

    /// The instant by which an attempt whose transport opened at `opened` must have its CONNACK
    /// (`opened + connect_timeout`, clamped instead of overflowing).
    pub fn connect_deadline(&self, opened: Instant) -> Instant {
        add_clamped(opened, self.config.connect_timeout)
    }

    /// A connection attempt failed or an established connection was lost at `now`.
    pub fn on_failure(&mut self, now: Instant) -> Decision {
        if let Phase::Stopped(decision) = self.phase {
            self.failures = self.failures.saturating_add(1);
            return decision;
        }
        self.failures = self.failures.saturating_add(1);
        let stop = if !self.config.enabled {
            Some(Decision::Disabled)
        } else if self
            .config
            .max_attempts
            .is_some_and(|max| self.attempts >= max)
        {
            Some(Decision::GiveUp)
        } else {
            None
        };
        if let Some(decision) = stop {
            self.phase = Phase::Stopped(decision);
            return decision;
        }
        if self
            .config
            .max_failures
            .is_some_and(|max| self.failures >= max)
        {
            let until = add_clamped(now, self.config.open_duration);
            self.phase = Phase::Open { until };
            return Decision::OpenCircuit { until };
        }
        let delay = self.next_delay();
        let at = add_clamped(now, delay);
        self.phase = Phase::Waiting { at };
        Decision::Retry {
            at,
            attempt: self.attempts.saturating_add(1),
            delay: at.saturating_duration_since(now),
        }
    }

    /// CONNACK accepted: reset the backoff, the failure and attempt counts, close the breaker.
    /// The attempt in progress ended for a reason that is no failure (the client changes how
    /// it authenticates): the next one may start at `now`; failures and backoff stay as they
    /// are.
    pub fn retry_now(&mut self, now: Instant) {
        if let Phase::Attempting { .. } = self.phase {
            self.phase = Phase::Waiting { at: now };
        }
    }

    pub fn on_success(&mut self) {
        self.reset();
    }

    /// Back to the initial state, as after a success (the generator is not reseeded). Also the
    /// way out of `GiveUp` / `Disabled`, e.g. when the application asks to reconnect.
    pub fn reset(&mut self) {
        self.phase = Phase::Idle;
        self.failures = 0;
        self.attempts = 0;
        self.envelope = None;
        self.last_delay = None;
    }

    /// May an attempt start at `now`? `None` before the retry instant, while the circuit is open,
    /// while another attempt is in flight, and after `GiveUp` / `Disabled`. `Some` marks the
    /// attempt as in flight: report its outcome with `on_success` or `on_failure`.
    pub fn start_attempt(&mut self, now: Instant) -> Option<Attempt> {
        let half_open = match self.phase {
            Phase::Idle => false,
            Phase::Waiting { at } if now >= at => false,
            Phase::Open { until } if now >= until => true,
            Phase::Waiting { .. }
            | Phase::Open { .. }
            | Phase::Attempting { .. }
            | Phase::Stopped(_) => return None,
        };
        self.attempts = self.attempts.saturating_add(1);
        self.phase = Phase::Attempting { half_open };
        Some(Attempt {
            number: self.attempts,
            half_open,
        })
    }

    /// Advances the envelope and draws the jittered delay for the next retry.
    fn next_delay(&mut self) -> Duration {
        let ReconnectConfig {
            initial_delay,
            max_delay,
            multiplier,
            ..
        } = self.config;
        let envelope = match self.envelope {
            None => initial_delay.min(max_delay),
            Some(prev) => Duration::try_from_secs_f64(prev.as_secs_f64() * multiplier)
                .unwrap_or(max_delay)
                .max(prev)
                .min(max_delay),
        };
        self.envelope = Some(envelope);
        let delay = match self.config.jitter {
            Jitter::None => envelope,
            Jitter::Full => uniform(&mut self.rng, Duration::ZERO, envelope),
            Jitter::Equal => {
                let half = envelope / 2;
                uniform(&mut self.rng, half, envelope)
            }
            Jitter::Decorrelated => {
                let prev = self.last_delay.unwrap_or(initial_delay);
                let high = prev.checked_mul(3).unwrap_or(Duration::MAX);
                uniform(&mut self.rng, initial_delay, high.max(initial_delay))
            }
        }
        .min(max_delay);
        self.last_delay = Some(delay);
        delay
    }
}

/// Uniform in `[low, high]` (`low` when `high < low`), to the nanosecond.
fn uniform(rng: &mut fastrand::Rng, low: Duration, high: Duration) -> Duration {
    let span = high.saturating_sub(low).as_nanos();
    let offset = rng.u128(0..=span);
    let secs = u64::try_from(offset / 1_000_000_000).unwrap_or(u64::MAX);
    let nanos = u32::try_from(offset % 1_000_000_000).unwrap_or(0);
    low.saturating_add(Duration::new(secs, nanos))
}

/// `now + delay`, or the latest instant this platform can represent on the way there (only
/// reachable with durations `validate` rejects).
fn add_clamped(now: Instant, delay: Duration) -> Instant {
    if let Some(at) = now.checked_add(delay) {
        return at;
    }
    let mut at = now;
    let mut step = delay;
    while !step.is_zero() {
        match at.checked_add(step) {
            Some(later) => at = later,
            None => step /= 2,
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_stays_within_bounds_and_tolerates_inverted_ones() {
        let mut rng = fastrand::Rng::with_seed(1);
        let (low, high) = (Duration::from_millis(3), Duration::from_millis(5));
        for _ in 0..1000 {
            let d = uniform(&mut rng, low, high);
            assert!(low <= d && d <= high, "{d:?}");
        }
        assert_eq!(uniform(&mut rng, high, low), high);
        assert_eq!(uniform(&mut rng, low, low), low);
        let huge = uniform(&mut rng, Duration::ZERO, Duration::MAX);
        assert!(huge <= Duration::MAX);
    }
}
