//! Records packed back to back in bounded chunks: how a room keeps its
//! messages and a user their inbox.
//!
//! A record is encoded with bincode's compact form (varint integers) and
//! starts with the difference between its key (a time) and the previous
//! record's, so most numbers take one or two bytes. Records cannot be
//! reached without decoding the ones before them in their chunk, so chunks
//! are small: a chunk is sealed when the next record would take it past
//! `Codec::MAX_BYTES` or `Codec::MAX_RECORDS`. Its buffer grows through the
//! allocator's size classes, so a sealed chunk wastes less than a record.
//! Each chunk knows the position of its first record, so the chunk of the
//! n-th record is a binary search away. Appending touches the last chunk
//! only, dropping old records the first one only, and a value never grows
//! one buffer without bound (a big room is many small buffers, as a stream
//! is many nodes).

use std::collections::VecDeque;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

/// How one kind of record is kept in a chunk.
pub trait Codec {
    /// A record as read from its chunk, borrowing its texts from it.
    type Item<'a>;
    /// A record that owns its texts, for rewriting a chunk.
    type Owned;
    /// A chunk is sealed before it holds more bytes than this (unless a
    /// single record is bigger)...
    const MAX_BYTES: usize;
    /// ... or more records than this.
    const MAX_RECORDS: u32;
    /// The number the next record's delta is taken from.
    fn key(item: &Self::Item<'_>) -> i64;
    /// Appends `item` to `out`, its key written as the difference from `prev`.
    fn encode(item: &Self::Item<'_>, prev: i64, out: &mut Vec<u8>);
    /// Reads one record from the start of `bytes`; `None` if it is not one.
    /// Returns the record and how many bytes it took.
    fn decode(bytes: &[u8], prev: i64) -> Option<(Self::Item<'_>, usize)>;
    fn to_owned(item: &Self::Item<'_>) -> Self::Owned;
    fn as_item(owned: &Self::Owned) -> Self::Item<'_>;
}

/// One chunk: records back to back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// The position of its first record, counted from the first record the
    /// log ever held (positions never change when old records go).
    start: u64,
    /// The key the first record's delta is taken from.
    base: i64,
    /// The key of the last record, which the next append's delta is taken from.
    last: i64,
    count: u32,
    #[serde(with = "super::wire::bytes")]
    bytes: Vec<u8>,
}

impl Chunk {
    fn new(start: u64, base: i64) -> Chunk {
        Chunk {
            start,
            base,
            last: base,
            count: 0,
            bytes: Vec::new(),
        }
    }

    /// Heap bytes this chunk holds (its buffer's capacity).
    pub fn heap_bytes(&self) -> usize {
        super::alloc_size(self.bytes.capacity())
    }

    pub fn buffer(&self) -> &[u8] {
        &self.bytes
    }
}

/// The records of a room log or an inbox, oldest first.
#[derive(Debug, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Chunks<C: Codec> {
    chunks: VecDeque<Chunk>,
    /// Records in all chunks; recomputed by `check` after decoding.
    #[serde(skip)]
    len: u64,
    /// The position the next record gets.
    next: u64,
    #[serde(skip)]
    codec: PhantomData<C>,
}

impl<C: Codec> Clone for Chunks<C> {
    fn clone(&self) -> Self {
        Chunks {
            chunks: self.chunks.clone(),
            len: self.len,
            next: self.next,
            codec: PhantomData,
        }
    }
}

impl<C: Codec> PartialEq for Chunks<C> {
    fn eq(&self, other: &Self) -> bool {
        self.chunks == other.chunks && self.next == other.next
    }
}

impl<C: Codec> Default for Chunks<C> {
    fn default() -> Self {
        Chunks {
            chunks: VecDeque::new(),
            len: 0,
            next: 0,
            codec: PhantomData,
        }
    }
}

impl<C: Codec> Chunks<C> {
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn chunks(&self) -> impl Iterator<Item = &Chunk> {
        self.chunks.iter()
    }

    /// Heap bytes held: the chunk table and every chunk's buffer. Sizes are
    /// capacities; the allocator rounds them up a little more.
    pub fn heap_bytes(&self) -> usize {
        super::alloc_size(self.chunks.capacity() * std::mem::size_of::<Chunk>())
            + self.chunks.iter().map(Chunk::heap_bytes).sum::<usize>()
    }

    /// Appends a record.
    pub fn push(&mut self, item: &C::Item<'_>) {
        thread_local! {
            static RECORD: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let key = C::key(item);
        RECORD.with_borrow_mut(|record| {
            record.clear();
            let prev = self.chunks.back().map_or(key, |c| c.last);
            C::encode(item, prev, record);
            let sealed = self.chunks.back().is_none_or(|c| {
                c.count >= C::MAX_RECORDS || c.bytes.len() + record.len() > C::MAX_BYTES
            });
            if sealed {
                if let Some(full) = self.chunks.back_mut() {
                    if full.bytes.capacity() > super::alloc_size(full.bytes.len()) {
                        full.bytes.shrink_to_fit();
                    }
                }
                if self.chunks.len() == self.chunks.capacity() {
                    self.chunks.reserve_exact(1 + self.chunks.len() / 4);
                }
                self.chunks.push_back(Chunk::new(self.next, prev));
            }
            if let Some(chunk) = self.chunks.back_mut() {
                grow_for(&mut chunk.bytes, record.len());
                chunk.bytes.extend_from_slice(record);
                chunk.last = key;
                chunk.count += 1;
                self.len += 1;
                self.next += 1;
            }
        });
    }

    /// The chunk holding record `pos` (0 = the oldest) and the record's
    /// place in it.
    fn locate(&self, pos: u64) -> Option<(usize, u32)> {
        if pos >= self.len {
            return None;
        }
        let at = self.chunks.front()?.start + pos;
        let chunk = self
            .chunks
            .partition_point(|c| c.start <= at)
            .checked_sub(1)?;
        let skip = at - self.chunks.get(chunk)?.start;
        Some((chunk, skip as u32))
    }

    /// The records from `pos` on, oldest first.
    pub fn iter_from(&self, pos: u64) -> Iter<'_, C> {
        let (chunk, skip) = self.locate(pos).unwrap_or((self.chunks.len(), 0));
        let mut chunks = self.chunks.range(chunk..);
        let mut current = chunks.next().map_or_else(ChunkIter::empty, ChunkIter::new);
        for _ in 0..skip {
            current.next();
        }
        Iter { chunks, current }
    }

    pub fn iter(&self) -> Iter<'_, C> {
        self.iter_from(0)
    }

    /// The position of the first record for which `f` holds.
    pub fn position(&self, mut f: impl FnMut(&C::Item<'_>) -> bool) -> Option<u64> {
        self.iter().position(|item| f(&item)).map(|p| p as u64)
    }

    /// The position of the first record of the first chunk whose last key
    /// is at least `key`: where a search for a record with a key from `key`
    /// on may start, when keys never decrease (inbox deliveries).
    pub fn first_chunk_reaching(&self, key: i64) -> u64 {
        let mut pos = 0u64;
        for chunk in &self.chunks {
            if chunk.last >= key {
                return pos;
            }
            pos += u64::from(chunk.count);
        }
        pos
    }

    /// Removes the oldest `n` records (all of them if fewer). Returns how
    /// many went.
    pub fn drop_front(&mut self, n: u64) -> u64 {
        let mut removed = 0;
        while let Some(front) = self.chunks.front() {
            let count = u64::from(front.count);
            if removed + count > n {
                break;
            }
            removed += count;
            self.chunks.pop_front();
        }
        let partial = (n - removed).min(self.len - removed);
        if partial > 0 {
            self.drop_from_first_chunk(partial as u32);
            removed += partial;
        }
        self.len -= removed;
        self.fit_table();
        removed
    }

    /// Drops the first `n` records of the first chunk, fewer than it holds.
    /// The records kept need no rewriting: the first of them keeps its
    /// delta, now taken from the chunk's new base, the key of the last
    /// record dropped.
    fn drop_from_first_chunk(&mut self, n: u32) {
        let Some(chunk) = self.chunks.front_mut() else {
            return;
        };
        let mut dropped = ChunkIter::<C>::new(chunk);
        let mut base = chunk.base;
        for _ in 0..n {
            match dropped.next() {
                Some(item) => base = C::key(&item),
                None => return,
            }
        }
        let offset = chunk.bytes.len() - dropped.bytes.len();
        chunk.bytes.drain(..offset);
        if chunk.bytes.capacity() > 2 * super::alloc_size(chunk.bytes.len()) {
            chunk.bytes.shrink_to(super::alloc_size(chunk.bytes.len()));
        }
        chunk.base = base;
        chunk.count -= n;
        chunk.start += u64::from(n);
    }

    /// Gives back the chunk table's spare room once most chunks are gone
    /// (a burst of messages that aged out, an inbox read to the end).
    fn fit_table(&mut self) {
        let len = self.chunks.len();
        if self.chunks.capacity() > 4 * len.max(1) {
            self.chunks.shrink_to(len + len / 4);
        }
    }

    /// How many records `drop_chunks_keeping(keep)` would remove.
    pub fn chunks_to_drop_keeping(&self, keep: u64) -> u64 {
        let mut removed = 0;
        for chunk in &self.chunks {
            let count = u64::from(chunk.count);
            if self.len - removed - count < keep {
                break;
            }
            removed += count;
        }
        removed
    }

    /// Removes whole chunks from the front while at least `keep` records
    /// would remain: the cheap way to bound a log, as `XADD ... MAXLEN ~`
    /// does for a stream. Returns how many records went.
    pub fn drop_chunks_keeping(&mut self, keep: u64) -> u64 {
        self.drop_front(self.chunks_to_drop_keeping(keep))
    }

    /// Applies `change` to the record at `pos` and writes its chunk again.
    /// Returns whether there was such a record.
    pub fn modify(&mut self, pos: u64, change: impl FnOnce(&mut C::Owned)) -> bool {
        let Some((chunk, index)) = self.locate(pos) else {
            return false;
        };
        self.rebuild(chunk, |owned| {
            if let Some(record) = owned.get_mut(index as usize) {
                change(record);
            }
        });
        true
    }

    /// Decodes chunk `index`, lets `change` edit its records (or drop some
    /// from the front), and encodes what is left in place of the chunk.
    fn rebuild(&mut self, index: usize, change: impl FnOnce(&mut Vec<C::Owned>)) {
        let Some(chunk) = self.chunks.get(index) else {
            return;
        };
        let mut owned: Vec<C::Owned> = ChunkIter::<C>::new(chunk)
            .map(|item| C::to_owned(&item))
            .collect();
        let kept_before = owned.len();
        change(&mut owned);
        let dropped = kept_before - owned.len();
        // The first record kept takes its delta from the last one dropped,
        // so that no key changes.
        let base = if dropped > 0 {
            ChunkIter::<C>::new(chunk)
                .nth(dropped - 1)
                .map_or(chunk.base, |item| C::key(&item))
        } else {
            chunk.base
        };
        let mut rebuilt = Chunk::new(chunk.start + dropped as u64, base);
        for record in &owned {
            let item = C::as_item(record);
            C::encode(&item, rebuilt.last, &mut rebuilt.bytes);
            rebuilt.last = C::key(&item);
            rebuilt.count += 1;
        }
        rebuilt
            .bytes
            .shrink_to(super::alloc_size(rebuilt.bytes.len()));
        if rebuilt.count == 0 {
            self.chunks.remove(index);
        } else if let Some(slot) = self.chunks.get_mut(index) {
            *slot = rebuilt;
        }
    }

    /// Checks a decoded value: every chunk decodes to exactly its records,
    /// its last key is right, and the chunks' positions follow one another.
    /// Sets the record count. A value that fails is refused, never
    /// half-read.
    pub fn check(&mut self) -> Result<(), String> {
        let chunks = self.chunks.len();
        let mut len = 0u64;
        let mut expected_start = self.chunks.front().map(|c| c.start);
        for (i, chunk) in self.chunks.iter().enumerate() {
            let mut iter = ChunkIter::<C>::new(chunk);
            let mut n = 0u32;
            let mut last = chunk.base;
            for item in iter.by_ref() {
                n += 1;
                last = C::key(&item);
            }
            if !iter.clean_end() || n != chunk.count || last != chunk.last || n == 0 {
                return Err(format!("chunk {i} of {chunks} does not decode"));
            }
            if n > C::MAX_RECORDS {
                return Err(format!("chunk {i} of {chunks} holds too many records"));
            }
            if Some(chunk.start) != expected_start {
                return Err(format!("chunk {i} of {chunks} is out of place"));
            }
            expected_start = chunk.start.checked_add(u64::from(n));
            len += u64::from(n);
        }
        if expected_start.is_some_and(|end| end != self.next) {
            return Err("the chunks end before the next position".into());
        }
        self.len = len;
        Ok(())
    }
}

/// Makes room for `more` bytes, growing a buffer by about a quarter at a
/// time and always to a size the allocator hands out as it is: a chunk
/// that stops growing wastes little.
fn grow_for(bytes: &mut Vec<u8>, more: usize) {
    let needed = bytes.len() + more;
    if needed > bytes.capacity() {
        let target = super::alloc_size(needed.max(bytes.capacity() + bytes.capacity() / 4));
        bytes.reserve_exact(target - bytes.len());
    }
}

/// The records of one chunk, in order.
struct ChunkIter<'a, C: Codec> {
    bytes: &'a [u8],
    prev: i64,
    left: u32,
    failed: bool,
    codec: PhantomData<C>,
}

impl<'a, C: Codec> ChunkIter<'a, C> {
    fn new(chunk: &'a Chunk) -> Self {
        ChunkIter {
            bytes: &chunk.bytes,
            prev: chunk.base,
            left: chunk.count,
            failed: false,
            codec: PhantomData,
        }
    }

