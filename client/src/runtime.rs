//! The [`Runtime`] trait: everything the driver needs from an async runtime, and nothing more.
//!
//! Four capabilities: open a TCP connection, sleep until an instant, spawn a task, read the
//! clock. TLS is not the runtime's: the client runs the handshake itself (futures-rustls, the
//! `tls` feature) over the runtime's TCP stream. The I/O types are `futures-io`'s
//! `AsyncRead`/`AsyncWrite`, which smol's types implement as they are and tokio's implement
//! through `tokio-util`'s compat layer, so an implementation is a few dozen lines.

use std::future::Future;
use std::io;
use std::time::Instant;

use futures_io::{AsyncRead, AsyncWrite};

/// An async runtime the client can run on.
///
/// Contract for the I/O types: `poll_read` and `poll_write` may be called alternately on the
/// same stream (the driver reads and writes from one task), and a `Pending` poll keeps no
/// partial state the driver must resume: the driver polls the streams directly, it never drops
/// a half-finished read future.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// A connected TCP stream.
    type Tcp: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// A timer future made by [`Runtime::sleep_until`].
    type Sleep: Future<Output = ()> + Send + 'static;

    /// Opens a TCP connection to `host:port` (name resolution included). `TCP_NODELAY` should be
    /// set: MQTT packets are small and the driver already writes them in batches.
    fn connect_tcp(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = io::Result<Self::Tcp>> + Send;

    /// A future that completes at (or after) `deadline`, on this runtime's clock.
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep;

    /// Runs `future` in the background until it completes.
    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static;

    /// The current time on this runtime's clock (which may be paused or simulated in tests).
    fn now(&self) -> Instant;
}
