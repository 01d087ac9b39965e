//! Nothing lost, nothing doubled: replicas hold exactly the primary's data,
//! and acknowledged messages survive reloads, crashes and restarts.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::*;
use redis::Connection;

const USERS: [&str; 8] = ["u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"];
const ROOMS: [&str; 3] = ["r0", "r1", "r2"];

/// A randomized workload of `steps` commands: sends (some with DEDUP keys,
/// some retried), joins, leaves, members going online and offline, fetches
/// and acks, read cursors, edits, deletes, typing, direct rooms, rooms
/// dropped and users unregistered (and made again). Returns how many
/// commands it ran.
fn workload(con: &mut Connection, steps: usize, seed: u64) -> usize {
    workload_with(con, steps, seed, false)
}

/// `workload`, where `expiring` also makes presences and DEDUP keys expire
/// during the run (for replicas; a restart would expire them in between).
fn workload_with(con: &mut Connection, steps: usize, seed: u64, expiring: bool) -> usize {
    let mut ran = 0;
    for u in USERS {
        let _ = try_q(con, &["CHAT.REGISTER", u, u]);
        ran += 1;
    }
    for r in ROOMS {
        let _ = try_q(con, &["CHAT.CREATE", r, r]);
        ran += 1;
        for u in &USERS[..5] {
            q(con, &["CHAT.SUBSCRIBE", r, u]);
            ran += 1;
        }
    }
    let mut rng = Rng(seed);
    // Recent ids, so that reads, edits and deletes name real messages.
    let mut last_sent: HashMap<(&str, &str), i64> = HashMap::new();
    let mut last_id: HashMap<&str, i64> = HashMap::new();
    for i in 0..steps {
        let u = USERS[rng.below(USERS.len())];
        let r = ROOMS[rng.below(ROOMS.len())];
        ran += 1;
        match rng.below(18) {
            0..=4 => {
                // May fail (not a member): that is part of the workload.
                if let Ok(id) = try_q(con, &["CHAT.SEND", r, u, &format!("message {i} from {u}")]) {
                    last_sent.insert((r, u), int(&id));
                    last_id.insert(r, int(&id));
                }
            }
            5 => {
                let key = format!("k{}", rng.below(50));
                let _ = try_q(con, &["CHAT.SEND", r, u, "retried", "DEDUP", &key]);
            }
            6 => {
                q(con, &["CHAT.SUBSCRIBE", r, u]);
            }
            7 => {
                q(con, &["CHAT.UNSUBSCRIBE", r, u]);
            }
            8 => {
                // Short presence, so that expiries happen during the run.
                let ttl = if expiring && rng.below(2) == 0 {
                    "1"
                } else {
                    "3600"
                };
                q(con, &["CHAT.ONLINE", u, "TTL", ttl]);
            }
            9 => {
                q(con, &["CHAT.OFFLINE", u]);
            }
            10 => {
                // Sends inside a transaction and from a script replicate too.
                let (v, w) = (USERS[rng.below(USERS.len())], format!("in multi {i}"));
                let _: redis::RedisResult<Vec<redis::Value>> = redis::pipe()
                    .atomic()
                    .cmd("CHAT.SEND")
                    .arg(r)
                    .arg(u)
                    .arg(&w)
                    .cmd("CHAT.ONLINE")
                    .arg(v)
                    .arg("TTL")
                    .arg(1)
                    .cmd("CHAT.SEND")
                    .arg(r)
                    .arg(v)
                    .arg(&w)
                    .arg("DEDUP")
                    .arg(format!("k{}", rng.below(50)))
                    .query(con);
                let _ = try_q(
                    con,
                    &["EVAL", "redis.call('CHAT.SEND', KEYS[1], ARGV[1], 'from lua'); return redis.call('CHAT.SEND', KEYS[1], ARGV[1], 'again')", "1", r, u],
                );
            }
            11 => {
                // Fails for non-members.
                let id = last_id.get(r).map_or(1, |last| last - rng.below(3) as i64);
                let _ = try_q(con, &["CHAT.READ", r, u, &id.max(1).to_string()]);
            }
            12 => {
                // Only the author may edit or delete: some of these fail.
                let id = match last_sent.get(&(r, u)) {
                    Some(id) if rng.below(4) > 0 => *id,
                    _ => last_id.get(r).copied().unwrap_or(1),
                }
                .to_string();
                if rng.below(2) == 0 {
                    let _ = try_q(con, &["CHAT.EDIT", r, u, &id, &format!("edited {i}")]);
                } else {
                    let _ = try_q(con, &["CHAT.DELETE", r, u, &id]);
                }
            }
            13 => {
                let _ = try_q(con, &["CHAT.TYPING", r, u]);
            }
            14 => {
                let v = USERS[rng.below(USERS.len())];
                if let Ok(room) = try_q(con, &["CHAT.DM", u, v]) {
                    let _ = try_q(con, &["CHAT.SEND", &text(&room), u, "direct"]);
                }
            }
            15 if rng.below(4) == 0 => {
                last_id.remove(r);
                last_sent.retain(|(room, _), _| *room != r);
                q(con, &["CHAT.DROP", r]);
                q(con, &["CHAT.CREATE", r, r]);
                for v in &USERS[..5] {
                    q(con, &["CHAT.SUBSCRIBE", r, v]);
                }
                ran += 6;
            }
            16 if rng.below(4) == 0 => {
                q(con, &["CHAT.UNREGISTER", u]);
                q(con, &["CHAT.REGISTER", u, u]);
                ran += 1;
            }
            15 | 16 => {
                let _ = try_q(con, &["CHAT.UNREAD", u]);
            }
            _ => {
                let inbox = docs(&q(con, &["CHAT.FETCH", u, "COUNT", "3"]));
                if let Some(last) = inbox.last() {
                    q(con, &["CHAT.ACK", u, last["delivery"].as_str().unwrap()]);
                    ran += 1;
                }
            }
        }
    }
    ran
}

