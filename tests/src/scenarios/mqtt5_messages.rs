//! Issue 12, items 6 and 9, end to end against a real Mosquitto with MQTT 5, on every runtime:
//! PUBLISH properties survive the trip through the broker, DISCONNECT with reason 0x04
//! publishes the will (a normal one does not), a session expiry interval of 0 on DISCONNECT
//! ends a session CONNECT asked the broker to keep, a queued publish expires, and refusals are
//! typed. (The broker's DISCONNECT properties are tested with the scripted broker in
//! `core/tests/client_mqtt5_messages.rs`: Mosquitto 2.0.11 sends no DISCONNECT on a session
//! takeover or on shutdown, it closes the connection.)

use std::time::Duration;

use bytes::Bytes;
use jamey_mqtt::{
    Client, ClientError, Config, DisconnectOptions, Error, ProtocolVersion, PublishRequest, QoS,
    RequestError, Runtime, Subscription, Will,
};
use jamey_mqtt_core::packet::PublishProperties;

use super::{connect, next, pause, plain, within, WAIT};
use crate::{Broker, BrokerOptions};

fn v5(broker: &Broker, client_id: &str) -> Config {
    let mut config = plain(broker, client_id);
    config.mqtt.protocol = ProtocolVersion::V5;
    config
}

/// Content type, payload format, user properties (a repeated name, in order), response topic,
/// correlation data and message expiry set on a publish reach a subscriber unchanged (the
/// broker lowers the expiry interval by the time it kept the message, never raises it).
pub async fn publish_properties_round_trip_through_the_broker<R: Runtime + Default>() {
    let broker = Broker::start(BrokerOptions::plain(), None);
    let subscriber = connect::<R>(v5(&broker, "props-sub")).await;
    let publisher = connect::<R>(v5(&broker, "props-pub")).await;
    let mut sub = subscriber
        .subscribe("props/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let properties = PublishProperties {
        payload_format_indicator: Some(1),
        message_expiry_interval: Some(3_600),
        response_topic: Some("props/replies".into()),
        correlation_data: Some(Bytes::from_static(b"\x00\x01req-42")),
        user_properties: vec![
            ("trace".into(), "first".into()),
            ("trace".into(), "second".into()),
            ("tenant".into(), "acme".into()),
        ],
        content_type: Some("application/json".into()),
        ..PublishProperties::default()
    };
    let request = PublishRequest::new("props/x", r#"{"ok":true}"#, QoS::AtLeastOnce)
        .properties(properties.clone());
    within::<R, _>(WAIT, "publish", publisher.publish_request(request))
        .await
        .unwrap();
    let message = next::<R>(&mut sub).await;
    assert_eq!(message.payload, r#"{"ok":true}"#.as_bytes());
    let got = &message.properties;
    assert_eq!(got.content_type, properties.content_type);
    assert_eq!(got.payload_format_indicator, Some(1));
    assert_eq!(got.response_topic, properties.response_topic);
    assert_eq!(got.correlation_data, properties.correlation_data);
    assert_eq!(got.user_properties, properties.user_properties);
    let expiry = got.message_expiry_interval.expect("expiry forwarded");
    assert!((3_500..=3_600).contains(&expiry), "expiry {expiry}");
    publisher.disconnect().await.unwrap();
    subscriber.disconnect().await.unwrap();
}

fn with_will(broker: &Broker, client_id: &str) -> Config {
    let mut config = v5(broker, client_id);
    config.mqtt.will = Some(Will {
        topic: format!("wills/{client_id}"),
        payload: format!("{client_id} is gone").into(),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Default::default(),
    });
    config
}

/// Waits until the broker has processed `client_id`'s DISCONNECT (its log says so).
async fn broker_saw_disconnect<R: Runtime + Default>(broker: &Broker, client_id: &str) {
    let line = format!("Client {client_id} disconnected");
    within::<R, _>(WAIT, "broker logs the disconnect", async {
        while !broker.log().contains(&line) {
            pause::<R>(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// After the broker has handled everything before it, a sentinel published now is the next
/// message on `wills`: whatever arrives first was published before it.
async fn next_after_sentinel<R: Runtime + Default>(
    watcher: &Client<R>,
    wills: &mut Subscription,
) -> String {
    watcher
        .publish("wills/sentinel", "sentinel", QoS::AtLeastOnce)
        .await
        .unwrap();
    String::from_utf8_lossy(&next::<R>(wills).await.payload).into_owned()
}

/// `disconnect_with(DisconnectOptions::with_will())` (reason 0x04) makes the broker publish the
/// will; a normal `disconnect()` discards it (the message after it is the sentinel).
pub async fn disconnect_with_will_publishes_the_will_and_a_normal_one_does_not<
    R: Runtime + Default,
>() {
    let broker = Broker::start(BrokerOptions::plain(), None);
    let watcher = connect::<R>(v5(&broker, "will-watcher")).await;
    let mut wills = watcher
        .subscribe("wills/#", QoS::AtLeastOnce)
        .await
        .unwrap();

    let normal = connect::<R>(with_will(&broker, "normal-leaver")).await;
    normal.disconnect().await.unwrap();
    broker_saw_disconnect::<R>(&broker, "normal-leaver").await;
    assert_eq!(
        next_after_sentinel::<R>(&watcher, &mut wills).await,
        "sentinel",
        "a normal disconnect published the will"
    );

    let leaver = connect::<R>(with_will(&broker, "will-leaver")).await;
    leaver
        .disconnect_with(
            DisconnectOptions::with_will()
                .reason_string("leaving on purpose")
                .user_property("why", "test"),
        )
        .await
        .unwrap();
    let will = next::<R>(&mut wills).await;
    assert_eq!(will.topic, "wills/will-leaver");
    assert_eq!(will.payload, "will-leaver is gone".as_bytes());
    watcher.disconnect().await.unwrap();
}

/// Connects with a session the broker keeps for an hour, subscribes, leaves with `leave`, lets
/// a message be published while away, reconnects and subscribes again: returns the first
/// message then (the missed one if the session survived, else the sentinel published after).
async fn first_message_after_return<R: Runtime + Default>(
    broker: &Broker,
    client_id: &str,
    leave: DisconnectOptions,
) -> String {
    let mut config = v5(broker, client_id);
    config.mqtt.clean_start = false;
    config.mqtt.session_expiry_interval = Some(3_600);
    let topic = format!("sessions/{client_id}");
    let client = connect::<R>(config.clone()).await;
    drop(client.subscribe(&topic, QoS::AtLeastOnce).await.unwrap());
    client.disconnect_with(leave).await.unwrap();
    drop(client);
    broker_saw_disconnect::<R>(broker, client_id).await;

    let publisher = connect::<R>(v5(broker, &format!("{client_id}-pub"))).await;
    publisher
        .publish(&topic, "missed", QoS::AtLeastOnce)
        .await
        .unwrap();
    let client = connect::<R>(config).await;
    let mut sub = client.subscribe(&topic, QoS::AtLeastOnce).await.unwrap();
    publisher
        .publish(&topic, "sentinel", QoS::AtLeastOnce)
        .await
        .unwrap();
    let first = String::from_utf8_lossy(&next::<R>(&mut sub).await.payload).into_owned();
    publisher.disconnect().await.unwrap();
    client.disconnect().await.unwrap();
    first
}

/// A session expiry interval of 0 on DISCONNECT ends the session CONNECT asked the broker to
/// keep for an hour: on return nothing missed is waiting. The control, a normal disconnect,
/// keeps it: the missed message comes first.
pub async fn session_expiry_zero_on_disconnect_ends_the_session<R: Runtime + Default>() {
    let broker = Broker::start(BrokerOptions::plain(), None);
    assert_eq!(
        first_message_after_return::<R>(&broker, "keeps-session", DisconnectOptions::normal())
            .await,
        "missed",
        "control: the session should have been kept"
    );
    assert_eq!(
        first_message_after_return::<R>(
            &broker,
            "ends-session",
            DisconnectOptions::normal().session_expiry_interval(0)
        )
        .await,
        "sentinel",
        "the session survived a DISCONNECT with session expiry 0"
    );
}

/// A publish with a 1 s message expiry interval waits behind a publish in flight to a frozen
/// broker: it fails with `RequestError::Expired` and is never delivered; one with an hour
/// waiting with it is sent once the broker thaws, its interval reduced by the wait.
pub async fn queued_publish_expires_while_the_broker_is_frozen<R: Runtime + Default>() {
    let broker = Broker::start(BrokerOptions::plain(), None);
    let subscriber = connect::<R>(v5(&broker, "expiry-sub")).await;
    let mut sub = subscriber
        .subscribe("expiry/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let mut config = v5(&broker, "expiry-pub");
    config.mqtt.max_inflight = 1;
    let publisher = connect::<R>(config).await;
    let expiring = |topic: &str, seconds| {
        PublishRequest::new(topic, topic.to_owned(), QoS::AtLeastOnce).properties(
            PublishProperties {
                message_expiry_interval: Some(seconds),
                ..PublishProperties::default()
            },
        )
    };
    broker.freeze();
    // Polled in this order, so admitted in this order: a takes the one in-flight slot.
    let first = publisher.publish("expiry/a", "expiry/a", QoS::AtLeastOnce);
    let short = async {
        let result = publisher.publish_request(expiring("expiry/short", 1)).await;
        broker.thaw();
        result
    };
    let long = publisher.publish_request(expiring("expiry/long", 3_600));
    let (first, short, long) = within::<R, _>(
        WAIT,
        "the three publishes resolve",
        futures_util::future::join3(first, short, long),
    )
    .await;
    first.unwrap();
    long.unwrap();
    assert!(
        matches!(short, Err(Error::Failed(RequestError::Expired))),
        "{short:?}"
    );
    assert_eq!(next::<R>(&mut sub).await.topic, "expiry/a");
    let kept = next::<R>(&mut sub).await;
    assert_eq!(
        kept.topic, "expiry/long",
        "the expired publish was delivered"
    );
    let interval = kept.properties.message_expiry_interval.expect("interval");
    assert!(interval < 3_600, "not reduced by the wait: {interval}");
    assert_eq!(publisher.stats().await.unwrap().core.messages_expired, 1);
    publisher.disconnect().await.unwrap();
    subscriber.disconnect().await.unwrap();
}

/// Refusals reach the async caller as typed errors and leave the client open: anything but a
/// normal DISCONNECT on MQTT 3.1.1, and a non-zero session expiry when CONNECT sent 0.
pub async fn disconnect_with_refusals_keep_the_client_open<R: Runtime + Default>() {
    let broker = Broker::start(BrokerOptions::plain(), None);
    let v311 = connect::<R>(plain(&broker, "refused-311")).await;
    let refused = v311.disconnect_with(DisconnectOptions::with_will()).await;
    assert!(
        matches!(refused, Err(Error::Request(ClientError::Unsupported(_)))),
        "{refused:?}"
    );
    v311.publish("still/open", "x", QoS::AtLeastOnce)
        .await
        .unwrap();
    v311.disconnect().await.unwrap();

    // clean_start and no interval configured: CONNECT sent 0.
    let v5_client = connect::<R>(v5(&broker, "refused-5")).await;
    let refused = v5_client
        .disconnect_with(DisconnectOptions::normal().session_expiry_interval(60))
        .await;
    assert!(
        matches!(
            refused,
            Err(Error::Request(ClientError::SessionExpiryWasZero {
                requested: 60
            }))
        ),
        "{refused:?}"
    );
    v5_client
        .publish("still/open", "x", QoS::AtLeastOnce)
        .await
        .unwrap();
    v5_client.disconnect().await.unwrap();
}
