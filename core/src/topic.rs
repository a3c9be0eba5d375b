//! Topic names and topic filters: this module owns their validation, MQTT matching and the
//! "filter A covers filter B" relation that permission checks are built on.
//!
//! The rules are exactly those of the MQTT specification, 3.1.1 section 4.7 and 5.0 sections
//! 4.7 and 4.8.2 (shared subscriptions):
//!
//! - a [`TopicName`] or [`TopicFilter`] is UTF-8 (a Rust string already is), at least one
//!   character and at most 65,535 bytes long, and never contains U+0000;
//! - a [`TopicName`] contains no `+` and no `#`;
//! - in a [`TopicFilter`], `+` occupies a whole level, `#` occupies a whole level and is the last
//!   level; empty levels (`a//b`, `/a`, `a/`) are legal in both;
//! - `+` matches exactly one level (an empty one too), `#` matches its parent level and any number
//!   of child levels (`sport/#` matches `sport`), and a filter whose first level is a wildcard
//!   never matches a topic name that starts with `$` (`#` does not match `$SYS/uptime`);
//! - a filter of the form `$share/{ShareName}/{filter}` is an MQTT 5 shared subscription: the
//!   share name is non-empty and contains no `/`, `+` or `#`, and a valid filter follows it.
//!   Matching and covering use that inner filter.
//!
//! Characters the specification says SHOULD NOT appear (the control characters U+0001..U+001F and
//! U+007F..U+009F, and Unicode non-characters such as U+FFFF) are accepted: only MUST rules are
//! enforced, so that every topic a conforming broker may deliver can be represented here.
//!
//! ```
//! use jamey_mqtt_core::topic::{TopicFilter, TopicName};
//!
//! let filter = TopicFilter::new("sport/+/player1/#")?;
//! assert!(filter.matches(&TopicName::new("sport/tennis/player1")?));
//! assert!(!TopicFilter::new("#")?.matches(&TopicName::new("$SYS/uptime")?));
//! assert!(TopicFilter::new("sport/#")?.covers(&filter));
//! assert_eq!(TopicFilter::new("$share/g/sport/#")?.inner_str(), "sport/#");
//! # Ok::<(), jamey_mqtt_core::topic::TopicError>(())
//! ```
//!
//! Nothing here allocates after construction: [`TopicFilter::matches`] runs once per incoming
//! message per subscription and only walks the two strings.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// The longest topic name or filter MQTT can encode: a two-byte length prefix.
pub const MAX_TOPIC_LEN: usize = 65_535;

/// The prefix that makes a topic filter an MQTT 5 shared subscription.
const SHARE_PREFIX: &str = "$share/";

/// Why a topic name or filter is not valid MQTT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// The string is empty; a topic name or filter has at least one character.
    #[error("topic is empty")]
    Empty,
    /// The string is longer than the 65,535 bytes MQTT can encode (the value is its length).
    #[error("topic is {0} bytes, more than the 65535 allowed")]
    TooLong(usize),
    /// The string contains U+0000, which MQTT forbids in every string.
    #[error("topic contains U+0000")]
    NullChar,
    /// A topic name contains `+` or `#`; wildcards are only allowed in filters.
    #[error("wildcard in a topic name")]
    WildcardInName,
    /// A filter uses `+` or `#` inside a level (`a+/b`, `sport#`) instead of as a whole level.
    #[error("wildcard '{0}' does not occupy a whole level")]
    WildcardNotWholeLevel(char),
    /// A filter has `#` before its last level (`#/a`).
    #[error("'#' is not the last level")]
    HashNotLast,
    /// A `$share/` filter whose share name is empty or contains `+` or `#` (or, given on its
    /// own to [`TopicFilter::shared`], `/`).
    #[error("shared subscription has an empty share name or one containing '/', '+' or '#'")]
    InvalidShareName,
    /// A `$share/{ShareName}` filter with no topic filter after the share name.
    #[error("shared subscription has no topic filter after the share name")]
    MissingSharedFilter,
}

/// Checks the rules names and filters share: length and U+0000.
fn check_common(s: &str) -> Result<(), TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty);
    }
    if s.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong(s.len()));
    }
    if s.as_bytes().contains(&0) {
        return Err(TopicError::NullChar);
    }
    Ok(())
}

/// The levels of a topic name or filter: the parts between `/` separators, empty ones included
/// (`/a/` has the three levels `""`, `"a"`, `""`).
#[derive(Debug, Clone)]
pub struct Levels<'a>(std::str::Split<'a, char>);

