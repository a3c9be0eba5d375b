//! Test support: a client joined to a scripted broker by a simulated link and clock.
//!
//! Modelled on quinn's `tests/util.rs` `Pair`: the test plays the broker packet by packet
//! (`send`, `take_sent`), and time only moves when the test says so (`advance`), which fires the
//! client's timers at exactly the instants it asked for.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use bytes::BytesMut;
use jamey_mqtt_core::codec::Codec;
use jamey_mqtt_core::packet::{Ack, ConnAck, ConnAckProperties, Packet, ReasonCode};
use jamey_mqtt_core::{
    Action, AuthToken, Client, ClientConfig, Event, Output, SubscriptionId, TokenError,
    TransportError, TransportErrorKind,
};

/// Answers `Action::FetchToken` (the token source of a test).
pub type TokenSource = Box<dyn FnMut(Instant) -> Result<AuthToken, TokenError>>;

pub struct Pair {
    pub client: Client,
    /// The broker side of the codec (decodes what the client sends, encodes what we send).
    pub codec: Codec,
    pub now: Instant,
    pub start: Instant,
    /// Whether the simulated transport is open.
    pub link_up: bool,
    /// Whether the next `Action::Connect` opens the link (false: it fails to open).
    pub accept_connections: bool,
    /// Endpoints whose `Action::Connect` fails to open (brokers that are down).
    pub down: Vec<jamey_mqtt_core::Endpoint>,
    /// Bytes the client wrote that the broker has not decoded yet.
    wire: BytesMut,
    sent: Vec<Packet>,
    events: Vec<Event>,
    pub actions: Vec<Action>,
    /// Raw byte chunks the client wrote, one per `poll_output`.
    pub writes: Vec<usize>,
    /// The socket takes bytes only when the test says so (`socket_takes`), and the final close
    /// completes only on `close_completes`. Default: everything at once.
    pub manual_socket: bool,
    /// Answers `Action::FetchToken` at once; `None` leaves it to the test (`handle_token`).
    pub token_source: Option<TokenSource>,
}

impl Pair {
    pub fn new(config: ClientConfig) -> Pair {
        let now = Instant::now();
        let codec = Codec::new(config.protocol, 1 << 20);
        Pair {
            client: Client::new(config, now).expect("valid config"),
            codec,
            now,
            start: now,
            link_up: false,
            accept_connections: true,
            down: Vec::new(),
            wire: BytesMut::new(),
            sent: Vec::new(),
            events: Vec::new(),
            actions: Vec::new(),
            writes: Vec::new(),
            manual_socket: false,
            token_source: None,
        }
    }

    /// Starts the client and answers its CONNECT with a successful CONNACK.
    pub fn connected(config: ClientConfig) -> Pair {
        let mut pair = Pair::new(config);
        pair.client.connect(pair.now);
        pair.drive();
        pair.expect_connect();
        pair.connack(false);
        pair.take_events();
        pair
    }

    /// Runs every output of the client until it is quiet.
    pub fn drive(&mut self) {
        let mut out = BytesMut::new();
        loop {
            match self.client.poll_output(self.now, &mut out) {
                Output::Transmit(n) => {
                    self.writes.push(n);
                    // The link takes every byte at once (unless the test plays the socket).
                    if !self.manual_socket {
                        self.client.handle_written(self.now, n);
                    }
                    let bytes = out.split();
                    if self.link_up {
                        self.wire.extend_from_slice(&bytes);
                        while let Some(packet) = self
                            .codec
                            .decode(&mut self.wire)
                            .expect("client sent valid bytes")
                        {
                            self.sent.push(packet);
                        }
                    }
                }
                Output::Action(action) => {
                    self.actions.push(action.clone());
                    match action {
                        Action::Connect(endpoint) => {
                            self.wire.clear();
                            if self.accept_connections && !self.down.contains(&endpoint) {
                                self.link_up = true;
                                self.client.handle_connected(self.now);
                            } else {
                                self.client.handle_disconnected(
                                    self.now,
                                    TransportError::new(
                                        TransportErrorKind::ConnectFailed,
                                        "refused",
                                    ),
                                );
                            }
                        }
                        Action::FetchToken => {
                            if let Some(source) = &mut self.token_source {
                                let token = source(self.now);
                                self.client.handle_token(self.now, token);
                            }
                        }
                        Action::Close => {
                            self.link_up = false;
                            // Everything was written above; the close completes at once.
                            if !self.manual_socket {
                                self.client.handle_closed(self.now);
                            }
                        }
                    }
                }
                Output::Event(event) => self.events.push(event),
                Output::Timeout(_) => return,
            }
        }
    }

    /// With `manual_socket`: the socket takes `n` more bytes.
    pub fn socket_takes(&mut self, n: usize) {
        self.client.handle_written(self.now, n);
        self.drive();
    }

    /// With `manual_socket`: the adapter finished the final close.
    pub fn close_completes(&mut self) {
        self.client.handle_closed(self.now);
        self.drive();
    }

