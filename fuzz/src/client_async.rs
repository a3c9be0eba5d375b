//! Harness of the fuzz target `client_async`: the whole async client (API and driver) on the
//! deterministic `SimRuntime`, against the simulated broker, with the run chosen by the input.
//!
//! The input (via `arbitrary`) picks the seed-like parameters (client bounds and protocol
//! versions from a seed, broker persistence, window, held acks, filters a policy refuses after
//! a restart), the long-lived subscriptions, and a sequence of steps on a virtual timeline:
//! advance time, publish at QoS 0/1/2 (in order or detached, some with a topic alias),
//! subscribe then read some messages and unsubscribe or drop it, network faults (cut, stall,
//! restart, refused connects, hung connect, latency spike, broker kick); and when the
//! application disconnects (the steps end there: the run settles, publishes a final burst and
//! disconnects gracefully). The
//! run is the one of the whole-client simulation (`jamey_mqtt_sim::whole`), so are the
//! invariants, checked after it: every request resolved within bounded virtual time, no
//! panic, no broker violation, no QoS 1/2 loss where the oracle says so, no illegal lifecycle
//! transition, bytes buffered within the bound. A failure panics with the report.
//!
//! `sim/tests/fuzz_client_async.rs` includes this file by path and replays the seed corpus
//! (`fuzz/corpus/client_async/seed-*`) under `cargo test`; `FUZZ_TRACE=1` prints a trace.

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use jamey_mqtt::{ProtocolVersion, QoS};
use jamey_mqtt_sim::whole::scenario::{
    Churn, PlannedPublish, Publisher, Reader, Scenario, CHURN_FILTERS, LONG_FILTERS, TOPICS,
};
use jamey_mqtt_sim::Fault;

/// At most this many steps are taken from an input (each run stays a few milliseconds).
const MAX_STEPS: usize = 48;
/// The timeline of the steps is at most this long.
const MAX_SPAN: Duration = Duration::from_secs(60);

#[derive(Debug, Arbitrary)]
struct Input {
    /// Client bounds, protocol versions, link profile, broker limits: `Scenario::new(seed)`.
    seed: u64,
    persistent: bool,
    hold_acks: bool,
    window: u8,
    readers: Vec<ReaderStep>,
    /// The application disconnects after this many steps (else after all of them): the run
    /// then settles, publishes a final burst and disconnects gracefully.
    disconnect_after: Option<u8>,
}

#[derive(Debug, Arbitrary)]
struct ReaderStep {
    filter: u8,
    qos: u8,
    /// Virtual pause (ms) after each message read.
    pause: Option<u16>,
    /// Refused by the broker's policy after a restart.
    refused: bool,
}

#[derive(Debug, Arbitrary)]
enum Step {
    Advance(u16),
    Publish {
        publisher: u8,
        topic: u8,
        qos: u8,
        pad: u16,
        alias: Option<u8>,
        detached: bool,
    },
    /// Subscribe, read up to `reads` messages, then unsubscribe or drop the subscription.
    Subscribe {
        filter: u8,
        qos: u8,
        reads: u8,
        unsubscribe: bool,
    },
    Fault(FaultStep),
}

#[derive(Debug, Arbitrary)]
enum FaultStep {
    Cut(u8),
    Stall(u8, u16),
    Restart(u16),
    RefuseConnack(u8),
    RefuseTcp(u8),
    HangConnect,
    Spike(u16, u16),
    Kick(u8),
}

fn qos(n: u8) -> QoS {
    QoS::from_u8(n % 3).expect("0..=2")
}

fn ms(n: u16, max: u64) -> Duration {
    Duration::from_millis(u64::from(n) % (max + 1))
}

