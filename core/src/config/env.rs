//! Reading a [`ClientConfig`] from environment variables, without touching the environment.
//!
//! This module owns the variable names, how each value is spelled and parsed, and the errors
//! that name the offending variable. It never reads the process environment or a file itself:
//! [`EnvVars`] asks a lookup closure for each variable (a `HashMap` in tests,
//! `std::env::var` in `jamey-mqtt`'s `Config::from_env`) and, for `*_FILE` variables, a
//! file-reader closure that only the I/O side installs. `jamey-mqtt` reads the connection
//! variables (host, port, TLS) with the same [`EnvVars`] helpers, so every variable follows the
//! same rules.
//!
//! # Rules
//!
//! - Every name is the prefix (default [`DEFAULT_PREFIX`], `MQTT_`) plus a key below.
//! - An unset variable, or one that is empty or only whitespace, keeps the default.
//! - Durations: a whole number and a unit, `500ms`, `30s`, `2m`, `1h`, or a bare number of
//!   seconds (`30`). Booleans: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` (any case).
//! - A value that does not parse is a [`ConfigError`] whose `field` is the variable
//!   (`MQTT_KEEP_ALIVE`) and whose reason says what was expected and what was found
//!   (`expected a duration like 30s, 500ms or 2m, got "abc"`).
//! - After parsing, [`ClientConfig::validate`] runs; its errors are renamed to the variable that
//!   sets the field (`reconnect.max_delay` becomes `MQTT_RECONNECT_MAX_DELAY`).
//! - Secrets (`PASSWORD`, file contents) are never echoed in an error, and
//!   `Debug` of the resulting config redacts them.
//!
//! # Variables read here (the `ClientConfig`)
//!
//! | variable | value | default |
//! |---|---|---|
//! | `MQTT_BROKERS` | comma-separated `host`, `host:port`, `[v6]:port`, each optionally `/tls-server-name`; replaces `MQTT_HOST`/`MQTT_PORT` | `MQTT_HOST`:`MQTT_PORT` |
//! | `MQTT_BROKER_ORDER` | `in-order` (round robin from the first) or `shuffled` (from the seed) | `in-order` |
//! | `MQTT_REDIRECTS` | MQTT 5 server redirects followed: `ignore`, `listed` (to listed brokers) or `any` | `listed` |
//! | `MQTT_SHARED_SUBSCRIPTIONS` | boolean: `false` refuses `$share/...` locally (a 3.1.1 broker without them) | `true` |
//! | `MQTT_PROTOCOL` | `3.1.1` (also `311`, `4`) or `5` (also `5.0`) | `3.1.1` |
//! | `MQTT_CLIENT_ID` | text | generated from the seed |
//! | `MQTT_CLEAN_START` | boolean | `true` |
//! | `MQTT_TOPIC_ALIAS_MAXIMUM` | MQTT 5: aliases the broker may use towards us | `0` |
//! | `MQTT_AUTO_TOPIC_ALIAS` | boolean, MQTT 5: alias outgoing topics automatically | `false` |
//! | `MQTT_BROKER_ASSIGNS_CLIENT_ID` | boolean, MQTT 5 with no `MQTT_CLIENT_ID`: the broker assigns it | `false` |
//! | `MQTT_SESSION_EXPIRY` | duration in whole seconds, or `never` (MQTT 5) | see `ClientConfig` |
//! | `MQTT_KEEP_ALIVE` | duration in whole seconds, `0` disables | `30s` |
//! | `MQTT_PING_TIMEOUT` | duration | half the keep-alive |
//! | `MQTT_USERNAME` | text (with JWT: overrides the token's `sub`) | none |
//! | `MQTT_PASSWORD` | secret text; not with JWT | none |
//! | `MQTT_MAX_INFLIGHT` | 1..=65535 | `20` |
//! | `MQTT_MAX_BUFFERED_BYTES` | bytes >= 1 encoded but not yet written | `65536` |
//! | `MQTT_POISON_THRESHOLD` | error-ended connections before a request fails, >= 1 | `3` |
//! | `MQTT_UNMATCHED_CAPACITY` | messages kept for later subscriptions | `1024` |
//! | `MQTT_MAX_QUEUED` | whole number >= 1 | `1000` |
//! | `MQTT_MAX_PACKET_SIZE` | bytes, 16..=268435460, both directions | `262144` |
//! | `MQTT_RECEIVE_MAXIMUM` | 1..=65535 (MQTT 5) | `100` |
//! | `MQTT_MANUAL_ACK` | boolean: the application acknowledges QoS 1/2 messages | `false` |
//! | `MQTT_SESSION_LOST_POLICY` | `resend` or `fail` | `resend` |
//! | `MQTT_SEED` | u64, seeds jitter and the generated client id | `0` here; random in `jamey-mqtt` |
//! | `MQTT_RECONNECT` | boolean: reconnect after a failure | `true` |
//! | `MQTT_RECONNECT_INITIAL_DELAY` | duration > 0 | `100ms` |
//! | `MQTT_RECONNECT_MAX_DELAY` | duration >= initial delay | `30s` |
//! | `MQTT_RECONNECT_MULTIPLIER` | number >= 1 (`2`, `1.5`) | `2` |
//! | `MQTT_RECONNECT_JITTER` | `none`, `full`, `equal` or `decorrelated` | `full` |
//! | `MQTT_RECONNECT_MAX_FAILURES` | failures that open the circuit breaker, or `none` | `10` |
//! | `MQTT_RECONNECT_OPEN_DURATION` | duration the open breaker waits | `60s` |
//! | `MQTT_RECONNECT_MAX_ATTEMPTS` | attempts before giving up, or `none` | `none` |
//! | `MQTT_RECONNECT_STABLE_AFTER` | duration a connection must last to count as a success | `10s` |
//! | `MQTT_CONNECT_TIMEOUT` | duration > 0 until CONNACK | `10s` |
//! The JWT variables (`MQTT_JWT_*`) are read by `jamey-mqtt-auth` (`jamey_mqtt_auth::env`).
//!
//! The connection variables (`MQTT_HOST`, `MQTT_PORT`, `MQTT_TLS`, `MQTT_TLS_*`) are read by
//! `jamey-mqtt`'s `Config::from_env`; see its docs.

