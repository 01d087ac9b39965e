//! Replies and threads: what a reply and its root show, CHAT.THREAD and
//! its pages, and threads whose messages were deleted.

use redis::Connection;
use serde_json::{json, Value as Json};

use crate::common::*;
use crate::{ids, message, refused, room_info, send, WAIT};

fn thread(con: &mut Connection, args: &[&str]) -> Vec<Json> {
    let mut full = vec!["CHAT.THREAD"];
    full.extend(args);
    docs(&q(con, &full))
}

#[test]
fn a_reply_names_its_root_and_the_root_counts_its_replies() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob", "carol"]);
    let mut carol = Listener::exact(&server, "chat:user:{carol}:push");
    q(&mut con, &["CHAT.ONLINE", "carol"]);
    assert_eq!(send(&mut con, "r", "alice", "question?", &[]), 1);
    assert_eq!(carol.next(WAIT).unwrap()["id"], json!(1));
    assert_eq!(send(&mut con, "r", "bob", "answer", &["REPLY", "1"]), 2);
    let reply = message(&mut con, "r", 2);
    let ts = reply["ts"].as_i64().unwrap();
    assert_eq!(
        reply,
        json!({"type": "message", "room": "r", "id": 2, "sender": "bob", "text": "answer", "ts": ts, "reply_to": 1})
    );
    // The live push carries reply_to as sent.
    assert_eq!(carol.next(WAIT).unwrap(), reply);

    q(&mut con, &["CHAT.OFFLINE", "carol"]);
    assert_eq!(send(&mut con, "r", "alice", "unrelated", &[]), 3);
    assert_eq!(send(&mut con, "r", "bob", "me too", &["REPLY", "1"]), 4);
    // So does the inbox copy of a member who was away.
    let copy = &docs(&q(&mut con, &["CHAT.FETCH", "carol"]))[1];
    assert_eq!(copy["id"], json!(4));
    assert_eq!(copy["reply_to"], json!(1));
    let root_copy = docs(&q(&mut con, &["CHAT.FETCH", "bob"]))
        .into_iter()
        .find(|d| d["id"] == json!(1))
        .unwrap();
    assert!(
        root_copy.get("replies").is_none() && root_copy.get("last_reply").is_none(),
        "an inbox copy does not follow the thread: {root_copy}"
    );

    // The root shows how many replies it has and the last one, everywhere
    // it is read.
    let root = message(&mut con, "r", 1);
    let ts = root["ts"].as_i64().unwrap();
    let expected = json!({"type": "message", "room": "r", "id": 1, "sender": "alice", "text": "question?", "ts": ts, "replies": 2, "last_reply": 4});
    assert_eq!(root, expected);
    assert_eq!(thread(&mut con, &["r", "1"])[0], expected);
    q(&mut con, &["CHAT.PIN", "r", "bob", "1"]);
    assert_eq!(docs(&q(&mut con, &["CHAT.PINS", "r"])), [expected]);
    assert!(message(&mut con, "r", 3).get("replies").is_none());
    assert!(message(&mut con, "r", 3).get("reply_to").is_none());
}

#[test]
fn a_reply_to_a_missing_deleted_or_zero_id_is_refused_and_writes_nothing() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    send(&mut con, "r", "alice", "kept", &[]);
    send(&mut con, "r", "alice", "soon gone", &[]);
    q(&mut con, &["CHAT.DELETE", "r", "alice", "2"]);
    for (to, expected) in [
        ("3", "ERR no such message: 3 is not in the room's history"),
        ("99", "ERR no such message: 99 is not in the room's history"),
        ("2", "ERR message 2 is deleted"),
        (
            "0",
            "ERR REPLY must be an integer from 1 to 9223372036854775807, got '0'",
        ),
        (
            "-1",
            "ERR REPLY must be an integer from 1 to 9223372036854775807, got '-1'",
        ),
    ] {
        refused(
            &mut con,
            &["CHAT.SEND", "r", "bob", "re", "DEDUP", "k1", "REPLY", to],
            expected,
        );
    }
    refused(
        &mut con,
        &["CHAT.SEND", "r", "bob", "re", "REPLY"],
        "ERR syntax error",
    );
    assert_eq!(room_info(&mut con, "r", "last_id"), 2);
    assert_eq!(dump(&mut con, "r")["dedup"], json!([]));
    // The DEDUP key was not taken: it sends a new message, once.
    assert_eq!(send(&mut con, "r", "bob", "re", &["DEDUP", "k1"]), 3);
    assert_eq!(send(&mut con, "r", "bob", "re", &["DEDUP", "k1"]), 3);
    assert_eq!(
        thread(&mut con, &["r", "1"]).len(),
        1,
        "no reply was recorded"
    );
}

#[test]
fn a_retried_reply_counts_once() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    send(&mut con, "r", "alice", "root", &[]);
    let retry = ["REPLY", "1", "DEDUP", "k"];
    assert_eq!(send(&mut con, "r", "bob", "re", &retry), 2);
    assert_eq!(send(&mut con, "r", "bob", "re", &retry), 2);
    assert_eq!(ids(&thread(&mut con, &["r", "1"])), [1, 2]);
    assert_eq!(message(&mut con, "r", 1)["replies"], json!(1));
}

