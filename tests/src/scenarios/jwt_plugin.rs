//! A real Mosquitto loading the JWT plugin (`broker-plugin/`, `BrokerOptions::jwt_plugin`):
//! tokens are checked by the broker with the same validator and permission check the client
//! uses. Refusals (expired, wrong key, wrong issuer, `alg: none`, garbage), per-topic publish
//! and per-filter subscribe refusals, a table where the client-side check and the broker agree,
//! MQTT 5 extended auth with method `JWT` and re-authentication, and a token that expires while
//! connected. Run on tokio by tests/broker_plugin.rs (the broker is what is under test).
//!
//! Clients here mostly send the token as a plain password with no client-side permissions, so
//! that what is refused is refused by the broker, not by the client's own early check.

use std::collections::BTreeSet;

use futures_util::future::join_all;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use jamey_mqtt::auth::{Algorithm, ClaimTemplate, JwtSigner, PermissionClaims};
use jamey_mqtt::core::permissions::Permissions;
use jamey_mqtt::core::topic::{TopicFilter, TopicName};
use jamey_mqtt::{
    Client, ConnectError, EnhancedAuth, Error, Event, ProtocolVersion, QoS, ReasonCode, Runtime,
    SubscribeFilter, Subscription,
};
use jamey_mqtt_mosquitto_auth::AUTH_METHOD;

use super::{connect, connect_err, next, next_event, plain, within, WAIT};
use crate::{Broker, BrokerOptions};

/// The HMAC secret the test brokers' plugin checks tokens with.
pub const JWT_SECRET: &str = "jamey-tests-secret-of-32-bytes!!";
/// The issuer the test brokers' plugin requires.
pub const JWT_ISSUER: &str = "jamey-tests";

/// A broker whose plugin requires HS256 tokens signed with [`JWT_SECRET`] from [`JWT_ISSUER`].
pub fn jwt_broker() -> Broker {
    Broker::start(
        BrokerOptions::plain().jwt_plugin([("secret", JWT_SECRET), ("issuer", JWT_ISSUER)]),
        None,
    )
}

/// A signer for `sub` with `ttl` and these grants, keyed like [`jwt_broker`] expects.
pub fn jwt_signer(sub: &str, ttl: Duration, publish: &[&str], subscribe: &[&str]) -> JwtSigner {
    signer_with(JWT_SECRET, JWT_ISSUER, sub, ttl, publish, subscribe)
}

fn signer_with(
    secret: &str,
    issuer: &str,
    sub: &str,
    ttl: Duration,
    publish: &[&str],
    subscribe: &[&str],
) -> JwtSigner {
    let template = ClaimTemplate::new(sub, ttl)
        .with_issuer(issuer)
        .with_permissions(PermissionClaims {
            publish: publish.iter().map(|s| s.to_string()).collect(),
            subscribe: subscribe.iter().map(|s| s.to_string()).collect(),
        });
    JwtSigner::from_secret(Algorithm::HS256, secret.as_bytes(), template).expect("signer")
}

fn token(signer: &JwtSigner) -> String {
    signer
        .sign(SystemTime::now())
        .expect("sign")
        .expose()
        .to_owned()
}

/// MQTT 3.1.1 config whose CONNECT carries `username` and `password` as they are.
fn with_password(
    broker: &Broker,
    client_id: &str,
    username: &str,
    password: &str,
) -> jamey_mqtt::Config {
    let mut config = plain(broker, client_id);
    config.mqtt.username = Some(username.into());
    config.mqtt.password = Some(Bytes::from(password.to_owned()));
    config
}

/// A client authenticated with a fresh 60 s token for `id` (username = client id = `sub`).
pub(super) async fn client<R: Runtime + Default>(
    broker: &Broker,
    id: &str,
    publish: &[&str],
    subscribe: &[&str],
) -> Client<R> {
    let t = token(&jwt_signer(id, Duration::from_secs(60), publish, subscribe));
    connect::<R>(with_password(broker, id, id, &t)).await
}

