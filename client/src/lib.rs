//! # jamey-mqtt
//!
//! The runtime-neutral async MQTT client: a driver task and a user API over the sans-IO
//! [`jamey_mqtt_core`] state machine, generic over a small [`Runtime`] trait (TCP connect, TLS
//! wrap, sleep-until, spawn, clock). Use it through a runtime crate: `jamey-mqtt-tokio` (or
//! `jamey-mqtt-smol`), which implements [`Runtime`] and re-exports this API.
//!
//! ```no_run
//! use futures_util::StreamExt; // a Subscription is a Stream
//! use jamey_mqtt::{Client, Config, Error, QoS, Runtime};
//!
//! // Any runtime: `jamey_mqtt_tokio::Client` is `Client<TokioRuntime>`.
//! async fn run<R: Runtime>(runtime: R) -> Result<(), Error> {
//!     let client = Client::connect_with(runtime, Config::new("localhost", 1883)).await?;
//!     let mut temps = client.subscribe("sensors/+/temp", QoS::AtLeastOnce).await?;
//!     client.publish("sensors/1/temp", "21.5", QoS::AtLeastOnce).await?; // on PUBACK
//!     while let Some(message) = temps.next().await {
//!         println!("{}", message?.topic);
//!     }
//!     client.disconnect().await
//! }
//! ```
//!
//! What this crate does **not** do: decide anything about MQTT. Keep-alive, acks, retries,
//! replay and reconnect timing are the core's; the driver moves bytes, arms the one timer the
//! core asks for, and routes the core's events to futures and streams.
//!
//! ## Slow consumers
//! Each [`Subscription`] has a bounded buffer ([`Config::subscription_capacity`]). When a
//! message matches a subscription whose buffer is full, the driver holds that message, stops
//! reading the socket until there is room, and lets TCP push back on the broker. No QoS 1/2
//! message is dropped and memory stays bounded. Commands, writes and timers keep running; the
//! driver tells the core (`handle_delivery_blocked`), which stops the reading, so a PINGRESP waiting
//! unread in the socket is not mistaken for a dead broker, and the PINGRESP deadline restarts
//! when reading resumes. Messages matching no subscription are kept by the core, up to
//! `ClientConfig::unmatched_capacity`, for the next subscription that matches them.
//!
//! ## Telemetry
//! The driver reports what it and the core do as `tracing` spans and events (no payload and no
//! secret, ever) and, once [`Client::register_metrics`] was called with the application's
//! `prometheus-client` registry, as `mqtt_*` metrics. Both are built in `telemetry/` from the
//! core's events and getters; the core itself has no `tracing` dependency: everything the
//! telemetry needs (ping round trip, token expiry) is in its `Health` snapshot, timed with the
//! `now` arguments it already gets, so it stays pure and the simulations need no subscriber.
#![deny(missing_docs)]

mod api;
mod config;
mod driver;
mod env;
mod error;
mod file;
mod handles;
mod inbox;
mod link;
mod request;
mod runtime;
mod telemetry;
mod transport;

pub use api::{Client, ClientStats, Events, PublishOutcome, Subscription};
pub use config::{Authenticator, Config};
#[cfg(feature = "tls")]
pub use config::{Roots, TlsOptions};
pub use error::Error;
pub use file::ConfigFile;
/// The application's metrics registry type, for [`Client::register_metrics`].
pub use prometheus_client::registry::Registry as MetricsRegistry;
pub use runtime::Runtime;

/// The variables [`Config::from_env`] reads besides the core's.
pub use env::KEYS as ENV_KEYS;
pub use jamey_mqtt_core::ConfigError;

/// The auth crate (JWT signing, validation, token sources), re-exported so applications need
/// one dependency.
#[cfg(feature = "jwt")]
pub use jamey_mqtt_auth as auth;
#[cfg(feature = "jwt")]
pub use jamey_mqtt_auth::AuthConfig;
// What an application names, from the core, by name: the MQTT configuration and the types in
// it, the messages, events, statistics and errors the API hands out. The core's state machine,
// codec and adapter-facing pieces stay in `jamey-mqtt-core`.
pub use jamey_mqtt_core::endpoints::RedirectRefused;
#[cfg(feature = "tls")]
pub use jamey_mqtt_core::tls::{ClientIdentity, TlsError};
pub use jamey_mqtt_core::{permissions, topic};
pub use jamey_mqtt_core::{
    AckId, AuthChallenge, BrokerLimits, ClientConfig, ClientError, ConnectError, ConnectionInfo,
    ConnectionState, DisconnectOptions, EncodeError, EnhancedAuth, Envelope, EnvelopeError, Event,
    Health, Jitter, LastError, LostReason, Malformed, Message, ProtocolError, ProtocolVersion,
    PublishProperties, PublishRequest, QoS, ReasonCode, ReauthError, ReconnectConfig, RequestError,
    RetainHandling, SessionLostPolicy, Stats, SubscribeFilter, SubscribeProperties,
    SubscriptionEnd, SubscriptionId, SubscriptionIds, Token, TokenError, TransportError,
    TransportErrorKind, Unsupported, UserProperties, Will, WillProperties, ENVELOPE_VERSION,
};
pub use jamey_mqtt_core::{BrokerOrder, Brokers, Endpoint, EndpointStats, Redirects};
