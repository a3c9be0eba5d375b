//! The one place that knows the shape of the client API the simulation leans on: reading a
//! subscription, and running a future against a virtual-time deadline.
//!
//! When `Subscription` becomes a stream of `Result<Message, Error>`, `next_message` becomes
//! `sub.recv().await`: nothing else changes.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::{SimRuntime, Sleep};
use jamey_mqtt::{Error, Message, Runtime, Subscription};

/// The next item of a subscription: `None` once it ended; an error item also ends it.
pub async fn next_message(sub: &mut Subscription) -> Option<Result<Message, Error>> {
    sub.recv().await
}

/// `future`'s output, or `None` if the virtual clock reaches `deadline` first.
pub async fn until<F: Future>(rt: &SimRuntime, deadline: Instant, future: F) -> Option<F::Output> {
    Deadline {
        future: Box::pin(future),
        sleep: rt.sleep_until(deadline),
    }
    .await
}

struct Deadline<F: Future> {
    future: Pin<Box<F>>,
    sleep: Sleep,
}

impl<F: Future> Future for Deadline<F> {
    type Output = Option<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(value) = self.future.as_mut().poll(cx) {
            return Poll::Ready(Some(value));
        }
        match Pin::new(&mut self.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Lets every task already woken run before the caller goes on (the executor is FIFO).
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}
