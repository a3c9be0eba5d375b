//! [`Error`]: what the async API returns. Transport and TLS failures keep their type (a
//! `rustls::Error` says *why* a handshake failed); MQTT failures carry the core's errors.

use std::io;
use std::sync::Arc;

#[cfg(feature = "tls")]
use jamey_mqtt_core::tls::TlsError;
use jamey_mqtt_core::{
    ClientError, ConfigError, ConnectError, ReasonCode, ReauthError, RequestError, SubscriptionEnd,
};

/// Everything the async API can fail with.
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
    Tls(#[source] rustls::Error),
    /// TCP or other I/O failure: the `io::Error`, shared so that this error stays `Clone`
    /// (the source is the `Arc<io::Error>`; [`Error::io_error`] gives the `io::Error`).
    #[error("I/O ({kind:?}): {0}", kind = .0.kind())]
    Io(#[source] Arc<io::Error>),
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
    SubscribeRefused {
        /// The filter refused.
        filter: String,
        /// The SUBACK reason code.
        reason: ReasonCode,
    },
    /// The broker refused an unsubscribe (MQTT 5 UNSUBACK failure code).
    #[error("unsubscribe from {filter:?} refused: {reason}")]
    UnsubscribeRefused {
        /// The filter.
        filter: String,
        /// The UNSUBACK reason code.
        reason: ReasonCode,
    },
    /// The last item of a [`Subscription`](crate::Subscription) stream that ended for another
    /// reason than an unsubscribe: refused again by the broker after it lost the session, or
    /// its SUBSCRIBE failed. Nothing more arrives for it.
    #[error("subscription to {filter:?} ended: {end}")]
    SubscriptionEnded {
        /// The subscription's filter.
        filter: String,
        /// Why it ended.
        end: SubscriptionEnd,
    },
    /// A helper's own deadline passed (e.g. no response to [`Client::request`](crate::Client)).
    #[error("no answer within {after:?}")]
    TimedOut {
        /// The deadline that passed.
        after: std::time::Duration,
    },
    /// A re-authentication ([`Client::reauthenticate`](crate::Client)) did not succeed.
    #[error(transparent)]
    Reauthentication(ReauthError),
    /// The client is closed (disconnected, gave up, or the driver stopped).
    #[error("the client is closed")]
    Closed,
}

impl Error {
    /// The I/O error behind an [`Error::Io`].
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            Error::Io(error) => Some(error),
            _ => None,
        }
    }

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
        Error::Io(Arc::new(io::Error::new(error.kind(), error.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    /// Compiles only for a `std::error::Error` that may cross threads and live anywhere.
    fn is_error<E: std::error::Error + Send + Sync + 'static>() {}

    #[test]
    fn the_error_is_send_sync_static() {
        is_error::<Error>();
    }

    #[test]
    fn an_io_failure_keeps_its_kind_as_the_source() {
        let io = io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        let error = Error::from_io(&io);
        let source = error
            .source()
            .and_then(|e| e.downcast_ref::<Arc<io::Error>>());
        assert_eq!(
            source.map(|e| e.kind()),
            Some(io::ErrorKind::ConnectionRefused)
        );
        assert_eq!(
            error.io_error().map(io::Error::kind),
            Some(io::ErrorKind::ConnectionRefused)
        );
        assert_eq!(error.to_string(), "I/O (ConnectionRefused): refused");
    }

    #[cfg(feature = "tls")]
    #[test]
    fn a_tls_failure_keeps_the_rustls_error() {
        let io = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let error = Error::from_io(&io);
        let source = error
            .source()
            .and_then(|e| e.downcast_ref::<rustls::Error>());
        assert_eq!(
            source,
            Some(&rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        );
    }
}
