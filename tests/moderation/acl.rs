//! `chat.identity acl`: with real Redis ACL users, the actor of a
//! moderation command is the connection's own user.

use redis::Value;

use crate::common::*;
use crate::{noperm, refused, role_of, stat};

/// A Redis ACL user `name` with password `<name>-pw` and every command;
/// the module's identity binding is what restricts them.
fn acl_user(admin: &mut redis::Connection, name: &str) {
    let password = format!(">{name}-pw");
    q(
        admin,
        &["ACL", "SETUSER", name, "on", &password, "~*", "&*", "+@all"],
    );
}

fn connect_as(server: &Server, user: &str) -> redis::Connection {
    redis::Client::open(format!(
        "redis://{user}:{user}-pw@127.0.0.1:{}/",
        server.port
    ))
    .unwrap()
    .get_connection()
    .unwrap()
}

#[test]
fn in_acl_mode_only_the_actor_themselves_moderates() {
    let server = Server::start_with(&["identity", "acl", "admins", "app"], &[]);
    let mut setup = server.conn();
    for user in ["app", "alice", "bob"] {
        acl_user(&mut setup, user);
    }
    let mut app = connect_as(&server, "app");
    for u in ["alice", "bob", "carol", "dave"] {
        q(&mut app, &["CHAT.REGISTER", u, u]);
    }
    // An admin ACL user may name any owner.
    q(&mut app, &["CHAT.CREATE", "r", "R", "OWNER", "alice"]);
    q(&mut app, &["CHAT.SUBSCRIBE", "r", "bob"]);
    q(&mut app, &["CHAT.SUBSCRIBE", "r", "carol"]);
    let refusals_before = stat(&mut app, "identity_refusals");

    let mut bob = connect_as(&server, "bob");
    let as_alice: &[&[&str]] = &[
        &["CHAT.KICK", "r", "alice", "carol"],
        &["CHAT.ROLE", "r", "alice", "bob", "owner"],
        &["CHAT.INVITE", "r", "alice", "dave"],
        &["CHAT.BAN", "r", "alice", "carol"],
        &["CHAT.UNBAN", "r", "alice", "carol"],
        &["CHAT.MUTE", "r", "alice", "carol"],
        &["CHAT.UNMUTE", "r", "alice", "carol"],
        &["CHAT.SLOWMODE", "r", "alice", "5"],
        &["CHAT.INVITES", "alice"],
    ];
    for args in as_alice {
        let before = digest(&mut app);
        let got = err(&mut bob, args);
        assert!(
            got.starts_with("NOPERM ACL user 'bob' may act only as chat user 'bob'"),
            "{args:?}: {got}"
        );
        assert_eq!(digest(&mut app), before, "{args:?} wrote something");
    }
    assert_eq!(
        stat(&mut app, "identity_refusals") - refusals_before,
        as_alice.len() as i64
    );
    // Nor may he make a room with alice as its owner.
    let before = digest(&mut app);
    let got = err(&mut bob, &["CHAT.CREATE", "r2", "R2", "OWNER", "alice"]);
    assert!(got.starts_with("NOPERM "), "{got}");
    assert_eq!(digest(&mut app), before);
    assert!(!exists(&mut app, "r2"));

    // As himself, bob is a member: the room refuses him, not the identity.
    let before = digest(&mut app);
    let got = err(&mut bob, &["CHAT.KICK", "r", "bob", "carol"]);
    assert!(got.starts_with("NOPERM "), "{got}");
    assert!(!got.starts_with("NOPERM ACL user"), "{got}");
    assert_eq!(digest(&mut app), before);
    assert!(pairs(&q(&mut bob, &["CHAT.INVITES", "bob"])).is_empty());
    // His own room, with himself as owner.
    assert_eq!(
        q(&mut bob, &["CHAT.CREATE", "b", "B", "OWNER", "bob"]),
        Value::Okay
    );
    assert_eq!(role_of(&mut app, "b", "bob").as_deref(), Some("owner"));
    // The default user is no chat.admins user.
    let mut default = server.conn();
    refused(
        &mut default,
        &["CHAT.CREATE", "d", "D", "OWNER", "alice"],
        "NOPERM ",
    );

    // Alice, the owner, acts as herself.
    let mut alice = connect_as(&server, "alice");
    assert_eq!(
        q(&mut alice, &["CHAT.KICK", "r", "alice", "carol"]),
        Value::Okay
    );
    assert_eq!(
        int(&q(&mut alice, &["CHAT.ROLE", "r", "alice", "bob", "admin"])),
        1
    );
    assert_eq!(
        int(&q(&mut alice, &["CHAT.INVITE", "r", "alice", "dave"])),
        1
    );
    // Bob, now admin, bans as himself.
    assert_eq!(q(&mut bob, &["CHAT.BAN", "r", "bob", "carol"]), Value::Okay);
    noperm(&mut app, &["CHAT.KICK", "r", "bob", "alice"]);
    assert_eq!(
        strings(&q(&mut app, &["CHAT.MEMBERS", "r"])),
        ["alice", "bob"]
    );
}
