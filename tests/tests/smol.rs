//! The whole scenario suite on smol: the same scenarios as `tokio.rs`, from the same source.
//! Each test blocks its thread on `smol::block_on`; the clients' driver tasks run on smol's
//! global executor, as they do for an application.

jamey_mqtt_tests::suite!(jamey_mqtt_smol::SmolRuntime, smol::block_on);
