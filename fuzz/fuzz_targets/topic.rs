#![no_main]
//! cargo-fuzz target `topic`: see [`jamey_mqtt_fuzz::topic`] for what it asserts.
libfuzzer_sys::fuzz_target!(|data: &[u8]| jamey_mqtt_fuzz::topic::run(data));
