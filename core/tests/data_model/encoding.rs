//! Encodings and damage: versions newer than known are refused and
//! unknown ones are damage; damaged rooms and users, and random bytes,
//! never make a decoder panic, and what decodes can be read whole, changed
//! and saved again; values whose parts disagree are refused.

use chat_core::data::inbox::{Change, Copy};
use chat_core::data::{
    self, decode_room, decode_user, encode_room, encode_user, DecodeError, Room, User,
    ENCODING_VERSION,
};
use chat_core::request::Cursor;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

use crate::inbox::{build_user, round_trip_user};
use crate::inbox_model::{delivery, handle, user_ops, MCopy};
use crate::room::{build_room, round_trip_room};
use crate::room_model::room_ops;
use crate::{config, ROOM};

// ---------------------------------------------------------------------------
// Damage.

/// A JSON dump (`data::room_json`, `data::user_json`) as a value to look
/// into, whether it comes as text or as a value.
pub(crate) trait Dump {
    fn json(self) -> Result<serde_json::Value, TestCaseError>;
}

impl Dump for String {
    fn json(self) -> Result<serde_json::Value, TestCaseError> {
        serde_json::from_str(&self)
            .map_err(|e| TestCaseError::fail(format!("a dump that is not JSON ({e}): {self}")))
    }
}

impl Dump for serde_json::Value {
    fn json(self) -> Result<serde_json::Value, TestCaseError> {
        Ok(self)
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Damage {
    Flip(Index, u8),
    Cut(Index),
    Insert(Index, Vec<u8>),
    Remove(Index, usize),
    /// A run of bytes overwritten with one value (lengths and counts made
    /// huge, or zero).
    Overwrite(Index, usize, u8),
}

pub(crate) fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        6 => (any::<Index>(), 1u8..=255).prop_map(|(i, x)| Damage::Flip(i, x)),
        1 => any::<Index>().prop_map(Damage::Cut),
        2 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..6)).prop_map(|(i, b)| Damage::Insert(i, b)),
        2 => (any::<Index>(), 1usize..5).prop_map(|(i, n)| Damage::Remove(i, n)),
        1 => (any::<Index>(), 1usize..10, prop::sample::select(vec![0u8, 0xff, 0xfc, 0xfd, 0x7f]))
            .prop_map(|(i, n, b)| Damage::Overwrite(i, n, b)),
    ]
}

pub(crate) fn apply_damage(bytes: &mut Vec<u8>, d: &Damage) {
    let len = bytes.len();
    match d {
        Damage::Flip(i, x) if len > 0 => bytes[i.index(len)] ^= x,
        Damage::Cut(i) => bytes.truncate(i.index(len + 1)),
        Damage::Insert(i, b) => {
            let at = i.index(len + 1);
            bytes.splice(at..at, b.iter().copied());
        }
        Damage::Remove(i, n) if len > 0 => {
            let at = i.index(len);
            bytes.drain(at..(at + n).min(len));
        }
        Damage::Overwrite(i, n, b) if len > 0 => {
            let at = i.index(len);
            for byte in &mut bytes[at..(at + n).min(len)] {
                *byte = *b;
            }
        }
        _ => {}
    }
}

