//! Issue 12 items 4 and 5 end to end against a real Mosquitto over MQTT 5, on every runtime:
//! several filters in one SUBSCRIBE / UNSUBSCRIBE with a result per filter, and subscription
//! identifiers (carried on messages, routing overlapping and shared subscriptions exactly, kept
//! when the client subscribes again after the broker lost the session).

use jamey_mqtt::{
    Config, Event, Message, ProtocolVersion, QoS, Runtime, SubscribeFilter, Subscription,
};
use jamey_mqtt_core::packet::SubscribeProperties;

use super::{connect, next, next_event, plain, within, WAIT};
use crate::{Broker, BrokerOptions};

fn v5(broker: &Broker, client_id: &str) -> Config {
    let mut config = plain(broker, client_id);
    config.mqtt.protocol = ProtocolVersion::V5;
    config
}

/// How many times the broker logged receiving `packet` (e.g. "SUBSCRIBE") from `client_id`.
fn received(broker: &Broker, packet: &str, client_id: &str) -> usize {
    let line = format!("Received {packet} from {client_id}");
    broker.log().lines().filter(|l| l.ends_with(&line)).count()
}

fn identified(identifier: usize) -> SubscribeProperties {
    SubscribeProperties {
        subscription_identifier: Some(identifier),
        user_properties: vec![("by".into(), "jamey".into())],
    }
}

/// Subscribes one filter with an identifier and returns its stream.
async fn subscribe_identified<R: Runtime + Default>(
    client: &jamey_mqtt::Client<R>,
    filter: &str,
    identifier: usize,
) -> Subscription {
    let mut results = within::<R, _>(
        WAIT,
        "subscribe with an identifier",
        client.subscribe_many_with(
            vec![SubscribeFilter::new(filter, QoS::AtLeastOnce)],
            identified(identifier),
        ),
    )
    .await
    .expect("subscribe accepted");
    results.pop().expect("one result").expect("granted")
}

/// The next message of `sub`: its payload and subscription identifiers.
async fn next_identified<R: Runtime + Default>(sub: &mut Subscription) -> (String, Vec<usize>) {
    let message: Message = next::<R>(sub).await;
    (
        String::from_utf8_lossy(&message.payload).into_owned(),
        message.properties.into_inner().subscription_identifiers,
    )
}

/// Three filters in one SUBSCRIBE, with user properties: one packet reaches the broker, each
/// filter gets its own result and its own stream, and each stream gets only its messages.
pub async fn subscribe_many_is_one_packet_with_a_result_per_filter<R: Runtime + Default>() {
    let broker = Broker::start(BrokerOptions::plain(), None);
    let client = connect::<R>(v5(&broker, "subscribe-many")).await;
    let results = within::<R, _>(
        WAIT,
        "subscribe_many",
        client.subscribe_many_with(
            vec![
                SubscribeFilter::new("many/a", QoS::AtMostOnce),
                SubscribeFilter::new("many/b", QoS::AtLeastOnce),
                SubscribeFilter::new("many/c", QoS::ExactlyOnce),
            ],
            SubscribeProperties {
                subscription_identifier: None,
                user_properties: vec![("purpose".into(), "test".into())],
            },
        ),
    )
    .await
    .expect("subscribe accepted");
    let mut streams: Vec<Subscription> = results
        .into_iter()
        .map(|result| result.expect("granted"))
        .collect();
    let granted: Vec<QoS> = streams.iter().map(Subscription::granted_qos).collect();
    assert_eq!(
        granted,
        vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
    );
    assert_eq!(received(&broker, "SUBSCRIBE", "subscribe-many"), 1);
    for (name, stream) in ["a", "b", "c"].into_iter().zip(&mut streams) {
        client
            .publish(format!("many/{name}"), name, QoS::AtLeastOnce)
            .await
            .unwrap();
        assert_eq!(next::<R>(stream).await.payload, name.as_bytes());
    }
    // Each stream got exactly its own: a marker on every topic comes next everywhere.
    for name in ["a", "b", "c"] {
        client
            .publish(format!("many/{name}"), "end", QoS::AtLeastOnce)
            .await
            .unwrap();
    }
    for stream in &mut streams {
        assert_eq!(next::<R>(stream).await.payload, "end".as_bytes());
    }
    client.disconnect().await.unwrap();
}

