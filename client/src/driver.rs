//! The driver task: owns the core [`jamey_mqtt_core::Client`] and the transport, and runs the
//! adapter loop of DESIGN.md. It decides nothing about MQTT:
//!
//! 1. wait for one of: transport opened, bytes read, write progress, a command, the timer, room
//!    in a full subscription buffer;
//! 2. feed it to the core (`handle_*` or a command);
//! 3. drain `poll_transmit` into the write buffer, act on `poll_action` (open / close the
//!    transport), route `poll_event` to the handles (acks to their futures, messages to the
//!    matching subscriptions, connection events to the event streams);
//! 4. re-arm the timer from `poll_timeout`; on wake-up compare the clock with the deadline.
//!
//! Back-pressure: each subscription has a bounded buffer. A message is offered to every matching
//! subscription; if one is full the driver keeps the message, waits for room, and stops reading
//! the socket meanwhile (TCP pushes back to the broker). Commands, writes and timers still run.
//! Nothing is dropped and memory is bounded by the buffers plus one read's worth of messages.

use std::collections::{HashMap, VecDeque};
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use async_channel::{Receiver, Sender, TrySendError};
use bytes::{Buf, BytesMut};
use futures_core::Stream;
use futures_io::{AsyncRead, AsyncWrite};
use jamey_mqtt_core::packet::SubscribeFilter;
use jamey_mqtt_core::topic::{TopicFilter, TopicName};
use jamey_mqtt_core::{
    Action, ConnectionState, Event, Message, PublishRequest, QoS, Token, TransportError,
};

use crate::transport::{Endpoint, Transport};
use crate::{ClientStats, Error, PublishOutcome, Runtime};

const READ_BUFFER: usize = 16 * 1024;

type Reply<T> = futures_channel::oneshot::Sender<Result<T, Error>>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A request from a handle.
pub(crate) enum Command {
    Publish {
        /// Boxed: the command (and the caller's future holding it) stays small while it waits
        /// for room in the command channel.
        request: Box<PublishRequest>,
        reply: Reply<PublishOutcome>,
    },
    Subscribe {
        filter: SubscribeFilter,
        messages: Sender<Message>,
        reply: Reply<QoS>,
    },
    Unsubscribe {
        filter: String,
        reply: Reply<()>,
    },
    Disconnect {
        reply: Sender<()>,
    },
    Stats {
        reply: Sender<ClientStats>,
    },
}

/// State shared by the handles and the driver without a round trip.
pub(crate) struct Shared {
    pub event_streams: Mutex<Vec<Sender<Event>>>,
    /// Closed (its sender dropped) when the driver task has finished: the client is closed and
    /// its transport shut down. `Client::closed` waits on it.
    pub finished: Receiver<()>,
}

enum Pending {
    Publish(Reply<PublishOutcome>),
    Subscribe {
        id: u64,
        filter: String,
        reply: Reply<QoS>,
    },
    Unsubscribe {
        filter: String,
        reply: Reply<()>,
    },
}

struct Sub {
    id: u64,
    filter: TopicFilter,
    tx: Sender<Message>,
}

enum Wake {
    Opened(io::Result<()>),
    Read(usize),
    Eof,
    Failed(io::Error),
    Closed,
    /// Bytes were written: the core may have more to send, or completions.
    Written,
    Command(Command),
    HandlesGone,
    Timer(Instant),
    Delivered,
}

pub(crate) struct Driver<R: Runtime> {
    rt: R,
    core: jamey_mqtt_core::Client,
    endpoint: Endpoint,
    shared: Arc<Shared>,
    commands: Pin<Box<Receiver<Command>>>,
    commands_open: bool,
    transport: Option<Transport<R>>,
    opening: Option<BoxFuture<io::Result<Transport<R>>>>,
    /// `Action::Close`: finish writing, flush, close; do not report the end to the core.
    closing: bool,
    out: BytesMut,
    needs_flush: bool,
    read_buf: Box<[u8]>,
    sleep: Option<(Instant, Pin<Box<R::Sleep>>)>,
    pending: HashMap<Token, Pending>,
    subs: Vec<Sub>,
    next_sub_id: u64,
    /// Messages not yet handed to every matching subscription, with the ids still to serve.
    deliveries: VecDeque<(Message, Vec<u64>)>,
    /// A send into a full subscription buffer, waiting for room.
    blocked: Option<BoxFuture<()>>,
    unmatched: VecDeque<Message>,
    unmatched_capacity: usize,
    unmatched_dropped: u64,
    /// `Client::connect` waits on this for the first attempt's outcome.
    first_connect: Option<Reply<()>>,
    /// The typed error of the last transport failure (the core only gets its text).
    last_transport_error: Option<Error>,
    disconnect_waiters: Vec<Sender<()>>,
    /// Dropped when the task ends, which wakes every `Client::closed` future.
    _finished: Sender<()>,
}

