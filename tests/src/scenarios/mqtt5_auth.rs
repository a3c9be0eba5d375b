//! MQTT 5 enhanced authentication (AUTH) end to end through the async client: Mosquitto 2.0.11
//! refuses a method it has no plugin for with reason 0x8C, and a scripted broker on a loopback
//! socket (`crate::scripted::ScriptedBroker`, speaking only CONNECT/AUTH/CONNACK with the core's codec)
//! plays two challenge rounds so the [`Authenticator`](jamey_mqtt::Authenticator) plumbing
//! and `Client::reauthenticate` are exercised on each runtime.

use bytes::Bytes;
use jamey_mqtt::{ConnectError, EnhancedAuth, Error, ProtocolVersion, ReasonCode, Runtime};
use jamey_mqtt_core::packet::{Auth, AuthProperties, ConnAck, ConnAckProperties, Packet};

use super::{connect, connect_err, within, WAIT};
use crate::scripted::{ScriptLink, ScriptedBroker};
use crate::{Broker, BrokerOptions};

const METHOD: &str = "JAMEY-TEST";

fn v5(port: u16, client_id: &str) -> jamey_mqtt::Config {
    let mut config = jamey_mqtt::Config::new("127.0.0.1", port);
    config.mqtt.protocol = ProtocolVersion::V5;
    config.mqtt.client_id = client_id.into();
    config
}

/// Mosquitto without an authentication plugin answers a CONNECT with an authentication method
/// with CONNACK 0x8C (bad authentication method): `connect` fails with that typed refusal, and
/// it counts as permanent (retrying with the same method cannot help).
pub async fn unsupported_authentication_method_is_refused<R: Runtime + Default>() {
    let broker = Broker::start(BrokerOptions::plain(), None);
    let mut config = v5(broker.port(), "enhanced-auth");
    config.mqtt.authentication = Some(EnhancedAuth::new("SCRAM-SHA-256").initial_data("n,,n=user"));
    let error = connect_err::<R>(config).await;
    match &error {
        Error::Connect(refused @ ConnectError::Refused(ReasonCode::BAD_AUTHENTICATION_METHOD)) => {
            assert!(refused.is_permanent());
        }
        other => panic!("expected a 0x8C refusal, got {other:?}"),
    }
    assert_eq!(
        error.reason_code(),
        Some(ReasonCode::BAD_AUTHENTICATION_METHOD)
    );
}

/// Receives an AUTH with our method and `reason`; returns its data as text.
fn expect_auth(link: &mut ScriptLink, reason: ReasonCode) -> Result<String, String> {
    match link.receive()? {
        Packet::Auth(auth)
            if auth.reason == reason
                && auth.properties.authentication_method.as_deref() == Some(METHOD) =>
        {
            Ok(text(auth.properties.authentication_data))
        }
        other => Err(format!("expected AUTH {reason}, got {other:?}")),
    }
}

fn text(data: Option<Bytes>) -> String {
    String::from_utf8_lossy(&data.unwrap_or_default()).into_owned()
}

fn auth(reason: ReasonCode, data: &str) -> Packet {
    Packet::Auth(Box::new(Auth {
        reason,
        properties: AuthProperties {
            authentication_method: Some(METHOD.into()),
            authentication_data: Some(Bytes::copy_from_slice(data.as_bytes())),
            ..AuthProperties::default()
        },
    }))
}

