//! The plugin's decisions, in safe code: what Mosquitto's events (basic auth, extended auth,
//! ACL check, disconnect, tick) get as an answer. `ffi` turns the broker's raw arguments into
//! these calls (bytes as the broker gave them, `None` for a null pointer) and the results into
//! Mosquitto's return codes. Anything malformed is refused, never a panic.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::options::{OptionError, Settings};
use crate::rules::{AuthError, TopicFilter, TopicName};
use crate::sessions::{ClientKey, Session, Sessions};
use crate::AUTH_METHOD;

/// Why a connection (or a re-authentication) was refused. Names no token or secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No password (basic auth) or no authentication data (extended auth).
    NoToken,
    /// The token, username or client id is not UTF-8.
    NotUtf8(&'static str),
    /// The username is absent or differs from `sub` (and the plugin requires them equal).
    UsernameMismatch,
    /// The validator refused the token.
    Token(AuthError),
    /// The token's permission claims are not valid topic filters.
    Permissions(AuthError),
    /// An extended-auth continuation: method `JWT` takes one step, so none is expected.
    UnexpectedContinuation,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NoToken => f.write_str("no token given"),
            Refusal::NotUtf8(what) => write!(f, "the {what} is not UTF-8"),
            Refusal::UsernameMismatch => f.write_str("the username is not the token's subject"),
            Refusal::Token(e) => write!(f, "{e}"),
            Refusal::Permissions(e) => write!(f, "{e}"),
            Refusal::UnexpectedContinuation => {
                f.write_str("an authentication continuation, but method JWT has one step")
            }
        }
    }
}

/// The answer to an extended-auth start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtAuth {
    /// Token valid: the connection (or re-authentication) is accepted.
    Accepted,
    /// Not this plugin's method (Mosquitto answers "bad authentication method").
    NotSupported,
    /// The token was refused (Mosquitto answers "not authorized" and closes the connection).
    Refused(Refusal),
}

/// What an ACL check is about (Mosquitto's `MOSQ_ACL_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A message about to be delivered to the client (`MOSQ_ACL_READ`, 0x01).
    Read,
    /// A PUBLISH from the client (`MOSQ_ACL_WRITE`, 0x02), its will included.
    Write,
    /// A SUBSCRIBE filter (`MOSQ_ACL_SUBSCRIBE`, 0x04).
    Subscribe,
    /// An UNSUBSCRIBE filter (`MOSQ_ACL_UNSUBSCRIBE`, 0x08).
    Unsubscribe,
}

impl Access {
    /// From Mosquitto's access value; `None` for anything else (denied).
    pub fn from_mosquitto(access: i32) -> Option<Access> {
        match access {
            0x01 => Some(Access::Read),
            0x02 => Some(Access::Write),
            0x04 => Some(Access::Subscribe),
            0x08 => Some(Access::Unsubscribe),
            _ => None,
        }
    }
}

/// The plugin: settings plus the stored grants.
#[derive(Debug)]
pub struct Plugin {
    settings: Settings,
    sessions: Sessions,
}

impl Plugin {
    /// A plugin with the `plugin_opt_*` options as Mosquitto gives them.
    pub fn new(options: &[(String, String)]) -> Result<Plugin, OptionError> {
        Ok(Plugin {
            settings: Settings::from_options(options)?,
            sessions: Sessions::default(),
        })
    }

    /// Basic auth: `password` is the token. Stores the grant on success.
    pub fn basic_auth(
        &mut self,
        client: ClientKey,
        client_id: Option<&[u8]>,
        username: Option<&[u8]>,
        password: Option<&[u8]>,
        now: SystemTime,
    ) -> Result<(), Refusal> {
        let token = password.ok_or(Refusal::NoToken)?;
        self.store_if_valid(client, client_id, username, token, now, true)
    }

