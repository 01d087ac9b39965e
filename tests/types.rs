//! The two module data types, `chat-room` and `chat-user`, as Redis sees
//! them: their names and memory, every way a value leaves and comes back
//! (RDB, AOF with and without preamble, the AOF's command stream, DUMP and
//! RESTORE, MIGRATE, full syncs), the generic key commands (COPY, RENAME,
//! DEL, UNLINK), values from a newer module, and replicas, also with
//! smaller limits than their primary.

mod common;

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use redis::{Connection, Value};

// ---------------------------------------------------------------------------
// A small but varied dataset

/// What `dataset` made: every chat key, so that a test can look at all of
/// them.
struct Dataset {
    rooms: Vec<String>,
    users: Vec<String>,
    /// The direct room of alice and bob.
    dm: String,
}

impl Dataset {
    fn keys(&self) -> Vec<String> {
        self.rooms.iter().chain(&self.users).cloned().collect()
    }
}

/// Users (two with passwords, one changed since), a room of 2 (`pair`), a
/// room of 10 (`ten`), a room of 300 messages, some of them big (`many`),
/// a direct room, messages with edits and deletes, DEDUP keys, inbox
/// copies (some acknowledged), read cursors, presence, and a user in no
/// room at all.
fn dataset(con: &mut Connection) -> Dataset {
    q(
        con,
        &[
            "CHAT.REGISTER",
            "alice",
            "Alice",
            "PASSWORD",
            "alice-secret",
        ],
    );
    q(
        con,
        &["CHAT.REGISTER", "bob", "Bob", "PASSWORD", "bob-secret"],
    );
    let mut users = vec!["alice".to_string(), "bob".to_string()];
    for i in 0..10 {
        let u = format!("u{i}");
        q(con, &["CHAT.REGISTER", &u, &format!("User number {i}")]);
        users.push(u);
    }
    q(con, &["CHAT.REGISTER", "loner", "Nobody's friend"]);
    users.push("loner".into());

    q(con, &["CHAT.CREATE", "pair", "A room of two"]);
    for u in ["alice", "bob"] {
        q(con, &["CHAT.SUBSCRIBE", "pair", u]);
    }
    q(con, &["CHAT.CREATE", "ten", "A room of ten"]);
    for i in 0..10 {
        q(con, &["CHAT.SUBSCRIBE", "ten", &format!("u{i}")]);
    }
    // Online, but nobody listens: copies still go to the inbox.
    q(con, &["CHAT.ONLINE", "alice", "TTL", "3600"]);
    q(con, &["CHAT.ONLINE", "u1", "TTL", "7200"]);

    assert_eq!(
        int(&q(con, &["CHAT.SEND", "pair", "alice", "hello bob"])),
        1
    );
    assert_eq!(int(&q(con, &["CHAT.SEND", "pair", "bob", "hi alice"])), 2);
    let edited = ["CHAT.SEND", "pair", "alice", "edit me", "DEDUP", "pk-1"];
    assert_eq!(int(&q(con, &edited)), 3);
    // A retry changes nothing.
    assert_eq!(int(&q(con, &edited)), 3);
    assert_eq!(int(&q(con, &["CHAT.SEND", "pair", "bob", "delete me"])), 4);
    q(con, &["CHAT.EDIT", "pair", "alice", "3", "edited by alice"]);
    q(con, &["CHAT.DELETE", "pair", "bob", "4"]);

    for n in 0..25 {
        let sender = format!("u{}", n % 10);
        let text = format!("message {n} from {sender}: {}", "ü".repeat(n));
        let mut send = vec!["CHAT.SEND", "ten", &sender, &text];
        let key = format!("tk-{n}");
        if n % 4 == 0 {
            send.extend(["DEDUP", &key]);
        }
        assert_eq!(int(&q(con, &send)), n as i64 + 1);
    }
    q(con, &["CHAT.EDIT", "ten", "u2", "3", "an edited text"]);
    q(con, &["CHAT.DELETE", "ten", "u5", "6"]);
    q(con, &["CHAT.READ", "ten", "u7", "10"]);
    q(con, &["CHAT.READ", "ten", "u9", "24"]);
    let inbox = docs(&q(con, &["CHAT.FETCH", "u8"]));
    assert!(inbox.len() > 5, "u8's inbox: {inbox:?}");
    let delivery = inbox[2]["delivery"].as_str().unwrap();
    assert_eq!(int(&q(con, &["CHAT.ACK", "u8", delivery])), 3);

    // A room of many messages, some bigger than a chunk of the log (and
    // of an inbox), with edits and deletes in old chunks, and an inbox of
    // many chunks, acknowledged up to the middle of one.
    q(con, &["CHAT.CREATE", "many", "Many messages, some big"]);
    for u in ["alice", "bob", "u0"] {
        q(con, &["CHAT.SUBSCRIBE", "many", u]);
    }
    for n in 0..300 {
        let sender = ["alice", "u0", "bob"][n % 3];
        let text = match n % 50 {
            7 => "é".repeat(3000),
            33 => "z".repeat(16000),
            _ => format!("many {n} {}", "m".repeat(n % 97)),
        };
        let mut send = vec!["CHAT.SEND", "many", sender, &text];
        let key = format!("mk-{n}");
        if n % 10 == 0 {
            send.extend(["DEDUP", &key]);
        }
        assert_eq!(int(&q(con, &send)), n as i64 + 1);
    }
    q(
        con,
        &[
            "CHAT.EDIT",
            "many",
            "alice",
            "1",
            "edited in the first chunk",
        ],
    );
    q(con, &["CHAT.EDIT", "many", "u0", "2", &"ä".repeat(4500)]);
    q(con, &["CHAT.DELETE", "many", "bob", "3"]);
    q(con, &["CHAT.DELETE", "many", "alice", "151"]);
    q(con, &["CHAT.READ", "many", "u0", "200"]);
    let inbox = docs(&q(con, &["CHAT.FETCH", "bob", "COUNT", "1000"]));
    // 200 copies from this room, and 2 from pair.
    assert_eq!(inbox.len(), 202, "bob's inbox");
    let delivery = inbox[69]["delivery"].as_str().unwrap();
    assert_eq!(int(&q(con, &["CHAT.ACK", "bob", delivery])), 70);

    let dm = text(&q(con, &["CHAT.DM", "alice", "bob"]));
    q(con, &["CHAT.SEND", &dm, "alice", "just between us"]);
    q(con, &["CHAT.PASSWD", "bob", "bob-secret", "bob-new-secret"]);
    Dataset {
        rooms: vec!["pair".into(), "ten".into(), "many".into(), dm.clone()],
        users,
        dm,
    }
}

/// Everything the chat commands show of a dataset, with the digest.
#[derive(Debug, PartialEq)]
struct Seen {
    digest: String,
    replies: Vec<(String, Value)>,
}

fn observe(con: &mut Connection, data: &Dataset) -> Seen {
    let mut replies = Vec::new();
    let mut see = |args: &[&str]| {
        let reply = q(con, args);
        replies.push((args.join(" "), reply));
    };
    for room in &data.rooms {
        see(&["CHAT.HISTORY", room, "COUNT", "1000"]);
        see(&["CHAT.INFO", room, "WITHREAD"]);
        see(&["CHAT.COUNTS", room]);
        see(&["CHAT.MEMBERS", room, "WITHREAD"]);
        see(&["CHAT.PRESENCE", room]);
        see(&["CHAT.DUMP", room]);
    }
    for user in &data.users {
        see(&["CHAT.FETCH", user, "COUNT", "1000"]);
        see(&["CHAT.UNREAD", user]);
        see(&["CHAT.PROFILE", user]);
        see(&["CHAT.ROOMS", user]);
        see(&["CHAT.DUMP", user]);
    }
    Seen {
        digest: digest(con),
        replies,
    }
}

/// Compares two observations, naming the first reply that differs.
fn assert_same(after: &Seen, before: &Seen, what: &str) {
    for ((command, a), (_, b)) in after.replies.iter().zip(&before.replies) {
        assert_eq!(a, b, "{what}: `{command}` differs");
    }
    assert_eq!(after.replies.len(), before.replies.len(), "{what}");
    assert_eq!(after.digest, before.digest, "{what}: DEBUG DIGEST differs");
    assert_ne!(after.digest, "0".repeat(40), "{what}: the dataset is empty");
}

