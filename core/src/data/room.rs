//! A room as one value: title, people, messages and recent DEDUP keys.
//!
//! Every rule about a room that does not need Redis lives here: who may
//! send, edit and read, which id a message gets, what a page of history
//! holds, how a read cursor moves. The module stores a `Room` as the value
//! of the key named by the room id (type `chat-room`).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::dedup::Dedup;
use super::extra::Extra;
use super::label::Label;
use super::log::{Log, OwnedStored, Stored};
use super::people::People;
use super::talk::{Full, Talk};
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
    /// `None` while there is nothing besides: most rooms.
    besides: Option<Box<Besides>>,
}

/// What a room holds besides its people and messages, in one allocation
/// so that the room struct stays in its allocator size class.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Besides {
    /// Recent DEDUP keys.
    dedup: Dedup,
    /// Threads, reactions, pins and unread mentions.
    talk: Talk,
}

impl Besides {
    fn is_empty(&self) -> bool {
        self.dedup.is_empty() && self.talk.is_empty()
    }
}

/// A room as the first encoding wrote it: without `talk`.
#[derive(Deserialize)]
pub(super) struct RoomV1 {
    title: Label,
    created: i64,
    people: People,
    log: Log,
    dedup: Option<Box<Dedup>>,
}

impl From<RoomV1> for Room {
    fn from(v1: RoomV1) -> Room {
        Room {
            title: v1.title,
            created: v1.created,
            people: v1.people,
            log: v1.log,
            besides: v1.dedup.map(|dedup| {
                Box::new(Besides {
                    dedup: *dedup,
                    talk: Talk::default(),
                })
            }),
        }
    }
}

/// Ids retention removed: every id after `after` and before `before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    pub after: u64,
    pub before: u64,
}

