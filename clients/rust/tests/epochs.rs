//! Room epochs on real servers: `missed` after a promotion starts the room
//! with its reset; a listener on a primary that took a replica's data
//! (losing the messages the replica lacked) hands out the live reset, then
//! the ids handed out again; a room dropped and made again has a new epoch,
//! which the next `missed` and a listener's catch-up notice.
//!
//! A promotion without a second server: `REPLICAOF` a port nobody listens
//! on, then `REPLICAOF NO ONE`.

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use redis::Value;
use redis_chat_client::{ListenOptions, Listener, RoomEpoch};
use serde_json::{json, Value as Json};

/// A loopback port nobody listens on.
fn dead_port() -> u16 {
    let probe = TcpListener::bind(("127.0.0.1", 0)).expect("a free port");
    probe.local_addr().expect("its address").port()
}

/// The server on `port` follows nothing for a moment, then is a primary
/// again: promoted, as far as the module can tell.
fn promote(port: u16) {
    let mut con = connect(port);
    let nowhere = dead_port().to_string();
    q(&mut con, &["REPLICAOF", "127.0.0.1", &nowhere]);
    q(&mut con, &["REPLICAOF", "NO", "ONE"]);
}

/// Makes the server on `port` a replica of the one on `primary`, and waits
/// until it holds the primary's data.
async fn follow(port: u16, primary: u16) {
    let mut con = connect(port);
    q(&mut con, &["REPLICAOF", "127.0.0.1", &primary.to_string()]);
    until("the replica in sync", 10, || {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query(&mut con)
            .expect("INFO");
        info.contains("master_link_status:up")
    })
    .await;
}

/// A room's epoch, as `CHAT.INFO` says it on the node that serves it.
fn info_epoch(setup: &Setup, room: &str) -> String {
    let Value::Array(fields) = q(&mut setup.node_for(room), &["CHAT.INFO", room]) else {
        panic!("CHAT.INFO {room}: not a flat map");
    };
    fields
        .chunks(2)
        .find_map(|kv| match (&kv[0], &kv[1]) {
            (Value::BulkString(k), Value::BulkString(v)) if k == b"epoch" => {
                Some(String::from_utf8(v.clone()).expect("UTF-8"))
            }
            _ => None,
        })
        .expect("CHAT.INFO without an epoch")
}

fn ids(docs: &[Json]) -> Vec<u64> {
    docs.iter().filter_map(|d| d["id"].as_u64()).collect()
}

fn is_reset(doc: &Json) -> bool {
    doc["type"] == "reset"
}

