//! The one subscription table: which subscriptions an incoming message goes to, what happens to
//! a message that matches none, and how each subscription ends (refused, unsubscribed, refused
//! again after a session loss, dropped by the application).

mod support;

use std::time::Duration;

use bytes::Bytes;
use jamey_mqtt_core::packet::{Packet, Publish, PublishProperties, QoS, ReasonCode};
use jamey_mqtt_core::packet::{SubscribeFilter, Unsubscribe};
use jamey_mqtt_core::{ClientConfig, Event, SubscriptionEnd, SubscriptionId, Token};
use support::Pair;

fn config() -> ClientConfig {
    ClientConfig {
        client_id: "routing".into(),
        keep_alive: Duration::from_secs(10),
        unmatched_capacity: 2,
        ..ClientConfig::default()
    }
}

fn message(topic: &str, payload: &'static [u8]) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: topic.into(),
        pkid: 0,
        payload: Bytes::from_static(payload),
        properties: PublishProperties::default().into(),
    })
}

/// Subscribes `filter` and the broker grants it; the events of that are taken.
fn subscribe(pair: &mut Pair, filter: &str) -> SubscriptionId {
    let token = subscribe_pending(pair, filter);
    let pkid = pair.expect_subscribe().pkid;
    pair.suback(pkid, vec![ReasonCode::GRANTED_QOS_1]);
    pair.take_events();
    SubscriptionId::new(token, 0)
}

fn subscribe_pending(pair: &mut Pair, filter: &str) -> Token {
    let token = pair
        .client
        .subscribe(
            pair.now,
            vec![SubscribeFilter::new(filter, QoS::AtLeastOnce)],
        )
        .expect("subscribe admitted");
    pair.drive();
    token
}

