//! `ConfigFile`: every field from TOML, defaults, errors naming the file's field, env on top.

use std::collections::HashMap;
use std::time::Duration;

use jamey_mqtt_core::reconnect::Jitter;
use jamey_mqtt_core::SessionLostPolicy;

use super::*;

/// Every key the environment loader knows, as a TOML section (no files, no JWT: those keys are
/// exercised by the environment tests; here the point is that each key is accepted).
const EVERY_FIELD: &str = r#"
[app]
listen = "127.0.0.1:8080"

[mqtt]
host = "broker.internal"
port = 1884
protocol = "5"
client_id = "svc-1"
clean_start = false
broker_assigns_client_id = false
topic_alias_maximum = 4
auto_topic_alias = true
session_expiry = "1h"
keep_alive = "45s"
ping_timeout = "5s"
username = "svc"
password = "hunter2-secret"
max_inflight = 7
max_queued = 50
max_buffered_bytes = 4096
poison_threshold = 2
unmatched_capacity = 10
max_packet_size = 65536
receive_maximum = 30
manual_ack = false
session_lost_policy = "fail"
seed = 42
subscription_capacity = 8
command_capacity = 9
event_capacity = 10

[mqtt.reconnect]
initial_delay = "250ms"
max_delay = "1m"
multiplier = 1.5
jitter = "equal"
max_failures = 5
open_duration = "30s"
max_attempts = 100
stable_after = 20
"#;

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn every_field_from_toml() {
    let file = ConfigFile::from_toml_section(EVERY_FIELD, "mqtt").unwrap();
    let debug = format!("{file:?}");
    let config = file.with_env_lookup("MQTT_", no_env).unwrap();
    assert_eq!(config.endpoints()[0].host, "broker.internal");
    assert_eq!(config.endpoints()[0].port, 1884);
    assert!(config.tls.is_none());
    assert_eq!(
        (
            config.subscription_capacity,
            config.command_capacity,
            config.event_capacity
        ),
        (8, 9, 10)
    );
    let m = &config.mqtt;
    assert_eq!(m.client_id, "svc-1");
    assert!(!m.clean_start);
    assert_eq!(m.keep_alive, Duration::from_secs(45));
    assert_eq!(m.max_inflight, 7);
    assert_eq!(m.max_queued, 50);
    assert_eq!(m.max_outgoing_packet_size, 65536);
    assert_eq!(m.seed, 42);
    assert_eq!(m.session_lost_policy, SessionLostPolicy::FailInFlight);
    assert_eq!(m.reconnect.initial_delay, Duration::from_millis(250));
    assert_eq!(m.reconnect.max_delay, Duration::from_secs(60));
    assert_eq!(m.reconnect.multiplier, 1.5);
    assert_eq!(m.reconnect.jitter, Jitter::Equal);
    assert_eq!(m.reconnect.max_failures, Some(5));
    assert_eq!(m.reconnect.stable_after, Duration::from_secs(20));
    // The password never shows in Debug, neither the file's nor the config's.
    assert!(debug.contains("password") && !debug.contains("hunter2"));
    assert!(!format!("{config:?}").contains("hunter2"));
}

#[test]
fn defaults_when_absent() {
    for text in ["", "[other]\nx = 1\n", "[mqtt]\n"] {
        let config = ConfigFile::from_toml_section(text, "mqtt")
            .unwrap()
            .with_env_lookup("MQTT_", no_env)
            .unwrap();
        let defaults = Config::new("localhost", 1883);
        assert_eq!(
            (
                config.endpoints()[0].host.as_str(),
                config.endpoints()[0].port
            ),
            ("localhost", 1883)
        );
        assert_eq!(config.mqtt.keep_alive, defaults.mqtt.keep_alive);
        assert_eq!(config.mqtt.max_queued, defaults.mqtt.max_queued);
        assert_eq!(config.subscription_capacity, defaults.subscription_capacity);
    }
}

