use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use super::{inbox, TrySendError};

/// Counts its wake-ups.
#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn waker() -> (Arc<Counter>, Waker) {
    let counter = Arc::new(Counter::default());
    (counter.clone(), Waker::from(counter))
}

fn woken(counter: &Counter) -> usize {
    counter.0.load(Ordering::SeqCst)
}

#[test]
fn a_burst_reaches_the_reader_in_order_at_the_flush_for_one_wake_up() {
    let (mut tx, mut rx) = inbox(100);
    let (counter, waker) = waker();
    let mut cx = Context::from_waker(&waker);
    assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
    for i in 0..50 {
        tx.try_send(i).unwrap();
    }
    assert_eq!(woken(&counter), 0, "staged until the flush");
    assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
    assert!(tx.flush());
    assert_eq!(woken(&counter), 1, "one wake-up for the whole burst");
    for i in 0..50 {
        assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(i)));
    }
    assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
}

#[test]
fn the_bound_counts_staged_waiting_and_the_batch_the_reader_took() {
    let (mut tx, mut rx) = inbox(3);
    let (_, waker) = waker();
    let mut cx = Context::from_waker(&waker);
    tx.try_send(0).unwrap();
    tx.try_send(1).unwrap();
    assert!(tx.flush());
    tx.try_send(2).unwrap();
    assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
    // The reader takes the batch of three and yields one: two are still held.
    assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(0)));
    assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
    assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(1)));
    assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(2)));
    // Back for more: nothing waiting, nothing held, room for three again.
    assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
    for i in 3..6 {
        tx.try_send(i).unwrap();
    }
    assert!(matches!(tx.try_send(6), Err(TrySendError::Full(6))));
}

#[test]
fn a_full_sender_waits_and_is_woken_when_the_reader_finished_its_batch() {
    let (mut tx, mut rx) = inbox(2);
    let (reader_wakes, reader) = waker();
    let (sender_wakes, sender) = waker();
    let (mut rcx, mut scx) = (Context::from_waker(&reader), Context::from_waker(&sender));
    tx.try_send(0).unwrap();
    tx.try_send(1).unwrap();
    let mut pending = Some(2);
    assert_eq!(tx.poll_send(&mut scx, &mut pending), Poll::Pending);
    assert_eq!(rx.poll_recv(&mut rcx), Poll::Ready(Some(0)));
    assert_eq!(woken(&sender_wakes), 0, "the batch is still in hand");
    assert_eq!(rx.poll_recv(&mut rcx), Poll::Ready(Some(1)));
    assert_eq!(rx.poll_recv(&mut rcx), Poll::Pending);
    assert_eq!(woken(&sender_wakes), 1);
    assert_eq!(tx.poll_send(&mut scx, &mut pending), Poll::Ready(true));
    assert_eq!(woken(&reader_wakes), 1);
    assert_eq!(rx.poll_recv(&mut rcx), Poll::Ready(Some(2)));
}

#[test]
fn the_stream_ends_after_what_was_sent_when_every_sender_is_gone() {
    let (mut tx, mut rx) = inbox(4);
    let (counter, waker) = waker();
    let mut cx = Context::from_waker(&waker);
    let mut second = tx.clone();
    tx.try_send(1).unwrap();
    // Dropping a sender hands over what it staged.
    drop(tx);
    second.try_send(2).unwrap();
    assert!(second.flush());
    assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(1)));
    assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(2)));
    assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
    drop(second);
    assert_eq!(
        woken(&counter),
        1,
        "the last sender's drop wakes the reader"
    );
    assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(None));
}

#[test]
fn a_dropped_reader_closes_the_queue_and_frees_a_waiting_sender() {
    let (mut tx, rx) = inbox(1);
    let (sender_wakes, sender) = waker();
    let mut scx = Context::from_waker(&sender);
    tx.try_send(Arc::new(0)).unwrap();
    let item = Arc::new(1);
    let mut pending = Some(item.clone());
    assert_eq!(tx.poll_send(&mut scx, &mut pending), Poll::Pending);
    drop(rx);
    assert_eq!(woken(&sender_wakes), 1);
    assert_eq!(tx.poll_send(&mut scx, &mut pending), Poll::Ready(false));
    drop(pending);
    assert_eq!(
        Arc::strong_count(&item),
        1,
        "nothing is kept for a reader that is gone"
    );
    assert!(matches!(
        tx.try_send(Arc::new(2)),
        Err(TrySendError::Closed(_))
    ));
    assert!(!tx.flush());
}
