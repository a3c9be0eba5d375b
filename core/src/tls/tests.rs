//! Unit tests of the TLS policy: real handshakes between a rustls client built from
//! [`TlsConfig`] and a rustls server, joined in memory (no sockets), with certificates made by
//! `rcgen` at test time.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConnection, ServerConnection};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::*;

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Ca {
            issuer: Issuer::new(params, key),
            pem: cert.pem(),
        }
    }

    /// A leaf for `names`; returns (cert PEM, key PEM, cert DER, key DER).
    fn leaf(&self, names: &[&str], client: bool) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        }
    }
}

struct Leaf {
    cert_pem: String,
    key_pem: String,
    cert_der: CertificateDer<'static>,
    key_der: PrivateKeyDer<'static>,
}

/// A TLS 1.3 client config that trusts exactly `ca`.
fn client_trusting(ca: &Ca) -> Arc<rustls::ClientConfig> {
    TlsConfig::from_ca_pem(ca.pem.as_bytes())
        .unwrap()
        .build()
        .unwrap()
}

fn server_config(
    leaf: &Leaf,
    versions: &[&'static rustls::SupportedProtocolVersion],
    client_ca: Option<&Ca>,
) -> Arc<rustls::ServerConfig> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots
                .add(CertificateDer::from_pem_slice(ca.pem.as_bytes()).unwrap())
                .unwrap();
            let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider())
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
    };
    Arc::new(
        builder
            .with_single_cert(vec![leaf.cert_der.clone()], leaf.key_der.clone_key())
            .unwrap(),
    )
}

/// Runs a handshake in memory. `Ok` once both sides finished; the first error otherwise
/// (client errors are reported in preference, since the client's view is what we test).
fn handshake(
    client: Arc<rustls::ClientConfig>,
    host: &str,
    server: Arc<rustls::ServerConfig>,
) -> Result<(), rustls::Error> {
    let mut c = ClientConnection::new(client, server_name(host).unwrap())?;
    let mut s = ServerConnection::new(server)?;
    for _ in 0..20 {
        let mut buf = Vec::new();
        c.write_tls(&mut buf).unwrap();
        if !buf.is_empty() {
            s.read_tls(&mut buf.as_slice()).unwrap();
            if let Err(e) = s.process_new_packets() {
                // Deliver the server's alert, then report what the client makes of it.
                let mut alert = Vec::new();
                s.write_tls(&mut alert).unwrap();
                c.read_tls(&mut alert.as_slice()).unwrap();
                c.process_new_packets()?;
                return Err(e);
            }
        }
        let mut buf = Vec::new();
        s.write_tls(&mut buf).unwrap();
        if !buf.is_empty() {
            c.read_tls(&mut buf.as_slice()).unwrap();
            c.process_new_packets()?;
        }
        if !c.is_handshaking() && !s.is_handshaking() {
            assert_eq!(c.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
            return Ok(());
        }
    }
    panic!("handshake did not finish");
}

#[test]
fn tls13_handshake_with_ca_pem_succeeds() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost", "127.0.0.1"], false);
    let client = client_trusting(&ca);
    let server = server_config(&leaf, &[&rustls::version::TLS13], None);
    handshake(client.clone(), "localhost", server.clone()).unwrap();
    handshake(client, "127.0.0.1", server).unwrap();
}

#[test]
fn tls12_only_server_is_refused() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"], false);
    let client = client_trusting(&ca);
    let server = server_config(&leaf, &[&rustls::version::TLS12], None);
    let err = handshake(client, "localhost", server).unwrap_err();
    assert!(
        matches!(
            err,
            rustls::Error::AlertReceived(rustls::AlertDescription::ProtocolVersion)
                | rustls::Error::PeerIncompatible(_)
        ),
        "{err:?}"
    );
}

#[test]
fn unknown_ca_is_refused() {
    let ca = Ca::new("real CA");
    let wrong = Ca::new("wrong CA");
    let leaf = ca.leaf(&["localhost"], false);
    let client = client_trusting(&wrong);
    let server = server_config(&leaf, &[&rustls::version::TLS13], None);
    let err = handshake(client, "localhost", server).unwrap_err();
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
        ),
        "{err:?}"
    );
}

