//! Restarts: from persistence that may have lost acknowledged writes (an
//! RDB file, an AOF written with `appendfsync everysec`), every room
//! written afterwards gets a new epoch; from an AOF written with
//! `appendfsync always`, which loses nothing acknowledged, epochs stay.

use crate::common::*;
use crate::{assert_reset, catch_up, epoch_of};

/// A room with three messages; returns its epoch.
fn three_messages(con: &mut redis::Connection) -> String {
    room_with(con, "r", &["alice", "bob"]);
    for text in ["one", "two", "three"] {
        q(con, &["CHAT.SEND", "r", "alice", text]);
    }
    epoch_of(con, "r")
}

/// After a lossy restart: the epoch is kept until the room's next send,
/// which changes it; a client holding the old one gets a reset.
fn changed_at_the_next_send(server: &Server, old: &str, what: &str) {
    changed_at_the_next_send_from(server, old, 3, what);
}

/// `changed_at_the_next_send`, for a client that saw up to `last_id`.
fn changed_at_the_next_send_from(server: &Server, old: &str, last_id: i64, what: &str) {
    let mut con = server.conn();
    assert_eq!(
        epoch_of(&mut con, "r"),
        old,
        "{what}: the epoch is data, loaded as it was"
    );
    q(&mut con, &["CHAT.SEND", "r", "alice", "four"]);
    let new = epoch_of(&mut con, "r");
    assert_ne!(new, old, "{what}: the room kept its epoch");
    let page = catch_up(&mut con, "r", last_id, old);
    assert_reset(&mut con, "r", &page, what);
    let log = server.log();
    assert!(
        log.contains("new generation"),
        "{what}: the log says why:\n{log}"
    );
}

#[test]
fn a_restart_from_an_rdb_file_changes_epochs() {
    let mut server = Server::start();
    let mut con = server.conn();
    let old = three_messages(&mut con);
    q(&mut con, &["SAVE"]);
    server.restart(&[]);
    changed_at_the_next_send(&server, &old, "RDB");
}

/// An AOF written with `appendfsync <written>`, loaded by a server
/// configured `appendfsync <loaded>`: epochs change at the next send.
fn restart_changes_epochs(written: &str, loaded: &str, what: &str) {
    let mut server = Server::start_with(&[], &["--appendonly", "yes", "--appendfsync", written]);
    let mut con = server.conn();
    let old = three_messages(&mut con);
    server.restart(&["--appendonly", "yes", "--appendfsync", loaded]);
    changed_at_the_next_send(&server, &old, what);
}

#[test]
fn a_restart_from_an_everysec_aof_changes_epochs() {
    restart_changes_epochs("everysec", "everysec", "everysec AOF");
}

#[test]
fn a_restart_from_an_always_aof_after_the_primary_wrote_it_changes_epochs_if_fsync_was_lowered() {
    // Written with `always`, loaded by a server configured `everysec`: what
    // it writes from now on may be lost, so its rooms move on as well.
    restart_changes_epochs("always", "everysec", "AOF loaded under everysec");
}

#[test]
fn a_restart_from_an_always_aof_keeps_epochs() {
    let aof = ["--appendonly", "yes", "--appendfsync", "always"];
    let mut server = Server::start_with(&[], &aof);
    let mut con = server.conn();
    let old = three_messages(&mut con);
    let generation = info_field(&mut con, "chat_server", "chat_generation");
    let _ = try_q(&mut con, &["SHUTDOWN"]); // the connection closes: no reply
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while server.is_running() {
        assert!(
            std::time::Instant::now() < deadline,
            "SHUTDOWN did not end the server"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    server.restart(&aof);
    check_kept(&server, &old, &generation, "a clean restart");

    // Killed, then restarted: nothing acknowledged was lost, epochs stay.
    server.restart(&aof);
    check_kept(&server, &old, &generation, "a restart after SIGKILL");

    // Through an AOF rewrite (the RDB preamble carries the generation).
    let mut con = server.conn();
    rewrite_aof(&mut con);
    server.restart(&aof);
    check_kept(&server, &old, &generation, "a restart after BGREWRITEAOF");
}

fn check_kept(server: &Server, old: &str, generation: &str, what: &str) {
    let mut con = server.conn();
    q(&mut con, &["CHAT.SEND", "r", "alice", "more"]);
    assert_eq!(epoch_of(&mut con, "r"), old, "{what}: the epoch changed");
    assert_eq!(
        info_field(&mut con, "chat_server", "chat_generation"),
        generation,
        "{what}"
    );
    let page = catch_up(&mut con, "r", 3, old);
    assert!(
        page.iter().all(|d| d["type"] == "message"),
        "{what}: a reset where none was due: {page:?}"
    );
    assert_eq!(page[0]["id"], 4, "{what}");
    // One generation, drawn at the first write of the first start; each
    // start after kept it.
    let log = server.log();
    assert_eq!(log.matches("new generation").count(), 1, "{what}:\n{log}");
    assert!(log.contains("kept generation"), "{what}:\n{log}");
    assert!(log_problems(&log).is_empty(), "{what}:\n{log}");
}

#[test]
fn an_aof_written_under_everysec_changes_epochs_even_when_loaded_under_always() {
    // The AOF may have lost its last second before the restart: that the
    // server now runs with `always` does not bring it back.
    restart_changes_epochs("everysec", "always", "everysec AOF loaded under always");
}

#[test]
fn lowering_appendfsync_at_run_time_changes_epochs_at_the_next_send() {
    let aof = ["--appendonly", "yes", "--appendfsync", "always"];
    let mut server = Server::start_with(&[], &aof);
    let mut con = server.conn();
    let old = three_messages(&mut con);
    q(&mut con, &["CONFIG", "SET", "appendfsync", "everysec"]);
    changed_at_the_next_send(&server, &old, "after CONFIG SET appendfsync everysec");
    // Raised again, and restarted: what was written under everysec may be
    // lost, so the restart changes epochs too...
    let lowered = epoch_of(&mut con, "r");
    q(&mut con, &["CONFIG", "SET", "appendfsync", "always"]);
    server.restart(&aof);
    changed_at_the_next_send_from(&server, &lowered, 4, "a restart after raising it again");
    // ...and from then on, restarts keep them.
    let mut con = server.conn();
    let kept = epoch_of(&mut con, "r");
    server.restart(&aof);
    let mut con = server.conn();
    q(&mut con, &["CHAT.SEND", "r", "alice", "kept"]);
    assert_eq!(epoch_of(&mut con, "r"), kept);
}

#[test]
fn a_restore_replayed_from_the_aof_does_not_keep_the_dumps_epoch() {
    let aof = ["--appendonly", "yes", "--appendfsync", "always"];
    let mut server = Server::start_with(&[], &aof);
    let mut con = server.conn();
    let epoch = three_messages(&mut con);
    let backup = bytes(&mut con, &["DUMP", "r"]);
    q(
        &mut con,
        &["CHAT.SEND", "r", "alice", "four, lost to the restore"],
    );
    restore(&mut con, "r", &backup, true).expect("RESTORE REPLACE");
    // Restarted before the room's next send: the AOF replays the RESTORE.
    server.restart(&aof);
    let mut con = server.conn();
    assert_eq!(
        int(&q(&mut con, &["CHAT.SEND", "r", "alice", "four again"])),
        4
    );
    assert_ne!(
        epoch_of(&mut con, "r"),
        epoch,
        "id 4 handed out again under the same epoch"
    );
    let page = catch_up(&mut con, "r", 3, &epoch);
    assert_reset(&mut con, "r", &page, "after the replayed RESTORE");
}
