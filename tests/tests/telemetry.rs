//! Issue 14 telemetry scenarios (`src/scenarios/telemetry.rs`) on tokio and smol. A binary of
//! its own: the tracing capture is a process-wide subscriber (the driver runs on the
//! runtime's threads), which must not slow down or see the rest of the suite.

use std::io;
use std::sync::{Arc, Mutex, OnceLock};

use jamey_mqtt_tests::scenarios::{
    metrics_pass_promtool, token_expiry_metric_is_the_tokens_exp,
    tracing_names_requests_and_hides_secrets,
};
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::fmt::MakeWriter;

/// Everything the subscriber wrote, at every level.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_span_events(FmtSpan::NEW | FmtSpan::CLOSE)
            .with_writer(capture.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        capture
    })
}

fn logs() -> String {
    let bytes = capture()
        .0
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn tokio_block_on<F: std::future::Future<Output = ()>>(future: F) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

#[test]
fn tokio_tracing_names_requests_and_hides_secrets() {
    capture();
    tokio_block_on(tracing_names_requests_and_hides_secrets::<
        jamey_mqtt_tokio::TokioRuntime,
    >(logs));
}

#[test]
fn smol_tracing_names_requests_and_hides_secrets() {
    capture();
    smol::block_on(tracing_names_requests_and_hides_secrets::<
        jamey_mqtt_smol::SmolRuntime,
    >(logs));
}

#[test]
fn tokio_metrics_pass_promtool() {
    capture();
    tokio_block_on(metrics_pass_promtool::<jamey_mqtt_tokio::TokioRuntime>());
}

#[test]
fn smol_metrics_pass_promtool() {
    capture();
    smol::block_on(metrics_pass_promtool::<jamey_mqtt_smol::SmolRuntime>());
}

#[test]
fn tokio_token_expiry_metric_is_the_tokens_exp() {
    capture();
    tokio_block_on(token_expiry_metric_is_the_tokens_exp::<
        jamey_mqtt_tokio::TokioRuntime,
    >());
}

#[test]
fn smol_token_expiry_metric_is_the_tokens_exp() {
    capture();
    smol::block_on(token_expiry_metric_is_the_tokens_exp::<
        jamey_mqtt_smol::SmolRuntime,
    >());
}
