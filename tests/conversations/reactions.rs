//! Reactions: CHAT.REACT, CHAT.UNREACT and CHAT.REACTIONS, their limits,
//! how messages count them, and their events.

use redis::{Connection, Value};
use serde_json::json;

use crate::common::*;
use crate::{message, raw_history, refused, send, QUIET, WAIT};

/// `CHAT.REACTIONS room id` as (reaction, users) pairs in reply order.
fn reactions(con: &mut Connection, room: &str, id: i64) -> Vec<(String, Vec<String>)> {
    pairs(&q(con, &["CHAT.REACTIONS", room, &id.to_string()]))
        .into_iter()
        .map(|(k, v)| (k, strings(&v)))
        .collect()
}

fn by(list: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    list.iter()
        .map(|(r, users)| (r.to_string(), users.iter().map(|u| u.to_string()).collect()))
        .collect()
}

#[test]
fn react_and_unreact_reply_whether_they_changed_anything() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    send(&mut con, "r", "alice", "hello", &[]);
    let react = |con: &mut Connection, cmd: &str, r: &str| int(&q(con, &[cmd, "r", "bob", "1", r]));
    assert_eq!(react(&mut con, "CHAT.REACT", "👍"), 1);
    let before = digest(&mut con);
    assert_eq!(react(&mut con, "CHAT.REACT", "👍"), 0);
    assert_eq!(digest(&mut con), before, "a second REACT changes nothing");
    assert_eq!(react(&mut con, "CHAT.UNREACT", "👍"), 1);
    assert_eq!(react(&mut con, "CHAT.UNREACT", "👍"), 0);
    assert_eq!(react(&mut con, "CHAT.UNREACT", "never"), 0);
    assert!(reactions(&mut con, "r", 1).is_empty());
    assert!(message(&mut con, "r", 1).get("reactions").is_none());
}

#[test]
fn invalid_reactions_are_refused() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    send(&mut con, "r", "alice", "hello", &[]);
    const INVALID: &str =
        "ERR invalid reaction: use 1 to 32 bytes of UTF-8 without spaces or control characters";
    let long = "x".repeat(33);
    let long_emoji = format!("{}a", "😀".repeat(8));
    for reaction in [
        "",
        "a b",
        " ",
        "a\tb",
        "a\nb",
        "\u{7f}",
        "\u{85}",
        "\u{a0}",
        "\u{2003}",
        &long,
        &long_emoji,
    ] {
        refused(
            &mut con,
            &["CHAT.REACT", "r", "bob", "1", reaction],
            INVALID,
        );
        assert_eq!(
            err(&mut con, &["CHAT.UNREACT", "r", "bob", "1", reaction]),
            INVALID,
            "{reaction:?}"
        );
    }
    // Bytes that are not UTF-8 (a lone continuation byte, a surrogate).
    for bad in [&b"\xff"[..], b"ok\x80", b"\xed\xa0\x80"] {
        let before = digest(&mut con);
        let e = redis::cmd("CHAT.REACT")
            .arg("r")
            .arg("bob")
            .arg("1")
            .arg(bad)
            .query::<Value>(&mut con)
            .unwrap_err();
        assert_eq!(error_text(&e), INVALID, "{bad:?}");
        assert_eq!(digest(&mut con), before);
    }
    // 32 bytes is the most.
    let longest = "x".repeat(32);
    let eight = "😀".repeat(8);
    for reaction in [longest.as_str(), eight.as_str(), "+1", "a"] {
        assert_eq!(
            int(&q(&mut con, &["CHAT.REACT", "r", "bob", "1", reaction])),
            1,
            "{reaction:?}"
        );
    }
}

#[test]
fn a_message_takes_at_most_20_different_reactions() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    send(&mut con, "r", "alice", "hello", &[]);
    for i in 1..=20 {
        let r = format!("r{i}");
        assert_eq!(int(&q(&mut con, &["CHAT.REACT", "r", "bob", "1", &r])), 1);
    }
    refused(
        &mut con,
        &["CHAT.REACT", "r", "alice", "1", "r21"],
        "ERR message 1 has 20 different reactions, the most a message may have",
    );
    // One of the twenty, by someone else, is no new reaction.
    assert_eq!(
        int(&q(&mut con, &["CHAT.REACT", "r", "alice", "1", "r20"])),
        1
    );
    // Its last user takes it away: room for another.
    q(&mut con, &["CHAT.UNREACT", "r", "bob", "1", "r1"]);
    assert_eq!(
        int(&q(&mut con, &["CHAT.REACT", "r", "alice", "1", "r21"])),
        1
    );
    assert_eq!(reactions(&mut con, "r", 1).len(), 20);
    // Another message has its own twenty.
    send(&mut con, "r", "alice", "again", &[]);
    assert_eq!(
        int(&q(&mut con, &["CHAT.REACT", "r", "bob", "2", "r99"])),
        1
    );
}

