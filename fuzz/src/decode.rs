//! Fuzz harness `decode`: arbitrary bytes fed to [`Codec::decode`] in arbitrary fragments.
//!
//! Input: byte 0 picks the protocol version (bit 0) and the maximum incoming packet size
//! (bits 1-2); byte 1 seeds how the rest is cut into fragments; the rest is the byte stream.
//! Asserts:
//! - no panic, whatever the bytes;
//! - fragmentation does not matter: feeding the stream in fragments (decoding after each until
//!   `Ok(None)` or an error) gives exactly the packets and the error of decoding it whole;
//! - `Ok(None)` consumes nothing; a decoded frame is never larger than the maximum;
//! - every decoded packet encodes again (`encoded_len` = bytes written) and that encoding
//!   decodes to the same packet, consuming it exactly.

use bytes::BytesMut;
use jamey_mqtt_core::codec::Codec;
use jamey_mqtt_core::packet::{Packet, ProtocolVersion};
use jamey_mqtt_core::ProtocolError;

/// What decoding a stream produced: its packets with their frame sizes, then how it stopped.
#[derive(Debug, PartialEq)]
struct Outcome {
    packets: Vec<(Packet, usize)>,
    /// `Ok(n)`: waiting for more with `n` bytes left over; `Err`: the error that ended it.
    end: Result<usize, ProtocolError>,
}

/// Decodes everything `buf` holds; `Ok(None)` returns (buffer untouched), an error ends.
fn drain(
    codec: &Codec,
    buf: &mut BytesMut,
    into: &mut Vec<(Packet, usize)>,
    max: usize,
) -> Result<(), ProtocolError> {
    loop {
        let before = buf.len();
        match codec.decode(buf)? {
            Some(packet) => {
                let used = before - buf.len();
                assert!(used > 0, "a packet from no bytes: {packet:?}");
                assert!(used <= max, "frame of {used} bytes over the maximum {max}");
                into.push((packet, used));
            }
            None => {
                assert_eq!(buf.len(), before, "Ok(None) consumed bytes");
                return Ok(());
            }
        }
    }
}

/// A small deterministic generator for the fragment sizes.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Runs one input asserting everything.
pub fn run(data: &[u8]) {
    run_strict(data)
}

/// Runs one input asserting everything (kept as the name the regression replay uses).
pub fn run_strict(data: &[u8]) {
    let [mode, cut_seed, stream @ ..] = data else {
        return;
    };
    let version = if mode & 1 == 0 {
        ProtocolVersion::V311
    } else {
        ProtocolVersion::V5
    };
    let max = [16, 128, 4096, 1 << 20][usize::from((mode >> 1) & 3)];
    let codec = Codec::new(version, max);

    let mut whole = Outcome {
        packets: Vec::new(),
        end: Ok(0),
    };
    let mut buf = BytesMut::from(stream);
    whole.end = drain(&codec, &mut buf, &mut whole.packets, max).map(|()| buf.len());

    let mut pieces = Outcome {
        packets: Vec::new(),
        end: Ok(0),
    };
    let mut buf = BytesMut::new();
    let mut rest = stream;
    let mut state = u64::from(*cut_seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while !rest.is_empty() {
        let n = match next(&mut state) % 4 {
            0 => 1,
            1 => 2 + (next(&mut state) % 6) as usize,
            _ => 1 + (next(&mut state) % 64) as usize,
        }
        .min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        if let Err(error) = drain(&codec, &mut buf, &mut pieces.packets, max) {
            pieces.end = Err(error);
            break;
        }
        pieces.end = Ok(buf.len());
    }
    assert_eq!(whole, pieces, "fragmentation changed the outcome");

    for (packet, _) in &whole.packets {
        let mut out = BytesMut::new();
        let written = match codec.encode(packet, &mut out) {
            Ok(n) => n,
            Err(error) => panic!("decoded packet does not encode again: {error}\n{packet:?}"),
        };
        assert_eq!(written, out.len());
        assert_eq!(
            codec.encoded_len(packet),
            Ok(written),
            "encoded_len disagrees"
        );
        // Re-decoding needs room for the frame whatever `max` is.
        let big = Codec::new(version, 1 << 28);
        let again = big.decode(&mut out);
        assert_eq!(
            again,
            Ok(Some(packet.clone())),
            "re-encoding does not round-trip"
        );
        assert!(out.is_empty(), "re-encoded packet left bytes over");
    }
}
