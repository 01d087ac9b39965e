//! The notification stream as a worker uses it: consumer groups, one
//! delivery per recipient of an entry and the entry acknowledged once all
//! are posted, and what survives a crash (the AOF), reaches a replica (the
//! very same entries, trimmed as the primary trimmed) and continues after
//! a promotion.

use redis::{Connection, Value};

use crate::common::*;
use crate::{counted, entries, entries_of, pairs_of, read_group, send, Counted, Entry, Notice};

const KEY: &str = "chat:notify";

/// Room `r` (alice, bob, carol), bob and carol away with `all`, and
/// `sends` messages by alice: one entry each, naming both.
fn recorded(con: &mut Connection, sends: usize) -> Vec<Entry> {
    room_with(con, "r", &["alice", "bob", "carol"]);
    for u in ["bob", "carol"] {
        q(con, &["CHAT.NOTIFY", u, "all"]);
    }
    for i in 1..=sends {
        send(con, "r", "alice", &format!("m{i}"), &[]);
    }
    let all = entries(con, KEY);
    assert_eq!(all.len(), sends);
    let both = pairs_of(&[("bob", "message"), ("carol", "message")]);
    for (n, entry) in all.iter().enumerate() {
        let notice = Notice::of(entry);
        assert_eq!((notice.id, &notice.to), (n as i64 + 1, &both), "{entry:?}");
    }
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

/// What a worker does with the entries it took: for each, one delivery
/// per recipient in `to`, posted under the idempotency key
/// `<entry id>:<user>` (pushed on `posted`), then XACK of the entry once
/// all its recipients are posted. It crashes after `posts` deliveries,
/// leaving the entry in hand unacknowledged: false then.
fn work(con: &mut Connection, taken: &[Entry], posted: &mut Vec<String>, mut posts: usize) -> bool {
    for entry in taken {
        let notice = Notice::of(entry);
        for (user, _reason) in &notice.to {
            if posts == 0 {
                return false;
            }
            posts -= 1;
            posted.push(format!("{}:{user}", notice.entry));
        }
        assert_eq!(ack(con, &[&notice.entry]), 1, "{}", notice.entry);
    }
    true
}

#[test]
fn entries_and_consumer_groups_survive_a_crash_with_the_aof() {
    let aof = ["--appendonly", "yes", "--appendfsync", "always"];
    let mut server = Server::start_with(&[], &aof);
    let mut con = server.conn();
    let all = recorded(&mut con, 4);
    group(&mut con);
    let first = read_new(&mut con, "w1", 2);
    assert_eq!(first, all[..2]);
    assert_eq!(ack(&mut con, &[&first[0].0]), 1);
    let before = digest(&mut con);

    // The AOF holds each entry as the primary made it: its id and `to`
    // written out, no id left for Redis to choose (`*`), no approximate
    // trim (`~`) left to redo.
    let aof_bytes: Vec<u8> = aof_files(&server.dir)
        .into_iter()
        .flat_map(|(_, b)| b)
        .collect();
    for (id, fields) in &all {
        assert!(contains(&aof_bytes, id.as_bytes()), "entry {id}");
        let to = &fields.last().unwrap().1;
        assert!(contains(&aof_bytes, to.as_bytes()), "to {to}");
    }
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
    assert_eq!(ack(&mut con, &[&all[1].0, &rest[0].0, &rest[1].0]), 3);
    // New entries come after the old ones.
    send(&mut con, "r", "alice", "after the crash", &[]);
    let next = read_new(&mut con, "w2", 10);
    assert_eq!(next.len(), 1);
    assert_eq!(Notice::of(&next[0]).id, 5);
    assert!(entries(&mut con, KEY)[..4] == all[..]);
}

#[test]
fn a_replica_holds_the_very_same_entries_whatever_its_own_configs() {
    let primary = Server::start();
    let replica = start_replica(&primary, true);
    let mut con = primary.conn();
    let mut replica_con = replica.conn();
    // The primary trims to about 5 entries in nodes of 4. The replica
    // would keep others if it trimmed by its own configs (`MAXLEN ~` with
    // its own bound and nodes): it applies the length the primary's trim
    // left.
    q(&mut con, &["CONFIG", "SET", "stream-node-max-entries", "4"]);
    q(&mut con, &["CONFIG", "SET", "chat.notify-max", "5"]);
    q(
        &mut replica_con,
        &["CONFIG", "SET", "chat.notify-max", "1000"],
    );
    q(
        &mut replica_con,
        &["CONFIG", "SET", "stream-node-max-entries", "3"],
    );
    room_with(&mut con, "r", &["alice", "bob", "carol"]);
    for u in ["bob", "carol"] {
        q(&mut con, &["CHAT.NOTIFY", u, "all"]);
    }
    for i in 1..=30 {
        send(&mut con, "r", "alice", &format!("m{i}"), &[]);
    }
    wait_for_replicas(&mut con, 1);
    let kept = entries(&mut con, KEY);
    assert!((5..=9).contains(&kept.len()), "{} entries", kept.len());
    let both = pairs_of(&[("bob", "message"), ("carol", "message")]);
    assert!(kept.iter().all(|e| Notice::of(e).to == both), "{kept:?}");
    assert_eq!(entries(&mut replica_con, KEY), kept);
    assert_eq!(
        digest_value(&mut replica_con, KEY),
        digest_value(&mut con, KEY),
        "DEBUG DIGEST-VALUE {KEY}"
    );
    assert_same_data(&mut con, &mut replica_con, "primary and replica");
    // The primary counts what it recorded: 30 entries, 60 members
    // notified. The replica recorded nothing itself (the send's replay
    // records none; it applied the primary's XADD).
    assert_eq!(
        counted(&mut con),
        Counted {
            notifications: 60,
            entries: 30,
            failures: 0
        }
    );
    assert_eq!(
        counted(&mut replica_con),
        Counted {
            notifications: 0,
            entries: 0,
            failures: 0
        }
    );
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
    assert_eq!(ack(&mut con, &to_ack), 2);
    assert!(pending(&mut con).is_empty());
    // The promoted replica records new notifications itself.
    send(&mut con, "r", "alice", "after the failover", &[]);
    let next = read_new(&mut con, "w2", 100);
    assert_eq!(next.len(), 1);
    assert_eq!(Notice::of(&next[0]).id, 4);
    assert_eq!(counted(&mut con).entries, 1);
}

#[test]
fn consumers_share_the_entries_and_one_takes_over_what_another_left() {
    let server = Server::start();
    let mut con = server.conn();
    let all = recorded(&mut con, 6);
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

#[test]
fn a_worker_crashing_mid_entry_posts_again_under_the_same_keys_and_never_after_the_ack() {
    let server = Server::start();
    let mut con = server.conn();
    let all = recorded(&mut con, 3);
    group(&mut con);
    let mut posted = Vec::new();
    // w1 takes all three entries, posts both recipients of the first
    // (acknowledged), one of the second, and crashes.
    let taken = read_new(&mut con, "w1", 10);
    assert_eq!(taken, all);
    assert!(!work(&mut con, &taken, &mut posted, 3));
    let left: Vec<(String, String)> = all[1..]
        .iter()
        .map(|(id, _)| (id.clone(), "w1".to_string()))
        .collect();
    assert_eq!(pending(&mut con), left);

    // w2 claims what w1 left: the whole second entry again, then the
    // third.
    let claim = ["XAUTOCLAIM", KEY, "workers", "w2", "0", "0-0"];
    let Value::Array(reply) = q(&mut con, &claim) else {
        panic!("XAUTOCLAIM");
    };
    let claimed = entries_of(&reply[1]);
    assert_eq!(claimed, all[1..]);
    assert!(work(&mut con, &claimed, &mut posted, usize::MAX));
    assert!(pending(&mut con).is_empty());

    // Every recipient of every entry was posted; the one posted before
    // the crash twice, under the same key, which the receiver drops.
    let mut keys: Vec<String> = all
        .iter()
        .flat_map(|(id, _)| [format!("{id}:bob"), format!("{id}:carol")])
        .collect();
    keys.sort();
    let mut distinct = posted.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct, keys);
    let again = format!("{}:bob", all[1].0);
    assert_eq!(posted.len(), keys.len() + 1, "{posted:?}");
    assert_eq!(posted.iter().filter(|k| **k == again).count(), 2);

    // Once acknowledged, nothing comes again: neither as new, nor as
    // pending of either worker. A new send is one new entry.
    for worker in ["w1", "w2"] {
        assert!(read_new(&mut con, worker, 10).is_empty());
        let history = [
            "XREADGROUP",
            "GROUP",
            "workers",
            worker,
            "STREAMS",
            KEY,
            "0",
        ];
        assert!(read_group(&q(&mut con, &history)).is_empty());
    }
    let id = send(&mut con, "r", "alice", "later", &[]);
    let next = read_new(&mut con, "w1", 10);
    assert_eq!(next.len(), 1);
    assert_eq!(Notice::of(&next[0]).id, id);
    let before = posted.len();
    assert!(work(&mut con, &next, &mut posted, usize::MAX));
    assert_eq!(posted.len(), before + 2);
    assert!(posted[before..].iter().all(|k| !keys.contains(k)));
    assert!(pending(&mut con).is_empty());
}
