//! Token authentication (JWT) as the state machine sees it: which token the next CONNECT
//! carries, when a new one is needed, and when the one in use must be refreshed.
//!
//! The core never mints, fetches or verifies a token, and runs no application code for one:
//! when it needs a token it emits [`Action::FetchToken`](crate::client::Action::FetchToken),
//! and the adapter answers with [`Client::handle_token`](crate::client::Client::handle_token)
//! (an [`AuthToken`], or a [`TokenError`] from its token source). `jamey-mqtt-auth` mints and
//! reads the tokens; `jamey-mqtt` is the adapter that asks it.
//!
//! A token is needed when there is none, when the one in use is within its refresh margin or
//! expired, and when the broker refused the last one. While connected, the refresh timer fires
//! at `exp - refresh_margin` (never before `iat`, never after `exp`); the fresh token then
//! replaces the old one by MQTT 5 re-authentication (AUTH 0x19, method [`JWT_AUTH_METHOD`])
//! when the broker accepted that method at CONNECT, else by a graceful reconnect. A token
//! source that fails is asked again after [`REFRESH_RETRY`], and the connection is kept until
//! the old token actually expires.
//!
//! JWT times are wall-clock times. The core never reads a clock: the adapter reports the wall
//! clock once with `Client::handle_wall_clock(now, wall)`, and wall time is derived from the
//! monotonic `now` after that.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::permissions::Permissions;

/// How long to wait before asking a failed token source again (never past the token's expiry).
pub const REFRESH_RETRY: Duration = Duration::from_secs(5);

/// The MQTT 5 authentication method under which CONNECT carries the token as its
/// authentication data, and AUTH re-authenticates with a fresh one.
pub const JWT_AUTH_METHOD: &str = "JWT";

/// Token authentication settings of the state machine (`ClientConfig::token_auth`). Where the
/// tokens come from is the adapter's business (`jamey-mqtt-auth`'s `AuthConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAuth {
    /// Refresh this long before `exp`. At most [`MAX_REFRESH_MARGIN`](Self::MAX_REFRESH_MARGIN).
    pub refresh_margin: Duration,
    /// MQTT 5: send the token under the authentication method [`JWT_AUTH_METHOD`] and refresh
    /// it in place by re-authentication. A broker that refuses the method (CONNACK 0x8C "bad
    /// authentication method") gets the token as the password from the next attempt on, and
    /// refreshes reconnect. Ignored on MQTT 3.1.1, which has no re-authentication.
    pub reauthenticate: bool,
}

impl TokenAuth {
    /// The default [`refresh_margin`](Self::refresh_margin): one minute.
    pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(60);
    /// The largest accepted [`refresh_margin`](Self::refresh_margin): one day.
    pub const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(24 * 60 * 60);

    /// Why these settings cannot be used, if they cannot.
    pub fn problem(&self) -> Option<&'static str> {
        (self.refresh_margin > TokenAuth::MAX_REFRESH_MARGIN)
            .then_some("refresh_margin is longer than one day")
    }
}

impl Default for TokenAuth {
    /// Refresh one minute before `exp`, by re-authentication where the broker allows it.
    fn default() -> TokenAuth {
        TokenAuth {
            refresh_margin: TokenAuth::DEFAULT_REFRESH_MARGIN,
            reauthenticate: true,
        }
    }
}

/// A token for the state machine, as the adapter got it from its token source: the secret to
/// send, the username to send with it, its validity, and the permissions it grants.
///
/// `Debug` never shows the secret.
#[derive(Clone, PartialEq)]
pub struct AuthToken {
    secret: Bytes,
    /// The MQTT username sent with it (usually the token's `sub`).
    pub username: Option<String>,
    /// `iat`: the refresh is never scheduled before it.
    pub issued_at: Option<SystemTime>,
    /// `exp`: refreshed `refresh_margin` before it; `None` never expires.
    pub expires_at: Option<SystemTime>,
    /// The client-side permissions it grants, checked before a packet leaves; `None` leaves
    /// the permissions in force as they are.
    pub permissions: Option<Permissions>,
}