/// The messages among `events`: (payload, the subscriptions it went to).
fn deliveries(events: &[Event]) -> Vec<(Bytes, Vec<SubscriptionId>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message {
                message,
                subscriptions,
            } => Some((message.payload.clone(), subscriptions.to_vec())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_message_carries_the_ids_of_every_subscription_it_matches_and_only_those() {
    let mut pair = Pair::connected(config());
    let all = subscribe(&mut pair, "s/#");
    let one = subscribe(&mut pair, "s/+/t");
    let other = subscribe(&mut pair, "x/#");
    pair.send(message("s/a/t", b"both"));
    pair.send(message("s/b", b"wide"));
    let got = deliveries(&pair.take_events());
    assert_eq!(
        got,
        vec![
            (Bytes::from_static(b"both"), vec![all, one]),
            (Bytes::from_static(b"wide"), vec![all]),
        ]
    );
    assert!(got.iter().all(|(_, ids)| !ids.contains(&other)));
}

#[test]
fn unmatched_messages_wait_bounded_and_go_to_the_first_subscription_that_matches() {
    let mut pair = Pair::connected(config());
    // A resumed session delivers before the application subscribed again: nothing matches.
    pair.send(message("a/1", b"first"));
    pair.send(message("b/1", b"other"));
    pair.send(message("a/2", b"third"));
    assert!(deliveries(&pair.take_events()).is_empty());
    // Capacity 2: the oldest was dropped, and counted.
    assert_eq!(pair.client.stats().messages_unmatched, 3);
    assert_eq!(pair.client.stats().messages_unmatched_dropped, 1);
    assert_eq!(pair.client.health().unmatched_buffered, 2);
    // The first matching subscription gets what waited for it once the broker granted it,
    // right after the SUBACK's answer (the application has its stream by then).
    let token = subscribe_pending(&mut pair, "a/#");
    assert!(deliveries(&pair.take_events()).is_empty());
    let pkid = pair.expect_subscribe().pkid;
    pair.suback(pkid, vec![ReasonCode::GRANTED_QOS_1]);
    let events = pair.take_events();
    assert!(
        matches!(events.first(), Some(Event::Subscribed { .. })),
        "{events:?}"
    );
    let id = SubscriptionId::new(token, 0);
    assert_eq!(
        deliveries(&events),
        vec![(Bytes::from_static(b"third"), vec![id])]
    );
    assert_eq!(pair.client.health().unmatched_buffered, 1);
    // A second matching subscription finds nothing left: each message is delivered once.
    subscribe(&mut pair, "a/2");
    assert!(deliveries(&pair.take_events()).is_empty());
    assert_eq!(pair.client.health().unmatched_buffered, 1);
}

#[test]
fn a_message_before_the_suback_waits_for_the_grant_and_goes_to_granted_overlaps_at_once() {
    let mut pair = Pair::connected(config());
    let wide = subscribe(&mut pair, "o/#");
    let token = subscribe_pending(&mut pair, "o/narrow");
    let pkid = pair.expect_subscribe().pkid;
    // The broker may publish before its SUBACK: the granted overlap gets it, the pending one
    // (whose stream the application does not have yet) does not.
    pair.send(message("o/narrow", b"early"));
    pair.send(message("x/only", b"waits"));
    assert_eq!(
        deliveries(&pair.take_events()),
        vec![(Bytes::from_static(b"early"), vec![wide])]
    );
    pair.suback(pkid, vec![ReasonCode::GRANTED_QOS_1]);
    pair.take_events();
    pair.send(message("o/narrow", b"late"));
    assert_eq!(
        deliveries(&pair.take_events()),
        vec![(
            Bytes::from_static(b"late"),
            vec![wide, SubscriptionId::new(token, 0)]
        )]
    );
}

#[test]
fn unsubscribe_ends_the_subscriptions_of_that_filter_when_asked_and_not_later_ones() {
    let mut pair = Pair::connected(config());
    let first = subscribe(&mut pair, "u/#");
    let keep = subscribe(&mut pair, "k/#");
    let token = pair
        .client
        .unsubscribe(pair.now, vec!["u/#".into()])
        .unwrap();
    pair.drive();
    // It ends when the application asks: a stream it stopped reading cannot hold the
    // UNSUBACK back.
    assert_eq!(
        pair.take_events(),
        vec![Event::SubscriptionEnded {
            id: first,
            end: SubscriptionEnd::Unsubscribed
        }]
    );
    let pkid = match pair.take_sent().as_slice() {
        [Packet::Unsubscribe(Unsubscribe { pkid, .. })] => *pkid,
        other => panic!("expected UNSUBSCRIBE, got {other:?}"),
    };
    // Subscribed again before the UNSUBACK: that one is not ended by it.
    let again = subscribe(&mut pair, "u/#");
    pair.send(Packet::UnsubAck(jamey_mqtt_core::packet::UnsubAck {
        pkid,
        reasons: vec![],
        properties: Default::default(),
    }));
    assert_eq!(
        pair.take_events(),
        vec![Event::Unsubscribed {
            token,
            results: vec![Ok(())]
        }]
    );
    pair.send(message("u/x", b"later"));
    pair.send(message("k/x", b"kept"));
    assert_eq!(
        deliveries(&pair.take_events()),
        vec![
            (Bytes::from_static(b"later"), vec![again]),
            (Bytes::from_static(b"kept"), vec![keep]),
        ]
    );
}

#[test]
fn a_resubscription_the_broker_refuses_ends_those_subscriptions_with_the_reason() {
    let mut pair = Pair::connected(config());
    let refused = subscribe(&mut pair, "r/#");
    let granted = subscribe(&mut pair, "g/#");
    pair.cut();
    pair.reconnect(false);
    let resubscribe = match pair.take_sent().as_slice() {
        [Packet::Subscribe(s)] => s.clone(),
        other => panic!("expected the re-SUBSCRIBE, got {other:?}"),
    };
    let filters: Vec<&str> = resubscribe
        .filters
        .iter()
        .map(|f| f.filter.as_str())
        .collect();
    assert_eq!(filters, ["r/#", "g/#"]);
    pair.take_events();
    pair.suback(
        resubscribe.pkid,
        vec![ReasonCode::UNSPECIFIED_ERROR, ReasonCode::GRANTED_QOS_1],
    );
    let events = pair.take_events();
    assert!(
        events.contains(&Event::SubscriptionEnded {
            id: refused,
            end: SubscriptionEnd::ResubscribeRefused(ReasonCode::UNSPECIFIED_ERROR),
        }),
        "{events:?}"
    );
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::SubscriptionEnded { id, .. } if *id == granted)));
    // The refused filter is not subscribed again after the next session loss.
    pair.cut();
    pair.reconnect(false);
    match pair.take_sent().as_slice() {
        [Packet::Subscribe(s)] => assert_eq!(s.filters.len(), 1),
        other => panic!("expected the re-SUBSCRIBE, got {other:?}"),
    }
}