/// Reads everything a room holds, as the commands would, and checks that
/// what a decoded room says of itself holds together.
pub(crate) fn read_room_whole(room: &Room) -> Result<(), TestCaseError> {
    let (first, last, kept) = (room.first_id(), room.last_id(), room.log().len());
    let ids: Vec<u64> = room.log().iter().map(|(id, _)| id).collect();
    prop_assert_eq!(ids.len() as u64, kept);
    let tombstones = room.log().iter().filter(|(_, m)| m.deleted).count() as u64;
    prop_assert_eq!(room.messages_kept(), kept - tombstones);
    if let (Some(first), Some(&id0)) = (first, ids.first()) {
        prop_assert_eq!(id0, first);
        prop_assert!(ids.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
        prop_assert_eq!(ids.last().copied(), Some(last));
    } else {
        prop_assert!(ids.is_empty() && first.is_none());
    }
    // Page through the whole history both ways.
    let mut after = 0;
    let mut seen = 0;
    loop {
        let page: Vec<u64> = room
            .page(Cursor::After(after), 50)
            .map(|(id, m)| {
                let _ = room.document(ROOM, id, &m).to_json();
                id
            })
            .collect();
        let Some(&end) = page.last() else { break };
        seen += page.len() as u64;
        prop_assert!(seen <= kept && end > after);
        after = end;
    }
    prop_assert_eq!(seen, kept);
    let mut before = u64::MAX;
    loop {
        let page: Vec<u64> = room
            .page(Cursor::Before(before), 64)
            .map(|(id, _)| id)
            .collect();
        let Some(&start) = page.first() else { break };
        prop_assert!(start < before);
        before = start;
    }
    let _ = room.page(Cursor::Latest, usize::MAX).count();
    for id in [0, 1, last, last.wrapping_add(1)] {
        let _ = room.message(ROOM, id).map(|m| m.to_json());
    }
    let members: Vec<(String, u64)> = room.members().map(|(u, c)| (u.to_string(), c)).collect();
    prop_assert_eq!(members.len() as u64, room.member_count());
    for (user, cursor) in &members {
        prop_assert_eq!(room.cursor(user), Some(*cursor));
        let _ = room.unread(user);
    }
    let _ = room.counts().count();
    for (key, _, until) in room
        .dedup_entries()
        .map(|(k, id, u)| (k.to_vec(), id, u))
        .collect::<Vec<_>>()
    {
        let _ = room.dedup_get(&key, until.wrapping_sub(1));
    }
    let _ = room.first_sent_since(0);
    let _ = room.heap_bytes();
    let doc = data::room_json(ROOM, room).json()?;
    prop_assert_eq!(
        doc["messages"].as_array().map(Vec::len),
        Some(kept as usize)
    );
    Ok(())
}

/// Changes a decoded room as commands would; nothing panics and the result
/// saves and loads again.
pub(crate) fn change_room(mut room: Room) -> Result<(), TestCaseError> {
    let last = room.last_id();
    room.join("newcomer", 0);
    let _ = room.send("newcomer", "hello", 1);
    let _ = room.read("newcomer", room.last_id());
    for id in [1, last, room.last_id()] {
        let _ = room.edit(id, "newcomer", "edited", 2);
        let _ = room.delete(id, "newcomer");
    }
    let member = room.members().next().map(|(u, _)| u.to_string());
    if let Some(user) = member {
        let _ = room.send(&user, "hi", 3);
        let _ = room.read(&user, room.last_id());
        room.leave(&user);
    }
    room.dedup_record(b"k", room.last_id(), 10);
    room.dedup_forget_expired(5);
    room.trim_keeping(10);
    room.trim_below(room.last_id());
    read_room_whole(&room)?;
    round_trip_room(&room)?;
    Ok(())
}

pub(crate) fn read_user_whole(user: &User, now: i64) -> Result<(), TestCaseError> {
    let _ = (
        user.name(),
        user.created(),
        user.online(now),
        user.password(),
    );
    let rooms: Vec<String> = user.rooms().map(|(r, _)| r.to_string()).collect();
    prop_assert_eq!(rooms.len() as u64, user.room_count());
    prop_assert!(rooms.windows(2).all(|w| w[0] < w[1]));
    for room in &rooms {
        prop_assert!(user.in_room(room));
    }
    let copies: Vec<MCopy> = user
        .inbox()
        .into_iter()
        .flat_map(|i| i.iter())
        .map(|c| {
            let _ = c.message().to_json_with_delivery(&c.delivery.to_string());
            MCopy::of(&c)
        })
        .collect();
    prop_assert_eq!(copies.len() as u64, user.inbox_len());
    prop_assert!(copies.windows(2).all(|w| w[0].delivery < w[1].delivery));
    if let Some(inbox) = user.inbox() {
        let last = handle(inbox.last_delivery());
        prop_assert!(copies.last().is_none_or(|c| c.delivery <= last));
        let _ = inbox.page(10).count();
    }
    let _ = user.next_delivery(now);
    let _ = user.heap_bytes();
    let doc = data::user_json("alice", user).json()?;
    prop_assert_eq!(doc["inbox"].as_array().map(Vec::len), Some(copies.len()));
    Ok(())
}

pub(crate) fn change_user(mut user: User, now: i64) -> Result<(), TestCaseError> {
    let first = user
        .inbox()
        .and_then(|i| i.iter().next())
        .map(|c| MCopy::of(&c));
    let next = user.next_delivery(now);
    let copy = Copy {
        delivery: next,
        room: "general",
        id: 1,
        sender: "bob",
        ts: now,
        edited: None,
        deleted: false,
        text: "hi",
        extra: &[],
    };
    let _ = user.deliver(&copy);
    if let Some(c) = &first {
        user.change_copies(&c.room, c.id, c.ts, Change::Deleted);
        user.change_copies(&c.room, c.id, c.ts, Change::Edited { text: "x", at: now });
        user.ack(delivery(c.delivery));
    }
    user.join("zz", now);
    user.leave("general");
    user.trim_inbox_keeping(3);
    user.ack(next);
    read_user_whole(&user, now)?;
    round_trip_user(&user)?;
    Ok(())
}

proptest! {
    #![proptest_config(config(200))]

    /// A value from a newer module is refused with both versions; a
    /// version never written is damage; the current one reads.
    #[test]
    fn versions_newer_than_known_are_refused_and_unknown_ones_are_damage(
        (now, ops) in room_ops(8),
        version in prop_oneof![any::<i32>(), -2i32..5],
    ) {
        let (room, _) = build_room(now, &ops)?;
        let user = User::new(1, "u", now);
        let (room_bytes, user_bytes) = (encode_room(&room), encode_user(&user));
        let (r, u) = (decode_room(version, &room_bytes), decode_user(version, &user_bytes));
        if version > ENCODING_VERSION {
            let newer = DecodeError::Newer { found: version, known: ENCODING_VERSION };
            prop_assert_eq!(r, Err(newer.clone()));
            prop_assert_eq!(u, Err(newer.clone()));
            let expected = format!("version {version} is newer");
            prop_assert!(newer.to_string().contains(&expected), "{}", newer);
        } else if version == ENCODING_VERSION {
            prop_assert_eq!(r, Ok(room));
            prop_assert_eq!(u, Ok(user));
        } else if version >= 1 {
            // An older version reads the layout it wrote (version1.rs):
            // these bytes are not one, and may or may not decode.
        } else {
            prop_assert!(matches!(r, Err(DecodeError::Damaged(_))));
            prop_assert!(matches!(u, Err(DecodeError::Damaged(_))));
        }
    }
}

proptest! {
    #![proptest_config(config(1500))]

    /// Flipped, cut, inserted and removed bytes in an encoded room never
    /// make a decoder panic; what still decodes can be read whole, changed,
    /// and saved again.
    #[test]
    fn damaged_rooms_never_panic_and_what_decodes_can_be_read_whole(
        (now, ops) in room_ops(25),
        damages in prop::collection::vec(damage(), 1..4),
    ) {
        let (room, _) = build_room(now, &ops)?;
        let mut bytes = encode_room(&room);
        for d in &damages {
            apply_damage(&mut bytes, d);
        }
        let _ = decode_user(ENCODING_VERSION, &bytes);
        match decode_room(ENCODING_VERSION, &bytes) {
            Ok(back) => {
                read_room_whole(&back)?;
                let again = round_trip_room(&back)?;
                change_room(again)?;
            }
            Err(e) => prop_assert!(matches!(e, DecodeError::Damaged(ref why) if !why.is_empty())),
        }
    }
}

proptest! {
    #![proptest_config(config(1500))]

    /// The same for users.
    #[test]
    fn damaged_users_never_panic_and_what_decodes_can_be_read_whole(
        (now, ops) in user_ops(25),
        damages in prop::collection::vec(damage(), 1..4),
    ) {
        let (user, m) = build_user(now, &ops)?;
        let mut bytes = encode_user(&user);
        for d in &damages {
            apply_damage(&mut bytes, d);
        }
        let _ = decode_room(ENCODING_VERSION, &bytes);
        match decode_user(ENCODING_VERSION, &bytes) {
            Ok(back) => {
                read_user_whole(&back, m.now)?;
                let again = round_trip_user(&back)?;
                change_user(again, m.now)?;
            }
            Err(e) => prop_assert!(matches!(e, DecodeError::Damaged(ref why) if !why.is_empty())),
        }
    }
}

proptest! {
    #![proptest_config(config(2000))]

    /// Any bytes at all: refused or readable, never a panic.
    #[test]
    fn random_bytes_never_make_a_decoder_panic(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            prop::collection::vec(prop::sample::select(vec![0u8, 1, 2, 0x7f, 0x80, 0xfb, 0xfc, 0xfd, 0xff]), 0..64),
        ],
    ) {
        if let Ok(room) = decode_room(ENCODING_VERSION, &bytes) {
            read_room_whole(&room)?;
            change_room(room)?;
        }
        if let Ok(user) = decode_user(ENCODING_VERSION, &bytes) {
            read_user_whole(&user, 1)?;
            change_user(user, 1)?;
        }
    }
}

