//! Who may speak, and how often: CHAT.MUTE / CHAT.UNMUTE, CHAT.SLOWMODE,
//! and the per-sender rate limit (`chat.send-rate`, `chat.send-burst`),
//! each under a flood of sends from 20 connections.

use std::thread::sleep;
use std::time::{Duration, Instant};

use redis::Value;
use serde_json::json;

use crate::common::*;
use crate::{
    benchmark, flood, info, noperm, owned_room, refused, refused_exactly, room_with_roles, send,
    sent_by, stat, until_in, wait_ms_in,
};

#[test]
fn a_muted_member_may_not_send_react_or_edit() {
    let server = Server::start();
    let mut con = server.conn();
    room_with_roles(
        &mut con,
        "r",
        "alice",
        &["bob", "carol"],
        &[("bob", "admin")],
    );
    q(&mut con, &["CHAT.REGISTER", "dave", "D"]);
    send(&mut con, "r", "carol", "before");
    q(&mut con, &["CHAT.REACT", "r", "carol", "1", "ok"]);

    assert_eq!(
        q(&mut con, &["CHAT.MUTE", "r", "bob", "carol"]),
        Value::Okay
    );
    assert_eq!(dump(&mut con, "r")["mutes"], json!({"carol": null}));
    let muted = "MUTED carol is muted in room r until CHAT.UNMUTE";
    for args in [
        &["CHAT.SEND", "r", "carol", "hello"][..],
        &["CHAT.REACT", "r", "carol", "1", "yes"],
        &["CHAT.UNREACT", "r", "carol", "1", "ok"],
        &["CHAT.EDIT", "r", "carol", "1", "changed"],
    ] {
        refused_exactly(&mut con, args, muted);
    }
    // Still a member, who reads and is read to.
    assert_eq!(send(&mut con, "r", "alice", "to all"), 2);
    q(&mut con, &["CHAT.READ", "r", "carol", "2"]);

    // The mute stays through leaving and coming back.
    q(&mut con, &["CHAT.UNSUBSCRIBE", "r", "carol"]);
    q(&mut con, &["CHAT.SUBSCRIBE", "r", "carol"]);
    refused_exactly(&mut con, &["CHAT.SEND", "r", "carol", "back"], muted);

    refused_exactly(
        &mut con,
        &["CHAT.MUTE", "r", "alice", "dave"],
        "ERR user is not a member of the room",
    );
    noperm(&mut con, &["CHAT.UNMUTE", "r", "carol", "carol"]);
    for seconds in ["0", "315360001", "x"] {
        refused(
            &mut con,
            &["CHAT.MUTE", "r", "alice", "carol", "SECONDS", seconds],
            "ERR ",
        );
    }

    // A mute for seconds says until when.
    let before = now_ms();
    q(
        &mut con,
        &["CHAT.MUTE", "r", "alice", "carol", "SECONDS", "60"],
    );
    let got = refused(
        &mut con,
        &["CHAT.SEND", "r", "carol", "now?"],
        "MUTED carol is muted in room r until ",
    );
    let (until, seconds) = until_in(&got);
    assert!(
        (before + 60_000..=now_ms() + 60_000).contains(&until),
        "{got}"
    );
    assert!((59..=60).contains(&seconds), "{got}");
    assert_eq!(dump(&mut con, "r")["mutes"], json!({"carol": until}));

    // UNMUTE: 1 for a mute in force, then 0.
    assert_eq!(int(&q(&mut con, &["CHAT.UNMUTE", "r", "bob", "carol"])), 1);
    assert_eq!(int(&q(&mut con, &["CHAT.UNMUTE", "r", "bob", "carol"])), 0);
    assert_eq!(send(&mut con, "r", "carol", "free"), 3);
    assert_eq!(
        int(&q(&mut con, &["CHAT.REACT", "r", "carol", "1", "yes"])),
        1
    );
    q(&mut con, &["CHAT.EDIT", "r", "carol", "1", "changed"]);
}

#[test]
fn a_mute_for_seconds_ends_by_itself() {
    let server = Server::start();
    let mut con = server.conn();
    owned_room(&mut con, "r", "alice", &["bob"]);
    q(
        &mut con,
        &["CHAT.MUTE", "r", "alice", "bob", "SECONDS", "1"],
    );
    refused(
        &mut con,
        &["CHAT.SEND", "r", "bob", "hi"],
        "MUTED bob is muted",
    );
    sleep(Duration::from_millis(1200));
    assert_eq!(send(&mut con, "r", "bob", "hi"), 1);
    assert_eq!(int(&q(&mut con, &["CHAT.UNMUTE", "r", "alice", "bob"])), 0);
}

