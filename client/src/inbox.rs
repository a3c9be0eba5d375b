//! The queue between the driver and one [`Subscription`](crate::Subscription) stream: bounded,
//! one producer (the driver) and one consumer (the stream), handing items over in batches.
//!
//! A general channel synchronises on every item (a permit, a slot, a wake-up). Here both
//! sides move batches: the producer stages items while it knows there is room and hands them
//! over in one locked append when it [`flush`](Sender::flush)es (the driver does before it
//! waits), and the consumer takes everything waiting in one locked swap and yields it without
//! touching shared state. A burst read from the socket crosses to the application for one lock
//! on each side and one wake-up, however long it is.
//!
//! The bound is exact: the items staged, waiting, and taken by the consumer but not yielded yet
//! never exceed `capacity`. The consumer's batch is counted as a whole until it comes back for
//! the next one, so a full producer waits for the consumer to finish its batch (and is woken
//! then).

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// Creates a queue holding at most `capacity` items (at least 1).
pub(crate) fn inbox<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        capacity: capacity.max(1),
        receiver_gone: AtomicBool::new(false),
        state: Mutex::new(State {
            waiting: VecDeque::new(),
            in_hand: 0,
            senders: 1,
            receiver_gone: false,
            receiver_waker: None,
            sender_waker: None,
        }),
    });
    let receiver = Receiver {
        shared: shared.clone(),
        batch: VecDeque::new(),
    };
    (Sender::new(shared), receiver)
}

struct Shared<T> {
    capacity: usize,
    /// Set (under the lock) when the consumer is dropped; read without it by `try_send`.
    receiver_gone: AtomicBool,
    state: Mutex<State<T>>,
}

struct State<T> {
    /// Items the consumer has not taken yet.
    waiting: VecDeque<T>,
    /// The size of the batch the consumer took last (counted until it comes back).
    in_hand: usize,
    /// Live [`Sender`]s; the stream ends when the last one is gone and nothing is left.
    senders: usize,
    receiver_gone: bool,
    receiver_waker: Option<Waker>,
    /// A producer waiting for room (`Sender::send`).
    sender_waker: Option<Waker>,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Nothing panics while holding the lock; a poisoned lock still holds consistent state.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Why [`Sender::try_send`] did not take an item (it gives the item back).
#[derive(Debug)]
pub(crate) enum TrySendError<T> {
    /// The queue is at its bound.
    Full(T),
    /// The consumer is gone.
    Closed(T),
}

/// The driver's end. Items it takes are staged until [`Sender::flush`] (or its drop).
pub(crate) struct Sender<T> {
    shared: Arc<Shared<T>>,
    staged: VecDeque<T>,
    /// How many more items may be staged: the room there was at the last flush.
    room: usize,
}

impl<T> Sender<T> {
    fn new(shared: Arc<Shared<T>>) -> Sender<T> {
        Sender {
            shared,
            staged: VecDeque::new(),
            room: 0,
        }
    }

    /// Takes `item` if there is room and the consumer is still there. It reaches the consumer
    /// at the next [`Sender::flush`].
    #[inline]
    pub fn try_send(&mut self, item: T) -> Result<(), TrySendError<T>> {
        if self.shared.receiver_gone.load(Ordering::Relaxed) {
            return Err(TrySendError::Closed(item));
        }
        if self.room == 0 && !self.flush() {
            return Err(TrySendError::Closed(item));
        }
        if self.room == 0 {
            return Err(TrySendError::Full(item));
        }
        self.room -= 1;
        self.staged.push_back(item);
        Ok(())
    }

    /// Whether items wait for [`Sender::flush`].
    pub fn has_staged(&self) -> bool {
        !self.staged.is_empty()
    }