/// `bytes` with the first run `from` replaced by `to` (of the same length).
pub(crate) fn replaced(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("the run to replace");
    let mut out = bytes.to_vec();
    out[at..at + to.len()].copy_from_slice(to);
    out
}

/// Damage that byte flips hardly ever make: a room that lists a person
/// twice, a user whose rooms are listed twice or out of order. Each is
/// refused at load, never half-read.
#[test]
pub(crate) fn values_whose_parts_disagree_are_refused() {
    let mut room = Room::new(1, "General", 0);
    room.join("ab", 0);
    room.join("ac", 0);
    room.send("ab", "hello", 5).unwrap();
    room.send("ac", "hello", 6).unwrap();
    let bytes = encode_room(&room);
    assert_eq!(decode_room(ENCODING_VERSION, &bytes), Ok(room));
    // Ids are written with their length first.
    let twins = replaced(&bytes, b"\x02ac", b"\x02ab");
    assert!(
        matches!(
            decode_room(ENCODING_VERSION, &twins),
            Err(DecodeError::Damaged(_))
        ),
        "a room that lists a person twice was read"
    );

    let mut user = User::new(1, "Alice", 0);
    user.join("ab", 1);
    user.join("ac", 2);
    let bytes = encode_user(&user);
    assert_eq!(decode_user(ENCODING_VERSION, &bytes), Ok(user));
    for (from, to) in [(b"\x02ac", b"\x02ab"), (b"\x02ab", b"\x02ad")] {
        let damaged = replaced(&bytes, from, to);
        assert!(
            matches!(
                decode_user(ENCODING_VERSION, &damaged),
                Err(DecodeError::Damaged(_))
            ),
            "a user whose rooms are {:?} was read",
            String::from_utf8_lossy(&damaged)
        );
    }
}
