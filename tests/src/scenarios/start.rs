//! Issue 14: `Client::start` returns at once while the broker is down, queues what it is given,
//! and delivers it once the broker comes up (the reconnect policy makes the attempts).

use std::pin::pin;
use std::time::{Duration, Instant};

use futures_util::future::{select, Either};
use jamey_mqtt::{Client, PublishRequest, QoS, Runtime};
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
