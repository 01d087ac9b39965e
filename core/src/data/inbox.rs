//! A user's inbox: copies of the messages they missed, in delivery order,
//! until they acknowledge them.
//!
//! Each copy has a delivery handle `<ms>-<seq>` (as CHAT.FETCH shows it):
//! the send time, and a sequence number for copies delivered in the same
//! millisecond. Handles only grow, in an inbox's whole life: an
//! acknowledged handle is never given out again.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::chunks::{Chunks, Codec};
use super::extra::{self, Extra};
use super::wire;
use crate::delivery::DeliveryId;
use crate::message::Message;

/// One inbox copy, as read from its chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copy<'a> {
    pub delivery: DeliveryId,
    pub room: &'a str,
    pub id: u64,
    pub sender: &'a str,
    /// Unix ms when the message was sent.
    pub ts: i64,
    pub edited: Option<i64>,
    pub deleted: bool,
    pub text: &'a str,
    /// The message's encoded `Extra` (reply and mentions), as it was sent.
    pub extra: &'a [u8],
}

impl<'a> Copy<'a> {
    /// The message document this copy stands for.
    pub fn message(&self) -> Message<'a> {
        Message {
            room: Cow::Borrowed(self.room),
            id: self.id,
            sender: Cow::Borrowed(self.sender),
            text: Cow::Borrowed(self.text),
            ts: self.ts,
            edited: self.edited,
            deleted: self.deleted,
            extra: Extra::decode(self.extra),
            ..Message::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedCopy {
    pub delivery: DeliveryId,
    pub room: String,
    pub id: u64,
    pub sender: String,
    pub ts: i64,
    pub edited: Option<i64>,
    pub deleted: bool,
    pub text: String,
    pub extra: Vec<u8>,
}

/// The record as bincode writes it: the delivery time as a difference from
/// the previous copy's, the send time as a difference from the delivery,
/// then (when `flags` says so) the extra's bytes (see `extra`).
#[derive(Serialize, Deserialize)]
struct Record<'a> {
    ms_delta: u64,
    seq: u64,
    ts_delta: i64,
    #[serde(borrow)]
    room: &'a str,
    id: u64,
    #[serde(borrow)]
    sender: &'a str,
    edited_after: Option<i64>,
    flags: u8,
    #[serde(borrow)]
    text: &'a str,
}

#[derive(Debug)]
pub struct CopyCodec;

impl Codec for CopyCodec {
    type Item<'a> = Copy<'a>;
    type Owned = OwnedCopy;
    // An acknowledgement rewrites the first chunk: keep chunks short.
    const MAX_BYTES: usize = 2048;
    const MAX_RECORDS: u32 = 64;

    fn key(item: &Copy<'_>) -> i64 {
        item.delivery.ms as i64
    }

    fn encode(item: &Copy<'_>, prev: i64, out: &mut Vec<u8>) {
        let ms = item.delivery.ms as i64;
        let record = Record {
            ms_delta: ms.wrapping_sub(prev) as u64,
            seq: item.delivery.seq,
            ts_delta: item.ts.wrapping_sub(ms),
            room: item.room,
            id: item.id,
            sender: item.sender,
            edited_after: item.edited.map(|at| at.wrapping_sub(item.ts)),
            flags: extra::flags(item.deleted, item.extra),
            text: item.text,
        };
        wire::encode_into(&record, out);
        extra::write(item.extra, out);
    }

    fn decode(bytes: &[u8], prev: i64) -> Option<(Copy<'_>, usize)> {
        let (r, used) = wire::decode_borrowed::<Record>(bytes)?;
        let (deleted, extra, more) = extra::read(r.flags, bytes.get(used..)?)?;
        let ms = prev.wrapping_add(r.ms_delta as i64);
        let ts = ms.wrapping_add(r.ts_delta);
        let copy = Copy {
            delivery: DeliveryId {
                ms: ms as u64,
                seq: r.seq,
            },
            room: r.room,
            id: r.id,
            sender: r.sender,
            ts,
            edited: r.edited_after.map(|d| ts.wrapping_add(d)),
            deleted,
            text: r.text,
            extra,
        };
        Some((copy, used + more))
    }