/// Small limits, so that histories and inboxes are trimmed all the time, a
/// short DEDUP window, so that DEDUP keys expire during the run, and rooms
/// that turn broadcast past 5 members (they start with 5 and gain and lose
/// members during the run).
const SMALL: [&str; 8] = [
    "history-max",
    "7",
    "inbox-max",
    "5",
    "dedup-window",
    "1",
    "fanout-max-members",
    "5",
];

fn replica_matches(module_args: &[&str], replica_has_module: bool, seed: u64) {
    let primary = Server::start_with(module_args, &[]);
    let replica = start_replica(&primary, replica_has_module);
    listen(&primary, &USERS[..4]);
    let mut con = primary.conn();
    let ran = workload_with(&mut con, 3000, seed, true);
    // Let every short TTL run out and make the primary expire those keys, so
    // that the comparison does not race with expiry.
    thread::sleep(Duration::from_millis(1100));
    for key in strings(&q(&mut con, &["KEYS", "*"])) {
        q(&mut con, &["EXISTS", &key]);
    }
    wait_for_replicas(&mut con, 1);
    let mut rcon = replica.conn();
    assert_eq!(digest(&mut rcon), digest(&mut con), "after {ran} commands");
    assert!(
        info_int(&mut con, "chat", "chat_live_deliveries") > 0,
        "the workload delivered nothing live"
    );
    eprintln!("replica digest equal after {ran} commands ({module_args:?})");
}

#[test]
fn a_replica_holds_the_primarys_data() {
    replica_matches(&SMALL, true, 3);
}