    /// The broker sends `packet` (whole).
    pub fn send(&mut self, packet: Packet) {
        let bytes = self.encode(&packet);
        self.send_bytes(&bytes);
    }

    pub fn encode(&self, packet: &Packet) -> BytesMut {
        let mut bytes = BytesMut::new();
        self.codec
            .encode(packet, &mut bytes)
            .expect("test packet encodes");
        bytes
    }

    /// The broker sends raw bytes.
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        assert!(self.link_up, "broker sends on a closed link");
        self.client.handle_bytes(self.now, bytes);
        self.drive();
    }

    pub fn connack(&mut self, session_present: bool) {
        self.connack_with(session_present, ReasonCode::SUCCESS);
    }

    pub fn connack_with(&mut self, session_present: bool, code: ReasonCode) {
        self.send(Packet::ConnAck(Box::new(ConnAck {
            session_present,
            code,
            properties: ConnAckProperties::default(),
        })));
    }

    /// The transport breaks (as an adapter reports an EOF).
    pub fn cut(&mut self) {
        self.link_up = false;
        self.client
            .handle_disconnected(self.now, TransportError::closed());
        self.drive();
    }

    /// Moves the clock forward by `by`, firing each client deadline at its exact instant.
    ///
    /// Panics when a deadline that has passed is reported again and again: an adapter driven
    /// by such a client would spin.
    pub fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        let mut repeats = 0;
        while let Some(deadline) = self.client.poll_timeout() {
            if deadline > target {
                break;
            }
            repeats = if deadline <= self.now { repeats + 1 } else { 0 };
            assert!(
                repeats < 1000,
                "the passed deadline {deadline:?} is reported again and again (now {:?})",
                self.now
            );
            self.now = self.now.max(deadline);
            self.client.handle_timeout(self.now);
            self.drive();
        }
        self.now = target;
        self.client.handle_timeout(self.now);
        self.drive();
    }

    /// Time since the pair was created.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    pub fn take_sent(&mut self) -> Vec<Packet> {
        std::mem::take(&mut self.sent)
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    pub fn expect_connect(&mut self) -> jamey_mqtt_core::packet::Connect {
        let sent = self.take_sent();
        match sent.as_slice() {
            [Packet::Connect(connect)] => *connect.clone(),
            other => panic!("expected one CONNECT, got {other:?}"),
        }
    }

    /// Jumps to the client's next deadline and fires it. Returns false if it has none.
    pub fn advance_to_deadline(&mut self) -> bool {
        let Some(deadline) = self.client.poll_timeout() else {
            return false;
        };
        self.now = self.now.max(deadline);
        self.client.handle_timeout(self.now);
        self.drive();
        true
    }

    /// Reconnects after a loss: waits out the backoff until the client sends CONNECT, then
    /// answers it with CONNACK.
    pub fn reconnect(&mut self, session_present: bool) -> jamey_mqtt_core::packet::Connect {
        let connect = self.reconnect_transport();
        self.connack(session_present);
        connect
    }

    /// Waits out the backoff until the client has sent CONNECT on a new transport (takes it).
    pub fn reconnect_transport(&mut self) -> jamey_mqtt_core::packet::Connect {
        for _ in 0..100 {
            if self.sent.iter().any(|p| matches!(p, Packet::Connect(_))) {
                break;
            }
            assert!(
                self.advance_to_deadline(),
                "client has no deadline to reconnect at"
            );
        }
        self.expect_connect()
    }

    /// Takes what the client sent, which must be exactly one SUBSCRIBE.
    pub fn expect_subscribe(&mut self) -> jamey_mqtt_core::packet::Subscribe {
        match self.take_sent().as_slice() {
            [Packet::Subscribe(subscribe)] => subscribe.clone(),
            other => panic!("expected one SUBSCRIBE, got {other:?}"),
        }
    }

    /// Subscribes to `#` at QoS 2 and the broker grants it: every incoming message then comes
    /// out as an `Event::Message` for that subscription (returned). Sent packets and events
    /// are taken.
    pub fn subscribe_everything(&mut self) -> SubscriptionId {
        let token = self
            .client
            .subscribe(
                self.now,
                vec![jamey_mqtt_core::packet::SubscribeFilter::new(
                    "#",
                    jamey_mqtt_core::QoS::ExactlyOnce,
                )],
            )
            .expect("subscribe admitted");
        self.drive();
        let pkid = self.expect_subscribe().pkid;
        self.suback(pkid, vec![ReasonCode::GRANTED_QOS_2]);
        self.take_events();
        SubscriptionId::new(token, 0)
    }

    /// The broker answers a SUBSCRIBE.
    pub fn suback(&mut self, pkid: u16, reasons: Vec<ReasonCode>) {
        self.send(Packet::SubAck(jamey_mqtt_core::packet::SubAck {
            pkid,
            reasons,
            properties: Default::default(),
        }));
    }

    pub fn puback(&mut self, pkid: u16) {
        self.send(Packet::PubAck(Ack::success(pkid)));
    }
}
