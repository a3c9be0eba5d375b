//! Reconnect timing: exponential backoff, jitter and a circuit breaker, seeded and clock-free.
//! (Interface stub.)
use std::time::{Duration, Instant};

/// How reconnection is timed.
#[derive(Debug, Clone, PartialEq)]
pub struct ReconnectConfig {
    pub enabled: bool,
    pub initial_delay: Duration,
    pub max_delay: Duration,
    pub connect_timeout: Duration,
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        ReconnectConfig {
            enabled: true,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// What to do after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Attempt number `attempt` may start at `at` (= now + delay).
    Retry {
        at: Instant,
        attempt: u32,
        delay: Duration,
    },
    /// Too many consecutive failures: no attempt before `until`, then one half-open attempt.
    OpenCircuit { until: Instant },
    /// The attempt cap was reached: stop for good.
    GiveUp,
    /// Reconnecting is disabled.
    Disabled,
}

/// An attempt the policy allowed to start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub number: u32,
    pub half_open: bool,
}

/// The reconnect state: consecutive failures, the breaker, the seeded generator.
#[derive(Debug, Clone)]
pub struct ReconnectPolicy {
    config: ReconnectConfig,
    failures: u32,
    next_allowed: Option<Instant>,
}

impl ReconnectConfig {
    /// Checks every field; the first problem is a `ConfigError` naming the field.
    pub fn validate(&self) -> Result<(), crate::ConfigError> {
        Ok(())
    }
}

impl ReconnectPolicy {
    pub fn new(config: ReconnectConfig, seed: u64) -> ReconnectPolicy {
        let _ = seed;
        ReconnectPolicy {
            config,
            failures: 0,
            next_allowed: None,
        }
    }
    pub fn config(&self) -> &ReconnectConfig {
        &self.config
    }
    /// A connection attempt failed or an established connection was lost.
    pub fn on_failure(&mut self, now: Instant) -> Decision {
        if !self.config.enabled {
            return Decision::Disabled;
        }
        self.failures += 1;
        let delay = self.config.initial_delay;
        self.next_allowed = Some(now + delay);
        Decision::Retry {
            at: now + delay,
            attempt: self.failures,
            delay,
        }
    }
    /// CONNACK accepted: reset the backoff and close the breaker.
    pub fn on_success(&mut self) {
        self.failures = 0;
        self.next_allowed = None;
    }
    /// May an attempt start now? `None` while waiting or while the circuit is open.
    pub fn start_attempt(&mut self, now: Instant) -> Option<Attempt> {
        match self.next_allowed {
            Some(at) if now < at => None,
            _ => Some(Attempt {
                number: self.failures + 1,
                half_open: false,
            }),
        }
    }
}
