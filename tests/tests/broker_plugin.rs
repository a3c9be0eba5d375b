//! The Mosquitto JWT plugin (`broker-plugin/`) loaded into real brokers: the scenarios of
//! `jamey_mqtt_tests::scenarios::jwt_plugin`, on tokio (the broker is what is under test; the
//! JWT refresh scenario of the runtime suite runs against the same plugin on every runtime).

use jamey_mqtt_tests::scenarios;

fn block_on<F: std::future::Future<Output = ()>>(future: F) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

type Rt = jamey_mqtt_tokio::TokioRuntime;

#[test]
fn refuses_bad_tokens() {
    block_on(scenarios::jwt_plugin_refuses_bad_tokens::<Rt>())
}

#[test]
fn publish_outside_grants_is_not_delivered() {
    block_on(scenarios::jwt_plugin_publish_outside_grants_is_not_delivered::<Rt>())
}

#[test]
fn subscribe_outside_grants_fails_per_filter() {
    block_on(scenarios::jwt_plugin_subscribe_outside_grants_fails_per_filter::<Rt>())
}

#[test]
fn client_and_broker_agree_on_a_table() {
    block_on(scenarios::jwt_plugin_client_and_broker_agree_on_a_table::<Rt>())
}

#[test]
fn mqtt5_connect_and_reauthenticate() {
    block_on(scenarios::jwt_plugin_mqtt5_connect_and_reauthenticate::<Rt>())
}

#[test]
fn token_expiring_while_connected_is_denied() {
    block_on(scenarios::jwt_plugin_token_expiring_while_connected_is_denied::<Rt>())
}

#[test]
fn reauthentication_under_load_loses_nothing() {
    block_on(scenarios::jwt_plugin_reauthentication_under_load_loses_nothing::<Rt>())
}

#[test]
fn offline_persistent_session_keeps_its_grant() {
    block_on(scenarios::jwt_plugin_offline_persistent_session_keeps_its_grant::<Rt>())
}

#[test]
fn client_refreshes_by_reauthentication_on_mqtt5() {
    block_on(scenarios::jwt_plugin_client_refreshes_by_reauthentication_on_mqtt5::<Rt>())
}

#[test]
fn refused_refresh_reconnects_with_a_fresh_token() {
    block_on(scenarios::jwt_plugin_refused_refresh_reconnects_with_a_fresh_token::<Rt>())
}
