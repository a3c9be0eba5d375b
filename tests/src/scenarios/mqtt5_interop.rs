//! Issue 12 against a real Mosquitto 2.0.11 with MQTT 5, on every runtime: the Paho
//! interoperability scenarios that need the broker's side (subscription options no local,
//! retain as published and retain handling; the will delay interval), the limits Mosquitto
//! can announce in CONNACK (maximum QoS, retain unavailable, maximum packet size, receive
//! maximum) obeyed by the client, request/response where correlation matters, what a session
//! takeover looks like to the client taken over, and manual acknowledgement under the client's receive maximum.

use bytes::Bytes;
use futures_util::future::join_all;
use jamey_mqtt::{
    Client, ClientError, Config, DisconnectOptions, Error, Event, LostReason, ProtocolVersion,
    PublishRequest, QoS, RetainHandling, Runtime, SubscribeFilter, Subscription,
    TransportErrorKind, Unsupported, Will, WillProperties,
};
use jamey_mqtt_core::packet::PublishProperties;

use super::{connect, mqtt, next, within, WAIT};
use crate::{Broker, BrokerOptions};

fn v5(broker: &Broker, client_id: &str) -> Config {
    Config::new("127.0.0.1", broker.port()).mqtt(mqtt(client_id, ProtocolVersion::V5))
}

fn text(payload: &Bytes) -> String {
    String::from_utf8_lossy(payload).into_owned()
}

/// Mosquitto configured with `max_qos 1`, `retain_available false` and `max_packet_size 2000`
/// announces them in CONNACK; the client refuses a QoS 2 publish, a retained one and one
/// larger than 2000 bytes locally with typed errors (nothing reaches the broker, which would
/// end the connection), and what is within the limits goes through on the same connection.
pub async fn mosquitto_max_qos_retain_and_packet_size_are_refused_locally<R: Runtime + Default>() {
    let broker = Broker::start(
        BrokerOptions::plain()
            .config_line("max_qos 1")
            .config_line("retain_available false")
            .config_line("max_packet_size 2000"),
        None,
    );
    let client = connect::<R>(v5(&broker, "limits")).await;
    let limits = client.connection_info().expect("connected").limits;
    assert_eq!(limits.maximum_qos, QoS::AtLeastOnce);
    assert!(!limits.retain_available);
    assert_eq!(limits.maximum_packet_size, Some(2000));
    let mut sub = client
        .subscribe("limits/#", QoS::AtLeastOnce)
        .await
        .unwrap();

    let qos2 = client.publish("limits/a", "x", QoS::ExactlyOnce).await;
    assert!(
        matches!(
            qos2,
            Err(Error::Request(ClientError::Unsupported(
                Unsupported::QoSAboveMaximum {
                    requested: QoS::ExactlyOnce,
                    maximum: QoS::AtLeastOnce,
                }
            )))
        ),
        "{qos2:?}"
    );
    let retained = client
        .publish_request(PublishRequest::new("limits/a", "x", QoS::AtLeastOnce).retain(true))
        .await;
    assert!(
        matches!(
            retained,
            Err(Error::Request(ClientError::Unsupported(
                Unsupported::Retain
            )))
        ),
        "{retained:?}"
    );
    let large = client
        .publish("limits/a", vec![b'x'; 3000], QoS::AtLeastOnce)
        .await;
    assert!(
        matches!(
            large,
            Err(Error::Request(ClientError::PacketTooLarge {
                max: 2000,
                ..
            }))
        ),
        "{large:?}"
    );
    within::<R, _>(
        WAIT,
        "a publish within the limits",
        client.publish("limits/a", "fits", QoS::AtLeastOnce),
    )
    .await
    .unwrap();
    assert_eq!(next::<R>(&mut sub).await.payload, "fits".as_bytes());
    let stats = client.stats().await.unwrap();
    assert_eq!(
        stats.core.connections, 1,
        "the broker never ended the connection"
    );
    client.disconnect().await.unwrap();
}