#[test]
fn a_replica_serves_reads_and_refuses_writes() {
    let primary = Server::start();
    let replica = start_replica(&primary, true);
    let mut con = primary.conn();
    room_with(&mut con, "r", &["a", "b"]);
    q(&mut con, &["CHAT.SEND", "r", "a", "hello"]);
    wait_for_replicas(&mut con, 1);
    let mut rcon = replica.conn();
    for read in [
        &["CHAT.HISTORY", "r"][..],
        &["CHAT.INFO", "r"],
        &["CHAT.MEMBERS", "r"],
        &["CHAT.ROOMS", "a"],
        &["CHAT.COUNTS", "r"],
        &["CHAT.PROFILE", "a"],
        &["CHAT.FETCH", "b"],
        &["CHAT.PRESENCE", "r"],
    ] {
        assert_eq!(q(&mut rcon, read), q(&mut con, read), "{read:?}");
    }
    for write in [
        &["CHAT.SEND", "r", "a", "x"][..],
        &["CHAT.REGISTER", "c", "C"],
        &["CHAT.CREATE", "s", "S"],
        &["CHAT.SUBSCRIBE", "r", "a"],
        &["CHAT.UNSUBSCRIBE", "r", "a"],
        &["CHAT.ACK", "b", "1-0"],
        &["CHAT.ONLINE", "a"],
        &["CHAT.OFFLINE", "a"],
    ] {
        assert!(err(&mut rcon, write).starts_with("READONLY"), "{write:?}");
    }
}

#[test]
fn clients_cannot_replay_resolved_sends() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["a", "b"]);
    let before = digest(&mut con);
    let e = err(
        &mut con,
        &[
            "CHAT.SEND-RESOLVED",
            "r",
            "a",
            "forged",
            "9",
            "1",
            "1",
            "1",
            "0",
        ],
    );
    assert_eq!(
        e,
        "ERR CHAT.SEND-RESOLVED only replays a send on replicas and from the AOF; use CHAT.SEND"
    );
    assert_eq!(digest(&mut con), before);
}

#[test]
fn a_server_at_maxmemory_refuses_writes_that_grow_it() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["a", "b"]);
    q(&mut con, &["CHAT.SEND", "r", "a", "before the limit"]);
    let delivery = docs(&q(&mut con, &["CHAT.FETCH", "b"]))[0]["delivery"]
        .as_str()
        .unwrap()
        .to_string();
    q(&mut con, &["CONFIG", "SET", "maxmemory", "1"]);
    let before = digest(&mut con);
    for write in [
        &["CHAT.SEND", "r", "a", "x"][..],
        &["CHAT.REGISTER", "c", "C"],
        &["CHAT.CREATE", "s", "S"],
        &["CHAT.SUBSCRIBE", "r", "a"],
        &["CHAT.ONLINE", "a"],
    ] {
        assert!(err(&mut con, write).starts_with("OOM"), "{write:?}");
    }
    assert_eq!(digest(&mut con), before);
    // Reads, and writes that only free memory, still work.
    assert_eq!(docs(&q(&mut con, &["CHAT.HISTORY", "r"])).len(), 1);
    assert_eq!(int(&q(&mut con, &["CHAT.ACK", "b", &delivery])), 1);
    q(&mut con, &["CONFIG", "SET", "maxmemory", "0"]);
}

#[test]
fn everything_survives_debug_reload() {
    let server = Server::start();
    let mut con = server.conn();
    workload(&mut con, 500, 7);
    let before = digest(&mut con);
    let history = q(&mut con, &["CHAT.HISTORY", "r1", "COUNT", "1000"]);
    q(&mut con, &["DEBUG", "RELOAD"]);
    assert_eq!(digest(&mut con), before);
    assert_eq!(
        q(&mut con, &["CHAT.HISTORY", "r1", "COUNT", "1000"]),
        history
    );
    // Ids continue after the reload.
    let last = int(&field(&q(&mut con, &["CHAT.INFO", "r1"]), "last_id"));
    q(&mut con, &["CHAT.SUBSCRIBE", "r1", "u5"]);
    assert_eq!(
        int(&q(&mut con, &["CHAT.SEND", "r1", "u5", "after reload"])),
        last + 1
    );
}

