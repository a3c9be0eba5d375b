//! End-to-end comparison of jamey-mqtt-tokio and rumqttc through one real local Mosquitto.
//!
//! ```sh
//! cargo run --release -p jamey-mqtt-benches --bin compare -- 20000
//! cargo run --release -p jamey-mqtt-benches --bin compare -- 20000 --payload 64 --rounds 5 \
//!     --window 500 --runtime current   # or --runtime multi (tokio's multi-thread runtime)
//! ```
//!
//! Same broker build and config (plain TCP on 127.0.0.1, a fresh quiet Mosquitto per run from
//! the integration-test harness), same message count, payload, topic and protocol (MQTT 3.1.1),
//! 100 publishes in flight for both, TCP_NODELAY for both, one client at a time:
//! - **publish QoS n**: one client publishes `n` messages; the clock stops when every publish
//!   completed (QoS 1: PUBACK, QoS 2: PUBCOMP; QoS 0: when a `mosquitto_sub` process,
//!   subscribed before the run, has received all `n`). jamey awaits its publish futures,
//!   `window` at a time; rumqttc queues requests and its event loop counts the acks.
//! - **subscribe QoS n**: a subscribed client receives `n` messages that `mosquitto_pub -l`
//!   (a separate process, not billed to the client's CPU) publishes at that QoS; the clock
//!   stops at the last message. `mosquitto_pub` may be the bottleneck: compare the CPU columns.
//!
//! Each figure is the median (and min..max) of `rounds` runs (default 5), the two clients
//! alternating who goes first; the header gives the load average at the start.
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
        rounds: 5,
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
        "usage: compare [MESSAGES=20000] [--payload BYTES=64] [--rounds 5] [--window 500] \
         [--runtime current|multi] [--only pub0|pub1|pub2|sub0|sub1|jamey|rumqttc]..."
    );
    std::process::exit(2)
}

/// A `mosquitto_sub` process that exits once it received `n` messages on [`TOPIC`]: the end of a
/// QoS 0 publish run is when the subscriber has every message (not billed to the client's CPU).
pub struct Subscriber {
    child: Child,
}

impl Subscriber {
    /// Started and subscribed (its SUBACK seen) before it returns.
    pub fn start(broker: &Broker, n: usize) -> Subscriber {
        use std::io::BufRead;
        // `stdbuf -oL`: its output is a pipe here, which stdio would buffer whole, hiding the
        // SUBACK line until the buffer fills.
        let sub = broker.mosquitto_sub();
        let mut child = std::process::Command::new("stdbuf")
            .arg("-oL")
            .arg(sub.get_program())
            .args(sub.get_args())
            .args(["-t", TOPIC, "-q", "0", "-C", &n.to_string(), "-d"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn stdbuf mosquitto_sub");
        let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        for line in lines.by_ref() {
            if line.expect("mosquitto_sub output").contains("SUBACK") {
                break;
            }
        }
        // The rest (one debug line and one payload line per message) is drained and dropped.
        std::thread::spawn(move || lines.for_each(drop));
        Subscriber { child }
    }

    /// Waits (polling every millisecond) until the subscriber has all its messages.
    pub async fn done(mut self) {
        loop {
            if let Some(status) = self.child.try_wait().expect("mosquitto_sub") {
                assert!(status.success(), "mosquitto_sub failed: {status}");
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    // QoS 0: the run ends when this subscriber has every message.
    let subscriber = match scenario {
        Scenario::Publish(0) => Some(Subscriber::start(&broker, n)),
        _ => None,
    };
    runtime.block_on(async {
        let work = async {
            match (peer, scenario) {
                (Peer::Jamey, Scenario::Publish(q)) => {
                    let qos = QoS::from_u8(q).expect("qos");
                    jamey::publish(&broker, n, qos, payload, args.window, subscriber).await
                }
                (Peer::Jamey, Scenario::Subscribe(q)) => {
                    jamey::subscribe(&broker, n, QoS::from_u8(q).expect("qos"), &lines).await
                }
                (Peer::Rumqttc, Scenario::Publish(q)) => {
                    rumqtt::publish(&broker, n, q, payload, subscriber).await
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

/// Median and min..max, in `unit`s per message.
fn spread(mut values: Vec<Duration>, per: f64) -> (f64, f64, f64) {
    values.sort();
    let v = |d: Duration| d.as_secs_f64() * per;
    (
        v(values[values.len() / 2]),
        v(values[0]),
        v(values[values.len() - 1]),
    )
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
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
         median (min..max) of {} interleaved rounds; jamey publish window {}; load average {}",
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
        load_average(),
    );
    println!();
    println!(
        "| {:<16} | {:<10} | {:>22} | {:>9} | {:>19} | {:>17} |",
        "scenario", "client", "wall ms", "msg/s", "CPU µs/msg", "broker CPU µs/msg"
    );
    println!(
        "|{:-<18}|{:-<12}|{:->24}|{:->11}|{:->21}|{:->19}|",
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
            let n = args.messages as f64;
            let wall = spread(samples.iter().map(|s| s.wall).collect(), 1e3);
            let cpu = spread(samples.iter().map(|s| s.cpu).collect(), 1e6 / n);
            let broker = spread(samples.iter().map(|s| s.broker_cpu).collect(), 1e6 / n);
            println!(
                "| {:<16} | {:<10} | {:>22} | {:>9.0} | {:>19} | {:>17.2} |",
                scenario.name(),
                peer.name(),
                format!("{:.1} ({:.1}..{:.1})", wall.0, wall.1, wall.2),
                n * 1e3 / wall.0,
                format!("{:.2} ({:.2}..{:.2})", cpu.0, cpu.1, cpu.2),
                broker.0,
            );
        }
    }
}
