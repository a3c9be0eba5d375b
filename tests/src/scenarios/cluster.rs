//! Beyond one broker, on Mosquitto (issue 17): failover between two brokers joined by a
//! bridge, and shared subscriptions spreading a QoS 1 stream over a group (MQTT 5 and 3.1.1).
//! The three-node RabbitMQ cluster has its own test (`tests/tests/cluster.rs`,
//! `scripts/test-cluster`).

use std::collections::BTreeMap;

use futures_util::stream::{select_all, StreamExt};
use jamey_mqtt::{Brokers, Endpoint, Event};

use super::*;

/// Two brokers, `b` bridged to `a` in both directions for `topics`.
fn bridged_pair() -> (Broker, Broker) {
    let a = Broker::start(BrokerOptions::plain(), None);
    let b = Broker::start(
        BrokerOptions::plain()
            .config_line("connection bridge-to-a")
            .config_line(format!("address 127.0.0.1:{}", a.port()))
            .config_line("topic data/# both 1")
            .config_line("topic echo/# both 1")
            .config_line("topic probe/# both 1")
            .config_line("cleansession true")
            .config_line("restart_timeout 1"),
        None,
    );
    (a, b)
}

fn endpoint(broker: &Broker) -> Endpoint {
    Endpoint::new("127.0.0.1", broker.port())
}

/// Waits until the bridge carries a message from `a` to a subscriber on `b`.
async fn wait_for_bridge<R: Runtime + Default>(on_a: &Client<R>, on_b: &Client<R>) {
    let mut probe = on_b.subscribe("probe/#", QoS::AtLeastOnce).await.unwrap();
    within::<R, _>(WAIT, "the bridge to come up", async {
        loop {
            on_a.publish("probe/1", "p", QoS::AtLeastOnce)
                .await
                .unwrap();
            let rt = R::default();
            let tick = pin!(rt.sleep_until(rt.now() + Duration::from_millis(200)));
            if let Either::Left((Some(Ok(_)), _)) = select(pin!(probe.recv()), tick).await {
                return;
            }
        }
    })
    .await;
}

/// A client with both brokers in its list moves to the second when the first is killed, and
/// keeps publishing and receiving there; the bridge carried its traffic to the second's
/// subscribers before.
pub async fn failover_between_bridged_brokers<R: Runtime + Default>() {
    let (mut a, b) = bridged_pair();
    let watcher = connect::<R>(plain(&b, "failover-watcher")).await;
    let probe = connect::<R>(plain(&a, "failover-probe")).await;
    wait_for_bridge(&probe, &watcher).await;
    drop(probe);
    let mut data = watcher.subscribe("data/#", QoS::AtLeastOnce).await.unwrap();

    let config = Config::brokers(Brokers::list(vec![endpoint(&a), endpoint(&b)]))
        .mqtt(mqtt("failover-client", ProtocolVersion::V311));
    let client = connect::<R>(config).await;
    let mut events = client.events();
    assert_eq!(client.connection_info().unwrap().endpoint, endpoint(&a));
    let mut echo = client.subscribe("echo/#", QoS::AtLeastOnce).await.unwrap();
    for n in 0..100 {
        client
            .publish(format!("data/{n}"), n.to_string(), QoS::AtLeastOnce)
            .await
            .unwrap();
    }
    // Through the bridge, before anything fails.
    for n in 0..100 {
        assert_eq!(next::<R>(&mut data).await.payload, n.to_string().as_bytes());
    }

    a.kill();
    // (The stream may still carry the first connection's event: `connect` resolves on the
    // CONNACK, the event streams hear of it on the driver's next step.)
    let first = endpoint(&a);
    let moved = next_event::<R>(
        &mut events,
        "connected to the second broker",
        |e| matches!(e, Event::Connected { info, .. } if info.endpoint != first),
    )
    .await;
    let Event::Connected { info, .. } = moved else {
        unreachable!()
    };
    assert_eq!(info.endpoint, endpoint(&b));
    // Still publishing: every acknowledged message reaches the second broker's subscriber.
    for n in 100..200 {
        client
            .publish(format!("data/{n}"), n.to_string(), QoS::AtLeastOnce)
            .await
            .unwrap();
    }
    for n in 100..200 {
        assert_eq!(next::<R>(&mut data).await.payload, n.to_string().as_bytes());
    }
    // Still receiving: the session was new on the second broker, so the client subscribed its
    // subscriptions again by itself.
    watcher
        .publish("echo/1", "after failover", QoS::AtLeastOnce)
        .await
        .unwrap();
    assert_eq!(
        next::<R>(&mut echo).await.payload,
        "after failover".as_bytes()
    );
    let stats = client.stats().await.unwrap();
    let counts: Vec<(u64, u64)> = stats
        .endpoints
        .iter()
        .map(|e| (e.connections, e.failures))
        .collect();
    assert_eq!(counts[1], (1, 0), "{:?}", stats.endpoints);
    assert_eq!(counts[0].0, 1);
    assert!(counts[0].1 >= 1, "the first broker's loss is counted");
    client.disconnect().await.unwrap();
    watcher.disconnect().await.unwrap();
}

