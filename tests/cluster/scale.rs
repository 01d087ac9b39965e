//! One app over three primaries and their replicas: 2,000 users and 500
//! rooms without hash tags. The data spreads evenly, every member finds
//! every message sent after they joined exactly once from their cursors,
//! the unread counts agree with the history, and every replica holds its
//! primary's data.

use std::collections::{BTreeMap, BTreeSet};

use redis::cluster::ClusterConnection;
use redis::Value;

use crate::common::*;
use crate::{join_in_steps, Cluster};

const USERS: usize = 2_000;
const ROOMS: usize = 500;
const ROOMS_PER_USER: usize = 5;

/// Every message after `user`'s cursor in each of their rooms, as
/// (room, id): what a client library's `missed` gives.
fn missed(con: &mut ClusterConnection, user: &str) -> Vec<(String, u64)> {
    let mut found = Vec::new();
    for room in strings(&q(con, &["CHAT.ROOMS", user])) {
        let state = q(con, &["CHAT.CURSOR", &room, user]);
        let cursor = int(&field(&state, "cursor"));
        let unread = int(&field(&state, "unread"));
        let page = history_after(con, &room, cursor);
        assert_eq!(page.len() as i64, unread, "{user} in {room}");
        found.extend(
            page.iter()
                .map(|d| (room.clone(), d["id"].as_u64().unwrap())),
        );
    }
    found
}

/// The bytes of chat keys each node holds (MEMORY USAGE of every key).
fn chat_memory(cluster: &Cluster, port: u16) -> i64 {
    let mut node = cluster.node(port);
    let mut total = 0;
    for kind in ["chat-room", "chat-user"] {
        let mut cursor = "0".to_string();
        loop {
            let Value::Array(reply) =
                q(&mut node, &["SCAN", &cursor, "TYPE", kind, "COUNT", "1000"])
            else {
                panic!("SCAN")
            };
            cursor = text(&reply[0]);
            for key in strings(&reply[1]) {
                total += int(&q(&mut node, &["MEMORY", "USAGE", &key]));
            }
            if cursor == "0" {
                break;
            }
        }
    }
    total
}

/// The port of the replica of the primary on `port`.
fn replica_of(cluster: &Cluster, port: u16) -> u16 {
    let info = text(&q(&mut cluster.node(port), &["INFO", "replication"]));
    let line = info
        .lines()
        .find(|l| l.starts_with("slave0:"))
        .unwrap_or_else(|| panic!("no replica of {port}: {info}"));
    let port = line
        .split(',')
        .find_map(|f| f.strip_prefix("port="))
        .unwrap();
    port.parse().unwrap()
}

#[test]
fn two_thousand_users_and_five_hundred_rooms_spread_over_three_primaries() {
    let cluster = Cluster::with_replicas(1);
    let mut con = cluster.client();
    let users: Vec<String> = (0..USERS).map(|n| format!("user{n}")).collect();
    let rooms: Vec<String> = (0..ROOMS).map(|n| format!("room{n}")).collect();
    for user in &users {
        q(&mut con, &["CHAT.REGISTER", user, "U"]);
    }
    for room in &rooms {
        q(&mut con, &["CHAT.CREATE", room, "R"]);
    }

    // Half the memberships, sends, the other half, more sends: each member
    // must find exactly what was sent after they joined.
    let mut rng = Rng(13);
    let mut last = vec![0u64; ROOMS];
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); ROOMS];
    let mut expected: BTreeMap<usize, BTreeSet<(String, u64)>> = BTreeMap::new();
    for half in 0..2 {
        let joining = (half * USERS / 2)..((half + 1) * USERS / 2);
        for (u, user) in users
            .iter()
            .enumerate()
            .take(joining.end)
            .skip(joining.start)
        {
            let mut mine = BTreeSet::new();
            while mine.len() < ROOMS_PER_USER {
                let r = rng.below(ROOMS);
                if mine.insert(r) {
                    join_in_steps(&mut con, &rooms[r], user);
                    members[r].push(u);
                }
            }
        }
        for _ in 0..1_000 {
            let r = rng.below(ROOMS);
            if members[r].is_empty() {
                continue;
            }
            let sender = members[r][rng.below(members[r].len())];
            let id = int(&q(
                &mut con,
                &["CHAT.SEND", &rooms[r], &users[sender], "hi"],
            )) as u64;
            assert_eq!(id, last[r] + 1, "ids without gaps in {}", rooms[r]);
            last[r] = id;
            // The sender has read their own message; everyone else who is
            // a member should find it.
            for &m in &members[r] {
                if m != sender {
                    expected
                        .entry(m)
                        .or_default()
                        .insert((rooms[r].clone(), id));
                } else {
                    // A sender's cursor moves past everything before too.
                    expected
                        .entry(m)
                        .or_default()
                        .retain(|(room, _)| room != &rooms[r]);
                }
            }
        }
    }

    // Every member finds every message after their cursor exactly once.
    let mut deliveries = 0;
    for (u, user) in users.iter().enumerate() {
        let found = missed(&mut con, user);
        let unique: BTreeSet<(String, u64)> = found.iter().cloned().collect();
        assert_eq!(unique.len(), found.len(), "{user} got a message twice");
        assert_eq!(unique, expected.remove(&u).unwrap_or_default(), "{user}");
        deliveries += found.len();
    }
    assert!(deliveries > 10_000, "{deliveries}");

    // The chat data spreads evenly over the primaries.
    let memory: Vec<i64> = cluster
        .ports
        .iter()
        .map(|&p| chat_memory(&cluster, p))
        .collect();
    let total: i64 = memory.iter().sum();
    for (port, bytes) in cluster.ports.iter().zip(&memory) {
        let share = *bytes as f64 / total as f64 * 100.0;
        println!("primary {port}: {bytes} bytes of chat data, {share:.1}% of {total}");
        assert!(
            (28.3..=38.3).contains(&share),
            "primary {port} holds {share:.1}%"
        );
    }

    // Each replica holds its primary's data.
    for &port in &cluster.ports {
        let mut primary = cluster.node(port);
        wait_for_replicas(&mut primary, 1);
        let mut replica = cluster.node(replica_of(&cluster, port));
        assert_eq!(
            digest(&mut primary),
            digest(&mut replica),
            "replica of {port}"
        );
    }
}
