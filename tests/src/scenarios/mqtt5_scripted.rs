//! Issue 12, items 5 and 8, through the async client against the scripted broker
//! ([`ScriptedBroker`]) where Mosquitto 2.0.11 cannot play the broker's part: response
//! information in CONNACK (Mosquitto sends none) used as the prefix of the response topics,
//! a SUBSCRIBE never answered (the request's timeout covers it), and one filter of an
//! UNSUBSCRIBE refused (Mosquitto refuses none).

use std::time::Duration;

use bytes::Bytes;
use jamey_mqtt::{Config, Error, ProtocolVersion, QoS, ReasonCode, Runtime, SubscribeFilter};
use jamey_mqtt_core::packet::{
    Ack, AckProperties, ConnAckProperties, Packet, Publish, PublishProperties, SubAck, UnsubAck,
};

use super::{connect, mqtt, within, WAIT};
use crate::scripted::{ScriptLink, ScriptedBroker};

fn v5(broker: &ScriptedBroker, client_id: &str) -> Config {
    Config::new("127.0.0.1", broker.port()).mqtt(mqtt(client_id, ProtocolVersion::V5))
}

fn subscribe(link: &mut ScriptLink) -> Result<jamey_mqtt_core::packet::Subscribe, String> {
    match link.receive()? {
        Packet::Subscribe(subscribe) => Ok(subscribe),
        other => Err(format!("expected SUBSCRIBE, got {other:?}")),
    }
}

fn suback(link: &mut ScriptLink, pkid: u16, n: usize) -> Result<(), String> {
    link.send(&Packet::SubAck(SubAck {
        pkid,
        reasons: vec![ReasonCode::GRANTED_QOS_1; n],
        properties: AckProperties::default(),
    }))
}

/// Receives an UNSUBSCRIBE of exactly `filters` and answers it with `reasons`.
fn unsubscribe(
    link: &mut ScriptLink,
    filters: &[String],
    reasons: Vec<ReasonCode>,
) -> Result<(), String> {
    match link.receive()? {
        Packet::Unsubscribe(u) if u.filters == filters => link.send(&Packet::UnsubAck(UnsubAck {
            pkid: u.pkid,
            reasons,
            properties: AckProperties::default(),
        })),
        other => Err(format!("expected UNSUBSCRIBE {filters:?}, got {other:?}")),
    }
}

fn disconnect(link: &mut ScriptLink) -> Result<(), String> {
    match link.receive()? {
        Packet::Disconnect(_) => Ok(()),
        other => Err(format!("expected DISCONNECT, got {other:?}")),
    }
}

fn answer(topic: &str, payload: &'static str, correlation: Option<Bytes>) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: topic.into(),
        pkid: 0,
        payload: Bytes::from_static(payload.as_bytes()),
        properties: PublishProperties {
            correlation_data: correlation,
            ..PublishProperties::default()
        }
        .into(),
    })
}

/// The client asks for response information; the broker gives `replies/from-broker`: the
/// request subscribes to and names a response topic under it, and of the two answers sent
/// there, the one with another request's correlation data is ignored.
pub async fn request_uses_the_brokers_response_information<R: Runtime + Default>() {
    let broker = ScriptedBroker::start(|link| {
        let connect = link.accept(ConnAckProperties {
            response_information: Some("replies/from-broker".into()),
            ..ConnAckProperties::default()
        })?;
        if connect.properties.request_response_information != Some(1) {
            return Err(format!("response information not requested: {connect:?}"));
        }
        let subscribe = subscribe(link)?;
        let filter = subscribe.filters[0].filter.clone();
        if !filter.starts_with("replies/from-broker/") {
            return Err(format!("response topic {filter:?} is not under the prefix"));
        }
        suback(link, subscribe.pkid, 1)?;
        let request = match link.receive()? {
            Packet::Publish(publish) => publish,
            other => return Err(format!("expected the request, got {other:?}")),
        };
        if request.properties.response_topic.as_deref() != Some(filter.as_str()) {
            return Err(format!("request names another response topic: {request:?}"));
        }
        link.send(&Packet::PubAck(Ack::success(request.pkid)))?;
        let correlation = request.properties.correlation_data.clone();
        link.send(&answer(
            &filter,
            "stray",
            Some(Bytes::from_static(b"someone else")),
        ))?;
        link.send(&answer(&filter, "answer", correlation))?;
        unsubscribe(link, &[filter], vec![ReasonCode::SUCCESS])?;
        disconnect(link)
    });
    let mut config = v5(&broker, "scripted-request");
    config.mqtt.request_response_information = true;
    let client = connect::<R>(config).await;
    assert_eq!(
        client
            .connection_info()
            .and_then(|info| info.response_information)
            .as_deref(),
        Some("replies/from-broker")
    );
    let response = within::<R, _>(WAIT, "the request", client.request("service/x", "q", WAIT))
        .await
        .expect("answered");
    assert_eq!(response.payload, "answer".as_bytes());
    client.disconnect().await.unwrap();
    broker.finish();
}

