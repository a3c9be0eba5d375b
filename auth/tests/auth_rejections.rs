//! Every `AuthError` a validator can return, each from a crafted token.

mod auth_support;

use std::time::Duration;

use auth_support::*;
use jamey_mqtt_auth::{Algorithm, AuthError, ClaimName, JwtSigner, Validator, MAX_TOKEN_LEN};
use serde_json::json;

// ---- time window -------------------------------------------------------------------------

#[test]
fn expired_at_exp_and_accepted_just_before() {
    let token = hs256_signer().sign(at(0)).unwrap(); // exp = at(600)
    let v = hs256_validator();
    assert!(v.validate(token.expose(), at(599)).is_ok());
    assert_eq!(v.validate(token.expose(), at(600)), Err(AuthError::Expired));
    assert_eq!(
        v.validate(token.expose(), at(100_000)),
        Err(AuthError::Expired)
    );
}

#[test]
fn expired_within_leeway_is_accepted_and_beyond_it_is_not() {
    let token = hs256_signer().sign(at(0)).unwrap();
    let v = hs256_validator().with_leeway(Duration::from_secs(30));
    assert_eq!(v.leeway(), Duration::from_secs(30));
    assert!(v.validate(token.expose(), at(600)).is_ok());
    assert!(v.validate(token.expose(), at(629)).is_ok());
    assert_eq!(v.validate(token.expose(), at(630)), Err(AuthError::Expired));
}

#[test]
fn time_checks_use_the_now_argument_not_the_system_clock() {
    // Expired decades ago by the real clock, valid at the `now` given.
    let old = JwtSigner::from_secret(Algorithm::HS256, SECRET, template()).unwrap();
    let token = old
        .sign(std::time::UNIX_EPOCH + Duration::from_secs(1_000))
        .unwrap();
    let now = std::time::UNIX_EPOCH + Duration::from_secs(1_001);
    assert!(hs256_validator().validate(token.expose(), now).is_ok());
}

#[test]
fn not_yet_valid_before_nbf_unless_within_leeway() {
    let mut claims = base_claims();
    claims.nbf = Some(T0 + 100);
    let token = hs256_signer().sign_claims(claims).unwrap();
    let v = hs256_validator();
    assert_eq!(
        v.validate(token.expose(), at(99)),
        Err(AuthError::NotYetValid)
    );
    assert!(v.validate(token.expose(), at(100)).is_ok());
    let lenient = hs256_validator().with_leeway(Duration::from_secs(10));
    assert!(lenient.validate(token.expose(), at(90)).is_ok());
    assert_eq!(
        lenient.validate(token.expose(), at(89)),
        Err(AuthError::NotYetValid)
    );
}

#[test]
fn exp_far_in_the_future_does_not_overflow() {
    let mut claims = base_claims();
    claims.exp = u64::MAX;
    let token = hs256_signer().sign_claims(claims).unwrap();
    let v = hs256_validator().with_leeway(Duration::MAX);
    assert!(v.validate(token.expose(), at(0)).is_ok());
}

// ---- signature -----------------------------------------------------------------------------

#[test]
fn wrong_key_is_bad_signature_for_every_family() {
    let token = hs256_signer().sign(at(0)).unwrap();
    let v = Validator::from_secret(&[Algorithm::HS256], OTHER_SECRET).unwrap();
    assert_eq!(
        v.validate(token.expose(), at(1)),
        Err(AuthError::BadSignature)
    );

    for (alg, private, other_public) in [
        (Algorithm::RS256, RSA_PRIVATE, RSA_OTHER_PUBLIC),
        (Algorithm::ES256, EC_PRIVATE, EC_OTHER_PUBLIC),
        (Algorithm::EdDSA, ED_PRIVATE, ED_OTHER_PUBLIC),
    ] {
        let token = JwtSigner::from_pem(alg, private, template())
            .unwrap()
            .sign(at(0))
            .unwrap();
        let v = Validator::from_pem(&[alg], other_public).unwrap();
        assert_eq!(
            v.validate(token.expose(), at(1)),
            Err(AuthError::BadSignature),
            "{alg:?}"
        );
    }
}

#[test]
fn tampered_payload_with_original_signature_is_bad_signature() {
    for (signer, validator) in [
        (hs256_signer(), hs256_validator()),
        (rs256_signer(), rs256_validator()),
    ] {
        let token = signer.sign(at(0)).unwrap();
        let mut parts: Vec<String> = token.expose().split('.').map(str::to_owned).collect();
        let mut payload: serde_json::Value =
            serde_json::from_slice(&b64_decode(&parts[1])).unwrap();
        payload["permissions"]["publish"] = json!(["#"]); // privilege escalation attempt
        parts[1] = b64(payload.to_string().as_bytes());
        let forged = parts.join(".");
        assert_eq!(
            validator.validate(&forged, at(1)),
            Err(AuthError::BadSignature)
        );
    }
}

