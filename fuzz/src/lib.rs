//! Fuzz harnesses for `jamey-mqtt-core`, one module per cargo-fuzz target.
//!
//! Each module exposes `run(data: &[u8])`, which panics when an invariant breaks. The targets in
//! `fuzz_targets/` are one-line wrappers, and `core/tests/fuzz_regressions.rs` includes these
//! same files (by `#[path]`) to replay the committed crash and seed inputs under `cargo test`,
//! so every module may only use `jamey-mqtt-core`, `bytes` and `arbitrary` (and [`token`],
//! `jamey-mqtt-auth`, a dev-dependency of the core for this replay); except
//! [`client_async`], replayed by `sim/tests/fuzz_client_async.rs`, which also uses
//! `jamey-mqtt` and `jamey-mqtt-sim`.
//!
//! - [`decode`]: arbitrary bytes, in arbitrary fragments, through `Codec::decode` (both versions);
//! - [`client`]: a whole client session (broker bytes, commands, time, transport) with the
//!   state machine's invariants checked after every step;
//! - [`topic`]: validation, matching and covering of topic names and filters agree;
//! - [`client_async`]: the async client and driver on the simulated runtime, broker and faulty
//!   network, steps and faults chosen by the input, the whole-client invariants checked;
//! - [`token`]: arbitrary strings as JWTs: a typed error, never a panic or a pass.

pub mod client;
pub mod client_async;
pub mod decode;
pub mod token;
pub mod topic;
