//! The generic key commands on chat keys: COPY (an independent value,
//! refused under its new name), RENAME (refused until renamed back), DEL
//! and UNLINK of room keys and of member keys, and UNLINK of a big room
//! on the lazy-free thread.

use std::thread;
use std::time::{Duration, Instant};

use redis::{Connection, Value};

use crate::common::*;
use crate::dataset::{assert_same, assert_still_works, dataset, observe};

// ---------------------------------------------------------------------------
// 4. COPY, RENAME, DEL and UNLINK

pub(crate) fn misnamed(key: &str, kind: &str) -> String {
    format!("ERR key '{key}' holds a chat {kind} made under another key name")
}

/// Replaces every string `from` anywhere in `doc` by `to`: the id a dump
/// shows for its key.
fn rename_in(doc: &mut serde_json::Value, from: &str, to: &str) {
    match doc {
        serde_json::Value::String(s) if s == from => *s = to.to_string(),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| rename_in(v, from, to)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| rename_in(v, from, to)),
        _ => {}
    }
}

pub(crate) fn dump_json(con: &mut Connection, key: &str) -> serde_json::Value {
    serde_json::from_str(&text(&q(con, &["CHAT.DUMP", key]))).unwrap()
}

#[test]
fn a_copy_is_independent_and_refused_under_its_new_name() {
    let server = Server::start();
    let mut con = server.conn();
    dataset(&mut con);
    assert_eq!(int(&q(&mut con, &["COPY", "ten", "ten-copy"])), 1);
    assert_eq!(int(&q(&mut con, &["COPY", "u8", "u8-copy"])), 1);
    assert_eq!(text(&q(&mut con, &["TYPE", "ten-copy"])), "chat-room");
    assert_eq!(text(&q(&mut con, &["TYPE", "u8-copy"])), "chat-user");
    let copy_digest = digest_value(&mut con, "ten-copy");
    assert_eq!(copy_digest, digest_value(&mut con, "ten"));
    assert_eq!(
        digest_value(&mut con, "u8-copy"),
        digest_value(&mut con, "u8")
    );
    let room_copy = dump_json(&mut con, "ten-copy");
    let user_copy = dump_json(&mut con, "u8-copy");
    assert_eq!(room_copy["id"], "ten-copy");
    assert_eq!(room_copy["last_id"], 25);
    assert_eq!(room_copy["messages"].as_array().unwrap().len(), 25);
    assert_eq!(room_copy["members"].as_object().unwrap().len(), 10);
    // Apart from the id it shows, the copy is what the original was, but
    // for the generation of its epoch: a copy's epoch is vouched for by
    // none, so that it changes at the copy's next send.
    let mut original = dump_json(&mut con, "ten");
    rename_in(&mut original, "ten", "ten-copy");
    let mut as_original = room_copy.clone();
    assert_eq!(as_original["generation"], "0000000000000000");
    assert_ne!(original["generation"], "0000000000000000");
    as_original["generation"] = original["generation"].clone();
    assert_eq!(as_original, original);

    // Sends to the original change neither copy.
    q(
        &mut con,
        &["CHAT.SEND", "ten", "u1", "only in the original"],
    );
    q(
        &mut con,
        &["CHAT.EDIT", "ten", "u2", "3", "edited in the original"],
    );
    assert_ne!(digest_value(&mut con, "ten"), copy_digest);
    assert_eq!(digest_value(&mut con, "ten-copy"), copy_digest);
    assert_eq!(dump_json(&mut con, "ten-copy"), room_copy);
    assert_eq!(dump_json(&mut con, "u8-copy"), user_copy);
    assert_eq!(dump_json(&mut con, "ten")["last_id"], 26);
    // And writes to the copy are refused, as are reads.
    for command in [
        &["CHAT.SEND", "ten-copy", "u1", "to the copy"][..],
        &["CHAT.HISTORY", "ten-copy"],
        &["CHAT.INFO", "ten-copy"],
        &["CHAT.SUBSCRIBE", "ten-copy", "alice"],
        &["CHAT.DROP", "ten-copy"],
    ] {
        let e = err(&mut con, command);
        assert!(
            e.starts_with(&misnamed("ten-copy", "room")),
            "{command:?}: {e}"
        );
        assert!(e.contains("rename it back"), "{e}");
    }
    for command in [
        &["CHAT.PROFILE", "u8-copy"][..],
        &["CHAT.FETCH", "u8-copy"],
        &["CHAT.ONLINE", "u8-copy"],
        &["CHAT.UNREGISTER", "u8-copy"],
    ] {
        let e = err(&mut con, command);
        assert!(
            e.starts_with(&misnamed("u8-copy", "user")),
            "{command:?}: {e}"
        );
    }
    assert_eq!(digest_value(&mut con, "ten-copy"), copy_digest);
    assert_eq!(dump_json(&mut con, "u8-copy"), user_copy);
    // Deleting the copy leaves the original alone.
    let original = digest_value(&mut con, "ten");
    q(&mut con, &["DEL", "ten-copy", "u8-copy"]);
    assert_eq!(digest_value(&mut con, "ten"), original);
    assert_eq!(int(&q(&mut con, &["CHAT.SEND", "ten", "u1", "more"])), 27);
}

