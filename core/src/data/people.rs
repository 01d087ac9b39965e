//! The people of a room: its members, each with a read cursor, and everyone
//! who ever sent in it, each with a message count.
//!
//! A person's place in the table never changes, so a stored message names
//! its sender by that place (a number of one or two bytes) instead of
//! repeating the id. Someone who leaves without having sent anything frees
//! their place for the next newcomer; a sender's place is kept for good,
//! since their messages and count refer to it.

use std::cell::Cell;

use serde::{Deserialize, Serialize};

use crate::channels::slot_of_id;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// The user id; empty for a free place.
    #[serde(with = "super::wire::text")]
    pub id: Box<str>,
    /// The id of the last message they have read, while they are a member.
    pub cursor: Option<u64>,
    /// Messages they sent in this room.
    pub sent: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct People {
    places: Vec<Person>,
    /// Places in order of id, for lookups; rebuilt after decoding.
    #[serde(skip)]
    by_id: Vec<u32>,
    #[serde(skip)]
    members: u32,
    /// In Redis Cluster: the room's slot and how many members live in
    /// other slots, counted on first need and kept up to date by joins and
    /// leaves, so that a send knows it in O(1). Not saved: it follows from
    /// the ids. See `Outside` for the packing.
    #[serde(skip)]
    outside: Cell<Outside>,
}

/// (slot, count) packed in 4 bytes, so that a room stays in its allocator
/// size class: 0 is "not counted yet"; else the top bit is set, the next 14
/// bits hold the slot and the low 17 bits the count. A count past what 17
/// bits hold stays at the largest, which still says "some": a join leaves
/// it there, and a leave forgets it, to count again once when next needed.
#[derive(Debug, Clone, Copy, Default)]
struct Outside(u32);

impl Outside {
    const COUNT_BITS: u32 = 17;
    const MAX_COUNT: u32 = (1 << Self::COUNT_BITS) - 1;

    fn counted(slot: u16, members: u32) -> Outside {
        let members = members.min(Self::MAX_COUNT);
        Outside(1 << 31 | u32::from(slot & 0x3fff) << Self::COUNT_BITS | members)
    }

    fn get(self) -> Option<(u16, u32)> {
        let slot = ((self.0 >> Self::COUNT_BITS) & 0x3fff) as u16;
        (self.0 != 0).then_some((slot, self.0 & Self::MAX_COUNT))
    }

    /// After a member of another slot than `slot` joined (+1) or left (-1).
    fn changed(self, change: i32) -> Outside {
        match self.get() {
            Some((_, Self::MAX_COUNT)) if change < 0 => Outside(0),
            Some((slot, n)) => Outside::counted(slot, n.saturating_add_signed(change)),
            None => self,
        }
    }
}

impl PartialEq for People {
    fn eq(&self, other: &Self) -> bool {
        self.places == other.places
    }
}

impl People {
    /// The place of `id`, if the room knows them.
    pub fn find(&self, id: &str) -> Option<u32> {
        self.search(id)
            .ok()
            .and_then(|i| self.by_id.get(i).copied())
    }

    fn search(&self, id: &str) -> Result<usize, usize> {
        self.by_id.binary_search_by(|&place| {
            self.places
                .get(place as usize)
                .map_or("", |p| &p.id)
                .cmp(id)
        })
    }

    pub fn get(&self, place: u32) -> Option<&Person> {
        self.places.get(place as usize)
    }

    pub fn get_mut(&mut self, place: u32) -> Option<&mut Person> {
        self.places.get_mut(place as usize)
    }

    /// The id of the person at `place` ("" for a place nobody holds).
    pub fn id(&self, place: u32) -> &str {
        self.get(place).map_or("", |p| &p.id)
    }

    pub fn member(&self, id: &str) -> Option<&Person> {
        self.find(id)
            .and_then(|p| self.get(p))
            .filter(|p| p.cursor.is_some())
    }

    pub fn member_count(&self) -> u64 {
        u64::from(self.members)
    }