    fn to_owned(c: &Copy<'_>) -> OwnedCopy {
        OwnedCopy {
            delivery: c.delivery,
            room: c.room.to_string(),
            id: c.id,
            sender: c.sender.to_string(),
            ts: c.ts,
            edited: c.edited,
            deleted: c.deleted,
            text: c.text.to_string(),
            extra: c.extra.to_vec(),
        }
    }

    fn as_item(o: &OwnedCopy) -> Copy<'_> {
        Copy {
            delivery: o.delivery,
            room: &o.room,
            id: o.id,
            sender: &o.sender,
            ts: o.ts,
            edited: o.edited,
            deleted: o.deleted,
            text: &o.text,
            extra: &o.extra,
        }
    }
}

/// A change an author made to a message, applied to the copies of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    Edited { text: &'a str, at: i64 },
    Deleted,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inbox {
    /// Allocated while there are copies: most users have read everything.
    copies: Option<Box<Chunks<CopyCodec>>>,
    /// The last handle given out; the next is larger.
    last: DeliveryId,
    /// Copies dropped unread past `chat.inbox-max`, until acknowledged.
    /// Boxed: 8 bytes keep the user's struct in its allocator size class.
    dropped: Option<Box<Dropped>>,
}

/// How many copies an inbox dropped unread, and a handle after the last
/// of them and before the first copy kept: CHAT.FETCH shows them as a gap
/// with that handle, and an ACK of it or of a later one clears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    pub count: u64,
    pub upto: DeliveryId,
}

/// An inbox as the first encoding wrote it: without `dropped`.
#[derive(Deserialize)]
pub(super) struct InboxV1 {
    copies: Option<Box<Chunks<CopyCodec>>>,
    last: DeliveryId,
}

impl From<InboxV1> for Inbox {
    fn from(v1: InboxV1) -> Inbox {
        Inbox {
            copies: v1.copies,
            last: v1.last,
            dropped: None,
        }
    }
}

impl Inbox {
    pub fn len(&self) -> u64 {
        self.copies.as_ref().map_or(0, |c| c.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Gives back the copies' memory once the last one is gone.
    fn release_if_empty(&mut self) {
        if self.copies.as_ref().is_some_and(|c| c.is_empty()) {
            self.copies = None;
        }
    }

    pub fn last_delivery(&self) -> DeliveryId {
        self.last
    }

    /// The handle the next copy delivered at `now` gets: `<now>-0`, or one
    /// more than the last handle if that is not smaller.
    pub fn next_delivery(&self, now: i64) -> DeliveryId {
        let DeliveryId { ms, seq } = self.last;
        match u64::try_from(now) {
            Ok(now) if now > ms => DeliveryId { ms: now, seq: 0 },
            _ => match seq.checked_add(1) {
                Some(seq) => DeliveryId { ms, seq },
                None => DeliveryId {
                    ms: ms.saturating_add(1),
                    seq: 0,
                },
            },
        }
    }

    /// Adds a copy under `copy.delivery`, which must be larger than every
    /// handle given out before; false (and nothing added) if it is not.
    pub fn push(&mut self, copy: &Copy<'_>) -> bool {
        if copy.delivery <= self.last {
            return false;
        }
        self.copies.get_or_insert_with(Default::default).push(copy);
        self.last = copy.delivery;
        true
    }

    /// The oldest `count` copies.
    pub fn page(&self, count: usize) -> impl Iterator<Item = Copy<'_>> {
        self.iter().take(count)
    }

    pub fn iter(&self) -> impl Iterator<Item = Copy<'_>> {
        self.copies.iter().flat_map(|c| c.iter())
    }

    /// Copies dropped unread and not yet acknowledged, if any.
    pub fn dropped(&self) -> Option<Dropped> {
        self.dropped.as_deref().copied()
    }

    /// Removes the copy with handle `upto` and every older one; returns
    /// how many, and whether that acknowledged a gap of dropped copies.
    pub fn ack(&mut self, upto: DeliveryId) -> (u64, bool) {
        let gap = self.dropped.as_ref().is_some_and(|d| d.upto <= upto);
        if gap {
            self.dropped = None;
        }
        (self.ack_copies(upto), gap)
    }

    fn ack_copies(&mut self, upto: DeliveryId) -> u64 {
        let Some(copies) = self.copies.as_mut() else {
            return 0;
        };
        let older = copies
            .position(|c| c.delivery > upto)
            .unwrap_or(copies.len());
        let removed = copies.drop_front(older);
        self.release_if_empty();
        removed
    }

