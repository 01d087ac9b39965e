//! Moderation kept by DEBUG RELOAD (the RDB encoding) and by replicas (the
//! replication stream, with the primary's time, and a full sync): bans and
//! mutes keep their ends, and only the primary checks clocks.

use std::thread::{self, sleep};
use std::time::Duration;

use serde_json::json;

use crate::common::*;
use crate::{invites, owned_room, refused, roles, room_with_roles, send, sent_by, until_in};

/// Every kind of moderation state in one room `r` (owner alice, admin bob,
/// members carol and dave) and a private room `p` (erin invited); bans
/// and mutes for `seconds`, and others until lifted.
fn moderated(con: &mut redis::Connection, seconds: &str) {
    room_with_roles(
        con,
        "r",
        "alice",
        &["bob", "carol", "dave", "hank"],
        &[("bob", "admin"), ("hank", "owner")],
    );
    for u in ["erin", "frank", "gina"] {
        q(con, &["CHAT.REGISTER", u, u]);
    }
    q(
        con,
        &["CHAT.CREATE", "p", "Private", "OWNER", "alice", "PRIVATE"],
    );
    q(con, &["CHAT.INVITE", "p", "alice", "erin"]);
    q(con, &["CHAT.INVITE", "r", "bob", "gina"]);
    send(con, "r", "carol", "one");
    send(con, "r", "dave", "two");
    q(con, &["CHAT.DELETE", "r", "bob", "1"]);
    q(con, &["CHAT.PIN", "r", "bob", "2"]);
    q(con, &["CHAT.SLOWMODE", "r", "alice", "7"]);
    q(con, &["CHAT.BAN", "r", "bob", "frank", "SECONDS", seconds]);
    q(con, &["CHAT.BAN", "r", "alice", "gina"]);
    q(con, &["CHAT.MUTE", "r", "bob", "carol", "SECONDS", seconds]);
    q(con, &["CHAT.MUTE", "r", "alice", "dave"]);
}

#[test]
fn bans_and_mutes_keep_their_ends_through_debug_reload() {
    let server = Server::start();
    let mut con = server.conn();
    moderated(&mut con, "1");
    let before = dump(&mut con, "r");
    let digest_before = digest(&mut con);
    let until = before["bans"]["frank"].as_i64().expect("an end");
    assert_eq!(before["bans"]["gina"], json!(null));
    assert_eq!(before["mutes"]["dave"], json!(null));
    assert!(before["mutes"]["carol"].is_i64());
    assert_eq!(before["slowmode"], json!(7));
    assert_eq!(before["deleted_by"], json!({"1": "bob"}));
    // The ban took gina's invitation.
    assert!(
        before["invites"].is_null() || before["invites"] == json!({}),
        "{before}"
    );

    q(&mut con, &["DEBUG", "RELOAD"]);
    assert_eq!(
        digest(&mut con),
        digest_before,
        "DEBUG RELOAD changed the data"
    );
    assert_eq!(dump(&mut con, "r"), before);
    assert_eq!(
        dump(&mut con, "p")["invites"],
        json!({"erin": invites(&mut con, "erin")[0].1})
    );
    assert_eq!(
        roles(&mut con, "r")
            .into_iter()
            .filter(|(_, r)| r != "member")
            .collect::<Vec<_>>(),
        [
            ("alice".to_string(), "owner".to_string()),
            ("bob".into(), "admin".into()),
            ("hank".into(), "owner".into()),
        ]
    );
    assert_eq!(int(&crate::info(&mut con, "p", "private")), 1);
    assert_eq!(int(&crate::info(&mut con, "r", "slowmode")), 7);

    // Still in force, with the same end.
    let got = refused(
        &mut con,
        &["CHAT.SUBSCRIBE", "r", "frank"],
        "BANNED frank is banned from room r until ",
    );
    assert_eq!(until_in(&got).0, until);
    refused(
        &mut con,
        &["CHAT.SEND", "r", "carol", "x"],
        "MUTED carol is muted in room r until ",
    );
    refused(
        &mut con,
        &["CHAT.SUBSCRIBE", "r", "gina"],
        "BANNED gina is banned from room r until CHAT.UNBAN",
    );
    refused(
        &mut con,
        &["CHAT.SEND", "r", "dave", "x"],
        "MUTED dave is muted in room r until CHAT.UNMUTE",
    );
    refused(&mut con, &["CHAT.SUBSCRIBE", "p", "frank"], "NOINVITE ");

    // ... and ends when it said it would.
    let left = until + 150 - now_ms();
    if left > 0 {
        sleep(Duration::from_millis(left as u64));
    }
    q(&mut con, &["CHAT.SUBSCRIBE", "r", "frank"]);
    send(&mut con, "r", "carol", "free again");
    refused(&mut con, &["CHAT.SUBSCRIBE", "r", "gina"], "BANNED ");
    // The invited one still gets into the private room after the reload.
    q(&mut con, &["CHAT.SUBSCRIBE", "p", "erin"]);
}