impl<'a> Iterator for Levels<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        self.0.next()
    }
}

impl<'a> DoubleEndedIterator for Levels<'a> {
    fn next_back(&mut self) -> Option<&'a str> {
        self.0.next_back()
    }
}

impl std::iter::FusedIterator for Levels<'_> {}

// ---------------------------------------------------------------------------------------------
// TopicName
// ---------------------------------------------------------------------------------------------

/// A valid MQTT topic name: what a PUBLISH is sent to. It has no wildcards.
///
/// Control characters (U+0001..U+001F, U+007F..U+009F) and Unicode non-characters are accepted:
/// the specification says they SHOULD NOT be used, not that they MUST NOT.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct TopicName(String);

impl TopicName {
    /// Validates `name` as a topic name: 1..=65,535 bytes, no U+0000, no `+` or `#`.
    pub fn new(name: impl Into<String>) -> Result<TopicName, TopicError> {
        let name = name.into();
        TopicName::validate(&name)?;
        Ok(TopicName(name))
    }

    /// The same checks as [`TopicName::new`], without taking ownership or allocating.
    pub fn validate(name: &str) -> Result<(), TopicError> {
        check_common(name)?;
        // A byte scan: `+` and `#` are single bytes in UTF-8 (the decoder calls this per message).
        if name.bytes().any(|b| b == b'+' || b == b'#') {
            return Err(TopicError::WildcardInName);
        }
        Ok(())
    }

    /// The topic name as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Gives back the owned string.
    pub fn into_string(self) -> String {
        self.0
    }

    /// Whether the name starts with `$` (`$SYS/...`): such topics are reserved for the broker
    /// and are not matched by filters that start with a wildcard.
    pub fn is_system(&self) -> bool {
        self.0.starts_with('$')
    }

    /// The levels of the name, empty ones included (`a//b` has three levels).
    pub fn levels(&self) -> Levels<'_> {
        Levels(self.0.split('/'))
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TopicName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for TopicName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for TopicName {
    type Error = TopicError;
    fn try_from(s: &str) -> Result<Self, TopicError> {
        TopicName::new(s)
    }
}

impl TryFrom<String> for TopicName {
    type Error = TopicError;
    fn try_from(s: String) -> Result<Self, TopicError> {
        TopicName::new(s)
    }
}

impl FromStr for TopicName {
    type Err = TopicError;
    fn from_str(s: &str) -> Result<Self, TopicError> {
        TopicName::new(s)
    }
}

impl From<TopicName> for String {
    fn from(t: TopicName) -> String {
        t.0
    }
}

impl serde::Serialize for TopicName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

// ---------------------------------------------------------------------------------------------
// TopicFilter
// ---------------------------------------------------------------------------------------------

/// A valid MQTT topic filter: what a SUBSCRIBE asks for. `+` and `#` are allowed as whole levels
/// (`#` only last), and `$share/{ShareName}/{filter}` is an MQTT 5 shared subscription.
///
/// Equality, ordering and hashing are those of the string as written ([`TopicFilter::as_str`]).
/// Control characters and Unicode non-characters are accepted, as for [`TopicName`].
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct TopicFilter {
    filter: String,
    /// Byte offset of the filter part: 0, or just past `$share/{ShareName}/`.
    inner_start: usize,
    /// Whether the filter part holds a wildcard level (else matching is string equality).
    wildcards: bool,
}

/// Validates the wildcard rules of a (non-shared) filter.
fn check_filter_levels(filter: &str) -> Result<(), TopicError> {
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        match level {
            "+" => {}
            "#" if levels.peek().is_none() => {}
            "#" => return Err(TopicError::HashNotLast),
            _ => {
                if let Some(c) = level.chars().find(|c| matches!(c, '+' | '#')) {
                    return Err(TopicError::WildcardNotWholeLevel(c));
                }
            }
        }
    }
    Ok(())
}

