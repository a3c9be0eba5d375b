//! Issue 14: `Client::start` returns at once while the broker is down, queues what it is given
//! within the queue's bound (`max_queued`: past it a request is refused with the typed
//! `QueueFull`), and delivers what it accepted once the broker comes up (the reconnect policy
//! makes the attempts).

use std::future::Future;
use std::pin::{pin, Pin};
use std::time::{Duration, Instant};

use futures_util::future::{select, Either};
use jamey_mqtt::{Client, ClientError, Error, PublishRequest, QoS, Runtime};
use jamey_mqtt_core::ConnectionState;

use super::{connect, next, pause, plain, within, WAIT};
use crate::{Broker, BrokerOptions};

/// Start with the broker stopped: the handle comes back at once and reports itself unhealthy; a
/// publish waits in the queue; once the broker is up the publish completes and a subscriber
/// gets the message (retained, so the subscriber may arrive after it).
pub async fn start_without_a_broker_publishes_once_it_is_up<R: Runtime + Default>() {
    let mut broker = Broker::start(BrokerOptions::plain(), None);
    broker.stop();
    let client = Client::<R>::start(plain(&broker, "start-early")).expect("start");
    let request = PublishRequest::new("start/early", "queued", QoS::AtLeastOnce).retain(true);
    let mut publish = pin!(client.publish_request(request));

    // Drive the publish until the core holds it; it cannot complete without a broker.
    let deadline = Instant::now() + WAIT;
    loop {
        match select(
            publish.as_mut(),
            pin!(pause::<R>(Duration::from_millis(20))),
        )
        .await
        {
            Either::Left((result, _)) => panic!("completed without a broker: {result:?}"),
            Either::Right(_) => {}
        }
        let health = client.stats().await.expect("stats").health;
        assert!(!health.healthy, "{health:?}");
        assert_ne!(health.state, ConnectionState::Connected);
        if health.queued + health.in_flight == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the publish never reached the queue"
        );
    }

    broker.start_again();
    let outcome = within::<R, _>(WAIT, "queued publish completes", publish)
        .await
        .expect("publish");
    assert_ne!(outcome.pkid, 0);

    let subscriber = connect::<R>(plain(&broker, "start-sub")).await;
    let mut sub = subscriber
        .subscribe("start/#", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let message = next::<R>(&mut sub).await;
    assert_eq!(message.topic, "start/early");
    assert_eq!(message.payload, "queued".as_bytes());
    assert!(client.stats().await.expect("stats").health.healthy);
    client.disconnect().await.expect("disconnect");
    subscriber.disconnect().await.expect("disconnect");
}

/// With reconnect disabled, a failed first attempt closes a started client: a request made
/// before or after fails instead of waiting forever.
pub async fn start_without_reconnect_fails_requests_when_the_attempt_fails<R: Runtime + Default>() {
    let mut broker = Broker::start(BrokerOptions::plain(), None);
    broker.stop();
    let mut config = plain(&broker, "start-no-reconnect");
    config.mqtt.reconnect.enabled = false;
    let client = Client::<R>::start(config).expect("start");
    let result = within::<R, _>(
        WAIT,
        "publish fails",
        client.publish("start/never", "x", QoS::AtLeastOnce),
    )
    .await;
    assert!(result.is_err(), "{result:?}");
}

/// Drives `request` (which cannot complete without a broker) until the client holds `held`
/// requests in its queue; panics if it completes or after [`WAIT`].
async fn hold_until_queued<R: Runtime + Default, T: std::fmt::Debug>(
    client: &Client<R>,
    mut request: Pin<&mut impl Future<Output = T>>,
    held: usize,
) {
    let deadline = Instant::now() + WAIT;
    loop {
        match select(
            request.as_mut(),
            pin!(pause::<R>(Duration::from_millis(20))),
        )
        .await
        {
            Either::Left((result, _)) => panic!("completed without a broker: {result:?}"),
            Either::Right(_) => {}
        }
        let health = client.stats().await.expect("stats").health;
        assert_eq!(health.in_flight, 0, "{health:?}");
        if health.queued == held {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the queue never held {held}: {health:?}"
        );
    }
}

/// Started while the broker is down with room for 3 queued requests: 3 publishes are accepted
/// and wait; the next two are refused at once with the typed `QueueFull` (and counted); once
/// the broker is up the 3 accepted ones complete and are delivered, the refused ones never.
pub async fn start_without_a_broker_bounds_its_queue<R: Runtime + Default>() {
    const ROOM: usize = 3;
    let mut broker = Broker::start(BrokerOptions::plain(), None);
    broker.stop();
    let mut config = plain(&broker, "start-full");
    config.mqtt.max_queued = ROOM;
    let client = Client::<R>::start(config).expect("start");
    let publish = |i: usize| {
        client.publish_request(
            PublishRequest::new(format!("start/full/{i}"), format!("p{i}"), QoS::AtLeastOnce)
                .retain(true),
        )
    };
    let mut first = pin!(publish(0));
    hold_until_queued(&client, first.as_mut(), 1).await;
    let mut second = pin!(publish(1));
    hold_until_queued(&client, second.as_mut(), 2).await;
    let mut third = pin!(publish(2));
    hold_until_queued(&client, third.as_mut(), ROOM).await;
    for i in ROOM..ROOM + 2 {
        match within::<R, _>(WAIT, "a refusal at once", publish(i)).await {
            Err(Error::Request(ClientError::QueueFull { capacity })) => assert_eq!(capacity, ROOM),
            other => panic!("publish {i} past the bound: expected QueueFull, got {other:?}"),
        }
    }
    let stats = client.stats().await.expect("stats");
    assert_eq!(stats.health.queued, ROOM, "{stats:?}");
    assert_eq!(stats.core.queue_full, 2, "{stats:?}");

    broker.start_again();
    for accepted in [first, second, third] {
        let outcome = within::<R, _>(WAIT, "an accepted publish completes", accepted)
            .await
            .expect("publish");
        assert_ne!(outcome.pkid, 0);
    }

    // The retained messages of the accepted publishes, then a sentinel published after the
    // subscription: nothing of the refused ones in between.
    let subscriber = connect::<R>(plain(&broker, "start-full-sub")).await;
    let mut sub = subscriber
        .subscribe("start/full/#", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    subscriber
        .publish("start/full/end", "end", QoS::AtLeastOnce)
        .await
        .expect("sentinel");
    let mut seen = Vec::new();
    loop {
        let message = next::<R>(&mut sub).await;
        if message.topic == "start/full/end" {
            break;
        }
        seen.push(String::from_utf8(message.payload.to_vec()).unwrap());
    }
    seen.sort();
    assert_eq!(seen, ["p0", "p1", "p2"]);
    client.disconnect().await.expect("disconnect");
    subscriber.disconnect().await.expect("disconnect");
}
