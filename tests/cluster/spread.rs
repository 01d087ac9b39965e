//! One app across the cluster: ids without hash tags, so each room and
//! each user lives in its own slot, on any node.

use std::time::Duration;

use chat_core::channels::{room_channel, slot};
use redis::cluster::ClusterConnection;
use serde_json::json;

use crate::common::*;
use crate::{join_in_steps, sharded_listener, Cluster};

/// Ids without a hash tag, one per node owning `ports`, in that order.
fn ids_on(cluster: &Cluster, prefix: &str, ports: &[u16]) -> Vec<String> {
    let owner = |id: &str| cluster.node_for(slot(id.as_bytes())).0;
    ports
        .iter()
        .map(|&port| {
            (0..10_000)
                .map(|n| format!("{prefix}{n}"))
                .find(|id| owner(id) == port)
                .expect("an id on every node")
        })
        .collect()
}

fn cursor(con: &mut ClusterConnection, room: &str, user: &str) -> (i64, i64, i64) {
    let reply = q(con, &["CHAT.CURSOR", room, user]);
    (
        int(&field(&reply, "cursor")),
        int(&field(&reply, "last_id")),
        int(&field(&reply, "unread")),
    )
}

#[test]
fn rooms_and_users_of_every_node_talk_one_slot_at_a_time() {
    let cluster = Cluster::start();
    let mut con = cluster.client();
    let ports = cluster.ports;
    // alice, bob and carol live on three different nodes; the room on the
    // first node, with alice.
    let users = ids_on(&cluster, "user", &ports);
    let (alice, bob, carol) = (&users[0], &users[1], &users[2]);
    let room = &ids_on(&cluster, "room", &ports[..1])[0];
    for user in &users {
        q(&mut con, &["CHAT.REGISTER", user, "U"]);
    }
    q(&mut con, &["CHAT.CREATE", room, "General"]);

    // Every command declares one key, the one whose slot it runs in.
    let keys = strings(&q(
        &mut con,
        &["COMMAND", "GETKEYS", "CHAT.SEND", room, bob, "hi"],
    ));
    assert_eq!(keys, [room.as_str()]);

    // alice shares nothing with the room but its node: a member of another
    // slot; the first one turns the room into a broadcast room.
    let channel = String::from_utf8(room_channel(room)).unwrap();
    let how = join_in_steps(&mut con, room, alice);
    assert_eq!(how[0], "SSUBSCRIBE");
    assert_eq!(how.last(), Some(&channel));
    for user in [bob, carol] {
        join_in_steps(&mut con, room, user);
    }
    assert_eq!(
        text(&field(&q(&mut con, &["CHAT.INFO", room]), "mode")),
        "broadcast"
    );
    assert_eq!(strings(&q(&mut con, &["CHAT.ROOMS", bob])), [room.as_str()]);
    let channels = strings(&q(&mut con, &["CHAT.CHANNELS", bob]));
    assert_eq!(channels.last(), Some(&channel), "{channels:?}");

    // A send touches the room's slot only: stored once, published once.
    let live = sharded_listener(&cluster, &channel);
    assert_eq!(int(&q(&mut con, &["CHAT.SEND", room, bob, "hello"])), 1);
    let doc: serde_json::Value =
        serde_json::from_str(&live.recv_timeout(Duration::from_secs(5)).expect("live")).unwrap();
    assert_eq!(
        (doc["id"].clone(), doc["sender"].clone()),
        (json!(1), json!(bob))
    );
    assert_eq!(
        int(&q(
            &mut con,
            &["CHAT.SEND", room, carol, "hi", "DEDUP", "k"]
        )),
        2
    );
    assert_eq!(
        int(&q(
            &mut con,
            &["CHAT.SEND", room, carol, "hi", "DEDUP", "k"]
        )),
        2
    );
    // Nobody got an inbox copy: each reads from their cursor in the room.
    for user in &users {
        assert!(docs(&q(&mut con, &["CHAT.FETCH", user])).is_empty());
    }
    assert_eq!(cursor(&mut con, room, alice), (0, 2, 2));
    assert_eq!(cursor(&mut con, room, carol), (2, 2, 0));
    let missed = docs(&q(&mut con, &["CHAT.HISTORY", room, "AFTER", "0"]));
    assert_eq!(missed.len(), 2);
    assert_eq!(int(&q(&mut con, &["CHAT.READ", room, alice, "2"])), 2);
    assert_eq!(cursor(&mut con, room, alice), (2, 2, 0));
    let e = try_q(&mut con, &["CHAT.SEND", room, "stranger", "x"]).unwrap_err();
    assert_eq!(error_text(&e), "ERR user is not a member of the room");

    // What needs keys of several slots says so, and what to do instead.
    let e = try_q(&mut con, &["CHAT.UNREAD", bob]).unwrap_err();
    assert_eq!(e.code(), Some("CROSSSLOT"), "{e}");
    assert!(error_text(&e).contains("CHAT.CURSOR"), "{e}");
    let e = try_q(&mut con, &["CHAT.PRESENCE", room]).unwrap_err();
    assert_eq!(e.code(), Some("CROSSSLOT"), "{e}");
    let e = try_q(&mut con, &["CHAT.UNREGISTER", bob]).unwrap_err();
    assert!(error_text(&e).contains("CHAT.UNSUBSCRIBE"), "{e}");
    // Online shows in each user's own profile.
    q(&mut con, &["CHAT.ONLINE", bob]);
    assert_eq!(
        int(&field(&q(&mut con, &["CHAT.PROFILE", bob]), "online")),
        1
    );
    assert_eq!(
        int(&field(&q(&mut con, &["CHAT.PROFILE", carol]), "online")),
        0
    );

    // A direct room of two users of other slots, in steps.
    let dm = text(&q(&mut con, &["CHAT.DM-ID", bob, carol]));
    let e = try_q(&mut con, &["CHAT.DM", bob, carol]).unwrap_err();
    assert_eq!(e.code(), Some("CROSSSLOT"), "{e}");
    for user in [bob, carol] {
        q(&mut con, &["CHAT.LIST-ROOM", user, &dm]);
    }
    assert_eq!(text(&q(&mut con, &["CHAT.DM-ROOM", &dm, carol, bob])), dm);
    assert_eq!(text(&q(&mut con, &["CHAT.DM-ROOM", &dm, bob, carol])), dm);
    assert_eq!(strings(&q(&mut con, &["CHAT.MEMBERS", &dm])).len(), 2);
    assert_eq!(int(&q(&mut con, &["CHAT.SEND", &dm, carol, "psst"])), 1);
    let e = try_q(&mut con, &["CHAT.DM-ROOM", room, bob, carol]).unwrap_err();
    assert!(error_text(&e).contains(&dm), "{e}");

    // Leaving: the room's side, then the user's.
    let e = try_q(
        &mut con,
        &["CHAT.UNLIST-ROOM", bob, "nowhere", "IF-OLDER-THAN-MS", "x"],
    );
    assert!(e.is_err());
    assert_eq!(int(&q(&mut con, &["CHAT.UNSUBSCRIBE", room, bob])), 1);
    assert_eq!(int(&q(&mut con, &["CHAT.UNLIST-ROOM", bob, room])), 1);
    assert_eq!(int(&q(&mut con, &["CHAT.UNLIST-ROOM", bob, room])), 0);
    // bob leaves the direct room too, and may then go.
    q(&mut con, &["CHAT.UNSUBSCRIBE", &dm, bob]);
    q(&mut con, &["CHAT.UNLIST-ROOM", bob, &dm]);
    q(&mut con, &["CHAT.UNREGISTER", bob]);
    assert_eq!(q(&mut con, &["CHAT.PROFILE", bob]), redis::Value::Nil);

    // Dropping a room leaves a listing on other slots, which reads skip.
    q(&mut con, &["CHAT.DROP", room]);
    assert!(strings(&q(&mut con, &["CHAT.ROOMS", carol])).contains(room));
    let e = try_q(&mut con, &["CHAT.CURSOR", room, carol]).unwrap_err();
    assert_eq!(error_text(&e), "ERR no such room");
    assert_eq!(int(&q(&mut con, &["CHAT.UNLIST-ROOM", carol, room])), 1);
}