impl TopicFilter {
    /// Validates `filter` as a topic filter: 1..=65,535 bytes, no U+0000, wildcards as whole
    /// levels with `#` last, and for `$share/...` a valid share name followed by a filter.
    ///
    /// A filter that is just `$share` (no `/`) is an ordinary filter for the topic `$share`.
    pub fn new(filter: impl Into<String>) -> Result<TopicFilter, TopicError> {
        let filter = filter.into();
        check_common(&filter)?;
        let inner_start = match filter.strip_prefix(SHARE_PREFIX) {
            None => 0,
            Some(rest) => {
                let (name, inner) = match rest.split_once('/') {
                    Some(parts) => parts,
                    None => (rest, ""),
                };
                if name.is_empty() || name.contains(['+', '#']) {
                    return Err(TopicError::InvalidShareName);
                }
                if inner.is_empty() {
                    return Err(TopicError::MissingSharedFilter);
                }
                SHARE_PREFIX.len() + name.len() + 1
            }
        };
        let inner = &filter[inner_start..];
        check_filter_levels(inner)?;
        // The levels are valid: a `+` or `#` byte can only be a whole wildcard level.
        let wildcards = inner.contains(['+', '#']);
        Ok(TopicFilter {
            filter,
            inner_start,
            wildcards,
        })
    }

    /// The shared subscription `$share/{group}/{filter}`: `group` is checked on its own (not
    /// empty, no `/`, `+` or `#`), so a group with a `/` is an error rather than a different
    /// group and filter; `filter` must be a valid ordinary filter.
    ///
    /// ```
    /// use jamey_mqtt_core::topic::{TopicError, TopicFilter};
    /// let f = TopicFilter::shared("workers", "jobs/+").unwrap();
    /// assert_eq!((f.as_str(), f.share_name()), ("$share/workers/jobs/+", Some("workers")));
    /// assert_eq!(TopicFilter::shared("a/b", "jobs").unwrap_err(), TopicError::InvalidShareName);
    /// ```
    pub fn shared(group: &str, filter: &str) -> Result<TopicFilter, TopicError> {
        if group.is_empty() || group.contains(['/', '+', '#']) {
            return Err(TopicError::InvalidShareName);
        }
        if filter.is_empty() {
            return Err(TopicError::MissingSharedFilter);
        }
        check_common(group)?;
        TopicFilter::new(format!("{SHARE_PREFIX}{group}/{filter}"))
    }

    /// The filter as sent on the wire, with any `$share/{ShareName}/` prefix.
    pub fn as_str(&self) -> &str {
        &self.filter
    }

    /// Gives back the owned string, as written.
    pub fn into_string(self) -> String {
        self.filter
    }

    /// Whether this is an MQTT 5 shared subscription (`$share/{ShareName}/{filter}`).
    pub fn is_shared(&self) -> bool {
        self.inner_start != 0
    }

    /// The share name of a shared subscription, `None` for an ordinary filter.
    pub fn share_name(&self) -> Option<&str> {
        self.is_shared()
            .then(|| &self.filter[SHARE_PREFIX.len()..self.inner_start - 1])
    }

    /// The filter part that topics are matched against: the part after `$share/{ShareName}/`
    /// for a shared subscription, the whole filter otherwise. (It is a `&str`, not a
    /// [`TopicFilter`]: `$share/g/$share/h/x` is legal and its inner part `$share/h/x` is an
    /// ordinary filter here, whereas parsed on its own it would be a shared subscription.)
    pub fn inner_str(&self) -> &str {
        &self.filter[self.inner_start..]
    }

