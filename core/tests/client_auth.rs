//! Token auth in the protocol, on a simulated clock: the core asks for tokens
//! (`Action::FetchToken`) and never mints one itself; the token is the CONNECT password (MQTT
//! 5: authentication data under the method `JWT`); it is refreshed at `exp - refresh_margin`,
//! in place by re-authentication on MQTT 5 and by a graceful reconnect on 3.1.1, losing
//! nothing; an expired token is never sent; the token's permissions are enforced before
//! anything leaves. Tokens come from the real signer of `jamey-mqtt-auth`.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use jamey_mqtt_auth::{
    Algorithm, AuthConfig, AuthError, ClaimTemplate, JwtSigner, PermissionClaims, TokenProvider,
    TokenSource, Validator,
};
use jamey_mqtt_core::packet::{
    Ack, Auth, AuthProperties, ConnAck, ConnAckProperties, Connect, Disconnect, Packet,
    ProtocolVersion, QoS, ReasonCode,
};
use jamey_mqtt_core::reconnect::ReconnectConfig;
use jamey_mqtt_core::{
    Action, ClientConfig, ClientError, ConnectError, ConnectionState, Event, PublishRequest,
    RequestError, TokenError, JWT_AUTH_METHOD,
};
use support::Pair;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const TTL: Duration = Duration::from_secs(120);
const MARGIN: Duration = Duration::from_secs(30);

fn wall_start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn signer() -> JwtSigner {
    let template = ClaimTemplate::new("device-1", TTL).with_permissions(PermissionClaims {
        publish: vec!["sensors/#".into()],
        subscribe: vec!["sensors/+/cmd".into()],
    });
    JwtSigner::from_secret(Algorithm::HS256, SECRET, template).unwrap()
}

fn auth(source: TokenSource) -> AuthConfig {
    AuthConfig::new(source).with_refresh_margin(MARGIN)
}

fn config(auth: &AuthConfig, protocol: ProtocolVersion) -> ClientConfig {
    ClientConfig {
        protocol,
        client_id: "device-1".into(),
        clean_start: false,
        keep_alive: Duration::ZERO,
        token_auth: Some(auth.token_auth()),
        // Only the token timer runs, so each test can name the next deadline exactly.
        reconnect: ReconnectConfig {
            stable_after: Duration::ZERO,
            ..ReconnectConfig::default()
        },
        ..ClientConfig::default()
    }
}

/// A client whose token source is `auth`, asked at the simulated wall-clock time (as the
/// adapter does).
fn start_with(auth: AuthConfig, protocol: ProtocolVersion) -> Pair {
    let mut pair = Pair::new(config(&auth, protocol));
    pair.client.handle_wall_clock(pair.now, wall_start());
    let start = pair.start;
    pair.token_source = Some(Box::new(move |now| {
        auth.auth_token(wall_start() + (now - start))
            .map_err(TokenError::new)
    }));
    pair
}

fn start(source: TokenSource) -> Pair {
    start_with(auth(source), ProtocolVersion::V311)
}

fn wall(pair: &Pair) -> SystemTime {
    wall_start() + pair.elapsed()
}

fn password(connect: &Connect) -> String {
    String::from_utf8(connect.password.clone().expect("a password").to_vec()).unwrap()
}

fn validator() -> Validator {
    Validator::from_secret(&[Algorithm::HS256], SECRET).unwrap()
}

fn connack_v5(pair: &mut Pair, method: Option<&str>) {
    pair.send(Packet::ConnAck(Box::new(ConnAck {
        session_present: false,
        code: ReasonCode::SUCCESS,
        properties: ConnAckProperties {
            authentication_method: method.map(str::to_owned),
            ..ConnAckProperties::default()
        },
    })));
}

fn auth_packet(reason: ReasonCode) -> Packet {
    Packet::Auth(Box::new(Auth {
        reason,
        properties: AuthProperties {
            authentication_method: Some(JWT_AUTH_METHOD.into()),
            ..AuthProperties::default()
        },
    }))
}

