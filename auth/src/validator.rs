//! Accepting tokens: [`Validator`] checks the algorithm, signature, time window (against the
//! `now` argument), issuer, audience and required claims, and returns the [`Claims`].

use std::fmt;
use std::time::{Duration, SystemTime};

use jsonwebtoken::{AlgorithmFamily, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::claims::{ClaimName, Claims};
use super::signer::check_hmac_secret;
use super::token::{header_alg, since_epoch, split};
use super::{map_jwt_error, Algorithm, AuthError};

/// Claims every token must carry, whatever the validator requires on top.
const ALWAYS_REQUIRED: [ClaimName; 3] = [ClaimName::Sub, ClaimName::Iat, ClaimName::Exp];

/// Validates JWTs for the broker side and for tests.
///
/// Checks, in order, each failure its own [`AuthError`] variant:
/// 1. shape and size ([`Malformed`](AuthError::Malformed));
/// 2. header `alg`: implemented at all ([`UnsupportedAlgorithm`](AuthError::UnsupportedAlgorithm),
///    e.g. `none`), then one of the configured algorithms
///    ([`AlgorithmMismatch`](AuthError::AlgorithmMismatch)), before any key is used;
/// 3. signature ([`BadSignature`](AuthError::BadSignature));
/// 4. `sub`, `iat`, `exp` and the claims added with [`require`](Self::require) present
///    ([`MissingClaim`](AuthError::MissingClaim)), with the right types (`Malformed`);
/// 5. `now >= exp + leeway` is [`Expired`](AuthError::Expired); `now + leeway < nbf` is
///    [`NotYetValid`](AuthError::NotYetValid);
/// 6. issuer ([`WrongIssuer`](AuthError::WrongIssuer)) and audience
///    ([`WrongAudience`](AuthError::WrongAudience)).
///
/// An expected issuer or audience makes that claim required. A token that names an audience is
/// rejected by a validator that expects none (RFC 7519 §4.1.3). `jsonwebtoken`'s own time checks
/// read the system clock, so they are off; the leeway (default zero) applies here instead.
///
/// `Debug` never shows the key.
#[derive(Clone)]
pub struct Validator {
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
    leeway: Duration,
    issuer: Option<String>,
    audience: Option<String>,
    required: Vec<ClaimName>,
}

impl Validator {
    /// A validator for HMAC tokens signed with `secret`. Every algorithm must be HS256/384/512
    /// ([`AuthError::AlgorithmMismatch`] otherwise) and the secret long enough for each
    /// ([`AuthError::InvalidKey`]).
    pub fn from_secret(algorithms: &[Algorithm], secret: &[u8]) -> Result<Validator, AuthError> {
        check_algorithms(algorithms, AlgorithmFamily::Hmac)?;
        for alg in algorithms {
            check_hmac_secret(*alg, secret)?;
        }
        Ok(Validator::new(algorithms, DecodingKey::from_secret(secret)))
    }

    /// A validator with a PEM public key (SPKI `PUBLIC KEY`, or PKCS#1 `RSA PUBLIC KEY`). All
    /// algorithms must be of the key's family: RSA (RS*/PS*), EC (ES256/ES384) or Ed (EdDSA).
    ///
    /// Unreadable PEM or a key of another type is [`AuthError::InvalidKey`]; a well-formed key
    /// that simply is not the signer's makes every token fail with
    /// [`AuthError::BadSignature`].
    pub fn from_pem(
        algorithms: &[Algorithm],
        public_key_pem: &[u8],
    ) -> Result<Validator, AuthError> {
        let family = algorithms
            .first()
            .map(|a| a.family())
            .ok_or(AuthError::InvalidConfig(
                "a validator needs at least one algorithm",
            ))?;
        check_algorithms(algorithms, family)?;
        let key = match family {
            AlgorithmFamily::Hmac => return Err(AuthError::AlgorithmMismatch),
            AlgorithmFamily::Rsa => DecodingKey::from_rsa_pem(public_key_pem),
            AlgorithmFamily::Ec => DecodingKey::from_ec_pem(public_key_pem),
            AlgorithmFamily::Ed => DecodingKey::from_ed_pem(public_key_pem),
        }
        .map_err(|_| AuthError::InvalidKey("not a PEM public key of the algorithm's type"))?;
        Ok(Validator::new(algorithms, key))
    }

    fn new(algorithms: &[Algorithm], key: DecodingKey) -> Validator {
        Validator {
            key,
            algorithms: algorithms.to_vec(),
            leeway: Duration::ZERO,
            issuer: None,
            audience: None,
            required: ALWAYS_REQUIRED.to_vec(),
        }
    }

    /// Allow this much clock skew on `exp` and `nbf` (default zero).
    pub fn with_leeway(mut self, leeway: Duration) -> Validator {
        self.leeway = leeway;
        self
    }

    /// Require `iss` to equal `issuer`.
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Validator {
        self.issuer = Some(issuer.into());
        self.require(ClaimName::Iss)
    }

    /// Require `aud` to contain `audience`.
    pub fn with_audience(mut self, audience: impl Into<String>) -> Validator {
        self.audience = Some(audience.into());
        self.require(ClaimName::Aud)
    }

    /// Require `claim` to be present (`sub`, `iat` and `exp` always are).
    pub fn require(mut self, claim: ClaimName) -> Validator {
        if !self.required.contains(&claim) {
            self.required.push(claim);
        }
        self
    }

    /// The accepted algorithms.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// The clock-skew allowance.
    pub fn leeway(&self) -> Duration {
        self.leeway
    }

    /// Validate `token` at time `now` and return its claims. Never panics; any input that is not
    /// a valid token is an error.
    pub fn validate(&self, token: &str, now: SystemTime) -> Result<Claims, AuthError> {
        let parts = split(token)?;
        let alg = header_alg(&parts)?;
        if !self.algorithms.contains(&alg) {
            return Err(AuthError::AlgorithmMismatch);
        }

        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, &self.key, &self.signature_only())
                .map_err(|e| map_jwt_error(&e))?;
        let payload = data.claims;
        for claim in &self.required {
            if matches!(payload.get(claim.as_str()), None | Some(Value::Null)) {
                return Err(AuthError::MissingClaim(claim.as_str()));
            }
        }
        let claims: Claims = serde_json::from_value(Value::Object(payload))
            .map_err(|_| AuthError::Malformed("a claim has the wrong type"))?;

        self.check_times(&claims, now)?;
        if let Some(expected) = &self.issuer {
            if claims.iss.as_deref() != Some(expected.as_str()) {
                return Err(AuthError::WrongIssuer);
            }
        }
        match (&claims.aud, &self.audience) {
            (Some(aud), Some(expected)) if !aud.contains(expected) => {
                return Err(AuthError::WrongAudience)
            }
            (Some(_), None) => return Err(AuthError::WrongAudience),
            _ => {}
        }
        Ok(claims)
    }

    /// `jsonwebtoken` settings that check only the algorithm and the signature.
    fn signature_only(&self) -> Validation {
        let mut v = Validation::new(Algorithm::HS256);
        v.algorithms.clone_from(&self.algorithms);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = false;
        v.leeway = 0;
        v
    }

    fn check_times(&self, claims: &Claims, now: SystemTime) -> Result<(), AuthError> {
        let now = since_epoch(now);
        let exp = Duration::from_secs(claims.exp);
        // Overflow means "so far in the future it cannot have expired".
        if exp
            .checked_add(self.leeway)
            .is_some_and(|limit| now >= limit)
        {
            return Err(AuthError::Expired);
        }
        if let Some(nbf) = claims.nbf {
            let skewed = now.checked_add(self.leeway).unwrap_or(Duration::MAX);
            if skewed < Duration::from_secs(nbf) {
                return Err(AuthError::NotYetValid);
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validator")
            .field("key", &"[redacted]")
            .field("algorithms", &self.algorithms)
            .field("leeway", &self.leeway)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("required", &self.required)
            .finish()
    }
}

fn check_algorithms(algorithms: &[Algorithm], family: AlgorithmFamily) -> Result<(), AuthError> {
    if algorithms.is_empty() {
        return Err(AuthError::InvalidConfig(
            "a validator needs at least one algorithm",
        ));
    }
    if algorithms.iter().any(|a| a.family() != family) {
        return Err(AuthError::AlgorithmMismatch);
    }
    Ok(())
}
