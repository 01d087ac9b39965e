//! Gap documents and the new events, through the listener and the inbox.
//!
//! Retention is made small with `CONFIG SET` (`chat.history-max`,
//! `chat.inbox-max`, minimum 1; whole chunks of up to 128 messages or 64
//! inbox copies go at a time) on every primary.

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use redis_chat_client::{Chat, ListenOptions, Listener, SendOptions};
use serde_json::{json, Value as Json};

#[tokio::test(flavor = "multi_thread")]
async fn gaps_and_events_on_one_server() {
    gaps_and_events(&Setup::standalone()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn gaps_and_events_on_a_cluster() {
    gaps_and_events(&Setup::cluster()).await;
}

/// What the listener hands out until it has been quiet for `quiet`
/// (after `at_least` documents, or 20 s).
async fn documents(listener: &mut Listener, at_least: usize, quiet: Duration) -> Vec<Json> {
    let mut got = Vec::new();
    let hard = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let wait = if got.len() >= at_least {
            quiet
        } else {
            hard.saturating_duration_since(tokio::time::Instant::now())
        };
        match tokio::time::timeout(wait, listener.next()).await {
            Ok(Some(item)) => got.push(item.expect("the listener failed")),
            _ => break,
        }
    }
    assert!(
        got.len() >= at_least,
        "only {} documents: {got:?}",
        got.len()
    );
    got
}

fn of_types<'a>(docs: &'a [Json], types: &[&str]) -> Vec<&'a Json> {
    docs.iter()
        .filter(|d| types.contains(&d["type"].as_str().unwrap_or_default()))
        .collect()
}

/// A gap after `after`, then every message kept, up to `last`.
fn assert_gap_then_kept(docs: &[Json], room: &str, after: u64, last: u64) {
    let docs = of_types(docs, &["gap", "message"]);
    let gap = docs[0];
    let before = gap["before"].as_u64().expect("a gap first");
    assert_eq!(
        *gap,
        json!({"type": "gap", "room": room, "after": after, "before": before})
    );
    assert!(after + 1 < before && before <= last, "{gap}");
    let kept: Vec<u64> = docs[1..].iter().filter_map(|d| d["id"].as_u64()).collect();
    assert_eq!(kept, (before..=last).collect::<Vec<u64>>());
    assert!(docs[1..].iter().all(|d| d["type"] == "message"));
}

