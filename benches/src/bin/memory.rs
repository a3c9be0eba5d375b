//! Peak RSS of jamey-mqtt-tokio and rumqttc publishing through one real local Mosquitto
//! (issue 10, item 2: "rumqttc's figure plus at most 2 MB"). A benchmark, not a timed test.
//!
//! ```sh
//! cargo run --release -p jamey-mqtt-benches --bin memory -- --rounds 3
//! cargo run --release -p jamey-mqtt-benches --bin memory -- --only qos1-4k --only jamey \
//!     --window 100 --max-buffered 16384 --shared-payload   # experiments
//! ```
//!
//! Peak RSS is a per-process figure, so every measured run is its own process: this binary
//! re-executes itself as `memory --child <client> <qos> <count> <payload> <max_inflight> <port>
//! [--window N] [--max-buffered N] [--shared-payload]`. The child builds a tokio
//! **current-thread** runtime, connects (MQTT 3.1.1, plain TCP on 127.0.0.1, TCP_NODELAY for
//! both clients), publishes `count` messages of `payload` bytes to one topic, waits until all
//! completed (QoS 1: every PUBACK; QoS 0: written, then one QoS 1 publish whose PUBACK proves
//! the broker read them all), disconnects and prints its peak RSS (`VmHWM` of
//! `/proc/self/status`) as one line, `peak_rss_kib=N connected_rss_kib=N ...`, that the parent
//! parses. Each run gets a fresh quiet Mosquitto from the integration-test harness.
//!
//! The producer is what a user writes to go fast, and the same for both clients: a fresh
//! payload `Bytes` per message (`Bytes::from(vec![b'x'; size])`, an application producing
//! distinct messages; `--shared-payload` clones one instead, as `compare` does).
//! - **jamey**: up to `window` publish futures outstanding in a `FuturesUnordered` (default 64,
//!   `--window N`: the same number of messages handed over and not yet taken as rumqttc's
//!   producer, which blocks once its 64-slot request channel is full; every outstanding
//!   publish keeps its payload alive, so a window of 1000 fresh 4 KiB payloads is 4 MB of
//!   application data whatever the client); `ClientConfig { max_inflight, .. }` with the default `max_buffered_bytes`
//!   (64 KiB; `--max-buffered N` to experiment) and `max_queued` raised to `window` if smaller
//!   (so a large window is never `QueueFull`).
//! - **rumqttc**: `publish_bytes` in a loop, request channel capacity 64 (like `compare`),
//!   `set_inflight(max_inflight)` (a u16 too), its event loop polled in a spawned task that
//!   counts the PUBACKs.
//!
//! Scenarios (`--only KEY`, repeatable, also `--only jamey|rumqttc`; `--count N` overrides the
//! message count): `qos0-4k` 100,000 x 4096 B at QoS 0, max_inflight 100; `qos1-64b` 100,000 x
//! 64 B at QoS 1, max_inflight 65535; `qos1-4k` 100,000 x 4096 B at QoS 1, max_inflight 65535.
//! `--rounds N` (default 3) runs per client and scenario, the two clients alternating who goes
//! first; the table gives the median peak RSS, the range over rounds, and the difference of
//! the medians (jamey - rumqttc). `MEMORY_VERBOSE=1` echoes every child's report line (jamey's
//! adds its write-buffer high water and the size of one publish future).

use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use jamey_mqtt_benches::peer::Peer;
use jamey_mqtt_tests::{Broker, BrokerOptions};

/// The topic of every run.
const TOPIC: &str = "bench/memory";
/// A child that takes longer than this has hung.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);
/// Capacity of rumqttc's request channel, like jamey's command channel (64).
const REQUEST_CAPACITY: usize = 64;

struct Scenario {
    key: &'static str,
    qos: u8,
    payload: usize,
    max_inflight: u16,
}

const SCENARIOS: [Scenario; 3] = [
    Scenario {
        key: "qos0-4k",
        qos: 0,
        payload: 4096,
        max_inflight: 100,
    },
    Scenario {
        key: "qos1-64b",
        qos: 1,
        payload: 64,
        max_inflight: u16::MAX,
    },
    Scenario {
        key: "qos1-4k",
        qos: 1,
        payload: 4096,
        max_inflight: u16::MAX,
    },
];

/// Knobs passed on to every child.
#[derive(Clone)]
struct Knobs {
    window: usize,
    max_buffered: Option<usize>,
    shared_payload: bool,
}

impl Knobs {
    fn to_args(&self) -> Vec<String> {
        let mut args = vec!["--window".to_owned(), self.window.to_string()];
        if let Some(n) = self.max_buffered {
            args.extend(["--max-buffered".to_owned(), n.to_string()]);
        }
        if self.shared_payload {
            args.push("--shared-payload".to_owned());
        }
        args
    }
}

