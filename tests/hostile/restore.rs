//! Chat values crafted byte by byte and given to RESTORE: real rooms and
//! users changed at random in the bytes the module reads, then restored
//! and put through every command (`HOSTILE_RESTORES=<n>` crafts more).

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

use redis::{Connection, Value};

use crate::checks::{checked_call, READ_TIMEOUT};
use crate::common::*;
use crate::dump::{dump_payload, value_for_name, Payload};
use crate::rng::{seed, Rng, SeedReport};

/// One to three random changes: bits flipped, bytes set to what varints
/// and options are made of, pieces cut, random bytes inserted, pieces
/// repeated, pieces of other values spliced in, numbers nudged.
pub(crate) fn mutate(rng: &mut Rng, value: &[u8], donors: &[Vec<u8>]) -> Vec<u8> {
    let mut v = value.to_vec();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(v.len() + 1);
        let within = at < v.len();
        match rng.below(9) {
            0 if within => v[at] ^= 1 << rng.below(8),
            1 if within => {
                v[at] = *rng.pick(&[0, 1, 2, 0x7f, 0x80, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff])
            }
            2 => v.truncate(at),
            3 => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                v.drain(at..end);
            }
            4 => {
                let bytes: Vec<u8> = (0..1 + rng.below(8)).map(|_| rng.next() as u8).collect();
                v.splice(at..at, bytes);
            }
            5 => {
                let end = (at + 1 + rng.below(32)).min(v.len());
                let piece = v[at..end].to_vec();
                v.splice(at..at, piece);
            }
            6 => {
                let donor = rng.pick(donors);
                let from = rng.below(donor.len() + 1);
                let end = (from + 1 + rng.below(32)).min(donor.len());
                let replaced = (at + rng.below(4)).min(v.len());
                v.splice(at..replaced, donor[from..end].to_vec());
            }
            7 if within => v[at] = v[at].wrapping_add(1 + rng.below(2) as u8),
            _ if within => v[at] = v[at].wrapping_sub(1),
            _ => v.push(rng.next() as u8),
        }
    }
    v
}

/// Rooms and users with something in every part of their values: rooms
/// with members, cursors, counts, edited and deleted messages, DEDUP keys,
/// enough messages to fill several chunks; users with a password, rooms,
/// presence and inboxes holding changed copies. Returns the keys, rooms
/// first.
fn crafted_dataset(con: &mut Connection) -> (Vec<&'static str>, Vec<&'static str>) {
    q(con, &["CHAT.REGISTER", "alice", "Alice", "PASSWORD", "pw"]);
    room_with(con, "general", &["alice", "bob", "carol"]);
    room_with(con, "quiet", &["carol"]);
    for i in 1..=40 {
        let sender = ["alice", "bob", "carol"][i % 3];
        let text = format!("message {i} {}", "\u{e9}".repeat(i % 5));
        q(
            con,
            &[
                "CHAT.SEND",
                "general",
                sender,
                &text,
                "DEDUP",
                &format!("k{i}"),
            ],
        );
    }
    for i in 0..300 {
        q(con, &["CHAT.SEND", "quiet", "carol", &format!("q{i}")]);
    }
    q(con, &["CHAT.EDIT", "general", "bob", "1", "edited"]);
    q(con, &["CHAT.DELETE", "general", "alice", "3"]);
    q(con, &["CHAT.READ", "general", "bob", "20"]);
    q(con, &["CHAT.ONLINE", "alice", "TTL", "3600"]);
    let dm = text(&q(con, &["CHAT.DM", "alice", "bob"]));
    assert_eq!(dm, "dm:5:alice:bob");
    q(con, &["CHAT.SEND", &dm, "bob", "psst"]);
    q(con, &["CHAT.REGISTER", "idle", "Idle"]);
    q(con, &["CHAT.CREATE", "empty", "Empty"]);
    let carol = docs(&q(con, &["CHAT.FETCH", "carol", "COUNT", "2"]));
    q(
        con,
        &["CHAT.ACK", "carol", carol[0]["delivery"].as_str().unwrap()],
    );
    (
        vec!["general", "quiet", "dm:5:alice:bob", "empty"],
        vec!["alice", "bob", "carol", "idle"],
    )
}

