//! Disconnecting with a reason (MQTT 5): what the application may put on its final DISCONNECT
//! ([`DisconnectOptions`]) and the checks it passes before anything changes
//! ([`Client::disconnect_with`]).

use std::time::Instant;

use super::Client;
use crate::error::{ClientError, Unsupported};
use crate::packet::{
    Disconnect, DisconnectProperties, Packet, ProtocolVersion, ReasonCode, UserProperties,
};

/// The final DISCONNECT's reason code and properties. The default is the normal disconnection
/// (reason 0x00, no properties), the only one MQTT 3.1.1 has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisconnectOptions {
    /// 0x00 normal disconnection (the will is discarded), 0x04 disconnect with will message
    /// (the broker publishes the will), or an error code a client may send (0x80..).
    pub reason: ReasonCode,
    /// A new session expiry interval, in seconds. Not allowed when CONNECT sent 0 (the
    /// specification calls turning 0 into non-zero a protocol error).
    pub session_expiry_interval: Option<u32>,
    /// A human-readable reason, for the broker's logs.
    pub reason_string: Option<String>,
    /// User properties for the DISCONNECT (MQTT 5).
    pub user_properties: UserProperties,
}

impl Default for DisconnectOptions {
    fn default() -> DisconnectOptions {
        DisconnectOptions {
            reason: ReasonCode::SUCCESS,
            session_expiry_interval: None,
            reason_string: None,
            user_properties: UserProperties::new(),
        }
    }
}

impl DisconnectOptions {
    /// The normal disconnection: reason 0x00, no properties (the will is not published).
    pub fn normal() -> DisconnectOptions {
        DisconnectOptions::default()
    }

    /// Reason 0x04: the broker publishes the will as if the connection had been lost.
    pub fn with_will() -> DisconnectOptions {
        DisconnectOptions {
            reason: ReasonCode::DISCONNECT_WITH_WILL,
            ..DisconnectOptions::default()
        }
    }

    /// Sets the reason code (checked by `disconnect_with`).
    pub fn reason(mut self, reason: ReasonCode) -> DisconnectOptions {
        self.reason = reason;
        self
    }

    /// Sets a new session expiry interval, in seconds.
    pub fn session_expiry_interval(mut self, seconds: u32) -> DisconnectOptions {
        self.session_expiry_interval = Some(seconds);
        self
    }

    /// Sets a human-readable reason, for the broker's logs.
    pub fn reason_string(mut self, reason: impl Into<String>) -> DisconnectOptions {
        self.reason_string = Some(reason.into());
        self
    }

    /// Adds a user property (in order).
    pub fn user_property(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> DisconnectOptions {
        self.user_properties.push((name.into(), value.into()));
        self
    }

    /// The DISCONNECT packet these options make.
    pub(crate) fn packet(&self) -> Disconnect {
        Disconnect {
            reason: self.reason,
            properties: DisconnectProperties {
                session_expiry_interval: self.session_expiry_interval,
                reason_string: self.reason_string.clone(),
                user_properties: self.user_properties.clone(),
                server_reference: None,
            },
        }
    }
}

/// The reason codes a client may send in DISCONNECT (MQTT 5.0, table 3.10.2.1).
fn client_may_send(reason: ReasonCode) -> bool {
    matches!(reason.0, 0x00 | 0x04 | 0x80..=0x83 | 0x90 | 0x93..=0x99)
}

impl Client {
    /// [`Client::disconnect`] with a reason code and properties on the final DISCONNECT
    /// (MQTT 5). Checked first; on error nothing changes and the client stays open:
    /// - on MQTT 3.1.1 anything but [`DisconnectOptions::normal`] is
    ///   [`ClientError::Unsupported`];
    /// - a reason a client may not send is [`ClientError::InvalidDisconnectReason`];
    /// - a session expiry interval other than 0 when CONNECT sent 0 is
    ///   [`ClientError::SessionExpiryWasZero`];
    /// - a DISCONNECT that cannot be encoded or exceeds the broker's maximum packet size is
    ///   [`ClientError::Unencodable`] or [`ClientError::PacketTooLarge`].
    ///
    /// While draining (a disconnect was already asked for) the options replace the earlier
    /// ones; once the DISCONNECT is queued (`Closing`, `Closed`) they change nothing. When not
    /// connected nothing is sent, as for `disconnect`.
    pub fn disconnect_with(
        &mut self,
        now: Instant,
        options: DisconnectOptions,
    ) -> Result<(), ClientError> {
        let farewell = options.packet();
        self.check_farewell(&farewell)?;
        self.farewell = farewell;
        self.disconnect(now);
        Ok(())
    }

    fn check_farewell(&self, farewell: &Disconnect) -> Result<(), ClientError> {
        if self.config.protocol == ProtocolVersion::V311 {
            if *farewell != Disconnect::normal() {
                return Err(ClientError::Unsupported(Unsupported::Mqtt5Disconnect));
            }
            return Ok(());
        }
        if !client_may_send(farewell.reason) {
            return Err(ClientError::InvalidDisconnectReason(farewell.reason));
        }
        if let Some(requested) = farewell.properties.session_expiry_interval {
            if requested != 0 && self.connect_session_expiry() == 0 {
                return Err(ClientError::SessionExpiryWasZero { requested });
            }
        }
        let size = self
            .codec
            .encoded_len(&Packet::Disconnect(farewell.clone()))
            .map_err(ClientError::Unencodable)?;
        if size > self.max_outgoing {
            return Err(ClientError::PacketTooLarge {
                size,
                max: self.max_outgoing,
            });
        }
        Ok(())
    }

    /// The session expiry interval CONNECT carries on MQTT 5 (absent in the configuration: 0
    /// with a clean start, "never expires" otherwise).
    pub(super) fn connect_session_expiry(&self) -> u32 {
        self.config
            .session_expiry_interval
            .unwrap_or(if self.config.clean_start { 0 } else { u32::MAX })
    }
}
