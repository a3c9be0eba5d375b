//! MQTT 5 enhanced authentication against a scripted broker: CONNECT carries the method and
//! data, challenge/response rounds through `Event::AuthChallenge` and `auth_respond`,
//! re-authentication on a live connection, and the protocol errors and refusals around them.

mod support;

use std::time::Duration;

use bytes::Bytes;
use jamey_mqtt_core::packet::{
    Auth, AuthProperties, ConnAck, ConnAckProperties, Disconnect, Packet, ProtocolVersion, QoS,
    ReasonCode,
};
use jamey_mqtt_core::{
    AuthChallenge, ClientConfig, ClientError, ConfigError, ConnectError, ConnectionState,
    EnhancedAuth, Event, LostReason, ProtocolError, PublishRequest, ReauthError,
};
use support::Pair;

const METHOD: &str = "SCRAM-TEST";

fn config() -> ClientConfig {
    ClientConfig {
        protocol: ProtocolVersion::V5,
        client_id: "auth".into(),
        authentication: Some(EnhancedAuth::new(METHOD).initial_data("client-first")),
        ..ClientConfig::default()
    }
}

fn auth(reason: ReasonCode, method: &str, data: &str) -> Packet {
    Packet::Auth(Box::new(Auth {
        reason,
        properties: AuthProperties {
            authentication_method: Some(method.into()),
            authentication_data: Some(Bytes::copy_from_slice(data.as_bytes())),
            reason_string: None,
            user_properties: Vec::new(),
        },
    }))
}

fn connack_ok() -> Packet {
    Packet::ConnAck(Box::new(ConnAck {
        session_present: false,
        code: ReasonCode::SUCCESS,
        properties: ConnAckProperties {
            authentication_method: Some(METHOD.into()),
            ..ConnAckProperties::default()
        },
    }))
}

fn challenge(pair: &mut Pair) -> AuthChallenge {
    match pair.take_events().as_slice() {
        [Event::AuthChallenge(challenge)] => challenge.clone(),
        other => panic!("expected one AuthChallenge, got {other:?}"),
    }
}

fn expect_auth(pair: &mut Pair) -> Auth {
    match pair.take_sent().as_slice() {
        [Packet::Auth(auth)] => *auth.clone(),
        other => panic!("expected one AUTH, got {other:?}"),
    }
}

/// Started: CONNECT sent and taken.
fn connecting() -> Pair {
    let mut pair = Pair::new(config());
    pair.client.connect(pair.now);
    pair.drive();
    pair.expect_connect();
    pair
}

fn connected() -> Pair {
    let mut pair = connecting();
    pair.send(connack_ok());
    assert!(matches!(
        pair.take_events().as_slice(),
        [Event::Connected { .. }]
    ));
    pair
}

#[test]
fn connect_carries_the_method_and_initial_data() {
    let mut pair = Pair::new(config());
    pair.client.connect(pair.now);
    pair.drive();
    let connect = pair.expect_connect();
    assert_eq!(
        connect.properties.authentication_method.as_deref(),
        Some(METHOD)
    );
    assert_eq!(
        connect.properties.authentication_data.as_deref(),
        Some(&b"client-first"[..])
    );
}

#[test]
fn two_challenge_rounds_then_connack_success() {
    let mut pair = connecting();
    for (round, (server, client)) in [("server-first", "client-final"), ("server-final", "ok")]
        .into_iter()
        .enumerate()
    {
        pair.send(auth(ReasonCode::CONTINUE_AUTHENTICATION, METHOD, server));
        let challenge = challenge(&mut pair);
        assert_eq!(challenge.method, METHOD, "round {round}");
        assert_eq!(challenge.data.as_deref(), Some(server.as_bytes()));
        assert!(!challenge.reauthenticating);
        assert_eq!(pair.client.state(), ConnectionState::Connecting);
        pair.client
            .auth_respond(pair.now, Some(Bytes::from(client)))
            .unwrap();
        pair.drive();
        let sent = expect_auth(&mut pair);
        assert_eq!(sent.reason, ReasonCode::CONTINUE_AUTHENTICATION);
        assert_eq!(
            sent.properties.authentication_method.as_deref(),
            Some(METHOD)
        );
        assert_eq!(
            sent.properties.authentication_data.as_deref(),
            Some(client.as_bytes())
        );
        // One answer per challenge.
        assert_eq!(
            pair.client.auth_respond(pair.now, None),
            Err(ClientError::NoAuthChallenge)
        );
    }
    pair.send(connack_ok());
    assert!(matches!(
        pair.take_events().as_slice(),
        [Event::Connected { .. }]
    ));
    assert_eq!(pair.client.state(), ConnectionState::Connected);
}

