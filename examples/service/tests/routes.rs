//! The service end to end: a real Mosquitto, the service in-process on an ephemeral 127.0.0.1
//! port, and a real HTTP client (reqwest) for every route and status: health 200/503/200 across
//! a broker stop and restart, metrics, publish 202/400/403/413/503 (queue full and client
//! down), an SSE subscriber receiving what `/publish` sent, and a graceful shutdown that ends
//! the SSE stream and disconnects the client; an SSE subscription that ends when its HTTP client
//! leaves; the broker's own refusals (the project's JWT plugin, MQTT 5) mapped to 403 for a
//! publish and a subscribe, and `/subscribe`'s 400 and 503. Every wait polls a condition with a
//! deadline. (The stop on SIGTERM of the service binary itself: `process.rs`.)

use std::time::{Duration, Instant};

use futures::StreamExt;
use jamey_mqtt_service::config::ServiceConfig;
use jamey_mqtt_tests::scenarios::jwt_signer;
use jamey_mqtt_tests::{Broker, BrokerOptions};
use jamey_mqtt_tokio::permissions::Permissions;
use jamey_mqtt_tokio::topic::TopicFilter;
use jamey_mqtt_tokio::Client;
use reqwest::StatusCode;

mod common;
use common::{http_client, sample, wait_for, Service, WAIT};

/// The tests run one after the other: one stops its broker and starts it again on the same
/// port, and a broker another test starts meanwhile could take that port (the client would
/// then reconnect to the wrong broker, and freezing its own would change nothing).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The service in this process on an ephemeral port, serving `client` until `stop` is sent.
struct Running {
    service: Service,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn serve(client: Client) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(jamey_mqtt_service::serve(listener, client, async {
        let _ = stop_rx.await;
    }));
    Running {
        service: Service {
            base,
            http: http_client(),
        },
        stop,
        server,
    }
}

