//! Rooms against their model: each step applied to a `Room` and to the
//! model, everything the room answers compared with what the model says;
//! and the properties of rooms (agreement after every step, pages, the
//! encoding round trip, trimming).

use chat_core::data::chunks::Codec;
use chat_core::data::log::MessageCodec;
use chat_core::data::{decode_room, encode_room, Room, ENCODING_VERSION};
use chat_core::message::Message;
use chat_core::request::Cursor;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::room_model::{
    amount, cursor_pick, id_pick, page_count, room_op, room_ops, IdPick, Msg, RoomModel, RoomOp,
};
use crate::{config, DEDUP_KEYS, ROOM, TITLE, USERS};

// ---------------------------------------------------------------------------
// Applying a step to a room and to the model, and comparing.

pub(crate) fn msg_of(doc: &Message) -> Msg {
    Msg {
        sender: doc.sender.to_string(),
        text: doc.text.to_string(),
        ts: doc.ts,
        edited: doc.edited,
        deleted: doc.deleted,
    }
}

/// The message document as docs/commands.md shows it: a tombstone keeps
/// its id, sender and time and says `deleted`; an edited message says when.
pub(crate) fn spec_document(
    room: &str,
    id: u64,
    m: &Msg,
    delivery: Option<&str>,
) -> serde_json::Value {
    let mut doc = serde_json::json!({
        "type": "message",
        "room": room,
        "id": id,
        "sender": m.sender,
        "ts": m.ts,
    });
    if m.deleted {
        doc["deleted"] = true.into();
    } else {
        doc["text"] = m.text.clone().into();
        if let Some(at) = m.edited {
            doc["edited"] = at.into();
        }
    }
    if let Some(d) = delivery {
        doc["delivery"] = d.into();
    }
    doc
}

pub(crate) fn page_of(room: &Room, cursor: Cursor, count: usize) -> Vec<(u64, Msg)> {
    room.page(cursor, count)
        .map(|(id, m)| (id, msg_of(&room.document(ROOM, id, &m))))
        .collect()
}

pub(crate) fn model_page(m: &RoomModel, cursor: Cursor, count: usize) -> Vec<(u64, Msg)> {
    m.page(cursor, count)
        .map(|id| (id, m.get(id).cloned().unwrap()))
        .collect()
}

pub(crate) fn round_trip_room(room: &Room) -> Result<Room, TestCaseError> {
    let bytes = encode_room(room);
    let back = decode_room(ENCODING_VERSION, &bytes);
    prop_assert_eq!(back.as_ref(), Ok(room));
    let back = back.unwrap();
    prop_assert_eq!(encode_room(&back), bytes, "the encoding is not stable");
    Ok(back)
}