struct Args {
    count: usize,
    rounds: usize,
    /// Overrides every scenario's max_inflight (experiments).
    max_inflight: Option<u16>,
    knobs: Knobs,
    /// `--only` filters: scenario keys and client keys.
    only: Vec<String>,
}

fn usage(error: &str) -> ! {
    if !error.is_empty() {
        eprintln!("error: {error}");
    }
    eprintln!(
        "usage: memory [--rounds 3] [--count 100000] [--window 64] [--max-buffered BYTES] \
         [--max-inflight N] [--shared-payload] [--only qos0-4k|qos1-64b|qos1-4k|jamey|rumqttc]...\n\
         \x20      memory --child jamey|rumqttc QOS COUNT PAYLOAD MAX_INFLIGHT PORT [knobs]"
    );
    std::process::exit(2)
}

fn number<T: std::str::FromStr>(value: Option<String>, name: &str) -> T {
    value
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| usage(&format!("{name} needs a number")))
}

/// Parses the knobs (and, for the parent, the other options) from `it`.
fn parse_options(it: impl Iterator<Item = String>, child: bool) -> Args {
    let mut args = Args {
        count: 100_000,
        rounds: 3,
        max_inflight: None,
        knobs: Knobs {
            window: REQUEST_CAPACITY,
            max_buffered: None,
            shared_payload: false,
        },
        only: Vec::new(),
    };
    let mut it = it.into_iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--window" => args.knobs.window = number::<usize>(it.next(), &arg).max(1),
            "--max-buffered" => args.knobs.max_buffered = Some(number(it.next(), &arg)),
            "--shared-payload" => args.knobs.shared_payload = true,
            "--rounds" if !child => args.rounds = number::<usize>(it.next(), &arg).max(1),
            "--count" if !child => args.count = number(it.next(), &arg),
            "--max-inflight" if !child => args.max_inflight = Some(number(it.next(), &arg)),
            "--only" if !child => {
                let key = it.next().unwrap_or_else(|| usage("--only needs a value"));
                if Peer::from_key(&key).is_none() && !SCENARIOS.iter().any(|s| s.key == key) {
                    usage(&format!("unknown --only {key}"));
                }
                args.only.push(key);
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("bad argument {other}")),
        }
    }
    args
}

/// Whether `--only` (if given) selects this key, among the keys of its kind in `all`.
fn selected(only: &[String], key: &str, all: &[&str]) -> bool {
    let of_kind: Vec<&String> = only.iter().filter(|o| all.contains(&o.as_str())).collect();
    of_kind.is_empty() || of_kind.iter().any(|o| *o == key)
}

/// One line of `/proc/self/status` in KiB (`VmHWM`: peak RSS; `VmRSS`: current).
fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// What a child reports.
#[derive(Clone, Copy)]
struct Report {
    peak_kib: u64,
    connected_kib: u64,
}

fn parse_report(stdout: &str) -> Option<Report> {
    let line = stdout.lines().find(|l| l.starts_with("peak_rss_kib="))?;
    let field = |name: &str| -> Option<u64> {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))?
            .parse()
            .ok()
    };
    Some(Report {
        peak_kib: field("peak_rss_kib")?,
        connected_kib: field("connected_rss_kib")?,
    })
}

fn run_once(args: &Args, peer: Peer, scenario: &Scenario) -> Report {
    let broker = Broker::start(BrokerOptions::plain().quiet(), None);
    let max_inflight = args.max_inflight.unwrap_or(scenario.max_inflight);
    let exe = std::env::current_exe().expect("current_exe");
    let output = Command::new(exe)
        .arg("--child")
        .arg(peer.key())
        .args([
            scenario.qos.to_string(),
            args.count.to_string(),
            scenario.payload.to_string(),
            max_inflight.to_string(),
            broker.port().to_string(),
        ])
        .args(args.knobs.to_args())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("spawn child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{} {} failed ({}): {stdout}",
        peer.name(),
        scenario.key,
        output.status
    );
    if std::env::var_os("MEMORY_VERBOSE").is_some() {
        eprint!("{} {}: {stdout}", scenario.key, peer.name());
    }
    parse_report(&stdout)
        .unwrap_or_else(|| panic!("{} {}: no report in {stdout:?}", peer.name(), scenario.key))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values[values.len() / 2]
}