impl AuthToken {
    /// A token with no username, no known validity and no permissions.
    pub fn new(secret: impl Into<Bytes>) -> AuthToken {
        AuthToken {
            secret: secret.into(),
            username: None,
            issued_at: None,
            expires_at: None,
            permissions: None,
        }
    }

    /// The token itself. Do not log it.
    pub fn secret(&self) -> &Bytes {
        &self.secret
    }

    /// When to fetch the next token: `exp - margin`, but never before `iat` (nor the Unix
    /// epoch) and never after `exp`. `None` for a token that never expires.
    pub fn refresh_at(&self, margin: Duration) -> Option<SystemTime> {
        let exp = self.expires_at?;
        let mut at = exp
            .checked_sub(margin)
            .unwrap_or(UNIX_EPOCH)
            .max(UNIX_EPOCH);
        if let Some(iat) = self.issued_at {
            at = at.max(iat);
        }
        Some(at.min(exp))
    }
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthToken")
            .field("secret", &"[redacted]")
            .field("username", &self.username)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("permissions", &self.permissions)
            .finish()
    }
}

/// Why the adapter could not get a token: its token source's error, kept as the source.
#[derive(Debug, Clone)]
pub struct TokenError {
    source: Arc<dyn std::error::Error + Send + Sync>,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not get a token: {}", self.source)
    }
}

/// The source is the token source's own error (not the `Arc` around it), so that
/// `source().downcast_ref::<AuthError>()` works.
impl std::error::Error for TokenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source as &(dyn std::error::Error + 'static))
    }
}

impl TokenError {
    /// A failure caused by `source` (an `AuthError` of `jamey-mqtt-auth`, an I/O error...).
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> TokenError {
        TokenError {
            source: Arc::from(source.into()),
        }
    }

    /// The token source's error, to downcast.
    pub fn source_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.source
    }
}

/// Equal when the sources' messages are equal (the sources are not comparable).
impl PartialEq for TokenError {
    fn eq(&self, other: &TokenError) -> bool {
        self.source.to_string() == other.source.to_string()
    }
}

impl Eq for TokenError {}

/// Username, password and, for MQTT 5 JWT authentication, the authentication data of one
/// CONNECT.
#[derive(Debug)]
pub(crate) struct ConnectCredentials {
    pub(crate) username: Option<String>,
    pub(crate) password: Option<Bytes>,
    /// The token, for CONNECT's authentication data under [`JWT_AUTH_METHOD`].
    pub(crate) token: Option<Bytes>,
}

/// What CONNECT can carry now.
#[derive(Debug)]
pub(crate) enum ForConnect {
    Ready(ConnectCredentials),
    /// Token auth and no usable token yet: CONNECT waits for `handle_token`.
    Waiting,
}

/// Why the refresh timer fired.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// Time for a fresh token: ask the token source.
    Refresh,
    /// The token in use has expired and no fresh one came: reconnect (which asks first).
    Expired,
}

#[derive(Debug)]
pub(crate) struct Credentials {
    auth: Option<TokenAuth>,
    /// A monotonic instant and the wall-clock time at that instant.
    wall_anchor: Option<(Instant, SystemTime)>,
    /// The token the connection in force authenticated with (or the last CONNECT sent).
    in_use: Option<AuthToken>,
    /// A token received and not used yet: the next CONNECT or re-authentication sends it.
    fresh: Option<AuthToken>,
    /// `Action::FetchToken` is out and `handle_token` has not answered yet.
    requested: bool,
    /// That request is a refresh of the token of the connection in force.
    refreshing: bool,
    /// The broker refused the token in use: a fresh one is needed before the next CONNECT.
    rejected: bool,
    /// While connected: when to act on the token (refresh, or retry a failed refresh).
    deadline: Option<Instant>,
    /// The token sent in a re-authentication the broker has not answered yet.
    reauthenticating: Option<AuthToken>,
}

