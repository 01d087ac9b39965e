//! Encoding version 2 stays readable: rooms and users written by the
//! module at commit 360ed6f (the last that wrote version 2, before rooms
//! kept rules and users invitations), kept here as bytes, decode to the
//! values they were made from, answer as those values did, show in
//! CHAT.DUMP with the moderation fields empty, and encode (in the current
//! version) to bytes that decode to them again.
//!
//! The functions that build the values below ran on that commit to make
//! the bytes (`encode_room`/`encode_user`, printed as hex); they use only
//! calls both versions have, so here they build what the bytes must
//! decode to.

use chat_core::data::extra::Extra;
use chat_core::data::inbox::{Change, Copy};
use chat_core::data::rules::Role;
use chat_core::data::wire::name_hash;
use chat_core::data::{
    decode_room, decode_user, encode_room, encode_user, room_json, user_json, Room, User,
    ENCODING_VERSION,
};
use chat_core::delivery::DeliveryId;
use serde_json::{json, Value};

const T: i64 = 1_764_201_600_000;

/// A long text: an inbox chunk (2048 bytes) holds eight copies of it, so
/// nine of them fill a chunk that the inbox can drop.
const LONG: &str = concat!(
    "a copy long enough that eight of them fill one chunk of an inbox, so that ",
    "the inbox drops a whole chunk of them unread when it is trimmed to its most, ",
    "as chat.inbox-max does to a user who stays away for too long"
);

/// A room with members, a sender who left, a trimmed first message, a
/// thread of two replies, mentions read and unread, reactions (one given
/// by the sender who left), two pins, an edited message, a tombstone with
/// the reply it carried, and two DEDUP keys.
fn written_room() -> Room {
    let mut room = Room::new(name_hash(b"general"), "Général", T);
    for user in ["alice", "bob", "carol", "dave", "erin"] {
        room.join(user, 0);
    }
    let send = |room: &mut Room, sender: &str, text: &str, reply_to, mentions, at: i64| {
        let extra = Extra { reply_to, mentions };
        room.send_message(sender, text, &extra, T + at).unwrap()
    };
    send(&mut room, "erin", "trimmed away", None, vec![], 1_000);
    send(
        &mut room,
        "bob",
        "hello @carol @dave",
        None,
        vec!["carol", "dave"],
        2_000,
    );
    send(&mut room, "carol", "a reply", Some(2), vec![], 3_000);
    send(
        &mut room,
        "alice",
        "another reply, @bob",
        Some(2),
        vec!["bob"],
        4_000,
    );
    send(
        &mut room,
        "bob",
        "to be deleted",
        Some(3),
        vec!["dave"],
        5_000,
    );
    send(&mut room, "dave", "to be edited", None, vec![], 6_000);
    send(
        &mut room,
        "alice",
        "last, @dave @carol",
        None,
        vec!["dave", "carol"],
        7_000,
    );
    room.edit(6, "dave", "edited", T + 9_000).unwrap();
    room.delete(5, "bob").unwrap();
    room.react(2, "bob", "👍").unwrap();
    room.react(2, "carol", "👍").unwrap();
    room.react(2, "erin", "ok").unwrap();
    room.react(6, "alice", "🎉").unwrap();
    room.pin(2, "alice").unwrap();
    room.pin(6, "bob").unwrap();
    room.read("bob", 3).unwrap();
    room.leave("erin");
    room.trim_below(2);
    room.dedup_record(b"retry-1", 4, T + 60_000);
    room.dedup_record(b"\xff key", 7, T + 67_000);
    room
}