    /// Extended auth start, for the CONNECT and for every re-authentication (Mosquitto 2.0's v5
    /// API delivers both as `MOSQ_EVT_EXT_AUTH_START`, without telling them apart): `data` is the
    /// token. A new valid token replaces the stored grant; a refused one leaves the old grant in
    /// place (it was valid and stays so until its own expiry, for the session's offline queue)
    /// while Mosquitto ends the connection.
    pub fn ext_auth_start(
        &mut self,
        client: ClientKey,
        client_id: Option<&[u8]>,
        method: Option<&[u8]>,
        data: Option<&[u8]>,
        username: Option<&[u8]>,
        now: SystemTime,
    ) -> ExtAuth {
        if method != Some(AUTH_METHOD.as_bytes()) {
            return ExtAuth::NotSupported;
        }
        let Some(token) = data else {
            return ExtAuth::Refused(Refusal::NoToken);
        };
        // A username is optional with extended auth; when present it must still match.
        match self.store_if_valid(client, client_id, username, token, now, username.is_some()) {
            Ok(()) => ExtAuth::Accepted,
            Err(r) => ExtAuth::Refused(r),
        }
    }

    fn store_if_valid(
        &mut self,
        client: ClientKey,
        client_id: Option<&[u8]>,
        username: Option<&[u8]>,
        token: &[u8],
        now: SystemTime,
        check_username: bool,
    ) -> Result<(), Refusal> {
        let client_id = utf8(client_id.unwrap_or_default(), "client id")?;
        let token = utf8(token, "token")?;
        let claims = self
            .settings
            .validator
            .validate(token, now)
            .map_err(Refusal::Token)?;
        if self.settings.username_must_match_sub && check_username {
            let username = username.ok_or(Refusal::UsernameMismatch)?;
            if username != claims.sub.as_bytes() {
                return Err(Refusal::UsernameMismatch);
            }
        }
        let permissions = claims.permissions().map_err(Refusal::Permissions)?;
        let valid_until = UNIX_EPOCH
            .checked_add(Duration::from_secs(claims.exp))
            .and_then(|t| t.checked_add(self.settings.validator.leeway()))
            .ok_or(Refusal::Token(AuthError::Malformed(
                "`exp` is out of range",
            )))?;
        self.sessions.authorise(
            client,
            Session {
                client_id: client_id.to_owned(),
                permissions,
                valid_until,
                online: true,
            },
        );
        Ok(())
    }

    /// Extended auth continue: this plugin never asks the client for more, so a continuation is
    /// refused.
    pub fn ext_auth_continue(&mut self) -> ExtAuth {
        ExtAuth::Refused(Refusal::UnexpectedContinuation)
    }

    /// Whether `client` (authenticated as `client_id`) may do `access` on `topic` at `now`:
    /// exactly what its token's permissions allow, nothing once the token has expired, nothing
    /// for an unknown client or a topic that is not valid UTF-8 MQTT.
    pub fn acl_check(
        &self,
        client: ClientKey,
        client_id: Option<&[u8]>,
        access: Option<Access>,
        topic: Option<&[u8]>,
        now: SystemTime,
    ) -> bool {
        let (Some(access), Some(topic)) = (access, topic) else {
            return false;
        };
        let Ok(client_id) = std::str::from_utf8(client_id.unwrap_or_default()) else {
            return false;
        };
        let Ok(topic) = std::str::from_utf8(topic) else {
            return false;
        };
        let Some(session) = self.sessions.valid(client, client_id, now) else {
            return false;
        };
        let permissions = &session.permissions;
        match access {
            Access::Write => {
                TopicName::new(topic).is_ok_and(|t| permissions.check_publish(&t).is_ok())
            }
            Access::Read => TopicName::new(topic).is_ok_and(|t| permissions.allows_receive(&t)),
            Access::Subscribe => {
                TopicFilter::new(topic).is_ok_and(|f| permissions.check_subscribe(&f).is_ok())
            }
            // Dropping a subscription never grants anything.
            Access::Unsubscribe => true,
        }
    }

    /// The connection of `client` ended.
    pub fn disconnected(&mut self, client: ClientKey) {
        self.sessions.disconnected(client);
    }

    /// Called on every broker tick: the client ids to disconnect because their token expired.
    pub fn tick(&mut self, now: SystemTime) -> Vec<String> {
        self.sessions.expire(now)
    }

    /// The stored grants (for tests and diagnostics).
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }
}

fn utf8<'a>(bytes: &'a [u8], what: &'static str) -> Result<&'a str, Refusal> {
    std::str::from_utf8(bytes).map_err(|_| Refusal::NotUtf8(what))
}
