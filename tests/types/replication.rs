//! Replication: replicas (live, synced from scratch, restarted from their
//! own AOF) end with the primary's data after a seeded workload of every
//! write command and the generic key commands, also when their limits
//! are smaller than the primary's, and follow the age sweep.

use std::collections::HashMap;
use std::thread;
use std::time::{Duration, Instant};

use redis::{Connection, Value};

use crate::common::*;
use crate::dataset::{assert_same, dataset, observe};
use crate::persistence::AOF;

// ---------------------------------------------------------------------------
// 6. Replication

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
