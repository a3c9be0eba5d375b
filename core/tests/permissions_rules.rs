//! Permission checks: publish by matching, subscribe by covering, `$` topics only by explicit
//! grant, `allow_all` as a real "everything", typed denials; plus property tests of soundness
//! against the brute-force reference in `topic_support`.

mod topic_support;

use jamey_mqtt_core::error::ClientError;
use jamey_mqtt_core::permissions::{Action, Denied, Permissions};
use jamey_mqtt_core::topic::{TopicError, TopicFilter, TopicName};
use proptest::prelude::*;
use topic_support::*;

fn name(s: &str) -> TopicName {
    TopicName::new(s).unwrap()
}

fn filter(s: &str) -> TopicFilter {
    TopicFilter::new(s).unwrap()
}

fn perms(publish: &[&str], subscribe: &[&str]) -> Permissions {
    Permissions::from_strings(publish, subscribe).unwrap()
}

#[test]
fn publish_is_allowed_when_a_grant_matches() {
    let p = perms(&["sensors/+/temp", "cmd/#"], &[]);
    assert!(p.allows_publish(&name("sensors/kitchen/temp")));
    assert!(p.allows_publish(&name("cmd")));
    assert!(p.allows_publish(&name("cmd/reboot/now")));
    assert!(!p.allows_publish(&name("sensors/kitchen/humidity")));
    assert!(!p.allows_publish(&name("sensors/temp")));
    assert!(!p.allows_publish(&name("other")));
}

#[test]
fn subscribe_is_allowed_only_when_a_grant_covers_the_filter() {
    let p = perms(&[], &["sensors/#"]);
    assert!(p.allows_subscribe(&filter("sensors/+/temp")));
    assert!(p.allows_subscribe(&filter("sensors")));
    assert!(p.allows_subscribe(&filter("sensors/#")));
    assert!(!p.allows_subscribe(&filter("#")));
    assert!(!p.allows_subscribe(&filter("+/temp")));

    let narrow = perms(&[], &["sensors/+/temp"]);
    assert!(narrow.allows_subscribe(&filter("sensors/kitchen/temp")));
    assert!(narrow.allows_subscribe(&filter("sensors/+/temp")));
    assert!(!narrow.allows_subscribe(&filter("sensors/#")));
    assert!(!narrow.allows_subscribe(&filter("sensors/+/+")));
}

#[test]
fn receive_is_allowed_when_a_subscribe_grant_matches_the_topic() {
    let p = perms(&["out/#"], &["sensors/+/temp", "cmd/#"]);
    assert!(p.allows_receive(&name("sensors/kitchen/temp")));
    assert!(p.allows_receive(&name("cmd/reboot")));
    assert!(!p.allows_receive(&name("sensors/kitchen/humidity")));
    assert!(
        !p.allows_receive(&name("out/x")),
        "publish grants do not count"
    );
    assert!(!perms(&[], &["#"]).allows_receive(&name("$SYS/uptime")));
    assert!(Permissions::allow_all().allows_receive(&name("$SYS/uptime")));
}

#[test]
fn dollar_topics_need_an_explicit_grant() {
    let p = perms(&["#"], &["#", "+/#"]);
    assert!(p.allows_publish(&name("a/b")));
    assert!(!p.allows_publish(&name("$SYS/x")));
    assert!(!p.allows_subscribe(&filter("$SYS/#")));
    assert!(!p.allows_subscribe(&filter("$SYS/broker/uptime")));
    assert!(p.allows_subscribe(&filter("#")));

    let sys = perms(&["$SYS/#"], &["$SYS/#"]);
    assert!(sys.allows_publish(&name("$SYS/x")));
    assert!(sys.allows_subscribe(&filter("$SYS/broker/+")));
    assert!(!sys.allows_publish(&name("a")));
    assert!(!sys.allows_subscribe(&filter("#")));
}

#[test]
fn allow_all_allows_everything_including_dollar_topics() {
    for p in [Permissions::allow_all(), Permissions::default()] {
        assert!(p.allows_publish(&name("$SYS/x")));
        assert!(p.allows_publish(&name("a/b")));
        assert!(p.allows_subscribe(&filter("#")));
        assert!(p.allows_subscribe(&filter("$SYS/#")));
        assert!(p.allows_subscribe(&filter("$share/g/$SYS/#")));
        assert_eq!(p.publish_filters(), None);
        assert_eq!(p.subscribe_filters(), None);
    }
}

