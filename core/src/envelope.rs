//! `Envelope<T>`: a typed payload with the metadata applications keep asking for (message id,
//! creation time, source, content type, schema version), encoded as JSON with serde.
//!
//! The creation time is an argument (`SystemTime`): the core never reads the clock.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Why an envelope could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The envelope could not be serialized to JSON.
    #[error("cannot encode envelope: {0}")]
    Encode(#[source] serde_json::Error),
    /// The payload is not JSON of an envelope with this payload type.
    #[error("payload is not a valid envelope: {0}")]
    Decode(#[source] serde_json::Error),
    /// An envelope of a newer schema version than this crate reads.
    #[error("envelope schema version {found} is newer than the supported {supported}")]
    UnsupportedVersion {
        /// The envelope's schema version.
        found: u32,
        /// The newest version this crate reads ([`ENVELOPE_VERSION`]).
        supported: u32,
    },
}

/// The schema version this crate writes and the newest it reads.
pub const ENVELOPE_VERSION: u32 = 1;

/// A typed message with metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// Schema version of the envelope itself.
    pub version: u32,
    /// Unique per message (chosen by the sender; e.g. client id + sequence number).
    pub id: String,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// Who produced the message (service or client id).
    pub source: String,
    /// Type name of the payload, so consumers can route before decoding it.
    pub kind: String,
    /// Correlation id for request/response flows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// The message itself.
    pub payload: T,
}

impl<T> Envelope<T> {
    /// Wraps `payload`; `kind` defaults to the payload's Rust type name.
    pub fn new(
        id: impl Into<String>,
        source: impl Into<String>,
        created_at: SystemTime,
        payload: T,
    ) -> Envelope<T> {
        let created_at_ms = created_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let kind = std::any::type_name::<T>()
            .rsplit("::")
            .next()
            .unwrap_or_default()
            .to_owned();
        Envelope {
            version: ENVELOPE_VERSION,
            id: id.into(),
            created_at_ms,
            source: source.into(),
            kind,
            correlation_id: None,
            payload,
        }
    }

    /// Sets the correlation id (request/response flows).
    pub fn with_correlation_id(mut self, id: impl Into<String>) -> Envelope<T> {
        self.correlation_id = Some(id.into());
        self
    }

    /// Sets the payload type name consumers route on.
    pub fn with_kind(mut self, kind: impl Into<String>) -> Envelope<T> {
        self.kind = kind.into();
        self
    }
}

impl<T: Serialize> Envelope<T> {
    /// JSON bytes, ready to be a publish payload.
    pub fn to_bytes(&self) -> Result<Bytes, EnvelopeError> {
        serde_json::to_vec(self)
            .map(Bytes::from)
            .map_err(EnvelopeError::Encode)
    }
}

impl<T: DeserializeOwned> Envelope<T> {
    /// Parses a payload; a newer schema version than this crate knows is an error.
    pub fn from_slice(bytes: &[u8]) -> Result<Envelope<T>, EnvelopeError> {
        let envelope: Envelope<T> = serde_json::from_slice(bytes).map_err(EnvelopeError::Decode)?;
        if envelope.version > ENVELOPE_VERSION {
            return Err(EnvelopeError::UnsupportedVersion {
                found: envelope.version,
                supported: ENVELOPE_VERSION,
            });
        }
        Ok(envelope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Reading {
        sensor: String,
        celsius: f64,
    }

    #[test]
    fn round_trips_with_metadata() {
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let sent = Envelope::new(
            "id-1",
            "sensor-gw",
            at,
            Reading {
                sensor: "s1".into(),
                celsius: 21.5,
            },
        )
        .with_correlation_id("req-9");
        let bytes = sent.to_bytes().unwrap();
        let got: Envelope<Reading> = Envelope::from_slice(&bytes).unwrap();
        assert_eq!(got, sent);
        assert_eq!(got.created_at_ms, 1_700_000_000_123);
        assert_eq!(got.kind, "Reading");
    }

    #[test]
    fn wrong_payload_type_and_newer_versions_are_typed_errors() {
        let bytes = Envelope::new("id", "src", UNIX_EPOCH, 42u32)
            .to_bytes()
            .unwrap();
        assert!(matches!(
            Envelope::<Reading>::from_slice(&bytes),
            Err(EnvelopeError::Decode(_))
        ));
        let mut future = Envelope::new("id", "src", UNIX_EPOCH, 1u8);
        future.version = ENVELOPE_VERSION + 1;
        let bytes = future.to_bytes().unwrap();
        assert!(matches!(
            Envelope::<u8>::from_slice(&bytes),
            Err(EnvelopeError::UnsupportedVersion { .. })
        ));
        assert!(matches!(
            Envelope::<u8>::from_slice(b"\xff{"),
            Err(EnvelopeError::Decode(_))
        ));
    }
}
