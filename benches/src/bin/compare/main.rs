//! End-to-end comparison of jamey-mqtt-tokio and rumqttc through one real local Mosquitto.
//!
//! ```sh
//! cargo run --release -p jamey-mqtt-benches --bin compare -- 20000
//! cargo run --release -p jamey-mqtt-benches --bin compare -- 20000 --payload 64 --rounds 3 \
//!     --window 500 --runtime current   # or --runtime multi (tokio's multi-thread runtime)
//! ```
//!
//! Same broker build and config (plain TCP on 127.0.0.1, a fresh quiet Mosquitto per run from
//! the integration-test harness), same message count, payload, topic and protocol (MQTT 3.1.1),
//! 100 publishes in flight for both, TCP_NODELAY for both, one client at a time:
//! - **publish QoS n**: one client publishes `n` messages; the clock stops when every publish
//!   completed (QoS 1: PUBACK, QoS 2: PUBCOMP; QoS 0: written, then one QoS 1 publish whose
//!   PUBACK proves the broker read them all). jamey awaits its publish futures, `window` at a
//!   time; rumqttc queues requests and its event loop counts the acks.
//! - **subscribe QoS n**: a subscribed client receives `n` messages that `mosquitto_pub -l`
//!   (a separate process, not billed to the client's CPU) publishes at that QoS; the clock
//!   stops at the last message. `mosquitto_pub` may be the bottleneck: compare the CPU columns.
//!
//! Each figure is the median of `rounds` runs, the two clients alternating who goes first.
//! "CPU/msg" is this process's user + system time (every thread) over the measured part,
//! divided by `n`; "broker CPU/msg" is Mosquitto's, from `/proc` (10 ms ticks).

mod jamey;
mod rumqtt;

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use bytes::Bytes;
use jamey_mqtt_benches::peer::Peer;
use jamey_mqtt_tests::{Broker, BrokerOptions};
use jamey_mqtt_tokio::QoS;

use jamey_mqtt_benches::cpu::Sample;

/// The topic of every run.
pub const TOPIC: &str = "bench/compare";
/// A run that takes longer than this has hung.
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

struct Args {
    messages: usize,
    payload: usize,
    rounds: usize,
    window: usize,
    multi_thread: bool,
    /// `--only` filters: scenario keys (`pub0`..`pub2`, `sub0`, `sub1`) and client names.
    only: Vec<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        messages: 20_000,
        payload: 64,
        rounds: 3,
        window: 500,
        multi_thread: false,
        only: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| -> usize {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage(&format!("{name} needs a number")))
        };
        match arg.as_str() {
            "--payload" => args.payload = value("--payload"),
            "--rounds" => args.rounds = value("--rounds").max(1),
            "--window" => args.window = value("--window").max(1),
            "--runtime" => match it.next().as_deref() {
                Some("current") => args.multi_thread = false,
                Some("multi") => args.multi_thread = true,
                _ => usage("--runtime is `current` or `multi`"),
            },
            "--only" => args
                .only
                .push(it.next().unwrap_or_else(|| usage("--only needs a value"))),
            "-h" | "--help" => usage(""),
            n => args.messages = n.parse().unwrap_or_else(|_| usage(&format!("bad arg {n}"))),
        }
    }
    if args.payload == 0 {
        usage("--payload must be at least 1 (mosquitto_pub -l sends one line per message)");
    }
    args
}

fn usage(error: &str) -> ! {
    if !error.is_empty() {
        eprintln!("error: {error}");
    }
    eprintln!(
        "usage: compare [MESSAGES=20000] [--payload BYTES=64] [--rounds 3] [--window 500] \
         [--runtime current|multi] [--only pub0|pub1|pub2|sub0|sub1|jamey|rumqttc]..."
    );
    std::process::exit(2)
}

/// `mosquitto_pub -l` reading `lines` (one message per line) at `qos` to [`TOPIC`].
pub fn spawn_mosquitto_pub(broker: &Broker, qos: u8, lines: &Path) -> Child {
    broker
        .mosquitto_pub()
        .args(["-t", TOPIC, "-q", &qos.to_string(), "-l"])
        .stdin(std::fs::File::open(lines).expect("open lines"))
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn mosquitto_pub")
}

#[derive(Clone, Copy)]
enum Scenario {
    Publish(u8),
    Subscribe(u8),
}

impl Scenario {
    fn name(self) -> String {
        match self {
            Scenario::Publish(q) => format!("publish QoS {q}"),
            Scenario::Subscribe(q) => format!("subscribe QoS {q}"),
        }
    }
    fn key(self) -> String {
        match self {
            Scenario::Publish(q) => format!("pub{q}"),
            Scenario::Subscribe(q) => format!("sub{q}"),
        }
    }
}