#[test]
fn a_wrong_method_is_a_protocol_error() {
    let mut pair = connecting();
    pair.send(auth(ReasonCode::CONTINUE_AUTHENTICATION, "OTHER", "x"));
    let events = pair.take_events();
    assert!(
        matches!(
            events.first(),
            Some(Event::ConnectFailed(ConnectError::Protocol(
                ProtocolError::AuthenticationMethodMismatch { .. }
            )))
        ),
        "{events:?}"
    );
    assert_eq!(pair.client.stats().protocol_errors, 1);
    // The client says why before closing.
    assert!(matches!(
        pair.take_sent().as_slice(),
        [Packet::Disconnect(Disconnect {
            reason: ReasonCode::PROTOCOL_ERROR,
            ..
        })]
    ));
}

#[test]
fn a_refusal_is_a_typed_error() {
    let mut pair = connecting();
    pair.send(auth(
        ReasonCode::CONTINUE_AUTHENTICATION,
        METHOD,
        "server-first",
    ));
    challenge(&mut pair);
    pair.client
        .auth_respond(pair.now, Some(Bytes::from("wrong")))
        .unwrap();
    pair.drive();
    pair.take_sent();
    pair.connack_with(false, ReasonCode::NOT_AUTHORIZED);
    let events = pair.take_events();
    assert!(
        matches!(
            events.first(),
            Some(Event::ConnectFailed(ConnectError::Refused(
                ReasonCode::NOT_AUTHORIZED
            )))
        ),
        "{events:?}"
    );
    // A bad method refusal is permanent: retrying cannot fix it.
    assert!(ConnectError::Refused(ReasonCode::BAD_AUTHENTICATION_METHOD).is_permanent());
}

#[test]
fn the_application_may_abort_a_connect_exchange() {
    let mut pair = connecting();
    pair.send(auth(
        ReasonCode::CONTINUE_AUTHENTICATION,
        METHOD,
        "server-first",
    ));
    challenge(&mut pair);
    pair.client.auth_abort(pair.now);
    pair.drive();
    let events = pair.take_events();
    assert!(
        matches!(
            events.first(),
            Some(Event::ConnectFailed(ConnectError::AuthenticationAborted))
        ),
        "{events:?}"
    );
    assert!(!pair.link_up);
}

#[test]
fn the_connect_timeout_bounds_an_unanswered_challenge() {
    let mut pair = connecting();
    let timeout = ClientConfig::default().reconnect.connect_timeout;
    pair.send(auth(
        ReasonCode::CONTINUE_AUTHENTICATION,
        METHOD,
        "server-first",
    ));
    challenge(&mut pair);
    pair.advance(timeout - Duration::from_millis(1));
    assert_eq!(pair.client.state(), ConnectionState::Connecting);
    pair.advance(Duration::from_millis(1));
    let events = pair.take_events();
    assert!(
        matches!(
            events.first(),
            Some(Event::ConnectFailed(ConnectError::Timeout))
        ),
        "{events:?}"
    );
    // A late answer is refused: the exchange ended with the attempt.
    assert_eq!(
        pair.client.auth_respond(pair.now, None),
        Err(ClientError::NoAuthChallenge)
    );
}