/// What a page of a thread holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadPage {
    /// Replies retention removed, when the root itself is gone.
    pub gap: Option<Gap>,
    /// Whether the root's document comes first.
    pub root: bool,
    pub replies: Vec<u64>,
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
            besides: None,
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

    /// False if `user` was not a member. Their unread mentions go; their
    /// place in the table stays while a reaction names it.
    pub fn leave(&mut self, user: &str) -> bool {
        let place = self.people.find(user);
        let talk = self.besides.as_deref().map(|b| &b.talk);
        if !self
            .people
            .leave(user, |p| talk.is_some_and(|t| t.names(p)))
        {
            return false;
        }
        if let Some(place) = place {
            self.change_talk(|t| t.left(place));
        }
        true
    }

    /// The place of a member, or `NotMember`.
    fn member_place(&self, user: &str) -> Result<u32, ChatError> {
        self.people
            .find(user)
            .filter(|&p| self.people.get(p).is_some_and(|p| p.cursor.is_some()))
            .ok_or(ChatError::NotMember)
    }

    /// Checks what a message from `sender` would carry: the message it
    /// answers is in the history and not deleted, and everyone it mentions
    /// is a member. Nothing changes.
    pub fn check_send(&self, sender: &str, extra: &Extra) -> Result<(), ChatError> {
        self.member_place(sender)?;
        if let Some(root) = extra.reply_to {
            self.live_message(root)?;
        }
        if let Some(user) = extra.mentions.iter().find(|u| !self.is_member(u)) {
            return Err(ChatError::MentionNotMember(user.to_string()));
        }
        Ok(())
    }

    /// Stores a plain message from `sender` (who must be a member) and
    /// returns its id.
    pub fn send(&mut self, sender: &str, text: &str, ts: i64) -> Result<u64, ChatError> {
        self.send_message(sender, text, &Extra::default(), ts)
    }

    /// Stores a message from `sender` (who must be a member) with its reply
    /// and mentions (see `check_send`) and returns its id. The sender has
    /// read what they answer: their cursor moves to it.
    pub fn send_message(
        &mut self,
        sender: &str,
        text: &str,
        extra: &Extra,
        ts: i64,
    ) -> Result<u64, ChatError> {
        self.check_send(sender, extra)?;
        let place = self.member_place(sender)?;
        let id = self.log.append(&Stored {
            ts,
            sender: place,
            edited: None,
            deleted: false,
            text,
            extra: &extra.encode(),
        });
        if let Some(person) = self.people.get_mut(place) {
            person.sent += 1;
            person.cursor = Some(id);
        }
        // The sender read past their own mentions too.
        if !extra.is_empty() || self.talk().is_some() {
            let people = &self.people;
            let mentioned: Vec<u32> = extra
                .mentions
                .iter()
                .filter_map(|u| people.find(u))
                .collect();
            self.change_talk(|t| {
                if let Some(root) = extra.reply_to {
                    t.add_reply(root, id);
                }
                t.add_mentions(mentioned.into_iter(), id);
                t.read(place, id);
            });
        }
        Ok(id)
    }

    /// Changes what the room holds besides people and messages, made when
    /// first needed and let go once empty.
    fn change_besides<T>(&mut self, change: impl FnOnce(&mut Besides) -> T) -> T {
        let besides = self.besides.get_or_insert_with(Default::default);
        let result = change(besides);
        if besides.is_empty() {
            self.besides = None;
        }
        result
    }

    fn change_talk<T>(&mut self, change: impl FnOnce(&mut Talk) -> T) -> T {
        self.change_besides(|b| change(&mut b.talk))
    }

    /// Threads, reactions, pins and unread mentions, if there are any.
    pub fn talk(&self) -> Option<&Talk> {
        self.besides
            .as_deref()
            .map(|b| &b.talk)
            .filter(|t| !t.is_empty())
    }

    /// Message `id` as its document, if it is in the history.
    pub fn message<'a>(&'a self, room_id: &'a str, id: u64) -> Option<Message<'a>> {
        self.log.get(id).map(|m| self.document(room_id, id, &m))
    }

    /// The document of a stored message, with its thread and reactions.
    pub fn document<'a>(&'a self, room_id: &'a str, id: u64, m: &Stored<'a>) -> Message<'a> {
        let talk = self.talk();
        Message {
            room: Cow::Borrowed(room_id),
            id,
            sender: Cow::Borrowed(self.people.id(m.sender)),
            text: Cow::Borrowed(m.text),
            ts: m.ts,
            edited: m.edited,
            deleted: m.deleted,
            extra: Extra::decode(m.extra),
            replies: talk.and_then(|t| t.replies(id)),
            reactions: talk
                .map(|t| {
                    t.reactions(id)
                        .map(|(r, by)| (r, by.len() as u64))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Message `id`, which must be kept and not deleted.
    fn live_message(&self, id: u64) -> Result<Stored<'_>, ChatError> {
        match self.log.get(id) {
            Some(m) if m.deleted => Err(ChatError::Deleted(id)),
            Some(m) => Ok(m),
            None => Err(ChatError::NoSuchMessage(id)),
        }
    }

    /// The replies of thread `root` after `after` (from its start when
    /// `None`, with the root first), at most `count`. If retention removed
    /// the root, the page starts with the gap instead.
    pub fn thread(
        &self,
        root: u64,
        after: Option<u64>,
        count: usize,
    ) -> Result<ThreadPage, ChatError> {
        if root == 0 || root > self.last_id() {
            return Err(ChatError::NoSuchMessage(root));
        }
        let from = after.unwrap_or(root).max(root);
        let replies = self
            .talk()
            .map(|t| t.thread_after(root, from))
            .unwrap_or_default();
        let kept = self.log.get(root).is_some();
        // Without AFTER the client holds nothing of the thread, not even
        // its root, which retention removed too.
        let held = after.unwrap_or(0).max(root - 1);
        let gap = if kept { None } else { self.gap_after(held) };
        Ok(ThreadPage {
            gap,
            root: kept && after.is_none(),
            replies: replies.iter().copied().take(count).collect(),
        })
    }

    /// The ids retention removed after `after`, if it removed any that a
    /// client holding `after` has not seen.
    pub fn gap_after(&self, after: u64) -> Option<Gap> {
        let before = self.first_id().unwrap_or(self.last_id() + 1);
        (after < self.last_id() && after + 1 < before).then_some(Gap { after, before })
    }

    /// Adds `user`'s `reaction` to message `id`; false if they had given it.
    pub fn react(&mut self, id: u64, user: &str, reaction: &str) -> Result<bool, ChatError> {
        let place = self.member_place(user)?;
        self.live_message(id)?;
        self.change_talk(|t| t.react(id, place, reaction))
            .map_err(|_| ChatError::TooManyReactions(id))
    }

    /// Takes `user`'s `reaction` off message `id`; false if it was not there.
    pub fn unreact(&mut self, id: u64, user: &str, reaction: &str) -> Result<bool, ChatError> {
        let place = self.member_place(user)?;
        if id == 0 || id > self.last_id() {
            return Err(ChatError::NoSuchMessage(id));
        }
        Ok(self.change_talk(|t| t.unreact(id, place, reaction)))
    }

    /// Each reaction to message `id` with the users who gave it, ascending.
    pub fn reactions(&self, id: u64) -> Result<Vec<(&str, Vec<&str>)>, ChatError> {
        self.log.get(id).ok_or(ChatError::NoSuchMessage(id))?;
        let Some(talk) = self.talk() else {
            return Ok(Vec::new());
        };
        Ok(talk
            .reactions(id)
            .map(|(reaction, by)| {
                let mut users: Vec<&str> = by.iter().map(|&p| self.people.id(p)).collect();
                users.sort_unstable();
                (reaction, users)
            })
            .collect())
    }

    /// Pins message `id` (by a member); false if it was pinned already.
    pub fn pin(&mut self, id: u64, user: &str) -> Result<bool, ChatError> {
        self.member_place(user)?;
        self.live_message(id)?;
        self.change_talk(|t| t.pin(id))
            .map_err(|_: Full| ChatError::TooManyPins)
    }

    /// Unpins message `id` (by a member); false if it was not pinned.
    pub fn unpin(&mut self, id: u64, user: &str) -> Result<bool, ChatError> {
        self.member_place(user)?;
        if id == 0 || id > self.last_id() {
            return Err(ChatError::NoSuchMessage(id));
        }
        Ok(self.change_talk(|t| t.unpin(id)))
    }

    /// Pinned message ids, the most recently pinned first.
    pub fn pins(&self) -> impl Iterator<Item = u64> + '_ {
        self.talk().into_iter().flat_map(|t| t.pins())
    }

    /// How many messages after `user`'s read cursor mention them; `None`
    /// for a non-member.
    pub fn unread_mentions(&self, user: &str) -> Option<u64> {
        let place = self.member_place(user).ok()?;
        Some(self.talk().map_or(0, |t| t.unread_mentions(place)))
    }

    /// Members this message mentions, as stored.
    pub fn mentions_of(&self, id: u64) -> Vec<&str> {
        self.log
            .get(id)
            .map(|m| Extra::decode(m.extra).mentions)
            .unwrap_or_default()
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
            m.extra = Extra::without_mentions(&m.extra);
        });
        if self.talk().is_some() {
            self.change_talk(|t| t.deleted(id));
        }
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
        if self.talk().is_some() {
            self.change_talk(|t| t.read(place, id));
        }
        Ok(Read::Moved(id))
    }

    /// How many messages `user` has not read; `None` for a non-member.
    pub fn unread(&self, user: &str) -> Option<u64> {
        self.cursor(user)
            .map(|cursor| self.last_id().saturating_sub(cursor))
    }

    /// The id a send with DEDUP `key` got, if it is remembered at `now`.
    pub fn dedup_get(&self, key: &[u8], now: i64) -> Option<u64> {
        self.besides.as_ref().and_then(|b| b.dedup.get(key, now))
    }

    pub fn dedup_record(&mut self, key: &[u8], id: u64, until: i64) {
        self.change_besides(|b| b.dedup.record(key, id, until));
    }

    /// Forgets DEDUP keys whose window ended by `now`.
    pub fn dedup_forget_expired(&mut self, now: i64) {
        if self.besides.as_ref().is_some_and(|b| !b.dedup.is_empty()) {
            self.change_besides(|b| b.dedup.forget_expired(now));
        }
    }

    pub fn dedup_entries(&self) -> impl Iterator<Item = (&[u8], u64, i64)> {
        self.besides.iter().flat_map(|b| b.dedup.entries())
    }

    /// Drops whole chunks of the oldest messages while at least `keep`
    /// stay (`chat.history-max`). Returns how many went.
    pub fn trim_keeping(&mut self, keep: u64) -> u64 {
        let removed = self.log.trim_keeping(keep);
        self.after_trim(removed)
    }

    /// Drops every message below id `first`. Returns how many went.
    pub fn trim_below(&mut self, first: u64) -> u64 {
        let removed = self.log.trim_below(first);
        self.after_trim(removed)
    }

    /// What the removed messages held in the conversation goes with them.
    fn after_trim(&mut self, removed: u64) -> u64 {
        if removed > 0 && self.talk().is_some() {
            let first = self.first_id().unwrap_or(self.last_id() + 1);
            self.change_talk(|t| t.trimmed_below(first));
        }
        removed
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
            + self.besides.as_ref().map_or(0, |b| {
                alloc_size(std::mem::size_of::<Besides>())
                    + b.dedup.heap_bytes()
                    + b.talk.heap_bytes()
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
        let replies_to_earlier = |id: u64, extra: &[u8]| {
            Extra::check(extra)
                && Extra::decode(extra)
                    .reply_to
                    .is_none_or(|r| r > 0 && r < id)
        };
        if !self
            .log
            .iter()
            .all(|(id, m)| replies_to_earlier(id, m.extra))
        {
            return Err("a message's reply or mentions do not decode".into());
        }
        if let Some(besides) = &self.besides {
            if besides.is_empty() {
                return Err("an empty part of a room is kept".into());
            }
            let taken = |p| !self.people.id(p).is_empty();
            besides.talk.check(self.last_id(), taken)?;
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
        assert!(r.besides.is_none());
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
