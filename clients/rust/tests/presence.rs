//! Presence, devices, notification settings and the events that come with
//! them: presence changes through a listener that follows other users
//! (online, offline, a presence that runs out, a change while its
//! connections were down), devices, the members of rooms followed, member
//! events, a read from the user's other device, and the notifications a
//! send records for members who are away. On one server and on a cluster,
//! where untagged users live on other nodes than each other (each
//! presence channel is a shard channel of its user's node).

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use redis_chat_client::{presence_channel, Chat, ListenOptions, Listener, Notify};
use serde_json::{json, Value as Json};

#[tokio::test(flavor = "multi_thread")]
async fn presence_on_one_server() {
    presence(&Setup::standalone()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn presence_on_a_cluster() {
    presence(&Setup::cluster()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rooms_and_notifications_on_one_server() {
    rooms_and_notifications(&Setup::standalone()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rooms_and_notifications_on_a_cluster() {
    rooms_and_notifications(&Setup::cluster()).await;
}

/// A listener and everything it handed out so far.
struct Seen {
    listener: Listener,
    docs: Vec<Json>,
}

impl Seen {
    fn new(listener: Listener) -> Seen {
        Seen {
            listener,
            docs: Vec::new(),
        }
    }

    /// Reads until `check` holds for what was handed out, for up to `secs`.
    async fn until(&mut self, what: &str, secs: u64, check: impl Fn(&[Json]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while !check(&self.docs) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.listener.next()).await {
                Ok(Some(item)) => self.docs.push(item.expect("the listener failed")),
                _ => panic!("timed out waiting for {what}; got {:?}", self.docs),
            }
        }
    }

    /// Reads what comes within `quiet`.
    async fn settle(&mut self, quiet: Duration) {
        while let Ok(Some(item)) = tokio::time::timeout(quiet, self.listener.next()).await {
            self.docs.push(item.expect("the listener failed"));
        }
    }

    fn presence_of(&self, user: &str) -> Vec<&Json> {
        self.docs
            .iter()
            .filter(|d| d["type"] == "presence" && d["user"] == user)
            .collect()
    }

    /// The `n`-th presence event of `user` (1-based), once it came.
    async fn presence(&mut self, user: &str, n: usize, secs: u64) -> Json {
        let what = format!("presence event {n} of {user}");
        self.until(&what, secs, |docs| {
            docs.iter()
                .filter(|d| d["type"] == "presence" && d["user"] == user)
                .count()
                >= n
        })
        .await;
        self.presence_of(user)[n - 1].clone()
    }
}

fn options() -> ListenOptions {
    ListenOptions {
        refresh: Some(Duration::from_secs(1)),
        ..ListenOptions::default()
    }
}

async fn people(chat: &Chat, names: &[String]) {
    for user in names {
        chat.register(user, "U", None).await.unwrap();
    }
}

/// Users and a room sharing one hash tag (one slot in a cluster), the room
/// with them all as members.
async fn tagged(chat: &Chat, tag: &str, names: &[&str]) -> (Vec<String>, String) {
    let users: Vec<String> = names.iter().map(|n| format!("{{{tag}}}{n}")).collect();
    people(chat, &users).await;
    let room = format!("{{{tag}}}room");
    chat.create(&room, "Team").await.unwrap();
    for user in &users {
        chat.join(&room, user).await.unwrap();
    }
    (users, room)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

async fn presence(setup: &Setup) {
    let chat = setup.chat().await;
    let users = setup.spread("pres", 3);
    people(&chat, &users).await;
    let (alice, bob, carol) = (&users[0], &users[1], &users[2]);

    // -- profiles, settings, channels ----------------------------------------
    let profile = chat.profile(bob).await.unwrap().expect("bob's profile");
    assert_eq!((profile.id.as_str(), profile.online), (bob.as_str(), false));
    assert_eq!(profile.presence_channel, presence_channel(bob));
    assert_eq!(profile.notify, Some(Notify::Mentions));
    assert!(chat.profile("nobody-here").await.unwrap().is_none());
    for setting in [Notify::All, Notify::None, Notify::Mentions] {
        chat.notify(bob, setting).await.unwrap();
        let profile = chat.profile(bob).await.unwrap().unwrap();
        assert_eq!(profile.notify, Some(setting));
    }
    let e = chat.notify("nobody-here", Notify::All).await.unwrap_err();
    assert!(e.is_no_such_user(), "{e}");
    let verb = if setup.is_cluster() {
        "SSUBSCRIBE"
    } else {
        "SUBSCRIBE"
    };
    let (tagged_users, _) = tagged(&chat, "ch", &["a", "b", "c"]).await;
    let (got_verb, channels) = chat.channels(&tagged_users[0], true).await.unwrap();
    assert_eq!(got_verb, verb);
    assert_eq!(
        channels[channels.len() - 2..],
        [
            presence_channel(&tagged_users[1]),
            presence_channel(&tagged_users[2])
        ]
    );
    let (_, without) = chat.channels(&tagged_users[0], false).await.unwrap();
    assert_eq!(without, channels[..channels.len() - 2]);

    // -- online, offline and a presence that runs out ------------------------
    let listen = ListenOptions {
        follow: vec![carol.clone()],
        ..options()
    };
    let mut seen = Seen::new(chat.listen_with(alice, listen).await.unwrap());
    let handle = seen.listener.handle();
    let states = handle.follow_presence(&[bob]).await.unwrap();
    assert_eq!(states, [(bob.clone(), false)].into());
    assert_eq!(
        handle.presence_state(),
        [(bob.clone(), false), (carol.clone(), false)].into()
    );
    let online = chat.is_online(&[alice, bob]).await.unwrap();
    assert_eq!(online, [(alice.clone(), true), (bob.clone(), false)].into());

    chat.online(bob, Some(60), None).await.unwrap();
    let event = seen.presence(bob, 1, 10).await;
    assert_eq!(event["online"], true);
    assert!(
        event["until"].as_u64().unwrap() > now_ms() + 50_000,
        "{event}"
    );
    chat.online(bob, Some(60), None).await.unwrap(); // a heartbeat: nothing
    chat.offline(bob, None).await.unwrap();
    let event = seen.presence(bob, 2, 10).await;
    assert_eq!(
        event,
        json!({"type": "presence", "user": bob, "online": false, "until": null})
    );
    chat.online(bob, Some(1), None).await.unwrap();
    seen.presence(bob, 3, 10).await;
    let began = Instant::now();
    let event = seen.presence(bob, 4, 5).await;
    assert_eq!(event["online"], false, "the TTL ran out: {event}");
    assert!(began.elapsed() < Duration::from_secs(3));
    assert!(!handle.presence_state()[bob]);

    chat.online(carol, Some(30), None).await.unwrap();
    assert_eq!(seen.presence(carol, 1, 10).await["online"], true);
    handle.unfollow_presence(&[bob]).await.unwrap();
    chat.online(bob, Some(30), None).await.unwrap();
    chat.offline(carol, None).await.unwrap();
    seen.presence(carol, 2, 10).await;
    seen.settle(Duration::from_millis(300)).await;
    assert_eq!(
        seen.presence_of(bob).len(),
        4,
        "unfollowed: {:?}",
        seen.docs
    );
    chat.offline(bob, None).await.unwrap();
    handle.follow_presence(&[bob]).await.unwrap();

    // -- devices ---------------------------------------------------------------
    chat.online(bob, Some(60), Some("phone")).await.unwrap();
    seen.presence(bob, 5, 10).await;
    chat.online(bob, Some(60), Some("laptop")).await.unwrap();
    chat.offline(bob, Some("phone")).await.unwrap();
    assert!(chat.profile(bob).await.unwrap().unwrap().online);
    chat.offline(bob, Some("laptop")).await.unwrap();
    assert_eq!(seen.presence(bob, 6, 10).await["online"], false);
    let e = chat
        .online(bob, None, Some("bad device"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("invalid device id"), "{e}");
    // A listener with a device keeps it online, and ends it when closed.
    let with_device = ListenOptions {
        device: Some("tab".into()),
        ..options()
    };
    let bob_app = chat.listen_with(bob, with_device.clone()).await.unwrap();
    assert_eq!(seen.presence(bob, 7, 10).await["online"], true);
    chat.online(bob, Some(60), Some("phone")).await.unwrap();
    bob_app.close().await;
    seen.settle(Duration::from_millis(300)).await;
    assert_eq!(seen.presence_of(bob).len(), 7, "the phone is online");
    chat.offline(bob, Some("phone")).await.unwrap();
    assert_eq!(seen.presence(bob, 8, 10).await["online"], false);
    let bob_app = chat.listen_with(bob, with_device).await.unwrap();
    seen.presence(bob, 9, 10).await;
    bob_app.close().await;
    let began = Instant::now();
    assert_eq!(seen.presence(bob, 10, 10).await["online"], false);
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "at once, not after the TTL"
    );
    drop(seen);

    // -- a change while the listener's connections are down ------------------
    let listen = ListenOptions {
        follow: vec![bob.clone()],
        refresh: None,
        ..ListenOptions::default()
    };
    let mut listener = chat.listen_with(alice, listen).await.unwrap();
    let ports = match setup {
        Setup::Standalone(s) => vec![s.port],
        Setup::Cluster(c) => c.ports.to_vec(),
    };
    for port in ports {
        q(&mut connect(port), &["CLIENT", "KILL", "TYPE", "pubsub"]);
    }
    chat.online(bob, Some(60), None).await.unwrap(); // published to nobody
    let event = tokio::time::timeout(Duration::from_secs(10), listener.next())
        .await
        .expect("an event")
        .unwrap()
        .unwrap();
    assert_eq!(
        event,
        json!({"type": "presence", "user": bob, "online": true, "until": null}),
        "read again after the break"
    );
    assert!(listener.handle().stats().full_syncs >= 2);
    chat.offline(bob, None).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), listener.next())
        .await
        .expect("an event")
        .unwrap()
        .unwrap();
    assert_eq!(event["online"], false);
    assert_eq!(event["until"], Json::Null);
}

/// The notification entries of `room` in the stream of its slot:
/// `chat:notify` on one server, in a cluster the `chat:notify:{...}` stream
/// in the room's slot, found with SCAN on its node. One entry per send that
/// notified anyone, with the fields room, id, sender, ts, text and to; each
/// as (message id, sender, `to` as written: a JSON object of user to
/// reason).
fn notifications(setup: &Setup, room: &str) -> Vec<(u64, String, String)> {
    let mut con = setup.node_for(room);
    let key = if setup.is_cluster() {
        let redis::Value::Array(reply) = q(
            &mut con,
            &[
                "SCAN",
                "0",
                "MATCH",
                "chat:notify*",
                "TYPE",
                "stream",
                "COUNT",
                "1000",
            ],
        ) else {
            panic!("SCAN");
        };
        let keys: Vec<String> = redis::from_redis_value(reply[1].clone()).unwrap();
        let slot = i64::from(redis_chat_client::slot(room.as_bytes()));
        let mine: Vec<String> = keys
            .into_iter()
            .filter(|k| redis_chat_client::slot(k.as_bytes()) as i64 == slot)
            .collect();
        match mine.as_slice() {
            [] => return Vec::new(),
            [key] => key.clone(),
            more => panic!("more than one stream in a slot: {more:?}"),
        }
    } else {
        "chat:notify".to_string()
    };
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(&key)
        .arg("-")
        .arg("+")
        .query(&mut con)
        .unwrap();
    entries
        .into_iter()
        .filter_map(|(_, fields)| {
            let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(names, ["room", "id", "sender", "ts", "text", "to"]);
            let value = |i: usize| fields[i].1.clone();
            let to: serde_json::Map<String, Json> = serde_json::from_str(&value(5))
                .unwrap_or_else(|e| panic!("to is not a JSON object ({e}): {}", value(5)));
            assert!(!to.is_empty(), "an entry that notifies nobody");
            (value(0) == room).then(|| (value(1).parse().unwrap(), value(2), value(5)))
        })
        .collect()
}

/// The `to` of an entry that names `recipients` (user, reason) in this
/// order: `{"bob":"message","carol":"mention"}`.
fn to(recipients: &[(&String, &str)]) -> String {
    let items: Vec<String> = recipients
        .iter()
        .map(|(user, reason)| format!("{}:{}", Json::from(user.as_str()), Json::from(*reason)))
        .collect();
    format!("{{{}}}", items.join(","))
}

async fn rooms_and_notifications(setup: &Setup) {
    let chat = setup.chat().await;

    // -- following the members of rooms; member events ----------------------
    let (users, room) = tagged(&chat, "team", &["alice", "bob", "carol"]).await;
    let (alice, bob, carol) = (&users[0], &users[1], &users[2]);
    let dave = "{team}dave".to_string();
    chat.register(&dave, "Dave", None).await.unwrap();
    let listen = ListenOptions {
        follow_members: true,
        ..options()
    };
    let mut seen = Seen::new(chat.listen_with(alice, listen).await.unwrap());
    let handle = seen.listener.handle();
    assert_eq!(
        handle.presence_state(),
        [(bob.clone(), false), (carol.clone(), false)].into()
    );
    chat.join(&room, &dave).await.unwrap();
    let joined = json!({"type": "member", "room": room, "user": dave, "change": "join"});
    seen.until("dave's join", 10, |d| d.contains(&joined)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !handle.presence_state().contains_key(&dave) {
        assert!(Instant::now() < deadline, "dave is not followed");
        seen.settle(Duration::from_millis(100)).await;
    }
    chat.online(&dave, Some(30), None).await.unwrap();
    assert_eq!(seen.presence(&dave, 1, 10).await["online"], true);
    chat.leave(&room, carol).await.unwrap();
    let left = json!({"type": "member", "room": room, "user": carol, "change": "leave"});
    seen.until("carol's leave", 10, |d| d.contains(&left)).await;

    // A read on alice's other device: her listener hears it once.
    let id = chat.send(&room, bob, "hello", 0).await.unwrap();
    chat.read(&room, alice, id).await.unwrap();
    let read = json!({"type": "read", "room": room, "user": alice, "id": id});
    seen.until("alice's own read", 10, |d| d.contains(&read))
        .await;
    seen.settle(Duration::from_millis(300)).await;
    assert_eq!(seen.docs.iter().filter(|d| **d == read).count(), 1);
    drop(seen);

    // And in a room of members on other nodes (in a cluster a broadcast
    // room: the read comes on its channel).
    let others = setup.spread("rd", 2);
    people(&chat, &others).await;
    let wide = setup.spread("wide", 1).remove(0);
    chat.create(&wide, "Wide").await.unwrap();
    for user in &others {
        chat.join(&wide, user).await.unwrap();
    }
    let mut seen = Seen::new(chat.listen_with(&others[0], options()).await.unwrap());
    let id = chat.send(&wide, &others[1], "hi", 0).await.unwrap();
    chat.read(&wide, &others[0], id).await.unwrap();
    let read = json!({"type": "read", "room": wide, "user": others[0], "id": id});
    seen.until("a read on another device", 10, |d| d.contains(&read))
        .await;
    seen.settle(Duration::from_millis(300)).await;
    assert_eq!(seen.docs.iter().filter(|d| **d == read).count(), 1);
    drop(seen);

    // -- notifications ---------------------------------------------------------
    let (users, room) = tagged(&chat, "away", &["alice", "bob", "carol", "dave"]).await;
    let (alice, bob, carol, dave) = (&users[0], &users[1], &users[2], &users[3]);
    chat.notify(bob, Notify::All).await.unwrap();
    chat.notify(dave, Notify::None).await.unwrap();
    chat.online(carol, Some(60), None).await.unwrap();
    let first = chat.send(&room, alice, "Lunch?", 0).await.unwrap();
    let mentions = redis_chat_client::SendOptions {
        mentions: vec![carol.clone(), dave.clone()],
        ..Default::default()
    };
    let second = chat
        .send_with(&room, alice, "Carol, Dave?", &mentions)
        .await
        .unwrap();
    chat.offline(carol, None).await.unwrap();
    let mention = redis_chat_client::SendOptions {
        mentions: vec![carol.clone()],
        ..Default::default()
    };
    let third = chat
        .send_with(&room, alice, "Carol?", &mention)
        .await
        .unwrap();
    // One entry per send, naming every member it notifies (in the room's
    // order of members) with why: none for carol while online, nor for
    // dave (none).
    let sent = |id: u64, recipients: &[(&String, &str)]| (id, alice.clone(), to(recipients));
    assert_eq!(
        notifications(setup, &room),
        [
            sent(first, &[(bob, "message")]),
            sent(second, &[(bob, "message")]),
            sent(third, &[(bob, "message"), (carol, "mention")]),
        ]
    );
    // A direct room notifies with the default setting.
    let dm = chat.dm(carol, alice).await.unwrap();
    let psst = chat.send(&dm, alice, "Psst", 0).await.unwrap();
    assert_eq!(
        notifications(setup, &dm),
        [sent(psst, &[(carol, "direct")])]
    );
}