/// A user with a password, presence, two rooms, and an inbox that dropped
/// a chunk of eight copies unread and keeps four: one edited, one with a
/// reply and a mention.
fn written_user() -> User {
    let mut user = User::new(name_hash(b"bob"), "Bob", T);
    user.set_password("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo");
    user.set_online_until(T + 30_000);
    user.join("general", T + 10);
    user.join("{t}dm", T + 20);
    let extra = Extra {
        reply_to: Some(3),
        mentions: vec!["bob"],
    }
    .encode();
    for i in 0..12u64 {
        let at = T + 1_000 * i as i64;
        let last = i == 11;
        let text = match i {
            0..=8 => LONG,
            11 => "short",
            _ => "medium",
        };
        user.deliver(&Copy {
            delivery: user.next_delivery(at),
            room: if i % 3 == 0 { "{t}dm" } else { "general" },
            id: i + 1,
            sender: "alice",
            ts: at - 5,
            edited: None,
            deleted: false,
            text,
            extra: if last { &extra } else { &[] },
        });
    }
    user.change_copies(
        "general",
        11,
        T + 9_995,
        Change::Edited {
            text: "changed",
            at: T + 20_000,
        },
    );
    assert!(user.trim_inbox_keeping(4) > 0);
    user
}

/// A user who only registered: a name and a time.
fn idle_user() -> User {
    User::new(name_hash(b"zed"), "Zed", T + 5)
}

/// A user online in one room, without a password or an inbox copy.
fn present_user() -> User {
    let mut user = User::new(name_hash(b"carol"), "Carol", T + 7);
    user.set_online_until(T + 90_000);
    user.join("general", T + 8);
    user
}

/// `written_room()` as version 2 writes it.
const ROOM_V2: &[&str] = &[
    "fc6b21b9240947c3a96ec3a972616cfd00283885350300000505616c69636501070203626f62010502056361",
    "726f6c0103010464617665010601046572696e000102080101050101fdd02f388535030000fdb05e38853503",
    "0000069dfbd0070100021268656c6c6f20406361726f6c2040646176650d0002056361726f6c0464617665fb",
    "d0070200020761207265706c7903010200fbd00700000213616e6f74686572207265706c792c2040626f6207",
    "01020103626f62fbd0070100030003010300fbd0070301fb70170006656469746564fbd007000002126c6173",
    "742c20406461766520406361726f6c0d00020464617665056361726f6c0701020772657472792d3104fdc0fc",
    "39853503000005ff206b657907fd70333a853503000003020203040204f09f918d020102026f6b0104030105",
    "0006000104f09f8e89010002020602020107030107",
];

/// `written_user()` as version 2 writes it.
const USER_V2: &[&str] = &[
    "fcd4a0c68603426f62fd002838853503000001fd6012398535030000013b246172676f6e32696424763d3139",
    "246d3d31393435362c743d322c703d31246332467364484e68624851246147467a614768686332686f59584e",
    "6f020767656e6572616cfd1428388535030000057b747d646dfd2828388535030000010108fdb05e38853503",
    "0000fdf07d38853503000004fb4a01fbe80300090767656e6572616c0905616c6963650000d36120636f7079",
    "206c6f6e6720656e6f7567682074686174206569676874206f66207468656d2066696c6c206f6e6520636875",
    "6e6b206f6620616e20696e626f782c20736f20746861742074686520696e626f782064726f70732061207768",
    "6f6c65206368756e6b206f66207468656d20756e72656164207768656e206974206973207472696d6d656420",
    "746f20697473206d6f73742c20617320636861742e696e626f782d6d617820646f657320746f206120757365",
    "722077686f207374617973206177617920666f7220746f6f206c6f6e67fbe8030009057b747d646d0a05616c",
    "6963650000066d656469756dfbe80300090767656e6572616c0b05616c69636501fb2a4e00076368616e6765",
    "64fbe80300090767656e6572616c0c05616c69636500020573686f72740701030103626f620cfdf83e9cc29a",
    "010000000108fd3f339cc29a010000fdffffffffffffffff",
];

/// `idle_user()` as version 2 writes it.
const IDLE_V2: &[&str] = &["fcf4808bb7035a6564fd0a2838853503000000"];

/// `present_user()` as version 2 writes it.
const PRESENT_V2: &[&str] = &[
    "fc128f0867054361726f6cfd0e2838853503000001fd20e73a853503000000010767656e6572616cfd102838",
    "853503000000000000",
];

