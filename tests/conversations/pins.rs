//! Pins: CHAT.PIN, CHAT.UNPIN and CHAT.PINS, their limit, and their events.

use redis::Value;
use serde_json::json;

use crate::common::*;
use crate::{ids, message, refused, room_info, send, QUIET, WAIT};

#[test]
fn pins_list_the_most_recently_pinned_first() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    for i in 1..=4 {
        send(&mut con, "r", "alice", &format!("m{i}"), &[]);
    }
    assert_eq!(room_info(&mut con, "r", "pins"), 0);
    assert!(docs(&q(&mut con, &["CHAT.PINS", "r"])).is_empty());
    for (user, id) in [("bob", "2"), ("alice", "4"), ("bob", "1")] {
        assert_eq!(q(&mut con, &["CHAT.PIN", "r", user, id]), Value::Okay);
    }
    let pins = docs(&q(&mut con, &["CHAT.PINS", "r"]));
    assert_eq!(ids(&pins), [1, 4, 2]);
    assert_eq!(pins[0], message(&mut con, "r", 1));
    assert_eq!(room_info(&mut con, "r", "pins"), 3);
    // Pinned again: OK, one entry, and it keeps its place.
    let before = digest(&mut con);
    assert_eq!(q(&mut con, &["CHAT.PIN", "r", "alice", "2"]), Value::Okay);
    assert_eq!(digest(&mut con), before);
    assert_eq!(ids(&docs(&q(&mut con, &["CHAT.PINS", "r"]))), [1, 4, 2]);
    // Unpinned: gone; unpinning again is OK too.
    assert_eq!(q(&mut con, &["CHAT.UNPIN", "r", "bob", "4"]), Value::Okay);
    assert_eq!(q(&mut con, &["CHAT.UNPIN", "r", "bob", "4"]), Value::Okay);
    assert_eq!(q(&mut con, &["CHAT.UNPIN", "r", "bob", "3"]), Value::Okay);
    assert_eq!(ids(&docs(&q(&mut con, &["CHAT.PINS", "r"]))), [1, 2]);
    assert_eq!(room_info(&mut con, "r", "pins"), 2);
    // Pinned once more, it is the most recent.
    q(&mut con, &["CHAT.PIN", "r", "bob", "4"]);
    assert_eq!(ids(&docs(&q(&mut con, &["CHAT.PINS", "r"]))), [4, 1, 2]);
    // A pinned message shows as it is now.
    q(&mut con, &["CHAT.EDIT", "r", "alice", "4", "m4 edited"]);
    q(&mut con, &["CHAT.REACT", "r", "bob", "4", "ok"]);
    let first = &docs(&q(&mut con, &["CHAT.PINS", "r"]))[0];
    assert_eq!(first["text"], json!("m4 edited"));
    assert_eq!(first["reactions"], json!({"ok": 1}));
}

#[test]
fn a_room_holds_at_most_50_pins_and_no_tombstones() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    q(&mut con, &["CHAT.REGISTER", "eve", "E"]);
    for i in 1..=52 {
        send(&mut con, "r", "alice", &format!("m{i}"), &[]);
    }
    for i in 1..=50 {
        q(&mut con, &["CHAT.PIN", "r", "bob", &i.to_string()]);
    }
    assert_eq!(room_info(&mut con, "r", "pins"), 50);
    refused(
        &mut con,
        &["CHAT.PIN", "r", "bob", "51"],
        "ERR the room has 50 pinned messages, the most it may have: unpin one first",
    );
    // One already pinned is not a 51st.
    assert_eq!(q(&mut con, &["CHAT.PIN", "r", "bob", "50"]), Value::Okay);
    // Deleting a pinned message unpins it.
    q(&mut con, &["CHAT.DELETE", "r", "alice", "50"]);
    assert_eq!(room_info(&mut con, "r", "pins"), 49);
    let pins = ids(&docs(&q(&mut con, &["CHAT.PINS", "r"])));
    assert_eq!(pins, (1..=49).rev().collect::<Vec<i64>>());
    assert_eq!(q(&mut con, &["CHAT.PIN", "r", "bob", "51"]), Value::Okay);
    assert_eq!(room_info(&mut con, "r", "pins"), 50);

    for (args, expected) in [
        (
            &["CHAT.PIN", "r", "bob", "50"][..],
            "ERR message 50 is deleted",
        ),
        (
            &["CHAT.PIN", "r", "bob", "53"],
            "ERR no such message: 53 is not in the room's history",
        ),
        (
            &["CHAT.PIN", "r", "eve", "1"],
            "ERR user is not a member of the room",
        ),
        (
            &["CHAT.UNPIN", "r", "eve", "1"],
            "ERR user is not a member of the room",
        ),
        (&["CHAT.PIN", "nowhere", "bob", "1"], "ERR no such room"),
        (&["CHAT.PINS", "nowhere"], "ERR no such room"),
    ] {
        refused(&mut con, args, expected);
    }
}

#[test]
fn pin_and_unpin_events_reach_the_other_online_members() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    let mut alice = Listener::exact(&server, "chat:user:{alice}:push");
    let mut bob = Listener::exact(&server, "chat:user:{bob}:push");
    send(&mut con, "r", "alice", "hello", &[]);
    q(&mut con, &["CHAT.ONLINE", "alice"]);
    q(&mut con, &["CHAT.ONLINE", "bob"]);

    q(&mut con, &["CHAT.PIN", "r", "bob", "1"]);
    assert_eq!(
        alice.next(WAIT).unwrap(),
        json!({"type": "pin", "room": "r", "id": 1, "user": "bob"})
    );
    // Nothing changes, nobody hears.
    q(&mut con, &["CHAT.PIN", "r", "bob", "1"]);
    q(&mut con, &["CHAT.UNPIN", "r", "bob", "1"]);
    assert_eq!(
        alice.next(WAIT).unwrap(),
        json!({"type": "unpin", "room": "r", "id": 1, "user": "bob"})
    );
    q(&mut con, &["CHAT.UNPIN", "r", "bob", "1"]);
    assert!(alice.next(QUIET).is_none());
    assert!(bob.next(QUIET).is_none(), "the actor is not told");
}
