//! Tests of the harness itself, with Mosquitto's own command-line clients: each broker variant
//! starts, accepts, and enforces what it is configured to enforce. If these fail, the client
//! scenarios' failures mean nothing.

use std::net::TcpStream;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use jamey_mqtt_tests::{Broker, BrokerOptions, Pki, Tls12Server};

fn roundtrip(broker: &Broker, topic: &str, payload: &str) -> (Output, Output) {
    let sub = broker
        .mosquitto_sub()
        .args(["-t", topic, "-C", "1", "-W", "10", "-q", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn mosquitto_sub");
    // Publish until the subscriber (which connects asynchronously) has taken one message.
    let mut publish = broker
        .mosquitto_pub()
        .args(["-t", topic, "-m", payload, "-q", "1"])
        .output()
        .expect("run mosquitto_pub");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(8);
    let sub_pid = sub.id();
    let mut sub = Some(sub);
    while std::time::Instant::now() < deadline {
        let finished = std::fs::metadata(format!("/proc/{sub_pid}")).is_err()
            || std::fs::read_to_string(format!("/proc/{sub_pid}/stat"))
                .map(|s| s.contains(") Z "))
                .unwrap_or(true);
        if finished {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        publish = broker
            .mosquitto_pub()
            .args(["-t", topic, "-m", payload, "-q", "1"])
            .output()
            .expect("run mosquitto_pub");
    }
    let received = sub.take().unwrap().wait_with_output().expect("wait sub");
    (publish, received)
}

#[test]
fn plain_broker_roundtrip_with_mosquitto_clients() {
    let broker = Broker::start(BrokerOptions::plain(), None);
    let (publish, received) = roundtrip(&broker, "harness/plain", "hello");
    assert!(publish.status.success(), "{publish:?}\n{}", broker.log());
    assert_eq!(String::from_utf8_lossy(&received.stdout).trim(), "hello");
}

#[test]
fn tls13_broker_roundtrip_with_mosquitto_clients() {
    let pki = Pki::generate();
    let broker = Broker::start(BrokerOptions::tls(), Some(&pki));
    let (publish, received) = roundtrip(&broker, "harness/tls", "secret");
    assert!(publish.status.success(), "{publish:?}\n{}", broker.log());
    assert_eq!(String::from_utf8_lossy(&received.stdout).trim(), "secret");
}

#[test]
fn mutual_tls_broker_requires_a_client_certificate() {
    let pki = Pki::generate();
    let broker = Broker::start(BrokerOptions::mutual_tls(), Some(&pki));
    let (publish, received) = roundtrip(&broker, "harness/mtls", "with-cert");
    assert!(publish.status.success(), "{publish:?}\n{}", broker.log());
    assert_eq!(
        String::from_utf8_lossy(&received.stdout).trim(),
        "with-cert"
    );
    let without = std::process::Command::new("mosquitto_pub")
        .args(["-h", "localhost", "-p", &broker.port().to_string()])
        .arg("--cafile")
        .arg(&pki.ca.cert_path)
        .args(["-t", "harness/mtls", "-m", "x"])
        .output()
        .expect("run mosquitto_pub");
    assert!(!without.status.success(), "accepted without a client cert");
}

#[test]
fn persistent_broker_restarts_on_the_same_port() {
    let mut broker = Broker::start(BrokerOptions::plain().persistent(), None);
    let port = broker.port();
    let first = broker.pid();
    broker.restart();
    assert_eq!(broker.port(), port);
    assert_ne!(broker.pid(), first);
    let (publish, received) = roundtrip(&broker, "harness/restart", "again");
    assert!(publish.status.success(), "{publish:?}");
    assert_eq!(String::from_utf8_lossy(&received.stdout).trim(), "again");
}

/// A TLS handshake with the server on `port` by a rustls client that trusts the test CA and
/// offers only `versions`: the version negotiated, or the error that ended the handshake.
fn handshake(
    port: u16,
    pki: &Pki,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<rustls::ProtocolVersion, rustls::Error> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from_pem_slice(pki.ca.cert_pem.as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name)?;
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect to the TLS server");
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut tcp) {
            return Err(e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .cloned()
                .unwrap_or_else(|| panic!("handshake failed without a TLS error: {e}")));
        }
    }
    Ok(conn.protocol_version().expect("negotiated"))
}

/// The refusal scenario (`tls12_only_server_is_refused`) means something only if this server
/// really speaks TLS 1.2 and nothing newer.
#[test]
fn tls12_server_speaks_tls12_only() {
    use rustls::version::{TLS12, TLS13};
    let pki = Pki::generate();
    let server = Tls12Server::start(&pki);
    // Its certificate verifies and TLS 1.2 completes, also when TLS 1.3 is offered as well.
    assert_eq!(
        handshake(server.port(), &pki, &[&TLS12]),
        Ok(rustls::ProtocolVersion::TLSv1_2)
    );
    assert_eq!(
        handshake(server.port(), &pki, &[&TLS13, &TLS12]),
        Ok(rustls::ProtocolVersion::TLSv1_2)
    );
    // A client that offers TLS 1.3 only is refused.
    let refused = handshake(server.port(), &pki, &[&TLS13]);
    assert!(
        matches!(
            refused,
            Err(rustls::Error::AlertReceived(
                rustls::AlertDescription::ProtocolVersion
            ))
        ),
        "{refused:?}"
    );
}
