//! Real servers for the tests: a redis-server with the module, or a
//! 3-primary cluster started with the repository's `scripts/cluster`, each
//! on free loopback ports and stopped when dropped.
//!
//! The module comes from `$CHAT_MODULE`, else `target/release/` (build it
//! with `cargo build --release -p redis-chat`); the server program from
//! `$CHAT_REDIS_SERVER`, else `redis-server`.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use redis::Value;
use redis_chat_client::{slot, Chat, Settings, Target};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn module_path() -> PathBuf {
    if let Ok(path) = std::env::var("CHAT_MODULE") {
        return PathBuf::from(path);
    }
    let release = root().join("target/release/libredis_chat.so");
    assert!(
        release.exists(),
        "module not built: run `cargo build --release -p redis-chat` or set CHAT_MODULE"
    );
    release.canonicalize().expect("module path")
}

pub fn server_program() -> String {
    std::env::var("CHAT_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into())
}

/// `n` consecutive free ports whose cluster bus ports (+10000) are free too.
/// Each call starts past the blocks handed out before, so tests running in
/// parallel never pick the same ports.
fn free_port_block(n: u16) -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let free = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
    let offset = NEXT.fetch_add(40, Ordering::SeqCst);
    let start = 21000 + (std::process::id() % 8000) as u16 + offset;
    (start..29990 - n)
        .step_by(usize::from(n))
        .find(|&p| (p..p + n).all(|q| free(q) && free(q + 10000)))
        .expect("free ports")
}

fn ping(port: u16) -> bool {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        .is_ok()
}

/// What a test runs against.
pub enum Setup {
    Standalone(Server),
    Cluster(Cluster),
}

impl Setup {
    pub fn standalone() -> Setup {
        Setup::Standalone(Server::start())
    }

    pub fn cluster() -> Setup {
        Setup::Cluster(Cluster::start(0))
    }

    pub fn target(&self) -> Target {
        match self {
            Setup::Standalone(s) => Target::Standalone(s.url()),
            Setup::Cluster(c) => Target::Cluster(c.urls()),
        }
    }

    pub async fn chat(&self) -> Chat {
        self.chat_with(Settings::default()).await
    }

    pub async fn chat_with(&self, settings: Settings) -> Chat {
        Chat::connect(&self.target(), settings)
            .await
            .expect("connect")
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Setup::Cluster(_))
    }

    /// The port of the primary that serves `name` (a key or a channel).
    pub fn port_for(&self, name: &str) -> u16 {
        match self {
            Setup::Standalone(s) => s.port,
            Setup::Cluster(c) => c.port_for(name),
        }
    }

    /// `CONFIG SET name value` on every primary.
    pub fn config_set(&self, name: &str, value: &str) {
        let ports = match self {
            Setup::Standalone(s) => vec![s.port],
            Setup::Cluster(c) => c.ports.to_vec(),
        };
        for port in ports {
            q(&mut connect(port), &["CONFIG", "SET", name, value]);
        }
    }

    /// A plain connection to the primary that serves `name`.
    pub fn node_for(&self, name: &str) -> redis::Connection {
        connect(self.port_for(name))
    }

    /// Ids `prefix0`, `prefix1`, ..., one per primary in a cluster, in the
    /// order of the primaries (each on a node of its own); on one server,
    /// the first `n`.
    pub fn spread(&self, prefix: &str, n: usize) -> Vec<String> {
        match self {
            Setup::Standalone(_) => (0..n).map(|i| format!("{prefix}{i}")).collect(),
            Setup::Cluster(c) => (0..n)
                .map(|i| {
                    let port = c.ports[i % 3];
                    (0..100_000)
                        .map(|k| format!("{prefix}{k}"))
                        .find(|id| c.port_for(id) == port)
                        .expect("an id on every node")
                })
                .collect(),
        }
    }
}

pub fn connect(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .and_then(|c| c.get_connection())
        .expect("connect")
}

/// A redis-server with the module, killed when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl Server {
    pub fn start() -> Server {
        let port = free_port_block(1);
        let dir = std::env::temp_dir().join(format!("chat-client-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("test dir");
        let child = Command::new(server_program())
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .arg("--logfile")
            .arg(dir.join("redis.log"))
            .arg("--loadmodule")
            .arg(module_path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run redis-server");
        let server = Server { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ping(port) {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A cluster of 3 primaries, each with `replicas` replicas, started and
/// stopped with `scripts/cluster`.
pub struct Cluster {
    pub ports: [u16; 3],
    replicas: u16,
    dir: PathBuf,
}

impl Cluster {
    pub fn start(replicas: u16) -> Cluster {
        let base = free_port_block(3 * (replicas + 1));
        let dir =
            std::env::temp_dir().join(format!("chat-client-cluster-{}-{base}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cluster = Cluster {
            ports: [base, base + 1, base + 2],
            replicas,
            dir,
        };
        let out = cluster.script("start");
        assert!(
            out.status.success(),
            "scripts/cluster failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster
    }

    fn script(&self, action: &str) -> std::process::Output {
        Command::new(root().join("scripts/cluster"))
            .arg(action)
            .env("PORT", self.ports[0].to_string())
            .env("REPLICAS", self.replicas.to_string())
            .env("CLUSTER_DIR", &self.dir)
            .env("CHAT_MODULE", module_path())
            .output()
            .expect("run scripts/cluster")
    }

    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}/"))
            .collect()
    }

    /// The primary that serves `name` now, as CLUSTER SLOTS says on a
    /// primary that answers.
    pub fn port_for(&self, name: &str) -> u16 {
        let slot = i64::from(slot(name.as_bytes()));
        let all = (0..3 * (self.replicas + 1)).map(|i| self.ports[0] + i);
        for port in all.filter(|&p| ping(p)) {
            let Ok(Value::Array(ranges)) = redis::cmd("CLUSTER")
                .arg("SLOTS")
                .query::<Value>(&mut connect(port))
            else {
                continue;
            };
            for range in ranges {
                let Value::Array(r) = range else { continue };
                if let (Value::Int(from), Value::Int(to), Value::Array(node)) =
                    (&r[0], &r[1], &r[2])
                {
                    if (*from..=*to).contains(&slot) {
                        if let Value::Int(p) = node[1] {
                            return p as u16;
                        }
                    }
                }
            }
        }
        panic!("no node serves slot {slot}");
    }

    /// The pid of the server on `port`, from its pidfile.
    pub fn pid(&self, port: u16) -> u32 {
        let file = self.dir.join(port.to_string()).join("redis.pid");
        std::fs::read_to_string(&file)
            .expect("pidfile")
            .trim()
            .parse()
            .expect("a pid")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.script("stop");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `args` on a plain connection.
pub fn q(con: &mut redis::Connection, args: &[&str]) -> Value {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(con).expect("command")
}

pub fn strings(v: Value) -> Vec<String> {
    redis::from_redis_value(v).expect("strings")
}

/// Polls `check` until true, for up to `secs` seconds.
pub async fn until(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
