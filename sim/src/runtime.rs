//! [`SimRuntime`]: the [`jamey_mqtt::Runtime`] of the simulation. It joins the virtual clock,
//! the FIFO executor and the simulated network, and runs them with [`SimRuntime::block_on`]:
//! run every task woken; when none is, handle what the network has due now; when nothing is
//! due, move the clock to the next timer or network event. Nothing runnable and nothing
//! scheduled while the main future waits is a deadlock, reported as [`SimError::Deadlock`].

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::broker::Broker;
use crate::clock::{Clock, Sleep};
use crate::executor::{Executor, MAIN};
use crate::faults::Fault;
use crate::link::LinkProfile;
use crate::net::Network;
use crate::stream::{self, SimStream};

/// Polls at one virtual instant beyond which the run is a livelock (tasks waking each other
/// forever without time moving).
const MAX_POLLS_PER_INSTANT: u64 = 1_000_000;

/// The state behind one lock: time and the network (the executor has its own locks, so that
/// waking a task never needs this one).
pub(crate) struct World {
    pub clock: Clock,
    pub net: Network,
}

pub(crate) struct Shared {
    world: Mutex<World>,
    pub executor: Executor,
}

impl Shared {
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Why [`SimRuntime::block_on`] gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimError {
    /// The main future waits, no task can run and no timer or network event is scheduled.
    Deadlock { at: Duration, tasks: usize },
    /// The main future did not finish within the virtual time limit.
    TimeLimit { at: Duration },
    /// Tasks kept waking each other without the clock moving.
    Livelock { at: Duration },
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimError::Deadlock { at, tasks } => write!(
                f,
                "deadlock at {at:?}: the main future waits, {tasks} tasks, nothing runnable \
                 and no timer or network event scheduled"
            ),
            SimError::TimeLimit { at } => write!(f, "virtual time limit reached at {at:?}"),
            SimError::Livelock { at } => write!(
                f,
                "livelock at {at:?}: {MAX_POLLS_PER_INSTANT} polls without time moving"
            ),
        }
    }
}

/// A deterministic simulated runtime: virtual clock, single-threaded FIFO executor, in-memory
/// faulty network to the simulated broker. Cheap to clone (a shared handle).
#[derive(Clone)]
pub struct SimRuntime {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SimRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimRuntime")
            .field("elapsed", &self.elapsed())
            .finish()
    }
}

impl SimRuntime {
    /// A runtime whose network draws its randomness (latency, splits, faults) from `rng`.
    pub fn new(rng: fastrand::Rng, broker: Broker, profile: LinkProfile) -> SimRuntime {
        SimRuntime {
            shared: Arc::new(Shared {
                world: Mutex::new(World {
                    clock: Clock::new(),
                    net: Network::new(rng, broker, profile),
                }),
                executor: Executor::default(),
            }),
        }
    }

    /// Prints network events and faults with their virtual time.
    pub fn trace(&self, on: bool) {
        let mut world = self.shared.world();
        world.net.trace = on.then(|| world.clock.start());
    }

    /// Access to the network and the broker (oracle, violations, faults, profiles).
    pub fn with_net<T>(&self, f: impl FnOnce(&mut Network) -> T) -> T {
        f(&mut self.shared.world().net)
    }

    /// Starts the fault plan now, for `span`, about one fault per `mean_gap`.
    pub fn start_faults(&self, span: Duration, mean_gap: Duration) {
        let mut world = self.shared.world();
        let now = world.clock.now();
        world.net.start_faults(now, span, mean_gap);
    }

    /// Injects `fault` now (a scripted fault, outside any plan).
    pub fn inject(&self, fault: Fault) {
        let mut wake = Vec::new();
        {
            let mut world = self.shared.world();
            let now = world.clock.now();
            world.net.apply_fault(now, fault, &mut wake);
        }
        for waker in wake {
            waker.wake();
        }
    }

    /// Stops the faults now: a calm link, nothing refused (what was injected stays done).
    pub fn stop_faults(&self) {
        let mut world = self.shared.world();
        let now = world.clock.now();
        world.net.stop_faults(now);
    }

    /// Virtual time since the runtime was made.
    pub fn elapsed(&self) -> Duration {
        self.shared.world().clock.elapsed()
    }

    /// A future that completes after `duration` of virtual time.
    pub fn sleep(&self, duration: Duration) -> Sleep {
        let deadline = jamey_mqtt::Runtime::now(self) + duration;
        Sleep::new(self.shared.clone(), deadline)
    }

    /// Runs `future` and every task spawned meanwhile until `future` completes, within `limit`
    /// of virtual time. The tasks still running then are dropped.
    pub fn block_on<T>(
        &self,
        future: impl Future<Output = T>,
        limit: Duration,
    ) -> Result<T, SimError> {
        let result = self.run(future, limit);
        self.shared.executor.shutdown();
        result
    }

    fn run<T>(&self, future: impl Future<Output = T>, limit: Duration) -> Result<T, SimError> {
        let mut future = pin!(future);
        let executor = &self.shared.executor;
        let main = executor.waker(MAIN);
        main.wake_by_ref();
        let deadline = self.shared.world().clock.now() + limit;
        let mut steps = 0u64;
        loop {
            steps += 1;
            if steps > MAX_POLLS_PER_INSTANT {
                return Err(SimError::Livelock { at: self.elapsed() });
            }
            if let Some(id) = executor.next_ready() {
                if id == MAIN {
                    if let Poll::Ready(value) =
                        future.as_mut().poll(&mut Context::from_waker(&main))
                    {
                        return Ok(value);
                    }
                } else {
                    executor.poll_task(id);
                }
                continue;
            }
            // Nothing runnable: what the network has due now, else the next instant.
            let wakers = {
                let mut world = self.shared.world();
                let now = world.clock.now();
                let mut wakers = world.net.process(now);
                if wakers.is_empty() {
                    let next = [world.clock.next_deadline(), world.net.next_at()]
                        .into_iter()
                        .flatten()
                        .min();
                    let Some(next) = next else {
                        return Err(SimError::Deadlock {
                            at: world.clock.elapsed(),
                            tasks: executor.task_count(),
                        });
                    };
                    if next > deadline {
                        return Err(SimError::TimeLimit {
                            at: world.clock.elapsed(),
                        });
                    }
                    if next > now {
                        steps = 0;
                    }
                    wakers = world.clock.advance(next);
                    wakers.extend(world.net.process(next));
                }
                wakers
            };
            for waker in wakers {
                waker.wake();
            }
        }
    }
}

impl jamey_mqtt::Runtime for SimRuntime {
    type Tcp = SimStream;
    type Sleep = Sleep;

    fn connect_tcp(
        &self,
        _host: &str,
        _port: u16,
    ) -> impl Future<Output = io::Result<SimStream>> + Send {
        stream::connect(self.shared.clone())
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep::new(self.shared.clone(), deadline)
    }

    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.shared.executor.spawn(future);
    }

    fn now(&self) -> Instant {
        self.shared.world().clock.now()
    }
}
