//! A room's conversation: threads, reactions, pins, unread mentions, and
//! what a catch-up cannot bring back. The state lives in `Talk`; the
//! rules that need the room's people and messages live here.

use std::collections::BTreeMap;

use super::Room;
use crate::data::extra::Extra;
use crate::data::talk::Full;
use crate::ChatError;

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

impl Room {
    /// Message `id` must be kept and not deleted (known without decoding
    /// its chunk).
    pub(super) fn live_message(&self, id: u64) -> Result<(), ChatError> {
        if self.log.is_live(id) {
            Ok(())
        } else if self.log.first_id().is_some_and(|first| id >= first) && id <= self.last_id() {
            Err(ChatError::Deleted(id))
        } else {
            Err(ChatError::NoSuchMessage(id))
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
        if !self.log.is_kept(id) {
            return Err(ChatError::NoSuchMessage(id));
        }
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

    /// Frees the places of people who left the room and whose reactions,
    /// which kept their places, are all gone now.
    pub(super) fn free_places(&mut self, mut places: Vec<u32>) {
        places.sort_unstable();
        places.dedup();
        // Members and senders keep their places anyway: only someone who
        // left without sending is looked for among the other reactions.
        let left = |p: u32| {
            self.people
                .get(p)
                .is_some_and(|p| !p.id.is_empty() && p.cursor.is_none() && p.sent == 0)
        };
        places.retain(|&p| left(p));
        for place in places {
            if !self.talk().is_some_and(|t| t.names(place)) {
                self.people.free_if_unused(place);
            }
        }
    }

    /// Checks a decoded room's conversation against its messages and
    /// people: each message's reply and mentions decode, threads list
    /// exactly the replies kept, a tombstone mentions nobody, and each
    /// unread mention is of a live message after the member's cursor that
    /// names them.
    pub(super) fn check_conversation(&self) -> Result<(), String> {
        let mut threads: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        let mut mentions: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
        for (id, m) in self.log.iter().filter(|(_, m)| !m.extra.is_empty()) {
            if !Extra::check(m.extra) {
                return Err("a message's reply or mentions do not decode".into());
            }
            let extra = Extra::decode(m.extra);
            if let Some(root) = extra.reply_to {
                if root == 0 || root >= id {
                    return Err("a message replies to one sent after it".into());
                }
                threads.entry(root).or_default().push(id);
            }
            if !extra.mentions.is_empty() {
                if m.deleted {
                    return Err("a deleted message still mentions someone".into());
                }
                mentions.insert(id, extra.mentions);
            }
        }
        let Some(talk) = self.talk() else {
            return match threads.is_empty() {
                true => Ok(()),
                false => Err("a thread's replies are not listed".into()),
            };
        };
        let live = |id| self.log.is_live(id);
        talk.check(self.last_id(), live, |p| !self.people.id(p).is_empty())?;
        if !talk
            .threads()
            .eq(threads.iter().map(|(&root, ids)| (root, &ids[..])))
        {
            return Err("a thread's replies are not the messages that answer it".into());
        }
        for (place, ids) in talk.all_unread_mentions() {
            let person = self.people.get(place);
            let Some(cursor) = person.and_then(|p| p.cursor) else {
                return Err("mentions are kept for someone who is not a member".into());
            };
            let id = self.people.id(place);
            let names = |m: u64| mentions.get(&m).is_some_and(|names| names.contains(&id));
            if !ids.iter().all(|&m| m > cursor && names(m)) {
                return Err("a member's unread mentions are not messages that name them".into());
            }
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

    fn with(mentions: &[&'static str], reply_to: Option<u64>) -> Extra<'static> {
        Extra {
            reply_to,
            mentions: mentions.to_vec(),
        }
    }

    #[test]
    fn decoding_refuses_a_conversation_its_messages_contradict() {
        let mut r = room();
        r.send("alice", "root", 1).unwrap();
        r.send_message("bob", "@alice", &with(&["alice"], Some(1)), 2)
            .unwrap();
        r.react(1, "bob", "ok").unwrap();
        r.pin(1, "bob").unwrap();
        let encode = |r: &Room| crate::data::wire::encode(r);
        let decodes =
            |bytes: &[u8]| crate::data::wire::decode_all::<Room>(bytes).map(|mut r| r.check());
        assert_eq!(decodes(&encode(&r)), Ok(Ok(())));
        // A thread that lists a message that does not answer it.
        let mut wrong = r.clone();
        wrong.change_talk(|t| t.add_reply(1, 1));
        assert!(matches!(decodes(&encode(&wrong)), Ok(Err(_))));
        // An unread mention of someone the message does not name.
        let mut wrong = r.clone();
        let bob = wrong.people.find("bob").unwrap();
        wrong.change_talk(|t| t.add_mentions([bob].into_iter(), 2));
        assert!(matches!(decodes(&encode(&wrong)), Ok(Err(_))));
        // A pin of a deleted message.
        let mut wrong = r.clone();
        wrong.send("alice", "x", 3).unwrap();
        wrong.change_talk(|t| t.pin(3)).unwrap();
        wrong.log.modify(3, |m| m.deleted = true);
        assert!(matches!(decodes(&encode(&wrong)), Ok(Err(_))));
    }

    #[test]
    fn a_place_kept_for_a_reaction_is_freed_when_the_reaction_goes() {
        let mut r = room();
        r.send("alice", "hi", 1).unwrap();
        r.join("zed", 0);
        r.react(1, "zed", "ok").unwrap();
        assert!(r.leave("zed"));
        // Zed's reaction keeps his place, and a newcomer does not take it.
        let zed = r.people.find("zed").unwrap();
        r.join("amy", 0);
        assert_ne!(r.people.find("amy"), Some(zed));
        assert_eq!(r.reactions(1).unwrap(), [("ok", vec!["zed"])]);
        // Once retention took the message, the place is free again.
        for i in 0..200 {
            r.send("alice", "m", i).unwrap();
        }
        r.trim_keeping(10);
        assert_eq!(r.people.find("zed"), None);
        r.check().unwrap();
    }
}
