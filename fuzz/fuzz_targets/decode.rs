#![no_main]
//! cargo-fuzz target `decode`: see [`jamey_mqtt_fuzz::decode`] for what it asserts.
libfuzzer_sys::fuzz_target!(|data: &[u8]| jamey_mqtt_fuzz::decode::run(data));
