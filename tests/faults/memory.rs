//! Memory full: at `maxmemory` with `noeviction`, every chat write is
//! refused with `OOM` before it writes anything, reads go on, and sends go
//! on where they stopped once memory is there again. A policy that could
//! evict chat keys (`allkeys-*`) is warned about in the log.

use std::time::{Duration, Instant};

use crate::common::*;
use crate::Acked;

/// Lines of the server's log that warn about `policy`.
fn warnings(server: &Server, policy: &str) -> usize {
    let said = format!("maxmemory-policy is {policy}:");
    server.log().lines().filter(|l| l.contains(&said)).count()
}

#[test]
fn a_policy_that_can_evict_chat_keys_is_warned_about_at_start_and_when_set() {
    let server = Server::start_with(&[], &["--maxmemory-policy", "allkeys-lru"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while warnings(&server, "allkeys-lru") == 0 {
        assert!(
            Instant::now() < deadline,
            "no warning at start:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let line = server.log();
    assert!(line.contains("use noeviction"), "{line}");
    let mut con = server.conn();
    // Policies that never evict a chat key: no warning. (A configuration
    // change is told to the module before CONFIG SET replies.)
    for policy in [
        "noeviction",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        q(&mut con, &["CONFIG", "SET", "maxmemory-policy", policy]);
        assert_eq!(warnings(&server, policy), 0, "{policy}");
    }
    // Each change to one that may: one warning, not one per CONFIG SET.
    for policy in ["allkeys-lfu", "allkeys-lfu", "allkeys-random"] {
        q(&mut con, &["CONFIG", "SET", "maxmemory-policy", policy]);
        assert_eq!(warnings(&server, policy), 1, "{policy}");
    }
    q(
        &mut con,
        &["CONFIG", "SET", "maxmemory-policy", "noeviction"],
    );
    q(
        &mut con,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
    );
    assert_eq!(warnings(&server, "allkeys-lru"), 2);
}

#[test]
fn no_warning_for_the_default_policy() {
    let server = Server::start();
    let mut con = server.conn();
    // A command after start-up: the first check has run by then.
    q(&mut con, &["PING"]);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !server.log().contains("maxmemory-policy is"),
        "{}",
        server.log()
    );
}

#[test]
fn at_maxmemory_sends_are_refused_with_oom_and_nothing_is_half_written() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob", "carol"]);
    let mut acked = Acked::new("r");
    // Room for a few hundred more sends: each keeps the text in the room
    // and copies it to two inboxes.
    let used = info_int(&mut con, "memory", "used_memory");
    let limit = (used + 2_000_000).to_string();
    q(&mut con, &["CONFIG", "SET", "maxmemory", &limit]);
    let text = "x".repeat(1000);
    let refused = loop {
        match acked.send(&mut con, "alice", &text) {
            Ok(_) => assert!(acked.ids.len() < 50_000, "never refused"),
            Err(e) => break e,
        }
    };
    assert!(acked.ids.len() > 100, "refused early: {refused}");
    assert!(refused.starts_with("OOM"), "{refused}");

    // Every chat write is refused alike, before it writes anything.
    let before = digest(&mut con);
    for command in [
        &["CHAT.SEND", "r", "bob", "one more"][..],
        &["CHAT.REGISTER", "dave", "Dave"],
        &["CHAT.CREATE", "s", "S"],
        &["CHAT.EDIT", "r", "alice", "1", "changed"],
    ] {
        let e = err(&mut con, command);
        assert!(e.starts_with("OOM"), "{command:?}: {e}");
    }
    assert_eq!(digest(&mut con), before, "a refused write changed the data");

    // Reads go on.
    assert_eq!(
        docs(&q(&mut con, &["CHAT.HISTORY", "r", "COUNT", "3"])).len(),
        3
    );
    let last = *acked.ids.last().unwrap_or(&0);
    assert_eq!(
        int(&field(&q(&mut con, &["CHAT.INFO", "r"]), "last_id")),
        last
    );
    assert_eq!(
        int(&field(&q(&mut con, &["CHAT.UNREAD", "bob"]), "r")),
        last
    );

    // With memory again, sends go on where they stopped, gap-free.
    q(&mut con, &["CONFIG", "SET", "maxmemory", "0"]);
    assert_eq!(acked.send(&mut con, "bob", "back"), Ok(last + 1));
    acked.all_there(&mut con, "after OOM");
}
