//! # jamey-mqtt-mosquitto-auth
//!
//! A Mosquitto 2 plugin (v5 plugin API) that makes jamey-mqtt's JWTs real on the broker:
//!
//! - **Basic auth** (MQTT 3.1.1, and MQTT 5 without an authentication method): the CONNECT
//!   password is a JWT, validated by the same [`Validator`](rules::Validator) the project ships;
//!   the username must equal the token's `sub` unless configured otherwise.
//! - **MQTT 5 extended auth**, method [`AUTH_METHOD`] (`JWT`): the CONNECT's authentication data
//!   is the token. Re-authentication (AUTH, reason 0x19) with a new token replaces the stored
//!   claims on the live connection; a refused one ends the connection.
//! - **ACL**: publish, subscribe and receive are allowed exactly when the token's
//!   [`Permissions`](rules::Permissions) allow them, the same check the client makes before a
//!   packet leaves. Once a token expires (plus leeway) every ACL check of that client is denied
//!   and the client is disconnected on the broker's next tick.
//!
//! Modules: [`rules`] (the one place that names the auth crate), [`options`] (the
//! `plugin_opt_*` settings), [`sessions`] (what is stored per connection), [`plugin`] (the
//! decisions, safe code, tested in-process) and `ffi` (the binding to Mosquitto, the only
//! `unsafe` code). Setup and every option: `docs/broker-setup.md`.

pub mod options;
pub mod plugin;
pub mod rules;
pub mod sessions;

mod ffi;

/// The MQTT 5 authentication method this plugin implements; the client sends exactly this.
pub const AUTH_METHOD: &str = "JWT";
