//! # jamey-mqtt-smol
//!
//! The [`jamey_mqtt`] client on smol: [`SmolRuntime`] implements [`jamey_mqtt::Runtime`] with
//! async-net's TCP (as [`SmolTcp`], which asks the reactor before reading a socket it found
//! empty), async-io's timers and smol's global executor; TLS, when configured, is the
//! client's own (feature `tls`, on by default: futures-rustls over this TCP stream, the policy,
//! TLS 1.3 only, from `jamey_mqtt_core::tls`), and this crate re-exports the whole
//! API with `Client` bound to it. Switching from tokio is a change of crate name:
//!
//! ```no_run
//! # async fn demo() -> Result<(), jamey_mqtt_smol::Error> {
//! use jamey_mqtt_smol::{Client, Config, QoS};
//! let client = Client::connect(Config::new("localhost", 1883)).await?;
//! client.publish("hello", "world", QoS::AtLeastOnce).await?;
//! client.disconnect().await?;
//! # Ok(()) }
//! ```
//!
//! The driver task runs on smol's global executor (`smol::spawn`), so `Client::connect` works
//! from any thread and under any executor (`smol::block_on`, `async_io::block_on`, an
//! `async_executor::Executor`...) with no setup. Its thread count is smol's: `SMOL_THREADS`,
//! default 1, which is plenty for a client whose protocol work is a small state machine.
#![deny(missing_docs)]

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use smol::net::TcpStream;

mod tcp;

pub use jamey_mqtt::*;
pub use tcp::SmolTcp;

/// The client on smol.
pub type Client = jamey_mqtt::Client<SmolRuntime>;

/// [`Runtime`] for smol: spawns on smol's global executor; the clock is `std::time::Instant`
/// (async-io's timers use it too).
#[derive(Debug, Clone, Copy, Default)]
pub struct SmolRuntime;

/// An async-io timer that completes with `()`.
pub struct Sleep(smol::Timer);

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(drop)
    }
}

impl Runtime for SmolRuntime {
    type Tcp = SmolTcp;
    type Sleep = Sleep;

    async fn connect_tcp(&self, host: &str, port: u16) -> io::Result<Self::Tcp> {
        let stream = TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        Ok(SmolTcp::new(stream))
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep(smol::Timer::at(deadline))
    }

    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // Detached: the task ends by itself when the last handle is dropped.
        smol::spawn(future).detach();
    }

    fn now(&self) -> Instant {
        Instant::now()
    }
}
