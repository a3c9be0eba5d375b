//! [`IssuedToken`] and the shared low-level JWT reading: splitting, the header's `alg`, the
//! unverified payload, and Unix-seconds conversions.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::claims::{Claims, NumericDate};
use super::{b64, Algorithm, AuthError};

/// The longest token accepted, in bytes. Longer input is [`AuthError::Malformed`] before any
/// decoding, so a hostile peer cannot make the validator decode megabytes.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// A token ready to use as the MQTT password, with what could be read from it.
///
/// The token is secret: `Debug` shows `[redacted]`, and only [`expose`](Self::expose) returns it.
/// For tokens minted by a [`JwtSigner`](super::JwtSigner) the claims are the ones signed; for
/// static or provider tokens they were read **without verifying the signature** and are only
/// good for scheduling a refresh and client-side pre-checks (the broker enforces).
#[derive(Clone)]
pub struct IssuedToken {
    token: String,
    subject: Option<String>,
    issued_at: Option<SystemTime>,
    expires_at: Option<SystemTime>,
    claims: Option<Claims>,
}

impl IssuedToken {
    pub(crate) fn from_claims(token: String, claims: Claims) -> IssuedToken {
        IssuedToken {
            token,
            subject: Some(claims.sub.clone()),
            issued_at: from_unix(claims.iat),
            expires_at: from_unix(claims.exp),
            claims: Some(claims),
        }
    }

    /// Read a token minted elsewhere **without verifying it**: `sub`, `iat` and `exp` if present,
    /// and the full [`Claims`] if the payload has their shape.
    ///
    /// Fails with [`AuthError::Malformed`] if the token is not three base64url segments whose
    /// payload is a JSON object, or if `sub`/`iat`/`exp` are present with the wrong type. A token
    /// without `exp` is accepted and never expires ([`expires_at`](Self::expires_at) is `None`).
    pub fn read_unverified(token: impl Into<String>) -> Result<IssuedToken, AuthError> {
        let token = token.into();
        let parts = split(&token)?;
        let payload = payload_object(parts.payload)?;
        let date = |name: &str| -> Result<Option<u64>, AuthError> {
            match payload.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => serde_json::from_value::<NumericDate>(v.clone())
                    .map(|n| Some(n.0))
                    .map_err(|_| AuthError::Malformed("a time claim is not a NumericDate")),
            }
        };
        let exp = date("exp")?;
        let iat = date("iat")?;
        let subject = match payload.get("sub") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(AuthError::Malformed("`sub` is not a string")),
        };
        let claims = serde_json::from_value::<Claims>(Value::Object(payload)).ok();
        Ok(IssuedToken {
            token,
            subject,
            issued_at: iat.and_then(from_unix),
            expires_at: exp.and_then(from_unix),
            claims,
        })
    }

    /// The token itself, to send as the MQTT password. Do not log it.
    pub fn expose(&self) -> &str {
        &self.token
    }

    /// The `sub` claim, if the token has one.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// When the token was issued (`iat`), if known.
    pub fn issued_at(&self) -> Option<SystemTime> {
        self.issued_at
    }

    /// When the token expires (`exp`), if it does.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// The claims, if the payload could be read as [`Claims`].
    pub fn claims(&self) -> Option<&Claims> {
        self.claims.as_ref()
    }

    /// Is the token expired at `now`? (`now >= exp`; a token without `exp` never expires.)
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|exp| now >= exp)
    }
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"[redacted]")
            .field("subject", &self.subject)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("claims", &self.claims)
            .finish()
    }
}

/// The three segments of a compact JWS.
pub(crate) struct Parts<'a> {
    pub(crate) header: &'a str,
    pub(crate) payload: &'a str,
}

/// Split a compact JWS into its segments, rejecting empty, oversized and mis-shaped input.
pub(crate) fn split(token: &str) -> Result<Parts<'_>, AuthError> {
    if token.is_empty() {
        return Err(AuthError::Malformed("empty token"));
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(AuthError::Malformed("token too long"));
    }
    let mut it = token.split('.');
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some(header), Some(payload), Some(_signature), None)
            if !header.is_empty() && !payload.is_empty() =>
        {
            Ok(Parts { header, payload })
        }
        _ => Err(AuthError::Malformed("not three dot-separated segments")),
    }
}

/// Read the header's `alg` before anything is trusted.
///
/// An algorithm this crate does not implement (including `none`) is
/// [`AuthError::UnsupportedAlgorithm`]; a header that is not a JSON object with a string `alg`
/// is malformed, and so is one with `crit` extensions (none are understood here).
pub(crate) fn header_alg(parts: &Parts<'_>) -> Result<Algorithm, AuthError> {
    let bytes = b64::decode(parts.header).ok_or(AuthError::Malformed("header is not base64url"))?;
    let header: Map<String, Value> = serde_json::from_slice(&bytes)
        .map_err(|_| AuthError::Malformed("header is not a JSON object"))?;
    // RFC 7515 §4.1.11: a recipient that does not understand a critical extension must reject.
    if header.contains_key("crit") {
        return Err(AuthError::Malformed("header has critical extensions"));
    }
    match header.get("alg") {
        Some(Value::String(alg)) => {
            Algorithm::from_str(alg).map_err(|_| AuthError::UnsupportedAlgorithm)
        }
        Some(_) => Err(AuthError::Malformed("header `alg` is not a string")),
        None => Err(AuthError::Malformed("header has no `alg`")),
    }
}

