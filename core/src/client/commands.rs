//! Commands from the application: connect, publish, subscribe, unsubscribe, drop a
//! subscription, disconnect. Each is checked (`admission.rs`) before anything is queued; on
//! error nothing changes.

use std::time::Instant;

use super::{
    Action, Client, ClientError, PublishRequest, SubscriptionEnd, SubscriptionId, Token,
    MAX_SUBSCRIPTION_IDENTIFIER,
};
use crate::error::Unsupported;
use crate::packet::{SubscribeFilter, SubscribeProperties, UserProperties};
use crate::permissions::Action as PermissionAction;
use crate::session::Outgoing;
use crate::state::{ConnectionState, Input};
use crate::topic::{TopicFilter, TopicName};

impl Client {
    /// Start connecting (from `Disconnected`); does nothing in any other state.
    pub fn connect(&mut self, now: Instant) {
        if self.state() == ConnectionState::Disconnected {
            // After "reconnect disabled" stopped the policy, an explicit connect starts afresh.
            if self.reconnect.is_stopped() {
                self.reconnect.reset();
            }
            self.start_attempt(now);
        }
    }

    /// Queue a publish. Checked first (topic, permissions, size, queue bound): on error nothing
    /// is queued. Completion: [`Event::Published`](crate::Event::Published) or [`Event::RequestFailed`](crate::Event::RequestFailed) with the token.
    /// An MQTT 5 `message_expiry_interval` counts from `now`: if it passes before the publish
    /// leaves the queue, the request fails with [`RequestError::Expired`](crate::RequestError::Expired) and is never sent.
    pub fn publish(&mut self, now: Instant, request: PublishRequest) -> Result<Token, ClientError> {
        self.check_open()?;
        let topic = TopicName::new(request.topic)?;
        if let Some(permissions) = &self.permissions {
            if !permissions.allows_publish(&topic) {
                return Err(self.denied(PermissionAction::Publish, topic.as_str()));
            }
        }
        self.check_properties_allowed(!request.properties.is_empty())?;
        if let Some(unsupported) = self.limits.refuses_publish(request.qos, request.retain) {
            return Err(ClientError::Unsupported(unsupported));
        }
        if let Some(alias) = request.properties.topic_alias {
            if alias == 0 || alias > self.limits.topic_alias_maximum {
                return Err(ClientError::InvalidTopicAlias {
                    alias,
                    max: self.limits.topic_alias_maximum,
                });
            }
        }
        self.admit(
            now,
            Outgoing::Publish {
                qos: request.qos,
                retain: request.retain,
                topic: topic.into_string().into(),
                payload: request.payload,
                properties: request.properties.into(),
            },
        )
    }

    /// Queue a SUBSCRIBE for one or more filters. Completion: [`Event::Subscribed`](crate::Event::Subscribed) with one
    /// result per filter. Filter `i` is the subscription [`SubscriptionId::new(token, i)`]:
    /// once the broker granted it, messages that match it carry that id (first the unmatched
    /// messages it matches, right after [`Event::Subscribed`](crate::Event::Subscribed)), until
    /// [`Event::SubscriptionEnded`](crate::Event::SubscriptionEnded).
    pub fn subscribe(
        &mut self,
        now: Instant,
        filters: Vec<SubscribeFilter>,
    ) -> Result<Token, ClientError> {
        self.subscribe_with_properties(now, filters, SubscribeProperties::default())
    }

    /// [`Client::subscribe`] with MQTT 5 SUBSCRIBE properties: user properties, and a
    /// subscription identifier (1..=268,435,455) that applies to every filter of the request.
    /// A subscription with an identifier receives exactly the messages the broker sends with
    /// that identifier, so overlapping or shared subscriptions with different identifiers each
    /// get their own copies; it keeps its identifier when subscribed again after a session
    /// loss. Refused on MQTT 3.1.1 ([`ClientError::Unsupported`]) and, for an identifier, when
    /// the broker's CONNACK said it has none
    /// ([`ClientError::SubscriptionIdentifiersUnavailable`]).
    pub fn subscribe_with_properties(
        &mut self,
        now: Instant,
        filters: Vec<SubscribeFilter>,
        properties: SubscribeProperties,
    ) -> Result<Token, ClientError> {
        self.check_open()?;
        if filters.is_empty() {
            return Err(ClientError::NoFilters);
        }
        for filter in &filters {
            let valid = TopicFilter::new(filter.filter.as_str())?;
            // What the broker said it cannot serve is refused here, not sent to be refused.
            if let Some(unsupported) = self.limits.refuses_filter(&valid) {
                return Err(ClientError::Unsupported(unsupported));
            }
            if valid.is_shared() && !self.config.shared_subscriptions {
                return Err(ClientError::Unsupported(
                    Unsupported::SharedSubscriptionsDisabled,
                ));
            }
            if let Some(permissions) = &self.permissions {
                if !permissions.allows_subscribe(&valid) {
                    return Err(self.denied(PermissionAction::Subscribe, &filter.filter));
                }
            }
            let default_options = SubscribeFilter::new(filter.filter.as_str(), filter.qos);
            self.check_properties_allowed(
                filter.no_local != default_options.no_local
                    || filter.retain_as_published != default_options.retain_as_published
                    || filter.retain_handling != default_options.retain_handling,
            )?;
        }
        self.check_properties_allowed(properties != SubscribeProperties::default())?;
        if let Some(identifier) = properties.subscription_identifier {
            if !(1..=MAX_SUBSCRIPTION_IDENTIFIER).contains(&identifier) {
                return Err(ClientError::InvalidSubscriptionIdentifier(identifier));
            }
            if !self.limits.subscription_identifiers_available {
                return Err(ClientError::SubscriptionIdentifiersUnavailable);
            }
        }
        let identifier = properties.subscription_identifier;
        let token = self.admit(
            now,
            Outgoing::Subscribe {
                filters: filters.clone(),
                properties,
            },
        )?;
        self.routing.add(token, &filters, identifier);
        Ok(token)
    }