#[test]
fn connect_carries_a_valid_token_as_password_and_sub_as_username() {
    let mut pair = start(TokenSource::Signer(signer()));
    pair.client.connect(pair.now);
    pair.drive();
    assert_eq!(
        pair.actions,
        vec![
            Action::FetchToken,
            Action::Connect(jamey_mqtt_core::Endpoint::new("localhost", 1883))
        ]
    );
    let connect = pair.expect_connect();
    assert_eq!(connect.username.as_deref(), Some("device-1"));
    let claims = validator()
        .validate(&password(&connect), wall(&pair))
        .unwrap();
    assert_eq!(claims.sub, "device-1");
    assert_eq!(claims.exp, 1_700_000_000 + TTL.as_secs());
    // The health snapshot names the expiry of the token in use (for the metrics).
    assert_eq!(
        pair.client.health().token_expires_at,
        Some(wall_start() + TTL)
    );
}

#[test]
fn connect_waits_for_a_token_that_comes_later() {
    let mut pair = start(TokenSource::Signer(signer()));
    let source = pair.token_source.take().unwrap();
    pair.client.connect(pair.now);
    pair.drive();
    assert!(pair.take_sent().is_empty(), "no CONNECT without a token");
    assert_eq!(pair.client.state(), ConnectionState::Opening);
    pair.token_source = Some(source);
    let mut source = pair.token_source.take().unwrap();
    pair.advance(Duration::from_secs(1));
    let token = source(pair.now);
    pair.client.handle_token(pair.now, token);
    pair.drive();
    let connect = pair.expect_connect();
    validator()
        .validate(&password(&connect), wall(&pair))
        .unwrap();
}

#[test]
fn a_token_that_never_comes_is_bounded_by_the_connect_timeout() {
    let mut pair = start(TokenSource::Signer(signer()));
    pair.token_source = None;
    pair.client.connect(pair.now);
    pair.drive();
    pair.advance(ReconnectConfig::default().connect_timeout);
    let events = pair.take_events();
    assert!(
        matches!(
            events.first(),
            Some(Event::ConnectFailed(ConnectError::Timeout))
        ),
        "{events:?}"
    );
    assert!(pair.take_sent().is_empty());
}

#[test]
fn refresh_fires_at_exp_minus_margin_and_reconnects_with_the_new_token() {
    let mut pair = start(TokenSource::Signer(signer()));
    pair.client.connect(pair.now);
    pair.drive();
    let first = password(&pair.expect_connect());
    pair.connack(false);
    pair.take_events();
    assert_eq!(pair.client.poll_timeout(), Some(pair.start + TTL - MARGIN));

    pair.advance(TTL - MARGIN - Duration::from_millis(1));
    assert!(
        pair.take_events().is_empty(),
        "no refresh before exp - margin"
    );
    pair.actions.clear();
    pair.advance(Duration::from_millis(1));
    let events = pair.take_events();
    assert!(
        matches!(
            events.first(),
            Some(Event::TokenRefreshed {
                expires_at: Some(_),
                reauthenticating: false,
            })
        ),
        "{events:?}"
    );
    // A graceful DISCONNECT, then a new transport and CONNECT with the new token.
    let sent = pair.take_sent();
    assert!(
        matches!(sent.as_slice(), [Packet::Disconnect(_), Packet::Connect(_)]),
        "{sent:?}"
    );
    assert_eq!(
        pair.actions,
        vec![
            Action::FetchToken,
            Action::Close,
            Action::Connect(jamey_mqtt_core::Endpoint::new("localhost", 1883))
        ]
    );
    let Packet::Connect(connect) = &sent[1] else {
        unreachable!()
    };
    let second = password(connect);
    assert_ne!(first, second);
    let claims = validator().validate(&second, wall(&pair)).unwrap();
    assert_eq!(claims.iat, 1_700_000_000 + (TTL - MARGIN).as_secs());
    assert!(!connect.clean_start, "the session is resumed");
    assert_eq!(pair.client.stats().tokens_refreshed, 1);
    assert_eq!(
        pair.client.health().token_expires_at,
        Some(wall_start() + (TTL - MARGIN) + TTL)
    );
}

