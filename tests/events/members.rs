//! `member` events: joins, leaves, invitations, kicks and bans, to the
//! room's audience. In a fan-out room, each online member's own push
//! channel, except the user who joined or left and, for an invitation, a
//! kick or a ban, except the actor; in a broadcast room, the room channel.

use serde_json::{json, Value as Json};

use crate::common::*;
use crate::{member, register, Ear};

fn kick(room: &str, user: &str, by: &str) -> Json {
    json!({"type": "kick", "room": room, "user": user, "by": by})
}

fn ban(room: &str, user: &str, by: &str) -> Json {
    json!({"type": "ban", "room": room, "user": user, "by": by, "until": null})
}

fn invite(room: &str, user: &str, by: &str) -> Json {
    json!({"type": "invite", "room": room, "user": user, "by": by, "title": "Room r"})
}

/// A fan-out room `r` owned by alice, with members bob, carol and erin;
/// dave registered, not a member. Each listens on their push channel; all
/// but erin are online (erin hears nothing: offline members are not told).
struct Fanout {
    _server: Server,
    con: redis::Connection,
    ears: Vec<(&'static str, Ear)>,
}

impl Fanout {
    fn start() -> Fanout {
        let server = Server::start();
        let mut con = server.conn();
        register(&mut con, &["alice", "bob", "carol", "dave", "erin"]);
        q(&mut con, &["CHAT.CREATE", "r", "Room r", "OWNER", "alice"]);
        for u in ["bob", "carol", "erin"] {
            q(&mut con, &["CHAT.SUBSCRIBE", "r", u]);
        }
        let ears = ["alice", "bob", "carol", "dave", "erin"]
            .into_iter()
            .map(|u| (u, Ear::push(&server, u)))
            .collect();
        for u in ["alice", "bob", "carol", "dave"] {
            q(&mut con, &["CHAT.ONLINE", u, "TTL", "60"]);
        }
        Fanout {
            _server: server,
            con,
            ears,
        }
    }