/// Decode the payload segment as a JSON object, without verifying anything.
pub(crate) fn payload_object(payload: &str) -> Result<Map<String, Value>, AuthError> {
    let bytes = b64::decode(payload).ok_or(AuthError::Malformed("payload is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed("payload is not a JSON object"))
}

/// Time since the Unix epoch; times before the epoch count as 0.
pub(crate) fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO)
}

/// Unix seconds as a `SystemTime`, `None` if the platform cannot represent it.
pub(crate) fn from_unix(secs: u64) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn unverified_read_gets_exp_sub_and_claims() {
        let t = format!(
            "{}.{}.sig",
            enc(r#"{"alg":"RS256"}"#),
            enc(r#"{"sub":"dev-1","iat":100,"exp":200,"extra":true}"#)
        );
        let it = IssuedToken::read_unverified(t.clone()).unwrap();
        assert_eq!(it.subject(), Some("dev-1"));
        assert_eq!(it.expires_at(), from_unix(200));
        assert_eq!(it.issued_at(), from_unix(100));
        assert_eq!(it.claims().unwrap().exp, 200);
        assert_eq!(it.expose(), t);
        assert!(!it.is_expired(from_unix(199).unwrap()));
        assert!(it.is_expired(from_unix(200).unwrap()));
    }

    #[test]
    fn unverified_read_without_exp_never_expires_and_has_no_claims() {
        let t = format!("{}.{}.", enc(r#"{"alg":"HS256"}"#), enc(r#"{"sub":"x"}"#));
        let it = IssuedToken::read_unverified(t).unwrap();
        assert_eq!(it.expires_at(), None);
        assert!(it.claims().is_none());
        assert!(!it.is_expired(SystemTime::UNIX_EPOCH + Duration::from_secs(u32::MAX.into())));
    }

    #[test]
    fn unverified_read_rejects_wrongly_typed_times_and_non_objects() {
        let bad_exp = format!("{}.{}.s", enc("{}"), enc(r#"{"exp":"soon"}"#));
        assert!(matches!(
            IssuedToken::read_unverified(bad_exp),
            Err(AuthError::Malformed(_))
        ));
        let array = format!("{}.{}.s", enc("{}"), enc("[1,2]"));
        assert!(matches!(
            IssuedToken::read_unverified(array),
            Err(AuthError::Malformed(_))
        ));
        let sub_num = format!("{}.{}.s", enc("{}"), enc(r#"{"sub":5}"#));
        assert!(matches!(
            IssuedToken::read_unverified(sub_num),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn header_alg_distinguishes_unsupported_from_malformed() {
        let p = |h: &str| format!("{}.e30.", enc(h));
        let alg = |t: &str| split(t).and_then(|parts| header_alg(&parts));
        assert_eq!(
            alg(&p(r#"{"alg":"none"}"#)),
            Err(AuthError::UnsupportedAlgorithm)
        );
        assert_eq!(
            alg(&p(r#"{"alg":"HS1"}"#)),
            Err(AuthError::UnsupportedAlgorithm)
        );
        assert_eq!(alg(&p(r#"{"alg":"ES256"}"#)), Ok(Algorithm::ES256));
        assert!(matches!(
            alg(&p(r#"{"alg":7}"#)),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            alg(&p(r#"{"typ":"JWT"}"#)),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(alg(&p("[]")), Err(AuthError::Malformed(_))));
        let crit = p(r#"{"alg":"HS256","crit":["exp"],"exp":1}"#);
        assert_eq!(
            alg(&crit),
            Err(AuthError::Malformed("header has critical extensions"))
        );
        assert!(matches!(alg("!!.e30."), Err(AuthError::Malformed(_))));
    }

    #[test]
    fn split_rejects_bad_shapes() {
        for t in ["", "a", "a.b", "a.b.c.d", ".b.c", "a..c"] {
            assert!(matches!(split(t), Err(AuthError::Malformed(_))), "{t:?}");
        }
        assert!(split("a.b.").is_ok());
        assert!(matches!(
            split(&"a.b.c".repeat(MAX_TOKEN_LEN)),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn time_conversions_saturate_before_the_epoch() {
        let before = UNIX_EPOCH.checked_sub(Duration::from_secs(5)).unwrap();
        assert_eq!(since_epoch(before), Duration::ZERO);
        assert_eq!(
            since_epoch(UNIX_EPOCH + Duration::from_millis(1999)).as_secs(),
            1
        );
    }
}
