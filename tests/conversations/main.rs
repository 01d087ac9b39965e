//! Conversations: replies and threads, mentions, reactions and pins, and
//! what retention, replicas, DEBUG RELOAD and the AOF do to them.
//!
//! One module per subject: `replies` (replies and threads), `mentions`,
//! `reactions`, `pins`, and `retention` (the gaps that history, threads and
//! inboxes show once messages or copies were dropped, what retention takes
//! with the messages it removes, and all of these kept alike by replicas,
//! DEBUG RELOAD and the AOF). The helpers they share are here; what they
//! share with the other test targets is in `tests/common`.

#[path = "../common/mod.rs"]
mod common;

mod mentions;
mod pins;
mod reactions;
mod replies;
mod retention;

use std::time::Duration;

use common::*;
use redis::{Connection, Value};
use serde_json::Value as Json;

const WAIT: Duration = Duration::from_secs(2);
const QUIET: Duration = Duration::from_millis(300);

/// `CHAT.SEND room sender text [options...]`, replying the id.
fn send(con: &mut Connection, room: &str, sender: &str, text: &str, options: &[&str]) -> i64 {
    let mut args = vec!["CHAT.SEND", room, sender, text];
    args.extend(options);
    int(&q(con, &args))
}

fn ids(page: &[Json]) -> Vec<i64> {
    page.iter().map(|d| d["id"].as_i64().unwrap()).collect()
}

/// The one message `id` of `room`, as CHAT.HISTORY shows it.
fn message(con: &mut Connection, room: &str, id: i64) -> Json {
    let after = (id - 1).to_string();
    docs(&q(
        con,
        &["CHAT.HISTORY", room, "AFTER", &after, "COUNT", "1"],
    ))
    .remove(0)
}

/// Message `id` of `room` as the exact text CHAT.HISTORY replies (to check
/// the order of its fields).
fn raw_history(con: &mut Connection, room: &str, id: i64) -> String {
    let after = (id - 1).to_string();
    strings(&q(
        con,
        &["CHAT.HISTORY", room, "AFTER", &after, "COUNT", "1"],
    ))
    .remove(0)
}

/// A map reply of integers, as (field, value) pairs in reply order.
fn counts(v: &Value) -> Vec<(String, i64)> {
    pairs(v).into_iter().map(|(k, v)| (k, int(&v))).collect()
}

fn mentions(con: &mut Connection, user: &str) -> Vec<(String, i64)> {
    counts(&q(con, &["CHAT.MENTIONS", user]))
}

fn room_info(con: &mut Connection, room: &str, name: &str) -> i64 {
    int(&field(&q(con, &["CHAT.INFO", room]), name))
}

/// Runs `args`, expects exactly the error `expected`, and checks that
/// nothing was written.
fn refused(con: &mut Connection, args: &[&str], expected: &str) {
    let before = digest(con);
    assert_eq!(err(con, args), expected, "{args:?}");
    assert_eq!(digest(con), before, "{args:?} wrote something");
}
