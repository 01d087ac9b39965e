//! Rooms past chat.fanout-max-members broadcast: one publish on the room's
//! channel, no inbox copies; and they switch back when they shrink.

mod common;

use std::time::Duration;

use common::*;
use redis::Value;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(2);
const QUIET: Duration = Duration::from_millis(300);

#[test]
fn a_room_switches_to_broadcast_and_back() {
    let server = Server::start_with(&["fanout-max-members", "3"], &[]);
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob", "carol"]);
    q(&mut con, &["CHAT.REGISTER", "dave", "D"]);
    let mut bob = Listener::exact(&server, "chat:user:{bob}:push");
    q(&mut con, &["CHAT.ONLINE", "bob"]);
    assert_eq!(
        text(&field(&q(&mut con, &["CHAT.INFO", "r"]), "mode")),
        "fanout"
    );

    // The fourth member makes it a broadcast room. Members online hear it on
    // their own channel, with the room channel to listen to from now on.
    let reply = q(&mut con, &["CHAT.SUBSCRIBE", "r", "dave"]);
    assert_eq!(
        strings(&reply),
        ["SUBSCRIBE", "chat:user:{dave}:push", "chat:room:{r}:push"]
    );
    assert_eq!(
        bob.next(WAIT).unwrap(),
        json!({"type": "mode", "room": "r", "mode": "broadcast", "channel": "chat:room:{r}:push"})
    );
    assert_eq!(
        text(&field(&q(&mut con, &["CHAT.INFO", "r"]), "mode")),
        "broadcast"
    );
    assert_eq!(
        strings(&q(&mut con, &["CHAT.CHANNELS", "bob"])),
        ["SUBSCRIBE", "chat:user:{bob}:push", "chat:room:{r}:push"]
    );

    // A broadcast send: one publish on the room channel, no inbox copies.
    let mut room = Listener::exact(&server, "chat:room:{r}:push");
    let id = int(&q(&mut con, &["CHAT.SEND", "r", "alice", "to everybody"]));
    assert_eq!(room.next(WAIT).unwrap()["text"], json!("to everybody"));
    assert!(
        bob.next(QUIET).is_none(),
        "nothing on the members' own channels"
    );
    for user in ["bob", "carol", "dave"] {
        assert!(
            docs(&q(&mut con, &["CHAT.FETCH", user])).is_empty(),
            "{user} got an inbox copy"
        );
    }
    // Offline members catch up from their unread count and the history.
    assert_eq!(int(&field(&q(&mut con, &["CHAT.UNREAD", "carol"]), "r")), 1);
    let cursor = int(&field(
        &q(&mut con, &["CHAT.MEMBERS", "r", "WITHREAD"]),
        "carol",
    ));
    let missed = docs(&q(
        &mut con,
        &["CHAT.HISTORY", "r", "AFTER", &cursor.to_string()],
    ));
    assert_eq!(missed.len(), 1);
    assert_eq!(missed[0]["id"], json!(id));
    // Events of a broadcast room go on its channel too.
    q(&mut con, &["CHAT.TYPING", "r", "alice"]);
    assert_eq!(room.next(WAIT).unwrap()["type"], json!("typing"));

    // Back under the limit: the room channel says so, and sends fan out again.
    assert_eq!(int(&q(&mut con, &["CHAT.UNSUBSCRIBE", "r", "dave"])), 1);
    assert_eq!(
        room.next(WAIT).unwrap(),
        json!({"type": "mode", "room": "r", "mode": "fanout"})
    );
    assert_eq!(
        text(&field(&q(&mut con, &["CHAT.INFO", "r"]), "mode")),
        "fanout"
    );
    assert_eq!(
        strings(&q(&mut con, &["CHAT.CHANNELS", "bob"])),
        ["SUBSCRIBE", "chat:user:{bob}:push"]
    );
    // Bob, online, hears the leave on his own channel now.
    assert_eq!(
        bob.next(WAIT).unwrap(),
        json!({"type": "member", "room": "r", "user": "dave", "change": "leave"})
    );
    q(&mut con, &["CHAT.SEND", "r", "alice", "just us"]);
    assert_eq!(bob.next(WAIT).unwrap()["text"], json!("just us"));
    assert_eq!(docs(&q(&mut con, &["CHAT.FETCH", "carol"])).len(), 1);
    assert!(room.next(QUIET).is_none());
}

#[test]
fn a_standalone_fanout_subscribe_still_replies_the_channel_alone() {
    let server = Server::start();
    let mut con = server.conn();
    q(&mut con, &["CHAT.CREATE", "r", "R"]);
    q(&mut con, &["CHAT.REGISTER", "u", "U"]);
    assert_eq!(
        q(&mut con, &["CHAT.SUBSCRIBE", "r", "u"]),
        Value::BulkString(b"chat:user:{u}:push".to_vec())
    );
    assert_eq!(
        strings(&q(&mut con, &["CHAT.CHANNELS", "u"])),
        ["SUBSCRIBE", "chat:user:{u}:push"]
    );
}
