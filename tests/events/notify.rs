//! CHAT.NOTIFY, and the stream entries a send records for the members who
//! are away: who gets one, why, with what fields, and how many the stream
//! keeps (chat.notify-max).

use crate::common::*;
use crate::{entries, pairs_of, register, send, stat, value_of, who_why};

const FIELDS: [&str; 7] = ["user", "reason", "room", "id", "sender", "ts", "text"];

fn setting(con: &mut redis::Connection, user: &str) -> String {
    text(&field(&q(con, &["CHAT.PROFILE", user]), "notify"))
}

fn notify(con: &mut redis::Connection, user: &str, value: &str) {
    assert_eq!(
        q(con, &["CHAT.NOTIFY", user, value]),
        redis::Value::Okay,
        "CHAT.NOTIFY {user} {value}"
    );
}

/// The (user, reason) pairs recorded since the stream had `from` entries,
/// sorted (one send records its members in no promised order).
fn recorded_since(con: &mut redis::Connection, from: usize) -> Vec<(String, String)> {
    let mut got = who_why(&entries(con, "chat:notify")[from..]);
    got.sort();
    got
}

#[test]
fn the_setting_is_all_mentions_or_none_and_mentions_by_default() {
    let server = Server::start();
    let mut con = server.conn();
    register(&mut con, &["bob"]);
    assert_eq!(setting(&mut con, "bob"), "mentions");
    assert_eq!(dump(&mut con, "bob")["notify"], "mentions");
    for value in ["all", "none", "mentions", "none"] {
        notify(&mut con, "bob", value);
        assert_eq!(setting(&mut con, "bob"), value);
        assert_eq!(dump(&mut con, "bob")["notify"], value);
    }
    let before = digest(&mut con);
    for bad in ["some", "", "al", "mention"] {
        assert_eq!(
            err(&mut con, &["CHAT.NOTIFY", "bob", bad]),
            "ERR notify must be all, mentions or none",
            "{bad:?}"
        );
    }
    assert_eq!(digest(&mut con), before, "a refused setting wrote");
    assert_eq!(
        err(&mut con, &["CHAT.NOTIFY", "nobody", "all"]),
        "ERR no such user"
    );
    let e = err(&mut con, &["CHAT.NOTIFY", "bob"]);
    assert!(e.contains("wrong number of arguments"), "{e}");
    // Kept in the user's value.
    notify(&mut con, "bob", "all");
    q(&mut con, &["DEBUG", "RELOAD"]);
    assert_eq!(setting(&mut con, "bob"), "all");
}

#[test]
fn away_members_of_a_fanout_room_are_notified_as_they_asked() {
    let server = Server::start();
    let mut con = server.conn();
    // bob and frank: mentions (the default); carol and dave: all; erin:
    // none. dave is online (no listener needed: presence decides).
    let users = ["alice", "bob", "carol", "dave", "erin", "frank"];
    room_with(&mut con, "r", &users);
    notify(&mut con, "carol", "all");
    notify(&mut con, "dave", "all");
    notify(&mut con, "erin", "none");
    q(&mut con, &["CHAT.ONLINE", "dave", "TTL", "60"]);
    q(&mut con, &["CHAT.ONLINE", "alice", "TTL", "60"]);
    let counted = stat(&mut con, "notifications");

    send(&mut con, "r", "alice", "hello all", &[]);
    assert_eq!(
        recorded_since(&mut con, 0),
        pairs_of(&[("carol", "message")])
    );
    let mentions = ["bob", "carol", "dave", "erin"];
    let id = send(&mut con, "r", "alice", "hey you", &mentions);
    assert_eq!(
        recorded_since(&mut con, 1),
        pairs_of(&[("bob", "mention"), ("carol", "mention")])
    );
    // The sender is never notified, even with `all` and away; alice,
    // away now with `all`, is.
    q(&mut con, &["CHAT.OFFLINE", "alice"]);
    notify(&mut con, "alice", "all");
    send(&mut con, "r", "carol", "from carol", &[]);
    assert_eq!(
        recorded_since(&mut con, 3),
        pairs_of(&[("alice", "message")])
    );

    // Direct rooms: every message, for `mentions` and `all`; not for
    // `none`, nor for a member online.
    let direct = |con: &mut redis::Connection, other: &str| {
        let dm = text(&q(con, &["CHAT.DM", "alice", other]));
        send(con, &dm, "alice", "psst", &[]);
        dm
    };
    let dm_bob = direct(&mut con, "bob");
    assert_eq!(recorded_since(&mut con, 4), pairs_of(&[("bob", "direct")]));
    direct(&mut con, "carol");
    direct(&mut con, "dave");
    direct(&mut con, "erin");
    assert_eq!(
        recorded_since(&mut con, 5),
        pairs_of(&[("carol", "direct")])
    );

    // Each entry: its fields in order, the message's own values.
    let all = entries(&mut con, "chat:notify");
    assert_eq!(all.len(), 6);
    assert_eq!(int(&q(&mut con, &["XLEN", "chat:notify"])), 6);
    let message = &docs(&q(
        &mut con,
        &["CHAT.HISTORY", "r", "AFTER", "1", "COUNT", "1"],
    ))[0];
    let ts = message["ts"].as_i64().unwrap().to_string();
    let bob = all
        .iter()
        .find(|(_, f)| value_of(f, "user") == "bob")
        .unwrap();
    let expected: Vec<(String, String)> = FIELDS
        .into_iter()
        .zip([
            "bob",
            "mention",
            "r",
            &id.to_string(),
            "alice",
            &ts,
            "hey you",
        ])
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(bob.1, expected);
    // Entry ids are Redis's, ascending, at the send's time.
    assert!(bob.0.starts_with(&format!("{ts}-")), "{} vs {ts}", bob.0);
    let direct_entry = &all[4].1;
    assert_eq!(value_of(direct_entry, "room"), dm_bob);
    assert_eq!(value_of(direct_entry, "id"), "1");

    assert_eq!(stat(&mut con, "notifications"), counted + 6);
    assert_eq!(stat(&mut con, "notification_failures"), 0);
}

