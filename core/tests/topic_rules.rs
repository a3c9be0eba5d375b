//! The rules of MQTT 3.1.1 / 5.0 section 4.7 (and 4.8.2 for shared subscriptions), checked
//! with the specification's own examples, plus hostile input and the convenience API.

use jamey_mqtt_core::topic::{TopicError, TopicFilter, TopicName, MAX_TOPIC_LEN};

fn name(s: &str) -> TopicName {
    TopicName::new(s).unwrap_or_else(|e| panic!("{s:?} should be a valid name: {e}"))
}

fn filter(s: &str) -> TopicFilter {
    TopicFilter::new(s).unwrap_or_else(|e| panic!("{s:?} should be a valid filter: {e}"))
}

fn matches(f: &str, t: &str) -> bool {
    filter(f).matches(&name(t))
}

fn covers(a: &str, b: &str) -> bool {
    filter(a).covers(&filter(b))
}

// ----- validation ------------------------------------------------------------------------

#[test]
fn spec_valid_filters_are_accepted() {
    for f in [
        "#",
        "sport/tennis/#",
        "+",
        "+/tennis/#",
        "sport/+/player1",
        "/",
        "/finance",
        "a//b",
        "a/",
        "+/+",
        "/+",
        "Accounts payable",
        "$SYS/#",
        "$SYS/monitor/+",
        "$share",
    ] {
        assert_eq!(filter(f).as_str(), f);
    }
}

#[test]
fn spec_invalid_filters_are_typed_errors() {
    let cases = [
        ("sport/tennis#", TopicError::WildcardNotWholeLevel('#')),
        ("sport/tennis/#/ranking", TopicError::HashNotLast),
        ("sport+", TopicError::WildcardNotWholeLevel('+')),
        ("a+/b", TopicError::WildcardNotWholeLevel('+')),
        ("#/a", TopicError::HashNotLast),
        ("#/", TopicError::HashNotLast),
        ("a/#/", TopicError::HashNotLast),
        ("++", TopicError::WildcardNotWholeLevel('+')),
        ("##", TopicError::WildcardNotWholeLevel('#')),
        ("", TopicError::Empty),
        ("a/\0", TopicError::NullChar),
    ];
    for (f, err) in cases {
        assert_eq!(TopicFilter::new(f), Err(err), "{f:?}");
    }
}

#[test]
fn names_accept_empty_levels_and_reject_wildcards_anywhere() {
    for n in [
        "/",
        "/finance",
        "a//b",
        "a/",
        "//",
        "$SYS/uptime",
        "Accounts payable",
    ] {
        assert_eq!(name(n).as_str(), n);
    }
    for n in ["+", "#", "a/+", "a/#", "a+b", "sport/tennis#", "+/x"] {
        assert_eq!(TopicName::new(n), Err(TopicError::WildcardInName), "{n:?}");
    }
    assert_eq!(TopicName::new(""), Err(TopicError::Empty));
    assert_eq!(TopicName::new("a\0b"), Err(TopicError::NullChar));
    assert_eq!(TopicName::new("\0"), Err(TopicError::NullChar));
}

#[test]
fn length_limit_is_65535_bytes_not_characters() {
    let max = "a".repeat(MAX_TOPIC_LEN);
    assert_eq!(name(&max).as_str().len(), 65_535);
    assert_eq!(filter(&max).as_str().len(), 65_535);
    let over = "a".repeat(MAX_TOPIC_LEN + 1);
    assert_eq!(
        TopicName::new(over.as_str()),
        Err(TopicError::TooLong(65_536))
    );
    assert_eq!(TopicFilter::new(over), Err(TopicError::TooLong(65_536)));
    // 32,768 two-byte characters: fewer than 65,535 characters but 65,536 bytes.
    let wide = "é".repeat(32_768);
    assert_eq!(TopicName::new(wide), Err(TopicError::TooLong(65_536)));
    // A maximal filter made of wildcards only.
    let pluses = ["+"; 32_768].join("/");
    assert_eq!(pluses.len(), 65_535);
    assert!(filter(&pluses).matches(&name(&"/".repeat(32_767))));
}

