//! # jamey-mqtt-auth
//!
//! JWT authentication for jamey-mqtt, one crate for both sides: the client mints or fetches
//! the token it sends, and the broker plugin (`jamey-mqtt-mosquitto-auth`) validates it and
//! applies the permissions it grants with the very same code, so the two never disagree.
//!
//! This crate owns:
//! - [`Claims`]: the token payload (`sub`, `iat`, `exp`, `nbf`, `iss`, `aud`, `jti` and the
//!   MQTT [`PermissionClaims`]) and its conversion into the core's
//!   [`Permissions`](jamey_mqtt_core::permissions::Permissions), whose checks the client makes
//!   before a packet leaves and the broker plugin makes on every publish, subscribe and
//!   delivery;
//! - [`JwtSigner`]: mints tokens (HS256/384/512 from a secret; RS*, PS*, ES256/384 and EdDSA
//!   from a PEM private key) from a [`ClaimTemplate`];
//! - [`TokenSource`] / [`TokenProvider`]: where the client gets its token, and
//!   [`IssuedToken`], the token plus what was read from it;
//! - [`AuthConfig`]: the client's auth settings, and the
//!   [`AuthToken`](jamey_mqtt_core::AuthToken) it hands the state machine;
//! - [`Validator`]: checks signature, algorithm, time window, issuer and audience;
//! - [`env`](mod@env): the `MQTT_JWT_*` environment variables.
//!
//! The state machine (`jamey-mqtt-core`) runs none of this: it asks for a token with
//! `Action::FetchToken`, and the adapter (`jamey-mqtt`) calls [`AuthConfig::auth_token`] and
//! answers with `Client::handle_token`. Every time-dependent call takes `now: SystemTime` (JWT
//! times are wall-clock Unix seconds). `jsonwebtoken` reads the system clock for its own
//! `exp`/`nbf` checks, so those are switched off and done here against the `now` argument.
//! Token ids (`jti`) come from `now` and a per-signer counter, not from a random generator.
//!
//! Secrets (HMAC secrets, private keys, tokens) never appear in `Debug`, `Display` or error
//! messages. The crypto provider is aws-lc-rs, the same one rustls uses.
//!
//! What it does not do: fetch tokens over the network (a [`TokenProvider`] does that), JWKS key
//! discovery, or encrypted tokens (JWE).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod b64;
mod claims;
mod config;
pub mod env;
mod signer;
mod source;
mod token;
mod validator;

pub use claims::{Audience, ClaimName, Claims, PermissionClaims};
pub use config::AuthConfig;
pub use jsonwebtoken::Algorithm;
pub use signer::{ClaimTemplate, JwtSigner};
pub use source::{SecretToken, TokenProvider, TokenSource};
pub use token::{IssuedToken, MAX_TOKEN_LEN};
pub use validator::Validator;

use jamey_mqtt_core::topic::TopicError;

