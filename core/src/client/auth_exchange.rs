//! MQTT 5 enhanced authentication (AUTH packets): the challenge/response rounds of a connect
//! and of a re-authentication on a live connection.
//!
//! No application code runs here. An AUTH "continue authentication" (0x18) from the broker
//! becomes [`Event::AuthChallenge`]; the application answers with [`Client::auth_respond`]
//! (an AUTH 0x18 with our method and its data) or gives up with [`Client::auth_abort`].
//! During a connect the exchange stays within the `Connecting` phase (the connect timeout
//! bounds it) and ends with CONNACK; a re-authentication ([`Client::reauthenticate`], AUTH
//! 0x19) ends with AUTH 0x00 ([`Event::Reauthenticated`]), or with the connection (the
//! broker's DISCONNECT: [`Event::ReauthenticationFailed`] then the loss). Requests keep
//! flowing meanwhile, as the specification allows.
//!
//! Token auth on MQTT 5 uses the method [`JWT_AUTH_METHOD`] unless the application chose one:
//! CONNECT carries the token as authentication data, and a refreshed token goes out in AUTH
//! 0x19 with no application round (a broker challenge under `JWT` is a protocol error).
//!
//! Protocol errors: an AUTH when CONNECT carried no authentication method, an AUTH whose
//! method is not ours, a challenge while we still owe the answer to the previous one, an AUTH
//! success outside a re-authentication, a re-authenticate (0x19) from the broker.

use std::time::Instant;

use bytes::Bytes;

use super::{Client, Event, LostReason};
use crate::credentials::JWT_AUTH_METHOD;
use crate::error::{ClientError, ConnectError, ProtocolError};
use crate::packet::{Auth, AuthProperties, Disconnect, Packet, ProtocolVersion, ReasonCode};
use crate::state::ConnectionState;

/// The MQTT 5 enhanced authentication method CONNECT uses, and the data of its first round
/// (`ClientConfig::authentication`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnhancedAuth {
    /// The authentication method (e.g. `SCRAM-SHA-256`), sent in CONNECT and every AUTH.
    pub method: String,
    /// Authentication data sent in CONNECT, if the method starts with some.
    pub initial_data: Option<Bytes>,
}

impl EnhancedAuth {
    /// Enhanced authentication with `method`, no initial data.
    pub fn new(method: impl Into<String>) -> EnhancedAuth {
        EnhancedAuth {
            method: method.into(),
            initial_data: None,
        }
    }

    /// Sets the authentication data CONNECT carries.
    pub fn initial_data(mut self, data: impl Into<Bytes>) -> EnhancedAuth {
        self.initial_data = Some(data.into());
        self
    }
}

/// What the broker asks in one round ([`Event::AuthChallenge`]): answer with
/// [`Client::auth_respond`] or [`Client::auth_abort`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthChallenge {
    /// The authentication method the broker named.
    pub method: String,
    /// The broker's authentication data for this round.
    pub data: Option<Bytes>,
    /// The broker's human-readable reason string, if any.
    pub reason_string: Option<String>,
    /// `false` during a connect, `true` during a re-authentication on a live connection.
    pub reauthenticating: bool,
}

/// Why a re-authentication did not succeed ([`Event::ReauthenticationFailed`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReauthError {
    /// The connection ended before the broker said success (the broker refuses a
    /// re-authentication with DISCONNECT; the loss itself is `Event::ConnectionLost`).
    #[error("the connection ended during re-authentication")]
    ConnectionLost,
    /// The application aborted it ([`Client::auth_abort`]); the connection is closed.
    #[error("re-authentication aborted by the application")]
    Aborted,
    /// The client closed (disconnect or gave up) during the re-authentication.
    #[error("the client closed during re-authentication")]
    Closed,
    /// The broker refused it with this reason (a failure CONNACK on the live connection, as
    /// Mosquitto 2.0.11 answers); the connection ends.
    #[error("the broker refused the re-authentication: {0}")]
    Refused(ReasonCode),
    /// Not finished within the connect timeout (`ReconnectConfig::connect_timeout`), which
    /// bounds a re-authentication as it bounds a connect; the connection is closed.
    #[error("re-authentication not finished within the connect timeout")]
    TimedOut,
}

