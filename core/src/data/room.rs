//! A room as one value: title, people, messages and recent DEDUP keys.
//!
//! Every rule about a room that does not need Redis lives here: who may
//! send, edit and read, which id a message gets, what a page of history
//! holds, how a read cursor moves. The module stores a `Room` as the value
//! of the key named by the room id (type `chat-room`).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::dedup::Dedup;
use super::label::Label;
use super::log::{Log, OwnedStored, Stored};
use super::people::People;
use crate::event::RoomMode;
use crate::message::Message;
use crate::request::Cursor;
use crate::ChatError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Room {
    /// The title, and the name check of the key the room was made under.
    title: Label,
    /// Unix ms.
    created: i64,
    people: People,
    log: Log,
    dedup: Option<Box<Dedup>>,
}

/// What a read cursor did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// It moved forward to this id.
    Moved(u64),
    /// It stayed where it was, at or past the id asked for.
    Stayed(u64),
}

impl Room {
    pub fn new(origin: u32, title: &str, created: i64) -> Room {
        Room {
            title: Label::new(origin, title),
            created,
            people: People::default(),
            log: Log::default(),
            dedup: None,
        }
    }

    pub fn origin(&self) -> u32 {
        self.title.origin()
    }

    pub fn title(&self) -> &str {
        self.title.text()
    }

    pub fn created(&self) -> i64 {
        self.created
    }

    pub fn last_id(&self) -> u64 {
        self.log.last_id()
    }

    pub fn first_id(&self) -> Option<u64> {
        self.log.first_id()
    }

    /// Messages in the history now, not counting tombstones.
    pub fn messages_kept(&self) -> u64 {
        self.log.live()
    }

    pub fn log(&self) -> &Log {
        &self.log
    }

    pub fn people(&self) -> &People {
        &self.people
    }

    pub fn member_count(&self) -> u64 {
        self.people.member_count()
    }

    pub fn is_member(&self, user: &str) -> bool {
        self.people.member(user).is_some()
    }

    /// A member's read cursor; `None` for someone who is not a member.
    pub fn cursor(&self, user: &str) -> Option<u64> {
        self.people.member(user).and_then(|p| p.cursor)
    }

    /// How the room delivers now. `cluster_slot` is the room's Redis
    /// Cluster slot, `None` on a server without cluster mode. A send
    /// touches one slot only, so a room with a member whose key lives in
    /// another slot is delivered as a broadcast room whatever its size:
    /// every member reads from their cursor, kept here.
    pub fn mode(&self, fanout_max_members: u64, cluster_slot: Option<u16>) -> RoomMode {
        match cluster_slot {
            Some(slot) if self.people.members_outside(slot) > 0 => RoomMode::Broadcast,
            _ => RoomMode::for_members(self.member_count(), fanout_max_members),
        }
    }

    /// Members in order of id, with their read cursors.
    pub fn members(&self) -> impl Iterator<Item = (&str, u64)> {
        self.people.members()
    }

    /// Senders in order of id, with how many messages each sent.
    pub fn counts(&self) -> impl Iterator<Item = (&str, u64)> {
        self.people.senders()
    }

    /// Makes `user` a member, reading from the last message on (or from
    /// `floor` when that is later). False if they were a member already.
    pub fn join(&mut self, user: &str, floor: u64) -> bool {
        let cursor = self.last_id().max(floor);
        self.people.join(user, cursor)
    }

    /// False if `user` was not a member.
    pub fn leave(&mut self, user: &str) -> bool {
        self.people.leave(user)
    }

    /// Stores a message from `sender` (who must be a member) and returns its
    /// id. The sender has read what they answer: their cursor moves to it.
    pub fn send(&mut self, sender: &str, text: &str, ts: i64) -> Result<u64, ChatError> {
        let place = self
            .people
            .find(sender)
            .filter(|&p| self.people.get(p).is_some_and(|p| p.cursor.is_some()))
            .ok_or(ChatError::NotMember)?;
        let id = self.log.append(&Stored {
            ts,
            sender: place,
            edited: None,
            deleted: false,
            text,
        });
        if let Some(person) = self.people.get_mut(place) {
            person.sent += 1;
            person.cursor = Some(id);
        }
        Ok(id)
    }

    /// Message `id` as its document, if it is in the history.
    pub fn message<'a>(&'a self, room_id: &'a str, id: u64) -> Option<Message<'a>> {
        self.log.get(id).map(|m| self.document(room_id, id, &m))
    }