/// Applies `op` to the room and the model; each answer must be the model's.
pub(crate) fn step(room: &mut Room, m: &mut RoomModel, op: &RoomOp) -> Result<(), TestCaseError> {
    match op {
        RoomOp::Join { user, floor } => {
            let floor = floor.id(m);
            prop_assert_eq!(room.join(USERS[*user], floor), m.join(USERS[*user], floor));
        }
        RoomOp::Leave { user } => {
            prop_assert_eq!(room.leave(USERS[*user]), m.leave(USERS[*user]));
        }
        RoomOp::Send { user, text, dt } => {
            m.now = m.now.saturating_add(*dt);
            let want = m.send(USERS[*user], text, m.now);
            prop_assert_eq!(room.send(USERS[*user], text, m.now), want);
        }
        RoomOp::Burst { member, n, len, dt } => {
            let members: Vec<String> = m.members.keys().cloned().collect();
            let user = if members.is_empty() {
                USERS[0].to_string()
            } else {
                members[member.index(members.len())].clone()
            };
            for i in 0..*n {
                m.now = m.now.saturating_add(if i == 0 { *dt } else { 7 });
                let text = format!("{i}:{}", "x".repeat(len + i % 5));
                let want = m.send(&user, &text, m.now);
                prop_assert_eq!(room.send(&user, &text, m.now), want);
            }
        }
        RoomOp::Edit {
            id,
            author,
            text,
            dt,
        } => {
            m.now = m.now.saturating_add(*dt);
            let id = id.id(m);
            let author = match author {
                Some(u) => USERS[*u].to_string(),
                None => m.get(id).map_or(USERS[0].to_string(), |x| x.sender.clone()),
            };
            let at = m.now;
            let want = m.change(id, &author, |x| {
                x.text = text.clone();
                x.edited = Some(at);
            });
            prop_assert_eq!(room.edit(id, &author, text, at), want);
        }
        RoomOp::Delete { id, author } => {
            let id = id.id(m);
            let author = match author {
                Some(u) => USERS[*u].to_string(),
                None => m.get(id).map_or(USERS[0].to_string(), |x| x.sender.clone()),
            };
            let want = m.change(id, &author, |x| {
                x.text.clear();
                x.edited = None;
                x.deleted = true;
            });
            prop_assert_eq!(room.delete(id, &author), want);
        }
        RoomOp::Read { user, id } => {
            let id = id.id(m);
            let want = m.read(USERS[*user], id);
            prop_assert_eq!(room.read(USERS[*user], id), want);
        }
        RoomOp::TrimKeeping { keep } => {
            let before = m.msgs.len() as u64;
            let keep = keep.of(before);
            let removed = room.trim_keeping(keep);
            let after = before.checked_sub(removed);
            prop_assert!(after.is_some(), "removed {} of {}", removed, before);
            let after = after.unwrap_or(0);
            if before <= keep {
                prop_assert_eq!(
                    removed,
                    0,
                    "kept {} of {}, asked to keep {}",
                    after,
                    before,
                    keep
                );
            } else {
                // At least `keep` stay, and no more than a chunk's worth
                // over: otherwise the oldest chunk could have gone too.
                prop_assert!(
                    after >= keep,
                    "kept {} of {}, asked to keep {}",
                    after,
                    before,
                    keep
                );
                prop_assert!(
                    after < keep.saturating_add(u64::from(MessageCodec::MAX_RECORDS)),
                    "kept {} of {}, asked to keep {}",
                    after,
                    before,
                    keep
                );
            }
            m.drop_oldest(removed);
        }
        RoomOp::TrimBelow { first } => {
            let first = first.id(m);
            let want = m.trim_below(first);
            prop_assert_eq!(room.trim_below(first), want);
        }
        RoomOp::DedupRecord { key, window } => {
            m.dedup_ids += 1;
            let (key, id, until) = (DEDUP_KEYS[*key], m.dedup_ids, m.now.saturating_add(*window));
            room.dedup_record(key, id, until);
            m.dedup.push((key.to_vec(), id, until));
        }
        RoomOp::DedupForget { dt } => {
            m.now = m.now.saturating_add(*dt);
            room.dedup_forget_expired(m.now);
            m.dedup_forget(m.now);
        }
        RoomOp::Page { cursor, count } => {
            let cursor = cursor.cursor(m);
            prop_assert_eq!(
                page_of(room, cursor, *count),
                model_page(m, cursor, *count),
                "{:?} COUNT {}",
                cursor,
                count
            );
        }
        RoomOp::Reload => *room = round_trip_room(room)?,
    }
    Ok(())
}

