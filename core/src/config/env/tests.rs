use std::collections::HashMap;
use std::time::Duration;

use super::*;
use crate::testing::{assert_config_error, env_lookup};

fn load(pairs: &[(&str, &str)]) -> Result<ClientConfig, ConfigError> {
    ClientConfig::from_env_with("MQTT_", env_lookup("MQTT_", pairs))
}

/// Loads with a file reader that finds no file.
fn load_with_files(pairs: &[(&str, &str)]) -> Result<ClientConfig, ConfigError> {
    let env = EnvVars::new("MQTT_", env_lookup("MQTT_", pairs))
        .with_file_reader(|_| Err("No such file or directory".into()));
    ClientConfig::from_env_vars(&env)
}

#[track_caller]
fn err(pairs: &[(&str, &str)]) -> ConfigError {
    match load_with_files(pairs) {
        Ok(c) => panic!("expected an error for {pairs:?}, got {c:?}"),
        Err(e) => e,
    }
}

#[track_caller]
fn assert_err(pairs: &[(&str, &str)], variable: &str, reason_contains: &str) {
    assert_config_error(load_with_files(pairs), variable, reason_contains);
}

#[test]
fn nothing_set_gives_the_defaults() {
    let c = load(&[]).unwrap();
    let d = ClientConfig::default();
    assert_eq!(format!("{c:?}"), format!("{d:?}"));
    assert!(c.token_auth.is_none());
}

#[test]
fn empty_and_blank_values_count_as_unset() {
    let c = load(&[("KEEP_ALIVE", ""), ("PORT", "  "), ("USERNAME", " ")]).unwrap();
    assert_eq!(c.keep_alive, Duration::from_secs(30));
    assert_eq!(c.username, None);
}

#[test]
fn every_core_variable_is_parsed() {
    let c = load(&[
        ("PROTOCOL", "5"),
        ("CLIENT_ID", "sensor-7"),
        ("CLEAN_START", "false"),
        ("SESSION_EXPIRY", "1h"),
        ("KEEP_ALIVE", "2m"),
        ("PING_TIMEOUT", "750ms"),
        ("USERNAME", "alice"),
        ("PASSWORD", "hunter2"),
        ("MAX_INFLIGHT", "20"),
        ("MAX_QUEUED", "5000"),
        ("MAX_PACKET_SIZE", "65536"),
        ("RECEIVE_MAXIMUM", "50"),
        ("MANUAL_ACK", "yes"),
        ("SESSION_LOST_POLICY", "fail"),
        ("SEED", "18446744073709551615"),
        ("RECONNECT", "on"),
        ("RECONNECT_INITIAL_DELAY", "250ms"),
        ("RECONNECT_MAX_DELAY", "1m"),
        ("RECONNECT_MULTIPLIER", "1.5"),
        ("RECONNECT_JITTER", "decorrelated"),
        ("RECONNECT_MAX_FAILURES", "3"),
        ("RECONNECT_OPEN_DURATION", "90s"),
        ("RECONNECT_MAX_ATTEMPTS", "12"),
        ("CONNECT_TIMEOUT", "5"),
    ])
    .unwrap();
    assert_eq!(c.protocol, ProtocolVersion::V5);
    assert_eq!(c.client_id, "sensor-7");
    assert!(!c.clean_start);
    assert_eq!(c.session_expiry_interval, Some(3600));
    assert_eq!(c.keep_alive, Duration::from_secs(120));
    assert_eq!(c.ping_timeout, Some(Duration::from_millis(750)));
    assert_eq!(c.username.as_deref(), Some("alice"));
    assert_eq!(c.password.as_deref(), Some(&b"hunter2"[..]));
    assert_eq!(c.max_inflight, 20);
    assert_eq!(c.max_queued, 5000);
    assert_eq!(c.max_incoming_packet_size, 65536);
    assert_eq!(c.max_outgoing_packet_size, 65536);
    assert_eq!(c.receive_maximum, 50);
    assert!(c.manual_ack);
    assert_eq!(c.session_lost_policy, SessionLostPolicy::FailInFlight);
    assert_eq!(c.seed, u64::MAX);
    let r = &c.reconnect;
    assert!(r.enabled);
    assert_eq!(r.initial_delay, Duration::from_millis(250));
    assert_eq!(r.max_delay, Duration::from_secs(60));
    assert_eq!(r.multiplier, 1.5);
    assert_eq!(r.jitter, Jitter::Decorrelated);
    assert_eq!(r.max_failures, Some(3));
    assert_eq!(r.open_duration, Duration::from_secs(90));
    assert_eq!(r.max_attempts, Some(12));
    assert_eq!(r.connect_timeout, Duration::from_secs(5));
}

