//! Minting tokens: [`JwtSigner`] signs [`Claims`] built from a [`ClaimTemplate`] at a given time.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use jsonwebtoken::{AlgorithmFamily, EncodingKey, Header};

use super::claims::{Audience, Claims, PermissionClaims};
use super::token::{since_epoch, IssuedToken};
use super::{map_jwt_error, Algorithm, AuthError};

/// The claims a [`JwtSigner`] puts in every token; times and `jti` are added when signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimTemplate {
    /// `sub`: who the tokens are for (and the client's default MQTT username). Not empty.
    pub sub: String,
    /// `iss`, if any.
    pub iss: Option<String>,
    /// `aud`, if any.
    pub aud: Option<Audience>,
    /// Lifetime: `exp = iat + ttl` (whole seconds; at least one second).
    pub ttl: Duration,
    /// The `permissions` claim.
    pub permissions: PermissionClaims,
}

impl ClaimTemplate {
    /// A template for subject `sub` with lifetime `ttl`, no issuer, audience or permissions.
    pub fn new(sub: impl Into<String>, ttl: Duration) -> ClaimTemplate {
        ClaimTemplate {
            sub: sub.into(),
            iss: None,
            aud: None,
            ttl,
            permissions: PermissionClaims::default(),
        }
    }

    /// Set `iss`.
    pub fn with_issuer(mut self, iss: impl Into<String>) -> ClaimTemplate {
        self.iss = Some(iss.into());
        self
    }

    /// Set `aud` (a string, or a `Vec<String>` for a list).
    pub fn with_audience(mut self, aud: impl Into<Audience>) -> ClaimTemplate {
        self.aud = Some(aud.into());
        self
    }

    /// Set the `permissions` claim.
    pub fn with_permissions(mut self, permissions: PermissionClaims) -> ClaimTemplate {
        self.permissions = permissions;
        self
    }

    /// Check the template: non-empty `sub`, `ttl` of at least one second, valid filters.
    pub fn validate(&self) -> Result<(), AuthError> {
        if self.sub.is_empty() {
            return Err(AuthError::InvalidConfig("claim template `sub` is empty"));
        }
        if self.ttl.as_secs() == 0 {
            return Err(AuthError::InvalidConfig(
                "claim template `ttl` is under one second",
            ));
        }
        self.permissions.to_permissions().map(|_| ())
    }
}

/// Mints JWTs: an algorithm, a private key or HMAC secret, and a [`ClaimTemplate`].
///
/// Each token gets `iat = nbf = now` (whole seconds), `exp = iat + ttl` and a `jti` made of
/// `now` and a per-signer counter (`"<secs>-<nanos>-<n>"`), so no random generator is involved.
/// The key is checked when the signer is built: a key that cannot sign with the algorithm is
/// [`AuthError::InvalidKey`] then, not on the first refresh.
///
/// `Debug` shows the algorithm and template, never the key.
pub struct JwtSigner {
    algorithm: Algorithm,
    key: EncodingKey,
    template: ClaimTemplate,
    issued: AtomicU64,
}

impl JwtSigner {
    /// A signer for HS256, HS384 or HS512 with a shared `secret`.
    ///
    /// The secret must be at least as long as the hash output (32, 48 or 64 bytes; RFC 7518
    /// §3.2), otherwise [`AuthError::InvalidKey`]. A non-HMAC algorithm is
    /// [`AuthError::AlgorithmMismatch`].
    pub fn from_secret(
        algorithm: Algorithm,
        secret: &[u8],
        template: ClaimTemplate,
    ) -> Result<JwtSigner, AuthError> {
        check_hmac_secret(algorithm, secret)?;
        JwtSigner::new(algorithm, EncodingKey::from_secret(secret), template)
    }

