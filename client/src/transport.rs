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

#[cfg(feature = "tls")]
use crate::TlsOptions;
use crate::{Endpoint, Runtime};

/// Where to connect and how: the endpoint the core chose, with TLS when configured.
#[derive(Clone)]
pub(crate) struct Target {
    pub host: String,
    pub port: u16,
    #[cfg(feature = "tls")]
    pub tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
}

/// The TLS policy for every endpoint: one rustls configuration (roots, client identity), and
/// the name each endpoint must present ([`TlsOptions::name_for`]).
#[cfg(feature = "tls")]
#[derive(Clone)]
pub(crate) struct TlsPolicy {
    pub config: Arc<rustls::ClientConfig>,
    pub options: TlsOptions,
    /// The configured endpoints: `TlsOptions::server_name` applies to these only.
    pub listed: Vec<Endpoint>,
}

/// Without the `tls` feature there is no policy: an `Option<TlsPolicy>` is always `None`.
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
pub(crate) enum TlsPolicy {}

impl TlsPolicy {
    /// Where and how to connect to `endpoint`; an invalid server name is an
    /// `InvalidInput` error (the attempt fails; configured names were checked at start).
    #[cfg_attr(not(feature = "tls"), allow(unused_variables))]
    pub fn target(tls: Option<&TlsPolicy>, endpoint: &Endpoint) -> io::Result<Target> {
        #[cfg(feature = "tls")]
        let tls = match tls {
            None => None,
            Some(policy) => {
                let listed = policy.listed.iter().any(|e| e.same_address(endpoint));
                let name = policy
                    .options
                    .name_for(endpoint, listed)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                Some((policy.config.clone(), name))
            }
        };
        Ok(Target {
            host: endpoint.host.clone(),
            port: endpoint.port,
            #[cfg(feature = "tls")]
            tls,
        })
    }
}

/// An open stream to the broker.
pub(crate) enum Transport<R: Runtime> {
    Plain(R::Tcp),
    #[cfg(feature = "tls")]
    Tls(Box<futures_rustls::client::TlsStream<R::Tcp>>),
}

impl Target {
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
