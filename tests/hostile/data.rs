//! The data: reserved (compared after the run) and known (fair game).

use std::collections::BTreeMap;

use redis::{Connection, Value};

use crate::commands::items;
use crate::common::*;
use crate::dump::{dump_payload, Payload};
use crate::vectors::Known;

/// The ids nobody but `reserved_data` names.
const KEEP_USERS: [&str; 3] = ["{keep}alice", "{keep}bob", "{keep}carol"];
const KEEP_ROOMS: [&str; 2] = ["{keep}general", "{keep}quiet"];

pub(crate) fn reserved_data(con: &mut Connection) -> String {
    q(
        con,
        &[
            "CHAT.REGISTER",
            "{keep}alice",
            "Alice",
            "PASSWORD",
            "correct horse",
        ],
    );
    q(con, &["CHAT.REGISTER", "{keep}bob", "Bob \u{1f600}"]);
    q(con, &["CHAT.REGISTER", "{keep}carol", "Carol"]);
    room_with(con, "{keep}general", &KEEP_USERS);
    room_with(con, "{keep}quiet", &["{keep}alice"]);
    for i in 1..=5 {
        q(
            con,
            &[
                "CHAT.SEND",
                "{keep}general",
                "{keep}alice",
                &format!("message {i}"),
            ],
        );
    }
    q(
        con,
        &["CHAT.SEND", "{keep}general", "{keep}carol", "line\nbreak"],
    );
    q(con, &["CHAT.SEND", "{keep}quiet", "{keep}alice", "alone"]);
    q(
        con,
        &["CHAT.EDIT", "{keep}general", "{keep}alice", "2", "edited"],
    );
    q(con, &["CHAT.DELETE", "{keep}general", "{keep}alice", "3"]);
    q(con, &["CHAT.READ", "{keep}general", "{keep}bob", "4"]);
    let dm = text(&q(con, &["CHAT.DM", "{keep}alice", "{keep}bob"]));
    q(con, &["CHAT.SEND", &dm, "{keep}bob", "psst"]);
    let carol = docs(&q(con, &["CHAT.FETCH", "{keep}carol", "COUNT", "2"]));
    let delivery = carol[1]["delivery"].as_str().unwrap().to_string();
    q(con, &["CHAT.ACK", "{keep}carol", &delivery]);
    dm
}

/// Everything that can be read about the reserved data: command replies,
/// and each key's type, digest, serialized value and CHAT.DUMP.
pub(crate) fn snapshot(con: &mut Connection, dm: &str) -> BTreeMap<String, Value> {
    let mut reads: Vec<Vec<&str>> = Vec::new();
    for room in KEEP_ROOMS.iter().copied().chain([dm]) {
        reads.push(vec!["CHAT.HISTORY", room, "COUNT", "1000"]);
        reads.push(vec!["CHAT.MEMBERS", room, "WITHREAD"]);
        reads.push(vec!["CHAT.INFO", room, "WITHREAD"]);
        reads.push(vec!["CHAT.COUNTS", room]);
        reads.push(vec!["CHAT.PRESENCE", room]);
    }
    for user in KEEP_USERS {
        reads.push(vec!["CHAT.PROFILE", user]);
        reads.push(vec!["CHAT.ROOMS", user]);
        reads.push(vec!["CHAT.FETCH", user, "COUNT", "1000"]);
        reads.push(vec!["CHAT.UNREAD", user]);
        reads.push(vec!["CHAT.CHANNELS", user]);
    }
    let mut out = BTreeMap::new();
    for read in reads {
        out.insert(read.join(" "), q(con, &read));
    }
    // A room and a user are one key each, named by the id.
    let mut keys = strings(&q(con, &["KEYS", "*{keep}*"]));
    keys.sort();
    let mut expected: Vec<String> = KEEP_USERS
        .iter()
        .chain(&KEEP_ROOMS)
        .map(|id| id.to_string())
        .chain([dm.to_string()])
        .collect();
    expected.sort();
    assert_eq!(keys, expected, "reserved keys");
    for key in keys {
        out.insert(format!("TYPE {key}"), q(con, &["TYPE", &key]));
        out.insert(
            format!("DIGEST {key}"),
            q(con, &["DEBUG", "DIGEST-VALUE", &key]),
        );
        out.insert(
            format!("DUMP {key}"),
            Value::BulkString(dump_payload(con, &key)),
        );
        out.insert(format!("CHAT.DUMP {key}"), q(con, &["CHAT.DUMP", &key]));
    }
    out
}