pub(crate) struct DriverParts<R: Runtime> {
    pub rt: R,
    pub core: jamey_mqtt_core::Client,
    pub endpoint: Endpoint,
    pub shared: Arc<Shared>,
    pub commands: Receiver<Command>,
    pub first_connect: Reply<()>,
    pub unmatched_capacity: usize,
    pub finished: Sender<()>,
}

impl<R: Runtime> Driver<R> {
    pub fn new(parts: DriverParts<R>) -> Driver<R> {
        Driver {
            rt: parts.rt,
            core: parts.core,
            endpoint: parts.endpoint,
            shared: parts.shared,
            commands: Box::pin(parts.commands),
            commands_open: true,
            transport: None,
            opening: None,
            closing: false,
            out: BytesMut::with_capacity(READ_BUFFER),
            needs_flush: false,
            read_buf: vec![0; READ_BUFFER].into_boxed_slice(),
            sleep: None,
            pending: HashMap::new(),
            subs: Vec::new(),
            next_sub_id: 0,
            deliveries: VecDeque::new(),
            blocked: None,
            unmatched: VecDeque::new(),
            unmatched_capacity: parts.unmatched_capacity,
            unmatched_dropped: 0,
            first_connect: Some(parts.first_connect),
            last_transport_error: None,
            disconnect_waiters: Vec::new(),
            _finished: parts.finished,
        }
    }

    /// The task body. Returns when the core is closed and the transport is gone.
    pub async fn run(mut self) {
        let now = self.rt.now();
        self.core.connect(now);
        loop {
            self.drain_core();
            self.deliver();
            if self.finished() {
                break;
            }
            let wake = poll_fn(|cx| self.poll_wake(cx)).await;
            let now = self.rt.now();
            match wake {
                Wake::Opened(Ok(())) => {
                    self.core.handle_connected(now);
                    if self.core.state() != ConnectionState::Connecting {
                        // The core no longer wants this transport (closed meanwhile).
                        self.transport = None;
                    }
                }
                Wake::Opened(Err(e)) => {
                    self.last_transport_error = Some(Error::from_io(&e));
                    self.core
                        .handle_disconnected(now, TransportError::ConnectFailed(e.to_string()));
                }
                Wake::Read(n) => self.core.handle_bytes(now, &self.read_buf[..n]),
                Wake::Eof => self.transport_ended(now, None),
                Wake::Failed(e) => self.transport_ended(now, Some(e)),
                Wake::Closed | Wake::Delivered | Wake::Written => {}
                Wake::Command(command) => {
                    self.command(now, command);
                    // Take every command already waiting, so their packets share one write.
                    while let Ok(command) = self.commands.try_recv() {
                        self.command(now, command);
                    }
                }
                Wake::HandlesGone => self.core.disconnect(now),
                Wake::Timer(deadline) => {
                    // The clock, not the timer, decides whether the deadline has passed.
                    if now >= deadline {
                        self.core.handle_timeout(now);
                    }
                }
            }
        }
        self.shutdown();
    }

    fn finished(&self) -> bool {
        self.core.state() == ConnectionState::Closed
            && self.transport.is_none()
            && self.opening.is_none()
    }

    fn transport_ended(&mut self, now: Instant, error: Option<io::Error>) {
        self.transport = None;
        self.out.clear();
        self.needs_flush = false;
        if self.closing {
            // We closed it on the core's request; the core decides whether it cares how.
            self.closing = false;
            self.core.handle_disconnected(now, TransportError::Closed);
            return;
        }
        let error = match error {
            None => TransportError::Closed,
            Some(e) => {
                self.last_transport_error = Some(Error::from_io(&e));
                TransportError::Io(e.to_string())
            }
        };
        self.core.handle_disconnected(now, error);
    }

