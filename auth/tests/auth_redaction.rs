//! Secrets (HMAC secret, private key, token) never appear in `Debug` or `Display` output.

mod auth_support;

use std::sync::Arc;
use std::time::SystemTime;

use auth_support::*;
use base64::Engine as _;
use jamey_mqtt_auth::{
    Algorithm, AuthConfig, AuthError, JwtSigner, SecretToken, TokenProvider, TokenSource, Validator,
};

/// Pieces of `secret` that must not show up: the text itself, its bytes as `Debug` renders a
/// `Vec<u8>`, and every 12-character window (so partial leaks are caught too).
fn assert_hidden(output: &str, secret: &[u8], what: &str) {
    let text = String::from_utf8_lossy(secret);
    assert!(
        !output.contains(text.as_ref()),
        "{what} leaked in: {output}"
    );
    let bytes_debug = format!("{:?}", &secret[..secret.len().min(8)]);
    let inner = bytes_debug.trim_start_matches('[').trim_end_matches(']');
    assert!(!output.contains(inner), "{what} bytes leaked in: {output}");
    let chars: Vec<char> = text.chars().collect();
    for window in chars.windows(12) {
        let w: String = window.iter().collect();
        if w.trim().len() == 12 && !w.contains("-----") && !w.contains(' ') {
            assert!(
                !output.contains(&w),
                "{what} fragment {w:?} leaked in: {output}"
            );
        }
    }
}

/// The base64 body of a PEM file (what would leak if the key were printed).
fn pem_body(pem: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(pem)
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>()
        .into_bytes()
}

#[test]
fn hmac_signer_and_validator_hide_the_secret() {
    let signer = hs256_signer();
    let out = format!("{signer:?} {signer:#?}");
    assert!(
        out.contains("HS256") && out.contains("dev-1"),
        "useful fields still shown: {out}"
    );
    assert_hidden(&out, SECRET, "signer secret");
    let validator = hs256_validator();
    assert_hidden(
        &format!("{validator:?} {validator:#?}"),
        SECRET,
        "validator secret",
    );
}

#[test]
fn pem_signers_hide_the_private_key() {
    for (alg, pem) in [
        (Algorithm::RS256, RSA_PRIVATE),
        (Algorithm::ES256, EC_PRIVATE),
        (Algorithm::EdDSA, ED_PRIVATE),
    ] {
        let signer = JwtSigner::from_pem(alg, pem, template()).unwrap();
        let out = format!(
            "{signer:?} {signer:#?} {:?}",
            TokenSource::Signer(signer.clone())
        );
        assert_hidden(&out, &pem_body(pem), "private key");
        // The DER bytes, as a derived `Debug` of a `Vec<u8>` would print them.
        let der = base64::engine::general_purpose::STANDARD
            .decode(pem_body(pem))
            .unwrap();
        let middle = &der[der.len() / 2..der.len() / 2 + 8];
        let rendered = format!("{middle:?}");
        assert!(
            !out.contains(rendered.trim_matches(['[', ']'])),
            "DER leaked: {out}"
        );
    }
    let v = Validator::from_pem(&[Algorithm::RS256], RSA_PUBLIC).unwrap();
    assert!(format!("{v:?}").contains("[redacted]"));
}

#[test]
fn issued_token_hides_the_token() {
    let issued = hs256_signer().sign(at(0)).unwrap();
    let token = issued.expose().to_owned();
    let out = format!("{issued:?} {issued:#?}");
    assert!(out.contains("[redacted]") && out.contains("dev-1"), "{out}");
    assert_hidden(&out, token.as_bytes(), "token");
    // The signature segment alone is the most sensitive part of a stolen token.
    let sig = token.rsplit('.').next().unwrap();
    assert!(!out.contains(sig));
}

#[test]
fn auth_config_hides_token_and_secret_for_every_source() {
    struct Idp;
    impl TokenProvider for Idp {
        fn token(&self, _: SystemTime) -> Result<String, AuthError> {
            Err(AuthError::Provider("down".into()))
        }
    }
    let static_token = hs256_signer().sign(at(0)).unwrap().expose().to_owned();
    let configs = [
        AuthConfig::new(hs256_signer()),
        AuthConfig::new(TokenSource::fixed(static_token.as_str())).with_username("u"),
        AuthConfig::new(TokenSource::Provider(Arc::new(Idp))),
    ];
    for config in &configs {
        let out = format!("{config:?} {config:#?}");
        assert_hidden(&out, SECRET, "secret");
        assert_hidden(&out, static_token.as_bytes(), "static token");
    }
    let secret_token = SecretToken::new(static_token.clone());
    assert_eq!(format!("{secret_token:?}"), "SecretToken([redacted])");
    assert_eq!(secret_token.expose(), static_token);
}

#[test]
fn errors_never_echo_the_token_or_key() {
    let token = hs256_signer().sign(at(0)).unwrap().expose().to_owned();
    let wrong_key = Validator::from_secret(&[Algorithm::HS256], OTHER_SECRET).unwrap();
    let mismatch = rs256_validator();
    let mut tampered = token.clone();
    tampered.push('x');
    let errors = [
        wrong_key.validate(&token, at(1)).unwrap_err(),
        mismatch.validate(&token, at(1)).unwrap_err(),
        hs256_validator().validate(&tampered, at(1)).unwrap_err(),
        hs256_validator().validate(&token, at(10_000)).unwrap_err(),
        JwtSigner::from_pem(Algorithm::ES256, RSA_PRIVATE, template()).unwrap_err(),
        Validator::from_secret(&[Algorithm::HS512], &SECRET[..40]).unwrap_err(),
        TokenSource::fixed("secret-opaque-password")
            .issue(at(0))
            .unwrap_err(),
    ];
    for err in &errors {
        let out = format!("{err} {err:?}");
        assert_hidden(&out, token.as_bytes(), "token");
        assert_hidden(&out, SECRET, "secret");
        assert_hidden(&out, &pem_body(RSA_PRIVATE), "private key");
        assert!(!out.contains("secret-opaque-password"), "{out}");
    }
}