use std::time::Duration;

use bytes::Bytes;

use super::{ClientConfig, ConfigError, SessionLostPolicy};
use crate::endpoints::{BrokerOrder, Endpoint, Redirects};
use crate::packet::ProtocolVersion;
use crate::reconnect::Jitter;

/// The prefix [`ClientConfig::from_env_with`] callers usually pass.
pub const DEFAULT_PREFIX: &str = "MQTT_";

/// Every key [`ClientConfig::from_env_vars`] reads, without the prefix.
pub const KEYS: &[&str] = &[
    "BROKERS",
    "BROKER_ORDER",
    "REDIRECTS",
    "SHARED_SUBSCRIPTIONS",
    "PROTOCOL",
    "CLIENT_ID",
    "CLEAN_START",
    "BROKER_ASSIGNS_CLIENT_ID",
    "TOPIC_ALIAS_MAXIMUM",
    "AUTO_TOPIC_ALIAS",
    "SESSION_EXPIRY",
    "KEEP_ALIVE",
    "PING_TIMEOUT",
    "USERNAME",
    "PASSWORD",
    "MAX_INFLIGHT",
    "MAX_QUEUED",
    "MAX_BUFFERED_BYTES",
    "POISON_THRESHOLD",
    "UNMATCHED_CAPACITY",
    "MAX_PACKET_SIZE",
    "RECEIVE_MAXIMUM",
    "MANUAL_ACK",
    "SESSION_LOST_POLICY",
    "SEED",
    "RECONNECT",
    "RECONNECT_INITIAL_DELAY",
    "RECONNECT_MAX_DELAY",
    "RECONNECT_MULTIPLIER",
    "RECONNECT_JITTER",
    "RECONNECT_MAX_FAILURES",
    "RECONNECT_OPEN_DURATION",
    "RECONNECT_MAX_ATTEMPTS",
    "RECONNECT_STABLE_AFTER",
    "CONNECT_TIMEOUT",
];

