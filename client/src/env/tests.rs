use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};

use super::*;

const SECRET: &str = "0123456789abcdef0123456789abcdef";

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "jamey-mqtt-env-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, contents: &[u8]) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path.to_str().unwrap().to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A CA, and a client certificate and key it signed, as PEM files in `dir`: (ca, cert, key).
fn write_pki(dir: &TempDir) -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["client.test".to_string()]).unwrap();
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    (
        dir.write("ca.pem", ca_cert.pem().as_bytes()),
        dir.write("client.pem", cert.pem().as_bytes()),
        dir.write("client.key", key.serialize_pem().as_bytes()),
    )
}

fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (format!("MQTT_{k}"), v.to_string()))
        .collect();
    Config::from_env_with("MQTT_", |name| map.get(name).cloned())
}

#[track_caller]
fn assert_err(pairs: &[(&str, &str)], variable: &str, reason_contains: &str) {
    let e = load(pairs).expect_err("expected an error");
    assert_eq!(e.field, variable, "{e}");
    assert!(
        e.reason.contains(reason_contains),
        "reason {:?} lacks {reason_contains:?}",
        e.reason
    );
}

#[test]
fn defaults_when_nothing_is_set() {
    let c = load(&[]).unwrap();
    let d = Config::new("localhost", 1883);
    assert_eq!(
        (c.endpoints()[0].host.as_str(), c.endpoints()[0].port),
        ("localhost", 1883)
    );
    assert!(c.tls.is_none());
    assert_eq!(c.subscription_capacity, d.subscription_capacity);
    assert_eq!(c.mqtt.unmatched_capacity, d.mqtt.unmatched_capacity);
    assert_eq!(c.command_capacity, d.command_capacity);
    assert_eq!(c.event_capacity, d.event_capacity);
    assert_eq!(c.mqtt.keep_alive, d.mqtt.keep_alive);
}

#[test]
fn the_real_environment_is_read_under_the_prefix() {
    // Nothing in the test environment uses this prefix: every default applies.
    let c = Config::from_env_prefixed("JAMEY_MQTT_ENV_TEST_UNUSED_").unwrap();
    assert_eq!(
        (c.endpoints()[0].host.as_str(), c.endpoints()[0].port),
        ("localhost", 1883)
    );
}

#[test]
fn connection_variables_are_parsed() {
    let c = load(&[
        ("HOST", "broker.example.com"),
        ("PORT", "11883"),
        ("SUBSCRIPTION_CAPACITY", "10"),
        ("UNMATCHED_CAPACITY", "0"),
        ("COMMAND_CAPACITY", "3"),
        ("EVENT_CAPACITY", "7"),
        ("KEEP_ALIVE", "45s"),
        ("SEED", "42"),
    ])
    .unwrap();
    assert_eq!(
        (c.endpoints()[0].host.as_str(), c.endpoints()[0].port),
        ("broker.example.com", 11883)
    );
    assert_eq!(c.subscription_capacity, 10);
    // The core's variable: the unmatched-message policy is the core's.
    assert_eq!(c.mqtt.unmatched_capacity, 0);
    assert_eq!(c.command_capacity, 3);
    assert_eq!(c.event_capacity, 7);
    assert_eq!(c.mqtt.keep_alive.as_secs(), 45);
    assert_eq!(c.mqtt.seed, 42);
}

#[test]
fn the_seed_is_random_unless_set() {
    let a = load(&[]).unwrap().mqtt.seed;
    let b = load(&[]).unwrap().mqtt.seed;
    assert_ne!(a, b, "two configs from the same environment share a seed");
    assert_eq!(load(&[("SEED", "0")]).unwrap().mqtt.seed, 0);
}

#[test]
fn bad_connection_values_name_the_variable() {
    assert_err(&[("PORT", "http")], "MQTT_PORT", "from 0 to 65535");
    assert_err(&[("PORT", "70000")], "MQTT_PORT", "from 0 to 65535");
    assert_err(&[("PORT", "0")], "MQTT_PORT", "from 1 to 65535");
    assert_err(&[("TLS", "maybe")], "MQTT_TLS", "true or false");
    assert_err(
        &[("EVENT_CAPACITY", "many")],
        "MQTT_EVENT_CAPACITY",
        "whole number",
    );
    // The core's errors come through unchanged.
    assert_err(
        &[("KEEP_ALIVE", "abc")],
        "MQTT_KEEP_ALIVE",
        "expected a duration",
    );
}

