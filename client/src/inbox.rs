//! The queue between the driver and one [`Subscription`](crate::Subscription) stream: bounded,
//! one producer (the driver) and one consumer (the stream), handing items over in batches.
//!
//! A general channel synchronises on every item (a permit, a slot, a wake-up). Here the
//! consumer takes everything waiting in one locked swap and then yields it without touching
//! shared state, and the producer wakes it only when it was waiting: a burst read from the
//! socket crosses to the application for one wake-up and one lock per item on the driver's
//! side, however long it is.
//!
//! The bound is exact: the items waiting plus those the consumer took but has not yielded yet
//! never exceed `capacity`. The consumer's batch is counted as a whole until it comes back for
//! the next one, so a full producer waits for the consumer to finish its batch (and is woken
//! then).

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// Creates a queue holding at most `capacity` items (at least 1).
pub(crate) fn inbox<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        capacity: capacity.max(1),
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
    (Sender { shared }, receiver)
}

struct Shared<T> {
    capacity: usize,
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

/// The driver's end.
pub(crate) struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Queues `item` if there is room and the consumer is still there.
    pub fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        let mut state = self.shared.lock();
        if state.receiver_gone {
            return Err(TrySendError::Closed(item));
        }
        if state.waiting.len() + state.in_hand >= self.shared.capacity {
            return Err(TrySendError::Full(item));
        }
        state.waiting.push_back(item);
        let waker = state.receiver_waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Queues `item` once there is room: `true`, or `false` if the consumer went away first.
    pub async fn send(&self, item: T) -> bool {
        let mut item = Some(item);
        poll_fn(|cx| self.poll_send(cx, &mut item)).await
    }

    fn poll_send(&self, cx: &mut Context<'_>, item: &mut Option<T>) -> Poll<bool> {
        let Some(value) = item.take() else {
            return Poll::Ready(true);
        };
        match self.try_send(value) {
            Ok(()) => Poll::Ready(true),
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
                    return self.poll_send(cx, item);
                }
                state.sender_waker = Some(cx.waker().clone());
                *item = Some(value);
                Poll::Pending
            }
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
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