/// Which variable sets each field `validate()` can complain about.
const FIELD_KEYS: &[(&str, &str)] = &[
    ("brokers", "BROKERS"),
    ("client_id", "CLIENT_ID"),
    ("broker_assigns_client_id", "BROKER_ASSIGNS_CLIENT_ID"),
    ("topic_alias_maximum", "TOPIC_ALIAS_MAXIMUM"),
    ("auto_topic_alias", "AUTO_TOPIC_ALIAS"),
    ("session_expiry_interval", "SESSION_EXPIRY"),
    ("keep_alive", "KEEP_ALIVE"),
    ("ping_timeout", "PING_TIMEOUT"),
    ("password", "PASSWORD"),
    ("max_inflight", "MAX_INFLIGHT"),
    ("max_queued", "MAX_QUEUED"),
    ("max_buffered_bytes", "MAX_BUFFERED_BYTES"),
    ("poison_threshold", "POISON_THRESHOLD"),
    ("unmatched_capacity", "UNMATCHED_CAPACITY"),
    ("receive_maximum", "RECEIVE_MAXIMUM"),
    ("max_incoming_packet_size", "MAX_PACKET_SIZE"),
    ("max_outgoing_packet_size", "MAX_PACKET_SIZE"),
    ("reconnect.initial_delay", "RECONNECT_INITIAL_DELAY"),
    ("reconnect.max_delay", "RECONNECT_MAX_DELAY"),
    ("reconnect.multiplier", "RECONNECT_MULTIPLIER"),
    ("reconnect.connect_timeout", "CONNECT_TIMEOUT"),
    ("reconnect.max_failures", "RECONNECT_MAX_FAILURES"),
    ("reconnect.open_duration", "RECONNECT_OPEN_DURATION"),
    ("reconnect.max_attempts", "RECONNECT_MAX_ATTEMPTS"),
    ("reconnect.stable_after", "RECONNECT_STABLE_AFTER"),
];

const DURATION: &str = "a duration like 30s, 500ms or 2m";

type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;
type ReadFile<'a> = Box<dyn Fn(&str) -> Result<Vec<u8>, String> + 'a>;

/// A view of environment variables under one prefix: a lookup closure, an optional file reader,
/// and parsers whose errors name the variable.
///
/// Values are read on demand and never stored, so nothing here can leak a secret through
/// `Debug`.
pub struct EnvVars<'a> {
    prefix: String,
    lookup: Lookup<'a>,
    read_file: Option<ReadFile<'a>>,
}