#[test]
fn tls_files_are_read_and_the_options_load() {
    let dir = TempDir::new();
    let (ca, cert, key) = write_pki(&dir);
    let c = load(&[
        ("HOST", "127.0.0.1"),
        ("TLS", "true"),
        ("TLS_CA_FILE", &ca),
        ("TLS_CLIENT_CERT_FILE", &cert),
        ("TLS_CLIENT_KEY_FILE", &key),
        ("TLS_SERVER_NAME", "broker.test"),
    ])
    .unwrap();
    assert_eq!(c.endpoints()[0].port, 8883, "the TLS default port");
    let tls = c.tls.as_ref().unwrap();
    assert!(matches!(&tls.roots, Roots::CaFile(p) if p == Path::new(&ca)));
    assert_eq!(tls.client_identity.as_ref().unwrap().chain().len(), 1);
    assert_eq!(tls.server_name.as_deref(), Some("broker.test"));
    let (_, name) = tls.build(&c.endpoints()[0].host).unwrap();
    assert_eq!(
        format!("{name:?}"),
        format!("{:?}", server_name("broker.test").unwrap())
    );
    // The key never shows in Debug.
    let key_pem = std::fs::read_to_string(&key).unwrap();
    let body = key_pem.lines().nth(1).unwrap();
    assert!(!format!("{c:?}").contains(body));

    // Only a CA: server-authenticated TLS, the host is the server name.
    let c = load(&[
        ("HOST", "broker.test"),
        ("TLS", "yes"),
        ("TLS_CA_FILE", &ca),
        ("PORT", "1884"),
    ])
    .unwrap();
    assert_eq!(c.endpoints()[0].port, 1884);
    let tls = c.tls.unwrap();
    assert!(tls.client_identity.is_none());
    assert!(tls.build("broker.test").is_ok());

    // No CA file: the platform roots (loaded when connecting).
    let c = load(&[("TLS", "1")]).unwrap();
    assert!(matches!(c.tls.unwrap().roots, Roots::Platform));
}

#[test]
fn bad_tls_settings_name_the_variable() {
    let dir = TempDir::new();
    let (ca, cert, key) = write_pki(&dir);
    let garbage = dir.write("garbage.pem", b"-----BEGIN CERTIFICATE-----\nnot base64\n");
    let empty = dir.write("empty.pem", b"");
    let other_key = dir.write(
        "other.key",
        KeyPair::generate().unwrap().serialize_pem().as_bytes(),
    );
    let missing = dir.0.join("missing.pem");
    let missing = missing.to_str().unwrap();

    // TLS files without TLS.
    for k in [
        "TLS_CA_FILE",
        "TLS_CLIENT_CERT_FILE",
        "TLS_CLIENT_KEY_FILE",
        "TLS_SERVER_NAME",
    ] {
        assert_err(&[(k, &ca)], &format!("MQTT_{k}"), "MQTT_TLS is not true");
        assert_err(
            &[("TLS", "false"), (k, &ca)],
            &format!("MQTT_{k}"),
            "MQTT_TLS=true",
        );
    }
    let on = ("TLS", "true");
    assert_err(
        &[on, ("TLS_CA_FILE", missing)],
        "MQTT_TLS_CA_FILE",
        &format!("cannot read {missing:?}"),
    );
    assert_err(
        &[on, ("TLS_CA_FILE", &garbage)],
        "MQTT_TLS_CA_FILE",
        "invalid CA",
    );
    assert_err(
        &[on, ("TLS_CA_FILE", &empty)],
        "MQTT_TLS_CA_FILE",
        "no CA certificate",
    );
    assert_err(
        &[on, ("TLS_CA_FILE", &ca), ("TLS_CLIENT_CERT_FILE", &cert)],
        "MQTT_TLS_CLIENT_KEY_FILE",
        "required with MQTT_TLS_CLIENT_CERT_FILE",
    );
    assert_err(
        &[on, ("TLS_CA_FILE", &ca), ("TLS_CLIENT_KEY_FILE", &key)],
        "MQTT_TLS_CLIENT_CERT_FILE",
        "required with MQTT_TLS_CLIENT_KEY_FILE",
    );
    assert_err(
        &[
            on,
            ("TLS_CLIENT_CERT_FILE", &garbage),
            ("TLS_CLIENT_KEY_FILE", &key),
        ],
        "MQTT_TLS_CLIENT_CERT_FILE",
        "invalid client certificate",
    );
    assert_err(
        &[
            on,
            ("TLS_CLIENT_CERT_FILE", &cert),
            ("TLS_CLIENT_KEY_FILE", &ca),
        ],
        "MQTT_TLS_CLIENT_KEY_FILE",
        "invalid client private key",
    );
    assert_err(
        &[
            on,
            ("TLS_CA_FILE", &ca),
            ("TLS_CLIENT_CERT_FILE", &cert),
            ("TLS_CLIENT_KEY_FILE", &other_key),
        ],
        "MQTT_TLS_CLIENT_KEY_FILE",
        "invalid client private key",
    );
    assert_err(
        &[on, ("TLS_SERVER_NAME", "not a name!")],
        "MQTT_TLS_SERVER_NAME",
        "invalid server name",
    );
    assert_err(
        &[on, ("HOST", "bad host!")],
        "MQTT_HOST",
        "set MQTT_TLS_SERVER_NAME",
    );
}

