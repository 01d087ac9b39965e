//! Keys spoiled by hand: another Redis type, or the other chat kind, under a
//! room or user id.

use std::collections::BTreeMap;

use redis::Connection;

use crate::checks::{checked_call, READ_TIMEOUT};
use crate::common::*;
use crate::dump::dump_payload;

/// A small dataset: users a, b, c (a online with a password, b offline
/// with an inbox), room r with a and b, three messages by a (one edited,
/// each sent with a DEDUP key), b's cursor at 1. Made once; `put_back`
/// writes it again from DUMP payloads (the password hash too, without
/// hashing again).
struct SmallDataset {
    payloads: Vec<(String, Vec<u8>)>,
    /// A delivery of b's inbox, for CHAT.ACK.
    delivery: String,
}

impl SmallDataset {
    fn make(con: &mut Connection) -> SmallDataset {
        q(con, &["FLUSHALL"]);
        q(con, &["CHAT.REGISTER", "a", "A", "PASSWORD", "pw"]);
        room_with(con, "r", &["a", "b"]);
        q(con, &["CHAT.REGISTER", "c", "C"]);
        for i in 1..=3 {
            let (text, key) = (format!("m{i}"), format!("k{i}"));
            q(con, &["CHAT.SEND", "r", "a", &text, "DEDUP", &key]);
        }
        q(con, &["CHAT.EDIT", "r", "a", "1", "edited"]);
        q(con, &["CHAT.READ", "r", "b", "1"]);
        q(con, &["CHAT.ONLINE", "a", "TTL", "600"]);
        let inbox = docs(&q(con, &["CHAT.FETCH", "b", "COUNT", "1"]));
        let delivery = inbox[0]["delivery"].as_str().unwrap().to_string();
        let mut keys = strings(&q(con, &["KEYS", "*"]));
        keys.sort();
        assert_eq!(keys, ["a", "b", "c", "r"]);
        let payloads = keys
            .into_iter()
            .map(|k| {
                let payload = dump_payload(con, &k);
                (k, payload)
            })
            .collect();
        SmallDataset { payloads, delivery }
    }

    /// Empties the server, writes the dataset again, then runs `spoil`:
    /// one round trip.
    fn put_back(&self, con: &mut Connection, spoil: &[Vec<String>]) {
        let mut pipe = redis::pipe();
        pipe.cmd("FLUSHALL").ignore();
        for (key, payload) in &self.payloads {
            pipe.cmd("RESTORE").arg(key).arg(0).arg(payload).ignore();
        }
        for command in spoil {
            pipe.cmd(&command[0]).arg(&command[1..]).ignore();
        }
        pipe.query::<()>(con)
            .unwrap_or_else(|e| panic!("{spoil:?}: {e}"));
    }
}

/// One valid call of every command, on the small dataset.
fn every_command(delivery: &str) -> Vec<Vec<String>> {
    let calls: &[&[&str]] = &[
        &["CHAT.REGISTER", "d", "D"],
        &["CHAT.REGISTER", "a", "A"],
        &["CHAT.PROFILE", "a"],
        &["CHAT.ROOMS", "a"],
        &["CHAT.CREATE", "r", "again"],
        &["CHAT.CREATE", "s", "S"],
        &["CHAT.INFO", "r"],
        &["CHAT.INFO", "r", "WITHREAD"],
        &["CHAT.MEMBERS", "r"],
        &["CHAT.MEMBERS", "r", "WITHREAD"],
        &["CHAT.COUNTS", "r"],
        &["CHAT.SUBSCRIBE", "r", "c"],
        &["CHAT.UNSUBSCRIBE", "r", "b"],
        &["CHAT.SEND", "r", "a", "hi"],
        &["CHAT.SEND", "r", "a", "again", "DEDUP", "k1"],
        &["CHAT.SEND", "r", "b", "hello"],
        &["CHAT.HISTORY", "r"],
        &["CHAT.HISTORY", "r", "BEFORE", "3", "COUNT", "1"],
        &["CHAT.HISTORY", "r", "AFTER", "0"],
        &["CHAT.FETCH", "b"],
        &["CHAT.FETCH", "b", "BLOCK", "10"],
        &["CHAT.ACK", "b", delivery],
        &["CHAT.ONLINE", "b"],
        &["CHAT.OFFLINE", "a"],
        &["CHAT.PRESENCE", "r"],
        &["CHAT.READ", "r", "b", "3"],
        &["CHAT.UNREAD", "b"],
        &["CHAT.TYPING", "r", "a"],
        &["CHAT.EDIT", "r", "a", "2", "new"],
        &["CHAT.DELETE", "r", "a", "3"],
        &["CHAT.CHANNELS", "a"],
        &["CHAT.DM", "a", "b"],
        &["CHAT.AUTH", "a", "pw"],
        &["CHAT.PASSWD", "a", "pw", "pw2"],
        &["CHAT.DUMP", "r"],
        &["CHAT.DUMP", "b"],
        &["CHAT.DROP", "r"],
        &["CHAT.UNREGISTER", "b"],
        &["CHAT.UNREGISTER", "a"],
    ];
    calls
        .iter()
        .map(|c| c.iter().map(|s| s.to_string()).collect())
        .collect()
}

