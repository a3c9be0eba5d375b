//! Failover on a real three-node RabbitMQ cluster (Debian's rabbitmq-server 3.10, MQTT 3.1.1,
//! sessions on quorum queues): a publisher and two consumers on different nodes. In the middle
//! of a QoS 1 stream the node of one consumer is stopped: that consumer fails over to another
//! node of its list and resumes its session there. Later that node is back and the publisher's
//! node is stopped: the publisher fails over with publishes in flight and replays them. Every
//! publish completes (the client's guarantee) and every message the broker acknowledged
//! reaches both consumers (the broker's, with quorum queues; QoS 1 duplicates counted).
//!
//! Run by `scripts/test-cluster` (`--features cluster`); see README "Clusters and failover".

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::future::join_all;
use jamey_mqtt::{Brokers, ClientConfig, Config, Endpoint, Event, ProtocolVersion, QoS};
use jamey_mqtt_core::reconnect::ReconnectConfig;
use jamey_mqtt_tests::rabbitmq::RabbitCluster;
use jamey_mqtt_tokio::Client;

const STREAM: usize = 3_000;
/// The stream position at which the consumer's node is stopped.
const STOP_AT: usize = 1_000;
/// The stream position at which that node is back and the publisher's node is stopped.
const STOP_PUBLISHERS_AT: usize = 2_000;
/// Generous: failover includes a quorum leader election on the surviving nodes.
const WAIT: Duration = Duration::from_secs(120);

fn config(cluster: &RabbitCluster, order: &[usize], client_id: &str) -> Config {
    let endpoints = order
        .iter()
        .map(|i| Endpoint::new("127.0.0.1", cluster.mqtt_port(*i)))
        .collect();
    Config::brokers(Brokers::list(endpoints)).mqtt(ClientConfig {
        protocol: ProtocolVersion::V311,
        client_id: client_id.into(),
        // A durable session: its queue is a quorum queue, replicated on every node.
        clean_start: false,
        reconnect: ReconnectConfig {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(10),
            max_failures: None,
            ..ReconnectConfig::default()
        },
        ..ClientConfig::default()
    })
}

/// payload -> copies received.
type Received = BTreeMap<usize, u32>;

/// The next connection `events` reports: whether its session was present, and where.
async fn next_connection(events: &mut jamey_mqtt::Events, what: &str) -> (bool, Endpoint) {
    tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await {
                Some(Event::Connected {
                    session_present,
                    info,
                }) => return (session_present, info.endpoint),
                Some(_) => {}
                None => panic!("event stream ended"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}"))
}

async fn consume(mut sub: jamey_mqtt::Subscription, total: usize) -> Received {
    let mut received = Received::new();
    while received.len() < total {
        let message = tokio::time::timeout(WAIT, sub.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no message for {WAIT:?}; {} of {total} so far",
                    received.len()
                )
            })
            .expect("subscription ended")
            .expect("message");
        let n: usize = std::str::from_utf8(&message.payload)
            .unwrap()
            .parse()
            .unwrap();
        *received.entry(n).or_default() += 1;
    }
    received
}

