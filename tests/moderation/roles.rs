//! Roles: CHAT.CREATE OWNER / PRIVATE, CHAT.INFO's new fields, CHAT.MEMBERS
//! WITHROLES, CHAT.ROLE and its lattice, the last owner, and rooms without
//! an owner, which keep the old behaviour.

use redis::Value;

use crate::common::*;
use crate::{info, members, noperm, owned_room, refused, refused_exactly, role_of, roles, send};

fn pair(user: &str, role: &str) -> (String, String) {
    (user.to_string(), role.to_string())
}

#[test]
fn create_with_an_owner_and_private() {
    let server = Server::start();
    let mut con = server.conn();
    for u in ["alice", "bob"] {
        q(&mut con, &["CHAT.REGISTER", u, u]);
    }
    assert_eq!(
        q(&mut con, &["CHAT.CREATE", "r", "Title", "OWNER", "alice"]),
        Value::Okay
    );
    assert_eq!(members(&mut con, "r"), ["alice"]);
    assert_eq!(roles(&mut con, "r"), [pair("alice", "owner")]);
    assert_eq!(strings(&q(&mut con, &["CHAT.ROOMS", "alice"])), ["r"]);
    assert_eq!(strings(&info(&mut con, "r", "owners")), ["alice"]);
    assert_eq!(int(&info(&mut con, "r", "private")), 0);
    assert_eq!(int(&info(&mut con, "r", "slowmode")), 0);
    assert_eq!(int(&info(&mut con, "r", "members")), 1);
    assert_eq!(
        dump(&mut con, "r")["roles"],
        serde_json::json!({"alice": "owner"})
    );

    // Public: anyone joins, as a plain member.
    q(&mut con, &["CHAT.SUBSCRIBE", "r", "bob"]);
    assert_eq!(
        roles(&mut con, "r"),
        [pair("alice", "owner"), pair("bob", "member")]
    );

    // Private needs an owner; the owner must be a registered user.
    refused(
        &mut con,
        &["CHAT.CREATE", "p", "Title", "PRIVATE"],
        "ERR PRIVATE needs OWNER",
    );
    refused(
        &mut con,
        &["CHAT.CREATE", "p", "Title", "OWNER", "nobody", "PRIVATE"],
        "ERR ",
    );
    refused(&mut con, &["CHAT.CREATE", "p", "Title", "OWNER"], "ERR ");
    assert!(!exists(&mut con, "p"));

    q(
        &mut con,
        &["CHAT.CREATE", "p", "Private", "OWNER", "bob", "PRIVATE"],
    );
    assert_eq!(int(&info(&mut con, "p", "private")), 1);
    assert_eq!(strings(&info(&mut con, "p", "owners")), ["bob"]);
    assert_eq!(dump(&mut con, "p")["private"], serde_json::json!(true));
    assert_eq!(dump(&mut con, "r")["private"], serde_json::json!(false));
    assert_eq!(strings(&q(&mut con, &["CHAT.ROOMS", "bob"])), ["p", "r"]);

    // A room made without OWNER has no owner.
    q(&mut con, &["CHAT.CREATE", "plain", "Plain"]);
    assert!(strings(&info(&mut con, "plain", "owners")).is_empty());
    assert_eq!(int(&info(&mut con, "plain", "private")), 0);
}

#[test]
fn members_withroles_and_owners_listed_ascending() {
    let server = Server::start();
    let mut con = server.conn();
    owned_room(&mut con, "r", "dave", &["carol", "alice", "bob"]);
    q(&mut con, &["CHAT.ROLE", "r", "dave", "bob", "owner"]);
    q(&mut con, &["CHAT.ROLE", "r", "dave", "alice", "admin"]);
    assert_eq!(
        roles(&mut con, "r"),
        [
            pair("alice", "admin"),
            pair("bob", "owner"),
            pair("carol", "member"),
            pair("dave", "owner"),
        ]
    );
    assert_eq!(strings(&info(&mut con, "r", "owners")), ["bob", "dave"]);
    assert_eq!(
        dump(&mut con, "r")["roles"],
        serde_json::json!({"alice": "admin", "bob": "owner", "dave": "owner"})
    );
    // RESP3: a real map.
    let mut con3 = server.conn3();
    assert!(matches!(
        q(&mut con3, &["CHAT.MEMBERS", "r", "WITHROLES"]),
        Value::Map(_)
    ));
    refused_exactly(
        &mut con,
        &["CHAT.MEMBERS", "r", "WITHREAD", "WITHROLES"],
        "ERR syntax error",
    );
    refused_exactly(
        &mut con,
        &["CHAT.MEMBERS", "r", "WITHROLES", "WITHREAD"],
        "ERR syntax error",
    );
}