/// How many connections of `client_id` the broker accepted.
pub(super) fn connects(broker: &Broker, client_id: &str) -> usize {
    let needle = format!(" as {client_id} (");
    broker
        .log()
        .lines()
        .filter(|l| l.contains("New client connected from") && l.contains(&needle))
        .count()
}

/// Collects payloads from `sub` until `end` arrives (excluded).
async fn until<R: Runtime + Default>(sub: &mut Subscription, end: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let message = next::<R>(sub).await;
        let payload = String::from_utf8(message.payload.to_vec()).unwrap();
        if payload == end {
            return seen;
        }
        seen.push(payload);
    }
}

/// A valid token connects; expired, wrong-key, wrong-issuer, `alg: none`, garbage tokens and a
/// username that is not `sub` are each refused with CONNACK "not authorized", reported as the
/// typed, permanent `ConnectError::Refused(NOT_AUTHORIZED)`, after exactly one CONNECT each.
pub async fn jwt_plugin_refuses_bad_tokens<R: Runtime + Default>() {
    let broker = jwt_broker();
    let ttl = Duration::from_secs(60);
    let good = jwt_signer("dev", ttl, &["a/#"], &[]);
    let ok = connect::<R>(with_password(&broker, "ok", "dev", &token(&good))).await;
    ok.disconnect().await.unwrap();

    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    let expired = good.sign(an_hour_ago).unwrap().expose().to_owned();
    let wrong_key = token(&signer_with(
        "another-secret-another-secret-32",
        JWT_ISSUER,
        "dev",
        ttl,
        &[],
        &[],
    ));
    let wrong_issuer = token(&signer_with(
        JWT_SECRET,
        "someone-else",
        "dev",
        ttl,
        &[],
        &[],
    ));
    // {"alg":"none","typ":"JWT"} over a real payload, no signature.
    let payload = token(&good).split('.').nth(1).unwrap().to_owned();
    let alg_none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    let cases = [
        ("expired", "dev", expired),
        ("wrong-key", "dev", wrong_key),
        ("wrong-issuer", "dev", wrong_issuer),
        ("alg-none", "dev", alg_none),
        ("garbage", "dev", "not.a.token".to_owned()),
        ("not-sub", "mallory", token(&good)),
    ];
    for (id, username, password) in &cases {
        let error = connect_err::<R>(with_password(&broker, id, username, password)).await;
        match &error {
            Error::Connect(refused @ ConnectError::Refused(ReasonCode::NOT_AUTHORIZED)) => {
                assert!(refused.is_permanent(), "{id}");
            }
            other => panic!("{id}: expected a not-authorized refusal, got {other:?}"),
        }
    }
    // No hammering: each refused client sent one CONNECT (Mosquitto logs no "Received
    // CONNECT" for a refused client; the plugin logs one refusal per CONNECT) and gave up.
    for (id, _, _) in &cases {
        let refusals = broker
            .log()
            .lines()
            .filter(|l| l.contains(&format!("jamey-mqtt-auth: refused client {id}: ")))
            .count();
        assert_eq!(refusals, 1, "{id}:\n{}", broker.log());
    }
    let log = broker.log();
    for reason in [
        "token has expired",
        "token signature does not verify",
        "token issuer is not the expected issuer",
        "token algorithm is not supported",
        "token is malformed",
        "the username is not the token's subject",
    ] {
        assert!(log.contains(reason), "broker log lacks {reason:?}:\n{log}");
    }
}

/// A publish outside the token's publish grants is not delivered (Mosquitto acknowledges and
/// drops it on 3.1.1); one inside is.
pub async fn jwt_plugin_publish_outside_grants_is_not_delivered<R: Runtime + Default>() {
    let broker = jwt_broker();
    let watcher = client::<R>(&broker, "watcher", &[], &["#"]).await;
    let mut all = watcher.subscribe("#", QoS::AtLeastOnce).await.unwrap();
    let device = client::<R>(&broker, "device", &["dev/out/#"], &[]).await;
    device
        .publish("secret/x", "denied", QoS::AtLeastOnce)
        .await
        .unwrap();
    device
        .publish("dev/out/1", "allowed", QoS::AtLeastOnce)
        .await
        .unwrap();
    device
        .publish("dev/out/end", "end", QoS::AtLeastOnce)
        .await
        .unwrap();
    assert_eq!(until::<R>(&mut all, "end").await, ["allowed"]);
    device.disconnect().await.unwrap();
    watcher.disconnect().await.unwrap();
}

