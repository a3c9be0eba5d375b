//! What the driver owes the application's handles: the reply of each accepted request (by the
//! core's token; a SUBSCRIBE or UNSUBSCRIBE gets one result per filter), the stream of each
//! subscription (by the core's subscription id: filter `i` of a request is its subscription
//! `i`), and the messages and stream ends on their way into those streams.
//!
//! Routing is the core's: a message arrives with the ids of the subscriptions it matched and
//! is copied into exactly those streams (staged in each stream's queue, `inbox.rs`, and handed
//! to the readers by [`Handles::flush`] before the driver waits). A stream that is full holds
//! the rest back (in order): the driver stops reading the transport until there is room, so
//! memory stays bounded and nothing is dropped.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use jamey_mqtt_core::{AckId, Event, Message, QoS, SubscriptionId, SubscriptionIds, Token};
use rustc_hash::FxHashMap as HashMap;

use crate::inbox::{Sender, TrySendError};
use crate::{Error, PublishOutcome};

pub(crate) type Reply<T> = futures_channel::oneshot::Sender<Result<T, Error>>;
/// What a subscription stream carries: messages, and an error as its last item when it ends
/// for any reason but an unsubscribe.
pub(crate) type StreamItem = Result<Message, Error>;

type Blocked = Pin<Box<dyn Future<Output = bool> + Send>>;

/// The reply to a SUBSCRIBE or UNSUBSCRIBE: one result per filter, in order.
pub(crate) type PerFilter<T> = Vec<Result<T, Error>>;

enum Pending {
    Publish(Reply<PublishOutcome>),
    Subscribe {
        filters: Vec<String>,
        reply: Reply<PerFilter<QoS>>,
    },
    Unsubscribe {
        filters: Vec<String>,
        reply: Reply<PerFilter<()>>,
    },
}

struct Stream {
    filter: String,
    tx: Sender<StreamItem>,
}

/// One item for some streams: a message for each id (and whether a stream took it), or the
/// end of one stream.
// Not boxed: a box would be an allocation per received message (issue 16).
#[allow(clippy::large_enum_variant)]
enum Delivery {
    Message(Message, SubscriptionIds, bool),
    End(SubscriptionId, Option<Error>),
}

#[derive(Default)]
pub(crate) struct Handles {
    pending: HashMap<Token, Pending>,
    streams: HashMap<SubscriptionId, Stream>,
    deliveries: VecDeque<Delivery>,
    /// Manual acknowledgement: handles of messages no stream took (`take_unacked`).
    unacked: Vec<AckId>,
    /// A send into a full stream: resolves `true` once delivered, `false` if it was dropped.
    blocked: Option<(SubscriptionId, Blocked)>,
    /// Streams the application dropped, found while delivering (`deliver` reports them).
    dropped: Vec<SubscriptionId>,
    /// Streams holding staged messages, for `flush`.
    staged: Vec<SubscriptionId>,
}

impl Handles {
    pub fn publish(&mut self, token: Token, reply: Reply<PublishOutcome>) {
        self.pending.insert(token, Pending::Publish(reply));
    }

    /// A subscribe accepted by the core: its reply, and the stream of each of its
    /// subscriptions (filter `i` is subscription `i` of the request; `streams` are in the
    /// same order as `filters`).
    pub fn subscribe(
        &mut self,
        token: Token,
        filters: Vec<String>,
        streams: Vec<Sender<StreamItem>>,
        reply: Reply<PerFilter<QoS>>,
    ) {
        for (index, (filter, tx)) in filters.iter().zip(streams).enumerate() {
            let stream = Stream {
                filter: filter.clone(),
                tx,
            };
            self.streams
                .insert(SubscriptionId::new(token, index), stream);
        }
        self.pending
            .insert(token, Pending::Subscribe { filters, reply });
    }

    pub fn unsubscribe(&mut self, token: Token, filters: Vec<String>, reply: Reply<PerFilter<()>>) {
        self.pending
            .insert(token, Pending::Unsubscribe { filters, reply });
    }

