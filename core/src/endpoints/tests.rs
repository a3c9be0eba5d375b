//! The rotation on its own: order, failover, redirects and counts.

use super::*;

fn list(n: u16) -> Brokers {
    Brokers::list(
        (1..=n)
            .map(|i| Endpoint::new(format!("node{i}"), 1880 + i))
            .collect(),
    )
}

fn ports(rotation: &mut Rotation, attempts: usize) -> Vec<u16> {
    (0..attempts)
        .map(|_| {
            let endpoint = rotation.begin_attempt();
            rotation.failed();
            endpoint.port
        })
        .collect()
}

#[test]
fn in_order_goes_round_the_list_and_back_to_the_first() {
    let mut rotation = Rotation::new(&list(3), 7);
    assert_eq!(
        ports(&mut rotation, 7),
        [1881, 1882, 1883, 1881, 1882, 1883, 1881]
    );
}

#[test]
fn a_lost_connection_moves_on_and_a_chosen_reconnect_stays() {
    let mut rotation = Rotation::new(&list(3), 0);
    assert_eq!(rotation.begin_attempt().port, 1881);
    assert_eq!(rotation.connected().port, 1881);
    rotation.ended(); // a reconnect the client chose (new token): same endpoint
    assert_eq!(rotation.begin_attempt().port, 1881);
    rotation.connected();
    rotation.failed(); // the node went down: the next one
    assert_eq!(rotation.begin_attempt().port, 1882);
}

#[test]
fn shuffled_is_a_permutation_fixed_by_the_seed() {
    let brokers = Brokers {
        order: BrokerOrder::Shuffled,
        ..list(8)
    };
    let first: Vec<u16> = ports(&mut Rotation::new(&brokers, 1), 8);
    let again: Vec<u16> = ports(&mut Rotation::new(&brokers, 1), 16);
    assert_eq!(again[..8], first[..], "same seed, same order");
    assert_eq!(
        again[8..],
        first[..],
        "then round robin over the same order"
    );
    let mut sorted = first.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1881..=1888).collect::<Vec<_>>(), "each once");
    let starts: std::collections::HashSet<u16> = (0..32)
        .map(|seed| Rotation::new(&brokers, seed).begin_attempt().port)
        .collect();
    assert!(
        starts.len() > 3,
        "seeds spread the first endpoint: {starts:?}"
    );
}

#[test]
fn counts_per_endpoint() {
    let mut rotation = Rotation::new(&list(2), 0);
    ports(&mut rotation, 3); // 1881 fails twice, 1882 once
    rotation.begin_attempt(); // 1882
    rotation.connected();
    let stats = rotation.stats();
    assert_eq!(
        (
            stats[0].attempts,
            stats[0].failures,
            stats[0].consecutive_failures
        ),
        (2, 2, 2)
    );
    assert_eq!(
        (
            stats[1].attempts,
            stats[1].connections,
            stats[1].consecutive_failures
        ),
        (2, 1, 0),
        "a connection resets the consecutive count"
    );
    assert_eq!(stats[1].failures, 1);
}

#[test]
fn temporary_redirect_to_a_listed_endpoint_is_for_the_next_attempt_only() {
    let mut rotation = Rotation::new(&list(3), 0);
    let from = rotation.begin_attempt(); // node1
    rotation.failed();
    let to = rotation.redirect(&from, "node3:1883", RedirectKind::Temporary);
    assert_eq!(to.map(|e| e.port), Ok(1883));
    assert_eq!(ports(&mut rotation, 4), [1883, 1882, 1883, 1881]);
}

#[test]
fn permanent_redirect_takes_the_senders_place() {
    let brokers = Brokers {
        redirects: Redirects::Any,
        ..list(2)
    };
    let mut rotation = Rotation::new(&brokers, 0);
    let from = rotation.begin_attempt(); // node1
    rotation.failed();
    let to = rotation
        .redirect(&from, "elsewhere:2000 spare:2001", RedirectKind::Permanent)
        .unwrap();
    assert_eq!(to, Endpoint::new("elsewhere", 2000), "the first reference");
    assert_eq!(
        ports(&mut rotation, 4),
        [2000, 1882, 2000, 1882],
        "node1 is gone"
    );
    assert!(!rotation.stats()[2].listed);
}

