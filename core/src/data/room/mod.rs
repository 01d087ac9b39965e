//! A room as one value: title, people, messages and recent DEDUP keys.
//!
//! Every rule about a room that does not need Redis lives here: who may
//! send, edit and read, which id a message gets, what a page of history
//! holds, how a read cursor moves. The module stores a `Room` as the value
//! of the key named by the room id (type `chat-room`).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::dedup::Dedup;
use super::epoch::Epoch;
use super::extra::Extra;
use super::label::Label;
use super::log::{Log, LogV1, OwnedStored, Stored};
use super::people::People;
use super::rules::Rules;
use super::talk::Talk;

mod conversation;
mod moderation;
use crate::event::RoomMode;
use crate::message::Message;
use crate::request::Cursor;
use crate::ChatError;
pub use conversation::{Gap, ThreadPage};

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
    /// Last, as encoding version 5 added it.
    epoch: Epoch,
}

/// What a room holds besides its people and messages, in one allocation
/// so that the room struct stays in its allocator size class.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Besides {
    /// Recent DEDUP keys.
    dedup: Dedup,
    /// Threads, reactions, pins and unread mentions.
    talk: Talk,
    /// Roles, privacy, invitations, bans, mutes and slow mode; `None` in
    /// a room nobody moderates.
    rules: Option<Box<Rules>>,
}

impl Besides {
    fn is_empty(&self) -> bool {
        self.dedup.is_empty() && self.talk.is_empty() && self.rules.is_none()
    }
}

/// A room as encoding versions 3 and 4 wrote it: without an epoch. It
/// reads as a room whose epoch is none yet, vouched by no generation, so
/// its first send draws one.
#[derive(Deserialize)]
pub(super) struct RoomV4 {
    title: Label,
    created: i64,
    people: People,
    log: Log,
    besides: Option<Box<Besides>>,
}

impl From<RoomV4> for Room {
    fn from(v4: RoomV4) -> Room {
        Room {
            title: v4.title,
            created: v4.created,
            people: v4.people,
            log: v4.log,
            besides: v4.besides,
            epoch: Epoch::default(),
        }
    }
}

/// A room as encoding version 2 wrote it: without `rules`.
#[derive(Deserialize)]
pub(super) struct RoomV2 {
    title: Label,
    created: i64,
    people: People,
    log: Log,
    besides: Option<Box<BesidesV2>>,
}

#[derive(Deserialize)]
struct BesidesV2 {
    dedup: Dedup,
    talk: Talk,
}

impl From<RoomV2> for Room {
    fn from(v2: RoomV2) -> Room {
        Room {
            title: v2.title,
            created: v2.created,
            people: v2.people,
            log: v2.log,
            besides: v2.besides.map(|b| {
                Box::new(Besides {
                    dedup: b.dedup,
                    talk: b.talk,
                    rules: None,
                })
            }),
            epoch: Epoch::default(),
        }
    }
}

/// A room as the first encoding wrote it: without `talk`.
#[derive(Deserialize)]
pub(super) struct RoomV1 {
    title: Label,
    created: i64,
    people: People,
    log: LogV1,
    dedup: Option<Box<Dedup>>,
}

impl TryFrom<RoomV1> for Room {
    type Error = String;

