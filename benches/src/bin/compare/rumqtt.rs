//! The rumqttc side: `AsyncClient` requests, completions counted from the `EventLoop`'s events
//! (PubAck for QoS 1, PubComp for QoS 2) in a spawned task. TCP_NODELAY is turned on (rumqttc's
//! default is off; jamey always sets it), the in-flight limit is 100 as for jamey.

use std::path::Path;

use bytes::Bytes;
use jamey_mqtt_tests::Broker;
use rumqttc::{AsyncClient, Event, EventLoop, Packet, QoS};

use crate::{spawn_mosquitto_pub, Subscriber, TOPIC};
use jamey_mqtt_benches::cpu::{Meter, Sample};

/// Capacity of rumqttc's request channel, like jamey's command channel (64).
const REQUEST_CAPACITY: usize = 64;

async fn connect(port: u16, id: &str) -> (AsyncClient, EventLoop) {
    jamey_mqtt_benches::peer::rumqttc_connect(port, id, 100, REQUEST_CAPACITY).await
}

fn qos_of(qos: u8) -> QoS {
    match qos {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

/// Publishes `n` messages and waits until all completed (QoS 0: until `subscriber` has them
/// all, the event loop polled meanwhile).
pub async fn publish(
    broker: &Broker,
    n: usize,
    qos: u8,
    payload: Bytes,
    subscriber: Option<Subscriber>,
) -> Sample {
    let (client, mut eventloop) = connect(broker.port(), "rumqttc-pub").await;
    let meter = Meter::start(broker.pid().expect("broker running"));
    let (stop_tx, mut stop) = tokio::sync::oneshot::channel::<()>();
    let counter = tokio::spawn(async move {
        let mut done = 0;
        while qos == 0 || done < n {
            let event = tokio::select! {
                event = eventloop.poll() => event.expect("rumqttc event loop"),
                _ = &mut stop => break,
            };
            match event {
                Event::Incoming(Packet::PubAck(_)) if qos == 1 => done += 1,
                Event::Incoming(Packet::PubComp(_)) if qos == 2 => done += 1,
                _ => {}
            }
        }
        eventloop
    });
    for _ in 0..n {
        client
            .publish_bytes(TOPIC, qos_of(qos), false, payload.clone())
            .await
            .expect("publish");
    }
    if let Some(subscriber) = subscriber {
        subscriber.done().await;
        let _ = stop_tx.send(());
    }
    let eventloop = counter.await.expect("counter task");
    let sample = meter.stop();
    jamey_mqtt_benches::peer::rumqttc_disconnect(client, eventloop).await;
    sample
}

/// Subscribes at `qos`, then times `mosquitto_pub` sending `n` messages until all arrived.
pub async fn subscribe(broker: &Broker, n: usize, qos: u8, lines: &Path) -> Sample {
    let (client, mut eventloop) = connect(broker.port(), "rumqttc-sub").await;
    client
        .subscribe(TOPIC, qos_of(qos))
        .await
        .expect("subscribe");
    loop {
        if let Event::Incoming(Packet::SubAck(_)) = eventloop.poll().await.expect("suback") {
            break;
        }
    }
    let meter = Meter::start(broker.pid().expect("broker running"));
    let mut publisher = spawn_mosquitto_pub(broker, qos, lines);
    let mut got = 0;
    while got < n {
        if let Event::Incoming(Packet::Publish(_)) = eventloop.poll().await.expect("event loop") {
            got += 1;
        }
    }
    let sample = meter.stop();
    let status = publisher.wait().expect("mosquitto_pub");
    assert!(status.success(), "mosquitto_pub failed: {status}");
    jamey_mqtt_benches::peer::rumqttc_disconnect(client, eventloop).await;
    sample
}
