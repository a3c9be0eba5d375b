//! MQTT 5 request/response on top of publish and subscribe: [`Client::request`] publishes with
//! a response topic and correlation data and resolves with the matching response, within a
//! timeout; the responder answers with [`Message::response`](jamey_mqtt_core::Message).
//!
//! Each request subscribes to a response topic of its own, publishes, waits, and
//! unsubscribes: simple and exact, at the cost of a SUBSCRIBE and an UNSUBSCRIBE per request.
//! The topic and the correlation data are the core's decision
//! ([`jamey_mqtt_core::request`]): under the broker's response information when the client
//! asked for it (`ClientConfig::request_response_information`) and the broker gave one, else
//! under `jamey/responses/{client id}`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::{select, Either};
use jamey_mqtt_core::request::{request_route, response_topic_prefix};
use jamey_mqtt_core::PublishProperties;
use jamey_mqtt_core::{Message, PublishRequest, QoS};

use crate::{Client, Error, Runtime};

impl<R: Runtime> Client<R> {
    /// Publishes `payload` to `topic` (QoS 1) as a request and resolves with the first
    /// response that carries its correlation data (others on its response topic are ignored),
    /// or `Error::TimedOut` once `timeout` has passed since the call: the timeout covers the
    /// SUBSCRIBE to the response topic, the publish and the wait. The UNSUBSCRIBE afterwards
    /// is handed to the client before this resolves, but not waited for past the timeout.
    /// MQTT 5 only (on 3.1.1 the response topic is refused: `Error::Request`).
    pub async fn request(
        &self,
        topic: impl Into<String>,
        payload: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Message, Error> {
        let deadline = self.runtime.now() + timeout;
        let n = self.inner.next_request.fetch_add(1, Ordering::Relaxed);
        let info = self.connection_info();
        let prefix = response_topic_prefix(
            info.as_ref()
                .and_then(|i| i.response_information.as_deref()),
            info.as_ref()
                .map_or(self.inner.client_id.as_str(), |i| i.client_id.as_str()),
        );
        let (response_topic, correlation) = request_route(&prefix, n);
        let request =
            PublishRequest::new(topic, payload, QoS::AtLeastOnce).properties(PublishProperties {
                response_topic: Some(response_topic.clone()),
                correlation_data: Some(correlation.clone()),
                ..PublishProperties::default()
            });
        let exchange = async {
            let mut responses = self
                .subscribe(response_topic.as_str(), QoS::AtLeastOnce)
                .await?;
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
        let outcome = match select(
            Box::pin(exchange),
            Box::pin(self.runtime.sleep_until(deadline)),
        )
        .await
        {
            Either::Left((outcome, _)) => outcome,
            Either::Right(((), _)) => Err(Error::TimedOut { after: timeout }),
        };
        // Best effort, within what is left of the timeout: the response topic is this
        // request's alone. The first poll hands the UNSUBSCRIBE to the client, so it goes out
        // even when the deadline has passed. A SUBSCRIBE cut short by the deadline may still
        // be granted: it is unsubscribed too.
        let _ = select(
            Box::pin(self.unsubscribe(response_topic)),
            Box::pin(self.runtime.sleep_until(deadline)),
        )
        .await;
        outcome
    }
}
