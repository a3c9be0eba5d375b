//! Property tests: `matches`, `covers` and validation against independent brute-force
//! references (see `topic_support`).

mod topic_support;

use jamey_mqtt_core::topic::{TopicFilter, TopicName};
use proptest::prelude::*;
use topic_support::*;

/// Strings from an alphabet that hits every validation rule: separators, wildcards in and out
/// of levels, `$`, `$share/`, U+0000, control and multi-byte characters.
fn hostile_string() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "/", "+", "#", "a", "$", "$share/", "$share", "\0", "\u{1}", "é", "", " ", "$SYS",
    ]);
    prop::collection::vec(piece, 0..8).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn matches_agrees_with_reference(filter in topic_filter(), name in topic_name()) {
        let f = TopicFilter::new(filter.as_str()).unwrap();
        let t = TopicName::new(name.as_str()).unwrap();
        prop_assert_eq!(f.matches(&t), reference_matches(&filter, &name), "{} vs {}", filter, name);
    }

    #[test]
    fn covers_is_exact_on_brute_force_universe(a in topic_filter(), b in topic_filter()) {
        let fa = TopicFilter::new(a.as_str()).unwrap();
        let fb = TopicFilter::new(b.as_str()).unwrap();
        let alphabet = alphabet_of([a.as_str(), b.as_str()]);
        let topics = universe(&alphabet, depth_of([a.as_str(), b.as_str()]) + 1);
        let counterexample = topics
            .iter()
            .find(|t| reference_matches(&b, t) && !reference_matches(&a, t));
        prop_assert_eq!(
            fa.covers(&fb),
            counterexample.is_none(),
            "covers({}, {}); counterexample: {:?}", a, b, counterexample
        );
    }

    #[test]
    fn covers_is_reflexive_and_transitive(a in topic_filter(), b in topic_filter(), c in topic_filter()) {
        let (fa, fb, fc) = (
            TopicFilter::new(a).unwrap(),
            TopicFilter::new(b).unwrap(),
            TopicFilter::new(c).unwrap(),
        );
        prop_assert!(fa.covers(&fa));
        if fa.covers(&fb) && fb.covers(&fc) {
            prop_assert!(fa.covers(&fc), "{} covers {} covers {}", fa, fb, fc);
        }
    }

    #[test]
    fn filter_validation_agrees_with_reference_and_never_panics(s in hostile_string()) {
        let parsed = TopicFilter::new(s.as_str());
        prop_assert_eq!(parsed.is_ok(), reference_filter_valid(&s), "{:?} -> {:?}", s, parsed);
        if let Ok(f) = parsed {
            prop_assert_eq!(f.as_str(), s.as_str());
            prop_assert!(f.covers(&f));
            // Round trip through the wire form keeps the meaning.
            prop_assert_eq!(TopicFilter::new(f.to_string()).unwrap(), f);
        }
    }

    #[test]
    fn name_validation_agrees_with_reference_and_never_panics(s in hostile_string()) {
        let parsed = TopicName::new(s.as_str());
        prop_assert_eq!(parsed.is_ok(), reference_name_valid(&s), "{:?} -> {:?}", s, parsed);
        if let Ok(t) = parsed {
            prop_assert_eq!(t.levels().count(), s.split('/').count());
            prop_assert_eq!(t.is_system(), s.starts_with('$'));
        }
    }

    #[test]
    fn hostile_filter_matches_hostile_name_like_reference(f in hostile_string(), t in hostile_string()) {
        if let (Ok(filter), Ok(name)) = (TopicFilter::new(f.as_str()), TopicName::new(t.as_str())) {
            prop_assert_eq!(filter.matches(&name), reference_matches(&f, &t));
        }
    }

    #[test]
    fn arbitrary_unicode_never_panics(s in any::<String>()) {
        let name = TopicName::new(s.as_str());
        let filter = TopicFilter::new(s.as_str());
        prop_assert_eq!(name.is_ok(), reference_name_valid(&s));
        prop_assert_eq!(filter.is_ok(), reference_filter_valid(&s));
        if let (Ok(n), Ok(f)) = (name, filter) {
            prop_assert!(f.matches(&n) || f.is_shared());
        }
    }
}