/// Mosquitto with `max_inflight_messages 3` announces a receive maximum of 3: 30 QoS 2
/// publishes at once all complete, never more than 3 unacknowledged at the broker (beyond
/// it Mosquitto refuses the publish with 0x97 quota exceeded).
pub async fn mosquitto_receive_maximum_is_never_exceeded<R: Runtime + Default>() {
    let broker = Broker::start(
        BrokerOptions::plain()
            .default_inflight()
            .config_line("max_inflight_messages 3"),
        None,
    );
    let client = connect::<R>(v5(&broker, "receive-max")).await;
    let limits = client.connection_info().expect("connected").limits;
    assert_eq!(limits.receive_maximum, 3);
    let mut sub = client
        .subscribe("receive-max/#", QoS::ExactlyOnce)
        .await
        .unwrap();
    let outcomes = within::<R, _>(
        WAIT,
        "30 QoS 2 publishes",
        join_all(
            (0..30).map(|i| client.publish(format!("receive-max/{i}"), "x", QoS::ExactlyOnce)),
        ),
    )
    .await;
    for (i, outcome) in outcomes.into_iter().enumerate() {
        assert!(outcome.is_ok(), "publish {i}: {outcome:?}");
    }
    for _ in 0..30 {
        next::<R>(&mut sub).await;
    }
    let stats = client.stats().await.unwrap();
    assert_eq!(
        stats.core.connections, 1,
        "the broker never ended the connection"
    );
    client.disconnect().await.unwrap();
}

/// A second MQTT 5 client with the same client id takes the session over. Mosquitto 2.0.11
/// sends the first one no DISCONNECT (no 0x8E "session taken over": its log shows none, and
/// the first client reads a plain close), so the first client reports a transport close as
/// the reason its connection was lost, as the README says. A broker that sends 0x8E would be
/// reported as `LostReason::ServerDisconnect` with that code (the scripted broker's test in
/// `core/tests/client_mqtt5_messages.rs`); this test fails if Mosquitto starts sending it,
/// and the README must then change.
pub async fn session_takeover_ends_the_first_connection_with_its_reason<R: Runtime + Default>() {
    let broker = Broker::start(BrokerOptions::plain(), None);
    let mut config = v5(&broker, "taken-over");
    // The first client does not come back to take the session over in turn.
    config.mqtt.reconnect.enabled = false;
    let first = connect::<R>(config.clone()).await;
    let mut events = first.events();
    let second = connect::<R>(v5(&broker, "taken-over")).await;
    let lost = within::<R, _>(WAIT, "the first client's loss", async {
        loop {
            match events.recv().await {
                Some(Event::ConnectionLost(reason)) => return reason,
                Some(_) => continue,
                None => panic!("events ended before the loss"),
            }
        }
    })
    .await;
    match lost {
        LostReason::Transport(error) => assert_eq!(error.kind(), TransportErrorKind::Closed),
        other => panic!(
            "expected a plain close from Mosquitto 2.0.11, got {other:?}\n{}",
            broker.log()
        ),
    }
    assert!(
        broker
            .log()
            .contains("Client taken-over already connected, closing old connection"),
        "the loss was the takeover"
    );
    second.disconnect().await.unwrap();
}

/// Request/response where correlation decides: the responder holds two concurrent requests,
/// first sends an answer carrying correlation data no request has to the first request's
/// response topic, then answers the second request before the first. Each request resolves
/// with its own answer; the stray one is ignored.
pub async fn request_correlation_ignores_a_wrong_answer_and_out_of_order_ones<
    R: Runtime + Default,
>() {
    let broker = Broker::start(BrokerOptions::plain(), None);
    let responder = connect::<R>(v5(&broker, "responder-2")).await;
    let mut requests = responder
        .subscribe("service/slow", QoS::AtLeastOnce)
        .await
        .unwrap();
    let requester = connect::<R>(v5(&broker, "requester-2")).await;
    let respond = async {
        let mut held = Vec::new();
        for _ in 0..2 {
            held.push(next::<R>(&mut requests).await);
        }
        held.sort_by_key(|m| m.payload.clone());
        let first = &held[0];
        let stray = PublishRequest::new(
            first
                .properties
                .response_topic
                .clone()
                .expect("a response topic"),
            "stray",
            QoS::AtLeastOnce,
        )
        .properties(PublishProperties {
            correlation_data: Some(Bytes::from_static(b"no such request")),
            ..PublishProperties::default()
        });
        responder.publish_request(stray).await.unwrap();
        for request in held.iter().rev() {
            let body = format!("answer to {}", text(&request.payload));
            let response = request.response(body, QoS::AtLeastOnce).unwrap();
            responder.publish_request(response).await.unwrap();
        }
    };
    let (answers, ()) = within::<R, _>(
        WAIT,
        "two requests",
        futures_util::future::join(
            futures_util::future::join(
                requester.request("service/slow", "a", WAIT),
                requester.request("service/slow", "b", WAIT),
            ),
            respond,
        ),
    )
    .await;
    assert_eq!(text(&answers.0.unwrap().payload), "answer to a");
    assert_eq!(text(&answers.1.unwrap().payload), "answer to b");
    requester.disconnect().await.unwrap();
    responder.disconnect().await.unwrap();
}

