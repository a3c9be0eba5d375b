//! The codec seam: bytes <-> [`Packet`] for MQTT 3.1.1 and 5.0, over mqttbytes 0.6.
//!
//! This module owns everything between the byte stream and the packet model:
//! - **framing**: the fixed header and remaining length (at most four bytes, shortest form) are
//!   parsed here; a packet larger than `max_incoming` is refused as soon as its header announces
//!   it, before its body is buffered; the parser sees exactly one complete frame and must account
//!   for every byte of it;
//! - **validation**: an incoming packet is checked against the specification (fixed-header
//!   flags, QoS, packet ids, topic names and filters, subscription options, topic alias,
//!   property types, duplicates and boundaries, UTF-8 without U+0000, the CONNECT protocol
//!   level) before anyone sees it. Which packet is allowed in which state is the state machine's
//!   business, not the codec's: it decodes packets of both directions;
//! - **encoding**: written by hand straight into the output buffer (module `encode`), refusing
//!   what the wire version cannot carry and any field over 65,535 bytes.
//!
//! Why part of it is by hand: mqttbytes 0.6 decodes 3.1.1 well, but its MQTT 5 side drops a
//! whole DISCONNECT frame while answering "insufficient bytes", reads properties past their
//! declared length, has no AUTH and prints on every UNSUBSCRIBE it decodes; both sides truncate
//! fields over 65,535 bytes and accept wildcards in publish topics and wrong header flags.
//! Encoding through it would also need an owned copy of every packet (topic `String`, property
//! vectors) per call. So mqttbytes parses the packets a client receives in bulk (CONNACK,
//! PUBLISH, acks, SUBACK, UNSUBACK) and everything else is small code here.
//!
//! The codec keeps no state between calls: after any error it is as good as new.

mod decode;
mod encode;
mod hand;
mod props;
mod wire;

use bytes::{Bytes, BytesMut};

use crate::error::ProtocolError;
use crate::packet::{Packet, ProtocolVersion, ReasonCode};
use props::{Counter, Writer};

/// Why a packet could not be encoded. Nothing was written to the output buffer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The packet's remaining length would exceed what MQTT can express (268,435,455 bytes).
    #[error("packet of {size} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// The packet's remaining length.
        size: usize,
        /// What MQTT can express.
        max: usize,
    },
    /// Something only a later protocol version has (MQTT 5 properties, subscription options or
    /// AUTH on 3.1.1, a 3.1.1 password without a user name).
    #[error("{what} cannot be sent on MQTT {version}")]
    NotInVersion {
        /// What the packet carries.
        what: &'static str,
        /// The codec's version.
        version: &'static str,
    },
    /// A reason code the packet type cannot carry on this protocol version.
    #[error("{packet} cannot carry reason code {code} on this protocol version")]
    ReasonCode {
        /// The packet type.
        packet: &'static str,
        /// The code.
        code: ReasonCode,
    },
    /// A packet that needs at least one of something has none (filters, reason codes).
    #[error("{packet} needs at least one {what}")]
    Empty {
        /// The packet type.
        packet: &'static str,
        /// What it needs.
        what: &'static str,
    },
    /// A value that must not be 0 (packet identifier, topic alias, subscription identifier).
    #[error("{field} 0 is not allowed")]
    Zero {
        /// The field.
        field: &'static str,
    },
    /// A refused CONNACK with session present.
    #[error("a refused CONNACK cannot have session present")]
    SessionPresentOnRefusal,
    /// DUP on a QoS 0 PUBLISH.
    #[error("DUP must not be set on a QoS 0 PUBLISH")]
    DupOnQoS0,
    /// A PUBLISH with an empty topic and no topic alias.
    #[error("an empty topic needs a topic alias (MQTT 5)")]
    EmptyTopicWithoutAlias,
    /// A value above what a variable byte integer can carry (268,435,455).
    #[error("{value} does not fit a variable byte integer")]
    VarintTooLarge {
        /// The value.
        value: usize,
    },
    /// A string or binary field is longer than the 65,535 bytes its two-byte length can say.
    #[error("{field} is {len} bytes, more than the 65535 a field can carry")]
    FieldTooLong {
        /// The field's name.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
    },
}

/// Encoder/decoder for one protocol version. Stateless apart from its configuration.
#[derive(Debug, Clone)]
pub struct Codec {
    version: ProtocolVersion,
    max_incoming: usize,
}

impl Codec {
    /// A codec for `version`. `max_incoming` caps the size of a whole incoming packet (fixed
    /// header included); larger packets are refused with [`ProtocolError::PacketTooLarge`].
    pub fn new(version: ProtocolVersion, max_incoming: usize) -> Codec {
        Codec {
            version,
            max_incoming,
        }
    }

