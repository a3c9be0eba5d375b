//! Manual acknowledgement (`ClientConfig::manual_ack`): the held PUBACK / PUBREC of each
//! received QoS 1/2 message, released when the application calls `Client::ack`.
//!
//! The held acks belong to the session, like the broker's copy of the message: a connection
//! loss keeps them (the broker resends the unacknowledged messages on a resumed session), a
//! session loss or the final close drops them. Each delivery gets its own [`AckId`]; a QoS 1
//! message the broker resends before it was acknowledged is delivered again with a fresh id
//! (the old one is then stale and acking it does nothing). An id acked while no connection is
//! up is remembered: the broker's resend of that message is answered at once, not delivered.
//! An ack queued while connected is released at once; if the connection ends before it was
//! written, the broker resends the message: QoS 1 is then delivered again (at least once),
//! QoS 2 is not (its id is still known) and its PUBREC goes out at once.

use std::time::Instant;

use super::{Client, Message};
use crate::error::{ClientError, ProtocolError};
use crate::packet::{Ack, Packet, ProtocolVersion, QoS};

/// The handle to acknowledge one received QoS 1/2 message (`Message::ack`), given only under
/// `ClientConfig::manual_ack`. Pass it to `Client::ack` once the message was processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AckId {
    pkid: u16,
    serial: u64,
}

impl AckId {
    /// The packet id of the message it acknowledges.
    pub fn pkid(&self) -> u16 {
        self.pkid
    }
}

#[derive(Debug)]
struct Held {
    id: AckId,
    qos: QoS,
    /// The application acked it while no connection was up: answered on the broker's resend.
    acked: bool,
}

/// What to do with an incoming QoS 1/2 PUBLISH whose id is held.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Resent {
    /// Not held: the caller decides as for a new message.
    NotHeld,
    /// Held and still not acked by the application.
    Unacked,
    /// The application acked it while disconnected: acknowledge it now (no longer held).
    Acked,
}

/// The acknowledgements held for the application, at most one per packet id.
#[derive(Debug, Default)]
pub(crate) struct HeldAcks {
    held: Vec<Held>,
    next_serial: u64,
}

impl HeldAcks {
    /// Held QoS 1 acks: with the incoming QoS 2 ids, what the broker has in flight to us.
    pub(crate) fn qos1(&self) -> usize {
        self.held
            .iter()
            .filter(|held| held.qos == QoS::AtLeastOnce)
            .count()
    }

    /// Holds the ack of a message about to be delivered; replaces an earlier hold of the same
    /// id (a resend delivered again), whose [`AckId`] becomes stale.
    pub(crate) fn hold(&mut self, pkid: u16, qos: QoS) -> AckId {
        self.next_serial += 1;
        let id = AckId {
            pkid,
            serial: self.next_serial,
        };
        self.held.retain(|held| held.id.pkid != pkid);
        self.held.push(Held {
            id,
            qos,
            acked: false,
        });
        id
    }

    /// A PUBLISH with this id arrived: is its ack held, and was it acked meanwhile? An acked
    /// one is released here.
    pub(crate) fn resent(&mut self, pkid: u16) -> Resent {
        match self.held.iter().position(|held| held.id.pkid == pkid) {
            None => Resent::NotHeld,
            Some(index) if self.held[index].acked => {
                self.held.swap_remove(index);
                Resent::Acked
            }
            Some(_) => Resent::Unacked,
        }
    }

    /// The application acked `id`. `connected`: the ack can go out now, so it is released and
    /// returned (packet id, QoS); otherwise it is remembered for the broker's resend. A stale
    /// or unknown id, or one acked before, returns `None`.
    pub(crate) fn ack(&mut self, id: AckId, connected: bool) -> Option<(u16, QoS)> {
        let index = self
            .held
            .iter()
            .position(|held| held.id == id && !held.acked)?;
        if connected {
            let held = self.held.swap_remove(index);
            Some((held.id.pkid, held.qos))
        } else {
            self.held[index].acked = true;
            None
        }
    }

    /// The session is gone (lost or closed): the broker no longer holds these messages.
    pub(crate) fn clear(&mut self) {
        self.held.clear();
    }
}

impl Client {
    /// Acknowledge a message received under `ClientConfig::manual_ack` (its `Message::ack`),
    /// once the application has processed it: the held PUBACK (QoS 1) or PUBREC (QoS 2) is
    /// queued; the rest of the QoS 2 flow (PUBREL, PUBCOMP) is automatic. While no connection
    /// is up the ack is remembered and answers the broker's resend on a resumed session.
    ///
    /// Harmless, `Ok` and nothing sent: acking twice, a stale id (the message was resent and
    /// delivered again with a new one), an id of a session the broker lost (it forgot the
    /// message), or after the client closed.
    pub fn ack(&mut self, _now: Instant, id: AckId) -> Result<(), ClientError> {
        self.release_ack(id);
        Ok(())
    }

