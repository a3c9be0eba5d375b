//! Framing and encoding over `mqttbytes` for MQTT 3.1.1 (v4) and 5.0 (v5).
//! (Interface stub: the framing, validation and fixes described in issue 2 replace this.)
use bytes::BytesMut;

use crate::error::ProtocolError;
use crate::packet::{Packet, ProtocolVersion};

/// Why a packet could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    #[error("packet of {size} bytes exceeds the maximum of {max}")]
    TooLarge { size: usize, max: usize },
    #[error("cannot encode: {0}")]
    Invalid(String),
}

/// Encoder/decoder for one protocol version.
#[derive(Debug, Clone)]
pub struct Codec {
    version: ProtocolVersion,
    max_incoming: usize,
}

impl Codec {
    /// `max_incoming` caps the size of a whole incoming packet (fixed header included).
    pub fn new(version: ProtocolVersion, max_incoming: usize) -> Codec {
        Codec {
            version,
            max_incoming,
        }
    }

    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Takes one complete packet off the front of `buf`.
    /// `Ok(None)`: not a whole packet yet, nothing consumed.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Packet>, ProtocolError> {
        let _ = (buf, self.max_incoming);
        Err(ProtocolError::MalformedPacket(
            "codec not implemented".into(),
        ))
    }

    /// Appends the encoding of `packet` to `out`; returns the number of bytes written.
    pub fn encode(&self, packet: &Packet, out: &mut BytesMut) -> Result<usize, EncodeError> {
        let _ = (packet, out);
        Err(EncodeError::Invalid("codec not implemented".into()))
    }

    /// The exact number of bytes `encode` would write.
    pub fn encoded_len(&self, packet: &Packet) -> usize {
        let _ = packet;
        0
    }
}
