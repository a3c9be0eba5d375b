//! Shared fixtures for the `auth_*` integration tests: the committed test-only keys
//! (`tests/keys/`, see its README), a test clock, and hand-crafted tokens.
#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jamey_mqtt_auth::{Algorithm, ClaimTemplate, Claims, JwtSigner, PermissionClaims, Validator};

pub const RSA_PRIVATE: &[u8] = include_bytes!("../keys/rsa_private.pem");
pub const RSA_PUBLIC: &[u8] = include_bytes!("../keys/rsa_public.pem");
pub const RSA_OTHER_PUBLIC: &[u8] = include_bytes!("../keys/rsa_other_public.pem");
pub const EC_PRIVATE: &[u8] = include_bytes!("../keys/ec_p256_private.pem");
pub const EC_PUBLIC: &[u8] = include_bytes!("../keys/ec_p256_public.pem");
pub const EC_OTHER_PUBLIC: &[u8] = include_bytes!("../keys/ec_p256_other_public.pem");
pub const EC_P384_PRIVATE: &[u8] = include_bytes!("../keys/ec_p384_private.pem");
pub const ED_PRIVATE: &[u8] = include_bytes!("../keys/ed25519_private.pem");
pub const ED_PUBLIC: &[u8] = include_bytes!("../keys/ed25519_public.pem");
pub const ED_OTHER_PUBLIC: &[u8] = include_bytes!("../keys/ed25519_other_public.pem");

/// 64 bytes: long enough for HS512. Distinctive so redaction tests can search for it.
pub const SECRET: &[u8] = b"TOPSECRET-hmac-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFG";
pub const OTHER_SECRET: &[u8] = b"other-secret-0123456789-abcdefghijklmnopqrstuvwxyz-0123456789xyz";

/// The test clock's epoch: 2024-01-01T00:00:00Z.
pub const T0: u64 = 1_704_067_200;

/// `T0 + secs` as a `SystemTime`.
pub fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0 + secs)
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64_decode(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}

/// `b64(header).b64(payload).signature`, nothing signed.
pub fn craft(header: &str, payload: &str, signature: &str) -> String {
    format!(
        "{}.{}.{}",
        b64(header.as_bytes()),
        b64(payload.as_bytes()),
        signature
    )
}

pub fn permissions() -> PermissionClaims {
    PermissionClaims {
        publish: vec![
            "devices/dev-1/telemetry".into(),
            "devices/dev-1/events/#".into(),
        ],
        subscribe: vec!["devices/dev-1/commands/+".into()],
    }
}

/// Subject `dev-1`, issuer `auth.test`, audience `broker`, 10 minutes, with permissions.
pub fn template() -> ClaimTemplate {
    ClaimTemplate::new("dev-1", Duration::from_secs(600))
        .with_issuer("auth.test")
        .with_audience("broker")
        .with_permissions(permissions())
}

pub fn hs256_signer() -> JwtSigner {
    JwtSigner::from_secret(Algorithm::HS256, SECRET, template()).unwrap()
}

pub fn hs256_validator() -> Validator {
    Validator::from_secret(&[Algorithm::HS256], SECRET)
        .unwrap()
        .with_issuer("auth.test")
        .with_audience("broker")
}

pub fn rs256_signer() -> JwtSigner {
    JwtSigner::from_pem(Algorithm::RS256, RSA_PRIVATE, template()).unwrap()
}

pub fn rs256_validator() -> Validator {
    Validator::from_pem(&[Algorithm::RS256], RSA_PUBLIC)
        .unwrap()
        .with_issuer("auth.test")
        .with_audience("broker")
}

/// Claims minted by `template()` at `at(0)`.
pub fn base_claims() -> Claims {
    hs256_signer().claims_at(at(0), "jti-1")
}

/// Sign an arbitrary JSON payload with HS256 and `SECRET` (for missing/odd claims).
pub fn hs256_json(payload: &serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        payload,
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

/// Sign raw `header.payload` text (already base64url) with HS256 and `SECRET`.
pub fn hs256_raw(message: &str) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET);
    let sig = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).unwrap();
    format!("{message}.{sig}")
}
