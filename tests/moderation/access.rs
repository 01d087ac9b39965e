//! Who gets in: private rooms and CHAT.INVITE / CHAT.INVITES, CHAT.KICK,
//! CHAT.BAN / CHAT.UNBAN, and the rule that nobody acts on an equal or
//! higher role.

use std::thread::sleep;
use std::time::Duration;

use redis::Value;
use serde_json::json;

use crate::common::*;
use crate::{
    invites, members, noperm, owned_room, refused, refused_exactly, role_of, room_with_roles,
    until_in,
};

fn noinvite(room: &str, user: &str) -> String {
    format!(
        "NOINVITE room {room} is private: {user} needs an invitation from an owner or admin (CHAT.INVITE)"
    )
}

#[test]
fn a_private_room_lets_in_only_the_invited_once() {
    let server = Server::start();
    let mut con = server.conn();
    for u in ["alice", "bob", "carol"] {
        q(&mut con, &["CHAT.REGISTER", u, u]);
    }
    q(
        &mut con,
        &["CHAT.CREATE", "p", "Secret", "OWNER", "alice", "PRIVATE"],
    );
    let got = refused(&mut con, &["CHAT.SUBSCRIBE", "p", "bob"], "NOINVITE ");
    assert_eq!(got, noinvite("p", "bob"));
    assert!(got.contains("invitation"));
    assert!(invites(&mut con, "bob").is_empty());

    let before = now_ms();
    assert_eq!(int(&q(&mut con, &["CHAT.INVITE", "p", "alice", "bob"])), 1);
    let after = now_ms();
    assert_eq!(int(&q(&mut con, &["CHAT.INVITE", "p", "alice", "bob"])), 0);
    let listed = invites(&mut con, "bob");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0, "p");
    assert!((before..=after).contains(&listed[0].1), "{listed:?}");
    assert_eq!(dump(&mut con, "p")["invites"], json!({"bob": listed[0].1}));
    assert_eq!(dump(&mut con, "bob")["invites"], json!({"p": listed[0].1}));
    // An invitation is no membership.
    assert_eq!(members(&mut con, "p"), ["alice"]);

    // The join consumes it, on both sides.
    q(&mut con, &["CHAT.SUBSCRIBE", "p", "bob"]);
    assert_eq!(members(&mut con, "p"), ["alice", "bob"]);
    assert!(invites(&mut con, "bob").is_empty());
    let room = dump(&mut con, "p");
    assert!(
        room["invites"].is_null() || room["invites"] == json!({}),
        "{room}"
    );
    // A member subscribing again: unchanged.
    let before = digest(&mut con);
    q(&mut con, &["CHAT.SUBSCRIBE", "p", "bob"]);
    assert_eq!(digest(&mut con), before);

    // Once gone, coming back takes a new invitation.
    assert_eq!(int(&q(&mut con, &["CHAT.UNSUBSCRIBE", "p", "bob"])), 1);
    refused_exactly(
        &mut con,
        &["CHAT.SUBSCRIBE", "p", "bob"],
        &noinvite("p", "bob"),
    );
    q(&mut con, &["CHAT.INVITE", "p", "alice", "bob"]);
    q(&mut con, &["CHAT.SUBSCRIBE", "p", "bob"]);
    assert_eq!(role_of(&mut con, "p", "bob").as_deref(), Some("member"));

    // Kicked from a private room: out, and no way back without a new one.
    q(&mut con, &["CHAT.KICK", "p", "alice", "bob"]);
    refused_exactly(
        &mut con,
        &["CHAT.SUBSCRIBE", "p", "bob"],
        &noinvite("p", "bob"),
    );
}

