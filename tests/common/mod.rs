//! Test harness: real `redis-server` processes with the built module, each on
//! a free loopback port, stopped when the test ends.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

use redis::{Connection, Value};

/// The module under test: `$CHAT_MODULE`, else the release build, else the
/// debug build. `scripts/test` builds the release module first.
pub fn module_path() -> PathBuf {
    if let Ok(path) = std::env::var("CHAT_MODULE") {
        return PathBuf::from(path);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let release = root.join("target/release/libredis_chat.so");
    let debug = root.join("target/debug/libredis_chat.so");
    if release.exists() {
        release
    } else if debug.exists() {
        debug
    } else {
        panic!(
            "module not built: run `cargo build --release` (scripts/test does) or set CHAT_MODULE"
        )
    }
}

/// The server program under test: `$CHAT_REDIS_SERVER` (a path, or a name
/// on `PATH`), else Debian 12's `redis-server`. `scripts/servers/<name>/server`
/// are the wrappers `scripts/test` uses for each server it covers.
pub fn server_program() -> String {
    std::env::var("CHAT_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into())
}

/// The command-line client of the same server: `$CHAT_REDIS_CLI`, else
/// `redis-cli`.
pub fn cli_program() -> String {
    std::env::var("CHAT_REDIS_CLI").unwrap_or_else(|_| "redis-cli".into())
}

pub struct Server {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Server {
    /// A server with the module and default configs, no persistence.
    pub fn start() -> Server {
        Server::start_with(&[], &[])
    }

    /// `module_args` follow the module path on `--loadmodule`;
    /// `server_args` are further redis-server options (`--appendonly yes`).
    pub fn start_with(module_args: &[&str], server_args: &[&str]) -> Server {
        Server::try_start(module_args, server_args)
            .unwrap_or_else(|log| panic!("redis-server did not start:\n{log}"))
    }

    /// Starts a server, or returns its log if it exits instead (a refused
    /// module load, for example).
    pub fn try_start(module_args: &[&str], server_args: &[&str]) -> Result<Server, String> {
        Server::launch(Some(module_args), server_args)
    }

    /// A plain redis-server without the module (a replica that only ever
    /// sees the module's effects, for example).
    pub fn start_without_module(server_args: &[&str]) -> Server {
        Server::launch(None, server_args)
            .unwrap_or_else(|log| panic!("redis-server did not start:\n{log}"))
    }

    /// Restarts a stopped server on the same port and data directory, with
    /// the module and the given server options.
    pub fn restart(&mut self, server_args: &[&str]) {
        self.restart_with(&[], server_args);
    }

    /// `restart`, with module arguments.
    pub fn restart_with(&mut self, module_args: &[&str], server_args: &[&str]) {
        self.kill();
        self.child = spawn(Some(module_args), server_args, self.port, &self.dir)
            .unwrap_or_else(|log| panic!("redis-server did not restart:\n{log}"));
    }

    fn launch(module_args: Option<&[&str]>, server_args: &[&str]) -> Result<Server, String> {
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = free_port();
            let dir =
                std::env::temp_dir().join(format!("redis-chat-test-{}-{port}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create test dir");
            match spawn(module_args, server_args, port, &dir) {
                Ok(child) => return Ok(Server { child, port, dir }),
                Err(log) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    if !log.contains("Address already in use") {
                        return Err(log);
                    }
                    // Another process took the port: try another.
                    last_log = log;
                }
            }
        }
        Err(last_log)
    }
}

/// Starts redis-server on `port` with its data and log in `dir`; waits until
/// it answers PING, or returns its log if it exits or hangs.
fn spawn(
    module_args: Option<&[&str]>,
    server_args: &[&str],
    port: u16,
    dir: &Path,
) -> Result<Child, String> {
    let log = dir.join("redis.log");
    let mut cmd = Command::new(server_program());
    cmd.arg("--port")
        .arg(port.to_string())
        .args([
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ])
        // DEBUG DIGEST and DEBUG RELOAD are how tests compare and reload data.
        .args(["--enable-debug-command", "yes"])
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(&log);
    if let Some(module_args) = module_args {
        cmd.arg("--loadmodule").arg(module_path()).args(module_args);
    }
    cmd.args(server_args)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!(
            "cannot run {} ({e}); scripts/test installs the servers it tests",
            server_program()
        )
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return Err(std::fs::read_to_string(&log).unwrap_or_default());
        }
        // The server that answers must be this child (another test's
        // server may have taken the port first, and then this one exits),
        // and done loading its data (PING answers LOADING until then).
        if ready(port, child.id()) {
            return Ok(child);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::fs::read_to_string(&log).unwrap_or_default());
        }
        sleep(Duration::from_millis(20));
    }
}

