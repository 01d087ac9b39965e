//! Each room's place in a listener: the largest id handed out, and the
//! epoch of those ids; catching up from the history, and resets.
//!
//! A server that lost acknowledged writes (a promoted replica, a lossy
//! restart) hands the lost ids out again, for other messages, and the
//! room's epoch changes (epochs.rs). So the listener reads the history with
//! the epoch of the ids it handed out (`AFTER <id> EPOCH <epoch>`), and
//! hands out a reset, the document that starts such a page or the event
//! the room's first send after the change publishes; it then forgets the
//! ids it handed out past the reset's `last_id`, or the messages after it
//! would be dropped as repeats.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::State;
use crate::error::Result;
use crate::history::Start;
use crate::reply;

impl State {
    /// The user's rooms, where each goes on from, and what the history
    /// holds after that.
    pub(super) async fn read_rooms(&mut self) -> Result<()> {
        // The epochs before the ids to go on from: an epoch that changes in
        // between then shows as a reset. Those of the rooms on CHAT.CHANNELS's
        // node came with it, just before; the others come from CHAT.INFO.
        let listed = self.chat.listed(&self.user).await?;
        let ask: Vec<String> = (listed.iter())
            .filter(|r| !self.epochs.contains_key(*r) && !self.options.epochs.contains_key(*r))
            .cloned()
            .collect();
        let mut epochs = self.chat.epochs_of(&ask).await?;
        let cursors = self.chat.memberships_of(&self.user, listed).await?.0;
        self.last.retain(|room, _| cursors.contains_key(room));
        self.epochs.retain(|room, _| cursors.contains_key(room));
        for (room, c) in &cursors {
            if !self.last.contains_key(room) {
                let start = match self.options.start.get(room) {
                    Some(&id) => id,
                    None if !self.started && self.options.from_latest => c.last_id,
                    None => c.cursor,
                };
                self.last.insert(room.clone(), start);
                // The app's epoch of its ids: a room made again since, or
                // whose ids were handed out again, starts with a reset.
                if let Some(epoch) = self.options.epochs.get(room) {
                    self.epochs.insert(room.clone(), epoch.clone());
                }
            }
            if let Some(epoch) = epochs.remove(room) {
                self.epochs.entry(room.clone()).or_insert(epoch);
            }
        }
        self.started = true;
        self.fill(self.last.clone()).await
    }

    /// Hands out what the history holds after each room's largest id, read
    /// in the epoch of that id. A gap (messages removed by retention) is
    /// handed out as an event, and the room goes on from the oldest message
    /// kept. A reset is handed out too, and the room's ids handed out are
    /// forgotten: its newest messages follow.
    pub(super) async fn fill(&mut self, after: BTreeMap<String, u64>) -> Result<()> {
        let starts = (after.into_iter())
            .map(|(room, after)| {
                let epoch = self.epochs.get(&room).cloned();
                (room, Start { after, epoch })
            })
            .collect();
        for (room, docs) in self.chat.catch_up(starts).await? {
            let mut reset_to = None;
            for doc in docs {
                if let Some((epoch, last_id)) = reply::reset_of(&doc) {
                    self.epochs.insert(room.clone(), epoch);
                    self.last.insert(room.clone(), 0);
                    reset_to = Some(last_id);
                    self.count(|s| s.resets += 1);
                    let _ = self.out.send(Ok(doc));
                    continue;
                }
                if reply::is_gap(&doc) {
                    let Some(end) = reply::gap_end(&doc) else {
                        continue;
                    };
                    if end > self.last.get(&room).copied().unwrap_or(0) {
                        self.last.insert(room.clone(), end);
                        self.count(|s| s.gaps += 1);
                        let _ = self.out.send(Ok(doc));
                    }
                    continue;
                }
                let Some(id) = reply::message_id(&doc) else {
                    continue;
                };
                if id > self.last.get(&room).copied().unwrap_or(0) {
                    self.last.insert(room.clone(), id);
                    self.count(|s| s.filled += 1);
                    self.emit_message(doc);
                }
            }
            // A reset page's newest messages end at the room's last id,
            // unless retention removed them: the room goes on from there.
            if let Some(last_id) = reset_to {
                let last = self.last.entry(room).or_insert(0);
                *last = (*last).max(last_id);
            }
        }
        self.count(|_| {});
        Ok(())
    }

    /// Whether a live reset event of `room` is to be handed out: not when
    /// a catch-up read the new epoch first, and handed out its reset
    /// document. Otherwise the ids handed out past the event's `last_id`
    /// are forgotten: the messages from `last_id + 1` come next.
    pub(super) fn reset(&mut self, room: &str, doc: &Json) -> bool {
        let Some((epoch, last_id)) = reply::reset_of(doc) else {
            return true;
        };
        if self.epochs.get(room) == Some(&epoch) {
            return false;
        }
        self.chat.epochs.reset(room, &epoch, last_id);
        if let Some(last) = self.last.get_mut(room) {
            // Short of it (not caught up yet), the history brings the rest,
            // read in the new epoch.
            *last = (*last).min(last_id);
            self.epochs.insert(room.to_string(), epoch);
        }
        self.count(|s| s.resets += 1);
        true
    }

    /// A live message: handed out if its id is past the largest handed out
    /// in its room, after the ones in between (from the history), so that
    /// each room's messages come in order.
    pub(super) async fn on_message(&mut self, room: String, id: u64, doc: Json) -> Result<()> {
        if !self.last.contains_key(&room) {
            let start = self.start_of(&room, id).await?;
            self.last.insert(room.clone(), start);
            let known = self.chat.known_epoch(&room).map(|e| e.epoch);
            if let Some(epoch) = self.options.epochs.get(&room).cloned().or(known) {
                self.epochs.entry(room.clone()).or_insert(epoch);
            }
        }
        let last = self.last.get(&room).copied().unwrap_or(0);
        if id <= last {
            return Ok(());
        }
        if id > last.saturating_add(1) {
            self.fill(BTreeMap::from([(room.clone(), last)])).await?;
        }
        if id > self.last.get(&room).copied().unwrap_or(0) {
            // Not in the history (trimmed meanwhile): the live copy is all
            // there is.
            self.chat.epochs.seen(&room, id);
            self.last.insert(room, id);
            self.emit_message(doc);
            self.count(|_| {});
        }
        Ok(())
    }

    /// A room dropped: its ids and epoch mean nothing any more.
    pub(super) fn forget_room(&mut self, room: &str) {
        self.last.remove(room);
        self.epochs.remove(room);
        self.chat.epochs.forget(room);
    }

    /// Where a room first seen live starts: the given start, else (with
    /// `from_latest`) just before this message, else the user's read
    /// cursor, else (not a member any more) just before this message, which
    /// was addressed to the user all the same.
    async fn start_of(&self, room: &str, id: u64) -> Result<u64> {
        if let Some(&start) = self.options.start.get(room) {
            return Ok(start);
        }
        if self.options.from_latest {
            return Ok(id.saturating_sub(1));
        }
        Ok(match self.chat.cursor(room, &self.user).await? {
            Some(c) => c.cursor.min(id.saturating_sub(1)),
            None => id.saturating_sub(1),
        })
    }
}