/// Why a token could not be minted, read or accepted, or why an auth setting is invalid.
///
/// Messages name what went wrong, never the secret, key or token involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// `exp` is in the past (beyond the leeway) at the `now` given.
    #[error("token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway) at the `now` given.
    #[error("token is not valid yet")]
    NotYetValid,
    /// The signature does not verify with the configured key (wrong key or tampered token).
    #[error("token signature does not verify")]
    BadSignature,
    /// `iss` is not the expected issuer.
    #[error("token issuer is not the expected issuer")]
    WrongIssuer,
    /// `aud` does not contain the expected audience (or the token names an audience and none is
    /// expected).
    #[error("token audience does not match")]
    WrongAudience,
    /// The token is not a well-formed JWT; the text says which part is wrong.
    #[error("token is malformed: {0}")]
    Malformed(&'static str),
    /// A claim the validator requires is absent.
    #[error("token lacks the required claim `{0}`")]
    MissingClaim(&'static str),
    /// The header names an algorithm this crate does not implement (`none`, `HS1`, ...).
    #[error("token algorithm is not supported")]
    UnsupportedAlgorithm,
    /// The header's algorithm is a real one but not one this validator accepts (e.g. an HS256
    /// token shown to an RS256 validator), or a key does not fit the algorithm family.
    #[error("token algorithm is not the expected one")]
    AlgorithmMismatch,
    /// A key or secret cannot be used; the text says why (never the key itself).
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// A permission claim is not a valid MQTT topic filter.
    #[error("permission filter {filter:?} is not a valid topic filter: {reason}")]
    InvalidPermission {
        /// The offending filter, as written in the claim.
        filter: String,
        /// Why it is not a valid filter.
        reason: TopicError,
    },
    /// An auth setting is out of range; the text says which.
    #[error("invalid auth configuration: {0}")]
    InvalidConfig(&'static str),
    /// The crypto backend failed to produce a signature.
    #[error("signing the token failed")]
    SigningFailed,
    /// A [`TokenProvider`] could not produce a token.
    #[error("token provider failed: {0}")]
    Provider(String),
}

/// Map a `jsonwebtoken` error to ours. Every kind is listed so an upgrade that changes the
/// meaning of one shows up in review; unknown future kinds count as malformed input.
pub(crate) fn map_jwt_error(err: &jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind as K;
    match err.kind() {
        K::InvalidSignature => AuthError::BadSignature,
        K::InvalidToken => AuthError::Malformed("not three dot-separated segments"),
        K::Base64(_) => AuthError::Malformed("a segment is not base64url"),
        K::Json(_) | K::Utf8(_) => AuthError::Malformed("a segment is not valid JSON"),
        K::InvalidClaimFormat(_) => AuthError::Malformed("a claim has the wrong type"),
        K::InvalidEcdsaKey | K::InvalidEddsaKey | K::InvalidRsaKey(_) | K::InvalidKeyFormat => {
            AuthError::InvalidKey("the key does not fit the algorithm")
        }
        K::RsaFailedSigning | K::Signing(_) => AuthError::SigningFailed,
        K::InvalidAlgorithmName | K::UnsupportedAlgorithm => AuthError::UnsupportedAlgorithm,
        K::InvalidAlgorithm | K::MissingAlgorithm => AuthError::AlgorithmMismatch,
        K::ExpiredSignature => AuthError::Expired,
        K::ImmatureSignature => AuthError::NotYetValid,
        K::InvalidIssuer => AuthError::WrongIssuer,
        K::InvalidAudience => AuthError::WrongAudience,
        K::InvalidSubject => AuthError::Malformed("unexpected subject"),
        K::MissingRequiredClaim(name) => AuthError::MissingClaim(ClaimName::static_name(name)),
        K::Provider(msg) => AuthError::Provider(msg.clone()),
        _ => AuthError::Malformed("unrecognised token error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::errors::{Error, ErrorKind};

    fn map(kind: ErrorKind) -> AuthError {
        map_jwt_error(&Error::from(kind))
    }

    #[test]
    fn jsonwebtoken_errors_map_to_their_own_variants() {
        assert_eq!(map(ErrorKind::InvalidSignature), AuthError::BadSignature);
        assert_eq!(map(ErrorKind::ExpiredSignature), AuthError::Expired);
        assert_eq!(map(ErrorKind::ImmatureSignature), AuthError::NotYetValid);
        assert_eq!(map(ErrorKind::InvalidIssuer), AuthError::WrongIssuer);
        assert_eq!(map(ErrorKind::InvalidAudience), AuthError::WrongAudience);
        assert_eq!(
            map(ErrorKind::InvalidAlgorithm),
            AuthError::AlgorithmMismatch
        );
        assert_eq!(
            map(ErrorKind::MissingAlgorithm),
            AuthError::AlgorithmMismatch
        );
        assert_eq!(
            map(ErrorKind::UnsupportedAlgorithm),
            AuthError::UnsupportedAlgorithm
        );
        assert_eq!(
            map(ErrorKind::InvalidAlgorithmName),
            AuthError::UnsupportedAlgorithm
        );
        assert_eq!(map(ErrorKind::RsaFailedSigning), AuthError::SigningFailed);
        assert_eq!(
            map(ErrorKind::Provider("down".into())),
            AuthError::Provider("down".into())
        );
        assert_eq!(
            map(ErrorKind::MissingRequiredClaim("exp".into())),
            AuthError::MissingClaim("exp")
        );
        assert_eq!(
            map(ErrorKind::MissingRequiredClaim("weird".into())),
            AuthError::MissingClaim("unknown")
        );
        assert!(matches!(
            map(ErrorKind::InvalidToken),
            AuthError::Malformed(_)
        ));
        assert!(matches!(
            map(ErrorKind::InvalidRsaKey("x".into())),
            AuthError::InvalidKey(_)
        ));
        assert!(matches!(
            map(ErrorKind::InvalidKeyFormat),
            AuthError::InvalidKey(_)
        ));
    }
}
