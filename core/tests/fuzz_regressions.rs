//! Fuzz inputs replayed under `cargo test`, through the very harnesses the fuzz targets run
//! (`fuzz/src/*.rs`, included by path), with every invariant asserted:
//! - the committed seed corpora (`fuzz/corpus/<target>/seed-*`);
//! - crashes found by fuzzing (`tests/fuzz_regressions/<target>/*`), each next to a scripted
//!   test of the bug it showed, below. Every one of them must pass: a crash is committed with
//!   its fix (there is no folder of known, unfixed bugs).
//!
//! To add a crash: copy `fuzz/artifacts/<target>/crash-*` into that folder. Replay the client
//! inputs with a trace of the steps and events:
//! `FUZZ_TRACE=1 cargo test -p jamey-mqtt-core --test fuzz_regressions -- --nocapture`.

#[allow(dead_code)]
#[path = "../../fuzz/src/client.rs"]
mod client;
#[allow(dead_code)]
#[path = "../../fuzz/src/decode.rs"]
mod decode;
#[allow(dead_code)]
#[path = "../../fuzz/src/token.rs"]
mod token;
#[allow(dead_code)]
#[path = "../../fuzz/src/topic.rs"]
mod topic;

mod support;

use std::path::{Path, PathBuf};

use jamey_mqtt_core::packet::{Packet, ReasonCode, UnsubAck};
use jamey_mqtt_core::{ClientConfig, Event};
use support::Pair;

/// Every file in `dir` whose name starts with `prefix`, sorted.
fn inputs(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    files.sort();
    files
}

/// Runs `harness` on each input; a panic names the file.
fn replay(files: &[PathBuf], harness: fn(&[u8])) -> usize {
    for file in files {
        let data = std::fs::read(file).expect("readable input");
        if std::panic::catch_unwind(|| harness(&data)).is_err() {
            panic!("fuzz input {} fails", file.display());
        }
    }
    files.len()
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// The committed seeds of `target` (there must be some: a missing or renamed corpus folder is
/// a failure, not a pass over nothing) followed by its regression inputs.
fn corpus(target: &str) -> Vec<PathBuf> {
    let seeds_dir = root().join("../fuzz/corpus").join(target);
    let mut files = inputs(&seeds_dir, "seed-");
    assert!(
        !files.is_empty(),
        "no seed-* inputs in {}",
        seeds_dir.display()
    );
    files.extend(inputs(
        &root().join("tests/fuzz_regressions").join(target),
        "",
    ));
    files
}

#[test]
fn decode_seeds_and_regressions() {
    assert!(
        replay(&corpus("decode"), decode::run_strict) > 0,
        "no decode seeds found"
    );
}

/// Found by the `decode` target. A broker sends one subscription identifier per matching
/// subscription; mqttbytes 0.6 (`v5::publish`, `SubscriptionIdentifier` arm) adds `1 + id_len`
/// to its property cursor although the property byte was counted already, so it stops reading
/// properties early, and the codec's property-length check then refuses the valid packet. The
/// client would drop the connection on every such message and get it again on reconnect.
/// Fixed by decoding MQTT 5 PUBLISH at the codec seam (`codec/hand.rs`).
#[test]
fn publish_with_three_subscription_identifiers_decodes() {
    use bytes::{Bytes, BytesMut};
    use jamey_mqtt_core::codec::Codec;
    use jamey_mqtt_core::packet::{ProtocolVersion, Publish, PublishProperties, QoS};
    let codec = Codec::new(ProtocolVersion::V5, 1 << 20);
    let publish = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: "t".into(),
        pkid: 1,
        payload: Bytes::from_static(b"x"),
        properties: PublishProperties {
            subscription_identifiers: vec![1, 2, 3],
            ..PublishProperties::default()
        }
        .into(),
    });
    let mut bytes = BytesMut::new();
    codec.encode(&publish, &mut bytes).expect("encodes");
    assert_eq!(codec.decode(&mut bytes), Ok(Some(publish)));
}

#[test]
fn topic_seeds_and_regressions() {
    assert!(
        replay(&corpus("topic"), topic::run) > 0,
        "no topic seeds found"
    );
}

#[test]
fn token_seeds_and_regressions() {
    assert!(
        replay(&corpus("token"), token::run) > 0,
        "no token seeds found"
    );
}

#[test]
fn client_seeds_and_regressions() {
    assert!(
        replay(&corpus("client"), client::run) > 0,
        "no client seeds found"
    );
}

