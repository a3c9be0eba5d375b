//! Where the client's token comes from: [`TokenSource`] (a signer, a fixed token, or a
//! [`TokenProvider`]) and [`SecretToken`].

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use super::signer::JwtSigner;
use super::token::IssuedToken;
use super::AuthError;

/// Supplies tokens minted outside the client, e.g. by an identity service.
///
/// The client's driver calls [`token`](Self::token) when the state machine asks for a (new)
/// token (never the state machine itself). It runs on the driver's task: fetch ahead of time
/// and cache rather than block for long. Return [`AuthError::Provider`] when no token can be
/// had; the connect attempt (or the refresh) fails and is retried by the usual policy.
pub trait TokenProvider: Send + Sync {
    /// A token valid at `now`.
    fn token(&self, now: SystemTime) -> Result<String, AuthError>;
}

/// A token string that never shows in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretToken(String);

impl SecretToken {
    /// Wrap a token.
    pub fn new(token: impl Into<String>) -> SecretToken {
        SecretToken(token.into())
    }

    /// The token itself. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretToken {
    fn from(token: String) -> SecretToken {
        SecretToken(token)
    }
}

impl From<&str> for SecretToken {
    fn from(token: &str) -> SecretToken {
        SecretToken(token.to_owned())
    }
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken([redacted])")
    }
}

/// How the client gets the token it sends as its MQTT password.
#[derive(Clone)]
pub enum TokenSource {
    /// Mint a fresh token locally whenever one is needed.
    Signer(JwtSigner),
    /// A token minted elsewhere. Its `exp` is read (not verified) to schedule the refresh, which
    /// cannot produce a newer token: once it expires, [`issue`](Self::issue) fails with
    /// [`AuthError::Expired`].
    Static(SecretToken),
    /// Ask a [`TokenProvider`] each time.
    Provider(Arc<dyn TokenProvider>),
}

impl TokenSource {
    /// A [`TokenSource::Static`] source.
    pub fn fixed(token: impl Into<SecretToken>) -> TokenSource {
        TokenSource::Static(token.into())
    }

    /// A [`TokenSource::Provider`] source.
    pub fn provider(provider: impl TokenProvider + 'static) -> TokenSource {
        TokenSource::Provider(Arc::new(provider))
    }

    /// Get a token to use at `now`.
    ///
    /// A signer mints one. A static or provided token is read without verification (see
    /// [`IssuedToken::read_unverified`]): it must be a JWT with a readable payload
    /// ([`AuthError::Malformed`] otherwise), and one already expired at `now` is
    /// [`AuthError::Expired`], so a returned token is always usable at `now`.
    pub fn issue(&self, now: SystemTime) -> Result<IssuedToken, AuthError> {
        let token = match self {
            TokenSource::Signer(signer) => return signer.sign(now),
            TokenSource::Static(token) => IssuedToken::read_unverified(token.expose())?,
            TokenSource::Provider(provider) => IssuedToken::read_unverified(provider.token(now)?)?,
        };
        if token.is_expired(now) {
            return Err(AuthError::Expired);
        }
        Ok(token)
    }
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSource::Signer(signer) => f.debug_tuple("Signer").field(signer).finish(),
            TokenSource::Static(token) => f.debug_tuple("Static").field(token).finish(),
            TokenSource::Provider(_) => f.write_str("Provider(..)"),
        }
    }
}

impl From<JwtSigner> for TokenSource {
    fn from(signer: JwtSigner) -> TokenSource {
        TokenSource::Signer(signer)
    }
}
