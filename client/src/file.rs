//! [`ConfigFile`]: the client configuration from an application's own configuration file (an
//! optional `[mqtt]` section of its TOML file, or any serde format), with the environment on
//! top.
//!
//! The file uses the environment variables' keys, lower-case and without the prefix
//! (`MQTT_KEEP_ALIVE` is `keep_alive`, `MQTT_RECONNECT_MAX_DELAY` is `reconnect_max_delay`),
//! and the same spellings: durations as `"30s"`, `"500ms"`, `"2m"` or a number of seconds,
//! lists as arrays or comma-separated strings. A nested table joins its keys with `_`, so
//! `[mqtt.reconnect]` `max_delay = "1m"` is `reconnect_max_delay`. Every value then goes through
//! the environment loader ([`Config::from_env_with`]): the same parsing, the same
//! [`ClientConfig::validate`](jamey_mqtt_core::ClientConfig::validate), the same errors, except
//! that an error about a value from the file names the file's field (`mqtt.keep_alive`), not
//! the variable. Secrets are never echoed, and `Debug` shows only the keys.
//!
//! Merge order: defaults, then the file, then the environment (a set variable wins over the
//! file's field), see [`ConfigFile::with_env_overrides`].

use std::collections::BTreeMap;

use jamey_mqtt_core::config::env::{DEFAULT_PREFIX, KEYS as CORE_KEYS};
use jamey_mqtt_core::ConfigError;
use serde::Deserialize;

use crate::config::Config;
use crate::env::KEYS as CLIENT_KEYS;
#[cfg(feature = "jwt")]
use jamey_mqtt_auth::env::KEYS as AUTH_KEYS;
/// Without the `jwt` feature a JWT field is an unknown field.
#[cfg(not(feature = "jwt"))]
const AUTH_KEYS: &[&str] = &[];

/// One section of a configuration file: field names and their values, not yet checked.
/// Build a [`Config`] from it with [`into_config`](Self::into_config) or
/// [`with_env_overrides`](Self::with_env_overrides).
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct AppConfig {
///     #[serde(default)]
///     mqtt: jamey_mqtt::ConfigFile,
///     listen: String,
/// }
/// let text = "listen = \"0.0.0.0:8080\"\n[mqtt]\nhost = \"broker.internal\"\n";
/// let app: AppConfig = toml::from_str(text).unwrap();
/// let config = app.mqtt.into_config().unwrap(); // or with_env_overrides(): MQTT_* win
/// assert_eq!(config.endpoints()[0].host, "broker.internal");
/// assert_eq!(app.listen, "0.0.0.0:8080");
/// ```
#[derive(Clone, Deserialize)]
pub struct ConfigFile {
    #[serde(flatten)]
    values: BTreeMap<String, FileValue>,
    /// How errors name a field of this section (`mqtt` gives `mqtt.keep_alive`).
    #[serde(skip, default = "default_section")]
    section: String,
}

impl Default for ConfigFile {
    /// An empty `mqtt` section: every default.
    fn default() -> ConfigFile {
        ConfigFile {
            values: BTreeMap::new(),
            section: default_section(),
        }
    }
}

fn default_section() -> String {
    "mqtt".into()
}

/// A value as the file spells it.
#[derive(Clone, Deserialize)]
#[serde(untagged)]
enum FileValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    List(Vec<FileValue>),
    Table(BTreeMap<String, FileValue>),
}