#[test]
fn replicas_get_moderation_with_the_primarys_time() {
    let primary = Server::start();
    let mut pcon = primary.conn();
    let live = start_replica(&primary, true);
    let mut lcon = live.conn();
    moderated(&mut pcon, "100");

    // The replica is busy for a while: what it applies afterwards must
    // still end when the primary said.
    let sleeper = {
        let mut con = live.conn();
        thread::spawn(move || q(&mut con, &["DEBUG", "SLEEP", "0.5"]))
    };
    sleep(Duration::from_millis(100));
    q(&mut pcon, &["CHAT.REGISTER", "ivan", "I"]);
    q(
        &mut pcon,
        &["CHAT.BAN", "r", "alice", "ivan", "SECONDS", "50"],
    );
    q(
        &mut pcon,
        &["CHAT.MUTE", "r", "alice", "bob", "SECONDS", "50"],
    );
    q(&mut pcon, &["CHAT.ROLE", "r", "alice", "hank", "admin"]);
    q(&mut pcon, &["CHAT.KICK", "r", "hank", "carol"]);
    wait_for_replicas(&mut pcon, 1);
    sleeper.join().unwrap();
    assert_same_data(&mut pcon, &mut lcon, "live replica");
    let on_primary = dump(&mut pcon, "r");
    let on_replica = dump(&mut lcon, "r");
    for key in [
        "bans",
        "mutes",
        "roles",
        "invites",
        "deleted_by",
        "slowmode",
        "private",
    ] {
        assert_eq!(on_replica[key], on_primary[key], "{key}");
    }
    assert!(on_primary["bans"]["ivan"].is_i64());
    assert!(on_primary["mutes"]["bob"].is_i64());
    assert_eq!(
        dump(&mut lcon, "erin")["invites"],
        dump(&mut pcon, "erin")["invites"]
    );

    // A replica synced from scratch gets the same (the RDB encoding).
    let fresh = start_replica(&primary, true);
    let mut fcon = fresh.conn();
    wait_for_replicas(&mut pcon, 2);
    assert_same_data(&mut pcon, &mut fcon, "replica after a full sync");
    assert_eq!(dump(&mut fcon, "r"), on_primary);

    // Lifting and ending replicate too.
    q(&mut pcon, &["CHAT.UNBAN", "r", "alice", "ivan"]);
    q(&mut pcon, &["CHAT.UNMUTE", "r", "alice", "bob"]);
    q(&mut pcon, &["CHAT.SLOWMODE", "r", "alice", "0"]);
    q(&mut pcon, &["CHAT.SUBSCRIBE", "r", "ivan"]);
    wait_for_replicas(&mut pcon, 2);
    assert_same_data(&mut pcon, &mut lcon, "live replica after lifting");
    assert_same_data(&mut pcon, &mut fcon, "fresh replica after lifting");
}