#[test]
fn owners_and_admins_invite_registered_non_members() {
    let server = Server::start();
    let mut con = server.conn();
    q(&mut con, &["CHAT.REGISTER", "alice", "alice"]);
    q(
        &mut con,
        &["CHAT.CREATE", "p", "P", "OWNER", "alice", "PRIVATE"],
    );
    q(
        &mut con,
        &["CHAT.CREATE", "b", "B", "OWNER", "alice", "PRIVATE"],
    );
    q(
        &mut con,
        &["CHAT.CREATE", "a", "A", "OWNER", "alice", "PRIVATE"],
    );
    for u in ["bob", "carol", "dave"] {
        q(&mut con, &["CHAT.REGISTER", u, u]);
    }
    q(&mut con, &["CHAT.INVITE", "p", "alice", "bob"]);
    q(&mut con, &["CHAT.SUBSCRIBE", "p", "bob"]);
    // A member may not invite; made admin, he may.
    noperm(&mut con, &["CHAT.INVITE", "p", "bob", "carol"]);
    q(&mut con, &["CHAT.ROLE", "p", "alice", "bob", "admin"]);
    assert_eq!(int(&q(&mut con, &["CHAT.INVITE", "p", "bob", "carol"])), 1);
    q(&mut con, &["CHAT.SUBSCRIBE", "p", "carol"]);

    refused_exactly(
        &mut con,
        &["CHAT.INVITE", "p", "alice", "carol"],
        "ERR carol is already a member of the room",
    );
    refused(&mut con, &["CHAT.INVITE", "p", "alice", "nobody"], "ERR ");
    refused_exactly(
        &mut con,
        &["CHAT.INVITE", "nowhere", "alice", "dave"],
        "ERR no such room",
    );
    refused_exactly(&mut con, &["CHAT.INVITES", "nobody"], "ERR no such user");

    // INVITES: ascending by room, whatever the order of invitation.
    q(&mut con, &["CHAT.INVITE", "b", "alice", "dave"]);
    q(&mut con, &["CHAT.INVITE", "p", "alice", "dave"]);
    q(&mut con, &["CHAT.INVITE", "a", "alice", "dave"]);
    let rooms: Vec<String> = invites(&mut con, "dave")
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    assert_eq!(rooms, ["a", "b", "p"]);
    let mut con3 = server.conn3();
    assert!(matches!(
        q(&mut con3, &["CHAT.INVITES", "dave"]),
        Value::Map(_)
    ));

    // Public rooms take invitations too, and a join consumes them.
    q(
        &mut con,
        &["CHAT.CREATE", "pub", "Public", "OWNER", "alice"],
    );
    assert_eq!(
        int(&q(&mut con, &["CHAT.INVITE", "pub", "alice", "dave"])),
        1
    );
    q(&mut con, &["CHAT.SUBSCRIBE", "pub", "dave"]);
    let rooms: Vec<String> = invites(&mut con, "dave")
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    assert_eq!(rooms, ["a", "b", "p"]);
    q(&mut con, &["CHAT.SUBSCRIBE", "pub", "carol"]);
}

#[test]
fn a_room_keeps_at_most_1000_pending_invitations() {
    let server = Server::start();
    let mut con = server.conn();
    owned_room(&mut con, "p", "alice", &[]);
    let mut pipe = redis::pipe();
    for i in 0..=1001 {
        pipe.cmd("CHAT.REGISTER")
            .arg(format!("u{i}"))
            .arg("U")
            .ignore();
    }
    for i in 0..1000 {
        pipe.cmd("CHAT.INVITE")
            .arg("p")
            .arg("alice")
            .arg(format!("u{i}"))
            .ignore();
    }
    pipe.query::<()>(&mut con).unwrap();
    assert_eq!(
        dump(&mut con, "p")["invites"].as_object().unwrap().len(),
        1000
    );
    let got = refused(&mut con, &["CHAT.INVITE", "p", "alice", "u1000"], "ERR ");
    assert!(
        got.starts_with("ERR the room has 1000 pending invitations, the most it keeps"),
        "{got}"
    );
    // Invited again: no new one, so no refusal. A join frees a place.
    assert_eq!(int(&q(&mut con, &["CHAT.INVITE", "p", "alice", "u5"])), 0);
    q(&mut con, &["CHAT.SUBSCRIBE", "p", "u5"]);
    assert_eq!(
        int(&q(&mut con, &["CHAT.INVITE", "p", "alice", "u1000"])),
        1
    );
    refused(
        &mut con,
        &["CHAT.INVITE", "p", "alice", "u1001"],
        "ERR the room has 1000",
    );
}