/// What is put under a room or user id by hand: a value of each other
/// Redis type, or a chat value of the other kind.
const SPOILS: [&str; 7] = [
    "string",
    "list",
    "hash",
    "set",
    "zset",
    "stream",
    "chat value of the other kind",
];

/// The commands that put `spoil` under `key` (which the dataset holds, or
/// not), a room id if `room`.
fn spoil_key(key: &str, room: bool, spoil: &str) -> Vec<Vec<String>> {
    let write: Vec<&str> = match spoil {
        "string" => vec!["SET", key, "by hand"],
        "list" => vec!["RPUSH", key, "by hand"],
        "hash" => vec!["HSET", key, "by", "hand"],
        "set" => vec!["SADD", key, "by hand"],
        "zset" => vec!["ZADD", key, "1", "by hand"],
        "stream" => vec!["XADD", key, "*", "by", "hand"],
        _ if room => vec!["CHAT.REGISTER", key, "a user"],
        _ => vec!["CHAT.CREATE", key, "a room"],
    };
    [vec!["DEL", key], write]
        .into_iter()
        .map(|c| c.into_iter().map(String::from).collect())
        .collect()
}

/// Every command, against room and user ids whose keys hold each other
/// Redis type, and a room where a user is wanted and the reverse. A key
/// the command names (a declared key) gets `WRONGTYPE` for another Redis
/// type, and an error that names the other kind for a chat value of the
/// other kind (CHAT.DUMP shows either); any other key the command opens
/// may fail it too. A command that fails writes nothing.
#[test]
fn every_key_of_the_wrong_type() {
    let mut server = Server::start();
    let mut con = server.conn();
    con.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let dataset = SmallDataset::make(&mut con);
    let calls = every_command(&dataset.delivery);
    // The keys each call names, as Redis finds them.
    dataset.put_back(&mut con, &[]);
    let declared: Vec<Vec<String>> = calls
        .iter()
        .map(|call| {
            let mut getkeys = vec!["COMMAND", "GETKEYS"];
            getkeys.extend(call.iter().map(String::as_str));
            strings(&q(&mut con, &getkeys))
        })
        .collect();
    let ids = [
        ("r", true),
        ("a", false),
        ("b", false),
        ("c", false),
        ("d", false),
        ("s", true),
        ("dm:1:a:b", true),
    ];
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    // What each call that was not refused for the spoiled key it names
    // did, and with which spoils.
    let mut wrong: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (key, room) in ids {
        for spoil in SPOILS {
            let spoiling = spoil_key(key, room, spoil);
            for (call, declared) in calls.iter().zip(&declared) {
                dataset.put_back(&mut con, &spoiling);
                let what = format!("{key} holding a {spoil}");
                let outcome = checked_call(&mut con, call, &what, false);
                let code = outcome.split(' ').next().unwrap_or_default().to_string();
                *codes.entry(code).or_default() += 1;
                if !declared.iter().any(|k| k == key) {
                    continue;
                }
                let fine = match spoil {
                    "chat value of the other kind" if call[0] == "CHAT.DUMP" => outcome == "ok",
                    "chat value of the other kind" => {
                        outcome.starts_with(&format!("WRONGTYPE key '{key}' holds a chat "))
                            || outcome.starts_with(&format!("ERR '{key}' is the id of a "))
                    }
                    _ => {
                        outcome
                            == format!(
                                "WRONGTYPE key '{key}' holds another kind of value than a chat room or user"
                            )
                    }
                };
                if !fine {
                    let did = format!("{} -> {outcome}, with {key} holding a", call.join(" "));
                    wrong.entry(did).or_default().push(spoil);
                }
            }
        }
    }
    assert!(server.is_running());
    let log = server.log();
    assert!(log_problems(&log).is_empty(), "{log}");
    eprintln!("hostile: keys of the wrong type: {codes:?}");
    let wrong: Vec<String> = wrong
        .into_iter()
        .map(|(did, spoils)| format!("{did}: {}", spoils.join(", ")))
        .collect();
    assert!(
        wrong.is_empty(),
        "calls naming a spoiled key that were not refused for it:\n{}",
        wrong.join("\n")
    );
}