    fn release_ack(&mut self, id: AckId) {
        let connected = self.state().is_established();
        if let Some((pkid, qos)) = self.held_acks.ack(id, connected) {
            self.control.push_back(match qos {
                QoS::ExactlyOnce => Packet::PubRec(Ack::success(pkid)),
                _ => Packet::PubAck(Ack::success(pkid)),
            });
        }
    }

    /// A message the client itself dropped (the unmatched buffer was full or has no room): no
    /// application will ever ack it, so it is acknowledged here, as in automatic mode.
    pub(super) fn release_dropped(&mut self, message: &Message) {
        if let Some(id) = message.ack {
            self.release_ack(id);
        }
    }

    /// The most incoming QoS 1/2 publishes the broker may have in flight to us: the receive
    /// maximum we announced (MQTT 5); 3.1.1 announces none.
    fn receive_limit(&self) -> usize {
        match self.config.protocol {
            ProtocolVersion::V5 => usize::from(self.config.receive_maximum),
            ProtocolVersion::V311 => usize::from(u16::MAX),
        }
    }

    fn receive_maximum_exceeded(&self) -> ProtocolError {
        ProtocolError::ReceiveMaximumExceeded(self.config.receive_maximum)
    }

    /// Automatic mode: acknowledged on receipt. Returns whether to deliver the message (a QoS
    /// 2 duplicate is not).
    pub(super) fn incoming_automatic(
        &mut self,
        pkid: u16,
        qos: QoS,
    ) -> Result<bool, ProtocolError> {
        match qos {
            QoS::AtMostOnce => Ok(true),
            QoS::AtLeastOnce => {
                self.control.push_back(Packet::PubAck(Ack::success(pkid)));
                Ok(true)
            }
            QoS::ExactlyOnce => {
                let first_time = self
                    .session
                    .incoming_qos2(pkid, self.receive_limit())
                    .ok_or_else(|| self.receive_maximum_exceeded())?;
                self.control.push_back(Packet::PubRec(Ack::success(pkid)));
                Ok(first_time)
            }
        }
    }

    /// Manual mode: the ack of a delivered QoS 1/2 message is held. Returns whether to deliver
    /// the message, and its handle. Held acks count against the receive maximum.
    pub(super) fn incoming_held(
        &mut self,
        pkid: u16,
        qos: QoS,
    ) -> Result<(bool, Option<AckId>), ProtocolError> {
        let limit = self.receive_limit();
        match qos {
            QoS::AtMostOnce => Ok((true, None)),
            QoS::AtLeastOnce => match self.held_acks.resent(pkid) {
                Resent::Acked => {
                    self.control.push_back(Packet::PubAck(Ack::success(pkid)));
                    Ok((false, None))
                }
                // Not acked yet: delivered again (at least once), with a fresh handle.
                Resent::Unacked => Ok((true, Some(self.held_acks.hold(pkid, qos)))),
                Resent::NotHeld => {
                    if self.held_acks.qos1() + self.session.incoming_qos2_pending() >= limit {
                        return Err(self.receive_maximum_exceeded());
                    }
                    Ok((true, Some(self.held_acks.hold(pkid, qos))))
                }
            },
            QoS::ExactlyOnce => {
                let room = limit.saturating_sub(self.held_acks.qos1());
                let first_time = self
                    .session
                    .incoming_qos2(pkid, room)
                    .ok_or_else(|| self.receive_maximum_exceeded())?;
                if first_time {
                    return Ok((true, Some(self.held_acks.hold(pkid, qos))));
                }
                // A resend of a message already delivered: its PUBREC goes out when the
                // application acks it, or now if it did (or the ack went out and was lost).
                if self.held_acks.resent(pkid) != Resent::Unacked {
                    self.control.push_back(Packet::PubRec(Ack::success(pkid)));
                }
                Ok((false, None))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resend_gets_a_fresh_id_and_the_old_one_is_stale() {
        let mut acks = HeldAcks::default();
        let first = acks.hold(7, QoS::AtLeastOnce);
        assert_eq!(acks.resent(7), Resent::Unacked);
        let second = acks.hold(7, QoS::AtLeastOnce);
        assert_ne!(first, second);
        assert_eq!(acks.ack(first, true), None);
        assert_eq!(acks.ack(second, true), Some((7, QoS::AtLeastOnce)));
        assert_eq!(acks.ack(second, true), None, "twice is harmless");
        assert_eq!(acks.qos1(), 0);
    }

    #[test]
    fn acked_while_disconnected_is_answered_on_the_resend() {
        let mut acks = HeldAcks::default();
        let id = acks.hold(3, QoS::ExactlyOnce);
        assert_eq!(acks.ack(id, false), None);
        assert_eq!(acks.ack(id, false), None);
        assert_eq!(acks.resent(3), Resent::Acked);
        assert_eq!(acks.resent(3), Resent::NotHeld);
    }
}