/// Where the exchange is on the connection in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Exchange {
    /// No exchange (no enhanced auth, or the last one ended).
    #[default]
    Idle,
    /// A connect or re-authentication round: waiting for the broker. `reauth`: the
    /// re-authentication's deadline (`None` during a connect, which the connect deadline
    /// bounds).
    AwaitingBroker { reauth: Option<Instant> },
    /// The broker challenged: waiting for the application's answer.
    AwaitingApplication { reauth: Option<Instant> },
}

impl Exchange {
    /// The deadline of the re-authentication in progress, if one is.
    pub(super) fn reauth_deadline(self) -> Option<Instant> {
        match self {
            Exchange::AwaitingBroker { reauth } | Exchange::AwaitingApplication { reauth } => {
                reauth
            }
            Exchange::Idle => None,
        }
    }

    fn reauthenticating(self) -> bool {
        self.reauth_deadline().is_some()
    }
}

impl Client {
    /// Whether this connection authenticates with the token under [`JWT_AUTH_METHOD`]: MQTT 5,
    /// token auth with re-authentication, no method of the application's, and the broker has
    /// not refused the method.
    pub(super) fn jwt_method_in_use(&self) -> bool {
        self.config.protocol == ProtocolVersion::V5
            && self.credentials.wants_reauthentication()
            && self.config.authentication.is_none()
            && !self.jwt_method_refused
    }

    /// The authentication method of this connection, if any.
    fn auth_method(&self) -> Option<String> {
        match &self.config.authentication {
            Some(auth) => Some(auth.method.clone()),
            None if self.jwt_method_in_use() => Some(JWT_AUTH_METHOD.to_owned()),
            None => None,
        }
    }

    pub(super) fn auth_exchange_idle(&self) -> bool {
        self.auth_exchange == Exchange::Idle
    }

    /// The authentication method and data CONNECT carries (`token`: the token of token auth);
    /// the exchange starts.
    pub(super) fn connect_authentication(
        &mut self,
        token: Option<Bytes>,
    ) -> (Option<String>, Option<Bytes>) {
        let data = match &self.config.authentication {
            Some(auth) => auth.initial_data.clone(),
            None => token,
        };
        match self.auth_method() {
            Some(method) => {
                self.auth_exchange = Exchange::AwaitingBroker { reauth: None };
                (Some(method), data)
            }
            None => {
                self.auth_exchange = Exchange::Idle;
                (None, None)
            }
        }
    }

    /// Refreshes the token in place: AUTH 0x19 under [`JWT_AUTH_METHOD`] with the fresh token,
    /// bounded by the connect timeout like any re-authentication. `false` when it cannot be
    /// sent (no fresh token, or the AUTH would be too large): the caller reconnects instead.
    pub(super) fn start_jwt_reauthentication(&mut self, now: Instant) -> bool {
        let Some(secret) = self.credentials.fresh_secret().cloned() else {
            return false;
        };
        let Ok(packet) = self.auth_packet(ReasonCode::RE_AUTHENTICATE, Some(secret)) else {
            return false;
        };
        self.credentials.start_reauthentication();
        self.control.push_back(packet);
        self.auth_exchange = Exchange::AwaitingBroker {
            reauth: Some(now + self.config.reconnect.connect_timeout),
        };
        true
    }