#[test]
fn no_message_is_lost_across_a_refresh() {
    let mut pair = start(TokenSource::Signer(signer()));
    pair.client.connect(pair.now);
    pair.drive();
    pair.expect_connect();
    pair.connack(false);
    let token = pair
        .client
        .publish(
            pair.now,
            PublishRequest::new("sensors/1/temp", "21.5", QoS::AtLeastOnce),
        )
        .unwrap();
    pair.drive();
    let pkid = match pair.take_sent().as_slice() {
        [Packet::Publish(p)] => p.pkid,
        other => panic!("{other:?}"),
    };
    pair.advance(TTL - MARGIN);
    pair.take_sent();
    // Publishing during the reconnect queues; it is sent after CONNACK.
    let later = pair
        .client
        .publish(
            pair.now,
            PublishRequest::new("sensors/1/temp", "22.0", QoS::AtLeastOnce),
        )
        .unwrap();
    pair.connack(true);
    let resent = pair.take_sent();
    let publishes: Vec<_> = resent
        .iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some((p.pkid, p.dup, p.payload.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(publishes.len(), 2, "{resent:?}");
    assert_eq!(
        (publishes[0].0, publishes[0].1),
        (pkid, true),
        "in-flight replayed with DUP"
    );
    assert_eq!(&publishes[1].2[..], b"22.0");
    pair.send(Packet::PubAck(Ack::success(pkid)));
    pair.send(Packet::PubAck(Ack::success(publishes[1].0)));
    let done: Vec<_> = pair
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Published { token, .. } => Some(token),
            _ => None,
        })
        .collect();
    assert_eq!(done, vec![token, later]);
}

/// A provider that can be switched to failing, like an identity service going down.
struct FlakyProvider {
    signer: JwtSigner,
    down: Arc<AtomicBool>,
}

impl TokenProvider for FlakyProvider {
    fn token(&self, now: SystemTime) -> Result<String, AuthError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(AuthError::Provider("identity service unavailable".into()));
        }
        Ok(self.signer.sign(now)?.expose().to_owned())
    }
}

/// The token source's `AuthError::Provider`, reached through the standard error chain.
fn is_provider_error(error: &TokenError) -> bool {
    let source = std::error::Error::source(error);
    matches!(
        source.and_then(|s| s.downcast_ref::<AuthError>()),
        Some(AuthError::Provider(_))
    )
}

#[test]
fn failed_refresh_keeps_the_connection_until_expiry_and_never_sends_an_expired_token() {
    let down = Arc::new(AtomicBool::new(false));
    let provider = FlakyProvider {
        signer: signer(),
        down: down.clone(),
    };
    let mut pair = start(TokenSource::provider(provider));
    pair.client.connect(pair.now);
    pair.drive();
    pair.expect_connect();
    pair.connack(false);
    pair.take_events();
    down.store(true, Ordering::SeqCst);

    pair.advance(TTL - MARGIN);
    let events = pair.take_events();
    assert!(
        matches!(events.as_slice(), [Event::TokenRefreshFailed(e)] if is_provider_error(e)),
        "{events:?}"
    );
    assert_eq!(pair.client.state(), ConnectionState::Connected);
    // Retried while the token is still valid; the connection stays up.
    pair.advance(MARGIN - Duration::from_secs(1));
    assert!(pair
        .take_events()
        .iter()
        .all(|e| matches!(e, Event::TokenRefreshFailed(_))));
    assert!(pair.take_sent().is_empty());
    assert!(pair.client.stats().token_refresh_failures >= 2);
    // At expiry it reconnects, and since no token can be had, no CONNECT goes out at all.
    pair.advance(Duration::from_secs(1));
    let events = pair.take_events();
    assert!(
        events.iter().any(
            |e| matches!(e, Event::ConnectFailed(ConnectError::Token(e)) if is_provider_error(e))
        ),
        "{events:?}"
    );
    let sent = pair.take_sent();
    assert!(
        !sent.iter().any(|p| matches!(p, Packet::Connect(_))),
        "an expired token must never be sent: {sent:?}"
    );
    // The identity service comes back: the next attempt carries a fresh, valid token.
    down.store(false, Ordering::SeqCst);
    let connect = pair.reconnect(true);
    validator()
        .validate(&password(&connect), wall(&pair))
        .unwrap();
}