/// Two subscribed filters and one never subscribed in one UNSUBSCRIBE: one packet, a result
/// per filter, and both streams end.
pub async fn unsubscribe_many_is_one_packet_with_a_result_per_filter<R: Runtime + Default>() {
    let broker = Broker::start(BrokerOptions::plain(), None);
    let client = connect::<R>(v5(&broker, "unsubscribe-many")).await;
    let streams = within::<R, _>(
        WAIT,
        "subscribe_many",
        client.subscribe_many(vec![
            SubscribeFilter::new("gone/a", QoS::AtLeastOnce),
            SubscribeFilter::new("gone/b", QoS::AtLeastOnce),
        ]),
    )
    .await
    .expect("subscribe accepted");
    let mut streams: Vec<Subscription> = streams.into_iter().map(|r| r.unwrap()).collect();
    let results = within::<R, _>(
        WAIT,
        "unsubscribe_many",
        client.unsubscribe_many_with(
            vec!["gone/a".into(), "gone/b".into(), "never/subscribed".into()],
            vec![("purpose".into(), "test".into())],
        ),
    )
    .await
    .expect("unsubscribe accepted");
    assert_eq!(results.len(), 3);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(received(&broker, "UNSUBSCRIBE", "unsubscribe-many"), 1);
    for stream in &mut streams {
        let end = within::<R, _>(WAIT, "stream ends", stream.recv()).await;
        assert!(end.is_none(), "{end:?}");
    }
    client.disconnect().await.unwrap();
}

/// Two overlapping subscriptions with different identifiers: Mosquitto sends a copy for
/// each, carrying its identifier, and each stream gets exactly its copies.
pub async fn identifiers_route_overlapping_subscriptions_exactly<R: Runtime + Default>() {
    let broker = Broker::start(BrokerOptions::plain(), None);
    let client = connect::<R>(v5(&broker, "identifiers")).await;
    let mut wide = subscribe_identified(&client, "ids/#", 1).await;
    let mut narrow = subscribe_identified(&client, "ids/+", 2).await;
    let mut plain_sub = client.subscribe("ids/x", QoS::AtLeastOnce).await.unwrap();
    for payload in ["first", "second"] {
        client
            .publish("ids/x", payload, QoS::AtLeastOnce)
            .await
            .unwrap();
    }
    // A duplicate copy would come before "second".
    for payload in ["first", "second"] {
        assert_eq!(
            next_identified::<R>(&mut wide).await,
            (payload.into(), vec![1])
        );
        assert_eq!(
            next_identified::<R>(&mut narrow).await,
            (payload.into(), vec![2])
        );
        assert_eq!(
            next_identified::<R>(&mut plain_sub).await,
            (payload.into(), vec![])
        );
    }
    client.disconnect().await.unwrap();
}

/// A shared subscription and a plain one on the same topics, with different identifiers: the
/// shared one's messages arrive on its own stream only.
pub async fn shared_subscription_with_an_identifier_gets_its_own_stream<R: Runtime + Default>() {
    let broker = Broker::start(BrokerOptions::plain(), None);
    let client = connect::<R>(v5(&broker, "shared-ids")).await;
    let mut shared = subscribe_identified(&client, "$share/g/sh/#", 7).await;
    let mut direct = subscribe_identified(&client, "sh/#", 8).await;
    for payload in ["one", "two"] {
        client
            .publish("sh/t", payload, QoS::AtLeastOnce)
            .await
            .unwrap();
    }
    for payload in ["one", "two"] {
        assert_eq!(
            next_identified::<R>(&mut shared).await,
            (payload.into(), vec![7])
        );
        assert_eq!(
            next_identified::<R>(&mut direct).await,
            (payload.into(), vec![8])
        );
    }
    client.disconnect().await.unwrap();
}

/// The broker restarts without persistence (session lost): the client subscribes again with
/// the identifiers, and messages carry them again.
pub async fn identifiers_are_kept_after_a_session_loss<R: Runtime + Default>() {
    let mut broker = Broker::start(BrokerOptions::plain(), None);
    let client = connect::<R>(v5(&broker, "ids-resubscribe")).await;
    let mut events = client.events();
    let mut one = subscribe_identified(&client, "again/#", 11).await;
    let mut two = subscribe_identified(&client, "again/+", 12).await;
    broker.restart();
    // One SUBSCRIBE per identifier, answered in order.
    for (filter, identifier) in [("again/#", 11), ("again/+", 12)] {
        next_event::<R>(
            &mut events,
            &format!("re-subscribed with {identifier}"),
            |e| {
                matches!(e, Event::Resubscribed { results }
                if results.iter().any(|(f, r)| f == filter && r.is_ok()))
            },
        )
        .await;
    }
    within::<R, _>(
        WAIT,
        "publish after the restart",
        client.publish("again/x", "back", QoS::AtLeastOnce),
    )
    .await
    .unwrap();
    assert_eq!(
        next_identified::<R>(&mut one).await,
        ("back".into(), vec![11])
    );
    assert_eq!(
        next_identified::<R>(&mut two).await,
        ("back".into(), vec![12])
    );
    client.disconnect().await.unwrap();
}
