//! MQTT 5 request/response on top of publish and subscribe: [`Client::request`] publishes with
//! a response topic and correlation data and resolves with the matching response, within a
//! timeout; the responder answers with [`Message::response`](jamey_mqtt_core::Message).
//!
//! Each request subscribes to a response topic of its own (`{prefix}/{n}`), publishes, waits,
//! and unsubscribes: simple and exact, at the cost of a SUBSCRIBE and an UNSUBSCRIBE per
//! request. The prefix is the broker's response information when the client asked for it
//! (`ClientConfig::request_response_information`) and the broker gave one, else
//! `jamey/responses/{client id}`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::{select, Either};
use jamey_mqtt_core::PublishProperties;
use jamey_mqtt_core::{Message, PublishRequest, QoS};

use crate::{Client, Error, Runtime};

impl<R: Runtime> Client<R> {
    /// Publishes `payload` to `topic` (QoS 1) as a request and resolves with the first
    /// response that carries its correlation data, or `Error::TimedOut` after `timeout`.
    /// MQTT 5 only (on 3.1.1 the response topic is refused: `Error::Request`).
    pub async fn request(
        &self,
        topic: impl Into<String>,
        payload: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Message, Error> {
        let n = self.inner.next_request.fetch_add(1, Ordering::Relaxed);
        let info = self.connection_info();
        let prefix = match info.as_ref().and_then(|i| i.response_information.clone()) {
            Some(prefix) => prefix,
            None => format!(
                "jamey/responses/{}",
                info.map(|i| i.client_id).unwrap_or_default()
            ),
        };
        let response_topic = format!("{prefix}/{n}");
        let correlation = Bytes::from(n.to_be_bytes().to_vec());
        let request =
            PublishRequest::new(topic, payload, QoS::AtLeastOnce).properties(PublishProperties {
                response_topic: Some(response_topic.clone()),
                correlation_data: Some(correlation.clone()),
                ..PublishProperties::default()
            });
        let mut responses = self
            .subscribe(response_topic.as_str(), QoS::AtLeastOnce)
            .await?;
        let exchange = async {
            self.publish_request(request).await?;
            loop {
                match responses.recv().await {
                    Some(Ok(m)) if m.properties.correlation_data.as_ref() == Some(&correlation) => {
                        return Ok(m)
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(e),
                    None => return Err(Error::Closed),
                }
            }
        };
        let deadline = self.runtime.sleep_until(self.runtime.now() + timeout);
        let outcome = match select(Box::pin(exchange), Box::pin(deadline)).await {
            Either::Left((outcome, _)) => outcome,
            Either::Right(((), _)) => Err(Error::TimedOut { after: timeout }),
        };
        drop(responses);
        // Best effort: the response topic is this request's alone.
        let _ = self.unsubscribe(response_topic).await;
        outcome
    }
}
