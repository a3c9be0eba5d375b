//! # jamey-mqtt-tests
//!
//! The integration-test harness and the runtime-generic scenario suite.
//!
//! - [`pki`]: a test PKI made at test time with `rcgen` (CA, server certificate for
//!   `localhost`/127.0.0.1, client certificate, and an unrelated "wrong" CA), written as PEM files.
//! - [`broker`]: a real Mosquitto started per test as a child process, on a free port of
//!   127.0.0.1 only, with a config written to a temp dir; killed by its own pid on drop. Variants:
//!   plain, TLS 1.3 only, mutual TLS required, ACL file, the project's JWT plugin
//!   (`BrokerOptions::jwt_plugin`, the `.so` built with this crate), persistence (restart on the same port),
//!   freeze/thaw (SIGSTOP/SIGCONT). Also a TLS 1.2-only `openssl s_server` peer and helpers for
//!   `mosquitto_pub`/`mosquitto_sub`.
//! - [`scenarios`]: every scenario as an `async fn` generic over the [`jamey_mqtt::Runtime`], and
//!   the [`suite!`] macro that instantiates all of them as `#[test]`s for one runtime. The tokio
//!   runtime's instantiation is `tests/tokio.rs`, smol's is `tests/smol.rs`: one line each.
//!
//! - [`rabbitmq`]: a three-node RabbitMQ cluster on loopback for `tests/cluster.rs` (run by
//!   `scripts/test-cluster`, not by `cargo test --workspace`: it needs the `cluster` feature).
//!
//! - [`scripted`]: a scripted MQTT 5 broker on a loopback socket, for what Mosquitto cannot do.
//!
//! The harness fails loudly (panics), never skips, when `mosquitto` or `openssl` is missing.

pub mod broker;
pub mod pki;
pub mod proxy;
pub mod rabbitmq;
pub mod scenarios;
pub mod scripted;
pub mod tempdir;

pub use broker::{Broker, BrokerOptions, Tls12Server};
pub use pki::Pki;
pub use proxy::Proxy;
pub use tempdir::TempDir;
