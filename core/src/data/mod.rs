//! The chat data types: a room and a user, each one Redis value, and their
//! encodings.
//!
//! A value is encoded with bincode (`wire`) for RDB files, DUMP/RESTORE,
//! MIGRATE and the AOF. The module tells Redis the encoding version it
//! writes (`ENCODING_VERSION`); Redis gives back the version a value was
//! written with, and `decode_room`/`decode_user` read every version this
//! crate ever wrote, and refuse, with a reason, a version that is newer or
//! bytes that do not decode into a value whose parts agree.

pub mod chunks;
pub mod dedup;
pub mod devices;
pub mod epoch;
pub mod extra;
pub mod inbox;
pub mod label;
pub mod log;
pub mod people;
pub mod room;
pub mod rules;
pub mod talk;
pub mod user;
pub mod wire;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::message::Document;

pub use room::{Read, Room};
pub use user::User;

/// The bytes an allocation of `n` bytes really takes: jemalloc's size
/// classes (8, 16, then multiples of 16 up to 128, then four classes per
/// doubling). Redis counts these in `used_memory`, so memory reports use
/// them too.
pub fn alloc_size(n: usize) -> usize {
    match n {
        0 => 0,
        1..=8 => 8,
        9..=128 => n.div_ceil(16) * 16,
        _ => {
            let step = 1usize << (usize::BITS - (n - 1).leading_zeros() - 3);
            n.div_ceil(step) * step
        }
    }
}

/// The encoding this crate writes, for both types. Version 1: the first.
/// Version 2: a room keeps its conversation (`talk`), an inbox the copies
/// it dropped; records may carry a reply and mentions (read from version 1
/// records too, whose flags byte never says so). Version 3: a room keeps
/// its rules (roles, privacy, invitations, bans, mutes, slow mode), a user
/// the rooms that invited them. Version 4: a user keeps their notify
/// setting and devices. Version 5: a room keeps its epoch.
pub const ENCODING_VERSION: i32 = 5;

/// Why a value could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Written by a newer module.
    Newer { found: i32, known: i32 },
    /// Not an encoding of this type, or damaged.
    Damaged(String),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Newer { found, known } => write!(
                f,
                "encoding version {found} is newer than this module reads (up to {known}); \
                 load it with the module version that wrote it, or a later one"
            ),
            DecodeError::Damaged(why) => write!(f, "the value does not decode: {why}"),
        }
    }
}

fn check_version(version: i32) -> Result<(), DecodeError> {
    match version {
        1..=5 => Ok(()),
        v if v > ENCODING_VERSION => Err(DecodeError::Newer {
            found: v,
            known: ENCODING_VERSION,
        }),
        v => Err(DecodeError::Damaged(format!(
            "encoding version {v} was never written"
        ))),
    }
}

pub fn encode_room(room: &Room) -> Vec<u8> {
    wire::encode(room)
}

/// What DEBUG DIGEST digests of a room: its encoding, with the epoch's
/// generation as none. The generation says which server generation
/// vouched for the epoch, which only the primary that drew it acts on
/// (`RESTORE` and `COPY` clear it, so that a copy of an older room does
/// not keep its epoch past its next send); the epoch itself, and
/// everything else, is digested.
pub fn digest_room(room: &Room) -> Vec<u8> {
    encode_room_vouched_by(room, 0)
}

/// A room's encoding for an RDB file, `DUMP` or `MIGRATE`: its epoch's
/// generation only while the server's `current` one vouches for it, else
/// none. So a room that arrives elsewhere with a generation was vouched
/// for by its sender when it left (`Room::adopt`).
pub fn encode_room_to_save(room: &Room, current: u64) -> Vec<u8> {
    if room.epoch().holds_under(current) {
        encode_room(room)
    } else {
        encode_room_vouched_by(room, 0)
    }
}

/// The room's encoding, with `generation` in place of its epoch's.
fn encode_room_vouched_by(room: &Room, generation: u64) -> Vec<u8> {
    let mut bytes = encode_room(room);
    let epoch = room.epoch();
    // The epoch is the encoding's last field.
    let tail = wire::encode(&epoch).len();
    bytes.truncate(bytes.len().saturating_sub(tail));
    bytes.extend(wire::encode(&epoch::Epoch {
        id: epoch.id,
        generation,
    }));
    bytes
}

pub fn encode_user(user: &User) -> Vec<u8> {
    wire::encode(user)
}

