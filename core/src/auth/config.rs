//! [`AuthConfig`]: the client's auth settings, and when to refresh a token.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::source::TokenSource;
use super::token::IssuedToken;
use super::AuthError;
use crate::permissions::Permissions;

/// How the client authenticates: where tokens come from, the MQTT username, and how early to
/// refresh. Build with [`AuthConfig::new`] and the `with_*` methods, then call
/// [`validate`](Self::validate) once.
///
/// `Debug` never shows a key or token.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Where tokens come from.
    pub source: TokenSource,
    /// MQTT username; `None` means the token's `sub` claim.
    pub username: Option<String>,
    /// Refresh this long before `exp`. At most [`MAX_REFRESH_MARGIN`](Self::MAX_REFRESH_MARGIN)
    /// and, for a signer, shorter than its token lifetime.
    pub refresh_margin: Duration,
    /// Take the client's publish/subscribe permissions from the token's `permissions` claim.
    pub permissions_from_token: bool,
}

impl AuthConfig {
    /// The default [`refresh_margin`](Self::refresh_margin): one minute.
    pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(60);
    /// The largest accepted [`refresh_margin`](Self::refresh_margin): one day.
    pub const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(24 * 60 * 60);

    /// Defaults: username from `sub`, refresh one minute before `exp`, permissions from the token.
    pub fn new(source: impl Into<TokenSource>) -> AuthConfig {
        AuthConfig {
            source: source.into(),
            username: None,
            refresh_margin: AuthConfig::DEFAULT_REFRESH_MARGIN,
            permissions_from_token: true,
        }
    }

    /// Use `username` instead of the token's `sub`.
    pub fn with_username(mut self, username: impl Into<String>) -> AuthConfig {
        self.username = Some(username.into());
        self
    }

    /// Refresh `margin` before `exp`.
    pub fn with_refresh_margin(mut self, margin: Duration) -> AuthConfig {
        self.refresh_margin = margin;
        self
    }

    /// Whether to take permissions from the token.
    pub fn with_permissions_from_token(mut self, enabled: bool) -> AuthConfig {
        self.permissions_from_token = enabled;
        self
    }

    /// Check the settings: margin within bounds (and under a signer's ttl, or every token would
    /// be due for refresh as soon as it is minted), username not empty.
    pub fn validate(&self) -> Result<(), AuthError> {
        if self.refresh_margin > AuthConfig::MAX_REFRESH_MARGIN {
            return Err(AuthError::InvalidConfig(
                "refresh_margin is longer than one day",
            ));
        }
        if let TokenSource::Signer(signer) = &self.source {
            if self.refresh_margin >= signer.template().ttl {
                return Err(AuthError::InvalidConfig(
                    "refresh_margin is not shorter than the signer's ttl",
                ));
            }
        }
        if self.username.as_deref() == Some("") {
            return Err(AuthError::InvalidConfig("username is empty"));
        }
        Ok(())
    }

    /// Get a token to use at `now` (see [`TokenSource::issue`]).
    pub fn issue(&self, now: SystemTime) -> Result<IssuedToken, AuthError> {
        self.source.issue(now)
    }

    /// The MQTT username to present with `token`: the configured one, else its `sub`.
    pub fn username_for<'a>(&'a self, token: &'a IssuedToken) -> Option<&'a str> {
        self.username.as_deref().or(token.subject())
    }

    /// The permissions to enforce client-side with `token`: `None` if
    /// [`permissions_from_token`](Self::permissions_from_token) is off or the token's claims
    /// could not be read; an error if a filter in the claim is invalid.
    pub fn permissions_for(&self, token: &IssuedToken) -> Result<Option<Permissions>, AuthError> {
        match token.claims() {
            Some(claims) if self.permissions_from_token => claims.permissions().map(Some),
            _ => Ok(None),
        }
    }

    /// When to fetch the next token: `exp - refresh_margin`, but never before `iat` (nor the
    /// Unix epoch) and never after `exp`. `None` for a token that never expires.
    pub fn refresh_at(&self, token: &IssuedToken) -> Option<SystemTime> {
        let exp = token.expires_at()?;
        let mut at = exp
            .checked_sub(self.refresh_margin)
            .unwrap_or(UNIX_EPOCH)
            .max(UNIX_EPOCH);
        if let Some(iat) = token.issued_at() {
            at = at.max(iat);
        }
        Some(at.min(exp))
    }

    /// Is `token` expired at `now`? (Same as [`IssuedToken::is_expired`].)
    pub fn is_expired(&self, token: &IssuedToken, now: SystemTime) -> bool {
        token.is_expired(now)
    }
}