    fn try_from(v1: RoomV1) -> Result<Room, String> {
        Ok(Room {
            title: v1.title,
            created: v1.created,
            people: v1.people,
            log: v1.log.into_log()?,
            besides: v1.dedup.map(|dedup| {
                Box::new(Besides {
                    dedup: *dedup,
                    talk: Talk::default(),
                    rules: None,
                })
            }),
            epoch: Epoch::default(),
        })
    }
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
            epoch: Epoch::default(),
        }
    }

    /// The room's epoch (see `data::epoch`).
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// Whether a client that holds ids of epoch `held` (if it says), up
    /// to `after` (if it says), must reload instead: its epoch is another,
    /// or it names an id the room never reached, which only ids lost on
    /// the way here can be.
    pub fn needs_reset(&self, held: Option<&str>, after: Option<u64>) -> bool {
        held.is_some_and(|e| !self.epoch.is(e)) || after.is_some_and(|id| id > self.last_id())
    }

    /// A room that arrived by a cluster migration: one its sender saved
    /// with a generation had its epoch vouched for when it left, with
    /// every id it acknowledged, so this server's `generation` vouches for
    /// it from now on; one saved without keeps none.
    pub fn adopt(&mut self, generation: u64) {
        if self.epoch.generation != 0 {
            self.epoch.generation = generation;
        }
    }

    /// Makes the room's epoch vouched for by no generation, so that its
    /// next send gives it a new one: for a room that arrived as a copy
    /// (`RESTORE` of an older `DUMP`, `COPY`), whose ids after the copy was
    /// made may have been handed out already under the same epoch.
    pub fn unvouch(&mut self) {
        self.epoch.generation = 0;
    }

    /// Gives the room an epoch: a new one the primary drew, or the one it
    /// propagated.
    pub fn set_epoch(&mut self, epoch: Epoch) {
        self.epoch = epoch;
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
        if !self.people.join(user, cursor) {
            return false;
        }
        if self.rules().is_some() {
            self.change_rules(|r| r.joined(user));
        }
        true
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
        if self.rules().is_some() {
            self.change_rules(|r| r.left(user));
        }
        true
    }

    /// The place of a member, or `NotMember`.
    pub(super) fn member_place(&self, user: &str) -> Result<u32, ChatError> {
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
        self.append_message(sender, text, extra, &extra.encode(), ts)
    }

    /// `send_message` for a caller that has run `check_send` already and
    /// holds the extra's encoding (CHAT.SEND, which copies it to inboxes).
    pub fn append_message(
        &mut self,
        sender: &str,
        text: &str,
        extra: &Extra,
        encoded: &[u8],
        ts: i64,
    ) -> Result<u64, ChatError> {
        let place = self.member_place(sender)?;
        let id = self.log.append(&Stored {
            ts,
            sender: place,
            edited: None,
            deleted: false,
            text,
            extra: encoded,
        });
        if let Some(person) = self.people.get_mut(place) {
            person.sent += 1;
            person.cursor = Some(id);
        }
        if self.slowmode() > 0 {
            self.change_rules(|r| r.sent(place, ts));
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

    pub(super) fn change_talk<T>(&mut self, change: impl FnOnce(&mut Talk) -> T) -> T {
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
            deleted_by: self.rules().and_then(|r| r.deleted_by(id)),
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

    /// Deletes message `id`, leaving its tombstone (id, sender, time): its
    /// author may, and in a room with an owner its owners and admins, who
    /// are recorded as who deleted it.
    pub fn delete(&mut self, id: u64, actor: &str) -> Result<(), ChatError> {
        match self.check_author(id, actor) {
            Err(ChatError::NotAuthor) if self.moderates_messages(actor) => {
                self.change_rules(|r| r.record_deleted_by(id, actor));
            }
            checked => checked?,
        }
        self.log.modify(id, |m: &mut OwnedStored| {
            m.text = String::new();
            m.edited = None;
            m.deleted = true;
            m.extra = Extra::without_mentions(&m.extra);
        });
        if self.talk().is_some() {
            let reacted = self.change_talk(|t| t.deleted(id));
            self.free_places(reacted);
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
        let first = self.first_id().unwrap_or(self.last_id() + 1);
        if removed > 0 && self.talk().is_some() {
            let reacted = self.change_talk(|t| t.trimmed_below(first));
            self.free_places(reacted);
        }
        if removed > 0
            && self
                .rules()
                .is_some_and(|r| r.all_deleted_by().next().is_some())
        {
            self.change_rules(|r| r.trimmed_below(first));
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
                    + b.rules.as_ref().map_or(0, |r| {
                        alloc_size(std::mem::size_of::<Rules>()) + r.heap_bytes()
                    })
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
        if let Some(besides) = &self.besides {
            if besides.is_empty() {
                return Err("an empty part of a room is kept".into());
            }
        }
        self.check_conversation()?;
        self.check_rules()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
