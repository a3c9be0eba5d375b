//! Token sources (signer, static, provider), `AuthConfig` and the refresh schedule.

mod auth_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_support::*;
use jamey_mqtt_auth::{
    Algorithm, AuthConfig, AuthError, IssuedToken, JwtSigner, TokenProvider, TokenSource,
};
use jamey_mqtt_core::topic::TopicName;
use jamey_mqtt_core::AuthToken;
use serde_json::json;

/// A token signed with a key nobody here has: only readable, not verifiable.
fn foreign_token(iat: u64, exp: u64) -> String {
    craft(
        r#"{"alg":"RS256","typ":"JWT"}"#,
        &json!({"sub": "svc-7", "iat": iat, "exp": exp, "permissions": {"publish": ["a/b"]}})
            .to_string(),
        "c2lnbmF0dXJlLW5vdC1jaGVja2Vk",
    )
}

#[test]
fn static_token_exp_is_read_without_verification() {
    let token = foreign_token(T0, T0 + 3600);
    let source = TokenSource::fixed(token.as_str());
    let issued = source.issue(at(10)).unwrap();
    assert_eq!(issued.expose(), token);
    assert_eq!(issued.expires_at(), Some(at(3600)));
    assert_eq!(issued.issued_at(), Some(at(0)));
    assert_eq!(issued.subject(), Some("svc-7"));
    assert_eq!(
        issued.claims().unwrap().permissions.publish,
        vec!["a/b".to_string()]
    );
    // ...and the validator, which does verify, refuses it.
    assert!(rs256_validator().validate(&token, at(10)).is_err());
}

/// When the state machine refreshes the token `config` hands it at `now`.
fn refresh_at(config: &AuthConfig, now: SystemTime) -> Option<SystemTime> {
    let token = config.auth_token(now).unwrap();
    token.refresh_at(config.refresh_margin)
}

#[test]
fn static_token_refresh_at_is_exp_minus_margin() {
    let config = AuthConfig::new(TokenSource::fixed(foreign_token(T0, T0 + 3600)));
    assert_eq!(config.refresh_margin, Duration::from_secs(60));
    assert_eq!(refresh_at(&config, at(0)), Some(at(3540)));
    let config = config.with_refresh_margin(Duration::from_secs(600));
    assert_eq!(refresh_at(&config, at(0)), Some(at(3000)));
}

