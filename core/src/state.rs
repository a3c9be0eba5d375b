//! The connection lifecycle: its states, which incoming packets each state allows, and the
//! deadlines that belong to each state. Every lifecycle transition the client makes goes
//! through `Lifecycle::apply`, so this file is the one place to read them.
//!
//! ```text
//!  Disconnected --connect()--> Opening --handle_connected--> Connecting --CONNACK ok--> Connected
//!       ^                        |  ^                          |                         |
//!       | (reconnect disabled)   |  | attempt allowed          | refused / timeout       | lost /
//!       +------------------------+--+------- Waiting <---------+-------------------------+ error
//!
//!  Connected --disconnect()--> Draining --all accepted requests done, or deadline--> Closing
//!  Closing --handle_closed (everything written, transport shut down)--> Closed (final)
//!  Draining / Closing --transport lost or close deadline--> Closed
//!  any other state --disconnect() or GaveUp--> Closed
//! ```
//!
//! `next` is that diagram as a function of (phase, input); `Lifecycle::apply` is the only
//! way the client changes phase, and an edge the diagram does not draw is refused (the client
//! counts it in `Stats::illegal_transitions`, which the fuzzer and the simulations require to
//! stay 0).
//!
//! `Draining` still reads and writes (acks complete the requests it waits for); `Closing` has
//! queued its final DISCONNECT after whatever was already owed to the broker (acks for packets
//! received before the close was decided), writes nothing after it, and reads nothing.
use std::time::Instant;

use crate::packet::Packet;

/// Where the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Not connected and not trying (never started, or reconnect disabled after a loss).
    Disconnected,
    /// Waiting for the reconnect policy's next attempt (backoff or open circuit).
    Waiting,
    /// The adapter was asked to open a transport (TCP, TLS).
    Opening,
    /// CONNECT sent, waiting for CONNACK.
    Connecting,
    /// CONNACK accepted.
    Connected,
    /// `disconnect()` was called while connected: no new requests; the accepted ones complete
    /// (or fail at the close deadline), then DISCONNECT is sent.
    Draining,
    /// DISCONNECT is queued last: the adapter writes everything, flushes, closes the transport
    /// (TLS close_notify) and reports `handle_closed`.
    Closing,
    /// Disconnected on request, or gave up reconnecting. Final: no more requests.
    Closed,
}

impl ConnectionState {
    /// A short name for errors and logs.
    pub fn name(self) -> &'static str {
        match self {
            ConnectionState::Disconnected => "disconnected",
            ConnectionState::Waiting => "waiting to reconnect",
            ConnectionState::Opening => "opening transport",
            ConnectionState::Connecting => "waiting for CONNACK",
            ConnectionState::Connected => "connected",
            ConnectionState::Draining => "draining before disconnect",
            ConnectionState::Closing => "closing the transport",
            ConnectionState::Closed => "closed",
        }
    }

    /// Whether a transport is (or is being) open.
    pub fn has_transport(self) -> bool {
        matches!(
            self,
            ConnectionState::Opening
                | ConnectionState::Connecting
                | ConnectionState::Connected
                | ConnectionState::Draining
                | ConnectionState::Closing
        )
    }

    /// Whether a CONNACK was accepted on the open transport and the session runs on it
    /// (requests are sent, acks are handled, keep-alive runs).
    pub fn is_established(self) -> bool {
        matches!(self, ConnectionState::Connected | ConnectionState::Draining)
    }

    /// Whether a packet from the broker may arrive in this state. Packets only a client sends
    /// (CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ) never may. While connecting, only CONNACK,
    /// AUTH and DISCONNECT may; AUTH and DISCONNECT may also arrive on an established
    /// connection (for AUTH, enhanced authentication: `auth_exchange.rs` decides whether this
    /// one was expected), like every other packet a broker sends.
    pub(crate) fn allows_incoming(self, packet: &Packet) -> bool {
        match packet {
            Packet::Connect(_)
            | Packet::Subscribe(_)
            | Packet::Unsubscribe(_)
            | Packet::PingReq => false,
            Packet::Auth(_) => self == ConnectionState::Connecting || self.is_established(),
            Packet::ConnAck(_) => self == ConnectionState::Connecting,
            Packet::Disconnect(_) => self == ConnectionState::Connecting || self.is_established(),
            _ => self.is_established(),
        }
    }
}