#[test]
fn kick_removes_a_member_below_the_actor() {
    let server = Server::start();
    let mut con = server.conn();
    room_with_roles(
        &mut con,
        "r",
        "alice",
        &["bob", "carol", "dave"],
        &[("bob", "admin"), ("carol", "admin")],
    );
    q(&mut con, &["CHAT.REGISTER", "erin", "E"]);
    assert_eq!(q(&mut con, &["CHAT.KICK", "r", "bob", "dave"]), Value::Okay);
    assert_eq!(members(&mut con, "r"), ["alice", "bob", "carol"]);
    assert!(strings(&q(&mut con, &["CHAT.ROOMS", "dave"])).is_empty());
    refused_exactly(
        &mut con,
        &["CHAT.KICK", "r", "alice", "dave"],
        "ERR user is not a member of the room",
    );
    refused_exactly(
        &mut con,
        &["CHAT.KICK", "r", "alice", "erin"],
        "ERR user is not a member of the room",
    );
    // A kick is no ban: a public room takes them back, as a member.
    q(&mut con, &["CHAT.SUBSCRIBE", "r", "dave"]);
    // Kicked, an admin loses the role.
    assert_eq!(
        q(&mut con, &["CHAT.KICK", "r", "alice", "carol"]),
        Value::Okay
    );
    q(&mut con, &["CHAT.SUBSCRIBE", "r", "carol"]);
    assert_eq!(role_of(&mut con, "r", "carol").as_deref(), Some("member"));
    assert!(!dump(&mut con, "r")["roles"]
        .as_object()
        .unwrap()
        .contains_key("carol"));
    refused_exactly(
        &mut con,
        &["CHAT.KICK", "nowhere", "alice", "bob"],
        "ERR no such room",
    );
}

#[test]
fn nobody_acts_on_an_equal_or_higher_role() {
    let server = Server::start();
    let mut con = server.conn();
    room_with_roles(
        &mut con,
        "r",
        "alice",
        &["olga", "bob", "adam", "carol", "dave"],
        &[("olga", "owner"), ("bob", "admin"), ("adam", "admin")],
    );
    for verb in ["CHAT.KICK", "CHAT.BAN", "CHAT.MUTE"] {
        for (actor, user) in [
            ("alice", "olga"),  // owner on owner
            ("alice", "alice"), // yourself
            ("bob", "adam"),    // admin on admin
            ("bob", "bob"),
            ("bob", "alice"),  // admin on owner
            ("carol", "dave"), // member on member
            ("carol", "carol"),
            ("carol", "bob"),
            ("carol", "alice"),
        ] {
            noperm(&mut con, &[verb, "r", actor, user]);
        }
    }
    for args in [
        &["CHAT.UNBAN", "r", "carol", "dave"][..],
        &["CHAT.UNMUTE", "r", "carol", "dave"],
        &["CHAT.SLOWMODE", "r", "carol", "5"],
        &["CHAT.BAN", "r", "carol", "dave", "SECONDS", "5"],
        &["CHAT.MUTE", "r", "carol", "dave", "SECONDS", "5"],
    ] {
        noperm(&mut con, args);
    }
    assert_eq!(
        members(&mut con, "r"),
        ["adam", "alice", "bob", "carol", "dave", "olga"]
    );
    // What each may do instead: above, on a lower role.
    q(&mut con, &["CHAT.MUTE", "r", "bob", "carol"]);
    q(&mut con, &["CHAT.KICK", "r", "alice", "adam"]);
    q(&mut con, &["CHAT.BAN", "r", "olga", "bob"]);
    assert_eq!(members(&mut con, "r"), ["alice", "carol", "dave", "olga"]);
}

