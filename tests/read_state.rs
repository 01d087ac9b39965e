//! Read cursors, unread counts, read receipts, typing.

mod common;

use std::time::Duration;

use common::*;
use redis::Connection;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(2);
const QUIET: Duration = Duration::from_millis(300);

fn unread(con: &mut Connection, user: &str) -> Vec<(String, i64)> {
    pairs(&q(con, &["CHAT.UNREAD", user]))
        .into_iter()
        .map(|(k, v)| (k, int(&v)))
        .collect()
}

fn cursors(con: &mut Connection, room: &str) -> Vec<(String, i64)> {
    pairs(&q(con, &["CHAT.MEMBERS", room, "WITHREAD"]))
        .into_iter()
        .map(|(k, v)| (k, int(&v)))
        .collect()
}

#[test]
fn cursors_start_at_the_last_message_and_follow_reads_and_sends() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    for i in 0..3 {
        q(&mut con, &["CHAT.SEND", "r", "alice", &format!("m{i}")]);
    }
    // Sending moves the sender's own cursor; bob has read nothing.
    assert_eq!(
        cursors(&mut con, "r"),
        [("alice".into(), 3), ("bob".into(), 0)]
    );
    assert_eq!(unread(&mut con, "bob"), [("r".into(), 3)]);
    assert!(
        unread(&mut con, "alice").is_empty(),
        "rooms without unread messages are left out"
    );

    // A member who joins later starts at the room's last id.
    q(&mut con, &["CHAT.REGISTER", "carol", "C"]);
    q(&mut con, &["CHAT.SUBSCRIBE", "r", "carol"]);
    assert_eq!(cursors(&mut con, "r")[2], ("carol".into(), 3));
    assert!(unread(&mut con, "carol").is_empty());

    // READ moves forward only, and replies the cursor in force.
    assert_eq!(int(&q(&mut con, &["CHAT.READ", "r", "bob", "2"])), 2);
    assert_eq!(int(&q(&mut con, &["CHAT.READ", "r", "bob", "1"])), 2);
    assert_eq!(unread(&mut con, "bob"), [("r".into(), 1)]);
    assert_eq!(int(&q(&mut con, &["CHAT.READ", "r", "bob", "3"])), 3);
    assert!(unread(&mut con, "bob").is_empty());

    let info = q(&mut con, &["CHAT.INFO", "r", "WITHREAD"]);
    let read: Vec<(String, i64)> = pairs(&field(&info, "read"))
        .into_iter()
        .map(|(k, v)| (k, int(&v)))
        .collect();
    assert_eq!(
        read,
        [("alice".into(), 3), ("bob".into(), 3), ("carol".into(), 3)]
    );
    assert!(pairs(&q(&mut con, &["CHAT.INFO", "r"]))
        .iter()
        .all(|(k, _)| k != "read"));
}

#[test]
fn unread_counts_every_room_of_the_user() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "a", &["u", "v"]);
    room_with(&mut con, "b", &["u", "v"]);
    room_with(&mut con, "c", &["u", "v"]);
    for (room, n) in [("a", 2), ("c", 5)] {
        for _ in 0..n {
            q(&mut con, &["CHAT.SEND", room, "v", "x"]);
        }
    }
    assert_eq!(unread(&mut con, "u"), [("a".into(), 2), ("c".into(), 5)]);
}

#[test]
fn read_refuses_what_it_cannot_do() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    q(&mut con, &["CHAT.REGISTER", "eve", "E"]);
    q(&mut con, &["CHAT.SEND", "r", "alice", "x"]);
    let before = digest(&mut con);
    for (args, expected) in [
        (
            &["CHAT.READ", "r", "bob", "2"][..],
            "ERR id 2 is after the room's last message (1)",
        ),
        (
            &["CHAT.READ", "r", "eve", "1"],
            "ERR user is not a member of the room",
        ),
        (&["CHAT.READ", "r", "nobody", "1"], "ERR no such user"),
        (&["CHAT.READ", "nowhere", "bob", "1"], "ERR no such room"),
        (
            &["CHAT.READ", "r", "bob", "-1"],
            "ERR id must be an integer from 0 to 9223372036854775807, got '-1'",
        ),
        (&["CHAT.UNREAD", "nobody"], "ERR no such user"),
        (&["CHAT.MEMBERS", "r", "WITHREADS"], "ERR syntax error"),
    ] {
        assert_eq!(err(&mut con, args), expected, "{args:?}");
    }
    assert_eq!(digest(&mut con), before);
}

#[test]
fn read_receipts_and_typing_reach_the_other_online_members() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob", "carol"]);
    let mut alice = Listener::exact(&server, "chat:user:{alice}:push");
    let mut bob = Listener::exact(&server, "chat:user:{bob}:push");
    let mut carol = Listener::exact(&server, "chat:user:{carol}:push");
    q(&mut con, &["CHAT.ONLINE", "alice"]);
    q(&mut con, &["CHAT.ONLINE", "bob"]);
    // carol is offline: events are not kept for her.
    q(&mut con, &["CHAT.SEND", "r", "alice", "hello"]);
    assert_eq!(bob.next(WAIT).unwrap()["type"], json!("message"));

    q(&mut con, &["CHAT.READ", "r", "bob", "1"]);
    assert_eq!(
        alice.next(WAIT).unwrap(),
        json!({"type": "read", "room": "r", "user": "bob", "id": 1})
    );
    // The reader's own channel hears it too, for their other devices.
    assert_eq!(
        bob.next(WAIT).unwrap(),
        json!({"type": "read", "room": "r", "user": "bob", "id": 1})
    );
    // Reading what was already read tells nobody anything.
    q(&mut con, &["CHAT.READ", "r", "bob", "1"]);
    assert!(alice.next(QUIET).is_none());
    assert!(bob.next(QUIET).is_none());

    assert_eq!(
        q(&mut con, &["CHAT.TYPING", "r", "alice"]),
        redis::Value::Okay
    );
    assert_eq!(
        bob.next(WAIT).unwrap(),
        json!({"type": "typing", "room": "r", "user": "alice"})
    );
    assert!(alice.next(QUIET).is_none());
    assert!(carol.next(QUIET).is_none(), "offline members get no events");
    // Typing stores nothing.
    let before = digest(&mut con);
    q(&mut con, &["CHAT.TYPING", "r", "alice"]);
    assert_eq!(digest(&mut con), before);
    assert_eq!(
        err(&mut con, &["CHAT.TYPING", "r", "nobody"]),
        "ERR no such user"
    );
}
