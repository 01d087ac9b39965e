//! Direct rooms, dropping rooms, unregistering users, and messages retired
//! by age.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::*;
use redis::Value;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(2);

#[test]
fn a_pair_has_one_direct_room() {
    let server = Server::start();
    let mut con = server.conn();
    for u in ["alice", "bob", "carol"] {
        q(&mut con, &["CHAT.REGISTER", u, u]);
    }
    let ab = text(&q(&mut con, &["CHAT.DM", "alice", "bob"]));
    assert_eq!(ab, "dm:5:alice:bob");
    assert_eq!(text(&q(&mut con, &["CHAT.DM", "bob", "alice"])), ab);
    assert_ne!(text(&q(&mut con, &["CHAT.DM", "alice", "carol"])), ab);
    assert_eq!(
        strings(&q(&mut con, &["CHAT.MEMBERS", &ab])),
        ["alice", "bob"]
    );
    assert_eq!(strings(&q(&mut con, &["CHAT.ROOMS", "bob"])), [ab.as_str()]);
    assert_eq!(int(&q(&mut con, &["CHAT.SEND", &ab, "alice", "psst"])), 1);
    assert_eq!(
        docs(&q(&mut con, &["CHAT.FETCH", "bob"]))[0]["room"],
        json!(ab)
    );
    // Only CHAT.DM makes direct rooms and adds their members.
    assert_eq!(
        err(&mut con, &["CHAT.CREATE", "dm:5:alice:carol", "t"]),
        "ERR room ids starting with 'dm:' are kept for direct rooms; use CHAT.DM"
    );
    assert_eq!(
        err(&mut con, &["CHAT.SUBSCRIBE", &ab, "carol"]),
        "ERR a direct room has only its two users; use CHAT.DM"
    );
    assert_eq!(
        text(&q(&mut con, &["CHAT.SUBSCRIBE", &ab, "bob"])),
        "chat:user:{bob}:push"
    );
    // One who left is back in the pair's room at the next CHAT.DM.
    assert_eq!(int(&q(&mut con, &["CHAT.UNSUBSCRIBE", &ab, "bob"])), 1);
    assert_eq!(text(&q(&mut con, &["CHAT.DM", "alice", "bob"])), ab);
    assert_eq!(
        strings(&q(&mut con, &["CHAT.MEMBERS", &ab])),
        ["alice", "bob"]
    );
    assert_eq!(
        field(&q(&mut con, &["CHAT.INFO", &ab]), "title"),
        Value::BulkString(b"alice, bob".to_vec())
    );
    assert_eq!(
        err(&mut con, &["CHAT.DM", "alice", "alice"]),
        "ERR a direct room needs two different users"
    );
    assert_eq!(
        err(&mut con, &["CHAT.DM", "alice", "nobody"]),
        "ERR no such user"
    );
}

#[test]
fn dropping_a_room_removes_it_everywhere_and_tells_the_members() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    room_with(&mut con, "keep", &["alice"]);
    q(&mut con, &["CHAT.SEND", "r", "alice", "hi"]);
    q(&mut con, &["CHAT.EDIT", "r", "alice", "1", "hi!"]);
    let mut bob = Listener::exact(&server, "chat:user:{bob}:push");
    q(&mut con, &["CHAT.ONLINE", "bob"]);

    assert_eq!(q(&mut con, &["CHAT.DROP", "r"]), Value::Okay);
    assert_eq!(
        bob.next(WAIT).unwrap(),
        json!({"type": "dropped", "room": "r"})
    );
    assert_eq!(q(&mut con, &["CHAT.INFO", "r"]), Value::Nil);
    assert_eq!(strings(&q(&mut con, &["CHAT.ROOMS", "alice"])), ["keep"]);
    assert!(strings(&q(&mut con, &["CHAT.ROOMS", "bob"])).is_empty());
    // The room was one key, and it is gone; the other keys stay.
    assert_eq!(int(&q(&mut con, &["EXISTS", "r"])), 0);
    assert_eq!(int(&q(&mut con, &["EXISTS", "keep", "alice", "bob"])), 3);
    assert_eq!(err(&mut con, &["CHAT.DROP", "r"]), "ERR no such room");
    // The id can be used again, from scratch.
    room_with(&mut con, "r", &["alice"]);
    assert_eq!(int(&q(&mut con, &["CHAT.SEND", "r", "alice", "again"])), 1);
}