/// No local: a subscription with the option does not receive the client's own publishes,
/// only the others'.
pub async fn no_local_subscription_gets_only_the_others_publishes<R: Runtime + Default>() {
    let broker = Broker::start(BrokerOptions::plain(), None);
    let me = connect::<R>(v5(&broker, "no-local-me")).await;
    let other = connect::<R>(v5(&broker, "no-local-other")).await;
    let mut filter = SubscribeFilter::new("no-local/#", QoS::AtLeastOnce);
    filter.no_local = true;
    let mut sub = me.subscribe_with(filter).await.unwrap();
    // Completed (PUBACK) before the other's publish: had it been forwarded, it came first.
    me.publish("no-local/me", "mine", QoS::AtLeastOnce)
        .await
        .unwrap();
    other
        .publish("no-local/other", "theirs", QoS::AtLeastOnce)
        .await
        .unwrap();
    assert_eq!(text(&next::<R>(&mut sub).await.payload), "theirs");
    other.disconnect().await.unwrap();
    me.disconnect().await.unwrap();
}

/// Retain as published: a live message published with retain reaches a subscription with the
/// option with its retain flag, and one without it with the flag cleared.
pub async fn retain_as_published_keeps_the_flag_on_forwarded_messages<R: Runtime + Default>() {
    let broker = Broker::start(BrokerOptions::plain(), None);
    let keeper = connect::<R>(v5(&broker, "rap-keeper")).await;
    let clearer = connect::<R>(v5(&broker, "rap-clearer")).await;
    let mut filter = SubscribeFilter::new("rap/t", QoS::AtLeastOnce);
    filter.retain_as_published = true;
    let mut kept = keeper.subscribe_with(filter).await.unwrap();
    let mut cleared = clearer.subscribe("rap/t", QoS::AtLeastOnce).await.unwrap();
    let publisher = connect::<R>(v5(&broker, "rap-pub")).await;
    publisher
        .publish_request(PublishRequest::new("rap/t", "live", QoS::AtLeastOnce).retain(true))
        .await
        .unwrap();
    let with_option = next::<R>(&mut kept).await;
    let without = next::<R>(&mut cleared).await;
    assert_eq!(text(&with_option.payload), "live");
    assert!(with_option.retain, "retain as published keeps the flag");
    assert!(!without.retain, "without the option the flag is cleared");
    for client in [&keeper, &clearer, &publisher] {
        client.disconnect().await.unwrap();
    }
}

/// Subscribes to `retained/t` with `handling` and reports whether the retained message came:
/// a marker published after the SUBACK is the first message unless the broker sent the
/// retained one (right after its SUBACK, so before the marker).
async fn retained_sent<R: Runtime + Default>(
    subscriber: &Client<R>,
    publisher: &Client<R>,
    handling: RetainHandling,
) -> bool {
    let mut filter = SubscribeFilter::new("retained/t", QoS::AtLeastOnce);
    filter.retain_handling = handling;
    let mut sub: Subscription = subscriber.subscribe_with(filter).await.unwrap();
    publisher
        .publish("retained/t", "marker", QoS::AtLeastOnce)
        .await
        .unwrap();
    let first = next::<R>(&mut sub).await;
    if text(&first.payload) == "marker" {
        return false;
    }
    assert_eq!(text(&first.payload), "kept");
    assert!(
        first.retain,
        "a retained message sent at subscribe has the flag"
    );
    assert_eq!(text(&next::<R>(&mut sub).await.payload), "marker");
    true
}