#[test]
fn owners_give_any_role_admins_only_between_member_and_admin() {
    let server = Server::start();
    let mut con = server.conn();
    owned_room(&mut con, "r", "alice", &["bob", "carol", "dave", "erin"]);
    q(&mut con, &["CHAT.REGISTER", "zed", "Z"]);

    // The owner: any role, any case; 0 when nothing changes.
    assert_eq!(
        int(&q(&mut con, &["CHAT.ROLE", "r", "alice", "bob", "ADMIN"])),
        1
    );
    assert_eq!(role_of(&mut con, "r", "bob").as_deref(), Some("admin"));
    let before = digest(&mut con);
    assert_eq!(
        int(&q(&mut con, &["CHAT.ROLE", "r", "alice", "bob", "admin"])),
        0
    );
    assert_eq!(
        digest(&mut con),
        before,
        "an unchanged role wrote something"
    );
    assert_eq!(
        int(&q(&mut con, &["CHAT.ROLE", "r", "alice", "erin", "Owner"])),
        1
    );
    assert_eq!(strings(&info(&mut con, "r", "owners")), ["alice", "erin"]);

    // An admin: member -> admin and admin -> member.
    assert_eq!(
        int(&q(&mut con, &["CHAT.ROLE", "r", "bob", "carol", "admin"])),
        1
    );
    assert_eq!(role_of(&mut con, "r", "carol").as_deref(), Some("admin"));
    assert_eq!(
        int(&q(&mut con, &["CHAT.ROLE", "r", "bob", "carol", "member"])),
        1
    );
    assert_eq!(role_of(&mut con, "r", "carol").as_deref(), Some("member"));
    assert_eq!(
        int(&q(&mut con, &["CHAT.ROLE", "r", "bob", "carol", "admin"])),
        1
    );
    assert_eq!(
        int(&q(&mut con, &["CHAT.ROLE", "r", "carol", "bob", "member"])),
        1
    );
    assert_eq!(role_of(&mut con, "r", "bob").as_deref(), Some("member"));
    q(&mut con, &["CHAT.ROLE", "r", "alice", "bob", "admin"]);

    let refusals: &[&[&str]] = &[
        // Admins never give owner, nor touch an owner.
        &["CHAT.ROLE", "r", "bob", "dave", "owner"],
        &["CHAT.ROLE", "r", "bob", "alice", "member"],
        &["CHAT.ROLE", "r", "bob", "alice", "admin"],
        &["CHAT.ROLE", "r", "bob", "erin", "member"],
        // Nobody raises themselves.
        &["CHAT.ROLE", "r", "bob", "bob", "owner"],
        &["CHAT.ROLE", "r", "dave", "dave", "admin"],
        &["CHAT.ROLE", "r", "dave", "dave", "owner"],
        // Members change no role, not even to what it is.
        &["CHAT.ROLE", "r", "dave", "erin", "member"],
        &["CHAT.ROLE", "r", "dave", "bob", "member"],
        &["CHAT.ROLE", "r", "dave", "carol", "admin"],
    ];
    for args in refusals {
        noperm(&mut con, args);
    }
    for (args, expected) in [
        (
            &["CHAT.ROLE", "r", "alice", "zed", "admin"][..],
            "ERR user is not a member of the room",
        ),
        (
            &["CHAT.ROLE", "r", "zed", "bob", "member"],
            "ERR user is not a member of the room",
        ),
        (
            &["CHAT.ROLE", "nowhere", "alice", "bob", "admin"],
            "ERR no such room",
        ),
    ] {
        refused_exactly(&mut con, args, expected);
    }
    refused(
        &mut con,
        &["CHAT.ROLE", "r", "alice", "bob", "king"],
        "ERR ",
    );
    refused(&mut con, &["CHAT.ROLE", "r", "alice", "bob"], "ERR ");
    assert_eq!(
        roles(&mut con, "r"),
        [
            pair("alice", "owner"),
            pair("bob", "admin"),
            pair("carol", "admin"),
            pair("dave", "member"),
            pair("erin", "owner"),
        ]
    );

    // Owners change each other, and step down while another owner stays.
    assert_eq!(
        int(&q(&mut con, &["CHAT.ROLE", "r", "alice", "erin", "admin"])),
        1
    );
    assert_eq!(
        int(&q(&mut con, &["CHAT.ROLE", "r", "alice", "erin", "owner"])),
        1
    );
    assert_eq!(
        int(&q(
            &mut con,
            &["CHAT.ROLE", "r", "alice", "alice", "member"]
        )),
        1
    );
    assert_eq!(strings(&info(&mut con, "r", "owners")), ["erin"]);
    assert_eq!(role_of(&mut con, "r", "alice").as_deref(), Some("member"));
    noperm(&mut con, &["CHAT.ROLE", "r", "alice", "alice", "owner"]);
}

