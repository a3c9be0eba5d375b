//! [`Error`]: what the async API returns. Transport and TLS failures keep their type (a
//! `rustls::Error` says *why* a handshake failed); MQTT failures carry the core's errors.

use std::io;

#[cfg(feature = "tls")]
use jamey_mqtt_core::tls::TlsError;
use jamey_mqtt_core::{
    ClientError, ConfigError, ConnectError, ReasonCode, ReauthError, RequestError, SubscriptionEnd,
};

#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The MQTT configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The TLS options could not be turned into a configuration (bad PEM, no roots...).
    #[cfg(feature = "tls")]
    #[error("TLS configuration: {0}")]
    TlsConfig(#[from] TlsError),
    /// The TLS handshake or session failed: unknown CA, wrong host name, a peer without
    /// TLS 1.3 (`AlertReceived(ProtocolVersion)`), a required client certificate...
    #[cfg(feature = "tls")]
    #[error("TLS: {0}")]
    Tls(rustls::Error),
    /// TCP or other I/O failure.
    #[error("I/O ({kind:?}): {message}")]
    Io {
        kind: io::ErrorKind,
        message: String,
    },
    /// The broker refused the connection (CONNACK) or did not answer in time.
    #[error(transparent)]
    Connect(ConnectError),
    /// The core refused the request before queueing it (invalid topic, queue full, closed...).
    #[error(transparent)]
    Request(#[from] ClientError),
    /// The request was queued but did not complete (broker refusal, session lost, closed).
    #[error(transparent)]
    Failed(RequestError),
    /// The broker refused a subscription (SUBACK failure code).
    #[error("subscription to {filter:?} refused: {reason}")]
    SubscribeRefused { filter: String, reason: ReasonCode },
    /// The broker refused an unsubscribe (MQTT 5 UNSUBACK failure code).
    #[error("unsubscribe from {filter:?} refused: {reason}")]
    UnsubscribeRefused { filter: String, reason: ReasonCode },
    /// The last item of a [`Subscription`](crate::Subscription) stream that ended for another
    /// reason than an unsubscribe: refused again by the broker after it lost the session, or
    /// its SUBSCRIBE failed. Nothing more arrives for it.
    #[error("subscription to {filter:?} ended: {end}")]
    SubscriptionEnded {
        filter: String,
        end: SubscriptionEnd,
    },
    /// A helper's own deadline passed (e.g. no response to [`Client::request`](crate::Client)).
    #[error("no answer within {after:?}")]
    TimedOut { after: std::time::Duration },
    /// A re-authentication ([`Client::reauthenticate`](crate::Client)) did not succeed.
    #[error(transparent)]
    Reauthentication(ReauthError),
    /// The client is closed (disconnected, gave up, or the driver stopped).
    #[error("the client is closed")]
    Closed,
}

impl Error {
    /// The MQTT reason code behind this error, if the broker sent one.
    pub fn reason_code(&self) -> Option<ReasonCode> {
        match self {
            Error::Failed(RequestError::Refused(code))
            | Error::Connect(ConnectError::Refused(code))
            | Error::SubscribeRefused { reason: code, .. }
            | Error::UnsubscribeRefused { reason: code, .. }
            | Error::SubscriptionEnded {
                end: SubscriptionEnd::ResubscribeRefused(code) | SubscriptionEnd::Refused(code),
                ..
            } => Some(*code),
            _ => None,
        }
    }

    /// A failed connection attempt: a transport failure keeps its type (the `io::Error` the
    /// driver handed the core, and the `rustls::Error` inside it); MQTT failures stay the core's.
    pub(crate) fn from_connect(error: ConnectError) -> Error {
        if let ConnectError::Transport(transport) = &error {
            if let Some(io) = transport
                .source_error()
                .and_then(|e| e.downcast_ref::<io::Error>())
            {
                return Error::from_io(io);
            }
        }
        Error::Connect(error)
    }

    /// Keeps the rustls error when the I/O error wraps one.
    pub(crate) fn from_io(error: &io::Error) -> Error {
        #[cfg(feature = "tls")]
        if let Some(tls) = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Error::Tls(tls.clone());
        }
        Error::Io {
            kind: error.kind(),
            message: error.to_string(),
        }
    }
}