#[test]
fn a_bad_field_is_named_and_secrets_are_not_echoed() {
    let cases = [
        ("keep_alive = \"soon\"", "mqtt.keep_alive"),
        ("port = 0", "mqtt.port"),
        (
            "[mqtt.reconnect]\nmultiplier = 0.5",
            "mqtt.reconnect_multiplier",
        ),
        ("max_queued = \"lots\"", "mqtt.max_queued"),
        ("kep_alive = \"30s\"", "mqtt.kep_alive"),
        ("tls_ca_file = \"/ca.pem\"", "mqtt.tls_ca_file"),
    ];
    for (body, field) in cases {
        let text = format!("[mqtt]\n{body}\n");
        let err = ConfigFile::from_toml_section(&text, "mqtt")
            .and_then(|f| f.with_env_lookup("MQTT_", no_env))
            .unwrap_err();
        assert_eq!(err.field, field, "{body}: {err}");
    }
    // A secret that fails validation is not repeated in the error.
    let text = "[mqtt]\njwt_secret = \"hunter2-secret\"\njwt_subject = \"svc\"\n";
    let err = ConfigFile::from_toml_section(text, "mqtt")
        .and_then(|f| f.with_env_lookup("MQTT_", no_env))
        .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    // Bad TOML names the section and line, not the text.
    let err = ConfigFile::from_toml_section("[mqtt]\npassword = \"hunter2\n", "mqtt").unwrap_err();
    assert_eq!(err.field, "mqtt");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn env_overrides_the_file() {
    let env = HashMap::from([
        ("MQTT_HOST", "from-env"),
        ("MQTT_KEEP_ALIVE", "1m"),
        ("MQTT_PORT", ""), // empty: unset, the file's value stays
    ]);
    let lookup = |name: &str| env.get(name).map(|v| v.to_string());
    let file = ConfigFile::from_toml_section(EVERY_FIELD, "mqtt").unwrap();
    let config = file.with_env_lookup("MQTT_", lookup).unwrap();
    assert_eq!(config.endpoints()[0].host, "from-env");
    assert_eq!(config.endpoints()[0].port, 1884);
    assert_eq!(config.mqtt.keep_alive, Duration::from_secs(60));
    assert_eq!(config.mqtt.client_id, "svc-1");

    // A bad variable is named as the variable, even when the file sets the field too.
    let env = HashMap::from([("MQTT_KEEP_ALIVE", "soon")]);
    let lookup = |name: &str| env.get(name).map(|v| v.to_string());
    let err = ConfigFile::from_toml_section(EVERY_FIELD, "mqtt")
        .unwrap()
        .with_env_lookup("MQTT_", lookup)
        .unwrap_err();
    assert_eq!(err.field, "MQTT_KEEP_ALIVE");
}

#[test]
fn embedded_in_an_application_struct() {
    #[derive(serde::Deserialize)]
    struct App {
        #[serde(default)]
        mqtt: ConfigFile,
    }
    let app: App = toml::from_str("[mqtt]\nport = 1999\n").unwrap();
    assert_eq!(app.mqtt.into_config().unwrap().endpoints()[0].port, 1999);
    let app: App = toml::from_str("").unwrap();
    assert_eq!(app.mqtt.into_config().unwrap().endpoints()[0].port, 1883);
}

#[test]
fn a_broker_list_from_toml() {
    let text = r#"
[mqtt]
brokers = ["node1:1884", "node2:1885/node2.internal"]
broker_order = "in-order"
redirects = "ignore"
"#;
    let config = ConfigFile::from_toml_section(text, "mqtt")
        .unwrap()
        .with_env_lookup("MQTT_", no_env)
        .unwrap();
    let listed: Vec<String> = config.endpoints().iter().map(|e| e.to_string()).collect();
    assert_eq!(listed, ["node1:1884", "node2:1885"]);
    assert_eq!(
        config.endpoints()[1].tls_server_name.as_deref(),
        Some("node2.internal")
    );
    assert_eq!(
        config.mqtt.brokers.redirects,
        jamey_mqtt_core::Redirects::Ignore
    );
    let bad = ConfigFile::from_toml_section("[mqtt]\nbrokers = [\"a:x\"]\n", "mqtt")
        .unwrap()
        .with_env_lookup("MQTT_", no_env)
        .unwrap_err();
    assert_eq!(bad.field, "mqtt.brokers");
}