    /// A received message for the streams of `subscriptions`: straight into them when nothing
    /// waits before it (the common case: no queueing, no copy); behind the others otherwise, in
    /// order.
    #[inline]
    pub fn message(&mut self, message: Message, subscriptions: SubscriptionIds) {
        if self.deliveries.is_empty() && self.blocked.is_none() {
            self.deliver_message(message, subscriptions, false)
        } else {
            self.deliveries
                .push_back(Delivery::Message(message, subscriptions, false))
        }
    }

    /// Takes the events that concern handles; returns any other event (connection events).
    pub fn event(&mut self, event: Event) -> Option<Event> {
        match event {
            Event::Message {
                message,
                subscriptions,
            } => self.message(message, subscriptions),
            Event::SubscriptionEnded { id, end } if !end.is_error() => self.unsubscribed(id),
            Event::SubscriptionEnded { id, end } => {
                // After the messages already on their way to it.
                let error = self.streams.get(&id).map(|s| Error::SubscriptionEnded {
                    filter: s.filter.clone(),
                    end,
                });
                self.deliveries.push_back(Delivery::End(id, error));
            }
            Event::Published { token, pkid } => {
                if let Some(Pending::Publish(reply)) = self.pending.remove(&token) {
                    let _ = reply.send(Ok(PublishOutcome { pkid }));
                }
            }
            Event::Subscribed { token, results } => {
                if let Some(Pending::Subscribe { filters, reply }) = self.pending.remove(&token) {
                    let results = filters
                        .into_iter()
                        .zip(results)
                        .map(|(filter, result)| {
                            result.map_err(|reason| Error::SubscribeRefused { filter, reason })
                        })
                        .collect();
                    let _ = reply.send(Ok(results));
                }
            }
            Event::Unsubscribed { token, results } => {
                if let Some(Pending::Unsubscribe { filters, reply }) = self.pending.remove(&token) {
                    let results = filters
                        .into_iter()
                        .zip(results)
                        .map(|(filter, result)| {
                            result.map_err(|reason| Error::UnsubscribeRefused { filter, reason })
                        })
                        .collect();
                    let _ = reply.send(Ok(results));
                }
            }
            Event::RequestFailed { token, error } => match self.pending.remove(&token) {
                Some(Pending::Publish(reply)) => {
                    let _ = reply.send(Err(Error::Failed(error)));
                }
                Some(Pending::Subscribe { reply, .. }) => {
                    let _ = reply.send(Err(Error::Failed(error)));
                }
                Some(Pending::Unsubscribe { reply, .. }) => {
                    let _ = reply.send(Err(Error::Failed(error)));
                }
                None => {}
            },
            other => return Some(other),
        }
        None
    }

    /// The application unsubscribed: its stream ends now, after what it holds. Messages still
    /// on their way to it are dropped (it asked for no more, and may not be reading: a stream
    /// nobody reads must not hold the UNSUBACK back).
    fn unsubscribed(&mut self, id: SubscriptionId) {
        self.streams.remove(&id);
        if self
            .blocked
            .as_ref()
            .is_some_and(|(blocked, _)| *blocked == id)
        {
            self.blocked = None;
        }
        for delivery in &mut self.deliveries {
            if let Delivery::Message(_, ids, _) = delivery {
                ids.retain(|target| *target != id);
            }
        }
    }

    /// Moves deliveries into their streams until one is full. Returns the ids of streams the
    /// application dropped (the core stops routing to them).
    pub fn deliver(&mut self) -> Vec<SubscriptionId> {
        while self.blocked.is_none() {
            let Some(delivery) = self.deliveries.pop_front() else {
                break;
            };
            match delivery {
                Delivery::Message(message, ids, taken) => self.deliver_message(message, ids, taken),
                Delivery::End(id, error) => {
                    // Removed now: the stream ends when its last sender (maybe a blocked send
                    // of the error item) is gone.
                    if let (Some(mut stream), Some(error)) = (self.streams.remove(&id), error) {
                        if let Err(TrySendError::Full(item)) = stream.tx.try_send(Err(error)) {
                            self.blocked = Some((id, Box::pin(send(stream.tx, item))));
                        }
                    }
                }
            }
        }
        std::mem::take(&mut self.dropped)
    }

