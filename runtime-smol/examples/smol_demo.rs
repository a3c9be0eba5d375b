//! The demo on smol (the tokio one is `runtime-tokio/examples/demo.rs`; only the crate name, the
//! `block_on` and the timeout differ): connect over TLS 1.3, subscribe, publish a typed message
//! at each QoS, print what arrives and the client's stats.
//!
//! Environment: `DEMO_HOST` (default `localhost`), `DEMO_PORT` (default 8883), `DEMO_CA` (path
//! of the CA certificate PEM; required). Against any TLS 1.3 broker:
//! `DEMO_PORT=8883 DEMO_CA=ca.crt scripts/demo smol` (or `cargo run -p jamey-mqtt-smol --example smol_demo` against any TLS 1.3 broker).

use std::time::Duration;

use jamey_mqtt_smol::{Client, ClientConfig, Config, ProtocolVersion, QoS, TlsOptions};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Reading {
    sensor: String,
    celsius: f64,
    seq: u32,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    smol::block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
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
            client_id: "jamey-demo-smol".into(),
            keep_alive: Duration::from_secs(10),
            ..ClientConfig::default()
        });
    println!("connecting to {host}:{port} over TLS 1.3 (smol) ...");
    let client = Client::connect(config).await?;
    println!("connected");

    let mut readings = client
        .subscribe("demo/sensors/+/temp", QoS::ExactlyOnce)
        .await?;
    println!("subscribed to {}", readings.topic_filter());

    let qos_levels = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];
    for (seq, qos) in qos_levels.into_iter().enumerate() {
        let reading = Reading {
            sensor: format!("s{seq}"),
            celsius: 20.0 + seq as f64 * 0.5,
            seq: seq as u32,
        };
        let topic = format!("demo/sensors/{}/temp", reading.sensor);
        let outcome = client
            .publish(topic.clone(), serde_json::to_vec(&reading)?, qos)
            .await?;
        println!(
            "published {reading:?} to {topic} at {qos:?} (packet id {})",
            outcome.pkid
        );
    }

    for _ in 0..qos_levels.len() {
        let timeout = async {
            smol::Timer::after(Duration::from_secs(10)).await;
            None
        };
        let message = smol::future::or(readings.recv(), timeout)
            .await
            .ok_or("no message within 10 s")??;
        let reading: Reading = serde_json::from_slice(&message.payload)?;
        println!(
            "received {reading:?} on {} at {:?}",
            message.topic, message.qos
        );
    }

    let stats = client.stats().await?;
    println!("stats: {:#?}", stats.core);
    println!("health: {:?}", stats.health);
    client.disconnect().await?;
    println!("disconnected");
    Ok(())
}