#[test]
fn the_last_owner_stays_owner_and_stays_in() {
    let server = Server::start();
    let mut con = server.conn();
    owned_room(&mut con, "r", "alice", &["bob"]);
    for role in ["admin", "member"] {
        let got = refused(
            &mut con,
            &["CHAT.ROLE", "r", "alice", "alice", role],
            "ERR ",
        );
        assert!(got.contains("last owner"), "{got}");
    }
    let got = refused(&mut con, &["CHAT.UNSUBSCRIBE", "r", "alice"], "ERR ");
    assert!(got.contains("last owner"), "{got}");
    assert_eq!(members(&mut con, "r"), ["alice", "bob"]);
    assert_eq!(strings(&q(&mut con, &["CHAT.ROOMS", "alice"])), ["r"]);

    // With a second owner she may go; then bob is the last one.
    q(&mut con, &["CHAT.ROLE", "r", "alice", "bob", "owner"]);
    assert_eq!(int(&q(&mut con, &["CHAT.UNSUBSCRIBE", "r", "alice"])), 1);
    assert_eq!(strings(&info(&mut con, "r", "owners")), ["bob"]);
    // A member who leaves loses the role: alice comes back a member.
    q(&mut con, &["CHAT.SUBSCRIBE", "r", "alice"]);
    assert_eq!(role_of(&mut con, "r", "alice").as_deref(), Some("member"));
    let got = refused(&mut con, &["CHAT.UNSUBSCRIBE", "r", "bob"], "ERR ");
    assert!(got.contains("last owner"), "{got}");

    // Alone, the last owner may leave: the room then has no owner.
    assert_eq!(int(&q(&mut con, &["CHAT.UNSUBSCRIBE", "r", "alice"])), 1);
    assert_eq!(int(&q(&mut con, &["CHAT.UNSUBSCRIBE", "r", "bob"])), 1);
    assert!(members(&mut con, "r").is_empty());
    assert!(strings(&info(&mut con, "r", "owners")).is_empty());
    // ... and behaves like one made without an owner.
    q(&mut con, &["CHAT.SUBSCRIBE", "r", "alice"]);
    q(&mut con, &["CHAT.SUBSCRIBE", "r", "bob"]);
    assert_eq!(role_of(&mut con, "r", "bob").as_deref(), Some("member"));
    noperm(&mut con, &["CHAT.ROLE", "r", "bob", "bob", "owner"]);
}