#[test]
fn other_spellings_of_enums_and_options() {
    let c = load(&[
        ("PROTOCOL", "3.1.1"),
        ("SESSION_LOST_POLICY", "RESEND"),
        ("RECONNECT", "no"),
        ("RECONNECT_JITTER", "None"),
        ("RECONNECT_MAX_FAILURES", "none"),
        ("RECONNECT_MAX_ATTEMPTS", "off"),
    ])
    .unwrap();
    assert_eq!(c.protocol, ProtocolVersion::V311);
    assert_eq!(c.session_lost_policy, SessionLostPolicy::ResendAsNew);
    assert!(!c.reconnect.enabled);
    assert_eq!(c.reconnect.jitter, Jitter::None);
    assert_eq!(c.reconnect.max_failures, None);
    assert_eq!(c.reconnect.max_attempts, None);
    for (spelling, version) in [
        ("311", ProtocolVersion::V311),
        ("4", ProtocolVersion::V311),
        ("v3.1.1", ProtocolVersion::V311),
        ("5.0", ProtocolVersion::V5),
        ("V5", ProtocolVersion::V5),
    ] {
        assert_eq!(load(&[("PROTOCOL", spelling)]).unwrap().protocol, version);
    }
    for (spelling, jitter) in [("full", Jitter::Full), ("EQUAL", Jitter::Equal)] {
        let c = load(&[("RECONNECT_JITTER", spelling)]).unwrap();
        assert_eq!(c.reconnect.jitter, jitter);
    }
}

#[test]
fn durations_in_every_accepted_spelling() {
    for (text, expected) in [
        ("30", Duration::from_secs(30)),
        ("30s", Duration::from_secs(30)),
        ("30S", Duration::from_secs(30)),
        (" 30 s ", Duration::from_secs(30)),
        ("500ms", Duration::from_millis(500)),
        ("500MS", Duration::from_millis(500)),
        ("2m", Duration::from_secs(120)),
        ("1h", Duration::from_secs(3600)),
        ("0", Duration::ZERO),
    ] {
        assert_eq!(parse_duration(text), Some(expected), "{text:?}");
    }
    for text in [
        "", "s", "abc", "1.5s", "-1s", "30 sec", "1d", "5 m s", "1m30s", "+5s",
    ] {
        assert_eq!(parse_duration(text), None, "{text:?}");
    }
    assert_eq!(parse_duration("18446744073709551615m"), None, "overflow");
}

#[test]
fn booleans_in_every_accepted_spelling() {
    for t in ["true", "TRUE", "True", "1", "yes", "YES", "on", "On"] {
        assert_eq!(parse_bool(t), Some(true), "{t}");
        assert!(load(&[("CLEAN_START", t)]).unwrap().clean_start);
    }
    for f in ["false", "FALSE", "0", "no", "No", "off", "OFF"] {
        assert_eq!(parse_bool(f), Some(false), "{f}");
        assert!(!load(&[("CLEAN_START", f)]).unwrap().clean_start);
    }
    for bad in ["2", "y", "n", "enabled", "truee"] {
        assert_eq!(parse_bool(bad), None, "{bad}");
    }
}

