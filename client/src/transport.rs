//! The byte stream to the broker: plain TCP opened through the [`Runtime`], or TLS over it
//! (feature `tls`: futures-rustls, whatever the runtime; handshake failures are `io::Error`s
//! wrapping the `rustls::Error`). No MQTT here; the TLS policy object comes from
//! `jamey_mqtt_core::tls`.

use std::io;
use std::pin::Pin;
#[cfg(feature = "tls")]
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
#[cfg(feature = "tls")]
use rustls_pki_types::ServerName;

use crate::Runtime;

/// Where to connect and how.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub host: String,
    pub port: u16,
    #[cfg(feature = "tls")]
    pub tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
}

/// An open stream to the broker.
pub(crate) enum Transport<R: Runtime> {
    Plain(R::Tcp),
    #[cfg(feature = "tls")]
    Tls(Box<futures_rustls::client::TlsStream<R::Tcp>>),
}

impl Endpoint {
    /// TCP connect, then the TLS handshake when TLS is configured.
    pub async fn open<R: Runtime>(&self, runtime: &R) -> io::Result<Transport<R>> {
        let tcp = runtime.connect_tcp(&self.host, self.port).await?;
        #[cfg(feature = "tls")]
        if let Some((config, name)) = &self.tls {
            let connector = futures_rustls::TlsConnector::from(config.clone());
            let tls = connector.connect(name.clone(), tcp).await?;
            return Ok(Transport::Tls(Box::new(tls)));
        }
        Ok(Transport::Plain(tcp))
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
            #[cfg(feature = "tls")]
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
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
            #[cfg(feature = "tls")]
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "tls")]
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_close(cx),
            #[cfg(feature = "tls")]
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_close(cx),
        }
    }
}
