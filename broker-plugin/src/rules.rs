//! The one place the plugin names the auth crate: the JWT validator and claims, and the
//! permission check the client calls before a packet leaves. The plugin decides with exactly
//! these, never a copy, so client and broker cannot disagree.

pub use jamey_mqtt_auth::{Algorithm, AuthError, Claims, Validator};
pub use jamey_mqtt_core::permissions::Permissions;
pub use jamey_mqtt_core::topic::{TopicFilter, TopicName};