/// A broker that never answers the SUBSCRIBE to the response topic: the request still
/// resolves with `Error::TimedOut` once its timeout has passed, and unsubscribes.
pub async fn request_timeout_covers_an_unanswered_subscribe<R: Runtime + Default>() {
    let broker = ScriptedBroker::start(|link| {
        link.accept(ConnAckProperties::default())?;
        let subscribe = subscribe(link)?;
        let filter = subscribe.filters[0].filter.clone();
        // No SUBACK until the client gave up and unsubscribed.
        match link.receive()? {
            Packet::Unsubscribe(u) if u.filters == [filter.clone()] => {
                suback(link, subscribe.pkid, 1)?;
                link.send(&Packet::UnsubAck(UnsubAck {
                    pkid: u.pkid,
                    reasons: vec![ReasonCode::SUCCESS],
                    properties: AckProperties::default(),
                }))?;
            }
            other => return Err(format!("expected UNSUBSCRIBE {filter:?}, got {other:?}")),
        }
        disconnect(link)
    });
    let client = connect::<R>(v5(&broker, "scripted-timeout")).await;
    let timeout = Duration::from_millis(300);
    let outcome = within::<R, _>(
        WAIT,
        "a request whose SUBSCRIBE is never answered",
        client.request("service/x", "q", timeout),
    )
    .await;
    assert!(
        matches!(outcome, Err(Error::TimedOut { after }) if after == timeout),
        "{outcome:?}"
    );
    client.disconnect().await.unwrap();
    broker.finish();
}

/// UNSUBACK with a failure code (>= 0x80) for one filter: that filter's result is
/// `Error::UnsubscribeRefused` with the filter and the code, the other one succeeds.
pub async fn unsubscribe_refused_for_one_filter_is_typed<R: Runtime + Default>() {
    let filters = vec!["keep/a".to_owned(), "keep/b".to_owned()];
    let expected = filters.clone();
    let broker = ScriptedBroker::start(move |link| {
        link.accept(ConnAckProperties::default())?;
        let subscribe = subscribe(link)?;
        suback(link, subscribe.pkid, 2)?;
        unsubscribe(
            link,
            &expected,
            vec![ReasonCode::SUCCESS, ReasonCode::NOT_AUTHORIZED],
        )?;
        disconnect(link)
    });
    let client = connect::<R>(v5(&broker, "scripted-unsuback")).await;
    let subscriptions = client
        .subscribe_many(
            filters
                .iter()
                .map(|f| SubscribeFilter::new(f.as_str(), QoS::AtLeastOnce))
                .collect(),
        )
        .await
        .unwrap();
    assert!(subscriptions.iter().all(Result::is_ok));
    let mut results = client.unsubscribe_many(filters).await.unwrap().into_iter();
    assert!(matches!(results.next(), Some(Ok(()))));
    match results.next() {
        Some(Err(error @ Error::UnsubscribeRefused { .. })) => {
            assert_eq!(error.reason_code(), Some(ReasonCode::NOT_AUTHORIZED));
            let Error::UnsubscribeRefused { filter, .. } = error else {
                unreachable!()
            };
            assert_eq!(filter, "keep/b");
        }
        other => panic!("expected the second filter refused, got {other:?}"),
    }
    assert!(results.next().is_none());
    client.disconnect().await.unwrap();
    broker.finish();
}
