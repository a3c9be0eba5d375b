//! The invariants checked after a seed ran, against the broker's oracle (the rules of
//! core/tests/simulation.rs points 1-4 and 6, seen through the async API):
//!
//! - every publish resolved, and none failed once accepted (nothing asks to drop anything),
//!   except a QoS 0 publish reported `NotWritten` when a connection ended under faults;
//! - every QoS >= 1 publish that resolved Ok reached the broker; so did every publish of the
//!   final burst accepted before `disconnect()`, QoS 0 included (a healthy link);
//! - every QoS >= 1 message the broker routed into the subscriber's surviving session reached
//!   every long-lived subscription whose filter matches it;
//! - QoS 2: exactly once per subscription when broker and publisher both keep their sessions;
//!   otherwise never more often at QoS 2 than the broker sent it at QoS 2;
//! - a long-lived subscription whose re-subscription the broker refused ends with exactly one
//!   `SubscriptionEnded { end: ResubscribeRefused }` item, its last (`tasks.rs`), and carries
//!   no message the broker accepted after the refusal; one never refused never ends so;
//! - once settled, the subscriber's live session at the broker holds every filter the
//!   application still holds, and nothing else but filters of dropped subscriptions
//!   ([`settled_subscriptions`]);
//! - a restarted subscriber (a fresh process resuming the session, [`check_resumed`]): every
//!   message the session delivered before the new process subscribed again reached the first
//!   matching subscription it made, unless dropped from the full unmatched buffer, and then
//!   counted (`messages_unmatched_dropped`), and only beyond `unmatched_capacity`;
//! - every client process, read once the run ended (after the final burst and the close):
//!   bytes buffered never beyond the documented bound ([`Scenario::buffer_bound`]); no illegal
//!   lifecycle transition; the broker saw no violation.

use std::collections::{BTreeMap, BTreeSet};

use crate::broker::Broker;
use bytes::Bytes;
use jamey_mqtt::QoS;
use jamey_mqtt_core::topic::{TopicFilter, TopicName};

use crate::whole::record::{Outcome, Record};
use crate::whole::run::{Finish, Process};
use crate::whole::scenario::{Scenario, SUB_ID};
use crate::whole::tasks::short;

pub fn check(
    scenario: &Scenario,
    record: &Record,
    broker: &Broker,
    finish: &Finish,
) -> Vec<String> {
    let mut failures = record.failures.clone();
    for v in &broker.violations {
        failures.push(format!("broker: {v}"));
    }
    let accepted = &broker.oracle.accepted;
    for p in &record.publishes {
        let tag = short(&p.payload);
        match &p.outcome {
            Outcome::Ok if p.qos != QoS::AtMostOnce && !accepted.contains_key(&p.payload) => {
                failures.push(format!(
                    "publish {tag} ({:?}) resolved Ok but never reached the broker",
                    p.qos
                ));
            }
            Outcome::Failed(e) => failures.push(format!("publish {tag} ({:?}) failed: {e}", p.qos)),
            Outcome::NotWritten if p.qos != QoS::AtMostOnce => {
                failures.push(format!("publish {tag} ({:?}) failed as not written", p.qos))
            }
            _ => {}
        }
        let refused = matches!(p.outcome, Outcome::Refused(_));
        if p.burst && !refused && !accepted.contains_key(&p.payload) {
            failures.push(format!(
                "publish {tag} ({:?}, {:?}) accepted before disconnect() on a healthy link never \
                 reached the broker",
                p.qos, p.outcome
            ));
        }
    }
    // QoS 2 duplicates the subscriber processes suppressed (see `check_subscriber`).
    let suppressed = finish
        .processes
        .iter()
        .filter(|p| !p.publisher)
        .filter_map(|p| p.counters.get("mqtt_duplicates_suppressed_total"))
        .sum();
    check_subscriber(scenario, record, broker, suppressed, &mut failures);
    check_resumed(scenario, record, broker, &mut failures);
    for name in ["publisher", "subscriber"] {
        if !finish.processes.iter().any(|p| p.name == name) {
            failures.push(format!("no counters from the {name} process"));
        }
    }
    if scenario.restart().is_some() && finish.processes.len() != 3 {
        failures.push(format!(
            "a subscriber restart, and {} client processes",
            finish.processes.len()
        ));
    }
    for process in &finish.processes {
        check_process(scenario, process, &mut failures);
    }
    failures
}