#[test]
fn reauthentication_with_a_challenge_then_success() {
    let mut pair = connected();
    pair.client
        .reauthenticate(pair.now, Some(Bytes::from("again")))
        .unwrap();
    pair.drive();
    let sent = expect_auth(&mut pair);
    assert_eq!(sent.reason, ReasonCode::RE_AUTHENTICATE);
    assert_eq!(
        sent.properties.authentication_method.as_deref(),
        Some(METHOD)
    );
    assert_eq!(
        sent.properties.authentication_data.as_deref(),
        Some(&b"again"[..])
    );

    // Requests keep flowing during the exchange.
    pair.client
        .publish(pair.now, PublishRequest::new("t", "p", QoS::AtLeastOnce))
        .unwrap();
    pair.drive();
    assert!(matches!(pair.take_sent().as_slice(), [Packet::Publish(_)]));

    pair.send(auth(
        ReasonCode::CONTINUE_AUTHENTICATION,
        METHOD,
        "prove it",
    ));
    let challenge = challenge(&mut pair);
    assert!(challenge.reauthenticating);
    assert_eq!(challenge.data.as_deref(), Some(&b"prove it"[..]));
    pair.client
        .auth_respond(pair.now, Some(Bytes::from("proof")))
        .unwrap();
    pair.drive();
    assert_eq!(
        expect_auth(&mut pair).reason,
        ReasonCode::CONTINUE_AUTHENTICATION
    );

    pair.send(auth(ReasonCode::SUCCESS, METHOD, "welcome back"));
    assert_eq!(
        pair.take_events(),
        vec![Event::Reauthenticated {
            data: Some(Bytes::from("welcome back"))
        }]
    );
    assert_eq!(pair.client.state(), ConnectionState::Connected);
    // Another one may start now.
    pair.client.reauthenticate(pair.now, None).unwrap();
}

#[test]
fn reauthentication_success_at_once() {
    let mut pair = connected();
    pair.client.reauthenticate(pair.now, None).unwrap();
    pair.drive();
    expect_auth(&mut pair);
    pair.send(auth(ReasonCode::SUCCESS, METHOD, ""));
    assert!(matches!(
        pair.take_events().as_slice(),
        [Event::Reauthenticated { .. }]
    ));
}

#[test]
fn a_second_concurrent_reauthentication_is_refused() {
    let mut pair = connected();
    pair.client.reauthenticate(pair.now, None).unwrap();
    assert_eq!(
        pair.client.reauthenticate(pair.now, None),
        Err(ClientError::ReauthenticationInProgress)
    );
    pair.drive();
    assert_eq!(pair.take_sent().len(), 1);
}

#[test]
fn a_broker_refusing_a_reauthentication_ends_the_connection() {
    let mut pair = connected();
    pair.client.reauthenticate(pair.now, None).unwrap();
    pair.drive();
    pair.take_sent();
    pair.send(Packet::Disconnect(Disconnect {
        reason: ReasonCode::NOT_AUTHORIZED,
        ..Disconnect::normal()
    }));
    let events = pair.take_events();
    assert!(
        events.contains(&Event::ReauthenticationFailed(ReauthError::ConnectionLost)),
        "{events:?}"
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::ConnectionLost(LostReason::ServerDisconnect {
            reason: ReasonCode::NOT_AUTHORIZED,
            ..
        })
    )));
}

#[test]
fn an_unsolicited_auth_on_a_live_connection_is_a_protocol_error() {
    let mut pair = connected();
    pair.send(auth(ReasonCode::SUCCESS, METHOD, ""));
    let events = pair.take_events();
    assert!(
        matches!(
            events.first(),
            Some(Event::ConnectionLost(LostReason::Protocol(
                ProtocolError::UnexpectedPacket { packet: "AUTH", .. }
            )))
        ),
        "{events:?}"
    );
}

