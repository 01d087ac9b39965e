//! CHAT.READ tells the room and the reader's own other devices;
//! CHAT.CHANNELS ... PRESENCE lists the presence channels of the people
//! the user's app shows.

use serde_json::{json, Value as Json};

use crate::common::*;
use crate::{online, online_until, send, Ear};

fn read(room: &str, user: &str, id: i64) -> Json {
    json!({"type": "read", "room": room, "user": user, "id": id})
}

#[test]
fn a_read_reaches_the_readers_other_devices_and_the_other_members() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob", "carol", "dave"]);
    // bob's second device listens on his push channel; dave is offline.
    let mut ears: Vec<(&str, Ear)> = ["alice", "bob", "carol", "dave"]
        .into_iter()
        .map(|u| (u, Ear::push(&server, u)))
        .collect();
    for u in ["alice", "bob", "carol"] {
        q(&mut con, &["CHAT.ONLINE", u, "TTL", "60"]);
    }
    for i in 1..=3 {
        assert_eq!(send(&mut con, "r", "alice", &format!("m{i}"), &[]), i);
    }
    for (_, ear) in ears.iter_mut() {
        ear.heard();
    }
    // Runs a CHAT.READ; exactly those `to` hear `event`.
    let mut step = |con: &mut redis::Connection, args: &[&str], to: &[&str], event: &Json| {
        let reply = int(&q(con, args));
        for (user, ear) in ears.iter_mut() {
            let want: Vec<Json> = to
                .iter()
                .filter(|u| *u == user)
                .map(|_| event.clone())
                .collect();
            ear.heard_exactly(&want, &format!("{args:?}, heard by {user}"));
        }
        reply
    };
    let everyone = ["alice", "bob", "carol"];
    let two = read("r", "bob", 2);
    assert_eq!(
        step(&mut con, &["CHAT.READ", "r", "bob", "2"], &everyone, &two),
        2
    );
    // A cursor that does not move tells nobody.
    assert_eq!(
        step(&mut con, &["CHAT.READ", "r", "bob", "1"], &[], &two),
        2
    );
    assert_eq!(
        step(&mut con, &["CHAT.READ", "r", "bob", "2"], &[], &two),
        2
    );
    // bob offline: the others hear it, his own channel does not.
    q(&mut con, &["CHAT.OFFLINE", "bob"]);
    let moved = step(
        &mut con,
        &["CHAT.READ", "r", "bob", "3"],
        &["alice", "carol"],
        &read("r", "bob", 3),
    );
    assert_eq!(moved, 3);
}

#[test]
fn a_read_in_a_broadcast_room_goes_to_the_room_and_the_readers_channel() {
    let server = Server::start_with(&["fanout-max-members", "2"], &[]);
    let mut con = server.conn();
    room_with(&mut con, "big", &["alice", "bob", "carol"]);
    assert_eq!(
        text(&field(&q(&mut con, &["CHAT.INFO", "big"]), "mode")),
        "broadcast"
    );
    let mut room = Ear::on(&server, "chat:room:{big}:push");
    let mut alice = Ear::push(&server, "alice");
    let mut bob = Ear::push(&server, "bob");
    for u in ["alice", "bob"] {
        q(&mut con, &["CHAT.ONLINE", u, "TTL", "60"]);
    }
    send(&mut con, "big", "alice", "hello", &[]);
    room.heard();
    assert_eq!(int(&q(&mut con, &["CHAT.READ", "big", "bob", "1"])), 1);
    room.heard_exactly(&[read("big", "bob", 1)], "the room channel");
    bob.heard_exactly(&[read("big", "bob", 1)], "bob's other devices");
    alice.quiet("a broadcast room's members listen on its channel");
}

#[test]
fn channels_with_presence_lists_the_members_of_fanout_rooms() {
    let server = Server::start_with(&["fanout-max-members", "3"], &[]);
    let mut con = server.conn();
    room_with(&mut con, "r1", &["alice", "bob", "carol"]);
    room_with(&mut con, "r2", &["alice", "bob", "dave"]);
    room_with(&mut con, "big", &["alice", "erin", "frank", "gina"]);
    room_with(&mut con, "r3", &["bob", "hank"]);
    assert_eq!(
        text(&field(&q(&mut con, &["CHAT.INFO", "big"]), "mode")),
        "broadcast"
    );
    let plain = [
        "SUBSCRIBE",
        "chat:user:{alice}:push",
        "chat:room:{big}:push",
    ];
    assert_eq!(strings(&q(&mut con, &["CHAT.CHANNELS", "alice"])), plain);

    let with = strings(&q(&mut con, &["CHAT.CHANNELS", "alice", "PRESENCE"]));
    assert_eq!(with[..3], plain, "{with:?}");
    let mut people = with[3..].to_vec();
    people.sort();
    // Each member once, never alice herself, nobody of the broadcast room
    // nor of a room alice is not in.
    assert_eq!(
        people,
        [
            "chat:user:{bob}:presence",
            "chat:user:{carol}:presence",
            "chat:user:{dave}:presence"
        ],
        "{with:?}"
    );
    // Only in a broadcast room: nobody to follow.
    assert_eq!(
        strings(&q(&mut con, &["CHAT.CHANNELS", "erin", "PRESENCE"])),
        ["SUBSCRIBE", "chat:user:{erin}:push", "chat:room:{big}:push"]
    );
    let e = err(&mut con, &["CHAT.CHANNELS", "alice", "PRESENCES"]);
    assert!(e.starts_with("ERR"), "{e}");

    // A listed channel is where that member's presence is published.
    let listed = with.iter().find(|c| c.contains("{dave}")).unwrap();
    let mut dave = Ear::on(&server, listed);
    q(&mut con, &["CHAT.ONLINE", "dave", "TTL", "9"]);
    let until = online_until(&mut con, "dave");
    dave.heard_exactly(&[online("dave", until)], "a listed channel");
}
