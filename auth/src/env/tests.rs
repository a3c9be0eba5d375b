//! The `MQTT_JWT_*` variables: every source, every claim, every combination that cannot be
//! right, and no secret in any error.

use std::time::Duration;

use jamey_mqtt_core::config::env::EnvVars;
use jamey_mqtt_core::config::ConfigError;
use jamey_mqtt_core::testing::{assert_config_error, env_lookup};

use super::*;
use crate::{Algorithm, Audience, TokenSource};

const SECRET: &str = "0123456789abcdef0123456789abcdef";
const EC_KEY: &[u8] = include_bytes!("../../tests/keys/ec_p256_private.pem");
/// A JWT whose payload is `{"sub":"dev-1","exp":4102444800}` (no signature check here).
const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZXYtMSIsImV4cCI6NDEwMjQ0NDgwMH0.c2ln";

/// Loads with a fake file system holding the test EC key at `/keys/ec.pem`.
fn load_with_files(pairs: &[(&str, &str)]) -> Result<Option<AuthConfig>, ConfigError> {
    let env =
        EnvVars::new("MQTT_", env_lookup("MQTT_", pairs)).with_file_reader(|path| match path {
            "/keys/ec.pem" => Ok(EC_KEY.to_vec()),
            "/keys/garbage.pem" => Ok(b"not a key".to_vec()),
            _ => Err("No such file or directory".into()),
        });
    from_env(&env)
}

fn load(pairs: &[(&str, &str)]) -> Result<Option<AuthConfig>, ConfigError> {
    from_env(&EnvVars::new("MQTT_", env_lookup("MQTT_", pairs)))
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
fn no_jwt_variable_means_no_jwt_auth() {
    assert!(load(&[("KEEP_ALIVE", "5s")]).unwrap().is_none());
}

#[test]
fn bad_values_name_the_variable_and_say_why() {
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
    assert_err(
        &[
            ("JWT_SECRET", SECRET),
            ("JWT_SUBJECT", "a"),
            ("JWT_REAUTHENTICATE", "maybe"),
        ],
        "MQTT_JWT_REAUTHENTICATE",
        "true",
    );
}

#[test]
fn reauthentication_is_on_by_default_and_can_be_turned_off() {
    let on = load(&[("JWT_SECRET", SECRET), ("JWT_SUBJECT", "d")])
        .unwrap()
        .unwrap();
    assert!(on.reauthenticate);
    let off = load(&[
        ("JWT_SECRET", SECRET),
        ("JWT_SUBJECT", "d"),
        ("JWT_REAUTHENTICATE", "false"),
    ])
    .unwrap()
    .unwrap();
    assert!(!off.reauthenticate);
    assert!(!off.token_auth().reauthenticate);
}

#[test]
fn a_password_next_to_a_jwt_source_is_refused() {
    assert_err(
        &[("JWT_TOKEN", TOKEN), ("PASSWORD", "pw-value-46")],
        "MQTT_PASSWORD",
        "set together with JWT auth",
    );
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
    let auth = c.unwrap();
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
    let TokenSource::Signer(signer) = one.unwrap().source else {
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
    let TokenSource::Signer(signer) = c.unwrap().source else {
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
    let auth = c.unwrap();
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
    let cases: [&[(&str, &str)]; 4] = [
        &[("JWT_SECRET", short_secret), ("JWT_SUBJECT", "d")],
        &[
            ("JWT_SECRET", short_secret),
            ("JWT_SUBJECT", "d"),
            ("JWT_ALGORITHM", "HS512"),
        ],
        &[("JWT_TOKEN", bad_token)],
        &[("JWT_TOKEN", bad_token), ("JWT_SECRET", short_secret)],
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

    let c = load(&[("JWT_SECRET", SECRET), ("JWT_SUBJECT", "d")]).unwrap();
    assert!(!format!("{c:?}").contains(SECRET));
    let c = load(&[("JWT_TOKEN", TOKEN)]).unwrap();
    assert!(!format!("{c:?}").contains(TOKEN));
}

/// Every variable is documented in the module table and in the README.
#[test]
fn every_variable_is_documented() {
    let module_doc = include_str!("../env.rs");
    let readme = include_str!("../../../README.md");
    for key in KEYS {
        let row = format!("| `MQTT_{key}` |");
        assert!(module_doc.contains(&row), "module doc lacks {row}");
        assert!(readme.contains(&row), "README lacks {row}");
    }
}
