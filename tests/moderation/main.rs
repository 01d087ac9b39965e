//! Moderation (issue 15): owners, admins and members; private rooms and
//! invitations; kicks, bans and mutes; slow mode and the per-sender rate
//! limit; what owners and admins may do to others' messages and pins; the
//! events all of these publish; and bans and mutes kept with their ends by
//! DEBUG RELOAD and by replicas.
//!
//! One module per subject: `roles` (CREATE OWNER, ROLE, MEMBERS WITHROLES,
//! the last owner, rooms without an owner), `access` (private rooms,
//! INVITE, KICK, BAN), `silence` (MUTE, SLOWMODE, the rate limit and floods
//! of sends), `messages` (DELETE and PIN by owners and admins), `events`,
//! `durability` (DEBUG RELOAD and replicas), `acl` (`chat.identity acl`) and
//! `counters` (INFO chat). Every refusal is checked to write nothing: the
//! DEBUG DIGEST of the data is the same before and after it.

#[path = "../common/mod.rs"]
mod common;

mod access;
mod acl;
mod counters;
mod durability;
mod events;
mod messages;
mod roles;
mod silence;
mod view;

use std::path::Path;
use std::time::Duration;

use common::*;
use redis::{Connection, Value};
use serde_json::Value as Json;

/// How long to wait for an event that must come.
const WAIT: Duration = Duration::from_secs(2);
/// How long to listen for one that must not.
const QUIET: Duration = Duration::from_millis(300);

/// Registers every user (those already registered are left alone), creates
/// `room` with `owner` as its owner, and subscribes the others.
fn owned_room(con: &mut Connection, room: &str, owner: &str, members: &[&str]) {
    for u in std::iter::once(&owner).chain(members) {
        let _ = try_q(con, &["CHAT.REGISTER", u, &format!("User {u}")]);
    }
    let title = format!("Room {room}");
    assert_eq!(
        q(con, &["CHAT.CREATE", room, &title, "OWNER", owner]),
        Value::Okay
    );
    for u in members {
        q(con, &["CHAT.SUBSCRIBE", room, u]);
    }
}

/// `owned_room`, then `CHAT.ROLE` by the owner for each (user, role).
fn room_with_roles(
    con: &mut Connection,
    room: &str,
    owner: &str,
    members: &[&str],
    roles: &[(&str, &str)],
) {
    owned_room(con, room, owner, members);
    for (user, role) in roles {
        assert_eq!(int(&q(con, &["CHAT.ROLE", room, owner, user, role])), 1);
    }
}

/// Runs `args`, which must fail with an error starting with `prefix`;
/// checks that nothing was written; returns the whole error text.
fn refused(con: &mut Connection, args: &[&str], prefix: &str) -> String {
    let before = digest(con);
    let got = err(con, args);
    assert!(
        got.starts_with(prefix),
        "{args:?}: expected an error starting with {prefix:?}, got {got:?}"
    );
    assert_eq!(
        digest(con),
        before,
        "{args:?} was refused but wrote something"
    );
    got
}

/// `refused`, for an error that must be exactly `expected`.
fn refused_exactly(con: &mut Connection, args: &[&str], expected: &str) {
    let got = refused(con, args, expected);
    assert_eq!(got, expected, "{args:?}");
}

/// A refusal of a room role: `NOPERM ...`, nothing written.
fn noperm(con: &mut Connection, args: &[&str]) -> String {
    refused(con, args, "NOPERM ")
}

/// `CHAT.SEND room sender text`, replying the id.
fn send(con: &mut Connection, room: &str, sender: &str, text: &str) -> i64 {
    int(&q(con, &["CHAT.SEND", room, sender, text]))
}

/// Field `name` of `CHAT.INFO room`.
fn info(con: &mut Connection, room: &str, name: &str) -> Value {
    field(&q(con, &["CHAT.INFO", room]), name)
}

/// `CHAT.MEMBERS room WITHROLES` as (member, role) pairs, in reply order.
fn roles(con: &mut Connection, room: &str) -> Vec<(String, String)> {
    pairs(&q(con, &["CHAT.MEMBERS", room, "WITHROLES"]))
        .into_iter()
        .map(|(k, v)| (k, text(&v)))
        .collect()
}

/// One member's role, from `CHAT.MEMBERS room WITHROLES`; None for a user
/// who is not a member.
fn role_of(con: &mut Connection, room: &str, user: &str) -> Option<String> {
    roles(con, room)
        .into_iter()
        .find(|(u, _)| u == user)
        .map(|(_, r)| r)
}

fn members(con: &mut Connection, room: &str) -> Vec<String> {
    strings(&q(con, &["CHAT.MEMBERS", room]))
}

/// `CHAT.INVITES user` as (room, invited-at ms) pairs, in reply order.
fn invites(con: &mut Connection, user: &str) -> Vec<(String, i64)> {
    pairs(&q(con, &["CHAT.INVITES", user]))
        .into_iter()
        .map(|(k, v)| (k, int(&v)))
        .collect()
}