#[test]
fn refused_credentials_get_a_fresh_token_for_the_next_attempt() {
    let mut pair = start(TokenSource::Signer(signer()));
    pair.client.connect(pair.now);
    pair.drive();
    let first = password(&pair.expect_connect());
    pair.connack_with(false, ReasonCode::BAD_USER_NAME_OR_PASSWORD);
    let second = password(&pair.reconnect(false));
    assert_ne!(first, second);
}

#[test]
fn token_permissions_are_enforced_before_anything_leaves() {
    let mut pair = start(TokenSource::Signer(signer()));
    // Before the first token the permissions are unknown: requests wait in the queue, and
    // those the token does not allow fail when it comes, before anything is sent.
    let early = pair
        .client
        .publish(
            pair.now,
            PublishRequest::new("admin/reboot", "now", QoS::AtLeastOnce),
        )
        .unwrap();
    pair.client.connect(pair.now);
    pair.drive();
    let events = pair.take_events();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::RequestFailed { token, error: RequestError::PermissionDenied { .. } }
                if *token == early
        )),
        "{events:?}"
    );
    pair.expect_connect();
    pair.connack(false);
    assert!(
        !pair
            .take_sent()
            .iter()
            .any(|p| matches!(p, Packet::Publish(_))),
        "the denied publish never leaves"
    );
    // With the token here, a denial is immediate.
    let denied = pair.client.publish(
        pair.now,
        PublishRequest::new("admin/reboot", "now", QoS::AtLeastOnce),
    );
    assert!(
        matches!(denied, Err(ClientError::PermissionDenied { .. })),
        "{denied:?}"
    );
    assert!(pair
        .client
        .publish(
            pair.now,
            PublishRequest::new("sensors/1/temp", "1", QoS::AtLeastOnce)
        )
        .is_ok());
    let filter = |f: &str| {
        vec![jamey_mqtt_core::packet::SubscribeFilter::new(
            f,
            QoS::AtLeastOnce,
        )]
    };
    assert!(pair
        .client
        .subscribe(pair.now, filter("sensors/7/cmd"))
        .is_ok());
    assert!(matches!(
        pair.client.subscribe(pair.now, filter("sensors/#")),
        Err(ClientError::PermissionDenied { .. })
    ));
    assert!(matches!(
        pair.client.publish(
            pair.now,
            PublishRequest::new("$SYS/x", "1", QoS::AtMostOnce)
        ),
        Err(ClientError::PermissionDenied { .. })
    ));
    assert_eq!(pair.client.stats().permission_denied, 4);
}

#[test]
fn without_the_wall_clock_token_connects_fail_with_a_clear_error() {
    let auth = auth(TokenSource::Signer(signer()));
    let mut pair = Pair::new(config(&auth, ProtocolVersion::V311));
    pair.client.connect(pair.now);
    pair.drive();
    let events = pair.take_events();
    assert!(
        matches!(events.first(), Some(Event::ConnectFailed(ConnectError::Token(e)))
            if e.to_string().contains("wall clock")),
        "{events:?}"
    );
    assert!(pair.take_sent().is_empty());
}

#[test]
fn the_token_never_shows_in_debug_output_of_the_connect_packet() {
    let mut pair = start(TokenSource::Signer(signer()));
    pair.client.connect(pair.now);
    pair.drive();
    let connect = pair.expect_connect();
    let token = password(&connect);
    let shown = format!(
        "{connect:?} {:?}",
        Packet::Connect(Box::new(connect.clone()))
    );
    assert!(!shown.contains(&token), "{shown}");
    assert!(shown.contains("[redacted]"));
}

// ---- MQTT 5: the method `JWT` and re-authentication ------------------------------------------

fn connect_v5() -> (Pair, Connect) {
    let mut pair = start_with(auth(TokenSource::Signer(signer())), ProtocolVersion::V5);
    pair.client.connect(pair.now);
    pair.drive();
    let connect = pair.expect_connect();
    (pair, connect)
}

