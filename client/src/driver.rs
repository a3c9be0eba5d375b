//! The driver task: an I/O pump around the core [`jamey_mqtt_core::Client`], the adapter loop of
//! DESIGN.md. It decides nothing about MQTT:
//!
//! 1. wait for one of: the link (opened, read, written, ended, closed), a command from a handle,
//!    the timer, room in a full subscription stream;
//! 2. report it to the core (`handle_*`) or pass the command on;
//! 3. drain [`poll_output`](jamey_mqtt_core::Client::poll_output): bytes go to the link,
//!    actions open or close it, events go to the handles (`handles.rs`) or the event streams;
//! 4. arm the timer at the deadline the core gave last (a timer already armed for an earlier
//!    instant stays); on wake-up the core compares it with the clock (`handle_timeout` is
//!    forgiving).
//!
//! Whether to read is the core's call ([`wants_read`](jamey_mqtt_core::Client::wants_read));
//! the driver tells it when a full stream holds deliveries back, and when that ends.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use async_channel::{Receiver, Sender, TrySendError};
#[cfg(feature = "jwt")]
use jamey_mqtt_auth::AuthConfig;
use jamey_mqtt_core::{
    Action, ClientError, ConnectionInfo, ConnectionState, DisconnectOptions, Event, Output,
    PublishRequest, TokenError, TransportError, TransportErrorKind,
};
use jamey_mqtt_core::{SubscribeFilter, SubscribeProperties, UserProperties};
use tokio::sync::mpsc;

use crate::handles::{Handles, PerFilter, Reply, StreamItem};
use crate::inbox;
use crate::link::{Link, LinkEvent};
use crate::telemetry::{MetricsState, Telemetry};
use crate::transport::TlsPolicy;
use crate::{Authenticator, ClientStats, Error, PublishOutcome, Runtime};

/// A request from a handle.
pub(crate) enum Command {
    Publish {
        /// Not boxed: a publish costs no allocation of its own on its way to the core.
        request: PublishRequest,
        reply: Reply<PublishOutcome>,
    },
    /// One SUBSCRIBE: `streams[i]` carries the messages of `filters[i]`.
    Subscribe {
        filters: Vec<SubscribeFilter>,
        properties: SubscribeProperties,
        streams: Vec<inbox::Sender<StreamItem>>,
        reply: Reply<PerFilter<jamey_mqtt_core::QoS>>,
    },
    /// One UNSUBSCRIBE.
    Unsubscribe {
        filters: Vec<String>,
        user_properties: UserProperties,
        reply: Reply<PerFilter<()>>,
    },
    /// `options`: the final DISCONNECT's reason and properties (normal for `disconnect()`).
    /// The reply is the core's refusal, or `Ok` once the client is closed.
    Disconnect {
        options: DisconnectOptions,
        reply: Sender<Result<(), ClientError>>,
    },
    Stats {
        reply: Sender<ClientStats>,
    },
    /// MQTT 5 re-authentication; the reply is the broker's final data.
    Reauthenticate {
        data: Option<bytes::Bytes>,
        reply: Reply<Option<bytes::Bytes>>,
    },
    /// Manual acknowledgement: release the held PUBACK / PUBREC (the core decides).
    Ack {
        id: jamey_mqtt_core::AckId,
        reply: Reply<()>,
    },
    /// Metrics were just registered: a turn of the loop fills their snapshot.
    RefreshMetrics,
}

/// State shared by the handles and the driver without a round trip.
pub(crate) struct Shared {
    pub event_streams: Mutex<Vec<Sender<Event>>>,
    /// The connection in force, as its CONNACK described it (`Client::connection_info`).
    pub connection: Mutex<Option<ConnectionInfo>>,
    /// Closed (its sender dropped) when the driver task has finished: the client is closed and
    /// its transport shut down. `Client::closed` waits on it.
    pub finished: Receiver<()>,
    /// The metrics snapshot the driver keeps (once registered) and the collector renders.
    pub metrics: Arc<MetricsState>,
}

enum Wake {
    Link(LinkEvent),
    Command(Command),
    HandlesGone,
    Timer,
    /// A full stream took its item (or was dropped).
    Delivered,
}

