//! [`Config::from_env`]: the whole client configuration from environment variables.
//!
//! This module owns the I/O half of configuration from the environment: reading the process
//! environment (`std::env`) and the files the variables name (TLS PEMs, a JWT private key), and
//! the connection variables (host, port, TLS, buffer sizes). The MQTT settings, their names,
//! parsing and errors are the core's ([`jamey_mqtt_core::config::env`], which never reads the
//! environment itself); the variables here use the same [`EnvVars`] helpers and rules: prefix
//! `MQTT_` by default, empty means unset, and every error is a [`ConfigError`] naming the
//! variable and never echoing a secret.
//!
//! # Variables read here (besides the core's)
//!
//! | variable | value | default |
//! |---|---|---|
//! | `MQTT_HOST` | broker host name or IP address (not with `MQTT_BROKERS`) | `localhost` |
//! | `MQTT_PORT` | 1..=65535 (not with `MQTT_BROKERS`) | `1883`, or `8883` with TLS |
//! | `MQTT_TLS` | boolean: connect with TLS 1.3 | `false` |
//! | `MQTT_TLS_CA_FILE` | PEM file of the CAs to trust (re-read on each connect) | the platform's roots |
//! | `MQTT_TLS_CLIENT_CERT_FILE` | PEM certificate chain for mutual TLS (leaf first) | none |
//! | `MQTT_TLS_CLIENT_KEY_FILE` | PEM private key of that certificate | none |
//! | `MQTT_TLS_SERVER_NAME` | name the server certificate must match (and SNI), for every endpoint without its own | the host |
//! | `MQTT_SUBSCRIPTION_CAPACITY` | messages buffered per subscription | `256` |
//! | `MQTT_COMMAND_CAPACITY` | requests queued for the driver | `96` |
//! | `MQTT_EVENT_CAPACITY` | events buffered per event stream | `64` |
//!
//! A broker list (`MQTT_BROKERS`, the core's) replaces `MQTT_HOST` and `MQTT_PORT`: setting
//! both is an error. `MQTT_TLS_*` variables without `MQTT_TLS=true` are an error, as is a client certificate
//! without its key (or the reverse). The files are read and checked when the config is built,
//! so a missing or malformed file fails at startup, naming its variable; with a CA file the
//! whole TLS configuration is built once as well (a key that does not match its certificate
//! fails here, not at the first connect).
//!
//! When `MQTT_SEED` is unset, the seed is random (per process), so clients started from the
//! same environment get different generated client ids and different reconnect jitter.

use std::hash::{BuildHasher, RandomState};
use std::time::SystemTime;

use jamey_mqtt_core::config::env::{EnvVars, DEFAULT_PREFIX};
#[cfg(feature = "tls")]
use jamey_mqtt_core::tls::{server_name, TlsConfig, TlsError};
use jamey_mqtt_core::{ClientConfig, ConfigError, Endpoint};

use crate::config::Config;
#[cfg(feature = "tls")]
use crate::config::{Roots, TlsOptions};

/// Every key this module reads (without the prefix); the core's are in
/// [`jamey_mqtt_core::config::env::KEYS`].
pub const KEYS: &[&str] = &[
    "HOST",
    "PORT",
    "TLS",
    "TLS_CA_FILE",
    "TLS_CLIENT_CERT_FILE",
    "TLS_CLIENT_KEY_FILE",
    "TLS_SERVER_NAME",
    "SUBSCRIPTION_CAPACITY",
    "COMMAND_CAPACITY",
    "EVENT_CAPACITY",
];

/// The variables that only mean something with `MQTT_TLS=true`.
const TLS_KEYS: &[&str] = &[
    "TLS_CA_FILE",
    "TLS_CLIENT_CERT_FILE",
    "TLS_CLIENT_KEY_FILE",
    "TLS_SERVER_NAME",
];

impl Config {
    /// The configuration from the process environment, variables prefixed `MQTT_`. See the
    /// tables in [`jamey_mqtt_core::config::env`] (MQTT settings) and this crate's README.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_env_prefixed(DEFAULT_PREFIX)
    }

    /// Like [`from_env`](Self::from_env), with variables named `prefix` + key (e.g. `APP_MQTT_`).
    ///
    /// A variable under the prefix whose value is not valid UTF-8 is an error, not "unset".
    pub fn from_env_prefixed(prefix: &str) -> Result<Config, ConfigError> {
        for (name, value) in std::env::vars_os() {
            if let Some(name) = name.to_str() {
                if name.starts_with(prefix) && value.to_str().is_none() {
                    return Err(ConfigError::new(name.to_owned(), "is not valid UTF-8"));
                }
            }
        }
        Config::from_env_with(prefix, |name| std::env::var(name).ok())
    }

    /// Like [`from_env_prefixed`](Self::from_env_prefixed), with the variables from `lookup`
    /// instead of the process environment (files are still read from disk).
    pub fn from_env_with(
        prefix: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let env = EnvVars::new(prefix, lookup)
            .with_file_reader(|path| std::fs::read(path).map_err(|e| e.to_string()));
        let mut mqtt = ClientConfig::from_env_vars(&env)?;
        if !env.is_set("SEED") {
            mqtt.seed = random_seed();
        }
        let listed = env.is_set("BROKERS");
        if listed {
            if let Some(key) = ["HOST", "PORT"].into_iter().find(|k| env.is_set(k)) {
                return Err(env.error(
                    key,
                    format!(
                        "set together with {}: use one or the other",
                        env.name("BROKERS")
                    ),
                ));
            }
        }
        let host = env.string("HOST").unwrap_or_else(|| "localhost".into());
        #[cfg(feature = "tls")]
        let tls = tls(&env, &mqtt.brokers.endpoints, listed.then_some("BROKERS"))?;
        #[cfg(not(feature = "tls"))]
        no_tls(&env)?;
        if !listed {
            #[cfg(feature = "tls")]
            let default_port = if tls.is_some() { 8883 } else { 1883 };
            #[cfg(not(feature = "tls"))]
            let default_port = 1883;
            let port = env.uint::<u16>("PORT")?.unwrap_or(default_port);
            if port == 0 {
                return Err(env.error("PORT", "must be from 1 to 65535"));
            }
            mqtt.brokers.endpoints = vec![Endpoint::new(host, port)];
            #[cfg(feature = "tls")]
            if let Some(options) = &tls {
                options
                    .name_for(&mqtt.brokers.endpoints[0], true)
                    .map_err(|e| {
                        env.error(
                            "HOST",
                            format!("{e}: with TLS, set {}", env.name("TLS_SERVER_NAME")),
                        )
                    })?;
            }
        }
        let mut config = Config::brokers(mqtt.brokers.clone()).mqtt(mqtt);
        #[cfg(feature = "tls")]
        {
            config.tls = tls;
        }
        #[cfg(feature = "jwt")]
        {
            config.auth = jamey_mqtt_auth::env::from_env(&env)?;
        }
        for (key, slot) in [
            ("SUBSCRIPTION_CAPACITY", &mut config.subscription_capacity),
            ("COMMAND_CAPACITY", &mut config.command_capacity),
            ("EVENT_CAPACITY", &mut config.event_capacity),
        ] {
            if let Some(n) = env.uint(key)? {
                *slot = n;
            }
        }
        Ok(config)
    }
}