pub fn decode_room(version: i32, bytes: &[u8]) -> Result<Room, DecodeError> {
    check_version(version)?;
    let mut room: Room = match version {
        1 => wire::decode_all::<room::RoomV1>(bytes).and_then(Room::try_from),
        2 => wire::decode_all::<room::RoomV2>(bytes).map(Room::from),
        3 | 4 => wire::decode_all::<room::RoomV4>(bytes).map(Room::from),
        _ => wire::decode_all(bytes),
    }
    .map_err(DecodeError::Damaged)?;
    room.check().map_err(DecodeError::Damaged)?;
    Ok(room)
}

pub fn decode_user(version: i32, bytes: &[u8]) -> Result<User, DecodeError> {
    check_version(version)?;
    let mut user: User = match version {
        1 => wire::decode_all::<user::UserV1>(bytes).map(User::from),
        2 => wire::decode_all::<user::UserV2>(bytes).map(User::from),
        3 => wire::decode_all::<user::UserV3>(bytes).map(User::from),
        _ => wire::decode_all(bytes),
    }
    .map_err(DecodeError::Damaged)?;
    user.check().map_err(DecodeError::Damaged)?;
    Ok(user)
}

#[derive(Serialize)]
struct DumpedDedup {
    key: String,
    id: u64,
    until: i64,
}

#[derive(Serialize)]
struct DumpedRoom<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    title: &'a str,
    created: i64,
    last_id: u64,
    first_id: Option<u64>,
    /// The room's epoch, and the generation that vouched for it, in hex.
    epoch: String,
    generation: String,
    /// Member -> read cursor.
    members: BTreeMap<&'a str, u64>,
    /// Sender -> messages sent.
    counts: BTreeMap<&'a str, u64>,
    messages: Vec<Document<'a>>,
    dedup: Vec<DumpedDedup>,
    /// Message id -> reaction -> who gave it.
    reactions: BTreeMap<u64, BTreeMap<&'a str, Vec<&'a str>>>,
    /// Pinned ids, the most recently pinned first.
    pins: Vec<u64>,
    /// Member -> ids of the unread messages that mention them.
    unread_mentions: BTreeMap<&'a str, &'a std::collections::VecDeque<u64>>,
    private: bool,
    slowmode: u32,
    /// Members above `member` -> their role.
    roles: BTreeMap<&'a str, &'static str>,
    /// Invited user -> when.
    invites: BTreeMap<&'a str, i64>,
    /// User -> end of their ban or mute (null: until lifted), ended ones
    /// included until the room forgets them.
    bans: BTreeMap<&'a str, Option<i64>>,
    mutes: BTreeMap<&'a str, Option<i64>>,
    /// Message id -> the owner or admin who deleted it.
    deleted_by: BTreeMap<u64, &'a str>,
}

#[derive(Serialize)]
struct DumpedUser<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    name: &'a str,
    created: i64,
    online_until: i64,
    /// Whether a password is set; never the hash.
    password: bool,
    /// Room -> when they joined.
    rooms: BTreeMap<&'a str, i64>,
    /// Room -> when it invited them.
    invites: BTreeMap<&'a str, i64>,
    /// Device -> when it stops being online (CHAT.ONLINE ... DEVICE).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    devices: BTreeMap<&'a str, i64>,
    /// What they are notified of while away.
    notify: &'static str,
    /// Copies the inbox dropped unread past `chat.inbox-max`, as CHAT.FETCH
    /// shows them, until acknowledged.
    #[serde(skip_serializing_if = "Option::is_none")]
    dropped: Option<DumpedDrop>,
    inbox: Vec<Document<'a>>,
}