impl<'a> EnvVars<'a> {
    /// Variables named `prefix` + key, looked up with `lookup` (`None`: unset).
    pub fn new(
        prefix: impl Into<String>,
        lookup: impl Fn(&str) -> Option<String> + 'a,
    ) -> EnvVars<'a> {
        EnvVars {
            prefix: prefix.into(),
            lookup: Box::new(lookup),
            read_file: None,
        }
    }

    /// Let `*_FILE` variables be read with `read(path)`; its error text should say why (it is
    /// shown after the path). Without a reader, a set `*_FILE` variable is an error.
    pub fn with_file_reader(
        mut self,
        read: impl Fn(&str) -> Result<Vec<u8>, String> + 'a,
    ) -> EnvVars<'a> {
        self.read_file = Some(Box::new(read));
        self
    }

    /// The prefix, e.g. `MQTT_`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The full variable name for `key`: `name("PORT")` is `MQTT_PORT`.
    pub fn name(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// A [`ConfigError`] naming the variable for `key`.
    pub fn error(&self, key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::new(self.name(key), reason)
    }

    /// The value of `key`, or `None` when it is unset, empty or only whitespace. Not trimmed.
    /// Use this for secrets too: it never formats the value.
    pub fn string(&self, key: &str) -> Option<String> {
        (self.lookup)(&self.name(key)).filter(|v| !v.trim().is_empty())
    }

    /// Whether `key` holds a value (see [`string`](Self::string)).
    pub fn is_set(&self, key: &str) -> bool {
        self.string(key).is_some()
    }

    /// Parse the trimmed value of `key` with `parse`; `None` from `parse` is an error saying
    /// `expected {expected}, got "{value}"`. Never use this for a secret.
    pub fn parse<T>(
        &self,
        key: &str,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(value) = self.string(key) else {
            return Ok(None);
        };
        let value = value.trim();
        match parse(value) {
            Some(v) => Ok(Some(v)),
            None => Err(self.error(key, format!("expected {expected}, got {value:?}"))),
        }
    }

    /// A boolean: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`, any case.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        self.parse(key, "true or false (or 1/0, yes/no, on/off)", parse_bool)
    }

    /// A duration: `500ms`, `30s`, `2m`, `1h` or a bare number of seconds.
    pub fn duration(&self, key: &str) -> Result<Option<Duration>, ConfigError> {
        self.parse(key, DURATION, parse_duration)
    }

    /// A whole number from 0 to `T`'s maximum.
    pub fn uint<T: EnvUint>(&self, key: &str) -> Result<Option<T>, ConfigError> {
        let expected = format!("a whole number from 0 to {}", T::MAX);
        self.parse(key, &expected, |v| {
            v.parse::<u64>()
                .ok()
                .filter(|n| *n <= T::MAX)
                .and_then(|n| T::try_from(n).ok())
        })
    }

    /// A comma-separated list; items are trimmed and empty items dropped.
    pub fn list(&self, key: &str) -> Option<Vec<String>> {
        let list: Vec<String> = self
            .string(key)?
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        (!list.is_empty()).then_some(list)
    }

    /// The path in `key` and the file's contents, read with the file reader. The error names
    /// the variable and the path, never the contents.
    pub fn file(&self, key: &str) -> Result<Option<(String, Vec<u8>)>, ConfigError> {
        let Some(path) = self.string(key) else {
            return Ok(None);
        };
        let Some(read) = &self.read_file else {
            return Err(self.error(
                key,
                "files cannot be read here (the core does no I/O): use jamey-mqtt's \
                 Config::from_env, or EnvVars::with_file_reader",
            ));
        };
        match read(&path) {
            Ok(contents) => Ok(Some((path, contents))),
            Err(why) => Err(self.error(key, format!("cannot read {path:?}: {why}"))),
        }
    }

    /// Rename a `validate()` error's field to the variable that sets it, if there is one.
    fn rename(&self, err: ConfigError) -> ConfigError {
        match FIELD_KEYS.iter().find(|(field, _)| *field == err.field) {
            Some((_, key)) => self.error(key, err.reason),
            None => err,
        }
    }
}

/// The unsigned integer types [`EnvVars::uint`] reads.
pub trait EnvUint: TryFrom<u64> {
    /// The largest value, as a `u64`.
    const MAX: u64;
}

impl EnvUint for u16 {
    const MAX: u64 = u16::MAX as u64;
}
impl EnvUint for u32 {
    const MAX: u64 = u32::MAX as u64;
}
impl EnvUint for u64 {
    const MAX: u64 = u64::MAX;
}
impl EnvUint for usize {
    const MAX: u64 = usize::MAX as u64;
}

/// `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`, any case.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// `500ms`, `30s`, `2m`, `1h` (unit in any case, a space before it allowed) or bare seconds.
/// `None` for anything else, including fractions and overflow.
pub fn parse_duration(value: &str) -> Option<Duration> {
    let value = value.trim();
    let digits = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(digits);
    let n: u64 = number.parse().ok()?;
    match unit.trim().to_ascii_lowercase().as_str() {
        "ms" => Some(Duration::from_millis(n)),
        "" | "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(60 * 60).map(Duration::from_secs),
        _ => None,
    }
}

fn parse_protocol(value: &str) -> Option<ProtocolVersion> {
    match value.to_ascii_lowercase().trim_start_matches('v') {
        "3.1.1" | "311" | "4" => Some(ProtocolVersion::V311),
        "5" | "5.0" => Some(ProtocolVersion::V5),
        _ => None,
    }
}