/// Retain handling: 0 sends the retained message at every subscribe, 1 only when the
/// subscription is new, 2 never.
pub async fn retain_handling_decides_when_retained_messages_are_sent<R: Runtime + Default>() {
    let broker = Broker::start(BrokerOptions::plain(), None);
    let publisher = connect::<R>(v5(&broker, "rh-pub")).await;
    publisher
        .publish_request(PublishRequest::new("retained/t", "kept", QoS::AtLeastOnce).retain(true))
        .await
        .unwrap();
    let subscriber = connect::<R>(v5(&broker, "rh-sub")).await;
    // (Each stream is dropped after its check; the broker keeps the subscription.)
    assert!(retained_sent(&subscriber, &publisher, RetainHandling::SendAtSubscribe).await);
    assert!(
        retained_sent(&subscriber, &publisher, RetainHandling::SendAtSubscribe).await,
        "0: sent again when the subscription exists"
    );
    assert!(
        !retained_sent(
            &subscriber,
            &publisher,
            RetainHandling::SendAtSubscribeIfNew
        )
        .await,
        "1: not sent when the subscription exists"
    );
    subscriber.unsubscribe("retained/t").await.unwrap();
    assert!(
        retained_sent(
            &subscriber,
            &publisher,
            RetainHandling::SendAtSubscribeIfNew
        )
        .await,
        "1: sent for a new subscription"
    );
    subscriber.unsubscribe("retained/t").await.unwrap();
    assert!(
        !retained_sent(&subscriber, &publisher, RetainHandling::DoNotSend).await,
        "2: never sent"
    );
    publisher
        .publish_request(PublishRequest::new("retained/t", "", QoS::AtLeastOnce).retain(true))
        .await
        .unwrap();
    subscriber.disconnect().await.unwrap();
    publisher.disconnect().await.unwrap();
}

/// Will delay interval: a client that leaves with its will (DISCONNECT 0x04) and a will delay
/// of 3 s, its session kept for a minute: the will is not published when the broker reads the
/// DISCONNECT (a marker published after it arrives first) but once the delay has passed.
pub async fn will_delay_interval_holds_the_will_back<R: Runtime + Default>() {
    let broker = Broker::start(BrokerOptions::plain(), None);
    let watcher = connect::<R>(v5(&broker, "delay-watcher")).await;
    let mut wills = watcher
        .subscribe("delayed/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let mut config = v5(&broker, "delayed-leaver");
    config.mqtt.session_expiry_interval = Some(60);
    config.mqtt.will = Some(Will {
        topic: "delayed/will".into(),
        payload: "delayed-leaver is gone".into(),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: WillProperties {
            delay_interval: Some(3),
            ..WillProperties::default()
        },
    });
    let leaver = connect::<R>(config).await;
    leaver
        .disconnect_with(DisconnectOptions::with_will())
        .await
        .unwrap();
    watcher
        .publish("delayed/marker", "marker", QoS::AtLeastOnce)
        .await
        .unwrap();
    assert_eq!(
        text(&next::<R>(&mut wills).await.payload),
        "marker",
        "the will was published before its delay"
    );
    let will = next::<R>(&mut wills).await;
    assert_eq!(will.topic, "delayed/will");
    assert_eq!(text(&will.payload), "delayed-leaver is gone");
    watcher.disconnect().await.unwrap();
}

/// Manual acknowledgement under the client's receive maximum (3): the broker sends three
/// QoS 1 messages and holds the rest while none is acknowledged (a QoS 0 marker, which the
/// receive maximum does not hold, overtakes them); acknowledging the three releases the rest.
pub async fn manual_ack_receive_maximum_holds_delivery_until_acked<R: Runtime + Default>() {
    let broker = Broker::start(BrokerOptions::plain(), None);
    let mut config = v5(&broker, "held-sub");
    config.mqtt.manual_ack = true;
    config.mqtt.receive_maximum = 3;
    let subscriber = connect::<R>(config).await;
    let mut sub = subscriber
        .subscribe("held/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let publisher = connect::<R>(v5(&broker, "held-pub")).await;
    for i in 0..6 {
        publisher
            .publish("held/job", format!("{i}"), QoS::AtLeastOnce)
            .await
            .unwrap();
    }
    publisher
        .publish("held/marker", "marker", QoS::AtMostOnce)
        .await
        .unwrap();
    let mut before_marker = Vec::new();
    loop {
        let message = next::<R>(&mut sub).await;
        if message.topic == "held/marker" {
            break;
        }
        before_marker.push(message);
    }
    let payloads: Vec<String> = before_marker.iter().map(|m| text(&m.payload)).collect();
    assert_eq!(
        payloads,
        ["0", "1", "2"],
        "only the receive maximum arrives unacked"
    );
    for message in &before_marker {
        subscriber.ack(message).await.unwrap();
    }
    let mut rest = Vec::new();
    for _ in 0..3 {
        let message = next::<R>(&mut sub).await;
        rest.push(text(&message.payload));
        subscriber.ack(&message).await.unwrap();
    }
    assert_eq!(rest, ["3", "4", "5"]);
    publisher.disconnect().await.unwrap();
    subscriber.disconnect().await.unwrap();
}