#[test]
fn a_ban_keeps_a_user_out_until_unban() {
    let server = Server::start();
    let mut con = server.conn();
    room_with_roles(
        &mut con,
        "r",
        "alice",
        &["bob", "carol", "mia"],
        &[("bob", "admin")],
    );
    for u in ["dave", "erin"] {
        q(&mut con, &["CHAT.REGISTER", u, u]);
    }
    let banned = "BANNED carol is banned from room r until CHAT.UNBAN";
    // An admin bans a member: out, with no way back, not even invited.
    assert_eq!(q(&mut con, &["CHAT.BAN", "r", "bob", "carol"]), Value::Okay);
    assert_eq!(members(&mut con, "r"), ["alice", "bob", "mia"]);
    assert!(strings(&q(&mut con, &["CHAT.ROOMS", "carol"])).is_empty());
    assert_eq!(dump(&mut con, "r")["bans"], json!({"carol": null}));
    refused_exactly(&mut con, &["CHAT.SUBSCRIBE", "r", "carol"], banned);
    refused_exactly(&mut con, &["CHAT.INVITE", "r", "alice", "carol"], banned);

    // A non-member may be banned; the ban takes their invitation.
    q(&mut con, &["CHAT.INVITE", "r", "alice", "dave"]);
    q(&mut con, &["CHAT.BAN", "r", "alice", "dave"]);
    assert!(invites(&mut con, "dave").is_empty());
    refused(
        &mut con,
        &["CHAT.SUBSCRIBE", "r", "dave"],
        "BANNED dave is banned",
    );
    refused_exactly(
        &mut con,
        &["CHAT.BAN", "r", "alice", "nobody"],
        "ERR no such user",
    );

    // Banned again: the new end replaces the old one.
    let before = now_ms();
    q(
        &mut con,
        &["CHAT.BAN", "r", "alice", "carol", "SECONDS", "600"],
    );
    let until = dump(&mut con, "r")["bans"]["carol"].as_i64().unwrap();
    assert!(
        (before + 600_000..=now_ms() + 600_000).contains(&until),
        "{until}"
    );
    let got = refused(
        &mut con,
        &["CHAT.SUBSCRIBE", "r", "carol"],
        "BANNED carol is banned from room r until ",
    );
    let (ms, seconds) = until_in(&got);
    assert_eq!(ms, until);
    assert!((599..=600).contains(&seconds), "{got}");
    q(&mut con, &["CHAT.BAN", "r", "alice", "carol"]);
    assert_eq!(dump(&mut con, "r")["bans"]["carol"], json!(null));

    for seconds in ["0", "315360001", "-1", "x"] {
        refused(
            &mut con,
            &["CHAT.BAN", "r", "alice", "erin", "SECONDS", seconds],
            "ERR ",
        );
    }
    q(
        &mut con,
        &["CHAT.BAN", "r", "alice", "erin", "SECONDS", "315360000"],
    );

    // UNBAN: 1 for a ban in force, then 0; owners and admins only.
    noperm(&mut con, &["CHAT.UNBAN", "r", "mia", "carol"]);
    assert_eq!(int(&q(&mut con, &["CHAT.UNBAN", "r", "bob", "carol"])), 1);
    let before = digest(&mut con);
    assert_eq!(int(&q(&mut con, &["CHAT.UNBAN", "r", "bob", "carol"])), 0);
    assert_eq!(int(&q(&mut con, &["CHAT.UNBAN", "r", "bob", "alice"])), 0);
    assert_eq!(digest(&mut con), before);
    q(&mut con, &["CHAT.SUBSCRIBE", "r", "carol"]);
    assert_eq!(members(&mut con, "r"), ["alice", "bob", "carol", "mia"]);
    let bans = dump(&mut con, "r")["bans"].clone();
    assert_eq!(bans.as_object().unwrap().len(), 2, "{bans}");
}

#[test]
fn a_ban_for_seconds_ends_by_itself() {
    let server = Server::start();
    let mut con = server.conn();
    owned_room(&mut con, "r", "alice", &["bob"]);
    let before = now_ms();
    q(&mut con, &["CHAT.BAN", "r", "alice", "bob", "SECONDS", "1"]);
    let got = refused(
        &mut con,
        &["CHAT.SUBSCRIBE", "r", "bob"],
        "BANNED bob is banned from room r until ",
    );
    let (until, seconds) = until_in(&got);
    assert!((before + 1000..=now_ms() + 1000).contains(&until), "{got}");
    assert!((0..=1).contains(&seconds), "{got}");
    refused(&mut con, &["CHAT.INVITE", "r", "alice", "bob"], "BANNED ");
    sleep(Duration::from_millis(1200));
    // Ended: in again, invitable, and UNBAN finds no ban in force.
    assert_eq!(int(&q(&mut con, &["CHAT.UNBAN", "r", "alice", "bob"])), 0);
    q(&mut con, &["CHAT.SUBSCRIBE", "r", "bob"]);
    assert_eq!(members(&mut con, "r"), ["alice", "bob"]);
    q(&mut con, &["CHAT.KICK", "r", "alice", "bob"]);
    assert_eq!(int(&q(&mut con, &["CHAT.INVITE", "r", "alice", "bob"])), 1);
}