#[test]
fn deny_all_and_empty_lists_allow_nothing() {
    let empty: [&str; 0] = [];
    for p in [Permissions::deny_all(), perms(&empty, &empty)] {
        assert!(!p.allows_publish(&name("a")));
        assert!(!p.allows_subscribe(&filter("a")));
        assert_eq!(p.publish_filters(), Some(&[][..]));
    }
}

#[test]
fn from_strings_parses_filters_and_reports_the_first_bad_one() {
    let p = Permissions::from_strings(&["a/+".to_string()], &["b/#".to_string()]).unwrap();
    assert_eq!(p.publish_filters(), Some(&[filter("a/+")][..]));
    assert_eq!(p.subscribe_filters(), Some(&[filter("b/#")][..]));
    assert_eq!(
        Permissions::from_strings(&["ok", "#/bad"], &["x"]),
        Err(TopicError::HashNotLast)
    );
    assert_eq!(
        Permissions::from_strings(&["ok"], &["", "x"]),
        Err(TopicError::Empty)
    );
    assert_eq!(
        Permissions::from_strings(&["ok"], &["$share//x"]),
        Err(TopicError::InvalidShareName)
    );
}

#[test]
fn shared_subscriptions_are_checked_by_inner_filter() {
    let p = perms(&[], &["sensors/#"]);
    assert!(p.allows_subscribe(&filter("$share/workers/sensors/+/temp")));
    assert!(!p.allows_subscribe(&filter("$share/workers/#")));
    let shared_grant = perms(&[], &["$share/workers/sensors/#"]);
    assert!(shared_grant.allows_subscribe(&filter("sensors/a")));
}

#[test]
fn checks_return_typed_denials_the_client_can_surface() {
    let p = perms(&["a/#"], &["a/#"]);
    assert_eq!(p.check_publish(&name("a/b")), Ok(()));
    assert_eq!(p.check_subscribe(&filter("a/+")), Ok(()));

    let denied = p.check_publish(&name("b")).unwrap_err();
    assert_eq!(
        denied,
        Denied {
            action: Action::Publish,
            topic: "b".into()
        }
    );
    assert_eq!(denied.to_string(), r#"permission denied: publish on "b""#);

    let denied = p.check_subscribe(&filter("$share/g/#")).unwrap_err();
    assert_eq!(denied.action, Action::Subscribe);
    assert_eq!(denied.topic, "$share/g/#");
    assert_eq!(
        ClientError::from(denied),
        ClientError::PermissionDenied {
            action: Action::Subscribe,
            topic: "$share/g/#".into()
        }
    );
}

fn grants() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(topic_filter(), 0..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn publish_allowed_exactly_when_some_grant_matches(g in grants(), t in topic_name()) {
        let p = Permissions::from_strings(&g, &[] as &[&str]).unwrap();
        let expected = g.iter().any(|f| reference_matches(f, &t));
        prop_assert_eq!(p.allows_publish(&name(&t)), expected);
        prop_assert_eq!(p.check_publish(&name(&t)).is_ok(), expected);
    }

    #[test]
    fn allowed_subscription_never_delivers_an_ungranted_topic(g in grants(), f in topic_filter()) {
        let p = Permissions::from_strings(&[] as &[&str], &g).unwrap();
        let allowed = p.allows_subscribe(&filter(&f));
        prop_assert_eq!(p.check_subscribe(&filter(&f)).is_ok(), allowed);
        // A subscription equal to a grant is always allowed.
        prop_assert!(g.iter().all(|x| p.allows_subscribe(&filter(x))));
        if allowed {
            let all: Vec<&str> = g.iter().map(String::as_str).chain([f.as_str()]).collect();
            let topics = universe(&alphabet_of(all.iter().copied()), depth_of(all.iter().copied()) + 1);
            for t in topics.iter().filter(|t| reference_matches(&f, t)) {
                prop_assert!(
                    g.iter().any(|x| reference_matches(x, t)),
                    "{} allowed by {:?} but delivers {}", f, g, t
                );
            }
        }
    }
}
