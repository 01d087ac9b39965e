//! CHAT.NOTIFY, and the stream entry a send records for the members who
//! are away: one per send, naming each member it notifies and why (in the
//! order the send considered them), with what fields, what INFO counts, and
//! how many entries the stream keeps (chat.notify-max).

use crate::common::*;
use crate::{counted, entries, notices, pairs_of, register, send, Counted, Notice, NOTICE_FIELDS};

const KEY: &str = "chat:notify";

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

/// Whom each entry recorded since the stream had `from` entries notifies,
/// (user, reason) in the entry's order.
fn recorded_since(con: &mut redis::Connection, from: usize) -> Vec<Vec<(String, String)>> {
    notices(con, KEY)[from..]
        .iter()
        .map(|n| n.to.clone())
        .collect()
}

/// One entry per recipient list given.
fn each(lists: &[&[(&str, &str)]]) -> Vec<Vec<(String, String)>> {
    lists.iter().map(|l| pairs_of(l)).collect()
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

    send(&mut con, "r", "alice", "hello all", &[]);
    assert_eq!(
        recorded_since(&mut con, 0),
        each(&[&[("carol", "message")]])
    );
    // One entry for both mentioned members away, in the room's order of
    // members (by id), whatever the order of the mentions; a mention wins
    // over `all`; nothing for dave (online) nor erin (none).
    let id = send(
        &mut con,
        "r",
        "alice",
        "hey you",
        &["erin", "dave", "carol", "bob"],
    );
    assert_eq!(
        recorded_since(&mut con, 1),
        each(&[&[("bob", "mention"), ("carol", "mention")]])
    );
    // Reasons differ within an entry.
    send(&mut con, "r", "alice", "frank?", &["frank"]);
    assert_eq!(
        recorded_since(&mut con, 2),
        each(&[&[("carol", "message"), ("frank", "mention")]])
    );
    // A send that concerns nobody away records no entry.
    send(&mut con, "r", "carol", "nobody away", &["dave", "erin"]);
    assert_eq!(int(&q(&mut con, &["XLEN", KEY])), 3);
    // The sender is never notified, even with `all` and away; alice,
    // away now with `all`, is.
    q(&mut con, &["CHAT.OFFLINE", "alice"]);
    notify(&mut con, "alice", "all");
    send(&mut con, "r", "carol", "from carol", &[]);
    assert_eq!(
        recorded_since(&mut con, 3),
        each(&[&[("alice", "message")]])
    );

    // Direct rooms: every message, for `mentions` and `all`; not for
    // `none`, nor for a member online.
    let direct = |con: &mut redis::Connection, other: &str| {
        let dm = text(&q(con, &["CHAT.DM", "alice", other]));
        send(con, &dm, "alice", "psst", &[]);
        dm
    };
    let dm_bob = direct(&mut con, "bob");
    direct(&mut con, "carol");
    direct(&mut con, "dave");
    direct(&mut con, "erin");
    assert_eq!(
        recorded_since(&mut con, 4),
        each(&[&[("bob", "direct")], &[("carol", "direct")]])
    );

    // Each entry: its fields in order, the message's own values, and `to`
    // a JSON object of user to reason.
    let all = notices(&mut con, KEY);
    assert_eq!(all.len(), 6);
    assert_eq!(int(&q(&mut con, &["XLEN", KEY])), 6);
    let after = (id - 1).to_string();
    let message = &docs(&q(
        &mut con,
        &["CHAT.HISTORY", "r", "AFTER", &after, "COUNT", "1"],
    ))[0];
    let ts = message["ts"].as_i64().unwrap();
    let hey = &all[1];
    assert_eq!(
        hey,
        &Notice {
            entry: hey.entry.clone(),
            room: "r".into(),
            id,
            sender: "alice".into(),
            ts,
            text: "hey you".into(),
            to: pairs_of(&[("bob", "mention"), ("carol", "mention")]),
        }
    );
    let raw = &entries(&mut con, KEY)[1];
    let expected: Vec<(String, String)> = NOTICE_FIELDS
        .into_iter()
        .zip([
            "r",
            &id.to_string(),
            "alice",
            &ts.to_string(),
            "hey you",
            r#"{"bob":"mention","carol":"mention"}"#,
        ])
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(raw.1, expected);
    // Entry ids are Redis's, ascending, at the send's time.
    assert!(
        hey.entry.starts_with(&format!("{ts}-")),
        "{} vs {ts}",
        hey.entry
    );
    let ids: Vec<(u64, u64)> = all
        .iter()
        .map(|n| {
            let (ms, seq) = n.entry.split_once('-').unwrap();
            (ms.parse().unwrap(), seq.parse().unwrap())
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_eq!((all[4].room.as_str(), all[4].id), (dm_bob.as_str(), 1));

    // INFO counts each member notified, and each entry.
    assert_eq!(
        counted(&mut con),
        Counted {
            notifications: 8,
            entries: 6,
            failures: 0
        }
    );
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
    assert_eq!(int(&q(&mut con, &["EXISTS", KEY])), 0);
    // One entry, the mentioned members away in the order of the mentions.
    send(
        &mut con,
        "big",
        "alice",
        "you four",
        &["carol", "dave", "alice", "erin", "bob"],
    );
    assert_eq!(
        recorded_since(&mut con, 0),
        each(&[&[("carol", "mention"), ("bob", "mention")]])
    );
    assert_eq!(
        counted(&mut con),
        Counted {
            notifications: 2,
            entries: 1,
            failures: 0
        }
    );
}

#[test]
fn the_stream_keeps_about_notify_max_entries() {
    let server = Server::start();
    let mut con = server.conn();
    // Each send notifies two members: one entry.
    room_with(&mut con, "r", &["alice", "bob", "carol"]);
    notify(&mut con, "bob", "all");
    notify(&mut con, "carol", "all");
    let got = strings(&q(&mut con, &["CONFIG", "GET", "chat.notify-max"]));
    assert_eq!(got, ["chat.notify-max", "100000"]);

    // `~` trims whole stream nodes: with nodes of 4 entries, 5 kept means
    // 5 to 8.
    q(&mut con, &["CONFIG", "SET", "stream-node-max-entries", "4"]);
    q(&mut con, &["CONFIG", "SET", "chat.notify-max", "5"]);
    for i in 1..=20 {
        send(&mut con, "r", "alice", &format!("m{i}"), &[]);
    }
    let kept = notices(&mut con, KEY);
    assert!((5..=9).contains(&kept.len()), "{} entries", kept.len());
    // The newest are kept, in order, each naming both.
    let ids: Vec<i64> = kept.iter().map(|n| n.id).collect();
    let newest: Vec<i64> = (21 - ids.len() as i64..=20).collect();
    assert_eq!(ids, newest);
    let both = pairs_of(&[("bob", "message"), ("carol", "message")]);
    assert!(kept.iter().all(|n| n.to == both), "{kept:?}");

    // With Redis's default nodes of 100 entries.
    q(&mut con, &["DEL", KEY]);
    q(
        &mut con,
        &["CONFIG", "SET", "stream-node-max-entries", "100"],
    );
    q(&mut con, &["CONFIG", "SET", "chat.notify-max", "150"]);
    for i in 1..=400 {
        send(&mut con, "r", "alice", &format!("n{i}"), &[]);
    }
    let len = int(&q(&mut con, &["XLEN", KEY]));
    assert!((150..=250).contains(&len), "XLEN {len}");
    assert_eq!(
        counted(&mut con),
        Counted {
            notifications: 840,
            entries: 420,
            failures: 0
        }
    );
}

#[test]
fn notify_max_0_records_none() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob", "carol"]);
    q(&mut con, &["CONFIG", "SET", "chat.notify-max", "0"]);
    assert_eq!(send(&mut con, "r", "alice", "hi", &["bob", "carol"]), 1);
    assert_eq!(int(&q(&mut con, &["EXISTS", KEY])), 0);
    let none = Counted {
        notifications: 0,
        entries: 0,
        failures: 0,
    };
    assert_eq!(counted(&mut con), none);
    q(&mut con, &["CONFIG", "SET", "chat.notify-max", "10"]);
    send(&mut con, "r", "alice", "again", &["bob", "carol"]);
    assert_eq!(int(&q(&mut con, &["XLEN", KEY])), 1);
    assert_eq!(
        counted(&mut con),
        Counted {
            notifications: 2,
            entries: 1,
            failures: 0
        }
    );
}

#[test]
fn a_record_redis_refuses_is_counted_and_the_send_stands() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob", "carol"]);
    q(&mut con, &["SET", KEY, "not a stream"]);
    // Each recipient not recorded counts as a failure.
    assert_eq!(send(&mut con, "r", "alice", "hi", &["bob", "carol"]), 1);
    assert_eq!(send(&mut con, "r", "alice", "bob?", &["bob"]), 2);
    assert_eq!(
        counted(&mut con),
        Counted {
            notifications: 0,
            entries: 0,
            failures: 3
        }
    );
    assert_eq!(text(&q(&mut con, &["GET", KEY])), "not a stream");
    // The messages themselves are stored and delivered.
    assert_eq!(docs(&q(&mut con, &["CHAT.HISTORY", "r"])).len(), 2);
    assert_eq!(docs(&q(&mut con, &["CHAT.FETCH", "bob"])).len(), 2);
}
