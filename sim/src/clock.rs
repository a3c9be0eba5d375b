//! The virtual clock and its timers: time moves only when the executor finds nothing to run
//! and jumps to the earliest deadline. No real clock is read except once, for the base instant.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::runtime::Shared;

/// Virtual time and the wakers of the timers armed on it.
#[derive(Debug)]
pub(crate) struct Clock {
    start: Instant,
    now: Instant,
    /// (deadline, timer id) -> the waker of the sleeping task.
    timers: BTreeMap<(Instant, u64), Waker>,
    next_id: u64,
}

/// The instant virtual time starts from: the one read of the real clock. Also the origin for
/// tests of the sans-IO core, which never reads a clock itself.
pub fn origin() -> Instant {
    Instant::now()
}

impl Clock {
    pub fn new() -> Clock {
        let start = origin();
        Clock {
            start,
            now: start,
            timers: BTreeMap::new(),
            next_id: 0,
        }
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    pub fn start(&self) -> Instant {
        self.start
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    pub fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Arms (or re-arms) timer `id` at `deadline`.
    pub fn arm(&mut self, deadline: Instant, id: u64, waker: &Waker) {
        self.timers.insert((deadline, id), waker.clone());
    }

    pub fn disarm(&mut self, deadline: Instant, id: u64) {
        self.timers.remove(&(deadline, id));
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.keys().next().map(|(at, _)| *at)
    }

    /// Moves the clock to `to` (never backwards) and returns the wakers of the timers due.
    pub fn advance(&mut self, to: Instant) -> Vec<Waker> {
        self.now = self.now.max(to);
        let mut due = Vec::new();
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            due.push(entry.remove());
        }
        due
    }
}

/// A future that completes when the virtual clock reaches its deadline.
pub struct Sleep {
    shared: Arc<Shared>,
    deadline: Instant,
    id: Option<u64>,
}

impl Sleep {
    pub(crate) fn new(shared: Arc<Shared>, deadline: Instant) -> Sleep {
        Sleep {
            shared,
            deadline,
            id: None,
        }
    }
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut world = this.shared.world();
        if world.clock.now() >= this.deadline {
            if let Some(id) = this.id.take() {
                world.clock.disarm(this.deadline, id);
            }
            return Poll::Ready(());
        }
        let id = match this.id {
            Some(id) => id,
            None => {
                let id = world.clock.new_id();
                this.id = Some(id);
                id
            }
        };
        world.clock.arm(this.deadline, id, cx.waker());
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.shared.world().clock.disarm(self.deadline, id);
        }
    }
}
