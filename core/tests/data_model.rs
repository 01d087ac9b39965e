//! Model-based properties of the chat data types (`chat_core::data`).
//!
//! A `Room` and a `User` go through random sequences of what the commands
//! do to them, with times that mostly increase but sometimes go back. Next
//! to each runs a reference model written here with plain `VecDeque`s and
//! `BTreeMap`s, from the documented rules, and after every step everything
//! the value answers (pages of history, messages, cursors, unread counts,
//! members, counts, DEDUP keys, inbox copies, delivery handles) must be what
//! the model says, and every error must be the one the model expects.
//!
//! The same values go through their encoding (`data::encode_*` and
//! `decode_*`), whole and damaged: what decodes is the value that was
//! encoded, and damaged bytes are refused or give a value that can be read
//! and changed without a panic and saved again.
//!
//! Each property runs a bounded number of cases (`PROPTEST_CASES` overrides
//! it); proptest prints the smallest failing sequence it finds.

use std::collections::{BTreeMap, VecDeque};

use chat_core::data::chunks::Codec;
use chat_core::data::inbox::{Change, Copy, CopyCodec};
use chat_core::data::log::MessageCodec;
use chat_core::data::room::Read;
use chat_core::data::{
    self, decode_room, decode_user, encode_room, encode_user, DecodeError, Room, User,
    ENCODING_VERSION,
};
use chat_core::delivery::DeliveryId;
use chat_core::message::Message;
use chat_core::request::Cursor;
use chat_core::ChatError;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

/// Cases per property; the whole file stays within a few seconds in release.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const ROOM: &str = "general";
const TITLE: &str = "General";
const USERS: [&str; 6] = ["alice", "bob", "{t}carol", "d", "e:x.y@z", "zed"];
const DEDUP_KEYS: [&[u8]; 4] = [b"k1", b"k2", b"", b"\xff\x00 key"];
const ROOMS: [&str; 4] = ["general", "{t}dev", "dm:5:alice:bob", "r"];
const SENDERS: [&str; 3] = ["alice", "bob", "{t}carol"];

// ---------------------------------------------------------------------------
// The room model.

#[derive(Debug, Clone, PartialEq, Eq)]
struct Msg {
    sender: String,
    text: String,
    ts: i64,
    edited: Option<i64>,
    deleted: bool,
}

#[derive(Debug, Clone)]
struct RoomModel {
    /// The id of `msgs[0]`; the next id is `first + msgs.len()`.
    first: u64,
    msgs: VecDeque<Msg>,
    members: BTreeMap<String, u64>,
    counts: BTreeMap<String, u64>,
    /// (key, id, until) in the order they were recorded.
    dedup: Vec<(Vec<u8>, u64, i64)>,
    /// DEDUP entries name the id of a send: each one a new id.
    dedup_ids: u64,
    now: i64,
}

impl RoomModel {
    fn new(now: i64) -> RoomModel {
        RoomModel {
            first: 1,
            msgs: VecDeque::new(),
            members: BTreeMap::new(),
            counts: BTreeMap::new(),
            dedup: Vec::new(),
            dedup_ids: 0,
            now,
        }
    }

    fn next(&self) -> u64 {
        self.first + self.msgs.len() as u64
    }

    fn last(&self) -> u64 {
        self.next() - 1
    }

    fn first_id(&self) -> Option<u64> {
        (!self.msgs.is_empty()).then_some(self.first)
    }

    fn get(&self, id: u64) -> Option<&Msg> {
        id.checked_sub(self.first)
            .and_then(|i| self.msgs.get(usize::try_from(i).ok()?))
    }

    fn join(&mut self, user: &str, floor: u64) -> bool {
        if self.members.contains_key(user) {
            return false;
        }
        self.members
            .insert(user.to_string(), self.last().max(floor));
        true
    }

    fn leave(&mut self, user: &str) -> bool {
        self.members.remove(user).is_some()
    }

    fn send(&mut self, user: &str, text: &str, ts: i64) -> Result<u64, ChatError> {
        if !self.members.contains_key(user) {
            return Err(ChatError::NotMember);
        }
        let id = self.next();
        self.msgs.push_back(Msg {
            sender: user.to_string(),
            text: text.to_string(),
            ts,
            edited: None,
            deleted: false,
        });
        *self.counts.entry(user.to_string()).or_default() += 1;
        self.members.insert(user.to_string(), id);
        Ok(id)
    }

    /// Only the author changes a message that is kept and not deleted.
    fn change(
        &mut self,
        id: u64,
        author: &str,
        change: impl FnOnce(&mut Msg),
    ) -> Result<(), ChatError> {
        let first = self.first;
        let m = id
            .checked_sub(first)
            .and_then(|i| self.msgs.get_mut(usize::try_from(i).ok()?))
            .filter(|m| !m.deleted)
            .ok_or(ChatError::NoSuchMessage(id))?;
        if m.sender != author {
            return Err(ChatError::NotAuthor);
        }
        change(m);
        Ok(())
    }

    fn read(&mut self, user: &str, id: u64) -> Result<Read, ChatError> {
        let last = self.last();
        let cursor = self.members.get_mut(user).ok_or(ChatError::NotMember)?;
        if id > last {
            return Err(ChatError::IdAfterLast { id, last });
        }
        if id <= *cursor {
            return Ok(Read::Stayed(*cursor));
        }
        *cursor = id;
        Ok(Read::Moved(id))
    }

    fn unread(&self, user: &str) -> Option<u64> {
        self.members
            .get(user)
            .map(|&c| self.last().saturating_sub(c))
    }

