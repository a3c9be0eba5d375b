//! The plugin's settings, read from the `plugin_opt_<key> <value>` lines that follow its
//! `plugin` line in mosquitto.conf (Mosquitto hands them over without the `plugin_opt_` prefix).
//!
//! | key | value | default |
//! |---|---|---|
//! | `secret` | HMAC secret, the text as written | one key option is required |
//! | `secret_file` | file holding the HMAC secret (one trailing newline ignored) | |
//! | `public_key_file` | PEM public key (RSA, EC or Ed25519) | |
//! | `algorithms` | comma-separated JWT algorithms, e.g. `HS256` or `RS256,PS256` | `HS256` with a secret; required with a public key |
//! | `issuer` | required `iss` | not checked |
//! | `audience` | required member of `aud` | a token naming an audience is refused |
//! | `leeway` | clock skew allowed on `exp`/`nbf`, whole seconds | `0` |
//! | `username_must_match_sub` | `true`/`false`: the MQTT username must equal `sub` | `true` |
//!
//! Anything else (an unknown key, two key options, a bad value) is an [`OptionError`]: the
//! plugin refuses to load and Mosquitto does not start, rather than run with weaker checks.

use std::str::FromStr;
use std::time::Duration;

use crate::rules::{Algorithm, AuthError, Validator};

/// What the plugin was configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Validates every token (key, algorithms, issuer, audience, leeway).
    pub validator: Validator,
    /// Whether the MQTT username must equal the token's `sub`.
    pub username_must_match_sub: bool,
}

/// A `plugin_opt_*` line the plugin cannot use. Never shows a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    #[error("unknown option `plugin_opt_{0}`")]
    Unknown(String),
    #[error("option `plugin_opt_{0}` is given twice")]
    Repeated(String),
    #[error("one of `plugin_opt_secret`, `plugin_opt_secret_file` or `plugin_opt_public_key_file` is required (exactly one)")]
    Key,
    #[error("`plugin_opt_algorithms` is required with `plugin_opt_public_key_file`")]
    AlgorithmsRequired,
    #[error("option `plugin_opt_{key}`: {reason}")]
    Invalid { key: String, reason: String },
    #[error("cannot read `plugin_opt_{key}` file {path}: {reason}")]
    File {
        key: String,
        path: String,
        reason: String,
    },
    #[error("the key does not fit: {0}")]
    Validator(AuthError),
}

const KNOWN: [&str; 8] = [
    "secret",
    "secret_file",
    "public_key_file",
    "algorithms",
    "issuer",
    "audience",
    "leeway",
    "username_must_match_sub",
];

impl Settings {
    /// Reads the options (key, value pairs as Mosquitto gives them).
    pub fn from_options(options: &[(String, String)]) -> Result<Settings, OptionError> {
        let mut seen: Vec<&str> = Vec::new();
        for (key, _) in options {
            if !KNOWN.contains(&key.as_str()) {
                return Err(OptionError::Unknown(key.clone()));
            }
            if seen.contains(&key.as_str()) {
                return Err(OptionError::Repeated(key.clone()));
            }
            seen.push(key);
        }
        let get = |name: &str| {
            options
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim())
        };
        let algorithms = get("algorithms").map(parse_algorithms).transpose()?;
        let validator = match (get("secret"), get("secret_file"), get("public_key_file")) {
            (Some(secret), None, None) => Validator::from_secret(
                &algorithms.unwrap_or_else(|| vec![Algorithm::HS256]),
                secret.as_bytes(),
            ),
            (None, Some(path), None) => {
                let mut bytes = read("secret_file", path)?;
                if bytes.ends_with(b"\n") {
                    bytes.pop();
                    if bytes.ends_with(b"\r") {
                        bytes.pop();
                    }
                }
                Validator::from_secret(
                    &algorithms.unwrap_or_else(|| vec![Algorithm::HS256]),
                    &bytes,
                )
            }
            (None, None, Some(path)) => {
                let algorithms = algorithms.ok_or(OptionError::AlgorithmsRequired)?;
                Validator::from_pem(&algorithms, &read("public_key_file", path)?)
            }
            _ => return Err(OptionError::Key),
        }
        .map_err(OptionError::Validator)?;
        let mut validator = validator;
        if let Some(issuer) = get("issuer") {
            validator = validator.with_issuer(issuer);
        }
        if let Some(audience) = get("audience") {
            validator = validator.with_audience(audience);
        }
        if let Some(leeway) = get("leeway") {
            let secs: u64 = leeway.parse().map_err(|_| OptionError::Invalid {
                key: "leeway".into(),
                reason: format!("{leeway:?} is not a whole number of seconds"),
            })?;
            validator = validator.with_leeway(Duration::from_secs(secs));
        }
        let username_must_match_sub = match get("username_must_match_sub") {
            None | Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(OptionError::Invalid {
                    key: "username_must_match_sub".into(),
                    reason: format!("{other:?} is not `true` or `false`"),
                })
            }
        };
        Ok(Settings {
            validator,
            username_must_match_sub,
        })
    }
}

fn parse_algorithms(list: &str) -> Result<Vec<Algorithm>, OptionError> {
    let algorithms = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| {
            Algorithm::from_str(name).map_err(|_| OptionError::Invalid {
                key: "algorithms".into(),
                reason: format!("{name:?} is not a JWT algorithm"),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if algorithms.is_empty() {
        return Err(OptionError::Invalid {
            key: "algorithms".into(),
            reason: "no algorithm named".into(),
        });
    }
    Ok(algorithms)
}

fn read(key: &str, path: &str) -> Result<Vec<u8>, OptionError> {
    std::fs::read(path).map_err(|e| OptionError::File {
        key: key.into(),
        path: path.into(),
        reason: e.to_string(),
    })
}