/// Messages `sender` has sent in `room`, from CHAT.COUNTS (0 when absent).
fn sent_by(con: &mut Connection, room: &str, sender: &str) -> i64 {
    pairs(&q(con, &["CHAT.COUNTS", room]))
        .into_iter()
        .find(|(k, _)| k == sender)
        .map_or(0, |(_, v)| int(&v))
}

/// A counter of INFO chat, by its name without the module's prefix.
fn stat(con: &mut Connection, name: &str) -> i64 {
    info_int(con, "chat", &format!("chat_{name}"))
}

/// The message `id` of `room`, as CHAT.HISTORY shows it.
fn message(con: &mut Connection, room: &str, id: i64) -> Json {
    let after = (id - 1).to_string();
    docs(&q(
        con,
        &["CHAT.HISTORY", room, "AFTER", &after, "COUNT", "1"],
    ))
    .remove(0)
}

/// The unix ms after `until ` in a MUTED or BANNED error, and the seconds
/// it says are left: `... until 1764583200000 (60 seconds from now)`.
fn until_in(error: &str) -> (i64, i64) {
    let rest = error
        .split_once(" until ")
        .unwrap_or_else(|| panic!("no 'until' in {error:?}"))
        .1;
    let (ms, rest) = rest
        .split_once(" (")
        .unwrap_or_else(|| panic!("no end time in {error:?}"));
    let seconds = rest
        .strip_suffix(" seconds from now)")
        .unwrap_or_else(|| panic!("no 'seconds from now' in {error:?}"));
    (
        ms.parse().unwrap_or_else(|_| panic!("{ms:?} in {error:?}")),
        seconds
            .parse()
            .unwrap_or_else(|_| panic!("{seconds:?} in {error:?}")),
    )
}

/// The number before ` ms` at the end of a SLOWMODE or RATELIMIT error
/// (`... may send again in 8734 ms`, `... retry in 180 ms`).
fn wait_ms_in(error: &str) -> i64 {
    let number = error
        .strip_suffix(" ms")
        .and_then(|rest| rest.rsplit(' ').next())
        .unwrap_or_else(|| panic!("no '<n> ms' at the end of {error:?}"));
    number
        .parse()
        .unwrap_or_else(|_| panic!("{number:?} in {error:?}"))
}

/// A listener on `user`'s own push channel, with the user online.
fn online_listener(server: &Server, con: &mut Connection, user: &str) -> Listener {
    let listener = Listener::exact(server, &format!("chat:user:{{{user}}}:push"));
    q(con, &["CHAT.ONLINE", user]);
    listener
}

/// Takes every event already queued (or arriving within 100 ms).
fn drain(listener: &mut Listener) {
    while listener.next(Duration::from_millis(100)).is_some() {}
}

/// The benchmark client of the server under test: `$CHAT_REDIS_BENCHMARK`,
/// else one beside the server program (a wrapper's directory of
/// `scripts/servers/`, or the directory a server path names), else the
/// benchmark on `PATH` of the server's family (`valkey-benchmark` for
/// `valkey-server`, otherwise `redis-benchmark`).
fn benchmark_program() -> String {
    if let Ok(program) = std::env::var("CHAT_REDIS_BENCHMARK") {
        return program;
    }
    let server = server_program();
    let path = Path::new(&server);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        for name in ["benchmark", "redis-benchmark", "valkey-benchmark"] {
            if dir.join(name).is_file() {
                return dir.join(name).to_string_lossy().into_owned();
            }
        }
    }
    if server.ends_with("valkey-server") {
        "valkey-benchmark".into()
    } else {
        "redis-benchmark".into()
    }
}

/// Runs the benchmark client against `server` with `-n 2000 -c 20` and
/// `command`; returns what it printed. (redis-benchmark since 7.0 stops
/// at the first error reply it gets, so against a limit it ends early; the
/// floods also send from threads of their own, which go on.)
fn benchmark(server: &Server, command: &[&str]) -> String {
    let output = std::process::Command::new(benchmark_program())
        .args(["-h", "127.0.0.1", "-p", &server.port.to_string()])
        .args(["-n", "2000", "-c", "20"])
        .args(command)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} ({e})", benchmark_program()));
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// 20 connections each sending `per_connection` times `args`, as fast as
/// they can; returns (accepted, the error replies).
fn flood(server: &Server, args: &[&str], per_connection: usize) -> (usize, Vec<String>) {
    let threads: Vec<_> = (0..20)
        .map(|_| {
            let mut con = server.conn();
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            std::thread::spawn(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let mut accepted = 0;
                let mut errors = Vec::new();
                for _ in 0..per_connection {
                    match try_q(&mut con, &args) {
                        Ok(_) => accepted += 1,
                        Err(e) => errors.push(error_text(&e)),
                    }
                }
                (accepted, errors)
            })
        })
        .collect();
    let mut accepted = 0;
    let mut errors = Vec::new();
    for t in threads {
        let (a, e) = t.join().unwrap();
        accepted += a;
        errors.extend(e);
    }
    (accepted, errors)
}
