//! The notification stream as a worker uses it: consumer groups, and what
//! survives a crash (the AOF), reaches a replica (the very same entries)
//! and continues after a promotion.

use redis::{Connection, Value};

use crate::common::*;
use crate::{entries, entries_of, read_group, send, Entry};

const KEY: &str = "chat:notify";

/// Room `r` (alice, bob, carol), bob and carol away with `all`; `sends`
/// messages by alice: two entries each.
fn recorded(con: &mut Connection, sends: usize) -> Vec<Entry> {
    room_with(con, "r", &["alice", "bob", "carol"]);
    for u in ["bob", "carol"] {
        q(con, &["CHAT.NOTIFY", u, "all"]);
    }
    for i in 1..=sends {
        send(con, "r", "alice", &format!("m{i}"), &[]);
    }
    let all = entries(con, KEY);
    assert_eq!(all.len(), 2 * sends);
    all
}

fn group(con: &mut Connection) {
    assert_eq!(
        q(con, &["XGROUP", "CREATE", KEY, "workers", "0"]),
        Value::Okay
    );
}

/// XREADGROUP GROUP workers `consumer` COUNT `count` STREAMS chat:notify >
fn read_new(con: &mut Connection, consumer: &str, count: usize) -> Vec<Entry> {
    let count = count.to_string();
    let args = [
        "XREADGROUP",
        "GROUP",
        "workers",
        consumer,
        "COUNT",
        &count,
        "STREAMS",
        KEY,
        ">",
    ];
    read_group(&q(con, &args))
}

fn ack(con: &mut Connection, ids: &[&str]) -> i64 {
    let mut args = vec!["XACK", KEY, "workers"];
    args.extend(ids);
    int(&q(con, &args))
}

/// (entry id, consumer) of each pending entry, oldest first.
fn pending(con: &mut Connection) -> Vec<(String, String)> {
    let Value::Array(items) = q(con, &["XPENDING", KEY, "workers", "-", "+", "100"]) else {
        panic!("XPENDING");
    };
    items
        .iter()
        .map(|item| {
            let Value::Array(p) = item else {
                panic!("{item:?}")
            };
            (text(&p[0]), text(&p[1]))
        })
        .collect()
}

fn ids(entries: &[Entry]) -> Vec<String> {
    entries.iter().map(|(id, _)| id.clone()).collect()
}

#[test]
fn entries_and_consumer_groups_survive_a_crash_with_the_aof() {
    let aof = ["--appendonly", "yes", "--appendfsync", "always"];
    let mut server = Server::start_with(&[], &aof);
    let mut con = server.conn();
    let all = recorded(&mut con, 3);
    group(&mut con);
    let first = read_new(&mut con, "w1", 2);
    assert_eq!(first, all[..2]);
    assert_eq!(ack(&mut con, &[&first[0].0]), 1);
    let before = digest(&mut con);

    // The AOF holds each XADD as Redis ran it: an explicit id, an exact
    // MAXLEN.
    let aof_bytes: Vec<u8> = aof_files(&server.dir)
        .into_iter()
        .flat_map(|(_, b)| b)
        .collect();
    assert_eq!(count_of(&aof_bytes, b"\r\nXADD\r\n"), all.len());
    assert!(contains(&aof_bytes, all[5].0.as_bytes()));
    assert!(
        !contains(&aof_bytes, b"$1\r\n*\r\n"),
        "an XADD without its id"
    );
    assert!(
        !contains(&aof_bytes, b"$1\r\n~\r\n"),
        "an approximate MAXLEN"
    );

    server.restart(&aof);
    let mut con = server.conn();
    assert_eq!(digest(&mut con), before);
    assert_eq!(entries(&mut con, KEY), all);
    assert_eq!(pending(&mut con), [(all[1].0.clone(), "w1".to_string())]);
    // The group goes on where it was.
    let rest = read_new(&mut con, "w2", 10);
    assert_eq!(rest, all[2..]);
    assert_eq!(ack(&mut con, &[&all[1].0, &rest[0].0]), 2);
    // New entries come after the old ones.
    send(&mut con, "r", "alice", "after the crash", &[]);
    let next = read_new(&mut con, "w2", 10);
    assert_eq!(next.len(), 2);
    assert!(entries(&mut con, KEY)[..6] == all[..]);
}

