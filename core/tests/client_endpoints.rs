//! The broker list as the client applies it, on a simulated clock: which endpoint each attempt
//! opens (the core says it in `Action::Connect`), failover, MQTT 5 redirects, per-endpoint
//! counts in the stats and events, the endpoint in `ConnectionInfo`, and the session resumed
//! on another node.

mod support;

use std::time::Duration;

use jamey_mqtt_core::endpoints::RedirectRefused;
use jamey_mqtt_core::packet::{
    ConnAck, ConnAckProperties, Disconnect, DisconnectProperties, Packet, SubscribeFilter,
};
use jamey_mqtt_core::reconnect::{Jitter, ReconnectConfig};
use jamey_mqtt_core::{
    Action, BrokerOrder, Brokers, ClientConfig, ClientError, Endpoint, Event, ProtocolVersion,
    PublishRequest, QoS, ReasonCode, Redirects,
};
use support::Pair;

fn node(i: u16) -> Endpoint {
    Endpoint::new(format!("node{i}"), 1880 + i)
}

fn config(brokers: Brokers, protocol: ProtocolVersion) -> ClientConfig {
    ClientConfig {
        brokers,
        protocol,
        client_id: "endpoints".into(),
        clean_start: false,
        keep_alive: Duration::ZERO,
        reconnect: ReconnectConfig {
            initial_delay: Duration::from_millis(100),
            jitter: Jitter::None,
            max_failures: None,
            stable_after: Duration::ZERO,
            ..ReconnectConfig::default()
        },
        ..ClientConfig::default()
    }
}

fn three(protocol: ProtocolVersion) -> ClientConfig {
    config(Brokers::list(vec![node(1), node(2), node(3)]), protocol)
}

/// The endpoints of every `Action::Connect` so far.
fn opened(pair: &Pair) -> Vec<u16> {
    pair.actions
        .iter()
        .filter_map(|a| match a {
            Action::Connect(endpoint) => Some(endpoint.port),
            _ => None,
        })
        .collect()
}

fn connected_endpoint(events: &[Event]) -> Option<Endpoint> {
    events.iter().find_map(|e| match e {
        Event::Connected { info, .. } => Some(info.endpoint.clone()),
        _ => None,
    })
}

#[test]
fn attempts_go_down_the_list_and_back_to_the_first() {
    let mut pair = Pair::new(three(ProtocolVersion::V311));
    pair.down = vec![node(1), node(2)];
    pair.client.connect(pair.now);
    pair.drive();
    let connect = pair.reconnect_transport();
    assert_eq!(connect.client_id, "endpoints");
    assert_eq!(
        opened(&pair),
        [1881, 1882, 1883],
        "down the list to the live one"
    );
    pair.connack(false);
    let events = pair.take_events();
    assert_eq!(connected_endpoint(&events), Some(node(3)));
    assert_eq!(
        pair.client.connection().map(|c| c.endpoint.clone()),
        Some(node(3))
    );
    let failed: Vec<(Endpoint, u64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::EndpointFailed {
                endpoint, failures, ..
            } => Some((endpoint.clone(), *failures)),
            _ => None,
        })
        .collect();
    assert_eq!(failed, [(node(1), 1), (node(2), 1)]);

    // node3 goes down too; node1 is back: after the last comes the first.
    pair.down = vec![node(2), node(3)];
    pair.cut();
    pair.reconnect(true);
    assert_eq!(opened(&pair), [1881, 1882, 1883, 1881]);
    let stats = pair.client.endpoint_stats();
    let counts: Vec<(u64, u64, u64)> = stats
        .iter()
        .map(|s| (s.attempts, s.connections, s.failures))
        .collect();
    assert_eq!(counts, [(2, 1, 1), (1, 0, 1), (1, 1, 1)]);
    assert_eq!(
        pair.client.stats().connect_attempts,
        4,
        "one count for the list"
    );
}

