//! The JWT variables (`MQTT_JWT_*`): which token source they describe, the signer and its
//! claims, and the combinations that cannot be right. Every error names its variable and never
//! contains a secret, key or token. The variables follow the core's rules
//! (`jamey_mqtt_core::config::env`: prefix, empty means unset, durations, booleans); the other
//! `MQTT_*` variables are read there and by `jamey-mqtt`.
//!
//! # Variables read here
//!
//! | variable | value | default |
//! |---|---|---|
//! | `MQTT_JWT_TOKEN` | secret: a static JWT sent as the password | none |
//! | `MQTT_JWT_SECRET` | secret: HMAC key (>= 32/48/64 bytes for HS256/384/512) | none |
//! | `MQTT_JWT_PRIVATE_KEY_FILE` | path to a PEM private key (RSA, EC, Ed25519) | none |
//! | `MQTT_JWT_ALGORITHM` | `HS256`..`HS512`, `RS*`, `PS*`, `ES256`, `ES384`, `EdDSA` | `HS256` with a secret; required with a key file |
//! | `MQTT_JWT_SUBJECT` | `sub` claim; required when signing | none |
//! | `MQTT_JWT_ISSUER` | `iss` claim | none |
//! | `MQTT_JWT_AUDIENCE` | `aud` claim; comma-separated for a list | none |
//! | `MQTT_JWT_TTL` | token lifetime, >= 1s | `1h` |
//! | `MQTT_JWT_PUBLISH` | comma-separated topic filters for the `permissions` claim | none |
//! | `MQTT_JWT_SUBSCRIBE` | comma-separated topic filters for the `permissions` claim | none |
//! | `MQTT_JWT_REFRESH_MARGIN` | refresh this long before `exp` | `60s` |
//! | `MQTT_JWT_REAUTHENTICATE` | boolean: MQTT 5 re-authentication with method `JWT` | `true` |
//!
//! Exactly one JWT source may be set: `MQTT_JWT_TOKEN`, `MQTT_JWT_SECRET` or
//! `MQTT_JWT_PRIVATE_KEY_FILE`. The claim variables (`ALGORITHM`, `SUBJECT`, `ISSUER`,
//! `AUDIENCE`, `TTL`, `PUBLISH`, `SUBSCRIBE`) only apply to the last two. Reading
//! `MQTT_JWT_PRIVATE_KEY_FILE` needs a file reader ([`EnvVars::with_file_reader`]); without one
//! it is an error, since the core does no I/O.
//!
//! `MQTT_USERNAME`, when set, is sent instead of the token's `sub`; `MQTT_PASSWORD` next to a
//! JWT source is an error (the token is the password).

use std::str::FromStr;
use std::time::Duration;

use jamey_mqtt_core::config::env::EnvVars;
use jamey_mqtt_core::config::ConfigError;
use jamey_mqtt_core::topic::TopicFilter;

use crate::{
    Algorithm, Audience, AuthConfig, AuthError, ClaimTemplate, IssuedToken, JwtSigner,
    PermissionClaims, TokenSource,
};

/// The token lifetime when `MQTT_JWT_TTL` is unset: one hour.
pub const DEFAULT_JWT_TTL: Duration = Duration::from_secs(60 * 60);

/// Every key [`from_env`] reads, without the prefix (`USERNAME` and `PASSWORD` are the core's).
pub const KEYS: &[&str] = &[
    "JWT_TOKEN",
    "JWT_SECRET",
    "JWT_PRIVATE_KEY_FILE",
    "JWT_ALGORITHM",
    "JWT_SUBJECT",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_TTL",
    "JWT_PUBLISH",
    "JWT_SUBSCRIBE",
    "JWT_REFRESH_MARGIN",
    "JWT_REAUTHENTICATE",
];

/// The variables that only mean something when the client signs its own tokens.
const SIGNER_KEYS: &[&str] = &[
    "JWT_ALGORITHM",
    "JWT_SUBJECT",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_TTL",
    "JWT_PUBLISH",
    "JWT_SUBSCRIBE",
];

fn parse_algorithm(value: &str) -> Option<Algorithm> {
    if value.eq_ignore_ascii_case("eddsa") {
        return Some(Algorithm::EdDSA);
    }
    Algorithm::from_str(&value.to_ascii_uppercase()).ok()
}

