//! Helpers the tests of this crate and of `jamey-mqtt` share (the `internals` feature): reading
//! configuration from a fake environment, and checking the error a bad variable gives.
//! Not part of the API: no semver promise.

use std::collections::HashMap;

use crate::config::ConfigError;

/// A variable lookup over `pairs` (names without the prefix), as the `from_env_with`
/// functions take it: `pairs` are read under `prefix` and nothing else is set.
pub fn env_lookup(prefix: &str, pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(name, value)| (format!("{prefix}{name}"), (*value).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

/// Panics unless `result` is a [`ConfigError`] naming `variable` with a reason that contains
/// `reason_contains`.
#[track_caller]
pub fn assert_config_error<T: std::fmt::Debug>(
    result: Result<T, ConfigError>,
    variable: &str,
    reason_contains: &str,
) {
    let error = match result {
        Ok(value) => panic!("expected an error about {variable}, got {value:?}"),
        Err(error) => error,
    };
    assert_eq!(error.field, variable, "{error}");
    assert!(
        error.reason.contains(reason_contains),
        "reason {:?} lacks {reason_contains:?}",
        error.reason
    );
}