#[test]
fn a_thread_pages_with_after_and_count() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    send(&mut con, "r", "alice", "root", &[]);
    for i in 2..=8 {
        // Every third message is not part of the thread.
        let options: &[&str] = if i % 3 == 0 { &[] } else { &["REPLY", "1"] };
        send(&mut con, "r", "bob", &format!("m{i}"), options);
    }
    // Replies: 2, 4, 5, 7, 8.
    assert_eq!(ids(&thread(&mut con, &["r", "1"])), [1, 2, 4, 5, 7, 8]);
    assert_eq!(
        thread(&mut con, &["r", "1"])[1..],
        [2, 4, 5, 7, 8].map(|id| message(&mut con, "r", id)),
        "replies are the documents the history has"
    );
    // COUNT counts replies; the root comes on top.
    assert_eq!(ids(&thread(&mut con, &["r", "1", "COUNT", "2"])), [1, 2, 4]);
    assert_eq!(ids(&thread(&mut con, &["r", "1", "COUNT", "1"])), [1, 2]);
    // AFTER: only the replies after it, without the root.
    assert_eq!(
        ids(&thread(&mut con, &["r", "1", "AFTER", "4", "COUNT", "2"])),
        [5, 7]
    );
    assert_eq!(
        ids(&thread(&mut con, &["r", "1", "AFTER", "0"])),
        [2, 4, 5, 7, 8]
    );
    assert_eq!(
        ids(&thread(&mut con, &["r", "1", "AFTER", "3"])),
        [4, 5, 7, 8]
    );
    assert!(thread(&mut con, &["r", "1", "AFTER", "8"]).is_empty());
    assert_eq!(
        ids(&thread(&mut con, &["r", "1", "COUNT", "1000"])),
        [1, 2, 4, 5, 7, 8]
    );
    // A message without replies is a thread of its root alone; so is a reply.
    let alone = thread(&mut con, &["r", "3"]);
    assert_eq!(alone, [message(&mut con, "r", 3)]);
    assert_eq!(ids(&thread(&mut con, &["r", "2"])), [2]);
    assert!(thread(&mut con, &["r", "3", "AFTER", "0"]).is_empty());

    for (args, expected) in [
        (
            &["r", "1", "COUNT", "0"][..],
            "ERR COUNT must be an integer from 1 to 1000, got '0'",
        ),
        (
            &["r", "1", "COUNT", "1001"],
            "ERR COUNT must be an integer from 1 to 1000, got '1001'",
        ),
        (
            &["r", "1", "COUNT", "x"],
            "ERR COUNT must be an integer from 1 to 1000, got 'x'",
        ),
        (
            &["r", "9"],
            "ERR no such message: 9 is not in the room's history",
        ),
        (
            &["r", "0"],
            "ERR id must be an integer from 1 to 9223372036854775807, got '0'",
        ),
        (&["r", "1", "BEFORE", "3"], "ERR syntax error"),
        (&["nowhere", "1"], "ERR no such room"),
    ] {
        let mut full = vec!["CHAT.THREAD"];
        full.extend(args);
        assert_eq!(err(&mut con, &full), expected, "{args:?}");
    }
}

#[test]
fn a_reply_may_start_a_thread_of_its_own() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    send(&mut con, "r", "alice", "root", &[]);
    send(&mut con, "r", "bob", "reply", &["REPLY", "1"]);
    send(
        &mut con,
        "r",
        "alice",
        "reply to the reply",
        &["REPLY", "2"],
    );
    assert_eq!(ids(&thread(&mut con, &["r", "1"])), [1, 2]);
    let nested = thread(&mut con, &["r", "2"]);
    assert_eq!(ids(&nested), [2, 3]);
    assert_eq!(nested[0]["reply_to"], json!(1));
    assert_eq!(nested[0]["replies"], json!(1));
    assert_eq!(nested[0]["last_reply"], json!(3));
    assert_eq!(nested[1]["reply_to"], json!(2));
}

#[test]
fn a_deleted_root_keeps_its_replies_and_its_tombstone_counts_them() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    send(&mut con, "r", "alice", "root", &[]);
    send(&mut con, "r", "bob", "one", &["REPLY", "1"]);
    send(&mut con, "r", "bob", "two", &["REPLY", "1"]);
    q(&mut con, &["CHAT.DELETE", "r", "alice", "1"]);

    let page = thread(&mut con, &["r", "1"]);
    assert_eq!(ids(&page), [1, 2, 3]);
    let ts = page[0]["ts"].as_i64().unwrap();
    let tombstone = json!({"type": "message", "room": "r", "id": 1, "sender": "alice", "ts": ts, "deleted": true, "replies": 2, "last_reply": 3});
    assert_eq!(page[0], tombstone);
    assert_eq!(message(&mut con, "r", 1), tombstone);
    assert_eq!(page[1]["text"], json!("one"));
    assert_eq!(page[2]["reply_to"], json!(1));
    refused(
        &mut con,
        &["CHAT.SEND", "r", "bob", "late", "REPLY", "1"],
        "ERR message 1 is deleted",
    );
}

/// As implemented: the root's `replies` counts every reply ever sent, and
/// `last_reply` may name a deleted one; the thread lists the tombstone.
#[test]
fn a_deleted_reply_stays_counted_by_its_root() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    send(&mut con, "r", "alice", "root", &[]);
    send(&mut con, "r", "bob", "one", &["REPLY", "1"]);
    send(&mut con, "r", "bob", "two", &["REPLY", "1"]);
    q(&mut con, &["CHAT.DELETE", "r", "bob", "3"]);

    let root = message(&mut con, "r", 1);
    assert_eq!(root["replies"], json!(2));
    assert_eq!(root["last_reply"], json!(3));
    let page = thread(&mut con, &["r", "1"]);
    assert_eq!(ids(&page), [1, 2, 3]);
    let ts = page[2]["ts"].as_i64().unwrap();
    assert_eq!(
        page[2],
        json!({"type": "message", "room": "r", "id": 3, "sender": "bob", "ts": ts, "deleted": true, "reply_to": 1})
    );
}