#[test]
fn should_not_characters_are_accepted() {
    // Control characters and non-characters are SHOULD NOT in the spec, not MUST NOT.
    for s in [
        "a\u{1}b",
        "\u{1f}",
        "\u{7f}",
        "x/\u{9f}",
        "\u{ffff}",
        "\u{feff}bom",
    ] {
        assert_eq!(name(s).as_str(), s);
        assert_eq!(filter(s).as_str(), s);
        assert!(matches(s, s));
    }
}

#[test]
fn topics_are_case_sensitive_and_spaces_are_literal() {
    assert!(!matches("ACCOUNTS", "Accounts"));
    assert!(matches("Accounts payable", "Accounts payable"));
    assert!(!matches("/finance", "finance"));
    assert!(!matches("finance", "/finance"));
}

// ----- matching --------------------------------------------------------------------------

#[test]
fn multi_level_wildcard_matches_parent_and_all_children() {
    let f = "sport/tennis/player1/#";
    assert!(matches(f, "sport/tennis/player1"));
    assert!(matches(f, "sport/tennis/player1/ranking"));
    assert!(matches(f, "sport/tennis/player1/score/wimbledon"));
    assert!(matches(f, "sport/tennis/player1/"));
    assert!(!matches(f, "sport/tennis/player2"));
    assert!(!matches(f, "sport/tennis"));
    assert!(matches("sport/#", "sport"));
    assert!(matches("#", "sport/tennis/player1"));
    assert!(matches("#", "/"));
}

#[test]
fn single_level_wildcard_matches_exactly_one_level() {
    assert!(matches("sport/tennis/+", "sport/tennis/player1"));
    assert!(matches("sport/tennis/+", "sport/tennis/player2"));
    assert!(!matches("sport/tennis/+", "sport/tennis/player1/ranking"));
    assert!(!matches("sport/+", "sport"));
    assert!(matches("sport/+", "sport/"));
    assert!(matches("sport/+/player1", "sport/tennis/player1"));
    assert!(matches("+/tennis/#", "sport/tennis"));
}

#[test]
fn single_level_wildcard_matches_empty_levels() {
    assert!(matches("+/+", "/finance"));
    assert!(matches("/+", "/finance"));
    assert!(!matches("+", "/finance"));
    assert!(matches("+", "finance"));
    assert!(matches("+/+", "/"));
    assert!(matches("a/+/b", "a//b"));
    assert!(!matches("a/+/b", "a/b"));
    assert!(matches("a//b", "a//b"));
    assert!(!matches("a//b", "a/b"));
}