impl FaultStep {
    fn fault(&self) -> Fault {
        match *self {
            FaultStep::Cut(pick) => Fault::Cut {
                pick: usize::from(pick),
            },
            FaultStep::Stall(pick, span) => Fault::Stall {
                pick: usize::from(pick),
                span: ms(span, 6_000),
            },
            FaultStep::Restart(down) => Fault::Restart {
                down: ms(down, 3_000),
            },
            FaultStep::RefuseConnack(n) => Fault::RefuseConnack {
                n: u32::from(n % 3) + 1,
            },
            FaultStep::RefuseTcp(n) => Fault::RefuseTcp {
                n: u32::from(n % 3) + 1,
            },
            FaultStep::HangConnect => Fault::HangConnect,
            FaultStep::Spike(spike, span) => Fault::Spike {
                spike: ms(spike, 8_000),
                span: ms(span, 10_000),
            },
            FaultStep::Kick(pick) => Fault::Kick {
                pick: usize::from(pick),
            },
        }
    }
}

/// The scenario an input describes.
fn scenario(input: &Input, steps: &[Step]) -> Scenario {
    let mut s = Scenario::new(input.seed);
    s.persistent = input.persistent;
    s.hold_acks = input.hold_acks;
    s.window = usize::from(input.window % 10) + 1;
    s.readers.clear();
    s.refuse_after_restart.clear();
    for r in input.readers.iter().take(3) {
        let filter = LONG_FILTERS[usize::from(r.filter) % LONG_FILTERS.len()];
        if s.readers.iter().any(|known| known.filter == filter) {
            continue;
        }
        s.readers.push(Reader {
            filter,
            qos: qos(r.qos),
            pause: r.pause.map(|p| ms(p, 300)),
        });
        if r.refused {
            s.refuse_after_restart.push(filter);
        }
    }
    let v5 = s.pub_config.mqtt.protocol == ProtocolVersion::V5;
    let mut publishers = vec![Vec::new(); 3];
    let mut churn = Vec::new();
    let mut script = Vec::new();
    let mut at = Duration::ZERO;
    let count = input
        .disconnect_after
        .map_or(MAX_STEPS, |n| usize::from(n).min(MAX_STEPS));
    for (i, step) in steps.iter().take(count).enumerate() {
        match step {
            Step::Advance(n) => at = (at + ms(*n, 5_000)).min(MAX_SPAN),
            Step::Publish {
                publisher,
                topic,
                qos: q,
                pad,
                alias,
                detached,
            } => {
                let mut text = format!("f{i}|");
                text.extend(std::iter::repeat_n('x', usize::from(*pad) % 2_500));
                publishers[usize::from(*publisher) % 3].push(PlannedPublish {
                    delay: at,
                    topic: TOPICS[usize::from(*topic) % TOPICS.len()],
                    qos: qos(*q),
                    payload: Bytes::from(text),
                    alias: alias.filter(|_| v5).map(|a| u16::from(a % 3) + 1),
                    detached: *detached,
                });
            }
            Step::Subscribe {
                filter,
                qos: q,
                reads,
                unsubscribe,
            } => churn.push(Churn {
                delay: at,
                filter: CHURN_FILTERS[usize::from(*filter) % CHURN_FILTERS.len()],
                qos: qos(*q),
                reads: usize::from(*reads % 4),
                unsubscribe: *unsubscribe,
            }),
            Step::Fault(fault) => script.push((at, fault.fault())),
        }
    }
    s.publishers = publishers
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(|publishes| Publisher { publishes })
        .collect();
    s.churn = churn;
    // Faults at the last instant still come before the span ends.
    s.fault_span = at + Duration::from_millis(1);
    s.script = Some(script);
    s
}

/// Runs one input; panics when an invariant breaks.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(input) = Input::arbitrary(&mut u) else {
        return;
    };
    // Steps one after another until the input runs out (not a length-prefixed list, so that
    // every byte left is a step).
    let mut steps = Vec::new();
    while !u.is_empty() && steps.len() < MAX_STEPS {
        match Step::arbitrary(&mut u) {
            Ok(step) => steps.push(step),
            Err(_) => break,
        }
    }
    let scenario = scenario(&input, &steps);
    let trace = std::env::var_os("FUZZ_TRACE").is_some();
    if let Err(report) = jamey_mqtt_sim::whole::simulate(&scenario, trace) {
        panic!("{report}");
    }
}