#[test]
fn wrong_host_name_is_refused() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["broker.example"], false);
    let client = client_trusting(&ca);
    let server = server_config(&leaf, &[&rustls::version::TLS13], None);
    let err = handshake(client, "localhost", server).unwrap_err();
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. }
            )
        ),
        "{err:?}"
    );
}

#[test]
fn mutual_tls_needs_the_client_identity() {
    let ca = Ca::new("test CA");
    let server_leaf = ca.leaf(&["localhost"], false);
    let client_leaf = ca.leaf(&["client-1"], true);
    let server = server_config(&server_leaf, &[&rustls::version::TLS13], Some(&ca));

    let anonymous = TlsConfig::from_ca_pem(ca.pem.as_bytes()).unwrap();
    assert!(handshake(anonymous.build().unwrap(), "localhost", server.clone()).is_err());

    let identity = ClientIdentity::from_pem(
        client_leaf.cert_pem.as_bytes(),
        client_leaf.key_pem.as_bytes(),
    )
    .unwrap();
    let with_identity = anonymous.with_client_identity(identity);
    assert!(with_identity.has_client_identity());
    handshake(with_identity.build().unwrap(), "localhost", server).unwrap();
}

#[test]
fn key_of_another_certificate_is_rejected() {
    let ca = Ca::new("test CA");
    let a = ca.leaf(&["a"], true);
    let b = ca.leaf(&["b"], true);
    let identity = ClientIdentity::from_pem(a.cert_pem.as_bytes(), b.key_pem.as_bytes()).unwrap();
    let err = TlsConfig::from_ca_pem(ca.pem.as_bytes())
        .unwrap()
        .with_client_identity(identity)
        .build()
        .unwrap_err();
    assert!(matches!(err, TlsError::InvalidClientKey(_)), "{err:?}");
}

#[test]
fn bad_pem_inputs_are_typed_errors() {
    assert_eq!(
        TlsConfig::from_ca_pem(b"").unwrap_err(),
        TlsError::NoCaCertificates
    );
    assert_eq!(
        TlsConfig::from_ca_pem(b"not a pem at all").unwrap_err(),
        TlsError::NoCaCertificates
    );
    let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    assert!(matches!(
        TlsConfig::from_ca_pem(garbage),
        Err(TlsError::InvalidCa(_))
    ));
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["c"], true);
    assert!(matches!(
        ClientIdentity::from_pem(b"", leaf.key_pem.as_bytes()),
        Err(TlsError::InvalidClientCertificate(_))
    ));
    assert!(matches!(
        ClientIdentity::from_pem(leaf.cert_pem.as_bytes(), b"no key here"),
        Err(TlsError::InvalidClientKey(_))
    ));
    assert!(matches!(
        server_name("not a host name!"),
        Err(TlsError::InvalidServerName(_))
    ));
    assert_eq!(
        TlsConfig::from_ca_certificates(Vec::new()).unwrap_err(),
        TlsError::NoCaCertificates
    );
}

#[test]
fn debug_never_shows_the_private_key() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["c"], true);
    let identity =
        ClientIdentity::from_pem(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes()).unwrap();
    let config = TlsConfig::from_ca_pem(ca.pem.as_bytes())
        .unwrap()
        .with_client_identity(identity.clone());
    let body: String = leaf
        .key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    for shown in [format!("{identity:?}"), format!("{config:?}")] {
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(!shown.contains(&body[..16]), "{shown}");
    }
}

#[test]
fn platform_style_root_lists_skip_unparsable_entries() {
    let ca = Ca::new("test CA");
    let good = CertificateDer::from_pem_slice(ca.pem.as_bytes()).unwrap();
    let bad = CertificateDer::from(vec![1u8, 2, 3]);
    let config = TlsConfig::from_ca_certificates(vec![bad, good]).unwrap();
    assert_eq!(config.root_count(), 1);
}
