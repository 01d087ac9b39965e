//! Crafted RESTORE payloads beyond the module's bytes: damaged RDB framing,
//! a valid value restored under another name, and a length inside a value
//! that claims more bytes than the payload holds.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use redis::Value;

use crate::checks::READ_TIMEOUT;
use crate::common::*;
use crate::dump::{dump_payload, rdb_len, sealed, varint, varint_len, Payload};
use crate::restore::{mutate, reload_keeps_everything, restore_crafted};
use crate::rng::{seed, Rng, SeedReport};

/// The same as `restore::crafted_values_are_refused_or_survive_every_command`,
/// with the framing around the module's bytes damaged too: the string's
/// length, the opcodes, the module type id, missing or extra bytes
/// anywhere before the RDB version (the CRC recomputed). Redis then
/// stops reading in the middle of the module's value: RESTORE must answer
/// `ERR Bad data format` (or succeed), and the server stay up.
#[test]
fn crafted_payload_framing_is_refused_without_a_crash() {
    let seed = seed();
    let _report = SeedReport(seed);
    let mut rng = Rng(seed);
    let mut server = Server::start();
    let mut con = server.conn();
    con.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    room_with(&mut con, "general", &["alice", "bob"]);
    q(&mut con, &["CHAT.SEND", "general", "alice", "hello"]);
    let mut bodies = Vec::new();
    for key in ["general", "alice", "bob"] {
        bodies.push(Payload::parse(&dump_payload(&mut con, key)));
    }
    let room = bodies[0].clone();
    let len_at = room.head.len();
    let declared = room.value.len();
    let body = room.body();
    let version_at = body.len() - 2;
    let with_len = |n: usize| {
        let mut b = room.head.clone();
        b.extend(rdb_len(n));
        b.extend_from_slice(&room.value);
        b.extend_from_slice(&room.tail);
        b
    };
    // Cases that reach the module with the reading cut short, first.
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        (
            "a string longer than the payload".into(),
            with_len(declared + 5),
        ),
        (
            "a string far longer than the payload".into(),
            with_len(1 << 30),
        ),
        (
            "a string shorter than its bytes".into(),
            with_len(declared - 3),
        ),
        ("an empty string".into(), {
            let mut b = room.head.clone();
            b.push(0);
            b.extend_from_slice(&room.tail);
            b
        }),
        ("a number where the string is".into(), {
            let mut b = body.clone();
            b[len_at - 1] = 2; // RDB_MODULE_OPCODE_UINT
            b
        }),
        ("no string at all".into(), {
            let mut b = room.head[..len_at - 1].to_vec();
            b.extend_from_slice(&room.tail);
            b
        }),
        ("no EOF opcode".into(), {
            let mut b = body[..version_at - 1].to_vec();
            b.extend_from_slice(&body[version_at..]);
            b
        }),
        ("the value cut in the middle".into(), {
            let mut b = body[..len_at + 1 + declared / 2].to_vec();
            b.extend_from_slice(&body[version_at..]);
            b
        }),
    ];
    for i in 0..400 {
        let source = rng.pick(&bodies).body();
        // Everything before the RDB version is fair game.
        let (framing, version) = source.split_at(source.len() - 2);
        let mut damaged = mutate(&mut rng, framing, &[framing.to_vec()]);
        if damaged.is_empty() {
            damaged.push(7);
        }
        damaged.extend_from_slice(version);
        cases.push((format!("seed {seed}, random damage {i}"), damaged));
    }
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, (what, body)) in cases.into_iter().enumerate() {
        let key = format!("framed:{i}");
        let restored = restore_crafted(&mut server, &mut con, &key, &sealed(body), &what);
        // Damage to the type byte can make a valid value of a native type
        // (a string of the bytes that follow, say): Redis's to judge, and
        // the chat commands refuse it as another kind of value.
        let kind = if !restored {
            "refused"
        } else if text(&q(&mut con, &["TYPE", &key])).starts_with("chat-") {
            let dump = q(&mut con, &["CHAT.DUMP", &key]);
            assert!(matches!(dump, Value::BulkString(_)), "{what}: {dump:?}");
            "restored"
        } else {
            let refused = err(&mut con, &["CHAT.DUMP", &key]);
            assert!(refused.starts_with("WRONGTYPE"), "{what}: {refused}");
            "restored as a native type"
        };
        *tally.entry(kind).or_default() += 1;
        if i % 50 == 0 {
            assert_eq!(text(&q(&mut con, &["PING"])), "PONG", "{what}");
        }
    }
    reload_keeps_everything(&mut server, &mut con, &format!("seed {seed}"));
    let log = server.log();
    assert!(
        log_problems(&log).is_empty(),
        "seed {seed}: the log says:\n{}",
        log_problems(&log).join("\n")
    );
    eprintln!("hostile: damaged payloads: {tally:?}");
}

