//! The events of moderation: to the room's audience (each online member but
//! the actor, or the room channel of a broadcast room), and to the user
//! concerned on their own channel when they would not hear it otherwise.
//! (Kicks, bans and invitations are also `member` events, which
//! tests/events tries: skipped here.)

use serde_json::json;

use crate::common::*;
use crate::{online_listener, room_with_roles, QUIET, WAIT};

/// The next event that is not a `member` event.
fn moderation_event(
    listener: &mut Listener,
    wait: std::time::Duration,
) -> Option<serde_json::Value> {
    loop {
        let event = listener.next(wait)?;
        if event["type"] != json!("member") {
            return Some(event);
        }
    }
}

#[test]
fn fanout_members_and_the_user_concerned_hear_each_action() {
    let server = Server::start();
    let mut con = server.conn();
    room_with_roles(&mut con, "r", "alice", &["bob", "carol"], &[]);
    q(&mut con, &["CHAT.REGISTER", "dave", "D"]);
    let mut alice = online_listener(&server, &mut con, "alice");
    let mut bob = online_listener(&server, &mut con, "bob");
    let mut carol = online_listener(&server, &mut con, "carol");
    let mut dave = online_listener(&server, &mut con, "dave");

    q(&mut con, &["CHAT.ROLE", "r", "alice", "bob", "admin"]);
    let role = json!({"type": "role", "room": "r", "user": "bob", "role": "admin", "by": "alice"});
    assert_eq!(moderation_event(&mut bob, WAIT), Some(role.clone()));
    assert_eq!(moderation_event(&mut carol, WAIT), Some(role));

    q(&mut con, &["CHAT.SLOWMODE", "r", "alice", "10"]);
    let slowmode = json!({"type": "slowmode", "room": "r", "seconds": 10, "by": "alice"});
    assert_eq!(moderation_event(&mut bob, WAIT), Some(slowmode.clone()));
    assert_eq!(moderation_event(&mut carol, WAIT), Some(slowmode));

    // An admin acts: the owner hears it, the actor does not.
    q(
        &mut con,
        &["CHAT.MUTE", "r", "bob", "carol", "SECONDS", "60"],
    );
    let until = dump(&mut con, "r")["mutes"]["carol"].clone();
    assert!(until.is_i64(), "{until}");
    let mute = json!({"type": "mute", "room": "r", "user": "carol", "by": "bob", "until": until});
    assert_eq!(moderation_event(&mut alice, WAIT), Some(mute.clone()));
    assert_eq!(moderation_event(&mut carol, WAIT), Some(mute));
    q(&mut con, &["CHAT.UNMUTE", "r", "bob", "carol"]);
    let unmute = json!({"type": "unmute", "room": "r", "user": "carol", "by": "bob"});
    assert_eq!(moderation_event(&mut alice, WAIT), Some(unmute.clone()));
    assert_eq!(moderation_event(&mut carol, WAIT), Some(unmute));
    q(&mut con, &["CHAT.MUTE", "r", "alice", "carol"]);
    let mute = json!({"type": "mute", "room": "r", "user": "carol", "by": "alice", "until": null});
    assert_eq!(moderation_event(&mut bob, WAIT), Some(mute.clone()));
    assert_eq!(moderation_event(&mut carol, WAIT), Some(mute));

    // Kicked, banned, unbanned: carol is no member any more, and hears each
    // on her own channel.
    q(&mut con, &["CHAT.KICK", "r", "alice", "carol"]);
    let kick = json!({"type": "kick", "room": "r", "user": "carol", "by": "alice"});
    assert_eq!(moderation_event(&mut bob, WAIT), Some(kick.clone()));
    assert_eq!(moderation_event(&mut carol, WAIT), Some(kick));
    q(&mut con, &["CHAT.BAN", "r", "alice", "carol"]);
    let ban = json!({"type": "ban", "room": "r", "user": "carol", "by": "alice", "until": null});
    assert_eq!(moderation_event(&mut bob, WAIT), Some(ban.clone()));
    assert_eq!(moderation_event(&mut carol, WAIT), Some(ban));
    q(&mut con, &["CHAT.UNBAN", "r", "bob", "carol"]);
    let unban = json!({"type": "unban", "room": "r", "user": "carol", "by": "bob"});
    assert_eq!(moderation_event(&mut alice, WAIT), Some(unban.clone()));
    assert_eq!(moderation_event(&mut carol, WAIT), Some(unban));

    // An invitation: only the invitee hears it.
    q(&mut con, &["CHAT.INVITE", "r", "bob", "dave"]);
    assert_eq!(
        moderation_event(&mut dave, WAIT),
        Some(
            json!({"type": "invite", "room": "r", "user": "dave", "by": "bob", "title": "Room r"})
        )
    );
    // A ban for seconds carries its end.
    q(
        &mut con,
        &["CHAT.BAN", "r", "alice", "dave", "SECONDS", "30"],
    );
    let until = dump(&mut con, "r")["bans"]["dave"].clone();
    assert!(until.is_i64(), "{until}");
    let ban = json!({"type": "ban", "room": "r", "user": "dave", "by": "alice", "until": until});
    assert_eq!(moderation_event(&mut bob, WAIT), Some(ban.clone()));
    assert_eq!(moderation_event(&mut dave, WAIT), Some(ban));

    for (name, listener) in [
        ("alice", &mut alice),
        ("bob", &mut bob),
        ("carol", &mut carol),
        ("dave", &mut dave),
    ] {
        assert_eq!(
            moderation_event(listener, QUIET),
            None,
            "{name} heard one more"
        );
    }
    // Nothing reached an inbox: the members were online.
    assert!(docs(&q(&mut con, &["CHAT.FETCH", "carol"])).is_empty());
}