#[test]
fn backoff_applies_to_the_list_as_a_whole() {
    let mut pair = Pair::new(three(ProtocolVersion::V311));
    pair.accept_connections = false;
    pair.client.connect(pair.now);
    pair.drive();
    let mut delays = Vec::new();
    for _ in 0..5 {
        pair.advance_to_deadline();
    }
    for event in pair.take_events() {
        if let Event::Reconnecting { delay, .. } = event {
            delays.push(delay.as_millis());
        }
    }
    // One backoff over the list: it keeps growing from endpoint to endpoint.
    assert_eq!(delays, [100, 200, 400, 800, 1600, 3200]);
    assert_eq!(opened(&pair), [1881, 1882, 1883, 1881, 1882, 1883]);
}

#[test]
fn shuffled_order_comes_from_the_seed() {
    let order = |seed| {
        let mut c = three(ProtocolVersion::V311);
        c.brokers.order = BrokerOrder::Shuffled;
        c.seed = seed;
        let mut pair = Pair::new(c);
        pair.accept_connections = false;
        pair.client.connect(pair.now);
        pair.drive();
        pair.advance_to_deadline();
        pair.advance_to_deadline();
        opened(&pair)
    };
    assert_eq!(order(5), order(5));
    let mut sorted = order(5);
    sorted.sort_unstable();
    assert_eq!(sorted, [1881, 1882, 1883]);
    let firsts: std::collections::HashSet<u16> = (0..16).map(|s| order(s)[0]).collect();
    assert_eq!(firsts.len(), 3, "different seeds start on different nodes");
}

#[test]
fn the_session_resumes_on_another_node_with_in_flight_replayed() {
    let mut pair = Pair::connected(three(ProtocolVersion::V311));
    let token = pair
        .client
        .publish(pair.now, PublishRequest::new("t", "m", QoS::AtLeastOnce))
        .unwrap();
    pair.drive();
    let Packet::Publish(first) = &pair.take_sent()[0] else {
        panic!("expected PUBLISH")
    };
    let pkid = first.pkid;
    // node1 dies before its PUBACK.
    pair.down = vec![node(1)];
    pair.cut();
    let connect = pair.reconnect_transport();
    assert!(!connect.clean_start, "clean_start = false resumes");
    pair.connack(true);
    let replay = pair.take_sent();
    assert!(
        matches!(&replay[..], [Packet::Publish(p)] if p.dup && p.pkid == pkid),
        "replayed on node2: {replay:?}"
    );
    assert_eq!(connected_endpoint(&pair.take_events()), Some(node(2)));
    pair.puback(pkid);
    assert!(pair
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::Published { token: t, .. } if *t == token)));
}

fn connack_redirect(code: ReasonCode, reference: &str) -> Packet {
    Packet::ConnAck(Box::new(ConnAck {
        session_present: false,
        code,
        properties: ConnAckProperties {
            server_reference: Some(reference.into()),
            ..ConnAckProperties::default()
        },
    }))
}

fn disconnect_redirect(code: ReasonCode, reference: &str) -> Packet {
    Packet::Disconnect(Disconnect {
        reason: code,
        properties: DisconnectProperties {
            server_reference: Some(reference.into()),
            ..DisconnectProperties::default()
        },
    })
}

#[test]
fn connack_use_another_server_sends_the_next_attempt_there_once() {
    let mut pair = Pair::new(three(ProtocolVersion::V5));
    pair.client.connect(pair.now);
    pair.drive();
    pair.expect_connect();
    pair.send(connack_redirect(
        ReasonCode::USE_ANOTHER_SERVER,
        "node3:1883",
    ));
    let events = pair.take_events();
    assert!(events.contains(&Event::Redirected {
        from: node(1),
        to: node(3),
        permanent: false
    }));
    pair.reconnect(false);
    assert_eq!(opened(&pair), [1881, 1883]);
    // Temporary: once node3 is lost, the list goes on where it was (node2 after node1).
    pair.cut();
    pair.reconnect(true);
    assert_eq!(opened(&pair), [1881, 1883, 1882]);
}

