//! The dataset every part of these tests starts from (users with and
//! without passwords, rooms small and big, a direct room, edits, deletes,
//! DEDUP keys, inboxes, read cursors, presence), how a test observes all
//! of it and checks it still works, and what Redis shows of its keys:
//! their types, encodings, SCAN TYPE and MEMORY USAGE.

use redis::{Connection, Value};

use crate::common::*;

// ---------------------------------------------------------------------------
// A small but varied dataset

/// What `dataset` made: every chat key, so that a test can look at all of
/// them.
pub(crate) struct Dataset {
    pub(crate) rooms: Vec<String>,
    pub(crate) users: Vec<String>,
    /// The direct room of alice and bob.
    pub(crate) dm: String,
}

impl Dataset {
    pub(crate) fn keys(&self) -> Vec<String> {
        self.rooms.iter().chain(&self.users).cloned().collect()
    }
}

/// Users (two with passwords, one changed since), a room of 2 (`pair`), a
/// room of 10 (`ten`), a room of 300 messages, some of them big (`many`),
/// a direct room, messages with edits and deletes, DEDUP keys, inbox
/// copies (some acknowledged), read cursors, presence, and a user in no
/// room at all.
pub(crate) fn dataset(con: &mut Connection) -> Dataset {
    // Chat keys only: no notification stream (a plain Redis stream, whose
    // own durability tests/events tries).
    q(con, &["CONFIG", "SET", "chat.notify-max", "0"]);
    q(
        con,
        &[
            "CHAT.REGISTER",
            "alice",
            "Alice",
            "PASSWORD",
            "alice-secret",
        ],
    );
    q(
        con,
        &["CHAT.REGISTER", "bob", "Bob", "PASSWORD", "bob-secret"],
    );
    let mut users = vec!["alice".to_string(), "bob".to_string()];
    for i in 0..10 {
        let u = format!("u{i}");
        q(con, &["CHAT.REGISTER", &u, &format!("User number {i}")]);
        users.push(u);
    }
    q(con, &["CHAT.REGISTER", "loner", "Nobody's friend"]);
    users.push("loner".into());

    q(con, &["CHAT.CREATE", "pair", "A room of two"]);
    for u in ["alice", "bob"] {
        q(con, &["CHAT.SUBSCRIBE", "pair", u]);
    }
    q(con, &["CHAT.CREATE", "ten", "A room of ten"]);
    for i in 0..10 {
        q(con, &["CHAT.SUBSCRIBE", "ten", &format!("u{i}")]);
    }
    // Online, but nobody listens: copies still go to the inbox.
    q(con, &["CHAT.ONLINE", "alice", "TTL", "3600"]);
    q(con, &["CHAT.ONLINE", "u1", "TTL", "7200"]);

    assert_eq!(
        int(&q(con, &["CHAT.SEND", "pair", "alice", "hello bob"])),
        1
    );
    assert_eq!(int(&q(con, &["CHAT.SEND", "pair", "bob", "hi alice"])), 2);
    let edited = ["CHAT.SEND", "pair", "alice", "edit me", "DEDUP", "pk-1"];
    assert_eq!(int(&q(con, &edited)), 3);
    // A retry changes nothing.
    assert_eq!(int(&q(con, &edited)), 3);
    assert_eq!(int(&q(con, &["CHAT.SEND", "pair", "bob", "delete me"])), 4);
    q(con, &["CHAT.EDIT", "pair", "alice", "3", "edited by alice"]);
    q(con, &["CHAT.DELETE", "pair", "bob", "4"]);

    for n in 0..25 {
        let sender = format!("u{}", n % 10);
        let text = format!("message {n} from {sender}: {}", "ü".repeat(n));
        let mut send = vec!["CHAT.SEND", "ten", &sender, &text];
        let key = format!("tk-{n}");
        if n % 4 == 0 {
            send.extend(["DEDUP", &key]);
        }
        assert_eq!(int(&q(con, &send)), n as i64 + 1);
    }
    q(con, &["CHAT.EDIT", "ten", "u2", "3", "an edited text"]);
    q(con, &["CHAT.DELETE", "ten", "u5", "6"]);
    q(con, &["CHAT.READ", "ten", "u7", "10"]);
    q(con, &["CHAT.READ", "ten", "u9", "24"]);
    let inbox = docs(&q(con, &["CHAT.FETCH", "u8"]));
    assert!(inbox.len() > 5, "u8's inbox: {inbox:?}");
    let delivery = inbox[2]["delivery"].as_str().unwrap();
    assert_eq!(int(&q(con, &["CHAT.ACK", "u8", delivery])), 3);

    // A room of many messages, some bigger than a chunk of the log (and
    // of an inbox), with edits and deletes in old chunks, and an inbox of
    // many chunks, acknowledged up to the middle of one.
    q(con, &["CHAT.CREATE", "many", "Many messages, some big"]);
    for u in ["alice", "bob", "u0"] {
        q(con, &["CHAT.SUBSCRIBE", "many", u]);
    }
    for n in 0..300 {
        let sender = ["alice", "u0", "bob"][n % 3];
        let text = match n % 50 {
            7 => "é".repeat(3000),
            33 => "z".repeat(16000),
            _ => format!("many {n} {}", "m".repeat(n % 97)),
        };
        let mut send = vec!["CHAT.SEND", "many", sender, &text];
        let key = format!("mk-{n}");
        if n % 10 == 0 {
            send.extend(["DEDUP", &key]);
        }
        assert_eq!(int(&q(con, &send)), n as i64 + 1);
    }
    q(
        con,
        &[
            "CHAT.EDIT",
            "many",
            "alice",
            "1",
            "edited in the first chunk",
        ],
    );
    q(con, &["CHAT.EDIT", "many", "u0", "2", &"ä".repeat(4500)]);
    q(con, &["CHAT.DELETE", "many", "bob", "3"]);
    q(con, &["CHAT.DELETE", "many", "alice", "151"]);
    q(con, &["CHAT.READ", "many", "u0", "200"]);
    let inbox = docs(&q(con, &["CHAT.FETCH", "bob", "COUNT", "1000"]));
    // 200 copies from this room, and 2 from pair.
    assert_eq!(inbox.len(), 202, "bob's inbox");
    let delivery = inbox[69]["delivery"].as_str().unwrap();
    assert_eq!(int(&q(con, &["CHAT.ACK", "bob", delivery])), 70);

    let dm = text(&q(con, &["CHAT.DM", "alice", "bob"]));
    q(con, &["CHAT.SEND", &dm, "alice", "just between us"]);
    q(con, &["CHAT.PASSWD", "bob", "bob-secret", "bob-new-secret"]);
    Dataset {
        rooms: vec!["pair".into(), "ten".into(), "many".into(), dm.clone()],
        users,
        dm,
    }
}