#[test]
fn an_offline_invitee_hears_nothing_and_others_only_that_someone_was_invited() {
    let server = Server::start();
    let mut con = server.conn();
    room_with_roles(&mut con, "r", "alice", &["bob"], &[]);
    q(&mut con, &["CHAT.REGISTER", "carol", "C"]);
    q(&mut con, &["CHAT.REGISTER", "dave", "D"]);
    let mut bob = online_listener(&server, &mut con, "bob");
    let mut carol = Listener::exact(&server, "chat:user:{carol}:push");
    let mut dave = online_listener(&server, &mut con, "dave");
    q(&mut con, &["CHAT.INVITE", "r", "alice", "carol"]);
    q(&mut con, &["CHAT.INVITE", "r", "alice", "dave"]);
    assert_eq!(
        moderation_event(&mut dave, WAIT).unwrap()["type"],
        json!("invite")
    );
    assert_eq!(carol.next(QUIET), None, "carol is offline");
    // The members hear who was invited, not the invitation itself.
    for invited in ["carol", "dave"] {
        assert_eq!(
            bob.next(WAIT),
            Some(json!({"type": "member", "room": "r", "user": invited, "change": "invite"}))
        );
    }
    assert_eq!(bob.next(QUIET), None, "an invitation is the invitee's");
}

#[test]
fn a_broadcast_room_tells_its_channel_and_the_user_concerned() {
    let server = Server::start_with(&["fanout-max-members", "3"], &[]);
    let mut con = server.conn();
    room_with_roles(
        &mut con,
        "r",
        "alice",
        &["bob", "carol", "dave", "erin"],
        &[],
    );
    assert_eq!(
        text(&field(&q(&mut con, &["CHAT.INFO", "r"]), "mode")),
        "broadcast"
    );
    let mut room = Listener::exact(&server, "chat:room:{r}:push");
    let mut bob = online_listener(&server, &mut con, "bob");
    let mut carol = online_listener(&server, &mut con, "carol");

    q(&mut con, &["CHAT.MUTE", "r", "alice", "bob"]);
    let mute = json!({"type": "mute", "room": "r", "user": "bob", "by": "alice", "until": null});
    assert_eq!(moderation_event(&mut room, WAIT), Some(mute.clone()));
    assert_eq!(moderation_event(&mut bob, WAIT), Some(mute));

    q(&mut con, &["CHAT.ROLE", "r", "alice", "bob", "admin"]);
    let role = json!({"type": "role", "room": "r", "user": "bob", "role": "admin", "by": "alice"});
    assert_eq!(moderation_event(&mut room, WAIT), Some(role.clone()));
    assert_eq!(moderation_event(&mut bob, WAIT), Some(role));

    q(&mut con, &["CHAT.SLOWMODE", "r", "bob", "5"]);
    assert_eq!(
        moderation_event(&mut room, WAIT),
        Some(json!({"type": "slowmode", "room": "r", "seconds": 5, "by": "bob"}))
    );

    q(&mut con, &["CHAT.KICK", "r", "bob", "carol"]);
    let kick = json!({"type": "kick", "room": "r", "user": "carol", "by": "bob"});
    assert_eq!(moderation_event(&mut room, WAIT), Some(kick.clone()));
    assert_eq!(moderation_event(&mut carol, WAIT), Some(kick));
    assert_eq!(
        text(&field(&q(&mut con, &["CHAT.INFO", "r"]), "mode")),
        "broadcast"
    );
    assert_eq!(moderation_event(&mut room, QUIET), None);
    assert_eq!(
        moderation_event(&mut bob, QUIET),
        None,
        "the slow mode went on the room channel only"
    );
    assert_eq!(moderation_event(&mut carol, QUIET), None);
}