#[derive(Serialize)]
struct DumpedDrop {
    count: u64,
    delivery: String,
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Everything a room holds, as JSON (`CHAT.DUMP`), for people to read.
pub fn room_json<'a>(id: &'a str, room: &'a Room) -> String {
    let documents: Vec<_> = room
        .log()
        .iter()
        .map(|(n, m)| room.document("", n, &m))
        .collect();
    let messages = documents.iter().map(Document::of_message).collect();
    let reactions = room
        .talk()
        .into_iter()
        .flat_map(|t| t.reacted())
        .filter_map(|n| {
            let given: BTreeMap<_, _> = room.reactions(n).ok()?.into_iter().collect();
            (!given.is_empty()).then_some((n, given))
        })
        .collect();
    let people = room.people();
    let unread_mentions = room
        .talk()
        .into_iter()
        .flat_map(|t| t.all_unread_mentions())
        .map(|(place, ids)| (people.id(place), ids))
        .collect();
    let dedup = room
        .dedup_entries()
        .map(|(key, n, until)| DumpedDedup {
            key: String::from_utf8_lossy(key).into_owned(),
            id: n,
            until,
        })
        .collect();
    let rules = room.rules();
    let ends = |(user, until): (&'a str, i64)| (user, (until != rules::FOREVER).then_some(until));
    to_json(&DumpedRoom {
        kind: "chat-room",
        id,
        title: room.title(),
        created: room.created(),
        last_id: room.last_id(),
        first_id: room.first_id(),
        epoch: room.epoch().to_string(),
        generation: format!("{:016x}", room.epoch().generation),
        members: room.members().collect(),
        counts: room.counts().collect(),
        messages,
        dedup,
        reactions,
        pins: room.pins().collect(),
        unread_mentions,
        private: room.is_private(),
        slowmode: room.slowmode(),
        roles: rules
            .iter()
            .flat_map(|r| r.roles())
            .map(|(u, role)| (u, role.name()))
            .collect(),
        invites: rules.iter().flat_map(|r| r.invites()).collect(),
        bans: rules.iter().flat_map(|r| r.bans()).map(ends).collect(),
        mutes: rules.iter().flat_map(|r| r.mutes()).map(ends).collect(),
        deleted_by: rules.iter().flat_map(|r| r.all_deleted_by()).collect(),
    })
}

/// Everything a user holds, as JSON, except the password hash: only
/// whether there is one.
pub fn user_json(id: &str, user: &User) -> String {
    let deliveries: Vec<String> = user
        .inbox()
        .into_iter()
        .flat_map(|i| i.iter())
        .map(|c| c.delivery.to_string())
        .collect();
    let inbox = user
        .inbox()
        .into_iter()
        .flat_map(|i| i.iter())
        .zip(&deliveries)
        .map(|(c, delivery)| (c.message(), delivery))
        .collect::<Vec<_>>();
    let inbox = inbox
        .iter()
        .map(|(m, delivery)| Document {
            room: &m.room,
            delivery: Some(delivery),
            ..Document::of_message(m)
        })
        .collect();
    to_json(&DumpedUser {
        kind: "chat-user",
        id,
        name: user.name(),
        created: user.created(),
        online_until: user.online_until(),
        password: user.password().is_some(),
        rooms: user.rooms().collect(),
        invites: user.invites().collect(),
        devices: user.device_ends().collect(),
        notify: user.notify().name(),
        dropped: user.inbox().and_then(|i| i.dropped()).map(|d| DumpedDrop {
            count: d.count,
            delivery: d.upto.to_string(),
        }),
        inbox,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn allocations_round_up_to_size_classes() {
        let classes: Vec<usize> = [1, 8, 9, 17, 128, 129, 161, 257, 1025, 5121, 16385]
            .into_iter()
            .map(alloc_size)
            .collect();
        assert_eq!(
            classes,
            [8, 8, 16, 32, 128, 160, 192, 320, 1280, 6144, 20480]
        );
    }

    /// A room's encoding as version 4 wrote it: without the epoch, which
    /// is last, two zero bytes while none is drawn.
    fn as_version_4(room: &Room) -> Vec<u8> {
        assert_eq!(room.epoch(), epoch::Epoch::default());
        let bytes = encode_room(room);
        assert_eq!(bytes[bytes.len() - 2..], [0, 0]);
        bytes[..bytes.len() - 2].to_vec()
    }

    #[test]
    fn versions_newer_than_known_are_refused_with_both_numbers() {
        let room = Room::new(1, "t", 2);
        let bytes = encode_room(&room);
        assert_eq!(decode_room(5, &bytes), Ok(room));
        let err = decode_room(6, &bytes).unwrap_err();
        assert_eq!(err, DecodeError::Newer { found: 6, known: 5 });
        assert!(err
            .to_string()
            .contains("version 6 is newer than this module reads (up to 5)"));
        assert!(matches!(
            decode_room(0, &bytes),
            Err(DecodeError::Damaged(_))
        ));
        // A user's bytes are not a room.
        let user = encode_user(&User::new(1, "n", 2));
        assert!(decode_room(2, &user).is_err() || decode_user(2, &bytes).is_err());
    }

    #[test]
    fn version_4_rooms_read_with_no_epoch_yet() {
        let mut room = Room::new(1, "General", 5);
        room.join("alice", 0);
        room.send("alice", "hi", 9).unwrap();
        let v4 = as_version_4(&room);
        assert_eq!(decode_room(4, &v4), Ok(room.clone()));
        assert_eq!(decode_room(3, &v4), Ok(room.clone()));
        // Version 5 bytes are not a version 4 room, nor the reverse.
        assert!(decode_room(5, &v4).is_err());
        let drawn = epoch::Epoch {
            id: 0x9f3c_0a1b_22d4_e5f6,
            generation: 3,
        };
        room.set_epoch(drawn);
        let v5 = encode_room(&room);
        assert!(decode_room(4, &v5).is_err());
        assert_eq!(decode_room(5, &v5).map(|r| r.epoch()), Ok(drawn));
    }

    #[test]
    fn a_room_is_saved_with_its_generation_only_while_it_holds() {
        let mut room = Room::new(1, "General", 5);
        room.set_epoch(epoch::Epoch {
            id: 9,
            generation: 4,
        });
        assert_eq!(encode_room_to_save(&room, 4), encode_room(&room));
        let saved = decode_room(ENCODING_VERSION, &encode_room_to_save(&room, 5)).unwrap();
        assert_eq!(
            saved.epoch(),
            epoch::Epoch {
                id: 9,
                generation: 0
            }
        );
    }

    #[test]
    fn a_room_digests_as_itself_whatever_vouched_for_its_epoch() {
        let mut room = Room::new(1, "General", 5);
        room.join("alice", 0);
        room.send("alice", "hi", 9).unwrap();
        room.set_epoch(epoch::Epoch {
            id: u64::MAX,
            generation: u64::MAX - 1,
        });
        let mut copy = room.clone();
        copy.unvouch();
        assert_ne!(encode_room(&copy), encode_room(&room));
        assert_eq!(digest_room(&copy), digest_room(&room));
        assert_eq!(digest_room(&copy), encode_room(&copy));
        // Another epoch is another digest.
        copy.set_epoch(epoch::Epoch {
            id: 7,
            generation: 0,
        });
        assert_ne!(digest_room(&copy), digest_room(&room));
    }

    #[test]
    fn version_1_values_read_as_values_without_conversation() {
        // Version 1 wrote DEDUP keys where a room now keeps them with its
        // conversation (`None` either way for a room without), and an
        // inbox without dropped copies. (core/tests/data_model/version1.rs
        // reads values version 1 wrote.)
        let mut room = Room::new(1, "General", 5);
        room.join("alice", 0);
        room.send("alice", "hi", 9).unwrap();
        let bytes = as_version_4(&room);
        assert_eq!(decode_room(1, &bytes), Ok(room.clone()));
        room.dedup_record(b"k", 1, 99);
        let with_talk = as_version_4(&room);
        // Without talk's three empty collections and the rules' `None`.
        let v1 = &with_talk[..with_talk.len() - 4];
        let back = decode_room(1, v1).unwrap();
        assert_eq!(back.dedup_get(b"k", 0), Some(1));
        let user = User::new(1, "n", 2);
        let v3 = encode_user(&user);
        assert_eq!(decode_user(1, &v3), Ok(user));
    }

    #[test]
    fn version_2_rooms_read_as_rooms_without_rules() {
        // Rules are the last field of what holds them, and `None` encodes
        // as one zero byte: a version 2 room is version 3 bytes without it.
        let mut room = Room::new(1, "General", 5);
        room.join("alice", 0);
        room.send("alice", "hi", 9).unwrap();
        room.dedup_record(b"k", 1, 99);
        let bytes = as_version_4(&room);
        assert_eq!(bytes.last(), Some(&0));
        assert_eq!(decode_room(2, &bytes[..bytes.len() - 1]), Ok(room.clone()));
        room.found("alice", true);
        assert!(decode_room(2, &as_version_4(&room)).is_err());
        // Users moved their password: core/tests/data_model/version2.rs
        // reads users version 2 wrote.
    }

    #[test]
    fn the_dump_shows_everything_but_the_password() {
        let mut room = Room::new(1, "General", 5);
        room.join("alice", 0);
        room.send("alice", "hi", 9).unwrap();
        let v: serde_json::Value = serde_json::from_str(&room_json("general", &room)).unwrap();
        assert_eq!(v["members"], json!({"alice": 1}));
        assert_eq!(v["messages"][0]["text"], json!("hi"));
        assert_eq!(v["messages"][0]["sender"], json!("alice"));
        let mut user = User::new(1, "Alice", 5);
        user.set_password("$argon2id$secret");
        let v: serde_json::Value = serde_json::from_str(&user_json("alice", &user)).unwrap();
        assert_eq!(v["password"], json!(true));
        assert!(!v.to_string().contains("secret"));
        assert_eq!(v.get("dropped"), None);
        // Copies dropped unread show, as CHAT.FETCH shows them.
        for i in 0..100 {
            let copy = crate::data::inbox::Copy {
                delivery: user.next_delivery(i),
                room: "general",
                id: i as u64 + 1,
                sender: "bob",
                ts: i,
                edited: None,
                deleted: false,
                text: "t",
                extra: &[],
            };
            user.deliver(&copy);
        }
        assert_eq!(user.trim_inbox_keeping(10), 64);
        let v: serde_json::Value = serde_json::from_str(&user_json("alice", &user)).unwrap();
        assert_eq!(
            v["dropped"],
            json!({"count": 64, "delivery": "63-18446744073709551615"})
        );
    }
}
