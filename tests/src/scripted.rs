//! A scripted MQTT 5 broker on a loopback socket, for what Mosquitto 2.0.11 cannot be made to
//! do (announce response information, refuse one filter of an UNSUBSCRIBE, never answer a
//! SUBSCRIBE): a thread accepts one connection and runs a script that receives and sends
//! packets with the core's codec. The script's result (its first mismatch, or what it saw)
//! is returned by [`ScriptedBroker::finish`]; every read is bounded by [`WAIT`].

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::thread::JoinHandle;

use bytes::BytesMut;
use jamey_mqtt::ProtocolVersion;
use jamey_mqtt_core::codec::Codec;
use jamey_mqtt_core::packet::{ConnAck, ConnAckProperties, Connect, Packet, ReasonCode};

use crate::scenarios::WAIT;

/// The broker thread and the port it listens on; `T` is what the script reports.
pub struct ScriptedBroker<T = ()> {
    port: u16,
    thread: JoinHandle<Result<T, String>>,
}

impl<T: Send + 'static> ScriptedBroker<T> {
    /// Listens on a free port of 127.0.0.1 and runs `script` on the first connection.
    pub fn start(
        script: impl FnOnce(&mut ScriptLink) -> Result<T, String> + Send + 'static,
    ) -> ScriptedBroker<T> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let thread = std::thread::spawn(move || {
            let (stream, _) = listener.accept().map_err(|e| e.to_string())?;
            stream
                .set_read_timeout(Some(WAIT))
                .map_err(|e| e.to_string())?;
            let mut link = ScriptLink {
                stream,
                codec: Codec::new(ProtocolVersion::V5, 1 << 20),
                buffer: BytesMut::new(),
            };
            script(&mut link)
        });
        ScriptedBroker { port, thread }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits for the script to end and returns what it reports; panics with its first
    /// mismatch.
    pub fn finish(self) -> T {
        match self.thread.join() {
            Ok(Ok(report)) => report,
            Ok(Err(mismatch)) => panic!("scripted broker: {mismatch}"),
            Err(_) => panic!("scripted broker panicked"),
        }
    }
}

/// The broker's end of the connection.
pub struct ScriptLink {
    stream: TcpStream,
    codec: Codec,
    buffer: BytesMut,
}

impl ScriptLink {
    /// The next packet from the client (PINGREQ is answered and skipped).
    pub fn receive(&mut self) -> Result<Packet, String> {
        loop {
            if let Some(packet) = self
                .codec
                .decode(&mut self.buffer)
                .map_err(|e| e.to_string())?
            {
                if packet == Packet::PingReq {
                    self.send(&Packet::PingResp)?;
                    continue;
                }
                return Ok(packet);
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("client closed the connection".into());
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }

    pub fn send(&mut self, packet: &Packet) -> Result<(), String> {
        let mut out = BytesMut::new();
        self.codec
            .encode(packet, &mut out)
            .map_err(|e| e.to_string())?;
        self.stream.write_all(&out).map_err(|e| e.to_string())
    }

    /// Receives CONNECT and accepts it with a CONNACK carrying `properties`.
    pub fn accept(&mut self, properties: ConnAckProperties) -> Result<Connect, String> {
        let connect = match self.receive()? {
            Packet::Connect(connect) => connect,
            other => return Err(format!("expected CONNECT, got {other:?}")),
        };
        self.send(&Packet::ConnAck(Box::new(ConnAck {
            session_present: false,
            code: ReasonCode::SUCCESS,
            properties,
        })))?;
        Ok(*connect)
    }
}
