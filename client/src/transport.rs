//! The byte stream to the broker: plain TCP or TLS over TCP, opened through the [`Runtime`].
//! No MQTT here; the TLS policy object comes from `jamey_mqtt_core::tls`.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use rustls_pki_types::ServerName;

use crate::Runtime;

/// Where to connect and how.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub host: String,
    pub port: u16,
    pub tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
}

/// An open stream to the broker.
pub(crate) enum Transport<R: Runtime> {
    Plain(R::Tcp),
    Tls(R::Tls),
}

impl Endpoint {
    /// TCP connect, then the TLS handshake when TLS is configured.
    pub async fn open<R: Runtime>(&self, runtime: &R) -> io::Result<Transport<R>> {
        let tcp = runtime.connect_tcp(&self.host, self.port).await?;
        match &self.tls {
            None => Ok(Transport::Plain(tcp)),
            Some((config, name)) => runtime
                .wrap_tls(tcp, config.clone(), name.clone())
                .await
                .map(Transport::Tls),
        }
    }
}

impl<R: Runtime> AsyncRead for Transport<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl<R: Runtime> AsyncWrite for Transport<R> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_close(cx),
            Transport::Tls(s) => Pin::new(s).poll_close(cx),
        }
    }
}
