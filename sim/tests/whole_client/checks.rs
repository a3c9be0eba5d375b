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
//! - bytes buffered never beyond the bound; the broker saw no violation.

use std::collections::BTreeMap;

use bytes::Bytes;
use jamey_mqtt::core::topic::{TopicFilter, TopicName};
use jamey_mqtt::QoS;
use jamey_mqtt_sim::broker::Broker;

use crate::record::{Outcome, Record};
use crate::run::Finish;
use crate::scenario::{Scenario, SUB_ID};
use crate::tasks::short;

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
    check_subscriber(scenario, record, broker, &mut failures);
    let clients = [
        ("publisher", &scenario.pub_config, &finish.publisher),
        ("subscriber", &scenario.sub_config, &finish.subscriber),
    ];
    for (name, config, stats) in clients {
        let Some(stats) = stats else {
            continue;
        };
        let bound = scenario.buffer_bound(&config.mqtt);
        let high = stats.core.buffered_bytes_high_water;
        if high > bound {
            failures.push(format!(
                "{name}: {high} bytes buffered at the peak, over the bound {bound} \
                 (max_buffered_bytes {})",
                config.mqtt.max_buffered_bytes
            ));
        }
    }
    failures
}

fn check_subscriber(
    scenario: &Scenario,
    record: &Record,
    broker: &Broker,
    failures: &mut Vec<String>,
) {
    let topics: BTreeMap<&Bytes, &str> = record
        .publishes
        .iter()
        .map(|p| (&p.payload, p.topic))
        .collect();
    let owed = broker.oracle.owed.get(SUB_ID);
    let exactly_once = scenario.exactly_once();
    for (i, reader) in scenario.readers.iter().enumerate() {
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
            let count = counts.entry(&m.payload).or_default();
            count.0 += 1;
            count.1 += u32::from(m.qos == QoS::ExactlyOnce);
        }
        for payload in owed.into_iter().flatten() {
            let Some(topic) = topics.get(payload) else {
                continue;
            };
            if matches(topic) && !counts.contains_key(payload) {
                failures.push(format!(
                    "{} was routed into {SUB_ID}'s session at QoS >= 1 and never reached the \
                     subscription {:?}",
                    short(payload),
                    reader.filter
                ));
            }
        }
        for (payload, topic) in &topics {
            if !matches(topic) {
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
            if exactly_once && count != 1 {
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
}
