//! `GET /metrics`: the Prometheus text of the application's registry, with the client's
//! metrics registered in it (`Client::register_metrics`) next to the service's own
//! (`service_publish_requests_total`): one endpoint for both.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jamey_mqtt_tokio::{Client, MetricsRegistry};
use prometheus_client::encoding::prometheus_text::encode;
use prometheus_client::metrics::counter::Counter;

use crate::AppState;

/// The service's registry and its own metrics.
pub struct Metrics {
    registry: MetricsRegistry,
    /// `POST /publish` requests received.
    pub publish_requests: Counter,
}

impl Metrics {
    /// A registry with `client`'s metrics and the service's.
    pub fn new(client: &Client) -> Metrics {
        let mut registry = MetricsRegistry::default();
        client.register_metrics(&mut registry);
        let publish_requests = Counter::default();
        registry.register(
            "service_publish_requests",
            "POST /publish requests received",
            publish_requests.clone(),
        );
        Metrics {
            registry,
            publish_requests,
        }
    }

    /// The registry in the Prometheus text format (0.0.4, what `promtool` and every scraper
    /// read).
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    match state.metrics.render() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "metrics could not be rendered\n",
        )
            .into_response(),
    }
}
