//! Fuzz harness `topic`: topic validation, matching and "covers" agree with each other and with
//! a brute-force reference matcher, and never panic.
//!
//! Input: four strings separated by 0xFF bytes (not UTF-8, so never part of a string; other
//! invalid UTF-8 is replaced), `a\xFFb\xFFc\xFFt`, so that seeds and the dictionary are plain
//! topics. Asserts, for filters `a`, `b`, `c` and a topic name `t`:
//! - `TopicName::new` and `TopicName::validate` agree; a valid name has no wildcard or U+0000;
//! - a valid name is a valid filter that matches itself (unless it reads as `$share/...`), and a
//!   filter without wildcards matches exactly the name equal to it;
//! - `matches` equals a reference matcher written from the specification text;
//! - `covers` is reflexive and transitive, and sound: `a` covers `b` and `b` matches `t` implies
//!   `a` matches `t`;
//! - `Permissions` built from those filters allow exactly what `matches` and `covers` say.

use jamey_mqtt_core::permissions::Permissions;
use jamey_mqtt_core::topic::{TopicFilter, TopicName};

/// MQTT matching written straight from the specification (4.7), recursively on levels.
fn reference_matches(filter: &str, topic: &str) -> bool {
    fn go(f: &[&str], t: &[&str]) -> bool {
        match (f.first(), t.first()) {
            (Some(&"#"), _) => true,
            (Some(&"+"), Some(_)) => go(&f[1..], &t[1..]),
            (Some(fl), Some(tl)) => fl == tl && go(&f[1..], &t[1..]),
            (None, None) => true,
            _ => false,
        }
    }
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let f: Vec<&str> = filter.split('/').collect();
    let t: Vec<&str> = topic.split('/').collect();
    go(&f, &t)
}

pub fn run(data: &[u8]) {
    let mut strings: Vec<String> = data
        .split(|&b| b == 0xFF)
        .take(4)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    strings.resize(4, String::new());
    let t = &strings[3];

    let name = TopicName::new(t.as_str());
    assert_eq!(name.is_ok(), TopicName::validate(t).is_ok(), "{t:?}");
    if let Ok(name) = &name {
        assert!(!t.is_empty() && !t.contains(['+', '#', '\0']), "{t:?}");
        match TopicFilter::new(t.as_str()) {
            Ok(f) if !f.is_shared() => {
                assert!(
                    f.matches(name),
                    "name {t:?} as a filter does not match itself"
                );
                assert!(!f.has_wildcards());
            }
            Ok(_) => {}
            Err(e) => assert!(
                t.starts_with("$share/"),
                "valid name {t:?} is no filter: {e}"
            ),
        }
    }

    let filters: Vec<Option<TopicFilter>> = strings[..3]
        .iter()
        .map(|s| TopicFilter::new(s.as_str()).ok())
        .collect();
    for f in filters.iter().flatten() {
        assert!(f.covers(f), "{f} does not cover itself");
        if let Ok(name) = &name {
            let inner = f.inner_str();
            assert_eq!(
                f.matches(name),
                reference_matches(inner, name.as_str()),
                "{f} vs {name:?}"
            );
            if !f.has_wildcards() {
                assert_eq!(f.matches(name), inner == name.as_str(), "{f} vs {name:?}");
            }
            let perms = Permissions::new(vec![f.clone()], vec![f.clone()]);
            assert_eq!(perms.allows_publish(name), f.matches(name));
        }
    }
    for a in filters.iter().flatten() {
        for b in filters.iter().flatten() {
            let perms = Permissions::new(vec![a.clone()], vec![a.clone()]);
            assert_eq!(perms.allows_subscribe(b), a.covers(b));
            if !a.covers(b) {
                continue;
            }
            if let Ok(name) = &name {
                if b.matches(name) {
                    assert!(
                        a.matches(name),
                        "{a} covers {b}, {b} matches {t:?}, {a} does not"
                    );
                }
            }
            for c in filters.iter().flatten() {
                if b.covers(c) {
                    assert!(a.covers(c), "{a} covers {b} covers {c}, not transitive");
                }
            }
        }
    }
}
