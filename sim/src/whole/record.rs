//! What the application tasks saw, shared between them and the checks: every publish and its
//! outcome, every message each long-lived subscription delivered, failures seen on the way.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::SimRuntime;
use bytes::Bytes;
use jamey_mqtt::QoS;

/// How a publish ended, as the application saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not resolved (yet).
    Pending,
    Ok,
    /// Refused at admission for a reason of the application's own making (too large for the
    /// broker's limit, a topic alias the broker does not accept) or a full queue not retried:
    /// never accepted. Also: admitted, then failed as too large for the limit of a broker that
    /// restarted with a smaller one.
    Refused(String),
    /// A QoS 0 publish not written when a connection ended, with no room to queue it again:
    /// the documented QoS 0 loss under faults (a failure on a healthy link).
    NotWritten,
    /// Accepted, then failed: a failure of the run.
    Failed(String),
    /// Handed to the client, the future dropped unawaited (the publisher then dropped its
    /// handle): the client took it, so it must still reach the broker.
    Taken,
}

#[derive(Debug, Clone)]
pub struct PublishRecord {
    pub payload: Bytes,
    pub topic: &'static str,
    pub qos: QoS,
    /// Made right before `disconnect()`, in a healthy phase.
    pub burst: bool,
    pub outcome: Outcome,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub payload: Bytes,
    pub topic: String,
    pub qos: QoS,
}

#[derive(Debug, Default)]
pub struct Record {
    pub publishes: Vec<PublishRecord>,
    /// Per long-lived reader, in arrival order.
    pub received: Vec<Vec<Received>>,
    /// Reader tasks started (a restarted subscriber starts one per reader again) and ended.
    pub readers_started: usize,
    pub readers_ended: usize,
    /// Per long-lived reader: its stream ended with `ResubscribeRefused` (then `None`).
    pub refused: Vec<bool>,
    /// Churn filters whose subscription was dropped without an unsubscribe: the broker may
    /// keep them until the session ends.
    pub dropped: BTreeSet<&'static str>,
    /// Publisher and churn tasks finished.
    pub tasks_done: usize,
    /// With a subscriber restart: the payloads published while no subscriber process was
    /// connected (a resumed session delivers them before the new process subscribes again).
    pub resumed: BTreeSet<Bytes>,
    /// With a subscriber restart: the new process's counters once its readers had everything.
    pub restarted: Option<Restarted>,
    pub failures: Vec<String>,
}

/// The restarted subscriber's unmatched-buffer counters (`jamey_mqtt::ClientStats`), once
/// its subscriptions were made and had received what the resumed session owed.
#[derive(Debug, Clone, Copy)]
pub struct Restarted {
    pub unmatched: u64,
    pub unmatched_dropped: u64,
    pub capacity: usize,
}

/// A handle the tasks share: the runtime (for sleeps and time) and the record.
#[derive(Clone)]
pub struct App {
    pub rt: SimRuntime,
    record: Arc<Mutex<Record>>,
    trace: bool,
}

impl App {
    pub fn new(rt: SimRuntime, trace: bool) -> App {
        App {
            rt,
            record: Arc::default(),
            trace,
        }
    }

    pub fn record(&self) -> MutexGuard<'_, Record> {
        self.record
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn tracing(&self) -> bool {
        self.trace
    }

    pub fn log(&self, what: std::fmt::Arguments<'_>) {
        if self.trace {
            eprintln!("[{:>9.3}s] app: {what}", self.rt.elapsed().as_secs_f64());
        }
    }

    pub fn fail(&self, what: String) {
        self.log(format_args!("FAILURE: {what}"));
        self.record().failures.push(what);
    }

    /// Registers a publish about to be made; returns its index.
    pub fn publishing(&self, payload: Bytes, topic: &'static str, qos: QoS, burst: bool) -> usize {
        let mut record = self.record();
        record.publishes.push(PublishRecord {
            payload,
            topic,
            qos,
            burst,
            outcome: Outcome::Pending,
        });
        record.publishes.len() - 1
    }

    pub fn resolved(&self, index: usize, outcome: Outcome) {
        self.record().publishes[index].outcome = outcome;
    }
}
