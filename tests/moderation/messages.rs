//! Others' messages in a room with an owner: owners and admins delete any
//! message (the tombstone and the event name who did), and only they pin.

use redis::Value;
use serde_json::json;

use crate::common::*;
use crate::{
    drain, message, noperm, online_listener, refused_exactly, room_with_roles, send, QUIET, WAIT,
};

#[test]
fn owners_and_admins_delete_any_message_members_only_theirs() {
    let server = Server::start();
    let mut con = server.conn();
    room_with_roles(
        &mut con,
        "r",
        "alice",
        &["bob", "carol", "dave"],
        &[("bob", "admin")],
    );
    for (i, sender) in ["carol", "dave", "carol", "carol", "alice", "bob"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            send(&mut con, "r", sender, &format!("m{}", i + 1)),
            i as i64 + 1
        );
    }
    let mut carol = online_listener(&server, &mut con, "carol");
    let mut bob = online_listener(&server, &mut con, "bob");

    // The admin deletes carol's message.
    assert_eq!(q(&mut con, &["CHAT.DELETE", "r", "bob", "1"]), Value::Okay);
    let tombstone = message(&mut con, "r", 1);
    assert_eq!(tombstone["deleted"], json!(true));
    assert_eq!(tombstone["deleted_by"], json!("bob"));
    assert_eq!(tombstone["sender"], json!("carol"));
    assert!(tombstone.get("text").is_none(), "{tombstone}");
    assert_eq!(
        carol.next(WAIT).unwrap(),
        json!({"type": "delete", "room": "r", "id": 1, "sender": "carol", "by": "bob"})
    );
    assert!(bob.next(QUIET).is_none(), "the actor is not told");

    // The owner deletes dave's, and an admin's.
    q(&mut con, &["CHAT.DELETE", "r", "alice", "2"]);
    q(&mut con, &["CHAT.DELETE", "r", "alice", "6"]);
    assert_eq!(message(&mut con, "r", 2)["deleted_by"], json!("alice"));
    assert_eq!(
        bob.next(WAIT).unwrap(),
        json!({"type": "delete", "room": "r", "id": 2, "sender": "dave", "by": "alice"})
    );
    // An admin deletes the owner's.
    q(&mut con, &["CHAT.DELETE", "r", "bob", "5"]);
    assert_eq!(message(&mut con, "r", 5)["deleted_by"], json!("bob"));

    // An author deleting their own: no deleted_by, no by.
    drain(&mut carol);
    drain(&mut bob);
    q(&mut con, &["CHAT.DELETE", "r", "carol", "3"]);
    let own = message(&mut con, "r", 3);
    assert_eq!(own["deleted"], json!(true));
    assert!(own.get("deleted_by").is_none(), "{own}");
    assert_eq!(
        bob.next(WAIT).unwrap(),
        json!({"type": "delete", "room": "r", "id": 3, "sender": "carol"})
    );

    // A member may not delete another's.
    refused_exactly(
        &mut con,
        &["CHAT.DELETE", "r", "dave", "4"],
        "ERR only the author of a message may change it",
    );
    assert!(message(&mut con, "r", 4).get("deleted").is_none());
    // Nor may an admin edit it: deleting is all they may do.
    refused_exactly(
        &mut con,
        &["CHAT.EDIT", "r", "bob", "4", "rewritten"],
        "ERR only the author of a message may change it",
    );
    assert_eq!(
        dump(&mut con, "r")["deleted_by"],
        json!({"1": "bob", "2": "alice", "5": "bob", "6": "alice"})
    );
    // HISTORY shows them the same way.
    let history = docs(&q(&mut con, &["CHAT.HISTORY", "r"]));
    let by: Vec<_> = history.iter().map(|d| d["deleted_by"].clone()).collect();
    assert_eq!(
        by,
        [
            json!("bob"),
            json!("alice"),
            json!(null),
            json!(null),
            json!("bob"),
            json!("alice")
        ]
    );
}

#[test]
fn in_a_room_with_an_owner_only_owners_and_admins_pin() {
    let server = Server::start();
    let mut con = server.conn();
    room_with_roles(
        &mut con,
        "r",
        "alice",
        &["bob", "carol"],
        &[("bob", "admin")],
    );
    send(&mut con, "r", "carol", "pin me");
    send(&mut con, "r", "carol", "and me");
    noperm(&mut con, &["CHAT.PIN", "r", "carol", "1"]);
    assert_eq!(q(&mut con, &["CHAT.PIN", "r", "bob", "1"]), Value::Okay);
    assert_eq!(q(&mut con, &["CHAT.PIN", "r", "alice", "2"]), Value::Okay);
    noperm(&mut con, &["CHAT.UNPIN", "r", "carol", "1"]);
    let pins: Vec<i64> = docs(&q(&mut con, &["CHAT.PINS", "r"]))
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    assert_eq!(pins, [2, 1]);
    assert_eq!(q(&mut con, &["CHAT.UNPIN", "r", "alice", "1"]), Value::Okay);
    assert_eq!(q(&mut con, &["CHAT.UNPIN", "r", "bob", "2"]), Value::Okay);
    assert!(docs(&q(&mut con, &["CHAT.PINS", "r"])).is_empty());
    // Made admin, carol pins; made member again, she may not.
    q(&mut con, &["CHAT.ROLE", "r", "alice", "carol", "admin"]);
    q(&mut con, &["CHAT.PIN", "r", "carol", "1"]);
    q(&mut con, &["CHAT.ROLE", "r", "bob", "carol", "member"]);
    noperm(&mut con, &["CHAT.UNPIN", "r", "carol", "1"]);
    noperm(&mut con, &["CHAT.PIN", "r", "carol", "2"]);
}
