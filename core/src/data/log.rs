//! A room's messages: ids without gaps, kept packed in chunks.
//!
//! Message n of a room is record `n - first_id` of its chunks: a deleted
//! message stays as a tombstone (sender and time, no text), so positions and
//! ids never drift apart, and a page of history is a range of positions.
//! `next_id` never goes back, even when every message has left the history.

use serde::{Deserialize, Serialize};

use super::chunks::{Chunks, Codec};
use super::extra;
use super::wire;

/// One stored message, as read from its chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored<'a> {
    /// Unix ms when it was sent.
    pub ts: i64,
    /// The sender's place in the room's table of people (`People`).
    pub sender: u32,
    /// Unix ms of the latest edit, if it was edited.
    pub edited: Option<i64>,
    /// Deleted by its author: a tombstone, `text` is empty.
    pub deleted: bool,
    pub text: &'a str,
    /// The encoded `Extra` (reply and mentions); empty for a plain message.
    pub extra: &'a [u8],
}

/// A stored message that owns its text, while a chunk is rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedStored {
    pub ts: i64,
    pub sender: u32,
    pub edited: Option<i64>,
    pub deleted: bool,
    pub text: String,
    pub extra: Vec<u8>,
}

/// The record as bincode writes it: the time as a difference from the
/// previous message's, the edit time as a difference from the send time,
/// then (when `flags` says so) the extra's bytes (see `extra`).
#[derive(Serialize, Deserialize)]
struct Record<'a> {
    ts_delta: i64,
    sender: u32,
    edited_after: Option<i64>,
    flags: u8,
    #[serde(borrow)]
    text: &'a str,
}

#[derive(Debug)]
pub struct MessageCodec;

impl Codec for MessageCodec {
    type Item<'a> = Stored<'a>;
    type Owned = OwnedStored;
    // About 60 messages of a typical length, and a page of history
    // decodes at most one chunk's worth of messages it does not return.
    const MAX_BYTES: usize = 4096;
    const MAX_RECORDS: u32 = 128;

    fn key(item: &Stored<'_>) -> i64 {
        item.ts
    }

    fn encode(item: &Stored<'_>, prev: i64, out: &mut Vec<u8>) {
        let record = Record {
            ts_delta: item.ts.wrapping_sub(prev),
            sender: item.sender,
            edited_after: item.edited.map(|at| at.wrapping_sub(item.ts)),
            flags: extra::flags(item.deleted, item.extra),
            text: item.text,
        };
        wire::encode_into(&record, out);
        extra::write(item.extra, out);
    }

    fn decode(bytes: &[u8], prev: i64) -> Option<(Stored<'_>, usize)> {
        let (r, used) = wire::decode_borrowed::<Record>(bytes)?;
        let (deleted, extra, more) = extra::read(r.flags, bytes.get(used..)?)?;
        let ts = prev.wrapping_add(r.ts_delta);
        let stored = Stored {
            ts,
            sender: r.sender,
            edited: r.edited_after.map(|d| ts.wrapping_add(d)),
            deleted,
            text: r.text,
            extra,
        };
        Some((stored, used + more))
    }

    fn to_owned(item: &Stored<'_>) -> OwnedStored {
        OwnedStored {
            ts: item.ts,
            sender: item.sender,
            edited: item.edited,
            deleted: item.deleted,
            text: item.text.to_string(),
            extra: item.extra.to_vec(),
        }
    }

