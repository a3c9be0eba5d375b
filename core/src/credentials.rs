//! What the client sends as username and password, and when its JWT must be refreshed.
//!
//! With [`AuthConfig`] set, every connect carries a token as the MQTT password (username: the
//! configured one, or the token's `sub`). A token is minted when there is none, when it is
//! within its refresh margin or expired, or when the broker refused the last one. While
//! connected, the refresh timer fires at `exp - refresh_margin`; a successful refresh asks the
//! client for a graceful reconnect with the new token (MQTT 3.1.1 has no re-authentication);
//! a failed one is reported and retried, and the connection is kept until the old token
//! actually expires.
//!
//! JWT times are wall-clock times. The core never reads a clock: the adapter reports the wall
//! clock once with `Client::handle_wall_clock(now, wall)`, and wall time is derived from the
//! monotonic `now` after that.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use crate::auth::{AuthConfig, AuthError, IssuedToken};
use crate::permissions::Permissions;

/// How long to wait before trying a failed refresh again (never past the token's expiry).
const REFRESH_RETRY: Duration = Duration::from_secs(5);

/// Username, password and (from the token) permissions for one CONNECT.
#[derive(Debug)]
pub(crate) struct ConnectCredentials {
    pub(crate) username: Option<String>,
    pub(crate) password: Option<Bytes>,
    /// `Some` when the token carries the permissions to enforce.
    pub(crate) permissions: Option<Permissions>,
}

/// What the refresh timer decided.
#[derive(Debug)]
pub(crate) enum RefreshOutcome {
    /// A new token is ready: reconnect with it.
    Refreshed { expires_at: Option<SystemTime> },
    /// Minting failed; retried later, the connection is kept.
    Failed(AuthError),
    /// The token in use has expired and no refresh succeeded: reconnect (which mints first).
    Expired,
}

#[derive(Debug)]
pub(crate) struct Credentials {
    auth: Option<AuthConfig>,
    /// A monotonic instant and the wall-clock time at that instant.
    wall_anchor: Option<(Instant, SystemTime)>,
    token: Option<IssuedToken>,
    /// The broker refused the last CONNECT's credentials: mint anew next time.
    rejected: bool,
    /// While connected: when to act on the token (refresh, or retry a failed refresh).
    deadline: Option<Instant>,
}

impl Credentials {
    pub(crate) fn new(auth: Option<AuthConfig>) -> Credentials {
        Credentials {
            auth,
            wall_anchor: None,
            token: None,
            rejected: false,
            deadline: None,
        }
    }

    pub(crate) fn set_wall_clock(&mut self, now: Instant, wall: SystemTime) {
        self.wall_anchor = Some((now, wall));
    }

    /// The permissions the token grants, minting the first token if there is none yet, so a
    /// request made before the first connect is checked too. `None`: permissions do not come
    /// from tokens.
    pub(crate) fn token_permissions(
        &mut self,
        now: Instant,
    ) -> Result<Option<Permissions>, AuthError> {
        let Some(auth) = &self.auth else {
            return Ok(None);
        };
        if !auth.permissions_from_token {
            return Ok(None);
        }
        if self.token.is_none() {
            let wall = self.wall_at(now)?;
            self.token = Some(auth.issue(wall)?);
        }
        let token = self.token.as_ref().expect("minted above");
        auth.permissions_for(token)
    }

    /// The broker refused our credentials: the next connect mints a fresh token.
    pub(crate) fn rejected(&mut self) {
        self.rejected = true;
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The connection ended: no refresh timer until the next CONNACK.
    pub(crate) fn disarm(&mut self) {
        self.deadline = None;
    }

    fn wall_at(&self, now: Instant) -> Result<SystemTime, AuthError> {
        let (instant, wall) = self.wall_anchor.ok_or(AuthError::InvalidConfig(
            "JWT auth needs the wall clock: call Client::handle_wall_clock first",
        ))?;
        Ok(match now.checked_duration_since(instant) {
            Some(ahead) => wall + ahead,
            None => wall - instant.duration_since(now),
        })
    }

    fn instant_at(&self, wall: SystemTime) -> Option<Instant> {
        let (instant, anchor) = self.wall_anchor?;
        match wall.duration_since(anchor) {
            Ok(ahead) => instant.checked_add(ahead),
            Err(behind) => Some(instant.checked_sub(behind.duration()).unwrap_or(instant)),
        }
    }

    /// Credentials for a CONNECT starting at `now`; mints a token when needed.
    pub(crate) fn for_connect(
        &mut self,
        now: Instant,
        username: Option<&String>,
        password: Option<&Bytes>,
    ) -> Result<ConnectCredentials, AuthError> {
        let Some(auth) = &self.auth else {
            return Ok(ConnectCredentials {
                username: username.cloned(),
                password: password.cloned(),
                permissions: None,
            });
        };
        let wall = self.wall_at(now)?;
        let stale = match &self.token {
            None => true,
            Some(token) => self.rejected || auth.refresh_at(token).is_some_and(|at| wall >= at),
        };
        if stale {
            self.token = Some(auth.issue(wall)?);
            self.rejected = false;
        }
        let token = self.token.as_ref().expect("minted above");
        Ok(ConnectCredentials {
            username: auth
                .username_for(token)
                .map(str::to_owned)
                .or_else(|| username.cloned()),
            password: Some(Bytes::copy_from_slice(token.expose().as_bytes())),
            permissions: auth.permissions_for(token)?,
        })
    }

    /// When the token in use expires (wall clock), if one was minted and carries `exp`.
    pub(crate) fn token_expires_at(&self) -> Option<SystemTime> {
        self.token.as_ref().and_then(IssuedToken::expires_at)
    }

    /// CONNACK accepted: arm the refresh timer for the token in use.
    pub(crate) fn connected(&mut self) {
        self.deadline = match (&self.auth, &self.token) {
            (Some(auth), Some(token)) => auth.refresh_at(token).and_then(|at| self.instant_at(at)),
            _ => None,
        };
    }

    /// The refresh timer fired (`now` >= the deadline).
    pub(crate) fn refresh(&mut self, now: Instant) -> RefreshOutcome {
        let (Some(auth), Ok(wall)) = (&self.auth, self.wall_at(now)) else {
            self.deadline = None;
            return RefreshOutcome::Expired;
        };
        match auth.issue(wall) {
            Ok(token) => {
                let expires_at = token.expires_at();
                self.token = Some(token);
                self.deadline = None;
                RefreshOutcome::Refreshed { expires_at }
            }
            Err(error) => {
                let expiry = self
                    .token
                    .as_ref()
                    .and_then(IssuedToken::expires_at)
                    .and_then(|exp| self.instant_at(exp));
                if expiry.is_some_and(|exp| now >= exp) {
                    self.deadline = None;
                    return RefreshOutcome::Expired;
                }
                let retry = now + REFRESH_RETRY;
                self.deadline = Some(expiry.map_or(retry, |exp| exp.min(retry)));
                RefreshOutcome::Failed(error)
            }
        }
    }
}
