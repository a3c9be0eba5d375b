use std::collections::HashMap;
use std::time::Duration;

use super::jwt::SIGNER_KEYS;
use super::*;
use crate::auth::{Algorithm, Audience, TokenSource};
use crate::testing::{assert_config_error, env_lookup};

const SECRET: &str = "0123456789abcdef0123456789abcdef";
const EC_KEY: &[u8] = include_bytes!("../../../tests/keys/ec_p256_private.pem");
/// A JWT whose payload is `{"sub":"dev-1","exp":4102444800}` (no signature check here).
const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZXYtMSIsImV4cCI6NDEwMjQ0NDgwMH0.c2ln";

fn load(pairs: &[(&str, &str)]) -> Result<ClientConfig, ConfigError> {
    ClientConfig::from_env_with("MQTT_", env_lookup("MQTT_", pairs))
}

/// Loads with a fake file system holding the test EC key at `/keys/ec.pem`.
fn load_with_files(pairs: &[(&str, &str)]) -> Result<ClientConfig, ConfigError> {
    let env =
        EnvVars::new("MQTT_", env_lookup("MQTT_", pairs)).with_file_reader(|path| match path {
            "/keys/ec.pem" => Ok(EC_KEY.to_vec()),
            "/keys/garbage.pem" => Ok(b"not a key".to_vec()),
            _ => Err("No such file or directory".into()),
        });
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
    assert!(c.auth.is_none());
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
        ("SESSION_EXPIRY", "never"),
        ("SESSION_LOST_POLICY", "RESEND"),
        ("RECONNECT", "no"),
        ("RECONNECT_JITTER", "None"),
        ("RECONNECT_MAX_FAILURES", "none"),
        ("RECONNECT_MAX_ATTEMPTS", "off"),
    ])
    .unwrap();
    assert_eq!(c.protocol, ProtocolVersion::V311);
    assert_eq!(c.session_expiry_interval, Some(u32::MAX));
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
    assert_err(
        &[
            ("JWT_SECRET", SECRET),
            ("JWT_SUBJECT", "a"),
            ("JWT_TTL", "a while"),
        ],
        "MQTT_JWT_TTL",
        "duration",
    );
    assert_err(
        &[
            ("JWT_SECRET", SECRET),
            ("JWT_SUBJECT", "a"),
            ("JWT_REFRESH_MARGIN", "x"),
        ],
        "MQTT_JWT_REFRESH_MARGIN",
        "duration",
    );
    assert_err(
        &[
            ("JWT_SECRET", SECRET),
            ("JWT_SUBJECT", "a"),
            ("JWT_ALGORITHM", "HS1"),
        ],
        "MQTT_JWT_ALGORITHM",
        r#"expected one of HS256"#,
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
fn jwt_with_a_secret_builds_a_signer_with_every_claim() {
    let c = load(&[
        ("JWT_SECRET", SECRET),
        ("JWT_SUBJECT", "dev-1"),
        ("JWT_ISSUER", "fleet"),
        ("JWT_AUDIENCE", "broker, ops"),
        ("JWT_TTL", "10m"),
        ("JWT_REFRESH_MARGIN", "30s"),
        ("JWT_PUBLISH", "sensors/dev-1/#, status/dev-1"),
        ("JWT_SUBSCRIBE", "commands/dev-1/+"),
        ("USERNAME", "device"),
    ])
    .unwrap();
    let auth = c.auth.unwrap();
    assert_eq!(auth.refresh_margin, Duration::from_secs(30));
    assert_eq!(auth.username.as_deref(), Some("device"));
    let TokenSource::Signer(signer) = &auth.source else {
        panic!("expected a signer, got {:?}", auth.source);
    };
    assert_eq!(signer.algorithm(), Algorithm::HS256);
    let t = signer.template();
    assert_eq!(t.sub, "dev-1");
    assert_eq!(t.iss.as_deref(), Some("fleet"));
    assert_eq!(
        t.aud,
        Some(Audience::Many(vec!["broker".into(), "ops".into()]))
    );
    assert_eq!(t.ttl, Duration::from_secs(600));
    assert_eq!(t.permissions.publish, ["sensors/dev-1/#", "status/dev-1"]);
    assert_eq!(t.permissions.subscribe, ["commands/dev-1/+"]);

    let one = load(&[
        ("JWT_SECRET", SECRET),
        ("JWT_SUBJECT", "d"),
        ("JWT_AUDIENCE", "broker"),
        ("JWT_ALGORITHM", "hs256"),
    ])
    .unwrap();
    let TokenSource::Signer(signer) = one.auth.unwrap().source else {
        panic!("expected a signer");
    };
    assert_eq!(signer.template().aud, Some(Audience::One("broker".into())));
    assert_eq!(signer.template().ttl, DEFAULT_JWT_TTL);
}

#[test]
fn jwt_with_a_private_key_file_needs_the_reader_and_an_algorithm() {
    let c = load_with_files(&[
        ("JWT_PRIVATE_KEY_FILE", "/keys/ec.pem"),
        ("JWT_ALGORITHM", "ES256"),
        ("JWT_SUBJECT", "dev-1"),
    ])
    .unwrap();
    let TokenSource::Signer(signer) = c.auth.unwrap().source else {
        panic!("expected a signer");
    };
    assert_eq!(signer.algorithm(), Algorithm::ES256);

    // The core alone does no I/O.
    let e = load(&[
        ("JWT_PRIVATE_KEY_FILE", "/keys/ec.pem"),
        ("JWT_ALGORITHM", "ES256"),
        ("JWT_SUBJECT", "dev-1"),
    ])
    .unwrap_err();
    assert_eq!(e.field, "MQTT_JWT_PRIVATE_KEY_FILE");
    assert!(e.reason.contains("no I/O"), "{e}");

    assert_err(
        &[
            ("JWT_PRIVATE_KEY_FILE", "/keys/ec.pem"),
            ("JWT_SUBJECT", "d"),
        ],
        "MQTT_JWT_ALGORITHM",
        "required with MQTT_JWT_PRIVATE_KEY_FILE",
    );
    assert_err(
        &[
            ("JWT_PRIVATE_KEY_FILE", "/keys/ec.pem"),
            ("JWT_ALGORITHM", "HS256"),
            ("JWT_SUBJECT", "d"),
        ],
        "MQTT_JWT_ALGORITHM",
        "shared secret",
    );
    assert_err(
        &[
            ("JWT_PRIVATE_KEY_FILE", "/keys/missing.pem"),
            ("JWT_ALGORITHM", "ES256"),
            ("JWT_SUBJECT", "d"),
        ],
        "MQTT_JWT_PRIVATE_KEY_FILE",
        r#"cannot read "/keys/missing.pem": No such file"#,
    );
    assert_err(
        &[
            ("JWT_PRIVATE_KEY_FILE", "/keys/garbage.pem"),
            ("JWT_ALGORITHM", "ES256"),
            ("JWT_SUBJECT", "d"),
        ],
        "MQTT_JWT_PRIVATE_KEY_FILE",
        "invalid key",
    );
    // An EC key cannot sign RS256.
    assert_err(
        &[
            ("JWT_PRIVATE_KEY_FILE", "/keys/ec.pem"),
            ("JWT_ALGORITHM", "RS256"),
            ("JWT_SUBJECT", "d"),
        ],
        "MQTT_JWT_PRIVATE_KEY_FILE",
        "invalid key",
    );
}

#[test]
fn jwt_static_token() {
    let c = load(&[("JWT_TOKEN", TOKEN), ("JWT_REFRESH_MARGIN", "2m")]).unwrap();
    let auth = c.auth.unwrap();
    assert!(matches!(auth.source, TokenSource::Static(_)));
    assert_eq!(auth.refresh_margin, Duration::from_secs(120));
    assert_err(&[("JWT_TOKEN", "not-a-jwt")], "MQTT_JWT_TOKEN", "malformed");
}

#[test]
fn inconsistent_jwt_combinations_are_rejected() {
    assert_err(
        &[("JWT_TOKEN", TOKEN), ("JWT_SECRET", SECRET)],
        "MQTT_JWT_TOKEN",
        "set together with MQTT_JWT_SECRET",
    );
    assert_err(
        &[
            ("JWT_TOKEN", TOKEN),
            ("JWT_PRIVATE_KEY_FILE", "/keys/ec.pem"),
        ],
        "MQTT_JWT_TOKEN",
        "set together with MQTT_JWT_PRIVATE_KEY_FILE",
    );
    assert_err(
        &[
            ("JWT_SECRET", SECRET),
            ("JWT_PRIVATE_KEY_FILE", "/keys/ec.pem"),
        ],
        "MQTT_JWT_SECRET",
        "set together with MQTT_JWT_PRIVATE_KEY_FILE",
    );
    assert_err(
        &[("JWT_TOKEN", TOKEN), ("JWT_SUBJECT", "d")],
        "MQTT_JWT_SUBJECT",
        "only applies when the client signs",
    );
    for key in SIGNER_KEYS.iter().chain(&["JWT_REFRESH_MARGIN"]) {
        let value = if key.ends_with("TTL") || key.ends_with("MARGIN") {
            "1m"
        } else if key.ends_with("ALGORITHM") {
            "ES256"
        } else {
            "x"
        };
        assert_err(
            &[(key, value)],
            &format!("MQTT_{key}"),
            "there is no JWT source",
        );
    }
    assert_err(&[("JWT_SECRET", SECRET)], "MQTT_JWT_SUBJECT", "required");
    assert_err(
        &[
            ("JWT_SECRET", SECRET),
            ("JWT_SUBJECT", "d"),
            ("JWT_ALGORITHM", "RS256"),
        ],
        "MQTT_JWT_ALGORITHM",
        "private key",
    );
    assert_err(
        &[
            ("JWT_SECRET", SECRET),
            ("JWT_SUBJECT", "d"),
            ("JWT_TTL", "500ms"),
        ],
        "MQTT_JWT_TTL",
        "at least one second",
    );
    assert_err(
        &[
            ("JWT_SECRET", SECRET),
            ("JWT_SUBJECT", "d"),
            ("JWT_TTL", "1m"),
            ("JWT_REFRESH_MARGIN", "1m"),
        ],
        "MQTT_JWT_REFRESH_MARGIN",
        "shorter than the signer's ttl",
    );
    assert_err(
        &[
            ("JWT_SECRET", SECRET),
            ("JWT_SUBJECT", "d"),
            ("JWT_PUBLISH", "a/#/b"),
        ],
        "MQTT_JWT_PUBLISH",
        r#""a/#/b" is not a valid topic filter"#,
    );
    assert_err(
        &[
            ("JWT_SECRET", SECRET),
            ("JWT_SUBJECT", "d"),
            ("JWT_SUBSCRIBE", "ok/+, bad+"),
        ],
        "MQTT_JWT_SUBSCRIBE",
        r#""bad+""#,
    );
    assert_err(
        &[
            ("JWT_SECRET", SECRET),
            ("JWT_SUBJECT", "d"),
            ("PASSWORD", "pw"),
            ("USERNAME", "u"),
        ],
        "MQTT_PASSWORD",
        "sends the token as the password",
    );
}

#[test]
fn secrets_never_appear_in_errors_or_debug() {
    let short_secret = "short-secret-value-42";
    let bad_token = "secret-token-value-43";
    let cases: [&[(&str, &str)]; 5] = [
        &[("JWT_SECRET", short_secret), ("JWT_SUBJECT", "d")],
        &[
            ("JWT_SECRET", short_secret),
            ("JWT_SUBJECT", "d"),
            ("JWT_ALGORITHM", "HS512"),
        ],
        &[("JWT_TOKEN", bad_token)],
        &[("JWT_TOKEN", bad_token), ("JWT_SECRET", short_secret)],
        &[("PASSWORD", "password-value-44"), ("KEEP_ALIVE", "0.5s")],
    ];
    for pairs in cases {
        let e = err(pairs);
        let text = format!("{e} {e:?}");
        for (_, value) in pairs {
            if value.contains("value-4") {
                assert!(!text.contains(value), "{text} echoes a secret");
            }
        }
    }
    assert_err(
        &[("JWT_SECRET", short_secret), ("JWT_SUBJECT", "d")],
        "MQTT_JWT_SECRET",
        "shorter than the hash output",
    );

    let c = load(&[("USERNAME", "u"), ("PASSWORD", "password-value-45")]).unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains("password-value-45"), "{debug}");
    assert!(debug.contains("password: Some(\"[redacted]\")"), "{debug}");
    let c = load(&[("JWT_SECRET", SECRET), ("JWT_SUBJECT", "d")]).unwrap();
    assert!(!format!("{c:?}").contains(SECRET));
    let c = load(&[("JWT_TOKEN", TOKEN)]).unwrap();
    assert!(!format!("{c:?}").contains(TOKEN));
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
