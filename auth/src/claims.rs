//! The JWT payload jamey-mqtt reads and writes: registered claims plus MQTT permissions.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use super::AuthError;
use jamey_mqtt_core::permissions::Permissions;
use jamey_mqtt_core::topic::TopicFilter;

/// The payload of a jamey-mqtt JWT.
///
/// `sub`, `iat` and `exp` are always present in tokens this crate mints and are required by
/// [`Validator`](super::Validator). Times are Unix seconds (RFC 7519 NumericDate); when reading,
/// a non-negative fractional number is accepted and truncated. Unknown claims are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Subject: who the token is for. The client's default MQTT username.
    pub sub: String,
    /// Issued at, Unix seconds.
    #[serde(deserialize_with = "de_date")]
    pub iat: u64,
    /// Expires at, Unix seconds. The token is invalid from this second on.
    #[serde(deserialize_with = "de_date")]
    pub exp: u64,
    /// Not before, Unix seconds.
    #[serde(
        default,
        deserialize_with = "de_opt_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub nbf: Option<u64>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience: one string or a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// Token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The topics the holder may publish and subscribe to (empty lists when absent).
    #[serde(default)]
    pub permissions: PermissionClaims,
}

impl Claims {
    /// Build the [`Permissions`] these claims grant.
    ///
    /// Fails with [`AuthError::InvalidPermission`] naming the first filter that is not a valid
    /// MQTT topic filter. Only trust the result for access decisions if the claims came from
    /// [`Validator::validate`](super::Validator::validate).
    pub fn permissions(&self) -> Result<Permissions, AuthError> {
        self.permissions.to_permissions()
    }
}

/// The `aud` claim: a single audience or a list of them (both forms are legal JWT).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// `"aud": "broker"`
    One(String),
    /// `"aud": ["broker", "ops"]`
    Many(Vec<String>),
}

impl Audience {
    /// Does this claim name `audience`?
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Audience::One(a) => a == audience,
            Audience::Many(list) => list.iter().any(|a| a == audience),
        }
    }
}

impl From<&str> for Audience {
    fn from(audience: &str) -> Self {
        Audience::One(audience.to_owned())
    }
}

impl From<String> for Audience {
    fn from(audience: String) -> Self {
        Audience::One(audience)
    }
}

impl From<Vec<String>> for Audience {
    fn from(list: Vec<String>) -> Self {
        Audience::Many(list)
    }
}

/// The `permissions` claim: MQTT topic filters, as strings, the holder may use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionClaims {
    /// Filters whose matching topic names the holder may publish to.
    #[serde(default)]
    pub publish: Vec<String>,
    /// Filters the holder may subscribe to (and any filter they cover).
    #[serde(default)]
    pub subscribe: Vec<String>,
}

impl PermissionClaims {
    /// Parse every filter and build [`Permissions`]; the error names the first invalid filter.
    pub fn to_permissions(&self) -> Result<Permissions, AuthError> {
        Ok(Permissions::new(
            parse_filters(&self.publish)?,
            parse_filters(&self.subscribe)?,
        ))
    }
}

fn parse_filters(filters: &[String]) -> Result<Vec<TopicFilter>, AuthError> {
    filters
        .iter()
        .map(|f| {
            TopicFilter::new(f.as_str()).map_err(|reason| AuthError::InvalidPermission {
                filter: f.clone(),
                reason,
            })
        })
        .collect()
}

/// A registered claim name, for [`Validator::require`](super::Validator::require) and
/// [`AuthError::MissingClaim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClaimName {
    /// `sub`
    Sub,
    /// `iat`
    Iat,
    /// `exp`
    Exp,
    /// `nbf`
    Nbf,
    /// `iss`
    Iss,
    /// `aud`
    Aud,
    /// `jti`
    Jti,
}

impl ClaimName {
    /// The claim's JSON name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ClaimName::Sub => "sub",
            ClaimName::Iat => "iat",
            ClaimName::Exp => "exp",
            ClaimName::Nbf => "nbf",
            ClaimName::Iss => "iss",
            ClaimName::Aud => "aud",
            ClaimName::Jti => "jti",
        }
    }

    /// The `'static` spelling of a claim name, `"unknown"` if it is not a registered one.
    pub(crate) fn static_name(name: &str) -> &'static str {
        const ALL: [ClaimName; 7] = [
            ClaimName::Sub,
            ClaimName::Iat,
            ClaimName::Exp,
            ClaimName::Nbf,
            ClaimName::Iss,
            ClaimName::Aud,
            ClaimName::Jti,
        ];
        ALL.iter()
            .map(|c| c.as_str())
            .find(|n| *n == name)
            .unwrap_or("unknown")
    }
}

