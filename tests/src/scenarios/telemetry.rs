//! Issue 14, telemetry, end to end against a real Mosquitto on every runtime:
//!
//! - the client's `tracing` output names the connection (host, port, protocol, attempt) and each
//!   publish and subscribe (topic, QoS, packet id, outcome; a publish the broker refuses with
//!   its packet id too), and never a password, a JWT or a payload;
//! - the metrics registered into an application registry, rendered after a real session, carry
//!   the session's values (counts, uptime, unmatched messages dropped, health gauges, ping round
//!   trip) and pass `promtool check metrics` (Debian's `prometheus` package, installed by
//!   `scripts/install-deps`; a missing promtool fails the test, it does not skip it);
//! - with a JWT the broker checks (the project's plugin), the token expiry gauge is the token's
//!   `exp`.
//!
//! The tracing scenario reads the captured output through `logs`: the subscriber is global to
//! the test binary (`tests/telemetry.rs`), since the driver runs on the runtime's threads.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use jamey_mqtt::auth::{
    Algorithm, AuthConfig, ClaimTemplate, JwtSigner, PermissionClaims, TokenSource,
};
use jamey_mqtt::{
    Client, Error, MetricsRegistry, ProtocolVersion, QoS, ReasonCode, RequestError, Runtime,
};

use super::jwt_plugin::{jwt_broker, jwt_signer};
use super::{connect, next, pause, plain, within, WAIT};
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

    // A publish the broker refuses (its ACL, MQTT 5 PUBACK "not authorized"): the span says
    // it failed, and names the packet id it was sent under.
    let acl_broker = Broker::start(
        BrokerOptions::plain().acl("topic readwrite telemetry/#\n"),
        None,
    );
    let mut v5 = plain(&acl_broker, "telemetry-refused");
    v5.mqtt.protocol = ProtocolVersion::V5;
    let refused = connect::<R>(v5).await;
    let error = refused
        .publish("telemetry-denied/x", PAYLOAD, QoS::AtLeastOnce)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Failed(RequestError::Refused(ReasonCode::NOT_AUTHORIZED))
        ),
        "{error:?}"
    );
    refused.disconnect().await.expect("disconnect");

    let all = logs();
    let ports = [
        format!("port={}", broker.port()),
        format!("port={}", acl_broker.port()),
    ];
    let ours: Vec<&str> = all
        .lines()
        .filter(|line| ports.iter().any(|port| line.contains(port)))
        .collect();
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
    let subscribe_pkid = span_pkid(
        &text,
        "mqtt.subscribe{topic=telemetry/# qos=[1] pkid=",
        " outcome=\"granted\"}",
    );
    assert!(
        subscribe_pkid.is_some_and(|pkid| pkid != 0),
        "no subscribe span with its packet id and outcome in:\n{text}"
    );
    let failed_pkid = span_pkid(
        &text,
        "mqtt.publish{topic=telemetry-denied/x qos=1 pkid=",
        " outcome=\"failed\"}",
    );
    assert!(
        failed_pkid.is_some_and(|pkid| pkid != 0),
        "no failed publish span with its packet id in:\n{text}"
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

/// The packet id between `before` and `after` in the first span of `text` written that way.
fn span_pkid(text: &str, before: &str, after: &str) -> Option<u16> {
    text.match_indices(before).find_map(|(at, _)| {
        let rest = &text[at + before.len()..];
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if !rest[digits..].starts_with(after) {
            return None;
        }
        rest[..digits].parse().ok()
    })
}

/// The value of the sample line that starts with `series` (a name and its labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series))
        .and_then(|value| value.trim().parse().ok())
}

/// Renders `registry` until `done` holds for the text (the driver refreshes the snapshot after
/// each turn of its loop, so a scrape is a sample), panicking with the last text after [`WAIT`].
async fn scrape_until<R: Runtime + Default>(
    registry: &MetricsRegistry,
    what: &str,
    done: impl Fn(&str) -> bool,
) -> String {
    let rt = R::default();
    let deadline = rt.now() + WAIT;
    loop {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, registry).expect("encode");
        if done(&text) {
            return text;
        }
        assert!(rt.now() < deadline, "timed out waiting for {what}:\n{text}");
        pause::<R>(Duration::from_millis(20)).await;
    }
}