/// Rooms, users, messages and inboxes the random calls know by id, and
/// ids whose keys were spoiled by hand.
pub(crate) fn known_data(con: &mut Connection) -> Known {
    q(con, &["CHAT.REGISTER", "u1", "U1", "PASSWORD", "pw1"]);
    room_with(con, "r1", &["u1", "u2", "u3"]);
    room_with(con, "r2", &["u1"]);
    room_with(con, "{t}r3", &["{t}u4", "{t}u5"]);
    for i in 0..6 {
        q(con, &["CHAT.SEND", "r1", "u1", &format!("r1 message {i}")]);
        q(con, &["CHAT.SEND", "{t}r3", "{t}u5", "tagged"]);
    }
    let dm = text(&q(con, &["CHAT.DM", "u1", "u2"]));
    q(con, &["CHAT.SEND", &dm, "u2", "direct"]);
    // Spoiled by hand: a member whose user key is a string, ids whose keys
    // hold a list, a hash and a stream, a member whose user key is gone,
    // and a room and a user copied to another name.
    room_with(con, "wtr", &["u2", "wt"]);
    q(con, &["DEL", "wt"]);
    q(con, &["SET", "wt", "not a user"]);
    q(con, &["RPUSH", "wtroom", "not a room"]);
    q(con, &["HSET", "wthash", "not", "a room"]);
    q(con, &["XADD", "wtstream", "*", "not", "a user"]);
    room_with(con, "gonr", &["u3", "gone"]);
    q(con, &["DEL", "gone"]);
    q(con, &["COPY", "r2", "r2copy"]);
    q(con, &["COPY", "u3", "u3copy"]);
    let mut values = Vec::new();
    for key in ["r1", "u1", "u3", &dm] {
        let payload = dump_payload(con, key);
        values.push(Payload::parse(&payload).value);
    }

    let mut deliveries = Vec::new();
    for user in ["u2", "u3", "{t}u4"] {
        for doc in docs(&q(con, &["CHAT.FETCH", user, "COUNT", "3"])) {
            deliveries.push(doc["delivery"].as_str().unwrap().to_string());
        }
    }
    Known {
        users: [
            "u1",
            "u2",
            "u3",
            "{t}u4",
            "{t}u5",
            "wt",
            "wtstream",
            "gone",
            "u3copy",
            "r2",
            "nobody",
            "{t}nobody",
        ]
        .map(String::from)
        .to_vec(),
        rooms: [
            "r1",
            "r2",
            "{t}r3",
            "wtr",
            "wtroom",
            "wthash",
            "gonr",
            "r2copy",
            "u3",
            "nowhere",
            "{t}nowhere",
            &dm,
        ]
        .map(String::from)
        .to_vec(),
        pairs: [
            ("r1", "u1"),
            ("r1", "u2"),
            ("r2", "u1"),
            ("{t}r3", "{t}u5"),
            ("wtr", "u2"),
            ("wtr", "wt"),
            ("gonr", "u3"),
            ("gonr", "gone"),
        ]
        .map(|(r, u)| (r.to_string(), u.to_string()))
        .to_vec(),
        deliveries,
        passwords: ["pw1", "wrong", "", "new password"]
            .map(String::from)
            .to_vec(),
        values,
        commands: Vec::new(),
    }
}

/// DEBUG DIGEST once every key past its expiry time is gone (a key that
/// expires is only dropped when read while active expiry is off).
pub(crate) fn settled_digest(con: &mut Connection) -> String {
    let mut cursor = "0".to_string();
    loop {
        let reply = q(con, &["SCAN", &cursor, "COUNT", "1000"]);
        cursor = text(&items(&reply)[0]);
        for key in items(&items(&reply)[1]) {
            let Value::BulkString(key) = key else {
                panic!("a key name: {key:?}")
            };
            redis::cmd("EXISTS").arg(key).query::<i64>(con).unwrap();
        }
        if cursor == "0" {
            break;
        }
    }
    digest(con)
}

/// The chat.* configs a running server may change without touching the
/// reserved data, with their values at start.
pub(crate) fn chat_configs(con: &mut Connection) -> Vec<(String, String)> {
    // The age limit would retire the reserved messages; who a connection
    // is, and the thread count, are not limits.
    let fixed = [
        "chat.history-max-age",
        "chat.identity",
        "chat.admins",
        "chat.password-threads",
    ];
    pairs(&q(con, &["CONFIG", "GET", "chat.*"]))
        .into_iter()
        .map(|(name, value)| (name, text(&value)))
        .filter(|(name, _)| !fixed.contains(&name.as_str()))
        .collect()
}

/// Registers, creates and subscribes again what `known_data` made, where
/// random calls removed it; errors (already there, of the wrong type) are
/// expected.
pub(crate) fn refresh_known(con: &mut Connection) {
    let _ = try_q(con, &["CHAT.REGISTER", "u1", "U1", "PASSWORD", "pw1"]);
    for (room, users) in [
        ("r1", &["u1", "u2", "u3"][..]),
        ("r2", &["u1"]),
        ("{t}r3", &["{t}u4", "{t}u5"]),
        ("wtr", &["u2", "wt"]),
        ("gonr", &["u3", "gone"]),
    ] {
        let _ = try_q(con, &["CHAT.CREATE", room, "again"]);
        for user in users {
            let _ = try_q(con, &["CHAT.REGISTER", user, "again"]);
            let _ = try_q(con, &["CHAT.SUBSCRIBE", room, user]);
        }
    }
    let _ = try_q(con, &["CHAT.SEND", "r1", "u1", "again"]);
    let _ = try_q(con, &["CHAT.SEND", "r2", "u1", "again"]);
    let _ = try_q(con, &["CHAT.SEND", "{t}r3", "{t}u5", "again"]);
    let _ = try_q(con, &["CHAT.DM", "u1", "u2"]);
    // Gone again, if a random call registered it.
    q(con, &["DEL", "gone"]);
}