    /// Drops whole chunks of the oldest copies while at least `keep` stay
    /// (`chat.inbox-max`). Returns how many went.
    /// The copies dropped are counted, for CHAT.FETCH to show as a gap.
    pub fn trim_keeping(&mut self, keep: u64) -> u64 {
        let Some(copies) = self.copies.as_mut() else {
            return 0;
        };
        let removed = copies.drop_chunks_keeping(keep);
        if removed == 0 {
            return 0;
        }
        // Just before the first copy kept: found by decoding one record,
        // where the last one dropped would take decoding its whole chunk.
        let first_kept = copies.iter().next().map(|c| c.delivery);
        let upto = first_kept
            .and_then(DeliveryId::predecessor)
            .unwrap_or(self.last);
        let count = self
            .dropped()
            .map_or(0, |d| d.count)
            .saturating_add(removed);
        self.dropped = Some(Box::new(Dropped { count, upto }));
        self.release_if_empty();
        removed
    }

    /// Applies an author's change to every copy of message `id` of `room`
    /// (sent at `ts`). Returns how many copies changed.
    pub fn change_copies(&mut self, room: &str, id: u64, ts: i64, change: Change<'_>) -> usize {
        let Some(copies) = self.copies.as_mut() else {
            return 0;
        };
        // A copy is delivered no earlier than its message was sent.
        let start = copies.first_chunk_reaching(ts);
        let positions: Vec<u64> = copies
            .iter_from(start)
            .zip(start..)
            .filter(|(c, _)| c.id == id && c.room == room)
            .map(|(_, pos)| pos)
            .collect();
        for &pos in &positions {
            copies.modify(pos, |c| match change {
                Change::Edited { text, at } => {
                    c.text = text.to_string();
                    c.edited = Some(at);
                }
                Change::Deleted => {
                    c.text.clear();
                    c.edited = None;
                    c.deleted = true;
                    c.extra = Extra::without_mentions(&c.extra);
                }
            });
        }
        positions.len()
    }

    pub fn heap_bytes(&self) -> usize {
        self.copies.as_ref().map_or(0, |c| {
            super::alloc_size(std::mem::size_of::<Chunks<CopyCodec>>()) + c.heap_bytes()
        }) + self
            .dropped
            .as_ref()
            .map_or(0, |_| super::alloc_size(std::mem::size_of::<Dropped>()))
    }

