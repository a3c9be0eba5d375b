//! The client's own cost per message, with the broker out of the way: jamey-mqtt on tokio and
//! on smol against rumqttc 0.25, each publishing to (or receiving from) the minimal sink
//! broker of `jamey_mqtt_benches::sink`, which runs in a process of its own.
//!
//! ```sh
//! cargo run --release -p jamey-mqtt-benches --bin throughput -- 100000
//! cargo run --release -p jamey-mqtt-benches --bin throughput -- 100000 --rounds 5 \
//!     --payload 64 --inflight 65535 --window 1000 --only pub1 --only jamey-tokio
//! ```
//!
//! Per scenario (`pub0`, `pub1`, `pub2`: publish at QoS n; `sub0`, `sub1`: receive n messages
//! the sink sends at QoS n) and client (`jamey-tokio`, `jamey-smol`, `rumqttc`), over `rounds`
//! interleaved rounds (the clients take turns, the first one rotating):
//! - **msg/s per core**: messages over the client process's CPU time (user + system, every
//!   thread, `getrusage`) during the measured part: connect and disconnect are outside it.
//! - **CPU µs/msg** and its ratio to rumqttc's in the same round (the median of the per-round
//!   ratios: both ran under the same load); for jamey on smol also its ratio to jamey on tokio
//!   (**CPU / tokio**), likewise per round.
//! - **allocs/msg** and **B/msg**: heap allocations (and bytes) per message in the whole
//!   process (a counting global allocator, `alloc.rs`): the client's, since the bench loop
//!   allocates nothing per message and the sink is another process.
//! - wall-clock msg/s, for scale (the sink and the client share the machine's cores).
//!
//! Each figure is the median over the rounds, with min..max. MQTT 3.1.1, plain TCP on
//! 127.0.0.1, TCP_NODELAY; tokio's current-thread runtime; smol's global executor (the bench
//! body is spawned on it, so the client and driver share its thread as on tokio).

mod alloc;
mod clients;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use jamey_mqtt_benches::cpu::{Meter, Sample};
use jamey_mqtt_benches::sink::{self, SourceOptions};

use clients::Run;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// A run that takes longer than this has hung.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    JameyTokio,
    JameySmol,
    Rumqttc,
}

const PEERS: [Peer; 3] = [Peer::JameyTokio, Peer::JameySmol, Peer::Rumqttc];

impl Peer {
    fn key(self) -> &'static str {
        match self {
            Peer::JameyTokio => "jamey-tokio",
            Peer::JameySmol => "jamey-smol",
            Peer::Rumqttc => "rumqttc",
        }
    }
}

struct Args {
    messages: usize,
    payload: usize,
    rounds: usize,
    inflight: u16,
    window: usize,
    only: Vec<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        messages: 100_000,
        payload: 64,
        rounds: 5,
        inflight: 100,
        window: 1000,
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
            "--payload" => args.payload = value("--payload").max(1),
            "--rounds" => args.rounds = value("--rounds").max(1),
            "--inflight" => {
                args.inflight = u16::try_from(value("--inflight").clamp(1, 65535)).unwrap_or(1)
            }
            "--window" => args.window = value("--window").max(1),
            "--only" => args
                .only
                .push(it.next().unwrap_or_else(|| usage("--only needs a value"))),
            "-h" | "--help" => usage(""),
            n => args.messages = n.parse().unwrap_or_else(|_| usage(&format!("bad arg {n}"))),
        }
    }
    args
}

fn usage(error: &str) -> ! {
    if !error.is_empty() {
        eprintln!("error: {error}");
    }
    eprintln!(
        "usage: throughput [MESSAGES=100000] [--payload 64] [--rounds 5] [--inflight 100] \
         [--window 1000] [--only pub0|pub1|pub2|sub0|sub1|jamey-tokio|jamey-smol|rumqttc]..."
    );
    std::process::exit(2)
}

