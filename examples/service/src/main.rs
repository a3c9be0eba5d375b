//! `jamey-mqtt-service [CONFIG.toml]`: runs the example service (see the crate docs). The
//! configuration file defaults to `$SERVICE_CONFIG`, then `service.toml`; a missing file means
//! every default (`MQTT_*` variables still apply).

use std::path::PathBuf;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
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