#[test]
fn tampered_or_truncated_signature_is_rejected() {
    let token = hs256_signer().sign(at(0)).unwrap();
    let t = token.expose();
    let (message, sig) = t.rsplit_once('.').unwrap();
    let rest = &sig[1..];
    let flipped = if sig.starts_with('A') {
        format!("B{rest}")
    } else {
        format!("A{rest}")
    };
    let v = hs256_validator();
    assert_eq!(
        v.validate(&format!("{message}.{flipped}"), at(1)),
        Err(AuthError::BadSignature)
    );
    assert_eq!(
        v.validate(&format!("{message}."), at(1)),
        Err(AuthError::BadSignature)
    );
    // A signature that is not base64url at all is malformed.
    assert!(matches!(
        v.validate(&format!("{message}.%%%"), at(1)),
        Err(AuthError::Malformed(_))
    ));
}

// ---- algorithm -----------------------------------------------------------------------------

#[test]
fn alg_none_is_unsupported_with_or_without_a_signature() {
    let payload = serde_json::to_string(&base_claims()).unwrap();
    let none = craft(r#"{"alg":"none","typ":"JWT"}"#, &payload, "");
    assert_eq!(
        hs256_validator().validate(&none, at(1)),
        Err(AuthError::UnsupportedAlgorithm)
    );
    assert_eq!(
        rs256_validator().validate(&none, at(1)),
        Err(AuthError::UnsupportedAlgorithm)
    );
    // Case variants and signed variants too.
    let real_sig = hs256_signer()
        .sign(at(0))
        .unwrap()
        .expose()
        .rsplit_once('.')
        .unwrap()
        .1
        .to_owned();
    for alg in ["none", "None", "NONE", "HS1", ""] {
        let t = craft(&format!(r#"{{"alg":"{alg}"}}"#), &payload, &real_sig);
        assert_eq!(
            hs256_validator().validate(&t, at(1)),
            Err(AuthError::UnsupportedAlgorithm)
        );
    }
}

#[test]
fn hs256_token_to_rs256_validator_is_algorithm_mismatch() {
    let token = hs256_signer().sign(at(0)).unwrap();
    assert_eq!(
        rs256_validator().validate(token.expose(), at(1)),
        Err(AuthError::AlgorithmMismatch)
    );
}

#[test]
fn key_confusion_hs256_signed_with_the_rsa_public_key_is_rejected() {
    // The classic attack: HMAC-sign with the verifier's public key bytes as the secret.
    let forged = JwtSigner::from_secret(Algorithm::HS256, RSA_PUBLIC, template()).unwrap();
    let token = forged.sign(at(0)).unwrap();
    assert_eq!(
        rs256_validator().validate(token.expose(), at(1)),
        Err(AuthError::AlgorithmMismatch)
    );
}

#[test]
fn other_algorithm_of_the_same_family_is_mismatch() {
    let hs512 = JwtSigner::from_secret(Algorithm::HS512, SECRET, template()).unwrap();
    let token = hs512.sign(at(0)).unwrap();
    assert_eq!(
        hs256_validator().validate(token.expose(), at(1)),
        Err(AuthError::AlgorithmMismatch)
    );
    let es = JwtSigner::from_pem(Algorithm::ES256, EC_PRIVATE, template()).unwrap();
    let token = es.sign(at(0)).unwrap();
    assert_eq!(
        rs256_validator().validate(token.expose(), at(1)),
        Err(AuthError::AlgorithmMismatch)
    );
}

// ---- issuer and audience -------------------------------------------------------------------

#[test]
fn wrong_issuer() {
    let mut claims = base_claims();
    claims.iss = Some("evil.test".into());
    let token = hs256_signer().sign_claims(claims).unwrap();
    assert_eq!(
        hs256_validator().validate(token.expose(), at(1)),
        Err(AuthError::WrongIssuer)
    );
}

#[test]
fn missing_issuer_when_one_is_expected() {
    let mut claims = base_claims();
    claims.iss = None;
    let token = hs256_signer().sign_claims(claims).unwrap();
    assert_eq!(
        hs256_validator().validate(token.expose(), at(1)),
        Err(AuthError::MissingClaim("iss"))
    );
}

#[test]
fn wrong_audience() {
    let mut claims = base_claims();
    claims.aud = Some(vec!["other".to_string(), "also-other".to_string()].into());
    let token = hs256_signer().sign_claims(claims).unwrap();
    assert_eq!(
        hs256_validator().validate(token.expose(), at(1)),
        Err(AuthError::WrongAudience)
    );
}

#[test]
fn audience_present_but_not_expected_is_rejected() {
    let token = hs256_signer().sign(at(0)).unwrap(); // aud = broker
    let v = Validator::from_secret(&[Algorithm::HS256], SECRET).unwrap();
    assert_eq!(
        v.validate(token.expose(), at(1)),
        Err(AuthError::WrongAudience)
    );
}

// ---- required claims -----------------------------------------------------------------------

#[test]
fn missing_exp_sub_or_iat() {
    let v = Validator::from_secret(&[Algorithm::HS256], SECRET).unwrap();
    let full = json!({"sub": "dev-1", "iat": T0, "exp": T0 + 60});
    for claim in ["exp", "sub", "iat"] {
        let mut payload = full.clone();
        payload.as_object_mut().unwrap().remove(claim);
        assert_eq!(
            v.validate(&hs256_json(&payload), at(1)),
            Err(AuthError::MissingClaim(claim))
        );
        // `null` counts as absent.
        let mut payload = full.clone();
        payload[claim] = serde_json::Value::Null;
        assert_eq!(
            v.validate(&hs256_json(&payload), at(1)),
            Err(AuthError::MissingClaim(claim))
        );
    }
    assert!(v.validate(&hs256_json(&full), at(1)).is_ok());
}

#[test]
fn claims_added_with_require_are_enforced() {
    let v = Validator::from_secret(&[Algorithm::HS256], SECRET)
        .unwrap()
        .require(ClaimName::Jti)
        .require(ClaimName::Nbf);
    let payload = json!({"sub": "dev-1", "iat": T0, "exp": T0 + 60, "nbf": T0});
    assert_eq!(
        v.validate(&hs256_json(&payload), at(1)),
        Err(AuthError::MissingClaim("jti"))
    );
    let payload = json!({"sub": "dev-1", "iat": T0, "exp": T0 + 60, "jti": "x"});
    assert_eq!(
        v.validate(&hs256_json(&payload), at(1)),
        Err(AuthError::MissingClaim("nbf"))
    );
}

#[test]
fn wrongly_typed_claims_are_malformed() {
    let v = Validator::from_secret(&[Algorithm::HS256], SECRET).unwrap();
    for payload in [
        json!({"sub": "d", "iat": T0, "exp": "tomorrow"}),
        json!({"sub": 7, "iat": T0, "exp": T0 + 60}),
        json!({"sub": "d", "iat": -1, "exp": T0 + 60}),
        json!({"sub": "d", "iat": T0, "exp": T0 + 60, "aud": 5}),
        json!({"sub": "d", "iat": T0, "exp": T0 + 60, "permissions": {"publish": "a/b"}}),
    ] {
        assert!(matches!(
            v.validate(&hs256_json(&payload), at(1)),
            Err(AuthError::Malformed(_))
        ));
    }
}

#[test]
fn correctly_signed_garbage_payload_is_malformed() {
    let header = b64(br#"{"alg":"HS256","typ":"JWT"}"#);
    let v = Validator::from_secret(&[Algorithm::HS256], SECRET).unwrap();
    for payload in [
        b64(b"not json"),
        b64(b"[1,2,3]"),
        b64(b"42"),
        b64(b"null"),
        "%%".to_owned(),
    ] {
        let token = hs256_raw(&format!("{header}.{payload}"));
        assert!(
            matches!(v.validate(&token, at(1)), Err(AuthError::Malformed(_))),
            "{payload}"
        );
    }
}

// ---- garbage -------------------------------------------------------------------------------

#[test]
fn garbage_strings_are_malformed() {
    let huge_valid_looking = format!(
        "{}.{}.sig",
        b64(br#"{"alg":"HS256"}"#),
        "A".repeat(MAX_TOKEN_LEN)
    );
    let inputs = [
        String::new(),
        "a".into(),
        "a.b".into(),
        "a.b.c".into(),
        "a.b.c.d".into(),
        "..".into(),
        "!!!.@@@.###".into(),
        "eyJhbGciOiJIUzI1NiJ9.".into(),
        format!("{}.e30.x", b64(b"\xff\xfe")),
        format!("{}=.e30.x", b64(br#"{"alg":"HS256"}"#)),
        "\u{0}\u{0}.\u{0}.\u{0}".into(),
        "é.ü.ß".into(),
        huge_valid_looking,
        "a.".repeat(1_000_000),
    ];
    for v in [hs256_validator(), rs256_validator()] {
        for input in &inputs {
            let result = v.validate(input, at(1));
            assert!(
                matches!(result, Err(AuthError::Malformed(_))),
                "{:.40?} -> {result:?}",
                input
            );
        }
    }
}

// ---- other variants ------------------------------------------------------------------------

#[test]
fn invalid_key_and_config_variants() {
    assert!(matches!(
        JwtSigner::from_pem(Algorithm::ES256, b"garbage", template()),
        Err(AuthError::InvalidKey(_))
    ));
    assert!(matches!(
        Validator::from_pem(&[Algorithm::RS256], b""),
        Err(AuthError::InvalidKey(_))
    ));
    assert!(matches!(
        Validator::from_secret(&[], SECRET),
        Err(AuthError::InvalidConfig(_))
    ));
    assert_eq!(
        Validator::from_secret(&[Algorithm::RS256], SECRET).unwrap_err(),
        AuthError::AlgorithmMismatch
    );
}

#[test]
fn error_messages_name_the_problem() {
    assert_eq!(
        AuthError::MissingClaim("exp").to_string(),
        "token lacks the required claim `exp`"
    );
    assert_eq!(AuthError::Expired.to_string(), "token has expired");
    let e = base_claims();
    let mut bad = e.permissions.clone();
    bad.subscribe.push(String::new());
    let err = bad.to_permissions().unwrap_err();
    assert!(err.to_string().contains("permission filter \"\""), "{err}");
}
