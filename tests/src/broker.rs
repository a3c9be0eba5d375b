//! A real Mosquitto per test, and a TLS 1.2-only `openssl s_server` for the refusal test.
//!
//! Rules the harness keeps: it listens on 127.0.0.1 only, on a port that was free a moment
//! before; it waits until the port accepts connections; it ends the broker by the pid of the
//! child it started (never by name) when dropped; it panics with the broker's log when anything
//! goes wrong, and panics (does not skip) when `mosquitto` is not installed.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::pki::Pki;
use crate::TempDir;

/// How long a starting broker may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Which TLS, ACL and persistence settings a broker gets.
#[derive(Debug, Clone, Default)]
pub struct BrokerOptions {
    /// TLS 1.3 only (`tls_version tlsv1.3`) with the PKI's server certificate.
    pub tls: bool,
    /// Mutual TLS required (`require_certificate true`); implies `tls`.
    pub require_client_cert: bool,
    /// Serve the certificate for another host name (for the wrong-hostname test); implies `tls`.
    pub wrong_host_cert: bool,
    /// The contents of an ACL file (`acl_file`).
    pub acl: Option<String>,
    /// `persistence true` in the broker's temp dir, kept across [`Broker::restart`].
    pub persistence: bool,
    /// Log only errors, warnings and notices instead of every packet (`log_type all`): for
    /// benchmarks, where writing a log line per packet would dominate the broker's time.
    pub quiet: bool,
    /// Keep Mosquitto's default `max_inflight_messages` (20) instead of lifting it, to test the
    /// client against a broker configured as shipped.
    pub default_inflight: bool,
    /// Lines appended to `mosquitto.conf` as they are (e.g. `max_keepalive 5`).
    pub extra_config: Vec<String>,
    /// Load the JWT plugin (`jamey-mqtt-mosquitto-auth`, see [`auth_plugin_library`]) with
    /// these `plugin_opt_<key> <value>` options, and refuse anonymous clients.
    pub jwt_plugin: Option<Vec<(String, String)>>,
}

impl BrokerOptions {
    pub fn plain() -> BrokerOptions {
        BrokerOptions::default()
    }
    pub fn tls() -> BrokerOptions {
        BrokerOptions {
            tls: true,
            ..BrokerOptions::default()
        }
    }
    pub fn mutual_tls() -> BrokerOptions {
        BrokerOptions {
            tls: true,
            require_client_cert: true,
            ..BrokerOptions::default()
        }
    }
    pub fn acl(mut self, acl: impl Into<String>) -> BrokerOptions {
        self.acl = Some(acl.into());
        self
    }
    pub fn persistent(mut self) -> BrokerOptions {
        self.persistence = true;
        self
    }
    pub fn quiet(mut self) -> BrokerOptions {
        self.quiet = true;
        self
    }
    /// Appends `line` to `mosquitto.conf`.
    pub fn config_line(mut self, line: impl Into<String>) -> BrokerOptions {
        self.extra_config.push(line.into());
        self
    }
    pub fn default_inflight(mut self) -> BrokerOptions {
        self.default_inflight = true;
        self
    }
    /// Loads the JWT plugin with `options` (`plugin_opt_<key> <value>` each).
    pub fn jwt_plugin<K: Into<String>, V: Into<String>>(
        mut self,
        options: impl IntoIterator<Item = (K, V)>,
    ) -> BrokerOptions {
        self.jwt_plugin = Some(
            options
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        self
    }
}

/// The file name of the JWT plugin Mosquitto loads.
pub const AUTH_PLUGIN_FILE: &str = "libjamey_mqtt_mosquitto_auth.so";

/// The built JWT plugin: `$JAMEY_MQTT_MOSQUITTO_AUTH` if set, else the `.so` Cargo built next to
/// the running test executable (this crate depends on the plugin crate, so building the tests
/// builds it into `target/<profile>/deps`), else `target/<profile>`. Panics if none exists.
pub fn auth_plugin_library() -> PathBuf {
    if let Some(path) = std::env::var_os("JAMEY_MQTT_MOSQUITTO_AUTH") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "$JAMEY_MQTT_MOSQUITTO_AUTH names {}, which does not exist",
            path.display()
        );
        return path;
    }
    let exe = std::env::current_exe().expect("the test executable's path");
    let candidates: Vec<PathBuf> = exe
        .ancestors()
        .skip(1)
        .take(2)
        .flat_map(|dir| {
            [
                dir.join(AUTH_PLUGIN_FILE),
                dir.join("deps").join(AUTH_PLUGIN_FILE),
            ]
        })
        .collect();
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "the Mosquitto JWT plugin ({AUTH_PLUGIN_FILE}) is not built: looked at {candidates:?}. \
                 Build it with `cargo build -p jamey-mqtt-mosquitto-auth` (building this test \
                 crate does), or set $JAMEY_MQTT_MOSQUITTO_AUTH to its path."
            )
        })
}