    /// An AUTH from the broker (`allows_incoming` let it through: connecting or established).
    pub(super) fn handle_auth(&mut self, auth: Auth) -> Result<(), ProtocolError> {
        let unexpected = |state: ConnectionState| ProtocolError::UnexpectedPacket {
            packet: "AUTH",
            state: state.name(),
        };
        let Some(ours) = self.auth_method() else {
            return Err(unexpected(self.state()));
        };
        let token_auth = self.config.authentication.is_none();
        let AuthProperties {
            authentication_method,
            authentication_data,
            reason_string,
            ..
        } = auth.properties;
        if authentication_method.as_deref() != Some(ours.as_str()) {
            return Err(ProtocolError::AuthenticationMethodMismatch {
                expected: ours,
                got: authentication_method,
            });
        }
        match (self.auth_exchange, auth.reason) {
            // The token is the whole answer: `JWT` has no further rounds.
            (Exchange::AwaitingBroker { .. }, ReasonCode::CONTINUE_AUTHENTICATION)
                if token_auth =>
            {
                Err(unexpected(self.state()))
            }
            (Exchange::AwaitingBroker { reauth }, ReasonCode::CONTINUE_AUTHENTICATION) => {
                self.auth_exchange = Exchange::AwaitingApplication { reauth };
                self.events.push_back(Event::AuthChallenge(AuthChallenge {
                    method: ours,
                    data: authentication_data,
                    reason_string,
                    reauthenticating: reauth.is_some(),
                }));
                Ok(())
            }
            (Exchange::AwaitingBroker { reauth: Some(_) }, ReasonCode::SUCCESS) => {
                self.auth_exchange = Exchange::Idle;
                if token_auth {
                    // The re-authentication's token is the one in use now; its refresh is armed.
                    self.credentials.reauthenticated();
                }
                self.events.push_back(Event::Reauthenticated {
                    data: authentication_data,
                });
                Ok(())
            }
            _ => Err(unexpected(self.state())),
        }
    }

    /// CONNACK success ends the connect exchange; its method, if any, must be ours.
    pub(super) fn connack_authentication(
        &mut self,
        method: Option<&str>,
    ) -> Result<(), ProtocolError> {
        self.auth_exchange = Exchange::Idle;
        match (self.auth_method(), method) {
            (_, None) => Ok(()),
            (Some(ours), Some(got)) if ours == got => Ok(()),
            (ours, Some(got)) => Err(ProtocolError::AuthenticationMethodMismatch {
                expected: ours.unwrap_or_default(),
                got: Some(got.to_owned()),
            }),
        }
    }

    /// The exchange ends with the connection: a re-authentication in progress fails with
    /// `error`.
    pub(super) fn end_auth_exchange(&mut self, error: ReauthError) {
        if std::mem::take(&mut self.auth_exchange).reauthenticating() {
            self.events.push_back(Event::ReauthenticationFailed(error));
        }
    }

    // ---- commands -------------------------------------------------------------------------

    /// Answers the broker's [`Event::AuthChallenge`]: AUTH "continue authentication" (0x18)
    /// with our method and `data`. Refused when no challenge waits for an answer
    /// ([`ClientError::NoAuthChallenge`]) or the AUTH cannot be sent (size).
    pub fn auth_respond(&mut self, _now: Instant, data: Option<Bytes>) -> Result<(), ClientError> {
        let Exchange::AwaitingApplication { reauth } = self.auth_exchange else {
            return Err(ClientError::NoAuthChallenge);
        };
        let packet = self.auth_packet(ReasonCode::CONTINUE_AUTHENTICATION, data)?;
        self.control.push_back(packet);
        self.auth_exchange = Exchange::AwaitingBroker { reauth };
        Ok(())
    }

    /// Gives up the exchange the broker is waiting on. During a connect the attempt fails
    /// with [`ConnectError::AuthenticationAborted`] (the reconnect policy decides what next);
    /// during a re-authentication the connection is closed with DISCONNECT 0x87 (not
    /// authorized) after [`Event::ReauthenticationFailed`]. Nothing happens otherwise.
    pub fn auth_abort(&mut self, now: Instant) {
        if self.auth_exchange == Exchange::Idle {
            return;
        }
        match self.state() {
            ConnectionState::Connecting => {
                self.auth_exchange = Exchange::Idle;
                self.attempt_failed(now, ConnectError::AuthenticationAborted, true, None);
            }
            state if state.is_established() => {
                self.reauthentication_failed(now, ReauthError::Aborted)
            }
            _ => {}
        }
    }

