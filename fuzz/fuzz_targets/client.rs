#![no_main]
//! cargo-fuzz target `client`: see [`jamey_mqtt_fuzz::client`] for what it asserts.
libfuzzer_sys::fuzz_target!(|data: &[u8]| jamey_mqtt_fuzz::client::run(data));
