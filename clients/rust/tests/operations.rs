//! Every operation of the library, on one server and on a cluster whose
//! rooms and users each live on another node.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use redis_chat_client::{Error, Settings};
use serde_json::Value as Json;

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_on_one_server() {
    let setup = Setup::standalone();
    every_operation(&setup).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_on_a_cluster() {
    let setup = Setup::cluster();
    every_operation(&setup).await;
}

fn texts(docs: &[Json]) -> Vec<&str> {
    docs.iter().filter_map(|d| d["text"].as_str()).collect()
}

fn listed(setup: &Setup, user: &str) -> Vec<String> {
    strings(q(&mut setup.node_for(user), &["CHAT.ROOMS", user]))
}

async fn every_operation(setup: &Setup) {
    let chat = setup.chat().await;
    assert_eq!(chat.is_cluster(), setup.is_cluster());
    // In a cluster: alice, bob and carol on three nodes, the room on the
    // second, so every join crosses slots.
    let users = setup.spread("user", 3);
    let (alice, bob, carol) = (&users[0], &users[1], &users[2]);
    let room = &setup.spread("room", 2)[1];

    chat.register(alice, "Alice", Some("secret")).await.unwrap();
    chat.register(bob, "Bob", None).await.unwrap();
    chat.register(carol, "Carol", None).await.unwrap();
    let taken = chat.register(bob, "Bob", None).await.unwrap_err();
    assert!(taken.is("user already exists"), "{taken}");
    chat.create(room, "General").await.unwrap();

    // A join of a room that does not exist leaves no listing behind.
    let e = chat.join("nowhere", alice).await.unwrap_err();
    assert!(e.is_no_such_room(), "{e}");
    assert!(listed(setup, alice).is_empty());

    for user in &users {
        chat.join(room, user).await.unwrap();
    }
    chat.join(room, alice).await.unwrap(); // again: nothing changes
    assert_eq!(chat.rooms(alice).await.unwrap(), [room.as_str()]);

    // Sends, retries with a key, and the history.
    assert_eq!(chat.send(room, alice, "one", 0).await.unwrap(), 1);
    assert_eq!(
        chat.send_with_key(room, bob, "two", "k-2", 0)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        chat.send_with_key(room, bob, "two", "k-2", 0)
            .await
            .unwrap(),
        2
    );
    let all = chat.history(room, None, None, 50).await.unwrap();
    assert_eq!(texts(&all), ["one", "two"]);
    assert_eq!(
        texts(&chat.history(room, Some(1), None, 50).await.unwrap()),
        ["two"]
    );
    assert_eq!(
        texts(&chat.history(room, None, Some(2), 50).await.unwrap()),
        ["one"]
    );
    assert_eq!(
        texts(&chat.history(room, None, None, 1).await.unwrap()),
        ["two"]
    );
    assert!(matches!(
        chat.history(room, Some(1), Some(2), 5).await,
        Err(Error::Usage(_))
    ));

    // Read state, from each room's cursor.
    assert_eq!(
        chat.unread(carol).await.unwrap(),
        BTreeMap::from([(room.clone(), 2)])
    );
    assert!(
        chat.unread(bob).await.unwrap().is_empty(),
        "a sender has read what they sent"
    );
    assert_eq!(texts(&chat.missed(carol).await.unwrap()), ["one", "two"]);
    assert_eq!(chat.read(room, carol, 1).await.unwrap(), 1);
    assert_eq!(
        chat.read(room, carol, 0).await.unwrap(),
        1,
        "a cursor never moves back"
    );
    assert_eq!(texts(&chat.missed(carol).await.unwrap()), ["two"]);
    let c = chat.cursor(room, carol).await.unwrap().unwrap();
    assert_eq!((c.cursor, c.last_id, c.unread), (1, 2, 1));
    assert_eq!(chat.cursor("nowhere", carol).await.unwrap(), None);

    // A direct room, made in steps; the same room again.
    let dm = chat.dm(alice, bob).await.unwrap();
    assert_eq!(chat.dm(bob, alice).await.unwrap(), dm);
    assert!(chat.rooms(bob).await.unwrap().contains(&dm));
    assert_eq!(chat.send(&dm, bob, "psst", 0).await.unwrap(), 1);
    assert_eq!(chat.unread(alice).await.unwrap().get(&dm), Some(&1));
    assert!(chat
        .dm(alice, "nobody")
        .await
        .unwrap_err()
        .is_no_such_user());

    // Leaving: the membership, then the listing.
    assert!(chat.leave(room, carol).await.unwrap());
    assert!(!chat.leave(room, carol).await.unwrap());
    assert!(chat.rooms(carol).await.unwrap().is_empty());
    assert!(listed(setup, carol).is_empty());
    assert!(chat.reconcile(alice).await.unwrap().is_empty());

    // Sending as someone who left is refused, with the module's words.
    let e = chat.send(room, carol, "still here?", 0).await.unwrap_err();
    assert!(e.is_not_member(), "{e}");

    // Waiting for replicas that are not there: stored, not replicated.
    let impatient = setup
        .chat_with(Settings {
            attempts: 2,
            wait_timeout: Duration::from_millis(100),
            ..Settings::default()
        })
        .await;
    match impatient.send(room, alice, "three", 1).await {
        Err(Error::NotReplicated {
            id, acked, wanted, ..
        }) => {
            assert_eq!((id, acked, wanted), (3, 0, 1));
        }
        other => panic!("expected NotReplicated, got {other:?}"),
    }
    assert_eq!(
        chat.history(room, None, None, 50).await.unwrap().len(),
        3,
        "stored once"
    );

    // Dropping a room takes it off every member's list.
    assert!(chat.drop_room(room).await.unwrap());
    assert!(!chat.drop_room(room).await.unwrap());
    for user in [alice, bob] {
        assert!(!listed(setup, user).contains(room), "{user}");
        assert!(!chat.rooms(user).await.unwrap().contains(room));
    }

    // Unregistering leaves every room first.
    assert!(chat.unregister(bob).await.unwrap());
    assert!(!chat.unregister(bob).await.unwrap());
    let members = strings(q(&mut setup.node_for(&dm), &["CHAT.MEMBERS", &dm]));
    assert_eq!(members, [alice.as_str()]);
    let profile = chat
        .query(redis::cmd("CHAT.PROFILE").arg(bob))
        .await
        .unwrap();
    assert_eq!(profile, redis::Value::Nil);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_join_cut_after_its_first_step_is_healed_on_one_server() {
    join_cut_short(&Setup::standalone()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_join_cut_after_its_first_step_is_healed_on_a_cluster() {
    join_cut_short(&Setup::cluster()).await;
}

/// A join that stopped after `CHAT.LIST-ROOM` (the app crashed): the room is
/// listed for a user who is not a member. Reads skip it, a repair removes
/// it once it is old enough, and running the join again completes it.
async fn join_cut_short(setup: &Setup) {
    let chat = setup.chat().await;
    let users = setup.spread("member", 2);
    let (dave, erin) = (&users[0], &users[1]);
    let rooms = setup.spread("chan", 3);
    let (room, other) = (&rooms[1], &rooms[2]);
    for user in &users {
        chat.register(user, "U", None).await.unwrap();
    }
    chat.create(room, "Room").await.unwrap();
    chat.create(other, "Other").await.unwrap();
    chat.join(room, erin).await.unwrap();

    // dave's join of `room` stops after its first step; so does erin's of
    // `other`.
    for (user, r) in [(dave, room), (erin, other)] {
        q(&mut setup.node_for(user), &["CHAT.LIST-ROOM", user, r]);
    }
    chat.send(room, erin, "while dave was joining", 0)
        .await
        .unwrap();
    assert_eq!(listed(setup, dave), [room.as_str()]);
    assert!(
        chat.rooms(dave).await.unwrap().is_empty(),
        "reads skip the listing"
    );
    assert!(chat.unread(dave).await.unwrap().is_empty());
    assert!(chat.missed(dave).await.unwrap().is_empty());

    // A repair leaves a young listing alone: the join may be in progress.
    assert!(chat.reconcile(dave).await.unwrap().is_empty());
    assert_eq!(listed(setup, dave), [room.as_str()]);

    // Healed by a retry: the join again, from the start.
    chat.join(room, dave).await.unwrap();
    assert_eq!(chat.rooms(dave).await.unwrap(), [room.as_str()]);
    chat.send(room, erin, "welcome", 0).await.unwrap();
    assert_eq!(texts(&chat.missed(dave).await.unwrap()), ["welcome"]);

    // Healed by a repair: once old enough, the listing goes.
    let repair = setup
        .chat_with(Settings {
            reconcile_age: Duration::ZERO,
            ..Settings::default()
        })
        .await;
    assert_eq!(chat.rooms(erin).await.unwrap(), [room.as_str()]);
    assert_eq!(repair.reconcile(erin).await.unwrap(), [other.as_str()]);
    assert_eq!(listed(setup, erin), [room.as_str()]);
    // A member's listing is never removed.
    assert!(repair.reconcile(dave).await.unwrap().is_empty());
    assert_eq!(listed(setup, dave), [room.as_str()]);

    // A leave cut after its first step: the same. (On one server the
    // first step takes the listing too: nothing is left to repair.)
    q(&mut setup.node_for(room), &["CHAT.UNSUBSCRIBE", room, dave]);
    assert!(chat.rooms(dave).await.unwrap().is_empty());
    let repaired = repair.reconcile(dave).await.unwrap();
    if setup.is_cluster() {
        assert_eq!(repaired, [room.as_str()]);
    } else {
        assert!(repaired.is_empty());
    }
    assert!(listed(setup, dave).is_empty());
}