/// Everything the chat commands show of a dataset, with the digest.
#[derive(Debug, PartialEq)]
pub(crate) struct Seen {
    digest: String,
    replies: Vec<(String, Value)>,
}

pub(crate) fn observe(con: &mut Connection, data: &Dataset) -> Seen {
    let mut replies = Vec::new();
    let mut see = |args: &[&str]| {
        let mut reply = q(con, args);
        if args[0] == "CHAT.DUMP" && data.rooms.iter().any(|r| r == args[1]) {
            // All of it but the generation that vouched for the room's
            // epoch, which RESTORE, MIGRATE and COPY clear (tests/epochs).
            let mut dumped: serde_json::Value = serde_json::from_str(&text(&reply)).unwrap();
            dumped.as_object_mut().unwrap().remove("generation");
            reply = Value::BulkString(dumped.to_string().into_bytes());
        }
        replies.push((args.join(" "), reply));
    };
    for room in &data.rooms {
        see(&["CHAT.HISTORY", room, "COUNT", "1000"]);
        see(&["CHAT.INFO", room, "WITHREAD"]);
        see(&["CHAT.COUNTS", room]);
        see(&["CHAT.MEMBERS", room, "WITHREAD"]);
        see(&["CHAT.PRESENCE", room]);
        see(&["CHAT.DUMP", room]);
    }
    for user in &data.users {
        see(&["CHAT.FETCH", user, "COUNT", "1000"]);
        see(&["CHAT.UNREAD", user]);
        see(&["CHAT.PROFILE", user]);
        see(&["CHAT.ROOMS", user]);
        see(&["CHAT.DUMP", user]);
    }
    Seen {
        digest: digest(con),
        replies,
    }
}

/// Compares two observations, naming the first reply that differs.
pub(crate) fn assert_same(after: &Seen, before: &Seen, what: &str) {
    for ((command, a), (_, b)) in after.replies.iter().zip(&before.replies) {
        assert_eq!(a, b, "{what}: `{command}` differs");
    }
    assert_eq!(after.replies.len(), before.replies.len(), "{what}");
    assert_eq!(after.digest, before.digest, "{what}: DEBUG DIGEST differs");
    assert_ne!(after.digest, "0".repeat(40), "{what}: the dataset is empty");
}