impl std::fmt::Debug for ConfigFile {
    /// Keys only: a value may be a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigFile")
            .field("section", &self.section)
            .field("keys", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ConfigFile {
    /// The section `section` of a TOML document (`"mqtt"` for `[mqtt]`); a missing section is
    /// an empty one (every default). A syntax error names the section and the line, without
    /// quoting the line (it may hold a secret).
    pub fn from_toml_section(text: &str, section: &str) -> Result<ConfigFile, ConfigError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
            let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
            ConfigError::new(
                section.to_owned(),
                format!("not valid TOML{at}: {}", e.message()),
            )
        })?;
        let mut file = match table.get(section) {
            None => ConfigFile::default(),
            Some(value) => value.clone().try_into::<ConfigFile>().map_err(|_| {
                ConfigError::new(
                    section.to_owned(),
                    "must be a table of settings (numbers, strings, booleans, arrays)",
                )
            })?,
        };
        file.section = section.to_owned();
        Ok(file)
    }

    /// Names errors as fields of `section` (default `mqtt`), for a section deserialized by the
    /// application under another name.
    pub fn section(mut self, section: impl Into<String>) -> ConfigFile {
        self.section = section.into();
        self
    }

    /// The configuration from the file alone (the environment is not read).
    pub fn into_config(self) -> Result<Config, ConfigError> {
        self.with_env_lookup(DEFAULT_PREFIX, |_| None)
    }

    /// The file, then the process environment on top: an `MQTT_*` variable that is set
    /// (non-empty) wins over the file's field.
    pub fn with_env_overrides(self) -> Result<Config, ConfigError> {
        self.with_env_lookup(DEFAULT_PREFIX, |name| std::env::var(name).ok())
    }

    /// Like [`with_env_overrides`](Self::with_env_overrides), with variables named `prefix` +
    /// key looked up with `lookup`.
    pub fn with_env_lookup(
        self,
        prefix: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let file = self.flatten()?;
        let from_env = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let result = Config::from_env_with(prefix, |name| {
            from_env(name).or_else(|| {
                let key = name.strip_prefix(prefix)?.to_ascii_lowercase();
                file.get(&key).cloned()
            })
        });
        result.map_err(|mut error| {
            // An error about a value that came from the file names the file's field.
            if let Some(key) = error.field.strip_prefix(prefix) {
                let key = key.to_ascii_lowercase();
                if file.contains_key(&key) && from_env(&error.field).is_none() {
                    error.field = format!("{}.{key}", self.section).into();
                }
            }
            error
        })
    }

    /// `key -> value as the environment spells it`, nested tables joined with `_`; an unknown
    /// key is an error naming it.
    fn flatten(&self) -> Result<BTreeMap<String, String>, ConfigError> {
        let mut out = BTreeMap::new();
        flatten_into(&self.section, "", &self.values, &mut out)?;
        Ok(out)
    }
}

fn flatten_into(
    section: &str,
    prefix: &str,
    values: &BTreeMap<String, FileValue>,
    out: &mut BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    for (name, value) in values {
        let key = format!("{prefix}{}", name.to_ascii_lowercase());
        let field = || format!("{section}.{key}");
        if let FileValue::Table(inner) = value {
            flatten_into(section, &format!("{key}_"), inner, out)?;
            continue;
        }
        let upper = key.to_ascii_uppercase();
        if ![CORE_KEYS, CLIENT_KEYS, AUTH_KEYS]
            .iter()
            .any(|keys| keys.contains(&upper.as_str()))
        {
            return Err(ConfigError::new(field(), "unknown field"));
        }
        let text = match value {
            FileValue::List(items) => items
                .iter()
                .map(|item| scalar(item).ok_or_else(|| nested_list(field())))
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
            other => scalar(other).ok_or_else(|| nested_list(field()))?,
        };
        out.insert(key, text);
    }
    Ok(())
}

fn nested_list(field: String) -> ConfigError {
    ConfigError::new(
        field,
        "expected a number, string, boolean or a list of them",
    )
}

/// The environment spelling of a scalar (`None` for a list or a table).
fn scalar(value: &FileValue) -> Option<String> {
    Some(match value {
        FileValue::Bool(b) => b.to_string(),
        FileValue::Int(i) => i.to_string(),
        FileValue::Float(f) => f.to_string(),
        FileValue::Text(s) => s.clone(),
        FileValue::List(_) | FileValue::Table(_) => return None,
    })
}

#[cfg(test)]
mod tests;