#[test]
fn unregistering_removes_the_user_but_not_what_they_said() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    room_with(&mut con, "s", &["bob"]);
    q(&mut con, &["CHAT.SEND", "r", "bob", "bye all"]);
    q(&mut con, &["CHAT.SEND", "r", "alice", "see you"]);
    q(&mut con, &["CHAT.ONLINE", "bob"]);

    assert_eq!(q(&mut con, &["CHAT.UNREGISTER", "bob"]), Value::Okay);
    assert_eq!(q(&mut con, &["CHAT.PROFILE", "bob"]), Value::Nil);
    assert_eq!(strings(&q(&mut con, &["CHAT.MEMBERS", "r"])), ["alice"]);
    assert!(strings(&q(&mut con, &["CHAT.MEMBERS", "s"])).is_empty());
    // The user was one key, with their presence and inbox, and it is gone.
    assert_eq!(int(&q(&mut con, &["EXISTS", "bob"])), 0);
    assert_eq!(int(&q(&mut con, &["EXISTS", "alice", "r", "s"])), 3);
    let history = docs(&q(&mut con, &["CHAT.HISTORY", "r"]));
    assert_eq!(history[0]["sender"], json!("bob"));
    assert_eq!(history[0]["text"], json!("bye all"));
    assert_eq!(
        err(&mut con, &["CHAT.UNREGISTER", "bob"]),
        "ERR no such user"
    );
    assert_eq!(
        err(&mut con, &["CHAT.SEND", "r", "bob", "x"]),
        "ERR no such user"
    );
    // The name is free again.
    q(&mut con, &["CHAT.REGISTER", "bob", "Another Bob"]);
}

#[test]
fn old_messages_leave_the_history_on_send_and_in_quiet_rooms() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "busy", &["alice"]);
    room_with(&mut con, "quiet", &["alice"]);
    for room in ["busy", "quiet"] {
        q(&mut con, &["CHAT.SEND", room, "alice", "old"]);
        q(&mut con, &["CHAT.EDIT", room, "alice", "1", "old, edited"]);
    }
    q(&mut con, &["CONFIG", "SET", "chat.history-max-age", "1"]);
    thread::sleep(Duration::from_millis(1100));

    // A send retires what is older than the limit.
    q(&mut con, &["CHAT.SEND", "busy", "alice", "new"]);
    let busy: Vec<i64> = docs(&q(&mut con, &["CHAT.HISTORY", "busy"]))
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    assert_eq!(busy, [2]);
    assert_eq!(
        dump(&mut con, "busy")["messages"].as_array().unwrap().len(),
        1
    );

    // A room nobody writes to is swept by the timer, within seconds.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !docs(&q(&mut con, &["CHAT.HISTORY", "quiet"])).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the quiet room kept its old message"
        );
        thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(dump(&mut con, "quiet")["first_id"], json!(null));
    // Ids go on where they were.
    assert_eq!(
        int(&q(&mut con, &["CHAT.SEND", "quiet", "alice", "next"])),
        2
    );
    assert_eq!(
        int(&field(&q(&mut con, &["CHAT.COUNTS", "quiet"]), "alice")),
        2
    );
}

#[test]
fn a_replica_follows_retirements_by_age() {
    let primary = Server::start();
    let replica = start_replica(&primary, true);
    let mut con = primary.conn();
    let mut rcon = replica.conn();
    room_with(&mut con, "quiet", &["alice"]);
    for i in 0..5 {
        q(&mut con, &["CHAT.SEND", "quiet", "alice", &format!("m{i}")]);
    }
    q(&mut con, &["CONFIG", "SET", "chat.history-max-age", "1"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !docs(&q(&mut con, &["CHAT.HISTORY", "quiet"])).is_empty() {
        assert!(Instant::now() < deadline, "the sweep never ran");
        thread::sleep(Duration::from_millis(200));
    }
    wait_for_replicas(&mut con, 1);
    assert_eq!(digest(&mut rcon), digest(&mut con));
}

/// While writes are paused (CLIENT PAUSE WRITE, a failover), the age sweep
/// writes nothing; it catches up once they resume.
#[test]
fn the_age_sweep_waits_while_writes_are_paused() {
    let mut server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "quiet", &["alice"]);
    q(&mut con, &["CHAT.SEND", "quiet", "alice", "old"]);
    q(&mut con, &["CLIENT", "PAUSE", "5000", "WRITE"]);
    q(&mut con, &["CONFIG", "SET", "chat.history-max-age", "1"]);
    thread::sleep(Duration::from_millis(2000));
    assert!(server.is_running(), "{}", server.log());
    assert_eq!(docs(&q(&mut con, &["CHAT.HISTORY", "quiet"])).len(), 1);
    q(&mut con, &["CLIENT", "UNPAUSE"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !docs(&q(&mut con, &["CHAT.HISTORY", "quiet"])).is_empty() {
        assert!(Instant::now() < deadline, "the sweep never resumed");
        thread::sleep(Duration::from_millis(100));
    }
}
