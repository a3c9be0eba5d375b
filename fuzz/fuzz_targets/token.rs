#![no_main]
//! cargo-fuzz target `token`: see [`jamey_mqtt_fuzz::token`] for what it asserts.
libfuzzer_sys::fuzz_target!(|data: &[u8]| jamey_mqtt_fuzz::token::run(data));