#[test]
fn a_reference_without_port_keeps_the_senders_port() {
    let mut rotation = Rotation::new(
        &Brokers::list(vec![Endpoint::new("a", 8883), Endpoint::new("b", 8883)]),
        0,
    );
    let from = rotation.begin_attempt();
    rotation.failed();
    assert_eq!(
        rotation.redirect(&from, "B", RedirectKind::Temporary),
        Ok(Endpoint::new("b", 8883)),
        "host names compare without case; the listed endpoint (its TLS name) is used"
    );
}

#[test]
fn redirect_policy_is_enforced() {
    let from = Endpoint::new("node1", 1881);
    let mut listed = Rotation::new(&list(2), 0);
    assert_eq!(
        listed.redirect(&from, "evil:1883", RedirectKind::Temporary),
        Err(RedirectRefused::NotListed(Endpoint::new("evil", 1883)))
    );
    let mut ignore = Rotation::new(
        &Brokers {
            redirects: Redirects::Ignore,
            ..list(2)
        },
        0,
    );
    assert_eq!(
        ignore.redirect(&from, "node2:1882", RedirectKind::Temporary),
        Err(RedirectRefused::Ignored)
    );
    assert!(matches!(
        listed.redirect(&from, "[::1", RedirectKind::Temporary),
        Err(RedirectRefused::Unparsable(_))
    ));
    // Refused redirects change nothing: the rotation goes on.
    assert_eq!(ports(&mut listed, 2), [1881, 1882]);
}

#[test]
fn redirect_targets_outside_the_list_are_bounded() {
    let brokers = Brokers {
        redirects: Redirects::Any,
        ..list(1)
    };
    let mut rotation = Rotation::new(&brokers, 0);
    let from = Endpoint::new("node1", 1881);
    for i in 0..3 * MAX_REDIRECT_TARGETS as u16 {
        let target = format!("extra{i}:{}", 3000 + i);
        let followed = rotation.redirect(&from, &target, RedirectKind::Temporary);
        assert!(followed.is_ok(), "{followed:?}");
        rotation.begin_attempt();
        rotation.failed();
    }
    assert_eq!(rotation.stats().len(), 1 + MAX_REDIRECT_TARGETS);
}

#[test]
fn endpoints_parse_and_print() {
    let parse = |s| Endpoint::parse(s, 1883);
    assert_eq!(parse("h"), Ok(Endpoint::new("h", 1883)));
    assert_eq!(parse(" h:1 "), Ok(Endpoint::new("h", 1)));
    assert_eq!(
        parse("10.0.0.1:8883/b.example"),
        Ok(Endpoint::new("10.0.0.1", 8883).tls_server_name("b.example"))
    );
    assert_eq!(parse("[::1]:9"), Ok(Endpoint::new("::1", 9)));
    for bad in [
        "", ":1", "h:0", "h:x", "h:70000", "::1", "[::1", "[::1]x", "h/", "a b:1",
    ] {
        assert!(parse(bad).is_err(), "{bad:?} parsed");
    }
    assert_eq!(Endpoint::new("::1", 9).to_string(), "[::1]:9");
}

#[test]
fn the_list_is_validated() {
    assert!(list(3).validate().is_ok());
    assert!(Brokers::list(vec![]).validate().is_err());
    assert!(list(MAX_ENDPOINTS as u16 + 1).validate().is_err());
    let twice = Brokers::list(vec![Endpoint::new("A", 1), Endpoint::new("a", 1)]);
    assert_eq!(twice.validate().unwrap_err().field, "brokers");
    assert!(Brokers::one(Endpoint::new("h", 0)).validate().is_err());
    assert!(Brokers::one(Endpoint::new("h", 1).tls_server_name(""))
        .validate()
        .is_err());
}
