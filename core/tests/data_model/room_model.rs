//! The reference model of a room, written with plain `VecDeque`s and
//! `BTreeMap`s from the documented rules; the steps a room goes through, as
//! generated, and how each picks its arguments from the model.

use std::collections::{BTreeMap, VecDeque};

use chat_core::data::room::Read;
use chat_core::request::Cursor;
use chat_core::ChatError;
use proptest::prelude::*;
use proptest::sample::Index;

use crate::{DEDUP_KEYS, USERS};

// ---------------------------------------------------------------------------
// The room model.

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Msg {
    pub(crate) sender: String,
    pub(crate) text: String,
    pub(crate) ts: i64,
    pub(crate) edited: Option<i64>,
    pub(crate) deleted: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct RoomModel {
    /// The id of `msgs[0]`; the next id is `first + msgs.len()`.
    pub(crate) first: u64,
    pub(crate) msgs: VecDeque<Msg>,
    pub(crate) members: BTreeMap<String, u64>,
    pub(crate) counts: BTreeMap<String, u64>,
    /// (key, id, until) in the order they were recorded.
    pub(crate) dedup: Vec<(Vec<u8>, u64, i64)>,
    /// DEDUP entries name the id of a send: each one a new id.
    pub(crate) dedup_ids: u64,
    pub(crate) now: i64,
}

impl RoomModel {
    pub(crate) fn new(now: i64) -> RoomModel {
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

    pub(crate) fn next(&self) -> u64 {
        self.first + self.msgs.len() as u64
    }

    pub(crate) fn last(&self) -> u64 {
        self.next() - 1
    }

    pub(crate) fn first_id(&self) -> Option<u64> {
        (!self.msgs.is_empty()).then_some(self.first)
    }

    pub(crate) fn get(&self, id: u64) -> Option<&Msg> {
        id.checked_sub(self.first)
            .and_then(|i| self.msgs.get(usize::try_from(i).ok()?))
    }

    pub(crate) fn join(&mut self, user: &str, floor: u64) -> bool {
        if self.members.contains_key(user) {
            return false;
        }
        self.members
            .insert(user.to_string(), self.last().max(floor));
        true
    }

    pub(crate) fn leave(&mut self, user: &str) -> bool {
        self.members.remove(user).is_some()
    }

    pub(crate) fn send(&mut self, user: &str, text: &str, ts: i64) -> Result<u64, ChatError> {
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
    pub(crate) fn change(
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

    pub(crate) fn read(&mut self, user: &str, id: u64) -> Result<Read, ChatError> {
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

    pub(crate) fn unread(&self, user: &str) -> Option<u64> {
        self.members
            .get(user)
            .map(|&c| self.last().saturating_sub(c))
    }

    pub(crate) fn drop_oldest(&mut self, n: u64) {
        self.msgs.drain(..n as usize);
        self.first += n;
    }

    pub(crate) fn trim_below(&mut self, first: u64) -> u64 {
        let first = first.min(self.next());
        let n = first.saturating_sub(self.first);
        self.drop_oldest(n);
        n
    }

    pub(crate) fn first_sent_since(&self, cutoff: i64) -> u64 {
        match self.msgs.iter().position(|m| m.ts >= cutoff) {
            Some(i) => self.first + i as u64,
            None => self.next(),
        }
    }

    pub(crate) fn dedup_get(&self, key: &[u8], now: i64) -> Option<u64> {
        self.dedup
            .iter()
            .rev()
            .find(|(k, _, _)| k == key)
            .filter(|(_, _, until)| *until > now)
            .map(|(_, id, _)| *id)
    }

    /// Keys are forgotten oldest first, up to the first one still remembered.
    pub(crate) fn dedup_forget(&mut self, now: i64) {
        let gone = self
            .dedup
            .iter()
            .position(|(_, _, until)| *until > now)
            .unwrap_or(self.dedup.len());
        self.dedup.drain(..gone);
    }

    /// The ids of a page: the newest `count` kept, or the newest `count`
    /// kept below an id, or the oldest `count` kept above one.
    pub(crate) fn page(&self, cursor: Cursor, count: usize) -> std::ops::Range<u64> {
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
    pub(crate) fn live(&self) -> u64 {
        self.msgs.iter().filter(|m| !m.deleted).count() as u64
    }

    pub(crate) fn text_bytes(&self) -> usize {
        self.msgs.iter().map(|m| m.text.len()).sum()
    }
}

// ---------------------------------------------------------------------------
// Steps, as generated, and how each picks its arguments from the model.

#[derive(Debug, Clone)]
pub(crate) enum IdPick {
    /// A message kept now.
    Kept(Index),
    /// A message that left the history, or id 0.
    Gone(Index),
    /// Around the last id.
    Near(i8),
    Huge,
}

impl IdPick {
    pub(crate) fn id(&self, m: &RoomModel) -> u64 {
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
pub(crate) enum Amount {
    Abs(u64),
    /// Relative to the messages kept.
    Rel(i64),
    Huge,
}

impl Amount {
    pub(crate) fn of(&self, kept: u64) -> u64 {
        match self {
            Amount::Abs(n) => *n,
            Amount::Rel(d) => (kept as i64 + d).max(0) as u64,
            Amount::Huge => u64::MAX,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum CursorPick {
    Latest,
    Before(IdPick),
    After(IdPick),
}

impl CursorPick {
    pub(crate) fn cursor(&self, m: &RoomModel) -> Cursor {
        match self {
            CursorPick::Latest => Cursor::Latest,
            CursorPick::Before(id) => Cursor::Before(id.id(m)),
            CursorPick::After(id) => Cursor::After(id.id(m)),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum RoomOp {
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

pub(crate) fn dt() -> impl Strategy<Value = i64> {
    prop_oneof![
        16 => 0i64..2000,
        4 => -3000i64..0,
        2 => Just(0i64),
        // A clock that jumps (times saturate at the ends of i64).
        1 => prop_oneof![Just(i64::MAX / 2), Just(i64::MIN / 2), Just(i64::MAX), Just(i64::MIN)],
    ]
}

pub(crate) fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-z é€😀\n]{0,24}",
        1 => ("[a-z]", 300usize..5000).prop_map(|(c, n)| c.repeat(n)),
    ]
}

pub(crate) fn id_pick() -> impl Strategy<Value = IdPick> {
    prop_oneof![
        6 => any::<Index>().prop_map(IdPick::Kept),
        1 => any::<Index>().prop_map(IdPick::Gone),
        2 => (-3i8..4).prop_map(IdPick::Near),
        1 => Just(IdPick::Huge),
    ]
}

pub(crate) fn amount() -> impl Strategy<Value = Amount> {
    prop_oneof![
        3 => (0u64..300).prop_map(Amount::Abs),
        3 => (-200i64..10).prop_map(Amount::Rel),
        1 => Just(Amount::Abs(0)),
        1 => Just(Amount::Huge),
    ]
}

pub(crate) fn cursor_pick() -> impl Strategy<Value = CursorPick> {
    prop_oneof![
        Just(CursorPick::Latest),
        id_pick().prop_map(CursorPick::Before),
        id_pick().prop_map(CursorPick::After),
    ]
}

pub(crate) fn page_count() -> impl Strategy<Value = usize> {
    prop_oneof![
        4 => 0usize..8,
        2 => 0usize..300,
        1 => Just(usize::MAX),
    ]
}

pub(crate) fn user() -> impl Strategy<Value = usize> {
    0..USERS.len()
}

pub(crate) fn room_op() -> impl Strategy<Value = RoomOp> {
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

pub(crate) fn start_time() -> impl Strategy<Value = i64> {
    prop_oneof![Just(1_764_201_600_000i64), Just(0i64), -10_000i64..10_000,]
}

pub(crate) fn room_ops(max: usize) -> impl Strategy<Value = (i64, Vec<RoomOp>)> {
    (start_time(), prop::collection::vec(room_op(), 1..max))
}