/// A client process's counters, read from its metrics once it closed: no illegal lifecycle
/// transition, and the most bytes it ever buffered within the bound.
fn check_process(scenario: &Scenario, process: &Process, failures: &mut Vec<String>) {
    let name = process.name;
    let counters = &process.counters;
    let mut counter = |metric: &str| {
        let value = counters.get(metric).copied();
        if value.is_none() {
            failures.push(format!(
                "{name}: no metric {metric} (have {:?})",
                counters.keys()
            ));
        }
        value
    };
    let illegal = counter("mqtt_illegal_transitions_total");
    let high = counter("mqtt_buffered_high_water_bytes");
    if let Some(n @ 1..) = illegal {
        failures.push(format!("{name}: {n} illegal lifecycle transitions"));
    }
    let config = if process.publisher {
        &scenario.pub_config
    } else {
        &scenario.sub_config
    };
    let bound = scenario.buffer_bound(&config.mqtt);
    if let Some(high) = high.filter(|high| *high > bound) {
        failures.push(format!(
            "{name}: {high} bytes buffered at the peak, over the bound {bound} \
             (max_buffered_bytes {}, max_inflight {})",
            config.mqtt.max_buffered_bytes, config.mqtt.max_inflight
        ));
    }
}

/// With a subscriber restart: the messages published while no subscriber process was
/// connected (`Record::resumed`) that the broker routed into the session at QoS >= 1. Each
/// one that matches a long-lived filter reached the first subscription the fresh process made
/// that matches it (the readers subscribe in order, each awaited: a message waiting in the
/// unmatched buffer goes to the first grant that matches it, and one arriving later goes to
/// every subscription granted by then, the first among them), except those the full
/// unmatched buffer dropped: no more are missing than `messages_unmatched_dropped` counted,
/// and nothing is dropped before the buffer held `unmatched_capacity` messages.
pub fn check_resumed(
    scenario: &Scenario,
    record: &Record,
    broker: &Broker,
    failures: &mut Vec<String>,
) {
    if scenario.restart().is_none() {
        return;
    }
    let Some(restarted) = record.restarted else {
        failures.push("a subscriber restart without the fresh process's counters".into());
        return;
    };
    let owed = broker.oracle.owed.get(SUB_ID);
    let topics: BTreeMap<&Bytes, &str> = record
        .publishes
        .iter()
        .map(|p| (&p.payload, p.topic))
        .collect();
    let mut delivered = 0u64;
    let mut missing = Vec::new();
    for payload in owed
        .into_iter()
        .flatten()
        .filter(|p| record.resumed.contains(*p))
    {
        delivered += 1;
        let Some(topic) = topics.get(payload) else {
            continue;
        };
        let name = TopicName::new(*topic).expect("valid topic");
        let first = scenario.readers.iter().position(|r| {
            TopicFilter::new(r.filter)
                .expect("valid filter")
                .matches(&name)
        });
        let Some(first) = first else {
            continue;
        };
        let got = record
            .received
            .get(first)
            .is_some_and(|r| r.iter().any(|m| m.payload == *payload));
        if !got {
            missing.push(short(payload));
        }
    }
    let dropped = restarted.unmatched_dropped;
    if missing.len() as u64 > dropped {
        failures.push(format!(
            "restart: {} messages of the resumed session never reached their first matching \
             subscription ({missing:?}), {dropped} counted as dropped",
            missing.len()
        ));
    }
    if dropped > 0 && restarted.unmatched < restarted.capacity as u64 + dropped {
        failures.push(format!(
            "restart: {dropped} unmatched messages dropped, but only {} arrived unmatched \
             (capacity {})",
            restarted.unmatched, restarted.capacity
        ));
    }
    // The session delivers at once after CONNACK, before the new SUBSCRIBE is even sent.
    if delivered > 0 && restarted.unmatched == 0 {
        failures.push(format!(
            "restart: the resumed session delivered {delivered} messages, none waited unmatched"
        ));
    }
}

