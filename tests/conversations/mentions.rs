//! Mentions: in the message, counted per room until read, and how a
//! mentioned member hears of them.

use serde_json::json;

use crate::common::*;
use crate::{counts, mentions, message, raw_history, refused, room_info, send, QUIET, WAIT};

#[test]
fn mentions_are_in_the_document_once_each_in_the_order_given() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob", "carol"]);
    let mut bob = Listener::exact(&server, "chat:user:{bob}:push");
    q(&mut con, &["CHAT.ONLINE", "bob"]);
    let id = send(
        &mut con,
        "r",
        "alice",
        "@carol @bob",
        &[
            "MENTION", "carol", "MENTION", "bob", "MENTION", "carol", "MENTION", "bob",
        ],
    );
    let doc = message(&mut con, "r", id);
    let ts = doc["ts"].as_i64().unwrap();
    assert_eq!(
        doc,
        json!({"type": "message", "room": "r", "id": 1, "sender": "alice", "text": "@carol @bob", "ts": ts, "mentions": ["carol", "bob"]})
    );
    assert_eq!(bob.next(WAIT).unwrap(), doc, "the live push has them");
    let copy = &docs(&q(&mut con, &["CHAT.FETCH", "carol"]))[0];
    assert_eq!(copy["mentions"], json!(["carol", "bob"]), "so has the copy");
    // A reply with mentions has both, reply_to first.
    send(
        &mut con,
        "r",
        "bob",
        "ok",
        &["MENTION", "alice", "REPLY", "1"],
    );
    let ts = message(&mut con, "r", 2)["ts"].as_i64().unwrap();
    assert_eq!(
        raw_history(&mut con, "r", 2),
        format!(
            r#"{{"type":"message","room":"r","id":2,"sender":"bob","text":"ok","ts":{ts},"reply_to":1,"mentions":["alice"]}}"#
        )
    );
}

#[test]
fn mentioning_a_non_member_or_more_than_50_is_refused_and_writes_nothing() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    q(&mut con, &["CHAT.REGISTER", "eve", "E"]);
    send(&mut con, "r", "alice", "first", &[]);
    for (mention, expected) in [
        ("eve", "ERR cannot mention 'eve': not a member of the room"),
        (
            "nobody",
            "ERR cannot mention 'nobody': not a member of the room",
        ),
    ] {
        refused(
            &mut con,
            &[
                "CHAT.SEND",
                "r",
                "alice",
                "hi",
                "DEDUP",
                "k",
                "MENTION",
                "bob",
                "MENTION",
                mention,
            ],
            expected,
        );
    }
    let mut many = vec!["CHAT.SEND", "r", "alice", "hi all", "DEDUP", "k"];
    for _ in 0..51 {
        many.extend(["MENTION", "bob"]);
    }
    refused(&mut con, &many, "ERR at most 50 MENTIONs in one message");
    assert_eq!(room_info(&mut con, "r", "last_id"), 1);
    assert!(mentions(&mut con, "bob").is_empty());
    assert_eq!(dump(&mut con, "r")["dedup"], json!([]));
    // Fifty are fine, and fold into one.
    many.truncate(many.len() - 2);
    assert_eq!(int(&q(&mut con, &many)), 2);
    assert_eq!(message(&mut con, "r", 2)["mentions"], json!(["bob"]));
    assert_eq!(mentions(&mut con, "bob"), [("r".to_string(), 1)]);
}

#[test]
fn mentions_count_per_room_until_the_cursor_passes_them() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "a", &["alice", "bob", "carol"]);
    room_with(&mut con, "b", &["alice", "bob"]);
    room_with(&mut con, "c", &["alice", "bob"]);
    send(&mut con, "a", "alice", "@bob", &["MENTION", "bob"]);
    send(&mut con, "a", "alice", "nobody", &[]);
    send(
        &mut con,
        "a",
        "alice",
        "@bob @carol",
        &["MENTION", "bob", "MENTION", "carol"],
    );
    send(&mut con, "b", "alice", "@bob", &["MENTION", "bob"]);
    send(&mut con, "c", "alice", "no mention here", &[]);

    assert_eq!(
        mentions(&mut con, "bob"),
        [("a".to_string(), 2), ("b".to_string(), 1)]
    );
    assert_eq!(mentions(&mut con, "carol"), [("a".to_string(), 1)]);
    assert!(mentions(&mut con, "alice").is_empty());
    assert_eq!(
        counts(&q(&mut con, &["CHAT.CURSOR", "a", "bob"])),
        [
            ("cursor".to_string(), 0),
            ("last_id".to_string(), 3),
            ("unread".to_string(), 3),
            ("mentions".to_string(), 2)
        ]
    );

    q(&mut con, &["CHAT.READ", "a", "bob", "1"]);
    assert_eq!(
        mentions(&mut con, "bob"),
        [("a".to_string(), 1), ("b".to_string(), 1)]
    );
    q(&mut con, &["CHAT.READ", "a", "bob", "2"]);
    assert_eq!(
        int(&field(
            &q(&mut con, &["CHAT.CURSOR", "a", "bob"]),
            "mentions"
        )),
        1
    );
    q(&mut con, &["CHAT.READ", "a", "bob", "3"]);
    assert_eq!(mentions(&mut con, "bob"), [("b".to_string(), 1)]);
    assert_eq!(
        int(&field(
            &q(&mut con, &["CHAT.CURSOR", "a", "bob"]),
            "mentions"
        )),
        0
    );
    // carol has not read: hers is still there.
    assert_eq!(mentions(&mut con, "carol"), [("a".to_string(), 1)]);

    assert_eq!(
        err(&mut con, &["CHAT.MENTIONS", "nobody"]),
        "ERR no such user"
    );
    q(&mut con, &["CHAT.REGISTER", "eve", "E"]);
    assert!(mentions(&mut con, "eve").is_empty());
    assert_eq!(
        err(&mut con, &["CHAT.CURSOR", "a", "eve"]),
        "ERR user is not a member of the room"
    );
}