    /// The broker refused the re-authentication in progress with `code` (see
    /// [`ReauthError::Refused`]): the connection ends, and the next connect authenticates
    /// afresh (with token auth, with a fresh token). `false` when none is in progress.
    pub(super) fn reauthentication_refused(&mut self, now: Instant, code: ReasonCode) -> bool {
        if !self.auth_exchange.reauthenticating() {
            return false;
        }
        let error = ReauthError::Refused(code);
        self.end_auth_exchange(error.clone());
        self.connection_lost(now, LostReason::Reauthentication(error), None);
        true
    }

    /// Whether a re-authentication is in progress on the connection in force.
    pub(super) fn reauthenticating(&self) -> bool {
        self.auth_exchange.reauthenticating()
    }

    /// From `handle_timeout`: a re-authentication past its deadline fails and the connection
    /// is closed (the broker may still be in the middle of it).
    pub(super) fn reauth_timeout(&mut self, now: Instant) {
        if self
            .auth_exchange
            .reauth_deadline()
            .is_some_and(|d| now >= d)
        {
            self.reauthentication_failed(now, ReauthError::TimedOut);
        }
    }

    /// The re-authentication ends without success and so does the connection (DISCONNECT
    /// 0x87 "not authorized"); the reconnect policy then reconnects, authenticating afresh.
    fn reauthentication_failed(&mut self, now: Instant, error: ReauthError) {
        self.end_auth_exchange(error.clone());
        let farewell = Disconnect {
            reason: ReasonCode::NOT_AUTHORIZED,
            ..Disconnect::normal()
        };
        self.connection_lost(now, LostReason::Reauthentication(error), Some(farewell));
    }

    /// Re-authenticates on the live connection: AUTH "re-authenticate" (0x19) with our method
    /// and `data`. The broker answers with challenges ([`Event::AuthChallenge`] with
    /// `reauthenticating`) and success ([`Event::Reauthenticated`]), or ends the connection
    /// ([`Event::ReauthenticationFailed`]). Requests keep flowing meanwhile. The connect
    /// timeout bounds the whole exchange: past it the re-authentication fails with
    /// [`ReauthError::TimedOut`] and the connection is closed. Refused without
    /// enhanced auth ([`ClientError::NoEnhancedAuth`]), when not connected
    /// ([`ClientError::NotConnected`]) and while one is in progress
    /// ([`ClientError::ReauthenticationInProgress`]).
    pub fn reauthenticate(&mut self, now: Instant, data: Option<Bytes>) -> Result<(), ClientError> {
        if self.config.authentication.is_none() {
            return Err(ClientError::NoEnhancedAuth);
        }
        if self.state() != ConnectionState::Connected {
            return Err(ClientError::NotConnected);
        }
        if self.auth_exchange != Exchange::Idle {
            return Err(ClientError::ReauthenticationInProgress);
        }
        let packet = self.auth_packet(ReasonCode::RE_AUTHENTICATE, data)?;
        self.control.push_back(packet);
        let deadline = now + self.config.reconnect.connect_timeout;
        self.auth_exchange = Exchange::AwaitingBroker {
            reauth: Some(deadline),
        };
        Ok(())
    }

    /// An AUTH with our method, checked to be sendable (field and packet size).
    fn auth_packet(&self, reason: ReasonCode, data: Option<Bytes>) -> Result<Packet, ClientError> {
        let method = self.auth_method().ok_or(ClientError::NoEnhancedAuth)?;
        let packet = Packet::Auth(Box::new(Auth {
            reason,
            properties: AuthProperties {
                authentication_method: Some(method),
                authentication_data: data,
                ..AuthProperties::default()
            },
        }));
        let size = self
            .codec
            .encoded_len(&packet)
            .map_err(ClientError::Unencodable)?;
        if size > self.max_outgoing {
            return Err(ClientError::PacketTooLarge {
                size,
                max: self.max_outgoing,
            });
        }
        Ok(packet)
    }
}