#[test]
fn slow_mode_spaces_a_members_messages() {
    let server = Server::start();
    let mut con = server.conn();
    room_with_roles(
        &mut con,
        "r",
        "alice",
        &["bob", "carol"],
        &[("bob", "admin")],
    );
    assert_eq!(
        q(&mut con, &["CHAT.SLOWMODE", "r", "bob", "10"]),
        Value::Okay
    );
    assert_eq!(int(&info(&mut con, "r", "slowmode")), 10);
    assert_eq!(dump(&mut con, "r")["slowmode"], json!(10));

    send(&mut con, "r", "carol", "one");
    let got = refused(
        &mut con,
        &["CHAT.SEND", "r", "carol", "two"],
        "SLOWMODE room r allows a member one message every 10 seconds; carol may send again in ",
    );
    assert!(got.contains("may send again in"));
    let wait = wait_ms_in(&got);
    assert!((9_000..=10_000).contains(&wait), "{got}");
    // Owners and admins are exempt.
    for sender in ["alice", "alice", "bob", "bob"] {
        send(&mut con, "r", sender, "moderators talk freely");
    }
    // Leaving and coming back does not start the wait again.
    q(&mut con, &["CHAT.UNSUBSCRIBE", "r", "carol"]);
    q(&mut con, &["CHAT.SUBSCRIBE", "r", "carol"]);
    refused(&mut con, &["CHAT.SEND", "r", "carol", "two"], "SLOWMODE ");
    // A retry of a send that went through replies its id, as always.
    let dedup = ["CHAT.SEND", "r", "bob", "once", "DEDUP", "k1"];
    let id = int(&q(&mut con, &dedup));
    q(&mut con, &["CHAT.ROLE", "r", "alice", "bob", "member"]);
    let before = digest(&mut con);
    assert_eq!(int(&q(&mut con, &dedup)), id, "a retry in slow mode");
    assert_eq!(digest(&mut con), before);
    q(&mut con, &["CHAT.ROLE", "r", "alice", "bob", "admin"]);

    for (seconds, shown) in [("3601", "3601"), ("-1", "-1"), ("x", "x"), ("1.5", "1.5")] {
        refused_exactly(
            &mut con,
            &["CHAT.SLOWMODE", "r", "alice", seconds],
            &format!("ERR seconds must be an integer from 0 to 3600, got '{shown}'"),
        );
    }
    noperm(&mut con, &["CHAT.SLOWMODE", "r", "carol", "0"]);
    q(&mut con, &["CHAT.SLOWMODE", "r", "alice", "3600"]);
    assert_eq!(int(&info(&mut con, "r", "slowmode")), 3600);
    // 0: off.
    q(&mut con, &["CHAT.SLOWMODE", "r", "alice", "0"]);
    assert_eq!(int(&info(&mut con, "r", "slowmode")), 0);
    send(&mut con, "r", "carol", "two");
    send(&mut con, "r", "carol", "three");
    assert_eq!(sent_by(&mut con, "r", "carol"), 3);
}

#[test]
fn a_flood_in_slow_mode_gets_one_message_per_window() {
    let server = Server::start();
    let mut con = server.conn();
    owned_room(&mut con, "room", "alice", &["bob"]);
    q(&mut con, &["CHAT.SLOWMODE", "room", "alice", "1"]);
    let last_before = int(&info(&mut con, "room", "last_id"));
    let start = Instant::now();
    let printed = benchmark(&server, &["CHAT.SEND", "room", "bob", "hi"]);
    let (accepted, errors) = flood(&server, &["CHAT.SEND", "room", "bob", "hi"], 100);
    let elapsed = start.elapsed().as_secs_f64();

    assert!(
        printed.contains("SLOWMODE"),
        "redis-benchmark printed {printed}"
    );
    let sent = sent_by(&mut con, "room", "bob");
    assert!(sent >= 1, "no send got through");
    assert!(
        (sent as f64) <= elapsed + 1.0,
        "{sent} sends accepted in {elapsed:.2} s of slow mode 1"
    );
    assert_eq!(
        int(&info(&mut con, "room", "last_id")) - last_before,
        sent,
        "only bob sent"
    );
    assert!(accepted as i64 <= sent);
    assert_eq!(
        errors.len(),
        2000 - accepted,
        "every thread's send was answered"
    );
    for e in &errors {
        assert!(
            e.starts_with("SLOWMODE room room allows a member one message every 1 seconds; bob may send again in "),
            "{e}"
        );
    }
    let refusals = stat(&mut con, "refused_slowmode");
    // The threads' refusals, and at least one that stopped redis-benchmark.
    assert!(refusals > errors.len() as i64, "{refusals}");
    // The owner is exempt however fast she goes.
    let (accepted, errors) = flood(&server, &["CHAT.SEND", "room", "alice", "hi"], 5);
    assert_eq!((accepted, errors.len()), (100, 0), "{errors:?}");
}

