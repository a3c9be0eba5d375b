//! Sign-then-validate round trips for every supported algorithm, with claims intact.

mod auth_support;

use std::time::Duration;

use auth_support::*;
use jamey_mqtt_auth::{Algorithm, AuthError, ClaimTemplate, JwtSigner, Validator};
use jamey_mqtt_core::topic::{TopicFilter, TopicName};

fn round_trip(signer: &JwtSigner, validator: &Validator, alg: &str) {
    let issued = signer.sign_with_jti(at(5), "jti-rt").unwrap();
    // The header names the algorithm we asked for.
    let header = issued.expose().split('.').next().unwrap();
    let header: serde_json::Value = serde_json::from_slice(&b64_decode(header)).unwrap();
    assert_eq!(header["alg"], alg);

    let claims = validator.validate(issued.expose(), at(6)).unwrap();
    assert_eq!(&claims, issued.claims().unwrap());
    assert_eq!(claims.sub, "dev-1");
    assert_eq!(
        (claims.iat, claims.nbf, claims.exp),
        (T0 + 5, Some(T0 + 5), T0 + 605)
    );
    assert_eq!(claims.iss.as_deref(), Some("auth.test"));
    assert!(claims.aud.as_ref().unwrap().contains("broker"));
    assert_eq!(claims.jti.as_deref(), Some("jti-rt"));
    assert_eq!(claims.permissions, permissions());
    assert_eq!(issued.subject(), Some("dev-1"));
    assert_eq!(issued.expires_at(), Some(at(605)));
}

#[test]
fn hs256_round_trip() {
    round_trip(&hs256_signer(), &hs256_validator(), "HS256");
}

#[test]
fn hs384_round_trip() {
    let s = JwtSigner::from_secret(Algorithm::HS384, SECRET, template()).unwrap();
    let v = Validator::from_secret(&[Algorithm::HS384], SECRET)
        .unwrap()
        .with_issuer("auth.test")
        .with_audience("broker");
    round_trip(&s, &v, "HS384");
}

#[test]
fn hs512_round_trip() {
    let s = JwtSigner::from_secret(Algorithm::HS512, SECRET, template()).unwrap();
    let v = Validator::from_secret(&[Algorithm::HS512], SECRET)
        .unwrap()
        .with_issuer("auth.test")
        .with_audience("broker");
    round_trip(&s, &v, "HS512");
}

#[test]
fn rs256_round_trip() {
    round_trip(&rs256_signer(), &rs256_validator(), "RS256");
}

#[test]
fn ps256_round_trip_with_the_rsa_key() {
    let s = JwtSigner::from_pem(Algorithm::PS256, RSA_PRIVATE, template()).unwrap();
    let v = Validator::from_pem(&[Algorithm::PS256], RSA_PUBLIC)
        .unwrap()
        .with_issuer("auth.test")
        .with_audience("broker");
    round_trip(&s, &v, "PS256");
}

#[test]
fn es256_round_trip() {
    let s = JwtSigner::from_pem(Algorithm::ES256, EC_PRIVATE, template()).unwrap();
    let v = Validator::from_pem(&[Algorithm::ES256], EC_PUBLIC)
        .unwrap()
        .with_issuer("auth.test")
        .with_audience("broker");
    round_trip(&s, &v, "ES256");
}

#[test]
fn eddsa_round_trip() {
    let s = JwtSigner::from_pem(Algorithm::EdDSA, ED_PRIVATE, template()).unwrap();
    let v = Validator::from_pem(&[Algorithm::EdDSA], ED_PUBLIC)
        .unwrap()
        .with_issuer("auth.test")
        .with_audience("broker");
    round_trip(&s, &v, "EdDSA");
}

#[test]
fn validator_accepting_several_algorithms_of_one_family() {
    let v = Validator::from_secret(&[Algorithm::HS256, Algorithm::HS512], SECRET)
        .unwrap()
        .with_issuer("auth.test")
        .with_audience("broker");
    let hs512 = JwtSigner::from_secret(Algorithm::HS512, SECRET, template()).unwrap();
    round_trip(&hs256_signer(), &v, "HS256");
    round_trip(&hs512, &v, "HS512");
}

#[test]
fn audience_list_and_minimal_template_round_trip() {
    let t = ClaimTemplate::new("dev-2", Duration::from_secs(60))
        .with_audience(vec!["ops".to_string(), "broker".to_string()]);
    let s = JwtSigner::from_secret(Algorithm::HS256, SECRET, t).unwrap();
    let v = Validator::from_secret(&[Algorithm::HS256], SECRET)
        .unwrap()
        .with_audience("broker");
    let claims = v.validate(s.sign(at(0)).unwrap().expose(), at(1)).unwrap();
    assert_eq!(claims.iss, None);
    assert!(claims.permissions.publish.is_empty() && claims.permissions.subscribe.is_empty());
    // A validator expecting another audience in the list rejects it.
    let other = Validator::from_secret(&[Algorithm::HS256], SECRET)
        .unwrap()
        .with_audience("x");
    let token = s.sign(at(0)).unwrap();
    assert_eq!(
        other.validate(token.expose(), at(1)),
        Err(AuthError::WrongAudience)
    );
}

#[test]
fn validated_claims_build_working_permissions() {
    let claims = hs256_validator().validate(hs256_signer().sign(at(0)).unwrap().expose(), at(1));
    let perms = claims.unwrap().permissions().unwrap();
    assert!(perms.allows_publish(&TopicName::new("devices/dev-1/telemetry").unwrap()));
    assert!(!perms.allows_publish(&TopicName::new("devices/dev-2/telemetry").unwrap()));
    let sub = TopicFilter::new("devices/dev-1/commands/+").unwrap();
    assert!(perms.allows_subscribe(&sub));
}

#[test]
fn keys_of_the_wrong_type_or_curve_are_rejected_when_building() {
    let t = template;
    // P-384 key for ES256, RSA key for EdDSA, EC key for RS256: caught at construction.
    for (alg, pem) in [
        (Algorithm::ES256, EC_P384_PRIVATE),
        (Algorithm::EdDSA, RSA_PRIVATE),
        (Algorithm::RS256, EC_PRIVATE),
        (Algorithm::ES256, RSA_PUBLIC),
    ] {
        assert!(
            matches!(
                JwtSigner::from_pem(alg, pem, t()),
                Err(AuthError::InvalidKey(_))
            ),
            "{alg:?}"
        );
    }
    assert!(matches!(
        Validator::from_pem(&[Algorithm::EdDSA], EC_PUBLIC),
        Err(AuthError::InvalidKey(_))
    ));
    assert!(matches!(
        Validator::from_pem(
            &[Algorithm::RS256],
            b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
        ),
        Err(AuthError::InvalidKey(_))
    ));
    assert_eq!(
        Validator::from_pem(&[Algorithm::RS256, Algorithm::ES256], RSA_PUBLIC).unwrap_err(),
        AuthError::AlgorithmMismatch
    );
    assert!(matches!(
        Validator::from_pem(&[], RSA_PUBLIC),
        Err(AuthError::InvalidConfig(_))
    ));
    assert!(matches!(
        Validator::from_secret(&[], SECRET),
        Err(AuthError::InvalidConfig(_))
    ));
    assert_eq!(
        Validator::from_secret(&[Algorithm::HS256], &SECRET[..16]).unwrap_err(),
        AuthError::InvalidKey("HMAC secret shorter than the hash output")
    );
}
