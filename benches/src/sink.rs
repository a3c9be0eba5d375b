//! A minimal MQTT broker that is never the bottleneck, for measuring what a client itself costs
//! (the `throughput` bench): it accepts connections, answers CONNECT, acks every QoS 1/2
//! PUBLISH (PUBACK, PUBREC then PUBCOMP), counts, and, when a client subscribes, sends it a
//! fixed number of messages of its own at the granted QoS (the "source"). Nothing else: no
//! routing, no sessions, no retained messages, no checks beyond what framing needs.
//!
//! It runs on plain threads with blocking sockets (one reader per connection, plus one writer
//! while it sources messages), so it shares no runtime with the client under measurement; the
//! bench runs it in a process of its own so that its CPU is not billed to the client.
//!
//! Bounds: a read buffer of at most one packet plus 64 KiB per connection, packets up to 1 MiB
//! (larger ones close the connection), and the source keeps at most [`SOURCE_WINDOW`] QoS 1/2
//! messages unacknowledged, and no more than an MQTT 5 client's receive maximum (from its
//! CONNECT; a sink that ignored it made the client end the connection with "receive maximum
//! exceeded" in some runs).

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

/// The topic the source publishes to (whatever filter the client subscribed).
pub const SOURCE_TOPIC: &str = "bench/sink";
/// Unacknowledged QoS 1/2 messages the source keeps in flight: enough that the client, not the
/// source's wait for acks, is the bottleneck. With 100 a client that caught up waited for the
/// sink's next batch on every round trip, so receive QoS 1 measured wake-up costs in some
/// rounds and not in others (0.3 against 0.6-0.8 µs per message on smol).
pub const SOURCE_WINDOW: usize = 1000;
/// Messages the source encodes per write.
const SOURCE_BATCH: usize = 64;
const MAX_PACKET: usize = 1 << 20;

/// What the sink sends a subscriber.
#[derive(Debug, Clone, Copy)]
pub struct SourceOptions {
    /// Messages per subscription.
    pub messages: usize,
    /// Payload bytes per message.
    pub payload: usize,
}

/// Counters over every connection.
#[derive(Debug, Default)]
pub struct Counters {
    /// PUBLISH packets received.
    pub published: AtomicU64,
}

/// Accepts connections on `listener` forever, one thread per connection.
pub fn serve(listener: TcpListener, source: SourceOptions, counters: Arc<Counters>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let counters = counters.clone();
        std::thread::spawn(move || {
            let _ = connection(stream, source, &counters);
        });
    }
}

/// The writing half of a connection, shared by its reader (acks) and its source (messages):
/// each takes the lock for whole packets, so packets never interleave.
type Writer = Arc<Mutex<TcpStream>>;

