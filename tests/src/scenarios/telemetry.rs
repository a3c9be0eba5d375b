//! Issue 14, telemetry, end to end against a real Mosquitto on every runtime:
//!
//! - the client's `tracing` output names the connection (host, port, protocol, attempt) and each
//!   publish (topic, QoS, packet id, outcome), and never a password, a JWT or a payload;
//! - the metrics registered into an application registry, rendered after a real session, pass
//!   `promtool check metrics` (Debian's `prometheus` package, installed by
//!   `scripts/install-deps`; a missing promtool fails the test, it does not skip it).
//!
//! The tracing scenario reads the captured output through `logs`: the subscriber is global to
//! the test binary (`tests/telemetry.rs`), since the driver runs on the runtime's threads.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use jamey_mqtt::auth::{
    Algorithm, AuthConfig, ClaimTemplate, JwtSigner, PermissionClaims, TokenSource,
};
use jamey_mqtt::{Client, QoS, Runtime};

use super::{connect, next, pause, plain};
use crate::{Broker, BrokerOptions};

const PASSWORD: &str = "hunter2-telemetry-password";
const PAYLOAD: &str = "payload-telemetry-marker-7f3a";

/// A JWT minted the way the client would (HS256, 1 hour), as the string sent in CONNECT.
fn jwt() -> String {
    let template = ClaimTemplate::new("telemetry-device", Duration::from_secs(3600))
        .with_permissions(PermissionClaims {
            publish: vec!["telemetry/#".into()],
            subscribe: vec![],
        });
    let signer = JwtSigner::from_secret(Algorithm::HS256, &[9u8; 32], template).expect("signer");
    AuthConfig::new(TokenSource::Signer(signer))
        .issue(SystemTime::now())
        .expect("token")
        .expose()
        .to_owned()
}

/// Spans and events name the connection and each publish; no secret and no payload appear.
pub async fn tracing_names_requests_and_hides_secrets<R: Runtime + Default>(logs: fn() -> String) {
    let broker = Broker::start(BrokerOptions::plain(), None);
    let token = jwt();
    // Mosquitto allows anonymous clients here: it accepts any password, so both are sent.
    let mut with_password = plain(&broker, "telemetry-password");
    with_password.mqtt.username = Some("telemetry-user".into());
    with_password.mqtt.password = Some(PASSWORD.into());
    let subscriber = connect::<R>(with_password).await;
    let mut with_jwt = plain(&broker, "telemetry-jwt");
    with_jwt.auth = Some(AuthConfig::new(TokenSource::fixed(token.clone())));
    let publisher = connect::<R>(with_jwt).await;

    let mut messages = subscriber
        .subscribe("telemetry/#", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let outcome = publisher
        .publish("telemetry/data", PAYLOAD, QoS::AtLeastOnce)
        .await
        .expect("publish");
    let message = next::<R>(&mut messages).await;
    assert_eq!(&message.payload[..], PAYLOAD.as_bytes());
    publisher.disconnect().await.expect("disconnect");
    subscriber.disconnect().await.expect("disconnect");

    let all = logs();
    let port = format!("port={}", broker.port());
    let ours: Vec<&str> = all.lines().filter(|line| line.contains(&port)).collect();
    let text = ours.join("\n");
    assert!(
        text.contains("mqtt.connection{host=127.0.0.1")
            && text.contains("protocol=\"3.1.1\"")
            && text.contains("attempt=1"),
        "no connection span with host, port, protocol and attempt:\n{text}"
    );
    let publish = format!(
        "mqtt.publish{{topic=telemetry/data qos=1 pkid={} outcome=\"completed\"}}",
        outcome.pkid
    );
    assert!(text.contains(&publish), "no `{publish}` in:\n{text}");
    assert!(
        text.contains("mqtt.subscribe{topic=telemetry/# qos=[1] outcome=\"granted\"}"),
        "no subscribe span with its outcome in:\n{text}"
    );
    assert!(text.contains("connected"), "no connected event in:\n{text}");
    for secret in [PASSWORD, token.as_str(), PAYLOAD] {
        assert!(
            !all.contains(secret),
            "`{secret}` appears in the tracing output"
        );
    }
    // Nor any part of the token (header, claims or signature) on its own.
    for part in token.split('.') {
        assert!(
            !all.contains(part),
            "a part of the JWT appears in the output"
        );
    }
}

/// The registered metrics of a real session pass `promtool check metrics`.
pub async fn metrics_pass_promtool<R: Runtime + Default>() {
    let broker = Broker::start(BrokerOptions::plain(), None);
    let mut config = plain(&broker, "telemetry-metrics");
    config.mqtt.keep_alive = Duration::from_secs(1);
    let client: Client<R> = connect::<R>(config).await;
    let mut registry = jamey_mqtt::MetricsRegistry::default();
    client.register_metrics(&mut registry);
    let mut messages = client
        .subscribe("metrics/#", QoS::ExactlyOnce)
        .await
        .expect("subscribe");
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        client
            .publish("metrics/x", "m", qos)
            .await
            .expect("publish");
        next::<R>(&mut messages).await;
    }
    // Idle past the keep-alive: a PINGREQ is answered, its round trip measured.
    pause::<R>(Duration::from_millis(2500)).await;
    client
        .publish("metrics/x", "m", QoS::AtLeastOnce)
        .await
        .expect("publish");
    next::<R>(&mut messages).await;

    // A scrape is a sample: the driver refreshes the snapshot right after a turn of its loop,
    // so wait (bounded) until the last turn is in.
    let expected = [
        "mqtt_publishes_completed_total{client_id=\"telemetry-metrics\"} 4",
        "mqtt_messages_received_total{client_id=\"telemetry-metrics\"} 4",
        "mqtt_sent_bytes_total{",
        "mqtt_state{client_id=\"telemetry-metrics\",state=\"connected\"} 1",
        "mqtt_in_flight_requests{client_id=\"telemetry-metrics\"} 0",
        "mqtt_publish_ack_latency_seconds_count{client_id=\"telemetry-metrics\"} 4",
        "mqtt_ping_rtt_seconds{",
        "mqtt_connection_uptime_seconds{",
        "mqtt_connected_since_timestamp_seconds{",
        "mqtt_messages_unmatched_dropped_total{",
    ];
    let mut text = String::new();
    for _ in 0..100 {
        text.clear();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).expect("encode");
        if expected.iter().all(|e| text.contains(e)) {
            break;
        }
        pause::<R>(Duration::from_millis(50)).await;
    }
    for expected in expected {
        assert!(text.contains(expected), "no `{expected}` in:\n{text}");
    }

    let mut promtool = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => panic!("promtool is needed (run scripts/install-deps): {e}"),
    };
    promtool
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let output = promtool.wait_with_output().expect("promtool");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && said.trim().is_empty(),
        "promtool check metrics: {}\n{said}\n{text}",
        output.status
    );
    client.disconnect().await.expect("disconnect");
}