/// `suppressed`: the QoS 2 duplicates the subscriber suppressed. After a blind resume (the
/// broker forgot the session and the CONNACK saying so was lost, see
/// [`settled_subscriptions`]) the client keeps the packet ids of the forgotten session's QoS 2
/// messages waiting for PUBREL; the new session starts its packet ids over, so a new QoS 2
/// message under such an id looks like a duplicate, and MQTT gives the client no way to tell.
/// A QoS 2 message owed but missing everywhere is excused then, as long as no more are
/// missing than duplicates were counted.
fn check_subscriber(
    scenario: &Scenario,
    record: &Record,
    broker: &Broker,
    suppressed: u64,
    failures: &mut Vec<String>,
) {
    let blind = subscriber_blind_resumes(broker);
    let routed_qos2 = |payload: &Bytes| {
        broker
            .oracle
            .routed_qos2
            .contains_key(&(SUB_ID.to_owned(), payload.clone()))
    };
    let mut excused: BTreeSet<&Bytes> = BTreeSet::new();
    let topics: BTreeMap<&Bytes, &str> = record
        .publishes
        .iter()
        .map(|p| (&p.payload, p.topic))
        .collect();
    let owed = broker.oracle.owed.get(SUB_ID);
    let exactly_once = scenario.exactly_once();
    // Where each payload was first and last accepted (a publisher may send a message again
    // as new after a session loss: the broker then accepts it twice).
    let mut accepted_at: BTreeMap<&Bytes, (usize, usize)> = BTreeMap::new();
    for (at, payload) in broker.oracle.accepted_log.iter().enumerate() {
        accepted_at.entry(payload).or_insert((at, at)).1 = at;
    }
    for (i, reader) in scenario.readers.iter().enumerate() {
        let refused_at = refused_at(broker, reader.filter);
        let ended_refused = record.refused.get(i).copied().unwrap_or(false);
        if refused_at.is_some() != ended_refused {
            failures.push(format!(
                "{:?}: re-subscription refused by the broker {}, the stream ended refused \
                 {ended_refused}",
                reader.filter,
                refused_at.is_some()
            ));
        }
        // Accepted by the broker only after it refused this filter: never for this
        // subscription.
        let only_after_refusal = |payload: &Bytes| {
            refused_at.is_some_and(|at| accepted_at.get(payload).is_none_or(|(i, _)| *i >= at))
        };
        // Accepted (again) after the refusal: routed into the session after it, so not owed to
        // this subscription.
        let again_after_refusal = |payload: &Bytes| {
            refused_at.is_some_and(|at| accepted_at.get(payload).is_none_or(|(_, i)| *i >= at))
        };
        let filter = TopicFilter::new(reader.filter).expect("valid filter");
        let matches = |topic: &str| filter.matches(&TopicName::new(topic).expect("valid topic"));
        let mut counts: BTreeMap<&Bytes, (u32, u32)> = BTreeMap::new();
        for m in record.received.get(i).into_iter().flatten() {
            match topics.get(&m.payload) {
                None => failures.push(format!(
                    "{:?} received an unknown message {:?}",
                    reader.filter,
                    short(&m.payload)
                )),
                Some(topic) if *topic != m.topic || !matches(topic) => failures.push(format!(
                    "{:?} received {} on topic {}",
                    reader.filter,
                    short(&m.payload),
                    m.topic
                )),
                Some(_) => {}
            }
            if only_after_refusal(&m.payload) {
                failures.push(format!(
                    "{:?} received {}, accepted by the broker (#{:?} of its log) only after it \
                     refused the filter (at #{:?}; refusals {:?})",
                    reader.filter,
                    short(&m.payload),
                    accepted_at.get(&m.payload),
                    refused_at,
                    broker.oracle.refusals
                ));
            }
            let count = counts.entry(&m.payload).or_default();
            count.0 += 1;
            count.1 += u32::from(m.qos == QoS::ExactlyOnce);
        }
        for payload in owed.into_iter().flatten() {
            let Some(topic) = topics.get(payload) else {
                continue;
            };
            if matches(topic)
                && !counts.contains_key(payload)
                && !again_after_refusal(payload)
                && !record.resumed.contains(payload)
            {
                let nowhere = record
                    .received
                    .iter()
                    .all(|r| r.iter().all(|m| m.payload != *payload));
                if blind > 0 && nowhere && routed_qos2(payload) {
                    excused.insert(payload);
                    continue;
                }
                failures.push(format!(
                    "{} was routed into {SUB_ID}'s session at QoS >= 1 and never reached the \
                     subscription {:?}",
                    short(payload),
                    reader.filter
                ));
            }
        }
        for (payload, topic) in &topics {
            if !matches(topic) || again_after_refusal(payload) {
                continue;
            }
            let routed = broker
                .oracle
                .routed_qos2
                .get(&(SUB_ID.to_owned(), (*payload).clone()))
                .copied()
                .unwrap_or(0);
            if routed == 0 {
                continue;
            }
            let (count, count2) = counts.get(payload).copied().unwrap_or((0, 0));
            // Resumed before the restarted process subscribed: to one subscription, or none
            // when dropped (see `check_resumed`).
            let expected = if record.resumed.contains(*payload) {
                count <= 1
            } else {
                count == 1
            };
            if exactly_once && !expected && !excused.contains(payload) {
                failures.push(format!(
                    "QoS 2 {} reached {:?} {count} times (exactly once expected; routed {routed} \
                     at QoS 2)",
                    short(payload),
                    reader.filter
                ));
            } else if count2 > routed {
                failures.push(format!(
                    "QoS 2 {} reached {:?} {count2} times at QoS 2, the broker sent it {routed}",
                    short(payload),
                    reader.filter
                ));
            }
        }
    }
    if excused.len() as u64 > suppressed {
        failures.push(format!(
            "after a blind resume, {} QoS 2 messages owed never reached any subscription, \
             {suppressed} duplicates suppressed: {:?}",
            excused.len(),
            excused.iter().map(|p| short(p)).collect::<Vec<_>>()
        ));
    }
}