fn connection(stream: TcpStream, source: SourceOptions, counters: &Counters) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let writer: Writer = Arc::new(Mutex::new(stream.try_clone()?));
    let mut reader = stream;
    let mut buf: Vec<u8> = vec![0; 64 * 1024];
    let mut filled = 0;
    let mut acks: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut v5 = false;
    // MQTT 5: the most QoS 1/2 messages the client accepts unacknowledged (its CONNECT says).
    let mut receive_maximum = usize::from(u16::MAX);
    // Credits back to the source: one per completed QoS 1/2 message it sent.
    let mut credits: Option<mpsc::Sender<()>> = None;
    loop {
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = reader.read(&mut buf[filled..])?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        let mut at = 0;
        while let Some((header, body_at, end)) = frame(&buf[at..filled])? {
            let body = &buf[at + body_at..at + end];
            let kind = header >> 4;
            match kind {
                1 => {
                    // CONNECT: protocol name (2 + 4 bytes), then the level.
                    v5 = body.get(6) == Some(&5);
                    if v5 {
                        receive_maximum = connect_receive_maximum(body)?;
                    }
                    if v5 {
                        acks.extend_from_slice(&[0x20, 3, 0, 0, 0]);
                    } else {
                        acks.extend_from_slice(&[0x20, 2, 0, 0]);
                    }
                }
                3 => {
                    counters.published.fetch_add(1, Ordering::Relaxed);
                    let qos = (header >> 1) & 3;
                    if qos > 0 {
                        let topic_len = u16_at(body, 0)? as usize;
                        let pkid = body
                            .get(2 + topic_len..4 + topic_len)
                            .ok_or_else(|| bad("short PUBLISH"))?;
                        let kind = if qos == 1 { 0x40 } else { 0x50 };
                        acks.extend_from_slice(&[kind, 2, pkid[0], pkid[1]]);
                    }
                }
                // PUBACK / PUBCOMP of a sourced message: room for one more.
                4 | 7 => {
                    if let Some(credits) = &credits {
                        let _ = credits.send(());
                    }
                }
                // PUBREC of a sourced QoS 2 message: PUBREL.
                5 => acks.extend_from_slice(&[0x62, 2, body[0], body[1]]),
                // PUBREL: PUBCOMP.
                6 => acks.extend_from_slice(&[0x70, 2, body[0], body[1]]),
                8 => {
                    // SUBSCRIBE: grant what was asked, then start the source at that QoS.
                    let props = if v5 {
                        1 + property_length(&body[2..])?
                    } else {
                        0
                    };
                    let mut granted = Vec::new();
                    let mut i = 2 + props;
                    while i + 2 <= body.len() {
                        i += 2 + u16_at(body, i)? as usize;
                        let options = *body.get(i).ok_or_else(|| bad("short SUBSCRIBE"))?;
                        granted.push(options & 3);
                        i += 1;
                    }
                    let len = 2 + usize::from(v5) + granted.len();
                    acks.extend_from_slice(&[0x90, len as u8, body[0], body[1]]);
                    if v5 {
                        acks.push(0);
                    }
                    acks.extend_from_slice(&granted);
                    let qos = granted.first().copied().unwrap_or(0);
                    let (tx, rx) = mpsc::channel();
                    credits = Some(tx);
                    // The SUBACK goes out before the first message.
                    writer.lock().expect("writer").write_all(&acks)?;
                    acks.clear();
                    let writer = writer.clone();
                    let window = SOURCE_WINDOW.min(receive_maximum);
                    std::thread::spawn(move || {
                        let _ = run_source(&writer, source, qos, v5, window, &rx);
                    });
                }
                // UNSUBSCRIBE: UNSUBACK (one success per filter on MQTT 5).
                10 => {
                    if v5 {
                        let props = 1 + property_length(&body[2..])?;
                        let mut count = 0;
                        let mut i = 2 + props;
                        while i + 2 <= body.len() {
                            i += 2 + u16_at(body, i)? as usize;
                            count += 1;
                        }
                        acks.extend_from_slice(&[0xB0, 3 + count as u8, body[0], body[1], 0]);
                        acks.extend(std::iter::repeat_n(0, count));
                    } else {
                        acks.extend_from_slice(&[0xB0, 2, body[0], body[1]]);
                    }
                }
                12 => acks.extend_from_slice(&[0xD0, 0]),
                14 => return Ok(()),
                _ => {}
            }
            at += end;
        }
        buf.copy_within(at..filled, 0);
        filled -= at;
        if !acks.is_empty() {
            writer.lock().expect("writer").write_all(&acks)?;
            acks.clear();
        }
    }
}

/// Sends `source.messages` PUBLISHes at `qos`, at most `window` unacknowledged (at most
/// [`SOURCE_WINDOW`], and within the receive maximum of an MQTT 5 client).
fn run_source(
    writer: &Writer,
    source: SourceOptions,
    qos: u8,
    v5: bool,
    window: usize,
    credits: &mpsc::Receiver<()>,
) -> io::Result<()> {
    let payload = vec![b'x'; source.payload];
    let mut out = Vec::with_capacity(SOURCE_BATCH * (source.payload + 64));
    let mut in_flight = 0;
    let mut pkid: u16 = 0;
    let mut sent = 0;
    while sent < source.messages {
        if qos > 0 {
            while let Ok(()) = credits.try_recv() {
                in_flight -= 1;
            }
            if in_flight == window {
                credits.recv().map_err(|_| bad("connection gone"))?;
                in_flight -= 1;
            }
        }
        let room = if qos > 0 {
            window - in_flight
        } else {
            SOURCE_BATCH
        };
        let batch = room.min(SOURCE_BATCH).min(source.messages - sent);
        for _ in 0..batch {
            pkid = pkid % u16::MAX + 1;
            encode_publish(&mut out, qos, pkid, v5, &payload);
        }
        writer.lock().expect("writer").write_all(&out)?;
        out.clear();
        sent += batch;
        if qos > 0 {
            in_flight += batch;
        }
    }
    Ok(())
}

