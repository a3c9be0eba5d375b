//! The TLS policy, as a [`rustls::ClientConfig`]: this module owns *what* is acceptable, the
//! runtime crates own the stream wrapping.
//!
//! - TLS 1.3 only. A server that offers nothing newer than TLS 1.2 fails the handshake (rustls
//!   reports a `protocol_version` alert or `PeerIncompatible`); there is no fallback.
//! - The server certificate is verified against the configured roots *and* the host name
//!   (rustls' WebPKI verifier; there is deliberately no way to turn it off here).
//! - Roots come from CA PEM bytes ([`TlsConfig::from_ca_pem`]) or from DER certificates the
//!   caller loaded ([`TlsConfig::from_ca_certificates`]). Loading the platform's roots reads the
//!   OS store, which is I/O, so it happens in `jamey-mqtt` (with `rustls-native-certs`), never
//!   here.
//! - Optional mutual TLS: a client certificate chain and its private key, from PEM, read with
//!   `rustls-pki-types`' [`PemObject`] (not the unmaintained `rustls-pemfile`).
//! - One crypto provider: aws-lc-rs, shared with `jsonwebtoken`, so one C crypto library is built
//!   and audited, and it has a FIPS variant.
//!
//! Like the rest of the core this module does no I/O: it takes bytes, gives a config.

use std::fmt;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// Why a TLS configuration could not be built. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The CA bundle is not valid PEM, or a certificate in it is not a usable trust anchor.
    #[error("invalid CA certificates: {0}")]
    InvalidCa(String),
    /// The CA bundle holds no certificate.
    #[error("no CA certificate found")]
    NoCaCertificates,
    /// The client certificate chain is not valid PEM or holds no certificate.
    #[error("invalid client certificate chain: {0}")]
    InvalidClientCertificate(String),
    /// The client private key is not valid PEM, holds no key, or does not match the certificate.
    #[error("invalid client private key: {0}")]
    InvalidClientKey(String),
    /// The host name is neither a DNS name nor an IP address.
    #[error("invalid server name {0:?}")]
    InvalidServerName(String),
    /// rustls refused the combination (for example, the provider lacks TLS 1.3).
    #[error("TLS configuration rejected: {0}")]
    Config(String),
}

/// A client certificate chain and its private key, for mutual TLS. `Debug` never shows the key.
pub struct ClientIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl ClientIdentity {
    /// Reads a certificate chain (leaf first) and a private key (PKCS#8, PKCS#1 or SEC1) from PEM.
    pub fn from_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<ClientIdentity, TlsError> {
        let chain = CertificateDer::pem_slice_iter(chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::InvalidClientCertificate(e.to_string()))?;
        if chain.is_empty() {
            return Err(TlsError::InvalidClientCertificate(
                "no certificate found".into(),
            ));
        }
        // The error text of a PEM parse never includes the section's contents.
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| TlsError::InvalidClientKey(e.to_string()))?;
        Ok(ClientIdentity { chain, key })
    }

    /// The certificate chain, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }
}

impl Clone for ClientIdentity {
    fn clone(&self) -> Self {
        ClientIdentity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("chain_len", &self.chain.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

/// The TLS policy of one client: trusted roots and an optional client identity.
#[derive(Clone)]
pub struct TlsConfig {
    roots: RootCertStore,
    identity: Option<ClientIdentity>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("roots", &self.roots.len())
            .field("identity", &self.identity)
            .finish()
    }
}

impl TlsConfig {
    /// Trusts exactly the CA certificates in `pem` (one or more `CERTIFICATE` sections). Every
    /// certificate must parse and be a usable trust anchor.
    pub fn from_ca_pem(pem: &[u8]) -> Result<TlsConfig, TlsError> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| TlsError::InvalidCa(e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| TlsError::InvalidCa(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(TlsError::NoCaCertificates);
        }
        Ok(TlsConfig {
            roots,
            identity: None,
        })
    }

    /// Trusts the given DER certificates, skipping ones that do not parse (platform stores often
    /// hold a few). Fails only if none is usable. This is how platform roots come in.
    pub fn from_ca_certificates(
        certs: impl IntoIterator<Item = CertificateDer<'static>>,
    ) -> Result<TlsConfig, TlsError> {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(certs);
        if roots.is_empty() {
            return Err(TlsError::NoCaCertificates);
        }
        Ok(TlsConfig {
            roots,
            identity: None,
        })
    }

    /// Adds a client identity (mutual TLS).
    pub fn with_client_identity(mut self, identity: ClientIdentity) -> TlsConfig {
        self.identity = Some(identity);
        self
    }

    /// The number of trusted roots.
    pub fn root_count(&self) -> usize {
        self.roots.len()
    }

    /// Whether a client certificate is presented.
    pub fn has_client_identity(&self) -> bool {
        self.identity.is_some()
    }

    /// Builds the rustls configuration: aws-lc-rs, TLS 1.3 only, WebPKI server verification
    /// (host name included), and the client certificate when one is set.
    pub fn build(&self) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_root_certificates(self.roots.clone());
        let config = match &self.identity {
            None => builder.with_no_client_auth(),
            Some(identity) => builder
                .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
                .map_err(|e| TlsError::InvalidClientKey(e.to_string()))?,
        };
        Ok(Arc::new(config))
    }
}

/// The crypto provider used everywhere: aws-lc-rs.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The name the server certificate must match: a DNS name or an IP address literal.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(host.to_owned()).map_err(|_| TlsError::InvalidServerName(host.to_owned()))
}

#[cfg(test)]
mod tests;
