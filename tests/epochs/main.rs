//! Room epochs (issue 18), on real servers: a room's epoch changes whenever
//! the ids after some point may have been handed out again, so that a
//! client holding an old (epoch, last id) is told to reload instead of
//! silently skipping messages.
//!
//! `failover`: a replica promoted after it missed acknowledged sends (it
//! was stopped with SIGSTOP while the primary took them, then the primary
//! was killed). `restarts`: a restart from an RDB file or an `everysec`
//! AOF changes epochs, a restart from an `appendfsync always` AOF keeps
//! them. `lifecycle`: a room dropped and created again, AFTER beyond the
//! last id, the replies that carry the epoch, and replicas.

#[path = "../common/mod.rs"]
mod common;

mod failover;
mod lifecycle;
mod restarts;

use common::*;
use redis::Connection;
use serde_json::Value as Json;

/// The room's epoch, as CHAT.INFO shows it.
pub fn epoch_of(con: &mut Connection, room: &str) -> String {
    text(&field(&q(con, &["CHAT.INFO", room]), "epoch"))
}

/// The room's last message id, as CHAT.INFO shows it.
pub fn last_id_of(con: &mut Connection, room: &str) -> i64 {
    int(&field(&q(con, &["CHAT.INFO", room]), "last_id"))
}

/// What a reconnecting client asks for: the messages after the last id it
/// saw, under the epoch it saw it in.
pub fn catch_up(con: &mut Connection, room: &str, after: i64, epoch: &str) -> Vec<Json> {
    docs(&q(
        con,
        &[
            "CHAT.HISTORY",
            room,
            "AFTER",
            &after.to_string(),
            "EPOCH",
            epoch,
        ],
    ))
}

/// Asserts that `page` starts with the reset document of `room` (its
/// current epoch and last id, as CHAT.INFO shows them), followed by the
/// room's newest messages in ascending order, ending at the last id;
/// returns the messages.
pub fn assert_reset(con: &mut Connection, room: &str, page: &[Json], what: &str) -> Vec<Json> {
    let (epoch, last_id) = (epoch_of(con, room), last_id_of(con, room));
    let Some((first, messages)) = page.split_first() else {
        panic!("{what}: an empty page, where a reset was due");
    };
    assert_eq!(
        first,
        &serde_json::json!({"type": "reset", "room": room, "epoch": epoch, "last_id": last_id}),
        "{what}: the page does not start with the reset document"
    );
    let ids: Vec<i64> = messages.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    let newest: Vec<i64> = (last_id + 1 - ids.len() as i64..=last_id).collect();
    assert_eq!(
        ids, newest,
        "{what}: the reset is not followed by the newest messages"
    );
    assert!(
        !ids.is_empty() || last_id == 0,
        "{what}: no messages after the reset"
    );
    messages.to_vec()
}