fn auth_data(packet: &Packet) -> String {
    let Packet::Auth(auth) = packet else {
        panic!("expected AUTH, got {packet:?}")
    };
    assert_eq!(auth.reason, ReasonCode::RE_AUTHENTICATE);
    assert_eq!(
        auth.properties.authentication_method.as_deref(),
        Some(JWT_AUTH_METHOD)
    );
    let data = auth.properties.authentication_data.clone().unwrap();
    String::from_utf8(data.to_vec()).unwrap()
}

#[test]
fn mqtt5_sends_the_token_as_authentication_data_under_the_jwt_method() {
    let (_pair, connect) = connect_v5();
    assert_eq!(
        connect.properties.authentication_method.as_deref(),
        Some(JWT_AUTH_METHOD)
    );
    assert_eq!(connect.password, None, "the token goes once, as auth data");
    let data = connect.properties.authentication_data.clone().unwrap();
    let claims = validator()
        .validate(std::str::from_utf8(&data).unwrap(), wall_start())
        .unwrap();
    assert_eq!(claims.sub, "device-1");
    assert_eq!(connect.username.as_deref(), Some("device-1"));
}

#[test]
fn mqtt5_refreshes_in_place_by_reauthentication_without_a_new_connection() {
    let (mut pair, _) = connect_v5();
    connack_v5(&mut pair, Some(JWT_AUTH_METHOD));
    let token = pair
        .client
        .publish(
            pair.now,
            PublishRequest::new("sensors/1/temp", "1", QoS::AtLeastOnce),
        )
        .unwrap();
    pair.drive();
    let pkid = match pair.take_sent().as_slice() {
        [Packet::Publish(p)] => p.pkid,
        other => panic!("{other:?}"),
    };
    pair.take_events();
    pair.actions.clear();

    pair.advance(TTL - MARGIN);
    let events = pair.take_events();
    assert!(
        matches!(
            events.as_slice(),
            [Event::TokenRefreshed {
                reauthenticating: true,
                ..
            }]
        ),
        "{events:?}"
    );
    assert_eq!(pair.actions, vec![Action::FetchToken], "no new transport");
    let sent = pair.take_sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let fresh = auth_data(&sent[0]);
    let claims = validator().validate(&fresh, wall(&pair)).unwrap();
    assert_eq!(claims.iat, 1_700_000_000 + (TTL - MARGIN).as_secs());
    // Requests keep flowing during the exchange.
    pair.send(Packet::PubAck(Ack::success(pkid)));
    pair.send(auth_packet(ReasonCode::SUCCESS));
    let events = pair.take_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Published { token: t, .. } if *t == token)),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Reauthenticated { .. })),
        "{events:?}"
    );
    assert_eq!(pair.client.state(), ConnectionState::Connected);
    assert_eq!(pair.client.stats().connections, 1);
    // The new token is the one in use: its expiry is reported and its refresh is armed.
    let new_exp = wall_start() + (TTL - MARGIN) + TTL;
    assert_eq!(pair.client.health().token_expires_at, Some(new_exp));
    assert_eq!(
        pair.client.poll_timeout(),
        Some(pair.start + (TTL - MARGIN) + (TTL - MARGIN))
    );
}

#[test]
fn mqtt5_a_refused_reauthentication_reconnects_with_a_fresh_token() {
    let (mut pair, _) = connect_v5();
    connack_v5(&mut pair, Some(JWT_AUTH_METHOD));
    pair.advance(TTL - MARGIN);
    let refused = auth_data(&pair.take_sent()[0]);
    pair.take_events();
    pair.actions.clear();
    pair.send(Packet::Disconnect(Disconnect {
        reason: ReasonCode::NOT_AUTHORIZED,
        ..Disconnect::normal()
    }));
    let events = pair.take_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::ReauthenticationFailed(_))),
        "{events:?}"
    );
    let connect = pair.reconnect_transport();
    assert!(
        pair.actions.contains(&Action::FetchToken),
        "a fresh token is asked for: {:?}",
        pair.actions
    );
    let data = connect.properties.authentication_data.unwrap();
    assert_ne!(data, Bytes::from(refused), "not the refused token again");
}