/// The stream the shared-subscription scenarios publish.
const STREAM: usize = 10_000;

/// Three consumers in one group receive every message of a QoS 1 stream exactly once between
/// them (QoS 1 redeliveries, flagged DUP, aside), spread over all three. With `leave`, the third
/// leaves the group (UNSUBSCRIBE) half-way: what it was already sent still reaches it, and the
/// rest goes to the other two, without loss.
async fn shared_stream<R: Runtime + Default>(protocol: ProtocolVersion, leave: bool) {
    let broker = Broker::start(BrokerOptions::plain().quiet(), None);
    let name = |i: usize| format!("share-{protocol:?}-{leave}-{i}");
    let mut consumers = Vec::new();
    let mut subs = Vec::new();
    for i in 0..3 {
        let mut config = plain(&broker, &name(i));
        config.mqtt.protocol = protocol;
        // Messages that arrive after leaving the group wait here for the check below.
        config.mqtt.unmatched_capacity = STREAM;
        let client = connect::<R>(config).await;
        let sub = client
            .subscribe_shared("workers", "jobs/#", QoS::AtLeastOnce)
            .await
            .unwrap();
        assert_eq!(sub.topic_filter(), "$share/workers/jobs/#");
        subs.push(sub.map(move |m| (i, m)));
        consumers.push(client);
    }
    let mut config = plain(&broker, &name(9));
    config.mqtt.protocol = protocol;
    config.mqtt.max_inflight = 100;
    let publisher = connect::<R>(config).await;

    // received[i]: payload -> copies (and whether each later copy was flagged DUP).
    let mut received: Vec<BTreeMap<usize, (u32, bool)>> = vec![BTreeMap::new(); 3];
    let record = |received: &mut Vec<BTreeMap<usize, (u32, bool)>>, i: usize, m: Message| {
        let n: usize = std::str::from_utf8(&m.payload).unwrap().parse().unwrap();
        let entry = received[i].entry(n).or_insert((0, true));
        entry.0 += 1;
        if entry.0 > 1 {
            entry.1 &= m.dup;
        }
    };
    let left_at = STREAM / 2;
    let publish = async {
        for window in (0..STREAM).collect::<Vec<_>>().chunks(100) {
            let sends = window.iter().map(|n| {
                publisher.publish(format!("jobs/{}", n % 7), n.to_string(), QoS::AtLeastOnce)
            });
            for result in join_all(sends).await {
                result.unwrap();
            }
        }
    };
    let mut merged = select_all(subs);
    let union = |received: &Vec<BTreeMap<usize, (u32, bool)>>| {
        let mut all: BTreeSet<usize> = BTreeSet::new();
        for r in received {
            all.extend(r.keys());
        }
        all.len()
    };
    let mut seen = BTreeSet::new();
    let mut left = false;
    let consume = async {
        while seen.len() < STREAM {
            let rt = R::default();
            let tick = pin!(rt.sleep_until(rt.now() + Duration::from_millis(100)));
            match select(merged.next(), tick).await {
                Either::Left((item, _)) => {
                    let (i, message) = item.expect("streams ended");
                    let message = message.expect("message");
                    seen.insert(std::str::from_utf8(&message.payload).unwrap().to_owned());
                    record(&mut received, i, message);
                }
                // Quiet: once the third left, the rest may be waiting in its unmatched buffer.
                Either::Right(_) if left => {
                    let late = consumers[2]
                        .stats()
                        .await
                        .unwrap()
                        .health
                        .unmatched_buffered;
                    if seen.len() + late >= STREAM {
                        break;
                    }
                }
                Either::Right(_) => {}
            }
            if leave && !left && seen.len() >= left_at {
                left = true;
                consumers[2]
                    .unsubscribe("$share/workers/jobs/#")
                    .await
                    .unwrap();
            }
        }
    };
    within::<R, _>(
        Duration::from_secs(180),
        "the shared stream",
        futures_util::future::join(publish, consume),
    )
    .await;
    let mut late = 0;
    if leave {
        // What was on its way to the third when it left: delivered to the next subscription
        // that matches it (the plain filter gets nothing new: the stream is over).
        let buffered = consumers[2]
            .stats()
            .await
            .unwrap()
            .health
            .unmatched_buffered;
        let mut catch = consumers[2]
            .subscribe("jobs/#", QoS::AtLeastOnce)
            .await
            .unwrap();
        for _ in 0..buffered {
            record(&mut received, 2, next::<R>(&mut catch).await);
            late += 1;
        }
    }
    assert_eq!(union(&received), STREAM, "every message reached the group");
    let mut duplicates = 0;
    for n in 0..STREAM {
        let holders: Vec<usize> = (0..3).filter(|i| received[*i].contains_key(&n)).collect();
        assert_eq!(
            holders.len(),
            1,
            "message {n} went to consumers {holders:?}"
        );
        let (copies, all_dup) = received[holders[0]][&n];
        if copies > 1 {
            assert!(all_dup, "message {n} arrived {copies} times without DUP");
            duplicates += 1;
        }
    }
    let split: Vec<usize> = received.iter().map(BTreeMap::len).collect();
    println!(
        "shared subscription split over {STREAM} QoS 1 messages ({protocol:?}, leave: {leave}): \
         {split:?}, duplicates {duplicates}, late after leaving {late}"
    );
    if leave {
        // After the third left, the rest of the stream went to the other two.
        let last_third = received[2].keys().max().copied().unwrap_or(0);
        let after: usize = (0..2)
            .map(|i| received[i].range(last_third + 1..).count())
            .sum();
        assert_eq!(after, STREAM - 1 - last_third, "the others took the rest");
        assert!(
            split[2] < STREAM / 3,
            "the third stopped taking its share: {split:?}"
        );
    } else {
        for count in &split {
            assert!(*count >= STREAM / 10, "the load is spread: {split:?}");
        }
    }
    for client in consumers.iter().chain([&publisher]) {
        client.disconnect().await.unwrap();
    }
}

