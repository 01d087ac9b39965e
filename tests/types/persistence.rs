//! Round trips through RDB and AOF: DEBUG RELOAD, SAVE and a restart, AOF
//! rewrites with and without an RDB preamble (copies included), and a
//! replay of the AOF's command stream after kill -9.

use crate::common::*;
use crate::dataset::{assert_same, assert_still_works, dataset, observe};
use crate::key_commands::{dump_json, misnamed};

// ---------------------------------------------------------------------------
// 2. Round trips through RDB and AOF

#[test]
fn everything_survives_debug_reload() {
    let server = Server::start();
    let mut con = server.conn();
    let data = dataset(&mut con);
    let before = observe(&mut con, &data);
    q(&mut con, &["DEBUG", "RELOAD"]);
    assert_same(&observe(&mut con, &data), &before, "after DEBUG RELOAD");
    assert_still_works(&mut con);
}

#[test]
fn everything_survives_save_and_restart() {
    let mut server = Server::start();
    let mut con = server.conn();
    let data = dataset(&mut con);
    let before = observe(&mut con, &data);
    q(&mut con, &["SAVE"]);
    server.kill();
    server.restart(&[]);
    let mut con = server.conn();
    assert_same(&observe(&mut con, &data), &before, "after SAVE and restart");
    assert_still_works(&mut con);
}

pub(crate) const AOF: [&str; 4] = ["--appendonly", "yes", "--appendfsync", "always"];

/// Rewrites the AOF (with `server_args`), adds a few writes after the
/// rewrite, restarts, and compares. Returns the AOF files as they were.
fn survives_aof_rewrite(server_args: &[&str]) -> Vec<(String, Vec<u8>)> {
    let mut server = Server::start_with(&[], server_args);
    let mut con = server.conn();
    let data = dataset(&mut con);
    // Copies, refused under their names, are kept as they are.
    q(&mut con, &["COPY", "ten", "ten-copy"]);
    q(&mut con, &["COPY", "bob", "bob-copy"]);
    rewrite_aof(&mut con);
    let files = aof_files(&server.dir);
    // Writes after the rewrite go to the new incremental file, and replay
    // on top of the rewritten values.
    q(&mut con, &["CHAT.SEND", "ten", "u4", "after the rewrite"]);
    q(
        &mut con,
        &["CHAT.EDIT", "ten", "u4", "5", "edited after the rewrite"],
    );
    q(&mut con, &["CHAT.ONLINE", "u9", "TTL", "600"]);
    let before = observe(&mut con, &data);
    server.kill();
    server.restart(server_args);
    let mut con = server.conn();
    assert_same(
        &observe(&mut con, &data),
        &before,
        &format!("after BGREWRITEAOF and restart with {server_args:?}"),
    );
    assert_eq!(
        int(&q(&mut con, &["CHAT.SEND", "pair", "bob", "still here"])),
        5
    );
    assert_eq!(
        int(&q(&mut con, &["CHAT.SEND", "ten", "u3", "and here"])),
        27
    );
    q(&mut con, &["CHAT.AUTH", "bob", "bob-new-secret"]);
    let refused = err(&mut con, &["CHAT.HISTORY", "ten-copy"]);
    assert!(
        refused.starts_with(&misnamed("ten-copy", "room")),
        "{refused}"
    );
    let refused = err(&mut con, &["CHAT.FETCH", "bob-copy"]);
    assert!(
        refused.starts_with(&misnamed("bob-copy", "user")),
        "{refused}"
    );
    assert_eq!(dump_json(&mut con, "ten-copy")["last_id"], 25);
    files
}

#[test]
fn everything_survives_an_aof_rewrite_with_an_rdb_preamble() {
    let files = survives_aof_rewrite(&AOF);
    let (name, base) = files
        .iter()
        .find(|(name, _)| name.contains(".base."))
        .expect("a base file");
    assert!(
        name.ends_with(".rdb") && base.starts_with(b"REDIS"),
        "the base {name} is an RDB"
    );
    assert!(!contains(base, b"CHAT.RESTORE-VALUE"));
}

#[test]
fn everything_survives_an_aof_rewrite_without_an_rdb_preamble() {
    let args = [&AOF[..], &["--aof-use-rdb-preamble", "no"]].concat();
    let files = survives_aof_rewrite(&args);
    let (name, base) = files
        .iter()
        .find(|(name, _)| name.contains(".base."))
        .expect("a base file");
    assert!(name.ends_with(".aof"), "{name}");
    assert!(!base.starts_with(b"REDIS"), "{name} has an RDB preamble");
    // One CHAT.RESTORE-VALUE per chat key: 4 rooms and 13 users, and a
    // copy of each kind.
    assert_eq!(count_of(base, b"CHAT.RESTORE-VALUE"), 19, "{name}");
    assert_eq!(count_of(base, b"$4\r\nroom\r\n"), 5, "{name}");
    assert_eq!(count_of(base, b"$4\r\nuser\r\n"), 14, "{name}");
    assert!(contains(base, b"$8\r\nten-copy\r\n$4\r\nroom\r\n"));
    // Encoding version 5.
    assert!(contains(base, b"$3\r\nten\r\n$4\r\nroom\r\n$1\r\n5\r\n"));
}

#[test]
fn everything_survives_replaying_the_command_stream_after_kill_9() {
    let mut server = Server::start_with(&[], &AOF);
    let mut con = server.conn();
    let data = dataset(&mut con);
    let before = observe(&mut con, &data);
    // The stream is made of chat commands, with every decision made.
    let stream: Vec<u8> = aof_files(&server.dir)
        .into_iter()
        .filter(|(name, _)| name.contains(".incr."))
        .flat_map(|(_, content)| content)
        .collect();
    for command in [
        &b"CHAT.AT"[..],
        b"CHAT.SEND-RESOLVED",
        b"CHAT.SET-PASSWORD",
        b"CHAT.EDIT",
        b"CHAT.DELETE",
        b"CHAT.ACK",
        b"CHAT.READ",
    ] {
        assert!(
            contains(&stream, command),
            "no {} in the AOF",
            String::from_utf8_lossy(command)
        );
    }
    assert!(!contains(&stream, b"alice-secret"), "a password in the AOF");
    server.kill(); // SIGKILL
    server.restart(&AOF);
    let mut con = server.conn();
    assert_same(
        &observe(&mut con, &data),
        &before,
        "after kill -9 and a replay of the AOF",
    );
    assert_still_works(&mut con);
}
