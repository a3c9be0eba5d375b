//! What the broker said about the connection in force (its CONNACK), and the limits the client
//! holds itself to on it: [`ConnectionInfo`] and [`BrokerLimits`].
//!
//! MQTT 3.1.1 has no CONNACK properties: everything is available and unlimited there, which is
//! what [`BrokerLimits::default`] says.

use std::time::Duration;

use crate::endpoints::Endpoint;
use crate::error::Unsupported;
use crate::packet::{ConnAck, QoS, ReasonCode, UserProperties};
use crate::topic::TopicFilter;

/// What the broker allows on this connection (MQTT 5 CONNACK; absent properties mean the
/// specification's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrokerLimits {
    /// The highest QoS the broker accepts in a PUBLISH from us.
    pub maximum_qos: QoS,
    /// The broker accepts retained publishes.
    pub retain_available: bool,
    /// How many QoS 1/2 publishes the broker accepts unacknowledged from us.
    pub receive_maximum: u16,
    /// The largest packet the broker accepts (`None`: no limit beyond the protocol's).
    pub maximum_packet_size: Option<u32>,
    /// The highest topic alias the broker accepts from us (0: none).
    pub topic_alias_maximum: u16,
    /// The broker accepts filters with wildcards.
    pub wildcard_subscription_available: bool,
    /// The broker accepts subscription identifiers.
    pub subscription_identifiers_available: bool,
    /// The broker accepts shared (`$share/`) subscriptions.
    pub shared_subscription_available: bool,
}

impl Default for BrokerLimits {
    fn default() -> BrokerLimits {
        BrokerLimits {
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            receive_maximum: u16::MAX,
            maximum_packet_size: None,
            topic_alias_maximum: 0,
            wildcard_subscription_available: true,
            subscription_identifiers_available: true,
            shared_subscription_available: true,
        }
    }
}

impl BrokerLimits {
    /// The limits a CONNACK announces.
    pub(crate) fn from_connack(connack: &ConnAck) -> BrokerLimits {
        let p = &connack.properties;
        let flag = |value: Option<u8>| value != Some(0);
        BrokerLimits {
            maximum_qos: p
                .maximum_qos
                .and_then(QoS::from_u8)
                .unwrap_or(QoS::ExactlyOnce),
            retain_available: flag(p.retain_available),
            receive_maximum: p.receive_maximum.unwrap_or(u16::MAX),
            maximum_packet_size: p.maximum_packet_size,
            topic_alias_maximum: p.topic_alias_maximum.unwrap_or(0),
            wildcard_subscription_available: flag(p.wildcard_subscription_available),
            subscription_identifiers_available: flag(p.subscription_identifiers_available),
            shared_subscription_available: flag(p.shared_subscription_available),
        }
    }

    /// Why a publish with this QoS and retain flag is beyond these limits (`None`: within).
    /// The one check, made at admission and again for what is queued when a CONNACK brings
    /// new limits.
    pub(crate) fn refuses_publish(&self, qos: QoS, retain: bool) -> Option<Unsupported> {
        if qos > self.maximum_qos {
            return Some(Unsupported::QoSAboveMaximum {
                requested: qos,
                maximum: self.maximum_qos,
            });
        }
        (retain && !self.retain_available).then_some(Unsupported::Retain)
    }

    /// Why a subscription to `filter` is beyond these limits (`None`: within).
    pub(crate) fn refuses_filter(&self, filter: &TopicFilter) -> Option<Unsupported> {
        if filter.has_wildcards() && !self.wildcard_subscription_available {
            return Some(Unsupported::WildcardSubscriptions);
        }
        (filter.is_shared() && !self.shared_subscription_available)
            .then_some(Unsupported::SharedSubscriptions)
    }
}

impl Unsupported {
    /// The MQTT 5 reason code a broker would refuse the same request with (what a
    /// re-subscription refused locally ends with).
    pub(crate) fn reason_code(&self) -> ReasonCode {
        match self {
            Unsupported::QoSAboveMaximum { .. } => ReasonCode::QOS_NOT_SUPPORTED,
            Unsupported::Retain => ReasonCode::RETAIN_NOT_SUPPORTED,
            Unsupported::WildcardSubscriptions => ReasonCode::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED,
            Unsupported::SharedSubscriptions | Unsupported::SharedSubscriptionsDisabled => {
                ReasonCode::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED
            }
            Unsupported::Mqtt5Request | Unsupported::Mqtt5Disconnect => ReasonCode::PROTOCOL_ERROR,
        }
    }
}

/// The connection in force, as its CONNACK described it: [`Client::connection`] and
/// [`Event::Connected`](super::Event::Connected).
///
/// [`Client::connection`]: super::Client::connection
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The endpoint this connection is on (from the broker list, or where a redirect led).
    pub endpoint: Endpoint,
    /// The broker resumed a session it kept for this client id.
    pub session_present: bool,
    /// The client id in force: the configured one, or the one the broker assigned.
    pub client_id: String,
    /// The client id the broker assigned (MQTT 5, when CONNECT carried an empty one).
    pub assigned_client_id: Option<String>,
    /// The keep-alive in force: the broker's `server_keep_alive` when it sent one.
    pub keep_alive: Duration,
    /// The keep-alive the broker imposed (MQTT 5), if any.
    pub server_keep_alive: Option<u16>,
    /// The session expiry the broker imposed (MQTT 5), if it changed the requested one.
    pub session_expiry_interval: Option<u32>,
    /// What the broker allows on this connection.
    pub limits: BrokerLimits,
    /// MQTT 5 request/response: the basis for response topics, when requested in CONNECT.
    pub response_information: Option<String>,
    /// MQTT 5: another server the client may use.
    pub server_reference: Option<String>,
    /// The CONNACK's human-readable reason string (MQTT 5), if any.
    pub reason_string: Option<String>,
    /// The CONNACK's user properties (MQTT 5), in order.
    pub user_properties: UserProperties,
}

impl ConnectionInfo {
    pub(crate) fn from_connack(
        connack: &ConnAck,
        client_id: &str,
        keep_alive: Duration,
        endpoint: Endpoint,
    ) -> ConnectionInfo {
        let p = &connack.properties;
        ConnectionInfo {
            endpoint,
            session_present: connack.session_present,
            client_id: client_id.to_owned(),
            assigned_client_id: p.assigned_client_identifier.clone(),
            keep_alive,
            server_keep_alive: p.server_keep_alive,
            session_expiry_interval: p.session_expiry_interval,
            limits: BrokerLimits::from_connack(connack),
            response_information: p.response_information.clone(),
            server_reference: p.server_reference.clone(),
            reason_string: p.reason_string.clone(),
            user_properties: p.user_properties.clone(),
        }
    }
}