    /// Step 3 of the loop: transmit, actions, events, until the core has nothing more.
    fn drain_core(&mut self) {
        loop {
            let now = self.rt.now();
            let wrote = self.core.poll_transmit(now, &mut self.out).is_some();
            if self.transport.is_none() {
                // Nothing to write to: these bytes belonged to a connection that is gone.
                self.out.clear();
            }
            let mut acted = false;
            while let Some(action) = self.core.poll_action() {
                acted = true;
                match action {
                    Action::Connect => {
                        if let (true, Some(old)) = (self.closing, self.transport.take()) {
                            // The previous transport was asked to close (e.g. after a
                            // DISCONNECT before a token refresh): finish writing and closing it
                            // in the background instead of cutting it off.
                            let pending = std::mem::take(&mut self.out);
                            self.rt.spawn(finish_close(old, pending));
                        }
                        self.transport = None;
                        self.closing = false;
                        self.out.clear();
                        self.needs_flush = false;
                        let endpoint = self.endpoint.clone();
                        let rt = self.rt.clone();
                        self.opening = Some(Box::pin(async move { endpoint.open(&rt).await }));
                    }
                    Action::Close => {
                        self.opening = None;
                        if self.transport.is_some() {
                            self.closing = true;
                        } else {
                            // Nothing open: the close is already complete.
                            self.core.handle_closed(now);
                        }
                    }
                }
            }
            let mut evented = false;
            while let Some(event) = self.core.poll_event() {
                evented = true;
                self.event(event);
            }
            if !wrote && !acted && !evented {
                return;
            }
        }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::Message(message) => self.route(message),
            Event::Published { token, pkid } => {
                if let Some(Pending::Publish(reply)) = self.pending.remove(&token) {
                    let _ = reply.send(Ok(PublishOutcome { pkid }));
                }
            }
            Event::Subscribed { token, results } => {
                if let Some(Pending::Subscribe { id, filter, reply }) = self.pending.remove(&token)
                {
                    let result = match results.first() {
                        Some(Ok(qos)) => Ok(*qos),
                        Some(Err(reason)) => Err(Error::SubscribeRefused {
                            filter,
                            reason: *reason,
                        }),
                        None => Err(Error::Closed),
                    };
                    if result.is_err() {
                        self.subs.retain(|s| s.id != id);
                    }
                    let _ = reply.send(result);
                }
            }
            Event::Unsubscribed { token, results } => {
                if let Some(Pending::Unsubscribe { filter, reply }) = self.pending.remove(&token) {
                    let result = match results.first() {
                        Some(Err(reason)) => Err(Error::UnsubscribeRefused {
                            filter,
                            reason: *reason,
                        }),
                        _ => {
                            // From now on the broker sends nothing for it: end those streams.
                            self.subs.retain(|s| s.filter.as_str() != filter);
                            Ok(())
                        }
                    };
                    let _ = reply.send(result);
                }
            }
            Event::RequestFailed { token, error } => match self.pending.remove(&token) {
                Some(Pending::Publish(reply)) => {
                    let _ = reply.send(Err(Error::Failed(error)));
                }
                Some(Pending::Subscribe { id, reply, .. }) => {
                    self.subs.retain(|s| s.id != id);
                    let _ = reply.send(Err(Error::Failed(error)));
                }
                Some(Pending::Unsubscribe { reply, .. }) => {
                    let _ = reply.send(Err(Error::Failed(error)));
                }
                None => {}
            },
            other => {
                match &other {
                    Event::Connected { .. } => {
                        self.last_transport_error = None;
                        if let Some(reply) = self.first_connect.take() {
                            let _ = reply.send(Ok(()));
                        }
                    }
                    Event::ConnectFailed(error) => {
                        if let Some(reply) = self.first_connect.take() {
                            let typed = self
                                .last_transport_error
                                .take()
                                .unwrap_or_else(|| Error::Connect(error.clone()));
                            let _ = reply.send(Err(typed));
                        }
                    }
                    Event::GaveUp | Event::Disconnected => {
                        if let Some(reply) = self.first_connect.take() {
                            let _ = reply.send(Err(Error::Closed));
                        }
                        for waiter in self.disconnect_waiters.drain(..) {
                            let _ = waiter.try_send(());
                        }
                    }
                    _ => {}
                }
                self.broadcast(other);
            }
        }
    }

    fn broadcast(&mut self, event: Event) {
        let mut streams = self
            .shared
            .event_streams
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        streams.retain(|tx| !matches!(tx.try_send(event.clone()), Err(TrySendError::Closed(_))));
    }

    /// Offers a message to every matching subscription (in `deliver`), or keeps it for a
    /// subscription made later.
    fn route(&mut self, message: Message) {
        let targets: Vec<u64> = match TopicName::new(message.topic.as_str()) {
            Ok(topic) => self
                .subs
                .iter()
                .filter(|s| s.filter.matches(&topic))
                .map(|s| s.id)
                .rev()
                .collect(),
            Err(_) => Vec::new(),
        };
        if targets.is_empty() {
            if self.unmatched_capacity == 0 {
                self.unmatched_dropped += 1;
                return;
            }
            if self.unmatched.len() >= self.unmatched_capacity {
                self.unmatched.pop_front();
                self.unmatched_dropped += 1;
            }
            self.unmatched.push_back(message);
        } else {
            self.deliveries.push_back((message, targets));
        }
    }

    fn deliver(&mut self) {
        while self.blocked.is_none() {
            let Some((message, targets)) = self.deliveries.front_mut() else {
                return;
            };
            while let Some(id) = targets.pop() {
                let Some(index) = self.subs.iter().position(|s| s.id == id) else {
                    continue;
                };
                match self.subs[index].tx.try_send(message.clone()) {
                    Ok(()) => {}
                    Err(TrySendError::Closed(_)) => {
                        self.subs.remove(index);
                    }
                    Err(TrySendError::Full(message)) => {
                        let tx = self.subs[index].tx.clone();
                        self.blocked = Some(Box::pin(async move {
                            let _ = tx.send(message).await;
                        }));
                        // Reading stops until there is room; the core must know why.
                        self.core.handle_reading_paused(self.rt.now());
                        break;
                    }
                }
            }
            if self.blocked.is_none() {
                self.deliveries.pop_front();
            }
        }
    }

    fn command(&mut self, now: Instant, command: Command) {
        match command {
            Command::Publish { request, reply } => match self.core.publish(now, *request) {
                Ok(token) => {
                    self.pending.insert(token, Pending::Publish(reply));
                }
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                }
            },
            Command::Subscribe {
                filter,
                messages,
                reply,
            } => {
                let local = match TopicFilter::new(filter.filter.as_str()) {
                    Ok(local) => local,
                    Err(e) => {
                        let _ = reply.send(Err(jamey_mqtt_core::ClientError::from(e).into()));
                        return;
                    }
                };
                let name = filter.filter.clone();
                match self.core.subscribe(now, vec![filter]) {
                    Ok(token) => {
                        self.next_sub_id += 1;
                        let id = self.next_sub_id;
                        self.subs.retain(|s| !s.tx.is_closed());
                        self.adopt_unmatched(&local, &messages);
                        self.subs.push(Sub {
                            id,
                            filter: local,
                            tx: messages,
                        });
                        self.pending.insert(
                            token,
                            Pending::Subscribe {
                                id,
                                filter: name,
                                reply,
                            },
                        );
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Command::Unsubscribe { filter, reply } => {
                match self.core.unsubscribe(now, vec![filter.clone()]) {
                    Ok(token) => {
                        self.pending
                            .insert(token, Pending::Unsubscribe { filter, reply });
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Command::Disconnect { reply } => {
                if self.core.state() == ConnectionState::Closed {
                    let _ = reply.try_send(());
                } else {
                    self.disconnect_waiters.push(reply);
                    self.core.disconnect(now);
                }
            }
            Command::Stats { reply } => {
                let _ = reply.try_send(ClientStats {
                    core: *self.core.stats(),
                    health: self.core.health(),
                    unmatched_buffered: self.unmatched.len(),
                    unmatched_dropped: self.unmatched_dropped,
                });
            }
        }
    }

    /// Hands buffered unmatched messages that `filter` matches to a new subscription.
    fn adopt_unmatched(&mut self, filter: &TopicFilter, tx: &Sender<Message>) {
        let mut kept = VecDeque::with_capacity(self.unmatched.len());
        while let Some(message) = self.unmatched.pop_front() {
            let matches = TopicName::new(message.topic.as_str())
                .map(|topic| filter.matches(&topic))
                .unwrap_or(false);
            if !matches {
                kept.push_back(message);
                continue;
            }
            if let Err(e) = tx.try_send(message) {
                kept.push_back(e.into_inner());
            }
        }
        self.unmatched = kept;
    }

    fn poll_wake(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        if let Some(opening) = self.opening.as_mut() {
            if let Poll::Ready(result) = opening.as_mut().poll(cx) {
                self.opening = None;
                return Poll::Ready(Wake::Opened(result.map(|t| self.transport = Some(t))));
            }
        }
        if let Some(wake) = self.poll_write_side(cx) {
            return Poll::Ready(wake);
        }
        if let Some(blocked) = self.blocked.as_mut() {
            if blocked.as_mut().poll(cx).is_ready() {
                self.blocked = None;
                self.core.handle_reading_resumed(self.rt.now());
                return Poll::Ready(Wake::Delivered);
            }
        }
        let reading = !self.closing && self.blocked.is_none() && self.deliveries.is_empty();
        if let (true, Some(transport)) = (reading, self.transport.as_mut()) {
            match Pin::new(transport).poll_read(cx, &mut self.read_buf) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Wake::Eof),
                Poll::Ready(Ok(n)) => return Poll::Ready(Wake::Read(n)),
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {
                    cx.waker().wake_by_ref();
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Wake::Failed(e)),
                Poll::Pending => {}
            }
        }
        if self.commands_open {
            match self.commands.as_mut().poll_next(cx) {
                Poll::Ready(Some(command)) => return Poll::Ready(Wake::Command(command)),
                Poll::Ready(None) => {
                    self.commands_open = false;
                    return Poll::Ready(Wake::HandlesGone);
                }
                Poll::Pending => {}
            }
        }
        match self.core.poll_timeout() {
            None => self.sleep = None,
            Some(deadline) => {
                if self.sleep.as_ref().map(|(d, _)| *d) != Some(deadline) {
                    self.sleep = Some((deadline, Box::pin(self.rt.sleep_until(deadline))));
                }
                if let Some((deadline, sleep)) = self.sleep.as_mut() {
                    if sleep.as_mut().poll(cx).is_ready() {
                        let deadline = *deadline;
                        self.sleep = None;
                        return Poll::Ready(Wake::Timer(deadline));
                    }
                }
            }
        }
        Poll::Pending
    }

    /// Writes the buffer, flushes, and closes on request. `Some` when the loop must react.
    fn poll_write_side(&mut self, cx: &mut Context<'_>) -> Option<Wake> {
        let transport = self.transport.as_mut()?;
        let mut wrote = false;
        while !self.out.is_empty() {
            match Pin::new(&mut *transport).poll_write(cx, &self.out) {
                Poll::Ready(Ok(0)) => {
                    return Some(Wake::Failed(io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => {
                    self.out.advance(n);
                    self.needs_flush = true;
                    // The core counts these bytes as written: room under its buffer bound, and
                    // QoS 0 publishes whose last byte this was complete.
                    self.core.handle_written(self.rt.now(), n);
                    wrote = true;
                }
                Poll::Ready(Err(e)) => return Some(Wake::Failed(e)),
                Poll::Pending => break,
            }
        }
        if wrote {
            // The core may have more to send and completions to hand out.
            return Some(Wake::Written);
        }
        if !self.out.is_empty() {
            return None;
        }
        if self.needs_flush {
            match Pin::new(&mut *transport).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.needs_flush = false,
                Poll::Ready(Err(e)) => return Some(Wake::Failed(e)),
                Poll::Pending => return None,
            }
        }
        if self.closing {
            if let Poll::Ready(result) = Pin::new(&mut *transport).poll_close(cx) {
                self.transport = None;
                self.closing = false;
                // The final close (after disconnect) waits for this; others ignore it.
                match result {
                    Ok(()) => self.core.handle_closed(self.rt.now()),
                    Err(e) => self
                        .core
                        .handle_disconnected(self.rt.now(), TransportError::Io(e.to_string())),
                }
                return Some(Wake::Closed);
            }
        }
        None
    }

    /// The client is closed: whatever still waits learns it (its reply channel closes).
    fn shutdown(&mut self) {
        self.pending.clear();
        self.subs.clear();
        self.deliveries.clear();
        self.blocked = None;
        self.commands.close();
        self.shared
            .event_streams
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
        for waiter in self.disconnect_waiters.drain(..) {
            let _ = waiter.try_send(());
        }
    }
}

/// Writes what is left for a transport the core closed, then closes it. Errors only mean the
/// peer is already gone, which is what closing wanted.
async fn finish_close<R: Runtime>(mut transport: Transport<R>, pending: BytesMut) {
    use futures_util::AsyncWriteExt;
    let _ = transport.write_all(&pending).await;
    let _ = transport.close().await;
}