/// The lifecycle state with the deadline that belongs to it: a sub-state such as "closing by
/// then" is part of the state, not a flag beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Disconnected,
    /// The reconnect policy allows the next attempt at `retry_at`.
    Waiting {
        retry_at: Instant,
    },
    /// No CONNACK by `deadline` is a failed attempt (both while opening and after CONNECT).
    Opening {
        deadline: Instant,
    },
    Connecting {
        deadline: Instant,
    },
    Connected,
    /// The close completes by `deadline` whatever is left (both while draining and closing).
    Draining {
        deadline: Instant,
    },
    Closing {
        deadline: Instant,
    },
    Closed,
}

/// What moves the lifecycle: each is an edge of the diagram at the top of this file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Input {
    /// Ask the adapter for a transport; the attempt must end by `deadline`.
    Open { deadline: Instant },
    /// The transport is up and CONNECT is queued.
    TransportOpen,
    /// CONNACK accepted.
    Accepted,
    /// The attempt failed or the connection ended; the next attempt may start at `retry_at`.
    Wait { retry_at: Instant },
    /// Lost, and the client does not reconnect by itself (reconnect disabled).
    Stop,
    /// `disconnect()` while connected: finish what was accepted by `deadline`.
    Drain { deadline: Instant },
    /// The final DISCONNECT is queued; the transport must be closed by `deadline`.
    Close { deadline: Instant },
    /// Closed for good (the close is over, or the client gave up).
    Finish,
}

/// An edge the lifecycle does not have: the state is left as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no lifecycle edge from {} on {input:?}", .from.name())]
pub struct IllegalTransition {
    /// The state the edge was tried from.
    pub from: ConnectionState,
    input: Input,
}

/// The lifecycle as one function (h11's model): the next phase, or the edge is illegal.
pub(crate) fn next(phase: Phase, input: Input) -> Result<Phase, IllegalTransition> {
    use Phase as P;
    let next = match (phase, input) {
        (P::Disconnected | P::Waiting { .. }, Input::Open { deadline }) => P::Opening { deadline },
        (P::Opening { deadline }, Input::TransportOpen) => P::Connecting { deadline },
        (P::Connecting { .. }, Input::Accepted) => P::Connected,
        (P::Opening { .. } | P::Connecting { .. } | P::Connected, Input::Wait { retry_at }) => {
            P::Waiting { retry_at }
        }
        (P::Opening { .. } | P::Connecting { .. } | P::Connected, Input::Stop) => P::Disconnected,
        (P::Connected, Input::Drain { deadline }) => P::Draining { deadline },
        (P::Draining { .. }, Input::Close { deadline }) => P::Closing { deadline },
        (from, Input::Finish) if from != P::Closed => P::Closed,
        (from, input) => {
            return Err(IllegalTransition {
                from: from.state(),
                input,
            })
        }
    };
    Ok(next)
}

impl Phase {
    /// The public state of this phase.
    pub(crate) fn state(self) -> ConnectionState {
        match self {
            Phase::Disconnected => ConnectionState::Disconnected,
            Phase::Waiting { .. } => ConnectionState::Waiting,
            Phase::Opening { .. } => ConnectionState::Opening,
            Phase::Connecting { .. } => ConnectionState::Connecting,
            Phase::Connected => ConnectionState::Connected,
            Phase::Draining { .. } => ConnectionState::Draining,
            Phase::Closing { .. } => ConnectionState::Closing,
            Phase::Closed => ConnectionState::Closed,
        }
    }
}

/// The current phase; every change goes through [`next`].
#[derive(Debug, Clone)]
pub(crate) struct Lifecycle {
    phase: Phase,
}

impl Lifecycle {
    pub(crate) fn new() -> Lifecycle {
        Lifecycle {
            phase: Phase::Disconnected,
        }
    }

    pub(crate) fn state(&self) -> ConnectionState {
        self.phase.state()
    }

    /// Takes the edge `input`, or refuses it and stays.
    pub(crate) fn apply(&mut self, input: Input) -> Result<(), IllegalTransition> {
        self.phase = next(self.phase, input)?;
        Ok(())
    }

