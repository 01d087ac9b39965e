//! CHAT.EDIT and CHAT.DELETE: only the author, history and inbox show the
//! change, ids stay without gaps, and online members hear about it.

mod common;

use std::time::Duration;

use common::*;
use redis::Connection;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(2);

fn history(con: &mut Connection, args: &[&str]) -> Vec<Value> {
    let mut full = vec!["CHAT.HISTORY", "r"];
    full.extend(args);
    docs(&q(con, &full))
}

#[test]
fn an_edit_shows_everywhere_and_only_the_author_may() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    let mut bob = Listener::exact(&server, "chat:user:{bob}:push");
    q(&mut con, &["CHAT.SEND", "r", "alice", "helo"]);
    q(&mut con, &["CHAT.ONLINE", "bob"]);

    let before = digest(&mut con);
    assert_eq!(
        err(&mut con, &["CHAT.EDIT", "r", "bob", "1", "mine now"]),
        "ERR only the author of a message may change it"
    );
    assert_eq!(
        err(&mut con, &["CHAT.EDIT", "r", "alice", "9", "x"]),
        "ERR no such message: 9 is not in the room's history"
    );
    assert_eq!(
        err(&mut con, &["CHAT.EDIT", "r", "alice", "1", ""]),
        "ERR message text is empty"
    );
    assert_eq!(
        err(&mut con, &["CHAT.EDIT", "r", "nobody", "1", "x"]),
        "ERR no such user"
    );
    assert_eq!(digest(&mut con), before, "refused edits write nothing");

    assert_eq!(
        q(&mut con, &["CHAT.EDIT", "r", "alice", "1", "hello"]),
        redis::Value::Okay
    );
    let event = bob.next(WAIT).unwrap();
    assert_eq!(event["type"], json!("edit"));
    assert_eq!(event["text"], json!("hello"));
    assert_eq!(event["id"], json!(1));
    let edited = event["edited"].as_i64().unwrap();

    let doc = &history(&mut con, &[])[0];
    assert_eq!(doc["text"], json!("hello"));
    assert_eq!(doc["edited"], json!(edited));
    // bob was offline when it was sent: his inbox copy shows the edit too.
    let copy = &docs(&q(&mut con, &["CHAT.FETCH", "bob"]))[0];
    assert_eq!(copy["text"], json!("hello"));
    assert_eq!(copy["edited"], json!(edited));
    // An edit is not a send.
    assert_eq!(int(&field(&q(&mut con, &["CHAT.COUNTS", "r"]), "alice")), 1);
    assert_eq!(int(&field(&q(&mut con, &["CHAT.INFO", "r"]), "last_id")), 1);
}

