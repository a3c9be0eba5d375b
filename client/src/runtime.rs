//! The [`Runtime`] trait: everything the driver needs from an async runtime, and nothing more.
//!
//! Five capabilities: open a TCP connection, wrap it in TLS with a given rustls config, sleep
//! until an instant, spawn a task, read the clock. The I/O types are `futures-io`'s
//! `AsyncRead`/`AsyncWrite`, which smol's types implement as they are and tokio's implement
//! through `tokio-util`'s compat layer, so an implementation is a few dozen lines.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use futures_io::{AsyncRead, AsyncWrite};
use rustls_pki_types::ServerName;

/// An async runtime the client can run on.
///
/// Contract for the I/O types: `poll_read` and `poll_write` may be called alternately on the
/// same stream (the driver reads and writes from one task), and a `Pending` poll keeps no
/// partial state the driver must resume: the driver polls the streams directly, it never drops
/// a half-finished read future.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// A connected TCP stream.
    type Tcp: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// A TLS stream over [`Runtime::Tcp`], handshake done.
    type Tls: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// A timer future made by [`Runtime::sleep_until`].
    type Sleep: Future<Output = ()> + Send + 'static;

    /// Opens a TCP connection to `host:port` (name resolution included). `TCP_NODELAY` should be
    /// set: MQTT packets are small and the driver already writes them in batches.
    fn connect_tcp(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = io::Result<Self::Tcp>> + Send;

    /// Runs the TLS handshake over `tcp`. Handshake failures are `io::Error`s whose inner error
    /// is the `rustls::Error` (as tokio-rustls and futures-rustls both do).
    fn wrap_tls(
        &self,
        tcp: Self::Tcp,
        config: Arc<rustls::ClientConfig>,
        server_name: ServerName<'static>,
    ) -> impl Future<Output = io::Result<Self::Tls>> + Send;

    /// A future that completes at (or after) `deadline`, on this runtime's clock.
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep;

    /// Runs `future` in the background until it completes.
    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static;

    /// The current time on this runtime's clock (which may be paused or simulated in tests).
    fn now(&self) -> Instant;
}
