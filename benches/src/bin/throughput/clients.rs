//! The clients under measurement against the sink, each as a user who wants speed writes it:
//! - **jamey** (generic over the runtime, so the same code runs on tokio and smol): `window`
//!   lanes, each awaiting its publishes one after the other, so `window` publishes are
//!   outstanding and the loop allocates nothing per message; a subscriber reads its
//!   `Subscription` stream.
//! - **rumqttc**: `publish_bytes` in a loop into its request channel, the event loop polled in a
//!   spawned task that counts PubAck / PubComp (as `compare` does); a subscriber polls the event
//!   loop and counts `Publish` events.
//!
//! QoS 0 publishing ends with one QoS 1 publish: the sink acks in order, so its PUBACK proves
//! the sink has read every message before it.

use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use futures_util::StreamExt;
use jamey_mqtt::{Client, ClientConfig, Config, ProtocolVersion, QoS, Runtime};

/// The topic published to.
pub const TOPIC: &str = "bench/throughput";

/// What one run does.
#[derive(Debug, Clone)]
pub struct Run {
    pub port: u16,
    pub messages: usize,
    pub payload: Bytes,
    pub qos: u8,
    pub publish: bool,
    /// QoS 1/2 publishes in flight (both clients' `max_inflight`).
    pub inflight: u16,
    /// jamey: publishes outstanding at once (lanes).
    pub window: usize,
}

fn qos(q: u8) -> QoS {
    QoS::from_u8(q).expect("qos")
}

pub async fn jamey_connect<R: Runtime + Default>(run: &Run, id: &str) -> Client<R> {
    let defaults = ClientConfig::default();
    let config = Config::new("127.0.0.1", run.port).mqtt(ClientConfig {
        protocol: ProtocolVersion::V311,
        client_id: id.into(),
        keep_alive: Duration::from_secs(60),
        max_inflight: run.inflight,
        max_queued: defaults.max_queued.max(run.window),
        ..defaults
    });
    Client::<R>::connect(config).await.expect("jamey connect")
}

/// The measured part of a jamey run, on a connected client.
pub async fn jamey_work<R: Runtime + Default>(client: &Client<R>, run: &Run) {
    if run.publish {
        let lanes = run.window.min(run.messages).max(1);
        let per_lane = run.messages / lanes;
        let extra = run.messages % lanes;
        let lane = |count: usize| async move {
            for _ in 0..count {
                client
                    .publish(TOPIC, run.payload.clone(), qos(run.qos))
                    .await
                    .expect("publish");
            }
        };
        join_all((0..lanes).map(|i| lane(per_lane + usize::from(i < extra)))).await;
        if run.qos == 0 {
            client
                .publish(TOPIC, run.payload.clone(), QoS::AtLeastOnce)
                .await
                .expect("sync publish");
        }
    } else {
        let mut messages = client
            .subscribe(jamey_mqtt_benches::sink::SOURCE_TOPIC, qos(run.qos))
            .await
            .expect("subscribe");
        for _ in 0..run.messages {
            messages
                .next()
                .await
                .expect("subscription ended early")
                .expect("subscription ended with an error");
        }
    }
}

pub async fn rumqttc_connect(run: &Run, id: &str) -> (rumqttc::AsyncClient, rumqttc::EventLoop) {
    jamey_mqtt_benches::peer::rumqttc_connect(run.port, id, run.inflight, 64).await
}

fn rumqttc_qos(q: u8) -> rumqttc::QoS {
    match q {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    }
}

/// The measured part of a rumqttc run; hands the event loop back for the disconnect.
pub async fn rumqttc_work(
    client: &rumqttc::AsyncClient,
    mut eventloop: rumqttc::EventLoop,
    run: &Run,
) -> rumqttc::EventLoop {
    use rumqttc::{Event, Packet};
    if run.publish {
        let qos = run.qos;
        let target = if qos == 0 { 1 } else { run.messages };
        let counter = tokio::spawn(async move {
            let mut done = 0;
            while done < target {
                match eventloop.poll().await.expect("rumqttc event loop") {
                    Event::Incoming(Packet::PubAck(_)) if qos <= 1 => done += 1,
                    Event::Incoming(Packet::PubComp(_)) if qos == 2 => done += 1,
                    _ => {}
                }
            }
            eventloop
        });
        for _ in 0..run.messages {
            client
                .publish_bytes(TOPIC, rumqttc_qos(qos), false, run.payload.clone())
                .await
                .expect("publish");
        }
        if qos == 0 {
            client
                .publish_bytes(TOPIC, rumqttc::QoS::AtLeastOnce, false, run.payload.clone())
                .await
                .expect("sync publish");
        }
        counter.await.expect("counter task")
    } else {
        client
            .subscribe(jamey_mqtt_benches::sink::SOURCE_TOPIC, rumqttc_qos(run.qos))
            .await
            .expect("subscribe");
        let mut got = 0;
        while got < run.messages {
            if let Event::Incoming(Packet::Publish(_)) = eventloop.poll().await.expect("event loop")
            {
                got += 1;
            }
        }
        eventloop
    }
}
