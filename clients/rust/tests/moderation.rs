//! Moderation: rooms with owners, roles, private rooms and invitations,
//! kicks, bans, mutes, slow mode and the send rate limit, with the typed
//! refusals; and their events through the listener. On one server and on
//! a cluster whose rooms and users each live on another node (every
//! membership spans slots there).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use redis_chat_client::{CreateOptions, Error, ListenOptions, Listener, Refusal};
use serde_json::{json, Value as Json};

#[tokio::test(flavor = "multi_thread")]
async fn moderation_on_one_server() {
    moderation(&Setup::standalone()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn moderation_on_a_cluster() {
    moderation(&Setup::cluster()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn events_on_one_server() {
    events(&Setup::standalone()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn events_on_a_cluster() {
    events(&Setup::cluster()).await;
}

fn owned(owner: &str, private: bool) -> CreateOptions {
    CreateOptions {
        owner: Some(owner.to_string()),
        private,
    }
}

/// An `ERR` refusal whose message contains `words`.
fn err_with(e: &Error, words: &str) -> bool {
    matches!(e, Error::Refused { code, message } if code == "ERR" && message.contains(words))
}

/// The user's listings as the module keeps them, members or not.
fn listed(setup: &Setup, user: &str) -> Vec<String> {
    strings(q(&mut setup.node_for(user), &["CHAT.ROOMS", user]))
}

fn roles(pairs: &[(&String, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(u, r)| (u.to_string(), r.to_string()))
        .collect()
}

/// A field of CHAT.INFO, from the room's node.
fn info(setup: &Setup, room: &str, field: &str) -> redis::Value {
    let redis::Value::Array(items) = q(&mut setup.node_for(room), &["CHAT.INFO", room]) else {
        panic!("CHAT.INFO of {room}");
    };
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        if redis::from_redis_value::<String>(k).unwrap() == field {
            return v;
        }
    }
    panic!("no {field} in CHAT.INFO");
}

async fn moderation(setup: &Setup) {
    let chat = setup.chat().await;
    // In a cluster: the users on three nodes, the rooms on all of them.
    let mut users = setup.spread("mod", 3);
    users.extend(setup.spread("extra", 1));
    let (alice, bob, carol, dave) = (&users[0], &users[1], &users[2], &users[3]);
    for user in &users {
        chat.register(user, "U", None).await.unwrap();
    }
    let rooms = setup.spread("club", 3);
    let (room, private, plain) = (&rooms[1], &rooms[2], &rooms[0]);

    // -- create with an owner, roles -----------------------------------------
    chat.create_with(room, "Club", &owned(alice, false))
        .await
        .unwrap();
    assert_eq!(chat.rooms(alice).await.unwrap(), [room.as_str()]);
    assert_eq!(listed(setup, alice), [room.as_str()]);
    chat.join(room, bob).await.unwrap();
    chat.join(room, carol).await.unwrap();
    assert_eq!(
        chat.members_with_roles(room).await.unwrap(),
        roles(&[(alice, "owner"), (bob, "member"), (carol, "member")])
    );
    assert_eq!(strings(info(setup, room, "owners")), [alice.as_str()]);
    assert!(chat.role(room, alice, bob, "admin").await.unwrap());
    assert!(!chat.role(room, alice, bob, "ADMIN").await.unwrap());
    assert!(chat.role(room, bob, carol, "admin").await.unwrap());
    assert!(chat.role(room, bob, carol, "member").await.unwrap());
    for (actor, user, role) in [
        (bob, carol, "owner"),
        (bob, alice, "member"),
        (carol, bob, "member"),
    ] {
        let e = chat.role(room, actor, user, role).await.unwrap_err();
        assert_eq!(e.refusal(), Some(Refusal::NoPermission), "{e}");
        assert!(e.has_code("NOPERM") && e.is_refused());
    }
    let e = chat.role(room, alice, alice, "admin").await.unwrap_err();
    assert!(err_with(&e, "last owner") && e.refusal().is_none(), "{e}");
    let e = chat.leave(room, alice).await.unwrap_err();
    assert!(err_with(&e, "last owner"), "{e}");
    assert_eq!(
        chat.members_with_roles(room).await.unwrap(),
        roles(&[(alice, "owner"), (bob, "admin"), (carol, "member")])
    );

    // -- refused creations -----------------------------------------------------
    let e = chat
        .create_with(
            plain,
            "P",
            &CreateOptions {
                owner: None,
                private: true,
            },
        )
        .await
        .unwrap_err();
    assert!(err_with(&e, "PRIVATE needs OWNER"), "{e}");
    let e = chat
        .create_with(plain, "P", &owned("nobody", false))
        .await
        .unwrap_err();
    assert!(e.is_no_such_user(), "{e}");
    let e = chat
        .create_with(room, "again", &owned(alice, false))
        .await
        .unwrap_err();
    assert!(err_with(&e, "already exists"), "{e}");
    assert_eq!(
        listed(setup, alice),
        [room.as_str()],
        "the owner stays listed"
    );
    let e = chat
        .create_with(room, "again", &owned(dave, true))
        .await
        .unwrap_err();
    assert!(err_with(&e, "already exists"), "{e}");
    assert_eq!(listed(setup, dave), Vec::<String>::new());

    // A room without an owner has no moderators.
    chat.create(plain, "Plain").await.unwrap();
    chat.join(plain, alice).await.unwrap();
    chat.join(plain, bob).await.unwrap();
    let e = chat.kick(plain, alice, bob).await.unwrap_err();
    assert_eq!(e.refusal(), Some(Refusal::NoPermission), "{e}");

    // -- private rooms and invitations ---------------------------------------
    chat.create_with(private, "Private", &owned(alice, true))
        .await
        .unwrap();
    assert_eq!(info(setup, private, "private"), redis::Value::Int(1));
    let e = chat.join(private, dave).await.unwrap_err();
    assert_eq!(e.refusal(), Some(Refusal::NoInvite), "{e}");
    assert_eq!(listed(setup, dave), Vec::<String>::new());
    assert!(chat.invite(private, alice, dave).await.unwrap());
    assert!(!chat.invite(private, alice, dave).await.unwrap());
    let invited = chat.invites(dave).await.unwrap();
    if setup.is_cluster() {
        // Kept in the room's slot only (the two are on other nodes).
        assert_eq!(invited, BTreeMap::new());
    } else {
        assert_eq!(invited.keys().collect::<Vec<_>>(), [private]);
    }
    chat.join(private, dave).await.unwrap();
    assert_eq!(chat.rooms(dave).await.unwrap(), [private.as_str()]);
    assert_eq!(listed(setup, dave), [private.as_str()]);
    assert_eq!(chat.invites(dave).await.unwrap(), BTreeMap::new());
    let e = chat.invite(private, dave, carol).await.unwrap_err();
    assert_eq!(e.refusal(), Some(Refusal::NoPermission), "{e}");
    let e = chat.invite(private, alice, dave).await.unwrap_err();
    assert!(err_with(&e, "already a member"), "{e}");
    chat.send(private, dave, "in by invitation", 0)
        .await
        .unwrap();

    // Invitations in one slot: listed for the user, ascending by room.
    let (ta, tb) = ("{inv}alice".to_string(), "{inv}bob".to_string());
    chat.register(&ta, "A", None).await.unwrap();
    chat.register(&tb, "B", None).await.unwrap();
    for r in ["{inv}room2", "{inv}room1"] {
        chat.create_with(r, "T", &owned(&ta, true)).await.unwrap();
        chat.invite(r, &ta, &tb).await.unwrap();
    }
    let invited = chat.invites(&tb).await.unwrap();
    assert_eq!(
        invited.keys().map(String::as_str).collect::<Vec<_>>(),
        ["{inv}room1", "{inv}room2"]
    );
    assert!(invited.values().all(|&ms| ms > 1_700_000_000_000));
    chat.join("{inv}room1", &tb).await.unwrap();
    assert_eq!(
        chat.invites(&tb)
            .await
            .unwrap()
            .into_keys()
            .collect::<Vec<_>>(),
        ["{inv}room2"]
    );

    // -- kicks, bans -----------------------------------------------------------
    chat.kick(room, alice, carol).await.unwrap();
    assert_eq!(chat.rooms(carol).await.unwrap(), Vec::<String>::new());
    assert_eq!(listed(setup, carol), Vec::<String>::new());
    let e = chat.kick(room, alice, carol).await.unwrap_err();
    assert!(e.is_not_member(), "{e}");
    chat.join(room, carol).await.unwrap(); // a public room: back in
    let e = chat.kick(room, carol, bob).await.unwrap_err();
    assert_eq!(e.refusal(), Some(Refusal::NoPermission), "{e}");
    let e = chat.kick(room, bob, alice).await.unwrap_err();
    assert_eq!(e.refusal(), Some(Refusal::NoPermission), "{e}");

    chat.ban(room, bob, carol, Some(60)).await.unwrap();
    assert_eq!(chat.rooms(carol).await.unwrap(), Vec::<String>::new());
    assert_eq!(listed(setup, carol), Vec::<String>::new());
    let e = chat.join(room, carol).await.unwrap_err();
    let Some(Refusal::Banned { until: Some(until) }) = e.refusal() else {
        panic!("not a ban with an end: {e}");
    };
    assert!(until > 1_700_000_000_000);
    assert!(e.has_code("BANNED") && e.to_string().starts_with("BANNED "));
    assert_eq!(listed(setup, carol), Vec::<String>::new());
    let e = chat.invite(room, alice, carol).await.unwrap_err();
    assert!(matches!(e.refusal(), Some(Refusal::Banned { .. })), "{e}");
    assert!(chat.unban(room, alice, carol).await.unwrap());
    assert!(!chat.unban(room, alice, carol).await.unwrap());
    chat.join(room, carol).await.unwrap();
    chat.ban(room, alice, dave, None).await.unwrap(); // not a member
    let view = chat.moderation(room).await.unwrap();
    assert_eq!(view.bans, [(dave.to_string(), None)].into_iter().collect());
    assert_eq!(
        view.roles.get(alice.as_str()).map(String::as_str),
        Some("owner")
    );
    assert!(view.mutes.is_empty() && !view.private);
    let e = chat.join(room, dave).await.unwrap_err();
    assert_eq!(e.refusal(), Some(Refusal::Banned { until: None }), "{e}");
    let e = chat.unban(room, carol, dave).await.unwrap_err();
    assert_eq!(e.refusal(), Some(Refusal::NoPermission), "{e}");
    assert!(chat.ban(room, alice, carol, Some(0)).await.is_err());

    // -- mutes and slow mode ---------------------------------------------------
    let msg = chat.send(room, alice, "hello", 0).await.unwrap();
    chat.mute(room, alice, carol, Some(30)).await.unwrap();
    let view = chat.moderation(room).await.unwrap();
    let end = view.mutes.get(carol.as_str()).copied().flatten();
    assert!(end.is_some_and(|t| t > 1_700_000_000_000), "{view:?}");
    let e = chat.send(room, carol, "let me speak", 0).await.unwrap_err();
    assert!(
        matches!(e.refusal(), Some(Refusal::Muted { until: Some(_) })),
        "{e}"
    );
    let e = chat.react(room, carol, msg, "ok").await.unwrap_err();
    assert!(matches!(e.refusal(), Some(Refusal::Muted { .. })), "{e}");
    let e = chat.mute(room, carol, alice, None).await.unwrap_err();
    assert_eq!(e.refusal(), Some(Refusal::NoPermission), "{e}");
    assert!(chat.unmute(room, alice, carol).await.unwrap());
    assert!(!chat.unmute(room, alice, carol).await.unwrap());
    chat.send(room, carol, "free again", 0).await.unwrap();
    chat.mute(room, bob, carol, None).await.unwrap();
    chat.leave(room, carol).await.unwrap();
    chat.join(room, carol).await.unwrap();
    let e = chat.send(room, carol, "back", 0).await.unwrap_err();
    assert_eq!(e.refusal(), Some(Refusal::Muted { until: None }), "{e}");
    chat.unmute(room, alice, carol).await.unwrap();

    chat.slowmode(room, alice, 10).await.unwrap();
    assert_eq!(info(setup, room, "slowmode"), redis::Value::Int(10));
    chat.send(room, carol, "one", 0).await.unwrap();
    let e = chat.send(room, carol, "two", 0).await.unwrap_err();
    let Some(Refusal::SlowMode { retry_after_ms }) = e.refusal() else {
        panic!("not slow mode: {e}");
    };
    assert!(retry_after_ms > 0 && retry_after_ms <= 10_000, "{e}");
    assert!(e.refusal().and_then(|r| r.retry_after()).is_some());
    chat.send(room, bob, "admins are exempt", 0).await.unwrap();
    chat.send(room, bob, "admins are exempt, twice", 0)
        .await
        .unwrap();
    let e = chat.slowmode(room, carol, 0).await.unwrap_err();
    assert_eq!(e.refusal(), Some(Refusal::NoPermission), "{e}");
    let e = chat.slowmode(room, alice, 3601).await.unwrap_err();
    assert!(err_with(&e, "from 0 to 3600"), "{e}");
    chat.slowmode(room, alice, 0).await.unwrap();
    chat.send(room, carol, "two, now", 0).await.unwrap();

    // -- the send rate limit (every primary) -----------------------------------
    setup.config_set("chat.send-rate", "1");
    chat.send(private, alice, "first", 0).await.unwrap();
    let e = chat.send(private, alice, "too soon", 0).await.unwrap_err();
    let Some(Refusal::RateLimited { retry_after_ms }) = e.refusal() else {
        panic!("not rate limited: {e}");
    };
    assert!(retry_after_ms > 0 && retry_after_ms <= 1000, "{e}");
    setup.config_set("chat.send-rate", "0");
    chat.send(private, alice, "off again", 0).await.unwrap();
    let texts: Vec<String> = chat
        .history(private, None, None, 10)
        .await
        .unwrap()
        .iter()
        .map(|d| d["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(texts, ["in by invitation", "first", "off again"]);
}

/// What the listener hands out until it has been quiet for `quiet`.
async fn drain(listener: &mut Listener, quiet: Duration) -> Vec<Json> {
    let mut got = Vec::new();
    while let Ok(Some(item)) = tokio::time::timeout(quiet, listener.next()).await {
        got.push(item.expect("the listener failed"));
    }
    got
}

/// Every moderation event reaches the listener once: in a fan-out room on
/// the user's own channel; in a broadcast room on the room's channel and,
/// for an event about the user, again on their own, of which one is handed
/// out. A kick ends the listening to the room. The ban of another member
/// comes with a `member` event.
async fn events(setup: &Setup) {
    let chat = setup.chat().await;
    for (mode, fanout_max) in [("fanout", "500"), ("broadcast", "1")] {
        // One slot for all, so that events about bob reach his channel in
        // a cluster too.
        let names = ["alice", "bob", "carol", "dave"];
        let users: Vec<String> = names.iter().map(|n| format!("{{{mode}}}{n}")).collect();
        let (alice, bob, dave) = (&users[0], &users[1], &users[3]);
        let room = format!("{{{mode}}}room");
        setup.config_set("chat.fanout-max-members", fanout_max);
        for user in &users {
            chat.register(user, "U", None).await.unwrap();
        }
        chat.create_with(&room, "Room", &owned(alice, false))
            .await
            .unwrap();
        for user in &users[1..] {
            chat.join(&room, user).await.unwrap();
        }
        let options = ListenOptions {
            refresh: None,
            ..ListenOptions::default()
        };
        let mut listener = chat.listen_with(bob, options).await.unwrap();
        chat.role(&room, alice, bob, "admin").await.unwrap();
        chat.role(&room, alice, bob, "member").await.unwrap();
        chat.mute(&room, alice, bob, Some(30)).await.unwrap();
        chat.unmute(&room, alice, bob).await.unwrap();
        chat.slowmode(&room, alice, 5).await.unwrap();
        chat.ban(&room, alice, dave, None).await.unwrap();
        chat.kick(&room, alice, bob).await.unwrap();
        let mut got = drain(&mut listener, Duration::from_millis(700)).await;
        chat.send(&room, alice, "after the kick", 0).await.unwrap();
        chat.invite(&room, alice, bob).await.unwrap();
        chat.ban(&room, alice, bob, Some(60)).await.unwrap();
        chat.unban(&room, alice, bob).await.unwrap();
        got.extend(drain(&mut listener, Duration::from_millis(700)).await);
        let mode_now = redis::from_redis_value::<String>(info(setup, &room, "mode")).unwrap();
        assert_eq!(mode_now, mode);
        setup.config_set("chat.fanout-max-members", "500");

        let events: Vec<&Json> = got.iter().filter(|e| e["type"] != "mode").collect();
        let kinds: Vec<(&str, &str)> = events
            .iter()
            .map(|e| {
                (
                    e["type"].as_str().unwrap_or_default(),
                    e["user"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        // The ban of dave comes with a `member` event for the other members
        // (bob among them); a broadcast room tells its channel of bob's own
        // kick too, which bob still listens to then.
        let mut expected = vec![
            ("role", bob.as_str()),
            ("role", bob),
            ("mute", bob),
            ("unmute", bob),
            ("slowmode", ""),
            ("member", dave),
            ("ban", dave),
        ];
        if mode == "broadcast" {
            expected.push(("member", bob));
        }
        expected.extend([
            ("kick", bob.as_str()),
            ("invite", bob),
            ("ban", bob),
            ("unban", bob),
        ]);
        assert_eq!(kinds, expected, "{mode}: {got:?}");
        let own_kick = usize::from(mode == "broadcast");
        assert_eq!(
            *events[0],
            json!({"type": "role", "room": room, "user": bob, "role": "admin", "by": alice})
        );
        assert!(events[2]["until"]
            .as_u64()
            .is_some_and(|t| t > 1_700_000_000_000));
        assert_eq!(
            *events[4],
            json!({"type": "slowmode", "room": room, "seconds": 5, "by": alice})
        );
        assert_eq!(
            *events[5],
            json!({"type": "member", "room": room, "user": dave, "change": "ban"})
        );
        assert_eq!(events[6]["until"], Json::Null);
        assert_eq!(
            *events[7 + own_kick],
            json!({"type": "kick", "room": room, "user": bob, "by": alice})
        );
        assert_eq!(
            *events[8 + own_kick],
            json!({"type": "invite", "room": room, "user": bob, "by": alice, "title": "Room"})
        );
        assert!(
            got.iter().all(|e| e["type"] != "message"),
            "{mode}: a message after the kick: {got:?}"
        );
        listener.close().await;
    }
}