fn parent(args: Args) {
    println!(
        "peak RSS (VmHWM) per client process, MB = MiB; {} messages per run; MQTT 3.1.1, plain \
         TCP on 127.0.0.1, TCP_NODELAY; tokio current-thread runtime; fresh payload per message{}; \
         jamey window {}, max_buffered_bytes {}; median of {} rounds",
        args.count,
        if args.knobs.shared_payload {
            " (--shared-payload: one payload cloned)"
        } else {
            ""
        },
        args.knobs.window,
        args.knobs
            .max_buffered
            .map_or_else(|| "default (64 KiB)".to_owned(), |n| n.to_string()),
        args.rounds,
    );
    println!();
    println!(
        "| {:<9} | {:>8} | {:>7} | {:<10} | {:>11} | {:>13} | {:>13} | {:>18} |",
        "scenario",
        "payload",
        "qos/inf",
        "client",
        "peak RSS MB",
        "min..max MB",
        "at connect MB",
        "jamey - rumqttc MB"
    );
    println!(
        "|{:-<11}|{:->10}|{:->9}|{:-<12}|{:->13}|{:->15}|{:->15}|{:->20}|",
        "", "", "", "", "", "", "", ""
    );
    let scenario_keys: Vec<&str> = SCENARIOS.iter().map(|s| s.key).collect();
    let peer_keys = [Peer::Jamey.key(), Peer::Rumqttc.key()];
    for scenario in &SCENARIOS {
        if !selected(&args.only, scenario.key, &scenario_keys) {
            continue;
        }
        let mut reports: [Vec<Report>; 2] = [Vec::new(), Vec::new()];
        for round in 0..args.rounds {
            for peer in Peer::in_round_order(round) {
                if selected(&args.only, peer.key(), &peer_keys) {
                    reports[usize::from(peer == Peer::Rumqttc)]
                        .push(run_once(&args, peer, scenario));
                }
            }
        }
        let medians: Vec<Option<u64>> = reports
            .iter()
            .map(|r| (!r.is_empty()).then(|| median(r.iter().map(|r| r.peak_kib).collect())))
            .collect();
        let difference = match (medians[0], medians[1]) {
            (Some(j), Some(r)) => format!("{:+.1}", mib(j) - mib(r)),
            _ => String::new(),
        };
        for (i, peer) in [Peer::Jamey, Peer::Rumqttc].into_iter().enumerate() {
            let Some(peak) = medians[i] else { continue };
            let peaks = reports[i].iter().map(|r| r.peak_kib);
            let (min, max) = (peaks.clone().min().unwrap_or(0), peaks.max().unwrap_or(0));
            let connected = median(reports[i].iter().map(|r| r.connected_kib).collect());
            println!(
                "| {:<9} | {:>8} | {:>7} | {:<10} | {:>11.1} | {:>13} | {:>13.1} | {:>18} |",
                scenario.key,
                format!("{} B", scenario.payload),
                format!(
                    "{}/{}",
                    scenario.qos,
                    args.max_inflight.unwrap_or(scenario.max_inflight)
                ),
                peer.name(),
                mib(peak),
                format!("{:.1}..{:.1}", mib(min), mib(max)),
                mib(connected),
                if peer == Peer::Jamey { &difference } else { "" },
            );
        }
    }
}

/// What one child run does.
struct ChildSpec {
    peer: Peer,
    qos: u8,
    count: usize,
    payload: usize,
    max_inflight: u16,
    port: u16,
    knobs: Knobs,
}

impl ChildSpec {
    /// The payload of the next message: fresh, or a clone of one (`--shared-payload`).
    fn payload(&self, shared: &Bytes) -> Bytes {
        if self.knobs.shared_payload {
            shared.clone()
        } else {
            Bytes::from(vec![b'x'; self.payload])
        }
    }
}

fn child(mut it: impl Iterator<Item = String>) {
    let peer = it
        .next()
        .and_then(|k| Peer::from_key(&k))
        .unwrap_or_else(|| usage("--child needs jamey|rumqttc"));
    let qos = number(it.next(), "QOS");
    let count = number(it.next(), "COUNT");
    let payload = number(it.next(), "PAYLOAD");
    let max_inflight = number(it.next(), "MAX_INFLIGHT");
    let port = number(it.next(), "PORT");
    let knobs = parse_options(it, true).knobs;
    let spec = ChildSpec {
        peer,
        qos,
        count,
        payload,
        max_inflight,
        port,
        knobs,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let extra = runtime.block_on(async {
        let work = async {
            match spec.peer {
                Peer::Jamey => jamey::run(&spec).await,
                Peer::Rumqttc => rumqtt::run(&spec).await,
            }
        };
        tokio::time::timeout(RUN_TIMEOUT, work)
            .await
            .expect("child run timed out")
    });
    println!(
        "peak_rss_kib={} connected_rss_kib={} {extra}",
        proc_status_kib("VmHWM"),
        extra.connected_kib
    );
}

/// What a client run returns besides the peak: RSS right after connecting, and free text.
struct Extra {
    connected_kib: u64,
    note: String,
}

impl std::fmt::Display for Extra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.note)
    }
}