#[test]
fn the_rate_limit_is_a_token_bucket_per_sender() {
    let server = Server::start();
    let mut con = server.conn();
    assert_eq!(
        strings(&q(&mut con, &["CONFIG", "GET", "chat.send-rate"])),
        ["chat.send-rate", "0"]
    );
    for (name, bad) in [
        ("chat.send-rate", "-1"),
        ("chat.send-rate", "1000001"),
        ("chat.send-burst", "1000001"),
        ("chat.send-burst", "x"),
    ] {
        assert!(
            try_q(&mut con, &["CONFIG", "SET", name, bad]).is_err(),
            "{name} {bad}"
        );
    }
    owned_room(&mut con, "r", "alice", &["bob", "carol"]);
    q(&mut con, &["CHAT.CREATE", "other", "Other"]);
    q(&mut con, &["CHAT.SUBSCRIBE", "other", "bob"]);

    // Burst 0: the rate. Three at once, then none until a token comes back.
    q(&mut con, &["CONFIG", "SET", "chat.send-rate", "3"]);
    let dedup = ["CHAT.SEND", "r", "bob", "hi", "DEDUP", "first"];
    let first = int(&q(&mut con, &dedup));
    for _ in 0..2 {
        send(&mut con, "r", "bob", "hi");
    }
    let got = refused(
        &mut con,
        &["CHAT.SEND", "r", "bob", "hi"],
        "RATELIMIT bob may send 3 messages per second (burst 3, chat.send-rate); retry in ",
    );
    assert!((1..=334).contains(&wait_ms_in(&got)), "{got}");
    // A retry of a send that went through is no new send.
    assert_eq!(int(&q(&mut con, &dedup)), first);
    // The bucket is the sender's, over every room; others have their own,
    // owners included.
    refused(
        &mut con,
        &["CHAT.SEND", "other", "bob", "hi"],
        "RATELIMIT bob ",
    );
    for _ in 0..3 {
        send(&mut con, "r", "alice", "hi");
    }
    refused(
        &mut con,
        &["CHAT.SEND", "r", "alice", "hi"],
        "RATELIMIT alice ",
    );
    send(&mut con, "r", "carol", "hi");
    // A token comes back after 1/rate s.
    sleep(Duration::from_millis(400));
    send(&mut con, "r", "bob", "again");

    q(&mut con, &["CONFIG", "SET", "chat.send-burst", "5"]);
    q(&mut con, &["CONFIG", "SET", "chat.send-rate", "0"]);
    for _ in 0..20 {
        send(&mut con, "r", "bob", "no limit");
    }
}

#[test]
fn a_flood_gets_the_burst_and_the_rate() {
    let server = Server::start();
    let mut con = server.conn();
    owned_room(&mut con, "room", "alice", &["bob"]);
    q(&mut con, &["CONFIG", "SET", "chat.send-rate", "5"]);
    q(&mut con, &["CONFIG", "SET", "chat.send-burst", "5"]);
    let start = Instant::now();
    let printed = benchmark(&server, &["CHAT.SEND", "room", "bob", "hi"]);
    let (accepted, errors) = flood(&server, &["CHAT.SEND", "room", "bob", "hi"], 100);
    let elapsed = start.elapsed().as_secs_f64();

    assert!(
        printed.contains("RATELIMIT"),
        "redis-benchmark printed {printed}"
    );
    let sent = sent_by(&mut con, "room", "bob");
    assert!(sent >= 5, "the burst was not granted: {sent}");
    assert!(
        (sent as f64) <= 5.0 + 5.0 * elapsed + 1.0,
        "{sent} sends accepted in {elapsed:.2} s at 5/s, burst 5"
    );
    assert_eq!(int(&info(&mut con, "room", "last_id")), sent);
    assert_eq!(errors.len(), 2000 - accepted);
    for e in &errors {
        assert!(
            e.starts_with(
                "RATELIMIT bob may send 5 messages per second (burst 5, chat.send-rate); retry in "
            ),
            "{e}"
        );
        assert!((1..=200).contains(&wait_ms_in(e)), "{e}");
    }
    assert!(stat(&mut con, "refused_ratelimit") > errors.len() as i64);
    // Within the limit: a second sender is not refused.
    send(&mut con, "room", "alice", "my own bucket");
}
