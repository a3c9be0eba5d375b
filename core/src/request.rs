//! MQTT 5 request/response, the requester's side: which response topic a request names and
//! which correlation data it carries. The async client's `Client::request` only does the I/O
//! (subscribe, publish, wait, unsubscribe); what goes in the packets is decided here.
//!
//! The prefix of the response topics is the broker's response information (CONNACK, when the
//! client asked for it with `ClientConfig::request_response_information`) when it is usable as
//! the start of a topic name, else `jamey/responses/{client id}`. Request `n` of a client
//! answers on `{prefix}/{n}` with correlation data `n` (8 bytes, big endian): a response topic
//! of its own, so a response can only reach the request that named it, and the correlation
//! data tells a stray answer (another requester's, or one a responder sent twice) apart.

use bytes::Bytes;

use crate::topic::TopicName;

/// The prefix of the response topics: `response_information` when it is a valid topic name
/// (one trailing `/` dropped), else `jamey/responses/{client_id}` with any character a topic
/// name cannot hold (`+`, `#`, U+0000) replaced by `_`.
pub fn response_topic_prefix(response_information: Option<&str>, client_id: &str) -> String {
    if let Some(info) = response_information {
        let info = info.strip_suffix('/').unwrap_or(info);
        if !info.is_empty() && TopicName::validate(&format!("{info}/0")).is_ok() {
            return info.to_owned();
        }
    }
    let id: String = client_id
        .chars()
        .map(|c| {
            if matches!(c, '+' | '#' | '\0') {
                '_'
            } else {
                c
            }
        })
        .collect();
    format!("jamey/responses/{id}")
}

/// What request `n` carries: its response topic under `prefix`
/// ([`response_topic_prefix`]) and its correlation data.
pub fn request_route(prefix: &str, n: u64) -> (String, Bytes) {
    (
        format!("{prefix}/{n}"),
        Bytes::copy_from_slice(&n.to_be_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_brokers_response_information_is_the_prefix_when_it_is_a_topic() {
        assert_eq!(
            response_topic_prefix(Some("replies/c1"), "c1"),
            "replies/c1"
        );
        assert_eq!(
            response_topic_prefix(Some("replies/c1/"), "c1"),
            "replies/c1"
        );
    }

    #[test]
    fn without_usable_response_information_the_prefix_is_the_clients_own() {
        assert_eq!(response_topic_prefix(None, "c1"), "jamey/responses/c1");
        assert_eq!(response_topic_prefix(Some(""), "c1"), "jamey/responses/c1");
        assert_eq!(response_topic_prefix(Some("/"), "c1"), "jamey/responses/c1");
        // Wildcards cannot be part of a topic name.
        assert_eq!(
            response_topic_prefix(Some("replies/+"), "c1"),
            "jamey/responses/c1"
        );
        assert_eq!(
            response_topic_prefix(None, "a+b#c"),
            "jamey/responses/a_b_c"
        );
    }

    #[test]
    fn each_request_has_its_own_topic_and_correlation() {
        let (topic, correlation) = request_route("replies/c1", 7);
        assert_eq!(topic, "replies/c1/7");
        assert_eq!(&correlation[..], &7u64.to_be_bytes());
        assert_ne!(request_route("replies/c1", 8).1, correlation);
        assert!(TopicName::validate(&topic).is_ok());
    }
}