/// The calls that read or change a restored room or user `key`, given its
/// CHAT.DUMP; the last one removes it, if `remove`.
fn calls_on(key: &str, room: bool, dump: &serde_json::Value, remove: bool) -> Vec<Vec<String>> {
    let first_id = |v: &serde_json::Value| {
        v.as_array()
            .and_then(|a| a.first())
            .and_then(|m| m["id"].as_u64())
            .unwrap_or(1)
            .to_string()
    };
    let calls: Vec<Vec<String>> = if room {
        let member = dump["members"]
            .as_object()
            .and_then(|m| m.keys().next().cloned())
            .unwrap_or_else(|| "alice".into());
        let id = first_id(&dump["messages"]);
        let m = member.as_str();
        [
            vec!["CHAT.INFO", key, "WITHREAD"],
            vec!["CHAT.HISTORY", key, "COUNT", "1000"],
            vec!["CHAT.HISTORY", key, "BEFORE", &id, "COUNT", "3"],
            vec!["CHAT.HISTORY", key, "AFTER", "0"],
            vec!["CHAT.MEMBERS", key, "WITHREAD"],
            vec!["CHAT.COUNTS", key],
            vec!["CHAT.PRESENCE", key],
            vec!["CHAT.SEND", key, m, "hi", "DEDUP", "k1"],
            vec!["CHAT.SEND", key, m, "hi again"],
            vec!["CHAT.READ", key, m, &id],
            vec!["CHAT.EDIT", key, m, &id, "changed"],
            vec!["CHAT.DELETE", key, m, &id],
            vec!["CHAT.TYPING", key, m],
            vec!["CHAT.SUBSCRIBE", key, "idle"],
            vec!["CHAT.UNSUBSCRIBE", key, m],
            vec!["CHAT.UNREAD", "idle"],
            vec!["CHAT.DROP", key],
        ]
        .into_iter()
        .map(|c| c.into_iter().map(String::from).collect())
        .collect()
    } else {
        let delivery = dump["inbox"]
            .as_array()
            .and_then(|a| a.last())
            .and_then(|c| c["delivery"].as_str())
            .unwrap_or("1-0")
            .to_string();
        [
            vec!["CHAT.PROFILE", key],
            vec!["CHAT.FETCH", key, "COUNT", "1000"],
            vec!["CHAT.ROOMS", key],
            vec!["CHAT.UNREAD", key],
            vec!["CHAT.CHANNELS", key],
            vec!["CHAT.ONLINE", key, "TTL", "60"],
            vec!["CHAT.ACK", key, &delivery],
            vec!["CHAT.OFFLINE", key],
            vec!["CHAT.SUBSCRIBE", "general", key],
            vec!["CHAT.SEND", "general", key, "from a crafted user"],
            vec!["CHAT.SEND", "general", "alice", "to a crafted user"],
            vec!["CHAT.FETCH", key, "COUNT", "1"],
            vec!["CHAT.DM", key, "alice"],
            vec!["CHAT.UNREGISTER", key],
        ]
        .into_iter()
        .map(|c| c.into_iter().map(String::from).collect())
        .collect()
    };
    let keep = if remove { calls.len() } else { calls.len() - 1 };
    calls.into_iter().take(keep).collect()
}

/// DEBUG RELOAD (save, empty, load) gives back the same data, and the
/// server lives through it.
pub(crate) fn reload_keeps_everything(server: &mut Server, con: &mut Connection, what: &str) {
    let before = digest(con);
    let reloaded = try_q(con, &["DEBUG", "RELOAD"]);
    assert!(
        server.is_running(),
        "{what}: the server died in DEBUG RELOAD:\n{}",
        log_problems(&server.log()).join("\n")
    );
    assert!(reloaded.is_ok(), "{what}: DEBUG RELOAD: {reloaded:?}");
    assert_eq!(digest(con), before, "{what}: DEBUG RELOAD changed the data");
}