#[test]
fn steps_cut_short_leave_nothing_lost_and_are_repaired() {
    let cluster = Cluster::start();
    let mut con = cluster.client();
    let ports = cluster.ports;
    let users = ids_on(&cluster, "member", &ports);
    let room = &ids_on(&cluster, "chan", &ports[1..2])[0];
    let (dave, erin, frank) = (&users[0], &users[1], &users[2]);
    for user in &users {
        q(&mut con, &["CHAT.REGISTER", user, "U"]);
    }
    q(&mut con, &["CHAT.CREATE", room, "Room"]);
    join_in_steps(&mut con, room, frank);

    // A join cut after its first step: the room is listed, but dave is not
    // a member. Reads skip it; a repair that is too young leaves it (a
    // join may be in flight); an older one removes it.
    assert_eq!(int(&q(&mut con, &["CHAT.LIST-ROOM", dave, room])), 1);
    let e = try_q(&mut con, &["CHAT.CURSOR", room, dave]).unwrap_err();
    assert_eq!(error_text(&e), "ERR user is not a member of the room");
    let young = [
        "CHAT.UNLIST-ROOM",
        dave.as_str(),
        room,
        "IF-OLDER-THAN-MS",
        "60000",
    ];
    assert_eq!(int(&q(&mut con, &young)), 0);
    let old = [
        "CHAT.UNLIST-ROOM",
        dave.as_str(),
        room,
        "IF-OLDER-THAN-MS",
        "0",
    ];
    assert_eq!(int(&q(&mut con, &old)), 1);
    // The join, run again from the start, completes.
    join_in_steps(&mut con, room, dave);
    assert_eq!(
        strings(&q(&mut con, &["CHAT.ROOMS", dave])),
        [room.as_str()]
    );

    // A join whose listing a concurrent repair removed between its steps:
    // the last step lists the room again.
    q(&mut con, &["CHAT.LIST-ROOM", erin, room]);
    q(
        &mut con,
        &old.map(|a| if a == dave.as_str() { erin.as_str() } else { a }),
    );
    q(&mut con, &["CHAT.SUBSCRIBE", room, erin]);
    assert_eq!(int(&q(&mut con, &["CHAT.LIST-ROOM", erin, room])), 1);

    // Messages sent between a member's steps are not lost: the cursor in
    // the room marks where the member starts.
    assert_eq!(int(&q(&mut con, &["CHAT.SEND", room, frank, "one"])), 1);
    // A leave cut after its first step: not a member, still listed.
    q(&mut con, &["CHAT.UNSUBSCRIBE", room, dave]);
    assert!(strings(&q(&mut con, &["CHAT.ROOMS", dave])).contains(room));
    assert!(try_q(&mut con, &["CHAT.CURSOR", room, dave]).is_err());
    q(&mut con, &["CHAT.SEND", room, frank, "two"]);
    assert_eq!(cursor(&mut con, room, erin), (0, 2, 2));
    // The leave, run again, completes.
    assert_eq!(int(&q(&mut con, &["CHAT.UNSUBSCRIBE", room, dave])), 0);
    assert_eq!(int(&q(&mut con, &["CHAT.UNLIST-ROOM", dave, room])), 1);

    // Each node's replica stream and AOF hold the same steps: a node's data
    // survives a restart from its AOF (DEBUG RELOAD reads the RDB, so the
    // AOF path is checked by loading it).
    for &port in &ports {
        let mut node = cluster.node(port);
        let before = text(&q(&mut node, &["DEBUG", "DIGEST"]));
        q(&mut node, &["DEBUG", "LOADAOF"]);
        assert_eq!(
            text(&q(&mut node, &["DEBUG", "DIGEST"])),
            before,
            "node {port}"
        );
    }
}