#[test]
fn a_broadcast_room_notifies_only_mentioned_members_away() {
    let server = Server::start_with(&["fanout-max-members", "2"], &[]);
    let mut con = server.conn();
    room_with(
        &mut con,
        "big",
        &["alice", "bob", "carol", "dave", "erin", "frank"],
    );
    notify(&mut con, "bob", "all");
    notify(&mut con, "dave", "all");
    notify(&mut con, "erin", "none");
    q(&mut con, &["CHAT.ONLINE", "dave", "TTL", "60"]);
    send(&mut con, "big", "alice", "to everyone", &[]);
    assert_eq!(int(&q(&mut con, &["EXISTS", "chat:notify"])), 0);
    send(
        &mut con,
        "big",
        "alice",
        "you four",
        &["bob", "carol", "dave", "erin"],
    );
    assert_eq!(
        recorded_since(&mut con, 0),
        pairs_of(&[("bob", "mention"), ("carol", "mention")])
    );
    assert_eq!(stat(&mut con, "notifications"), 2);
}

#[test]
fn the_stream_keeps_about_notify_max_entries() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    notify(&mut con, "bob", "all");
    let got = strings(&q(&mut con, &["CONFIG", "GET", "chat.notify-max"]));
    assert_eq!(got, ["chat.notify-max", "100000"]);

    // `~` trims whole stream nodes: with nodes of 4 entries, 5 kept means
    // 5 to 8.
    q(&mut con, &["CONFIG", "SET", "stream-node-max-entries", "4"]);
    q(&mut con, &["CONFIG", "SET", "chat.notify-max", "5"]);
    for i in 1..=20 {
        send(&mut con, "r", "alice", &format!("m{i}"), &[]);
    }
    let kept = entries(&mut con, "chat:notify");
    assert!((5..=9).contains(&kept.len()), "{} entries", kept.len());
    // The newest are kept, in order.
    let ids: Vec<i64> = kept
        .iter()
        .map(|(_, f)| value_of(f, "id").parse().unwrap())
        .collect();
    let newest: Vec<i64> = (21 - ids.len() as i64..=20).collect();
    assert_eq!(ids, newest);

    // With Redis's default nodes of 100 entries.
    q(&mut con, &["DEL", "chat:notify"]);
    q(
        &mut con,
        &["CONFIG", "SET", "stream-node-max-entries", "100"],
    );
    q(&mut con, &["CONFIG", "SET", "chat.notify-max", "150"]);
    for i in 1..=400 {
        send(&mut con, "r", "alice", &format!("n{i}"), &[]);
    }
    let len = int(&q(&mut con, &["XLEN", "chat:notify"]));
    assert!((150..=250).contains(&len), "XLEN {len}");
    assert_eq!(stat(&mut con, "notifications"), 420);
}

#[test]
fn notify_max_0_records_none() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    q(&mut con, &["CONFIG", "SET", "chat.notify-max", "0"]);
    assert_eq!(send(&mut con, "r", "alice", "hi", &["bob"]), 1);
    assert_eq!(int(&q(&mut con, &["EXISTS", "chat:notify"])), 0);
    assert_eq!(stat(&mut con, "notifications"), 0);
    q(&mut con, &["CONFIG", "SET", "chat.notify-max", "10"]);
    send(&mut con, "r", "alice", "again", &["bob"]);
    assert_eq!(int(&q(&mut con, &["XLEN", "chat:notify"])), 1);
    assert_eq!(stat(&mut con, "notifications"), 1);
}

#[test]
fn a_record_redis_refuses_is_counted_and_the_send_stands() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    q(&mut con, &["SET", "chat:notify", "not a stream"]);
    assert_eq!(send(&mut con, "r", "alice", "hi", &["bob"]), 1);
    assert_eq!(stat(&mut con, "notification_failures"), 1);
    assert_eq!(stat(&mut con, "notifications"), 0);
    assert_eq!(text(&q(&mut con, &["GET", "chat:notify"])), "not a stream");
    // The message itself is stored and delivered.
    assert_eq!(docs(&q(&mut con, &["CHAT.HISTORY", "r"])).len(), 1);
    assert_eq!(docs(&q(&mut con, &["CHAT.FETCH", "bob"])).len(), 1);
}