/// The registered metrics of a real session carry its values and pass `promtool check metrics`.
///
/// The session is persistent and resumed: 5 messages were queued by the broker for a filter
/// the resumed client never subscribes to again, so they match nothing and go to the unmatched
/// buffer, which holds 2 (`unmatched_capacity`): 3 are dropped.
pub async fn metrics_pass_promtool<R: Runtime + Default>() {
    const ID: &str = "telemetry-metrics";
    let broker = Broker::start(BrokerOptions::plain(), None);
    let mut config = plain(&broker, ID);
    config.mqtt.clean_start = false;
    config.mqtt.keep_alive = Duration::from_secs(1);
    config.mqtt.unmatched_capacity = 2;
    let earlier = connect::<R>(config.clone()).await;
    let offline = earlier
        .subscribe("offline/#", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    earlier.disconnect().await.expect("disconnect");
    drop((offline, earlier));
    let publisher = connect::<R>(plain(&broker, "telemetry-metrics-pub")).await;
    for i in 0..5 {
        publisher
            .publish("offline/x", format!("o{i}"), QoS::AtLeastOnce)
            .await
            .expect("publish");
    }
    publisher.disconnect().await.expect("disconnect");

    let before_connect = SystemTime::now();
    let client: Client<R> = connect::<R>(config).await;
    let mut registry = MetricsRegistry::default();
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
    let series = |name: &str| format!("{name}{{client_id=\"{ID}\"}} ");
    scrape_until::<R>(&registry, "a ping round trip", |text| {
        sample(text, &series("mqtt_ping_rtt_seconds")).is_some()
    })
    .await;
    client
        .publish("metrics/x", "m", QoS::AtLeastOnce)
        .await
        .expect("publish");
    next::<R>(&mut messages).await;

    // 4 messages of metrics/# and the 5 unmatched ones were received.
    let expected = [
        format!("{}4", series("mqtt_publishes_completed_total")),
        format!("{}9", series("mqtt_messages_received_total")),
        format!("{}5", series("mqtt_messages_unmatched_total")),
        format!("{}3", series("mqtt_messages_unmatched_dropped_total")),
        format!("{}2", series("mqtt_unmatched_buffered_messages")),
        format!("{}4", series("mqtt_publish_ack_latency_seconds_count")),
        format!("{}0", series("mqtt_in_flight_requests")),
        format!("{}0", series("mqtt_queued_requests")),
        format!("{}0", series("mqtt_buffered_bytes")),
        format!("{}1", series("mqtt_healthy")),
        format!("mqtt_state{{client_id=\"{ID}\",state=\"connected\"}} 1"),
        format!("mqtt_state{{client_id=\"{ID}\",state=\"waiting\"}} 0"),
    ];
    let text = scrape_until::<R>(&registry, "the session's values", |text| {
        expected
            .iter()
            .all(|e| text.lines().any(|line| line == e.as_str()))
    })
    .await;
    // Every help text is one sentence with one full stop.
    assert!(
        !text.contains(".."),
        "a help text ends with two full stops:\n{text}"
    );
    let value = |name: &str| {
        sample(&text, &series(name)).unwrap_or_else(|| panic!("no {name} in:\n{text}"))
    };
    assert!(value("mqtt_sent_bytes_total") > 0.0, "{text}");
    assert!(value("mqtt_received_bytes_total") > 0.0, "{text}");
    assert!(value("mqtt_pings_sent_total") >= 1.0, "{text}");
    let rtt = value("mqtt_ping_rtt_seconds");
    assert!(rtt > 0.0 && rtt < WAIT.as_secs_f64(), "{text}");
    let uptime = value("mqtt_connection_uptime_seconds");
    let since = value("mqtt_connected_since_timestamp_seconds");
    let unix = |at: SystemTime| {
        at.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let now = unix(SystemTime::now());
    // The uptime is read on the runtime's monotonic clock, the bound on the wall clock: a
    // little slack for the two clocks' rates.
    assert!(
        uptime > 0.0 && uptime <= now - unix(before_connect) + 0.5,
        "{text}"
    );
    assert!(since >= unix(before_connect) && since <= now, "{text}");

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

/// A session authenticated with a JWT the broker checks (the project's Mosquitto plugin): the
/// token expiry gauge is the token's `exp`.
pub async fn token_expiry_metric_is_the_tokens_exp<R: Runtime + Default>() {
    const ID: &str = "telemetry-expiry";
    let broker = jwt_broker();
    let issued = jwt_signer(ID, Duration::from_secs(3600), &["expiry/#"], &[])
        .sign(SystemTime::now())
        .expect("sign");
    let exp = issued.claims().expect("claims").exp;
    let config = plain(&broker, ID).auth(AuthConfig::new(TokenSource::fixed(
        issued.expose().to_owned(),
    )));
    let client = connect::<R>(config).await;
    let mut registry = MetricsRegistry::default();
    client.register_metrics(&mut registry);
    // Connected with it: the broker accepted the token (its plugin refuses any other).
    within::<R, _>(
        WAIT,
        "publish",
        client.publish("expiry/x", "x", QoS::AtLeastOnce),
    )
    .await
    .expect("publish");
    let series = format!("mqtt_token_expiry_timestamp_seconds{{client_id=\"{ID}\"}} ");
    let text = scrape_until::<R>(&registry, "the token expiry gauge", |text| {
        sample(text, &series).is_some()
    })
    .await;
    assert_eq!(sample(&text, &series), Some(exp as f64), "{text}");
    client.disconnect().await.expect("disconnect");
}
