//! A replica promoted after it missed acknowledged sends: the primary
//! acknowledged ids the replica never got, so the promoted replica hands
//! the same ids out again for other messages. Each room written after the
//! promotion gets a new epoch, announced once to its listeners, and a
//! client holding the old epoch gets a reset instead of a silent skip.

use std::time::Duration;

use crate::common::*;
use crate::{assert_reset, catch_up, epoch_of, last_id_of};

#[test]
fn a_replica_promoted_after_missing_acknowledged_sends_gives_written_rooms_new_epochs() {
    let mut primary = Server::start();
    let replica = start_replica(&primary, true);
    let mut con = primary.conn();
    room_with(&mut con, "busy", &["alice", "bob"]);
    room_with(&mut con, "quiet", &["alice", "bob"]);
    // bob is online, so that his messages and events go to his push channel.
    q(&mut con, &["CHAT.ONLINE", "bob", "TTL", "600"]);
    for i in 1..=5 {
        q(
            &mut con,
            &["CHAT.SEND", "busy", "alice", &format!("kept {i}")],
        );
        q(
            &mut con,
            &["CHAT.SEND", "quiet", "alice", &format!("kept {i}")],
        );
    }
    wait_for_replicas(&mut con, 1);
    let old_busy = epoch_of(&mut con, "busy");
    let old_quiet = epoch_of(&mut con, "quiet");
    let mut replica_con = replica.conn();
    assert_eq!(epoch_of(&mut replica_con, "busy"), old_busy);

    // The replica stops, and its link breaks (closed by the primary, so that
    // what follows cannot wait in the replica's socket buffer either); the
    // primary acknowledges three more sends to each room, which a client
    // sees (bob's last id: 8), then dies.
    signal(replica.pid(), "-STOP");
    q(&mut con, &["CLIENT", "KILL", "TYPE", "replica"]);
    for i in 6..=8 {
        let id = q(
            &mut con,
            &["CHAT.SEND", "busy", "alice", &format!("lost {i}")],
        );
        assert_eq!(int(&id), i);
        q(
            &mut con,
            &["CHAT.SEND", "quiet", "alice", &format!("lost {i}")],
        );
    }
    primary.kill();
    signal(replica.pid(), "-CONT");

    let mut bob = Listener::exact(&replica, "chat:user:{bob}:push");
    assert_eq!(
        q(&mut replica_con, &["REPLICAOF", "NO", "ONE"]),
        redis::Value::Okay
    );
    assert_eq!(
        last_id_of(&mut replica_con, "busy"),
        5,
        "the replica missed 6..8"
    );

    // The first send after the promotion reuses id 6, under a new epoch.
    let id = q(&mut replica_con, &["CHAT.SEND", "busy", "alice", "new 6"]);
    assert_eq!(int(&id), 6);
    let new_busy = epoch_of(&mut replica_con, "busy");
    assert_ne!(
        new_busy, old_busy,
        "a written room keeps its epoch after a promotion"
    );
    assert_eq!(
        bob.next(Duration::from_secs(5)),
        Some(serde_json::json!({
            "type": "reset", "room": "busy", "epoch": new_busy, "last_id": 5
        })),
        "the listeners are told once, before the first new message"
    );
    let message = bob.next(Duration::from_secs(5)).expect("the new message");
    assert_eq!(
        (message["type"].as_str(), message["id"].as_i64()),
        (Some("message"), Some(6))
    );

    // A second send: same epoch, no second reset.
    q(&mut replica_con, &["CHAT.SEND", "busy", "alice", "new 7"]);
    assert_eq!(epoch_of(&mut replica_con, "busy"), new_busy);
    let message = bob.next(Duration::from_secs(5)).expect("the next message");
    assert_eq!(message["id"].as_i64(), Some(7), "{message}");

    // bob reconnects holding (old epoch, 8): a reset, then the newest
    // messages, where AFTER 8 alone would have skipped the new 6 and 7.
    let page = catch_up(&mut replica_con, "busy", 8, &old_busy);
    let messages = assert_reset(&mut replica_con, "busy", &page, "busy after the promotion");
    let texts: Vec<&str> = messages.iter().filter_map(|m| m["text"].as_str()).collect();
    assert_eq!(
        texts,
        ["kept 1", "kept 2", "kept 3", "kept 4", "kept 5", "new 6", "new 7"]
    );
    // Holding the new epoch, catching up is as before.
    let page = catch_up(&mut replica_con, "busy", 6, &new_busy);
    assert_eq!(page.len(), 1);
    assert_eq!(page[0]["text"], "new 7");

    // A room not written since keeps its epoch (nothing was reused yet),
    // but a client beyond its last id is told all the same.
    assert_eq!(epoch_of(&mut replica_con, "quiet"), old_quiet);
    let page = catch_up(&mut replica_con, "quiet", 8, &old_quiet);
    assert_reset(
        &mut replica_con,
        "quiet",
        &page,
        "quiet, 8 beyond its last id 5",
    );
    // Its first write gives it a new epoch too.
    q(&mut replica_con, &["CHAT.SEND", "quiet", "alice", "new 6"]);
    assert_ne!(epoch_of(&mut replica_con, "quiet"), old_quiet);
    let page = catch_up(&mut replica_con, "quiet", 5, &old_quiet);
    assert_reset(
        &mut replica_con,
        "quiet",
        &page,
        "quiet after its first write",
    );

    let log = replica.log();
    assert!(
        log.contains("promoted to primary"),
        "the log says why:\n{log}"
    );
    assert!(log_problems(&log).is_empty(), "{log}");
    assert_eq!(
        info_int(&mut replica_con, "chat_stats", "chat_epoch_changes"),
        2
    );
}

#[test]
fn the_new_epochs_replicate_exactly_to_the_new_primarys_replicas() {
    let mut primary = Server::start();
    let replica = start_replica(&primary, true);
    let mut con = primary.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    q(&mut con, &["CHAT.SEND", "r", "alice", "one"]);
    wait_for_replicas(&mut con, 1);
    let old = epoch_of(&mut con, "r");
    primary.kill();

    let mut promoted = replica.conn();
    q(&mut promoted, &["REPLICAOF", "NO", "ONE"]);
    // Its replicas sync at once, instead of after the default 5 s.
    q(
        &mut promoted,
        &["CONFIG", "SET", "repl-diskless-sync-delay", "0"],
    );
    // A replica of the new primary, attached before and after the change.
    let early = start_replica(&replica, true);
    q(&mut promoted, &["CHAT.SEND", "r", "alice", "two"]);
    let late = start_replica(&replica, true);
    q(&mut promoted, &["CHAT.SEND", "r", "alice", "three"]);
    wait_for_replicas(&mut promoted, 2);
    let new = epoch_of(&mut promoted, "r");
    assert_ne!(new, old);
    for (name, server) in [("early", &early), ("late", &late)] {
        let mut c = server.conn();
        assert_eq!(epoch_of(&mut c, "r"), new, "{name} replica");
        assert_same_data(&mut promoted, &mut c, name);
        assert_eq!(
            info_field(&mut c, "chat_server", "chat_generation"),
            info_field(&mut promoted, "chat_server", "chat_generation"),
            "{name} replica: the generation the epochs hold under"
        );
    }
    // A replica promoted in turn, having missed nothing, still draws a new
    // generation: it cannot know that it missed nothing.
    let mut early_con = early.conn();
    q(&mut early_con, &["REPLICAOF", "NO", "ONE"]);
    q(&mut early_con, &["CHAT.SEND", "r", "alice", "four"]);
    assert_ne!(epoch_of(&mut early_con, "r"), new);
}
