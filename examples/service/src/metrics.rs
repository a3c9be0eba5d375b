//! `GET /metrics`: Prometheus text exposition.
//!
//! The seam for the metrics work: [`render`] is the one function that produces the body. For
//! now it is the client's `Stats::to_prometheus`; replace it with the prometheus-client
//! registry's encoder (and register the client's collectors) without touching the route.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use jamey_mqtt_tokio::Client;

use crate::AppState;

/// The metrics text for `client`, or `None` when the client is gone.
pub async fn render(client: &Client) -> Option<String> {
    let stats = client.stats().await.ok()?;
    let client_id = client
        .connection_info()
        .map(|info| info.client_id)
        .unwrap_or_default();
    Some(stats.core.to_prometheus(&client_id))
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    match render(&state.client).await {
        Some(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "mqtt client closed\n").into_response(),
    }
}