#[test]
fn sending_in_the_room_clears_the_senders_mentions() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "a", &["alice", "bob"]);
    room_with(&mut con, "b", &["alice", "bob"]);
    send(&mut con, "a", "alice", "@bob", &["MENTION", "bob"]);
    send(&mut con, "b", "alice", "@bob", &["MENTION", "bob"]);
    assert_eq!(
        mentions(&mut con, "bob"),
        [("a".to_string(), 1), ("b".to_string(), 1)]
    );
    // A send that itself replies...
    send(&mut con, "a", "bob", "yes?", &["REPLY", "1"]);
    assert_eq!(mentions(&mut con, "bob"), [("b".to_string(), 1)]);
    // ...and a plain one.
    send(&mut con, "b", "bob", "yes?", &[]);
    assert_eq!(
        counts(&q(&mut con, &["CHAT.CURSOR", "b", "bob"])),
        [
            ("cursor".to_string(), 2),
            ("last_id".to_string(), 2),
            ("unread".to_string(), 0),
            ("mentions".to_string(), 0)
        ]
    );
    assert!(mentions(&mut con, "bob").is_empty());
}

#[test]
fn leaving_the_room_or_deleting_the_message_clears_mentions() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob", "carol"]);
    send(
        &mut con,
        "r",
        "alice",
        "@bob @carol",
        &["MENTION", "bob", "MENTION", "carol"],
    );
    send(&mut con, "r", "alice", "@bob again", &["MENTION", "bob"]);
    assert_eq!(mentions(&mut con, "carol"), [("r".to_string(), 1)]);
    assert_eq!(mentions(&mut con, "bob"), [("r".to_string(), 2)]);

    assert_eq!(int(&q(&mut con, &["CHAT.UNSUBSCRIBE", "r", "carol"])), 1);
    assert!(mentions(&mut con, "carol").is_empty());
    // Back in the room, from its last message on: nothing to see.
    q(&mut con, &["CHAT.SUBSCRIBE", "r", "carol"]);
    assert!(mentions(&mut con, "carol").is_empty());

    q(&mut con, &["CHAT.DELETE", "r", "alice", "2"]);
    assert_eq!(mentions(&mut con, "bob"), [("r".to_string(), 1)]);
    let tombstone = message(&mut con, "r", 2);
    assert!(tombstone.get("mentions").is_none(), "{tombstone}");
    q(&mut con, &["CHAT.DELETE", "r", "alice", "1"]);
    assert!(mentions(&mut con, "bob").is_empty());
    assert_eq!(
        int(&field(
            &q(&mut con, &["CHAT.CURSOR", "r", "bob"]),
            "mentions"
        )),
        0
    );
}

#[test]
fn a_mentioned_member_of_a_broadcast_room_hears_of_it_on_their_own_channel() {
    let server = Server::start();
    let mut con = server.conn();
    q(&mut con, &["CONFIG", "SET", "chat.fanout-max-members", "2"]);
    room_with(&mut con, "big", &["alice", "bob", "carol"]);
    assert_eq!(
        text(&field(&q(&mut con, &["CHAT.INFO", "big"]), "mode")),
        "broadcast"
    );
    let channels = strings(&q(&mut con, &["CHAT.CHANNELS", "bob"]));
    assert_eq!(
        channels,
        ["SUBSCRIBE", "chat:user:{bob}:push", "chat:room:{big}:push"]
    );
    let mut bob = Listener::exact(&server, &channels[1]);
    let mut carol = Listener::exact(&server, "chat:user:{carol}:push");
    let mut alice = Listener::exact(&server, "chat:user:{alice}:push");
    let mut room = Listener::exact(&server, &channels[2]);
    q(&mut con, &["CHAT.ONLINE", "bob"]);
    q(&mut con, &["CHAT.ONLINE", "alice"]);
    // carol listens but is offline.

    let id = send(
        &mut con,
        "big",
        "alice",
        "hi @bob @carol",
        &["MENTION", "bob", "MENTION", "carol", "MENTION", "alice"],
    );
    assert_eq!(
        bob.next(WAIT).unwrap(),
        json!({"type": "mention", "room": "big", "id": id, "sender": "alice", "text": "hi @bob @carol"})
    );
    let doc = room.next(WAIT).unwrap();
    assert_eq!(doc["type"], json!("message"));
    assert_eq!(doc["mentions"], json!(["bob", "carol", "alice"]));
    assert!(bob.next(QUIET).is_none(), "one event, not the message");
    assert!(carol.next(QUIET).is_none(), "offline members hear nothing");
    assert!(
        alice.next(QUIET).is_none(),
        "not the sender, even mentioned"
    );
    assert!(room.next(QUIET).is_none());
    // Offline, carol counts it.
    assert_eq!(mentions(&mut con, "carol"), [("big".to_string(), 1)]);
}

#[test]
fn a_mentioned_member_of_a_fanout_room_gets_the_message_alone() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    let mut bob = Listener::exact(&server, "chat:user:{bob}:push");
    q(&mut con, &["CHAT.ONLINE", "bob"]);
    send(&mut con, "r", "alice", "@bob", &["MENTION", "bob"]);
    let got = bob.next(WAIT).unwrap();
    assert_eq!(got["type"], json!("message"));
    assert_eq!(got["mentions"], json!(["bob"]));
    assert!(bob.next(QUIET).is_none(), "no mention event in fan-out");
    assert_eq!(mentions(&mut con, "bob"), [("r".to_string(), 1)]);
}