#[test]
fn a_renamed_room_is_refused_until_renamed_back() {
    let server = Server::start();
    let mut con = server.conn();
    let data = dataset(&mut con);
    let before = observe(&mut con, &data);
    q(&mut con, &["RENAME", "ten", "ten-moved"]);
    assert!(!exists(&mut con, "ten"));
    for command in [
        &["CHAT.SEND", "ten-moved", "u1", "hello"][..],
        &["CHAT.HISTORY", "ten-moved"],
        &["CHAT.MEMBERS", "ten-moved"],
        &["CHAT.UNSUBSCRIBE", "ten-moved", "u1"],
    ] {
        let e = err(&mut con, command);
        assert!(
            e.starts_with(&misnamed("ten-moved", "room")),
            "{command:?}: {e}"
        );
    }
    assert_eq!(
        err(&mut con, &["CHAT.SEND", "ten", "u1", "hello"]),
        "ERR no such room"
    );
    assert_eq!(dump_json(&mut con, "ten-moved")["last_id"], 25);
    // A user renamed over a room's name is not a room.
    q(&mut con, &["RENAME", "loner", "ten"]);
    assert_eq!(
        err(&mut con, &["CHAT.SEND", "ten", "u1", "hello"]),
        "WRONGTYPE key 'ten' holds a chat user, not a chat room"
    );
    q(&mut con, &["RENAME", "ten", "loner"]);

    q(&mut con, &["RENAME", "ten-moved", "ten"]);
    assert_same(&observe(&mut con, &data), &before, "after RENAME back");
    assert_still_works(&mut con);
}

/// A room key removed by `how` (DEL or UNLINK): members keep it listed
/// until they unsubscribe.
fn room_key_removed_by(how: &str) {
    let server = Server::start();
    let mut con = server.conn();
    let data = dataset(&mut con);
    assert_eq!(int(&q(&mut con, &[how, "pair"])), 1);
    assert!(!exists(&mut con, "pair"));
    assert_eq!(q(&mut con, &["CHAT.INFO", "pair"]), Value::Nil);
    for member in ["alice", "bob"] {
        let rooms = strings(&q(&mut con, &["CHAT.ROOMS", member]));
        assert!(
            rooms.contains(&"pair".to_string()),
            "{how}: {member}: {rooms:?}"
        );
    }
    assert_eq!(
        err(&mut con, &["CHAT.SEND", "pair", "alice", "anyone?"]),
        "ERR no such room"
    );
    assert_eq!(int(&q(&mut con, &["CHAT.UNSUBSCRIBE", "pair", "alice"])), 0);
    let rooms = strings(&q(&mut con, &["CHAT.ROOMS", "alice"]));
    assert_eq!(rooms, [data.dm.as_str(), "many"], "{how}");
    // Leaving made no room.
    assert!(!exists(&mut con, "pair"));
    assert!(strings(&q(&mut con, &["CHAT.ROOMS", "bob"])).contains(&"pair".to_string()));
    // The id is free again.
    q(&mut con, &["CHAT.CREATE", "pair", "A new pair"]);
    q(&mut con, &["CHAT.SUBSCRIBE", "pair", "alice"]);
    assert_eq!(
        int(&q(&mut con, &["CHAT.SEND", "pair", "alice", "anew"])),
        1
    );
    let rooms = strings(&q(&mut con, &["CHAT.ROOMS", "alice"]));
    assert!(rooms.contains(&"pair".to_string()), "{rooms:?}");
    // A user whose list names a room key that is gone can be unregistered.
    q(&mut con, &[how, "ten"]);
    q(&mut con, &["CHAT.UNREGISTER", "u5"]);
    assert!(!exists(&mut con, "u5"));
    assert!(!exists(&mut con, "ten"), "{how}: unregistering made a room");
}

#[test]
fn a_deleted_room_key_stays_listed_until_members_unsubscribe() {
    room_key_removed_by("DEL");
}

#[test]
fn an_unlinked_room_key_stays_listed_until_members_unsubscribe() {
    room_key_removed_by("UNLINK");
}