/// Without the `tls` feature: `MQTT_TLS=true` or any `MQTT_TLS_*` is an error, never a silent
/// plain-TCP connection.
#[cfg(not(feature = "tls"))]
fn no_tls(env: &EnvVars<'_>) -> Result<(), ConfigError> {
    let wanted = env.bool("TLS")?.unwrap_or(false).then_some("TLS");
    match wanted.or_else(|| TLS_KEYS.iter().copied().find(|k| env.is_set(k))) {
        Some(key) => Err(env.error(
            key,
            "this build has no TLS support (the `tls` feature of jamey-mqtt is off)",
        )),
        None => Ok(()),
    }
}

/// The TLS options from `MQTT_TLS` and `MQTT_TLS_*`, with every file read and checked, and
/// every endpoint's server name (from `list_key`'s list, when set) checked.
#[cfg(feature = "tls")]
fn tls(
    env: &EnvVars<'_>,
    endpoints: &[Endpoint],
    list_key: Option<&str>,
) -> Result<Option<TlsOptions>, ConfigError> {
    if !env.bool("TLS")?.unwrap_or(false) {
        if let Some(key) = TLS_KEYS.iter().find(|k| env.is_set(k)) {
            return Err(env.error(
                key,
                format!(
                    "set, but {0} is not true: set {0}=true to use TLS",
                    env.name("TLS")
                ),
            ));
        }
        return Ok(None);
    }
    let mut options = match env.file("TLS_CA_FILE")? {
        Some((path, pem)) => {
            TlsConfig::from_ca_pem(&pem)
                .map_err(|e| env.error("TLS_CA_FILE", format!("{path:?}: {e}")))?;
            // Kept as a path so each connect re-reads it (a rotated CA is picked up).
            TlsOptions::new(Roots::CaFile(path.into()))
        }
        None => TlsOptions::platform(),
    };
    let cert = env.file("TLS_CLIENT_CERT_FILE")?;
    let key = env.file("TLS_CLIENT_KEY_FILE")?;
    let identity_error = |e: TlsError| match e {
        TlsError::InvalidClientKey(_) => env.error("TLS_CLIENT_KEY_FILE", e.to_string()),
        e => env.error("TLS_CLIENT_CERT_FILE", e.to_string()),
    };
    options = match (cert, key) {
        (Some((_, chain)), Some((_, key))) => options
            .client_identity_pem(&chain, &key)
            .map_err(identity_error)?,
        (Some(_), None) => return Err(missing(env, "TLS_CLIENT_KEY_FILE", "TLS_CLIENT_CERT_FILE")),
        (None, Some(_)) => return Err(missing(env, "TLS_CLIENT_CERT_FILE", "TLS_CLIENT_KEY_FILE")),
        (None, None) => options,
    };
    if let Some(name) = env.string("TLS_SERVER_NAME") {
        server_name(&name).map_err(|e| env.error("TLS_SERVER_NAME", e.to_string()))?;
        options = options.server_name(name);
    }
    if let Some(key) = list_key {
        for endpoint in endpoints {
            options.name_for(endpoint, true).map_err(|e| {
                env.error(
                    key,
                    format!("{endpoint}: {e}: give it a TLS server name (host:port/name)"),
                )
            })?;
        }
    }
    // Platform roots are loaded when connecting (reading the OS store is slow and may change);
    // with a CA file, build everything once now.
    if let Roots::CaFile(_) = options.roots {
        options.build_policy().map_err(|e| match e {
            TlsError::InvalidCa(_) | TlsError::NoCaCertificates => {
                env.error("TLS_CA_FILE", e.to_string())
            }
            TlsError::InvalidServerName(_) => env.error("TLS_SERVER_NAME", e.to_string()),
            e => identity_error(e),
        })?;
    }
    Ok(Some(options))
}

#[cfg(feature = "tls")]
fn missing(env: &EnvVars<'_>, key: &str, with: &str) -> ConfigError {
    env.error(key, format!("required with {}", env.name(with)))
}

/// A per-process random seed, from std's randomly keyed hasher (no RNG dependency).
fn random_seed() -> u64 {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    RandomState::new().hash_one((now, std::process::id()))
}

#[cfg(test)]
mod tests;