    /// The place of `id`, made for them if the room does not know them yet.
    pub fn place_of(&mut self, id: &str) -> u32 {
        match self.search(id) {
            Ok(i) => self.by_id.get(i).copied().unwrap_or(0),
            Err(i) => {
                let person = Person {
                    id: id.into(),
                    cursor: None,
                    sent: 0,
                };
                let free = self.places.iter().position(|p| p.id.is_empty());
                let place = match free {
                    Some(place) => {
                        if let Some(slot) = self.places.get_mut(place) {
                            *slot = person;
                        }
                        place as u32
                    }
                    None => {
                        // Grown a quarter at a time: a small room's table
                        // is no bigger than its people.
                        if self.places.len() == self.places.capacity() {
                            self.places.reserve_exact(1 + self.places.len() / 4);
                        }
                        self.places.push(person);
                        (self.places.len() - 1) as u32
                    }
                };
                if self.by_id.len() == self.by_id.capacity() {
                    self.by_id.reserve_exact(1 + self.by_id.len() / 4);
                }
                self.by_id.insert(i, place);
                place
            }
        }
    }

    /// Makes `id` a member with their cursor at `cursor`; false if they
    /// were one already (nothing changes then).
    pub fn join(&mut self, id: &str, cursor: u64) -> bool {
        let place = self.place_of(id);
        let Some(person) = self.get_mut(place) else {
            return false;
        };
        if person.cursor.is_some() {
            return false;
        }
        person.cursor = Some(cursor);
        self.members += 1;
        self.count_outside(id, 1);
        true
    }

    /// Members whose user keys live in another Redis Cluster slot than
    /// `slot` (the room's).
    pub fn members_outside(&self, slot: u16) -> u32 {
        if let Some((counted_for, n)) = self.outside.get().get() {
            if counted_for == slot {
                return n;
            }
        }
        let n = self
            .members()
            .filter(|(id, _)| slot_of_id(id) != slot)
            .count() as u32;
        self.outside.set(Outside::counted(slot, n));
        n
    }

    /// Keeps the count of members outside the room's slot right when `id`
    /// joins (+1) or leaves (-1).
    fn count_outside(&self, id: &str, change: i32) {
        let outside = self.outside.get();
        if outside
            .get()
            .is_some_and(|(slot, _)| slot_of_id(id) != slot)
        {
            self.outside.set(outside.changed(change));
        }
    }

    /// Ends `id`'s membership; false if they were not a member. Their
    /// place is freed unless they sent messages or `named(place)` says
    /// something else refers to it.
    pub fn leave(&mut self, id: &str, named: impl FnOnce(u32) -> bool) -> bool {
        let Ok(i) = self.search(id) else {
            return false;
        };
        let Some(&place) = self.by_id.get(i) else {
            return false;
        };
        let Some(person) = self.places.get_mut(place as usize) else {
            return false;
        };
        if person.cursor.take().is_none() {
            return false;
        }
        self.members -= 1;
        if person.sent == 0 && !named(place) {
            // Nothing refers to this place any more: free it.
            person.id = "".into();
            self.by_id.remove(i);
        }
        self.count_outside(id, -1);
        true
    }

    /// Frees the place of someone who is neither a member nor a sender,
    /// once nothing else refers to it (their last reaction went).
    pub fn free_if_unused(&mut self, place: u32) {
        let Some(person) = self.places.get(place as usize) else {
            return;
        };
        if person.id.is_empty() || person.cursor.is_some() || person.sent > 0 {
            return;
        }
        if let Ok(i) = self.search(&person.id.clone()) {
            self.by_id.remove(i);
        }
        if let Some(person) = self.places.get_mut(place as usize) {
            person.id = "".into();
        }
    }

    #[cfg(test)]
    fn leave_plain(&mut self, id: &str) -> bool {
        self.leave(id, |_| false)
    }

    /// Members in order of id, with their cursors.
    pub fn members(&self) -> impl Iterator<Item = (&str, u64)> {
        self.by_id.iter().filter_map(|&place| {
            let p = self.places.get(place as usize)?;
            Some((&*p.id, p.cursor?))
        })
    }

    /// Senders in order of id, with their counts.
    pub fn senders(&self) -> impl Iterator<Item = (&str, u64)> {
        self.by_id.iter().filter_map(|&place| {
            let p = self.places.get(place as usize)?;
            (p.sent > 0).then_some((&*p.id, p.sent))
        })
    }

    pub fn heap_bytes(&self) -> usize {
        use super::alloc_size;
        alloc_size(self.places.capacity() * std::mem::size_of::<Person>())
            + alloc_size(self.by_id.capacity() * 4)
            + self
                .places
                .iter()
                .map(|p| alloc_size(p.id.len()))
                .sum::<usize>()
    }

