//! [`SharedStr`]: an immutable UTF-8 string that shares the buffer it was read from, the way
//! `Bytes` shares it for a payload. A received message's topic is one: reading a PUBLISH
//! copies and allocates nothing for it.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use bytes::Bytes;
use bytestring::ByteString;

/// An immutable UTF-8 string sharing the memory it was read into (a received
/// [`Message::topic`](crate::Message::topic)). Reads as a `&str` (`Deref`, [`as_str`]);
/// cloning it copies nothing; [`String::from`] makes an owned copy.
///
/// [`as_str`]: SharedStr::as_str
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct SharedStr(ByteString);

impl SharedStr {
    /// An empty string.
    pub const fn new() -> SharedStr {
        SharedStr(ByteString::new())
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The bytes it shares, if they are valid UTF-8.
    pub(crate) fn from_utf8(bytes: Bytes) -> Option<SharedStr> {
        ByteString::try_from(bytes).ok().map(SharedStr)
    }
}

impl Deref for SharedStr {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SharedStr {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for SharedStr {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl Hash for SharedStr {
    // As `str` hashes, so that `Borrow<str>` lookups work.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Debug for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

/// Takes the string's buffer without a copy (an allocation only when it has spare capacity).
impl From<String> for SharedStr {
    fn from(s: String) -> SharedStr {
        SharedStr(ByteString::from(s))
    }
}

impl From<&str> for SharedStr {
    fn from(s: &str) -> SharedStr {
        SharedStr(ByteString::from(s))
    }
}

impl From<SharedStr> for String {
    fn from(s: SharedStr) -> String {
        String::from(s.0)
    }
}

impl PartialEq<str> for SharedStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for SharedStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for SharedStr {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<SharedStr> for str {
    fn eq(&self, other: &SharedStr) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<SharedStr> for &str {
    fn eq(&self, other: &SharedStr) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<SharedStr> for String {
    fn eq(&self, other: &SharedStr) -> bool {
        self.as_str() == other.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_compares_and_hashes_as_the_str() {
        use std::collections::HashSet;
        let shared = SharedStr::from_utf8(Bytes::from_static(b"a/b")).unwrap();
        assert_eq!(shared, "a/b");
        assert_eq!("a/b", shared);
        assert_eq!(shared, String::from("a/b"));
        assert_eq!(shared.as_str(), "a/b");
        assert_eq!(format!("{shared} {shared:?}"), "a/b \"a/b\"");
        let set: HashSet<SharedStr> = [shared.clone()].into();
        assert!(set.contains("a/b"));
        assert_eq!(String::from(shared), "a/b");
        assert!(SharedStr::from_utf8(Bytes::from_static(b"\xff")).is_none());
    }
}