    /// The application stopped reading subscription `id` (dropped its stream): nothing is
    /// routed to it any more, and it is not subscribed again after a session loss. The broker
    /// keeps the subscription until an unsubscribe or the session's end; what it sends for it
    /// then goes to the other matching subscriptions or to the unmatched buffer.
    pub fn drop_subscription(&mut self, id: SubscriptionId) {
        self.routing.remove(id);
    }

    /// Queue an UNSUBSCRIBE. Completion: [`Event::Unsubscribed`](crate::Event::Unsubscribed). The subscriptions with
    /// exactly these filters end at once ([`Event::SubscriptionEnded`](crate::Event::SubscriptionEnded) with
    /// [`SubscriptionEnd::Unsubscribed`]): the application stops reading them now, so a stream
    /// it no longer reads cannot hold the UNSUBACK back. Messages still on their way to them
    /// are dropped by the adapter. They end even when the packet itself is refused with
    /// `QueueFull` (retry it): until the broker has it, what it sends for these filters goes
    /// to the unmatched buffer.
    pub fn unsubscribe(
        &mut self,
        now: Instant,
        filters: Vec<String>,
    ) -> Result<Token, ClientError> {
        self.unsubscribe_with_properties(now, filters, Vec::new())
    }

    /// [`Client::unsubscribe`] with MQTT 5 user properties (refused on MQTT 3.1.1 with
    /// [`ClientError::Unsupported`]).
    pub fn unsubscribe_with_properties(
        &mut self,
        now: Instant,
        filters: Vec<String>,
        user_properties: UserProperties,
    ) -> Result<Token, ClientError> {
        self.check_open()?;
        if filters.is_empty() {
            return Err(ClientError::NoFilters);
        }
        for filter in &filters {
            TopicFilter::new(filter.as_str())?;
        }
        self.check_properties_allowed(!user_properties.is_empty())?;
        // The streams end first, even if the packet cannot be queued now (`QueueFull`): a
        // full stream the application stopped reading holds the reading back, so the acks that
        // would free the queue could never be read, and the retried unsubscribe never admitted.
        for filter in &filters {
            let ended = self.routing.unsubscribe(filter);
            self.end_subscriptions(ended, SubscriptionEnd::Unsubscribed);
        }
        self.admit(
            now,
            Outgoing::Unsubscribe {
                filters,
                user_properties,
            },
        )
    }

    /// Graceful shutdown. When connected, requests already accepted get until the connect
    /// timeout to complete (state `Draining`); then DISCONNECT is queued after them and the
    /// adapter is asked to write everything, flush and close (`Closing`). Whatever has not
    /// completed by the deadline fails with [`RequestError::Closed`](crate::RequestError::Closed). Ends with
    /// [`Event::Disconnected`](crate::Event::Disconnected) once the adapter reports `handle_closed` (at once when not
    /// connected).
    pub fn disconnect(&mut self, now: Instant) {
        match self.state() {
            ConnectionState::Closed | ConnectionState::Draining | ConnectionState::Closing => {}
            ConnectionState::Connected => {
                self.transition(Input::Drain {
                    deadline: now + self.config.reconnect.connect_timeout,
                });
                self.close_if_drained();
            }
            _ => {
                // Not connected: nothing was accepted by the broker yet, CONNECT not answered.
                self.control.clear();
                if self.state().has_transport() {
                    self.actions.push_back(Action::Close);
                }
                self.finish_closed();
            }
        }
    }
}