    /// Every place a message may name: `0..len`.
    pub fn len(&self) -> u32 {
        self.places.len() as u32
    }

    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }

    /// Rebuilds the lookup order after decoding, and checks that no id is
    /// there twice.
    pub fn rebuild(&mut self) -> Result<(), String> {
        let mut by_id: Vec<u32> = (0..self.places.len() as u32)
            .filter(|&i| {
                self.places
                    .get(i as usize)
                    .is_some_and(|p| !p.id.is_empty())
            })
            .collect();
        by_id.sort_by(|&a, &b| self.id(a).cmp(self.id(b)));
        if by_id.windows(2).any(|w| self.id(w[0]) == self.id(w[1])) {
            return Err("a person is listed twice".into());
        }
        if self
            .places
            .iter()
            .any(|p| p.id.is_empty() && (p.cursor.is_some() || p.sent > 0))
        {
            return Err("a free place holds a member or a sender".into());
        }
        self.members = self.places.iter().filter(|p| p.cursor.is_some()).count() as u32;
        self.by_id = by_id;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_stay_put_and_free_ones_are_reused() {
        let mut people = People::default();
        assert!(people.join("carol", 0));
        assert!(people.join("alice", 3));
        assert!(!people.join("alice", 9));
        assert_eq!(people.find("alice"), Some(1));
        let bob = people.place_of("bob");
        people.get_mut(bob).unwrap().sent = 2;
        assert_eq!(
            people.members().collect::<Vec<_>>(),
            [("alice", 3), ("carol", 0)]
        );
        assert_eq!(people.senders().collect::<Vec<_>>(), [("bob", 2)]);
        assert_eq!(people.member_count(), 2);

        // carol never sent: her place is freed and reused.
        assert!(people.leave_plain("carol"));
        assert!(!people.leave_plain("carol"));
        assert_eq!(people.find("carol"), None);
        assert!(people.join("dave", 1));
        assert_eq!(people.find("dave"), Some(0));
        // bob sent: his place stays after he leaves.
        assert!(people.join("bob", 0));
        assert!(people.leave_plain("bob"));
        assert_eq!(people.find("bob"), Some(bob));
        assert_eq!(people.id(bob), "bob");
        assert_eq!(people.member("bob"), None);
        assert_eq!(people.member_count(), 2);
    }

    #[test]
    fn decoding_rebuilds_the_lookup_and_refuses_twins() {
        let mut people = People::default();
        for id in ["d", "b", "a", "c"] {
            people.join(id, 1);
        }
        let mut back: People =
            crate::data::wire::decode_all(&crate::data::wire::encode(&people)).unwrap();
        back.rebuild().unwrap();
        assert_eq!(back.find("c"), people.find("c"));
        assert_eq!(back.member_count(), 4);
        back.places[1].id = "a".into();
        assert!(back.rebuild().is_err());
    }

    #[test]
    fn members_outside_a_slot_are_counted_as_they_come_and_go() {
        let mut people = People::default();
        // {t}a and {t}b share a slot; c and d hash elsewhere.
        for id in ["{t}a", "c"] {
            people.join(id, 0);
        }
        let slot = slot_of_id("{t}x");
        assert_ne!(slot_of_id("c"), slot);
        assert_ne!(slot_of_id("d"), slot);
        assert_eq!(people.members_outside(slot), 1);
        people.join("{t}b", 0);
        people.join("d", 0);
        assert_eq!(people.members_outside(slot), 2);
        people.leave_plain("c");
        people.leave_plain("{t}a");
        assert_eq!(people.members_outside(slot), 1);
        // Asked for another slot, it counts again.
        assert_eq!(people.members_outside(slot_of_id("d")), 1);
        people.leave_plain("d");
        assert_eq!(people.members_outside(slot), 0);
    }

    #[test]
    fn the_packed_count_keeps_every_slot_and_stays_at_its_largest() {
        let max = Outside::MAX_COUNT;
        assert_eq!(Outside::counted(16383, max).get(), Some((16383, max)));
        assert_eq!(Outside::counted(0, 0).get(), Some((0, 0)));
        assert_eq!(Outside::default().get(), None);
        // Past the largest count: still "some", through joins; a leave
        // forgets it, to be counted again.
        let many = Outside::counted(5, max + 10);
        assert_eq!(many.get(), Some((5, max)));
        assert_eq!(many.changed(1).get(), Some((5, max)));
        assert_eq!(many.changed(-1).get(), None);
        assert_eq!(Outside::counted(5, 3).changed(-1).get(), Some((5, 2)));
        assert_eq!(Outside::default().changed(1).get(), None);
    }
}