mod jamey {
    use std::time::Duration;

    use bytes::Bytes;
    use futures_util::stream::{FuturesUnordered, StreamExt};
    use jamey_mqtt_tokio::{Client, ClientConfig, Config, ProtocolVersion, QoS};

    use super::{proc_status_kib, ChildSpec, Extra, TOPIC};

    pub async fn run(spec: &ChildSpec) -> Extra {
        let defaults = ClientConfig::default();
        let config = Config::new("127.0.0.1", spec.port).mqtt(ClientConfig {
            protocol: ProtocolVersion::V311,
            client_id: "jamey-memory".into(),
            keep_alive: Duration::from_secs(60),
            max_inflight: spec.max_inflight,
            max_queued: defaults.max_queued.max(spec.knobs.window),
            max_buffered_bytes: spec
                .knobs
                .max_buffered
                .unwrap_or(defaults.max_buffered_bytes),
            ..defaults
        });
        let client = Client::connect(config).await.expect("jamey connect");
        let connected_kib = proc_status_kib("VmRSS");
        let qos = QoS::from_u8(spec.qos).expect("qos");
        let shared = Bytes::from(vec![b'x'; spec.payload]);
        let mut outstanding: FuturesUnordered<_> = FuturesUnordered::new();
        let mut future_bytes = 0;
        for _ in 0..spec.count {
            if outstanding.len() >= spec.knobs.window {
                let done: Result<_, _> = outstanding.next().await.expect("outstanding");
                done.expect("publish");
            }
            let publish = client.publish(TOPIC, spec.payload(&shared), qos);
            future_bytes = std::mem::size_of_val(&publish);
            outstanding.push(publish);
        }
        while let Some(result) = outstanding.next().await {
            result.expect("publish");
        }
        if qos == QoS::AtMostOnce {
            client
                .publish(TOPIC, spec.payload(&shared), QoS::AtLeastOnce)
                .await
                .expect("sync publish");
        }
        let stats = client.stats().await.expect("stats");
        client.disconnect().await.expect("disconnect");
        Extra {
            connected_kib,
            note: format!(
                "completed={} buffered_high_water={} publish_future_bytes={future_bytes} \
                 publish_request_bytes={}",
                stats.core.publishes_completed,
                stats.core.buffered_bytes_high_water,
                std::mem::size_of::<jamey_mqtt_tokio::PublishRequest>(),
            ),
        }
    }
}

mod rumqtt {

    use bytes::Bytes;
    use rumqttc::{Event, Packet, QoS};

    use super::{proc_status_kib, ChildSpec, Extra, REQUEST_CAPACITY, TOPIC};

    fn qos_of(qos: u8) -> QoS {
        match qos {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            _ => QoS::ExactlyOnce,
        }
    }

    pub async fn run(spec: &ChildSpec) -> Extra {
        let (client, mut eventloop) = jamey_mqtt_benches::peer::rumqttc_connect(
            spec.port,
            "rumqttc-memory",
            spec.max_inflight,
            REQUEST_CAPACITY,
        )
        .await;
        let connected_kib = proc_status_kib("VmRSS");
        let qos = spec.qos;
        let target = if qos == 0 { 1 } else { spec.count };
        let counter = tokio::spawn(async move {
            let mut done = 0;
            while done < target {
                if let Event::Incoming(Packet::PubAck(_)) =
                    eventloop.poll().await.expect("rumqttc event loop")
                {
                    done += 1;
                }
            }
            eventloop
        });
        let shared = Bytes::from(vec![b'x'; spec.payload]);
        for _ in 0..spec.count {
            client
                .publish_bytes(TOPIC, qos_of(qos), false, spec.payload(&shared))
                .await
                .expect("publish");
        }
        if qos == 0 {
            client
                .publish_bytes(TOPIC, QoS::AtLeastOnce, false, spec.payload(&shared))
                .await
                .expect("sync publish");
        }
        let eventloop = counter.await.expect("counter task");
        jamey_mqtt_benches::peer::rumqttc_disconnect(client, eventloop).await;
        Extra {
            connected_kib,
            note: String::new(),
        }
    }
}

fn main() {
    let mut it = std::env::args().skip(1).peekable();
    if it.peek().map(String::as_str) == Some("--child") {
        it.next();
        child(it);
    } else {
        parent(parse_options(it, false));
    }
}
