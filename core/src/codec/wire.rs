//! Wire primitives shared by the encoder and the hand-written decoders: the variable byte
//! integer, two-byte-length strings and binary data, and a bounds-checked [`Reader`] over a frame.
//!
//! Every read is checked: running off the end of the frame is a `MalformedPacket`, never a panic.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::EncodeError;
use crate::error::{Malformed as M, ProtocolError};
use crate::shared_str::SharedStr;

/// The largest value a variable byte integer can carry (four bytes).
pub(crate) const MAX_VARINT: usize = 268_435_455;

/// The largest string or binary field (two-byte length prefix).
pub(crate) const MAX_FIELD: usize = 65_535;

/// A `MalformedPacket` error of this kind.
pub(crate) fn malformed(kind: M) -> ProtocolError {
    ProtocolError::MalformedPacket(kind)
}

/// Number of bytes the variable byte integer encoding of `value` takes (1..=4).
pub(crate) fn varint_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes `value` (at most [`MAX_VARINT`], checked by the length pass) as a variable byte integer.
pub(crate) fn put_varint(out: &mut BytesMut, mut value: usize) {
    loop {
        let mut byte = (value % 128) as u8;
        value /= 128;
        if value > 0 {
            byte |= 0x80;
        }
        out.put_u8(byte);
        if value == 0 {
            break;
        }
    }
}

/// Parses a variable byte integer at the start of `bytes`.
/// `Ok(None)`: the bytes end before the integer does (fewer than four bytes seen).
/// Returns `(value, bytes used)`. A fifth continuation byte is malformed.
pub(crate) fn parse_varint(bytes: &[u8]) -> Result<Option<(usize, usize)>, ProtocolError> {
    let mut value = 0usize;
    for (i, &byte) in bytes.iter().take(4).enumerate() {
        value |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    if bytes.len() >= 4 {
        Err(malformed(M::VarintTooLong))
    } else {
        Ok(None)
    }
}

/// Size on the wire of a string or binary field, or an error if it cannot be encoded.
pub(crate) fn field_len(len: usize, what: &'static str) -> Result<usize, EncodeError> {
    if len > MAX_FIELD {
        return Err(EncodeError::FieldTooLong { field: what, len });
    }
    Ok(2 + len)
}

/// Writes a two-byte length and the bytes (length already checked by the length pass).
pub(crate) fn put_bin(out: &mut BytesMut, bytes: &[u8]) {
    out.put_u16(bytes.len() as u16);
    out.extend_from_slice(bytes);
}

/// A bounds-checked cursor over the body of one frame. Slices share the frame's memory.
pub(crate) struct Reader {
    buf: Bytes,
}

impl Reader {
    pub(crate) fn new(buf: Bytes) -> Reader {
        Reader { buf }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub(crate) fn u8(&mut self) -> Result<u8, ProtocolError> {
        if self.buf.is_empty() {
            return Err(malformed(M::Truncated));
        }
        Ok(self.buf.get_u8())
    }

    pub(crate) fn u16(&mut self) -> Result<u16, ProtocolError> {
        if self.buf.len() < 2 {
            return Err(malformed(M::Truncated));
        }
        Ok(self.buf.get_u16())
    }

    pub(crate) fn u32(&mut self) -> Result<u32, ProtocolError> {
        if self.buf.len() < 4 {
            return Err(malformed(M::Truncated));
        }
        Ok(self.buf.get_u32())
    }

    /// A variable byte integer that must use the minimum number of bytes.
    pub(crate) fn varint(&mut self) -> Result<usize, ProtocolError> {
        match parse_varint(&self.buf)? {
            Some((value, used)) if used == varint_len(value) => {
                self.buf.advance(used);
                Ok(value)
            }
            Some(_) => Err(malformed(M::VarintNotShortest)),
            None => Err(malformed(M::Truncated)),
        }
    }

    /// `n` bytes, sharing the frame's memory.
    pub(crate) fn take(&mut self, n: usize) -> Result<Bytes, ProtocolError> {
        if self.buf.len() < n {
            return Err(malformed(M::Truncated));
        }
        Ok(self.buf.split_to(n))
    }

    /// Binary data: two-byte length, then the bytes.
    pub(crate) fn bin(&mut self) -> Result<Bytes, ProtocolError> {
        let len = usize::from(self.u16()?);
        self.take(len)
    }

    /// A UTF-8 string: two-byte length, then valid UTF-8 without U+0000. Copied straight out
    /// of the frame (no shared slice is made for it).
    pub(crate) fn string(&mut self) -> Result<String, ProtocolError> {
        let len = usize::from(self.u16()?);
        let bytes = self.buf.get(..len).ok_or_else(|| malformed(M::Truncated))?;
        let s = std::str::from_utf8(bytes).map_err(|_| malformed(M::InvalidUtf8))?;
        check_no_nul(s)?;
        let s = s.to_owned();
        self.buf.advance(len);
        Ok(s)
    }

    /// A PUBLISH topic name, as a view of the frame (no copy): valid UTF-8 without U+0000,
    /// and whether it holds a wildcard character (`+` or `#`), found in the same scan. The
    /// caller decides about the wildcard and the empty name (an alias may stand for it).
    pub(crate) fn topic_name(&mut self) -> Result<(SharedStr, bool), ProtocolError> {
        let bytes = self.bin()?;
        // One pass over the bytes for the three single-byte questions (UTF-8 continuation
        // bytes are all >= 0x80, so none of them can be mistaken for these). Not
        // `check_no_nul` and `TopicName::validate`: their two `memchr`s and second scan cost
        // about 100 more instructions per received message on a 10-byte topic (callgrind).
        let (mut nul, mut wildcard) = (false, false);
        for &b in bytes.iter() {
            nul |= b == 0;
            wildcard |= b == b'+' || b == b'#';
        }
        let name = SharedStr::from_utf8(bytes).ok_or_else(|| malformed(M::InvalidUtf8))?;
        if nul {
            return Err(malformed(M::NullCharacter));
        }
        Ok((name, wildcard))
    }

    /// Everything left, sharing the frame's memory (the reader is used up).
    pub(crate) fn rest(self) -> Bytes {
        self.buf
    }
}

/// MQTT strings must not contain U+0000 (3.1.1 section 1.5.3, 5.0 section 1.5.4).
pub(crate) fn check_no_nul(s: &str) -> Result<(), ProtocolError> {
    if s.as_bytes().contains(&0) {
        return Err(malformed(M::NullCharacter));
    }
    Ok(())
}

/// A packet identifier, where the packet needs one: 0 is not allowed.
pub(crate) fn nonzero_pkid(id: u16) -> Result<(), ProtocolError> {
    if id == 0 {
        return Err(malformed(M::PacketIdZero));
    }
    Ok(())
}

/// A property that must be 0 or 1 (a boolean on the wire).
pub(crate) fn flag(value: Option<u8>, property: &'static str) -> Result<(), ProtocolError> {
    if value.is_some_and(|b| b > 1) {
        return Err(malformed(M::NotABoolean { property }));
    }
    Ok(())
}

/// Receive maximum and maximum packet size (CONNECT, CONNACK): 0 is not allowed.
pub(crate) fn nonzero_limits(
    receive_maximum: Option<u16>,
    maximum_packet_size: Option<u32>,
) -> Result<(), ProtocolError> {
    if receive_maximum == Some(0) {
        return Err(malformed(M::ZeroLimit {
            property: "receive maximum",
        }));
    }
    if maximum_packet_size == Some(0) {
        return Err(malformed(M::ZeroLimit {
            property: "maximum packet size",
        }));
    }
    Ok(())
}