    fn drop_oldest(&mut self, n: u64) {
        self.msgs.drain(..n as usize);
        self.first += n;
    }

    fn trim_below(&mut self, first: u64) -> u64 {
        let first = first.min(self.next());
        let n = first.saturating_sub(self.first);
        self.drop_oldest(n);
        n
    }

    fn first_sent_since(&self, cutoff: i64) -> u64 {
        match self.msgs.iter().position(|m| m.ts >= cutoff) {
            Some(i) => self.first + i as u64,
            None => self.next(),
        }
    }

    fn dedup_get(&self, key: &[u8], now: i64) -> Option<u64> {
        self.dedup
            .iter()
            .rev()
            .find(|(k, _, _)| k == key)
            .filter(|(_, _, until)| *until > now)
            .map(|(_, id, _)| *id)
    }

    /// Keys are forgotten oldest first, up to the first one still remembered.
    fn dedup_forget(&mut self, now: i64) {
        let gone = self
            .dedup
            .iter()
            .position(|(_, _, until)| *until > now)
            .unwrap_or(self.dedup.len());
        self.dedup.drain(..gone);
    }

    /// The ids of a page: the newest `count` kept, or the newest `count`
    /// kept below an id, or the oldest `count` kept above one.
    fn page(&self, cursor: Cursor, count: usize) -> std::ops::Range<u64> {
        let count = count as u64;
        let (first, next) = (self.first, self.next());
        let (lo, hi) = match cursor {
            Cursor::Latest => (next.saturating_sub(count).max(first), next),
            Cursor::Before(id) => {
                let hi = id.min(next);
                (hi.saturating_sub(count).max(first), hi)
            }
            Cursor::After(id) => {
                let lo = id.saturating_add(1).max(first);
                (lo, lo.saturating_add(count).min(next))
            }
        };
        lo..hi.max(lo)
    }

    /// Messages kept that are not tombstones.
    fn live(&self) -> u64 {
        self.msgs.iter().filter(|m| !m.deleted).count() as u64
    }

    fn text_bytes(&self) -> usize {
        self.msgs.iter().map(|m| m.text.len()).sum()
    }
}

// ---------------------------------------------------------------------------
// Steps, as generated, and how each picks its arguments from the model.

#[derive(Debug, Clone)]
enum IdPick {
    /// A message kept now.
    Kept(Index),
    /// A message that left the history, or id 0.
    Gone(Index),
    /// Around the last id.
    Near(i8),
    Huge,
}

impl IdPick {
    fn id(&self, m: &RoomModel) -> u64 {
        match self {
            IdPick::Kept(i) if !m.msgs.is_empty() => m.first + i.index(m.msgs.len()) as u64,
            IdPick::Kept(_) => m.next(),
            IdPick::Gone(i) => i.index(m.first as usize) as u64,
            IdPick::Near(d) => (m.last() as i64 + i64::from(*d)).max(0) as u64,
            IdPick::Huge => u64::MAX,
        }
    }
}

#[derive(Debug, Clone)]
enum Amount {
    Abs(u64),
    /// Relative to the messages kept.
    Rel(i64),
    Huge,
}

impl Amount {
    fn of(&self, kept: u64) -> u64 {
        match self {
            Amount::Abs(n) => *n,
            Amount::Rel(d) => (kept as i64 + d).max(0) as u64,
            Amount::Huge => u64::MAX,
        }
    }
}

#[derive(Debug, Clone)]
enum CursorPick {
    Latest,
    Before(IdPick),
    After(IdPick),
}

impl CursorPick {
    fn cursor(&self, m: &RoomModel) -> Cursor {
        match self {
            CursorPick::Latest => Cursor::Latest,
            CursorPick::Before(id) => Cursor::Before(id.id(m)),
            CursorPick::After(id) => Cursor::After(id.id(m)),
        }
    }
}

#[derive(Debug, Clone)]
enum RoomOp {
    Join {
        user: usize,
        floor: IdPick,
    },
    Leave {
        user: usize,
    },
    Send {
        user: usize,
        text: String,
        dt: i64,
    },
    /// Many sends by one member, to fill chunks.
    Burst {
        member: Index,
        n: usize,
        len: usize,
        dt: i64,
    },
    /// `author` None: the message's own sender.
    Edit {
        id: IdPick,
        author: Option<usize>,
        text: String,
        dt: i64,
    },
    Delete {
        id: IdPick,
        author: Option<usize>,
    },
    Read {
        user: usize,
        id: IdPick,
    },
    TrimKeeping {
        keep: Amount,
    },
    TrimBelow {
        first: IdPick,
    },
    DedupRecord {
        key: usize,
        window: i64,
    },
    DedupForget {
        dt: i64,
    },
    Page {
        cursor: CursorPick,
        count: usize,
    },
    /// Through the encoding and back.
    Reload,
}

fn dt() -> impl Strategy<Value = i64> {
    prop_oneof![
        16 => 0i64..2000,
        4 => -3000i64..0,
        2 => Just(0i64),
        // A clock that jumps (times saturate at the ends of i64).
        1 => prop_oneof![Just(i64::MAX / 2), Just(i64::MIN / 2), Just(i64::MAX), Just(i64::MIN)],
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-z é€😀\n]{0,24}",
        1 => ("[a-z]", 300usize..5000).prop_map(|(c, n)| c.repeat(n)),
    ]
}

fn id_pick() -> impl Strategy<Value = IdPick> {
    prop_oneof![
        6 => any::<Index>().prop_map(IdPick::Kept),
        1 => any::<Index>().prop_map(IdPick::Gone),
        2 => (-3i8..4).prop_map(IdPick::Near),
        1 => Just(IdPick::Huge),
    ]
}