#[test]
fn reactions_are_refused_for_outsiders_tombstones_and_missing_messages() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    q(&mut con, &["CHAT.REGISTER", "eve", "E"]);
    send(&mut con, "r", "alice", "hello", &[]);
    send(&mut con, "r", "alice", "gone", &[]);
    q(&mut con, &["CHAT.REACT", "r", "bob", "2", "ok"]);
    q(&mut con, &["CHAT.DELETE", "r", "alice", "2"]);
    for (args, expected) in [
        (
            &["CHAT.REACT", "r", "eve", "1", "ok"][..],
            "ERR user is not a member of the room",
        ),
        (
            &["CHAT.REACT", "r", "nobody", "1", "ok"],
            "ERR no such user",
        ),
        (
            &["CHAT.REACT", "nowhere", "bob", "1", "ok"],
            "ERR no such room",
        ),
        (
            &["CHAT.REACT", "r", "bob", "2", "ok"],
            "ERR message 2 is deleted",
        ),
        (
            &["CHAT.REACT", "r", "bob", "3", "ok"],
            "ERR no such message: 3 is not in the room's history",
        ),
        (
            &["CHAT.REACT", "r", "bob", "0", "ok"],
            "ERR id must be an integer from 1 to 9223372036854775807, got '0'",
        ),
        (
            &["CHAT.UNREACT", "r", "eve", "1", "ok"],
            "ERR user is not a member of the room",
        ),
        (
            &["CHAT.REACTIONS", "r", "3"],
            "ERR no such message: 3 is not in the room's history",
        ),
    ] {
        refused(&mut con, args, expected);
    }
    // The tombstone lost its reactions.
    assert!(reactions(&mut con, "r", 2).is_empty());
    assert!(message(&mut con, "r", 2).get("reactions").is_none());
}

#[test]
fn reactions_list_users_ascending_and_documents_count_them_in_first_given_order() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob", "carol", "dave"]);
    send(&mut con, "r", "alice", "hello", &[]);
    for (user, reaction) in [
        ("dave", "👍"),
        ("carol", "ok"),
        ("bob", "👍"),
        ("alice", "🎉"),
        ("alice", "👍"),
        ("bob", "ok"),
    ] {
        assert_eq!(
            int(&q(&mut con, &["CHAT.REACT", "r", user, "1", reaction])),
            1
        );
    }
    let doc = message(&mut con, "r", 1);
    // Parsed JSON forgets the order of fields: compare the text too.
    let raw = raw_history(&mut con, "r", 1);
    assert!(
        raw.ends_with(r#","reactions":{"👍":3,"ok":2,"🎉":1}}"#),
        "{raw}"
    );
    assert_eq!(doc["reactions"], json!({"👍": 3, "ok": 2, "🎉": 1}));
    assert_eq!(
        reactions(&mut con, "r", 1),
        by(&[
            ("👍", &["alice", "bob", "dave"]),
            ("ok", &["bob", "carol"]),
            ("🎉", &["alice"]),
        ])
    );
    // The first given goes, the rest keep their order; given again, it
    // comes last.
    q(&mut con, &["CHAT.UNREACT", "r", "alice", "1", "👍"]);
    q(&mut con, &["CHAT.UNREACT", "r", "bob", "1", "👍"]);
    q(&mut con, &["CHAT.UNREACT", "r", "dave", "1", "👍"]);
    assert_eq!(
        message(&mut con, "r", 1)["reactions"],
        json!({"ok": 2, "🎉": 1})
    );
    q(&mut con, &["CHAT.REACT", "r", "carol", "1", "👍"]);
    let raw = raw_history(&mut con, "r", 1);
    assert!(
        raw.ends_with(r#","reactions":{"ok":2,"🎉":1,"👍":1}}"#),
        "{raw}"
    );
    // A message nobody reacted to: an empty map.
    send(&mut con, "r", "alice", "quiet", &[]);
    assert!(reactions(&mut con, "r", 2).is_empty());
}

#[test]
fn reaction_events_reach_the_other_online_members_not_the_actor() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob", "carol"]);
    let mut alice = Listener::exact(&server, "chat:user:{alice}:push");
    let mut bob = Listener::exact(&server, "chat:user:{bob}:push");
    let mut carol = Listener::exact(&server, "chat:user:{carol}:push");
    send(&mut con, "r", "alice", "hello", &[]);
    q(&mut con, &["CHAT.ONLINE", "alice"]);
    q(&mut con, &["CHAT.ONLINE", "bob"]);
    // carol is offline.

    q(&mut con, &["CHAT.REACT", "r", "bob", "1", "👍"]);
    assert_eq!(
        alice.next(WAIT).unwrap(),
        json!({"type": "reaction", "room": "r", "id": 1, "user": "bob", "reaction": "👍", "added": true})
    );
    q(&mut con, &["CHAT.REACT", "r", "bob", "1", "👍"]);
    q(&mut con, &["CHAT.UNREACT", "r", "bob", "1", "👍"]);
    assert_eq!(
        alice.next(WAIT).unwrap(),
        json!({"type": "reaction", "room": "r", "id": 1, "user": "bob", "reaction": "👍", "added": false}),
        "a REACT that changed nothing tells nobody"
    );
    q(&mut con, &["CHAT.UNREACT", "r", "bob", "1", "👍"]);
    assert!(alice.next(QUIET).is_none());
    assert!(bob.next(QUIET).is_none(), "the actor is not told");
    assert!(carol.next(QUIET).is_none(), "nor an offline member");
    // No inbox copies for events.
    assert_eq!(docs(&q(&mut con, &["CHAT.FETCH", "carol"])).len(), 1);
}