/// A SUBSCRIBE with filters inside and outside the token's grants: the broker refuses the
/// outside ones in the SUBACK and the client reports each filter's result.
pub async fn jwt_plugin_subscribe_outside_grants_fails_per_filter<R: Runtime + Default>() {
    let broker = jwt_broker();
    let device = client::<R>(&broker, "device", &["sensors/#"], &["sensors/#"]).await;
    let results = within::<R, _>(
        WAIT,
        "subscribe_many",
        device.subscribe_many(vec![
            SubscribeFilter::new("sensors/+/temp", QoS::AtLeastOnce),
            SubscribeFilter::new("#", QoS::AtLeastOnce),
            SubscribeFilter::new("other/x", QoS::AtLeastOnce),
        ]),
    )
    .await
    .expect("SUBACK");
    let mut results = results.into_iter();
    let mut granted = results.next().unwrap().expect("sensors/+/temp is granted");
    for filter in ["#", "other/x"] {
        match results.next().unwrap() {
            Err(Error::SubscribeRefused { filter: f, .. }) => assert_eq!(f, filter),
            other => panic!("{filter}: expected a SUBACK refusal, got {other:?}"),
        }
    }
    device
        .publish("sensors/k/temp", "21", QoS::AtLeastOnce)
        .await
        .unwrap();
    assert_eq!(next::<R>(&mut granted).await.payload, "21".as_bytes());
    device.disconnect().await.unwrap();
}

/// The grants of the agreement table, and its rows: for each topic (publish) and filter
/// (subscribe) the client's own check and the broker's decision must be the same.
const TABLE_PUBLISH: [&str; 3] = ["sensors/+/temp", "cmd/#", "$app/dev/#"];
const TABLE_SUBSCRIBE: [&str; 3] = ["sensors/#", "alerts/+", "$app/dev/in"];
const TABLE_TOPICS: [&str; 12] = [
    "sensors/kitchen/temp",
    "sensors/kitchen/humidity",
    "sensors/temp",
    "sensors/a/b/temp",
    "cmd",
    "cmd/reboot/now",
    "command",
    "$app/dev/x",
    "$app/other",
    "$SYS/broker/x",
    "alerts/fire",
    "other",
];
const TABLE_FILTERS: [&str; 14] = [
    "sensors/#",
    "sensors/+/temp",
    "sensors",
    "#",
    "+/temp",
    "alerts/+",
    "alerts/fire",
    "alerts/#",
    "alerts/+/x",
    "$app/dev/in",
    "$app/dev/#",
    "$share/g/sensors/+",
    "$share/g/#",
    "$SYS/#",
];