/// The dataset still works after a round trip: passwords check, and the
/// rooms take new messages with the next ids.
fn assert_still_works(con: &mut Connection) {
    q(con, &["CHAT.AUTH", "alice", "alice-secret"]);
    q(con, &["CHAT.AUTH", "bob", "bob-new-secret"]);
    assert_eq!(
        err(con, &["CHAT.AUTH", "bob", "bob-secret"]),
        "ERR invalid username or password"
    );
    assert_eq!(int(&q(con, &["CHAT.SEND", "pair", "bob", "still here"])), 5);
    assert_eq!(int(&q(con, &["CHAT.SEND", "ten", "u3", "and here"])), 26);
    // A DEDUP key is still remembered.
    assert_eq!(
        int(&q(
            con,
            &["CHAT.SEND", "pair", "alice", "edit me", "DEDUP", "pk-1"]
        )),
        3
    );
}

// ---------------------------------------------------------------------------
// Small helpers

fn bytes(con: &mut Connection, args: &[&str]) -> Vec<u8> {
    let (name, rest) = args.split_first().unwrap();
    redis::cmd(name)
        .arg(rest)
        .query::<Vec<u8>>(con)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

fn digest_value(con: &mut Connection, key: &str) -> String {
    strings(&q(con, &["DEBUG", "DIGEST-VALUE", key])).remove(0)
}

fn exists(con: &mut Connection, key: &str) -> bool {
    int(&q(con, &["EXISTS", key])) == 1
}

fn restore(
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

/// A field of INFO, as text.
fn info_field(con: &mut Connection, section: &str, name: &str) -> String {
    let info = text(&q(con, &["INFO", section]));
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in INFO {section}:\n{info}"))
        .trim()
        .to_string()
}

fn info_int(con: &mut Connection, section: &str, name: &str) -> i64 {
    info_field(con, section, name).parse().unwrap()
}

/// Waits until INFO persistence shows `line`.
fn wait_persistence(con: &mut Connection, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !text(&q(con, &["INFO", "persistence"])).contains(line) {
        assert!(Instant::now() < deadline, "never saw {line}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Runs BGREWRITEAOF and waits for it to end well.
fn rewrite_aof(con: &mut Connection) {
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
fn aof_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
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

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn count_of(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

/// A replica of `primary` with its own module arguments and server options,
/// once its link is up (the first sync done).
fn replica_with(primary: &Server, module_args: &[&str], server_args: &[&str]) -> Server {
    let port = primary.port.to_string();
    let mut args = vec!["--replicaof", "127.0.0.1", &port];
    args.extend_from_slice(server_args);
    let replica = Server::start_with(module_args, &args);
    let mut con = replica.conn();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !text(&q(&mut con, &["INFO", "replication"])).contains("master_link_status:up") {
        assert!(Instant::now() < deadline, "replica never connected");
        thread::sleep(Duration::from_millis(20));
    }
    replica
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
fn assert_same_data(a: &mut Connection, b: &mut Connection, what: &str) {
    let (da, db) = (digest(a), digest(b));
    if da != db {
        panic!("{what}: DEBUG DIGEST {da} vs {db}\n{}", differences(a, b));
    }
}

fn wait_for_replicas(primary: &mut Connection, n: i64) {
    let acked = int(&q(primary, &["WAIT", &n.to_string(), "5000"]));
    assert_eq!(acked, n, "the replicas did not catch up");
}

/// Keeps a connection subscribed to each user's push channel, so that those
/// of them who are online get messages live (and no inbox copy).
fn listen(server: &Server, users: &[&str]) {
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

// ---------------------------------------------------------------------------
// 1. What Redis shows of chat keys

#[test]
fn chat_keys_have_their_own_types_and_report_their_memory() {
    let server = Server::start();
    let mut con = server.conn();
    let data = dataset(&mut con);
    for room in &data.rooms {
        assert_eq!(text(&q(&mut con, &["TYPE", room])), "chat-room", "{room}");
        assert!(exists(&mut con, room));
        assert_eq!(text(&q(&mut con, &["OBJECT", "ENCODING", room])), "raw");
    }
    for user in &data.users {
        assert_eq!(text(&q(&mut con, &["TYPE", user])), "chat-user", "{user}");
        assert!(exists(&mut con, user));
        assert_eq!(text(&q(&mut con, &["OBJECT", "ENCODING", user])), "raw");
    }
    assert_eq!(text(&q(&mut con, &["TYPE", "nothing"])), "none");
    assert!(!exists(&mut con, "nothing"));
    // One key per room and per user, nothing else.
    assert_eq!(
        int(&q(&mut con, &["DBSIZE"])) as usize,
        data.rooms.len() + data.users.len()
    );
    q(&mut con, &["SET", "plain", "string"]);

    let scan = |con: &mut Connection, kind: &str| {
        let mut found = Vec::new();
        let mut cursor = "0".to_string();
        loop {
            let reply = q(con, &["SCAN", &cursor, "TYPE", kind, "COUNT", "100"]);
            let Value::Array(parts) = reply else {
                panic!("SCAN replied {reply:?}")
            };
            cursor = text(&parts[0]);
            found.extend(strings(&parts[1]));
            if cursor == "0" {
                break;
            }
        }
        found.sort();
        found
    };
    let mut rooms = data.rooms.clone();
    rooms.sort();
    let mut users = data.users.clone();
    users.sort();
    assert_eq!(scan(&mut con, "chat-room"), rooms);
    assert_eq!(scan(&mut con, "chat-user"), users);
    assert_eq!(scan(&mut con, "string"), ["plain"]);

    // MEMORY USAGE counts the value, and grows with what it holds.
    let usage = |con: &mut Connection, key: &str| int(&q(con, &["MEMORY", "USAGE", key]));
    let room_before = usage(&mut con, "pair");
    let user_before = usage(&mut con, "bob");
    let empty_user = usage(&mut con, "loner");
    assert!(room_before > 100, "MEMORY USAGE pair = {room_before}");
    assert!(user_before > empty_user, "{user_before} vs {empty_user}");
    let text_100 = "x".repeat(100);
    for _ in 0..300 {
        q(&mut con, &["CHAT.SEND", "pair", "alice", &text_100]);
    }
    let room_after = usage(&mut con, "pair");
    let user_after = usage(&mut con, "bob");
    // 300 texts of 100 bytes: at least 30,000 more bytes in the room.
    assert!(
        room_after >= room_before + 30_000,
        "MEMORY USAGE pair: {room_before} -> {room_after}"
    );
    // bob got 300 inbox copies too.
    assert!(
        user_after >= user_before + 30_000,
        "MEMORY USAGE bob: {user_before} -> {user_after}"
    );
    // The bigger a room, the more it says it takes: ten's 25 messages are
    // less than pair's 300.
    assert!(usage(&mut con, "ten") < room_after);
    assert_eq!(q(&mut con, &["MEMORY", "USAGE", "nothing"]), Value::Nil);
}

// ---------------------------------------------------------------------------
// 2. Round trips through RDB and AOF

#[test]
fn everything_survives_debug_reload() {
    let server = Server::start();
    let mut con = server.conn();
    let data = dataset(&mut con);
    let before = observe(&mut con, &data);
    q(&mut con, &["DEBUG", "RELOAD"]);
    assert_same(&observe(&mut con, &data), &before, "after DEBUG RELOAD");
    assert_still_works(&mut con);
}

#[test]
fn everything_survives_save_and_restart() {
    let mut server = Server::start();
    let mut con = server.conn();
    let data = dataset(&mut con);
    let before = observe(&mut con, &data);
    q(&mut con, &["SAVE"]);
    server.kill();
    server.restart(&[]);
    let mut con = server.conn();
    assert_same(&observe(&mut con, &data), &before, "after SAVE and restart");
    assert_still_works(&mut con);
}

const AOF: [&str; 4] = ["--appendonly", "yes", "--appendfsync", "always"];

/// Rewrites the AOF (with `server_args`), adds a few writes after the
/// rewrite, restarts, and compares. Returns the AOF files as they were.
fn survives_aof_rewrite(server_args: &[&str]) -> Vec<(String, Vec<u8>)> {
    let mut server = Server::start_with(&[], server_args);
    let mut con = server.conn();
    let data = dataset(&mut con);
    // Copies, refused under their names, are kept as they are.
    q(&mut con, &["COPY", "ten", "ten-copy"]);
    q(&mut con, &["COPY", "bob", "bob-copy"]);
    rewrite_aof(&mut con);
    let files = aof_files(&server.dir);
    // Writes after the rewrite go to the new incremental file, and replay
    // on top of the rewritten values.
    q(&mut con, &["CHAT.SEND", "ten", "u4", "after the rewrite"]);
    q(
        &mut con,
        &["CHAT.EDIT", "ten", "u4", "5", "edited after the rewrite"],
    );
    q(&mut con, &["CHAT.ONLINE", "u9", "TTL", "600"]);
    let before = observe(&mut con, &data);
    server.kill();
    server.restart(server_args);
    let mut con = server.conn();
    assert_same(
        &observe(&mut con, &data),
        &before,
        &format!("after BGREWRITEAOF and restart with {server_args:?}"),
    );
    assert_eq!(
        int(&q(&mut con, &["CHAT.SEND", "pair", "bob", "still here"])),
        5
    );
    assert_eq!(
        int(&q(&mut con, &["CHAT.SEND", "ten", "u3", "and here"])),
        27
    );
    q(&mut con, &["CHAT.AUTH", "bob", "bob-new-secret"]);
    let refused = err(&mut con, &["CHAT.HISTORY", "ten-copy"]);
    assert!(
        refused.starts_with(&misnamed("ten-copy", "room")),
        "{refused}"
    );
    let refused = err(&mut con, &["CHAT.FETCH", "bob-copy"]);
    assert!(
        refused.starts_with(&misnamed("bob-copy", "user")),
        "{refused}"
    );
    assert_eq!(dump_json(&mut con, "ten-copy")["last_id"], 25);
    files
}

#[test]
fn everything_survives_an_aof_rewrite_with_an_rdb_preamble() {
    let files = survives_aof_rewrite(&AOF);
    let (name, base) = files
        .iter()
        .find(|(name, _)| name.contains(".base."))
        .expect("a base file");
    assert!(
        name.ends_with(".rdb") && base.starts_with(b"REDIS"),
        "the base {name} is an RDB"
    );
    assert!(!contains(base, b"CHAT.RESTORE-VALUE"));
}

#[test]
fn everything_survives_an_aof_rewrite_without_an_rdb_preamble() {
    let args = [&AOF[..], &["--aof-use-rdb-preamble", "no"]].concat();
    let files = survives_aof_rewrite(&args);
    let (name, base) = files
        .iter()
        .find(|(name, _)| name.contains(".base."))
        .expect("a base file");
    assert!(name.ends_with(".aof"), "{name}");
    assert!(!base.starts_with(b"REDIS"), "{name} has an RDB preamble");
    // One CHAT.RESTORE-VALUE per chat key: 4 rooms and 13 users, and a
    // copy of each kind.
    assert_eq!(count_of(base, b"CHAT.RESTORE-VALUE"), 19, "{name}");
    assert_eq!(count_of(base, b"$4\r\nroom\r\n"), 5, "{name}");
    assert_eq!(count_of(base, b"$4\r\nuser\r\n"), 14, "{name}");
    assert!(contains(base, b"$8\r\nten-copy\r\n$4\r\nroom\r\n"));
    assert!(contains(base, b"$3\r\nten\r\n$4\r\nroom\r\n$1\r\n1\r\n"));
}

#[test]
fn everything_survives_replaying_the_command_stream_after_kill_9() {
    let mut server = Server::start_with(&[], &AOF);
    let mut con = server.conn();
    let data = dataset(&mut con);
    let before = observe(&mut con, &data);
    // The stream is made of chat commands, with every decision made.
    let stream: Vec<u8> = aof_files(&server.dir)
        .into_iter()
        .filter(|(name, _)| name.contains(".incr."))
        .flat_map(|(_, content)| content)
        .collect();
    for command in [
        &b"CHAT.AT"[..],
        b"CHAT.SEND-RESOLVED",
        b"CHAT.SET-PASSWORD",
        b"CHAT.EDIT",
        b"CHAT.DELETE",
        b"CHAT.ACK",
        b"CHAT.READ",
    ] {
        assert!(
            contains(&stream, command),
            "no {} in the AOF",
            String::from_utf8_lossy(command)
        );
    }
    assert!(!contains(&stream, b"alice-secret"), "a password in the AOF");
    server.kill(); // SIGKILL
    server.restart(&AOF);
    let mut con = server.conn();
    assert_same(
        &observe(&mut con, &data),
        &before,
        "after kill -9 and a replay of the AOF",
    );
    assert_still_works(&mut con);
}

// ---------------------------------------------------------------------------
// 3. DUMP, RESTORE and MIGRATE

#[test]
fn a_room_and_a_user_survive_dump_and_restore() {
    let server = Server::start();
    let mut con = server.conn();
    let data = dataset(&mut con);
    let before = observe(&mut con, &data);
    for key in ["ten", "pair", "bob", "u8", &data.dm] {
        let payload = bytes(&mut con, &["DUMP", key]);
        let value_digest = digest_value(&mut con, key);
        // Back under its own name, after DEL.
        q(&mut con, &["DEL", key]);
        assert!(!exists(&mut con, key));
        assert_eq!(
            restore(&mut con, key, &payload, false).unwrap(),
            Value::Okay
        );
        assert_eq!(digest_value(&mut con, key), value_digest, "{key}");
        // Over itself, with REPLACE; without, it is refused.
        let busy = restore(&mut con, key, &payload, false).unwrap_err();
        assert!(error_text(&busy).starts_with("BUSYKEY"), "{busy}");
        assert_eq!(restore(&mut con, key, &payload, true).unwrap(), Value::Okay);
        assert_eq!(digest_value(&mut con, key), value_digest, "{key}");
    }
    assert_same(&observe(&mut con, &data), &before, "after DUMP and RESTORE");

    // REPLACE puts back the value as it was, over a changed one.
    let old = bytes(&mut con, &["DUMP", "ten"]);
    let old_digest = digest_value(&mut con, "ten");
    let old_history = q(&mut con, &["CHAT.HISTORY", "ten", "COUNT", "1000"]);
    q(&mut con, &["CHAT.SEND", "ten", "u1", "a later message"]);
    q(&mut con, &["CHAT.EDIT", "ten", "u2", "3", "edited later"]);
    assert_ne!(digest_value(&mut con, "ten"), old_digest);
    restore(&mut con, "ten", &old, true).unwrap();
    assert_eq!(digest_value(&mut con, "ten"), old_digest);
    assert_eq!(
        q(&mut con, &["CHAT.HISTORY", "ten", "COUNT", "1000"]),
        old_history
    );
    assert_eq!(int(&q(&mut con, &["CHAT.SEND", "ten", "u1", "again"])), 26);

    // The same with a user.
    let old = bytes(&mut con, &["DUMP", "u8"]);
    let old_digest = digest_value(&mut con, "u8");
    let old_inbox = q(&mut con, &["CHAT.FETCH", "u8", "COUNT", "1000"]);
    q(&mut con, &["CHAT.ONLINE", "u8", "TTL", "30"]);
    assert_ne!(digest_value(&mut con, "u8"), old_digest);
    restore(&mut con, "u8", &old, true).unwrap();
    assert_eq!(digest_value(&mut con, "u8"), old_digest);
    assert_eq!(
        q(&mut con, &["CHAT.FETCH", "u8", "COUNT", "1000"]),
        old_inbox
    );
    assert_ne!(
        q(&mut con, &["CHAT.FETCH", "u8", "COUNT", "1000"]),
        Value::Array(vec![])
    );

    // Restored under another name, a value is shown but refused.
    let payload = bytes(&mut con, &["DUMP", "bob"]);
    restore(&mut con, "bob-elsewhere", &payload, false).unwrap();
    assert_eq!(
        digest_value(&mut con, "bob-elsewhere"),
        digest_value(&mut con, "bob")
    );
    assert_eq!(text(&q(&mut con, &["TYPE", "bob-elsewhere"])), "chat-user");
    let refused = err(&mut con, &["CHAT.PROFILE", "bob-elsewhere"]);
    assert!(
        refused.starts_with(&misnamed("bob-elsewhere", "user")),
        "{refused}"
    );
    let shown: serde_json::Value =
        serde_json::from_str(&text(&q(&mut con, &["CHAT.DUMP", "bob-elsewhere"]))).unwrap();
    assert_eq!(shown["name"], "Bob");
    assert_eq!(shown["password"], true);
}

/// Every chat key of `data` has the same DIGEST-VALUE on both servers.
fn assert_same_values(a: &mut Connection, b: &mut Connection, keys: &[String], what: &str) {
    for key in keys {
        assert_eq!(
            digest_value(b, key),
            digest_value(a, key),
            "{what}: DIGEST-VALUE of {key}"
        );
    }
}

#[test]
fn migrate_moves_rooms_and_users_between_servers() {
    let source = Server::start();
    let target = Server::start();
    let third = Server::start();
    let mut con = source.conn();
    let mut tcon = target.conn();
    let data = dataset(&mut con);
    let keys = data.keys();
    let before = observe(&mut con, &data);
    let target_port = target.port.to_string();

    // MIGRATE ... COPY, one key at a time: the source keeps its keys.
    for key in &keys {
        let reply = q(
            &mut con,
            &[
                "MIGRATE",
                "127.0.0.1",
                &target_port,
                key,
                "0",
                "5000",
                "COPY",
            ],
        );
        assert_eq!(reply, Value::Okay, "{key}");
    }
    for key in &keys {
        assert!(exists(&mut con, key), "{key} left the source");
    }
    assert_same_values(&mut con, &mut tcon, &keys, "after MIGRATE COPY");
    assert_same(
        &observe(&mut tcon, &data),
        &before,
        "target after MIGRATE COPY",
    );
    // The target runs commands on them.
    assert_eq!(
        int(&q(
            &mut tcon,
            &["CHAT.SEND", "pair", "bob", "on the target"]
        )),
        5
    );
    q(&mut tcon, &["CHAT.AUTH", "bob", "bob-new-secret"]);
    let fetched = docs(&q(&mut tcon, &["CHAT.FETCH", "alice", "COUNT", "1000"]));
    assert_eq!(fetched.last().unwrap()["text"], "on the target");

    // Without REPLACE a key the target holds is refused; with REPLACE the
    // target gets the source's value again.
    q(&mut con, &["CHAT.SEND", "ten", "u6", "on the source"]);
    let refused = err(
        &mut con,
        &[
            "MIGRATE",
            "127.0.0.1",
            &target_port,
            "ten",
            "0",
            "5000",
            "COPY",
        ],
    );
    assert!(refused.contains("BUSYKEY"), "{refused}");
    let mut args = vec![
        "MIGRATE",
        "127.0.0.1",
        &target_port,
        "",
        "0",
        "5000",
        "COPY",
        "REPLACE",
        "KEYS",
    ];
    args.extend(keys.iter().map(String::as_str));
    assert_eq!(q(&mut con, &args), Value::Okay);
    assert_same_values(&mut con, &mut tcon, &keys, "after MIGRATE COPY REPLACE");
    assert_eq!(digest(&mut tcon), digest(&mut con));
    assert_eq!(int(&q(&mut tcon, &["CHAT.SEND", "ten", "u6", "next"])), 27);

    // A plain MIGRATE moves the keys: gone from the source.
    let moved = observe(&mut con, &data);
    let third_port = third.port.to_string();
    let mut args = vec!["MIGRATE", "127.0.0.1", &third_port, "", "0", "5000", "KEYS"];
    args.extend(keys.iter().map(String::as_str));
    assert_eq!(q(&mut con, &args), Value::Okay);
    for key in &keys {
        assert!(!exists(&mut con, key), "{key} is still on the source");
    }
    assert_eq!(int(&q(&mut con, &["DBSIZE"])), 0);
    let mut third_con = third.conn();
    assert_same(
        &observe(&mut third_con, &data),
        &moved,
        "after a plain MIGRATE",
    );
    assert_eq!(
        int(&q(&mut third_con, &["CHAT.SEND", "ten", "u0", "moved"])),
        27
    );
    assert_eq!(
        int(&q(&mut third_con, &["CHAT.SEND", &data.dm, "bob", "moved"])),
        2
    );
    q(&mut third_con, &["CHAT.AUTH", "alice", "alice-secret"]);
}

// ---------------------------------------------------------------------------
// 4. COPY, RENAME, DEL and UNLINK

fn misnamed(key: &str, kind: &str) -> String {
    format!("ERR key '{key}' holds a chat {kind} made under another key name")
}

/// Replaces every string `from` anywhere in `doc` by `to`: the id a dump
/// shows for its key.
fn rename_in(doc: &mut serde_json::Value, from: &str, to: &str) {
    match doc {
        serde_json::Value::String(s) if s == from => *s = to.to_string(),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| rename_in(v, from, to)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| rename_in(v, from, to)),
        _ => {}
    }
}

fn dump_json(con: &mut Connection, key: &str) -> serde_json::Value {
    serde_json::from_str(&text(&q(con, &["CHAT.DUMP", key]))).unwrap()
}

#[test]
fn a_copy_is_independent_and_refused_under_its_new_name() {
    let server = Server::start();
    let mut con = server.conn();
    dataset(&mut con);
    assert_eq!(int(&q(&mut con, &["COPY", "ten", "ten-copy"])), 1);
    assert_eq!(int(&q(&mut con, &["COPY", "u8", "u8-copy"])), 1);
    assert_eq!(text(&q(&mut con, &["TYPE", "ten-copy"])), "chat-room");
    assert_eq!(text(&q(&mut con, &["TYPE", "u8-copy"])), "chat-user");
    let copy_digest = digest_value(&mut con, "ten-copy");
    assert_eq!(copy_digest, digest_value(&mut con, "ten"));
    assert_eq!(
        digest_value(&mut con, "u8-copy"),
        digest_value(&mut con, "u8")
    );
    let room_copy = dump_json(&mut con, "ten-copy");
    let user_copy = dump_json(&mut con, "u8-copy");
    assert_eq!(room_copy["id"], "ten-copy");
    assert_eq!(room_copy["last_id"], 25);
    assert_eq!(room_copy["messages"].as_array().unwrap().len(), 25);
    assert_eq!(room_copy["members"].as_object().unwrap().len(), 10);
    // Apart from the id it shows, the copy is what the original was.
    let mut original = dump_json(&mut con, "ten");
    rename_in(&mut original, "ten", "ten-copy");
    assert_eq!(room_copy, original);

    // Sends to the original change neither copy.
    q(
        &mut con,
        &["CHAT.SEND", "ten", "u1", "only in the original"],
    );
    q(
        &mut con,
        &["CHAT.EDIT", "ten", "u2", "3", "edited in the original"],
    );
    assert_ne!(digest_value(&mut con, "ten"), copy_digest);
    assert_eq!(digest_value(&mut con, "ten-copy"), copy_digest);
    assert_eq!(dump_json(&mut con, "ten-copy"), room_copy);
    assert_eq!(dump_json(&mut con, "u8-copy"), user_copy);
    assert_eq!(dump_json(&mut con, "ten")["last_id"], 26);
    // And writes to the copy are refused, as are reads.
    for command in [
        &["CHAT.SEND", "ten-copy", "u1", "to the copy"][..],
        &["CHAT.HISTORY", "ten-copy"],
        &["CHAT.INFO", "ten-copy"],
        &["CHAT.SUBSCRIBE", "ten-copy", "alice"],
        &["CHAT.DROP", "ten-copy"],
    ] {
        let e = err(&mut con, command);
        assert!(
            e.starts_with(&misnamed("ten-copy", "room")),
            "{command:?}: {e}"
        );
        assert!(e.contains("rename it back"), "{e}");
    }
    for command in [
        &["CHAT.PROFILE", "u8-copy"][..],
        &["CHAT.FETCH", "u8-copy"],
        &["CHAT.ONLINE", "u8-copy"],
        &["CHAT.UNREGISTER", "u8-copy"],
    ] {
        let e = err(&mut con, command);
        assert!(
            e.starts_with(&misnamed("u8-copy", "user")),
            "{command:?}: {e}"
        );
    }
    assert_eq!(digest_value(&mut con, "ten-copy"), copy_digest);
    assert_eq!(dump_json(&mut con, "u8-copy"), user_copy);
    // Deleting the copy leaves the original alone.
    let original = digest_value(&mut con, "ten");
    q(&mut con, &["DEL", "ten-copy", "u8-copy"]);
    assert_eq!(digest_value(&mut con, "ten"), original);
    assert_eq!(int(&q(&mut con, &["CHAT.SEND", "ten", "u1", "more"])), 27);
}

#[test]
fn a_renamed_room_is_refused_until_renamed_back() {
    let server = Server::start();
    let mut con = server.conn();
    let data = dataset(&mut con);
    let before = observe(&mut con, &data);
    q(&mut con, &["RENAME", "ten", "ten-moved"]);
    assert!(!exists(&mut con, "ten"));
    for command in [
        &["CHAT.SEND", "ten-moved", "u1", "hello"][..],
        &["CHAT.HISTORY", "ten-moved"],
        &["CHAT.MEMBERS", "ten-moved"],
        &["CHAT.UNSUBSCRIBE", "ten-moved", "u1"],
    ] {
        let e = err(&mut con, command);
        assert!(
            e.starts_with(&misnamed("ten-moved", "room")),
            "{command:?}: {e}"
        );
    }
    assert_eq!(
        err(&mut con, &["CHAT.SEND", "ten", "u1", "hello"]),
        "ERR no such room"
    );
    assert_eq!(dump_json(&mut con, "ten-moved")["last_id"], 25);
    // A user renamed over a room's name is not a room.
    q(&mut con, &["RENAME", "loner", "ten"]);
    assert_eq!(
        err(&mut con, &["CHAT.SEND", "ten", "u1", "hello"]),
        "WRONGTYPE key 'ten' holds a chat user, not a chat room"
    );
    q(&mut con, &["RENAME", "ten", "loner"]);

    q(&mut con, &["RENAME", "ten-moved", "ten"]);
    assert_same(&observe(&mut con, &data), &before, "after RENAME back");
    assert_still_works(&mut con);
}

/// A room key removed by `how` (DEL or UNLINK): members keep it listed
/// until they unsubscribe.
fn room_key_removed_by(how: &str) {
    let server = Server::start();
    let mut con = server.conn();
    let data = dataset(&mut con);
    assert_eq!(int(&q(&mut con, &[how, "pair"])), 1);
    assert!(!exists(&mut con, "pair"));
    assert_eq!(q(&mut con, &["CHAT.INFO", "pair"]), Value::Nil);
    for member in ["alice", "bob"] {
        let rooms = strings(&q(&mut con, &["CHAT.ROOMS", member]));
        assert!(
            rooms.contains(&"pair".to_string()),
            "{how}: {member}: {rooms:?}"
        );
    }
    assert_eq!(
        err(&mut con, &["CHAT.SEND", "pair", "alice", "anyone?"]),
        "ERR no such room"
    );
    assert_eq!(int(&q(&mut con, &["CHAT.UNSUBSCRIBE", "pair", "alice"])), 0);
    let rooms = strings(&q(&mut con, &["CHAT.ROOMS", "alice"]));
    assert_eq!(rooms, [data.dm.as_str(), "many"], "{how}");
    // Leaving made no room.
    assert!(!exists(&mut con, "pair"));
    assert!(strings(&q(&mut con, &["CHAT.ROOMS", "bob"])).contains(&"pair".to_string()));
    // The id is free again.
    q(&mut con, &["CHAT.CREATE", "pair", "A new pair"]);
    q(&mut con, &["CHAT.SUBSCRIBE", "pair", "alice"]);
    assert_eq!(
        int(&q(&mut con, &["CHAT.SEND", "pair", "alice", "anew"])),
        1
    );
    let rooms = strings(&q(&mut con, &["CHAT.ROOMS", "alice"]));
    assert!(rooms.contains(&"pair".to_string()), "{rooms:?}");
    // A user whose list names a room key that is gone can be unregistered.
    q(&mut con, &[how, "ten"]);
    q(&mut con, &["CHAT.UNREGISTER", "u5"]);
    assert!(!exists(&mut con, "u5"));
    assert!(!exists(&mut con, "ten"), "{how}: unregistering made a room");
}

#[test]
fn a_deleted_room_key_stays_listed_until_members_unsubscribe() {
    room_key_removed_by("DEL");
}

#[test]
fn an_unlinked_room_key_stays_listed_until_members_unsubscribe() {
    room_key_removed_by("UNLINK");
}

#[test]
fn a_room_whose_member_keys_were_deleted_still_accepts_sends() {
    let server = Server::start();
    let mut con = server.conn();
    dataset(&mut con);
    let missing = info_int(&mut con, "chat", "chat_missing_recipients");
    assert_eq!(int(&q(&mut con, &["DEL", "u3"])), 1);
    assert_eq!(int(&q(&mut con, &["UNLINK", "u4"])), 1);
    assert_eq!(int(&q(&mut con, &["DEL", "bob"])), 1);
    for user in ["u3", "u4", "bob"] {
        assert!(!exists(&mut con, user), "{user}");
        assert_eq!(q(&mut con, &["CHAT.PROFILE", user]), Value::Nil);
    }
    // Still members, as far as the rooms know.
    assert!(strings(&q(&mut con, &["CHAT.MEMBERS", "ten"])).contains(&"u3".to_string()));
    assert_eq!(
        int(&q(&mut con, &["CHAT.SEND", "ten", "u0", "anyone there?"])),
        26
    );
    assert_eq!(
        info_int(&mut con, "chat", "chat_missing_recipients"),
        missing + 2
    );
    assert_eq!(
        int(&q(&mut con, &["CHAT.SEND", "pair", "alice", "bob?"])),
        5
    );
    assert_eq!(
        info_int(&mut con, "chat", "chat_missing_recipients"),
        missing + 3
    );
    // No user key was made for them; the others got their copies.
    for user in ["u3", "u4", "bob"] {
        assert!(!exists(&mut con, user), "{user} came back");
    }
    let inbox = docs(&q(&mut con, &["CHAT.FETCH", "u5", "COUNT", "1000"]));
    assert_eq!(inbox.last().unwrap()["text"], "anyone there?");
    let history = docs(&q(&mut con, &["CHAT.HISTORY", "ten", "AFTER", "25"]));
    assert_eq!(history.len(), 1);
    // Other commands that reach every member work too, and make no key.
    q(
        &mut con,
        &["CHAT.EDIT", "ten", "u0", "26", "anyone there at all?"],
    );
    q(&mut con, &["CHAT.READ", "ten", "u1", "26"]);
    let online = strings(&q(&mut con, &["CHAT.PRESENCE", "ten"]));
    assert_eq!(online, ["u1"]);
    // A member without a key can still be taken out of the room.
    assert_eq!(int(&q(&mut con, &["CHAT.UNSUBSCRIBE", "ten", "u3"])), 1);
    assert!(!strings(&q(&mut con, &["CHAT.MEMBERS", "ten"])).contains(&"u3".to_string()));
    // And the room can be dropped.
    q(&mut con, &["CHAT.DROP", "ten"]);
    assert!(!exists(&mut con, "ten"));
    assert!(strings(&q(&mut con, &["CHAT.ROOMS", "u5"])).is_empty());
    for user in ["u3", "u4", "bob"] {
        assert!(!exists(&mut con, user), "{user} came back");
    }
}

#[test]
fn unlinking_a_big_room_returns_at_once() {
    let server = Server::start_with(&["history-max", "100000"], &[]);
    let mut con = server.conn();
    room_with(&mut con, "big", &["writer"]);
    let text_50 = "y".repeat(50);
    for _ in 0..50 {
        let mut pipe = redis::pipe();
        for _ in 0..1000 {
            pipe.cmd("CHAT.SEND")
                .arg("big")
                .arg("writer")
                .arg(&text_50)
                .ignore();
        }
        pipe.query::<()>(&mut con).unwrap();
    }
    assert_eq!(
        int(&field(&q(&mut con, &["CHAT.INFO", "big"]), "messages")),
        50_000
    );
    let usage = int(&q(&mut con, &["MEMORY", "USAGE", "big"]));
    assert!(usage > 2_500_000, "MEMORY USAGE big = {usage}");
    let freed_before = info_int(&mut con, "memory", "lazyfreed_objects");
    let started = Instant::now();
    assert_eq!(int(&q(&mut con, &["UNLINK", "big"])), 1);
    let took = started.elapsed();
    assert!(!exists(&mut con, "big"));
    assert_eq!(text(&q(&mut con, &["PING"])), "PONG");
    // The value was freed on the lazy-free thread, not in the command.
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_int(&mut con, "memory", "lazyfreed_objects") == freed_before {
        assert!(
            Instant::now() < deadline,
            "the big room was not freed in the background"
        );
        thread::sleep(Duration::from_millis(10));
    }
    assert!(took < Duration::from_secs(1), "UNLINK took {took:?}");
    eprintln!("UNLINK of a room of 50,000 messages ({usage} bytes) took {took:?}");
    // The writer's list still names it; the server goes on.
    assert_eq!(strings(&q(&mut con, &["CHAT.ROOMS", "writer"])), ["big"]);
    assert_eq!(int(&q(&mut con, &["CHAT.UNSUBSCRIBE", "big", "writer"])), 0);
}

// ---------------------------------------------------------------------------
// 5. Values from a newer module

const MODULE_ID_CHARSET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Redis's 64-bit module type id: 9 characters of 6 bits, then 10 bits of
/// encoding version.
fn module_type_id(name: &str, version: u64) -> u64 {
    assert_eq!(name.len(), 9);
    let mut id = 0u64;
    for c in name.bytes() {
        let digit = MODULE_ID_CHARSET.iter().position(|&x| x == c).unwrap();
        id = (id << 6) | digit as u64;
    }
    (id << 10) | version
}

/// The id as RDB writes it: a 64-bit length, 0x81 then 8 bytes big-endian.
fn encoded_module_id(name: &str, version: u64) -> Vec<u8> {
    let mut encoded = vec![0x81];
    encoded.extend_from_slice(&module_type_id(name, version).to_be_bytes());
    encoded
}

/// CRC-64/Jones as Redis computes it (reflected, init 0, no final xor).
fn crc64(data: &[u8]) -> u64 {
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

/// Replaces every `from` in `data` by `to` (same length); returns how many.
fn replace_all(data: &mut [u8], from: &[u8], to: &[u8]) -> usize {
    assert_eq!(from.len(), to.len());
    let mut n = 0;
    let mut i = 0;
    while i + from.len() <= data.len() {
        if &data[i..i + from.len()] == from {
            data[i..i + from.len()].copy_from_slice(to);
            n += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    n
}

/// A DUMP payload of a `type_name` value, made to say encoding version 2.
fn payload_at_version_2(payload: &[u8], type_name: &str) -> Vec<u8> {
    const RDB_TYPE_MODULE_2: u8 = 7;
    assert_eq!(payload[0], RDB_TYPE_MODULE_2);
    let v1 = encoded_module_id(type_name, 1);
    assert_eq!(&payload[1..10], &v1[..], "the payload starts with the id");
    let (body, crc) = payload.split_at(payload.len() - 8);
    assert_eq!(
        u64::from_le_bytes(crc.try_into().unwrap()),
        crc64(body),
        "the payload ends with the CRC of the rest"
    );
    let mut body = body.to_vec();
    assert_eq!(
        replace_all(&mut body, &v1, &encoded_module_id(type_name, 2)),
        1
    );
    let crc = crc64(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

#[test]
fn module_type_ids_and_crcs_are_computed_as_redis_does() {
    assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    assert_eq!(module_type_id("chat-room", 1) & 1023, 1);
    assert_ne!(
        module_type_id("chat-room", 1),
        module_type_id("chat-user", 1)
    );
}

#[test]
fn restore_refuses_a_value_with_a_newer_encoding_version() {
    let mut server = Server::start();
    let mut con = server.conn();
    dataset(&mut con);
    for (key, type_name, kind) in [("ten", "chat-room", "room"), ("bob", "chat-user", "user")] {
        let payload = bytes(&mut con, &["DUMP", key]);
        let newer = payload_at_version_2(&payload, type_name);
        let target = format!("{key}-from-the-future");
        let refused = restore(&mut con, &target, &newer, false).unwrap_err();
        let refused = error_text(&refused);
        assert!(refused.starts_with("ERR"), "{refused}");
        assert!(
            !refused.contains("checksum"),
            "the patched payload has a bad CRC: {refused}"
        );
        assert!(!exists(&mut con, &target));
        // Over an existing key, with REPLACE: refused, the key unchanged.
        let before = digest_value(&mut con, key);
        assert!(restore(&mut con, key, &newer, true).is_err());
        assert_eq!(digest_value(&mut con, key), before);
        // The server is up, and the log says why, with both versions.
        assert!(server.is_running());
        assert_eq!(text(&q(&mut con, &["PING"])), "PONG");
        let log = server.log();
        let line = log
            .lines()
            .find(|l| {
                l.contains(&format!("'{target}'"))
                    && l.contains("encoding version 2 is newer than this module reads (up to 1)")
            })
            .unwrap_or_else(|| panic!("no line about {target} in the log:\n{log}"));
        assert!(line.contains(&format!("chat-{kind}")), "{line}");
        // The untouched payload still restores.
        restore(&mut con, &target, &payload, false).unwrap();
        assert_eq!(digest_value(&mut con, &target), before);
    }
    assert_eq!(int(&q(&mut con, &["CHAT.SEND", "ten", "u1", "fine"])), 26);
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// How a server started on data it may refuse went.
enum Start {
    /// It stopped by itself.
    Exited,
    /// It answers commands: it took the data.
    Serving(std::process::Child, Connection),
}

/// Starts the server with the module and `server_args` on `dir`'s data,
/// logging to `log_name`; returns once it exits or answers PING, with its
/// log.
fn start_on(dir: &Path, log_name: &str, server_args: &[&str]) -> (Start, String) {
    let log = dir.join(log_name);
    let port = free_port();
    let mut child = Command::new(server_program())
        .arg("--port")
        .arg(port.to_string())
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args(["--daemonize", "no"])
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(&log)
        .arg("--loadmodule")
        .arg(module_path())
        .args(server_args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("redis://127.0.0.1:{port}/");
    let deadline = Instant::now() + Duration::from_secs(15);
    let start = loop {
        if child.try_wait().unwrap().is_some() {
            break Start::Exited;
        }
        let answering = redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c).map(|_| c));
        if let Ok(con) = answering {
            break Start::Serving(child, con);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server neither started nor stopped in 15 s");
        }
        thread::sleep(Duration::from_millis(20));
    };
    (start, std::fs::read_to_string(&log).unwrap_or_default())
}

/// The server must stop rather than serve without the values it could not
/// read, and say why in its log, without crashing.
fn assert_refused(start: Start, log: &str, missing: &[String]) {
    if let Start::Serving(mut child, mut con) = start {
        let gone: Vec<&String> = missing.iter().filter(|k| !exists(&mut con, k)).collect();
        let keys = q(&mut con, &["DBSIZE"]);
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server started and serves {keys:?} keys, without {gone:?}; its log:\n{log}");
    }
    assert!(
        log.contains("chat-room value of key")
            && log.contains("encoding version 2 is newer than this module reads (up to 1)"),
        "no clear line in the log:\n{log}"
    );
    assert!(!log.contains("crashed by signal"), "a crash:\n{log}");
    assert!(!log.contains("STACK TRACE"), "a crash:\n{log}");
}

#[test]
fn a_server_refuses_to_start_on_an_rdb_from_a_newer_module_and_says_why() {
    let mut server = Server::start_with(&[], &["--rdbchecksum", "no"]);
    let mut con = server.conn();
    dataset(&mut con);
    q(&mut con, &["SAVE"]);
    server.kill();
    let path = server.dir.join("dump.rdb");
    let mut rdb = std::fs::read(&path).unwrap();
    assert_eq!(&rdb[rdb.len() - 8..], &[0; 8], "saved without a checksum");
    let patched = replace_all(
        &mut rdb,
        &encoded_module_id("chat-room", 1),
        &encoded_module_id("chat-room", 2),
    );
    assert_eq!(patched, 4, "one id per room");
    std::fs::write(&path, &rdb).unwrap();

    // The server stops while loading. (Redis 7.0 then runs its RDB check,
    // which finds nothing wrong in the file's structure, and exits with 0.)
    let (start, log) = start_on(&server.dir, "newer.log", &[]);
    assert_refused(start, &log, &[]);
    assert!(
        !log.contains("Ready to accept connections"),
        "the server served the data:\n{log}"
    );

    // The same file, put back to version 1, loads.
    replace_all(
        &mut rdb,
        &encoded_module_id("chat-room", 2),
        &encoded_module_id("chat-room", 1),
    );
    std::fs::write(&path, &rdb).unwrap();
    server.restart(&[]);
    let mut con = server.conn();
    assert_eq!(int(&q(&mut con, &["CHAT.SEND", "ten", "u1", "back"])), 26);
}

#[test]
fn a_server_does_not_start_without_the_values_of_an_aof_from_a_newer_module() {
    let args = [&AOF[..], &["--aof-use-rdb-preamble", "no"]].concat();
    let mut server = Server::start_with(&[], &args);
    let mut con = server.conn();
    let data = dataset(&mut con);
    rewrite_aof(&mut con);
    server.kill();
    // The rewritten AOF says `CHAT.RESTORE-VALUE <room> room 1 <bytes>`:
    // make every room's say version 2.
    let mut patched = 0;
    for (name, mut content) in aof_files(&server.dir) {
        if !name.contains(".base.") {
            continue;
        }
        for room in &data.rooms {
            let v1 = format!("${}\r\n{room}\r\n$4\r\nroom\r\n$1\r\n1\r\n", room.len());
            let v2 = v1.replace("$1\r\n1\r\n", "$1\r\n2\r\n");
            patched += replace_all(&mut content, v1.as_bytes(), v2.as_bytes());
        }
        std::fs::write(server.dir.join("appendonlydir").join(&name), content).unwrap();
    }
    assert_eq!(patched, data.rooms.len());
    let (start, log) = start_on(&server.dir, "newer.log", &args);
    assert_refused(start, &log, &data.rooms);
    let _ = std::fs::remove_dir_all(&server.dir);
}

// ---------------------------------------------------------------------------
// 6. Replication

/// A small deterministic generator, so that a failing workload can be
/// replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

const W_USERS: [&str; 12] = [
    "w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8", "w9", "w10", "w11",
];
const W_ROOMS: [&str; 4] = ["r0", "r1", "r2", "r3"];

/// How many of each command succeeded.
type Tally = HashMap<&'static str, usize>;

/// Runs a command that may fail, counting it under `name` if it does not.
fn run(
    con: &mut Connection,
    tally: &mut Tally,
    name: &'static str,
    args: &[&str],
) -> redis::RedisResult<Value> {
    let reply = try_q(con, args);
    if reply.is_ok() {
        *tally.entry(name).or_default() += 1;
    }
    reply
}

/// A seeded workload of every write command: REGISTER (with and without a
/// password), CREATE, SUBSCRIBE, UNSUBSCRIBE, SEND (with and without
/// DEDUP), EDIT, DELETE, READ, ACK, ONLINE, OFFLINE, DM, DROP, UNREGISTER,
/// PASSWD. Rooms start with 2, 10, 5 and 3 members.
fn workload(con: &mut Connection, steps: usize, seed: u64) -> Tally {
    let mut tally = Tally::new();
    let mut passwords: HashMap<&str, String> = HashMap::new();
    for (i, u) in W_USERS.iter().enumerate() {
        if i < 2 {
            let password = format!("pw-{u}-0");
            run(
                con,
                &mut tally,
                "register",
                &["CHAT.REGISTER", u, u, "PASSWORD", &password],
            )
            .unwrap();
            passwords.insert(u, password);
        } else {
            run(
                con,
                &mut tally,
                "register",
                &["CHAT.REGISTER", u, &format!("user {u}")],
            )
            .unwrap();
        }
    }
    let sizes = [2, 10, 5, 3];
    for (r, size) in W_ROOMS.iter().zip(sizes) {
        run(
            con,
            &mut tally,
            "create",
            &["CHAT.CREATE", r, &format!("room {r}")],
        )
        .unwrap();
        for u in &W_USERS[..size] {
            run(con, &mut tally, "subscribe", &["CHAT.SUBSCRIBE", r, u]).unwrap();
        }
    }
    let mut rng = Rng(seed);
    // Messages sent, by room: (id, sender), so that edits and deletes name
    // real messages by their authors.
    let mut sent: HashMap<&str, Vec<(i64, &str)>> = HashMap::new();
    for i in 0..steps {
        let u = W_USERS[rng.below(W_USERS.len())];
        let r = W_ROOMS[rng.below(W_ROOMS.len())];
        match rng.below(44) {
            0..=11 => {
                let text = format!("message {i} from {u}");
                if let Ok(id) = run(con, &mut tally, "send", &["CHAT.SEND", r, u, &text]) {
                    sent.entry(r).or_default().push((int(&id), u));
                }
            }
            12..=14 => {
                let key = format!("k{}", rng.below(15));
                let send = ["CHAT.SEND", r, u, "with a key", "DEDUP", &key];
                if let Ok(id) = run(con, &mut tally, "send dedup", &send) {
                    sent.entry(r).or_default().push((int(&id), u));
                }
            }
            15..=17 => {
                let _ = run(con, &mut tally, "subscribe", &["CHAT.SUBSCRIBE", r, u]);
            }
            18 => {
                let _ = run(con, &mut tally, "unsubscribe", &["CHAT.UNSUBSCRIBE", r, u]);
            }
            19..=21 => {
                let Some(&(id, author)) =
                    sent.get(r).and_then(|s| s.get(rng.below(s.len().max(1))))
                else {
                    continue;
                };
                let text = format!("edited at step {i}");
                let _ = run(
                    con,
                    &mut tally,
                    "edit",
                    &["CHAT.EDIT", r, author, &id.to_string(), &text],
                );
            }
            22 => {
                let Some(&(id, author)) =
                    sent.get(r).and_then(|s| s.get(rng.below(s.len().max(1))))
                else {
                    continue;
                };
                let _ = run(
                    con,
                    &mut tally,
                    "delete",
                    &["CHAT.DELETE", r, author, &id.to_string()],
                );
            }
            23..=25 => {
                let last = sent.get(r).and_then(|s| s.last()).map_or(1, |m| m.0);
                let id = 1 + rng.below(last as usize) as i64;
                let _ = run(
                    con,
                    &mut tally,
                    "read",
                    &["CHAT.READ", r, u, &id.to_string()],
                );
            }
            26..=28 => {
                if let Ok(inbox) = try_q(con, &["CHAT.FETCH", u, "COUNT", "5"]) {
                    if let Some(last) = docs(&inbox).last() {
                        let delivery = last["delivery"].as_str().unwrap().to_string();
                        run(con, &mut tally, "ack", &["CHAT.ACK", u, &delivery]).unwrap();
                    }
                }
            }
            29..=31 => {
                let ttl = ["1", "3600"][rng.below(2)];
                let _ = run(con, &mut tally, "online", &["CHAT.ONLINE", u, "TTL", ttl]);
            }
            32 => {
                let _ = run(con, &mut tally, "offline", &["CHAT.OFFLINE", u]);
            }
            33..=35 => {
                let v = W_USERS[rng.below(W_USERS.len())];
                if let Ok(dm) = run(con, &mut tally, "dm", &["CHAT.DM", u, v]) {
                    let dm = text(&dm);
                    let _ = run(con, &mut tally, "send", &["CHAT.SEND", &dm, u, "direct"]);
                }
            }
            36 => {
                if run(con, &mut tally, "drop", &["CHAT.DROP", r]).is_ok() {
                    sent.remove(r);
                    run(con, &mut tally, "create", &["CHAT.CREATE", r, "made again"]).unwrap();
                    for _ in 0..3 {
                        let v = W_USERS[rng.below(W_USERS.len())];
                        let _ = run(con, &mut tally, "subscribe", &["CHAT.SUBSCRIBE", r, v]);
                    }
                }
            }
            37 => {
                if run(con, &mut tally, "unregister", &["CHAT.UNREGISTER", u]).is_ok() {
                    passwords.remove(u);
                    if rng.below(2) == 0 {
                        let password = format!("pw-{u}-{i}");
                        let args = ["CHAT.REGISTER", u, "back again", "PASSWORD", &password];
                        run(con, &mut tally, "register password", &args).unwrap();
                        passwords.insert(u, password);
                    } else {
                        run(
                            con,
                            &mut tally,
                            "register",
                            &["CHAT.REGISTER", u, "back again"],
                        )
                        .unwrap();
                    }
                    let _ = run(con, &mut tally, "subscribe", &["CHAT.SUBSCRIBE", r, u]);
                }
            }
            38..=39 => {
                let Some(old) = passwords.get(u).cloned() else {
                    continue;
                };
                let new = format!("pw-{u}-{i}");
                run(con, &mut tally, "passwd", &["CHAT.PASSWD", u, &old, &new]).unwrap();
                passwords.insert(u, new);
            }
            40 => {
                // A room and a user that may exist already.
                let _ = run(con, &mut tally, "create", &["CHAT.CREATE", r, "again?"]);
                let _ = run(con, &mut tally, "register", &["CHAT.REGISTER", u, "again?"]);
            }
            _ => {
                // Reads, which write nothing.
                let _ = try_q(con, &["CHAT.HISTORY", r, "COUNT", "5"]);
                let _ = try_q(con, &["CHAT.UNREAD", u]);
            }
        }
    }
    tally
}

#[test]
fn replicas_end_with_the_primarys_data_after_every_write_command() {
    // Small limits, so that histories and inboxes are trimmed, DEDUP keys
    // expire and r1 (10 members) is a broadcast room, on the primary only:
    // replicas must follow what it decided, whatever their own limits.
    let primary = Server::start_with(
        &[
            "history-max",
            "7",
            "inbox-max",
            "5",
            "dedup-window",
            "1",
            "fanout-max-members",
            "6",
        ],
        &[],
    );
    let mut replica = replica_with(&primary, &[], &AOF);
    listen(&primary, &["w0", "w1", "w2"]);
    let mut con = primary.conn();
    let tally = workload(&mut con, 700, 42);
    for name in [
        "register",
        "register password",
        "create",
        "subscribe",
        "unsubscribe",
        "send",
        "send dedup",
        "edit",
        "delete",
        "read",
        "ack",
        "online",
        "offline",
        "dm",
        "drop",
        "unregister",
        "passwd",
    ] {
        assert!(
            tally.get(name).copied().unwrap_or(0) > 0,
            "the workload never ran {name} successfully: {tally:?}"
        );
    }
    assert!(
        info_int(&mut con, "chat", "chat_live_deliveries") > 0,
        "nothing went live"
    );
    // Generic key commands on chat keys replicate too: COPY, RENAME, DEL,
    // UNLINK, RESTORE and EXPIRE, then sends that meet their results.
    q(&mut con, &["COPY", "r1", "r1-copy"]);
    q(&mut con, &["COPY", "w4", "w4-copy"]);
    q(&mut con, &["RENAME", "r2", "r2-renamed"]);
    let payload = bytes(&mut con, &["DUMP", "w3"]);
    q(&mut con, &["DEL", "w3"]);
    restore(&mut con, "w3", &payload, false).unwrap();
    restore(&mut con, "w3-restored", &payload, false).unwrap();
    q(&mut con, &["UNLINK", "w5"]);
    q(&mut con, &["EXPIRE", "w6", "100000"]);
    q(&mut con, &["DEL", "r0"]);
    for u in W_USERS {
        let _ = try_q(&mut con, &["CHAT.SEND", "r1", u, "after the key commands"]);
        let _ = try_q(&mut con, &["CHAT.SEND", "r3", u, "after the key commands"]);
    }
    let primary_digest = digest(&mut con);
    wait_for_replicas(&mut con, 1);
    let mut rcon = replica.conn();
    assert_same_data(&mut con, &mut rcon, &format!("replica, after {tally:?}"));

    // A second replica, synced from scratch (an RDB of the primary's data).
    let fresh = replica_with(&primary, &[], &[]);
    wait_for_replicas(&mut con, 2);
    assert!(
        fresh.log().contains("sync: Finished with success"),
        "no full sync:\n{}",
        fresh.log()
    );
    assert_same_data(&mut con, &mut fresh.conn(), "fresh replica");
    assert_eq!(
        q(&mut fresh.conn(), &["CHAT.HISTORY", "r1", "COUNT", "1000"]),
        q(&mut con, &["CHAT.HISTORY", "r1", "COUNT", "1000"])
    );

    // The first replica's own AOF holds the same data.
    wait_persistence(&mut rcon, "aof_rewrite_scheduled:0");
    wait_persistence(&mut rcon, "aof_rewrite_in_progress:0");
    let stream: Vec<u8> = aof_files(&replica.dir)
        .into_iter()
        .flat_map(|(_, content)| content)
        .collect();
    for command in [&b"CHAT.AT"[..], b"CHAT.SEND-RESOLVED", b"CHAT.SET-PASSWORD"] {
        assert!(
            contains(&stream, command),
            "no {} in the replica's AOF",
            String::from_utf8_lossy(command)
        );
    }
    replica.kill();
    replica.restart(&AOF);
    assert_same_data(
        &mut con,
        &mut replica.conn(),
        "primary vs the replica restarted from its AOF",
    );
    assert_eq!(digest(&mut con), primary_digest);
    eprintln!("replicas equal after {tally:?}");
}

#[test]
fn a_replica_with_smaller_limits_still_matches_its_primary() {
    let primary = Server::start();
    let small = [
        "max-members",
        "2",
        "max-text-bytes",
        "10",
        "history-max",
        "5",
        "inbox-max",
        "1",
    ];
    let replica = replica_with(&primary, &small, &[]);
    let mut con = primary.conn();
    let data = dataset(&mut con);
    // More than the replica's limits allow: long texts and names, a room of
    // 12, a history of 60, inboxes of dozens.
    q(
        &mut con,
        &["CHAT.REGISTER", "carol", "Carol, with a long name"],
    );
    for u in ["alice", "bob", "carol"] {
        q(&mut con, &["CHAT.SUBSCRIBE", "ten", u]);
    }
    q(
        &mut con,
        &["CHAT.CREATE", "long", "A title longer than ten bytes"],
    );
    for n in 0..60 {
        let sender = ["alice", "bob", "carol", "u0"][n % 4];
        let text = format!("message {n}, which is longer than ten bytes");
        let mut send = vec!["CHAT.SEND", "ten", sender, &text];
        let key = format!("long-key-{n}");
        if n % 3 == 0 {
            send.extend(["DEDUP", &key]);
        }
        q(&mut con, &send);
    }
    q(
        &mut con,
        &[
            "CHAT.EDIT",
            "ten",
            "bob",
            "27",
            "an edit longer than ten bytes",
        ],
    );
    q(&mut con, &["CHAT.DELETE", "ten", "carol", "28"]);
    q(&mut con, &["CHAT.DM", "carol", "u9"]);
    q(&mut con, &["CHAT.SUBSCRIBE", "long", "carol"]);
    q(&mut con, &["CHAT.SUBSCRIBE", "long", "u1"]);
    q(&mut con, &["CHAT.SUBSCRIBE", "long", "u2"]);
    q(
        &mut con,
        &["CHAT.SEND", "long", "u1", "a message for the long room"],
    );
    let primary_digest = digest(&mut con);
    let before = observe(&mut con, &data);
    wait_for_replicas(&mut con, 1);
    let mut rcon = replica.conn();
    assert_same_data(&mut con, &mut rcon, "replica with smaller limits");
    assert_eq!(digest(&mut rcon), primary_digest);
    assert_same(
        &observe(&mut rcon, &data),
        &before,
        "replica with smaller limits",
    );
    assert_eq!(
        int(&field(&q(&mut rcon, &["CHAT.INFO", "ten"]), "members")),
        13
    );
    assert_eq!(
        docs(&q(&mut rcon, &["CHAT.HISTORY", "ten", "COUNT", "1000"])).len(),
        85
    );
    assert!(docs(&q(&mut rcon, &["CHAT.FETCH", "u5", "COUNT", "1000"])).len() > 50);
    // One with the same small limits that syncs now, from an RDB.
    let late = replica_with(&primary, &small, &[]);
    wait_for_replicas(&mut con, 2);
    assert_same_data(
        &mut con,
        &mut late.conn(),
        "late replica with smaller limits",
    );
}

#[test]
fn replicas_and_the_aof_follow_the_age_sweep() {
    let mut primary = Server::start_with(&["history-max-age", "1"], &AOF);
    let replica = replica_with(&primary, &[], &[]);
    let mut con = primary.conn();
    room_with(&mut con, "old", &["a", "b", "c"]);
    for n in 0..20 {
        q(
            &mut con,
            &["CHAT.SEND", "old", ["a", "b"][n % 2], &format!("old {n}")],
        );
    }
    q(
        &mut con,
        &["CHAT.EDIT", "old", "a", "3", "edited before it ages"],
    );
    // The sweep removes every message once it is a second old.
    let deadline = Instant::now() + Duration::from_secs(10);
    while int(&field(&q(&mut con, &["CHAT.INFO", "old"]), "messages")) > 0 {
        assert!(Instant::now() < deadline, "the sweep never ran");
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(int(&q(&mut con, &["CHAT.SEND", "old", "c", "new"])), 21);
    let primary_digest = digest(&mut con);
    wait_for_replicas(&mut con, 1);
    let mut rcon = replica.conn();
    assert_eq!(digest(&mut rcon), primary_digest);
    let history = docs(&q(&mut rcon, &["CHAT.HISTORY", "old", "COUNT", "1000"]));
    assert_eq!(history.len(), 1, "{history:?}");
    let stream: Vec<u8> = aof_files(&primary.dir)
        .into_iter()
        .flat_map(|(_, content)| content)
        .collect();
    assert!(
        contains(&stream, b"CHAT.TRIM-RESOLVED"),
        "no sweep in the AOF"
    );
    primary.kill();
    primary.restart_with(&["history-max-age", "1"], &AOF);
    assert_eq!(digest(&mut primary.conn()), primary_digest, "from the AOF");
}