const AOF: [&str; 4] = ["--appendonly", "yes", "--appendfsync", "always"];

#[test]
fn a_restart_from_the_aof_rebuilds_the_same_data() {
    let module_args = [
        "history-max",
        "7",
        "inbox-max",
        "5",
        "fanout-max-members",
        "5",
    ];
    let mut server = Server::start_with(&module_args, &AOF);
    let mut con = server.conn();
    workload(&mut con, 1000, 11);
    let before = digest(&mut con);
    server.kill();
    server.restart_with(&module_args, &AOF);
    assert_eq!(digest(&mut server.conn()), before);
}

#[test]
fn a_restart_from_an_rdb_snapshot_rebuilds_the_same_data() {
    let mut server = Server::start();
    let mut con = server.conn();
    workload(&mut con, 1000, 13);
    let before = digest(&mut con);
    q(&mut con, &["BGSAVE"]);
    wait_persistence(&mut con, "rdb_bgsave_in_progress:0");
    assert!(text(&q(&mut con, &["INFO", "persistence"])).contains("rdb_last_bgsave_status:ok"));
    server.kill();
    server.restart(&[]);
    assert_eq!(digest(&mut server.conn()), before);
}

#[test]
fn a_restart_after_an_aof_rewrite_rebuilds_the_same_data() {
    let mut server = Server::start_with(&[], &AOF);
    let mut con = server.conn();
    workload(&mut con, 600, 17);
    rewrite_aof(&mut con);
    // More writes after the rewrite land in the new incremental file.
    workload(&mut con, 300, 19);
    let before = digest(&mut con);
    server.kill();
    server.restart(&AOF);
    assert_eq!(digest(&mut server.conn()), before);
}

/// A steady stream of sends is cut by `kill -9`; after the restart from the
/// AOF (`appendfsync always`) every acknowledged message is there, once.
#[test]
fn kill_9_loses_no_acknowledged_message() {
    // Big enough limits that history and inbox keep every message.
    let limits = ["history-max", "1000000", "inbox-max", "1000000"];
    let mut server = Server::start_with(&limits, &AOF);
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob", "carol"]);
    // bob stays offline: his inbox must end up with every message.
    let acked: Arc<std::sync::Mutex<Vec<i64>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let mut con = server.conn();
            let (acked, stop) = (acked.clone(), stop.clone());
            thread::spawn(move || {
                let sender = if w == 0 { "alice" } else { "carol" };
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    match try_q(
                        &mut con,
                        &["CHAT.SEND", "r", sender, &format!("{sender} {n}")],
                    ) {
                        Ok(v) => acked.lock().unwrap().push(int(&v)),
                        Err(_) => break, // the server is gone
                    }
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(700));
    server.kill(); // SIGKILL, mid-stream
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 100,
        "too few sends to mean anything: {}",
        acked.len()
    );

    server.restart_with(&limits, &AOF);
    let mut con = server.conn();
    let last_id = int(&field(&q(&mut con, &["CHAT.INFO", "r"]), "last_id"));
    let history: Vec<i64> = history_after(&mut con, "r", 0)
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    // Ids run 1..=last_id with no gap and no duplicate...
    assert_same_ids(&history, &(1..=last_id).collect::<Vec<_>>(), "history");
    // ...and every id a client was given is among them.
    let missing: Vec<&i64> = acked.iter().filter(|id| **id > last_id).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    // Counters equal the history.
    let counts = q(&mut con, &["CHAT.COUNTS", "r"]);
    let counted: i64 = pairs(&counts).iter().map(|(_, n)| int(n)).sum();
    assert_eq!(counted, last_id);
    // bob's inbox holds every message: read it as an app would, a page at
    // a time, acknowledging each page.
    let inbox: Vec<i64> = drain_inbox(&mut con, "bob")
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    assert_same_ids(&inbox, &history, "bob's inbox");
    // The next send continues the sequence.
    assert_eq!(
        int(&q(
            &mut con,
            &["CHAT.SEND", "r", "alice", "after the crash"]
        )),
        last_id + 1
    );
    eprintln!(
        "kill -9: {} sends acknowledged, {} found after restart (history 1..={last_id})",
        acked.len(),
        history.len()
    );
}

