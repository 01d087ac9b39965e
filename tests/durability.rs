//! Data survives reloads and restarts, and replicas hold exactly the
//! primary's data; module configuration is checked at load.

mod common;

use std::time::{Duration, Instant};

use common::*;
use redis::Connection;

/// A small deterministic generator, so a failing workload can be replayed.
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

/// A mixed workload: sends, joins, leaves, presence changes, fetch and ack.
fn workload(con: &mut Connection, steps: usize, seed: u64) {
    let users = ["u0", "u1", "u2", "u3", "u4", "u5"];
    let rooms = ["r0", "r1", "r2"];
    for u in users {
        q(con, &["CHAT.REGISTER", u, u]);
    }
    for r in rooms {
        q(con, &["CHAT.CREATE", r, r]);
        for u in &users[..4] {
            q(con, &["CHAT.SUBSCRIBE", r, u]);
        }
    }
    let mut rng = Rng(seed);
    for i in 0..steps {
        let u = users[rng.below(users.len())];
        let r = rooms[rng.below(rooms.len())];
        match rng.below(10) {
            0..=4 => {
                // May fail (not a member): that is part of the workload.
                let _ = try_q(con, &["CHAT.SEND", r, u, &format!("message {i} from {u}")]);
            }
            5 => {
                q(con, &["CHAT.SUBSCRIBE", r, u]);
            }
            6 => {
                q(con, &["CHAT.UNSUBSCRIBE", r, u]);
            }
            7 => {
                q(con, &["CHAT.ONLINE", u, "TTL", "3600"]);
            }
            8 => {
                q(con, &["CHAT.OFFLINE", u]);
            }
            _ => {
                let inbox = docs(&q(con, &["CHAT.FETCH", u, "COUNT", "3"]));
                if let Some(last) = inbox.last() {
                    q(con, &["CHAT.ACK", u, last["delivery"].as_str().unwrap()]);
                }
            }
        }
    }
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

#[test]
fn a_restart_from_the_aof_rebuilds_the_same_data() {
    let mut server = Server::start_with(&[], &["--appendonly", "yes", "--appendfsync", "always"]);
    let mut con = server.conn();
    workload(&mut con, 500, 11);
    let before = digest(&mut con);
    server.kill();
    server.restart(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut con = server.conn();
    assert_eq!(digest(&mut con), before);
}

fn wait_for_replica(primary: &mut Connection) {
    let acked = int(&q(primary, &["WAIT", "1", "5000"]));
    assert_eq!(acked, 1, "the replica did not catch up");
}

fn start_replica(primary: &Server, with_module: bool) -> Server {
    let port = primary.port.to_string();
    let args = ["--replicaof", "127.0.0.1", &port];
    let replica = if with_module {
        Server::start_with(&[], &args)
    } else {
        Server::start_without_module(&args)
    };
    let mut con = replica.conn();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !text(&q(&mut con, &["INFO", "replication"])).contains("master_link_status:up") {
        assert!(Instant::now() < deadline, "replica never connected");
        std::thread::sleep(Duration::from_millis(20));
    }
    replica
}

#[test]
fn a_replica_with_the_module_holds_the_primarys_data() {
    let primary = Server::start();
    let replica = start_replica(&primary, true);
    let mut con = primary.conn();
    workload(&mut con, 1000, 3);
    wait_for_replica(&mut con);
    let mut rcon = replica.conn();
    assert_eq!(digest(&mut rcon), digest(&mut con));
    // Read-only commands work on the replica; writes are refused there.
    assert_eq!(
        q(&mut rcon, &["CHAT.HISTORY", "r0"]),
        q(&mut con, &["CHAT.HISTORY", "r0"])
    );
    assert!(err(&mut rcon, &["CHAT.SEND", "r0", "u0", "x"]).starts_with("READONLY"));
}

#[test]
fn a_replica_without_the_module_holds_the_primarys_data() {
    let primary = Server::start();
    let replica = start_replica(&primary, false);
    let mut con = primary.conn();
    workload(&mut con, 1000, 5);
    wait_for_replica(&mut con);
    assert_eq!(digest(&mut replica.conn()), digest(&mut con));
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
        ],
        &[],
    );
    let mut con = server.conn();
    for (name, value) in [
        ("chat.max-text-bytes", "100"),
        ("chat.history-max", "50"),
        ("chat.inbox-max", "7"),
        ("chat.presence-ttl", "9"),
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
    assert!(err(&mut con, &["CONFIG", "SET", "chat.no-such-thing", "1"]).starts_with("ERR"));
}

#[test]
fn bad_module_arguments_fail_the_load_and_say_why() {
    for (args, expected) in [
        (&["history-max", "0"][..], "'history-max'"),
        (&["presence-ttl", "86401"], "'presence-ttl'"),
        (&["max-text-bytes", "lots"], "'max-text-bytes'"),
        (&["inbox-max", "-1"], "'inbox-max'"),
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