impl Server {
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A RESP2 connection.
    pub fn conn(&self) -> Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// A RESP3 connection.
    pub fn conn3(&self) -> Connection {
        redis::Client::open(format!("{}?protocol=resp3", self.url()))
            .unwrap()
            .get_connection()
            .unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }

    /// Stops the server abruptly (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let alive = self.is_running();
        self.kill();
        // Keep the log of a server that died by itself: it is the evidence.
        if alive {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Whether the server answering on `port` is the process `pid` and has
/// loaded its data (PING answers LOADING until then), over one connection.
fn ready(port: u16, pid: u32) -> bool {
    let Ok(mut con) = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
    else {
        return false;
    };
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query(&mut con)
        .unwrap_or_default();
    let answering = info
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|p| p.trim().parse::<u32>().ok());
    answering == Some(pid) && redis::cmd("PING").query::<String>(&mut con).is_ok()
}

/// Runs a command and returns its reply; panics on an error reply. On any
/// connection: one server's, or a cluster's.
pub fn q<C: redis::ConnectionLike>(con: &mut C, args: &[&str]) -> Value {
    try_q(con, args).unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

pub fn try_q<C: redis::ConnectionLike>(con: &mut C, args: &[&str]) -> redis::RedisResult<Value> {
    let (name, rest) = args.split_first().expect("a command");
    redis::cmd(name).arg(rest).query(con)
}

/// Runs a command that must fail; returns the error reply as the client got
/// it, code first ("ERR no such room").
pub fn err(con: &mut Connection, args: &[&str]) -> String {
    match try_q(con, args) {
        Ok(v) => panic!("{args:?} should have failed, got {v:?}"),
        Err(e) => error_text(&e),
    }
}

pub fn error_text(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_string(),
        _ => e.to_string(),
    }
}

pub fn int(v: &Value) -> i64 {
    match v {
        Value::Int(n) => *n,
        other => panic!("expected an integer, got {other:?}"),
    }
}

pub fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).expect("utf-8"),
        Value::SimpleString(s) => s.clone(),
        Value::Okay => "OK".into(),
        other => panic!("expected a string, got {other:?}"),
    }
}

pub fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) | Value::Set(items) => items.iter().map(text).collect(),
        other => panic!("expected an array, got {other:?}"),
    }
}

/// Array of JSON documents -> parsed values.
pub fn docs(v: &Value) -> Vec<serde_json::Value> {
    strings(v)
        .iter()
        .map(|s| serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}")))
        .collect()
}

/// A map reply (RESP3 map or RESP2 flat array) as ordered (field, value) pairs.
pub fn pairs(v: &Value) -> Vec<(String, Value)> {
    match v {
        Value::Map(items) => items.iter().map(|(k, v)| (text(k), v.clone())).collect(),
        Value::Array(items) => items
            .chunks(2)
            .map(|kv| (text(&kv[0]), kv[1].clone()))
            .collect(),
        other => panic!("expected a map, got {other:?}"),
    }
}

pub fn field(v: &Value, name: &str) -> Value {
    pairs(v)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no field {name} in {v:?}"))
}

/// Registers users, creates `room` and makes every user a member.
pub fn room_with(con: &mut Connection, room: &str, users: &[&str]) {
    q(con, &["CHAT.CREATE", room, &format!("Room {room}")]);
    for u in users {
        // A user may already be registered by an earlier call.
        let _ = try_q(con, &["CHAT.REGISTER", u, &format!("User {u}")]);
        q(con, &["CHAT.SUBSCRIBE", room, u]);
    }
}

/// Unix time in milliseconds, from this machine's clock (the servers' own).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// CHAT.DUMP of a chat key: everything it holds, as JSON.
pub fn dump(con: &mut Connection, key: &str) -> serde_json::Value {
    let text = text(&q(con, &["CHAT.DUMP", key]));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("CHAT.DUMP {key} is not JSON ({e}): {text}"))
}

/// Field `name` of `INFO <section>`, as text.
pub fn info_field(con: &mut Connection, section: &str, name: &str) -> String {
    let info = text(&q(con, &["INFO", section]));
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {name} in INFO {section}:\n{info}"))
        .trim()
        .to_string()
}

/// Field `name` of `INFO <section>`, as an integer.
pub fn info_int(con: &mut Connection, section: &str, name: &str) -> i64 {
    let value = info_field(con, section, name);
    value
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not an integer: {value}"))
}

/// The lines of a Redis log that tell of a panic caught in a handler (the
/// module logs `panic: ...`) or of a crash (a bug report, and the reason
/// Redis gives for it).
pub fn log_problems(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            l.to_ascii_lowercase().contains("panic")
                || l.contains("BUG REPORT")
                || l.contains("Guru Meditation")
        })
        .collect()
}