pub(crate) struct Driver<R: Runtime> {
    rt: R,
    core: jamey_mqtt_core::Client,
    link: Link<R>,
    handles: Handles,
    /// Whether the core was last told that delivery is blocked.
    blocked_reported: bool,
    shared: Arc<Shared>,
    commands: mpsc::Receiver<Command>,
    commands_open: bool,
    /// The deadline the core gave last and the timer armed for it.
    timer: Option<(Instant, Pin<Box<R::Sleep>>)>,
    deadline: Option<Instant>,
    /// `Client::connect` waits on this for the first connection: it fails once every
    /// configured endpoint has failed an attempt (or the core will not retry).
    first_connect: Option<Reply<()>>,
    /// Configured endpoints, and attempts failed while `first_connect` waits.
    endpoints: usize,
    first_failures: usize,
    /// The last attempt's error while `first_connect` waits for the next endpoint.
    last_failure: Option<jamey_mqtt_core::ConnectError>,
    disconnect_waiters: Vec<Sender<Result<(), ClientError>>>,
    /// Answers enhanced authentication challenges (plumbing: the core decides).
    authenticator: Option<Authenticator>,
    /// Where JWTs come from (`Config::auth`), asked on `Action::FetchToken`.
    #[cfg(feature = "jwt")]
    auth: Option<AuthConfig>,
    /// The re-authentication in progress (the core allows one at a time).
    reauth_waiter: Option<Reply<Option<bytes::Bytes>>>,
    /// Spans, events and metrics (reports only).
    telemetry: Telemetry,
    /// Dropped when the task ends, which wakes every `Client::closed` future.
    _finished: Sender<()>,
}

pub(crate) struct DriverParts<R: Runtime> {
    pub rt: R,
    pub core: jamey_mqtt_core::Client,
    pub tls: Option<TlsPolicy>,
    pub shared: Arc<Shared>,
    pub commands: mpsc::Receiver<Command>,
    pub first_connect: Reply<()>,
    /// How many endpoints the broker list holds (`connect` tries each once).
    pub endpoints: usize,
    pub finished: Sender<()>,
    pub authenticator: Option<Authenticator>,
    #[cfg(feature = "jwt")]
    pub auth: Option<AuthConfig>,
    pub telemetry: Telemetry,
}

impl<R: Runtime> Driver<R> {
    pub fn new(parts: DriverParts<R>) -> Driver<R> {
        Driver {
            link: Link::new(parts.rt.clone(), parts.tls),
            rt: parts.rt,
            core: parts.core,
            handles: Handles::default(),
            blocked_reported: false,
            shared: parts.shared,
            commands: parts.commands,
            commands_open: true,
            timer: None,
            deadline: None,
            first_connect: Some(parts.first_connect),
            endpoints: parts.endpoints,
            first_failures: 0,
            last_failure: None,
            disconnect_waiters: Vec::new(),
            authenticator: parts.authenticator,
            #[cfg(feature = "jwt")]
            auth: parts.auth,
            reauth_waiter: None,
            telemetry: parts.telemetry,
            _finished: parts.finished,
        }
    }

    /// The task body. Returns when the core is closed and the transport is gone.
    pub async fn run(mut self) {
        self.core.connect(self.rt.now());
        loop {
            self.drain_core();
            if self.deliver() {
                // The core heard about a blocked or resumed delivery: its deadline may move.
                self.drain_core();
            }
            self.telemetry.update(&self.core);
            // What this turn put into subscription streams reaches their readers now.
            self.handles.flush();
            if self.core.state() == ConnectionState::Closed && !self.link.is_active() {
                break;
            }
            let wake = poll_fn(|cx| self.poll_wake(cx)).await;
            let now = self.rt.now();
            match wake {
                Wake::Link(event) => self.link_event(now, event),
                Wake::Command(command) => {
                    self.command(now, command);
                    // Take every command already waiting, so their packets share one write.
                    while let Ok(command) = self.commands.try_recv() {
                        self.command(now, command);
                    }
                }
                Wake::HandlesGone => self.core.disconnect(now),
                Wake::Timer => self.core.handle_timeout(now),
                Wake::Delivered => {}
            }
        }
        self.shutdown();
    }

    fn link_event(&mut self, now: Instant, event: LinkEvent) {
        let core = &mut self.core;
        match event {
            LinkEvent::Opened(Ok(())) => core.handle_connected(now),
            LinkEvent::Opened(Err(e)) => core.handle_disconnected(
                now,
                TransportError::new(TransportErrorKind::ConnectFailed, e),
            ),
            LinkEvent::Read(n) => core.handle_bytes(now, self.link.read_bytes(n)),
            LinkEvent::Written(n) => core.handle_written(now, n),
            LinkEvent::Ended(None) => core.handle_disconnected(now, TransportError::closed()),
            LinkEvent::Ended(Some(e)) => {
                core.handle_disconnected(now, TransportError::new(TransportErrorKind::Io, e))
            }
            LinkEvent::Closed(Ok(())) => core.handle_closed(now),
            LinkEvent::Closed(Err(e)) => {
                core.handle_disconnected(now, TransportError::new(TransportErrorKind::Io, e))
            }
        }
    }

