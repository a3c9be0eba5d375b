//! Shared by the topic and permission property tests: a brute-force reference matcher written
//! independently of `core/src/topic.rs` (recursive on level vectors), a reference validator, and
//! generators of names and filters from a small alphabet of levels.
#![allow(dead_code)]

use proptest::prelude::*;

/// Splits off a `$share/{name}/` prefix the way MQTT 5 section 4.8.2 describes.
pub fn reference_inner(filter: &str) -> &str {
    match filter.strip_prefix("$share/") {
        Some(rest) => &rest[rest.find('/').expect("valid shared filter") + 1..],
        None => filter,
    }
}

fn match_levels(filter: &[&str], topic: &[&str]) -> bool {
    match filter.split_first() {
        None => topic.is_empty(),
        // `#` matches zero or more levels: try every split point.
        Some((&"#", rest)) => (0..=topic.len()).any(|k| match_levels(rest, &topic[k..])),
        Some((&"+", rest)) => !topic.is_empty() && match_levels(rest, &topic[1..]),
        Some((lit, rest)) => topic.first() == Some(lit) && match_levels(rest, &topic[1..]),
    }
}

/// The reference: does `filter` (possibly shared) match the topic name `topic`?
pub fn reference_matches(filter: &str, topic: &str) -> bool {
    let inner = reference_inner(filter);
    let f: Vec<&str> = inner.split('/').collect();
    let t: Vec<&str> = topic.split('/').collect();
    if topic.starts_with('$') && (f[0] == "+" || f[0] == "#") {
        return false;
    }
    match_levels(&f, &t)
}

/// The reference validity of a topic filter, level by level.
pub fn reference_filter_valid(filter: &str) -> bool {
    if filter.is_empty() || filter.len() > 65_535 || filter.contains('\0') {
        return false;
    }
    let inner = if let Some(rest) = filter.strip_prefix("$share/") {
        let Some(slash) = rest.find('/') else {
            return false;
        };
        let name = &rest[..slash];
        if name.is_empty() || name.contains('+') || name.contains('#') {
            return false;
        }
        &rest[slash + 1..]
    } else {
        filter
    };
    if inner.is_empty() {
        return false;
    }
    let levels: Vec<&str> = inner.split('/').collect();
    levels.iter().enumerate().all(|(i, l)| {
        if *l == "#" {
            i == levels.len() - 1
        } else {
            *l == "+" || (!l.contains('+') && !l.contains('#'))
        }
    })
}

/// The reference validity of a topic name.
pub fn reference_name_valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 65_535
        && !name.contains('\0')
        && !name.contains('+')
        && !name.contains('#')
}

/// Literal levels used to build names and filters: empty, plain, `$`-prefixed.
pub const LITERALS: &[&str] = &["", "a", "b", "$SYS"];

/// A level that no generated name or filter contains.
pub const FRESH: &str = "zz";

/// Topic names of 1..=4 levels from [`LITERALS`] (the single empty level "" is not a name).
pub fn topic_name() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(LITERALS), 1..=4)
        .prop_map(|l| l.join("/"))
        .prop_filter("a topic name is not empty", |s| !s.is_empty())
}

/// Filters of 1..=4 levels from [`LITERALS`] and `+`, with an optional trailing `#`, and
/// sometimes a `$share/g/` prefix.
pub fn topic_filter() -> impl Strategy<Value = String> {
    let level = prop::sample::select(vec!["", "a", "b", "$SYS", "+", "+"]);
    (
        prop::collection::vec(level, 0..=3),
        any::<bool>(),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(mut levels, hash, shared)| {
            if hash || levels.is_empty() {
                levels.push("#");
            }
            let f = levels.join("/");
            if shared {
                format!("$share/g/{f}")
            } else {
                f
            }
        })
        .prop_filter("a filter is not empty", |s| {
            !s.is_empty() && s != "$share/g/"
        })
}

/// Every valid topic name made of levels in `alphabet`, from 1 up to `max_depth` levels.
pub fn universe(alphabet: &[String], max_depth: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut frontier: Vec<String> = alphabet.to_vec();
    for depth in 1..=max_depth {
        out.extend(frontier.iter().filter(|t| !t.is_empty()).cloned());
        if depth == max_depth {
            break;
        }
        frontier = frontier
            .iter()
            .flat_map(|t| alphabet.iter().map(move |l| format!("{t}/{l}")))
            .collect();
    }
    out
}

/// The literal levels of some filters, plus [`FRESH`], `""` and a fresh `$` level.
pub fn alphabet_of<'a>(filters: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut alphabet: Vec<String> = vec![FRESH.into(), String::new(), "$zz".into()];
    for f in filters {
        for level in reference_inner(f).split('/') {
            if level != "+" && level != "#" && !alphabet.iter().any(|a| a == level) {
                alphabet.push(level.to_owned());
            }
        }
    }
    alphabet
}

/// The deepest filter among `filters`, in levels (without any `$share/g/` prefix).
pub fn depth_of<'a>(filters: impl IntoIterator<Item = &'a str>) -> usize {
    filters
        .into_iter()
        .map(|f| reference_inner(f).split('/').count())
        .max()
        .unwrap_or(1)
}
