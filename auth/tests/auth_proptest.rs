//! Arbitrary input to the validator and the unverified reader: always an error, never a panic,
//! never `Ok`.

mod auth_support;

use auth_support::*;
use jamey_mqtt_auth::{Algorithm, IssuedToken, TokenSource, Validator};
use proptest::prelude::*;

fn validators() -> Vec<Validator> {
    vec![
        hs256_validator(),
        Validator::from_secret(&[Algorithm::HS256], SECRET).unwrap(),
        rs256_validator(),
        Validator::from_pem(&[Algorithm::ES256], EC_PUBLIC).unwrap(),
        Validator::from_pem(&[Algorithm::EdDSA], ED_PUBLIC).unwrap(),
    ]
}

/// Three segments of arbitrary JSON-ish text, base64url-encoded: gets past the shape checks so
/// the header, signature and claim paths are exercised.
fn jwt_shaped() -> impl Strategy<Value = String> {
    let header = prop_oneof![
        Just(r#"{"alg":"HS256","typ":"JWT"}"#.to_owned()),
        Just(r#"{"alg":"RS256"}"#.to_owned()),
        Just(r#"{"alg":"ES256"}"#.to_owned()),
        Just(r#"{"alg":"EdDSA"}"#.to_owned()),
        Just(r#"{"alg":"none"}"#.to_owned()),
        any::<String>(),
    ];
    let payload = prop_oneof![
        Just(format!(r#"{{"sub":"a","iat":{T0},"exp":{}}}"#, T0 + 60)),
        "\\{\"[a-z]{1,4}\":[0-9\\-\\.e]{1,12}\\}",
        any::<String>(),
    ];
    let signature = prop_oneof![Just(String::new()), "[A-Za-z0-9_-]{0,400}", any::<String>()];
    (header, payload, signature)
        .prop_map(|(h, p, s)| format!("{}.{}.{}", b64(h.as_bytes()), b64(p.as_bytes()), s))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_strings_never_validate(input in any::<String>()) {
        for v in validators() {
            prop_assert!(v.validate(&input, at(1)).is_err());
        }
        // The unverified reader may accept shape-valid junk, but must not panic.
        let _ = IssuedToken::read_unverified(input.clone());
        let _ = TokenSource::fixed(input).issue(at(1));
    }

    #[test]
    fn dotted_strings_never_validate(input in "[A-Za-z0-9_=+/.-]{0,300}") {
        for v in validators() {
            prop_assert!(v.validate(&input, at(1)).is_err());
        }
        let _ = IssuedToken::read_unverified(input);
    }

    #[test]
    fn jwt_shaped_forgeries_never_validate(input in jwt_shaped()) {
        for v in validators() {
            prop_assert!(v.validate(&input, at(1)).is_err());
        }
        let _ = IssuedToken::read_unverified(input);
    }

    #[test]
    fn one_flipped_byte_in_a_real_token_is_rejected(index in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let token = hs256_signer().sign(at(0)).unwrap().expose().to_owned();
        let mut bytes = token.clone().into_bytes();
        let i = index.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        let mutated = String::from_utf8_lossy(&bytes).into_owned();
        prop_assume!(mutated != token);
        prop_assert!(hs256_validator().validate(&mutated, at(1)).is_err());
    }
}