/// The scripted broker's part ([`ScriptedBroker`]): CONNECT (with our method and initial
/// data) -> AUTH 0x18 "challenge-1" -> the client's AUTH 0x18 "answer-1" -> CONNACK; then AUTH
/// 0x19 from the client -> AUTH 0x18 "challenge-2" -> AUTH 0x18 "answer-2" -> AUTH 0x00 "welcome
/// back". Reports what it saw, in order, or the first mismatch.
fn script(link: &mut ScriptLink) -> Result<Vec<String>, String> {
    let mut seen = Vec::new();
    match link.receive()? {
        Packet::Connect(connect)
            if connect.properties.authentication_method.as_deref() == Some(METHOD) =>
        {
            seen.push(format!(
                "CONNECT {}",
                text(connect.properties.authentication_data)
            ));
        }
        other => return Err(format!("expected CONNECT with {METHOD}, got {other:?}")),
    }
    link.send(&auth(ReasonCode::CONTINUE_AUTHENTICATION, "challenge-1"))?;
    seen.push(format!(
        "AUTH {}",
        expect_auth(link, ReasonCode::CONTINUE_AUTHENTICATION)?
    ));
    link.send(&Packet::ConnAck(Box::new(ConnAck {
        session_present: false,
        code: ReasonCode::SUCCESS,
        properties: ConnAckProperties {
            authentication_method: Some(METHOD.into()),
            ..ConnAckProperties::default()
        },
    })))?;
    seen.push(format!(
        "REAUTH {}",
        expect_auth(link, ReasonCode::RE_AUTHENTICATE)?
    ));
    link.send(&auth(ReasonCode::CONTINUE_AUTHENTICATION, "challenge-2"))?;
    seen.push(format!(
        "AUTH {}",
        expect_auth(link, ReasonCode::CONTINUE_AUTHENTICATION)?
    ));
    link.send(&auth(ReasonCode::SUCCESS, "welcome back"))?;
    // Then the client's normal DISCONNECT.
    match link.receive()? {
        Packet::Disconnect(_) => seen.push("DISCONNECT".into()),
        other => return Err(format!("expected DISCONNECT, got {other:?}")),
    }
    Ok(seen)
}

/// JWT on MQTT 5 against a broker that knows no `JWT` method (Mosquitto without the plugin):
/// the first CONNECT carries the token under the method and is refused with 0x8C; the client
/// connects again at once with the token as the password, and `connect` succeeds. Two CONNECTs,
/// no reported failure, and the connection works.
pub async fn jwt_on_mqtt5_falls_back_to_the_password_without_the_method<R: Runtime + Default>() {
    use jamey_mqtt::auth::{
        Algorithm, AuthConfig, ClaimTemplate, JwtSigner, PermissionClaims, TokenSource,
    };
    use jamey_mqtt::QoS;
    let broker = Broker::start(BrokerOptions::plain(), None);
    let template = ClaimTemplate::new("jwt-v5-device", std::time::Duration::from_secs(600))
        .with_permissions(PermissionClaims {
            publish: vec!["jwt-v5/#".into()],
            subscribe: vec!["jwt-v5/#".into()],
        });
    let signer = JwtSigner::from_secret(Algorithm::HS256, &[5u8; 32], template).unwrap();
    let config =
        v5(broker.port(), "jwt-v5-device").auth(AuthConfig::new(TokenSource::Signer(signer)));
    let client = connect::<R>(config).await;
    let stats = client.stats().await.unwrap();
    assert_eq!(stats.core.connect_attempts, 2, "{stats:?}");
    assert_eq!(stats.core.connections, 1);
    let mut messages = client
        .subscribe("jwt-v5/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    client
        .publish("jwt-v5/x", "after fallback", QoS::AtLeastOnce)
        .await
        .unwrap();
    let message = super::next::<R>(&mut messages).await;
    assert_eq!(&message.payload[..], b"after fallback");
    client.disconnect().await.unwrap();
}

/// The authenticator answers both challenges (the connect's and the re-authentication's) on
/// the driver task, and `reauthenticate` resolves with the broker's final data.
pub async fn authenticator_answers_challenges_and_reauthenticates<R: Runtime + Default>() {
    let broker = ScriptedBroker::start(script);
    let mut config = v5(broker.port(), "scripted-auth").authenticator(|challenge| match challenge
        .data
        .as_deref()
    {
        Some(b"challenge-1") if !challenge.reauthenticating => {
            Ok(Some(Bytes::from_static(b"answer-1")))
        }
        Some(b"challenge-2") if challenge.reauthenticating => {
            Ok(Some(Bytes::from_static(b"answer-2")))
        }
        other => Err(format!("unexpected challenge {other:?}")),
    });
    config.mqtt.authentication = Some(EnhancedAuth::new(METHOD).initial_data("hello"));
    let client = connect::<R>(config).await;
    let data = within::<R, _>(
        WAIT,
        "re-authentication",
        client.reauthenticate(Some(Bytes::from_static(b"again"))),
    )
    .await
    .expect("re-authenticated");
    assert_eq!(data.as_deref(), Some(&b"welcome back"[..]));
    client.disconnect().await.unwrap();
    let seen = broker.finish();
    assert_eq!(
        seen,
        [
            "CONNECT hello",
            "AUTH answer-1",
            "REAUTH again",
            "AUTH answer-2",
            "DISCONNECT"
        ]
    );
}