fn encode_publish(out: &mut Vec<u8>, qos: u8, pkid: u16, v5: bool, payload: &[u8]) {
    let remaining =
        2 + SOURCE_TOPIC.len() + if qos > 0 { 2 } else { 0 } + usize::from(v5) + payload.len();
    out.push(0x30 | (qos << 1));
    let mut len = remaining;
    loop {
        let byte = (len % 128) as u8;
        len /= 128;
        if len == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(&(SOURCE_TOPIC.len() as u16).to_be_bytes());
    out.extend_from_slice(SOURCE_TOPIC.as_bytes());
    if qos > 0 {
        out.extend_from_slice(&pkid.to_be_bytes());
    }
    if v5 {
        out.push(0);
    }
    out.extend_from_slice(payload);
}

/// The first complete packet of `buf`: (first byte, where its body starts, where it ends).
fn frame(buf: &[u8]) -> io::Result<Option<(u8, usize, usize)>> {
    let Some(&header) = buf.first() else {
        return Ok(None);
    };
    let mut remaining = 0usize;
    for i in 0..4 {
        let Some(&byte) = buf.get(1 + i) else {
            return Ok(None);
        };
        remaining |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            if remaining > MAX_PACKET {
                return Err(bad("packet too large"));
            }
            let body_at = 2 + i;
            let end = body_at + remaining;
            return Ok((buf.len() >= end).then_some((header, body_at, end)));
        }
    }
    Err(bad("malformed remaining length"))
}

/// The length of an MQTT 5 property block (its variable-byte length), plus that length's bytes
/// minus one (the caller adds one).
fn property_length(buf: &[u8]) -> io::Result<usize> {
    let mut value = 0usize;
    for i in 0..4 {
        let byte = *buf.get(i).ok_or_else(|| bad("short properties"))?;
        value |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value + i);
        }
    }
    Err(bad("malformed property length"))
}

/// The Receive Maximum property of an MQTT 5 CONNECT body (65,535 when absent).
fn connect_receive_maximum(body: &[u8]) -> io::Result<usize> {
    // Protocol name (6), level (1), flags (1), keep alive (2), then the properties.
    let mut i = 10;
    let mut length = 0usize;
    for shift in 0..4 {
        let byte = *body.get(i).ok_or_else(|| bad("short CONNECT"))?;
        i += 1;
        length |= usize::from(byte & 0x7f) << (7 * shift);
        if byte & 0x80 == 0 {
            break;
        }
    }
    let end = i + length;
    let properties = body
        .get(i..end)
        .ok_or_else(|| bad("short CONNECT properties"))?;
    let mut p = 0;
    while p < properties.len() {
        let id = properties[p];
        p += 1;
        let string = |at: usize| u16_at(properties, at).map(|n| 2 + usize::from(n));
        p += match id {
            0x21 => return u16_at(properties, p).map(usize::from),
            0x11 | 0x27 => 4,
            0x22 => 2,
            0x17 | 0x19 => 1,
            0x15 | 0x16 => string(p)?,
            0x26 => {
                let key = string(p)?;
                key + string(p + key)?
            }
            _ => return Err(bad("unknown CONNECT property")),
        };
    }
    Ok(usize::from(u16::MAX))
}

fn u16_at(buf: &[u8], at: usize) -> io::Result<u16> {
    buf.get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or_else(|| bad("short packet"))
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}
