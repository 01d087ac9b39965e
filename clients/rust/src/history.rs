//! Reading rooms' histories: one page ([`Chat::history`]), or everything
//! after an id, page by page ([`Chat::missed`], the listener's catch-up).
//!
//! A read that goes on from an id sends the epoch of that id with it when
//! one is known (epochs.rs): a room whose ids were handed out again since
//! then answers with a reset document first, then its newest messages,
//! instead of messages that are not the ones after the id the caller holds.

use std::collections::BTreeMap;

use futures_util::future::join_all;
use serde_json::Value as Json;

use crate::chat::Chat;
use crate::error::{Error, Result};
use crate::reply;

/// CHAT.HISTORY's largest page.
pub(crate) const PAGE: u64 = 1000;

/// Where a read of a room goes on from: after `after`, an id of `epoch`
/// (None: not known).
#[derive(Clone, Debug)]
pub(crate) struct Start {
    pub after: u64,
    pub epoch: Option<String>,
}

impl Chat {
    /// Messages of `room`, ascending by id (`CHAT.HISTORY`): the `count`
    /// (1 to 1000) after `after`, or before `before`, or the newest. With
    /// `after`, where retention removed messages after that id, the first
    /// document is a gap: `{"type": "gap", "room", "after", "before"}`
    /// (`before` is the oldest id kept); where `after` is beyond the room's
    /// last id (its ids were handed out again: see
    /// [`history_in_epoch`](Self::history_in_epoch)), a reset document,
    /// then the newest messages.
    pub async fn history(
        &self,
        room: &str,
        after: Option<u64>,
        before: Option<u64>,
        count: usize,
    ) -> Result<Vec<Json>> {
        self.history_page(room, after, before, count, None).await
    }

    /// `CHAT.HISTORY`, with `EPOCH <epoch>` when given; what the page says
    /// of the room's epoch is kept.
    pub(crate) async fn history_page(
        &self,
        room: &str,
        after: Option<u64>,
        before: Option<u64>,
        count: usize,
        epoch: Option<&str>,
    ) -> Result<Vec<Json>> {
        let mut c = redis::cmd("CHAT.HISTORY");
        c.arg(room);
        match (after, before) {
            (Some(_), Some(_)) => {
                return Err(Error::Usage(
                    "history takes after or before, not both".into(),
                ))
            }
            (Some(id), None) => {
                c.arg("AFTER").arg(id);
            }
            (None, Some(id)) => {
                c.arg("BEFORE").arg(id);
            }
            (None, None) => {}
        }
        c.arg("COUNT").arg(count);
        self.page_in_epoch(c, room, epoch).await
    }

    /// Runs a read of `room`'s messages (`CHAT.HISTORY`, `CHAT.THREAD`),
    /// with `EPOCH <epoch>` when given, and keeps what the page says of the
    /// room's epoch.
    pub(crate) async fn page_in_epoch(
        &self,
        mut c: redis::Cmd,
        room: &str,
        epoch: Option<&str>,
    ) -> Result<Vec<Json>> {
        if let Some(epoch) = epoch {
            c.arg("EPOCH").arg(epoch);
        }
        let docs = reply::documents(self.query(&c).await?)?;
        self.epochs.page(room, epoch, &docs);
        Ok(docs)
    }

    /// Every message after `user`'s read cursor in each of their rooms:
    /// rooms ascending, ids ascending within a room; a room whose oldest
    /// unread messages retention removed starts with a gap document (see
    /// [`history`](Self::history)).
    ///
    /// Each room is read with the epoch this client knows for it (else
    /// `CHAT.INFO`'s, read before the cursor): a room whose ids were handed
    /// out again since starts with its reset document, `{"type": "reset",
    /// "room", "epoch", "last_id"}`, followed by its newest messages; the
    /// app replaces what it shows of the room. The epochs are this
    /// client's, for every user it serves: an app that serves many users
    /// whose pages hold ids of their own reads each room with
    /// [`history_in_epoch`](Self::history_in_epoch) and the epoch the page
    /// holds.
    pub async fn missed(&self, user: &str) -> Result<Vec<Json>> {
        let listed = self.listed(user).await?;
        let mut epochs = self.epochs_of(&listed).await?;
        let starts = self
            .memberships_of(user, listed)
            .await?
            .0
            .into_iter()
            .map(|(room, c)| {
                let epoch = epochs.remove(&room);
                let start = Start {
                    after: c.cursor,
                    epoch,
                };
                (room, start)
            })
            .collect();
        Ok(self
            .catch_up(starts)
            .await?
            .into_values()
            .flatten()
            .collect())
    }

    /// Every message after the given id in each room, page by page (gap
    /// and reset documents included); a room dropped meanwhile gives none.
    pub(crate) async fn catch_up(
        &self,
        starts: BTreeMap<String, Start>,
    ) -> Result<BTreeMap<String, Vec<Json>>> {
        let pages = join_all(
            starts
                .into_iter()
                .map(|(room, after)| async move { (self.after(&room, after).await, room) }),
        )
        .await;
        pages
            .into_iter()
            .map(|(docs, room)| Ok((room, docs?)))
            .collect()
    }

    async fn after(&self, room: &str, start: Start) -> Result<Vec<Json>> {
        let Start {
            mut after,
            mut epoch,
        } = start;
        let mut all = Vec::new();
        loop {
            let page = self
                .history_page(room, Some(after), None, PAGE as usize, epoch.as_deref())
                .await;
            let page = match page {
                Err(e) if e.is_no_such_room() => break,
                page => page?,
            };
            // After a reset the next page is of the new epoch: asked with
            // the old one, it would be a reset again.
            if let Some((new, _)) = page.iter().find_map(reply::reset_of) {
                epoch = Some(new);
            }
            let full = page.len() as u64 >= PAGE;
            let next = reply::resume_after(&page);
            all.extend(page);
            match next {
                Some(id) if full => after = id,
                _ => break,
            }
        }
        Ok(all)
    }
}