    /// The protocol version this codec speaks.
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Takes one complete packet off the front of `buf`.
    ///
    /// `Ok(None)`: not a whole packet yet, nothing consumed (room for the rest of the announced
    /// packet may be reserved). `Ok(Some(_))`: exactly that packet's bytes were consumed; the
    /// payload of a PUBLISH shares `buf`'s memory instead of being copied. `Err(_)`: the peer
    /// sent something invalid and the connection must end; `buf` is then in no useful state
    /// (a rejected complete frame has been consumed), but the codec itself is unaffected.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Packet>, ProtocolError> {
        let Some((frame_len, header_len)) = self.frame_len(buf)? else {
            return Ok(None);
        };
        if buf.len() < frame_len {
            buf.reserve(frame_len - buf.len());
            return Ok(None);
        }
        let frame = buf.split_to(frame_len).freeze();
        decode::frame(self.version, frame, header_len).map(Some)
    }

    /// [`decode`](Codec::decode) from bytes already frozen, that [`whole_frames_len`]
    /// measured: the client freezes the whole packets one read brought in once and takes each
    /// off the front, a view of those bytes (cheaper per packet than splitting a `BytesMut`).
    /// `Ok(None)` once `buf` is used up (or holds only part of a packet).
    ///
    /// [`whole_frames_len`]: Codec::whole_frames_len
    pub fn decode_whole(&self, buf: &mut Bytes) -> Result<Option<Packet>, ProtocolError> {
        let Some((frame_len, header_len)) = self.frame_len(buf)? else {
            return Ok(None);
        };
        if buf.len() < frame_len {
            return Ok(None);
        }
        let frame = buf.split_to(frame_len);
        decode::frame(self.version, frame, header_len).map(Some)
    }

    /// How many bytes at the front of `buf` are whole packets (each fixed header acceptable):
    /// what [`decode_whole`](Codec::decode_whole) may be given.
    pub fn whole_frames_len(&self, buf: &[u8]) -> usize {
        let mut at = 0;
        while let Ok(Some((len, _))) = self.frame_len(&buf[at..]) {
            if buf.len() - at < len {
                break;
            }
            at += len;
        }
        at
    }

    /// The length of the frame starting `buf` and of its fixed header, once the fixed header
    /// is complete and acceptable (known type and flags, shortest length encoding, within the
    /// incoming maximum).
    fn frame_len(&self, buf: &[u8]) -> Result<Option<(usize, usize)>, ProtocolError> {
        let Some(&byte1) = buf.first() else {
            return Ok(None);
        };
        decode::check_first_byte(byte1, self.version)?;
        let Some((remaining, len_len)) = wire::parse_varint(&buf[1..])? else {
            return Ok(None);
        };
        if len_len != wire::varint_len(remaining) {
            return Err(wire::malformed(crate::error::Malformed::VarintNotShortest));
        }
        let frame_len = 1 + len_len + remaining;
        if frame_len > self.max_incoming {
            return Err(ProtocolError::PacketTooLarge {
                size: frame_len,
                max: self.max_incoming,
            });
        }
        Ok(Some((frame_len, 1 + len_len)))
    }

    /// Appends the encoding of `packet` to `out`; returns the number of bytes written.
    /// On error nothing is written.
    pub fn encode(&self, packet: &Packet, out: &mut BytesMut) -> Result<usize, EncodeError> {
        let remaining = self.remaining_len(packet)?;
        let total = 1 + wire::varint_len(remaining) + remaining;
        out.reserve(total);
        let start = out.len();
        out.extend_from_slice(&[encode::first_byte(packet)]);
        wire::put_varint(out, remaining);
        encode::body(self.version, packet, &mut Writer(out));
        debug_assert_eq!(out.len() - start, total);
        Ok(total)
    }

    /// The exact number of bytes [`encode`](Codec::encode) would write, or why it would fail.
    /// This is the one test of "encodable": what passes it, `encode` writes.
    pub fn encoded_len(&self, packet: &Packet) -> Result<usize, EncodeError> {
        let remaining = self.remaining_len(packet)?;
        Ok(1 + wire::varint_len(remaining) + remaining)
    }

    /// Checks the packet and measures everything after the fixed header.
    fn remaining_len(&self, packet: &Packet) -> Result<usize, EncodeError> {
        encode::check(self.version, packet)?;
        let mut c = Counter::default();
        encode::body(self.version, packet, &mut c);
        if let Some(e) = c.error {
            return Err(e);
        }
        if c.len > wire::MAX_VARINT {
            return Err(EncodeError::TooLarge {
                size: 1 + 4 + c.len,
                max: 1 + 4 + wire::MAX_VARINT,
            });
        }
        Ok(c.len)
    }
}
