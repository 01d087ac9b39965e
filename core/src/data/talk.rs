//! What a room's conversation adds to its messages and changes after they
//! were sent: the replies of each thread, reactions, pins, and the
//! mentions each member has not read yet.
//!
//! A message's own reply and mentions are fixed when it is sent and live
//! in its record (`extra`); what changes later lives here, keyed by message
//! id, so a message nobody answered, reacted to or pinned costs nothing,
//! and a room that never used any of it has no `Talk` at all. People are
//! named by their place in the room's table (`People`): a place that a
//! reaction names is kept when its holder leaves (see `Room::leave`).

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

/// The most different reactions one message may have.
pub const REACTIONS_MAX: usize = 20;
/// The most messages a room may have pinned.
pub const PINS_MAX: usize = 50;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Talk {
    /// Per message id, what it gathered since it was sent.
    notes: BTreeMap<u64, Note>,
    /// Pinned message ids, the most recently pinned last.
    pins: Vec<u64>,
    /// Per member place, the ids of messages after their read cursor that
    /// mention them, ascending: reading and retention take them from the
    /// front, in time proportional to how many go.
    unread_mentions: BTreeMap<u32, VecDeque<u64>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Note {
    /// Ids of the replies to this message, ascending.
    replies: Vec<u64>,
    reactions: Vec<Reaction>,
}

impl Note {
    fn is_empty(&self) -> bool {
        self.replies.is_empty() && self.reactions.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Reaction {
    #[serde(with = "super::wire::text")]
    text: Box<str>,
    /// The places of who gave it, in the order they did.
    by: Vec<u32>,
}

/// Why a reaction or pin was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    Reactions,
    Pins,
}

impl Talk {
    pub fn is_empty(&self) -> bool {
        self.notes.is_empty() && self.pins.is_empty() && self.unread_mentions.is_empty()
    }

    /// Records that message `id` replies to `root`.
    pub fn add_reply(&mut self, root: u64, id: u64) {
        self.notes.entry(root).or_default().replies.push(id);
    }

    /// Records that message `id` mentions the members at `places`.
    pub fn add_mentions(&mut self, places: impl Iterator<Item = u32>, id: u64) {
        for place in places {
            self.unread_mentions.entry(place).or_default().push_back(id);
        }
    }

    /// How many replies message `id` has, and the last one's id.
    pub fn replies(&self, id: u64) -> Option<(u64, u64)> {
        let replies = &self.notes.get(&id)?.replies;
        Some((replies.len() as u64, *replies.last()?))
    }

    /// The ids of the replies to `root` after `after`, ascending.
    pub fn thread_after(&self, root: u64, after: u64) -> &[u64] {
        let replies = self.notes.get(&root).map_or(&[][..], |n| &n.replies[..]);
        let start = replies.partition_point(|&id| id <= after);
        replies.get(start..).unwrap_or_default()
    }

    /// Each reaction to message `id` with who gave it, in the order first
    /// given.
    pub fn reactions(&self, id: u64) -> impl Iterator<Item = (&str, &[u32])> {
        self.notes
            .get(&id)
            .into_iter()
            .flat_map(|n| n.reactions.iter().map(|r| (&*r.text, &r.by[..])))
    }

    /// Adds `place`'s `reaction` to message `id`; false if they had given it.
    pub fn react(&mut self, id: u64, place: u32, reaction: &str) -> Result<bool, Full> {
        let note = self.notes.entry(id).or_default();
        let kinds = note.reactions.len();
        let result = match note.reactions.iter_mut().find(|r| &*r.text == reaction) {
            Some(r) if r.by.contains(&place) => Ok(false),
            Some(r) => {
                r.by.push(place);
                Ok(true)
            }
            None if kinds >= REACTIONS_MAX => Err(Full::Reactions),
            None => {
                note.reactions.push(Reaction {
                    text: reaction.into(),
                    by: vec![place],
                });
                Ok(true)
            }
        };
        self.forget_if_empty(id);
        result
    }

    /// Takes `place`'s `reaction` off message `id`; false if it was not there.
    pub fn unreact(&mut self, id: u64, place: u32, reaction: &str) -> bool {
        let Some(note) = self.notes.get_mut(&id) else {
            return false;
        };
        let Some(i) = note.reactions.iter().position(|r| &*r.text == reaction) else {
            return false;
        };
        let Some(reaction) = note.reactions.get_mut(i) else {
            return false;
        };
        let before = reaction.by.len();
        reaction.by.retain(|&p| p != place);
        let removed = reaction.by.len() < before;
        if reaction.by.is_empty() {
            note.reactions.remove(i);
        }
        self.forget_if_empty(id);
        removed
    }

    fn forget_if_empty(&mut self, id: u64) {
        if self.notes.get(&id).is_some_and(Note::is_empty) {
            self.notes.remove(&id);
        }
    }

    /// Whether any reaction names `place`, which must then stay taken.
    pub fn names(&self, place: u32) -> bool {
        self.notes
            .values()
            .flat_map(|n| &n.reactions)
            .any(|r| r.by.contains(&place))
    }

    /// Pins message `id`; false if it was pinned already (it keeps its place).
    pub fn pin(&mut self, id: u64) -> Result<bool, Full> {
        if self.pins.contains(&id) {
            return Ok(false);
        }
        if self.pins.len() >= PINS_MAX {
            return Err(Full::Pins);
        }
        self.pins.push(id);
        Ok(true)
    }

    /// False if message `id` was not pinned.
    pub fn unpin(&mut self, id: u64) -> bool {
        let before = self.pins.len();
        self.pins.retain(|&p| p != id);
        self.pins.len() < before
    }

    /// Pinned ids, the most recently pinned first.
    pub fn pins(&self) -> impl Iterator<Item = u64> + '_ {
        self.pins.iter().rev().copied()
    }

    /// Each member place with the ids of the unread messages that mention
    /// them.
    pub fn all_unread_mentions(&self) -> impl Iterator<Item = (u32, &VecDeque<u64>)> {
        self.unread_mentions.iter().map(|(&p, ids)| (p, ids))
    }

    /// How many messages after their cursor mention the member at `place`.
    pub fn unread_mentions(&self, place: u32) -> u64 {
        self.unread_mentions
            .get(&place)
            .map_or(0, |ids| ids.len() as u64)
    }

    /// The member at `place` has read up to `cursor`.
    pub fn read(&mut self, place: u32, cursor: u64) {
        if let Some(ids) = self.unread_mentions.get_mut(&place) {
            drop_front_while(ids, |id| id <= cursor);
            if ids.is_empty() {
                self.unread_mentions.remove(&place);
            }
        }
    }

    /// The member at `place` left: their mentions go with them.
    pub fn left(&mut self, place: u32) {
        self.unread_mentions.remove(&place);
    }

    /// Message `id` was deleted: it no longer mentions anyone, nor holds
    /// reactions or a pin. Its replies stay, and so does its place in its
    /// own thread.
    /// Returns the places of who had reacted to it.
    pub fn deleted(&mut self, id: u64) -> Vec<u32> {
        let mut reacted = Vec::new();
        if let Some(note) = self.notes.get_mut(&id) {
            reacted.extend(note.reactions.drain(..).flat_map(|r| r.by));
        }
        self.forget_if_empty(id);
        self.unpin(id);
        self.unread_mentions.retain(|_, ids| {
            if let Ok(i) = ids.binary_search(&id) {
                ids.remove(i);
            }
            !ids.is_empty()
        });
        reacted
    }

    /// Retention removed every message below `first`: their reactions,
    /// pins and mentions go. A removed message's list of replies stays
    /// while some of its replies are kept, so its thread can still be read.
    /// Returns the places of who had reacted to the messages removed.
    pub fn trimmed_below(&mut self, first: u64) -> Vec<u32> {
        let kept = self.notes.split_off(&first);
        let removed = std::mem::replace(&mut self.notes, kept);
        let mut reacted = Vec::new();
        for (id, mut note) in removed {
            reacted.extend(note.reactions.drain(..).flat_map(|r| r.by));
            let gone = note.replies.partition_point(|&r| r < first);
            note.replies.drain(..gone);
            if !note.replies.is_empty() {
                self.notes.insert(id, note);
            }
        }
        self.pins.retain(|&id| id >= first);
        self.unread_mentions.retain(|_, ids| {
            drop_front_while(ids, |id| id < first);
            !ids.is_empty()
        });
        reacted
    }

    /// Heap bytes held, close to what the allocator hands out.
    pub fn heap_bytes(&self) -> usize {
        use super::alloc_size;
        // A B-tree node holds up to 11 entries; count one node per 8.
        let nodes = |n: usize, entry: usize| alloc_size(16 + 11 * entry) * n.div_ceil(8);
        let notes: usize = self
            .notes
            .values()
            .map(|n| {
                alloc_size(n.replies.capacity() * 8)
                    + alloc_size(n.reactions.capacity() * std::mem::size_of::<Reaction>())
                    + n.reactions
                        .iter()
                        .map(|r| alloc_size(r.text.len()) + alloc_size(r.by.capacity() * 4))
                        .sum::<usize>()
            })
            .sum();
        let mentions: usize = self
            .unread_mentions
            .values()
            .map(|ids| alloc_size(ids.capacity() * 8))
            .sum();
        nodes(self.notes.len(), 8 + std::mem::size_of::<Note>())
            + notes
            + alloc_size(self.pins.capacity() * 8)
            + nodes(self.unread_mentions.len(), 4 + 24)
            + mentions
    }

    /// The ids of the messages with reactions, ascending.
    pub fn reacted(&self) -> impl Iterator<Item = u64> + '_ {
        self.notes
            .iter()
            .filter(|(_, n)| !n.reactions.is_empty())
            .map(|(&id, _)| id)
    }

    /// Each message with replies, and their ids.
    pub fn threads(&self) -> impl Iterator<Item = (u64, &[u64])> {
        self.notes
            .iter()
            .filter(|(_, n)| !n.replies.is_empty())
            .map(|(&id, n)| (id, &n.replies[..]))
    }

    /// Checks decoded conversation state against its room: `live(id)` says
    /// whether message `id` is kept and not deleted, `taken(place)` whether
    /// someone holds that place. Every id is one the room sent, lists are
    /// in order and within their limits, and pins and reactions are on
    /// live messages, once each.
    pub fn check(
        &self,
        last_id: u64,
        live: impl Fn(u64) -> bool,
        taken: impl Fn(u32) -> bool,
    ) -> Result<(), String> {
        let ascending = |ids: &[u64]| ids.windows(2).all(|w| w[0] < w[1]);
        let sent = |id: u64| (1..=last_id).contains(&id);
        let distinct = |items: &mut Vec<u32>| {
            let n = items.len();
            items.sort_unstable();
            items.dedup();
            items.len() == n
        };
        for (&id, note) in &self.notes {
            if !sent(id) || note.is_empty() {
                return Err("a note names a message never sent".into());
            }
            if !ascending(&note.replies) || note.replies.iter().any(|&r| r <= id || !sent(r)) {
                return Err("a thread lists replies out of order".into());
            }
            let texts: std::collections::BTreeSet<&str> =
                note.reactions.iter().map(|r| &*r.text).collect();
            let bad = |r: &Reaction| {
                r.by.is_empty()
                    || !crate::request::valid_reaction(r.text.as_bytes())
                    || r.by.iter().any(|&p| !taken(p))
                    || !distinct(&mut r.by.clone())
            };
            if note.reactions.len() > REACTIONS_MAX
                || texts.len() != note.reactions.len()
                || note.reactions.iter().any(bad)
                || (!note.reactions.is_empty() && !live(id))
            {
                return Err("a reaction is not one a room could hold".into());
            }
        }
        let mut pins: Vec<u64> = self.pins.clone();
        pins.sort_unstable();
        pins.dedup();
        if self.pins.len() > PINS_MAX
            || pins.len() != self.pins.len()
            || !self.pins.iter().all(|&id| live(id))
        {
            return Err("the pins are not ones a room could hold".into());
        }
        for (&place, ids) in &self.unread_mentions {
            let ascending = ids.iter().zip(ids.iter().skip(1)).all(|(a, b)| a < b);
            if ids.is_empty() || !ascending || !ids.iter().all(|&id| live(id)) {
                return Err("a member's mentions are out of order".into());
            }
            if !taken(place) {
                return Err("mentions are kept for a place nobody holds".into());
            }
        }
        Ok(())
    }
}

