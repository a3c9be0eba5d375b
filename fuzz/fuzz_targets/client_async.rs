#![no_main]
//! cargo-fuzz target `client_async`: see [`jamey_mqtt_fuzz::client_async`] for what it asserts.
libfuzzer_sys::fuzz_target!(|data: &[u8]| jamey_mqtt_fuzz::client_async::run(data));