#[test]
fn only_the_primary_limits_sends() {
    let primary = Server::start();
    let mut pcon = primary.conn();
    let replica = start_replica(&primary, true);
    let mut rcon = replica.conn();
    // A limit on the replica alone: the primary's sends all apply there.
    q(&mut rcon, &["CONFIG", "SET", "chat.send-rate", "1"]);
    q(&mut rcon, &["CONFIG", "SET", "chat.send-burst", "1"]);
    owned_room(&mut pcon, "r", "alice", &["bob"]);
    for i in 0..10 {
        send(&mut pcon, "r", "bob", &format!("m{i}"));
    }
    wait_for_replicas(&mut pcon, 1);
    assert_eq!(sent_by(&mut rcon, "r", "bob"), 10);
    assert_same_data(&mut pcon, &mut rcon, "replica with its own rate limit");

    // The primary's limit refuses on the primary; nothing of it reaches the
    // replica.
    q(&mut pcon, &["CONFIG", "SET", "chat.send-rate", "2"]);
    q(&mut pcon, &["CONFIG", "SET", "chat.send-burst", "2"]);
    send(&mut pcon, "r", "alice", "a");
    send(&mut pcon, "r", "alice", "b");
    refused(
        &mut pcon,
        &["CHAT.SEND", "r", "alice", "c"],
        "RATELIMIT alice ",
    );
    wait_for_replicas(&mut pcon, 1);
    assert_same_data(&mut pcon, &mut rcon, "after a refused send");
    assert_eq!(sent_by(&mut rcon, "r", "alice"), 2);
}

#[test]
fn the_aof_replays_what_was_accepted_whatever_the_limits_now() {
    const AOF: [&str; 4] = ["--appendonly", "yes", "--appendfsync", "always"];
    let mut server = Server::start_with(&[], &AOF);
    let mut con = server.conn();
    moderated(&mut con, "100");
    for i in 0..10 {
        send(&mut con, "r", "bob", &format!("quick {i}"));
    }
    let before = dump(&mut con, "r");
    let digest_before = digest(&mut con);
    let until = before["bans"]["frank"].as_i64().expect("an end");

    // Restarted with a rate limit that would have refused most of those.
    server.restart_with(&["send-rate", "1"], &AOF);
    let mut con = server.conn();
    assert_eq!(
        digest(&mut con),
        digest_before,
        "the AOF replayed otherwise"
    );
    assert_eq!(dump(&mut con, "r"), before);
    assert_eq!(sent_by(&mut con, "r", "bob"), 10);
    let got = refused(
        &mut con,
        &["CHAT.SUBSCRIBE", "r", "frank"],
        "BANNED frank is banned from room r until ",
    );
    assert_eq!(until_in(&got).0, until);
    // The limit holds for new sends.
    send(&mut con, "r", "bob", "one more");
    refused(
        &mut con,
        &["CHAT.SEND", "r", "bob", "too fast"],
        "RATELIMIT bob ",
    );
}

#[test]
fn a_client_may_not_move_the_clock_past_a_ban_or_mute() {
    let server = Server::start();
    let mut con = server.conn();
    moderated(&mut con, "100");
    let later = (now_ms() + 200_000).to_string();
    for args in [
        &["CHAT.AT", &later, "CHAT.SUBSCRIBE", "r", "frank"][..],
        &["CHAT.AT", &later, "CHAT.SEND", "r", "carol", "unmuted?"],
        &["CHAT.AT", &later, "CHAT.UNBAN", "r", "alice", "frank"],
    ] {
        refused(&mut con, args, "");
        let script = "return redis.call(unpack(ARGV))";
        let mut eval = vec!["EVAL", script, "0"];
        eval.extend_from_slice(args);
        refused(&mut con, &eval, "");
    }
    refused(&mut con, &["CHAT.SUBSCRIBE", "r", "frank"], "BANNED frank ");
    refused(&mut con, &["CHAT.SEND", "r", "carol", "x"], "MUTED carol ");
}
