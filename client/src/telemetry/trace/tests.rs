//! The tracer's events for the rarer edges (reconnect, circuit breaker, protocol error, token
//! refresh), captured with a thread-local subscriber: names, fields and levels.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use jamey_mqtt_core::ProtocolVersion;
use jamey_mqtt_core::{Event, LostReason, ProtocolError, Token};
use tracing_subscriber::fmt::MakeWriter;

use super::Tracer;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

/// Runs `f` with a subscriber at `level` and returns what it wrote.
fn captured(level: tracing::Level, f: impl FnOnce()) -> String {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(capture.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = capture.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn reconnects_circuit_breaker_protocol_errors_and_refreshes_are_reported() {
    let out = captured(tracing::Level::INFO, || {
        let mut tracer = Tracer::new(ProtocolVersion::V5);
        tracer.connect_started(&jamey_mqtt_core::Endpoint::new("broker.example", 8883));
        tracer.event(&Event::ConnectionLost(LostReason::Protocol(
            ProtocolError::UnknownPacketType(0),
        )));
        tracer.event(&Event::Reconnecting {
            attempt: 2,
            delay: Duration::from_millis(250),
        });
        tracer.event(&Event::CircuitOpen {
            until: Instant::now(),
        });
        tracer.event(&Event::CircuitHalfOpen);
        tracer.connect_started(&jamey_mqtt_core::Endpoint::new("broker.example", 8883));
        tracer.event(&Event::TokenRefreshed {
            expires_at: Some(SystemTime::now() + Duration::from_secs(600)),
            reauthenticating: false,
        });
    });
    let has = |level: &str, text: &str| {
        out.lines()
            .any(|line| line.contains(level) && line.contains(text))
    };
    assert!(
        has(
            "INFO",
            "mqtt.connection{host=broker.example port=8883 protocol=\"5.0\" attempt=1}: jamey_mqtt::telemetry::trace: connecting"
        ),
        "{out}"
    );
    assert!(
        has("WARN", "protocol error error=unknown packet type 0"),
        "{out}"
    );
    assert!(has("WARN", "connection lost"), "{out}");
    assert!(has("INFO", "reconnecting attempt=2 delay_ms=250"), "{out}");
    assert!(has("WARN", "circuit breaker open"), "{out}");
    assert!(has("INFO", "circuit breaker half-open"), "{out}");
    assert!(
        has("INFO", "attempt=2}"),
        "the second attempt's span: {out}"
    );
    assert!(has("INFO", "token refreshed"), "{out}");
}

/// Steady-state traffic at `info`: no line. The connection span is live (its "connecting"
/// line is written first), then messages arrive, publishes and a SUBSCRIBE complete; nothing
/// after the marker may be written.
#[test]
fn steady_state_traffic_is_silent_at_info() {
    use jamey_mqtt_core::{Message, QoS, SubscribeFilter};
    use jamey_mqtt_core::{SubscriptionId, SubscriptionIds};
    let (published, subscribed) = tokens();
    let mut subscriptions = SubscriptionIds::new();
    subscriptions.push(SubscriptionId::new(subscribed, 0));

    const MARKER: &str = "steady state from here";
    let out = captured(tracing::Level::INFO, || {
        let mut tracer = Tracer::new(ProtocolVersion::V311);
        tracer.connect_started(&jamey_mqtt_core::Endpoint::new("broker.example", 1883));
        tracing::info!("{MARKER}");
        let span = tracer.publish_span("a/b", 1);
        assert!(span.is_disabled(), "publish spans are debug");
        tracer.started(published, span);
        let span = tracer.subscribe_span(&[SubscribeFilter::new("a/#", QoS::AtLeastOnce)]);
        assert!(span.is_disabled(), "subscribe spans are debug");
        tracer.started(subscribed, span);
        tracer.record_packet_ids(|| [(published, 7), (subscribed, 8)].into_iter());
        tracer.event(&Event::Subscribed {
            token: subscribed,
            results: vec![Ok(QoS::AtLeastOnce)],
        });
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            tracer.event(&Event::Message {
                message: Message {
                    topic: "a/b".into(),
                    payload: "payload".into(),
                    qos,
                    retain: false,
                    dup: false,
                    properties: Default::default(),
                    ack: None,
                },
                subscriptions: subscriptions.clone(),
            });
        }
        tracer.event(&Event::Published {
            token: published,
            pkid: 7,
        });
        tracer.refused("publish", &"queue full");
    });
    let (before, after) = out
        .split_once(MARKER)
        .unwrap_or_else(|| panic!("no marker in {out:?}"));
    assert!(before.contains("connecting"), "the capture works: {out}");
    assert!(after.trim().is_empty(), "written at info: {after}");
}

/// Two tokens of a core client (one publish, one SUBSCRIBE; tokens have no public constructor).
fn tokens() -> (Token, Token) {
    use jamey_mqtt_core::{ClientConfig, PublishRequest, QoS, SubscribeFilter};
    let now = Instant::now();
    let mut core = jamey_mqtt_core::Client::new(
        ClientConfig {
            client_id: "tokens".into(),
            ..ClientConfig::default()
        },
        now,
    )
    .expect("core");
    core.connect(now);
    let published = core
        .publish(now, PublishRequest::new("a/b", "x", QoS::AtLeastOnce))
        .expect("publish token");
    let subscribed = core
        .subscribe(now, vec![SubscribeFilter::new("a/#", QoS::AtLeastOnce)])
        .expect("subscribe token");
    (published, subscribed)
}

/// At `debug`: a SUBSCRIBE's span names its packet id once the core sent it, and a publish that
/// fails after it was sent names the id it was sent under, with its outcome.
#[test]
fn request_spans_name_the_packet_id_they_were_sent_under() {
    use jamey_mqtt_core::{QoS, ReasonCode, RequestError, SubscribeFilter};
    let (published, subscribed) = tokens();
    let out = captured(tracing::Level::DEBUG, || {
        let mut tracer = Tracer::new(ProtocolVersion::V5);
        tracer.connect_started(&jamey_mqtt_core::Endpoint::new("broker.example", 1883));
        let span = tracer.publish_span("a/b", 1);
        tracer.started(published, span);
        let span = tracer.subscribe_span(&[SubscribeFilter::new("a/#", QoS::AtLeastOnce)]);
        tracer.started(subscribed, span);
        // Neither sent yet, then both (the same ids again change nothing).
        tracer.record_packet_ids(std::iter::empty);
        tracer.record_packet_ids(|| [(published, 7), (subscribed, 8)].into_iter());
        tracer.record_packet_ids(|| [(published, 7), (subscribed, 8)].into_iter());
        tracer.event(&Event::Subscribed {
            token: subscribed,
            results: vec![Ok(QoS::AtLeastOnce)],
        });
        tracer.event(&Event::RequestFailed {
            token: published,
            error: RequestError::Refused(ReasonCode::NOT_AUTHORIZED),
        });
    });
    assert!(
        out.contains("mqtt.subscribe{topic=a/# qos=[1] pkid=8 outcome=\"granted\"}"),
        "{out}"
    );
    assert!(
        out.contains("mqtt.publish{topic=a/b qos=1 pkid=7 outcome=\"failed\"}"),
        "{out}"
    );
}
