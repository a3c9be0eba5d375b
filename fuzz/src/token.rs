//! Fuzz harness `token`: arbitrary strings as JWTs to [`Validator::validate`].
//!
//! Input: byte 0 picks the shape, the rest fills it:
//! - raw: the rest, as a (lossy UTF-8) string;
//! - structured: the rest split at 0xFF bytes into header JSON, payload JSON and signature,
//!   each base64url-encoded and joined with dots, so that the JSON inside is what mutates;
//! - tampered: a token really signed with the validator's key, with edits (byte changes,
//!   insertions, truncation) drawn from the rest.
//!
//! Asserts: never a panic; raw and structured tokens are never accepted (the fuzzer does not
//! know the key); every refusal is a validation error (never `SigningFailed`, `InvalidKey`,
//! `InvalidConfig` or a provider error: the key and configuration are fine); a tampered token is
//! either refused or accepted with exactly the claims that were signed (edits that do not change
//! the decoded bytes, like unused base64 bits, may pass; changed claims never do).

use std::time::{Duration, SystemTime};

use jamey_mqtt_auth::{Algorithm, AuthError, ClaimTemplate, JwtSigner, Validator};

pub const SECRET: &[u8] = b"jamey-mqtt fuzz secret: 32 bytes or more for HS256!";

fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

fn check_refusal(error: &AuthError, token: &str) {
    assert!(
        !matches!(
            error,
            AuthError::SigningFailed
                | AuthError::InvalidKey(_)
                | AuthError::InvalidConfig(_)
                | AuthError::Provider(_)
        ),
        "validation failed with an internal error {error:?} for {token:?}"
    );
}

pub fn run(data: &[u8]) {
    let [mode, rest @ ..] = data else {
        return;
    };
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let validator =
        Validator::from_secret(&[Algorithm::HS256, Algorithm::HS384], SECRET).expect("valid");
    match mode % 3 {
        0 | 1 => {
            let token = if mode % 3 == 0 {
                String::from_utf8_lossy(rest).into_owned()
            } else {
                let parts: Vec<String> = rest.splitn(3, |&b| b == 0xFF).map(b64url).collect();
                parts.join(".")
            };
            match validator.validate(&token, now) {
                Ok(claims) => {
                    panic!("a token not signed with the key passed: {token:?} {claims:?}")
                }
                Err(error) => check_refusal(&error, &token),
            }
        }
        _ => {
            let signer = JwtSigner::from_secret(
                Algorithm::HS256,
                SECRET,
                ClaimTemplate::new("device-1", Duration::from_secs(600)),
            )
            .expect("valid signer");
            let issued = signer.sign(now).expect("signs");
            let original = issued.expose().as_bytes().to_vec();
            let signed = validator
                .validate(issued.expose(), now)
                .expect("the untouched token passes");
            let mut token = original.clone();
            for edit in rest.chunks(3) {
                let [op, at, value] = *edit else { break };
                let at = usize::from(at) * token.len() / 256;
                match op % 4 {
                    0 if at < token.len() => token[at] = value,
                    1 => token.insert(at.min(token.len()), value),
                    2 if at < token.len() => {
                        token.remove(at);
                    }
                    _ => token.truncate(token.len().saturating_sub(usize::from(value % 4))),
                }
            }
            let token = String::from_utf8_lossy(&token).into_owned();
            match validator.validate(&token, now) {
                Ok(claims) => assert_eq!(
                    claims, signed,
                    "a tampered token passed with other claims: {token:?}"
                ),
                Err(error) => check_refusal(&error, &token),
            }
        }
    }
}
