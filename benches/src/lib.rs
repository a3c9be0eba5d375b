//! # jamey-mqtt-benches
//!
//! Performance measurements of jamey-mqtt, not shipped (`publish = false`):
//! - `benches/core.rs` (`cargo bench -p jamey-mqtt-benches`): criterion benches of the sans-IO
//!   core: PUBLISH encode/decode, the whole client path per published message against the
//!   in-memory [`scripted`] broker, and a stream of incoming PUBLISHes delivered as events. No
//!   sockets, no clock, so the numbers are the core's own cost.
//! - `src/bin/throughput` (`cargo run --release -p jamey-mqtt-benches --bin throughput`): the
//!   client's own CPU and heap allocations per message (a counting global allocator), jamey on
//!   tokio and smol against rumqttc, all against the [`sink`] broker (in a process of its own),
//!   so that the client, not the broker, is the bottleneck.
//! - `src/bin/compare` (`cargo run --release -p jamey-mqtt-benches --bin compare -- 20000`):
//!   jamey-mqtt-tokio against rumqttc through one real local Mosquitto, wall time and CPU time
//!   per message, median and min..max over interleaved rounds.
//! - `src/bin/alias_bytes.rs` (`cargo run --release -p jamey-mqtt-benches --bin alias_bytes`):
//!   bytes on the wire with and without automatic topic aliases, exact (no sockets, no clock).
//! - `src/bin/memory.rs` (`cargo run --release -p jamey-mqtt-benches --bin memory`): peak RSS of
//!   each client in its own process, publishing through one real local Mosquitto.
//!
//! `cargo test` only compiles the benches (and runs the few unit tests of the scripted broker
//! below); `cargo test --all-targets` runs each criterion bench once, in its quick test mode.

pub mod cpu;
pub mod peer;
pub mod scripted;
pub mod sink;
