//! JWT in the protocol, on a simulated clock: the token is the CONNECT password, it is refreshed
//! at `exp - refresh_margin` by a graceful reconnect that loses nothing, an expired token is
//! never sent, and the token's permissions are enforced before anything is queued.

mod support;

use jamey_mqtt_core::reconnect::ReconnectConfig;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jamey_mqtt_core::auth::{
    Algorithm, AuthConfig, AuthError, ClaimTemplate, JwtSigner, PermissionClaims, TokenProvider,
    TokenSource, Validator,
};
use jamey_mqtt_core::packet::{Ack, Connect, Packet, QoS};
use jamey_mqtt_core::{Action, ClientConfig, ClientError, ConnectError, Event, PublishRequest};
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

fn config(source: TokenSource) -> ClientConfig {
    ClientConfig {
        client_id: "device-1".into(),
        clean_start: false,
        keep_alive: Duration::ZERO,
        auth: Some(AuthConfig::new(source).with_refresh_margin(MARGIN)),
        // Only the token timer runs, so each test can name the next deadline exactly.
        reconnect: ReconnectConfig {
            stable_after: Duration::ZERO,
            ..ReconnectConfig::default()
        },
        ..ClientConfig::default()
    }
}

fn start(config: ClientConfig) -> Pair {
    let mut pair = Pair::new(config);
    pair.client.handle_wall_clock(pair.now, wall_start());
    pair
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

#[test]
fn connect_carries_a_valid_token_as_password_and_sub_as_username() {
    let mut pair = start(config(TokenSource::Signer(signer())));
    pair.client.connect(pair.now);
    pair.drive();
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
fn refresh_fires_at_exp_minus_margin_and_reconnects_with_the_new_token() {
    let mut pair = start(config(TokenSource::Signer(signer())));
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
                expires_at: Some(_)
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
    let mut pair = start(config(TokenSource::Signer(signer())));
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

#[test]
fn failed_refresh_keeps_the_connection_until_expiry_and_never_sends_an_expired_token() {
    let down = Arc::new(AtomicBool::new(false));
    let provider = FlakyProvider {
        signer: signer(),
        down: down.clone(),
    };
    let mut pair = start(config(TokenSource::provider(provider)));
    pair.client.connect(pair.now);
    pair.drive();
    pair.expect_connect();
    pair.connack(false);
    pair.take_events();
    down.store(true, Ordering::SeqCst);

    pair.advance(TTL - MARGIN);
    let events = pair.take_events();
    assert!(matches!(
        events.as_slice(),
        [Event::TokenRefreshFailed(AuthError::Provider(_))]
    ));
    assert_eq!(
        pair.client.state(),
        jamey_mqtt_core::ConnectionState::Connected
    );
    // Retried while the token is still valid; the connection stays up.
    pair.advance(MARGIN - Duration::from_secs(1));
    assert!(pair
        .take_events()
        .iter()
        .all(|e| matches!(e, Event::TokenRefreshFailed(_))));
    assert!(pair.take_sent().is_empty());
    assert!(pair.client.stats().token_refresh_failures >= 2);
    // At expiry it reconnects, and since no token can be minted, no CONNECT goes out at all.
    pair.advance(Duration::from_secs(1));
    let events = pair.take_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::ConnectFailed(ConnectError::Auth(_)))),
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
fn refused_credentials_mint_a_fresh_token_for_the_next_attempt() {
    let mut pair = start(config(TokenSource::Signer(signer())));
    pair.client.connect(pair.now);
    pair.drive();
    let first = password(&pair.expect_connect());
    pair.connack_with(
        false,
        jamey_mqtt_core::ReasonCode::BAD_USER_NAME_OR_PASSWORD,
    );
    let second = password(&pair.reconnect(false));
    assert_ne!(first, second);
}

#[test]
fn token_permissions_are_enforced_before_anything_is_queued() {
    let mut pair = start(config(TokenSource::Signer(signer())));
    // Even before the first connect: the token is minted to learn its permissions.
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
    assert_eq!(pair.client.health().queued, 2);
    assert_eq!(pair.client.stats().permission_denied, 3);
}

#[test]
fn without_the_wall_clock_jwt_connects_fail_with_a_clear_error() {
    let mut pair = Pair::new(config(TokenSource::Signer(signer())));
    pair.client.connect(pair.now);
    pair.drive();
    let events = pair.take_events();
    assert!(
        matches!(
            events.first(),
            Some(Event::ConnectFailed(ConnectError::Auth(
                AuthError::InvalidConfig(_)
            )))
        ),
        "{events:?}"
    );
    assert!(pair.take_sent().is_empty());
}

#[test]
fn the_token_never_shows_in_debug_output_of_the_connect_packet() {
    let mut pair = start(config(TokenSource::Signer(signer())));
    pair.client.connect(pair.now);
    pair.drive();
    let connect = pair.expect_connect();
    let token = password(&connect);
    let shown = format!("{connect:?} {:?}", Packet::Connect(connect.clone()));
    assert!(!shown.contains(&token), "{shown}");
    assert!(shown.contains("[redacted]"));
}