/// DEBUG DIGEST of the whole dataset: equal digests mean equal data.
pub fn digest(con: &mut Connection) -> String {
    text(&q(con, &["DEBUG", "DIGEST"]))
}

/// A connection subscribed to a channel (or pattern) on its own thread; what
/// it receives arrives on a queue. (A `PubSub` handle unsubscribes when
/// dropped, so the thread keeps it for the life of the connection.)
pub struct Listener {
    received: mpsc::Receiver<String>,
}

impl Listener {
    pub fn exact(server: &Server, channel: &str) -> Listener {
        Listener::start(server, channel, false)
    }

    pub fn pattern(server: &Server, pattern: &str) -> Listener {
        Listener::start(server, pattern, true)
    }

    fn start(server: &Server, name: &str, pattern: bool) -> Listener {
        let mut con = server.conn();
        let name = name.to_string();
        let (tx, received) = mpsc::channel();
        let (ready_tx, ready) = mpsc::channel();
        thread::spawn(move || {
            let mut pubsub = con.as_pubsub();
            let subscribed = if pattern {
                pubsub.psubscribe(&name)
            } else {
                pubsub.subscribe(&name)
            };
            subscribed.unwrap();
            ready_tx.send(()).unwrap();
            // Ends when the server goes away at the end of the test.
            while let Ok(msg) = pubsub.get_message() {
                if tx.send(msg.get_payload::<String>().unwrap()).is_err() {
                    break;
                }
            }
        });
        ready
            .recv_timeout(Duration::from_secs(5))
            .expect("subscribed");
        Listener { received }
    }

    /// The next payload, or None if nothing arrives within `wait`.
    pub fn next(&mut self, wait: Duration) -> Option<serde_json::Value> {
        let payload = self.received.recv_timeout(wait).ok()?;
        Some(serde_json::from_str(&payload).unwrap())
    }
}

/// A replica of `primary`, with or without the module, once its link to
/// the primary is up.
pub fn start_replica(primary: &Server, with_module: bool) -> Server {
    let port = primary.port.to_string();
    let args = ["--replicaof", "127.0.0.1", &port];
    let replica = if with_module {
        Server::start_with(&[], &args)
    } else {
        Server::start_without_module(&args)
    };
    wait_for_link(&replica);
    replica
}

/// A replica of `primary` with its own module arguments and server options,
/// once its link is up (the first sync done).
pub fn replica_with(primary: &Server, module_args: &[&str], server_args: &[&str]) -> Server {
    let port = primary.port.to_string();
    let mut args = vec!["--replicaof", "127.0.0.1", &port];
    args.extend_from_slice(server_args);
    let replica = Server::start_with(module_args, &args);
    wait_for_link(&replica);
    replica
}

/// Waits until `replica`'s link to its primary is up.
pub fn wait_for_link(replica: &Server) {
    let mut con = replica.conn();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !text(&q(&mut con, &["INFO", "replication"])).contains("master_link_status:up") {
        assert!(Instant::now() < deadline, "replica never connected");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Sends signal `sig` (`-STOP`, `-CONT`, ...) to process `pid`.
pub fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {sig} {pid}");
}

/// Keeps a connection subscribed to each user's push channel, so that those
/// of them who are online get messages live (and no inbox copy).
pub fn listen(server: &Server, users: &[&str]) {
    for user in users {
        let mut con = server.conn();
        let channel = format!("chat:user:{{{user}}}:push");
        let (ready, subscribed) = mpsc::channel();
        thread::spawn(move || {
            let mut pubsub = con.as_pubsub();
            pubsub.subscribe(&channel).unwrap();
            ready.send(()).unwrap();
            // Ends when the server goes away at the end of the test.
            while pubsub.get_message().is_ok() {}
        });
        subscribed.recv_timeout(Duration::from_secs(5)).unwrap();
    }
}

/// A small deterministic generator, so that a failing workload can be
/// replayed.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// CRC-64/Jones as Redis computes it for DUMP payloads and RDB files
/// (reflected, init 0, no final xor).
pub fn crc64(data: &[u8]) -> u64 {
    const POLY: u64 = 0x95ac_9329_ac4b_c9b5; // 0xad93d23594c935a9 reflected
    let mut crc = 0u64;
    for &byte in data {
        crc ^= u64::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
        }
    }
    crc
}

// ---------------------------------------------------------------------------
// Payloads, persistence, replicas and comparisons of two servers' data