impl Credentials {
    pub(crate) fn new(auth: Option<TokenAuth>) -> Credentials {
        Credentials {
            auth,
            wall_anchor: None,
            in_use: None,
            fresh: None,
            requested: false,
            refreshing: false,
            rejected: false,
            deadline: None,
            reauthenticating: None,
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.auth.is_some()
    }

    /// Whether MQTT 5 re-authentication with [`JWT_AUTH_METHOD`] is configured.
    pub(crate) fn wants_reauthentication(&self) -> bool {
        self.auth.as_ref().is_some_and(|a| a.reauthenticate)
    }

    /// Token auth without the wall clock cannot tell when a token is due: a setup mistake.
    pub(crate) fn lacks_wall_clock(&self) -> bool {
        self.auth.is_some() && self.wall_anchor.is_none()
    }

    pub(crate) fn set_wall_clock(&mut self, now: Instant, wall: SystemTime) {
        self.wall_anchor = Some((now, wall));
    }

    /// Whether the next CONNECT needs a token that is not here yet (and nobody asked for it).
    /// Marks it asked for: the caller emits `Action::FetchToken`.
    pub(crate) fn request_for_connect(&mut self, now: Instant) -> bool {
        if self.auth.is_none() || self.requested || self.fresh.is_some() {
            return false;
        }
        if self.usable_in_use(now) {
            return false;
        }
        self.requested = true;
        true
    }

    /// The token in use can go in the next CONNECT: not refused, not due for refresh.
    fn usable_in_use(&self, now: Instant) -> bool {
        let (Some(auth), Some(token)) = (&self.auth, &self.in_use) else {
            return false;
        };
        if self.rejected {
            return false;
        }
        match (token.refresh_at(auth.refresh_margin), self.wall_at(now)) {
            (None, _) => true,
            (Some(at), Some(wall)) => wall < at,
            // No wall clock: the adapter never said what time it is; use what it gave.
            (Some(_), None) => true,
        }
    }

    /// The adapter's answer to `Action::FetchToken`. A token is kept for the next CONNECT or
    /// re-authentication; its permissions are returned to be put in force.
    pub(crate) fn supplied(&mut self, token: AuthToken) -> Option<Permissions> {
        self.requested = false;
        let permissions = token.permissions.clone();
        self.fresh = Some(token);
        permissions
    }

    /// The token source failed; the next need asks again.
    pub(crate) fn fetch_failed(&mut self) {
        self.requested = false;
    }

    /// Whether the request being answered was a refresh (and it no longer is).
    pub(crate) fn take_refreshing(&mut self) -> bool {
        std::mem::take(&mut self.refreshing)
    }

    /// The broker refused our credentials: the next connect needs a fresh token.
    pub(crate) fn rejected(&mut self) {
        self.rejected = true;
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The connection ended: no refresh timer until the next CONNACK. A re-authentication in
    /// progress ended without an answer: its token is not known to be good, so the next
    /// connect asks for a fresh one.
    pub(crate) fn disarm(&mut self) {
        self.deadline = None;
        self.refreshing = false;
        if self.reauthenticating.take().is_some() {
            self.rejected = true;
        }
    }

    fn wall_at(&self, now: Instant) -> Option<SystemTime> {
        let (instant, wall) = self.wall_anchor?;
        Some(match now.checked_duration_since(instant) {
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

    /// Credentials for a CONNECT at `now`: the fresh token if one came, else the one in use
    /// while it is good; otherwise CONNECT must wait.
    pub(crate) fn for_connect(
        &mut self,
        now: Instant,
        username: Option<&String>,
        password: Option<&Bytes>,
    ) -> ForConnect {
        if self.auth.is_none() {
            return ForConnect::Ready(ConnectCredentials {
                username: username.cloned(),
                password: password.cloned(),
                token: None,
            });
        }
        if let Some(fresh) = self.fresh.take() {
            self.in_use = Some(fresh);
            self.rejected = false;
        } else if !self.usable_in_use(now) {
            return ForConnect::Waiting;
        }
        let token = self.in_use.as_ref().expect("set or checked above");
        ForConnect::Ready(ConnectCredentials {
            username: token.username.clone().or_else(|| username.cloned()),
            password: Some(token.secret.clone()),
            token: Some(token.secret.clone()),
        })
    }

    /// When the token in use expires (wall clock), if it carries `exp`.
    pub(crate) fn token_expires_at(&self) -> Option<SystemTime> {
        self.in_use.as_ref().and_then(|t| t.expires_at)
    }

    /// CONNACK accepted (or a re-authentication succeeded): arm the refresh timer for the
    /// token in use.
    pub(crate) fn connected(&mut self) {
        self.deadline = match (&self.auth, &self.in_use) {
            (Some(auth), Some(token)) => token
                .refresh_at(auth.refresh_margin)
                .and_then(|at| self.instant_at(at)),
            _ => None,
        };
    }

    /// The refresh timer fired (`now` >= the deadline): what to do. While a refresh is
    /// asked for, the timer waits for the old token's expiry.
    pub(crate) fn due(&mut self, now: Instant) -> Due {
        let expiry = self
            .in_use
            .as_ref()
            .and_then(|t| t.expires_at)
            .and_then(|exp| self.instant_at(exp));
        self.deadline = expiry;
        if expiry.is_some_and(|exp| now >= exp) || self.auth.is_none() || self.requested {
            self.deadline = None;
            return Due::Expired;
        }
        self.requested = true;
        self.refreshing = true;
        Due::Refresh
    }

    /// The token source failed during a refresh: try again after [`REFRESH_RETRY`], or at
    /// the old token's expiry if that comes first.
    pub(crate) fn retry_refresh(&mut self, now: Instant) {
        let expiry = self
            .in_use
            .as_ref()
            .and_then(|t| t.expires_at)
            .and_then(|exp| self.instant_at(exp));
        let retry = now + REFRESH_RETRY;
        self.deadline = Some(expiry.map_or(retry, |exp| exp.min(retry)));
    }

    /// The secret of the token received and not used yet.
    pub(crate) fn fresh_secret(&self) -> Option<&Bytes> {
        self.fresh.as_ref().map(AuthToken::secret)
    }

    /// The fresh token went out in a re-authentication.
    pub(crate) fn start_reauthentication(&mut self) {
        self.reauthenticating = self.fresh.take();
    }

    /// The broker accepted the re-authentication: its token is the one in use now.
    pub(crate) fn reauthenticated(&mut self) -> bool {
        match self.reauthenticating.take() {
            Some(token) => {
                self.in_use = Some(token);
                self.connected();
                true
            }
            None => false,
        }
    }

    pub(crate) fn fresh_expires_at(&self) -> Option<SystemTime> {
        self.fresh.as_ref().and_then(|t| t.expires_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn token(iat: u64, exp: u64) -> AuthToken {
        AuthToken {
            issued_at: Some(at(iat)),
            expires_at: Some(at(exp)),
            ..AuthToken::new("t")
        }
    }

    #[test]
    fn refresh_is_margin_before_exp_but_never_before_iat() {
        let margin = Duration::from_secs(60);
        assert_eq!(token(1000, 4600).refresh_at(margin), Some(at(4540)));
        assert_eq!(token(1000, 1030).refresh_at(margin), Some(at(1000)));
        assert_eq!(AuthToken::new("t").refresh_at(margin), None);
    }

    #[test]
    fn connect_waits_for_a_token_and_asks_once() {
        let now = jamey_mqtt_sim::origin();
        let mut c = Credentials::new(Some(TokenAuth::default()));
        c.set_wall_clock(now, at(1000));
        assert!(c.request_for_connect(now));
        assert!(!c.request_for_connect(now), "asked once");
        assert!(matches!(
            c.for_connect(now, None, None),
            ForConnect::Waiting
        ));
        c.supplied(token(1000, 4600));
        let ForConnect::Ready(creds) = c.for_connect(now, None, None) else {
            panic!("a token came");
        };
        assert_eq!(creds.password.as_deref(), Some(&b"t"[..]));
        // The token in use is good until its refresh time: no new request.
        assert!(!c.request_for_connect(now));
        c.rejected();
        assert!(c.request_for_connect(now), "a refused token is replaced");
    }

    #[test]
    fn a_token_error_chains_to_the_source_error_itself() {
        use std::error::Error as _;
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "identity service timed out");
        let error = TokenError::new(io);
        let source = error.source().expect("a source");
        let io = source
            .downcast_ref::<std::io::Error>()
            .expect("the io::Error itself");
        assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
        assert!(error.to_string().contains("identity service timed out"));
    }

    #[test]
    fn the_debug_output_hides_the_secret() {
        let shown = format!("{:?}", AuthToken::new("very-secret"));
        assert!(!shown.contains("very-secret"), "{shown}");
    }
}