#[test]
fn refresh_at_is_never_before_iat_and_saturates() {
    // Margin longer than the lifetime: refresh at iat, not before.
    let config = AuthConfig::new(TokenSource::fixed(foreign_token(T0 + 100, T0 + 130)))
        .with_refresh_margin(Duration::from_secs(3600));
    assert_eq!(refresh_at(&config, at(100)), Some(at(100)));

    // exp near the epoch, no iat: saturates at the epoch instead of underflowing.
    let near_epoch = IssuedToken::read_unverified(craft("{}", r#"{"exp":5}"#, "")).unwrap();
    let mut token = AuthToken::new("t");
    token.expires_at = near_epoch.expires_at();
    assert_eq!(
        token.refresh_at(Duration::from_secs(3600)),
        Some(UNIX_EPOCH)
    );

    // A token without exp never needs a refresh and never expires.
    let forever = TokenSource::fixed(craft("{}", r#"{"sub":"x"}"#, ""));
    let config = AuthConfig::new(forever);
    assert_eq!(refresh_at(&config, at(u32::MAX.into())), None);
}

#[test]
fn expired_or_unreadable_static_token_is_an_error() {
    let source = TokenSource::fixed(foreign_token(T0, T0 + 60));
    assert!(source.issue(at(59)).is_ok());
    assert_eq!(source.issue(at(60)).unwrap_err(), AuthError::Expired);
    for bad in ["", "opaque-api-key", "a.b.c", "a.b"] {
        assert!(matches!(
            TokenSource::fixed(bad).issue(at(0)),
            Err(AuthError::Malformed(_))
        ));
    }
}

#[test]
fn signer_source_mints_fresh_tokens_on_each_issue() {
    let config = AuthConfig::new(hs256_signer());
    config.validate().unwrap();
    let first = config.issue(at(0)).unwrap();
    let second = config.issue(at(540)).unwrap();
    assert_eq!(first.expires_at(), Some(at(600)));
    assert_eq!(second.expires_at(), Some(at(1140)));
    assert_ne!(first.claims().unwrap().jti, second.claims().unwrap().jti);
    assert_eq!(refresh_at(&config, at(0)), Some(at(540)));
    assert!(!first.is_expired(at(599)));
    assert!(first.is_expired(at(600)));
    // Tokens from the signer source validate.
    assert!(hs256_validator().validate(second.expose(), at(541)).is_ok());
}

struct FakeIdentityService {
    calls: AtomicUsize,
    seen: Mutex<Vec<SystemTime>>,
}

impl TokenProvider for FakeIdentityService {
    fn token(&self, now: SystemTime) -> Result<String, AuthError> {
        self.seen.lock().unwrap().push(now);
        match self.calls.fetch_add(1, Ordering::SeqCst) {
            0 => Ok(foreign_token(T0, T0 + 300)),
            1 => Err(AuthError::Provider("identity service unreachable".into())),
            _ => Ok("not-a-jwt".into()),
        }
    }
}

#[test]
fn provider_source_passes_now_through_and_its_errors_back() {
    let provider = Arc::new(FakeIdentityService {
        calls: AtomicUsize::new(0),
        seen: Mutex::new(vec![]),
    });
    let source = TokenSource::Provider(provider.clone());
    let issued = source.issue(at(7)).unwrap();
    assert_eq!(issued.expires_at(), Some(at(300)));
    assert_eq!(
        source.issue(at(8)).unwrap_err(),
        AuthError::Provider("identity service unreachable".into())
    );
    assert!(matches!(source.issue(at(9)), Err(AuthError::Malformed(_))));
    assert_eq!(*provider.seen.lock().unwrap(), vec![at(7), at(8), at(9)]);
}

#[test]
fn provider_returning_an_expired_token_is_expired() {
    struct Stale;
    impl TokenProvider for Stale {
        fn token(&self, _now: SystemTime) -> Result<String, AuthError> {
            Ok(foreign_token(T0, T0 + 10))
        }
    }
    assert_eq!(
        TokenSource::provider(Stale).issue(at(10)).unwrap_err(),
        AuthError::Expired
    );
}

#[test]
fn username_defaults_to_sub_and_can_be_overridden() {
    let config = AuthConfig::new(hs256_signer());
    let token = config.issue(at(0)).unwrap();
    assert_eq!(config.username_for(&token), Some("dev-1"));
    let config = config.with_username("gateway");
    assert_eq!(config.username_for(&token), Some("gateway"));
}

#[test]
fn permissions_come_from_the_token_unless_disabled() {
    let config = AuthConfig::new(hs256_signer());
    assert!(config.permissions_from_token);
    let token = config.issue(at(0)).unwrap();
    let perms = config.permissions_for(&token).unwrap().unwrap();
    // Exact names only: wildcard matching is `topic`'s job and tested there.
    assert!(perms.allows_publish(&TopicName::new("devices/dev-1/telemetry").unwrap()));
    assert!(!perms.allows_publish(&TopicName::new("devices/dev-9/telemetry").unwrap()));
    let off = config.with_permissions_from_token(false);
    assert!(off.permissions_for(&token).unwrap().is_none());

    // A static token whose permission claim has an invalid filter: error naming it.
    let bad = craft(
        "{}",
        &json!({"sub":"s","iat":T0,"exp":T0+60,"permissions":{"subscribe":[""]}}).to_string(),
        "",
    );
    let config = AuthConfig::new(TokenSource::fixed(bad));
    let token = config.issue(at(0)).unwrap();
    match config.permissions_for(&token) {
        Err(AuthError::InvalidPermission { filter, .. }) => assert_eq!(filter, ""),
        other => panic!("expected InvalidPermission, got {other:?}"),
    }
}

#[test]
fn config_validation() {
    let config = AuthConfig::new(hs256_signer()); // ttl 600 s
    assert!(config
        .clone()
        .with_refresh_margin(Duration::ZERO)
        .validate()
        .is_ok());
    assert!(config
        .clone()
        .with_refresh_margin(Duration::from_secs(599))
        .validate()
        .is_ok());
    for margin in [600, 601, 100_000] {
        let c = config
            .clone()
            .with_refresh_margin(Duration::from_secs(margin));
        assert!(
            matches!(c.validate(), Err(AuthError::InvalidConfig(_))),
            "{margin}"
        );
    }
    let fixed = AuthConfig::new(TokenSource::fixed(foreign_token(T0, T0 + 60)));
    assert!(fixed
        .clone()
        .with_refresh_margin(AuthConfig::MAX_REFRESH_MARGIN)
        .validate()
        .is_ok());
    let too_long = AuthConfig::MAX_REFRESH_MARGIN + Duration::from_secs(1);
    assert!(fixed
        .clone()
        .with_refresh_margin(too_long)
        .validate()
        .is_err());
    assert!(fixed.with_username("").validate().is_err());
}

#[test]
fn token_sources_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TokenSource>();
    assert_send_sync::<AuthConfig>();
    assert_send_sync::<IssuedToken>();
    assert_send_sync::<jamey_mqtt_auth::Validator>();
}

#[test]
fn same_inputs_same_tokens_for_deterministic_algorithms() {
    // HS256, RS256 (PKCS#1 v1.5) and EdDSA signatures are deterministic, and so are our claims
    // and jti: two signers built alike, driven alike, produce byte-identical tokens. (ECDSA and
    // PSS signatures are randomised inside aws-lc-rs, so ES256/PS256 are left out.)
    for alg_signer in [
        || JwtSigner::from_secret(Algorithm::HS256, SECRET, template()).unwrap(),
        || JwtSigner::from_pem(Algorithm::RS256, RSA_PRIVATE, template()).unwrap(),
        || JwtSigner::from_pem(Algorithm::EdDSA, ED_PRIVATE, template()).unwrap(),
    ] {
        let (a, b) = (alg_signer(), alg_signer());
        for secs in [0, 0, 17] {
            assert_eq!(
                a.sign(at(secs)).unwrap().expose(),
                b.sign(at(secs)).unwrap().expose()
            );
        }
    }
}
