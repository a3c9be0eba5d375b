//! `POST /publish/{*topic}?qos=0|1|2`: publishes the request body; 202 once the broker
//! acknowledged it (QoS 0: once written). The client decides; this module only maps its
//! answer to a status:
//!
//! | client answer | status |
//! |---|---|
//! | completed | 202 |
//! | invalid topic, or a `qos` other than 0, 1, 2 | 400 |
//! | permission denied (client-side, or MQTT 5 "not authorized" from the broker) | 403 |
//! | payload over the maximum packet size | 413 |
//! | queue full, not connected, closed, no ack within [`ACK_TIMEOUT`] | 503 |
//! | any other broker refusal | 502 |

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use jamey_mqtt_tokio::{ClientError, Error, QoS, ReasonCode, RequestError};
use serde::{Deserialize, Serialize};

use crate::AppState;

/// How long a request waits for the broker's ack before answering 503 (the publish itself
/// stays accepted by the client and completes or fails on its own).
pub const ACK_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Deserialize)]
pub struct PublishQuery {
    pub qos: Option<u8>,
}

/// The JSON body of every answer.
#[derive(Debug, Serialize)]
pub struct PublishBody {
    pub topic: String,
    /// The packet id (QoS 1 and 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packet_id: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub async fn publish(
    State(state): State<AppState>,
    Path(topic): Path<String>,
    Query(query): Query<PublishQuery>,
    body: Bytes,
) -> Response {
    state.metrics.publish_requests.inc();
    let answer = |status: StatusCode, packet_id, error: Option<String>| {
        let body = PublishBody {
            topic: topic.clone(),
            packet_id,
            error,
        };
        (status, Json(body)).into_response()
    };
    let Some(qos) = QoS::from_u8(query.qos.unwrap_or(1)) else {
        return answer(
            StatusCode::BAD_REQUEST,
            None,
            Some("qos must be 0, 1 or 2".into()),
        );
    };
    // Not connected: answer now instead of holding the HTTP request while the client waits
    // for the broker (the caller retries; the client's queue is for short outages).
    if state.client.connection_info().is_none() {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            Some("not connected to the broker".into()),
        );
    }
    let publish = state.client.publish(topic.clone(), body, qos);
    match tokio::time::timeout(ACK_TIMEOUT, publish).await {
        Ok(Ok(outcome)) => answer(StatusCode::ACCEPTED, Some(outcome.pkid), None),
        Ok(Err(error)) => answer(status_of(&error), None, Some(error.to_string())),
        Err(_) => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            Some("no acknowledgement from the broker in time".into()),
        ),
    }
}

/// The HTTP status for a failed publish.
pub fn status_of(error: &Error) -> StatusCode {
    match error {
        Error::Request(ClientError::InvalidTopic(_)) => StatusCode::BAD_REQUEST,
        Error::Request(ClientError::PermissionDenied { .. }) => StatusCode::FORBIDDEN,
        Error::Failed(RequestError::Refused(code)) if *code == ReasonCode::NOT_AUTHORIZED => {
            StatusCode::FORBIDDEN
        }
        Error::Request(ClientError::PacketTooLarge { .. })
        | Error::Failed(RequestError::PacketTooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
        Error::Failed(RequestError::Refused(code)) if *code == ReasonCode::PACKET_TOO_LARGE => {
            StatusCode::PAYLOAD_TOO_LARGE
        }
        Error::Failed(RequestError::Refused(_)) => StatusCode::BAD_GATEWAY,
        Error::Request(
            ClientError::QueueFull { .. } | ClientError::Closed | ClientError::NotConnected,
        )
        | Error::Failed(
            RequestError::Closed
            | RequestError::NotConnected
            | RequestError::NotWritten
            | RequestError::SessionLost,
        )
        | Error::Closed => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