    pub fn check(&mut self) -> Result<(), String> {
        if let Some(copies) = self.copies.as_mut() {
            copies.check()?;
            if copies.is_empty() {
                return Err("an inbox holds an empty list of copies".into());
            }
        }
        if self
            .dropped()
            .is_some_and(|d| d.count == 0 || d.upto > self.last)
        {
            return Err("an inbox's dropped copies are out of order".into());
        }
        let mut prev = self.dropped().map(|d| d.upto);
        for c in self.iter() {
            if prev.is_some_and(|p| p >= c.delivery) || c.delivery > self.last {
                return Err("inbox handles out of order".into());
            }
            prev = Some(c.delivery);
            let mentions = || !Extra::decode(c.extra).mentions.is_empty();
            if !Extra::check(c.extra) || (c.deleted && mentions()) {
                return Err("an inbox copy's reply or mentions do not decode".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(
        inbox: &Inbox,
        now: i64,
        room: &'static str,
        id: u64,
        text: &'static str,
    ) -> Copy<'static> {
        Copy {
            delivery: inbox.next_delivery(now),
            room,
            id,
            sender: "alice",
            ts: now,
            edited: None,
            deleted: false,
            text,
            extra: &[],
        }
    }

    fn handles(inbox: &Inbox) -> Vec<String> {
        inbox.iter().map(|c| c.delivery.to_string()).collect()
    }

    #[test]
    fn handles_only_grow() {
        let mut inbox = Inbox::default();
        for (now, id) in [(100, 1), (100, 2), (90, 3), (200, 4)] {
            let c = copy(&inbox, now, "r", id, "t");
            assert!(inbox.push(&c));
        }
        assert_eq!(handles(&inbox), ["100-0", "100-1", "100-2", "200-0"]);
        let stale = Copy {
            delivery: DeliveryId { ms: 150, seq: 0 },
            ..copy(&inbox, 0, "r", 9, "t")
        };
        assert!(!inbox.push(&stale));
        assert_eq!(inbox.ack(DeliveryId { ms: 100, seq: 1 }), (2, false));
        assert_eq!(handles(&inbox), ["100-2", "200-0"]);
        assert_eq!(inbox.ack(DeliveryId { ms: 500, seq: 0 }), (2, false));
        assert!(inbox.is_empty());
        // Emptied, the inbox still never gives an old handle again.
        assert_eq!(inbox.next_delivery(150).to_string(), "200-1");
    }

    #[test]
    fn a_copy_costs_its_texts_and_a_few_bytes() {
        let mut inbox = Inbox::default();
        let text = "y".repeat(60);
        for i in 0..320 {
            let c = Copy {
                text: &text,
                ..copy(
                    &inbox,
                    1_764_201_600_000 + i * 1000,
                    "general",
                    100 + i as u64,
                    "",
                )
            };
            inbox.push(&c);
        }
        let per_copy = inbox.heap_bytes() as f64 / 320.0;
        // text 60, room 8, sender 6 and about 12 bytes of numbers and flags
        assert!(
            per_copy < 60.0 + 8.0 + 6.0 + 15.0,
            "{per_copy} bytes per copy"
        );
    }

    #[test]
    fn changes_reach_every_copy_of_the_message() {
        let mut inbox = Inbox::default();
        for i in 0..100u64 {
            let c = copy(
                &inbox,
                1000 + i as i64,
                if i % 2 == 0 { "a" } else { "b" },
                i / 2,
                "t",
            );
            inbox.push(&c);
        }
        let n = inbox.change_copies(
            "b",
            40,
            1081,
            Change::Edited {
                text: "new",
                at: 5000,
            },
        );
        assert_eq!(n, 1);
        let changed: Vec<_> = inbox.iter().filter(|c| c.text != "t").collect();
        assert_eq!(changed.len(), 1);
        assert_eq!(
            (changed[0].room, changed[0].id, changed[0].edited),
            ("b", 40, Some(5000))
        );
        assert_eq!(inbox.change_copies("a", 3, 1006, Change::Deleted), 1);
        assert!(inbox
            .iter()
            .any(|c| c.deleted && c.id == 3 && c.room == "a" && c.text.is_empty()));
        assert_eq!(inbox.change_copies("a", 3, 1006, Change::Deleted), 1);
        assert_eq!(inbox.change_copies("zz", 3, 0, Change::Deleted), 0);
        let mut back: Inbox = wire::decode_all(&wire::encode(&inbox)).unwrap();
        back.check().unwrap();
        assert_eq!(back, inbox);
    }

    #[test]
    fn trimming_keeps_at_least_the_limit() {
        let mut inbox = Inbox::default();
        for i in 0..200 {
            let c = copy(&inbox, i, "r", i as u64, "t");
            inbox.push(&c);
        }
        // Short copies: 64 to a chunk.
        assert_eq!(inbox.trim_keeping(50), 128);
        assert_eq!(inbox.len(), 72);
        assert_eq!(inbox.iter().next().map(|c| c.id), Some(128));
        // The copies dropped show as a gap until an ACK passes the last.
        let gap = inbox.dropped().unwrap();
        let before_first = DeliveryId {
            ms: 127,
            seq: u64::MAX,
        };
        assert_eq!((gap.count, gap.upto), (128, before_first));
        inbox.check().unwrap();
        assert_eq!(inbox.ack(DeliveryId { ms: 127, seq: 0 }), (0, false));
        assert_eq!(inbox.ack(DeliveryId { ms: 130, seq: 0 }), (3, true));
        assert_eq!(inbox.dropped(), None);
        inbox.check().unwrap();
        // Gaps add up while unacknowledged.
        for i in 200..400 {
            let c = copy(&inbox, i, "r", i as u64, "t");
            inbox.push(&c);
        }
        inbox.trim_keeping(100);
        inbox.trim_keeping(10);
        let kept = inbox.len();
        assert_eq!(inbox.dropped().map(|d| d.count), Some(269 - kept));
        let back: Inbox =
            crate::data::wire::decode_all(&crate::data::wire::encode(&inbox)).unwrap();
        assert_eq!(back, inbox);
    }
}