/// RESTORE of `payload` under `key`: Ok(true) if restored, Ok(false) if
/// refused with `ERR Bad data format`; any other answer is a failure.
pub(crate) fn restore_crafted(
    server: &mut Server,
    con: &mut Connection,
    key: &str,
    payload: &[u8],
    what: &str,
) -> bool {
    let result = redis::cmd("RESTORE")
        .arg(key)
        .arg(0)
        .arg(payload)
        .query::<Value>(con);
    if let Err(e) = &result {
        if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
            // A crashing server writes its bug report (with a memory test)
            // before it exits: wait for it, to show why.
            let deadline = Instant::now() + Duration::from_secs(30);
            while server.is_running()
                && !server.log().contains("BUG REPORT END")
                && Instant::now() < deadline
            {
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
    assert!(
        server.is_running() && !server.log().contains("BUG REPORT"),
        "{what}: the server crashed on RESTORE {key}; its log says:\n{}",
        log_problems(&server.log()).join("\n")
    );
    match result {
        Ok(_) => true,
        Err(e) if error_text(&e) == "ERR Bad data format" => false,
        Err(e) => {
            // Kept for whoever looks into it.
            let file = std::env::temp_dir().join(format!(
                "hostile-restore-{}-{}.payload",
                std::process::id(),
                key.replace(':', "-")
            ));
            let _ = std::fs::write(&file, payload);
            panic!(
                "{what}: RESTORE {key} ({} bytes, written to {}): {}",
                payload.len(),
                file.display(),
                error_text(&e)
            )
        }
    }
}

/// DUMP payloads of real rooms and users, changed at random in the bytes
/// the module reads (the RDB framing around them kept right, and the CRC
/// recomputed), restored under fresh keys (their origin set to the new
/// name, so that commands act on them there; some keep the old one, and
/// some claim the other chat type). Each RESTORE is refused with `ERR Bad
/// data format`, and the log says why, or it succeeds and the value then
/// goes through CHAT.DUMP, the commands that read and change it, DEBUG
/// DIGEST, COPY and DEBUG RELOAD: errors are fine, crashes and panics are
/// not, and a command that fails writes nothing.
#[test]
fn crafted_values_are_refused_or_survive_every_command() {
    let seed = seed();
    let _report = SeedReport(seed);
    let mut rng = Rng(seed);
    let rounds = std::env::var("HOSTILE_RESTORES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_200);
    let mut server = Server::start();
    let mut con = server.conn();
    con.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let (rooms, users) = crafted_dataset(&mut con);
    let originals: Vec<(&str, bool, Payload)> = rooms
        .iter()
        .map(|k| (*k, true))
        .chain(users.iter().map(|k| (*k, false)))
        .map(|(k, room)| (k, room, Payload::parse(&dump_payload(&mut con, k))))
        .collect();
    for (key, _, payload) in &originals {
        // The origin is the first field: a value made for its own name is
        // the value as it is.
        assert_eq!(value_for_name(&payload.value, key), payload.value, "{key}");
    }
    let room_head = originals[0].2.head.clone();
    let user_head = originals[rooms.len()].2.head.clone();
    assert_ne!(room_head, user_head);
    let donors: Vec<Vec<u8>> = originals.iter().map(|(_, _, p)| p.value.clone()).collect();

    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    let mut refused = Vec::new();
    for i in 0..rounds {
        let (original, room, payload) = rng.pick(&originals).clone();
        let key = format!("crafted:{i}");
        let value = if rng.chance(90) {
            value_for_name(&payload.value, &key)
        } else {
            payload.value.clone()
        };
        let value = mutate(&mut rng, &value, &donors);
        // Now and then, bytes of one kind under the other's type.
        let (room, payload) = if rng.chance(5) {
            let other = Payload {
                head: if room {
                    user_head.clone()
                } else {
                    room_head.clone()
                },
                ..payload
            };
            (!room, other)
        } else {
            (room, payload)
        };
        let what = format!("seed {seed}, round {i}, from {original}");
        if !restore_crafted(
            &mut server,
            &mut con,
            &key,
            &payload.with_value(&value),
            &what,
        ) {
            *tally.entry("refused".into()).or_default() += 1;
            refused.push(key);
            continue;
        }
        *tally.entry("restored".into()).or_default() += 1;
        // CHAT.DUMP shows any chat value, whatever its name.
        let dump = q(&mut con, &["CHAT.DUMP", &key]);
        let dump: serde_json::Value = serde_json::from_str(&text(&dump))
            .unwrap_or_else(|e| panic!("{what}: CHAT.DUMP {key} is not JSON: {e}"));
        q(&mut con, &["DEBUG", "DIGEST-VALUE", &key]);
        q(&mut con, &["MEMORY", "USAGE", &key]);
        let copy = format!("{key}:copy");
        q(&mut con, &["COPY", &key, &copy]);
        q(&mut con, &["CHAT.DUMP", &copy]);
        for call in calls_on(&key, room, &dump, rng.chance(50)) {
            let outcome = checked_call(&mut con, &call, &what, true);
            let code = match outcome.split(' ').next().unwrap_or_default() {
                _ if outcome.starts_with("ERR internal error") => "internal-error",
                code => code,
            };
            *tally.entry(format!("{} {code}", call[0])).or_default() += 1;
        }
        if i % 300 == 299 {
            reload_keeps_everything(&mut server, &mut con, &what);
        }
    }
    reload_keeps_everything(&mut server, &mut con, &format!("seed {seed}, at the end"));
    assert_eq!(text(&q(&mut con, &["PING"])), "PONG");
    // The originals still work.
    q(&mut con, &["CHAT.SEND", "general", "alice", "still works"]);
    let log = server.log();
    assert!(
        log_problems(&log).is_empty(),
        "seed {seed}: the log says:\n{}",
        log_problems(&log).join("\n")
    );
    // Every refusal is explained in the log, naming the key.
    for key in &refused {
        let quoted = format!("'{key}'");
        assert!(
            log.lines()
                .any(|l| l.contains("<chat> cannot read chat-") && l.contains(&quoted)),
            "seed {seed}: no log line tells why {key} was refused"
        );
    }
    assert!(tally.get("refused").is_some_and(|n| *n > 0), "{tally:?}");
    assert!(tally.get("restored").is_some_and(|n| *n > 0), "{tally:?}");
    eprintln!("hostile: crafted values (seed {seed}): {tally:?}");
}
