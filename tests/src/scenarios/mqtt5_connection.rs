//! Issue 12 against a real Mosquitto (MQTT 5): what the application sees of the connection in
//! force (CONNACK), the broker's keep-alive obeyed, a client id the broker assigns kept for the
//! reconnect so that the session resumes, and automatic topic aliases within the broker's
//! maximum.

use std::time::Duration;

use jamey_mqtt::{Client, Config, Event, ProtocolVersion, QoS, Runtime};

use super::{connect, next, plain, within, WAIT};
use crate::{Broker, BrokerOptions, Proxy};

fn v5(port: u16, client_id: &str) -> Config {
    let mut config = Config::new("127.0.0.1", port);
    config.mqtt.protocol = ProtocolVersion::V5;
    config.mqtt.client_id = client_id.into();
    config
}

/// Mosquitto with `max_keepalive 10` (its minimum) imposes a 10 s keep-alive on a client that
/// asked for 60: the CONNACK's server keep alive and limits are visible from `connect` on, and
/// the imposed keep-alive is obeyed (the first PINGREQ goes out within it, not after 60 s).
pub async fn connack_information_reaches_the_application<R: Runtime + Default>() {
    let broker = Broker::start(BrokerOptions::plain().config_line("max_keepalive 10"), None);
    let mut config = v5(broker.port(), "connack-info");
    config.mqtt.keep_alive = Duration::from_secs(60);
    let client = connect::<R>(config).await;
    let info = client.connection_info().expect("connected");
    assert!(!info.session_present);
    assert_eq!(info.client_id, "connack-info");
    assert_eq!(info.server_keep_alive, Some(10));
    assert_eq!(info.keep_alive, Duration::from_secs(10));
    // Mosquitto 2.0's defaults: aliases up to 10, retain and wildcards available.
    assert_eq!(info.limits.topic_alias_maximum, 10);
    assert!(info.limits.retain_available);
    assert!(info.limits.wildcard_subscription_available);
    // Idle: the first ping goes out at 10 s (the test's wait is 20 s; ours would be 60 s).
    within::<R, _>(WAIT, "a ping at the server keep alive", async {
        loop {
            let stats = client.stats().await.unwrap();
            if stats.core.pings_sent >= 1 {
                return stats;
            }
            super::pause::<R>(Duration::from_millis(200)).await;
        }
    })
    .await;
    let stats = client.stats().await.unwrap();
    assert_eq!(stats.core.connections, 1, "the connection was never lost");
    client.disconnect().await.unwrap();
    assert_eq!(client.connection_info(), None);
}

/// An empty client id with `broker_assigns_client_id`: Mosquitto assigns one; after the
/// connection is cut, the client reconnects with that id, the broker resumes the session, and
/// a QoS 1 message published while it was away arrives.
pub async fn broker_assigned_client_id_resumes_its_session<R: Runtime + Default>() {
    let broker = Broker::start(BrokerOptions::plain(), None);
    let proxy = Proxy::start(broker.port());
    let mut config = v5(proxy.port(), "");
    config.mqtt.broker_assigns_client_id = true;
    config.mqtt.clean_start = false;
    config.mqtt.session_expiry_interval = Some(300);
    let client: Client<R> = connect::<R>(config).await;
    let first = client.connection_info().expect("connected");
    let assigned = first
        .assigned_client_id
        .clone()
        .expect("Mosquitto assigns an id");
    assert_eq!(first.client_id, assigned);
    let mut sub = client
        .subscribe("assigned/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let mut events = client.events();
    proxy.cut();
    let publisher = connect::<R>(plain(&broker, "assigned-publisher")).await;
    publisher
        .publish("assigned/x", "while away", QoS::AtLeastOnce)
        .await
        .unwrap();
    within::<R, _>(WAIT, "the reconnect", async {
        loop {
            if let Some(Event::Connected { .. }) = events.recv().await {
                return;
            }
        }
    })
    .await;
    let second = client.connection_info().expect("reconnected");
    assert!(second.session_present, "the broker resumed the session");
    assert_eq!(second.client_id, assigned);
    assert_eq!(next::<R>(&mut sub).await.payload, "while away".as_bytes());
    publisher.disconnect().await.unwrap();
    client.disconnect().await.unwrap();
}

/// A publisher with `auto_topic_alias` sends 50 messages to a long topic through Mosquitto
/// (topic alias maximum 10): the subscriber gets every one with the full topic, and the
/// publisher sent fewer bytes than one without aliases sending the same.
pub async fn automatic_topic_aliases_reach_subscribers_with_the_full_topic<R: Runtime + Default>() {
    let broker = Broker::start(BrokerOptions::plain(), None);
    let topic = format!("aliases/{}", "long-topic-level/".repeat(6));
    let subscriber = connect::<R>(v5(broker.port(), "alias-sub")).await;
    let mut sub = subscriber
        .subscribe("aliases/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let mut bytes = Vec::new();
    for auto_topic_alias in [false, true] {
        let mut config = v5(broker.port(), &format!("alias-pub-{auto_topic_alias}"));
        config.mqtt.auto_topic_alias = auto_topic_alias;
        let publisher = connect::<R>(config).await;
        for i in 0..50 {
            publisher
                .publish(topic.as_str(), format!("{i}"), QoS::AtLeastOnce)
                .await
                .unwrap();
        }
        for i in 0..50 {
            let message = next::<R>(&mut sub).await;
            assert_eq!(message.topic, topic);
            assert_eq!(message.payload, format!("{i}").as_bytes());
        }
        bytes.push(publisher.stats().await.unwrap().core.bytes_sent);
        publisher.disconnect().await.unwrap();
    }
    assert!(
        bytes[1] + 40 * 50 < bytes[0],
        "aliases save the topic on every repeat: {bytes:?}"
    );
    subscriber.disconnect().await.unwrap();
}

/// Request/response through Mosquitto: a responder answers each request with
/// `Message::response`; two concurrent requests each get their own answer (matched by
/// correlation data), and a request nobody answers fails with `Error::TimedOut`.
pub async fn request_response_matches_answers_and_times_out<R: Runtime + Default>() {
    let broker = Broker::start(BrokerOptions::plain(), None);
    let responder = connect::<R>(v5(broker.port(), "responder")).await;
    let mut requests = responder
        .subscribe("service/echo", QoS::AtLeastOnce)
        .await
        .unwrap();
    let requester = connect::<R>(v5(broker.port(), "requester")).await;
    let answer_two = async {
        for _ in 0..2 {
            let request = next::<R>(&mut requests).await;
            let mut body = b"echo:".to_vec();
            body.extend_from_slice(&request.payload);
            let response = request
                .response(body, QoS::AtLeastOnce)
                .expect("a request names its response topic");
            responder.publish_request(response).await.unwrap();
        }
    };
    let ask = |text: &'static str| requester.request("service/echo", text, WAIT);
    let (answers, ()) = futures_util::future::join(
        futures_util::future::join(ask("one"), ask("two")),
        answer_two,
    )
    .await;
    assert_eq!(answers.0.unwrap().payload, "echo:one".as_bytes());
    assert_eq!(answers.1.unwrap().payload, "echo:two".as_bytes());
    let unanswered = requester
        .request("service/nobody", "hello?", Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(
        matches!(unanswered, jamey_mqtt::Error::TimedOut { .. }),
        "{unanswered:?}"
    );
    requester.disconnect().await.unwrap();
    responder.disconnect().await.unwrap();
}
