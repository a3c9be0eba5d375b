//! `jamey-mqtt-service [CONFIG.toml]`: runs the example service (see the crate docs). The
//! configuration file defaults to `$SERVICE_CONFIG`, then `service.toml`; a missing file means
//! every default (`MQTT_*` variables still apply).
//!
//! Logs: a `tracing-subscriber` writing to stderr, filtered by `RUST_LOG` (default `info`:
//! connection changes, reconnects, failures; `RUST_LOG=jamey_mqtt=debug` adds each request).

use std::path::PathBuf;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let path = std::env::args_os()
        .nth(1)
        .or_else(|| std::env::var_os("SERVICE_CONFIG"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("service.toml"));
    match jamey_mqtt_service::run(&path).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jamey-mqtt-service: {e}");
            ExitCode::FAILURE
        }
    }
}
