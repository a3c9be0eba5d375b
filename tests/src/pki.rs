//! A throw-away PKI generated at test time with `rcgen`: a CA, a server certificate valid for
//! `localhost` and `127.0.0.1`, a client certificate (for mutual TLS), and a second, unrelated CA
//! (for the "wrong CA" test). Everything is written as PEM files into a [`TempDir`] so Mosquitto,
//! `openssl s_server` and the mosquitto command-line clients can read them too.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::TempDir;

/// PEM text of a certificate and its key, and where they were written.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

/// The test PKI. Keep it alive as long as a broker uses its files.
#[derive(Debug)]
pub struct Pki {
    pub ca: CertFiles,
    pub server: CertFiles,
    pub client: CertFiles,
    /// A CA that signed nothing we use.
    pub wrong_ca: CertFiles,
    /// A server certificate signed by the right CA but for another host name.
    pub other_host_server: CertFiles,
    dir: TempDir,
}

impl Pki {
    /// Generates everything into a fresh temp dir.
    pub fn generate() -> Pki {
        Pki::generate_in(TempDir::new("pki"))
    }

    /// Generates everything into `dir` (the demo keeps its PKI under `target/`).
    pub fn generate_in(dir: TempDir) -> Pki {
        let (ca, ca_issuer) = make_ca(&dir, "ca", "jamey-mqtt test CA");
        let (wrong_ca, _) = make_ca(&dir, "wrong-ca", "jamey-mqtt wrong CA");
        let server = make_leaf(
            &dir,
            "server",
            &ca_issuer,
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let other_host_server = make_leaf(
            &dir,
            "other-host",
            &ca_issuer,
            &["broker.invalid"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let client = make_leaf(
            &dir,
            "client",
            &ca_issuer,
            &["jamey-mqtt-test-client"],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        Pki {
            ca,
            server,
            client,
            wrong_ca,
            other_host_server,
            dir,
        }
    }

    pub fn dir(&self) -> &TempDir {
        &self.dir
    }
}

fn make_ca(dir: &TempDir, name: &str, cn: &str) -> (CertFiles, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().expect("generate CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, cn);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).expect("self-sign CA");
    let files = write(dir, name, cert.pem(), key.serialize_pem());
    (files, Issuer::new(params, key))
}

fn make_leaf(
    dir: &TempDir,
    name: &str,
    issuer: &Issuer<'static, KeyPair>,
    sans: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> CertFiles {
    let key = KeyPair::generate().expect("generate leaf key");
    let mut params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .expect("leaf params");
    params.distinguished_name.push(DnType::CommonName, sans[0]);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, issuer).expect("sign leaf");
    write(dir, name, cert.pem(), key.serialize_pem())
}

fn write(dir: &TempDir, name: &str, cert_pem: String, key_pem: String) -> CertFiles {
    let cert_path = dir.write(&format!("{name}.crt"), &cert_pem);
    let key_path = dir.write(&format!("{name}.key"), &key_pem);
    CertFiles {
        cert_pem,
        key_pem,
        cert_path,
        key_path,
    }
}
