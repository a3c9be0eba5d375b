//! Issue 12, item 7, end to end against a real Mosquitto (MQTT 5), on every runtime: with
//! `ClientConfig::manual_ack` and a persistent session, a message the application did not
//! acknowledge stays with the broker and comes back after a lost connection or a restart of
//! the client; once acknowledged, it does not come back. A message no stream takes is acked
//! by the client. The first scenario runs on MQTT 3.1.1 too.

use jamey_mqtt::{Client, Config, Event, ProtocolVersion, QoS, Runtime, Subscription};

use super::{connect, mqtt, next, plain, within, WAIT};
use crate::{Broker, BrokerOptions, Proxy};

/// A subscriber that acknowledges by hand and keeps its session for 5 minutes.
fn manual(port: u16, client_id: &str) -> Config {
    manual_on(port, client_id, ProtocolVersion::V5)
}

/// [`manual`] on `protocol` (3.1.1 keeps a session without an expiry interval).
fn manual_on(port: u16, client_id: &str, protocol: ProtocolVersion) -> Config {
    let mut config = Config::new("127.0.0.1", port).mqtt(mqtt(client_id, protocol));
    config.mqtt.manual_ack = true;
    config.mqtt.clean_start = false;
    if protocol == ProtocolVersion::V5 {
        config.mqtt.session_expiry_interval = Some(300);
    }
    config
}

/// Waits for the next `Event::Connected` and checks that the broker resumed the session.
async fn reconnected<R: Runtime + Default>(events: &mut jamey_mqtt::Events) {
    let session_present = within::<R, _>(WAIT, "the reconnect", async {
        loop {
            if let Some(Event::Connected {
                session_present, ..
            }) = events.recv().await
            {
                return session_present;
            }
        }
    })
    .await;
    assert!(session_present, "the broker resumed the session");
}

/// The next message must be `payload` (nothing the broker resent came before it).
async fn expect_next<R: Runtime + Default>(sub: &mut Subscription, payload: &str) {
    let message = next::<R>(sub).await;
    assert_eq!(
        String::from_utf8_lossy(&message.payload),
        payload,
        "unexpected message first"
    );
}

/// A QoS 1 round trip on the client's own connection: whatever it queued before (an ack) has
/// reached the broker when this resolves (the broker reads one connection in order).
async fn round_trip<R: Runtime + Default>(client: &Client<R>) {
    within::<R, _>(
        WAIT,
        "a round trip",
        client.publish("manual-ack/flush", "", QoS::AtLeastOnce),
    )
    .await
    .expect("round trip");
}

/// QoS 1: the unacknowledged message is redelivered (DUP) after the connection is cut; after
/// `ack` it is not redelivered on the next reconnect.
pub async fn manual_ack_qos1_unacked_is_redelivered_after_a_cut<R: Runtime + Default>() {
    unacked_is_redelivered_after_a_cut::<R>(ProtocolVersion::V5).await;
}

/// The same on MQTT 3.1.1: manual acknowledgement needs nothing of MQTT 5.
pub async fn manual_ack_qos1_unacked_is_redelivered_after_a_cut_mqtt311<R: Runtime + Default>() {
    unacked_is_redelivered_after_a_cut::<R>(ProtocolVersion::V311).await;
}

async fn unacked_is_redelivered_after_a_cut<R: Runtime + Default>(protocol: ProtocolVersion) {
    let broker = Broker::start(BrokerOptions::plain(), None);
    let proxy = Proxy::start(broker.port());
    let client = connect::<R>(manual_on(proxy.port(), "manual-ack-1", protocol)).await;
    let mut sub = client.subscribe("jobs/#", QoS::AtLeastOnce).await.unwrap();
    // After a round trip: the first `Connected` is behind us (a multi-threaded runtime could
    // otherwise hand it to this stream too).
    let mut events = client.events();
    let publisher = connect::<R>(plain(&broker, "manual-ack-1-pub")).await;
    publisher
        .publish("jobs/1", "job", QoS::AtLeastOnce)
        .await
        .unwrap();
    let first = next::<R>(&mut sub).await;
    assert!(first.ack.is_some(), "a QoS 1 message carries an ack handle");

    // Not acknowledged: the broker still holds it and resends it on the resumed session. (The
    // round trip first: an ack sent by mistake would have reached the broker before the cut.)
    round_trip(&client).await;
    proxy.cut();
    reconnected::<R>(&mut events).await;
    let again = next::<R>(&mut sub).await;
    assert_eq!(again.payload, "job".as_bytes());
    assert!(again.dup, "the broker's resend");
    client.ack(&again).await.unwrap();
    round_trip(&client).await;

    // Acknowledged: the next message after another cut is a new one, not the job again.
    proxy.cut();
    reconnected::<R>(&mut events).await;
    publisher
        .publish("jobs/2", "next", QoS::AtLeastOnce)
        .await
        .unwrap();
    expect_next::<R>(&mut sub, "next").await;
    publisher.disconnect().await.unwrap();
    client.disconnect().await.unwrap();
}