    /// Runs `args`; each user hears exactly what `expected` gives them
    /// (in any order), the others nothing. Returns the reply.
    fn step(&mut self, args: &[&str], expected: &[(&str, Vec<Json>)]) -> redis::Value {
        let reply = q(&mut self.con, args);
        for (user, ear) in self.ears.iter_mut() {
            let want = expected
                .iter()
                .find(|(u, _)| u == user)
                .map_or(Vec::new(), |(_, e)| e.clone());
            ear.heard_exactly(&want, &format!("{args:?}, heard by {user}"));
        }
        reply
    }
}

/// alice, bob and carol each hear `events`.
fn to_members(events: &[Json]) -> Vec<(&'static str, Vec<Json>)> {
    ["alice", "bob", "carol"]
        .into_iter()
        .map(|u| (u, events.to_vec()))
        .collect()
}

#[test]
fn a_fanout_room_tells_joins_leaves_and_invitations() {
    let mut room = Fanout::start();
    let join = member("r", "dave", "join");
    room.step(
        &["CHAT.SUBSCRIBE", "r", "dave"],
        &to_members(std::slice::from_ref(&join)),
    );
    // Joining again changes nothing, and tells nobody.
    room.step(&["CHAT.SUBSCRIBE", "r", "dave"], &[]);
    let leave = member("r", "dave", "leave");
    room.step(&["CHAT.UNSUBSCRIBE", "r", "dave"], &to_members(&[leave]));
    // Leaving a room one is not a member of tells nobody.
    let reply = room.step(&["CHAT.UNSUBSCRIBE", "r", "dave"], &[]);
    assert_eq!(int(&reply), 0);

    // An invitation: the members but the actor; the invitee hears their
    // own `invite` event.
    let invited = member("r", "dave", "invite");
    room.step(
        &["CHAT.INVITE", "r", "alice", "dave"],
        &[
            ("bob", vec![invited.clone()]),
            ("carol", vec![invited]),
            ("dave", vec![invite("r", "dave", "alice")]),
        ],
    );
    room.step(&["CHAT.SUBSCRIBE", "r", "dave"], &to_members(&[join]));
    // The events are live only: nothing reached erin's inbox.
    assert!(docs(&q(&mut room.con, &["CHAT.FETCH", "erin"])).is_empty());
}

#[test]
fn a_fanout_room_tells_a_kick_to_the_members_but_the_actor() {
    let mut room = Fanout::start();
    // The other members hear the member event and the kick (issue 15);
    // the actor hears neither; the user kicked their own kick only.
    let kicked = vec![member("r", "carol", "kick"), kick("r", "carol", "alice")];
    room.step(
        &["CHAT.KICK", "r", "alice", "carol"],
        &[
            ("bob", kicked),
            ("carol", vec![kick("r", "carol", "alice")]),
        ],
    );
    assert_eq!(
        strings(&q(&mut room.con, &["CHAT.MEMBERS", "r"])),
        ["alice", "bob", "erin"]
    );
}

#[test]
fn a_fanout_room_tells_a_ban_to_the_members_but_the_actor() {
    let mut room = Fanout::start();
    let banned = vec![member("r", "carol", "ban"), ban("r", "carol", "alice")];
    room.step(
        &["CHAT.BAN", "r", "alice", "carol"],
        &[("bob", banned), ("carol", vec![ban("r", "carol", "alice")])],
    );
    assert_eq!(
        strings(&q(&mut room.con, &["CHAT.MEMBERS", "r"])),
        ["alice", "bob", "erin"]
    );
}

#[test]
fn a_broadcast_room_tells_its_channel_once() {
    let server = Server::start();
    let mut con = server.conn();
    assert_eq!(
        q(&mut con, &["CONFIG", "SET", "chat.fanout-max-members", "1"]),
        redis::Value::Okay
    );
    register(&mut con, &["alice", "bob", "carol", "dave", "erin"]);
    q(&mut con, &["CHAT.CREATE", "r", "Room r", "OWNER", "alice"]);
    for u in ["bob", "carol", "dave"] {
        q(&mut con, &["CHAT.SUBSCRIBE", "r", u]);
    }
    assert_eq!(
        text(&field(&q(&mut con, &["CHAT.INFO", "r"]), "mode")),
        "broadcast"
    );
    let mut room = Ear::on(&server, "chat:room:{r}:push");
    let mut users: Vec<(&str, Ear)> = ["alice", "bob", "carol", "erin"]
        .into_iter()
        .map(|u| (u, Ear::push(&server, u)))
        .collect();
    for u in ["alice", "bob", "carol", "erin"] {
        q(&mut con, &["CHAT.ONLINE", u, "TTL", "60"]);
    }
    let mut step =
        |con: &mut redis::Connection, args: &[&str], on_room: Vec<Json>, own: &[(&str, Json)]| {
            q(con, args);
            room.heard_exactly(&on_room, &format!("{args:?}, on the room channel"));
            for (user, ear) in users.iter_mut() {
                let want: Vec<_> = own
                    .iter()
                    .filter(|(u, _)| u == user)
                    .map(|(_, e)| e.clone())
                    .collect();
                ear.heard_exactly(&want, &format!("{args:?}, heard by {user}"));
            }
        };

    step(
        &mut con,
        &["CHAT.SUBSCRIBE", "r", "erin"],
        vec![member("r", "erin", "join")],
        &[],
    );
    step(
        &mut con,
        &["CHAT.UNSUBSCRIBE", "r", "erin"],
        vec![member("r", "erin", "leave")],
        &[],
    );
    step(
        &mut con,
        &["CHAT.INVITE", "r", "alice", "erin"],
        vec![member("r", "erin", "invite")],
        &[("erin", invite("r", "erin", "alice"))],
    );
    step(
        &mut con,
        &["CHAT.SUBSCRIBE", "r", "erin"],
        vec![member("r", "erin", "join")],
        &[],
    );
    step(
        &mut con,
        &["CHAT.KICK", "r", "alice", "erin"],
        vec![member("r", "erin", "kick"), kick("r", "erin", "alice")],
        &[("erin", kick("r", "erin", "alice"))],
    );
    step(
        &mut con,
        &["CHAT.BAN", "r", "alice", "carol"],
        vec![member("r", "carol", "ban"), ban("r", "carol", "alice")],
        &[("carol", ban("r", "carol", "alice"))],
    );
    assert_eq!(
        text(&field(&q(&mut con, &["CHAT.INFO", "r"]), "mode")),
        "broadcast"
    );
}