fn amount() -> impl Strategy<Value = Amount> {
    prop_oneof![
        3 => (0u64..300).prop_map(Amount::Abs),
        3 => (-200i64..10).prop_map(Amount::Rel),
        1 => Just(Amount::Abs(0)),
        1 => Just(Amount::Huge),
    ]
}

fn cursor_pick() -> impl Strategy<Value = CursorPick> {
    prop_oneof![
        Just(CursorPick::Latest),
        id_pick().prop_map(CursorPick::Before),
        id_pick().prop_map(CursorPick::After),
    ]
}

fn page_count() -> impl Strategy<Value = usize> {
    prop_oneof![
        4 => 0usize..8,
        2 => 0usize..300,
        1 => Just(usize::MAX),
    ]
}

fn user() -> impl Strategy<Value = usize> {
    0..USERS.len()
}

fn room_op() -> impl Strategy<Value = RoomOp> {
    prop_oneof![
        5 => (user(), prop_oneof![3 => Just(IdPick::Near(0)), 1 => id_pick()])
            .prop_map(|(user, floor)| RoomOp::Join { user, floor }),
        1 => user().prop_map(|user| RoomOp::Leave { user }),
        5 => (user(), text(), dt()).prop_map(|(user, text, dt)| RoomOp::Send { user, text, dt }),
        1 => (any::<Index>(), 1usize..150, prop_oneof![0usize..40, 0usize..400], dt())
            .prop_map(|(member, n, len, dt)| RoomOp::Burst { member, n, len, dt }),
        3 => (id_pick(), prop::option::weighted(0.2, user()), text(), dt())
            .prop_map(|(id, author, text, dt)| RoomOp::Edit { id, author, text, dt }),
        2 => (id_pick(), prop::option::weighted(0.2, user()))
            .prop_map(|(id, author)| RoomOp::Delete { id, author }),
        3 => (user(), id_pick()).prop_map(|(user, id)| RoomOp::Read { user, id }),
        1 => amount().prop_map(|keep| RoomOp::TrimKeeping { keep }),
        1 => id_pick().prop_map(|first| RoomOp::TrimBelow { first }),
        2 => (0..DEDUP_KEYS.len(), prop_oneof![0i64..3000, -100i64..0])
            .prop_map(|(key, window)| RoomOp::DedupRecord { key, window }),
        1 => dt().prop_map(|dt| RoomOp::DedupForget { dt }),
        2 => (cursor_pick(), page_count()).prop_map(|(cursor, count)| RoomOp::Page { cursor, count }),
        1 => Just(RoomOp::Reload),
    ]
}

fn start_time() -> impl Strategy<Value = i64> {
    prop_oneof![Just(1_764_201_600_000i64), Just(0i64), -10_000i64..10_000,]
}

fn room_ops(max: usize) -> impl Strategy<Value = (i64, Vec<RoomOp>)> {
    (start_time(), prop::collection::vec(room_op(), 1..max))
}

// ---------------------------------------------------------------------------
// Applying a step to a room and to the model, and comparing.

