//! Replies, threads, reactions, pins, mentions and the inbox, on one server
//! and on a cluster whose rooms and users each live on another node.

mod common;

use std::collections::BTreeMap;

use common::*;
use redis_chat_client::{Chat, Error, SendOptions};
use serde_json::Value as Json;

#[tokio::test(flavor = "multi_thread")]
async fn conversations_on_one_server() {
    conversations(&Setup::standalone()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn conversations_on_a_cluster() {
    conversations(&Setup::cluster()).await;
}

fn ids(docs: &[Json]) -> Vec<u64> {
    docs.iter().filter_map(|d| d["id"].as_u64()).collect()
}

fn reply_to(id: u64) -> SendOptions {
    SendOptions {
        reply_to: Some(id),
        ..SendOptions::default()
    }
}

fn mentioning(users: &[&String]) -> SendOptions {
    SendOptions {
        mentions: users.iter().map(|u| u.to_string()).collect(),
        ..SendOptions::default()
    }
}

fn refused_with(e: &Error, start: &str) -> bool {
    matches!(e, Error::Refused { code, message } if code == "ERR" && message.starts_with(start))
}

/// Users and a room sharing one hash tag (one slot in a cluster).
async fn tagged(chat: &Chat, tag: &str, names: &[&str]) -> (Vec<String>, String) {
    let users: Vec<String> = names.iter().map(|n| format!("{{{tag}}}{n}")).collect();
    let room = format!("{{{tag}}}room");
    chat.create(&room, "tagged").await.unwrap();
    for user in &users {
        chat.register(user, "U", None).await.unwrap();
        chat.join(&room, user).await.unwrap();
    }
    (users, room)
}

async fn conversations(setup: &Setup) {
    let chat = setup.chat().await;
    // In a cluster: the users on three nodes, the rooms on the first two.
    let users = setup.spread("talker", 3);
    let (alice, bob, carol) = (&users[0], &users[1], &users[2]);
    let rooms = setup.spread("topic", 2);
    let room = &rooms[1];
    for user in &users {
        chat.register(user, "U", None).await.unwrap();
    }
    for r in &rooms {
        chat.create(r, "R").await.unwrap();
        for user in &users {
            chat.join(r, user).await.unwrap();
        }
    }

    // Replies and threads.
    let root = chat.send(room, alice, "question", 0).await.unwrap();
    let first = chat
        .send_with(room, bob, "answer", &reply_to(root))
        .await
        .unwrap();
    let keyed = SendOptions {
        key: Some("reply-key".into()),
        reply_to: Some(root),
        mentions: vec![alice.clone(), alice.clone()],
        ..SendOptions::default()
    };
    let second = chat.send_with(room, carol, "@alice", &keyed).await.unwrap();
    assert_eq!(
        chat.send_with(room, carol, "@alice", &keyed).await.unwrap(),
        second,
        "a retry with the key stores nothing"
    );
    let other = chat.send(room, alice, "unrelated", 0).await.unwrap();
    assert_eq!((root, first, second, other), (1, 2, 3, 4));
    let thread = chat.thread(room, root, None, None).await.unwrap();
    assert_eq!(ids(&thread), [root, first, second]);
    assert_eq!(
        (
            thread[0]["replies"].as_u64(),
            thread[0]["last_reply"].as_u64()
        ),
        (Some(2), Some(second))
    );
    assert_eq!(thread[1]["reply_to"].as_u64(), Some(root));
    assert_eq!(thread[2]["mentions"], serde_json::json!([alice]));
    assert_eq!(
        ids(&chat.thread(room, root, Some(first), None).await.unwrap()),
        [second]
    );
    assert_eq!(
        ids(&chat.thread(room, root, None, Some(1)).await.unwrap()),
        [root, first]
    );
    let e = chat
        .send_with(room, alice, "to nothing", &reply_to(99))
        .await
        .unwrap_err();
    // The spec says `no such message 99`; the module adds words after
    // the id: match the start and the id.
    assert!(
        refused_with(&e, "no such message") && e.to_string().contains("99"),
        "{e}"
    );
    let e = chat
        .send_with(room, alice, "hi", &mentioning(&[&"nobody".to_string()]))
        .await
        .unwrap_err();
    assert!(refused_with(&e, "cannot mention 'nobody'"), "{e}");

    // Reactions.
    assert!(chat.react(room, bob, root, "👍").await.unwrap());
    assert!(!chat.react(room, bob, root, "👍").await.unwrap());
    assert!(chat.react(room, alice, root, "👍").await.unwrap());
    assert!(chat.react(room, alice, root, "ok").await.unwrap());
    let mut both = vec![alice.clone(), bob.clone()];
    both.sort();
    assert_eq!(
        chat.reactions(room, root).await.unwrap(),
        BTreeMap::from([
            ("👍".to_string(), both),
            ("ok".to_string(), vec![alice.clone()])
        ])
    );
    let doc = &chat.history(room, Some(0), None, 1).await.unwrap()[0];
    assert_eq!(doc["reactions"], serde_json::json!({"👍": 2, "ok": 1}));
    assert!(chat.unreact(room, bob, root, "👍").await.unwrap());
    assert!(!chat.unreact(room, bob, root, "👍").await.unwrap());
    assert_eq!(chat.reactions(room, first).await.unwrap(), BTreeMap::new());
    let e = chat.react(room, bob, root, "two words").await.unwrap_err();
    assert!(refused_with(&e, "invalid reaction"), "{e}");

    // Pins, most recent first.
    chat.pin(room, alice, root).await.unwrap();
    chat.pin(room, bob, second).await.unwrap();
    assert_eq!(ids(&chat.pins(room).await.unwrap()), [second, root]);
    chat.unpin(room, carol, second).await.unwrap();
    assert_eq!(ids(&chat.pins(room).await.unwrap()), [root]);
    let e = chat.pin(room, alice, 77).await.unwrap_err();
    assert!(
        refused_with(&e, "no such message") && e.to_string().contains("77"),
        "{e}"
    );

    // Mentions across slots: from each room's cursor in a cluster.
    let last = chat
        .send_with(&rooms[0], alice, "@bob", &mentioning(&[bob]))
        .await
        .unwrap();
    chat.send_with(room, alice, "@bob @carol", &mentioning(&[bob, carol]))
        .await
        .unwrap();
    assert_eq!(
        chat.mentions(bob).await.unwrap(),
        BTreeMap::from([(rooms[0].clone(), 1), (room.clone(), 1)])
    );
    // carol: mentioned once here, and she sent "@alice" after the root.
    assert_eq!(
        chat.mentions(carol).await.unwrap(),
        BTreeMap::from([(room.clone(), 1)])
    );
    assert_eq!(
        chat.mentions(alice).await.unwrap(),
        BTreeMap::new(),
        "alice's mention was before her own later sends"
    );
    assert_eq!(chat.cursor(room, bob).await.unwrap().unwrap().mentions, 1);
    if setup.is_cluster() {
        let raw = chat.query(redis::cmd("CHAT.MENTIONS").arg(bob)).await;
        assert!(matches!(&raw, Err(e) if e.has_code("CROSSSLOT")), "{raw:?}");
    }
    chat.read(&rooms[0], bob, last).await.unwrap();
    assert_eq!(
        chat.mentions(bob).await.unwrap(),
        BTreeMap::from([(room.clone(), 1)])
    );
    assert_eq!(
        chat.cursor(&rooms[0], bob).await.unwrap().unwrap().mentions,
        0
    );
    let (sending_clears, room_of_bob) = (bob.clone(), room.clone());

    // Mentions in one slot: CHAT.MENTIONS answers; and the inbox (a room
    // in the members' slot fans out, so bob, not listening, gets copies).
    let (users, room) = tagged(&chat, "conv", &["alice", "bob"]).await;
    let (alice, bob) = (&users[0], &users[1]);
    let root = chat.send(&room, alice, "root", 0).await.unwrap();
    let options = SendOptions {
        reply_to: Some(root),
        mentions: vec![bob.clone()],
        ..SendOptions::default()
    };
    let reply = chat
        .send_with(&room, alice, "@bob", &options)
        .await
        .unwrap();
    let raw = chat
        .query(redis::cmd("CHAT.MENTIONS").arg(bob))
        .await
        .unwrap();
    assert!(!matches!(raw, redis::Value::Nil));
    assert_eq!(
        chat.mentions(bob).await.unwrap(),
        BTreeMap::from([(room.clone(), 1)])
    );
    let inbox = chat.fetch(bob, None).await.unwrap();
    assert_eq!(ids(&inbox), [root, reply]);
    assert_eq!(inbox[1]["reply_to"].as_u64(), Some(root));
    assert_eq!(inbox[1]["mentions"], serde_json::json!([bob]));
    assert_eq!(ids(&chat.fetch(bob, Some(1)).await.unwrap()), [root]);
    let delivery = inbox[0]["delivery"].as_str().unwrap();
    assert_eq!(chat.ack(bob, delivery).await.unwrap(), 1);
    assert_eq!(ids(&chat.fetch(bob, None).await.unwrap()), [reply]);

    // Sending in a room reads it, mentions included (last: the module
    // does not do it yet).
    chat.send(&room_of_bob, &sending_clears, "reading by sending", 0)
        .await
        .unwrap();
    let c = chat.cursor(&room_of_bob, &sending_clears).await.unwrap();
    assert_eq!(c.map(|c| c.unread), Some(0));
    assert_eq!(
        chat.mentions(&sending_clears).await.unwrap(),
        BTreeMap::new(),
        "CHAT.SEND did not clear the sender's mentions"
    );
}