fn parse_jitter(value: &str) -> Option<Jitter> {
    match value.to_ascii_lowercase().as_str() {
        "none" => Some(Jitter::None),
        "full" => Some(Jitter::Full),
        "equal" => Some(Jitter::Equal),
        "decorrelated" => Some(Jitter::Decorrelated),
        _ => None,
    }
}

/// `none`/`off` (`None`), or a whole number.
fn parse_optional_u32(value: &str) -> Option<Option<u32>> {
    match value.to_ascii_lowercase().as_str() {
        "none" | "off" => Some(None),
        n => n.parse().ok().map(Some),
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

impl ClientConfig {
    /// Read the configuration from variables named `prefix` + key (see the
    /// [module docs](self) for the keys), looked up with `lookup`, then
    /// [`validate`](Self::validate) it. Unset variables keep the defaults; every error names the
    /// variable.
    ///
    /// The core never reads the process environment: pass `|name| std::env::var(name).ok()`
    /// yourself, or use `jamey-mqtt`'s `Config::from_env`, which also reads files
    /// (`MQTT_JWT_PRIVATE_KEY_FILE` is an error here) and the connection variables.
    ///
    /// ```
    /// # use std::collections::HashMap;
    /// # use jamey_mqtt_core::ClientConfig;
    /// let vars = HashMap::from([("MQTT_KEEP_ALIVE", "1m"), ("MQTT_PROTOCOL", "5")]);
    /// let config = ClientConfig::from_env_with("MQTT_", |name| vars.get(name).map(|v| v.to_string()))?;
    /// assert_eq!(config.keep_alive.as_secs(), 60);
    ///
    /// let vars = HashMap::from([("MQTT_KEEP_ALIVE", "soon")]);
    /// let err = ClientConfig::from_env_with("MQTT_", |name| vars.get(name).map(|v| v.to_string()))
    ///     .unwrap_err();
    /// assert_eq!(err.field, "MQTT_KEEP_ALIVE");
    /// # Ok::<(), jamey_mqtt_core::ConfigError>(())
    /// ```
    pub fn from_env_with(
        prefix: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<ClientConfig, ConfigError> {
        ClientConfig::from_env_vars(&EnvVars::new(prefix, lookup))
    }

    /// Like [`from_env_with`](Self::from_env_with), over an [`EnvVars`] (which may carry a file
    /// reader for `MQTT_JWT_PRIVATE_KEY_FILE`).
    pub fn from_env_vars(env: &EnvVars<'_>) -> Result<ClientConfig, ConfigError> {
        let mut c = ClientConfig::default();
        set(
            &mut c.protocol,
            env.parse("PROTOCOL", "3.1.1 or 5", parse_protocol)?,
        );
        set(&mut c.client_id, env.string("CLIENT_ID"));
        set(&mut c.clean_start, env.bool("CLEAN_START")?);
        set(&mut c.topic_alias_maximum, env.uint("TOPIC_ALIAS_MAXIMUM")?);
        set(&mut c.auto_topic_alias, env.bool("AUTO_TOPIC_ALIAS")?);
        set(
            &mut c.broker_assigns_client_id,
            env.bool("BROKER_ASSIGNS_CLIENT_ID")?,
        );
        c.session_expiry_interval = match env.parse(
            "SESSION_EXPIRY",
            "whole seconds like 3600 or 1h, or never",
            |v| match v.to_ascii_lowercase().as_str() {
                "never" => Some(u32::MAX),
                _ => parse_duration(v)
                    .filter(|d| d.subsec_nanos() == 0)
                    .and_then(|d| u32::try_from(d.as_secs()).ok()),
            },
        )? {
            Some(secs) => Some(secs),
            None => c.session_expiry_interval,
        };
        set(&mut c.keep_alive, env.duration("KEEP_ALIVE")?);
        c.ping_timeout = env.duration("PING_TIMEOUT")?.or(c.ping_timeout);
        c.username = env.string("USERNAME");
        c.password = env.string("PASSWORD").map(Bytes::from);
        set(&mut c.max_inflight, env.uint("MAX_INFLIGHT")?);
        set(&mut c.max_queued, env.uint("MAX_QUEUED")?);
        set(&mut c.max_buffered_bytes, env.uint("MAX_BUFFERED_BYTES")?);
        set(&mut c.poison_threshold, env.uint("POISON_THRESHOLD")?);
        set(&mut c.unmatched_capacity, env.uint("UNMATCHED_CAPACITY")?);
        if let Some(size) = env.uint("MAX_PACKET_SIZE")? {
            c.max_incoming_packet_size = size;
            c.max_outgoing_packet_size = size;
        }
        set(&mut c.receive_maximum, env.uint("RECEIVE_MAXIMUM")?);
        set(&mut c.manual_ack, env.bool("MANUAL_ACK")?);
        set(
            &mut c.session_lost_policy,
            env.parse("SESSION_LOST_POLICY", "resend or fail", |v| {
                match v.to_ascii_lowercase().as_str() {
                    "resend" => Some(SessionLostPolicy::ResendAsNew),
                    "fail" => Some(SessionLostPolicy::FailInFlight),
                    _ => None,
                }
            })?,
        );
        set(&mut c.seed, env.uint("SEED")?);
        set(
            &mut c.shared_subscriptions,
            env.bool("SHARED_SUBSCRIPTIONS")?,
        );
        if let Some(list) = env.list("BROKERS") {
            // Without a port: MQTT's, or MQTT over TLS's when `MQTT_TLS` (read by jamey-mqtt)
            // is true.
            let default_port = if env.bool("TLS")?.unwrap_or(false) {
                8883
            } else {
                1883
            };
            c.brokers.endpoints = list
                .iter()
                .map(|item| Endpoint::parse(item, default_port))
                .collect::<Result<_, _>>()
                .map_err(|why| env.error("BROKERS", why))?;
        }
        set(
            &mut c.brokers.order,
            env.parse("BROKER_ORDER", "in-order or shuffled", |v| {
                match v.to_ascii_lowercase().replace('_', "-").as_str() {
                    "in-order" => Some(BrokerOrder::InOrder),
                    "shuffled" => Some(BrokerOrder::Shuffled),
                    _ => None,
                }
            })?,
        );
        set(
            &mut c.brokers.redirects,
            env.parse("REDIRECTS", "ignore, listed or any", |v| {
                match v.to_ascii_lowercase().as_str() {
                    "ignore" => Some(Redirects::Ignore),
                    "listed" => Some(Redirects::Listed),
                    "any" => Some(Redirects::Any),
                    _ => None,
                }
            })?,
        );

        let r = &mut c.reconnect;
        set(&mut r.enabled, env.bool("RECONNECT")?);
        set(
            &mut r.initial_delay,
            env.duration("RECONNECT_INITIAL_DELAY")?,
        );
        set(&mut r.max_delay, env.duration("RECONNECT_MAX_DELAY")?);
        set(&mut r.stable_after, env.duration("RECONNECT_STABLE_AFTER")?);
        set(
            &mut r.multiplier,
            env.parse("RECONNECT_MULTIPLIER", "a number like 2 or 1.5", |v| {
                v.parse().ok()
            })?,
        );
        set(
            &mut r.jitter,
            env.parse(
                "RECONNECT_JITTER",
                "none, full, equal or decorrelated",
                parse_jitter,
            )?,
        );
        let count = "a whole number, or none";
        set(
            &mut r.max_failures,
            env.parse("RECONNECT_MAX_FAILURES", count, parse_optional_u32)?,
        );
        set(
            &mut r.open_duration,
            env.duration("RECONNECT_OPEN_DURATION")?,
        );
        set(
            &mut r.max_attempts,
            env.parse("RECONNECT_MAX_ATTEMPTS", count, parse_optional_u32)?,
        );
        set(&mut r.connect_timeout, env.duration("CONNECT_TIMEOUT")?);

        c.validate().map_err(|e| env.rename(e))?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests;