pub fn bytes(con: &mut Connection, args: &[&str]) -> Vec<u8> {
    let (name, rest) = args.split_first().unwrap();
    redis::cmd(name)
        .arg(rest)
        .query::<Vec<u8>>(con)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

pub fn digest_value(con: &mut Connection, key: &str) -> String {
    strings(&q(con, &["DEBUG", "DIGEST-VALUE", key])).remove(0)
}

pub fn restore(
    con: &mut Connection,
    key: &str,
    payload: &[u8],
    replace: bool,
) -> redis::RedisResult<Value> {
    let mut cmd = redis::cmd("RESTORE");
    cmd.arg(key).arg(0).arg(payload);
    if replace {
        cmd.arg("REPLACE");
    }
    cmd.query(con)
}

/// Waits until INFO persistence shows `line`.
pub fn wait_persistence(con: &mut Connection, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !text(&q(con, &["INFO", "persistence"])).contains(line) {
        assert!(Instant::now() < deadline, "never saw {line}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Runs BGREWRITEAOF and waits for it to end well.
pub fn rewrite_aof(con: &mut Connection) {
    wait_persistence(con, "aof_rewrite_scheduled:0");
    wait_persistence(con, "aof_rewrite_in_progress:0");
    q(con, &["BGREWRITEAOF"]);
    thread::sleep(Duration::from_millis(50));
    wait_persistence(con, "aof_rewrite_scheduled:0");
    wait_persistence(con, "aof_rewrite_in_progress:0");
    assert_eq!(
        info_field(con, "persistence", "aof_last_bgrewrite_status"),
        "ok"
    );
}

/// Every file of the server's AOF directory, by name.
pub fn aof_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("appendonlydir"))
        .expect("an AOF directory")
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Where two servers' data differ: the keys only one has, and for each
/// key whose DIGEST-VALUE differs, both CHAT.DUMPs.
fn differences(a: &mut Connection, b: &mut Connection) -> String {
    let keys = |con: &mut Connection| {
        let mut keys = strings(&q(con, &["KEYS", "*"]));
        keys.sort();
        keys
    };
    let (in_a, in_b) = (keys(a), keys(b));
    let mut out = String::new();
    for key in in_a.iter().filter(|k| !in_b.contains(k)) {
        out += &format!("only in the first: {key}\n");
    }
    for key in in_b.iter().filter(|k| !in_a.contains(k)) {
        out += &format!("only in the second: {key}\n");
    }
    for key in in_a.iter().filter(|k| in_b.contains(k)) {
        if digest_value(a, key) != digest_value(b, key) {
            let dump = |con: &mut Connection| match try_q(con, &["CHAT.DUMP", key]) {
                Ok(v) => text(&v),
                Err(e) => error_text(&e),
            };
            out += &format!(
                "{key} differs:\n  first:  {}\n  second: {}\n",
                dump(a),
                dump(b)
            );
        }
    }
    out
}

/// Asserts equal DEBUG DIGESTs, showing what differs if they are not.
pub fn assert_same_data(a: &mut Connection, b: &mut Connection, what: &str) {
    let (da, db) = (digest(a), digest(b));
    if da != db {
        panic!("{what}: DEBUG DIGEST {da} vs {db}\n{}", differences(a, b));
    }
}

pub fn wait_for_replicas(primary: &mut Connection, n: i64) {
    let acked = int(&q(primary, &["WAIT", &n.to_string(), "5000"]));
    assert_eq!(acked, n, "the replicas did not catch up");
}

pub fn exists(con: &mut Connection, key: &str) -> bool {
    int(&q(con, &["EXISTS", key])) == 1
}

pub fn count_of(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

/// Every message of `room`'s history after id `after`, page after page,
/// ascending: what an app reads to catch up.
pub fn history_after<C: redis::ConnectionLike>(
    con: &mut C,
    room: &str,
    after: i64,
) -> Vec<serde_json::Value> {
    let mut all: Vec<serde_json::Value> = Vec::new();
    loop {
        let from = all
            .last()
            .map_or(after, |d| d["id"].as_i64().unwrap_or(after));
        let page = docs(&q(
            con,
            &[
                "CHAT.HISTORY",
                room,
                "AFTER",
                &from.to_string(),
                "COUNT",
                "1000",
            ],
        ));
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

/// Every copy in `user`'s inbox, read as an app reads it: a page at a
/// time, acknowledging each page. The inbox is empty afterwards.
pub fn drain_inbox<C: redis::ConnectionLike>(con: &mut C, user: &str) -> Vec<serde_json::Value> {
    let mut all = Vec::new();
    loop {
        let page = docs(&q(con, &["CHAT.FETCH", user, "COUNT", "1000"]));
        let Some(last) = page.last() else {
            return all;
        };
        q(con, &["CHAT.ACK", user, last["delivery"].as_str().unwrap()]);
        all.extend(page);
    }
}
