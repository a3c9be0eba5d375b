//! The plugin's decisions in-process (no broker): which tokens are refused and why, what is
//! stored per connection, re-authentication, the ACL answers, expiry and the tick's kicks.
//! The same decisions against a real Mosquitto loading the `.so`: tests/tests/broker_plugin.rs.

use std::time::{Duration, SystemTime};

use jamey_mqtt_auth::{Algorithm, AuthError, ClaimTemplate, JwtSigner, PermissionClaims};
use jamey_mqtt_mosquitto_auth::options::OptionError;
use jamey_mqtt_mosquitto_auth::plugin::{Access, ExtAuth, Plugin, Refusal};
use jamey_mqtt_mosquitto_auth::sessions::ClientKey;

const SECRET: &str = "0123456789abcdef0123456789abcdef";
const C1: ClientKey = ClientKey(0x1000);
const C2: ClientKey = ClientKey(0x2000);

fn opts(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn plugin(extra: &[(&str, &str)]) -> Plugin {
    let mut o = opts(&[("secret", SECRET), ("issuer", "issuer-a")]);
    o.extend(opts(extra));
    Plugin::new(&o).expect("valid options")
}

fn now() -> SystemTime {
    SystemTime::now()
}

fn signer(secret: &str, iss: &str, ttl: u64, publish: &[&str], subscribe: &[&str]) -> JwtSigner {
    let template = ClaimTemplate::new("dev-1", Duration::from_secs(ttl))
        .with_issuer(iss)
        .with_permissions(PermissionClaims {
            publish: publish.iter().map(|s| s.to_string()).collect(),
            subscribe: subscribe.iter().map(|s| s.to_string()).collect(),
        });
    JwtSigner::from_secret(Algorithm::HS256, secret.as_bytes(), template).unwrap()
}

fn token_at(t: SystemTime) -> String {
    signer(SECRET, "issuer-a", 60, &["out/#"], &["in/+/x"])
        .sign(t)
        .unwrap()
        .expose()
        .to_owned()
}

fn token() -> String {
    token_at(now())
}

fn basic(p: &mut Plugin, key: ClientKey, user: &str, password: &[u8]) -> Result<(), Refusal> {
    p.basic_auth(
        key,
        Some(b"id-1"),
        Some(user.as_bytes()),
        Some(password),
        now(),
    )
}

fn acl(p: &Plugin, key: ClientKey, access: Access, topic: &str, at: SystemTime) -> bool {
    p.acl_check(key, Some(b"id-1"), Some(access), Some(topic.as_bytes()), at)
}

#[test]
fn options_are_checked_when_the_plugin_loads() {
    let err = |o: &[(&str, &str)]| Plugin::new(&opts(o)).unwrap_err();
    assert_eq!(err(&[]), OptionError::Key);
    assert_eq!(
        err(&[("secret", SECRET), ("secret_file", "/x")]),
        OptionError::Key
    );
    assert_eq!(
        err(&[("secret", SECRET), ("issuer_typo", "x")]),
        OptionError::Unknown("issuer_typo".into())
    );
    assert_eq!(
        err(&[("public_key_file", "/nonexistent")]),
        OptionError::AlgorithmsRequired
    );
    assert!(matches!(
        err(&[("secret", SECRET), ("leeway", "1.5")]),
        OptionError::Invalid { .. }
    ));
    assert!(matches!(
        err(&[("secret", SECRET), ("algorithms", "HS256,none")]),
        OptionError::Invalid { .. }
    ));
    assert!(matches!(
        err(&[("secret", SECRET), ("username_must_match_sub", "yes")]),
        OptionError::Invalid { .. }
    ));
    // A secret too short for HS256 is refused by the validator itself.
    assert!(matches!(
        err(&[("secret", "short")]),
        OptionError::Validator(AuthError::InvalidKey(_))
    ));
    assert!(matches!(
        err(&[("secret", SECRET), ("secret", SECRET)]),
        OptionError::Repeated(_)
    ));
}

#[test]
fn a_valid_token_is_accepted_and_its_grant_stored() {
    let mut p = plugin(&[]);
    basic(&mut p, C1, "dev-1", token().as_bytes()).unwrap();
    assert_eq!(p.sessions().len(), 1);
    assert!(acl(&p, C1, Access::Write, "out/a/b", now()));
}

#[test]
fn bad_tokens_are_refused_each_for_its_reason() {
    let mut p = plugin(&[]);
    let t = now();
    let expired = token_at(t - Duration::from_secs(120));
    let wrong_key = signer(
        "another-secret-another-secret-32b",
        "issuer-a",
        60,
        &[],
        &[],
    )
    .sign(t)
    .unwrap();
    let wrong_issuer = signer(SECRET, "issuer-b", 60, &[], &[]).sign(t).unwrap();
    // `alg: none`: the header {"alg":"none","typ":"JWT"}, a real payload, no signature.
    let payload = token().split('.').nth(1).unwrap().to_owned();
    let alg_none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    let cases: Vec<(&str, Vec<u8>, Refusal)> = vec![
        (
            "expired",
            expired.into_bytes(),
            Refusal::Token(AuthError::Expired),
        ),
        (
            "wrong key",
            wrong_key.expose().as_bytes().to_vec(),
            Refusal::Token(AuthError::BadSignature),
        ),
        (
            "wrong issuer",
            wrong_issuer.expose().as_bytes().to_vec(),
            Refusal::Token(AuthError::WrongIssuer),
        ),
        (
            "alg none",
            alg_none.into_bytes(),
            Refusal::Token(AuthError::UnsupportedAlgorithm),
        ),
        (
            "not UTF-8",
            vec![0xff, 0xfe, b'.', 0x80],
            Refusal::NotUtf8("token"),
        ),
    ];
    for (what, password, want) in cases {
        assert_eq!(basic(&mut p, C1, "dev-1", &password), Err(want), "{what}");
    }
    assert!(matches!(
        basic(&mut p, C1, "dev-1", b"garbage"),
        Err(Refusal::Token(AuthError::Malformed(_)))
    ));
    assert_eq!(
        p.basic_auth(C1, Some(b"id-1"), Some(b"dev-1"), None, now()),
        Err(Refusal::NoToken)
    );
    assert!(p.sessions().is_empty(), "nothing refused is stored");
}

#[test]
fn the_username_must_be_the_subject_unless_configured_otherwise() {
    let mut p = plugin(&[]);
    let t = token();
    assert_eq!(
        basic(&mut p, C1, "someone-else", t.as_bytes()),
        Err(Refusal::UsernameMismatch)
    );
    assert_eq!(
        p.basic_auth(C1, Some(b"id-1"), None, Some(t.as_bytes()), now()),
        Err(Refusal::UsernameMismatch)
    );
    let mut lax = plugin(&[("username_must_match_sub", "false")]);
    basic(&mut lax, C1, "someone-else", t.as_bytes()).unwrap();
}

#[test]
fn acl_answers_are_the_tokens_permissions() {
    let mut p = plugin(&[]);
    basic(&mut p, C1, "dev-1", token().as_bytes()).unwrap();
    let t = now();
    // publish grant out/#, subscribe grant in/+/x
    assert!(acl(&p, C1, Access::Write, "out", t));
    assert!(!acl(&p, C1, Access::Write, "in/a/x", t));
    assert!(acl(&p, C1, Access::Subscribe, "in/a/x", t));
    assert!(acl(&p, C1, Access::Subscribe, "in/+/x", t));
    assert!(acl(&p, C1, Access::Subscribe, "$share/g/in/+/x", t));
    assert!(!acl(&p, C1, Access::Subscribe, "in/#", t));
    assert!(!acl(&p, C1, Access::Subscribe, "out/#", t));
    assert!(acl(&p, C1, Access::Read, "in/b/x", t));
    assert!(!acl(&p, C1, Access::Read, "in/b/y", t));
    assert!(!acl(&p, C1, Access::Read, "out/a", t));
    assert!(acl(&p, C1, Access::Unsubscribe, "anything/#", t));
    // Malformed input from the broker is denied, never trusted.
    assert!(
        !acl(&p, C1, Access::Write, "out/+", t),
        "a filter is not a topic"
    );
    assert!(!p.acl_check(C1, Some(b"id-1"), None, Some(b"out/a"), t));
    assert!(!p.acl_check(C1, Some(b"id-1"), Some(Access::Write), None, t));
    assert!(!p.acl_check(C1, Some(b"id-1"), Some(Access::Write), Some(b"out/\xff"), t));
    // Another context, or the same context address now used by another client id: nothing.
    assert!(!acl(&p, C2, Access::Write, "out/a", t));
    assert!(!p.acl_check(C1, Some(b"id-2"), Some(Access::Write), Some(b"out/a"), t));
    assert!(!p.acl_check(C1, None, Some(Access::Write), Some(b"out/a"), t));
}

#[test]
fn an_expired_token_allows_nothing_and_its_client_is_kicked_once() {
    let mut p = plugin(&[("leeway", "2")]);
    let issued = now();
    basic(&mut p, C1, "dev-1", token_at(issued).as_bytes()).unwrap();
    let exp_plus_leeway = issued + Duration::from_secs(62);
    assert!(acl(
        &p,
        C1,
        Access::Write,
        "out/a",
        exp_plus_leeway - Duration::from_secs(2)
    ));
    assert!(p.tick(exp_plus_leeway - Duration::from_secs(2)).is_empty());
    for access in [
        Access::Write,
        Access::Read,
        Access::Subscribe,
        Access::Unsubscribe,
    ] {
        assert!(!acl(&p, C1, access, "out/a", exp_plus_leeway), "{access:?}");
    }
    assert_eq!(p.tick(exp_plus_leeway), vec!["id-1".to_owned()]);
    assert!(p.tick(exp_plus_leeway).is_empty(), "kicked once");
    assert!(p.sessions().is_empty());
}

#[test]
fn an_offline_session_keeps_its_grant_until_expiry_and_is_never_kicked() {
    let mut p = plugin(&[]);
    let issued = now();
    basic(&mut p, C1, "dev-1", token_at(issued).as_bytes()).unwrap();
    p.disconnected(C1);
    // Mosquitto checks read access of a persistent session's offline queue on this context.
    assert!(acl(&p, C1, Access::Read, "in/q/x", issued));
    let after = issued + Duration::from_secs(61);
    assert!(p.tick(after).is_empty(), "an offline client is not kicked");
    assert!(
        p.sessions().is_empty(),
        "and its expired grant is forgotten"
    );
}

#[test]
fn extended_auth_uses_method_jwt_and_reauthentication_replaces_the_grant() {
    let mut p = plugin(&[]);
    let id = Some(&b"id-1"[..]);
    let jwt = Some(&b"JWT"[..]);
    let t = token();
    assert_eq!(
        p.ext_auth_start(
            C1,
            id,
            Some(b"SCRAM-SHA-256"),
            Some(t.as_bytes()),
            None,
            now()
        ),
        ExtAuth::NotSupported
    );
    assert_eq!(
        p.ext_auth_start(C1, id, jwt, None, None, now()),
        ExtAuth::Refused(Refusal::NoToken)
    );
    assert_eq!(
        p.ext_auth_start(C1, id, jwt, Some(t.as_bytes()), None, now()),
        ExtAuth::Accepted,
        "no username: nothing to compare with `sub`"
    );
    assert_eq!(
        p.ext_auth_start(C1, id, jwt, Some(t.as_bytes()), Some(b"other"), now()),
        ExtAuth::Refused(Refusal::UsernameMismatch)
    );
    assert!(acl(&p, C1, Access::Write, "out/a", now()));
    assert!(!acl(&p, C1, Access::Write, "new/a", now()));

    // Re-authentication with a token granting other topics replaces the grant.
    let next = signer(SECRET, "issuer-a", 60, &["new/#"], &[])
        .sign(now())
        .unwrap();
    assert_eq!(
        p.ext_auth_start(
            C1,
            id,
            jwt,
            Some(next.expose().as_bytes()),
            Some(b"dev-1"),
            now()
        ),
        ExtAuth::Accepted
    );
    assert!(acl(&p, C1, Access::Write, "new/a", now()));
    assert!(!acl(&p, C1, Access::Write, "out/a", now()));

    // A refused re-authentication leaves the previous (still valid) grant; the broker closes
    // the connection.
    let forged = signer(
        "another-secret-another-secret-32b",
        "issuer-a",
        60,
        &["#"],
        &[],
    )
    .sign(now())
    .unwrap();
    assert_eq!(
        p.ext_auth_start(C1, id, jwt, Some(forged.expose().as_bytes()), None, now()),
        ExtAuth::Refused(Refusal::Token(AuthError::BadSignature))
    );
    assert!(acl(&p, C1, Access::Write, "new/a", now()));
    assert!(!acl(&p, C1, Access::Write, "zzz", now()));
    assert_eq!(
        p.ext_auth_continue(),
        ExtAuth::Refused(Refusal::UnexpectedContinuation)
    );
}

#[test]
fn mosquitto_access_values_map_and_unknown_ones_deny() {
    assert_eq!(Access::from_mosquitto(1), Some(Access::Read));
    assert_eq!(Access::from_mosquitto(2), Some(Access::Write));
    assert_eq!(Access::from_mosquitto(4), Some(Access::Subscribe));
    assert_eq!(Access::from_mosquitto(8), Some(Access::Unsubscribe));
    assert_eq!(Access::from_mosquitto(3), None);
    assert_eq!(Access::from_mosquitto(0), None);
}
