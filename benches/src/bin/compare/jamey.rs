//! The jamey-mqtt-tokio side: publishes are futures that resolve on completion, kept `window`
//! at a time in a `FuturesUnordered`; the subscriber is a `Subscription` stream.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use jamey_mqtt_tests::Broker;
use jamey_mqtt_tokio::{Client, ClientConfig, Config, ProtocolVersion, QoS};

use crate::{spawn_mosquitto_pub, Subscriber, TOPIC};
use jamey_mqtt_benches::cpu::{Meter, Sample};

async fn connect(port: u16, id: &str) -> Client {
    let config = Config::new("127.0.0.1", port).mqtt(ClientConfig {
        protocol: ProtocolVersion::V311,
        client_id: id.into(),
        keep_alive: Duration::from_secs(60),
        ..ClientConfig::default()
    });
    Client::connect(config).await.expect("jamey connect")
}

/// Publishes `n` messages, at most `window` outstanding, and waits until all completed (QoS 0:
/// until `subscriber` has them all).
pub async fn publish(
    broker: &Broker,
    n: usize,
    qos: QoS,
    payload: Bytes,
    window: usize,
    subscriber: Option<Subscriber>,
) -> Sample {
    let client = connect(broker.port(), "jamey-pub").await;
    let meter = Meter::start(broker.pid().expect("broker running"));
    let mut outstanding: FuturesUnordered<_> = FuturesUnordered::new();
    for _ in 0..n {
        if outstanding.len() >= window {
            let done: Result<_, _> = outstanding.next().await.expect("outstanding");
            done.expect("publish");
        }
        outstanding.push(client.publish(TOPIC, payload.clone(), qos));
    }
    while let Some(result) = outstanding.next().await {
        result.expect("publish");
    }
    if let Some(subscriber) = subscriber {
        subscriber.done().await;
    }
    let sample = meter.stop();
    client.disconnect().await.expect("disconnect");
    sample
}

/// Subscribes at `qos`, then times `mosquitto_pub` sending `n` messages until all arrived.
pub async fn subscribe(broker: &Broker, n: usize, qos: QoS, lines: &Path) -> Sample {
    let client = connect(broker.port(), "jamey-sub").await;
    let mut messages = client.subscribe(TOPIC, qos).await.expect("subscribe");
    let meter = Meter::start(broker.pid().expect("broker running"));
    let mut publisher = spawn_mosquitto_pub(broker, qos as u8, lines);
    for _ in 0..n {
        messages
            .next()
            .await
            .expect("subscription ended early")
            .expect("subscription ended with an error");
    }
    let sample = meter.stop();
    let status = publisher.wait().expect("mosquitto_pub");
    assert!(status.success(), "mosquitto_pub failed: {status}");
    client.disconnect().await.expect("disconnect");
    sample
}