/// The client-side check and the broker's decision agree on every row of a table of topics
/// (publish, driven with real publishes) and filters (subscribe, driven with a real SUBSCRIBE).
pub async fn jwt_plugin_client_and_broker_agree_on_a_table<R: Runtime + Default>() {
    let permissions = Permissions::from_strings(&TABLE_PUBLISH, &TABLE_SUBSCRIBE).unwrap();
    let broker = jwt_broker();
    // The watcher may receive everything the device could send, `$` topics included.
    let watcher = client::<R>(&broker, "watcher", &[], &["#", "$app/#", "$SYS/#"]).await;
    let mut subs = Vec::new();
    for filter in ["#", "$app/#"] {
        subs.push(watcher.subscribe(filter, QoS::AtLeastOnce).await.unwrap());
    }
    let device = client::<R>(&broker, "device", &TABLE_PUBLISH, &TABLE_SUBSCRIBE).await;

    // Publish rows: each topic's payload is its row; "end" on an allowed topic closes.
    for topic in TABLE_TOPICS {
        device
            .publish(topic, topic, QoS::AtLeastOnce)
            .await
            .unwrap();
    }
    device
        .publish("cmd/end", "end", QoS::AtLeastOnce)
        .await
        .unwrap();
    device
        .publish("$app/dev/end", "end", QoS::AtLeastOnce)
        .await
        .unwrap();
    let mut delivered: BTreeSet<String> = BTreeSet::new();
    for sub in &mut subs {
        delivered.extend(until::<R>(sub, "end").await);
    }
    let mut disagreements = Vec::new();
    for topic in TABLE_TOPICS {
        let client_says = permissions.allows_publish(&TopicName::new(topic).unwrap());
        let broker_says = delivered.contains(topic);
        if client_says != broker_says {
            disagreements.push(format!(
                "publish {topic}: client {client_says}, broker {broker_says}"
            ));
        }
    }
    // A sanity floor: the table has rows of both kinds.
    assert!(
        delivered.len() >= 3 && delivered.len() < TABLE_TOPICS.len(),
        "{delivered:?}"
    );

    // Subscribe rows, one SUBSCRIBE with every filter.
    let results = within::<R, _>(
        WAIT,
        "subscribe_many",
        device.subscribe_many(
            TABLE_FILTERS
                .iter()
                .map(|f| SubscribeFilter::new(*f, QoS::AtLeastOnce))
                .collect(),
        ),
    )
    .await
    .expect("SUBACK");
    for (filter, result) in TABLE_FILTERS.iter().zip(results) {
        let client_says = permissions.allows_subscribe(&TopicFilter::new(*filter).unwrap());
        let broker_says = match result {
            Ok(_) => true,
            Err(Error::SubscribeRefused { .. }) => false,
            Err(other) => panic!("subscribe {filter}: {other:?}"),
        };
        if client_says != broker_says {
            disagreements.push(format!(
                "subscribe {filter}: client {client_says}, broker {broker_says}"
            ));
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
    device.disconnect().await.unwrap();
    watcher.disconnect().await.unwrap();
}

fn v5_jwt(broker: &Broker, client_id: &str, token: &str) -> jamey_mqtt::Config {
    let mut config = plain(broker, client_id);
    config.mqtt.protocol = ProtocolVersion::V5;
    config.mqtt.authentication =
        Some(EnhancedAuth::new(AUTH_METHOD).initial_data(Bytes::from(token.to_owned())));
    config
}

/// MQTT 5 extended authentication with method `JWT`: the CONNECT's authentication data is the
/// token. Re-authentication (AUTH 0x19) with a token granting other topics is accepted on the
/// live connection (no new CONNECT) and the new grants are in force; a re-authentication with a
/// forged token is refused, the broker ends the connection, and the client reconnects.
pub async fn jwt_plugin_mqtt5_connect_and_reauthenticate<R: Runtime + Default>() {
    let broker = jwt_broker();
    let watcher = client::<R>(&broker, "watcher", &[], &["#"]).await;
    let mut all = watcher.subscribe("#", QoS::AtLeastOnce).await.unwrap();

    let ttl = Duration::from_secs(60);
    let first = token(&jwt_signer("v5-device", ttl, &["first/#"], &[]));
    let device = connect::<R>(v5_jwt(&broker, "v5-device", &first)).await;
    let mut events = device.events();
    if let Err(e) = device.publish("first/a", "1", QoS::AtLeastOnce).await {
        panic!("{e:?}\n{}", broker.log());
    }
    device
        .publish("second/a", "denied", QoS::AtLeastOnce)
        .await
        .ok();
    device
        .publish("first/end", "end", QoS::AtLeastOnce)
        .await
        .unwrap();
    assert_eq!(until::<R>(&mut all, "end").await, ["1"]);

    let second = token(&jwt_signer("v5-device", ttl, &["second/#"], &[]));
    within::<R, _>(
        WAIT,
        "re-authentication",
        device.reauthenticate(Some(second.into())),
    )
    .await
    .expect("re-authentication accepted");
    if let Err(e) = device.publish("second/a", "2", QoS::AtLeastOnce).await {
        panic!("{e:?}\n{}", broker.log());
    }
    device
        .publish("first/a", "denied", QoS::AtLeastOnce)
        .await
        .ok();
    if let Err(e) = device.publish("second/end", "end", QoS::AtLeastOnce).await {
        panic!("{e:?}\n{}", broker.log());
    }
    assert_eq!(until::<R>(&mut all, "end").await, ["2"]);
    assert_eq!(
        connects(&broker, "v5-device"),
        1,
        "re-authenticated on the live connection"
    );
    assert!(
        broker.log().contains("Received AUTH from v5-device"),
        "{}",
        broker.log()
    );

    let forged = token(&signer_with(
        "another-secret-another-secret-32",
        JWT_ISSUER,
        "v5-device",
        ttl,
        &["#"],
        &[],
    ));
    let refused = within::<R, _>(
        WAIT,
        "refused re-authentication",
        device.reauthenticate(Some(forged.into())),
    )
    .await;
    assert!(refused.is_err(), "a forged token was accepted: {refused:?}");
    // Read as the broker's refusal with its reason, not as a protocol error.
    next_event::<R>(&mut events, "the connection ends", |e| {
        matches!(
            e,
            Event::ConnectionLost(jamey_mqtt::LostReason::Reauthentication(
                jamey_mqtt::ReauthError::Refused(ReasonCode::NOT_AUTHORIZED)
            ))
        )
    })
    .await;
    assert!(
        broker.log().contains(
            "refused authentication of client v5-device: token signature does not verify"
        ),
        "{}",
        broker.log()
    );
    // Mosquitto 2.0.11 says "not authorized" with a CONNACK on the open connection (not a
    // DISCONNECT, src/handle_auth.c), then closes it.
    assert!(
        broker
            .log()
            .contains("Sending CONNACK to v5-device (0, 135)"),
        "{}",
        broker.log()
    );
    // The client reconnects by itself with its configured (still valid) token, whose grants
    // are back in force.
    next_event::<R>(&mut events, "the reconnect", |e| {
        matches!(e, Event::Connected { .. })
    })
    .await;
    device
        .publish("first/b", "3", QoS::AtLeastOnce)
        .await
        .unwrap();
    device
        .publish("first/end", "end", QoS::AtLeastOnce)
        .await
        .unwrap();
    assert_eq!(until::<R>(&mut all, "end").await, ["3"]);
    assert_eq!(connects(&broker, "v5-device"), 2);
    device.disconnect().await.unwrap();
    watcher.disconnect().await.unwrap();
}

/// A token that expires while its client is connected: from `exp` on the broker denies that
/// client everything and disconnects it on its next tick; what it publishes after expiry is
/// not delivered.
pub async fn jwt_plugin_token_expiring_while_connected_is_denied<R: Runtime + Default>() {
    let broker = jwt_broker();
    let watcher = client::<R>(&broker, "watcher", &["end"], &["#"]).await;
    let mut all = watcher.subscribe("#", QoS::AtLeastOnce).await.unwrap();
    // Whole-second times: a 2 s token lives 1 to 2 s from now.
    let short = token(&jwt_signer(
        "short",
        Duration::from_secs(2),
        &["data/#"],
        &[],
    ));
    let device = connect::<R>(with_password(&broker, "short", "short", &short)).await;
    let mut events = device.events();
    device
        .publish("data/x", "before", QoS::AtLeastOnce)
        .await
        .unwrap();
    next_event::<R>(
        &mut events,
        "the broker disconnects the expired client",
        |e| matches!(e, Event::ConnectionLost(_)),
    )
    .await;
    assert!(
        broker
            .log()
            .contains("token of client short expired; disconnecting it"),
        "{}",
        broker.log()
    );
    // The client reconnects with the same (now expired) token and is refused.
    let refused = next_event::<R>(&mut events, "the reconnect is refused", |e| {
        matches!(e, Event::ConnectFailed(_))
    })
    .await;
    assert!(
        matches!(
            refused,
            Event::ConnectFailed(ConnectError::Refused(ReasonCode::NOT_AUTHORIZED))
        ),
        "{refused:?}"
    );
    assert!(
        broker
            .log()
            .contains("refused client short: token has expired"),
        "{}",
        broker.log()
    );
    // What it publishes now reaches no one: the watcher's marker comes next.
    let late = device.clone();
    R::default().spawn(async move {
        let _ = late.publish("data/x", "after", QoS::AtLeastOnce).await;
    });
    watcher
        .publish("end", "end", QoS::AtLeastOnce)
        .await
        .unwrap();
    assert_eq!(until::<R>(&mut all, "end").await, ["before"]);
    device.disconnect().await.ok();
    watcher.disconnect().await.unwrap();
}

/// 10,000 QoS 1 publishes on MQTT 5 with method `JWT` across three re-authentications, each
/// issued while publishes are in flight: all arrive, on one connection (one CONNECT, three
/// re-authentications, each resolved with the broker's success), and the last token's grants
/// are the ones in force.
pub async fn jwt_plugin_reauthentication_under_load_loses_nothing<R: Runtime + Default>() {
    const TOTAL: usize = 10_000;
    const ROUNDS: usize = 4;
    let broker = Broker::start(
        BrokerOptions::plain()
            .quiet()
            .jwt_plugin([("secret", JWT_SECRET), ("issuer", JWT_ISSUER)]),
        None,
    );
    let watcher = client::<R>(&broker, "load-watcher", &[], &["load/#"]).await;
    let mut all = watcher.subscribe("load/#", QoS::AtLeastOnce).await.unwrap();
    let ttl = Duration::from_secs(60);
    // Every token grants `load/#`; each also grants its own round's marker topic only.
    let grant = |round: usize| {
        let marker = format!("round/{round}");
        token(&jwt_signer("load-device", ttl, &["load/#", &marker], &[]))
    };
    let device = connect::<R>(v5_jwt(&broker, "load-device", &grant(0))).await;
    // Publishes go in batches below the client's request queue (1,000); each
    // re-authentication is issued together with the first batch of its round.
    const BATCH: usize = 500;
    let per_round = TOTAL / ROUNDS;
    for round in 0..ROUNDS {
        for (batch, start) in (round * per_round..(round + 1) * per_round)
            .step_by(BATCH)
            .enumerate()
        {
            let publishes = join_all(
                (start..start + BATCH)
                    .map(|i| device.publish("load/data", i.to_string(), QoS::AtLeastOnce)),
            );
            let results = if round > 0 && batch == 0 {
                let reauth = device.reauthenticate(Some(grant(round).into()));
                let (results, reauthed) = within::<R, _>(
                    WAIT,
                    "publishes and a re-authentication",
                    futures_util::future::join(publishes, reauth),
                )
                .await;
                reauthed.expect("re-authentication accepted");
                results
            } else {
                within::<R, _>(WAIT, "publishes", publishes).await
            };
            let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
            assert!(
                failed.is_empty(),
                "round {round}: {} failed, first {:?}",
                failed.len(),
                failed.first()
            );
        }
    }
    // The last token's grants are in force: its marker passes, the first token's does not.
    let denied = device.publish("round/0", "x", QoS::AtLeastOnce).await;
    assert!(
        matches!(denied, Err(Error::Failed(_))),
        "the first token's grant outlived it: {denied:?}"
    );
    device
        .publish(format!("round/{}", ROUNDS - 1), "x", QoS::AtLeastOnce)
        .await
        .expect("the last token's grant");

    let mut seen = vec![false; TOTAL];
    let mut distinct = 0;
    while distinct < TOTAL {
        let message = next::<R>(&mut all).await;
        let i: usize = std::str::from_utf8(&message.payload)
            .unwrap()
            .parse()
            .unwrap();
        if !std::mem::replace(&mut seen[i], true) {
            distinct += 1;
        }
    }
    let log = broker.log();
    assert_eq!(connects(&broker, "load-device"), 1, "one connection");
    assert!(!log.contains("refused"), "{log}");
    device.disconnect().await.unwrap();
    watcher.disconnect().await.unwrap();
}

/// A persistent session (MQTT 3.1.1, clean session off) keeps receiving while its client is
/// offline: Mosquitto checks read access of each queued message against the offline session,
/// and the plugin keeps the grant of the token that authorised it until that token expires.
/// The client comes back with a fresh token and gets every message.
pub async fn jwt_plugin_offline_persistent_session_keeps_its_grant<R: Runtime + Default>() {
    let broker = jwt_broker();
    let ttl = Duration::from_secs(60);
    let reader_token = || token(&jwt_signer("reader", ttl, &[], &["queue/#"]));
    let mut config = with_password(&broker, "reader", "reader", &reader_token());
    config.mqtt.clean_start = false;
    let reader = connect::<R>(config.clone()).await;
    drop(reader.subscribe("queue/#", QoS::AtLeastOnce).await.unwrap());
    reader.disconnect().await.unwrap();

    let writer = client::<R>(&broker, "writer", &["queue/#", "other/#"], &[]).await;
    for i in 0..20 {
        writer
            .publish("queue/x", i.to_string(), QoS::AtLeastOnce)
            .await
            .unwrap();
    }
    writer
        .publish("other/x", "not granted to the reader", QoS::AtLeastOnce)
        .await
        .unwrap();
    writer
        .publish("queue/x", "end", QoS::AtLeastOnce)
        .await
        .unwrap();

    config.mqtt.password = Some(Bytes::from(reader_token()));
    let reader = connect::<R>(config).await;
    // Messages that arrive before this subscribe are kept for it (unmatched buffer).
    let mut sub = reader.subscribe("queue/#", QoS::AtLeastOnce).await.unwrap();
    let seen = until::<R>(&mut sub, "end").await;
    let want: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    assert_eq!(seen, want);
    reader.disconnect().await.unwrap();
    writer.disconnect().await.unwrap();
}

/// The client's own token refresh on MQTT 5 against the plugin: with a JWT source and MQTT 5,
/// the client connects under the method `JWT` and replaces each token by re-authentication on
/// the live connection. Over 10,000+ QoS 1 publishes spanning three refreshes: one connection
/// (one CONNECT), three accepted re-authentications, every message delivered, nothing refused.
pub async fn jwt_plugin_client_refreshes_by_reauthentication_on_mqtt5<R: Runtime + Default>() {
    use jamey_mqtt::auth::{AuthConfig, TokenSource};
    const AT_LEAST: usize = 10_000;
    const REFRESHES: usize = 3;
    let broker = Broker::start(
        BrokerOptions::plain()
            .quiet()
            .jwt_plugin([("secret", JWT_SECRET), ("issuer", JWT_ISSUER)]),
        None,
    );
    let watcher = client::<R>(&broker, "refresh-watcher", &[], &["refresh/#"]).await;
    let mut all = watcher
        .subscribe("refresh/#", QoS::AtLeastOnce)
        .await
        .unwrap();

    // 3 s tokens refreshed 1 s before expiry: a re-authentication every 2 s or so.
    let signer = jwt_signer(
        "refresh-device",
        Duration::from_secs(3),
        &["refresh/#"],
        &[],
    );
    let mut config = plain(&broker, "refresh-device");
    config.mqtt.protocol = ProtocolVersion::V5;
    let config = config.auth(
        AuthConfig::new(TokenSource::Signer(signer)).with_refresh_margin(Duration::from_secs(1)),
    );
    let device = connect::<R>(config).await;
    let mut events = device.events();

    // Batches of 100 (below the request queue's 1,000), paced so that the refreshes fall
    // while publishes are in flight, until both counts are reached.
    let (mut sent, mut reauthenticated) = (0usize, 0usize);
    while sent < AT_LEAST || reauthenticated < REFRESHES {
        let batch = join_all(
            (sent..sent + 100)
                .map(|i| device.publish("refresh/data", i.to_string(), QoS::AtLeastOnce)),
        );
        let results = within::<R, _>(WAIT, "a batch of publishes", batch).await;
        if let Some(error) = results.iter().find_map(|r| r.as_ref().err()) {
            panic!("publish {sent}..: {error:?}\n{}", broker.log());
        }
        sent += 100;
        while let Some(event) = events.try_recv() {
            match event {
                Event::Reauthenticated { .. } => reauthenticated += 1,
                Event::ConnectionLost(reason) => panic!("connection lost: {reason:?}"),
                Event::ReauthenticationFailed(e) => panic!("re-authentication failed: {e:?}"),
                _ => {}
            }
        }
        super::pause::<R>(Duration::from_millis(15)).await;
    }
    let mut seen = vec![false; sent];
    let mut distinct = 0;
    while distinct < sent {
        let message = next::<R>(&mut all).await;
        let i: usize = std::str::from_utf8(&message.payload)
            .unwrap()
            .parse()
            .unwrap();
        if !std::mem::replace(&mut seen[i], true) {
            distinct += 1;
        }
    }
    assert_eq!(connects(&broker, "refresh-device"), 1, "{}", broker.log());
    assert!(!broker.log().contains("refused"), "{}", broker.log());
    device.disconnect().await.unwrap();
    watcher.disconnect().await.unwrap();
}

/// The built-in refresh on MQTT 5 when the broker refuses the fresh token: the token source's
/// second token is forged (another key). The broker refuses that re-authentication and ends the
/// connection; the client reports the broker's reason, asks its source again, and reconnects
/// with the fresh (valid) token. A QoS 1 publish made while this happens arrives.
pub async fn jwt_plugin_refused_refresh_reconnects_with_a_fresh_token<R: Runtime + Default>() {
    use jamey_mqtt::auth::{AuthConfig, AuthError, TokenProvider, TokenSource};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Hands out valid tokens, except the second one, signed with the wrong key.
    struct ForgesTheSecond {
        good: JwtSigner,
        forged: JwtSigner,
        calls: AtomicUsize,
    }
    impl TokenProvider for ForgesTheSecond {
        fn token(&self, now: SystemTime) -> Result<String, AuthError> {
            let signer = match self.calls.fetch_add(1, Ordering::SeqCst) {
                1 => &self.forged,
                _ => &self.good,
            };
            Ok(signer.sign(now)?.expose().to_owned())
        }
    }

    let broker = jwt_broker();
    let watcher = client::<R>(&broker, "refused-watcher", &[], &["refused/#"]).await;
    let mut all = watcher
        .subscribe("refused/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let ttl = Duration::from_secs(3);
    let provider = ForgesTheSecond {
        good: jwt_signer("refused-device", ttl, &["refused/#"], &[]),
        forged: signer_with(
            "another-secret-another-secret-32",
            JWT_ISSUER,
            "refused-device",
            ttl,
            &["refused/#"],
            &[],
        ),
        calls: AtomicUsize::new(0),
    };
    let mut config = plain(&broker, "refused-device");
    config.mqtt.protocol = ProtocolVersion::V5;
    config.mqtt.clean_start = false;
    config.mqtt.session_expiry_interval = Some(300);
    let config = config.auth(
        AuthConfig::new(TokenSource::provider(provider))
            .with_refresh_margin(Duration::from_secs(1)),
    );
    let device = connect::<R>(config).await;
    let mut events = device.events();

    let refused = next_event::<R>(&mut events, "the forged token is refused", |e| {
        matches!(e, Event::ReauthenticationFailed(_))
    })
    .await;
    assert!(
        matches!(
            refused,
            Event::ReauthenticationFailed(jamey_mqtt::ReauthError::Refused(
                ReasonCode::NOT_AUTHORIZED
            ))
        ),
        "{refused:?}"
    );
    let publish = device.publish("refused/during", "kept", QoS::AtLeastOnce);
    let reconnected = next_event::<R>(&mut events, "the reconnect with a fresh token", |e| {
        matches!(e, Event::Connected { .. })
    });
    let (published, _) = futures_util::future::join(publish, reconnected).await;
    published.unwrap();
    device
        .publish("refused/end", "end", QoS::AtLeastOnce)
        .await
        .unwrap();
    assert_eq!(until::<R>(&mut all, "end").await, ["kept"]);
    assert_eq!(connects(&broker, "refused-device"), 2, "{}", broker.log());
    device.disconnect().await.unwrap();
    watcher.disconnect().await.unwrap();
}
