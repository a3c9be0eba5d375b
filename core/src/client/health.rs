//! The health snapshot ([`Health`]) a health endpoint reports, and [`LastError`], the last
//! thing that went wrong, kept in it with its type.

use std::time::{Duration, SystemTime};

use super::LostReason;
use crate::codec::EncodeError;
use crate::error::ConnectError;
use crate::state::{ConnectionState, IllegalTransition};

/// A point-in-time health report, for a health endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// Where the connection is.
    pub state: ConnectionState,
    /// Connected with a live keep-alive.
    pub healthy: bool,
    /// Requests sent and not yet acknowledged.
    pub in_flight: usize,
    /// Requests waiting in the queue (bounded by `max_queued`).
    pub queued: usize,
    /// Bytes handed to the adapter and not yet written to the transport.
    pub buffered_bytes: usize,
    /// Messages that matched no subscription, waiting for one (`unmatched_capacity`).
    pub unmatched_buffered: usize,
    /// The last reason a connection ended or an attempt failed, if any.
    pub last_error: Option<LastError>,
    /// The round-trip time of the last PINGREQ answered (from the `now` of the tick that
    /// queued it to the `now` of the bytes that carried the PINGRESP).
    pub ping_rtt: Option<Duration>,
    /// When the JWT in use expires (wall clock), when JWT auth is configured and it has `exp`.
    pub token_expires_at: Option<SystemTime>,
}

/// The last thing that went wrong, as [`Health::last_error`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LastError {
    /// A connection attempt failed (the same error `Event::ConnectFailed` carried).
    #[error("connection attempt failed: {0}")]
    ConnectFailed(#[source] ConnectError),
    /// An established connection ended (the same reason `Event::ConnectionLost` carried).
    #[error("connection lost: {0}")]
    ConnectionLost(#[source] LostReason),
    /// A packet the client built itself could not be encoded and was dropped (a bug in the
    /// client: it never happens with packets the client builds).
    #[error("cannot encode {packet}: {error}")]
    Unencodable {
        /// The packet type.
        packet: &'static str,
        /// Why it cannot be encoded.
        #[source]
        error: EncodeError,
    },
    /// The lifecycle refused an edge (a bug in the client, counted in
    /// `Stats::illegal_transitions`).
    #[error(transparent)]
    IllegalTransition(IllegalTransition),
}