/// Everything the room answers is what the model says.
pub(crate) fn check_room(room: &Room, m: &RoomModel) -> Result<(), TestCaseError> {
    prop_assert_eq!(room.title(), TITLE);
    prop_assert_eq!(room.last_id(), m.last());
    prop_assert_eq!(room.first_id(), m.first_id());
    prop_assert_eq!(room.messages_kept(), m.live());
    prop_assert_eq!(room.log().len(), m.msgs.len() as u64);
    prop_assert_eq!(room.member_count(), m.members.len() as u64);
    let members: Vec<(String, u64)> = room.members().map(|(u, c)| (u.to_string(), c)).collect();
    let want: Vec<(String, u64)> = m.members.iter().map(|(u, c)| (u.clone(), *c)).collect();
    prop_assert_eq!(members, want);
    let counts: Vec<(String, u64)> = room.counts().map(|(u, c)| (u.to_string(), c)).collect();
    let want: Vec<(String, u64)> = m.counts.iter().map(|(u, c)| (u.clone(), *c)).collect();
    prop_assert_eq!(counts, want);
    for user in USERS {
        prop_assert_eq!(room.is_member(user), m.members.contains_key(user));
        prop_assert_eq!(room.cursor(user), m.members.get(user).copied());
        prop_assert_eq!(room.unread(user), m.unread(user));
    }

    // Every message kept, ids without gaps from the first.
    let kept: Vec<(u64, Msg)> = room
        .log()
        .iter()
        .map(|(id, s)| (id, msg_of(&room.document(ROOM, id, &s))))
        .collect();
    prop_assert_eq!(kept, model_page(m, Cursor::After(0), usize::MAX));
    let last = m.last();
    for id in [
        0,
        m.first.saturating_sub(1),
        m.first,
        last,
        last + 1,
        u64::MAX,
    ] {
        let doc = room.message(ROOM, id);
        if let Some(doc) = &doc {
            prop_assert_eq!((doc.room.as_ref(), doc.id), (ROOM, id));
        }
        prop_assert_eq!(
            doc.as_ref().map(msg_of),
            m.get(id).cloned(),
            "message {}",
            id
        );
    }
    for (cursor, count) in [
        (Cursor::Latest, 3),
        (Cursor::Latest, 0),
        (Cursor::Before(last), 2),
        (Cursor::Before(m.first + 1), 5),
        (Cursor::After(m.first.saturating_sub(1)), 2),
        (Cursor::After(last.saturating_sub(1)), 5),
    ] {
        prop_assert_eq!(
            page_of(room, cursor, count),
            model_page(m, cursor, count),
            "{:?} COUNT {}",
            cursor,
            count
        );
    }
    // The documents HISTORY returns.
    for (id, stored) in room.page(Cursor::Latest, 2) {
        let doc = room.document(ROOM, id, &stored).to_json();
        let want = m.get(id).map(|x| spec_document(ROOM, id, x, None));
        prop_assert_eq!(serde_json::from_slice::<serde_json::Value>(&doc).ok(), want);
    }
    let some_ts = m.msgs.get(m.msgs.len() / 2).map_or(0, |x| x.ts);
    for cutoff in [
        i64::MIN,
        m.now,
        some_ts,
        some_ts.saturating_add(1),
        i64::MAX,
    ] {
        prop_assert_eq!(room.first_sent_since(cutoff), m.first_sent_since(cutoff));
    }

    let entries: Vec<(Vec<u8>, u64, i64)> = room
        .dedup_entries()
        .map(|(k, id, until)| (k.to_vec(), id, until))
        .collect();
    prop_assert_eq!(&entries, &m.dedup);
    for key in DEDUP_KEYS {
        for now in [
            m.now,
            m.now.saturating_sub(1000),
            m.now.saturating_add(1000),
        ] {
            prop_assert_eq!(
                room.dedup_get(key, now),
                m.dedup_get(key, now),
                "{:?} at {}",
                key,
                now
            );
        }
    }

    // The memory reported holds at least every text kept.
    let texts = m.text_bytes();
    prop_assert!(
        room.heap_bytes() >= texts,
        "{} bytes for {} of text",
        room.heap_bytes(),
        texts
    );
    Ok(())
}

pub(crate) fn new_room(now: i64) -> (Room, RoomModel) {
    (Room::new(7, TITLE, now), RoomModel::new(now))
}

pub(crate) fn build_room(now: i64, ops: &[RoomOp]) -> Result<(Room, RoomModel), TestCaseError> {
    let (mut room, mut m) = new_room(now);
    for op in ops {
        step(&mut room, &mut m, op)?;
    }
    Ok((room, m))
}

// ---------------------------------------------------------------------------
// The properties.