/// `throughput sink MESSAGES PAYLOAD`: the sink process. Prints its port, then serves until
/// killed.
fn sink_main(mut argv: impl Iterator<Item = String>) -> ! {
    let mut number = || argv.next().and_then(|v| v.parse().ok()).expect("sink args");
    let source = SourceOptions {
        messages: number(),
        payload: number(),
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind sink");
    let port = listener.local_addr().expect("sink address").port();
    println!("{port}");
    std::io::stdout().flush().expect("stdout");
    sink::serve(listener, source, Default::default());
    std::process::exit(0)
}

/// The sink in its own process, killed on drop.
struct SinkProcess {
    child: Child,
    port: u16,
}

impl SinkProcess {
    fn start(messages: usize, payload: usize) -> SinkProcess {
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .args(["sink", &messages.to_string(), &payload.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn sink");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("sink stdout"))
            .read_line(&mut line)
            .expect("sink port");
        let port = line.trim().parse().expect("sink port number");
        SinkProcess { child, port }
    }
}

impl Drop for SinkProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One measured run: CPU, wall and allocations.
#[derive(Debug, Clone, Copy)]
struct Measure {
    sample: Sample,
    allocs: alloc::Count,
}

struct Meters {
    cpu: Meter,
    allocs: alloc::Count,
}

impl Meters {
    fn start(sink_pid: u32) -> Meters {
        Meters {
            cpu: Meter::start(sink_pid),
            allocs: alloc::now(),
        }
    }
    fn stop(self) -> Measure {
        let allocs = alloc::now() - self.allocs;
        Measure {
            sample: self.cpu.stop(),
            allocs,
        }
    }
}

fn run_once(peer: Peer, run: &Run, sink_pid: u32) -> Measure {
    let id = format!("{}-{}", peer.key(), Instant::now().elapsed().as_nanos());
    match peer {
        Peer::JameyTokio => tokio_runtime().block_on(async {
            let client = clients::jamey_connect::<jamey_mqtt_tokio::TokioRuntime>(run, &id).await;
            let meters = Meters::start(sink_pid);
            timeout_tokio(clients::jamey_work(&client, run)).await;
            let measure = meters.stop();
            client.disconnect().await.expect("disconnect");
            measure
        }),
        Peer::JameySmol => {
            let run = run.clone();
            smol::block_on(smol::spawn(async move {
                let client =
                    clients::jamey_connect::<jamey_mqtt_smol::SmolRuntime>(&run, &id).await;
                let meters = Meters::start(sink_pid);
                clients::jamey_work(&client, &run).await;
                let measure = meters.stop();
                client.disconnect().await.expect("disconnect");
                measure
            }))
        }
        Peer::Rumqttc => tokio_runtime().block_on(async {
            let (client, eventloop) = clients::rumqttc_connect(run, &id).await;
            let meters = Meters::start(sink_pid);
            let eventloop = timeout_tokio(clients::rumqttc_work(&client, eventloop, run)).await;
            let measure = meters.stop();
            jamey_mqtt_benches::peer::rumqttc_disconnect(client, eventloop).await;
            measure
        }),
    }
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

async fn timeout_tokio<T>(work: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(RUN_TIMEOUT, work)
        .await
        .expect("run timed out")
}

/// Median, min and max.
fn spread(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (
        values[values.len() / 2],
        values[0],
        values[values.len() - 1],
    )
}

fn fmt(values: Vec<f64>, precision: usize) -> String {
    let (median, min, max) = spread(values);
    format!("{median:.precision$} ({min:.precision$}..{max:.precision$})")
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn selected(only: &[String], key: &str, all: &[&str]) -> bool {
    let of_kind: Vec<&String> = only.iter().filter(|o| all.contains(&o.as_str())).collect();
    of_kind.is_empty() || of_kind.iter().any(|o| *o == key)
}

fn main() {
    let mut argv = std::env::args().skip(1).peekable();
    if argv.peek().map(String::as_str) == Some("sink") {
        argv.next();
        sink_main(argv);
    }
    let args = parse_args();
    let scenarios = ["pub0", "pub1", "pub2", "sub0", "sub1"];
    let peer_keys: Vec<&str> = PEERS.iter().map(|p| p.key()).collect();
    let peers: Vec<Peer> = PEERS
        .into_iter()
        .filter(|p| selected(&args.only, p.key(), &peer_keys))
        .collect();
    println!(
        "throughput: {} messages of {} B, MQTT 3.1.1, sink broker on 127.0.0.1, {} in flight, \
         jamey window {}, {} interleaved rounds, median (min..max); {} cores, load average {}",
        args.messages,
        args.payload,
        args.inflight,
        args.window,
        args.rounds,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average(),
    );
    println!();
    println!(
        "| scenario | client | msg/s per core | CPU µs/msg | CPU / rumqttc | CPU / tokio | allocs/msg | B/msg | wall msg/s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for scenario in scenarios {
        if !selected(&args.only, scenario, &scenarios) {
            continue;
        }
        let sink = SinkProcess::start(args.messages, args.payload);
        let run = Run {
            port: sink.port,
            messages: args.messages,
            payload: Bytes::from(vec![b'x'; args.payload]),
            qos: scenario[3..].parse().expect("scenario qos"),
            publish: scenario.starts_with("pub"),
            inflight: args.inflight,
            window: args.window,
        };
        let mut measures: Vec<Vec<Measure>> = vec![Vec::new(); peers.len()];
        for round in 0..args.rounds {
            for k in 0..peers.len() {
                let i = (k + round) % peers.len();
                measures[i].push(run_once(peers[i], &run, sink.child.id()));
            }
        }
        let n = args.messages as f64;
        let cpu_per_msg = |m: &Measure| m.sample.cpu.as_secs_f64() * 1e6 / n;
        // The median of the per-round ratios of `i`'s CPU to `base`'s (both ran under the same
        // load), when both were measured.
        let ratio_to = |i: usize, base: Peer| match peers.iter().position(|p| *p == base) {
            Some(b) if b != i => fmt(
                measures[i]
                    .iter()
                    .zip(&measures[b])
                    .map(|(m, b)| cpu_per_msg(m) / cpu_per_msg(b))
                    .collect(),
                2,
            ),
            _ => "-".into(),
        };
        for (i, peer) in peers.iter().enumerate() {
            let ms = &measures[i];
            let ratio = ratio_to(i, Peer::Rumqttc);
            let to_tokio = match peer {
                Peer::JameySmol => ratio_to(i, Peer::JameyTokio),
                _ => "-".into(),
            };
            println!(
                "| {scenario} | {} | {} | {} | {ratio} | {to_tokio} | {} | {} | {} |",
                peer.key(),
                fmt(
                    ms.iter()
                        .map(|m| n / m.sample.cpu.as_secs_f64().max(1e-9))
                        .collect(),
                    0
                ),
                fmt(ms.iter().map(cpu_per_msg).collect(), 2),
                fmt(
                    ms.iter().map(|m| m.allocs.allocations as f64 / n).collect(),
                    2
                ),
                fmt(ms.iter().map(|m| m.allocs.bytes as f64 / n).collect(), 0),
                fmt(
                    ms.iter().map(|m| n / m.sample.wall.as_secs_f64()).collect(),
                    0
                ),
            );
        }
    }
}
