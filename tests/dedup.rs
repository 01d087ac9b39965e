//! `CHAT.SEND ... DEDUP <key>`: a retry of a send that already happened
//! writes nothing and gets the first id back, also after a restart and on a
//! replica that took over.

mod common;

use std::thread;
use std::time::Duration;

use common::*;

#[test]
fn a_retry_gets_the_first_id_and_writes_nothing() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    room_with(&mut con, "s", &["alice", "bob"]);
    let first = int(&q(
        &mut con,
        &["CHAT.SEND", "r", "alice", "hello", "DEDUP", "req-1"],
    ));
    let before = digest(&mut con);
    for retry in [
        &["CHAT.SEND", "r", "alice", "hello", "DEDUP", "req-1"][..],
        // The key names the send; a retry with other text is still a retry.
        &["CHAT.SEND", "r", "alice", "hello again", "dedup", "req-1"],
    ] {
        assert_eq!(int(&q(&mut con, retry)), first);
        assert_eq!(digest(&mut con), before, "a retry wrote something");
    }
    assert_eq!(docs(&q(&mut con, &["CHAT.HISTORY", "r"])).len(), 1);
    assert_eq!(docs(&q(&mut con, &["CHAT.FETCH", "bob"])).len(), 1);
    // Another key, or the same key in another room, is another send.
    assert_eq!(
        int(&q(
            &mut con,
            &["CHAT.SEND", "r", "alice", "x", "DEDUP", "req-2"]
        )),
        first + 1
    );
    assert_eq!(
        int(&q(
            &mut con,
            &["CHAT.SEND", "s", "alice", "x", "DEDUP", "req-1"]
        )),
        1
    );
    assert_eq!(
        int(&q(&mut con, &["CHAT.SEND", "r", "alice", "no key"])),
        first + 2
    );
}

#[test]
fn the_window_ends_after_dedup_window_seconds() {
    let server = Server::start_with(&["dedup-window", "1"], &[]);
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    assert_eq!(
        int(&q(
            &mut con,
            &["CHAT.SEND", "r", "alice", "x", "DEDUP", "k"]
        )),
        1
    );
    // The room remembers the key until the window ends.
    let dedup = &dump(&mut con, "r")["dedup"];
    assert_eq!(dedup[0]["key"], "k");
    let ttl = dedup[0]["until"].as_i64().unwrap() - now_ms();
    assert!((1..=1000).contains(&ttl), "{ttl}");
    thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        int(&q(
            &mut con,
            &["CHAT.SEND", "r", "alice", "x", "DEDUP", "k"]
        )),
        2
    );
}

#[test]
fn bad_dedup_keys_are_refused() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice"]);
    let long = "k".repeat(201);
    for (args, expected) in [
        (
            vec!["CHAT.SEND", "r", "alice", "x", "DEDUP", ""],
            "ERR DEDUP key must be 1 to 200 bytes",
        ),
        (
            vec!["CHAT.SEND", "r", "alice", "x", "DEDUP", &long],
            "ERR DEDUP key must be 1 to 200 bytes",
        ),
        (
            vec!["CHAT.SEND", "r", "alice", "x", "DEDUP"],
            "ERR syntax error",
        ),
        (
            vec!["CHAT.SEND", "r", "alice", "x", "RETRY", "k"],
            "ERR syntax error",
        ),
    ] {
        assert_eq!(err(&mut con, &args), expected);
    }
    assert!(docs(&q(&mut con, &["CHAT.HISTORY", "r"])).is_empty());
}

#[test]
fn a_retry_after_a_crash_and_restart_gets_the_first_id() {
    let aof = ["--appendonly", "yes", "--appendfsync", "always"];
    let mut server = Server::start_with(&[], &aof);
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    let first = int(&q(
        &mut con,
        &["CHAT.SEND", "r", "alice", "hello", "DEDUP", "req-1"],
    ));
    server.kill();
    server.restart(&aof);
    let mut con = server.conn();
    assert_eq!(
        int(&q(
            &mut con,
            &["CHAT.SEND", "r", "alice", "hello", "DEDUP", "req-1"]
        )),
        first
    );
    assert_eq!(docs(&q(&mut con, &["CHAT.HISTORY", "r"])).len(), 1);
}

#[test]
fn a_retry_on_a_promoted_replica_gets_the_first_id() {
    let primary = Server::start();
    let replica = start_replica(&primary, true);
    let mut con = primary.conn();
    let mut rcon = replica.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    let first = int(&q(
        &mut con,
        &["CHAT.SEND", "r", "alice", "hello", "DEDUP", "req-1"],
    ));
    assert_eq!(int(&q(&mut con, &["WAIT", "1", "5000"])), 1);
    drop(primary); // the primary is lost; the replica takes over
    q(&mut rcon, &["REPLICAOF", "NO", "ONE"]);
    assert_eq!(
        int(&q(
            &mut rcon,
            &["CHAT.SEND", "r", "alice", "hello", "DEDUP", "req-1"]
        )),
        first
    );
    assert_eq!(docs(&q(&mut rcon, &["CHAT.HISTORY", "r"])).len(), 1);
    assert_eq!(
        int(&q(&mut rcon, &["CHAT.SEND", "r", "alice", "next"])),
        first + 1
    );
}