/// The dataset still works after a round trip: passwords check, and the
/// rooms take new messages with the next ids.
pub(crate) fn assert_still_works(con: &mut Connection) {
    q(con, &["CHAT.AUTH", "alice", "alice-secret"]);
    q(con, &["CHAT.AUTH", "bob", "bob-new-secret"]);
    assert_eq!(
        err(con, &["CHAT.AUTH", "bob", "bob-secret"]),
        "ERR invalid username or password"
    );
    assert_eq!(int(&q(con, &["CHAT.SEND", "pair", "bob", "still here"])), 5);
    assert_eq!(int(&q(con, &["CHAT.SEND", "ten", "u3", "and here"])), 26);
    // A DEDUP key is still remembered.
    assert_eq!(
        int(&q(
            con,
            &["CHAT.SEND", "pair", "alice", "edit me", "DEDUP", "pk-1"]
        )),
        3
    );
}

// ---------------------------------------------------------------------------
// 1. What Redis shows of chat keys

#[test]
fn chat_keys_have_their_own_types_and_report_their_memory() {
    let server = Server::start();
    let mut con = server.conn();
    let data = dataset(&mut con);
    for room in &data.rooms {
        assert_eq!(text(&q(&mut con, &["TYPE", room])), "chat-room", "{room}");
        assert!(exists(&mut con, room));
        assert_eq!(text(&q(&mut con, &["OBJECT", "ENCODING", room])), "raw");
    }
    for user in &data.users {
        assert_eq!(text(&q(&mut con, &["TYPE", user])), "chat-user", "{user}");
        assert!(exists(&mut con, user));
        assert_eq!(text(&q(&mut con, &["OBJECT", "ENCODING", user])), "raw");
    }
    assert_eq!(text(&q(&mut con, &["TYPE", "nothing"])), "none");
    assert!(!exists(&mut con, "nothing"));
    // One key per room and per user, nothing else.
    assert_eq!(
        int(&q(&mut con, &["DBSIZE"])) as usize,
        data.rooms.len() + data.users.len()
    );
    q(&mut con, &["SET", "plain", "string"]);

    let scan = |con: &mut Connection, kind: &str| {
        let mut found = Vec::new();
        let mut cursor = "0".to_string();
        loop {
            let reply = q(con, &["SCAN", &cursor, "TYPE", kind, "COUNT", "100"]);
            let Value::Array(parts) = reply else {
                panic!("SCAN replied {reply:?}")
            };
            cursor = text(&parts[0]);
            found.extend(strings(&parts[1]));
            if cursor == "0" {
                break;
            }
        }
        found.sort();
        found
    };
    let mut rooms = data.rooms.clone();
    rooms.sort();
    let mut users = data.users.clone();
    users.sort();
    assert_eq!(scan(&mut con, "chat-room"), rooms);
    assert_eq!(scan(&mut con, "chat-user"), users);
    assert_eq!(scan(&mut con, "string"), ["plain"]);

    // MEMORY USAGE counts the value, and grows with what it holds.
    let usage = |con: &mut Connection, key: &str| int(&q(con, &["MEMORY", "USAGE", key]));
    let room_before = usage(&mut con, "pair");
    let user_before = usage(&mut con, "bob");
    let empty_user = usage(&mut con, "loner");
    assert!(room_before > 100, "MEMORY USAGE pair = {room_before}");
    assert!(user_before > empty_user, "{user_before} vs {empty_user}");
    let text_100 = "x".repeat(100);
    for _ in 0..300 {
        q(&mut con, &["CHAT.SEND", "pair", "alice", &text_100]);
    }
    let room_after = usage(&mut con, "pair");
    let user_after = usage(&mut con, "bob");
    // 300 texts of 100 bytes: at least 30,000 more bytes in the room.
    assert!(
        room_after >= room_before + 30_000,
        "MEMORY USAGE pair: {room_before} -> {room_after}"
    );
    // bob got 300 inbox copies too.
    assert!(
        user_after >= user_before + 30_000,
        "MEMORY USAGE bob: {user_before} -> {user_after}"
    );
    // The bigger a room, the more it says it takes: ten's 25 messages are
    // less than pair's 300.
    assert!(usage(&mut con, "ten") < room_after);
    assert_eq!(q(&mut con, &["MEMORY", "USAGE", "nothing"]), Value::Nil);
}