#[test]
fn jwt_private_key_files_are_read_from_disk() {
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../auth/tests/keys/ed25519_private.pem"
    );
    let c = load(&[
        ("JWT_PRIVATE_KEY_FILE", key),
        ("JWT_ALGORITHM", "EdDSA"),
        ("JWT_SUBJECT", "dev-1"),
    ])
    .unwrap();
    assert!(c.auth.is_some());
    assert!(c.core_config().unwrap().token_auth.is_some());
    let pem = std::fs::read_to_string(key).unwrap();
    let body = pem.lines().nth(1).unwrap();
    assert!(!format!("{c:?}").contains(body), "the key shows in Debug");
    assert_err(
        &[
            ("JWT_PRIVATE_KEY_FILE", "/nonexistent/jamey.pem"),
            ("JWT_ALGORITHM", "EdDSA"),
            ("JWT_SUBJECT", "dev-1"),
        ],
        "MQTT_JWT_PRIVATE_KEY_FILE",
        "cannot read \"/nonexistent/jamey.pem\"",
    );
}

#[test]
fn secrets_stay_out_of_debug() {
    let c = load(&[("USERNAME", "u"), ("PASSWORD", "pw-value-77")]).unwrap();
    assert!(!format!("{c:?}").contains("pw-value-77"));
    let c = load(&[("JWT_SECRET", SECRET), ("JWT_SUBJECT", "d")]).unwrap();
    assert!(!format!("{c:?}").contains(SECRET));
}

/// Every variable is documented in the module table and in the README.
#[test]
fn every_variable_is_documented() {
    let module_doc = include_str!("../env.rs");
    let readme = include_str!("../../../README.md");
    for key in KEYS {
        let row = format!("| `MQTT_{key}` |");
        assert!(module_doc.contains(&row), "module doc lacks {row}");
        assert!(readme.contains(&row), "README lacks {row}");
    }
}

#[test]
fn a_broker_list_replaces_host_and_port() {
    let c = load(&[
        ("BROKERS", "node1:1884, [::1]:1885 ,node3"),
        ("BROKER_ORDER", "shuffled"),
        ("REDIRECTS", "any"),
        ("SHARED_SUBSCRIPTIONS", "false"),
    ])
    .unwrap();
    let listed: Vec<String> = c.endpoints().iter().map(|e| e.to_string()).collect();
    assert_eq!(listed, ["node1:1884", "[::1]:1885", "node3:1883"]);
    assert_eq!(c.mqtt.brokers.order, jamey_mqtt_core::BrokerOrder::Shuffled);
    assert_eq!(c.mqtt.brokers.redirects, jamey_mqtt_core::Redirects::Any);
    assert!(!c.mqtt.shared_subscriptions);
    // With TLS the default port is 8883, and each endpoint may name its certificate.
    let c = load(&[("BROKERS", "10.0.0.1/node1.example,node2"), ("TLS", "true")]).unwrap();
    assert_eq!(c.endpoints()[0].port, 8883);
    assert_eq!(
        c.endpoints()[0].tls_server_name.as_deref(),
        Some("node1.example")
    );
    assert_err(
        &[("BROKERS", "a:1"), ("HOST", "b")],
        "MQTT_HOST",
        "MQTT_BROKERS",
    );
    assert_err(
        &[("BROKERS", "a:1"), ("PORT", "2")],
        "MQTT_PORT",
        "MQTT_BROKERS",
    );
    assert_err(&[("BROKERS", "a:0")], "MQTT_BROKERS", "port");
    assert_err(&[("BROKERS", "a,A")], "MQTT_BROKERS", "twice");
    assert_err(
        &[("BROKER_ORDER", "random")],
        "MQTT_BROKER_ORDER",
        "shuffled",
    );
    assert_err(&[("REDIRECTS", "all")], "MQTT_REDIRECTS", "listed");
}
