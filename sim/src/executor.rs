//! The single-threaded deterministic executor: tasks run in the order they were woken (FIFO),
//! one at a time, on the thread that calls `SimRuntime::block_on`. Wakers only push a task id
//! onto the ready queue (`std::task::Wake`), so waking never runs code.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Wake, Waker};

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The id of the future given to `block_on`; spawned tasks get ids from 1.
pub(crate) const MAIN: u64 = 0;

#[derive(Default)]
struct ReadyQueue {
    order: VecDeque<u64>,
    queued: BTreeSet<u64>,
}

struct TaskWaker {
    id: u64,
    ready: Arc<Mutex<ReadyQueue>>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut ready = lock(&self.ready);
        if ready.queued.insert(self.id) {
            ready.order.push_back(self.id);
        }
    }
}

#[derive(Default)]
pub(crate) struct Executor {
    /// Spawned tasks not finished. A task being polled is taken out meanwhile.
    tasks: Mutex<BTreeMap<u64, Task>>,
    ready: Arc<Mutex<ReadyQueue>>,
    next_id: Mutex<u64>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Executor {
    pub fn waker(&self, id: u64) -> Waker {
        Waker::from(Arc::new(TaskWaker {
            id,
            ready: self.ready.clone(),
        }))
    }

    pub fn spawn(&self, future: impl Future<Output = ()> + Send + 'static) {
        let id = {
            let mut next = lock(&self.next_id);
            *next += 1;
            *next
        };
        lock(&self.tasks).insert(id, Box::pin(future));
        self.waker(id).wake();
    }

    /// The next task woken, in wake order.
    pub fn next_ready(&self) -> Option<u64> {
        let mut ready = lock(&self.ready);
        let id = ready.order.pop_front()?;
        ready.queued.remove(&id);
        Some(id)
    }

    /// Polls spawned task `id` once (a finished task's late wake-up is ignored).
    pub fn poll_task(&self, id: u64) {
        let Some(mut task) = lock(&self.tasks).remove(&id) else {
            return;
        };
        let waker = self.waker(id);
        if task
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
        {
            lock(&self.tasks).insert(id, task);
        }
    }

    /// Spawned tasks not finished.
    pub fn task_count(&self) -> usize {
        lock(&self.tasks).len()
    }

    /// Drops every task (they hold the runtime: this breaks the cycle) and the ready queue.
    pub fn shutdown(&self) {
        loop {
            let tasks = std::mem::take(&mut *lock(&self.tasks));
            if tasks.is_empty() {
                break;
            }
            // Dropped outside the lock: a task's destructor may spawn or wake.
            drop(tasks);
        }
        *lock(&self.ready) = ReadyQueue::default();
    }
}