#[test]
fn a_dropped_subscription_gets_nothing_more_and_is_not_subscribed_again() {
    let mut pair = Pair::connected(config());
    let dropped = subscribe(&mut pair, "d/#");
    pair.client.drop_subscription(dropped);
    pair.send(message("d/x", b"nobody"));
    assert!(deliveries(&pair.take_events()).is_empty());
    assert_eq!(pair.client.health().unmatched_buffered, 1);
    pair.cut();
    pair.reconnect(false);
    assert!(
        !pair
            .take_sent()
            .iter()
            .any(|p| matches!(p, Packet::Subscribe(_))),
        "a dropped subscription must not be subscribed again"
    );
}

#[test]
fn after_a_session_loss_nothing_is_routed_until_the_new_session_grants_the_filter_again() {
    let mut pair = Pair::connected(config());
    let kept = subscribe(&mut pair, "k/#");
    let refused = subscribe(&mut pair, "k/+/r");
    pair.cut();
    pair.reconnect(false);
    let resubscribe = match pair.take_sent().as_slice() {
        [Packet::Subscribe(s)] => s.clone(),
        other => panic!("expected the re-SUBSCRIBE, got {other:?}"),
    };
    pair.take_events();
    // Before the answer: the new session may refuse either filter, so neither gets it yet.
    pair.send(message("k/x/r", b"early"));
    assert!(deliveries(&pair.take_events()).is_empty());
    pair.suback(
        resubscribe.pkid,
        vec![ReasonCode::GRANTED_QOS_1, ReasonCode::UNSPECIFIED_ERROR],
    );
    let events = pair.take_events();
    // The granted filter gets what waited; the refused one ends and never saw it.
    assert_eq!(
        deliveries(&events),
        vec![(Bytes::from_static(b"early"), vec![kept])]
    );
    assert!(events.contains(&Event::SubscriptionEnded {
        id: refused,
        end: SubscriptionEnd::ResubscribeRefused(ReasonCode::UNSPECIFIED_ERROR),
    }));
}

#[test]
fn an_unsubscribe_refused_for_a_full_queue_still_ends_its_streams() {
    let mut pair = Pair::connected(ClientConfig {
        max_queued: 1,
        max_inflight: 1,
        ..config()
    });
    let stream = subscribe(&mut pair, "full/#");
    // The broker does not answer: one request in flight, one queued, the queue is full.
    for _ in 0..2 {
        pair.client
            .publish(
                pair.now,
                jamey_mqtt_core::PublishRequest::new("x", "p", QoS::AtLeastOnce),
            )
            .unwrap();
        pair.drive();
    }
    let refused = pair.client.unsubscribe(pair.now, vec!["full/#".into()]);
    assert!(
        matches!(refused, Err(jamey_mqtt_core::ClientError::QueueFull { .. })),
        "{refused:?}"
    );
    pair.drive();
    // The stream ends anyway: one the application stopped reading cannot hold back the
    // reading of the acks that would free the queue.
    assert_eq!(
        pair.take_events(),
        vec![Event::SubscriptionEnded {
            id: stream,
            end: SubscriptionEnd::Unsubscribed
        }]
    );
    pair.send(message("full/x", b"later"));
    assert!(deliveries(&pair.take_events()).is_empty());
}