/// A running Mosquitto. Dropping it kills the process (by pid) and removes its temp dir.
pub struct Broker {
    child: Option<Child>,
    port: u16,
    options: BrokerOptions,
    conf: PathBuf,
    log: PathBuf,
    ca: Option<PathBuf>,
    client_cert: Option<(PathBuf, PathBuf)>,
    dir: TempDir,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("port", &self.port)
            .field("pid", &self.pid())
            .field("options", &self.options)
            .finish()
    }
}

/// The mosquitto binary: `$MOSQUITTO`, then `PATH`, then `/usr/sbin/mosquitto`. Panics if absent.
pub fn mosquitto_binary() -> PathBuf {
    find_binary(
        "MOSQUITTO",
        "mosquitto",
        &["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"],
    )
}

fn find_binary(env: &str, name: &str, extra: &[&str]) -> PathBuf {
    if let Some(path) = std::env::var_os(env) {
        return PathBuf::from(path);
    }
    let path_dirs = std::env::var_os("PATH").unwrap_or_default();
    let candidates = std::env::split_paths(&path_dirs)
        .map(|d| d.join(name))
        .chain(extra.iter().map(PathBuf::from));
    for candidate in candidates {
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "`{name}` is not installed: the integration tests need a real broker and its tools. \
         Install them with `apt-get update && apt-get install -y mosquitto mosquitto-clients` \
         (scripts/test does this), or set ${env}."
    );
}

