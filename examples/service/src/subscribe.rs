//! `GET /subscribe/{*filter}?qos=0|1|2`: server-sent events, one `message` event per MQTT
//! message (data: `{"topic": .., "payload": ..}`, the payload as UTF-8 with invalid bytes
//! replaced), until the HTTP client leaves or the service stops. The response starts once the
//! broker granted the subscription, so a message published after the headers arrived is
//! delivered. Errors before that: 400 invalid filter or QoS, 403 denied (client-side
//! permissions, or the broker's SUBACK refusal), 503 while not connected (as `/publish`: the
//! HTTP request is not held while the client waits for the broker) or once the client is down.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use jamey_mqtt_tokio::{ClientError, Error, QoS};
use serde::Serialize;

use crate::publish::PublishQuery;
use crate::AppState;

/// The data of one event.
#[derive(Debug, Serialize)]
struct MessageData<'a> {
    topic: &'a str,
    payload: std::borrow::Cow<'a, str>,
    qos: u8,
    retain: bool,
}

pub async fn subscribe(
    State(state): State<AppState>,
    Path(filter): Path<String>,
    Query(query): Query<PublishQuery>,
) -> Response {
    let Some(qos) = QoS::from_u8(query.qos.unwrap_or(1)) else {
        return (StatusCode::BAD_REQUEST, "qos must be 0, 1 or 2\n").into_response();
    };
    if state.client.connection_info().is_none() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not connected to the broker\n",
        )
            .into_response();
    }
    let subscription = match state.client.subscribe(filter, qos).await {
        Ok(subscription) => subscription,
        Err(error) => return (status_of(&error), format!("{error}\n")).into_response(),
    };
    let mut stopping = state.stopping.clone();
    let stopped = async move {
        let _ = stopping.wait_for(|stopping| *stopping).await;
    };
    // Dropping the stream (the HTTP client left, or the service stops) drops the subscription.
    let events = subscription
        .take_while(|item| std::future::ready(item.is_ok()))
        .filter_map(|item| std::future::ready(item.ok()))
        .map(|message| {
            let data = MessageData {
                topic: &message.topic,
                payload: String::from_utf8_lossy(&message.payload),
                qos: message.qos as u8,
                retain: message.retain,
            };
            let event = Event::default()
                .event("message")
                .json_data(&data)
                .unwrap_or_else(|_| Event::default().event("error"));
            Ok::<_, Infallible>(event)
        })
        .take_until(Box::pin(stopped));
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn status_of(error: &Error) -> StatusCode {
    match error {
        Error::Request(ClientError::InvalidTopic(_)) => StatusCode::BAD_REQUEST,
        Error::Request(ClientError::PermissionDenied { .. }) | Error::SubscribeRefused { .. } => {
            StatusCode::FORBIDDEN
        }
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}