#[test]
fn a_room_without_an_owner_keeps_the_old_behaviour() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob", "carol"]);
    q(&mut con, &["CHAT.REGISTER", "dave", "D"]);
    assert_eq!(
        roles(&mut con, "r"),
        [
            pair("alice", "member"),
            pair("bob", "member"),
            pair("carol", "member")
        ]
    );
    assert_eq!(int(&info(&mut con, "r", "slowmode")), 0);
    assert_eq!(int(&info(&mut con, "r", "private")), 0);
    send(&mut con, "r", "alice", "one");
    send(&mut con, "r", "alice", "two");
    // Any member pins; only authors delete.
    assert_eq!(q(&mut con, &["CHAT.PIN", "r", "bob", "1"]), Value::Okay);
    assert_eq!(q(&mut con, &["CHAT.UNPIN", "r", "carol", "1"]), Value::Okay);
    refused_exactly(
        &mut con,
        &["CHAT.DELETE", "r", "bob", "1"],
        "ERR only the author of a message may change it",
    );
    // Every moderation command: nobody has a role above member.
    let refusals: &[&[&str]] = &[
        &["CHAT.ROLE", "r", "alice", "bob", "admin"],
        &["CHAT.ROLE", "r", "alice", "alice", "owner"],
        &["CHAT.INVITE", "r", "alice", "dave"],
        &["CHAT.KICK", "r", "alice", "bob"],
        &["CHAT.BAN", "r", "alice", "bob"],
        &["CHAT.BAN", "r", "alice", "dave", "SECONDS", "60"],
        &["CHAT.UNBAN", "r", "alice", "dave"],
        &["CHAT.MUTE", "r", "alice", "bob"],
        &["CHAT.UNMUTE", "r", "alice", "bob"],
        &["CHAT.SLOWMODE", "r", "alice", "10"],
    ];
    for args in refusals {
        noperm(&mut con, args);
    }
    // Anyone joins; sends are as before.
    q(&mut con, &["CHAT.SUBSCRIBE", "r", "dave"]);
    send(&mut con, "r", "bob", "three");
    send(&mut con, "r", "bob", "four");
    assert_eq!(members(&mut con, "r"), ["alice", "bob", "carol", "dave"]);
    for key in ["roles", "invites", "bans", "mutes", "deleted_by"] {
        let value = &dump(&mut con, "r")[key];
        assert!(
            value.is_null() || value.as_object().is_some_and(|o| o.is_empty()),
            "{key}: {value}"
        );
    }
}

#[test]
fn the_last_owner_may_not_unregister_while_others_stay() {
    let server = Server::start();
    let mut con = server.conn();
    for u in ["alice", "bob", "carol"] {
        q(&mut con, &["CHAT.REGISTER", u, u]);
    }
    q(
        &mut con,
        &["CHAT.CREATE", "r", "R", "OWNER", "alice", "PRIVATE"],
    );
    for u in ["bob", "carol"] {
        q(&mut con, &["CHAT.INVITE", "r", "alice", u]);
        q(&mut con, &["CHAT.SUBSCRIBE", "r", u]);
    }
    q(&mut con, &["CHAT.ROLE", "r", "alice", "bob", "admin"]);
    // Going would leave a private room nobody may invite to: refused, as
    // CHAT.UNSUBSCRIBE is, and nothing is written.
    let before = digest(&mut con);
    let e = err(&mut con, &["CHAT.UNREGISTER", "alice"]);
    assert!(e.starts_with("ERR alice is the room's last owner"), "{e}");
    assert_eq!(digest(&mut con), before);
    // Once she hands the room on, she may go; bob owns it.
    q(&mut con, &["CHAT.ROLE", "r", "alice", "bob", "owner"]);
    assert_eq!(q(&mut con, &["CHAT.UNREGISTER", "alice"]), Value::Okay);
    assert_eq!(strings(&info(&mut con, "r", "owners")), ["bob"]);
    assert_eq!(
        roles(&mut con, "r"),
        [pair("bob", "owner"), pair("carol", "member")]
    );
    q(&mut con, &["DEBUG", "RELOAD"]);
    assert_eq!(strings(&info(&mut con, "r", "owners")), ["bob"]);
}
