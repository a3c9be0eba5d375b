//! # jamey-mqtt-tokio
//!
//! The [`jamey_mqtt`] client on tokio: [`TokioRuntime`] implements [`jamey_mqtt::Runtime`] with
//! tokio's TCP (through tokio-util's futures-io compat layer) and timers; TLS, when configured,
//! is the client's own (feature `tls`, on by default: futures-rustls over this TCP stream, the
//! policy, TLS 1.3 only, from `jamey_mqtt_core::tls`), and this crate re-exports the whole API with `Client` bound to it:
//!
//! ```no_run
//! # async fn demo() -> Result<(), jamey_mqtt_tokio::Error> {
//! use jamey_mqtt_tokio::{Client, Config, QoS};
//! let client = Client::connect(Config::new("localhost", 1883)).await?;
//! client.publish("hello", "world", QoS::AtLeastOnce).await?;
//! client.disconnect().await?;
//! # Ok(()) }
//! ```
//!
//! `Client::connect` must be called from inside a tokio runtime (it spawns the driver task).
#![deny(missing_docs)]

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

pub use jamey_mqtt::*;

/// The README's Rust snippets, compiled and run by `cargo test --doc` (only then: the README is
/// outside the packaged crate).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// The client on tokio.
pub type Client = jamey_mqtt::Client<TokioRuntime>;

/// [`Runtime`] for tokio. Uses the ambient runtime (`tokio::spawn`) and tokio's clock, so tests
/// with paused time see the same clock as the client.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioRuntime;

/// A tokio timer as a `Send` future.
pub struct Sleep(Pin<Box<tokio::time::Sleep>>);

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl Runtime for TokioRuntime {
    type Tcp = Compat<tokio::net::TcpStream>;
    type Sleep = Sleep;

    async fn connect_tcp(&self, host: &str, port: u16) -> io::Result<Self::Tcp> {
        let stream = tokio::net::TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        Ok(stream.compat())
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep(Box::pin(tokio::time::sleep_until(deadline.into())))
    }

    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(future);
    }

    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}