proptest! {
    #![proptest_config(config(1000))]

    /// After every step of any sequence, a room answers what the model
    /// answers: pages, messages, cursors, unread counts, members, counts,
    /// DEDUP keys, and the errors of sends, edits, deletes and reads.
    #[test]
    fn a_room_agrees_with_its_model_after_every_step((now, ops) in room_ops(40)) {
        let (mut room, mut m) = new_room(now);
        for op in &ops {
            step(&mut room, &mut m, op)?;
            check_room(&room, &m)?;
        }
    }
}

proptest! {
    #![proptest_config(config(500))]

    /// A page is a run of ids without gaps, inside the history, as long as
    /// asked unless the history ends first, whatever happened to the room.
    #[test]
    fn pages_are_runs_of_ids_whatever_happens(
        (now, ops) in room_ops(30),
        pages in prop::collection::vec((cursor_pick(), page_count()), 1..40),
    ) {
        let (room, m) = build_room(now, &ops)?;
        for (cursor, count) in &pages {
            let cursor = cursor.cursor(&m);
            let ids: Vec<u64> = room.page(cursor, *count).map(|(id, _)| id).collect();
            prop_assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{:?}", ids);
            if let (Some(&lo), Some(&hi)) = (ids.first(), ids.last()) {
                prop_assert!(room.first_id().is_some_and(|f| f <= lo) && hi <= room.last_id());
            }
            prop_assert!(ids.len() <= *count);
            let available = match cursor {
                Cursor::Latest => m.msgs.len(),
                Cursor::Before(id) => (m.first..id.min(m.next())).count(),
                Cursor::After(id) => (id.saturating_add(1).max(m.first)..m.next()).count(),
            };
            prop_assert_eq!(ids.len(), available.min(*count), "{:?} COUNT {}", cursor, count);
            match cursor {
                Cursor::Before(id) => prop_assert!(ids.iter().all(|&x| x < id)),
                Cursor::After(id) => prop_assert!(ids.iter().all(|&x| x > id)),
                Cursor::Latest => prop_assert!(ids.is_empty() || ids.last() == Some(&room.last_id())),
            }
        }
    }
}

proptest! {
    #![proptest_config(config(500))]

    /// A room read back from its encoding is the same room, and the same
    /// steps then do the same to both.
    #[test]
    fn a_room_read_back_from_its_encoding_is_the_same_room_and_behaves_the_same(
        (now, ops) in room_ops(30),
        later in prop::collection::vec(room_op(), 1..20),
    ) {
        let (mut room, mut m) = build_room(now, &ops)?;
        let mut back = round_trip_room(&room)?;
        let mut back_model = m.clone();
        for op in &later {
            step(&mut room, &mut m, op)?;
            step(&mut back, &mut back_model, op)?;
            prop_assert_eq!(&room, &back, "after {:?}", op);
        }
        check_room(&back, &back_model)?;
        prop_assert_eq!(encode_room(&room), encode_room(&back));
    }
}

proptest! {
    #![proptest_config(config(200))]

    /// Trimming a big room keeps at least what it promises, in whole
    /// chunks, and what is left is the newest messages.
    #[test]
    fn trimming_keeps_at_least_what_was_asked_and_the_newest(
        sizes in prop::collection::vec(prop_oneof![8 => 0usize..60, 1 => 0usize..5000], 1..700),
        trims in prop::collection::vec(prop_oneof![amount().prop_map(Ok), id_pick().prop_map(Err)], 1..6),
    ) {
        let (mut room, mut m) = new_room(1000);
        step(&mut room, &mut m, &RoomOp::Join { user: 0, floor: IdPick::Near(0) })?;
        for (i, &size) in sizes.iter().enumerate() {
            let text = "t".repeat(size);
            let dt = if i % 10 == 9 { -5 } else { 3 };
            step(&mut room, &mut m, &RoomOp::Send { user: 0, text, dt })?;
        }
        for trim in trims {
            let op = match trim {
                Ok(keep) => RoomOp::TrimKeeping { keep },
                Err(first) => RoomOp::TrimBelow { first },
            };
            step(&mut room, &mut m, &op)?;
            check_room(&room, &m)?;
        }
        prop_assert_eq!(room.last_id(), sizes.len() as u64);
    }
}