#[test]
fn a_room_whose_member_keys_were_deleted_still_accepts_sends() {
    let server = Server::start();
    let mut con = server.conn();
    dataset(&mut con);
    let missing = info_int(&mut con, "chat", "chat_missing_recipients");
    assert_eq!(int(&q(&mut con, &["DEL", "u3"])), 1);
    assert_eq!(int(&q(&mut con, &["UNLINK", "u4"])), 1);
    assert_eq!(int(&q(&mut con, &["DEL", "bob"])), 1);
    for user in ["u3", "u4", "bob"] {
        assert!(!exists(&mut con, user), "{user}");
        assert_eq!(q(&mut con, &["CHAT.PROFILE", user]), Value::Nil);
    }
    // Still members, as far as the rooms know.
    assert!(strings(&q(&mut con, &["CHAT.MEMBERS", "ten"])).contains(&"u3".to_string()));
    assert_eq!(
        int(&q(&mut con, &["CHAT.SEND", "ten", "u0", "anyone there?"])),
        26
    );
    assert_eq!(
        info_int(&mut con, "chat", "chat_missing_recipients"),
        missing + 2
    );
    assert_eq!(
        int(&q(&mut con, &["CHAT.SEND", "pair", "alice", "bob?"])),
        5
    );
    assert_eq!(
        info_int(&mut con, "chat", "chat_missing_recipients"),
        missing + 3
    );
    // No user key was made for them; the others got their copies.
    for user in ["u3", "u4", "bob"] {
        assert!(!exists(&mut con, user), "{user} came back");
    }
    let inbox = docs(&q(&mut con, &["CHAT.FETCH", "u5", "COUNT", "1000"]));
    assert_eq!(inbox.last().unwrap()["text"], "anyone there?");
    let history = docs(&q(&mut con, &["CHAT.HISTORY", "ten", "AFTER", "25"]));
    assert_eq!(history.len(), 1);
    // Other commands that reach every member work too, and make no key.
    q(
        &mut con,
        &["CHAT.EDIT", "ten", "u0", "26", "anyone there at all?"],
    );
    q(&mut con, &["CHAT.READ", "ten", "u1", "26"]);
    let online = strings(&q(&mut con, &["CHAT.PRESENCE", "ten"]));
    assert_eq!(online, ["u1"]);
    // A member without a key can still be taken out of the room.
    assert_eq!(int(&q(&mut con, &["CHAT.UNSUBSCRIBE", "ten", "u3"])), 1);
    assert!(!strings(&q(&mut con, &["CHAT.MEMBERS", "ten"])).contains(&"u3".to_string()));
    // And the room can be dropped.
    q(&mut con, &["CHAT.DROP", "ten"]);
    assert!(!exists(&mut con, "ten"));
    assert!(strings(&q(&mut con, &["CHAT.ROOMS", "u5"])).is_empty());
    for user in ["u3", "u4", "bob"] {
        assert!(!exists(&mut con, user), "{user} came back");
    }
}

#[test]
fn unlinking_a_big_room_returns_at_once() {
    let server = Server::start_with(&["history-max", "100000"], &[]);
    let mut con = server.conn();
    room_with(&mut con, "big", &["writer"]);
    let text_50 = "y".repeat(50);
    for _ in 0..50 {
        let mut pipe = redis::pipe();
        for _ in 0..1000 {
            pipe.cmd("CHAT.SEND")
                .arg("big")
                .arg("writer")
                .arg(&text_50)
                .ignore();
        }
        pipe.query::<()>(&mut con).unwrap();
    }
    assert_eq!(
        int(&field(&q(&mut con, &["CHAT.INFO", "big"]), "messages")),
        50_000
    );
    let usage = int(&q(&mut con, &["MEMORY", "USAGE", "big"]));
    assert!(usage > 2_500_000, "MEMORY USAGE big = {usage}");
    let freed_before = info_int(&mut con, "memory", "lazyfreed_objects");
    let started = Instant::now();
    assert_eq!(int(&q(&mut con, &["UNLINK", "big"])), 1);
    let took = started.elapsed();
    assert!(!exists(&mut con, "big"));
    assert_eq!(text(&q(&mut con, &["PING"])), "PONG");
    // The value was freed on the lazy-free thread, not in the command.
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_int(&mut con, "memory", "lazyfreed_objects") == freed_before {
        assert!(
            Instant::now() < deadline,
            "the big room was not freed in the background"
        );
        thread::sleep(Duration::from_millis(10));
    }
    assert!(took < Duration::from_secs(1), "UNLINK took {took:?}");
    eprintln!("UNLINK of a room of 50,000 messages ({usage} bytes) took {took:?}");
    // The writer's list still names it; the server goes on.
    assert_eq!(strings(&q(&mut con, &["CHAT.ROOMS", "writer"])), ["big"]);
    assert_eq!(int(&q(&mut con, &["CHAT.UNSUBSCRIBE", "big", "writer"])), 0);
}
