//! The listener: every message of every room once, in order, through
//! connections killed under it, rooms joined while it runs, and (in a
//! cluster) a room whose slot moves to another node.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use redis_chat_client::{ListenOptions, Listener};

#[tokio::test(flavor = "multi_thread")]
async fn each_message_once_through_killed_connections_on_one_server() {
    exactly_once(&Setup::standalone()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_message_once_from_rooms_of_every_node_through_killed_connections() {
    exactly_once(&Setup::cluster()).await;
}

/// Messages the listener hands out, by room, until `n` have come; then
/// half a second more, for anything that would come twice.
async fn collect(listener: &mut Listener, n: usize) -> BTreeMap<String, Vec<u64>> {
    let mut got: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut count = 0;
    let mut deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let next = tokio::time::timeout_at(deadline, listener.next()).await;
        let Ok(Some(item)) = next else {
            break;
        };
        let doc = item.expect("the listener failed");
        if doc["type"] != "message" {
            continue;
        }
        let room = doc["room"].as_str().unwrap().to_string();
        got.entry(room)
            .or_default()
            .push(doc["id"].as_u64().unwrap());
        count += 1;
        if count == n {
            deadline = tokio::time::Instant::now() + Duration::from_millis(500);
        }
    }
    assert!(count >= n, "only {count} of {n} messages came: {got:?}");
    got
}

async fn exactly_once(setup: &Setup) {
    let chat = setup.chat().await;
    let users = setup.spread("user", 2);
    let (alice, bob) = (&users[0], &users[1]);
    let rooms = setup.spread("room", 3);
    for user in &users {
        chat.register(user, "U", None).await.unwrap();
    }
    for room in &rooms {
        chat.create(room, "R").await.unwrap();
        chat.join(room, alice).await.unwrap();
        chat.join(room, bob).await.unwrap();
    }
    let mut listener = chat.listen(bob).await.unwrap();
    let handle = listener.handle();

    // Live, in every room.
    for i in 0..5 {
        for room in &rooms {
            chat.send(room, alice, &format!("live {i}"), 0)
                .await
                .unwrap();
        }
    }
    // For each room, the node that serves it drops the listener's
    // connection and gets three sends before anyone can reconnect: one
    // pipeline, run by the server in one go. Nothing is published to the
    // listener; it must find them in the history.
    for room in &rooms {
        let mut node = setup.node_for(room);
        let mut pipe = redis::pipe();
        pipe.cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub");
        for i in 0..3 {
            pipe.cmd("CHAT.SEND")
                .arg(room)
                .arg(alice)
                .arg(format!("gap {i}"));
        }
        let replies: Vec<redis::Value> = pipe.query(&mut node).unwrap();
        assert_eq!(replies.len(), 4);
    }
    // Live again, after the listener is back.
    for i in 0..5 {
        for room in &rooms {
            chat.send(room, alice, &format!("after {i}"), 0)
                .await
                .unwrap();
        }
    }
    let got = collect(&mut listener, 3 * 13).await;
    for room in &rooms {
        assert_eq!(got[room], (1..=13).collect::<Vec<u64>>(), "room {room}");
    }
    let stats = handle.stats();
    assert!(stats.full_syncs >= 2, "{stats:?}");
    assert!(
        stats.filled >= 9,
        "the gaps came from the history: {stats:?}"
    );
    assert_eq!(
        stats.last_ids.values().copied().collect::<Vec<_>>(),
        [13, 13, 13]
    );

    // bob's own messages are not handed out, but count as seen.
    chat.send(&rooms[0], bob, "mine", 0).await.unwrap();
    chat.send(&rooms[0], alice, "yours", 0).await.unwrap();
    let got = collect(&mut listener, 1).await;
    assert_eq!(got, BTreeMap::from([(rooms[0].clone(), vec![15])]));
}

#[tokio::test(flavor = "multi_thread")]
async fn rooms_joined_later_on_one_server() {
    rooms_joined_later(&Setup::standalone()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rooms_joined_later_on_a_cluster() {
    rooms_joined_later(&Setup::cluster()).await;
}

/// A room joined while listening comes in after a refresh, starting after
/// the read cursor; a direct room someone else opened, with the periodic
/// re-read; a room left is no longer followed. A listener may also start
/// after each room's last message.
async fn rooms_joined_later(setup: &Setup) {
    let chat = setup.chat().await;
    let users = setup.spread("person", 3);
    let (alice, bob, carol) = (&users[0], &users[1], &users[2]);
    let rooms = setup.spread("place", 3);
    for user in &users {
        chat.register(user, "U", None).await.unwrap();
    }
    for room in &rooms {
        chat.create(room, "R").await.unwrap();
        chat.join(room, alice).await.unwrap();
    }
    chat.join(&rooms[0], bob).await.unwrap();
    chat.send(&rooms[0], alice, "before", 0).await.unwrap();
    chat.send(&rooms[1], alice, "before bob joined", 0)
        .await
        .unwrap();

    let options = ListenOptions {
        refresh: Some(Duration::from_millis(300)),
        ..ListenOptions::default()
    };
    let mut listener = chat.listen_with(bob, options.clone()).await.unwrap();
    // Unread from the cursor, first.
    let got = collect(&mut listener, 1).await;
    assert_eq!(got, BTreeMap::from([(rooms[0].clone(), vec![1])]));

    chat.join(&rooms[1], bob).await.unwrap();
    listener.handle().refresh().await.unwrap();
    chat.send(&rooms[1], alice, "after bob joined", 0)
        .await
        .unwrap();
    let dm = chat.dm(carol, bob).await.unwrap();
    chat.send(&dm, carol, "psst", 0).await.unwrap();
    let got = collect(&mut listener, 2).await;
    assert_eq!(
        got,
        BTreeMap::from([(rooms[1].clone(), vec![2]), (dm.clone(), vec![1])])
    );

    chat.leave(&rooms[1], bob).await.unwrap();
    listener.handle().refresh().await.unwrap();
    chat.send(&rooms[1], alice, "bob is gone", 0).await.unwrap();
    chat.send(&rooms[0], alice, "still here", 0).await.unwrap();
    let got = collect(&mut listener, 1).await;
    assert_eq!(got, BTreeMap::from([(rooms[0].clone(), vec![2])]));
    drop(listener);

    // From the latest: nothing old comes, new messages do.
    chat.send(&rooms[0], alice, "unread, shown by other means", 0)
        .await
        .unwrap();
    let latest = ListenOptions {
        from_latest: true,
        ..options
    };
    let mut listener = chat.listen_with(bob, latest).await.unwrap();
    chat.send(&rooms[0], alice, "new", 0).await.unwrap();
    let got = collect(&mut listener, 1).await;
    assert_eq!(got, BTreeMap::from([(rooms[0].clone(), vec![4])]));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_user_cannot_listen() {
    let setup = Setup::standalone();
    let chat = setup.chat().await;
    let e = chat.listen("nobody").await.err().expect("an error");
    assert!(e.is_no_such_user(), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_room_whose_slot_moves_to_another_node() {
    let setup = Setup::cluster();
    let Setup::Cluster(cluster) = &setup else {
        unreachable!()
    };
    let chat = setup.chat().await;
    let users = setup.spread("mover", 2);
    let (alice, bob) = (&users[0], &users[1]);
    let room = &setup.spread("moving", 3)[2];
    for user in &users {
        chat.register(user, "U", None).await.unwrap();
    }
    chat.create(room, "R").await.unwrap();
    chat.join(room, alice).await.unwrap();
    chat.join(room, bob).await.unwrap();
    let mut listener = chat.listen(bob).await.unwrap();
    chat.send(room, alice, "before", 0).await.unwrap();
    assert_eq!(collect(&mut listener, 1).await[room], [1]);

    // The room's slot moves, key and all; the old node ends the listener's
    // subscription to the room's channel.
    let from = setup.port_for(room);
    let to = *cluster.ports.iter().find(|&&p| p != from).unwrap();
    move_slot(cluster, room, from, to);
    assert_eq!(setup.port_for(room), to);
    for i in 0..5 {
        chat.send(room, alice, &format!("moved {i}"), 0)
            .await
            .unwrap();
    }
    let got = collect(&mut listener, 5).await;
    assert_eq!(got[room], (2..=6).collect::<Vec<u64>>());
    assert!(listener.handle().stats().full_syncs >= 2);
}

/// Moves the slot of `key` from the primary on `from` to the one on `to`, as
/// `redis-cli --cluster reshard` does.
fn move_slot(cluster: &Cluster, key: &str, from: u16, to: u16) {
    let slot = redis_chat_client::slot(key.as_bytes()).to_string();
    let id = |port| redis::from_redis_value::<String>(q(&mut connect(port), &["CLUSTER", "MYID"]));
    let (from_id, to_id) = (id(from).unwrap(), id(to).unwrap());
    q(
        &mut connect(to),
        &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from_id],
    );
    q(
        &mut connect(from),
        &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &to_id],
    );
    let keys = strings(q(
        &mut connect(from),
        &["CLUSTER", "GETKEYSINSLOT", &slot, "1000"],
    ));
    let port = to.to_string();
    let mut migrate = vec!["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS"];
    migrate.extend(keys.iter().map(String::as_str));
    q(&mut connect(from), &migrate);
    for port in [to, from].into_iter().chain(cluster.ports) {
        q(
            &mut connect(port),
            &["CLUSTER", "SETSLOT", &slot, "NODE", &to_id],
        );
    }
}

/// A room that turns broadcast while listening: the `mode` event makes the
/// listener subscribe to the room's channel (no periodic re-read here), and
/// messages keep coming, once each.
#[tokio::test(flavor = "multi_thread")]
async fn a_room_that_turns_broadcast_while_listening() {
    let setup = Setup::standalone();
    let chat = setup.chat().await;
    let mut node = setup.node_for("town");
    q(
        &mut node,
        &["CONFIG", "SET", "chat.fanout-max-members", "2"],
    );
    for user in ["dave", "erin", "frank"] {
        chat.register(user, "U", None).await.unwrap();
    }
    chat.create("town", "Town").await.unwrap();
    chat.join("town", "dave").await.unwrap();
    chat.join("town", "erin").await.unwrap();
    let options = ListenOptions {
        refresh: None,
        ..ListenOptions::default()
    };
    let mut listener = chat.listen_with("dave", options).await.unwrap();
    chat.send("town", "erin", "fan-out", 0).await.unwrap();
    assert_eq!(collect(&mut listener, 1).await["town"], [1]);

    chat.join("town", "frank").await.unwrap();
    let mode = tokio::time::timeout(Duration::from_secs(5), listener.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        (mode["type"].as_str(), mode["mode"].as_str()),
        (Some("mode"), Some("broadcast"))
    );
    until("the listener on the room channel", 5, || {
        let subs = q(&mut node, &["PUBSUB", "NUMSUB", "chat:room:{town}:push"]);
        strings(subs).get(1).map(String::as_str) == Some("1")
    })
    .await;
    for i in 0..3 {
        chat.send("town", "frank", &format!("broadcast {i}"), 0)
            .await
            .unwrap();
    }
    assert_eq!(collect(&mut listener, 3).await["town"], [2, 3, 4]);
}