#[test]
fn stopping_nodes_mid_stream_loses_no_acknowledged_message() {
    let started = std::time::Instant::now();
    let mut cluster = RabbitCluster::start(3);
    println!("cluster of 3 up in {:?}", started.elapsed());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cluster_ref = &mut cluster;
    runtime.block_on(async move {
        // Publisher on node 1; consumer A on node 2 (then 3, then 1); consumer B on node 3.
        let consumer_a = Client::connect(config(cluster_ref, &[1, 2, 0], "cluster-consumer-a"))
            .await
            .expect("consumer A connects");
        let consumer_b = Client::connect(config(cluster_ref, &[2, 0, 1], "cluster-consumer-b"))
            .await
            .expect("consumer B connects");
        let publisher = Client::connect(config(cluster_ref, &[0, 1, 2], "cluster-publisher"))
            .await
            .expect("publisher connects");
        let ports: Vec<u16> = (0..3).map(|i| cluster_ref.mqtt_port(i)).collect();
        let port = |i: usize| ports[i];
        assert_eq!(consumer_a.connection_info().unwrap().endpoint.port, port(1));
        assert_eq!(consumer_b.connection_info().unwrap().endpoint.port, port(2));
        let mut events_a = consumer_a.events();
        let sub_a = consumer_a
            .subscribe("stream/#", QoS::AtLeastOnce)
            .await
            .unwrap();
        let sub_b = consumer_b
            .subscribe("stream/#", QoS::AtLeastOnce)
            .await
            .unwrap();
        let receiving_a = tokio::spawn(consume(sub_a, STREAM));
        let receiving_b = tokio::spawn(consume(sub_b, STREAM));

        let mut acknowledged = 0;
        let mut failed = 0;
        let mut events_publisher = publisher.events();
        for window in (0..STREAM).collect::<Vec<_>>().chunks(50) {
            if window[0] == STOP_AT {
                // Mid-stream: consumer A's node goes away (its session's queue is replicated).
                let name = cluster_ref.node_name(1).to_owned();
                println!("stopping {name} (consumer A's) after {acknowledged} acknowledged");
                let started = std::time::Instant::now();
                tokio::task::block_in_place(|| cluster_ref.stop_node(1));
                println!("{name} stopped in {:?}", started.elapsed());
            }
            if window[0] == STOP_PUBLISHERS_AT {
                let started = std::time::Instant::now();
                tokio::task::block_in_place(|| cluster_ref.start_node(1));
                println!(
                    "{} back in {:?}",
                    cluster_ref.node_name(1),
                    started.elapsed()
                );
            }
            let sends = join_all(window.iter().map(|n| {
                publisher.publish(
                    format!("stream/{}", n % 10),
                    n.to_string(),
                    QoS::AtLeastOnce,
                )
            }));
            let results = if window[0] == STOP_PUBLISHERS_AT {
                // The publisher's node goes away with this window in flight (the publishes
                // reach the driver when `join` first polls them, before the stop blocks).
                let cluster = &*cluster_ref;
                let name = cluster.node_name(0).to_owned();
                println!("stopping {name} (the publisher's) after {acknowledged} acknowledged");
                let stop = async {
                    let started = std::time::Instant::now();
                    tokio::task::block_in_place(|| cluster.ctl(0, &["stop"]));
                    println!("{name} stopped in {:?}", started.elapsed());
                };
                futures_util::future::join(sends, stop).await.0
            } else {
                sends.await
            };
            for result in results {
                match result {
                    Ok(_) => acknowledged += 1,
                    Err(e) => {
                        failed += 1;
                        eprintln!("publish failed: {e}");
                    }
                }
            }
        }
        // The client's guarantee: every publish the application handed over completed.
        assert_eq!((acknowledged, failed), (STREAM, 0));

        // Consumer A is on another node now, with its session resumed.
        let resumed = next_connection(&mut events_a, "consumer A reconnects").await;
        println!(
            "consumer A resumed on {} (session present: {})",
            resumed.1, resumed.0
        );
        assert!(resumed.0, "the quorum queue kept consumer A's session");
        assert_ne!(resumed.1.port, port(1));
        let moved = next_connection(&mut events_publisher, "the publisher reconnects").await;
        println!(
            "the publisher moved to {} (session present: {})",
            moved.1, moved.0
        );
        assert_ne!(moved.1.port, port(0));
        let publisher_stats = publisher.stats().await.unwrap();
        println!(
            "publisher: {} publishes completed, {} packets replayed after reconnecting",
            publisher_stats.core.publishes_completed, publisher_stats.core.packets_replayed
        );

        // The broker's guarantee: every acknowledged message reaches every consumer.
        let received_a = receiving_a.await.expect("consumer A task");
        let received_b = receiving_b.await.expect("consumer B task");
        for (name, received) in [("A", &received_a), ("B", &received_b)] {
            let missing: Vec<usize> = (0..STREAM).filter(|n| !received.contains_key(n)).collect();
            let duplicates: u32 = received.values().map(|c| c - 1).sum();
            println!(
                "consumer {name}: {} of {STREAM} acknowledged messages received, {} lost, \
                 {duplicates} duplicates",
                received.len(),
                missing.len()
            );
            assert!(missing.is_empty(), "consumer {name} lost {missing:?}");
        }
        let stats = consumer_a.stats().await.unwrap();
        for endpoint in &stats.endpoints {
            println!(
                "consumer A endpoint {}: {} attempts, {} connections, {} failures",
                endpoint.endpoint, endpoint.attempts, endpoint.connections, endpoint.failures
            );
        }
        assert!(
            stats.endpoints[0].failures >= 1,
            "the stopped node's failure is counted"
        );
        for client in [consumer_a, consumer_b, publisher] {
            client.disconnect().await.unwrap();
        }
    });
}
