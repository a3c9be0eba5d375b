//! [`Config`]: the core's [`ClientConfig`] (which holds the broker list) plus TLS and the
//! adapter's own buffer sizes. [`TlsOptions`] turns into the core's TLS policy; loading platform roots (I/O)
//! happens here, with `rustls-native-certs`.

#[cfg(feature = "tls")]
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
#[cfg(feature = "jwt")]
use jamey_mqtt_auth::AuthConfig;
#[cfg(feature = "tls")]
use jamey_mqtt_core::tls::{server_name, ClientIdentity, TlsConfig, TlsError};
use jamey_mqtt_core::{AuthChallenge, Brokers, ClientConfig, ConfigError, Endpoint};
#[cfg(feature = "tls")]
use rustls_pki_types::ServerName;

/// Which certificates the client trusts.
#[cfg(feature = "tls")]
#[derive(Debug, Clone)]
pub enum Roots {
    /// Exactly the CAs in this PEM text.
    CaPem(Vec<u8>),
    /// Exactly the CAs in this PEM file (read when connecting).
    CaFile(PathBuf),
    /// The operating system's trust store (`rustls-native-certs`): follows the OS's updates and
    /// the administrator's additions (e.g. a company CA), and honours `SSL_CERT_FILE`.
    Platform,
}

/// TLS settings: trusted roots, an optional client identity (mutual TLS), and the name the
/// server certificate must match (default: the host). One policy for every endpoint of the
/// broker list; an endpoint's own `tls_server_name` wins over `server_name`.
#[cfg(feature = "tls")]
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// The CAs the server certificate must chain to.
    pub roots: Roots,
    /// A client certificate and key, for mutual TLS.
    pub client_identity: Option<ClientIdentity>,
    /// Overrides the host for certificate verification and SNI, for every configured endpoint
    /// without a `tls_server_name` of its own (a server a redirect led to outside the list is
    /// verified against its own host).
    pub server_name: Option<String>,
}

#[cfg(feature = "tls")]
impl TlsOptions {
    /// Trust `roots`, no client identity, verify the host name.
    pub fn new(roots: Roots) -> TlsOptions {
        TlsOptions {
            roots,
            client_identity: None,
            server_name: None,
        }
    }

    /// Trust the CAs in `pem`.
    pub fn ca_pem(pem: impl Into<Vec<u8>>) -> TlsOptions {
        TlsOptions::new(Roots::CaPem(pem.into()))
    }

    /// Trust the platform's roots.
    pub fn platform() -> TlsOptions {
        TlsOptions::new(Roots::Platform)
    }

    /// Present this client certificate chain and key (PEM) for mutual TLS.
    pub fn client_identity_pem(
        mut self,
        chain_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<TlsOptions, TlsError> {
        self.client_identity = Some(ClientIdentity::from_pem(chain_pem, key_pem)?);
        Ok(self)
    }

    /// Verify (and send as SNI) `name` instead of the host.
    pub fn server_name(mut self, name: impl Into<String>) -> TlsOptions {
        self.server_name = Some(name.into());
        self
    }

    /// The rustls configuration (TLS 1.3 only, via the core policy) and the verified name.
    #[cfg(test)]
    pub(crate) fn build(
        &self,
        host: &str,
    ) -> Result<(Arc<rustls::ClientConfig>, ServerName<'static>), TlsError> {
        let name = server_name(self.server_name.as_deref().unwrap_or(host))?;
        Ok((self.build_policy()?, name))
    }

    /// The name endpoint `endpoint` must present: its own, else `server_name` when `listed`
    /// (in the configured list), else its host.
    pub(crate) fn name_for(
        &self,
        endpoint: &Endpoint,
        listed: bool,
    ) -> Result<ServerName<'static>, TlsError> {
        let name = endpoint
            .tls_server_name
            .as_deref()
            .or(self.server_name.as_deref().filter(|_| listed))
            .unwrap_or(&endpoint.host);
        server_name(name)
    }

    /// The rustls configuration (TLS 1.3 only, via the core policy), for every endpoint.
    pub(crate) fn build_policy(&self) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        let policy = match &self.roots {
            Roots::CaPem(pem) => TlsConfig::from_ca_pem(pem)?,
            Roots::CaFile(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    TlsError::InvalidCa(format!("cannot read {}: {e}", path.display()))
                })?;
                TlsConfig::from_ca_pem(&pem)?
            }
            Roots::Platform => {
                let loaded = rustls_native_certs::load_native_certs();
                TlsConfig::from_ca_certificates(loaded.certs)?
            }
        };
        let policy = match &self.client_identity {
            Some(identity) => policy.with_client_identity(identity.clone()),
            None => policy,
        };
        policy.build()
    }
}

/// Answers the broker's MQTT 5 enhanced authentication challenges
/// (`ClientConfig::authentication`): called by the driver for each
/// [`Event::AuthChallenge`](jamey_mqtt_core::Event::AuthChallenge), during a connect and during
/// a re-authentication. `Ok(data)` is sent back in AUTH "continue authentication"; `Err` gives
/// the exchange up (a connect fails with `ConnectError::AuthenticationAborted`, a
/// re-authentication closes the connection). It runs on the driver task: keep it quick and
/// non-blocking.
#[derive(Clone)]
pub struct Authenticator(pub(crate) Arc<AnswerFn>);