/// A port on 127.0.0.1 that was free when asked.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Waits until `port` on 127.0.0.1 accepts a TCP connection, or `child` exits, or time runs out.
fn wait_until_accepting(port: u16, child: &mut Child, what: &str, log: &Path) {
    let deadline = Instant::now() + START_TIMEOUT;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{what} exited ({status}) before accepting on port {port}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "{what} did not accept on port {port} within {START_TIMEOUT:?}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Broker {
    /// Starts a broker with `options`; `pki` is needed for any TLS variant.
    pub fn start(options: BrokerOptions, pki: Option<&Pki>) -> Broker {
        let dir = TempDir::new("broker");
        let port = free_port();
        let log = dir.path().join("mosquitto.log");
        let tls = options.tls || options.require_client_cert || options.wrong_host_cert;
        let mut conf = String::new();
        // Root drops to the `mosquitto` user before reading files in our temp dir: stay root.
        if is_root() {
            conf.push_str("user root\n");
        }
        writeln!(conf, "listener {port} 127.0.0.1").unwrap();
        if let Some(plugin_options) = &options.jwt_plugin {
            conf.push_str("allow_anonymous false\n");
            writeln!(conf, "plugin {}", auth_plugin_library().display()).unwrap();
            for (key, value) in plugin_options {
                writeln!(conf, "plugin_opt_{key} {value}").unwrap();
            }
        } else {
            conf.push_str("allow_anonymous true\n");
        }
        writeln!(conf, "log_dest file {}", log.display()).unwrap();
        if options.quiet {
            conf.push_str("log_type error\nlog_type warning\nlog_type notice\n");
        } else {
            conf.push_str("log_type all\nconnection_messages true\n");
        }
        // Large test streams: no per-client queue limit that would drop QoS 1/2 messages. Not
        // `0` (unlimited): Debian's 2.0.11 carries the CVE-2023-28366 fix, which compares the
        // client's outgoing packet count with this limit after a refused PUBLISH and, with 0,
        // always ends the connection (upstream src/handle_publish.c, `process_bad_message`).
        conf.push_str("max_queued_messages 1000000\n");
        if !options.default_inflight {
            conf.push_str("max_inflight_messages 0\n");
        }
        let (mut ca, mut client_cert) = (None, None);
        if tls {
            let pki = pki.expect("a TLS broker needs the test PKI");
            let server = if options.wrong_host_cert {
                &pki.other_host_server
            } else {
                &pki.server
            };
            writeln!(conf, "cafile {}", pki.ca.cert_path.display()).unwrap();
            writeln!(conf, "certfile {}", server.cert_path.display()).unwrap();
            writeln!(conf, "keyfile {}", server.key_path.display()).unwrap();
            conf.push_str("tls_version tlsv1.3\n");
            if options.require_client_cert {
                conf.push_str("require_certificate true\n");
            }
            ca = Some(pki.ca.cert_path.clone());
            client_cert = Some((pki.client.cert_path.clone(), pki.client.key_path.clone()));
        }
        if let Some(acl) = &options.acl {
            let path = dir.write("acl", acl);
            writeln!(conf, "acl_file {}", path.display()).unwrap();
        }
        if options.persistence {
            conf.push_str("persistence true\n");
            writeln!(conf, "persistence_location {}/", dir.path().display()).unwrap();
            conf.push_str("autosave_interval 1\n");
        } else {
            conf.push_str("persistence false\n");
        }
        for line in &options.extra_config {
            writeln!(conf, "{line}").unwrap();
        }
        let conf_path = dir.write("mosquitto.conf", conf);
        let mut broker = Broker {
            child: None,
            port,
            options,
            conf: conf_path,
            log,
            ca,
            client_cert,
            dir,
        };
        broker.spawn();
        broker
    }

    fn spawn(&mut self) {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open broker log");
        let mut child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(&self.conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn mosquitto");
        wait_until_accepting(self.port, &mut child, "mosquitto", &self.log);
        self.child = Some(child);
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The broker's log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn options(&self) -> &BrokerOptions {
        &self.options
    }

    /// Stops the broker gracefully (SIGTERM, so a persistent broker saves its database) and
    /// waits for it to exit. A frozen broker ([`Broker::freeze`]) is sent SIGCONT after the
    /// SIGTERM, so it handles the SIGTERM as it resumes (a running one ignores the SIGCONT).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "TERM");
            signal(child.id(), "CONT");
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.wait();
        }
    }

    /// Kills the broker at once (SIGKILL): no goodbye to clients, no final save.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port with the same config (and database).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Starts a stopped or killed broker again on the same port.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "broker is still running");
        self.spawn();
    }

    /// Freezes the broker (SIGSTOP): the TCP connection stays open, nothing answers.
    pub fn freeze(&self) {
        signal(self.pid().expect("broker not running"), "STOP");
    }

    /// Thaws a frozen broker (SIGCONT).
    pub fn thaw(&self) {
        signal(self.pid().expect("broker not running"), "CONT");
    }

    /// `mosquitto_pub` with this broker's host, port and TLS arguments already set.
    pub fn mosquitto_pub(&self) -> Command {
        self.cli("mosquitto_pub")
    }

    /// `mosquitto_sub` with this broker's host, port and TLS arguments already set.
    pub fn mosquitto_sub(&self) -> Command {
        self.cli("mosquitto_sub")
    }

    fn cli(&self, name: &str) -> Command {
        let mut cmd = Command::new(find_binary(
            &name.to_uppercase(),
            name,
            &[&format!("/usr/bin/{name}")],
        ));
        cmd.args(["-h", "localhost", "-p", &self.port.to_string()]);
        if let Some(ca) = &self.ca {
            cmd.arg("--cafile").arg(ca);
            cmd.args(["--tls-version", "tlsv1.3"]);
            if self.options.require_client_cert {
                let (cert, key) = self.client_cert.as_ref().expect("client cert");
                cmd.arg("--cert").arg(cert).arg("--key").arg(key);
            }
        }
        cmd
    }

    pub fn dir(&self) -> &TempDir {
        &self.dir
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A frozen broker cannot act on SIGKILL until... it can: SIGKILL needs no cooperation.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Sends a signal by pid with the `kill` utility (no libc binding needed).
/// Sends signal `name` (`TERM`, `STOP`, ...) to process `pid` with `kill`; panics if it fails.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

/// A TLS 1.2-only server (`openssl s_server -tls1_2`) on a loopback port, killed on drop.
pub struct Tls12Server {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Tls12Server {
    pub fn start(pki: &Pki) -> Tls12Server {
        let dir = TempDir::new("tls12");
        let port = free_port();
        let log = dir.path().join("s_server.log");
        let out = std::fs::File::create(&log).expect("create s_server log");
        let mut child = Command::new(find_binary("OPENSSL", "openssl", &["/usr/bin/openssl"]))
            .arg("s_server")
            .arg("-accept")
            .arg(format!("127.0.0.1:{port}"))
            .arg("-tls1_2")
            .arg("-cert")
            .arg(&pki.server.cert_path)
            .arg("-key")
            .arg(&pki.server.key_path)
            .arg("-quiet")
            .stdin(Stdio::piped())
            .stdout(out.try_clone().expect("dup log"))
            .stderr(out)
            .spawn()
            .expect("spawn openssl s_server");
        wait_until_accepting(port, &mut child, "openssl s_server", &log);
        Tls12Server {
            child,
            port,
            _dir: dir,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Tls12Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
