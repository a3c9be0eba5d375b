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
//!
//! ```
//! use std::time::Instant;
//!
//! use bytes::BytesMut;
//! use jamey_mqtt_core::{Action, Client, ClientConfig, Output};
//!
//! let now = Instant::now();
//! let mut client = Client::new(ClientConfig::default(), now)?;
//! client.connect(now);
//! let mut out = BytesMut::new();
//! // The first output asks the adapter to open a transport to the configured broker.
//! let Output::Action(Action::Connect(endpoint)) = client.poll_output(now, &mut out) else {
//!     panic!("a connect action first");
//! };
//! assert_eq!((endpoint.host.as_str(), endpoint.port), ("localhost", 1883));
//! client.handle_connected(now);
//! // Then CONNECT goes out, as bytes appended to `out` for the adapter to write.
//! assert!(matches!(client.poll_output(now, &mut out), Output::Transmit(_)));
//! assert_eq!(out[0] >> 4, 1, "a CONNECT packet");
//! # Ok::<(), jamey_mqtt_core::ConfigError>(())
//! ```
//!
//! Public modules: [`config`] (the configuration and the environment reader an application can
//! reuse), [`permissions`], [`request`] (the requester's side of MQTT 5 request/response: which
//! response topic and correlation data a request carries), [`tls`] (default feature `tls`: the TLS 1.3 policy an adapter
//! applies) and [`topic`] (topic name and filter rules). Everything else is re-exported here
//! by name. The codec, the wire packets and the reconnect policy's internals are reachable only
//! with the `internals` feature, for this workspace's tests, simulation, fuzzing and benchmarks:
//! they are not part of the API.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

/// Declares modules that are public, and hidden from the docs, with the `internals` feature
/// (tests, simulation, fuzz targets, benchmarks) and private otherwise.
macro_rules! internal_modules {
    ($($name:ident),* $(,)?) => {$(
        #[cfg(feature = "internals")]
        #[doc(hidden)]
        pub mod $name;
        #[cfg(not(feature = "internals"))]
        mod $name;
    )*};
}

mod client;
pub mod config;
mod credentials;
pub mod endpoints;
mod envelope;
mod error;
pub mod permissions;
pub mod request;
mod session;
mod shared_str;
mod state;
mod stats;
#[cfg(any(test, feature = "internals"))]
#[doc(hidden)]
pub mod testing;
#[cfg(feature = "tls")]
pub mod tls;
pub mod topic;
internal_modules!(codec, packet, reconnect);

pub use client::{
    AckId, Action, AuthChallenge, BrokerLimits, Client, ConnectionInfo, DisconnectOptions,
    EnhancedAuth, Event, Health, LastError, LostReason, Message, Output, PublishRequest,
    ReauthError, RequestError, SubscriptionEnd, SubscriptionId, SubscriptionIds, Token,
    MAX_SUBSCRIPTION_IDENTIFIER,
};
pub use codec::EncodeError;
pub use config::{ClientConfig, ConfigError, SessionLostPolicy};
pub use credentials::{AuthToken, TokenAuth, TokenError, JWT_AUTH_METHOD};
pub use endpoints::{BrokerOrder, Brokers, Endpoint, EndpointStats, Redirects};
pub use envelope::{Envelope, EnvelopeError, ENVELOPE_VERSION};
pub use error::{
    ClientError, ConnectError, Malformed, ProtocolError, TransportError, TransportErrorKind,
    Unsupported,
};
pub use packet::{
    MessageProperties, ProtocolVersion, PublishProperties, QoS, ReasonCode, RetainHandling,
    SubscribeFilter, SubscribeProperties, UserProperties, Will, WillProperties,
};
pub use reconnect::{Jitter, ReconnectConfig};
pub use shared_str::SharedStr;
pub use state::{ConnectionState, IllegalTransition};
pub use stats::Stats;