    /// Hands the staged items to the consumer (waking it if it waits) and learns the room
    /// there is now. `false` if the consumer is gone (the staged items are dropped, as the
    /// items waiting for it are).
    pub fn flush(&mut self) -> bool {
        let mut state = self.shared.lock();
        if state.receiver_gone {
            drop(state);
            self.staged.clear();
            self.room = 0;
            return false;
        }
        let woken = if self.staged.is_empty() {
            None
        } else {
            if state.waiting.is_empty() {
                // The consumer took everything: the buffers trade places (no item is moved).
                std::mem::swap(&mut state.waiting, &mut self.staged);
            } else {
                state.waiting.extend(self.staged.drain(..));
            }
            state.receiver_waker.take()
        };
        self.room = self
            .shared
            .capacity
            .saturating_sub(state.waiting.len() + state.in_hand);
        drop(state);
        if let Some(waker) = woken {
            waker.wake();
        }
        true
    }

    /// Queues `item` once there is room: `true`, or `false` if the consumer went away first.
    /// Whatever was staged goes first.
    pub async fn send(mut self, item: T) -> bool {
        let mut item = Some(item);
        poll_fn(|cx| self.poll_send(cx, &mut item)).await
    }

    fn poll_send(&mut self, cx: &mut Context<'_>, item: &mut Option<T>) -> Poll<bool> {
        let Some(value) = item.take() else {
            return Poll::Ready(true);
        };
        match self.try_send(value) {
            Ok(()) => Poll::Ready(self.flush()),
            Err(TrySendError::Closed(_)) => Poll::Ready(false),
            Err(TrySendError::Full(value)) => {
                let mut state = self.shared.lock();
                // Room may have appeared since try_send: check again under the lock.
                if state.receiver_gone {
                    return Poll::Ready(false);
                }
                if state.waiting.len() + state.in_hand < self.shared.capacity {
                    drop(state);
                    *item = Some(value);
                    self.room = 0;
                    return self.poll_send(cx, item);
                }
                state.sender_waker = Some(cx.waker().clone());
                *item = Some(value);
                Poll::Pending
            }
        }
    }
}

/// A clone starts with nothing staged: flush the original first to keep the order.
impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Sender::new(self.shared.clone())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.flush();
        let mut state = self.shared.lock();
        state.senders -= 1;
        let waker = (state.senders == 0)
            .then(|| state.receiver_waker.take())
            .flatten();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The stream's end.
pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// The batch taken last, yielded without touching shared state.
    batch: VecDeque<T>,
}

impl<T> Receiver<T> {
    /// The next item; `None` once every sender is gone and nothing is left.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if let Some(item) = self.batch.pop_front() {
            return Poll::Ready(Some(item));
        }
        let mut state = self.shared.lock();
        // The batch is used up: take everything waiting (the buffers trade places, so
        // neither side allocates once both have grown).
        std::mem::swap(&mut state.waiting, &mut self.batch);
        state.in_hand = self.batch.len();
        // A waiting producer is woken once there is room (a full batch leaves none).
        let producer = if state.in_hand < self.shared.capacity {
            state.sender_waker.take()
        } else {
            None
        };
        let item = self.batch.pop_front();
        if item.is_none() && state.senders > 0 {
            match &state.receiver_waker {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => state.receiver_waker = Some(cx.waker().clone()),
            }
        }
        let ended = state.senders == 0;
        drop(state);
        if let Some(waker) = producer {
            waker.wake();
        }
        match item {
            Some(item) => Poll::Ready(Some(item)),
            None if ended => Poll::Ready(None),
            None => Poll::Pending,
        }
    }

    /// [`Receiver::poll_recv`] as a future.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_gone = true;
        self.shared.receiver_gone.store(true, Ordering::Relaxed);
        let waiting = std::mem::take(&mut state.waiting);
        let producer = state.sender_waker.take();
        drop(state);
        // Dropped outside the lock: an item's own drop must not run under it.
        drop(waiting);
        if let Some(waker) = producer {
            waker.wake();
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("capacity", &self.shared.capacity)
            .field("in_batch", &self.batch.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