    /// A signer with a PEM private key: RSA (PKCS#1 or PKCS#8) for RS256/384/512 and
    /// PS256/384/512, PKCS#8 EC for ES256 (P-256) / ES384 (P-384), PKCS#8 Ed25519 for EdDSA.
    ///
    /// HMAC algorithms are [`AuthError::AlgorithmMismatch`] (use
    /// [`from_secret`](Self::from_secret)); unreadable PEM or a key of the wrong type or curve is
    /// [`AuthError::InvalidKey`].
    pub fn from_pem(
        algorithm: Algorithm,
        private_key_pem: &[u8],
        template: ClaimTemplate,
    ) -> Result<JwtSigner, AuthError> {
        let key = match algorithm.family() {
            AlgorithmFamily::Hmac => return Err(AuthError::AlgorithmMismatch),
            AlgorithmFamily::Rsa => EncodingKey::from_rsa_pem(private_key_pem),
            AlgorithmFamily::Ec => EncodingKey::from_ec_pem(private_key_pem),
            AlgorithmFamily::Ed => EncodingKey::from_ed_pem(private_key_pem),
        }
        .map_err(|_| AuthError::InvalidKey("not a PEM private key of the algorithm's type"))?;
        JwtSigner::new(algorithm, key, template)
    }

    fn new(
        algorithm: Algorithm,
        key: EncodingKey,
        template: ClaimTemplate,
    ) -> Result<JwtSigner, AuthError> {
        template.validate()?;
        // Sign a probe message now so a key that does not fit (wrong curve, corrupt DER) fails
        // at configuration time.
        jsonwebtoken::crypto::sign(b"jamey-mqtt key check", &key, algorithm)
            .map_err(|_| AuthError::InvalidKey("the key cannot sign with this algorithm"))?;
        Ok(JwtSigner {
            algorithm,
            key,
            template,
            issued: AtomicU64::new(0),
        })
    }

    /// The signing algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The claim template.
    pub fn template(&self) -> &ClaimTemplate {
        &self.template
    }

    /// The claims a token minted at `now` with id `jti` carries.
    pub fn claims_at(&self, now: SystemTime, jti: impl Into<String>) -> Claims {
        let iat = since_epoch(now).as_secs();
        let t = &self.template;
        Claims {
            sub: t.sub.clone(),
            iat,
            exp: iat.saturating_add(t.ttl.as_secs()),
            nbf: Some(iat),
            iss: t.iss.clone(),
            aud: t.aud.clone(),
            jti: Some(jti.into()),
            permissions: t.permissions.clone(),
        }
    }

    /// Mint a token at `now`, with the next `jti` from this signer's counter.
    pub fn sign(&self, now: SystemTime) -> Result<IssuedToken, AuthError> {
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        let since = since_epoch(now);
        let jti = format!("{}-{:09}-{n}", since.as_secs(), since.subsec_nanos());
        self.sign_with_jti(now, jti)
    }

    /// Mint a token at `now` with the given `jti`.
    pub fn sign_with_jti(
        &self,
        now: SystemTime,
        jti: impl Into<String>,
    ) -> Result<IssuedToken, AuthError> {
        self.sign_claims(self.claims_at(now, jti))
    }

    /// Sign arbitrary `claims` with this signer's key (tooling and tests: expired or
    /// not-yet-valid tokens, other subjects).
    pub fn sign_claims(&self, claims: Claims) -> Result<IssuedToken, AuthError> {
        let token = jsonwebtoken::encode(&Header::new(self.algorithm), &claims, &self.key)
            .map_err(|e| map_jwt_error(&e))?;
        Ok(IssuedToken::from_claims(token, claims))
    }
}

impl Clone for JwtSigner {
    /// The clone continues from the same `jti` counter value.
    fn clone(&self) -> JwtSigner {
        JwtSigner {
            algorithm: self.algorithm,
            key: self.key.clone(),
            template: self.template.clone(),
            issued: AtomicU64::new(self.issued.load(Ordering::Relaxed)),
        }
    }
}