/// Found by the `client` target (input `client/unsuback-reason-count-loses-request`):
/// `handle_unsuback` (and `handle_suback`) took the request out of the session before checking
/// the number of reason codes; the protocol error then ended the connection and the request was
/// gone: not resent on resume, not failed, never completed, not even when the client closed.
#[test]
fn unsuback_with_wrong_reason_count_does_not_lose_the_request() {
    let mut pair = Pair::connected(ClientConfig {
        client_id: "regression".into(),
        protocol: jamey_mqtt_core::ProtocolVersion::V5,
        ..ClientConfig::default()
    });
    let token = pair
        .client
        .unsubscribe(pair.now, vec!["a/#".into(), "b/#".into()])
        .expect("accepted");
    pair.drive();
    let pkid = match pair.take_sent().as_slice() {
        [Packet::Unsubscribe(u)] => u.pkid,
        other => panic!("expected UNSUBSCRIBE, got {other:?}"),
    };
    pair.send(Packet::UnsubAck(UnsubAck {
        pkid,
        reasons: vec![ReasonCode::SUCCESS],
        properties: Default::default(),
    }));
    // A protocol error: DISCONNECT (malformed packet) and the connection is closed.
    assert!(matches!(
        pair.take_sent().as_slice(),
        [Packet::Disconnect(_)]
    ));
    pair.reconnect(true);
    pair.client.disconnect(pair.now);
    pair.drive();
    pair.advance(std::time::Duration::from_secs(60));
    let completed = pair.take_events().into_iter().any(|e| {
        matches!(e, Event::Unsubscribed { token: t, .. } | Event::RequestFailed { token: t, .. } if t == token)
    });
    assert!(
        completed,
        "the UNSUBSCRIBE's token never completed (not resent on resume, not failed at close)"
    );
}

/// Found by the `client` target (input `client/resubscribe-token-failed-to-application`): after
/// a session loss the client re-subscribes with an internal request whose token the application
/// never got; when that request failed (here: the client is closed while it is in flight) the
/// application got `RequestFailed` for that unknown token.
#[test]
fn internal_resubscribe_token_never_reaches_the_application() {
    use jamey_mqtt_core::packet::{QoS, SubscribeFilter};
    let mut pair = Pair::connected(ClientConfig {
        client_id: "regression".into(),
        ..ClientConfig::default()
    });
    let token = pair
        .client
        .subscribe(
            pair.now,
            vec![SubscribeFilter::new("a/#", QoS::AtLeastOnce)],
        )
        .expect("accepted");
    pair.drive();
    let pkid = pair.expect_subscribe().pkid;
    pair.suback(pkid, vec![ReasonCode::GRANTED_QOS_1]);
    pair.cut();
    pair.reconnect(false);
    assert!(
        matches!(pair.take_sent().as_slice(), [Packet::Subscribe(_)]),
        "the client re-subscribes after the session loss"
    );
    // The connection drops again before the SUBACK, and the application closes the client.
    pair.cut();
    pair.client.disconnect(pair.now);
    pair.drive();
    for event in pair.take_events() {
        if let Event::RequestFailed { token: t, .. } | Event::Subscribed { token: t, .. } = event {
            assert_eq!(
                t, token,
                "a completion for a token the application never got: {event:?}"
            );
        }
    }
}

/// Found by the simulation (same root cause as above): when the session was lost again while the
/// internal re-subscribe was in flight, that request was put back in the queue *and* a new one
/// added: both went out, the newer was reported as `Resubscribed`, the older as `Subscribed` with
/// a token the application never got, and each such loss added one more SUBSCRIBE to the queue.
#[test]
fn repeated_session_loss_sends_one_resubscribe_with_no_unknown_token() {
    use jamey_mqtt_core::packet::{QoS, SubAck, SubscribeFilter};
    let mut pair = Pair::connected(ClientConfig {
        client_id: "regression".into(),
        ..ClientConfig::default()
    });
    let token = pair
        .client
        .subscribe(
            pair.now,
            vec![SubscribeFilter::new("a/#", QoS::AtLeastOnce)],
        )
        .expect("accepted");
    pair.drive();
    let suback = |pkid| {
        Packet::SubAck(SubAck {
            pkid,
            reasons: vec![ReasonCode::GRANTED_QOS_1],
            properties: Default::default(),
        })
    };
    let pkid = pair.expect_subscribe().pkid;
    pair.send(suback(pkid));
    pair.cut();
    pair.reconnect(false);
    pair.take_sent();
    // Lost again before the re-subscribe's SUBACK; the broker has no session again.
    pair.cut();
    pair.reconnect(false);
    let ids: Vec<u16> = pair
        .take_sent()
        .iter()
        .filter_map(|p| match p {
            Packet::Subscribe(s) => Some(s.pkid),
            _ => None,
        })
        .collect();
    for pkid in &ids {
        pair.send(suback(*pkid));
    }
    for event in pair.take_events() {
        if let Event::Subscribed { token: t, .. } = event {
            assert_eq!(
                t, token,
                "a completion for a token the application never got"
            );
        }
    }
    assert_eq!(
        ids.len(),
        1,
        "one re-subscribe is enough, {} were sent",
        ids.len()
    );
}