/// Where in the broker's `accepted_log` it first refused the subscriber's `filter`.
fn refused_at(broker: &Broker, filter: &str) -> Option<usize> {
    broker
        .oracle
        .refusals
        .iter()
        .find(|(id, f, _)| id == SUB_ID && f == filter)
        .map(|(_, _, at)| *at)
}

/// Once the run settled (faults over, subscriber connected and idle): the subscriber's
/// session at the broker holds every filter the application still holds (the long-lived
/// ones not refused) and nothing but those and the filters of subscriptions dropped without
/// an unsubscribe (the broker keeps those until the session ends). A client that forgets a
/// filter when it re-subscribes, or re-subscribes one it was refused, fails here.
pub fn settled_subscriptions(scenario: &Scenario, record: &Record, broker: &Broker) -> Vec<String> {
    let Some(at_broker) = broker.live_subscriptions(SUB_ID) else {
        return vec![format!(
            "settled, but {SUB_ID} has no live session at the broker"
        )];
    };
    let held: BTreeSet<String> = scenario
        .readers
        .iter()
        .enumerate()
        .filter(|(i, r)| {
            // Refused: the broker said so; the stream may still hold messages before its end
            // item (a slow reader), which `check` sees once the run ended.
            !record.refused.get(*i).copied().unwrap_or(false)
                && refused_at(broker, r.filter).is_none()
        })
        .map(|(_, r)| r.filter.to_owned())
        .collect();
    let mut failures = Vec::new();
    // The CONNACK that created the session may have been lost: the client then cannot know
    // that the session it resumes is not its own.
    let blind = subscriber_blind_resumes(broker);
    for filter in held.difference(&at_broker).filter(|_| blind == 0) {
        failures.push(format!(
            "settled: the application holds {filter:?}, the broker's session does not \
             (broker: {at_broker:?})"
        ));
    }
    for filter in at_broker.difference(&held) {
        if !record.dropped.contains(filter.as_str()) {
            failures.push(format!(
                "settled: the broker's session holds {filter:?}, the application does not \
                 (held: {held:?})"
            ));
        }
    }
    failures
}

/// How often the subscriber resumed a session without knowing it was not its own (the CONNACK
/// that created it was lost).
fn subscriber_blind_resumes(broker: &Broker) -> u32 {
    broker
        .oracle
        .blind_resumes
        .get(SUB_ID)
        .copied()
        .unwrap_or(0)
}