fn quiet() -> ListenOptions {
    ListenOptions {
        refresh: None,
        ..ListenOptions::default()
    }
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

/// `n` sends in one pipeline, on the node of the room.
fn send_many(setup: &Setup, room: &str, sender: &str, n: usize) {
    let mut pipe = redis::pipe();
    for i in 0..n {
        pipe.cmd("CHAT.SEND")
            .arg(room)
            .arg(sender)
            .arg(format!("bulk {i}"))
            .ignore();
    }
    pipe.query::<()>(&mut setup.node_for(room)).unwrap();
}

async fn gaps_and_events(setup: &Setup) {
    let chat = setup.chat().await;
    let users = setup.spread("hearer", 2);
    let (alice, bob) = (&users[0], &users[1]);
    let rooms = setup.spread("hall", 3);
    for user in &users {
        chat.register(user, "U", None).await.unwrap();
    }
    for room in &rooms {
        chat.create(room, "R").await.unwrap();
        chat.join(room, alice).await.unwrap();
        chat.join(room, bob).await.unwrap();
    }

    // The new events pass through, after the messages with their fields.
    let room = &rooms[0];
    let mut listener = chat.listen_with(bob, quiet()).await.unwrap();
    let mention = SendOptions {
        mentions: vec![bob.clone()],
        ..SendOptions::default()
    };
    let msg = chat.send_with(room, alice, "@bob", &mention).await.unwrap();
    let reply = SendOptions {
        reply_to: Some(msg),
        ..SendOptions::default()
    };
    let answer = chat.send_with(room, alice, "more", &reply).await.unwrap();
    chat.react(room, bob, msg, "mine").await.unwrap(); // bob's own: not to him
    chat.react(room, alice, msg, "👍").await.unwrap();
    chat.unreact(room, alice, msg, "👍").await.unwrap();
    chat.pin(room, alice, answer).await.unwrap();
    chat.unpin(room, alice, answer).await.unwrap();
    let docs = documents(&mut listener, 6, Duration::from_millis(500)).await;
    let messages = of_types(&docs, &["message"]);
    assert_eq!(messages[0]["mentions"], json!([bob]));
    assert_eq!(messages[1]["reply_to"].as_u64(), Some(msg));
    // In a broadcast room (the cluster's: in another slot than its
    // members) events go out once on the room's channel, so bob hears of
    // his own reaction too; in a fan-out room he does not.
    let events: Vec<&Json> = of_types(&docs, &["reaction", "pin", "unpin"])
        .into_iter()
        .filter(|e| e["user"] == alice.as_str())
        .collect();
    let own = docs.iter().filter(|e| e["user"] == bob.as_str()).count();
    assert_eq!(own, usize::from(setup.is_cluster()), "{docs:?}");
    assert_eq!(
        events,
        [
            &json!({"type": "reaction", "room": room, "id": msg, "user": alice, "reaction": "👍", "added": true}),
            &json!({"type": "reaction", "room": room, "id": msg, "user": alice, "reaction": "👍", "added": false}),
            &json!({"type": "pin", "room": room, "id": answer, "user": alice}),
            &json!({"type": "unpin", "room": room, "id": answer, "user": alice}),
        ]
    );

    // A gap while the listener is cut off: the kill and 300 sends in one
    // transaction, so that it cannot reconnect in between.
    setup.config_set("chat.history-max", "1");
    let room = &rooms[1];
    chat.send(room, alice, "live", 0).await.unwrap();
    let docs = documents(&mut listener, 1, Duration::from_millis(300)).await;
    assert_eq!(of_types(&docs, &["message"])[0]["id"], 1);
    let mut pipe = redis::pipe();
    pipe.atomic()
        .cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .ignore();
    for i in 0..300 {
        pipe.cmd("CHAT.SEND")
            .arg(room)
            .arg(alice)
            .arg(format!("gap {i}"))
            .ignore();
    }
    pipe.query::<()>(&mut setup.node_for(room)).unwrap();
    let docs = documents(&mut listener, 2, Duration::from_millis(700)).await;
    assert_gap_then_kept(&docs, room, 1, 301);
    chat.send(room, alice, "live again", 0).await.unwrap();
    let docs = documents(&mut listener, 1, Duration::from_millis(300)).await;
    assert_eq!(of_types(&docs, &["message"])[0]["id"], 302);
    let stats = listener.handle().stats();
    assert_eq!(stats.gaps, 1, "{stats:?}");
    assert_eq!(stats.last_ids[room], 302);
    drop(listener);

    // A gap before the listener catches up: 300 messages after bob's
    // cursor, most of them gone.
    let room = &rooms[2];
    send_many(setup, room, alice, 300);
    let mut listener = chat.listen_with(bob, quiet()).await.unwrap();
    let docs = documents(&mut listener, 2, Duration::from_millis(700)).await;
    assert_gap_then_kept(
        &docs
            .into_iter()
            .filter(|d| d["room"] == room.as_str())
            .collect::<Vec<_>>(),
        room,
        0,
        300,
    );
    drop(listener);
    let missed = chat.missed(bob).await.unwrap();
    let first = missed.iter().find(|d| d["room"] == room.as_str()).unwrap();
    assert_eq!(first["type"], "gap");
    setup.config_set("chat.history-max", "10000");

    // An inbox gap: bob offline in a fan-out room (one slot), inbox-max 1.
    let (users, room) = tagged(&chat, "inbox", &["alice", "bob"]).await;
    let (alice, bob) = (&users[0], &users[1]);
    setup.config_set("chat.inbox-max", "1");
    send_many(setup, &room, alice, 200);
    setup.config_set("chat.inbox-max", "1000");
    let inbox = chat.fetch(bob, Some(1000)).await.unwrap();
    let gap = &inbox[0];
    assert_eq!(gap["type"], "gap", "{gap}");
    let kept: Vec<u64> = inbox[1..].iter().filter_map(|d| d["id"].as_u64()).collect();
    let n = kept.len() as u64;
    assert!(n < 200);
    assert_eq!(kept, (201 - n..=200).collect::<Vec<u64>>());
    assert_eq!(
        *gap,
        json!({"type": "gap", "dropped": 200 - n, "delivery": gap["delivery"]})
    );
    chat.ack(bob, gap["delivery"].as_str().unwrap())
        .await
        .unwrap();
    let after = chat.fetch(bob, Some(1000)).await.unwrap();
    let ids: Vec<u64> = after.iter().filter_map(|d| d["id"].as_u64()).collect();
    assert_eq!((after.len(), ids), (kept.len(), kept));

    // A mention in a broadcast room (3 members, fanout-max-members 2; one
    // slot, as the event needs in a cluster): the message on the room's
    // channel, the mention on bob's own.
    setup.config_set("chat.fanout-max-members", "2");
    let (users, room) = tagged(&chat, "loud", &["alice", "bob", "carol"]).await;
    let (alice, bob) = (&users[0], &users[1]);
    let mut listener = chat.listen_with(bob, quiet()).await.unwrap();
    let mention = SendOptions {
        mentions: vec![bob.clone()],
        ..SendOptions::default()
    };
    let msg = chat
        .send_with(&room, alice, "hi @bob", &mention)
        .await
        .unwrap();
    let docs = documents(&mut listener, 2, Duration::from_millis(500)).await;
    setup.config_set("chat.fanout-max-members", "500");
    assert_eq!(
        of_types(&docs, &["mention"]),
        [&json!({"type": "mention", "room": room, "id": msg, "sender": alice, "text": "hi @bob"})]
    );
    assert_eq!(of_types(&docs, &["message"]).len(), 1);
}
