//! Admission: the checks every command passes before anything is queued (open, permissions,
//! MQTT 5 features on 3.1.1, encodable within the size in force, room in the queue), in one
//! place, so that an admitted request can always be sent.

use std::time::Instant;

use super::{Client, RequestError, SubscriptionEnd, Token};
use crate::error::{ClientError, Unsupported};
use crate::packet::ProtocolVersion;
use crate::permissions::{Action as PermissionAction, Permissions};
use crate::session::{Outgoing, Request};
use crate::state::ConnectionState;
use crate::topic::{TopicFilter, TopicName};

impl Client {
    pub(super) fn check_open(&self) -> Result<(), ClientError> {
        match self.state() {
            ConnectionState::Closed | ConnectionState::Draining | ConnectionState::Closing => {
                Err(ClientError::Closed)
            }
            // Lost with reconnect disabled: nothing would ever send it.
            ConnectionState::Disconnected if self.reconnect.is_stopped() => {
                Err(ClientError::NotConnected)
            }
            _ => Ok(()),
        }
    }

    /// A token brought `permissions`: they are in force from now on, and the queued requests
    /// they do not allow fail (they were admitted before the token came, or under the old
    /// token's grants). What is in flight already left under the permissions of its time.
    pub(super) fn put_permissions_in_force(&mut self, permissions: Permissions) {
        let denial = |body: &Outgoing| -> Option<(PermissionAction, String)> {
            match body {
                Outgoing::Publish { topic, .. } => {
                    let allowed = TopicName::new(&**topic)
                        .is_ok_and(|name| permissions.allows_publish(&name));
                    (!allowed).then(|| (PermissionAction::Publish, topic.to_string()))
                }
                Outgoing::Subscribe { filters, .. } => filters
                    .iter()
                    .find(|f| {
                        !TopicFilter::new(f.filter.as_str())
                            .is_ok_and(|filter| permissions.allows_subscribe(&filter))
                    })
                    .map(|f| (PermissionAction::Subscribe, f.filter.clone())),
                Outgoing::Unsubscribe { .. } => None,
            }
        };
        let refused = self
            .session
            .take_queued_where(|body| denial(body).is_some());
        for request in refused {
            let Some((action, topic)) = denial(&request.body) else {
                continue;
            };
            self.stats.permission_denied += 1;
            self.fail(
                request.token,
                RequestError::PermissionDenied { action, topic },
            );
        }
        self.permissions = Some(permissions);
    }

    /// A CONNACK brought new limits (`self.limits`): the queued requests beyond them fail with
    /// the error admission gives ([`RequestError::Unsupported`]) and are never sent. A queued
    /// re-subscription (the client's own) beyond them ends its subscriptions instead
    /// ([`SubscriptionEnd::ResubscribeRefused`] with the reason code a broker would use); the
    /// re-subscriptions made for this very CONNACK already left such filters out
    /// (`session_lost`).
    pub(super) fn refuse_beyond_limits(&mut self) {
        let limits = self.limits;
        let refusal = move |body: &Outgoing| -> Option<Unsupported> {
            match body {
                Outgoing::Publish { qos, retain, .. } => limits.refuses_publish(*qos, *retain),
                Outgoing::Subscribe { filters, .. } => filters.iter().find_map(|f| {
                    TopicFilter::new(f.filter.as_str())
                        .ok()
                        .and_then(|filter| limits.refuses_filter(&filter))
                }),
                Outgoing::Unsubscribe { .. } => None,
            }
        };
        let refused = self
            .session
            .take_queued_where(|body| refusal(body).is_some());
        for request in refused {
            let Some(unsupported) = refusal(&request.body) else {
                continue;
            };
            if self.routing.is_resubscribe(request.token) {
                let ended = self.routing.remove_regranting(request.token);
                let reason = unsupported.reason_code();
                self.end_subscriptions(ended, SubscriptionEnd::ResubscribeRefused(reason));
            } else {
                self.fail(request.token, RequestError::Unsupported(unsupported));
            }
        }
    }

    pub(super) fn check_properties_allowed(
        &self,
        uses_v5_features: bool,
    ) -> Result<(), ClientError> {
        if uses_v5_features && self.config.protocol == ProtocolVersion::V311 {
            return Err(ClientError::Unsupported(Unsupported::Mqtt5Request));
        }
        Ok(())
    }

    pub(super) fn denied(&mut self, action: PermissionAction, topic: &str) -> ClientError {
        self.stats.permission_denied += 1;
        ClientError::PermissionDenied {
            action,
            topic: topic.to_owned(),
        }
    }

    /// The one admission check: encodable (`Codec::encoded_len`, which names a field that is
    /// too long), within the packet size in force, and room in the queue. Then queue it,
    /// admitted at `now` (a publish's message expiry interval counts from here).
    pub(super) fn admit(&mut self, now: Instant, mut body: Outgoing) -> Result<Token, ClientError> {
        let size = self.measure(&mut body).map_err(ClientError::Unencodable)?;
        if size > self.max_outgoing {
            return Err(ClientError::PacketTooLarge {
                size,
                max: self.max_outgoing,
            });
        }
        if self.session.queue_is_full() {
            self.stats.queue_full += 1;
            return Err(ClientError::QueueFull {
                capacity: self.session.max_queued(),
            });
        }
        let token = self.new_token();
        self.session.enqueue(Request::new(token, body, size, now));
        Ok(token)
    }

    /// The encoded size of a request, or why it cannot be encoded. Measured with packet id 1:
    /// the id's value does not change the size, and the real one is allocated when it is sent.
    pub(super) fn measure(&self, body: &mut Outgoing) -> Result<usize, crate::codec::EncodeError> {
        body.lend(1, false, u16::MAX, |packet| self.codec.encoded_len(packet))
    }

    pub(super) fn new_token(&mut self) -> Token {
        self.next_token += 1;
        Token(self.next_token)
    }
}