    /// Opening / Connecting: no CONNACK by then is a failed attempt.
    pub(crate) fn connect_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Opening { deadline } | Phase::Connecting { deadline } => Some(deadline),
            _ => None,
        }
    }

    /// Waiting: the earliest instant the reconnect policy allows the next attempt.
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        match self.phase {
            Phase::Waiting { retry_at } => Some(retry_at),
            _ => None,
        }
    }

    /// Draining / Closing: the close completes by then whatever is left.
    pub(crate) fn close_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Draining { deadline } | Phase::Closing { deadline } => Some(deadline),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (phase, input) pair: the edges the diagram draws are taken, all others refused.
    #[test]
    fn only_the_drawn_edges_are_taken() {
        // The core reads no clock, not even in its tests: the simulation gives the origin.
        let t = jamey_mqtt_sim::origin();
        let phases = [
            Phase::Disconnected,
            Phase::Waiting { retry_at: t },
            Phase::Opening { deadline: t },
            Phase::Connecting { deadline: t },
            Phase::Connected,
            Phase::Draining { deadline: t },
            Phase::Closing { deadline: t },
            Phase::Closed,
        ];
        let inputs = [
            Input::Open { deadline: t },
            Input::TransportOpen,
            Input::Accepted,
            Input::Wait { retry_at: t },
            Input::Stop,
            Input::Drain { deadline: t },
            Input::Close { deadline: t },
            Input::Finish,
        ];
        use ConnectionState as S;
        let drawn: &[(S, usize, S)] = &[
            (S::Disconnected, 0, S::Opening),
            (S::Waiting, 0, S::Opening),
            (S::Opening, 1, S::Connecting),
            (S::Connecting, 2, S::Connected),
            (S::Opening, 3, S::Waiting),
            (S::Connecting, 3, S::Waiting),
            (S::Connected, 3, S::Waiting),
            (S::Opening, 4, S::Disconnected),
            (S::Connecting, 4, S::Disconnected),
            (S::Connected, 4, S::Disconnected),
            (S::Connected, 5, S::Draining),
            (S::Draining, 6, S::Closing),
        ];
        for phase in phases {
            for (i, input) in inputs.iter().enumerate() {
                let expected = drawn
                    .iter()
                    .find(|(from, n, _)| *from == phase.state() && *n == i)
                    .map(|(_, _, to)| *to)
                    .or((i == 7 && phase != Phase::Closed).then_some(S::Closed));
                let got = next(phase, *input).ok().map(Phase::state);
                assert_eq!(got, expected, "{phase:?} on {input:?}");
            }
        }
    }

    /// AUTH (enhanced authentication) may arrive while connecting and on an established
    /// connection, never otherwise; whether it was expected is `auth_exchange.rs`'s call.
    #[test]
    fn auth_is_read_while_connecting_and_established() {
        let auth = Packet::Auth(Box::new(crate::packet::Auth {
            reason: crate::packet::ReasonCode::CONTINUE_AUTHENTICATION,
            properties: Default::default(),
        }));
        use ConnectionState as S;
        for state in [
            S::Disconnected,
            S::Waiting,
            S::Opening,
            S::Connecting,
            S::Connected,
            S::Draining,
            S::Closing,
            S::Closed,
        ] {
            let expected = matches!(state, S::Connecting | S::Connected | S::Draining);
            assert_eq!(state.allows_incoming(&auth), expected, "{state:?}");
        }
    }

    #[test]
    fn deadlines_travel_with_their_phase() {
        // The core reads no clock, not even in its tests: the simulation gives the origin.
        let t = jamey_mqtt_sim::origin();
        let mut lifecycle = Lifecycle::new();
        lifecycle.apply(Input::Open { deadline: t }).unwrap();
        lifecycle.apply(Input::TransportOpen).unwrap();
        assert_eq!(lifecycle.connect_deadline(), Some(t));
        lifecycle.apply(Input::Accepted).unwrap();
        assert_eq!(lifecycle.connect_deadline(), None);
        assert!(lifecycle.apply(Input::Accepted).is_err());
        assert_eq!(lifecycle.state(), ConnectionState::Connected);
    }
}