/// The function inside an [`Authenticator`].
type AnswerFn = dyn Fn(&AuthChallenge) -> Result<Option<Bytes>, String> + Send + Sync;

impl Authenticator {
    /// Answers each challenge with `answer`: `Ok(data)` for the next AUTH, `Err(reason)` aborts.
    pub fn new(
        answer: impl Fn(&AuthChallenge) -> Result<Option<Bytes>, String> + Send + Sync + 'static,
    ) -> Authenticator {
        Authenticator(Arc::new(answer))
    }
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authenticator(..)")
    }
}

/// Everything [`Client::connect`](crate::Client::connect) needs. The brokers are
/// `mqtt.brokers` (the core chooses the endpoint of each attempt).
#[derive(Debug, Clone)]
pub struct Config {
    /// `None`: plain TCP.
    #[cfg(feature = "tls")]
    pub tls: Option<TlsOptions>,
    /// The MQTT behaviour (protocol, keep-alive, session, reconnect...): decided by the core.
    pub mqtt: ClientConfig,
    /// Messages buffered per subscription before the driver stops reading the socket.
    pub subscription_capacity: usize,
    /// Requests from handles waiting for the driver; callers wait when it is full. The driver
    /// takes every waiting request in one turn, so a larger channel means fewer turns under
    /// load. The default, 96, is three of the channel's 32-slot blocks, as many as tokio's
    /// mpsc reuses: above it the channel reallocates blocks as it cycles (`throughput`
    /// measured smol's publish cost at 1.20-1.22x tokio's with 64, 0.97-1.15x with 96; 96
    /// keeps a publish at 2 allocations where 256 added 0.01-0.03).
    pub command_capacity: usize,
    /// Connection events buffered per [`Events`](crate::Events) stream; beyond it events are
    /// dropped for that stream (they are informational; the state is in `stats()`).
    pub event_capacity: usize,
    /// Answers MQTT 5 enhanced authentication challenges (with
    /// `mqtt.authentication`). `None`: a challenge aborts the exchange.
    pub authenticator: Option<Authenticator>,
    /// JWT authentication: where tokens come from (a signer, a fixed token, a provider), the
    /// username, the refresh margin, and whether permissions come from the token. The driver
    /// asks it for a token whenever the core needs one; `mqtt.token_auth` is set from it.
    #[cfg(feature = "jwt")]
    pub auth: Option<AuthConfig>,
}

impl Config {
    /// Plain TCP to `host:port`, core defaults.
    pub fn new(host: impl Into<String>, port: u16) -> Config {
        Config::brokers(Brokers::one(Endpoint::new(host, port)))
    }

    /// Plain TCP to a broker list (see [`jamey_mqtt_core::endpoints`]: order, failover,
    /// redirects), core defaults.
    pub fn brokers(brokers: Brokers) -> Config {
        Config {
            #[cfg(feature = "tls")]
            tls: None,
            mqtt: ClientConfig {
                brokers,
                ..ClientConfig::default()
            },
            subscription_capacity: 256,
            command_capacity: 96,
            event_capacity: 64,
            authenticator: None,
            #[cfg(feature = "jwt")]
            auth: None,
        }
    }

    /// Authenticate with JWTs from `auth` (see [`Config::auth`](Config#structfield.auth)).
    #[cfg(feature = "jwt")]
    pub fn auth(mut self, auth: AuthConfig) -> Config {
        self.auth = Some(auth);
        self
    }

    /// The core's configuration: `mqtt`, with token auth from `auth` when set. Checks `auth`
    /// (its errors name the field `auth`).
    pub(crate) fn core_config(&self) -> Result<ClientConfig, ConfigError> {
        #[cfg_attr(not(feature = "jwt"), allow(unused_mut))]
        let mut mqtt = self.mqtt.clone();
        #[cfg(feature = "jwt")]
        if let Some(auth) = &self.auth {
            auth.validate()
                .map_err(|e| ConfigError::new("auth", e.to_string()))?;
            mqtt.token_auth = Some(auth.token_auth());
        }
        Ok(mqtt)
    }

    /// Connect with TLS 1.3 using `tls`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: TlsOptions) -> Config {
        self.tls = Some(tls);
        self
    }

    /// Replaces the MQTT behaviour, keeping the broker endpoints given to [`Config::new`] or
    /// [`Config::brokers`] (`mqtt.brokers.endpoints` is ignored; its order and redirect
    /// policy are taken).
    pub fn mqtt(mut self, mqtt: ClientConfig) -> Config {
        let endpoints = std::mem::take(&mut self.mqtt.brokers.endpoints);
        self.mqtt = mqtt;
        self.mqtt.brokers.endpoints = endpoints;
        self
    }

    /// The configured endpoints (`mqtt.brokers.endpoints`).
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.mqtt.brokers.endpoints
    }

    /// Answer enhanced authentication challenges with `answer` (see [`Authenticator`]).
    pub fn authenticator(
        mut self,
        answer: impl Fn(&AuthChallenge) -> Result<Option<Bytes>, String> + Send + Sync + 'static,
    ) -> Config {
        self.authenticator = Some(Authenticator::new(answer));
        self
    }
}