/// QoS 2 and a client that goes away: the first client receives the message and disconnects
/// without acknowledging it (its PUBREC was never sent); a new client with the same session
/// gets it again, acknowledges it, and a third one does not get it.
pub async fn manual_ack_qos2_unacked_survives_a_client_restart<R: Runtime + Default>() {
    let broker = Broker::start(BrokerOptions::plain(), None);
    let publisher = connect::<R>(plain(&broker, "manual-ack-2-pub")).await;

    let first = connect::<R>(manual(broker.port(), "manual-ack-2")).await;
    let mut sub = first.subscribe("jobs/#", QoS::ExactlyOnce).await.unwrap();
    publisher
        .publish("jobs/1", "job", QoS::ExactlyOnce)
        .await
        .unwrap();
    let message = next::<R>(&mut sub).await;
    assert!(
        message.ack.is_some(),
        "a QoS 2 message carries an ack handle"
    );
    // "Crashes" before processing: the session stays with the broker, the message too.
    drop(sub);
    first.disconnect().await.unwrap();

    let second = connect::<R>(manual(broker.port(), "manual-ack-2")).await;
    // The broker resends at once; the message waits in the unmatched buffer for this.
    let mut sub = second.subscribe("jobs/#", QoS::ExactlyOnce).await.unwrap();
    let again = next::<R>(&mut sub).await;
    assert_eq!(again.payload, "job".as_bytes());
    second.ack(&again).await.unwrap();
    round_trip(&second).await;
    drop(sub);
    second.disconnect().await.unwrap();

    let third = connect::<R>(manual(broker.port(), "manual-ack-2")).await;
    let mut sub = third.subscribe("jobs/#", QoS::ExactlyOnce).await.unwrap();
    publisher
        .publish("jobs/2", "next", QoS::ExactlyOnce)
        .await
        .unwrap();
    expect_next::<R>(&mut sub, "next").await;
    publisher.disconnect().await.unwrap();
    third.disconnect().await.unwrap();
}

/// A message no stream takes (the application dropped its subscription stream) can never be
/// acked by the application: the client acks it, so the broker does not resend it forever.
pub async fn manual_ack_message_no_stream_takes_is_acked_by_the_client<R: Runtime + Default>() {
    let broker = Broker::start(BrokerOptions::plain(), None);
    let proxy = Proxy::start(broker.port());
    let client = connect::<R>(manual(proxy.port(), "manual-ack-3")).await;
    let sub = client.subscribe("gone/#", QoS::AtLeastOnce).await.unwrap();
    let mut events = client.events();
    drop(sub);
    let publisher = connect::<R>(plain(&broker, "manual-ack-3-pub")).await;
    publisher
        .publish("gone/1", "nobody reads this", QoS::AtLeastOnce)
        .await
        .unwrap();
    // The message reached the client before either round trip's answer; the second one
    // follows the client's ack on the wire.
    round_trip(&client).await;
    round_trip(&client).await;
    proxy.cut();
    reconnected::<R>(&mut events).await;
    let mut sub = client.subscribe("gone/#", QoS::AtLeastOnce).await.unwrap();
    publisher
        .publish("gone/2", "next", QoS::AtLeastOnce)
        .await
        .unwrap();
    expect_next::<R>(&mut sub, "next").await;
    publisher.disconnect().await.unwrap();
    client.disconnect().await.unwrap();
}
