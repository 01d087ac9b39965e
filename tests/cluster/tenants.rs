//! Tenants: every id of a tenant starts with its hash tag, so its rooms and
//! users share one slot, and each command works as on one server.

use std::time::Duration;

use chat_core::channels::slot;
use redis::cluster::ClusterConnection;
use serde_json::json;

use crate::common::*;
use crate::{sharded_listener, Cluster};

#[test]
fn two_tenants_on_different_nodes_through_a_cluster_client() {
    let cluster = Cluster::start();
    let mut con = cluster.client();

    // The slot function of the module agrees with the server's.
    let mut node = cluster.node(cluster.ports[0]);
    for key in [
        "acme",
        "{acme}general",
        "chat:user:{acme}{bob}:push",
        "bob",
        "chat:room:{general}:push",
        "room:general",
    ] {
        assert_eq!(
            int(&q(&mut node, &["CLUSTER", "KEYSLOT", key])),
            i64::from(slot(key.as_bytes())),
            "{key}"
        );
    }

    // Two tenants whose tags live on different nodes.
    let candidates = [
        "acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell",
    ];
    let owner = |tag: &str| cluster.node_for(slot(tag.as_bytes())).0;
    let first = candidates[0];
    let second = *candidates
        .iter()
        .find(|t| owner(t) != owner(first))
        .expect("two nodes");
    for tag in [first, second] {
        conversation(&cluster, &mut con, tag);
    }

    // Each tenant's keys are on its own node only.
    let (port, mut home) = cluster.node_for(slot(first.as_bytes()));
    // A room and a user are one key each, named by the id.
    // (Besides the slot's notification stream, a plain Redis stream.)
    let mut keys = strings(&q(&mut home, &["KEYS", "*"]));
    keys.retain(|k| !k.starts_with("chat:notify:"));
    assert!(keys.contains(&format!("{{{first}}}general")), "{keys:?}");
    assert!(
        keys.iter().all(|k| k.starts_with(&format!("{{{first}}}"))),
        "node {port} holds {keys:?}"
    );

    // A tenant's room delivers like a room on one server (fan-out, with
    // inbox copies) until a member of another slot joins it: then it turns
    // broadcast, and its members hear it on their own channels.
    let room = format!("{{{first}}}general");
    let bob = format!("{{{first}}}bob");
    let stranger = format!("{{{second}}}alice");
    let mode = |con: &mut ClusterConnection| text(&field(&q(con, &["CHAT.INFO", &room]), "mode"));
    assert_eq!(mode(&mut con), "fanout");
    let bob_channel = format!("chat:user:{{{first}}}{{bob}}:push");
    let events = sharded_listener(&cluster, &bob_channel);
    q(&mut con, &["CHAT.ONLINE", &bob]);
    q(&mut con, &["CHAT.LIST-ROOM", &stranger, &room]);
    q(&mut con, &["CHAT.SUBSCRIBE", &room, &stranger]);
    assert_eq!(mode(&mut con), "broadcast");
    let event: serde_json::Value =
        serde_json::from_str(&events.recv_timeout(Duration::from_secs(5)).expect("mode")).unwrap();
    assert_eq!(event["type"], json!("mode"));
    assert_eq!(event["mode"], json!("broadcast"));
    // And back, when the last member of another slot leaves.
    q(&mut con, &["CHAT.UNSUBSCRIBE", &room, &stranger]);
    assert_eq!(mode(&mut con), "fanout");
}