/// The JWT settings from the variables of `env`, or `None` when no JWT variable is set.
pub fn from_env(env: &EnvVars<'_>) -> Result<Option<AuthConfig>, ConfigError> {
    let token = env.string("JWT_TOKEN");
    let secret = env.string("JWT_SECRET");
    let key_file = env.is_set("JWT_PRIVATE_KEY_FILE");
    let both = |a: &str, b: &str| {
        env.error(
            a,
            format!("set together with {}: choose one JWT source", env.name(b)),
        )
    };
    if token.is_some() && secret.is_some() {
        return Err(both("JWT_TOKEN", "JWT_SECRET"));
    }
    if token.is_some() && key_file {
        return Err(both("JWT_TOKEN", "JWT_PRIVATE_KEY_FILE"));
    }
    if secret.is_some() && key_file {
        return Err(both("JWT_SECRET", "JWT_PRIVATE_KEY_FILE"));
    }

    let source = if let Some(token) = token {
        if let Some(key) = SIGNER_KEYS.iter().find(|k| env.is_set(k)) {
            return Err(env.error(
                key,
                format!(
                    "only applies when the client signs its own tokens, not with {}",
                    env.name("JWT_TOKEN")
                ),
            ));
        }
        // Read (not verified) now, so a token that is not a JWT fails at startup. The error
        // says what is wrong with it, never the token.
        IssuedToken::read_unverified(token.as_str())
            .map_err(|e| env.error("JWT_TOKEN", e.to_string()))?;
        TokenSource::fixed(token)
    } else if secret.is_some() || key_file {
        TokenSource::Signer(signer(env, secret)?)
    } else {
        let stray = SIGNER_KEYS
            .iter()
            .chain(&["JWT_REFRESH_MARGIN", "JWT_REAUTHENTICATE"])
            .find(|k| env.is_set(k));
        if let Some(key) = stray {
            return Err(env.error(
                key,
                format!(
                    "set, but there is no JWT source: set {}, {} or {}",
                    env.name("JWT_SECRET"),
                    env.name("JWT_PRIVATE_KEY_FILE"),
                    env.name("JWT_TOKEN")
                ),
            ));
        }
        return Ok(None);
    };

    if env.is_set("PASSWORD") {
        return Err(env.error(
            "PASSWORD",
            format!(
                "set together with JWT auth, which sends the token as the password: \
                 unset one of them ({} or {})",
                env.name("PASSWORD"),
                env.name("JWT_*")
            ),
        ));
    }
    let mut auth = AuthConfig::new(source);
    if let Some(margin) = env.duration("JWT_REFRESH_MARGIN")? {
        auth.refresh_margin = margin;
    }
    if let Some(reauthenticate) = env.bool("JWT_REAUTHENTICATE")? {
        auth.reauthenticate = reauthenticate;
    }
    if let Some(username) = env.string("USERNAME") {
        auth = auth.with_username(username);
    }
    auth.validate()
        .map_err(|e| env.error("JWT_REFRESH_MARGIN", e.to_string()))?;
    Ok(Some(auth))
}

/// A signer from `MQTT_JWT_SECRET` (given) or `MQTT_JWT_PRIVATE_KEY_FILE`, and the claims.
fn signer(env: &EnvVars<'_>, secret: Option<String>) -> Result<JwtSigner, ConfigError> {
    let algorithm = env.parse(
        "JWT_ALGORITHM",
        "one of HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA",
        parse_algorithm,
    )?;
    let template = template(env)?;
    // Keys are checked by the signer; its errors never contain key material.
    let key_error = |key: &str, e: AuthError| match e {
        AuthError::AlgorithmMismatch => env.error(
            "JWT_ALGORITHM",
            format!("{algorithm:?} does not fit the key in {}", env.name(key)),
        ),
        e => env.error(key, e.to_string()),
    };
    if let Some(secret) = secret {
        let algorithm = algorithm.unwrap_or(Algorithm::HS256);
        if !matches!(
            algorithm,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err(env.error(
                "JWT_ALGORITHM",
                format!(
                    "{algorithm:?} signs with a private key ({}); {} is for HS256, HS384 or HS512",
                    env.name("JWT_PRIVATE_KEY_FILE"),
                    env.name("JWT_SECRET")
                ),
            ));
        }
        return JwtSigner::from_secret(algorithm, secret.as_bytes(), template)
            .map_err(|e| key_error("JWT_SECRET", e));
    }
    let Some(algorithm) = algorithm else {
        return Err(env.error(
            "JWT_ALGORITHM",
            format!(
                "required with {} (RS256, PS256, ES256, EdDSA, ...)",
                env.name("JWT_PRIVATE_KEY_FILE")
            ),
        ));
    };
    if matches!(
        algorithm,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    ) {
        return Err(env.error(
            "JWT_ALGORITHM",
            format!(
                "{algorithm:?} signs with a shared secret ({}), not a private key file",
                env.name("JWT_SECRET")
            ),
        ));
    }
    let Some((_, pem)) = env.file("JWT_PRIVATE_KEY_FILE")? else {
        return Err(env.error("JWT_PRIVATE_KEY_FILE", "is not set"));
    };
    JwtSigner::from_pem(algorithm, &pem, template).map_err(|e| key_error("JWT_PRIVATE_KEY_FILE", e))
}

/// The claim template from `MQTT_JWT_SUBJECT`, `_ISSUER`, `_AUDIENCE`, `_TTL`, `_PUBLISH` and
/// `_SUBSCRIBE`, each checked against its own variable.
fn template(env: &EnvVars<'_>) -> Result<ClaimTemplate, ConfigError> {
    let Some(subject) = env.string("JWT_SUBJECT") else {
        return Err(env.error(
            "JWT_SUBJECT",
            "required when the client signs its own tokens (the `sub` claim)",
        ));
    };
    let ttl = env.duration("JWT_TTL")?.unwrap_or(DEFAULT_JWT_TTL);
    if ttl < Duration::from_secs(1) {
        return Err(env.error("JWT_TTL", "must be at least one second"));
    }
    let filters = |key: &str| -> Result<Vec<String>, ConfigError> {
        let list = env.list(key).unwrap_or_default();
        for filter in &list {
            TopicFilter::new(filter.as_str()).map_err(|e| {
                env.error(key, format!("{filter:?} is not a valid topic filter: {e}"))
            })?;
        }
        Ok(list)
    };
    let mut template = ClaimTemplate::new(subject, ttl).with_permissions(PermissionClaims {
        publish: filters("JWT_PUBLISH")?,
        subscribe: filters("JWT_SUBSCRIBE")?,
    });
    if let Some(issuer) = env.string("JWT_ISSUER") {
        template = template.with_issuer(issuer);
    }
    if let Some(mut audience) = env.list("JWT_AUDIENCE") {
        template = template.with_audience(if audience.len() == 1 {
            Audience::One(audience.remove(0))
        } else {
            Audience::Many(audience)
        });
    }
    Ok(template)
}

#[cfg(test)]
mod tests;