pub async fn shared_subscription_spreads_a_qos1_stream_mqtt5<R: Runtime + Default>() {
    shared_stream::<R>(ProtocolVersion::V5, false).await;
}

pub async fn shared_subscription_spreads_a_qos1_stream_mqtt311<R: Runtime + Default>() {
    shared_stream::<R>(ProtocolVersion::V311, false).await;
}

pub async fn shared_subscriber_leaving_mid_stream_loses_nothing_mqtt5<R: Runtime + Default>() {
    shared_stream::<R>(ProtocolVersion::V5, true).await;
}

pub async fn shared_subscriber_leaving_mid_stream_loses_nothing_mqtt311<R: Runtime + Default>() {
    shared_stream::<R>(ProtocolVersion::V311, true).await;
}

/// A group name is checked on its own, and an MQTT 5 broker's CONNACK is not needed to refuse
/// what the configuration turned off.
pub async fn shared_subscription_names_and_configuration_are_checked<R: Runtime + Default>() {
    let broker = Broker::start(BrokerOptions::plain(), None);
    let mut config = plain(&broker, "share-checks");
    config.mqtt.shared_subscriptions = false;
    let client = connect::<R>(config).await;
    for group in ["", "a/b", "a+", "#"] {
        assert!(
            matches!(
                client
                    .subscribe_shared(group, "jobs", QoS::AtLeastOnce)
                    .await,
                Err(Error::Request(ClientError::InvalidTopic(_)))
            ),
            "group {group:?}"
        );
    }
    assert!(matches!(
        client.subscribe_shared("g", "jobs", QoS::AtLeastOnce).await,
        Err(Error::Request(ClientError::Unsupported(_)))
    ));
    client.disconnect().await.unwrap();
}

/// TLS over a broker list: the first endpoint is down, the second presents a certificate for
/// another name, which that endpoint names as its own `tls_server_name`: the first attempt
/// fails, the second connects, verified against the endpoint's name (the host's would fail,
/// see `wrong_hostname_is_refused`).
pub async fn tls_per_endpoint_server_name_after_a_failed_endpoint<R: Runtime + Default>() {
    let pki = Pki::generate();
    let options = BrokerOptions {
        tls: true,
        wrong_host_cert: true,
        ..BrokerOptions::default()
    };
    let broker = Broker::start(options, Some(&pki));
    let down = Endpoint::new("127.0.0.1", crate::broker::free_port());
    let named = Endpoint::new("localhost", broker.port()).tls_server_name("broker.invalid");
    let config = Config::brokers(Brokers::list(vec![down.clone(), named.clone()]))
        .tls(TlsOptions::ca_pem(pki.ca.cert_pem.as_bytes()))
        .mqtt(mqtt("tls-per-endpoint", ProtocolVersion::V311));
    let client = connect::<R>(config).await;
    assert_eq!(client.connection_info().unwrap().endpoint, named);
    let stats = client.stats().await.unwrap();
    let counts: Vec<(u64, u64)> = stats
        .endpoints
        .iter()
        .map(|e| (e.failures, e.connections))
        .collect();
    assert_eq!(counts, [(1, 0), (0, 1)]);
    client.disconnect().await.unwrap();
}