/// The listener's next message or reset (other events are skipped).
async fn next_doc(listener: &mut Listener) -> Json {
    loop {
        let item = tokio::time::timeout(Duration::from_secs(10), listener.next())
            .await
            .expect("an event in time")
            .expect("the listener runs");
        let doc = item.expect("the listener failed");
        if matches!(doc["type"].as_str(), Some("message" | "reset")) {
            return doc;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn missed_after_a_promotion_starts_with_the_reset() {
    let setup = Setup::standalone();
    let chat = setup.chat().await;
    for user in ["alice", "bob"] {
        chat.register(user, "U", None).await.unwrap();
    }
    chat.create("general", "General").await.unwrap();
    chat.join("general", "alice").await.unwrap();
    chat.join("general", "bob").await.unwrap();
    for i in 1..=3 {
        chat.send("general", "alice", &format!("m{i}"), 0)
            .await
            .unwrap();
    }
    chat.read("general", "bob", 2).await.unwrap();
    let first = chat.missed("bob").await.unwrap();
    assert_eq!(ids(&first), [3]);
    assert!(!first.iter().any(is_reset), "{first:?}");
    let old = chat.known_epoch("general").expect("an epoch from the join");
    assert_eq!(old.epoch, info_epoch(&setup, "general"));
    assert_eq!(old.last_id, 3);

    // The promotion changes nothing until the room's next send.
    promote(setup.port_for("general"));
    assert_eq!(info_epoch(&setup, "general"), old.epoch);
    let id = chat.send("general", "alice", "after", 0).await.unwrap();
    assert_eq!(id, 4);
    let new = info_epoch(&setup, "general");
    assert_ne!(new, old.epoch);

    // Read with the old epoch: the reset first, then the newest messages,
    // not the ones after bob's cursor.
    let docs = chat.missed("bob").await.unwrap();
    assert_eq!(
        docs[0],
        json!({"type": "reset", "room": "general", "epoch": new, "last_id": 4})
    );
    assert_eq!(ids(&docs[1..]), [1, 2, 3, 4]);
    assert_eq!(docs[4]["text"], "after");
    let known = RoomEpoch {
        epoch: new.clone(),
        last_id: 4,
    };
    assert_eq!(chat.known_epoch("general"), Some(known));

    // Known now: the next read goes on after the cursor, without a reset.
    let again = chat.missed("bob").await.unwrap();
    assert_eq!(ids(&again), [3, 4]);
    assert!(!again.iter().any(is_reset), "{again:?}");

    // Pages read with an epoch the caller holds.
    let page = chat
        .history_in_epoch("general", &old.epoch, Some(2), None, 10)
        .await
        .unwrap();
    assert!(is_reset(&page[0]), "{page:?}");
    assert_eq!(ids(&page[1..]), [1, 2, 3, 4]);
    let page = chat
        .history_in_epoch("general", &new, Some(2), None, 10)
        .await
        .unwrap();
    assert_eq!(ids(&page), [3, 4]);
}

/// A primary that takes the data of a replica that lacks its last two
/// messages (then is promoted) hands their ids out again: the listener,
/// connected all along, hands out the reset event and then the new
/// message with an id it had handed out already.
#[tokio::test(flavor = "multi_thread")]
async fn a_listener_hands_out_the_reset_then_the_ids_handed_out_again() {
    let setup = Setup::standalone();
    let Setup::Standalone(primary) = &setup else {
        unreachable!()
    };
    let replica = Server::start();
    let (a, b) = (primary.port, replica.port);
    for port in [a, b] {
        q(
            &mut connect(port),
            &["CONFIG", "SET", "repl-diskless-sync-delay", "0"],
        );
    }
    let chat = setup.chat().await;
    for user in ["alice", "bob"] {
        chat.register(user, "U", None).await.unwrap();
    }
    chat.create("general", "General").await.unwrap();
    chat.join("general", "alice").await.unwrap();
    chat.join("general", "bob").await.unwrap();
    // Quiet while the servers change roles: no heartbeat, no re-read.
    let options = ListenOptions {
        refresh: None,
        presence_ttl: 600,
        ..ListenOptions::default()
    };
    let mut listener = chat.listen_with("bob", options).await.unwrap();

    follow(b, a).await;
    for i in 1..=3 {
        // 1: the replica has it.
        chat.send("general", "alice", &format!("kept {i}"), 1)
            .await
            .unwrap();
    }
    q(&mut connect(b), &["REPLICAOF", "NO", "ONE"]);
    for i in 4..=5 {
        chat.send("general", "alice", &format!("lost {i}"), 0)
            .await
            .unwrap();
    }
    for want in 1..=5 {
        assert_eq!(next_doc(&mut listener).await["id"], want);
    }
    let old = listener.handle().stats().epochs["general"].clone();

    // The primary takes the replica's data (messages 1 to 3), and is
    // promoted: its next send hands out id 4 again.
    follow(a, b).await;
    q(&mut connect(a), &["REPLICAOF", "NO", "ONE"]);
    let id = chat.send("general", "alice", "new 4", 0).await.unwrap();
    assert_eq!(id, 4);
    let new = info_epoch(&setup, "general");
    assert_ne!(new, old);

    let reset = next_doc(&mut listener).await;
    assert_eq!(
        reset,
        json!({"type": "reset", "room": "general", "epoch": new, "last_id": 3})
    );
    let message = next_doc(&mut listener).await;
    assert_eq!(
        (message["id"].as_u64(), message["text"].as_str()),
        (Some(4), Some("new 4"))
    );
    chat.send("general", "alice", "new 5", 0).await.unwrap();
    assert_eq!(next_doc(&mut listener).await["id"], 5);

    let stats = listener.handle().stats();
    assert_eq!(stats.resets, 1);
    assert_eq!(stats.last_ids["general"], 5);
    assert_eq!(stats.epochs["general"], new);
    let known = RoomEpoch {
        epoch: new,
        last_id: 5,
    };
    assert_eq!(chat.known_epoch("general"), Some(known));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_room_made_again_on_one_server() {
    made_again(&Setup::standalone()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_room_made_again_on_a_cluster() {
    made_again(&Setup::cluster()).await;
}

/// A room dropped and made again under its id by another client, which
/// this one hears nothing of: the next `missed` reads it with the old
/// epoch, and starts it with the reset; so does the catch-up of a listener
/// given the old epoch.
async fn made_again(setup: &Setup) {
    let chat = setup.chat().await;
    let other = setup.chat().await;
    let users = setup.spread("again", 2);
    let (alice, bob) = (&users[0], &users[1]);
    let room = &setup.spread("remade", 3)[2];
    for user in &users {
        chat.register(user, "U", None).await.unwrap();
    }
    chat.create(room, "R").await.unwrap();
    chat.join(room, alice).await.unwrap();
    chat.join(room, bob).await.unwrap();
    for i in 1..=2 {
        chat.send(room, alice, &format!("old {i}"), 0)
            .await
            .unwrap();
    }
    assert_eq!(ids(&chat.missed(bob).await.unwrap()), [1, 2]);
    let old = chat.known_epoch(room).expect("an epoch").epoch;

    assert!(other.drop_room(room).await.unwrap());
    other.create(room, "R again").await.unwrap();
    other.join(room, alice).await.unwrap();
    other.join(room, bob).await.unwrap();
    other.send(room, alice, "new 1", 0).await.unwrap();
    let new = info_epoch(setup, room);
    assert_ne!(new, old);

    let docs = chat.missed(bob).await.unwrap();
    assert_eq!(
        docs[0],
        json!({"type": "reset", "room": room, "epoch": new, "last_id": 1})
    );
    assert_eq!(ids(&docs[1..]), [1]);
    assert_eq!(docs[1]["text"], "new 1");
    assert_eq!(chat.known_epoch(room).map(|e| e.epoch), Some(new.clone()));

    // A listener told where the app was (after 2, in the old epoch).
    let options = ListenOptions {
        refresh: None,
        start: BTreeMap::from([(room.clone(), 2)]),
        epochs: BTreeMap::from([(room.clone(), old)]),
        ..ListenOptions::default()
    };
    let mut listener = other.listen_with(bob, options).await.unwrap();
    let reset = next_doc(&mut listener).await;
    assert_eq!(
        (reset["type"].as_str(), reset["epoch"].as_str()),
        (Some("reset"), Some(new.as_str()))
    );
    assert_eq!(next_doc(&mut listener).await["text"], "new 1");
    other.send(room, alice, "new 2", 0).await.unwrap();
    assert_eq!(next_doc(&mut listener).await["id"], 2);
    assert_eq!(listener.handle().stats().resets, 1);
}