    /// The levels of the filter part ([`TopicFilter::inner_str`]), wildcards included.
    pub fn levels(&self) -> Levels<'_> {
        Levels(self.inner_str().split('/'))
    }

    /// Whether the filter part contains a `+` or `#` level.
    pub fn has_wildcards(&self) -> bool {
        self.wildcards
    }

    /// Whether this filter matches `topic` under MQTT rules: `+` is one level, `#` the parent
    /// level and any number of children, and a leading wildcard does not match a `$` topic.
    /// A shared subscription matches what its inner filter matches. Does not allocate.
    pub fn matches(&self, topic: &TopicName) -> bool {
        self.matches_str(topic.as_str())
    }

    /// [`TopicFilter::matches`] on a topic name already validated ([`TopicName::validate`]),
    /// without making a [`TopicName`] of it (no allocation: routing calls it per message).
    ///
    /// A filter without wildcards is compared as a string; one with wildcards is walked in one
    /// pass over the bytes, level by level (`/` is one byte in UTF-8, and a valid filter has
    /// its wildcards as whole levels, `#` last).
    pub fn matches_str(&self, topic: &str) -> bool {
        if !self.wildcards {
            // Without wildcards a filter matches exactly the topic it spells.
            return self.inner_str() == topic;
        }
        let filter = self.inner_str().as_bytes();
        let topic = topic.as_bytes();
        if topic.first() == Some(&b'$') && matches!(filter.first(), Some(b'+' | b'#')) {
            return false;
        }
        let (mut f, mut t) = (0, 0);
        loop {
            // Both at the start of a level.
            match filter.get(f) {
                Some(b'#') => return true,
                Some(b'+') => {
                    f += 1;
                    while t < topic.len() && topic[t] != b'/' {
                        t += 1;
                    }
                }
                _ => {
                    while f < filter.len() && filter[f] != b'/' {
                        if topic.get(t) != Some(&filter[f]) {
                            return false;
                        }
                        f += 1;
                        t += 1;
                    }
                    if t < topic.len() && topic[t] != b'/' {
                        return false;
                    }
                }
            }
            // Both at the end of a level: the end of the string or a `/`.
            match (f == filter.len(), t == topic.len()) {
                (true, true) => return true,
                (true, false) => return false,
                // `a/#` matches `a`: only a last `#` level matches no level at all.
                (false, true) => return &filter[f..] == b"/#",
                (false, false) => {
                    f += 1;
                    t += 1;
                }
            }
        }
    }

    /// Whether every topic name that `other` matches is also matched by `self`: the set
    /// inclusion of what the two filters match, exact (true only if no counterexample exists).
    ///
    /// Examples: `#` covers `a/+` but not `$SYS/#`; `a/#` covers `a` and `a/+/c`; `+/+` does not
    /// cover `+/#`; `+/#` and `#` cover each other; every filter covers itself. Shared
    /// subscriptions are compared by their inner filters. The relation is about the structure
    /// of levels and ignores the 65,535-byte limit on topic names, so it may answer `false`
    /// in contrived cases where only names longer than the limit tell the filters apart; a
    /// `true` is always right.
    pub fn covers(&self, other: &TopicFilter) -> bool {
        let a = self.inner_str();
        let b = other.inner_str();
        // `/#` would match its parent, the empty topic, which is not a valid topic name: so it
        // matches exactly the topics `/+/#` matches.
        let b = if b == "/#" { "/+/#" } else { b };
        // `other` starting with a `$` literal matches only `$` topics, which a leading wildcard
        // never matches.
        if b.starts_with('$') && a.starts_with(['+', '#']) {
            return false;
        }
        let mut a_levels = a.split('/');
        let mut b_levels = b.split('/');
        let mut first = true;
        loop {
            match (a_levels.next(), b_levels.next()) {
                // `#` in `self` matches whatever remains of `other`'s topics.
                (Some("#"), _) => return true,
                // At the top level, `other == "#"` matches every topic of one level or more
                // (none starting with `$`): only `+/#` (besides `#`) matches all of those.
                (Some("+"), Some("#")) if first => {
                    return a_levels.next() == Some("#");
                }
                // Otherwise `other`'s `#` matches topics ending here and longer ones with any
                // next level, which a literal, a `+` or the end of `self` cannot all match.
                (_, Some("#")) => return false,
                (Some("+"), Some(_)) => {}
                // A literal in `self` covers only the same literal (a `+` matches others).
                (Some(al), Some(bl)) if al == bl => {}
                (None, None) => return true,
                _ => return false,
            }
            first = false;
        }
    }
}

impl PartialEq for TopicFilter {
    fn eq(&self, other: &Self) -> bool {
        self.filter == other.filter
    }
}

impl Eq for TopicFilter {}

impl Hash for TopicFilter {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.filter.hash(state)
    }
}

impl PartialOrd for TopicFilter {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TopicFilter {
    fn cmp(&self, other: &Self) -> Ordering {
        self.filter.cmp(&other.filter)
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.filter)
    }
}

impl AsRef<str> for TopicFilter {
    fn as_ref(&self) -> &str {
        &self.filter
    }
}

impl TryFrom<&str> for TopicFilter {
    type Error = TopicError;
    fn try_from(s: &str) -> Result<Self, TopicError> {
        TopicFilter::new(s)
    }
}

impl TryFrom<String> for TopicFilter {
    type Error = TopicError;
    fn try_from(s: String) -> Result<Self, TopicError> {
        TopicFilter::new(s)
    }
}

impl FromStr for TopicFilter {
    type Err = TopicError;
    fn from_str(s: &str) -> Result<Self, TopicError> {
        TopicFilter::new(s)
    }
}

impl From<TopicFilter> for String {
    fn from(t: TopicFilter) -> String {
        t.filter
    }
}

impl serde::Serialize for TopicFilter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.filter)
    }
}