/// Takes ids from the front of an ascending list while `gone` says so.
fn drop_front_while(ids: &mut VecDeque<u64>, gone: impl Fn(u64) -> bool) {
    while ids.front().is_some_and(|&id| gone(id)) {
        ids.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_count_their_replies() {
        let mut t = Talk::default();
        assert_eq!(t.replies(1), None);
        t.add_reply(1, 3);
        t.add_reply(1, 5);
        assert_eq!(t.replies(1), Some((2, 5)));
        assert_eq!(t.thread_after(1, 0), [3, 5]);
        assert_eq!(t.thread_after(1, 3), [5]);
        assert_eq!(t.thread_after(1, 5), [] as [u64; 0]);
        assert_eq!(t.thread_after(2, 0), [] as [u64; 0]);
    }

    #[test]
    fn one_reaction_per_person_and_twenty_kinds() {
        let mut t = Talk::default();
        assert_eq!(t.react(1, 0, "ok"), Ok(true));
        assert_eq!(t.react(1, 0, "ok"), Ok(false));
        assert_eq!(t.react(1, 2, "ok"), Ok(true));
        for i in 1..REACTIONS_MAX {
            assert_eq!(t.react(1, 0, &format!("r{i}")), Ok(true));
        }
        assert_eq!(t.react(1, 0, "one-more"), Err(Full::Reactions));
        // A kind already there takes more people.
        assert_eq!(t.react(1, 5, "r3"), Ok(true));
        assert!(t.names(5));
        assert!(t.unreact(1, 5, "r3"));
        assert!(!t.unreact(1, 5, "r3"));
        assert!(!t.names(5));
        let first: Vec<_> = t.reactions(1).take(1).collect();
        assert_eq!(first, [("ok", &[0, 2][..])]);
        for i in 1..REACTIONS_MAX {
            t.unreact(1, 0, &format!("r{i}"));
        }
        t.unreact(1, 0, "ok");
        t.unreact(1, 2, "ok");
        assert!(t.is_empty());
    }

    #[test]
    fn mentions_clear_as_cursors_pass_them() {
        let mut t = Talk::default();
        t.add_mentions([1, 2].into_iter(), 4);
        t.add_mentions([1].into_iter(), 6);
        assert_eq!(t.unread_mentions(1), 2);
        t.read(1, 4);
        assert_eq!(t.unread_mentions(1), 1);
        t.deleted(6);
        assert_eq!(t.unread_mentions(1), 0);
        t.left(2);
        assert!(t.is_empty());
    }

    #[test]
    fn pins_are_bounded_and_newest_first() {
        let mut t = Talk::default();
        for id in 1..=PINS_MAX as u64 {
            assert_eq!(t.pin(id), Ok(true));
        }
        assert_eq!(t.pin(3), Ok(false));
        assert_eq!(t.pin(99), Err(Full::Pins));
        assert!(t.unpin(1));
        assert!(!t.unpin(1));
        assert_eq!(t.pins().next(), Some(PINS_MAX as u64));
    }

    #[test]
    fn retention_keeps_threads_whose_replies_stay() {
        let mut t = Talk::default();
        t.add_reply(2, 3);
        t.add_reply(2, 9);
        t.add_reply(4, 5);
        t.react(2, 0, "ok").unwrap();
        t.pin(4).unwrap();
        t.add_mentions([1].into_iter(), 5);
        t.trimmed_below(6);
        assert_eq!(t.thread_after(2, 0), [9]);
        assert_eq!(t.replies(4), None);
        assert_eq!(t.reactions(2).count(), 0);
        assert_eq!(t.pins().count(), 0);
        assert_eq!(t.unread_mentions(1), 0);
        assert!(t.check(9, |_| true, |_| true).is_ok());
        // A pin twice, or of a message that is not live, is refused.
        t.pin(9).unwrap();
        assert!(t.check(9, |id| id != 9, |_| true).is_err());
        t.pins.push(9);
        assert!(t.check(9, |_| true, |_| true).is_err());
    }
}
