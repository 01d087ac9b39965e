//! INFO chat: a counter for each kind of refusal, and one for moderation
//! actions.

use crate::common::*;
use crate::{noperm, owned_room, refused, room_with_roles, send, stat};

const REFUSALS: [&str; 6] = [
    "refused_slowmode",
    "refused_muted",
    "refused_banned",
    "refused_private",
    "refused_role",
    "refused_ratelimit",
];

fn refusals(con: &mut redis::Connection) -> Vec<i64> {
    REFUSALS.iter().map(|name| stat(con, name)).collect()
}

/// Runs `refuse`, then checks that counter `which` went up by one and no
/// other refusal counter moved.
fn counts_one(
    con: &mut redis::Connection,
    which: &str,
    refuse: impl FnOnce(&mut redis::Connection),
) {
    let before = refusals(con);
    refuse(con);
    let after = refusals(con);
    for (i, name) in REFUSALS.iter().enumerate() {
        let expected = before[i] + i64::from(*name == which);
        assert_eq!(
            after[i], expected,
            "{name} after a refusal counted as {which}"
        );
    }
}

#[test]
fn each_refusal_has_its_counter() {
    let server = Server::start();
    let mut con = server.conn();
    assert_eq!(refusals(&mut con), [0; 6]);
    room_with_roles(&mut con, "r", "alice", &["bob", "carol"], &[]);
    q(
        &mut con,
        &["CHAT.CREATE", "p", "P", "OWNER", "alice", "PRIVATE"],
    );
    for u in ["dave", "erin"] {
        q(&mut con, &["CHAT.REGISTER", u, u]);
    }
    q(&mut con, &["CHAT.SLOWMODE", "r", "alice", "60"]);
    q(&mut con, &["CHAT.MUTE", "r", "alice", "carol"]);
    q(&mut con, &["CHAT.BAN", "r", "alice", "dave"]);
    assert_eq!(refusals(&mut con), [0; 6], "actions are no refusals");

    send(&mut con, "r", "bob", "first");
    counts_one(&mut con, "refused_slowmode", |con| {
        refused(con, &["CHAT.SEND", "r", "bob", "second"], "SLOWMODE ");
    });
    counts_one(&mut con, "refused_muted", |con| {
        refused(con, &["CHAT.SEND", "r", "carol", "hi"], "MUTED ");
    });
    counts_one(&mut con, "refused_banned", |con| {
        refused(con, &["CHAT.SUBSCRIBE", "r", "dave"], "BANNED ");
    });
    counts_one(&mut con, "refused_private", |con| {
        refused(con, &["CHAT.SUBSCRIBE", "p", "erin"], "NOINVITE ");
    });
    counts_one(&mut con, "refused_role", |con| {
        noperm(con, &["CHAT.KICK", "r", "bob", "carol"]);
    });
    counts_one(&mut con, "refused_role", |con| {
        noperm(con, &["CHAT.PIN", "r", "bob", "1"]);
    });
    q(&mut con, &["CONFIG", "SET", "chat.send-rate", "1"]);
    owned_room(&mut con, "open", "erin", &[]);
    send(&mut con, "open", "erin", "one");
    counts_one(&mut con, "refused_ratelimit", |con| {
        refused(con, &["CHAT.SEND", "open", "erin", "two"], "RATELIMIT ");
    });
    assert_eq!(refusals(&mut con), [1, 1, 1, 1, 2, 1]);
}

#[test]
fn moderation_actions_are_counted_and_refusals_are_not() {
    let server = Server::start();
    let mut con = server.conn();
    owned_room(&mut con, "r", "alice", &["bob", "carol"]);
    q(&mut con, &["CHAT.REGISTER", "dave", "D"]);
    let mut count = stat(&mut con, "moderation_actions");
    for args in [
        &["CHAT.ROLE", "r", "alice", "bob", "admin"][..],
        &["CHAT.INVITE", "r", "alice", "dave"],
        &["CHAT.MUTE", "r", "bob", "carol"],
        &["CHAT.UNMUTE", "r", "bob", "carol"],
        &["CHAT.SLOWMODE", "r", "alice", "5"],
        &["CHAT.KICK", "r", "alice", "carol"],
        &["CHAT.BAN", "r", "alice", "carol", "SECONDS", "60"],
        &["CHAT.UNBAN", "r", "alice", "carol"],
    ] {
        q(&mut con, args);
        let now = stat(&mut con, "moderation_actions");
        assert!(now > count, "{args:?} was not counted");
        count = now;
    }
    noperm(&mut con, &["CHAT.KICK", "r", "bob", "alice"]);
    refused(&mut con, &["CHAT.SLOWMODE", "r", "alice", "9999"], "ERR ");
    assert_eq!(stat(&mut con, "moderation_actions"), count);
}