    fn as_item(owned: &OwnedStored) -> Stored<'_> {
        Stored {
            ts: owned.ts,
            sender: owned.sender,
            edited: owned.edited,
            deleted: owned.deleted,
            text: &owned.text,
            extra: &owned.extra,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Log {
    /// The id of the oldest message kept (`next_id` when none is).
    first_id: u64,
    /// The id the next message gets.
    next_id: u64,
    /// The ids of the kept messages that are tombstones, ascending: whether
    /// a message is deleted is known without decoding its chunk (a reply,
    /// a reaction or a pin asks on every call). Allocated while there is
    /// one; as small in the struct as the count it replaced (8 bytes, where
    /// a `Vec` takes 24 and a boxed slice 16: the room struct stays in its
    /// allocator size class).
    #[allow(clippy::box_collection)]
    tombstones: Option<Box<Vec<u64>>>,
    messages: Chunks<MessageCodec>,
}

/// A log as the first encoding wrote it: a count of tombstones, not their
/// ids (`Log::check` finds them).
#[derive(Deserialize)]
pub(super) struct LogV1 {
    first_id: u64,
    next_id: u64,
    deleted: u64,
    messages: Chunks<MessageCodec>,
}

impl LogV1 {
    /// The log, with its tombstones found in its records; `None` if their
    /// count is not the one written.
    pub(super) fn into_log(mut self) -> Result<Log, String> {
        self.messages.check()?;
        let ids: Vec<u64> = (self.first_id..)
            .zip(self.messages.iter())
            .filter(|(_, m)| m.deleted)
            .map(|(id, _)| id)
            .collect();
        if ids.len() as u64 != self.deleted {
            return Err("the count of deleted messages is wrong".into());
        }
        Ok(Log {
            first_id: self.first_id,
            next_id: self.next_id,
            tombstones: (!ids.is_empty()).then(|| Box::new(ids)),
            messages: self.messages,
        })
    }
}

impl Default for Log {
    fn default() -> Self {
        Log {
            first_id: 1,
            next_id: 1,
            tombstones: None,
            messages: Chunks::default(),
        }
    }
}

impl Log {
    /// The id of the last message sent (0 before the first).
    pub fn last_id(&self) -> u64 {
        self.next_id - 1
    }

    /// The id of the oldest message kept, or `None` when none is.
    pub fn first_id(&self) -> Option<u64> {
        (self.first_id < self.next_id).then_some(self.first_id)
    }

    /// Messages kept, tombstones included: each id from the first kept to
    /// the last has a place.
    pub fn len(&self) -> u64 {
        self.messages.len()
    }

    /// Messages kept that are not tombstones.
    pub fn live(&self) -> u64 {
        self.messages.len() - self.tombstones().len() as u64
    }

    fn tombstones(&self) -> &[u64] {
        self.tombstones.as_deref().map_or(&[], |t| &t[..])
    }

    /// Whether message `id` is kept (maybe as a tombstone).
    pub fn is_kept(&self, id: u64) -> bool {
        (self.first_id..self.next_id).contains(&id)
    }

    /// Whether message `id` is kept and not a tombstone, without decoding.
    pub fn is_live(&self, id: u64) -> bool {
        self.is_kept(id) && self.tombstones().binary_search(&id).is_err()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    pub fn heap_bytes(&self) -> usize {
        self.messages.heap_bytes()
            + self.tombstones.as_ref().map_or(0, |t| {
                super::alloc_size(24) + super::alloc_size(t.capacity() * 8)
            })
    }

    pub fn chunks(&self) -> &Chunks<MessageCodec> {
        &self.messages
    }

    /// Stores the next message; returns its id.
    pub fn append(&mut self, message: &Stored<'_>) -> u64 {
        let id = self.next_id;
        self.messages.push(message);
        self.next_id += 1;
        id
    }

    /// Message `id`, if it is kept.
    pub fn get(&self, id: u64) -> Option<Stored<'_>> {
        if id < self.first_id {
            return None;
        }
        self.range(id, 1).next().map(|(_, m)| m)
    }

    /// Up to `count` messages from id `from` on (or from the oldest kept),
    /// ascending, each with its id.
    pub fn range(&self, from: u64, count: usize) -> impl Iterator<Item = (u64, Stored<'_>)> {
        let from = from.max(self.first_id);
        let pos = from.saturating_sub(self.first_id);
        (from..)
            .zip(self.messages.iter_from(pos))
            .take(if from < self.next_id { count } else { 0 })
    }

    /// Every kept message, oldest first, with its id.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Stored<'_>)> {
        (self.first_id..).zip(self.messages.iter())
    }

    /// Changes message `id` in place; false if it is not kept.
    pub fn modify(&mut self, id: u64, change: impl FnOnce(&mut OwnedStored)) -> bool {
        if id < self.first_id || id >= self.next_id {
            return false;
        }
        let mut became_deleted = false;
        let changed = self.messages.modify(id - self.first_id, |m| {
            let was = m.deleted;
            change(m);
            became_deleted = m.deleted && !was;
        });
        if became_deleted {
            let tombstones = self.tombstones.get_or_insert_with(Default::default);
            if let Err(at) = tombstones.binary_search(&id) {
                tombstones.insert(at, id);
            }
        }
        changed
    }

    /// Drops whole chunks of the oldest messages while at least `keep`
    /// stay. Returns how many went.
    pub fn trim_keeping(&mut self, keep: u64) -> u64 {
        self.drop_oldest(self.messages.chunks_to_drop_keeping(keep))
    }

    /// Drops every message with an id below `first`. Returns how many went.
    pub fn trim_below(&mut self, first: u64) -> u64 {
        let first = first.min(self.next_id);
        self.drop_oldest(first.saturating_sub(self.first_id))
    }

    /// Drops the oldest `n` messages (`n` at most how many are kept).
    fn drop_oldest(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let removed = self.messages.drop_front(n);
        self.first_id += removed;
        if let Some(tombstones) = &mut self.tombstones {
            let gone = tombstones.partition_point(|&id| id < self.first_id);
            tombstones.drain(..gone);
            if tombstones.is_empty() {
                self.tombstones = None;
            }
        }
        removed
    }

    /// The id of the first message sent at or after `cutoff` (unix ms), or
    /// `next_id` if none was: everything before it is older.
    pub fn first_sent_since(&self, cutoff: i64) -> u64 {
        match self.messages.position(|m| m.ts >= cutoff) {
            Some(pos) => self.first_id + pos,
            None => self.next_id,
        }
    }

    /// Checks a decoded log (see `Chunks::check`).
    pub fn check(&mut self) -> Result<(), String> {
        self.messages.check()?;
        // The last id a room can give is u64::MAX - 1: the next one must
        // still be a number.
        if self.first_id == 0 || self.first_id > self.next_id || self.next_id == u64::MAX {
            return Err("message ids out of order".into());
        }
        if self.next_id - self.first_id != self.messages.len() {
            return Err("message count does not match the ids".into());
        }
        let deleted = (self.first_id..)
            .zip(self.messages.iter())
            .filter(|(_, m)| m.deleted)
            .map(|(id, _)| id);
        if !deleted.eq(self.tombstones().iter().copied())
            || self.tombstones.as_ref().is_some_and(|t| t.is_empty())
        {
            return Err("the list of deleted messages is wrong".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(ts: i64, text: &str) -> Stored<'_> {
        Stored {
            ts,
            sender: 0,
            edited: None,
            deleted: false,
            text,
            extra: &[],
        }
    }

    fn texts(log: &Log) -> Vec<(u64, String)> {
        log.iter().map(|(id, m)| (id, m.text.to_string())).collect()
    }

    #[test]
    fn ids_follow_one_another_across_chunks() {
        let mut log = Log::default();
        assert_eq!(log.last_id(), 0);
        assert_eq!(log.first_id(), None);
        for i in 0..200 {
            assert_eq!(log.append(&msg(1000 + i, &format!("m{i}"))), i as u64 + 1);
        }
        assert_eq!(log.len(), 200);
        assert_eq!(log.chunks().chunks().count(), 2);
        let page: Vec<_> = log.range(63, 4).map(|(id, m)| (id, m.ts)).collect();
        assert_eq!(page, [(63, 1062), (64, 1063), (65, 1064), (66, 1065)]);
        assert_eq!(log.get(200).map(|m| m.text), Some("m199"));
        assert_eq!(log.get(201), None);
        assert_eq!(log.range(250, 10).count(), 0);
    }

    #[test]
    fn a_message_costs_its_text_and_a_few_bytes() {
        let mut log = Log::default();
        let text = "x".repeat(60);
        for i in 0..6400 {
            log.append(&msg(1_764_201_600_000 + i * 250, &text));
        }
        let per_message = log.heap_bytes() as f64 / 6400.0;
        // 60 bytes of text; the time (3 bytes for 250 ms), sender, flags and
        // length take about 7 more.
        assert!(per_message < 60.0 + 10.0, "{per_message} bytes per message");
    }

    #[test]
    fn trimming_whole_chunks_keeps_at_least_the_limit() {
        let mut log = Log::default();
        let text = "t".repeat(40);
        for i in 0..300 {
            log.append(&msg(i, &text));
        }
        let sizes: Vec<u32> = log
            .chunks()
            .chunks()
            .map(|c| c.buffer().len() as u32)
            .collect();
        assert!(sizes.iter().all(|&b| b <= 4096), "{sizes:?}");
        // 40 bytes of text and 5 of numbers and flags: 91 to a chunk.
        let first_chunk = 4096 / 45;
        assert_eq!(log.trim_keeping(100), 2 * first_chunk);
        assert_eq!(log.first_id(), Some(2 * first_chunk + 1));
        assert!(log.len() >= 100 && log.len() < 100 + first_chunk);
        assert_eq!(log.trim_keeping(100), 0);
        assert_eq!(
            log.get(2 * first_chunk + 1).map(|m| m.ts),
            Some(2 * first_chunk as i64)
        );
        assert_eq!(log.last_id(), 300);
        log.check().unwrap();
    }

    #[test]
    fn exact_trims_rewrite_the_first_chunk_only() {
        let mut log = Log::default();
        for i in 0..150 {
            log.append(&msg(i * 10, "t"));
        }
        assert_eq!(log.first_sent_since(705), 72);
        assert_eq!(log.trim_below(72), 71);
        assert_eq!(log.first_id(), Some(72));
        assert_eq!(log.get(72).map(|m| m.ts), Some(710));
        assert_eq!(log.get(71), None);
        assert_eq!(log.get(150).map(|m| m.ts), Some(1490));
        let mut copy = log.clone();
        copy.check().unwrap();
        assert_eq!(copy, log);
        // More messages after a trim land where they should.
        for i in 150..300 {
            log.append(&msg(i * 10, "u"));
        }
        assert_eq!(
            log.range(298, 5).map(|(id, _)| id).collect::<Vec<_>>(),
            [298, 299, 300]
        );
        log.check().unwrap();
        assert_eq!(log.trim_below(1000), 229);
        assert_eq!(log.first_id(), None);
        assert_eq!(log.append(&msg(5000, "v")), 301);
    }

    #[test]
    fn edits_and_tombstones_rewrite_one_message() {
        let mut log = Log::default();
        for i in 0..100 {
            log.append(&msg(i, &format!("m{i}")));
        }
        assert!(log.modify(70, |m| {
            m.text = "changed".into();
            m.edited = Some(500);
        }));
        assert!(log.modify(71, |m| {
            m.text.clear();
            m.deleted = true;
        }));
        assert!(!log.modify(101, |_| {}));
        let m70 = log.get(70).unwrap();
        assert_eq!((m70.text, m70.edited, m70.ts), ("changed", Some(500), 69));
        let m71 = log.get(71).unwrap();
        assert!(m71.deleted && m71.text.is_empty() && m71.ts == 70);
        assert_eq!((log.len(), log.live()), (100, 99));
        log.trim_below(71);
        assert_eq!((log.len(), log.live()), (30, 29));
        log.trim_below(72);
        assert_eq!((log.len(), log.live()), (29, 29));
        assert_eq!(log.get(72).map(|m| m.ts), Some(71));
        assert_eq!(texts(&log).len(), 29);
        log.check().unwrap();
    }

    #[test]
    fn times_may_go_backwards() {
        let mut log = Log::default();
        for ts in [100, 50, i64::MAX, i64::MIN, 0] {
            log.append(&msg(ts, "t"));
        }
        let ts: Vec<i64> = log.iter().map(|(_, m)| m.ts).collect();
        assert_eq!(ts, [100, 50, i64::MAX, i64::MIN, 0]);
    }

    #[test]
    fn a_log_survives_its_encoding_and_damage_is_refused() {
        let mut log = Log::default();
        for i in 0..130 {
            log.append(&msg(i, "hello"));
        }
        log.trim_below(10);
        let bytes = wire::encode(&log);
        let mut back: Log = wire::decode_all(&bytes).unwrap();
        back.check().unwrap();
        assert_eq!(back, log);
        assert_eq!(texts(&back), texts(&log));
        // Flip bytes one at a time: each result either decodes to a log
        // that passes every check, or is refused; nothing panics.
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x5a;
            if let Ok(mut log) = wire::decode_all::<Log>(&damaged) {
                if log.check().is_ok() {
                    assert_eq!(log.iter().count() as u64, log.len());
                }
            }
        }
    }
}