#[test]
fn a_replica_holds_the_very_same_entries_whatever_its_own_configs() {
    let primary = Server::start();
    // The replica would trim differently if it ran `MAXLEN ~` itself.
    let replica = start_replica(&primary, true);
    let mut con = primary.conn();
    let mut replica_con = replica.conn();
    q(&mut con, &["CONFIG", "SET", "stream-node-max-entries", "4"]);
    q(&mut con, &["CONFIG", "SET", "chat.notify-max", "5"]);
    q(
        &mut replica_con,
        &["CONFIG", "SET", "chat.notify-max", "1000"],
    );
    room_with(&mut con, "r", &["alice", "bob"]);
    q(&mut con, &["CHAT.NOTIFY", "bob", "all"]);
    for i in 1..=30 {
        send(&mut con, "r", "alice", &format!("m{i}"), &[]);
    }
    wait_for_replicas(&mut con, 1);
    let kept = entries(&mut con, KEY);
    assert!(kept.len() < 10, "{} entries", kept.len());
    assert_eq!(entries(&mut replica_con, KEY), kept);
    assert_same_data(&mut con, &mut replica_con, "primary and replica");
}

#[test]
fn a_promoted_replica_continues_the_consumer_group() {
    let mut primary = Server::start();
    let replica = start_replica(&primary, true);
    let mut con = primary.conn();
    let all = recorded(&mut con, 3);
    group(&mut con);
    let delivered = read_new(&mut con, "w1", 2);
    assert_eq!(ack(&mut con, &[&delivered[0].0]), 1);
    wait_for_replicas(&mut con, 1);
    let mut replica_con = replica.conn();
    assert_same_data(&mut con, &mut replica_con, "before the failover");

    primary.kill();
    assert_eq!(
        q(&mut replica_con, &["REPLICAOF", "NO", "ONE"]),
        Value::Okay
    );
    let mut con = replica_con;
    assert_eq!(
        pending(&mut con),
        [(delivered[1].0.clone(), "w1".to_string())]
    );
    // What was never delivered, and only that.
    let rest = read_new(&mut con, "w2", 100);
    assert_eq!(ids(&rest), ids(&all[2..]));
    assert_eq!(rest, all[2..]);
    let mut to_ack = vec![delivered[1].0.as_str()];
    to_ack.extend(rest.iter().map(|(id, _)| id.as_str()));
    assert_eq!(ack(&mut con, &to_ack), 5);
    assert!(pending(&mut con).is_empty());
    // The promoted replica records new notifications itself.
    send(&mut con, "r", "alice", "after the failover", &[]);
    assert_eq!(read_new(&mut con, "w2", 100).len(), 2);
}

#[test]
fn consumers_share_the_entries_and_one_takes_over_what_another_left() {
    let server = Server::start();
    let mut con = server.conn();
    let all = recorded(&mut con, 3);
    group(&mut con);
    let c1 = read_new(&mut con, "c1", 2);
    let c2 = read_new(&mut con, "c2", 2);
    assert_eq!(c1.len(), 2);
    assert_eq!(c2.len(), 2);
    let mut seen = ids(&c1);
    seen.extend(ids(&c2));
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "{seen:?}");
    assert_eq!(seen, ids(&all[..4]));

    // c2 handles both; c1 one of its two and then goes away.
    assert_eq!(ack(&mut con, &[&c2[0].0, &c2[1].0]), 2);
    assert_eq!(ack(&mut con, &[&c1[0].0]), 1);
    assert_eq!(pending(&mut con), [(c1[1].0.clone(), "c1".to_string())]);
    let claim = ["XAUTOCLAIM", KEY, "workers", "c2", "0", "0-0"];
    let Value::Array(reply) = q(&mut con, &claim) else {
        panic!("XAUTOCLAIM");
    };
    assert_eq!(entries_of(&reply[1]), c1[1..]);
    assert_eq!(pending(&mut con), [(c1[1].0.clone(), "c2".to_string())]);
    assert_eq!(ack(&mut con, &[&c1[1].0]), 1);
    assert!(pending(&mut con).is_empty());
    assert_eq!(read_new(&mut con, "c1", 10), all[4..]);
    assert!(read_new(&mut con, "c2", 10).is_empty());
}