impl fmt::Display for ClaimName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A NumericDate: non-negative integer seconds, or a finite non-negative fraction (truncated).
pub(crate) struct NumericDate(pub(crate) u64);

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = NumericDate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative number of seconds")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<NumericDate, E> {
                Ok(NumericDate(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<NumericDate, E> {
                u64::try_from(v)
                    .map(NumericDate)
                    .map_err(|_| E::custom("negative time"))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<NumericDate, E> {
                // [0, 2^64): NaN and infinities fall outside; `as` then truncates.
                if (0.0..18_446_744_073_709_551_616.0).contains(&v) {
                    Ok(NumericDate(v as u64))
                } else {
                    Err(E::custom("time out of range"))
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

fn de_date<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    NumericDate::deserialize(d).map(|n| n.0)
}

fn de_opt_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Option::<NumericDate>::deserialize(d).map(|o| o.map(|n| n.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_minimal_claims_with_defaults() {
        let c: Claims = serde_json::from_value(json!({"sub": "a", "iat": 1, "exp": 2})).unwrap();
        assert_eq!(c.sub, "a");
        assert_eq!((c.iat, c.exp, c.nbf), (1, 2, None));
        assert_eq!(c.permissions, PermissionClaims::default());
        assert_eq!(c.aud, None);
    }

    #[test]
    fn audience_is_string_or_list() {
        let one: Claims =
            serde_json::from_value(json!({"sub":"a","iat":1,"exp":2,"aud":"b"})).unwrap();
        assert_eq!(one.aud, Some(Audience::One("b".into())));
        let many: Claims =
            serde_json::from_value(json!({"sub":"a","iat":1,"exp":2,"aud":["b","c"]})).unwrap();
        assert!(many.aud.as_ref().unwrap().contains("c"));
        assert!(!many.aud.unwrap().contains("d"));
    }

    #[test]
    fn numeric_dates_accept_fractions_and_reject_negatives_and_strings() {
        let c: Claims =
            serde_json::from_value(json!({"sub":"a","iat":1.9,"exp":2e3,"nbf":null})).unwrap();
        assert_eq!((c.iat, c.exp, c.nbf), (1, 2000, None));
        for bad in [
            json!(-1),
            json!(-0.5),
            json!("10"),
            json!(1e30),
            json!(true),
        ] {
            let v = json!({"sub":"a","iat":1,"exp":bad});
            assert!(serde_json::from_value::<Claims>(v).is_err());
        }
    }

    #[test]
    fn serializes_without_absent_optionals() {
        let c = Claims {
            sub: "s".into(),
            iat: 1,
            exp: 2,
            nbf: None,
            iss: None,
            aud: None,
            jti: None,
            permissions: PermissionClaims::default(),
        };
        let v = serde_json::to_value(&c).unwrap();
        let obj = v.as_object().unwrap();
        assert!(!obj.contains_key("nbf") && !obj.contains_key("aud") && !obj.contains_key("jti"));
        assert_eq!(v["permissions"], json!({"publish": [], "subscribe": []}));
    }

    #[test]
    fn invalid_filter_error_names_the_filter() {
        let p = PermissionClaims {
            publish: vec!["ok/#".into(), String::new()],
            subscribe: vec![],
        };
        match p.to_permissions() {
            Err(AuthError::InvalidPermission { filter, .. }) => assert_eq!(filter, ""),
            other => panic!("expected InvalidPermission, got {other:?}"),
        }
        let ok = PermissionClaims {
            publish: vec!["a/b".into()],
            subscribe: vec!["a/#".into()],
        };
        assert!(ok.to_permissions().is_ok());
    }

    #[test]
    fn claim_names_round_trip_to_static_strings() {
        assert_eq!(ClaimName::static_name("exp"), "exp");
        assert_eq!(ClaimName::static_name("jti"), "jti");
        assert_eq!(ClaimName::static_name("nope"), "unknown");
        assert_eq!(ClaimName::Aud.to_string(), "aud");
    }
}
