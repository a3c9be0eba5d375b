//! # jamey-mqtt-core
//!
//! A fully deterministic MQTT 3.1.1 / 5.0 client state machine.
//!
//! It contains **no networking code**, never reads a clock, never sleeps, spawns or uses a global
//! random generator. Bytes received, the current time (`now: Instant`) and a random seed come in
//! as arguments; bytes to send, the next timer deadline, transport actions and events for the
//! application come out. The runtime crates (`jamey-mqtt-tokio`, `jamey-mqtt-smol`) move bytes
//! between this machine and a TCP/TLS stream; every MQTT decision (acks, retries, keep-alive,
//! reconnect timing, which broker of the list to connect to, redirects, permissions) is made here, so both runtimes behave the same and a fuzzer or a
//! simulated network can drive the whole client.
//!
//! The API of [`Client`] has four kinds of method (the model is quinn-proto's `Connection`):
//! getters (`state`, `stats`), `handle_*` inputs, commands (`publish`, `subscribe`, ...) and
//! one output call, `poll_output`, called until it returns `Output::Timeout` (str0m's model).
#![forbid(unsafe_code)]

pub mod client;
pub mod codec;
pub mod config;
pub mod credentials;
pub mod endpoints;
pub mod envelope;
pub mod error;
pub mod packet;
pub mod permissions;
pub mod reconnect;
pub mod session;
pub mod state;
pub mod stats;
#[cfg(feature = "tls")]
pub mod tls;
pub mod topic;

pub use client::{
    AckId, Action, AuthChallenge, BrokerLimits, Client, ConnectionInfo, DisconnectOptions,
    EnhancedAuth, Event, LostReason, Message, Output, PublishRequest, ReauthError, RequestError,
    SubscriptionEnd, SubscriptionId, SubscriptionIds, Token, MAX_SUBSCRIPTION_IDENTIFIER,
};
pub use config::{ClientConfig, ConfigError, SessionLostPolicy};
pub use credentials::{AuthToken, TokenAuth, TokenError, JWT_AUTH_METHOD};
pub use endpoints::{BrokerOrder, Brokers, Endpoint, EndpointStats, Redirects};
pub use envelope::{Envelope, EnvelopeError};
pub use error::{ClientError, ConnectError, ProtocolError, TransportError, TransportErrorKind};
pub use packet::{ProtocolVersion, QoS, ReasonCode};
pub use state::ConnectionState;
pub use stats::{Health, Stats};