    fn empty() -> Self {
        ChunkIter {
            bytes: &[],
            prev: 0,
            left: 0,
            failed: false,
            codec: PhantomData,
        }
    }

    /// Whether every byte was one of the records.
    fn clean_end(&self) -> bool {
        !self.failed && self.bytes.is_empty()
    }
}

impl<'a, C: Codec> Iterator for ChunkIter<'a, C> {
    type Item = C::Item<'a>;

    fn next(&mut self) -> Option<C::Item<'a>> {
        if self.left == 0 {
            return None;
        }
        let Some((item, used)) = C::decode(self.bytes, self.prev) else {
            self.failed = true;
            self.left = 0;
            return None;
        };
        self.bytes = self.bytes.get(used..).unwrap_or_default();
        self.prev = C::key(&item);
        self.left -= 1;
        Some(item)
    }
}

/// The records of a log from some position on: those of one chunk after
/// another. A chunk that does not decode was refused at load; should one
/// ever fail here, its remaining records are skipped, never misread.
pub struct Iter<'a, C: Codec> {
    chunks: std::collections::vec_deque::Iter<'a, Chunk>,
    current: ChunkIter<'a, C>,
}

impl<'a, C: Codec> Iterator for Iter<'a, C> {
    type Item = C::Item<'a>;

    fn next(&mut self) -> Option<C::Item<'a>> {
        loop {
            if let Some(item) = self.current.next() {
                return Some(item);
            }
            self.current = ChunkIter::new(self.chunks.next()?);
        }
    }
}
