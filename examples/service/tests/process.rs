//! The service binary as a process (`jamey-mqtt-service CONFIG.toml`) against a real Mosquitto,
//! stopped the way an orchestrator stops it: SIGTERM. A publish it accepted before the signal
//! (held by a frozen broker) still completes with 202; once the stop began, a new request is
//! refused (no more connections are accepted), and the process exits 0 after the client's clean
//! DISCONNECT. Its log (stderr, the client's `tracing` events at the default `info`) shows the
//! connection.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use jamey_mqtt_tests::broker::signal;
use jamey_mqtt_tests::{Broker, BrokerOptions, TempDir};
use reqwest::StatusCode;

mod common;
use common::{http_client, wait_for, Service, WAIT};

/// The child process, killed (by its pid) if the test fails before it exited.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_accepting_completes_what_was_accepted_and_exits_0() {
    const ID: &str = "service-process";
    let broker = Broker::start(BrokerOptions::plain(), None);
    let dir = TempDir::new("service-process");
    let config = dir.write(
        "service.toml",
        format!(
            "[http]\nlisten = \"127.0.0.1:0\"\n[mqtt]\nhost = \"127.0.0.1\"\nport = {}\nclient_id = \"{ID}\"\n",
            broker.port()
        ),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_jamey-mqtt-service"))
        .arg(&config)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the service binary");
    let pid = child.id();
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let mut process = Process(child);

    // Stdout line by line (the address it listens on, then its last word); stderr whole.
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let first = lines.recv_timeout(WAIT).expect("the service's first line");
    let base = first
        .strip_prefix("jamey-mqtt-service listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_owned();
    let service = Service {
        base,
        http: http_client(),
    };
    service.wait_health(StatusCode::OK).await;

    // A publish accepted and held: the broker is frozen, the client waits for its PUBACK.
    broker.freeze();
    let publish = {
        let url = format!("{}/publish/process/last", service.base);
        let http = http_client();
        tokio::spawn(async move { http.post(url).body("last").send().await.unwrap().status() })
    };
    wait_for("the publish in flight", || async {
        let (_, body) = service.health().await;
        (body["in_flight"] == 1).then_some(())
    })
    .await;

    signal(pid, "TERM");
    // Stop accepting: a new request (a new connection each time) is refused.
    wait_for("a new request to be refused", || async {
        let fresh = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        fresh
            .get(format!("{}/health/mqtt", service.base))
            .send()
            .await
            .is_err()
            .then_some(())
    })
    .await;
    // The accepted publish still holds the process up: it waits for it.
    assert!(
        process.0.try_wait().expect("try_wait").is_none(),
        "the service exited with a publish in progress"
    );

    broker.thaw();
    assert_eq!(publish.await.unwrap(), StatusCode::ACCEPTED);
    let status = wait_for("the service to exit", || {
        std::future::ready(process.0.try_wait().expect("try_wait"))
    })
    .await;
    let log = log.join().expect("stderr");
    assert!(status.success(), "exit status {status}; log:\n{log}");
    let last: Vec<String> = lines.try_iter().collect();
    assert!(
        last.iter().any(|l| l.contains("disconnected cleanly")),
        "{last:?}"
    );
    // The broker received the client's DISCONNECT (a clean goodbye, not a dropped socket).
    wait_for("the broker to log the DISCONNECT", || async {
        broker
            .log()
            .contains(&format!("Received DISCONNECT from {ID}"))
            .then_some(())
    })
    .await;
    // The client's tracing events reached the installed subscriber (default level info).
    assert!(
        log.contains("INFO") && log.contains("connected") && log.contains("mqtt.connection"),
        "no client log line at info in:\n{log}"
    );
}
