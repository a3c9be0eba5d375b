//! A real RabbitMQ cluster on 127.0.0.1 (Debian's `rabbitmq-server` 3.10 with its MQTT plugin):
//! three nodes with their own ports, directories and node names, joined into one cluster, MQTT
//! sessions on quorum queues (`mqtt.durable_queue_type = quorum`). Used by `tests/cluster.rs`
//! (`scripts/test-cluster`).
//!
//! Everything stays on loopback: a private `epmd` on a free port that the harness starts itself
//! (`ERL_EPMD_PORT`), `-kernel inet_dist_use_interface {127,0,0,1}`, listeners on 127.0.0.1.
//! Each node runs in its own process group; dropping the cluster kills every group and the
//! `epmd` by their ids (never by name), on success and on failure alike, and removes the
//! directories. When `$JAMEY_CLUSTER_PGIDS` names a file, every process group id is appended
//! to it as well, so `scripts/test-cluster` can end them even if the test process itself is
//! killed (no `Drop` then). Panics (never skips) when RabbitMQ is not installed.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::broker::free_port;
use crate::TempDir;

/// Where Debian installs the programs (the `/usr/sbin` wrappers switch to the rabbitmq user).
const BIN: &str = "/usr/lib/rabbitmq/bin";
/// A node from nothing to an open MQTT port takes ~8 s here; generous for a loaded machine.
const START_TIMEOUT: Duration = Duration::from_secs(120);
const ERL_ARGS: &str = "-kernel inet_dist_use_interface {127,0,0,1}";