    /// Step 3 of the loop: every output of the core, until it gives its next deadline.
    /// One clock reading serves the whole drain: the outputs are due at the same instant.
    fn drain_core(&mut self) {
        let now = self.rt.now();
        loop {
            match self.core.poll_output(now, &mut self.link.out) {
                Output::Transmit(_) => self.link.drop_orphan_bytes(),
                Output::Action(Action::Connect(endpoint)) => {
                    self.telemetry.connect_started(&endpoint);
                    self.link.open(&endpoint);
                }
                Output::Action(Action::FetchToken) => {
                    // The token source runs here, on the driver task, never inside the core.
                    #[cfg(feature = "jwt")]
                    let token = match &self.auth {
                        Some(auth) => auth
                            .auth_token(std::time::SystemTime::now())
                            .map_err(TokenError::new),
                        None => Err(TokenError::new("no token source is configured")),
                    };
                    #[cfg(not(feature = "jwt"))]
                    let token = Err(TokenError::new(
                        "no token source: the `jwt` feature of jamey-mqtt is off",
                    ));
                    self.core.handle_token(self.rt.now(), token);
                }
                Output::Action(Action::Close) => {
                    if !self.link.close() {
                        // Nothing open: the close is already complete.
                        self.core.handle_closed(now);
                    }
                }
                Output::Event(Event::Message {
                    message,
                    subscriptions,
                }) => {
                    self.telemetry.message(&message);
                    self.handles.message(message, subscriptions);
                }
                Output::Event(event) => {
                    self.telemetry.event(|| now, &event);
                    if let Some(event) = self.handles.event(event) {
                        self.connection_event(event);
                    }
                }
                Output::Timeout(deadline) => {
                    self.deadline = deadline;
                    return;
                }
            }
        }
    }

    /// Moves messages into their streams; tells the core when a full stream blocks delivery
    /// and when that ends. Returns whether it told the core anything.
    fn deliver(&mut self) -> bool {
        let dropped = self.handles.deliver();
        let unacked = self.handles.take_unacked();
        let told = !dropped.is_empty() || !unacked.is_empty();
        for id in dropped {
            self.core.drop_subscription(id);
        }
        // Messages no stream took: the application can never ack them (`manual_ack`).
        for id in unacked {
            let _ = self.core.ack(self.rt.now(), id);
        }
        let blocked = self.handles.is_blocked();
        if blocked == self.blocked_reported {
            return told;
        }
        self.blocked_reported = blocked;
        let now = self.rt.now();
        if blocked {
            self.core.handle_delivery_blocked(now);
        } else {
            self.core.handle_delivery_resumed(now);
        }
        true
    }

    fn connection_event(&mut self, event: Event) {
        let in_force = match &event {
            Event::Connected { info, .. } => Some(Some((**info).clone())),
            Event::ConnectionLost(_) | Event::GaveUp | Event::Disconnected => Some(None),
            _ => None,
        };
        if let Some(in_force) = in_force {
            *self
                .shared
                .connection
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = in_force;
        }
        match &event {
            Event::AuthChallenge(challenge) => {
                let now = self.rt.now();
                let answer = match &self.authenticator {
                    Some(authenticator) => (authenticator.0)(challenge),
                    None => Err("no authenticator configured".into()),
                };
                match answer {
                    // Refused only if the answer cannot be sent (too large): giving up is
                    // then the only way on.
                    Ok(data) => {
                        if self.core.auth_respond(now, data).is_err() {
                            self.core.auth_abort(now);
                        }
                    }
                    Err(_) => self.core.auth_abort(now),
                }
            }
            Event::Reauthenticated { data } => {
                if let Some(reply) = self.reauth_waiter.take() {
                    let _ = reply.send(Ok(data.clone()));
                }
            }
            Event::ReauthenticationFailed(error) => {
                if let Some(reply) = self.reauth_waiter.take() {
                    let _ = reply.send(Err(Error::Reauthentication(error.clone())));
                }
            }
            Event::Connected { .. } => {
                if let Some(reply) = self.first_connect.take() {
                    let _ = reply.send(Ok(()));
                }
            }
            Event::ConnectFailed(error) => {
                self.first_failures += 1;
                // The core has moved on already: `Waiting` means it will try again (the next
                // endpoint).
                let retrying = self.core.state() == ConnectionState::Waiting;
                if self.first_failures >= self.endpoints || !retrying {
                    if let Some(reply) = self.first_connect.take() {
                        let _ = reply.send(Err(Error::from_connect(error.clone())));
                    }
                } else {
                    self.last_failure = Some(error.clone());
                }
            }
            // The breaker opened before every endpoint was tried: no attempt for a long time.
            Event::CircuitOpen { .. } => {
                if let (Some(reply), Some(error)) =
                    (self.first_connect.take(), self.last_failure.take())
                {
                    let _ = reply.send(Err(Error::from_connect(error)));
                }
            }
            Event::GaveUp | Event::Disconnected => {
                if let Some(reply) = self.first_connect.take() {
                    let _ = reply.send(Err(Error::Closed));
                }
                for waiter in self.disconnect_waiters.drain(..) {
                    let _ = waiter.try_send(Ok(()));
                }
            }
            _ => {}
        }
        let mut streams = self
            .shared
            .event_streams
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        streams.retain(|tx| !matches!(tx.try_send(event.clone()), Err(TrySendError::Closed(_))));
    }

