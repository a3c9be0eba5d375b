//! Publishes one message and disconnects: `cargo run -p jamey-mqtt-tokio --example publish --
//! HOST PORT TOPIC PAYLOAD`. Also the plain-TCP binary whose size the README quotes: built with
//! `--no-default-features` it links neither rustls nor aws-lc.

use jamey_mqtt_tokio::{Client, Config, QoS};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "localhost".into());
    let port = args.next().map_or(Ok(1883), |p| p.parse())?;
    let topic = args.next().unwrap_or_else(|| "jamey/example".into());
    let payload = args.next().unwrap_or_else(|| "hello".into());
    let client = Client::connect(Config::new(host, port)).await?;
    client.publish(topic, payload, QoS::AtLeastOnce).await?;
    client.disconnect().await?;
    Ok(())
}
