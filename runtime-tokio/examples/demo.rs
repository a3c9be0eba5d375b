//! The demo `scripts/demo` runs: connect over TLS 1.3, subscribe, publish typed messages at each
//! QoS, print what arrives and the client's stats.
//!
//! Environment: `DEMO_HOST` (default `localhost`), `DEMO_PORT` (default 8883), `DEMO_CA` (path
//! of the CA certificate PEM; required).

use std::time::{Duration, SystemTime};

use jamey_mqtt_tokio::{Client, ClientConfig, Config, Envelope, ProtocolVersion, QoS, TlsOptions};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Reading {
    sensor: String,
    celsius: f64,
    seq: u32,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let host = std::env::var("DEMO_HOST").unwrap_or_else(|_| "localhost".into());
    let port: u16 = std::env::var("DEMO_PORT")
        .unwrap_or_else(|_| "8883".into())
        .parse()?;
    let ca_path = std::env::var("DEMO_CA").map_err(|_| "set DEMO_CA to the CA certificate")?;
    let ca = std::fs::read(&ca_path)?;

    let config = Config::new(host.clone(), port)
        .tls(TlsOptions::ca_pem(ca))
        .mqtt(ClientConfig {
            protocol: ProtocolVersion::V5,
            client_id: "jamey-demo".into(),
            keep_alive: Duration::from_secs(10),
            ..ClientConfig::default()
        });
    println!("connecting to {host}:{port} over TLS 1.3 ...");
    let client = Client::connect(config).await?;
    println!("connected");

    let mut readings = client
        .subscribe("demo/sensors/+/temp", QoS::ExactlyOnce)
        .await?;
    println!(
        "subscribed to {} (granted {:?})",
        readings.topic_filter(),
        readings.granted_qos()
    );

    let qos_levels = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];
    for (seq, qos) in qos_levels.into_iter().enumerate() {
        let reading = Reading {
            sensor: format!("s{seq}"),
            celsius: 20.0 + seq as f64 * 0.5,
            seq: seq as u32,
        };
        let topic = format!("demo/sensors/{}/temp", reading.sensor);
        let envelope = Envelope::new(
            format!("jamey-demo-{seq}"),
            "jamey-demo",
            SystemTime::now(),
            reading,
        );
        let outcome = client
            .publish(topic.clone(), envelope.to_bytes()?, qos)
            .await?;
        println!(
            "published {:?} to {topic} at {qos:?} (packet id {})",
            envelope.payload, outcome.pkid
        );
    }

    for _ in 0..qos_levels.len() {
        let message = tokio::time::timeout(Duration::from_secs(10), readings.recv())
            .await?
            .ok_or("subscription ended")??;
        let envelope: Envelope<Reading> = Envelope::from_slice(&message.payload)?;
        println!(
            "received {:?} on {} at {:?} (envelope {} from {}, kind {})",
            envelope.payload,
            message.topic,
            message.qos,
            envelope.id,
            envelope.source,
            envelope.kind
        );
    }

    let stats = client.stats().await?;
    println!("stats: {:#?}", stats.core);
    println!("health: {:?}", stats.health);
    client.disconnect().await?;
    println!("disconnected");
    Ok(())
}
