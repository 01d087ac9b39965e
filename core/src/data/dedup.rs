//! The DEDUP keys a room remembers: which message id each recent
//! `CHAT.SEND ... DEDUP <key>` got, until its window ends.
//!
//! Kept inside the room, so they go with it (DROP, DEL, MIGRATE) and a room
//! made again under the same id starts with none. Expired keys are
//! forgotten at the room's next send, oldest first; the times come from the
//! primary's send, so a replica forgets exactly the same ones.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    #[serde(with = "super::wire::boxed_bytes")]
    key: Box<[u8]>,
    id: u64,
    /// Unix ms from which the key is forgotten.
    until: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "Vec<Entry>", into = "Vec<Entry>")]
pub struct Dedup {
    /// In the order they were recorded, which is the order they expire in
    /// while `chat.dedup-window` stays the same.
    order: VecDeque<Entry>,
    /// Key -> (id, until) of the latest entry of each key.
    latest: HashMap<Box<[u8]>, (u64, i64)>,
}

impl PartialEq for Dedup {
    fn eq(&self, other: &Self) -> bool {
        self.order == other.order
    }
}

impl From<Vec<Entry>> for Dedup {
    fn from(entries: Vec<Entry>) -> Self {
        let mut dedup = Dedup::default();
        for e in entries {
            dedup.latest.insert(e.key.clone(), (e.id, e.until));
            dedup.order.push_back(e);
        }
        dedup
    }
}

impl From<Dedup> for Vec<Entry> {
    fn from(dedup: Dedup) -> Self {
        dedup.order.into()
    }
}

impl Dedup {
    /// The id the send with `key` got, if that is remembered at `now`.
    pub fn get(&self, key: &[u8], now: i64) -> Option<u64> {
        self.latest
            .get(key)
            .filter(|(_, until)| *until > now)
            .map(|(id, _)| *id)
    }

    pub fn record(&mut self, key: &[u8], id: u64, until: i64) {
        let key: Box<[u8]> = key.into();
        self.latest.insert(key.clone(), (id, until));
        self.order.push_back(Entry { key, id, until });
    }

    /// Forgets keys whose window ended by `now`; returns how many.
    pub fn forget_expired(&mut self, now: i64) -> usize {
        let mut forgotten = 0;
        while let Some(front) = self.order.front() {
            if front.until > now {
                break;
            }
            if let Some(entry) = self.order.pop_front() {
                // Only if no later send recorded the key again.
                if self.latest.get(&entry.key) == Some(&(entry.id, entry.until)) {
                    self.latest.remove(&entry.key);
                }
                forgotten += 1;
            }
        }
        forgotten
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub fn entries(&self) -> impl Iterator<Item = (&[u8], u64, i64)> {
        self.order.iter().map(|e| (&*e.key, e.id, e.until))
    }

    pub fn heap_bytes(&self) -> usize {
        use super::alloc_size;
        let keys: usize = self.order.iter().map(|e| alloc_size(e.key.len())).sum();
        alloc_size(self.order.capacity() * std::mem::size_of::<Entry>())
            + alloc_size(
                self.latest.capacity() * (std::mem::size_of::<(Box<[u8]>, (u64, i64))>() + 1),
            )
            + 2 * keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_remembered_for_their_window() {
        let mut d = Dedup::default();
        d.record(b"a", 1, 100);
        d.record(b"b", 2, 150);
        assert_eq!(d.get(b"a", 99), Some(1));
        assert_eq!(d.get(b"a", 100), None);
        assert_eq!(d.forget_expired(120), 1);
        assert_eq!(d.get(b"b", 120), Some(2));
        // A key sent again after its window gets a new entry; forgetting the
        // old one keeps the new.
        d.record(b"b", 7, 400);
        assert_eq!(d.forget_expired(200), 1);
        assert_eq!(d.get(b"b", 200), Some(7));
        let back: Dedup = crate::data::wire::decode_all(&crate::data::wire::encode(&d)).unwrap();
        assert_eq!(back.get(b"b", 200), Some(7));
        assert_eq!(back, d);
    }

    #[test]
    fn a_shorter_window_is_honoured_before_the_key_is_forgotten() {
        let mut d = Dedup::default();
        d.record(b"long", 1, 1000);
        d.record(b"short", 2, 50);
        assert_eq!(d.forget_expired(60), 0);
        assert_eq!(d.get(b"short", 60), None);
        assert_eq!(d.forget_expired(1000), 2);
        assert!(d.is_empty());
    }
}