#[test]
fn disconnect_server_moved_replaces_the_node_for_good() {
    let mut c = three(ProtocolVersion::V5);
    c.brokers.redirects = Redirects::Any;
    let mut pair = Pair::connected(c);
    pair.send(disconnect_redirect(
        ReasonCode::SERVER_MOVED,
        "new-home:2000",
    ));
    let events = pair.take_events();
    let moved = Endpoint::new("new-home", 2000);
    assert!(events.contains(&Event::Redirected {
        from: node(1),
        to: moved.clone(),
        permanent: true
    }));
    pair.reconnect(true);
    assert_eq!(
        pair.client.connection().map(|c| c.endpoint.clone()),
        Some(moved)
    );
    // Round the list twice: node1 never comes back, new-home took its place.
    pair.down = vec![Endpoint::new("new-home", 2000), node(2), node(3)];
    pair.cut();
    for _ in 0..6 {
        pair.advance_to_deadline();
    }
    assert_eq!(
        opened(&pair)[..7],
        [1881, 2000, 1882, 1883, 2000, 1882, 1883]
    );
    let extra = &pair.client.endpoint_stats()[3];
    assert!(!extra.listed);
    assert_eq!(extra.connections, 1);
    assert!(extra.failures >= 2, "{extra:?}");
}

#[test]
fn a_redirect_outside_the_list_is_refused_unless_allowed() {
    let mut pair = Pair::connected(three(ProtocolVersion::V5));
    pair.send(disconnect_redirect(
        ReasonCode::USE_ANOTHER_SERVER,
        "attacker.example:1883",
    ));
    let events = pair.take_events();
    assert!(events.contains(&Event::RedirectRefused {
        from: node(1),
        reference: "attacker.example:1883".into(),
        refused: RedirectRefused::NotListed(Endpoint::new("attacker.example", 1883)),
    }));
    pair.reconnect(true);
    assert_eq!(opened(&pair), [1881, 1882], "the list goes on instead");
    assert_eq!(pair.client.endpoint_stats().len(), 3);
}

#[test]
fn redirects_can_be_ignored() {
    let mut c = three(ProtocolVersion::V5);
    c.brokers.redirects = Redirects::Ignore;
    let mut pair = Pair::new(c);
    pair.client.connect(pair.now);
    pair.drive();
    pair.expect_connect();
    pair.send(connack_redirect(ReasonCode::SERVER_MOVED, "node3"));
    assert!(pair.take_events().iter().any(|e| matches!(
        e,
        Event::RedirectRefused {
            refused: RedirectRefused::Ignored,
            ..
        }
    )));
    pair.reconnect(false);
    assert_eq!(opened(&pair), [1881, 1882]);
}

#[test]
fn other_refusals_and_references_without_a_redirect_code_are_plain_failures() {
    let mut pair = Pair::new(three(ProtocolVersion::V5));
    pair.client.connect(pair.now);
    pair.drive();
    pair.expect_connect();
    // A Server Reference with "server busy" is no redirect.
    pair.send(connack_redirect(ReasonCode::SERVER_BUSY, "node3"));
    let events = pair.take_events();
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::Redirected { .. } | Event::RedirectRefused { .. })));
    pair.reconnect(false);
    assert_eq!(opened(&pair), [1881, 1882]);
}

#[test]
fn shared_subscriptions_can_be_refused_by_configuration() {
    let mut c = three(ProtocolVersion::V311);
    c.shared_subscriptions = false;
    let mut pair = Pair::connected(c);
    let shared = vec![SubscribeFilter::new("$share/g/t", QoS::AtLeastOnce)];
    assert!(matches!(
        pair.client.subscribe(pair.now, shared),
        Err(ClientError::Unsupported(
            jamey_mqtt_core::Unsupported::SharedSubscriptionsDisabled
        ))
    ));
    // Ordinary filters are not concerned.
    let plain = vec![SubscribeFilter::new("t", QoS::AtLeastOnce)];
    assert!(pair.client.subscribe(pair.now, plain).is_ok());
}

#[test]
fn shared_subscriptions_go_out_on_311_by_default() {
    let mut pair = Pair::connected(three(ProtocolVersion::V311));
    let shared = vec![SubscribeFilter::new("$share/g/t", QoS::AtLeastOnce)];
    pair.client.subscribe(pair.now, shared).unwrap();
    pair.drive();
    assert_eq!(pair.expect_subscribe().filters[0].filter, "$share/g/t");
}