impl Running {
    /// Stops the service and waits for `serve` to return (after the client's disconnect).
    async fn stop(self) {
        self.stop.send(()).unwrap();
        tokio::time::timeout(WAIT, self.server)
            .await
            .expect("serve returns")
            .unwrap()
            .expect("serve ok");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_against_mosquitto() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let mut broker = Broker::start(BrokerOptions::plain(), None);
    let toml = format!(
        r#"
[http]
listen = "127.0.0.1:0"

[mqtt]
host = "127.0.0.1"
port = {port}
client_id = "service-test"
max_packet_size = 1024
max_inflight = 1
max_queued = 1
keep_alive = "60s"
connect_timeout = "3s"
[mqtt.reconnect]
initial_delay = "50ms"
max_delay = "300ms"
"#,
        port = broker.port()
    );
    let mut config = ServiceConfig::from_toml(&toml, |_| None).expect("config");
    // Client-side permissions: `denied/...` is refused with 403.
    let allowed = || vec![TopicFilter::new("svc/#").unwrap()];
    config.mqtt.mqtt.permissions = Some(Permissions::new(allowed(), allowed()));

    let client = Client::start(config.mqtt).expect("start");
    let listener = tokio::net::TcpListener::bind(&config.http.listen)
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(jamey_mqtt_service::serve(listener, client, async {
        let _ = stop_rx.await;
    }));
    let service = Service {
        base,
        http: http_client(),
    };

    // Health: 200 once connected, with the JSON snapshot.
    let body = service.wait_health(StatusCode::OK).await;
    assert_eq!(body["state"], "Connected");
    assert_eq!(body["healthy"], true);

    // SSE: the response starts once the broker granted the subscription.
    let sse = service
        .http
        .get(format!("{}/subscribe/svc/%23", service.base))
        .send()
        .await
        .expect("GET /subscribe");
    assert_eq!(sse.status(), StatusCode::OK);
    assert!(sse.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut events = sse.bytes_stream();

    // Publish: 202 for QoS 0, 1 (default) and 2; the SSE subscriber gets each.
    assert_eq!(
        service.publish("svc/a?qos=0", "zero").await,
        StatusCode::ACCEPTED
    );
    assert_eq!(service.publish("svc/b", "one").await, StatusCode::ACCEPTED);
    assert_eq!(
        service.publish("svc/c?qos=2", "two").await,
        StatusCode::ACCEPTED
    );
    let mut seen = String::new();
    let deadline = Instant::now() + WAIT;
    while !(seen.contains("\"zero\"") && seen.contains("\"one\"") && seen.contains("\"two\"")) {
        let chunk = tokio::time::timeout_at(deadline.into(), events.next())
            .await
            .expect("SSE events in time")
            .expect("SSE stream open")
            .expect("SSE chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: message"), "{seen}");
    assert!(seen.contains("\"topic\":\"svc/b\""), "{seen}");

    // 400: a wildcard in a topic name, a QoS that does not exist.
    assert_eq!(
        service.publish("svc/%2B", "x").await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        service.publish("svc/a?qos=3", "x").await,
        StatusCode::BAD_REQUEST
    );
    // 403: outside the permissions.
    assert_eq!(
        service.publish("denied/x", "x").await,
        StatusCode::FORBIDDEN
    );
    // 413: over the maximum packet size (1024).
    assert_eq!(
        service.publish("svc/big", vec![b'x'; 2000]).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );

    // 503, queue full: the broker is frozen (the connection stays up), one publish waits for
    // its ack (max_inflight 1), one waits in the queue (max_queued 1); the third is refused.
    broker.freeze();
    let waiting: Vec<_> = ["first", "second"]
        .into_iter()
        .map(|payload| {
            let (http, url) = (
                service.http.clone(),
                format!("{}/publish/svc/q", service.base),
            );
            tokio::spawn(async move { http.post(url).body(payload).send().await.unwrap().status() })
        })
        .collect();
    wait_for("one in flight and one queued", || async {
        let (_, body) = service.health().await;
        (body["in_flight"] == 1 && body["queued"] == 1).then_some(())
    })
    .await;
    assert_eq!(
        service.publish("svc/q", "third").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    broker.thaw();
    for request in waiting {
        assert_eq!(request.await.unwrap(), StatusCode::ACCEPTED);
    }

    // Metrics: Prometheus text with the client's counters.
    let metrics = service
        .http
        .get(format!("{}/metrics", service.base))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains("# TYPE mqtt_publishes_completed_total counter"),
        "{text}"
    );
    assert!(text.contains("client_id=\"service-test\""), "{text}");
    // The service's own metric, in the same registry.
    assert!(
        text.contains("# TYPE service_publish_requests_total counter"),
        "{text}"
    );

    // The broker stops: 503 from health and from publish; back to 200 after a restart.
    broker.stop();
    let body = service.wait_health(StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["healthy"], false);
    assert_eq!(
        service.publish("svc/down", "x").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    broker.start_again();
    service.wait_health(StatusCode::OK).await;
    assert_eq!(
        service.publish("svc/up", "again").await,
        StatusCode::ACCEPTED
    );

    // Graceful shutdown: the SSE stream ends, serve returns after disconnecting the client.
    stop_tx.send(()).unwrap();
    let deadline = Instant::now() + WAIT;
    while let Some(chunk) = tokio::time::timeout_at(deadline.into(), events.next())
        .await
        .expect("SSE stream ends on shutdown")
    {
        if chunk.is_err() {
            break;
        }
    }
    tokio::time::timeout(WAIT, server)
        .await
        .expect("serve returns")
        .unwrap()
        .expect("serve ok");
}

/// A publish the service accepted before the stop signal still completes with 202: the server
/// waits for the requests in progress, then the client's `disconnect()` flushes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_completes_an_accepted_publish() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let broker = Broker::start(BrokerOptions::plain(), None);
    let toml = format!(
        "[http]\nlisten = \"127.0.0.1:0\"\n[mqtt]\nhost = \"127.0.0.1\"\nport = {}\nclient_id = \"service-shutdown\"\n",
        broker.port()
    );
    let config = ServiceConfig::from_toml(&toml, |_| None).expect("config");
    let client = Client::start(config.mqtt).expect("start");
    let listener = tokio::net::TcpListener::bind(&config.http.listen)
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(jamey_mqtt_service::serve(listener, client, async {
        let _ = stop_rx.await;
    }));
    let service = Service {
        base,
        http: http_client(),
    };
    service.wait_health(StatusCode::OK).await;

    broker.freeze();
    let (http, url) = (
        service.http.clone(),
        format!("{}/publish/svc/last", service.base),
    );
    let publish =
        tokio::spawn(async move { http.post(url).body("last").send().await.unwrap().status() });
    wait_for("the publish in flight", || async {
        let (_, body) = service.health().await;
        (body["in_flight"] == 1).then_some(())
    })
    .await;
    stop_tx.send(()).unwrap();
    broker.thaw();
    assert_eq!(publish.await.unwrap(), StatusCode::ACCEPTED);
    tokio::time::timeout(WAIT, server)
        .await
        .expect("serve returns")
        .unwrap()
        .expect("serve ok");
}

/// Reads `events` until `wanted` appears in what arrived, within [`WAIT`].
async fn read_until(
    events: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    wanted: &str,
) -> String {
    let mut seen = String::new();
    let deadline = Instant::now() + WAIT;
    while !seen.contains(wanted) {
        let chunk = tokio::time::timeout_at(deadline.into(), events.next())
            .await
            .unwrap_or_else(|_| panic!("no {wanted:?} in the SSE stream in time: {seen}"))
            .expect("SSE stream open")
            .expect("SSE chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}

/// `GET /subscribe` lasts until the HTTP client leaves: once it left, the client's subscription
/// ends, so what the broker sends for the filter matches no subscription any more
/// (`mqtt_messages_unmatched_total` in `/metrics` counts it); before that nothing was unmatched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_subscription_ends_when_the_http_client_leaves() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let broker = Broker::start(BrokerOptions::plain(), None);
    let toml = format!(
        "[mqtt]\nhost = \"127.0.0.1\"\nport = {}\nclient_id = \"service-sse\"\n",
        broker.port()
    );
    let config = ServiceConfig::from_toml(&toml, |_| None).expect("config");
    let running = serve(Client::start(config.mqtt).expect("start")).await;
    let service = &running.service;
    service.wait_health(StatusCode::OK).await;
    let unmatched = "mqtt_messages_unmatched_total{client_id=\"service-sse\"} ";

    // A separate HTTP client, so that leaving closes its connection.
    let sse = http_client()
        .get(format!("{}/subscribe/leave/%23", service.base))
        .send()
        .await
        .expect("GET /subscribe");
    assert_eq!(sse.status(), StatusCode::OK);
    let mut events = sse.bytes_stream();
    assert_eq!(
        service.publish("leave/x", "while-here").await,
        StatusCode::ACCEPTED
    );
    read_until(&mut events, "while-here").await;
    assert_eq!(sample(&service.metrics().await, unmatched), Some(0.0));

    // The HTTP client leaves (its connection closes).
    drop(events);
    wait_for(
        "a message for the filter to match no subscription",
        || async {
            assert_eq!(
                service.publish("leave/x", "after").await,
                StatusCode::ACCEPTED
            );
            let text = service.metrics().await;
            sample(&text, unmatched)
                .is_some_and(|count| count > 0.0)
                .then_some(())
        },
    )
    .await;
    running.stop().await;
}

/// The broker's own refusals (its JWT plugin, MQTT 5, no client-side permissions): a publish
/// outside the token's grants gets PUBACK "not authorized", answered 403; a subscribe outside
/// them gets a SUBACK refusal, answered 403. `/subscribe`'s other errors: 400 for an invalid
/// filter or QoS, 503 while the client is not connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_refusals_are_403_and_subscribe_errors_have_their_status() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let mut broker = jamey_mqtt_tests::scenarios::jwt_broker();
    const ID: &str = "service-jwt";
    let token = jwt_signer(ID, Duration::from_secs(3600), &["svc/#"], &["svc/#"])
        .sign(std::time::SystemTime::now())
        .expect("sign");
    let toml = format!(
        r#"
[mqtt]
host = "127.0.0.1"
port = {port}
client_id = "{ID}"
protocol = "5"
username = "{ID}"
password = "{password}"
"#,
        port = broker.port(),
        password = token.expose(),
    );
    let config = ServiceConfig::from_toml(&toml, |_| None).expect("config");
    let running = serve(Client::start(config.mqtt).expect("start")).await;
    let service = &running.service;
    service.wait_health(StatusCode::OK).await;

    // Inside the grants: accepted; outside: the broker says "not authorized".
    assert_eq!(service.publish("svc/ok", "x").await, StatusCode::ACCEPTED);
    let (status, body) = service.publish_answer("secret/x", "x").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("not authorized (0x87)"),
        "{body}"
    );

    let granted = service.subscribe("svc/%23").await;
    assert_eq!(granted.status(), StatusCode::OK);
    drop(granted);
    let refused = service.subscribe("secret/%23").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    // `+` must be a whole level in a filter; QoS 3 does not exist.
    assert_eq!(
        service.subscribe("svc/a%2Bb").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        service.subscribe("svc/%23?qos=3").await.status(),
        StatusCode::BAD_REQUEST
    );

    broker.stop();
    service.wait_health(StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(
        service.subscribe("svc/%23").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    running.stop().await;
}