    /// The document of a stored message.
    pub fn document<'a>(&'a self, room_id: &'a str, id: u64, m: &Stored<'a>) -> Message<'a> {
        Message {
            room: Cow::Borrowed(room_id),
            id,
            sender: Cow::Borrowed(self.people.id(m.sender)),
            text: Cow::Borrowed(m.text),
            ts: m.ts,
            edited: m.edited,
            deleted: m.deleted,
        }
    }

    /// A page of history, ascending by id: the newest `count` messages, or
    /// those just before or just after an id. Deleted messages are in it
    /// as tombstones, so a page is a run of ids without gaps.
    pub fn page(&self, cursor: Cursor, count: usize) -> impl Iterator<Item = (u64, Stored<'_>)> {
        let next = self.log.last_id() + 1;
        let (from, n) = match cursor {
            Cursor::Latest => (next.saturating_sub(count as u64), count),
            Cursor::Before(id) => {
                let end = id.min(next);
                let from = end.saturating_sub(count as u64);
                let first = self.log.first_id().unwrap_or(next);
                (from, end.saturating_sub(from.max(first)) as usize)
            }
            Cursor::After(id) => (id.saturating_add(1), count),
        };
        self.log.range(from, n)
    }

    /// Replaces the text of message `id`; only its author may, and not
    /// once it is deleted. Returns the message's send time.
    pub fn edit(&mut self, id: u64, author: &str, text: &str, at: i64) -> Result<(), ChatError> {
        self.check_author(id, author)?;
        self.log.modify(id, |m| {
            m.text = text.to_string();
            m.edited = Some(at);
        });
        Ok(())
    }

    /// Deletes message `id`, leaving its tombstone (id, sender, time); only
    /// its author may.
    pub fn delete(&mut self, id: u64, author: &str) -> Result<(), ChatError> {
        self.check_author(id, author)?;
        self.log.modify(id, |m: &mut OwnedStored| {
            m.text = String::new();
            m.edited = None;
            m.deleted = true;
        });
        Ok(())
    }

    fn check_author(&self, id: u64, author: &str) -> Result<(), ChatError> {
        let message = self
            .log
            .get(id)
            .filter(|m| !m.deleted)
            .ok_or(ChatError::NoSuchMessage(id))?;
        if self.people.id(message.sender) != author {
            return Err(ChatError::NotAuthor);
        }
        Ok(())
    }

    /// Moves `user`'s read cursor forward to `id`. A cursor never moves
    /// back, and never past the last message.
    pub fn read(&mut self, user: &str, id: u64) -> Result<Read, ChatError> {
        let last = self.last_id();
        let place = self
            .people
            .find(user)
            .filter(|&p| self.people.get(p).is_some_and(|p| p.cursor.is_some()))
            .ok_or(ChatError::NotMember)?;
        if id > last {
            return Err(ChatError::IdAfterLast { id, last });
        }
        let Some(person) = self.people.get_mut(place) else {
            return Err(ChatError::NotMember);
        };
        let cursor = person.cursor.unwrap_or(0);
        if id <= cursor {
            return Ok(Read::Stayed(cursor));
        }
        person.cursor = Some(id);
        Ok(Read::Moved(id))
    }

    /// How many messages `user` has not read; `None` for a non-member.
    pub fn unread(&self, user: &str) -> Option<u64> {
        self.cursor(user)
            .map(|cursor| self.last_id().saturating_sub(cursor))
    }

    /// The id a send with DEDUP `key` got, if it is remembered at `now`.
    pub fn dedup_get(&self, key: &[u8], now: i64) -> Option<u64> {
        self.dedup.as_ref().and_then(|d| d.get(key, now))
    }

    pub fn dedup_record(&mut self, key: &[u8], id: u64, until: i64) {
        self.dedup
            .get_or_insert_with(Default::default)
            .record(key, id, until);
    }

    /// Forgets DEDUP keys whose window ended by `now`.
    pub fn dedup_forget_expired(&mut self, now: i64) {
        if let Some(dedup) = &mut self.dedup {
            dedup.forget_expired(now);
            if dedup.is_empty() {
                self.dedup = None;
            }
        }
    }

    pub fn dedup_entries(&self) -> impl Iterator<Item = (&[u8], u64, i64)> {
        self.dedup.iter().flat_map(|d| d.entries())
    }

    /// Drops whole chunks of the oldest messages while at least `keep`
    /// stay (`chat.history-max`). Returns how many went.
    pub fn trim_keeping(&mut self, keep: u64) -> u64 {
        self.log.trim_keeping(keep)
    }

    /// Drops every message below id `first`. Returns how many went.
    pub fn trim_below(&mut self, first: u64) -> u64 {
        self.log.trim_below(first)
    }

    /// The first id sent at or after `cutoff`: messages below it are older.
    pub fn first_sent_since(&self, cutoff: i64) -> u64 {
        self.log.first_sent_since(cutoff)
    }

    /// Drops the messages sent more than `max_age_secs` before `now`
    /// (`chat.history-max-age`). Returns the id of the oldest message kept
    /// if any went, for a replica to trim to.
    pub fn retire_older_than(&mut self, now: i64, max_age_secs: u64) -> Option<u64> {
        let cutoff = now.saturating_sub((max_age_secs as i64).saturating_mul(1000));
        let first = self.first_sent_since(cutoff);
        (self.trim_below(first) > 0).then_some(first)
    }

    /// Heap bytes the room holds beyond its own struct.
    pub fn heap_bytes(&self) -> usize {
        use super::alloc_size;
        self.title.heap_bytes()
            + self.people.heap_bytes()
            + self.log.heap_bytes()
            + self.dedup.as_ref().map_or(0, |d| {
                alloc_size(std::mem::size_of::<Dedup>()) + d.heap_bytes()
            })
    }

    /// Checks a decoded room: its parts are whole and agree.
    pub fn check(&mut self) -> Result<(), String> {
        self.people.rebuild()?;
        self.log.check()?;
        let known = |place: u32| self.people.get(place).is_some_and(|p| p.sent > 0);
        if !self.log.iter().all(|(_, m)| known(m.sender)) {
            return Err("a message names a sender the room does not know".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room() -> Room {
        let mut r = Room::new(7, "General", 1000);
        r.join("alice", 0);
        r.join("bob", 0);
        r
    }

    fn ids(r: &Room, cursor: Cursor, count: usize) -> Vec<u64> {
        r.page(cursor, count).map(|(id, _)| id).collect()
    }

    #[test]
    fn a_room_is_a_small_struct() {
        // An allocator size class of 160 bytes, not 192.
        assert!(
            std::mem::size_of::<Room>() <= 160,
            "{}",
            std::mem::size_of::<Room>()
        );
    }

    #[test]
    fn a_room_with_a_member_in_another_slot_broadcasts() {
        let mut r = Room::new(7, "General", 1000);
        let slot = crate::channels::slot_of_id("{t}general");
        r.join("{t}alice", 0);
        assert_eq!(r.mode(500, Some(slot)), RoomMode::Fanout);
        r.join("bob", 0);
        assert_eq!(r.mode(500, Some(slot)), RoomMode::Broadcast);
        // Without cluster mode, only the number of members counts.
        assert_eq!(r.mode(500, None), RoomMode::Fanout);
        assert_eq!(r.mode(1, None), RoomMode::Broadcast);
        r.leave("bob");
        assert_eq!(r.mode(500, Some(slot)), RoomMode::Fanout);
    }

    #[test]
    fn messages_older_than_the_age_limit_retire() {
        let mut r = room();
        for ts in [1_000, 2_000, 9_000] {
            r.send("alice", "m", ts).unwrap();
        }
        // At 10 s with a limit of 5 s, messages sent before 5 s go.
        assert_eq!(r.retire_older_than(10_000, 5), Some(3));
        assert_eq!(r.first_id(), Some(3));
        assert_eq!(r.retire_older_than(10_000, 5), None);
        assert_eq!(r.retire_older_than(20_000, 5), Some(4));
        assert_eq!((r.first_id(), r.last_id()), (None, 3));
    }

    #[test]
    fn members_send_and_everyone_counts() {
        let mut r = room();
        assert_eq!(r.send("alice", "hi", 10), Ok(1));
        assert_eq!(r.send("bob", "hey", 11), Ok(2));
        assert_eq!(r.send("alice", "ok", 12), Ok(3));
        assert_eq!(r.send("carol", "x", 13), Err(ChatError::NotMember));
        assert_eq!(r.counts().collect::<Vec<_>>(), [("alice", 2), ("bob", 1)]);
        // A sender has read up to their own message.
        assert_eq!(r.cursor("alice"), Some(3));
        assert_eq!(r.unread("bob"), Some(1));
        let doc = r.message("general", 2).unwrap();
        assert_eq!((doc.sender.as_ref(), doc.text.as_ref()), ("bob", "hey"));
        // A newcomer starts at the last message.
        r.join("carol", 0);
        assert_eq!(r.cursor("carol"), Some(3));
        assert!(r.leave("bob"));
        assert_eq!(r.counts().collect::<Vec<_>>(), [("alice", 2), ("bob", 1)]);
        assert_eq!(r.message("general", 2).unwrap().sender, "bob");
    }

    #[test]
    fn pages_are_runs_of_ids() {
        let mut r = room();
        for i in 0..10 {
            r.send("alice", &format!("m{i}"), i).unwrap();
        }
        assert_eq!(ids(&r, Cursor::Latest, 3), [8, 9, 10]);
        assert_eq!(ids(&r, Cursor::Latest, 50).len(), 10);
        assert_eq!(ids(&r, Cursor::Before(4), 2), [2, 3]);
        assert_eq!(ids(&r, Cursor::Before(2), 5), [1]);
        assert_eq!(ids(&r, Cursor::Before(0), 5), Vec::<u64>::new());
        assert_eq!(ids(&r, Cursor::Before(99), 2), [9, 10]);
        assert_eq!(ids(&r, Cursor::After(8), 5), [9, 10]);
        assert_eq!(ids(&r, Cursor::After(10), 5), Vec::<u64>::new());
        assert_eq!(ids(&r, Cursor::After(0), 2), [1, 2]);
        r.trim_below(5);
        assert_eq!(ids(&r, Cursor::Before(7), 5), [5, 6]);
        assert_eq!(ids(&r, Cursor::After(1), 2), [5, 6]);
    }

    #[test]
    fn only_authors_change_messages_and_tombstones_stay() {
        let mut r = room();
        r.send("alice", "hello", 5).unwrap();
        assert_eq!(r.edit(1, "bob", "x", 6), Err(ChatError::NotAuthor));
        assert_eq!(r.edit(2, "alice", "x", 6), Err(ChatError::NoSuchMessage(2)));
        r.edit(1, "alice", "hello!", 6).unwrap();
        let doc = r.message("g", 1).unwrap();
        assert_eq!((doc.text.as_ref(), doc.edited), ("hello!", Some(6)));
        r.delete(1, "alice").unwrap();
        let doc = r.message("g", 1).unwrap();
        assert!(doc.deleted && doc.text.is_empty() && doc.ts == 5 && doc.sender == "alice");
        assert_eq!(r.delete(1, "alice"), Err(ChatError::NoSuchMessage(1)));
        assert_eq!(r.edit(1, "alice", "y", 7), Err(ChatError::NoSuchMessage(1)));
    }

    #[test]
    fn cursors_only_move_forward() {
        let mut r = room();
        for i in 0..5 {
            r.send("alice", "m", i).unwrap();
        }
        assert_eq!(r.read("bob", 3), Ok(Read::Moved(3)));
        assert_eq!(r.read("bob", 2), Ok(Read::Stayed(3)));
        assert_eq!(
            r.read("bob", 6),
            Err(ChatError::IdAfterLast { id: 6, last: 5 })
        );
        assert_eq!(r.read("zed", 1), Err(ChatError::NotMember));
        assert_eq!(r.unread("bob"), Some(2));
    }

    #[test]
    fn dedup_keys_live_in_the_room() {
        let mut r = room();
        r.dedup_record(b"k", 1, 100);
        assert_eq!(r.dedup_get(b"k", 50), Some(1));
        r.dedup_forget_expired(100);
        assert_eq!(r.dedup_get(b"k", 50), None);
        assert!(r.dedup.is_none());
    }

    #[test]
    fn a_room_survives_its_encoding() {
        let mut r = room();
        for i in 0..100 {
            r.send(if i % 3 == 0 { "bob" } else { "alice" }, "text", i)
                .unwrap();
        }
        r.delete(5, "alice").unwrap();
        r.dedup_record(b"k", 3, 1 << 40);
        r.leave("alice");
        r.join("zoe", 0);
        let bytes = crate::data::wire::encode(&r);
        let mut back: Room = crate::data::wire::decode_all(&bytes).unwrap();
        back.check().unwrap();
        assert_eq!(back, r);
        assert_eq!(back.cursor("zoe"), Some(100));
        assert_eq!(
            back.counts().collect::<Vec<_>>(),
            r.counts().collect::<Vec<_>>()
        );
        assert_eq!(back.dedup_get(b"k", 0), Some(3));
    }

    #[test]
    fn a_room_whose_messages_name_unknown_senders_is_refused() {
        let mut r = room();
        r.send("alice", "hi", 1).unwrap();
        if let Some(p) = r.people.get_mut(0) {
            p.sent = 0;
        }
        let mut back: Room = crate::data::wire::decode_all(&crate::data::wire::encode(&r)).unwrap();
        assert!(back.check().is_err());
    }
}