#[test]
fn bad_values_name_the_variable_and_say_why() {
    assert_err(
        &[("KEEP_ALIVE", "abc")],
        "MQTT_KEEP_ALIVE",
        r#"expected a duration like 30s, 500ms or 2m, got "abc""#,
    );
    assert_err(
        &[("PROTOCOL", "6")],
        "MQTT_PROTOCOL",
        r#"expected 3.1.1 or 5, got "6""#,
    );
    assert_err(
        &[("CLEAN_START", "maybe")],
        "MQTT_CLEAN_START",
        r#"expected true or false (or 1/0, yes/no, on/off), got "maybe""#,
    );
    assert_err(
        &[("MAX_INFLIGHT", "70000")],
        "MQTT_MAX_INFLIGHT",
        r#"expected a whole number from 0 to 65535, got "70000""#,
    );
    assert_err(
        &[("MAX_INFLIGHT", "-1")],
        "MQTT_MAX_INFLIGHT",
        "whole number",
    );
    assert_err(&[("MAX_QUEUED", "lots")], "MQTT_MAX_QUEUED", "whole number");
    assert_err(
        &[("MAX_PACKET_SIZE", "1.5")],
        "MQTT_MAX_PACKET_SIZE",
        "whole number",
    );
    assert_err(
        &[("RECEIVE_MAXIMUM", "x")],
        "MQTT_RECEIVE_MAXIMUM",
        "whole number",
    );
    assert_err(&[("SEED", "-5")], "MQTT_SEED", "whole number");
    assert_err(
        &[("SESSION_EXPIRY", "1500ms")],
        "MQTT_SESSION_EXPIRY",
        "whole seconds",
    );
    assert_err(
        &[("SESSION_LOST_POLICY", "drop")],
        "MQTT_SESSION_LOST_POLICY",
        "resend or fail",
    );
    assert_err(&[("PING_TIMEOUT", "1d")], "MQTT_PING_TIMEOUT", "duration");
    assert_err(
        &[("RECONNECT", "sometimes")],
        "MQTT_RECONNECT",
        "true or false",
    );
    for key in [
        "RECONNECT_INITIAL_DELAY",
        "RECONNECT_MAX_DELAY",
        "RECONNECT_OPEN_DURATION",
        "CONNECT_TIMEOUT",
    ] {
        assert_err(&[(key, "soon")], &format!("MQTT_{key}"), "duration");
    }
    assert_err(
        &[("RECONNECT_MULTIPLIER", "double")],
        "MQTT_RECONNECT_MULTIPLIER",
        "a number like 2 or 1.5",
    );
    assert_err(
        &[("RECONNECT_JITTER", "some")],
        "MQTT_RECONNECT_JITTER",
        "none, full, equal or decorrelated",
    );
    assert_err(
        &[("RECONNECT_MAX_FAILURES", "many")],
        "MQTT_RECONNECT_MAX_FAILURES",
        "a whole number, or none",
    );
    assert_err(
        &[("RECONNECT_MAX_ATTEMPTS", "-3")],
        "MQTT_RECONNECT_MAX_ATTEMPTS",
        "a whole number, or none",
    );
}

#[test]
fn validation_errors_are_renamed_to_the_variable() {
    assert_err(
        &[("KEEP_ALIVE", "500ms")],
        "MQTT_KEEP_ALIVE",
        "whole seconds",
    );
    assert_err(&[("KEEP_ALIVE", "19h")], "MQTT_KEEP_ALIVE", "65535");
    assert_err(&[("MAX_INFLIGHT", "0")], "MQTT_MAX_INFLIGHT", "at least 1");
    assert_err(&[("MAX_QUEUED", "0")], "MQTT_MAX_QUEUED", "at least 1");
    assert_err(
        &[("RECEIVE_MAXIMUM", "0")],
        "MQTT_RECEIVE_MAXIMUM",
        "at least 1",
    );
    assert_err(
        &[("PING_TIMEOUT", "0s")],
        "MQTT_PING_TIMEOUT",
        "greater than zero",
    );
    assert_err(
        &[("MAX_PACKET_SIZE", "8")],
        "MQTT_MAX_PACKET_SIZE",
        "between 16",
    );
    assert_err(
        &[("RECONNECT_INITIAL_DELAY", "0ms")],
        "MQTT_RECONNECT_INITIAL_DELAY",
        "greater than zero",
    );
    // The default max delay (30 s) is below this initial delay: the variable to fix is named.
    assert_err(
        &[("RECONNECT_INITIAL_DELAY", "1m")],
        "MQTT_RECONNECT_MAX_DELAY",
        "at least initial_delay",
    );
    assert_err(
        &[("RECONNECT_MULTIPLIER", "0.5")],
        "MQTT_RECONNECT_MULTIPLIER",
        "at least 1.0",
    );
    assert_err(
        &[("RECONNECT_MULTIPLIER", "NaN")],
        "MQTT_RECONNECT_MULTIPLIER",
        "finite",
    );
    assert_err(
        &[("CONNECT_TIMEOUT", "0")],
        "MQTT_CONNECT_TIMEOUT",
        "greater than zero",
    );
    assert_err(
        &[("RECONNECT_MAX_FAILURES", "0")],
        "MQTT_RECONNECT_MAX_FAILURES",
        "at least 1",
    );
    assert_err(
        &[("RECONNECT_OPEN_DURATION", "0s")],
        "MQTT_RECONNECT_OPEN_DURATION",
        "greater than zero",
    );
    assert_err(
        &[("RECONNECT_MAX_ATTEMPTS", "0")],
        "MQTT_RECONNECT_MAX_ATTEMPTS",
        "at least 1",
    );
    assert_err(&[("PASSWORD", "pw")], "MQTT_PASSWORD", "without a username");
    // MQTT 5 allows a password alone.
    assert!(load(&[("PASSWORD", "pw"), ("PROTOCOL", "5")]).is_ok());
}

