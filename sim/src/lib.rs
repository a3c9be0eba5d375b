//! # jamey-mqtt-sim
//!
//! A seeded, deterministic simulation of the MQTT client, for tests:
//!
//! - [`broker`]: a simulated broker that keeps an oracle of what it accepted and routed, and
//!   records every rule the client breaks (including the limits it announced in CONNACK);
//! - [`link`]: byte pipes with seeded latency and splitting, as the core simulation uses them;
//! - [`SimRuntime`]: a [`jamey_mqtt::Runtime`] with a virtual clock, a single-threaded FIFO
//!   executor and an in-memory faulty network whose far end is the simulated broker, so the
//!   whole async client (API and driver) runs under the simulation;
//! - [`seeds`]: running a simulation over many seeds (`SIM_SEEDS`, `SIM_FIRST_SEED`), shared
//!   by the core simulation and the whole-client simulation;
//! - [`whole`]: the whole-client simulation (scenario, application tasks, invariants), shared
//!   by the seeded test and the fuzz target `client_async`.
//!
//! What it does **not** do: read the real clock for any decision, use threads, or use TLS. Everything follows from one `u64` seed.

pub mod broker;
pub mod link;

mod clock;
mod executor;
mod faults;
pub mod net;
mod runtime;
pub mod seeds;
mod stream;
pub mod whole;

pub use clock::{origin, Sleep};
pub use faults::Fault;
pub use net::{IoProfile, NetStats, Network};
pub use runtime::{SimError, SimRuntime};
pub use stream::SimStream;