#[test]
fn a_deletion_leaves_a_tombstone_and_no_gap() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    for i in 1..=5 {
        q(
            &mut con,
            &[
                "CHAT.SEND",
                "r",
                if i == 3 { "bob" } else { "alice" },
                &format!("m{i}"),
            ],
        );
    }
    let mut alice = Listener::exact(&server, "chat:user:{alice}:push");
    q(&mut con, &["CHAT.ONLINE", "alice"]);
    assert_eq!(
        err(&mut con, &["CHAT.DELETE", "r", "alice", "3"]),
        "ERR only the author of a message may change it"
    );
    for (who, id) in [("bob", "3"), ("alice", "1"), ("alice", "5")] {
        assert_eq!(
            q(&mut con, &["CHAT.DELETE", "r", who, id]),
            redis::Value::Okay
        );
    }
    assert_eq!(
        alice.next(WAIT).unwrap(),
        json!({"type": "delete", "room": "r", "id": 3, "sender": "bob"})
    );
    assert_eq!(
        err(&mut con, &["CHAT.DELETE", "r", "alice", "1"]),
        "ERR no such message: 1 is not in the room's history"
    );
    assert_eq!(
        err(&mut con, &["CHAT.EDIT", "r", "alice", "5", "x"]),
        "ERR no such message: 5 is not in the room's history"
    );

    // Every id is there, in order; deleted ones are tombstones without text.
    let page = history(&mut con, &[]);
    let ids: Vec<i64> = page.iter().map(|d| d["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    for d in &page {
        let deleted = [1, 3, 5].contains(&d["id"].as_i64().unwrap());
        assert_eq!(d.get("deleted").is_some(), deleted, "{d}");
        assert_eq!(d.get("text").is_none(), deleted, "{d}");
        assert_eq!(d["type"], json!("message"));
    }
    assert_eq!(page[2]["sender"], json!("bob"));
    assert!(page[2]["ts"].as_i64().unwrap() > 0);
    // The text is gone from Redis, not only hidden: the room's serialized
    // value (what the RDB and DUMP hold) and its inbox copies lack it.
    // (Uncompressed, so that the bytes can be searched.)
    q(&mut con, &["CONFIG", "SET", "rdbcompression", "no"]);
    for key in ["r", "bob"] {
        let redis::Value::BulkString(raw) = q(&mut con, &["DUMP", key]) else {
            panic!("DUMP {key}")
        };
        // A text is kept as its length and its bytes.
        let has = |t: &str| {
            let kept = [&[t.len() as u8][..], t.as_bytes()].concat();
            raw.windows(kept.len()).any(|w| w == kept)
        };
        assert!(has("m2") && has("m4"), "{key}");
        assert!(!has("m1") && !has("m3") && !has("m5"), "{key}");
    }

    // Pages count tombstones like messages, whichever way they are read.
    let ids = |v: Vec<Value>| {
        v.iter()
            .map(|d| d["id"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(history(&mut con, &["COUNT", "2"])), [4, 5]);
    assert_eq!(
        ids(history(&mut con, &["BEFORE", "4", "COUNT", "2"])),
        [2, 3]
    );
    assert_eq!(ids(history(&mut con, &["BEFORE", "3"])), [1, 2]);
    assert_eq!(
        ids(history(&mut con, &["AFTER", "0", "COUNT", "3"])),
        [1, 2, 3]
    );
    assert_eq!(ids(history(&mut con, &["AFTER", "3"])), [4, 5]);
    // The inbox copy of a deleted message is a tombstone too.
    let inbox = docs(&q(&mut con, &["CHAT.FETCH", "bob"]));
    let first = inbox.iter().find(|d| d["id"] == json!(1)).unwrap();
    assert_eq!(first["deleted"], json!(true));
    assert!(first.get("text").is_none());
    assert!(first["delivery"].is_string());
    // Counts keep counting what was sent.
    assert_eq!(int(&field(&q(&mut con, &["CHAT.COUNTS", "r"]), "alice")), 4);
}

#[test]
fn inbox_copies_keep_changes_after_the_message_left_the_history() {
    let server = Server::start_with(&["history-max", "5"], &[]);
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    q(&mut con, &["CHAT.SEND", "r", "alice", "first"]);
    q(&mut con, &["CHAT.EDIT", "r", "alice", "1", "first, edited"]);
    q(&mut con, &["CHAT.SEND", "r", "alice", "second"]);
    q(&mut con, &["CHAT.DELETE", "r", "alice", "2"]);
    // Enough sends for the oldest chunk of the history to go.
    for _ in 0..300 {
        q(&mut con, &["CHAT.SEND", "r", "alice", "more"]);
    }
    // A page after id 0 says that retention removed the first messages.
    let oldest = history(&mut con, &["AFTER", "0", "COUNT", "1"]);
    assert_eq!(oldest[0]["type"], json!("gap"), "{oldest:?}");
    assert!(oldest[1]["id"].as_i64().unwrap() > 2, "{oldest:?}");
    // Bob was away: his copies show the messages as they are now.
    let inbox = docs(&q(&mut con, &["CHAT.FETCH", "bob", "COUNT", "2"]));
    assert_eq!(inbox[0]["text"], json!("first, edited"));
    assert!(inbox[0]["edited"].as_i64().unwrap() > 0);
    assert_eq!(inbox[1]["deleted"], json!(true));
    assert!(inbox[1].get("text").is_none());
    assert_eq!(
        err(&mut con, &["CHAT.EDIT", "r", "alice", "1", "late"]),
        "ERR no such message: 1 is not in the room's history"
    );
}