/// Whether `--only` (if given) selects this key, among the keys of its kind in `all`.
fn selected(only: &[String], key: &str, all: &[String]) -> bool {
    let of_kind: Vec<&String> = only.iter().filter(|o| all.contains(o)).collect();
    of_kind.is_empty() || of_kind.iter().any(|o| *o == key)
}

fn run_once(args: &Args, peer: Peer, scenario: Scenario) -> Sample {
    let broker = Broker::start(BrokerOptions::plain().quiet(), None);
    let payload = Bytes::from(vec![b'x'; args.payload]);
    // One line per message; the newline is not part of the payload.
    let lines = broker.dir().path().join("lines");
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&lines).expect("lines"));
        for _ in 0..args.messages {
            file.write_all(&payload)
                .and_then(|()| file.write_all(b"\n"))
                .expect("lines");
        }
    }
    let runtime = if args.multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    }
    .enable_all()
    .build()
    .expect("tokio runtime");
    let n = args.messages;
    runtime.block_on(async {
        let work = async {
            match (peer, scenario) {
                (Peer::Jamey, Scenario::Publish(q)) => {
                    let qos = QoS::from_u8(q).expect("qos");
                    jamey::publish(&broker, n, qos, payload, args.window).await
                }
                (Peer::Jamey, Scenario::Subscribe(q)) => {
                    jamey::subscribe(&broker, n, QoS::from_u8(q).expect("qos"), &lines).await
                }
                (Peer::Rumqttc, Scenario::Publish(q)) => {
                    rumqtt::publish(&broker, n, q, payload).await
                }
                (Peer::Rumqttc, Scenario::Subscribe(q)) => {
                    rumqtt::subscribe(&broker, n, q, &lines).await
                }
            }
        };
        tokio::time::timeout(RUN_TIMEOUT, work)
            .await
            .unwrap_or_else(|_| panic!("{} {} timed out", peer.name(), scenario.name()))
    })
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn mosquitto_version() -> String {
    std::process::Command::new(jamey_mqtt_tests::broker::mosquitto_binary())
        .arg("-h")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "mosquitto (unknown version)".into())
}

fn main() {
    let args = parse_args();
    let scenarios = [
        Scenario::Publish(0),
        Scenario::Publish(1),
        Scenario::Publish(2),
        Scenario::Subscribe(0),
        Scenario::Subscribe(1),
    ];
    println!(
        "{} messages of {} B, MQTT 3.1.1, plain TCP on 127.0.0.1, {}; {} cores; tokio {} runtime; \
         median of {} rounds; jamey publish window {}",
        args.messages,
        args.payload,
        mosquitto_version(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if args.multi_thread {
            "multi-thread"
        } else {
            "current-thread"
        },
        args.rounds,
        args.window,
    );
    println!();
    println!(
        "| {:<16} | {:<10} | {:>9} | {:>9} | {:>13} | {:>20} |",
        "scenario", "client", "wall ms", "msg/s", "CPU µs/msg", "broker CPU µs/msg"
    );
    println!(
        "|{:-<18}|{:-<12}|{:->11}|{:->11}|{:->15}|{:->22}|",
        "", "", "", "", "", ""
    );
    let scenario_keys: Vec<String> = scenarios.iter().map(|s| s.key()).collect();
    let peer_keys: Vec<String> = [Peer::Jamey, Peer::Rumqttc]
        .iter()
        .map(|p| p.key().to_owned())
        .collect();
    for scenario in scenarios {
        if !selected(&args.only, &scenario.key(), &scenario_keys) {
            continue;
        }
        let mut samples = [Vec::new(), Vec::new()];
        for round in 0..args.rounds {
            for peer in Peer::in_round_order(round) {
                if !selected(&args.only, peer.key(), &peer_keys) {
                    continue;
                }
                let sample = run_once(&args, peer, scenario);
                samples[usize::from(peer == Peer::Rumqttc)].push(sample);
            }
        }
        for (peer, samples) in [Peer::Jamey, Peer::Rumqttc].into_iter().zip(samples) {
            if samples.is_empty() {
                continue;
            }
            let wall = median(samples.iter().map(|s| s.wall).collect());
            let cpu = median(samples.iter().map(|s| s.cpu).collect());
            let broker = median(samples.iter().map(|s| s.broker_cpu).collect());
            let per_msg = |d: Duration| d.as_secs_f64() * 1e6 / args.messages as f64;
            println!(
                "| {:<16} | {:<10} | {:>9.1} | {:>9.0} | {:>13.2} | {:>20.2} |",
                scenario.name(),
                peer.name(),
                wall.as_secs_f64() * 1e3,
                args.messages as f64 / wall.as_secs_f64(),
                per_msg(cpu),
                per_msg(broker),
            );
        }
    }
}