/// A valid payload restored under another name holds a value made for the
/// old one: commands refuse it there (CHAT.DUMP shows it), and it works
/// again under its own name. A user's payload over a room's name is a user
/// there, made for another name.
#[test]
fn a_value_restored_under_another_name_is_refused() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "general", &["alice", "bob"]);
    q(&mut con, &["CHAT.SEND", "general", "alice", "hello"]);
    let room = dump_payload(&mut con, "general");
    let user = dump_payload(&mut con, "alice");
    let misnamed = |key: &str, kind: &str| {
        format!(
            "ERR key '{key}' holds a chat {kind} made under another key name (renamed or copied by hand); other keys still name it by its old name, so rename it back to use it"
        )
    };
    restore(&mut con, "elsewhere", &room, false).unwrap();
    restore(&mut con, "someone", &user, false).unwrap();
    let cases: &[(&[&str], String)] = &[
        (&["CHAT.INFO", "elsewhere"], misnamed("elsewhere", "room")),
        (
            &["CHAT.HISTORY", "elsewhere"],
            misnamed("elsewhere", "room"),
        ),
        (
            &["CHAT.SEND", "elsewhere", "alice", "hi"],
            misnamed("elsewhere", "room"),
        ),
        (
            &["CHAT.SUBSCRIBE", "elsewhere", "bob"],
            misnamed("elsewhere", "room"),
        ),
        (&["CHAT.DROP", "elsewhere"], misnamed("elsewhere", "room")),
        (&["CHAT.PROFILE", "someone"], misnamed("someone", "user")),
        (&["CHAT.FETCH", "someone"], misnamed("someone", "user")),
        (
            &["CHAT.SUBSCRIBE", "general", "someone"],
            misnamed("someone", "user"),
        ),
        (&["CHAT.UNREGISTER", "someone"], misnamed("someone", "user")),
    ];
    for (args, expected) in cases {
        let before = digest(&mut con);
        assert_eq!(&err(&mut con, args), expected, "{args:?}");
        assert_eq!(digest(&mut con), before, "{args:?} wrote something");
    }
    let shown: serde_json::Value =
        serde_json::from_str(&text(&q(&mut con, &["CHAT.DUMP", "elsewhere"]))).unwrap();
    assert_eq!(shown["id"], "elsewhere");
    assert_eq!(shown["messages"][0]["text"], "hello");

    // A user's bytes over the room's name: a user there, made for alice.
    restore(&mut con, "general", &user, true).unwrap();
    let before = digest(&mut con);
    assert_eq!(
        err(&mut con, &["CHAT.INFO", "general"]),
        "WRONGTYPE key 'general' holds a chat user, not a chat room"
    );
    assert_eq!(
        err(&mut con, &["CHAT.PROFILE", "general"]),
        misnamed("general", "user")
    );
    assert_eq!(digest(&mut con), before);

    // Back under its own name, the room works again.
    restore(&mut con, "general", &room, true).unwrap();
    assert_eq!(
        int(&q(&mut con, &["CHAT.SEND", "general", "alice", "again"])),
        2
    );
    assert!(log_problems(&server.log()).is_empty(), "{}", server.log());
}

/// The peak resident memory of process `pid` (Linux's VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A length inside a value that claims more bytes than the value holds
/// (here the user's name, or the room's title, said to be 512 MiB long in
/// a payload of a few dozen bytes) is refused without reserving that much:
/// the server's peak memory stays where it was, and RESTORE answers at
/// once instead of blocking the server while it fills the memory.
#[test]
fn a_length_past_the_end_of_a_value_reserves_nothing() {
    const CLAIMED: u64 = 1 << 29;
    let mut found = Vec::new();
    for key in ["idle", "empty"] {
        // A server each: the peak memory only ever grows.
        let mut server = Server::start();
        let mut con = server.conn();
        con.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        q(&mut con, &["CHAT.REGISTER", "idle", "Idle"]);
        q(&mut con, &["CHAT.CREATE", "empty", "Empty"]);
        let payload = Payload::parse(&dump_payload(&mut con, key));
        // The origin first, then the name or title: a length and the bytes.
        let origin = varint_len(&payload.value);
        let rest = &payload.value[origin..];
        let value = [
            &payload.value[..origin],
            &varint(CLAIMED)[..],
            &rest[varint_len(rest)..],
        ]
        .concat();
        let target = format!("{key}:claims");
        let what = format!(
            "{key} with a length of {CLAIMED} bytes in {} bytes",
            value.len()
        );
        let peak = peak_rss_kib(server.pid());
        let started = Instant::now();
        let restored = restore_crafted(
            &mut server,
            &mut con,
            &target,
            &payload.with_value(&value),
            &what,
        );
        let took = started.elapsed();
        assert!(!restored, "{what}: restored");
        let grew = peak
            .zip(peak_rss_kib(server.pid()))
            .map_or(0, |(before, after)| after.saturating_sub(before));
        if grew > 64 * 1024 || took > Duration::from_secs(1) {
            found.push(format!(
                "{what}: RESTORE took {took:.1?}, the server's peak memory grew by {} MiB",
                grew / 1024
            ));
        }
        assert_eq!(text(&q(&mut con, &["PING"])), "PONG");
        assert!(log_problems(&server.log()).is_empty(), "{}", server.log());
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}
