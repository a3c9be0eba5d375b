//! An axum 0.8 service wiring the jamey-mqtt client: the example of how an application holds
//! the client in its state and exposes it over HTTP.
//!
//! | route | what it does |
//! |---|---|
//! | `GET /health/mqtt` | the client's health as JSON: 200 when connected, 503 otherwise |
//! | `GET /metrics` | Prometheus text ([`metrics::render`]) |
//! | `POST /publish/{*topic}` | publishes the body (`?qos=0|1|2`, default 1); 202 after the broker's ack |
//! | `GET /subscribe/{*filter}` | server-sent events, one per message, until the HTTP client leaves |
//!
//! While the client is not connected, `/publish` and `/subscribe` answer 503 at once rather than
//! hold the HTTP request for an outage of unknown length (the caller retries; `/health/mqtt`
//! says when).
//!
//! The service makes no MQTT decision: topic validity, permissions, sizes and the queue bound
//! are the client's answers, mapped to HTTP statuses in [`publish`].
//!
//! Wiring ([`run`]): [`config::ServiceConfig`] from a TOML file (an `[http]` and an optional
//! `[mqtt]` section, `MQTT_*` variables on top) -> `Client::start` (the service comes up even
//! while the broker is down, and reports 503 on `/health/mqtt` until it connects) ->
//! [`router`] -> `axum::serve` with graceful shutdown ([`shutdown`]) -> `client.disconnect()`.

pub mod config;
pub mod health;
pub mod metrics;
pub mod publish;
pub mod shutdown;
pub mod subscribe;

use axum::routing::{get, post};
use axum::Router;
use jamey_mqtt_tokio::Client;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What every handler gets: the client (a cheap clone of one handle) and the shutdown signal
/// that ends the long-lived SSE streams.
#[derive(Clone)]
pub struct AppState {
    pub client: Client,
    /// The application's metrics registry, the client's metrics registered in it
    /// (`metrics.rs`), served together at `/metrics`.
    pub metrics: std::sync::Arc<metrics::Metrics>,
    /// Becomes `true` when the service stops accepting requests.
    pub stopping: watch::Receiver<bool>,
}

/// The service's routes over `state`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health/mqtt", get(health::health))
        .route("/metrics", get(metrics::metrics))
        .route("/publish/{*topic}", post(publish::publish))
        .route("/subscribe/{*filter}", get(subscribe::subscribe))
        .with_state(state)
}

/// Serves `client` on `listener` until `stop` resolves; then stops accepting requests, ends
/// the SSE streams, waits for the requests in progress, and disconnects the client (which
/// completes or fails every request it accepted before it returns).
pub async fn serve(
    listener: TcpListener,
    client: Client,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stopping_tx, stopping) = watch::channel(false);
    let app = router(AppState {
        metrics: std::sync::Arc::new(metrics::Metrics::new(&client)),
        client: client.clone(),
        stopping,
    });
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            stop.await;
            let _ = stopping_tx.send(true);
        })
        .await;
    // Every handler has returned: nothing new reaches the client. Flush what it accepted.
    let _ = client.disconnect().await;
    result
}

/// The whole service: configuration from `path`, the client started in the background, HTTP
/// on the configured address until SIGTERM or Ctrl-C.
pub async fn run(path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let config = config::ServiceConfig::load(path)?;
    let client = Client::start(config.mqtt)?;
    let listener = TcpListener::bind(&config.http.listen).await?;
    println!(
        "jamey-mqtt-service listening on http://{}",
        listener.local_addr()?
    );
    serve(listener, client, shutdown::signal()).await?;
    println!("jamey-mqtt-service stopped; the MQTT client disconnected cleanly");
    Ok(())
}