    /// Puts one message into the streams of `ids` (`taken`: some stream already took it)
    /// until one is full; what is left waits at the front of the deliveries. It goes into its
    /// last stream by move: only overlapping subscriptions cost a copy each.
    #[inline]
    fn deliver_message(&mut self, message: Message, mut ids: SubscriptionIds, mut taken: bool) {
        let mut message = Some(message);
        while let Some(id) = ids.pop() {
            let Some(stream) = self.streams.get_mut(&id) else {
                continue;
            };
            let first_staged = !stream.tx.has_staged();
            let item = match (ids.is_empty(), message.take()) {
                (true, Some(last)) => last,
                (false, Some(m)) => {
                    let copy = m.clone();
                    message = Some(m);
                    copy
                }
                (_, None) => break,
            };
            match stream.tx.try_send(Ok(item)) {
                Ok(()) => {
                    taken = true;
                    if first_staged {
                        self.staged.push(id);
                    }
                }
                Err(TrySendError::Closed(item)) => {
                    self.streams.remove(&id);
                    self.dropped.push(id);
                    if message.is_none() {
                        message = item.ok();
                    }
                }
                Err(TrySendError::Full(item)) => {
                    taken = true;
                    self.block(id, item);
                    break;
                }
            }
        }
        match message {
            // Blocked with streams still to serve: the rest waits, in order.
            Some(message) if self.blocked.is_some() && !ids.is_empty() => self
                .deliveries
                .push_front(Delivery::Message(message, ids, taken)),
            // Manual acknowledgement: a message no stream took (its streams were dropped or
            // unsubscribed) will never be acked by the application.
            Some(message) if !taken => self.unacked.extend(message.ack),
            _ => {}
        }
    }

    /// Hands what the streams staged to their readers (the driver calls it before it waits).
    pub fn flush(&mut self) {
        for id in self.staged.drain(..) {
            if let Some(stream) = self.streams.get_mut(&id) {
                if !stream.tx.flush() {
                    self.streams.remove(&id);
                    self.dropped.push(id);
                }
            }
        }
    }

    /// Ack handles of messages no stream took, for the driver to pass to the core.
    pub fn take_unacked(&mut self) -> Vec<AckId> {
        std::mem::take(&mut self.unacked)
    }

    fn block(&mut self, id: SubscriptionId, item: StreamItem) {
        if let Some(stream) = self.streams.get(&id) {
            self.blocked = Some((id, Box::pin(send(stream.tx.clone(), item))));
        }
    }

    /// Whether a full stream holds deliveries back (the driver does not read meanwhile).
    pub fn is_blocked(&self) -> bool {
        self.blocked.is_some()
    }

    /// Polls the blocked send: `Some` once it finished, with the id if its stream was dropped.
    pub fn poll_blocked(&mut self, cx: &mut Context<'_>) -> Option<Option<SubscriptionId>> {
        let (id, send) = self.blocked.as_mut()?;
        let Poll::Ready(delivered) = send.as_mut().poll(cx) else {
            return None;
        };
        let id = *id;
        self.blocked = None;
        if delivered || !self.streams.contains_key(&id) {
            return Some(None);
        }
        self.streams.remove(&id);
        Some(Some(id))
    }

    /// The client is closed: every reply and stream ends (their channels close).
    pub fn clear(&mut self) {
        self.pending.clear();
        self.streams.clear();
        self.deliveries.clear();
        self.staged.clear();
        self.blocked = None;
    }
}

async fn send(tx: Sender<StreamItem>, item: StreamItem) -> bool {
    tx.send(item).await
}