/// Fixture bytes kept as lines of hex.
pub(crate) fn bytes(hex: &[&str]) -> Vec<u8> {
    let hex = hex.concat();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

pub(crate) fn parsed(json: String) -> Value {
    serde_json::from_str(&json).unwrap()
}

#[test]
fn a_version_2_room_reads_back_as_it_was_written() {
    let stored = bytes(ROOM_V2);
    let room = decode_room(2, &stored).unwrap();
    assert_eq!(room, written_room());
    // Version 3 writes the same room and its rules, none: one zero byte
    // more, after the conversation; version 5 its epoch, none drawn yet:
    // two zero bytes more.
    let again = encode_room(&room);
    assert_eq!(again, [&stored[..], &[0, 0, 0]].concat());
    assert_eq!(decode_room(ENCODING_VERSION, &again), Ok(room.clone()));
    assert!(decode_room(2, &again).is_err());

    assert_eq!(room.origin(), name_hash(b"general"));
    assert_eq!((room.title(), room.created()), ("Général", T));
    assert_eq!((room.first_id(), room.last_id()), (Some(2), 7));
    let members: Vec<_> = room.members().collect();
    assert_eq!(
        members,
        [("alice", 7), ("bob", 5), ("carol", 3), ("dave", 6)]
    );
    let counts: Vec<_> = room.counts().collect();
    assert_eq!(
        counts,
        [
            ("alice", 2),
            ("bob", 2),
            ("carol", 1),
            ("dave", 1),
            ("erin", 1)
        ]
    );
    let texts: Vec<_> = room
        .log()
        .iter()
        .map(|(id, m)| (id, m.text, m.edited, m.deleted))
        .collect();
    assert_eq!(
        texts,
        [
            (2, "hello @carol @dave", None, false),
            (3, "a reply", None, false),
            (4, "another reply, @bob", None, false),
            (5, "", None, true),
            (6, "edited", Some(T + 9_000), false),
            (7, "last, @dave @carol", None, false),
        ]
    );
    assert_eq!(room.thread(2, None, 10).unwrap().replies, [3, 4]);
    assert_eq!(room.thread(3, None, 10).unwrap().replies, [5]);
    assert_eq!(room.mentions_of(2), ["carol", "dave"]);
    // A tombstone keeps the reply it carried, not its mentions.
    assert!(room.mentions_of(5).is_empty());
    let unread: Vec<_> = ["alice", "bob", "carol", "dave", "erin"]
        .iter()
        .map(|u| room.unread_mentions(u))
        .collect();
    assert_eq!(unread, [Some(0), Some(0), Some(1), Some(1), None]);
    assert_eq!(
        room.reactions(2).unwrap(),
        [("👍", vec!["bob", "carol"]), ("ok", vec!["erin"])]
    );
    assert_eq!(room.reactions(6).unwrap(), [("🎉", vec!["alice"])]);
    assert_eq!(room.pins().collect::<Vec<_>>(), [6, 2]);
    assert_eq!(room.dedup_get(b"retry-1", T), Some(4));
    assert_eq!(room.dedup_get(b"\xff key", T + 66_999), Some(7));
    assert_eq!(room.dedup_get(b"\xff key", T + 67_000), None);

    // Nobody moderates a room of version 2: no rules, every member a
    // member, anyone may join, send and pin, only authors delete.
    assert_eq!(room.rules(), None);
    assert!(!room.has_owner() && !room.is_private());
    assert_eq!(room.slowmode(), 0);
    assert_eq!(room.role("alice"), Some(Role::Member));
    assert_eq!(room.role("erin"), None);
    assert_eq!(room.check_admit("general", "zed", T), Ok(()));
    assert_eq!(room.check_may_send("general", "bob", T), Ok(()));
    assert_eq!(room.check_may_pin("carol", "pin"), Ok(()));
    let mut changed = room.clone();
    assert!(changed.delete(7, "bob").is_err());
    assert_eq!(changed.delete(7, "alice"), Ok(()));
    assert_eq!(changed.message("general", 7).unwrap().deleted_by, None);
}

#[test]
fn a_version_2_room_dumps_with_empty_rules() {
    let room = decode_room(2, &bytes(ROOM_V2)).unwrap();
    assert_eq!(
        parsed(room_json("general", &room)),
        json!({
            "type": "chat-room",
            "id": "general",
            "title": "Général",
            "created": T,
            "last_id": 7,
            "first_id": 2,
            // Written before rooms had epochs: none yet, until its next send.
            "epoch": "0000000000000000",
            "generation": "0000000000000000",
            "members": {"alice": 7, "bob": 5, "carol": 3, "dave": 6},
            "counts": {"alice": 2, "bob": 2, "carol": 1, "dave": 1, "erin": 1},
            "messages": [
                {"id": 2, "sender": "bob", "text": "hello @carol @dave", "ts": T + 2_000,
                 "mentions": ["carol", "dave"], "replies": 2, "last_reply": 4,
                 "reactions": {"👍": 2, "ok": 1}},
                {"id": 3, "sender": "carol", "text": "a reply", "ts": T + 3_000,
                 "reply_to": 2, "replies": 1, "last_reply": 5},
                {"id": 4, "sender": "alice", "text": "another reply, @bob", "ts": T + 4_000,
                 "reply_to": 2, "mentions": ["bob"]},
                {"id": 5, "sender": "bob", "ts": T + 5_000, "deleted": true, "reply_to": 3},
                {"id": 6, "sender": "dave", "text": "edited", "ts": T + 6_000,
                 "edited": T + 9_000, "reactions": {"🎉": 1}},
                {"id": 7, "sender": "alice", "text": "last, @dave @carol", "ts": T + 7_000,
                 "mentions": ["dave", "carol"]},
            ],
            "dedup": [
                {"key": "retry-1", "id": 4, "until": T + 60_000},
                {"key": "\u{fffd} key", "id": 7, "until": T + 67_000},
            ],
            "reactions": {"2": {"ok": ["erin"], "👍": ["bob", "carol"]}, "6": {"🎉": ["alice"]}},
            "pins": [6, 2],
            "unread_mentions": {"carol": [7], "dave": [7]},
            "private": false,
            "slowmode": 0,
            "roles": {},
            "invites": {},
            "bans": {},
            "mutes": {},
            "deleted_by": {},
        })
    );
}

#[test]
fn a_version_2_user_reads_back_as_it_was_written() {
    let stored = bytes(USER_V2);
    let user = decode_user(2, &stored).unwrap();
    assert_eq!(user, written_user());
    // Version 3 keeps the password aside with the invitations: other
    // bytes, the same user.
    let again = encode_user(&user);
    assert_ne!(again, stored);
    assert_eq!(decode_user(ENCODING_VERSION, &again), Ok(user.clone()));

    assert_eq!(user.origin(), name_hash(b"bob"));
    assert_eq!((user.name(), user.created()), ("Bob", T));
    assert!(user.password().is_some_and(|p| p.starts_with("$argon2id$")));
    assert_eq!(user.online_until(), T + 30_000);
    let rooms: Vec<_> = user.rooms().collect();
    assert_eq!(rooms, [("general", T + 10), ("{t}dm", T + 20)]);
    assert_eq!(user.invites().count(), 0);
    let inbox = user.inbox().unwrap();
    let copies: Vec<_> = inbox
        .iter()
        .map(|c| (c.delivery.to_string(), c.room, c.id, c.text, c.edited))
        .collect();
    let at = |s: i64| format!("{}-0", T + s * 1_000);
    assert_eq!(
        copies,
        [
            (at(8), "general", 9, LONG, None),
            (at(9), "{t}dm", 10, "medium", None),
            (at(10), "general", 11, "changed", Some(T + 20_000)),
            (at(11), "general", 12, "short", None),
        ]
    );
    let last = inbox.iter().last().unwrap();
    let extra = Extra::decode(last.extra);
    assert_eq!((extra.reply_to, extra.mentions), (Some(3), vec!["bob"]));
    // Eight copies dropped unread, up to just before the first one kept.
    let dropped = inbox.dropped().unwrap();
    assert_eq!(dropped.count, 8);
    assert_eq!(
        dropped.upto,
        DeliveryId {
            ms: (T + 8_000) as u64 - 1,
            seq: u64::MAX
        }
    );
    assert_eq!(
        user.next_delivery(T),
        DeliveryId {
            ms: (T + 11_000) as u64,
            seq: 1
        }
    );
    // Acknowledging past the gap forgets it.
    let mut acked = user.clone();
    assert_eq!(
        acked.ack(DeliveryId {
            ms: (T + 8_000) as u64,
            seq: 0
        }),
        (1, true)
    );
    assert_eq!(acked.inbox().unwrap().dropped(), None);
}

#[test]
fn a_version_2_user_dumps_without_invitations() {
    let user = decode_user(2, &bytes(USER_V2)).unwrap();
    let copy = |room: &str, id: u64, text: &str, s: i64| {
        json!({"room": room, "id": id, "sender": "alice", "text": text,
               "ts": T + s * 1_000 - 5, "delivery": format!("{}-0", T + s * 1_000)})
    };
    let mut edited = copy("general", 11, "changed", 10);
    edited["edited"] = json!(T + 20_000);
    let mut replying = copy("general", 12, "short", 11);
    replying["reply_to"] = json!(3);
    replying["mentions"] = json!(["bob"]);
    assert_eq!(
        parsed(user_json("bob", &user)),
        json!({
            "type": "chat-user",
            "id": "bob",
            "name": "Bob",
            "created": T,
            "online_until": T + 30_000,
            "password": true,
            "rooms": {"general": T + 10, "{t}dm": T + 20},
            "invites": {},
            "notify": "mentions",
            "dropped": {"count": 8, "delivery": format!("{}-18446744073709551615", T + 7_999)},
            "inbox": [
                copy("general", 9, LONG, 8),
                copy("{t}dm", 10, "medium", 9),
                edited,
                replying,
            ],
        })
    );
    assert!(!user_json("bob", &user).contains("argon2"));
}

#[test]
fn idle_and_present_version_2_users_read_back() {
    let stored = bytes(IDLE_V2);
    let idle = decode_user(2, &stored).unwrap();
    assert_eq!(idle, idle_user());
    // Nothing but a name and a time: the same bytes in both versions.
    assert_eq!(encode_user(&idle), stored);
    assert_eq!(decode_user(ENCODING_VERSION, &stored), Ok(idle.clone()));
    assert_eq!((idle.name(), idle.created()), ("Zed", T + 5));
    assert_eq!(
        (idle.password(), idle.inbox(), idle.room_count()),
        (None, None, 0)
    );
    assert_eq!(
        parsed(user_json("zed", &idle)),
        json!({"type": "chat-user", "id": "zed", "name": "Zed", "created": T + 5,
               "online_until": 0, "password": false, "rooms": {}, "invites": {},
               "notify": "mentions", "inbox": []})
    );

    let stored = bytes(PRESENT_V2);
    let present = decode_user(2, &stored).unwrap();
    assert_eq!(present, present_user());
    let again = encode_user(&present);
    // Version 3 moved the password (a `None` byte either way); version 4
    // added the notify setting (one byte).
    assert_eq!(again.len(), stored.len() + 1);
    assert_eq!(decode_user(ENCODING_VERSION, &again), Ok(present.clone()));
    assert_eq!(present.password(), None);
    assert_eq!(present.online_until(), T + 90_000);
    assert_eq!(present.rooms().collect::<Vec<_>>(), [("general", T + 8)]);
    assert_eq!(present.inbox_len(), 0);
    let v = parsed(user_json("carol", &present));
    assert_eq!((&v["password"], &v["invites"]), (&json!(false), &json!({})));
}

#[test]
fn version_2_bytes_cut_or_grown_are_refused() {
    for fixture in [ROOM_V2, USER_V2, IDLE_V2, PRESENT_V2] {
        let stored = bytes(fixture);
        let room = fixture == ROOM_V2;
        let decodes = |b: &[u8]| {
            if room {
                decode_room(2, b).is_ok()
            } else {
                decode_user(2, b).is_ok()
            }
        };
        assert!(decodes(&stored));
        assert!(!decodes(&stored[..stored.len() - 1]));
        assert!(!decodes(&[&stored[..], &[0]].concat()));
    }
}
