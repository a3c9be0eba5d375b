//! [`AuthConfig`]: the client's auth settings, and the token the state machine gets from them.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use jamey_mqtt_core::permissions::Permissions;
use jamey_mqtt_core::{AuthToken, TokenAuth};

use super::source::TokenSource;
use super::token::IssuedToken;
use super::AuthError;

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
    /// MQTT 5: authenticate with the method `JWT` and refresh the token in place by
    /// re-authentication (see `jamey_mqtt_core::TokenAuth::reauthenticate`). Default `true`.
    pub reauthenticate: bool,
}

impl AuthConfig {
    /// The default [`refresh_margin`](Self::refresh_margin): one minute.
    pub const DEFAULT_REFRESH_MARGIN: Duration = TokenAuth::DEFAULT_REFRESH_MARGIN;
    /// The largest accepted [`refresh_margin`](Self::refresh_margin): one day.
    pub const MAX_REFRESH_MARGIN: Duration = TokenAuth::MAX_REFRESH_MARGIN;

    /// Defaults: username from `sub`, refresh one minute before `exp`, permissions from the token.
    pub fn new(source: impl Into<TokenSource>) -> AuthConfig {
        AuthConfig {
            source: source.into(),
            username: None,
            refresh_margin: AuthConfig::DEFAULT_REFRESH_MARGIN,
            permissions_from_token: true,
            reauthenticate: true,
        }
    }

    /// Whether to refresh by MQTT 5 re-authentication (see
    /// [`reauthenticate`](Self::reauthenticate)).
    pub fn with_reauthentication(mut self, enabled: bool) -> AuthConfig {
        self.reauthenticate = enabled;
        self
    }

    /// The settings the state machine needs (`ClientConfig::token_auth`).
    pub fn token_auth(&self) -> TokenAuth {
        TokenAuth {
            refresh_margin: self.refresh_margin,
            reauthenticate: self.reauthenticate,
        }
    }

    /// A token for the state machine (`Client::handle_token`) from the source, at `now`: the
    /// secret, the username to send, its validity and, with
    /// [`permissions_from_token`](Self::permissions_from_token), the permissions it grants.
    pub fn auth_token(&self, now: SystemTime) -> Result<AuthToken, AuthError> {
        let token = self.issue(now)?;
        let mut out = AuthToken::new(Bytes::copy_from_slice(token.expose().as_bytes()));
        out.username = self.username_for(&token).map(str::to_owned);
        out.issued_at = token.issued_at();
        out.expires_at = token.expires_at();
        out.permissions = self.permissions_for(&token)?;
        Ok(out)
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
}
