//! Admission: the checks every command passes before anything is queued (open, permissions,
//! MQTT 5 features on 3.1.1, encodable within the size in force, room in the queue), in one
//! place, so that an admitted request can always be sent.

use std::time::Instant;

use super::{Client, Token};
use crate::error::ClientError;
use crate::packet::ProtocolVersion;
use crate::permissions::Action as PermissionAction;
use crate::session::{Outgoing, Request};
use crate::state::ConnectionState;

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

    /// With permissions from the JWT and no token yet, mint one now to learn them.
    pub(super) fn load_token_permissions(&mut self, now: Instant) -> Result<(), ClientError> {
        if self.permissions.is_none() {
            if let Some(permissions) = self
                .credentials
                .token_permissions(now)
                .map_err(ClientError::Auth)?
            {
                self.permissions = Some(permissions);
            }
        }
        Ok(())
    }

    pub(super) fn check_properties_allowed(
        &self,
        uses_v5_features: bool,
    ) -> Result<(), ClientError> {
        if uses_v5_features && self.config.protocol == ProtocolVersion::V311 {
            return Err(ClientError::Unsupported(
                "MQTT 5 properties or subscription options on an MQTT 3.1.1 connection",
            ));
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