#[test]
fn auth_without_enhanced_auth_is_still_a_protocol_error() {
    let mut pair = Pair::new(ClientConfig {
        protocol: ProtocolVersion::V5,
        client_id: "plain".into(),
        ..ClientConfig::default()
    });
    pair.client.connect(pair.now);
    pair.drive();
    let connect = pair.expect_connect();
    assert_eq!(connect.properties.authentication_method, None);
    pair.send(auth(ReasonCode::CONTINUE_AUTHENTICATION, METHOD, "x"));
    let events = pair.take_events();
    assert!(
        matches!(
            events.first(),
            Some(Event::ConnectFailed(ConnectError::Protocol(
                ProtocolError::UnexpectedPacket { packet: "AUTH", .. }
            )))
        ),
        "{events:?}"
    );
    // And the commands say why they cannot work.
    let mut pair = Pair::connected(ClientConfig {
        protocol: ProtocolVersion::V5,
        client_id: "plain".into(),
        ..ClientConfig::default()
    });
    assert_eq!(
        pair.client.reauthenticate(pair.now, None),
        Err(ClientError::NoEnhancedAuth)
    );
    assert_eq!(
        pair.client.auth_respond(pair.now, None),
        Err(ClientError::NoAuthChallenge)
    );
}

#[test]
fn enhanced_auth_is_refused_on_mqtt_3_1_1() {
    let error = jamey_mqtt_core::Client::new(
        ClientConfig {
            protocol: ProtocolVersion::V311,
            ..config()
        },
        std::time::Instant::now(),
    )
    .unwrap_err();
    assert_eq!(error, ConfigError::new("authentication", "MQTT 5 only"));
}

#[test]
fn a_connack_naming_another_method_is_a_protocol_error() {
    let mut pair = connecting();
    pair.send(Packet::ConnAck(Box::new(ConnAck {
        session_present: false,
        code: ReasonCode::SUCCESS,
        properties: ConnAckProperties {
            authentication_method: Some("OTHER".into()),
            ..ConnAckProperties::default()
        },
    })));
    let events = pair.take_events();
    assert!(
        matches!(
            events.first(),
            Some(Event::ConnectFailed(ConnectError::Protocol(
                ProtocolError::AuthenticationMethodMismatch { .. }
            )))
        ),
        "{events:?}"
    );
}

#[test]
fn the_connect_timeout_bounds_a_reauthentication() {
    let mut pair = connected();
    let timeout = ClientConfig::default().reconnect.connect_timeout;
    pair.client.reauthenticate(pair.now, None).unwrap();
    pair.drive();
    expect_auth(&mut pair);
    pair.send(auth(
        ReasonCode::CONTINUE_AUTHENTICATION,
        METHOD,
        "unanswered",
    ));
    challenge(&mut pair);
    pair.advance(timeout);
    let events = pair.take_events();
    assert!(
        events.contains(&Event::ReauthenticationFailed(ReauthError::TimedOut)),
        "{events:?}"
    );
    assert!(
        events.contains(&Event::ConnectionLost(LostReason::Reauthentication(
            ReauthError::TimedOut
        )))
    );
    assert!(matches!(
        pair.take_sent().as_slice(),
        [Packet::Disconnect(Disconnect {
            reason: ReasonCode::NOT_AUTHORIZED,
            ..
        })]
    ));
}

#[test]
fn aborting_a_reauthentication_closes_the_connection() {
    let mut pair = connected();
    pair.client.reauthenticate(pair.now, None).unwrap();
    pair.drive();
    expect_auth(&mut pair);
    pair.send(auth(
        ReasonCode::CONTINUE_AUTHENTICATION,
        METHOD,
        "prove it",
    ));
    challenge(&mut pair);
    pair.client.auth_abort(pair.now);
    pair.drive();
    let events = pair.take_events();
    assert_eq!(
        events.first(),
        Some(&Event::ReauthenticationFailed(ReauthError::Aborted)),
        "{events:?}"
    );
    assert!(matches!(
        pair.take_sent().as_slice(),
        [Packet::Disconnect(Disconnect {
            reason: ReasonCode::NOT_AUTHORIZED,
            ..
        })]
    ));
    // The reconnect authenticates afresh: CONNECT carries the method again.
    let connect = pair.reconnect_transport();
    assert_eq!(
        connect.properties.authentication_method.as_deref(),
        Some(METHOD)
    );
}