#[test]
fn mqtt5_a_broker_without_the_method_gets_the_token_as_password_at_once() {
    let (mut pair, first) = connect_v5();
    assert!(first.properties.authentication_method.is_some());
    pair.connack_with(false, ReasonCode::BAD_AUTHENTICATION_METHOD);
    let events = pair.take_events();
    assert!(
        !events.iter().any(|e| matches!(e, Event::ConnectFailed(_))),
        "falling back is no failure: {events:?}"
    );
    // The next attempt starts at once, without the method.
    pair.drive();
    let connect = pair.reconnect_transport();
    assert_eq!(pair.elapsed(), Duration::ZERO, "no backoff");
    assert_eq!(connect.properties.authentication_method, None);
    validator()
        .validate(&password(&connect), wall(&pair))
        .unwrap();
    connack_v5(&mut pair, None);
    // Refreshes then reconnect, as on 3.1.1.
    pair.advance(TTL - MARGIN);
    let sent = pair.take_sent();
    assert!(
        matches!(sent.as_slice(), [Packet::Disconnect(_), Packet::Connect(_)]),
        "{sent:?}"
    );
}

/// Found by the `client` fuzz target (`fuzz_regressions/client/token-deadline-twice`): while
/// `disconnect()` drained a request in flight, the refresh deadline passed, and `poll_timeout`
/// kept reporting it while `handle_timeout` (rightly) refreshed nothing for a closing
/// connection: an adapter would spin. A draining connection has no refresh timer.
#[test]
fn a_draining_connection_has_no_refresh_timer() {
    let mut pair = start(TokenSource::Signer(signer()));
    // Draining lasts up to the connect timeout: longer than the token's refresh time here.
    let mut long_drain = config(&auth(TokenSource::Signer(signer())), ProtocolVersion::V311);
    long_drain.reconnect.connect_timeout = TTL * 2;
    pair.client = jamey_mqtt_core::Client::new(long_drain, pair.now).unwrap();
    pair.client.handle_wall_clock(pair.now, wall_start());
    pair.client.connect(pair.now);
    pair.drive();
    pair.expect_connect();
    pair.connack(false);
    pair.client
        .publish(
            pair.now,
            PublishRequest::new("sensors/1/temp", "1", QoS::AtLeastOnce),
        )
        .unwrap();
    pair.client.disconnect(pair.now);
    pair.drive();
    assert_eq!(pair.client.state(), ConnectionState::Draining);
    pair.actions.clear();
    pair.advance(TTL - MARGIN);
    assert_eq!(pair.client.state(), ConnectionState::Draining);
    assert!(
        pair.client.poll_timeout().is_none_or(|d| d > pair.now),
        "a passed deadline stays reported"
    );
    assert!(
        !pair.actions.contains(&Action::FetchToken),
        "{:?}",
        pair.actions
    );
}

/// Mosquitto 2.0.11 refuses a re-authentication with a failure CONNACK on the live connection
/// (not a DISCONNECT): the client reads it as the refusal with the broker's reason, holds it
/// against no request, and reconnects with a fresh token.
#[test]
fn mqtt5_a_reauthentication_refused_by_connack_is_the_refusal_not_a_protocol_error() {
    let (mut pair, _) = connect_v5();
    connack_v5(&mut pair, Some(JWT_AUTH_METHOD));
    pair.client
        .publish(
            pair.now,
            PublishRequest::new("sensors/1/temp", "1", QoS::AtLeastOnce),
        )
        .unwrap();
    pair.advance(TTL - MARGIN);
    let refused = auth_data(pair.take_sent().last().unwrap());
    pair.take_events();
    pair.connack_with(false, ReasonCode::NOT_AUTHORIZED);
    let events = pair.take_events();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::ReauthenticationFailed(jamey_mqtt_core::ReauthError::Refused(
                ReasonCode::NOT_AUTHORIZED
            ))
        )),
        "{events:?}"
    );
    assert!(
        !events.iter().any(|e| matches!(
            e,
            Event::ConnectionLost(jamey_mqtt_core::LostReason::Protocol(_))
        )),
        "{events:?}"
    );
    assert_eq!(pair.client.stats().protocol_errors, 0);
    let connect = pair.reconnect_transport();
    let data = connect.properties.authentication_data.unwrap();
    assert_ne!(
        data,
        Bytes::from(refused),
        "a fresh token, not the refused one"
    );
}