/// One node: its ports and its process group (the node is the group leader).
struct Node {
    name: String,
    mqtt_port: u16,
    amqp_port: u16,
    dist_port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

/// A running cluster; dropping it stops every node and the private epmd.
pub struct RabbitCluster {
    nodes: Vec<Node>,
    epmd: Option<Child>,
    epmd_port: u16,
    dir: TempDir,
}

impl RabbitCluster {
    /// Starts `size` nodes and joins them to the first.
    pub fn start(size: usize) -> RabbitCluster {
        let server = Path::new(BIN).join("rabbitmq-server");
        assert!(
            server.is_file(),
            "RabbitMQ is not installed ({} missing): the cluster test needs Debian's \
             rabbitmq-server. Install it with `apt-get install -y rabbitmq-server` \
             (scripts/install-deps does this).",
            server.display()
        );
        let dir = TempDir::new("rabbitmq");
        // The Erlang cookie every node and rabbitmqctl share (mode 400, or Erlang refuses it).
        let cookie = dir.write(".erlang.cookie", "JAMEYMQTTCLUSTERTEST");
        set_mode(&cookie, "400");
        dir.write("enabled_plugins", "[rabbitmq_mqtt].\n");
        let epmd_port = free_port();
        let epmd = Command::new("epmd")
            .args(["-address", "127.0.0.1", "-port", &epmd_port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start epmd (erlang-base)");
        record_group(&epmd);
        let mut cluster = RabbitCluster {
            nodes: Vec::new(),
            epmd: Some(epmd),
            epmd_port,
            dir,
        };
        cluster.wait_for_port(epmd_port, "epmd");
        for i in 1..=size {
            let node_dir = cluster.dir.path().join(format!("node{i}"));
            std::fs::create_dir_all(&node_dir).expect("node dir");
            let node = Node {
                name: format!("rabbit{i}@localhost"),
                mqtt_port: free_port(),
                amqp_port: free_port(),
                dist_port: free_port(),
                dir: node_dir,
                child: None,
            };
            let mut conf = String::new();
            writeln!(conf, "listeners.tcp.1 = 127.0.0.1:{}", node.amqp_port).unwrap();
            writeln!(conf, "mqtt.listeners.tcp.1 = 127.0.0.1:{}", node.mqtt_port).unwrap();
            // Sessions (clean session = false) on replicated queues: one survives its node.
            conf.push_str("mqtt.durable_queue_type = quorum\n");
            conf.push_str("mqtt.allow_anonymous = true\n");
            std::fs::write(node.dir.join("rabbitmq.conf"), conf).expect("write rabbitmq.conf");
            cluster.nodes.push(node);
        }
        // All nodes boot at once; the others then join the first.
        for i in 0..size {
            cluster.spawn(i);
        }
        for i in 0..size {
            cluster.wait_ready(i);
        }
        for i in 1..size {
            let first = cluster.nodes[0].name.clone();
            cluster.ctl(i, &["stop_app"]);
            cluster.ctl(i, &["join_cluster", &first]);
            cluster.ctl(i, &["start_app"]);
            cluster.wait_ready(i);
        }
        cluster
    }

    /// The MQTT port of node `i` (0-based).
    pub fn mqtt_port(&self, i: usize) -> u16 {
        self.nodes[i].mqtt_port
    }

    pub fn node_name(&self, i: usize) -> &str {
        &self.nodes[i].name
    }

    /// Stops node `i` cleanly (`rabbitmqctl stop`, as an operator or a rolling restart does)
    /// and waits until its process is gone.
    pub fn stop_node(&mut self, i: usize) {
        self.ctl(i, &["stop"]);
        if let Some(mut child) = self.nodes[i].child.take() {
            let deadline = Instant::now() + START_TIMEOUT;
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            kill_group(&mut child);
        }
    }

    /// Starts a stopped node `i` again (it rejoins the cluster it belongs to) and waits until
    /// it is up.
    pub fn start_node(&mut self, i: usize) {
        assert!(self.nodes[i].child.is_none(), "node {i} is running");
        self.spawn(i);
        self.wait_ready(i);
    }

    /// `rabbitmqctl` against node `i` (panics with its output when it fails).
    pub fn ctl(&self, i: usize, args: &[&str]) -> Output {
        let node = &self.nodes[i];
        let output = self
            .command(i, "rabbitmqctl")
            .args(["-n", &node.name])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run rabbitmqctl");
        assert!(
            output.status.success(),
            "rabbitmqctl -n {} {args:?} failed: {}{}\n{}",
            node.name,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.log(i)
        );
        output
    }

    /// The node's log (for failure messages).
    pub fn log(&self, i: usize) -> String {
        let log = self.nodes[i].dir.join("log");
        let mut text = String::new();
        if let Ok(entries) = std::fs::read_dir(&log) {
            for entry in entries.flatten() {
                if let Ok(contents) = std::fs::read_to_string(entry.path()) {
                    let tail: Vec<&str> = contents.lines().rev().take(40).collect();
                    let _ = writeln!(text, "--- {}", entry.path().display());
                    for line in tail.into_iter().rev() {
                        let _ = writeln!(text, "{line}");
                    }
                }
            }
        }
        text
    }

    fn command(&self, i: usize, program: &str) -> Command {
        let node = &self.nodes[i];
        let mut command = Command::new(Path::new(BIN).join(program));
        command
            .env("HOME", self.dir.path())
            .env("RABBITMQ_NODENAME", &node.name)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", node.amqp_port.to_string())
            .env("RABBITMQ_DIST_PORT", node.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", node.dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", node.dir.join("log"))
            .env("RABBITMQ_CONFIG_FILE", node.dir.join("rabbitmq.conf"))
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                self.dir.path().join("enabled_plugins"),
            )
            .env("RABBITMQ_PID_FILE", node.dir.join("pid"))
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env("ERL_EPMD_PORT", self.epmd_port.to_string())
            .env("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", ERL_ARGS)
            .env("RABBITMQ_CTL_ERL_ARGS", ERL_ARGS);
        command
    }

    fn spawn(&mut self, i: usize) {
        let out = std::fs::File::create(self.nodes[i].dir.join("stdout.log")).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = self
            .command(i, "rabbitmq-server")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Its own group: the script, the Erlang VM and its helpers end together.
            .process_group(0)
            .spawn()
            .expect("start rabbitmq-server");
        record_group(&child);
        self.nodes[i].child = Some(child);
    }

    /// Waits until node `i` accepts MQTT connections, then until it says it is up
    /// (`await_startup` fails at once before the node registers, hence the port first).
    fn wait_ready(&mut self, i: usize) {
        let port = self.nodes[i].mqtt_port;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(
                &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                Duration::from_millis(200),
            )
            .is_ok()
            {
                break;
            }
            let exited = self.nodes[i]
                .child
                .as_mut()
                .map(|c| c.try_wait().ok().flatten().is_some())
                .unwrap_or(true);
            if exited || Instant::now() > deadline {
                let stdout = std::fs::read_to_string(self.nodes[i].dir.join("stdout.log"))
                    .unwrap_or_default();
                panic!(
                    "RabbitMQ node {} did not open its MQTT port {port} (exited: {exited}):\n{stdout}\n{}",
                    self.nodes[i].name,
                    self.log(i)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.ctl(i, &["await_startup"]);
    }

    fn wait_for_port(&self, port: u16, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            assert!(Instant::now() < deadline, "{what} did not open port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RabbitCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                kill_group(&mut child);
            }
        }
        if let Some(mut epmd) = self.epmd.take() {
            kill_group(&mut epmd);
        }
    }
}

/// Appends `child`'s process group id to `$JAMEY_CLUSTER_PGIDS`, if set.
fn record_group(child: &Child) {
    if let Some(path) = std::env::var_os("JAMEY_CLUSTER_PGIDS") {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open $JAMEY_CLUSTER_PGIDS");
        writeln!(file, "{}", child.id()).expect("write $JAMEY_CLUSTER_PGIDS");
    }
}

/// Kills the process group led by `child` (by its id) and reaps the child.
fn kill_group(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

fn set_mode(path: &Path, mode: &str) {
    let status = Command::new("chmod")
        .arg(mode)
        .arg(path)
        .status()
        .expect("chmod");
    assert!(status.success());
}