#[test]
fn reaction_events_of_a_broadcast_room_go_on_its_channel() {
    let server = Server::start();
    let mut con = server.conn();
    q(&mut con, &["CONFIG", "SET", "chat.fanout-max-members", "2"]);
    room_with(&mut con, "big", &["alice", "bob", "carol"]);
    let mut room = Listener::exact(&server, "chat:room:{big}:push");
    let mut alice = Listener::exact(&server, "chat:user:{alice}:push");
    q(&mut con, &["CHAT.ONLINE", "alice"]);
    send(&mut con, "big", "alice", "hello", &[]);
    assert_eq!(room.next(WAIT).unwrap()["type"], json!("message"));
    q(&mut con, &["CHAT.REACT", "big", "bob", "1", "ok"]);
    assert_eq!(
        room.next(WAIT).unwrap(),
        json!({"type": "reaction", "room": "big", "id": 1, "user": "bob", "reaction": "ok", "added": true})
    );
    assert!(
        alice.next(QUIET).is_none(),
        "nothing on the members' channels"
    );
}

#[test]
fn a_member_who_left_keeps_their_reaction_and_a_newcomer_does_not_inherit_it() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob", "carol"]);
    send(&mut con, "r", "alice", "hello", &[]);
    q(&mut con, &["CHAT.REACT", "r", "carol", "1", "ok"]);
    q(&mut con, &["CHAT.REACT", "r", "bob", "1", "ok"]);
    assert_eq!(int(&q(&mut con, &["CHAT.UNSUBSCRIBE", "r", "carol"])), 1);
    assert_eq!(
        reactions(&mut con, "r", 1),
        by(&[("ok", &["bob", "carol"])])
    );
    // A newcomer, who may take the place carol had in the room, does not
    // take her reaction.
    room_with_more(&mut con, "r", &["dave", "erin"]);
    assert_eq!(
        reactions(&mut con, "r", 1),
        by(&[("ok", &["bob", "carol"])])
    );
    assert_eq!(
        int(&q(&mut con, &["CHAT.REACT", "r", "dave", "1", "ok"])),
        1
    );
    assert_eq!(
        int(&q(&mut con, &["CHAT.UNREACT", "r", "erin", "1", "ok"])),
        0
    );
    assert_eq!(
        reactions(&mut con, "r", 1),
        by(&[("ok", &["bob", "carol", "dave"])])
    );
    assert_eq!(message(&mut con, "r", 1)["reactions"], json!({"ok": 3}));
    // carol, no longer a member, cannot take hers back.
    refused(
        &mut con,
        &["CHAT.UNREACT", "r", "carol", "1", "ok"],
        "ERR user is not a member of the room",
    );
}

/// Registers `users` and makes them members of the existing `room`.
fn room_with_more(con: &mut Connection, room: &str, users: &[&str]) {
    for u in users {
        q(con, &["CHAT.REGISTER", u, u]);
        q(con, &["CHAT.SUBSCRIBE", room, u]);
    }
}