#[test]
fn dollar_topics_are_not_matched_by_leading_wildcards() {
    assert!(!matches("#", "$SYS/monitor/Clients"));
    assert!(!matches("+/monitor/Clients", "$SYS/monitor/Clients"));
    assert!(!matches("+", "$SYS"));
    assert!(!matches("#", "$"));
    assert!(matches("$SYS/#", "$SYS/monitor/Clients"));
    assert!(matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
    assert!(matches("$SYS/#", "$SYS"));
    // Only the first character counts: `$` deeper in the topic is an ordinary character.
    assert!(matches("#", "a/$SYS"));
    assert!(matches("+/+", "a/$b"));
    assert!(name("$SYS/x").is_system());
    assert!(!name("a/$SYS").is_system());
}

// ----- shared subscriptions --------------------------------------------------------------

#[test]
fn shared_subscriptions_expose_share_name_and_inner_filter() {
    let f = filter("$share/consumer1/sport/tennis/+");
    assert!(f.is_shared());
    assert_eq!(f.share_name(), Some("consumer1"));
    assert_eq!(f.inner_str(), "sport/tennis/+");
    assert_eq!(f.as_str(), "$share/consumer1/sport/tennis/+");
    assert_eq!(f.levels().collect::<Vec<_>>(), ["sport", "tennis", "+"]);

    // Spec example: the inner filter of `$share/consumer1//finance` is `/finance`.
    let g = filter("$share/consumer1//finance");
    assert_eq!(g.inner_str(), "/finance");
    assert!(g.matches(&name("/finance")));
    assert!(!g.matches(&name("finance")));

    let plain = filter("sport/#");
    assert!(!plain.is_shared());
    assert_eq!(plain.share_name(), None);
    assert_eq!(plain.inner_str(), "sport/#");
}

#[test]
fn shared_subscriptions_match_by_inner_filter() {
    assert!(matches("$share/g/sport/tennis/+", "sport/tennis/player1"));
    assert!(!matches(
        "$share/g/sport/tennis/+",
        "$share/g/sport/tennis/player1"
    ));
    assert!(matches("$share/g/#", "anything/at/all"));
    // The `$` rule applies to the inner filter.
    assert!(!matches("$share/g/#", "$SYS/uptime"));
    assert!(matches("$share/g/$SYS/#", "$SYS/uptime"));
    // A plain filter naming `$share/...` does not exist: it is always a shared subscription.
    assert!(!matches("$share/g/x", "$share/g/x"));
}

#[test]
fn bad_shared_subscriptions_are_typed_errors() {
    let cases = [
        ("$share/", TopicError::InvalidShareName),
        ("$share//sport", TopicError::InvalidShareName),
        ("$share/a+b/sport", TopicError::InvalidShareName),
        ("$share/+/sport", TopicError::InvalidShareName),
        ("$share/#/sport", TopicError::InvalidShareName),
        ("$share/#", TopicError::InvalidShareName),
        ("$share/group", TopicError::MissingSharedFilter),
        ("$share/group/", TopicError::MissingSharedFilter),
        ("$share/group/a/#/b", TopicError::HashNotLast),
        ("$share/group/a+", TopicError::WildcardNotWholeLevel('+')),
    ];
    for (f, err) in cases {
        assert_eq!(TopicFilter::new(f), Err(err), "{f:?}");
    }
    // As a topic name `$share/...` is just a (server-reserved) name.
    assert!(name("$share/group/x").is_system());
}

// ----- covers ----------------------------------------------------------------------------

#[test]
fn covers_examples() {
    assert!(covers("#", "a/+"));
    assert!(covers("#", "#"));
    assert!(!covers("#", "$SYS/#"));
    assert!(!covers("#", "$SYS"));
    assert!(!covers("+/#", "$SYS/x"));
    assert!(covers("$SYS/#", "$SYS/+/x"));
    assert!(covers("a/#", "a"));
    assert!(covers("a/#", "a/+/c"));
    assert!(covers("a/#", "a/#"));
    assert!(!covers("a/#", "#"));
    assert!(!covers("a/#", "b"));
    assert!(!covers("+/+", "+/#"));
    assert!(covers("+/#", "+/+"));
    assert!(covers("a/+", "a/b"));
    assert!(!covers("a/b", "a/+"));
    assert!(!covers("a/+", "a"));
    assert!(!covers("a/+", "a/#"));
    assert!(covers("sensors/#", "sensors/+/temp"));
    assert!(!covers("sensors/+/temp", "sensors/#"));
}

#[test]
fn covers_treats_top_level_hash_like_plus_hash() {
    // Both match every topic of one level or more that does not start with `$`.
    assert!(covers("+/#", "#"));
    assert!(covers("#", "+/#"));
    assert!(!covers("+", "#"));
    assert!(!covers("+/+/#", "#"));
    // Below the top level `#` also matches the parent, which `+/#` does not.
    assert!(!covers("a/+/#", "a/#"));
}

#[test]
fn covers_with_empty_levels() {
    assert!(covers("+", "+"));
    assert!(covers("/+", "/"));
    assert!(covers("+/+", "/"));
    assert!(!covers("/", "+/+"));
    assert!(covers("a/+/b", "a//b"));
    assert!(!covers("a//b", "a/+/b"));
    assert!(!covers("a/", "a/+"));
    assert!(covers("a/#", "a/"));
}

#[test]
fn every_filter_covers_itself() {
    for f in [
        "#",
        "+",
        "/",
        "a//b",
        "+/#",
        "$SYS/#",
        "sport/+/player1",
        "$share/g/a/#",
    ] {
        assert!(covers(f, f), "{f}");
    }
}

#[test]
fn covers_compares_inner_filters_of_shared_subscriptions() {
    assert!(covers("sensors/#", "$share/g/sensors/+/temp"));
    assert!(covers("$share/g/sensors/#", "sensors/+/temp"));
    assert!(covers("$share/g/#", "$share/h/a/b"));
    assert!(!covers("$share/g/a/+", "$share/g/a/#"));
    assert!(!covers("#", "$share/g/$SYS/#"));
}

// ----- convenience API -------------------------------------------------------------------

#[test]
fn levels_iterate_including_empty_levels() {
    assert_eq!(
        name("/a//b/").levels().collect::<Vec<_>>(),
        ["", "a", "", "b", ""]
    );
    assert_eq!(name("a").levels().collect::<Vec<_>>(), ["a"]);
    assert_eq!(
        filter("+/a/#").levels().rev().collect::<Vec<_>>(),
        ["#", "a", "+"]
    );
    assert!(filter("a/+/b").has_wildcards());
    assert!(!filter("a/b").has_wildcards());
}

#[test]
fn conversions_and_display_round_trip() {
    let n: TopicName = "a/b".try_into().unwrap();
    assert_eq!(n.to_string(), "a/b");
    assert_eq!("a/+".parse::<TopicFilter>().unwrap().to_string(), "a/+");
    assert_eq!(TopicName::try_from("a/#"), Err(TopicError::WildcardInName));
    assert_eq!(
        TopicFilter::try_from(String::from("#/a")),
        Err(TopicError::HashNotLast)
    );
    assert_eq!(String::from(filter("$share/g/x")), "$share/g/x");
    assert_eq!(name("x").into_string(), "x");
    // Lookup by &str in a map keyed by names.
    let set: std::collections::HashSet<TopicName> = [name("a/b")].into();
    assert!(set.contains("a/b"));
    // Filters compare by their text.
    assert_eq!(filter("a/+"), filter("a/+"));
    assert_ne!(filter("$share/g/a"), filter("$share/h/a"));
}

#[test]
fn serde_uses_plain_strings_and_validates_on_deserialize() {
    assert_eq!(serde_json::to_string(&name("a/b")).unwrap(), r#""a/b""#);
    assert_eq!(
        serde_json::to_string(&filter("$share/g/a/#")).unwrap(),
        r#""$share/g/a/#""#
    );
    let f: TopicFilter = serde_json::from_str(r#""$share/g/a/+""#).unwrap();
    assert_eq!(f.share_name(), Some("g"));
    assert_eq!(
        serde_json::from_str::<TopicName>(r#""a/b""#).unwrap(),
        name("a/b")
    );
    let bad_name = serde_json::from_str::<TopicName>(r##""a/#""##).unwrap_err();
    assert!(bad_name.to_string().contains("wildcard"), "{bad_name}");
    assert!(serde_json::from_str::<TopicFilter>(r##""#/a""##).is_err());
    assert!(serde_json::from_str::<TopicFilter>(r#""$share//a""#).is_err());
    assert!(serde_json::from_str::<TopicName>(r#""""#).is_err());
}

#[test]
fn slash_hash_matches_no_empty_parent_so_two_level_wildcards_cover_it() {
    let f = |s: &str| TopicFilter::new(s).unwrap();
    // "/#" would match its parent "", which is not a valid topic name.
    assert!(f("+/+/#").covers(&f("/#")));
    assert!(f("/+/#").covers(&f("/#")));
    assert!(f("/#").covers(&f("/+/#")));
    assert!(!f("+/+/+").covers(&f("/#")));
}