#[test]
fn a_custom_prefix_is_used_in_names_and_errors() {
    let map = HashMap::from([("APP_MQTT_KEEP_ALIVE".to_string(), "x".to_string())]);
    let e = ClientConfig::from_env_with("APP_MQTT_", |n| map.get(n).cloned()).unwrap_err();
    assert_eq!(e.field, "APP_MQTT_KEEP_ALIVE");
    assert_eq!(
        e.to_string(),
        r#"invalid config `APP_MQTT_KEEP_ALIVE`: expected a duration like 30s, 500ms or 2m, got "x""#
    );
    // A variable under another prefix is not read.
    let map = HashMap::from([("MQTT_KEEP_ALIVE".to_string(), "x".to_string())]);
    assert!(ClientConfig::from_env_with("APP_MQTT_", |n| map.get(n).cloned()).is_ok());
}

#[test]
fn secrets_never_appear_in_errors_or_debug() {
    let e = err(&[("PASSWORD", "password-value-44"), ("KEEP_ALIVE", "0.5s")]);
    let text = format!("{e} {e:?}");
    assert!(
        !text.contains("password-value-44"),
        "{text} echoes a secret"
    );
    let c = load(&[("USERNAME", "u"), ("PASSWORD", "password-value-45")]).unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains("password-value-45"), "{debug}");
    assert!(debug.contains("password: Some(\"[redacted]\")"), "{debug}");
}

#[test]
fn the_env_helpers_name_the_variable() {
    let map = HashMap::from([
        ("X_PORT".to_string(), "99999".to_string()),
        ("X_LIST".to_string(), " a, ,b ,".to_string()),
        ("X_FILE".to_string(), "/etc/x".to_string()),
    ]);
    let env = EnvVars::new("X_", |n| map.get(n).cloned());
    assert_eq!(env.prefix(), "X_");
    assert_eq!(env.name("PORT"), "X_PORT");
    assert_eq!(env.uint::<u16>("PORT").unwrap_err().field, "X_PORT");
    assert_eq!(env.uint::<u32>("PORT").unwrap(), Some(99999));
    assert_eq!(env.uint::<u16>("UNSET").unwrap(), None);
    assert_eq!(env.list("LIST").unwrap(), ["a", "b"]);
    assert_eq!(env.file("FILE").unwrap_err().field, "X_FILE");
    assert_eq!(env.file("UNSET").unwrap(), None);
}

/// Every variable is documented in the module table and in the README.
#[test]
fn every_variable_is_documented() {
    let module_doc = include_str!("../env.rs");
    let readme = include_str!("../../../../README.md");
    for key in KEYS {
        let row = format!("| `MQTT_{key}` |");
        assert!(module_doc.contains(&row), "module doc lacks {row}");
        assert!(readme.contains(&row), "README lacks {row}");
    }
}

#[test]
fn session_expiry_never_and_mqtt5_only() {
    let c = load(&[("PROTOCOL", "5.0"), ("SESSION_EXPIRY", "never")]).unwrap();
    assert_eq!(c.session_expiry_interval, Some(u32::MAX));
    // 3.1.1 has no session expiry: refused, naming the variable, rather than ignored.
    assert_err(
        &[("PROTOCOL", "3.1.1"), ("SESSION_EXPIRY", "1h")],
        "MQTT_SESSION_EXPIRY",
        "MQTT 5 only",
    );
    assert_err(
        &[("SESSION_EXPIRY", "60")],
        "MQTT_SESSION_EXPIRY",
        "MQTT 5 only",
    );
}
