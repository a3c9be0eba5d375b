//! The reconnect policy as the client applies it, on a simulated clock: the events the
//! application sees, the circuit breaker's three states, giving up, and the reset on success.

mod support;

use std::time::Duration;

use jamey_mqtt_core::reconnect::{Jitter, ReconnectConfig};
use jamey_mqtt_core::{
    Action, ClientConfig, ConnectError, ConnectionState, Event, PublishRequest, QoS, RequestError,
    TransportErrorKind,
};
use support::Pair;

fn config(reconnect: ReconnectConfig) -> ClientConfig {
    ClientConfig {
        client_id: "reconnect".into(),
        keep_alive: Duration::ZERO,
        reconnect,
        ..ClientConfig::default()
    }
}

fn no_jitter() -> ReconnectConfig {
    ReconnectConfig {
        initial_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(8),
        multiplier: 2.0,
        jitter: Jitter::None,
        max_failures: Some(4),
        open_duration: Duration::from_secs(60),
        ..ReconnectConfig::default()
    }
}

fn connect_actions(pair: &Pair) -> usize {
    pair.actions
        .iter()
        .filter(|a| matches!(a, Action::Connect(_)))
        .count()
}

#[test]
fn failed_attempts_back_off_exponentially_then_open_the_circuit() {
    let mut pair = Pair::new(config(no_jitter()));
    pair.accept_connections = false;
    pair.client.connect(pair.now);
    pair.drive();
    let mut delays = Vec::new();
    let mut opened = None;
    for _ in 0..10 {
        for event in pair.take_events() {
            match event {
                Event::Reconnecting { delay, .. } => delays.push(delay),
                Event::CircuitOpen { until } => opened = Some(until),
                Event::ConnectFailed(ConnectError::Transport(e))
                    if e.kind() == TransportErrorKind::ConnectFailed => {}
                Event::EndpointFailed { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        if opened.is_some() {
            break;
        }
        pair.advance_to_deadline();
    }
    let secs: Vec<u64> = delays.iter().map(Duration::as_secs).collect();
    assert_eq!(secs, vec![1, 2, 4], "4th failure opens the breaker instead");
    let until = opened.expect("the circuit opened");
    assert_eq!(until, pair.now + Duration::from_secs(60));

    // Open: no attempt at all before `until`.
    let attempts = connect_actions(&pair);
    pair.advance(Duration::from_secs(59));
    assert_eq!(
        connect_actions(&pair),
        attempts,
        "no connect while the circuit is open"
    );
    // Half-open probe at `until`; its success closes the circuit.
    pair.accept_connections = true;
    pair.advance(Duration::from_secs(1));
    assert_eq!(pair.take_events(), vec![Event::CircuitHalfOpen]);
    pair.expect_connect();
    pair.connack(false);
    assert!(matches!(
        pair.take_events().as_slice(),
        [Event::Connected {
            session_present: false,
            ..
        }]
    ));
    // Once the connection has lasted `stable_after`, it counts as a success and resets the
    // backoff: the next loss waits the initial delay again.
    pair.advance(ReconnectConfig::default().stable_after);
    pair.cut();
    let events = pair.take_events();
    assert!(
        events.contains(&Event::Reconnecting {
            attempt: 1,
            delay: Duration::from_secs(1)
        }),
        "{events:?}"
    );
}

#[test]
fn half_open_failure_opens_the_circuit_again() {
    let mut pair = Pair::new(config(ReconnectConfig {
        max_failures: Some(1),
        ..no_jitter()
    }));
    pair.accept_connections = false;
    pair.client.connect(pair.now);
    pair.drive();
    assert!(matches!(
        pair.take_events().last(),
        Some(Event::CircuitOpen { .. })
    ));
    pair.advance(Duration::from_secs(60));
    let events = pair.take_events();
    assert_eq!(events.first(), Some(&Event::CircuitHalfOpen));
    assert!(
        matches!(events.last(), Some(Event::CircuitOpen { until }) if *until == pair.now + Duration::from_secs(60))
    );
}

#[test]
fn gives_up_after_max_attempts_and_fails_what_was_queued() {
    let mut pair = Pair::new(config(ReconnectConfig {
        max_attempts: Some(3),
        max_failures: None,
        ..no_jitter()
    }));
    pair.accept_connections = false;
    let token = pair
        .client
        .publish(pair.now, PublishRequest::new("t", "x", QoS::AtLeastOnce))
        .unwrap();
    pair.client.connect(pair.now);
    pair.drive();
    for _ in 0..10 {
        if !pair.advance_to_deadline() {
            break;
        }
    }
    assert_eq!(connect_actions(&pair), 3);
    let events = pair.take_events();
    assert!(events.contains(&Event::GaveUp), "{events:?}");
    assert!(events.contains(&Event::RequestFailed {
        token,
        error: RequestError::Closed
    }));
    assert_eq!(pair.client.state(), ConnectionState::Closed);
    assert_eq!(pair.client.poll_timeout(), None);
}

/// A broker that accepts every CONNACK and drops the connection at once (the reconnect storm of
/// issue 10, item 5): a connection that did not last `stable_after` is a failure, so the backoff
/// keeps growing and the circuit breaker opens, instead of retrying at the initial delay forever.
#[test]
fn connections_dropped_right_after_connack_back_off_and_open_the_circuit() {
    let mut pair = Pair::new(config(no_jitter()));
    pair.client.connect(pair.now);
    pair.drive();
    pair.expect_connect();
    let mut delays = Vec::new();
    let mut opened = false;
    for _ in 0..10 {
        pair.connack(false);
        pair.cut();
        for event in pair.take_events() {
            match event {
                Event::Reconnecting { delay, .. } => delays.push(delay.as_secs()),
                Event::CircuitOpen { .. } => opened = true,
                _ => {}
            }
        }
        if opened {
            break;
        }
        pair.reconnect_transport();
    }
    assert_eq!(
        delays,
        vec![1, 2, 4],
        "the backoff grows; the 4th drop opens the breaker"
    );
    assert!(opened, "the circuit breaker opened");
}

#[test]
fn disabled_reconnect_fails_pending_requests_at_once_and_refuses_new_ones() {
    let mut pair = Pair::connected(config(ReconnectConfig {
        enabled: false,
        ..no_jitter()
    }));
    let token = pair
        .client
        .publish(pair.now, PublishRequest::new("a", "x", QoS::AtLeastOnce))
        .unwrap();
    pair.drive();
    pair.take_events();
    pair.cut();
    let events = pair.take_events();
    assert!(
        events.contains(&Event::RequestFailed {
            token,
            error: RequestError::NotConnected
        }),
        "the in-flight publish fails when the connection ends for good: {events:?}"
    );
    assert_eq!(
        pair.client
            .publish(pair.now, PublishRequest::new("a", "y", QoS::AtLeastOnce)),
        Err(jamey_mqtt_core::ClientError::NotConnected)
    );
}

#[test]
fn disabled_reconnect_stays_disconnected_until_asked() {
    let mut pair = Pair::connected(config(ReconnectConfig {
        enabled: false,
        ..no_jitter()
    }));
    pair.cut();
    assert_eq!(pair.client.state(), ConnectionState::Disconnected);
    let attempts = connect_actions(&pair);
    pair.advance(Duration::from_secs(3600));
    assert_eq!(connect_actions(&pair), attempts);
    pair.client.connect(pair.now);
    pair.drive();
    pair.expect_connect();
}

#[test]
fn same_seed_same_reconnect_schedule_with_full_jitter() {
    let schedule = |seed| {
        let mut pair = Pair::new(ClientConfig {
            seed,
            ..config(ReconnectConfig {
                jitter: Jitter::Full,
                max_failures: None,
                ..no_jitter()
            })
        });
        pair.accept_connections = false;
        pair.client.connect(pair.now);
        pair.drive();
        for _ in 0..6 {
            pair.advance_to_deadline();
        }
        pair.take_events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Reconnecting { delay, .. } => Some(delay),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(schedule(42), schedule(42));
    assert_ne!(schedule(42), schedule(43));
    assert!(schedule(42).iter().all(|d| *d <= Duration::from_secs(8)));
}