fn msg_of(doc: &Message) -> Msg {
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
fn spec_document(room: &str, id: u64, m: &Msg, delivery: Option<&str>) -> serde_json::Value {
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

fn page_of(room: &Room, cursor: Cursor, count: usize) -> Vec<(u64, Msg)> {
    room.page(cursor, count)
        .map(|(id, m)| (id, msg_of(&room.document(ROOM, id, &m))))
        .collect()
}

fn model_page(m: &RoomModel, cursor: Cursor, count: usize) -> Vec<(u64, Msg)> {
    m.page(cursor, count)
        .map(|id| (id, m.get(id).cloned().unwrap()))
        .collect()
}

fn round_trip_room(room: &Room) -> Result<Room, TestCaseError> {
    let bytes = encode_room(room);
    let back = decode_room(ENCODING_VERSION, &bytes);
    prop_assert_eq!(back.as_ref(), Ok(room));
    let back = back.unwrap();
    prop_assert_eq!(encode_room(&back), bytes, "the encoding is not stable");
    Ok(back)
}

/// Applies `op` to the room and the model; each answer must be the model's.
fn step(room: &mut Room, m: &mut RoomModel, op: &RoomOp) -> Result<(), TestCaseError> {
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
fn check_room(room: &Room, m: &RoomModel) -> Result<(), TestCaseError> {
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

fn new_room(now: i64) -> (Room, RoomModel) {
    (Room::new(7, TITLE, now), RoomModel::new(now))
}

fn build_room(now: i64, ops: &[RoomOp]) -> Result<(Room, RoomModel), TestCaseError> {
    let (mut room, mut m) = new_room(now);
    for op in ops {
        step(&mut room, &mut m, op)?;
    }
    Ok((room, m))
}

// ---------------------------------------------------------------------------
// The user model.

#[derive(Debug, Clone, PartialEq, Eq)]
struct MCopy {
    delivery: (u64, u64),
    room: String,
    id: u64,
    sender: String,
    ts: i64,
    edited: Option<i64>,
    deleted: bool,
    text: String,
}

impl MCopy {
    fn of(c: &Copy) -> MCopy {
        MCopy {
            delivery: (c.delivery.ms, c.delivery.seq),
            room: c.room.to_string(),
            id: c.id,
            sender: c.sender.to_string(),
            ts: c.ts,
            edited: c.edited,
            deleted: c.deleted,
            text: c.text.to_string(),
        }
    }

    fn as_copy(&self) -> Copy<'_> {
        Copy {
            delivery: DeliveryId {
                ms: self.delivery.0,
                seq: self.delivery.1,
            },
            room: &self.room,
            id: self.id,
            sender: &self.sender,
            ts: self.ts,
            edited: self.edited,
            deleted: self.deleted,
            text: &self.text,
        }
    }
}

/// A message that reached the inbox: (room, id, sender, ts, text).
type Sent = (String, u64, String, i64, String);

#[derive(Debug, Clone)]
struct UserModel {
    rooms: BTreeMap<String, i64>,
    copies: VecDeque<MCopy>,
    /// The last handle given out.
    last: (u64, u64),
    password: Option<String>,
    online_until: i64,
    sent: Vec<Sent>,
    now: i64,
}

/// A user's clock: 1 ms at the least (see
/// a_new_user_accepts_the_handle_it_offers_at_any_time), and short of
/// i64::MAX, so that a handle one past the last stays a time.
fn user_clock(now: i64, dt: i64) -> i64 {
    now.saturating_add(dt).clamp(1, i64::MAX - 1_000_000)
}

/// `<now>-0`, or one more than the last handle when `now` is not later.
fn next_handle(last: (u64, u64), now: i64) -> (u64, u64) {
    if now > 0 && now as u64 > last.0 {
        (now as u64, 0)
    } else if last.1 < u64::MAX {
        (last.0, last.1 + 1)
    } else {
        (last.0 + 1, 0)
    }
}

fn handle(d: DeliveryId) -> (u64, u64) {
    (d.ms, d.seq)
}

fn delivery(h: (u64, u64)) -> DeliveryId {
    DeliveryId { ms: h.0, seq: h.1 }
}

/// One handle below `h` (`h` itself for 0-0).
fn before(h: (u64, u64)) -> (u64, u64) {
    match h {
        (0, 0) => (0, 0),
        (ms, 0) => (ms - 1, u64::MAX),
        (ms, seq) => (ms, seq - 1),
    }
}

impl UserModel {
    fn new(now: i64) -> UserModel {
        UserModel {
            rooms: BTreeMap::new(),
            copies: VecDeque::new(),
            last: (0, 0),
            password: None,
            online_until: 0,
            sent: Vec::new(),
            now,
        }
    }

    fn deliver(&mut self, copy: MCopy) -> bool {
        if copy.delivery <= self.last {
            return false;
        }
        self.last = copy.delivery;
        self.copies.push_back(copy);
        true
    }

    fn ack(&mut self, upto: (u64, u64)) -> u64 {
        let n = self
            .copies
            .iter()
            .take_while(|c| c.delivery <= upto)
            .count();
        self.copies.drain(..n);
        n as u64
    }

    fn change(&mut self, room: &str, id: u64, change: Change) -> usize {
        let mut n = 0;
        for c in self
            .copies
            .iter_mut()
            .filter(|c| c.room == room && c.id == id)
        {
            match change {
                Change::Edited { text, at } => {
                    c.text = text.to_string();
                    c.edited = Some(at);
                }
                Change::Deleted => {
                    c.text.clear();
                    c.edited = None;
                    c.deleted = true;
                }
            }
            n += 1;
        }
        n
    }

    fn content_bytes(&self) -> usize {
        self.copies
            .iter()
            .map(|c| c.text.len() + c.room.len() + c.sender.len())
            .sum::<usize>()
            + self.rooms.keys().map(String::len).sum::<usize>()
            + self.password.as_ref().map_or(0, String::len)
    }
}

#[derive(Debug, Clone)]
enum MsgPick {
    New {
        room: usize,
        sender: usize,
        text: String,
        /// Sent this long before it is delivered.
        back: i64,
        edited: Option<i64>,
        deleted: bool,
    },
    /// A message delivered before, again.
    Again(Index),
}

#[derive(Debug, Clone)]
enum HandlePick {
    /// What `next_delivery` offers.
    Next,
    /// Further ahead than that.
    Ahead { ms: u64, seq: u64 },
    /// Not above the last handle: refused.
    Stale(Stale),
}

#[derive(Debug, Clone)]
enum Stale {
    Last,
    SeqBack(u64),
    MsBack(u64, u64),
    Existing(Index),
    Zero,
}

#[derive(Debug, Clone)]
enum AckPick {
    Existing(Index),
    JustBefore(Index),
    JustAfter(Index),
    Last,
    Zero,
    Far,
}

#[derive(Debug, Clone)]
enum Target {
    Delivered(Index),
    Unknown { room: usize, id: u64 },
}

#[derive(Debug, Clone)]
enum UserOp {
    JoinRoom {
        room: usize,
        dt: i64,
    },
    LeaveRoom {
        room: usize,
    },
    Deliver {
        dt: i64,
        msg: MsgPick,
        handle: HandlePick,
    },
    /// Many copies delivered in the same millisecond, to fill chunks.
    Burst {
        room: usize,
        n: usize,
        len: usize,
        dt: i64,
    },
    Ack(AckPick),
    Trim(Amount),
    Change {
        target: Target,
        edit: Option<(String, i64)>,
    },
    SetPassword(String),
    SetOnline(i64),
    Reload,
}

fn msg_pick() -> impl Strategy<Value = MsgPick> {
    prop_oneof![
        4 => (
            0..ROOMS.len(),
            0..SENDERS.len(),
            text(),
            prop_oneof![Just(0i64), 0i64..500],
            prop::option::weighted(0.1, 0i64..1000),
            prop::bool::weighted(0.1),
        )
            .prop_map(|(room, sender, text, back, edited, deleted)| MsgPick::New {
                room,
                sender,
                text,
                back,
                edited,
                deleted,
            }),
        1 => any::<Index>().prop_map(MsgPick::Again),
    ]
}

fn handle_pick() -> impl Strategy<Value = HandlePick> {
    prop_oneof![
        8 => Just(HandlePick::Next),
        1 => (prop_oneof![Just(0u64), 1u64..1000], prop_oneof![0u64..4, (u64::MAX - 3)..=u64::MAX])
            .prop_map(|(ms, seq)| HandlePick::Ahead { ms, seq }),
        2 => prop_oneof![
            Just(Stale::Last),
            (0u64..3).prop_map(Stale::SeqBack),
            (1u64..2000, any::<u64>()).prop_map(|(ms, seq)| Stale::MsBack(ms, seq)),
            any::<Index>().prop_map(Stale::Existing),
            Just(Stale::Zero),
        ]
        .prop_map(HandlePick::Stale),
    ]
}

fn ack_pick() -> impl Strategy<Value = AckPick> {
    prop_oneof![
        3 => any::<Index>().prop_map(AckPick::Existing),
        2 => any::<Index>().prop_map(AckPick::JustBefore),
        2 => any::<Index>().prop_map(AckPick::JustAfter),
        1 => Just(AckPick::Last),
        1 => Just(AckPick::Zero),
        1 => Just(AckPick::Far),
    ]
}

fn user_op() -> impl Strategy<Value = UserOp> {
    prop_oneof![
        2 => (0..ROOMS.len(), dt()).prop_map(|(room, dt)| UserOp::JoinRoom { room, dt }),
        1 => (0..ROOMS.len()).prop_map(|room| UserOp::LeaveRoom { room }),
        8 => (dt(), msg_pick(), handle_pick())
            .prop_map(|(dt, msg, handle)| UserOp::Deliver { dt, msg, handle }),
        1 => (0..ROOMS.len(), 1usize..100, prop_oneof![0usize..30, 0usize..200], dt())
            .prop_map(|(room, n, len, dt)| UserOp::Burst { room, n, len, dt }),
        3 => ack_pick().prop_map(UserOp::Ack),
        1 => amount().prop_map(UserOp::Trim),
        3 => (
            prop_oneof![
                5 => any::<Index>().prop_map(Target::Delivered),
                1 => (0..ROOMS.len(), 0u64..5).prop_map(|(room, id)| Target::Unknown { room, id }),
            ],
            prop::option::weighted(0.6, (text(), dt())),
        )
            .prop_map(|(target, edit)| UserOp::Change { target, edit }),
        1 => "\\$argon2id\\$[a-zA-Z0-9]{0,40}".prop_map(UserOp::SetPassword),
        1 => any::<i64>().prop_map(UserOp::SetOnline),
        1 => Just(UserOp::Reload),
    ]
}

fn user_ops(max: usize) -> impl Strategy<Value = (i64, Vec<UserOp>)> {
    (
        prop_oneof![Just(1_764_201_600_000i64), 1i64..100],
        prop::collection::vec(user_op(), 1..max),
    )
}

fn round_trip_user(user: &User) -> Result<User, TestCaseError> {
    let bytes = encode_user(user);
    let back = decode_user(ENCODING_VERSION, &bytes);
    prop_assert_eq!(back.as_ref(), Ok(user));
    let back = back.unwrap();
    prop_assert_eq!(encode_user(&back), bytes, "the encoding is not stable");
    Ok(back)
}

fn user_step(user: &mut User, m: &mut UserModel, op: &UserOp) -> Result<(), TestCaseError> {
    match op {
        UserOp::JoinRoom { room, dt } => {
            m.now = user_clock(m.now, *dt);
            let want = !m.rooms.contains_key(ROOMS[*room]);
            if want {
                m.rooms.insert(ROOMS[*room].to_string(), m.now);
            }
            prop_assert_eq!(user.join(ROOMS[*room], m.now), want);
        }
        UserOp::LeaveRoom { room } => {
            prop_assert_eq!(
                user.leave(ROOMS[*room]),
                m.rooms.remove(ROOMS[*room]).is_some()
            );
        }
        UserOp::Deliver {
            dt,
            msg,
            handle: pick,
        } => {
            m.now = user_clock(m.now, *dt);
            let offered = handle(user.next_delivery(m.now));
            prop_assert_eq!(offered, next_handle(m.last, m.now), "offered at {}", m.now);
            prop_assert!(offered > m.last);
            // A message counts as sent once a copy of it is in: every copy
            // is delivered no earlier than its message was sent.
            let mut new = None;
            let (room, id, sender, ts, text, edited, deleted) = match msg {
                MsgPick::New {
                    room,
                    sender,
                    text,
                    back,
                    edited,
                    deleted,
                } => {
                    let id = m.sent.len() as u64 + 1;
                    let ts = m.now.saturating_sub(*back);
                    new = Some((
                        ROOMS[*room].to_string(),
                        id,
                        SENDERS[*sender].to_string(),
                        ts,
                        text.clone(),
                    ));
                    let edited = edited.map(|e| ts.saturating_add(e)).filter(|_| !deleted);
                    let text = if *deleted {
                        String::new()
                    } else {
                        text.clone()
                    };
                    (
                        ROOMS[*room].to_string(),
                        id,
                        SENDERS[*sender].to_string(),
                        ts,
                        text,
                        edited,
                        *deleted,
                    )
                }
                MsgPick::Again(i) if !m.sent.is_empty() => {
                    let (room, id, sender, ts, text) = m.sent[i.index(m.sent.len())].clone();
                    (room, id, sender, ts, text, None, false)
                }
                MsgPick::Again(_) => (
                    "r".to_string(),
                    0,
                    "s".to_string(),
                    m.now,
                    String::new(),
                    None,
                    false,
                ),
            };
            let (h, accepted) = match pick {
                HandlePick::Next => (offered, true),
                HandlePick::Ahead { ms: 0, seq } => {
                    ((offered.0, offered.1.saturating_add(*seq)), true)
                }
                // Handles stay within the times a clock gives (up to i64::MAX
                // ms), as next_delivery's do.
                HandlePick::Ahead { ms, seq } if offered.0 + ms <= i64::MAX as u64 => {
                    ((offered.0 + ms, *seq), true)
                }
                HandlePick::Ahead { .. } => (offered, true),
                HandlePick::Stale(stale) => {
                    let h = match stale {
                        Stale::Last => m.last,
                        Stale::SeqBack(k) => (m.last.0, m.last.1.saturating_sub(*k)),
                        Stale::MsBack(k, seq) => (m.last.0.saturating_sub(*k), *seq),
                        Stale::Existing(i) if !m.copies.is_empty() => {
                            m.copies[i.index(m.copies.len())].delivery
                        }
                        Stale::Existing(_) | Stale::Zero => (0, 0),
                    };
                    (h.min(m.last), false)
                }
            };
            let copy = MCopy {
                delivery: h,
                room,
                id,
                sender,
                ts,
                edited,
                deleted,
                text,
            };
            let unchanged = user.inbox().cloned();
            prop_assert_eq!(m.deliver(copy.clone()), accepted);
            prop_assert_eq!(user.deliver(&copy.as_copy()), accepted, "delivery {:?}", h);
            if accepted {
                m.sent.extend(new);
            }
            if !accepted {
                // (A user without an inbox gets an empty one.)
                let inbox = user.inbox().cloned();
                prop_assert_eq!(
                    inbox,
                    Some(unchanged.unwrap_or_default()),
                    "a refused delivery changed the inbox"
                );
            }
        }
        UserOp::Burst { room, n, len, dt } => {
            m.now = user_clock(m.now, *dt);
            for i in 0..*n {
                let h = handle(user.next_delivery(m.now));
                prop_assert_eq!(h, next_handle(m.last, m.now));
                let id = m.sent.len() as u64 + 1;
                let text = format!("{i}:{}", "y".repeat(len + i % 3));
                m.sent.push((
                    ROOMS[*room].to_string(),
                    id,
                    "alice".into(),
                    m.now,
                    text.clone(),
                ));
                let copy = MCopy {
                    delivery: h,
                    room: ROOMS[*room].to_string(),
                    id,
                    sender: "alice".into(),
                    ts: m.now,
                    edited: None,
                    deleted: false,
                    text,
                };
                prop_assert!(m.deliver(copy.clone()));
                prop_assert!(user.deliver(&copy.as_copy()));
            }
        }
        UserOp::Ack(pick) => {
            let at = |i: &Index| {
                m.copies
                    .get(i.index(m.copies.len().max(1)))
                    .map(|c| c.delivery)
            };
            let upto = match pick {
                AckPick::Existing(i) => at(i).unwrap_or(m.last),
                AckPick::JustBefore(i) => before(at(i).unwrap_or(m.last)),
                AckPick::JustAfter(i) => {
                    let h = at(i).unwrap_or(m.last);
                    delivery(h).successor().map_or(h, handle)
                }
                AckPick::Last => m.last,
                AckPick::Zero => (0, 0),
                AckPick::Far => (u64::MAX, u64::MAX),
            };
            let want = m.ack(upto);
            prop_assert_eq!(user.ack(delivery(upto)), want, "ACK {:?}", upto);
        }
        UserOp::Trim(keep) => {
            let before = m.copies.len() as u64;
            let keep = keep.of(before);
            let removed = user.trim_inbox_keeping(keep);
            prop_assert!(removed <= before);
            let after = before - removed;
            if before <= keep {
                prop_assert_eq!(removed, 0);
            } else {
                prop_assert!(
                    after >= keep,
                    "kept {} of {}, asked to keep {}",
                    after,
                    before,
                    keep
                );
                prop_assert!(
                    after < keep.saturating_add(u64::from(CopyCodec::MAX_RECORDS)),
                    "kept {} of {}, asked to keep {}",
                    after,
                    before,
                    keep
                );
            }
            m.copies.drain(..removed as usize);
        }
        UserOp::Change { target, edit } => {
            let (room, id, ts) = match target {
                Target::Delivered(i) if !m.sent.is_empty() => {
                    let (room, id, _, ts, _) = &m.sent[i.index(m.sent.len())];
                    (room.clone(), *id, *ts)
                }
                Target::Delivered(_) => ("r".to_string(), 1, m.now),
                Target::Unknown { room, id } => (ROOMS[*room].to_string(), id + 1_000_000, m.now),
            };
            let change = match edit {
                Some((text, dt)) => Change::Edited {
                    text,
                    at: m.now.saturating_add(*dt),
                },
                None => Change::Deleted,
            };
            let want = m.change(&room, id, change);
            prop_assert_eq!(
                user.change_copies(&room, id, ts, change),
                want,
                "{} {}",
                room,
                id
            );
        }
        UserOp::SetPassword(hash) => {
            user.set_password(hash);
            m.password = Some(hash.clone());
        }
        UserOp::SetOnline(until) => {
            user.set_online_until(*until);
            m.online_until = *until;
        }
        UserOp::Reload => *user = round_trip_user(user)?,
    }
    Ok(())
}

fn check_user(user: &User, m: &UserModel) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        (user.name(), user.created(), user.origin()),
        ("Alice", 5, 9)
    );
    let rooms: Vec<(String, i64)> = user.rooms().map(|(r, at)| (r.to_string(), at)).collect();
    let want: Vec<(String, i64)> = m.rooms.iter().map(|(r, at)| (r.clone(), *at)).collect();
    prop_assert_eq!(rooms, want);
    prop_assert_eq!(user.room_count(), m.rooms.len() as u64);
    for room in ROOMS {
        prop_assert_eq!(user.in_room(room), m.rooms.contains_key(room));
    }
    prop_assert_eq!(user.password(), m.password.as_deref());
    prop_assert_eq!(user.online_until(), m.online_until);
    prop_assert_eq!(user.online(m.now), m.online_until > m.now);

    prop_assert_eq!(user.inbox_len(), m.copies.len() as u64);
    let copies: Vec<MCopy> = user
        .inbox()
        .into_iter()
        .flat_map(|i| i.iter())
        .map(|c| MCopy::of(&c))
        .collect();
    prop_assert_eq!(&copies, &Vec::from(m.copies.clone()));
    match user.inbox() {
        Some(inbox) => {
            prop_assert_eq!(handle(inbox.last_delivery()), m.last);
            for count in [0, 1, 5, usize::MAX] {
                let page: Vec<MCopy> = inbox.page(count).map(|c| MCopy::of(&c)).collect();
                let want: Vec<MCopy> = m.copies.iter().take(count).cloned().collect();
                prop_assert_eq!(page, want, "page of {}", count);
            }
            // The documents FETCH returns, oldest and newest.
            let n = m.copies.len();
            for (c, want) in inbox
                .iter()
                .zip(&m.copies)
                .enumerate()
                .filter(|(i, _)| *i < 2 || *i + 2 >= n)
                .map(|(_, p)| p)
            {
                let delivery = c.delivery.to_string();
                let doc = c.message().to_json_with_delivery(&delivery);
                let msg = Msg {
                    sender: want.sender.clone(),
                    text: want.text.clone(),
                    ts: want.ts,
                    edited: want.edited,
                    deleted: want.deleted,
                };
                let (h_ms, h_seq) = want.delivery;
                let expected =
                    spec_document(&want.room, want.id, &msg, Some(&format!("{h_ms}-{h_seq}")));
                prop_assert_eq!(
                    serde_json::from_slice::<serde_json::Value>(&doc).ok(),
                    Some(expected)
                );
            }
        }
        None => prop_assert!(m.last == (0, 0) && m.copies.is_empty()),
    }
    // Handles strictly increase, up to the last given out, and the next is
    // above them all whatever the time.
    prop_assert!(copies.windows(2).all(|w| w[0].delivery < w[1].delivery));
    prop_assert!(copies.last().is_none_or(|c| c.delivery <= m.last));
    for now in [
        m.now,
        m.now.saturating_sub(5000).max(1),
        m.now.saturating_add(1),
    ] {
        let next = handle(user.next_delivery(now));
        prop_assert_eq!(next, next_handle(m.last, now), "at {}", now);
        prop_assert!(next > m.last);
    }
    let content = m.content_bytes() + user.name().len();
    prop_assert!(
        user.heap_bytes() >= content,
        "{} bytes for {} of content",
        user.heap_bytes(),
        content
    );
    Ok(())
}

fn new_user(now: i64) -> (User, UserModel) {
    (User::new(9, "Alice", 5), UserModel::new(now))
}

fn build_user(now: i64, ops: &[UserOp]) -> Result<(User, UserModel), TestCaseError> {
    let (mut user, mut m) = new_user(now);
    for op in ops {
        user_step(&mut user, &mut m, op)?;
    }
    Ok((user, m))
}

// ---------------------------------------------------------------------------
// Damage.

/// A JSON dump (`data::room_json`, `data::user_json`) as a value to look
/// into, whether it comes as text or as a value.
trait Dump {
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
enum Damage {
    Flip(Index, u8),
    Cut(Index),
    Insert(Index, Vec<u8>),
    Remove(Index, usize),
    /// A run of bytes overwritten with one value (lengths and counts made
    /// huge, or zero).
    Overwrite(Index, usize, u8),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        6 => (any::<Index>(), 1u8..=255).prop_map(|(i, x)| Damage::Flip(i, x)),
        1 => any::<Index>().prop_map(Damage::Cut),
        2 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..6)).prop_map(|(i, b)| Damage::Insert(i, b)),
        2 => (any::<Index>(), 1usize..5).prop_map(|(i, n)| Damage::Remove(i, n)),
        1 => (any::<Index>(), 1usize..10, prop::sample::select(vec![0u8, 0xff, 0xfc, 0xfd, 0x7f]))
            .prop_map(|(i, n, b)| Damage::Overwrite(i, n, b)),
    ]
}