#[test]
fn direct_rooms_live_in_their_users_slot() {
    let cluster = Cluster::start();
    let mut con = cluster.client();
    // `acme` and `{acme}bob` share a slot by name: their room is there too.
    q(&mut con, &["CHAT.REGISTER", "acme", "Acme"]);
    q(&mut con, &["CHAT.REGISTER", "{acme}bob", "Bob"]);
    let room = text(&q(&mut con, &["CHAT.DM", "{acme}bob", "acme"]));
    assert!(room.starts_with("{acme}dm:"), "{room}");
    assert_eq!(int(&q(&mut con, &["CHAT.SEND", &room, "acme", "hi"])), 1);
    let (_, mut home) = cluster.node_for(slot(b"acme"));
    let keys = strings(&q(&mut home, &["KEYS", "*"]));
    assert!(keys.contains(&room), "{keys:?}");

    // Two untagged users whose slots meet by chance: their room could not
    // be in that slot, so the command is refused and writes nothing.
    let target = slot(b"u0");
    let other = (1..100_000)
        .map(|n| format!("u{n}"))
        .find(|u| slot(u.as_bytes()) == target)
        .expect("a second id in the slot of u0");
    q(&mut con, &["CHAT.REGISTER", "u0", "U"]);
    q(&mut con, &["CHAT.REGISTER", &other, "U"]);
    let (_, mut node) = cluster.node_for(target);
    let before = text(&q(&mut node, &["DEBUG", "DIGEST"]));
    let e = try_q(&mut con, &["CHAT.DM", "u0", &other]).unwrap_err();
    assert_eq!(e.code(), Some("CROSSSLOT"), "{e}");
    assert_eq!(text(&q(&mut node, &["DEBUG", "DIGEST"])), before);
}

/// alice and bob of tenant `tag` talk; bob first gets a message live through
/// sharded pub/sub, then misses two and fetches and acknowledges them.
fn conversation(cluster: &Cluster, con: &mut ClusterConnection, tag: &str) {
    let (room, alice, bob) = (
        format!("{{{tag}}}general"),
        format!("{{{tag}}}alice"),
        format!("{{{tag}}}bob"),
    );
    q(con, &["CHAT.REGISTER", &alice, "Alice"]);
    q(con, &["CHAT.REGISTER", &bob, "Bob"]);
    q(con, &["CHAT.CREATE", &room, "General"]);
    q(con, &["CHAT.SUBSCRIBE", &room, &alice]);
    // In a cluster the reply says how to listen: sharded pub/sub.
    let how = strings(&q(con, &["CHAT.SUBSCRIBE", &room, &bob]));
    let channel = format!("chat:user:{{{tag}}}{{bob}}:push");
    assert_eq!(how, ["SSUBSCRIBE", channel.as_str()]);

    let live = sharded_listener(cluster, &channel);
    q(con, &["CHAT.ONLINE", &bob]);
    assert_eq!(int(&q(con, &["CHAT.SEND", &room, &alice, "hi bob"])), 1);
    let doc: serde_json::Value =
        serde_json::from_str(&live.recv_timeout(Duration::from_secs(5)).expect("live")).unwrap();
    assert_eq!(doc["text"], json!("hi bob"));
    assert_eq!(doc["room"], json!(room));

    q(con, &["CHAT.OFFLINE", &bob]);
    q(con, &["CHAT.SEND", &room, &alice, "are you there?"]);
    q(
        con,
        &["CHAT.SEND", &room, &alice, "call me", "DEDUP", "req-1"],
    );
    assert_eq!(
        int(&q(
            con,
            &["CHAT.SEND", &room, &alice, "call me", "DEDUP", "req-1"]
        )),
        3
    );
    let inbox = docs(&q(con, &["CHAT.FETCH", &bob]));
    let texts: Vec<&str> = inbox.iter().map(|d| d["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["are you there?", "call me"]);
    let last = inbox[1]["delivery"].as_str().unwrap();
    assert_eq!(int(&q(con, &["CHAT.ACK", &bob, last])), 2);
    assert!(docs(&q(con, &["CHAT.FETCH", &bob])).is_empty());
    let history: Vec<i64> = docs(&q(con, &["CHAT.HISTORY", &room]))
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    assert_eq!(history, [1, 2, 3]);
    assert!(
        live.recv_timeout(Duration::from_millis(200)).is_err(),
        "nothing live while offline"
    );
}