/// Compares two id lists, reporting only where they first differ.
fn assert_same_ids(got: &[i64], want: &[i64], what: &str) {
    if let Some(i) = (0..got.len().max(want.len())).find(|&i| got.get(i) != want.get(i)) {
        panic!(
            "{what}: {} ids, expected {}; first difference at index {i}: {:?} instead of {:?}",
            got.len(),
            want.len(),
            got.get(i),
            want.get(i)
        );
    }
}

#[test]
fn module_arguments_set_the_configs() {
    let server = Server::start_with(
        &[
            "max-text-bytes",
            "100",
            "history-max",
            "50",
            "inbox-max",
            "7",
            "presence-ttl",
            "9",
            "dedup-window",
            "30",
        ],
        &[],
    );
    let mut con = server.conn();
    for (name, value) in [
        ("chat.max-text-bytes", "100"),
        ("chat.history-max", "50"),
        ("chat.inbox-max", "7"),
        ("chat.presence-ttl", "9"),
        ("chat.dedup-window", "30"),
    ] {
        assert_eq!(
            strings(&q(&mut con, &["CONFIG", "GET", name])),
            [name, value]
        );
    }
    q(&mut con, &["CONFIG", "SET", "chat.inbox-max", "20"]);
    assert_eq!(
        strings(&q(&mut con, &["CONFIG", "GET", "chat.inbox-max"]))[1],
        "20"
    );
    let refused = err(&mut con, &["CONFIG", "SET", "chat.inbox-max", "0"]);
    assert!(
        refused.starts_with("ERR") && refused.contains("chat.inbox-max"),
        "{refused}"
    );
    assert!(err(&mut con, &["CONFIG", "SET", "chat.presence-ttl", "86401"]).starts_with("ERR"));
    // Writes always reach replicas as chat commands: there is no mode.
    assert!(err(
        &mut con,
        &["CONFIG", "SET", "chat.replicate-effects", "yes"]
    )
    .starts_with("ERR"));
    assert!(err(&mut con, &["CONFIG", "SET", "chat.no-such-thing", "1"]).starts_with("ERR"));
}

#[test]
fn bad_module_arguments_fail_the_load_and_say_why() {
    for (args, expected) in [
        (&["history-max", "0"][..], "'history-max'"),
        (&["presence-ttl", "86401"], "'presence-ttl'"),
        (&["max-text-bytes", "lots"], "'max-text-bytes'"),
        (&["inbox-max", "-1"], "'inbox-max'"),
        (&["dedup-window", "0"], "'dedup-window'"),
        (
            &["replicate-effects", "yes"],
            "unknown module argument 'replicate-effects'",
        ),
        (&["colour", "blue"], "unknown module argument 'colour'"),
        (&["history-max"], "name value pairs"),
    ] {
        let log = match Server::try_start(args, &[]) {
            Ok(_) => panic!("{args:?} should have failed the load"),
            Err(log) => log,
        };
        assert!(
            log.contains(expected),
            "{args:?}: no {expected} in log:\n{log}"
        );
        assert!(log.contains("<chat>"), "{log}");
        assert!(log.contains("Module") && log.contains("failed"), "{log}");
    }
}

#[test]
fn configs_can_be_set_in_the_config_file_too() {
    let server = Server::start_with(&[], &["--chat.history-max", "3"]);
    let mut con = server.conn();
    assert_eq!(
        strings(&q(&mut con, &["CONFIG", "GET", "chat.history-max"]))[1],
        "3"
    );
}