fn apply_damage(bytes: &mut Vec<u8>, d: &Damage) {
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
fn read_room_whole(room: &Room) -> Result<(), TestCaseError> {
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
fn change_room(mut room: Room) -> Result<(), TestCaseError> {
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

fn read_user_whole(user: &User, now: i64) -> Result<(), TestCaseError> {
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

fn change_user(mut user: User, now: i64) -> Result<(), TestCaseError> {
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

proptest! {
    #![proptest_config(config(1000))]

    /// After every step of any sequence, a user's rooms and inbox are the
    /// model's: deliveries get strictly increasing handles (a stale one is
    /// refused and changes nothing), an acknowledgement removes exactly the
    /// copies up to its handle, changes reach every copy of their message;
    /// and the user reads back from its encoding.
    #[test]
    fn an_inbox_agrees_with_its_model_after_every_step((now, ops) in user_ops(40)) {
        let (mut user, mut m) = new_user(now);
        for op in &ops {
            user_step(&mut user, &mut m, op)?;
            check_user(&user, &m)?;
        }
        let back = round_trip_user(&user)?;
        check_user(&back, &m)?;
    }
}

proptest! {
    #![proptest_config(config(300))]

    /// The memory a room or a user reports holds at least every text it
    /// keeps, and is not far above what it keeps: it grows and shrinks with
    /// the content.
    #[test]
    fn memory_counts_at_least_every_text_kept(
        sizes in prop::collection::vec(prop_oneof![8 => 0usize..100, 1 => 0usize..6000], 1..300),
        members in 1usize..USERS.len(),
    ) {
        let (mut room, mut m) = new_room(1);
        let (mut user, mut um) = new_user(1);
        for user in 0..members {
            step(&mut room, &mut m, &RoomOp::Join { user, floor: IdPick::Near(0) })?;
        }
        let empty_room = room.heap_bytes();
        let empty_user = user.heap_bytes();
        let mut previous = (0, 0);
        for (i, &size) in sizes.iter().enumerate() {
            let text = "m".repeat(size);
            step(&mut room, &mut m, &RoomOp::Send { user: i % members, text: text.clone(), dt: 1 })?;
            let copy = MCopy {
                delivery: handle(user.next_delivery(um.now)),
                room: ROOM.into(),
                id: i as u64 + 1,
                sender: USERS[i % members].into(),
                ts: um.now,
                edited: None,
                deleted: false,
                text,
            };
            prop_assert!(user.deliver(&copy.as_copy()));
            um.deliver(copy);
            let (texts, content) = (m.text_bytes(), um.content_bytes());
            let (r, u) = (room.heap_bytes(), user.heap_bytes());
            prop_assert!(r >= texts + empty_room / 2, "room: {} bytes for {} of text", r, texts);
            prop_assert!(u >= content, "user: {} bytes for {} of content", u, content);
            let n = i + 1;
            prop_assert!(r <= empty_room + 2 * (texts + 48 * n) + 8192, "room: {} bytes for {} of text", r, texts);
            prop_assert!(u <= empty_user + 2 * (content + 48 * n) + 8192, "user: {} bytes for {} of content", u, content);
            // Past a chunk's worth, more content never reports less memory
            // than half as much content did.
            if texts >= 2 * previous.0 + 8192 {
                prop_assert!(r > previous.1, "room: {} bytes after {}", r, previous.1);
                previous = (texts, r);
            }
        }
        // Emptied, they report about what they did when new.
        room.trim_below(u64::MAX);
        prop_assert_eq!(room.messages_kept(), 0);
        // (Less the history's table of chunks, which keeps its size: see
        // an_emptied_history_gives_back_its_table_of_chunks.)
        let table = 80 * sizes.len();
        prop_assert!(room.heap_bytes() <= empty_room + 1024 + table, "{} bytes for an empty history", room.heap_bytes());
        user.ack(DeliveryId { ms: u64::MAX, seq: u64::MAX });
        prop_assert_eq!(user.inbox_len(), 0);
        prop_assert!(user.heap_bytes() <= empty_user + 1024, "{} bytes for an empty inbox", user.heap_bytes());
    }
}

/// `bytes` with the first run `from` replaced by `to` (of the same length).
fn replaced(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
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
fn values_whose_parts_disagree_are_refused() {
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

/// `User::next_delivery` promises "the handle the next copy delivered at
/// `now` gets", and `deliver` refuses any handle not above the last one
/// given out, which starts at 0-0. A user without an inbox yet is offered
/// 0-0 at a time at or before 0 (`now.max(0)`, seq 0), which `deliver` then
/// refuses; a user whose inbox exists (it joined a room first) is offered
/// 0-1 at the same time. Times that low never come from a real clock, so
/// no send is lost in practice.
#[test]
fn a_new_user_accepts_the_handle_it_offers_at_any_time() {
    for now in [0, -5, i64::MIN] {
        let mut user = User::new(1, "a", 0);
        let offered = user.next_delivery(now);
        let copy = Copy {
            delivery: offered,
            room: "r",
            id: 1,
            sender: "s",
            ts: now,
            edited: None,
            deleted: false,
            text: "t",
        };
        assert!(user.deliver(&copy), "at {now}: offered {offered}, refused");
    }
}

/// A history that held many chunks keeps its table of chunks (a `VecDeque`
/// that grows with the chunks and never shrinks) once every message has
/// left it, and `heap_bytes` rightly reports it: 1,000 messages of 1,500
/// bytes (two to a chunk) trimmed away leave about 32 KiB in a room with no
/// history, against 72 bytes for a new room or the same room saved and
/// loaded again. A room whose burst of messages ages out
/// (`chat.history-max-age`) keeps that memory until it is reloaded. (An
/// inbox gives its table back when emptied.)
#[test]
fn an_emptied_history_gives_back_its_table_of_chunks() {
    let text = "x".repeat(1500);
    let mut room = Room::new(1, "t", 0);
    room.join("a", 0);
    for i in 0..1000 {
        room.send("a", &text, i).unwrap();
    }
    room.trim_below(u64::MAX);
    assert_eq!(room.log().len(), 0);
    let reloaded = decode_room(ENCODING_VERSION, &encode_room(&room)).unwrap();
    assert!(
        room.heap_bytes() <= 2 * reloaded.heap_bytes(),
        "a room without history takes {} bytes, {} once reloaded",
        room.heap_bytes(),
        reloaded.heap_bytes()
    );
}
