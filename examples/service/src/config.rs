//! The service's configuration file: `[http]` (where to listen) and the client's optional
//! `[mqtt]` section ([`jamey_mqtt_tokio::ConfigFile`]), with `MQTT_*` variables overriding
//! the file and `SERVICE_LISTEN` overriding `http.listen`.
//!
//! ```toml
//! [http]
//! listen = "127.0.0.1:8080"
//!
//! [mqtt]
//! host = "localhost"
//! port = 1883
//! keep_alive = "30s"
//! [mqtt.reconnect]
//! max_delay = "5s"
//! ```

use std::path::Path;

use jamey_mqtt_tokio::{Config, ConfigError, ConfigFile};
use serde::Deserialize;

/// The `[http]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// `host:port` to listen on. Default `127.0.0.1:8080`.
    #[serde(default = "default_listen")]
    pub listen: String,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            listen: default_listen(),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSections {
    #[serde(default)]
    http: HttpConfig,
}

/// Everything the service needs.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub http: HttpConfig,
    pub mqtt: Config,
}

impl ServiceConfig {
    /// Reads `path` (a missing file is an empty one), then the environment on top.
    pub fn load(path: &Path) -> Result<ServiceConfig, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(ConfigError::new(
                    path.display().to_string(),
                    format!("cannot read: {e}"),
                ))
            }
        };
        ServiceConfig::from_toml(&text, |name| std::env::var(name).ok())
    }

    /// From the file's text and an environment lookup (tests pass a map).
    pub fn from_toml(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ServiceConfig, ConfigError> {
        let mqtt = ConfigFile::from_toml_section(text, "mqtt")?.with_env_lookup("MQTT_", &env)?;
        // The `[http]` section alone (the `[mqtt]` one was checked above).
        let mut table: toml::Table = toml::from_str(text)
            .map_err(|e| ConfigError::new("http", format!("not valid TOML: {}", e.message())))?;
        table.remove("mqtt");
        let sections: FileSections = table
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::new("http", e.message().to_owned()))?;
        let mut http = sections.http;
        if let Some(listen) = env("SERVICE_LISTEN").filter(|v| !v.trim().is_empty()) {
            http.listen = listen;
        }
        Ok(ServiceConfig { http, mqtt })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_file_and_env() {
        let config = ServiceConfig::from_toml("", |_| None).unwrap();
        assert_eq!(config.http.listen, "127.0.0.1:8080");
        assert_eq!(config.mqtt.endpoints()[0].port, 1883);

        let text = "[http]\nlisten = \"0.0.0.0:9000\"\n[mqtt]\nport = 1999\n";
        let env = |name: &str| match name {
            "SERVICE_LISTEN" => Some("127.0.0.1:9001".to_owned()),
            "MQTT_HOST" => Some("from-env".to_owned()),
            _ => None,
        };
        let config = ServiceConfig::from_toml(text, env).unwrap();
        assert_eq!(config.http.listen, "127.0.0.1:9001");
        assert_eq!(
            (
                config.mqtt.endpoints()[0].host.as_str(),
                config.mqtt.endpoints()[0].port
            ),
            ("from-env", 1999)
        );
    }

    #[test]
    fn errors_name_the_field() {
        let err = ServiceConfig::from_toml("[mqtt]\nport = \"x\"\n", |_| None).unwrap_err();
        assert_eq!(err.field, "mqtt.port");
        let err = ServiceConfig::from_toml("[http]\nlisen = \"x\"\n", |_| None).unwrap_err();
        assert_eq!(err.field, "http");
        assert!(err.reason.contains("lisen"), "{err}");
    }
}