    fn command(&mut self, now: Instant, command: Command) {
        match command {
            Command::Publish { request, reply } => {
                let span = self
                    .telemetry
                    .publish_span(&request.topic, request.qos as u8);
                match self.core.publish(now, request) {
                    Ok(token) => {
                        self.telemetry.publish_started(now, token, span);
                        self.handles.publish(token, reply);
                    }
                    Err(e) => {
                        self.telemetry.refused("publish", &e);
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Command::Subscribe {
                filters,
                properties,
                streams,
                reply,
            } => {
                let names = filters.iter().map(|f| f.filter.clone()).collect();
                let span = self.telemetry.subscribe_span(&filters);
                match self
                    .core
                    .subscribe_with_properties(now, filters, properties)
                {
                    Ok(token) => {
                        self.telemetry.subscribe_started(token, span);
                        self.handles.subscribe(token, names, streams, reply);
                    }
                    Err(e) => {
                        self.telemetry.refused("subscribe", &e);
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Command::Unsubscribe {
                filters,
                user_properties,
                reply,
            } => {
                match self
                    .core
                    .unsubscribe_with_properties(now, filters.clone(), user_properties)
                {
                    Ok(token) => self.handles.unsubscribe(token, filters, reply),
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Command::Disconnect { options, reply } => {
                if self.core.state() == ConnectionState::Closed {
                    let _ = reply.try_send(Ok(()));
                } else {
                    match self.core.disconnect_with(now, options) {
                        Ok(()) => self.disconnect_waiters.push(reply),
                        Err(e) => {
                            let _ = reply.try_send(Err(e));
                        }
                    }
                }
            }
            Command::Reauthenticate { data, reply } => match self.core.reauthenticate(now, data) {
                Ok(()) => self.reauth_waiter = Some(reply),
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                }
            },
            Command::Ack { id, reply } => {
                let _ = reply.send(self.core.ack(now, id).map_err(Into::into));
            }
            Command::RefreshMetrics => {}
            Command::Stats { reply } => {
                let _ = reply.try_send(ClientStats {
                    core: *self.core.stats(),
                    health: self.core.health(),
                    endpoints: self.core.endpoint_stats().to_vec(),
                });
            }
        }
    }

    fn poll_wake(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        if let Some(event) = self.link.poll(cx, self.core.wants_read()) {
            return Poll::Ready(Wake::Link(event));
        }
        if let Some(dropped) = self.handles.poll_blocked(cx) {
            if let Some(id) = dropped {
                self.core.drop_subscription(id);
            }
            return Poll::Ready(Wake::Delivered);
        }
        if self.commands_open {
            match self.commands.poll_recv(cx) {
                Poll::Ready(Some(command)) => return Poll::Ready(Wake::Command(command)),
                Poll::Ready(None) => {
                    self.commands_open = false;
                    return Poll::Ready(Wake::HandlesGone);
                }
                Poll::Pending => {}
            }
        }
        self.poll_timer(cx)
    }

    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        let Some(deadline) = self.deadline else {
            self.timer = None;
            return Poll::Pending;
        };
        // A timer armed for an earlier instant is kept: it wakes the loop early, the core finds
        // nothing due (`handle_timeout` is forgiving) and the next turn arms the new deadline.
        // The keep-alive deadline moves with every write, so re-arming on each change would
        // make a timer (an allocation, and a reactor registration on smol) per batch.
        let sleep = match &mut self.timer {
            Some((armed, sleep)) if *armed <= deadline => sleep,
            slot => {
                &mut slot
                    .insert((deadline, Box::pin(self.rt.sleep_until(deadline))))
                    .1
            }
        };
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.timer = None;
        self.deadline = None;
        Poll::Ready(Wake::Timer)
    }

    /// The client is closed: whatever still waits learns it (its reply channel closes).
    fn shutdown(&mut self) {
        self.handles.clear();
        self.commands.close();
        self.shared
            .event_streams
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
        for waiter in self.disconnect_waiters.drain(..) {
            let _ = waiter.try_send(Ok(()));
        }
    }
}