impl fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtSigner")
            .field("algorithm", &self.algorithm)
            .field("key", &"[redacted]")
            .field("template", &self.template)
            .finish()
    }
}

/// An HMAC secret must suit the algorithm and be at least the hash length (RFC 7518 §3.2).
pub(crate) fn check_hmac_secret(algorithm: Algorithm, secret: &[u8]) -> Result<(), AuthError> {
    let min = match algorithm {
        Algorithm::HS256 => 32,
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => return Err(AuthError::AlgorithmMismatch),
    };
    if secret.len() < min {
        return Err(AuthError::InvalidKey(
            "HMAC secret shorter than the hash output",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn signer() -> JwtSigner {
        let t = ClaimTemplate::new("dev-1", Duration::from_secs(600)).with_issuer("iss");
        JwtSigner::from_secret(Algorithm::HS256, SECRET, t).unwrap()
    }

    #[test]
    fn claims_take_times_from_now_and_template() {
        let now = UNIX_EPOCH + Duration::from_millis(1_000_500);
        let c = signer().claims_at(now, "j");
        assert_eq!((c.iat, c.nbf, c.exp), (1000, Some(1000), 1600));
        assert_eq!(c.iss.as_deref(), Some("iss"));
        assert_eq!(c.jti.as_deref(), Some("j"));
    }

    #[test]
    fn jti_is_derived_from_now_and_a_counter() {
        let s = signer();
        let now = UNIX_EPOCH + Duration::new(1000, 5);
        let a = s.sign(now).unwrap();
        let b = s.sign(now).unwrap();
        assert_eq!(a.claims().unwrap().jti.as_deref(), Some("1000-000000005-0"));
        assert_eq!(b.claims().unwrap().jti.as_deref(), Some("1000-000000005-1"));
        // Same inputs, same output: the clone continues the counter deterministically.
        let c = s.clone().sign(now).unwrap();
        assert_eq!(c.claims().unwrap().jti.as_deref(), Some("1000-000000005-2"));
    }

    #[test]
    fn template_is_checked() {
        let bad_ttl = ClaimTemplate::new("a", Duration::from_millis(999));
        assert!(matches!(
            JwtSigner::from_secret(Algorithm::HS256, SECRET, bad_ttl),
            Err(AuthError::InvalidConfig(_))
        ));
        let no_sub = ClaimTemplate::new("", Duration::from_secs(1));
        assert!(matches!(
            no_sub.validate(),
            Err(AuthError::InvalidConfig(_))
        ));
        let bad_perm =
            ClaimTemplate::new("a", Duration::from_secs(1)).with_permissions(PermissionClaims {
                publish: vec![String::new()],
                subscribe: vec![],
            });
        assert!(matches!(
            bad_perm.validate(),
            Err(AuthError::InvalidPermission { .. })
        ));
    }

    #[test]
    fn hmac_secret_length_and_family_are_checked() {
        let t = || ClaimTemplate::new("a", Duration::from_secs(60));
        assert!(matches!(
            JwtSigner::from_secret(Algorithm::HS256, &SECRET[..31], t()),
            Err(AuthError::InvalidKey(_))
        ));
        assert!(JwtSigner::from_secret(Algorithm::HS256, &SECRET[..32], t()).is_ok());
        assert!(matches!(
            JwtSigner::from_secret(Algorithm::HS512, &SECRET[..63], t()),
            Err(AuthError::InvalidKey(_))
        ));
        assert_eq!(
            JwtSigner::from_secret(Algorithm::RS256, SECRET, t()).unwrap_err(),
            AuthError::AlgorithmMismatch
        );
        assert_eq!(
            JwtSigner::from_pem(Algorithm::HS256, SECRET, t()).unwrap_err(),
            AuthError::AlgorithmMismatch
        );
        assert!(matches!(
            JwtSigner::from_pem(Algorithm::RS256, b"not pem", t()),
            Err(AuthError::InvalidKey(_))
        ));
    }
}
