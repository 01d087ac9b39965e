//! Conversations: threads, reactions, pins, mentions, and the inbox.
//!
//! Each of these is one command of the module on the slot of its first
//! argument (a room, or for [`Chat::mentions`], [`Chat::fetch`] and
//! [`Chat::ack`] a user), so it needs nothing special in a cluster;
//! `mentions` is the exception, and reads each room's cursor when the
//! user's rooms are in other slots. Replies and mentions are sent with
//! [`Chat::send_with`].
//!
//! Documents may be gaps (`"type": "gap"`) rather than messages:
//! [`Chat::thread`] starts with `{"type": "gap", "room", "after",
//! "before"}` when retention removed the root, and [`Chat::fetch`] with
//! `{"type": "gap", "dropped", "delivery"}` when the inbox dropped copies
//! past `chat.inbox-max` (acknowledging its `delivery` clears it).

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::chat::Chat;
use crate::error::Result;
use crate::reply;

impl Chat {
    // -- threads -------------------------------------------------------------

    /// The thread of message `id` (`CHAT.THREAD`): the root's document,
    /// then its replies, ascending. With `after`, only the replies after
    /// that id, without the root (the next page: the last reply's id).
    /// `count`: replies per call, 1 to 1000 (None: the module's 50). A
    /// root removed by retention is replaced by a gap document. An `after`
    /// beyond the room's last id (its ids were handed out again: see
    /// [`thread_in_epoch`](Self::thread_in_epoch)) gives a reset document
    /// first, then the root and its first replies.
    pub async fn thread(
        &self,
        room: &str,
        id: u64,
        after: Option<u64>,
        count: Option<usize>,
    ) -> Result<Vec<Json>> {
        self.thread_page(room, id, after, count, None).await
    }

    /// `CHAT.THREAD`, with `EPOCH <epoch>` when given; what the reply says
    /// of the room's epoch is kept.
    pub(crate) async fn thread_page(
        &self,
        room: &str,
        id: u64,
        after: Option<u64>,
        count: Option<usize>,
        epoch: Option<&str>,
    ) -> Result<Vec<Json>> {
        let mut c = redis::cmd("CHAT.THREAD");
        c.arg(room).arg(id);
        if let Some(after) = after {
            c.arg("AFTER").arg(after);
        }
        if let Some(count) = count {
            c.arg("COUNT").arg(count);
        }
        self.page_in_epoch(c, room, epoch).await
    }

    // -- reactions -----------------------------------------------------------

    /// Adds `user`'s `reaction` (1 to 32 bytes, no spaces) to message `id`
    /// (`CHAT.REACT`); false when they had it already. Retried like any
    /// idempotent step: after a lost reply, the retry finds the reaction
    /// and answers false, though this call added it.
    pub async fn react(&self, room: &str, user: &str, id: u64, reaction: &str) -> Result<bool> {
        self.reaction_step("CHAT.REACT", room, user, id, reaction)
            .await
    }

    /// Takes back `user`'s `reaction` to message `id` (`CHAT.UNREACT`);
    /// false when there was none (or, after a lost reply, the first
    /// attempt took it).
    pub async fn unreact(&self, room: &str, user: &str, id: u64, reaction: &str) -> Result<bool> {
        self.reaction_step("CHAT.UNREACT", room, user, id, reaction)
            .await
    }

    async fn reaction_step(
        &self,
        command: &str,
        room: &str,
        user: &str,
        id: u64,
        reaction: &str,
    ) -> Result<bool> {
        let mut c = redis::cmd(command);
        c.arg(room).arg(user).arg(id).arg(reaction);
        Ok(reply::int(self.query(&c).await?)? == 1)
    }

    /// Who reacted to message `id` with what (`CHAT.REACTIONS`): reaction
    /// -> user ids, ascending; empty when nobody did.
    pub async fn reactions(&self, room: &str, id: u64) -> Result<BTreeMap<String, Vec<String>>> {
        let v = self
            .query(redis::cmd("CHAT.REACTIONS").arg(room).arg(id))
            .await?;
        reply::map(v)?
            .into_iter()
            .map(|(reaction, users)| Ok((reaction, reply::strings(users)?)))
            .collect()
    }

    // -- pins ----------------------------------------------------------------

    /// Pins message `id` (`CHAT.PIN`; 50 pins per room). Any member may,
    /// except in a room with an owner: there owners and admins only
    /// (`NOPERM`, [`Refusal::NoPermission`](crate::Refusal::NoPermission)
    /// otherwise), for [`unpin`](Self::unpin) too.
    pub async fn pin(&self, room: &str, user: &str, id: u64) -> Result<()> {
        self.query(redis::cmd("CHAT.PIN").arg(room).arg(user).arg(id))
            .await
            .map(drop)
    }

    /// Unpins message `id` (`CHAT.UNPIN`).
    pub async fn unpin(&self, room: &str, user: &str, id: u64) -> Result<()> {
        self.query(redis::cmd("CHAT.UNPIN").arg(room).arg(user).arg(id))
            .await
            .map(drop)
    }

    /// The documents of `room`'s pinned messages, most recently pinned
    /// first (`CHAT.PINS`).
    pub async fn pins(&self, room: &str) -> Result<Vec<Json>> {
        reply::documents(self.query(redis::cmd("CHAT.PINS").arg(room)).await?)
    }

    // -- mentions ------------------------------------------------------------

    /// The rooms where messages after `user`'s read cursor mention them,
    /// and how many; reading past them clears them.
    ///
    /// `CHAT.MENTIONS user` on one server, or in a cluster when all of the
    /// user's rooms share the user's slot; when it answers `CROSSSLOT` (rooms
    /// in other slots), the `mentions` of each room's `CHAT.CURSOR`.
    pub async fn mentions(&self, user: &str) -> Result<BTreeMap<String, u64>> {
        let counts = match self.query(redis::cmd("CHAT.MENTIONS").arg(user)).await {
            Ok(v) => reply::map(v)?
                .into_iter()
                .map(|(room, n)| Ok((room, reply::count(n)?)))
                .collect::<Result<BTreeMap<String, u64>>>()?,
            Err(e) if e.has_code("CROSSSLOT") => self
                .cursors(user)
                .await?
                .into_iter()
                .map(|(room, c)| (room, c.mentions))
                .collect(),
            Err(e) => return Err(e),
        };
        Ok(counts.into_iter().filter(|&(_, n)| n > 0).collect())
    }

    // -- the inbox -----------------------------------------------------------

    /// `user`'s inbox, oldest first (`CHAT.FETCH`, at most `count`, 1 to
    /// 1000; None: the module's 100). Nothing is removed until
    /// [`ack`](Self::ack). Each document has a `delivery`; the first may be
    /// an inbox gap (`"type": "gap"`, `dropped`: copies lost past
    /// `chat.inbox-max`; the rooms' histories still hold those messages).
    pub async fn fetch(&self, user: &str, count: Option<usize>) -> Result<Vec<Json>> {
        let mut c = redis::cmd("CHAT.FETCH");
        c.arg(user);
        if let Some(count) = count {
            c.arg("COUNT").arg(count);
        }
        reply::documents(self.query(&c).await?)
    }

    /// Removes `user`'s inbox entries up to `delivery` (`CHAT.ACK`; an
    /// inbox gap's delivery clears the gap), and returns how many went.
    pub async fn ack(&self, user: &str, delivery: &str) -> Result<u64> {
        reply::count(
            self.query(redis::cmd("CHAT.ACK").arg(user).arg(delivery))
                .await?,
        )
    }
}
