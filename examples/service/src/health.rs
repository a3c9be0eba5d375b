//! `GET /health/mqtt`: the client's health snapshot as JSON; 200 when connected with a live
//! keep-alive, 503 (same body) otherwise.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use jamey_mqtt_tokio::Health;
use serde::Serialize;

use crate::AppState;

/// The JSON body.
#[derive(Debug, Serialize)]
pub struct HealthBody {
    /// The connection state (`Connected`, `Waiting`, `Opening`, ..., `Closed` when the client
    /// is gone).
    pub state: String,
    pub healthy: bool,
    pub in_flight: usize,
    pub queued: usize,
    pub buffered_bytes: usize,
    pub unmatched_buffered: usize,
    pub last_error: Option<String>,
}

impl From<&Health> for HealthBody {
    fn from(h: &Health) -> HealthBody {
        HealthBody {
            state: format!("{:?}", h.state),
            healthy: h.healthy,
            in_flight: h.in_flight,
            queued: h.queued,
            buffered_bytes: h.buffered_bytes,
            unmatched_buffered: h.unmatched_buffered,
            last_error: h.last_error.as_ref().map(ToString::to_string),
        }
    }
}

pub async fn health(State(state): State<AppState>) -> Response {
    let body = match state.client.stats().await {
        Ok(stats) => HealthBody::from(&stats.health),
        Err(e) => HealthBody {
            state: "Closed".into(),
            healthy: false,
            in_flight: 0,
            queued: 0,
            buffered_bytes: 0,
            unmatched_buffered: 0,
            last_error: Some(e.to_string()),
        },
    };
    let status = if body.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
