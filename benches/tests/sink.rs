//! The sink broker of the `throughput` bench speaks enough MQTT for the real client, on both
//! protocol versions: every publish completes at every QoS (acks, PUBREL/PUBCOMP), the sink
//! counts each one, and a subscriber receives exactly the messages the sink sources, with their
//! payloads, at the QoS it asked for.

use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use jamey_mqtt_benches::sink::{self, Counters, SourceOptions, SOURCE_TOPIC};
use jamey_mqtt_tokio::{Client, ClientConfig, Config, ProtocolVersion, QoS};

const SOURCED: usize = 300;
const PAYLOAD: usize = 100;

fn start_sink() -> (u16, Arc<Counters>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let counters = Arc::new(Counters::default());
    let source = SourceOptions {
        messages: SOURCED,
        payload: PAYLOAD,
    };
    let served = counters.clone();
    std::thread::spawn(move || sink::serve(listener, source, served));
    (port, counters)
}

async fn connect(port: u16, protocol: ProtocolVersion, id: &str) -> Client {
    let config = Config::new("127.0.0.1", port).mqtt(ClientConfig {
        protocol,
        client_id: id.into(),
        keep_alive: Duration::from_secs(60),
        ..ClientConfig::default()
    });
    Client::connect(config).await.expect("connect to the sink")
}

#[tokio::test]
async fn publishes_complete_and_subscribers_get_every_sourced_message() {
    let (port, counters) = start_sink();
    let mut published = 0;
    for protocol in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let client = connect(port, protocol, &format!("pub-{protocol:?}")).await;
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            for _ in 0..50 {
                client
                    .publish("bench/test", vec![1u8; PAYLOAD], qos)
                    .await
                    .expect("publish completes");
                published += 1;
            }
        }
        // The sink acks in order: this PUBACK means it has read every publish before it.
        client
            .publish("bench/test", "last", QoS::AtLeastOnce)
            .await
            .expect("publish completes");
        published += 1;
        client.disconnect().await.expect("disconnect");

        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let client = connect(port, protocol, &format!("sub-{protocol:?}-{qos:?}")).await;
            let mut messages = client.subscribe(SOURCE_TOPIC, qos).await.expect("SUBACK");
            assert_eq!(messages.granted_qos(), qos);
            for _ in 0..SOURCED {
                let message = messages.next().await.expect("open").expect("message");
                assert_eq!(message.topic, SOURCE_TOPIC);
                assert_eq!(message.payload.len(), PAYLOAD);
                assert_eq!(message.qos, qos);
            }
            let stats = client.stats().await.expect("stats");
            // One connection, no protocol error: the sink keeps within an MQTT 5 client's
            // receive maximum (100 by default) when it sources QoS 1/2 messages.
            let context = format!("{protocol:?} {qos:?}: {:?}", stats.core);
            assert_eq!(stats.core.protocol_errors, 0, "{context}");
            assert_eq!(stats.core.connections, 1, "{context}");
            assert_eq!(stats.core.messages_received, SOURCED as u64, "{context}");
            client.disconnect().await.expect("disconnect");
        }
    }
    assert_eq!(counters.published.load(Ordering::Relaxed), published);
}
