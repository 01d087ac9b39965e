//! Room epochs: whether the ids a client holds still name the messages it
//! saw.
//!
//! Ids in a room are 1, 2, 3, ... A server that lost acknowledged writes (a
//! replica promoted before it had them, a restart from persistence that
//! lacked them) hands the lost ids out again, for other messages; so does
//! a room dropped and made again under its id. Each room therefore has an
//! epoch, an opaque string (at most 16 lowercase hex digits) that changes
//! at such a point: a client that holds another epoch reloads the room
//! instead of trusting its ids.
//!
//! [`Chat`] keeps, per room, the epoch it knows and the largest id it knows
//! in it ([`RoomEpoch`]), learnt from `CHAT.SUBSCRIBE ... WITHEPOCH` (in
//! [`Chat::join`]), `CHAT.CHANNELS ... WITHEPOCHS`, `CHAT.INFO`
//! ([`Chat::room_epoch`]), pages read with an epoch, live messages, and
//! reset documents and events. Reads that go on from an id ([`Chat::missed`],
//! the listener's catch-up, [`Chat::history_in_epoch`],
//! [`Chat::thread_in_epoch`]) send `EPOCH <epoch>` with it. When the room's
//! epoch is another, or the id is beyond the room's last, the reply starts
//! with a reset document, `{"type": "reset", "room", "epoch", "last_id"}`,
//! followed by the room's newest messages (for a thread: its root and first
//! replies). Live, the first send of a room after a promotion or a lossy
//! restart publishes a reset event of the same shape (`last_id`: the room's
//! last id before that send), then the message as usual.
//!
//! A module without epochs answers these words with a syntax error: the
//! library then sends the commands without them, and knows no epoch.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use futures_util::future::join_all;
use redis::Value;
use serde_json::Value as Json;

use crate::chat::Chat;
use crate::error::{Error, Result};
use crate::reply;

/// A room's epoch as a client knows it, and the largest message id it knows
/// in that epoch ([`Chat::known_epoch`], [`Chat::room_epoch`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomEpoch {
    /// Opaque: compare it, never parse it.
    pub epoch: String,
    /// The largest id seen in this epoch (or the room's last id, where the
    /// server said it).
    pub last_id: u64,
}

/// What `CHAT.CHANNELS user [PRESENCE] WITHEPOCHS` says
/// ([`Chat::channels_with_epochs`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Channels {
    /// `SUBSCRIBE`, or `SSUBSCRIBE` in a cluster.
    pub verb: String,
    /// The channels to listen on.
    pub channels: Vec<String>,
    /// Each room of the user this node can read, with its epoch and last
    /// id: all of them on one server, those in the user's slot in a
    /// cluster. Empty from a module without epochs.
    pub rooms: BTreeMap<String, RoomEpoch>,
}

/// The rooms' epochs a [`Chat`] knows, shared by its clones.
#[derive(Default)]
pub(crate) struct Epochs {
    rooms: Mutex<BTreeMap<String, RoomEpoch>>,
    /// `CHAT.INFO` answered without an epoch, or `CHAT.CHANNELS` refused
    /// `WITHEPOCHS`: a module without epochs, which is not asked again
    /// (until an epoch is learnt after all: a module upgraded).
    unsupported: AtomicBool,
}

impl Epochs {
    fn rooms(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, RoomEpoch>> {
        // Never left half-written: a panic elsewhere cannot spoil it.
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, room: &str) -> Option<RoomEpoch> {
        self.rooms().get(room).cloned()
    }

    pub fn all(&self) -> BTreeMap<String, RoomEpoch> {
        self.rooms().clone()
    }

    /// The server says `room` is in `epoch`, with `last_id`: the same epoch
    /// only raises the last id; another replaces both.
    pub fn learn(&self, room: &str, epoch: &str, last_id: u64) {
        self.unsupported.store(false, Ordering::Relaxed);
        let mut rooms = self.rooms();
        match rooms.get_mut(room) {
            Some(known) if known.epoch == epoch => known.last_id = known.last_id.max(last_id),
            _ => {
                let epoch = epoch.to_string();
                rooms.insert(room.to_string(), RoomEpoch { epoch, last_id });
            }
        }
    }

    /// A reset document: the room's epoch and last id now, whatever was
    /// known.
    pub fn reset(&self, room: &str, epoch: &str, last_id: u64) {
        let epoch = epoch.to_string();
        self.rooms()
            .insert(room.to_string(), RoomEpoch { epoch, last_id });
    }

    /// Message `id` of `room`, live: in the epoch known, if any.
    pub fn seen(&self, room: &str, id: u64) {
        if let Some(known) = self.rooms().get_mut(room) {
            known.last_id = known.last_id.max(id);
        }
    }

    /// The room is gone (dropped).
    pub fn forget(&self, room: &str) {
        self.rooms().remove(room);
    }

    /// A page of `room` read with `EPOCH asked` (or without): a reset in it
    /// sets the epoch; otherwise the server confirmed `asked`, and the page's
    /// ids belong to it. Without either, nothing tells which epoch the ids
    /// belong to, and nothing is learnt.
    pub fn page(&self, room: &str, asked: Option<&str>, docs: &[Json]) {
        let largest = docs.iter().filter_map(reply::message_id).max().unwrap_or(0);
        match (docs.iter().find_map(reply::reset_of), asked) {
            (Some((epoch, last_id)), _) => {
                self.reset(room, &epoch, last_id);
                self.seen(room, largest);
            }
            (None, Some(epoch)) => self.learn(room, epoch, largest),
            (None, None) => {}
        }
    }
}

/// Whether a refusal means the module does not know an option word: one
/// without epochs.
fn is_unknown_word(e: &Error) -> bool {
    match e {
        Error::Refused { code, message } => {
            code == "ERR"
                && (message == "syntax error" || message.starts_with("wrong number of arguments"))
        }
        _ => false,
    }
}

/// `epoch` (a string) and `last_id` of a map reply.
fn epoch_fields(fields: &mut BTreeMap<String, Value>) -> Result<Option<RoomEpoch>> {
    let Some(epoch) = fields.remove("epoch") else {
        return Ok(None);
    };
    Ok(Some(RoomEpoch {
        epoch: reply::string(epoch)?,
        last_id: reply::count_field(fields, "last_id")?,
    }))
}

impl Chat {
    /// The epoch this client knows for `room` (no command): None until it
    /// learnt one.
    pub fn known_epoch(&self, room: &str) -> Option<RoomEpoch> {
        self.epochs.get(room)
    }

    /// Every room's epoch this client knows.
    pub fn known_epochs(&self) -> BTreeMap<String, RoomEpoch> {
        self.epochs.all()
    }

    /// `room`'s epoch and last id now (`CHAT.INFO`), which this client then
    /// knows; None for no such room, or a module without epochs.
    pub async fn room_epoch(&self, room: &str) -> Result<Option<RoomEpoch>> {
        let v = self.query(redis::cmd("CHAT.INFO").arg(room)).await?;
        if v == Value::Nil {
            return Ok(None);
        }
        let found = epoch_fields(&mut reply::map(v)?)?;
        match &found {
            Some(e) => self.epochs.learn(room, &e.epoch, e.last_id),
            None => self.epochs.unsupported.store(true, Ordering::Relaxed),
        }
        Ok(found)
    }

    /// The epoch of each of `rooms` to read them in: the one known, else
    /// `CHAT.INFO`'s (asked together). Read before the ids to go on from, so
    /// that an epoch change in between shows as a reset. Rooms without one
    /// (gone, or a module without epochs) are left out.
    pub(crate) async fn epochs_of(&self, rooms: &[String]) -> Result<BTreeMap<String, String>> {
        let mut epochs = BTreeMap::new();
        let mut ask = Vec::new();
        for room in rooms {
            match self.epochs.get(room) {
                Some(known) => {
                    epochs.insert(room.clone(), known.epoch);
                }
                None => ask.push(room),
            }
        }
        if self.epochs.unsupported.load(Ordering::Relaxed) {
            return Ok(epochs);
        }
        let answers = join_all(ask.iter().map(|room| self.room_epoch(room))).await;
        for (room, answer) in ask.into_iter().zip(answers) {
            if let Some(e) = answer? {
                epochs.insert(room.clone(), e.epoch);
            }
        }
        Ok(epochs)
    }

    /// [`channels`](Self::channels) with each room's epoch and last id
    /// (`CHAT.CHANNELS user [PRESENCE] WITHEPOCHS`), which this client then
    /// knows. From a module without epochs, the channels alone.
    pub async fn channels_with_epochs(&self, user: &str, presence: bool) -> Result<Channels> {
        let mut c = redis::cmd("CHAT.CHANNELS");
        c.arg(user);
        if presence {
            c.arg("PRESENCE");
        }
        c.arg("WITHEPOCHS");
        let answer = if self.epochs.unsupported.load(Ordering::Relaxed) {
            None
        } else {
            match self.query(&c).await {
                Err(e) if is_unknown_word(&e) => {
                    self.epochs.unsupported.store(true, Ordering::Relaxed);
                    None
                }
                other => Some(other?),
            }
        };
        let v = match answer {
            Some(v) => v,
            None => {
                let (verb, channels) = self.channels(user, presence).await?;
                return Ok(Channels {
                    verb,
                    channels,
                    rooms: BTreeMap::new(),
                });
            }
        };
        let mut fields = reply::map(v)?;
        let listen = fields
            .remove("listen")
            .ok_or_else(|| Error::Reply("CHAT.CHANNELS WITHEPOCHS without 'listen'".into()))?;
        let mut channels = reply::strings(listen)?;
        if channels.is_empty() {
            return Err(Error::Reply("CHAT.CHANNELS replied nothing".into()));
        }
        let verb = channels.remove(0).to_ascii_uppercase();
        let mut rooms = BTreeMap::new();
        let listed = fields
            .remove("rooms")
            .map_or(Ok(BTreeMap::new()), reply::map)?;
        for (room, v) in listed {
            if let Some(e) = epoch_fields(&mut reply::map(v)?)? {
                self.epochs.learn(&room, &e.epoch, e.last_id);
                rooms.insert(room, e);
            }
        }
        Ok(Channels {
            verb,
            channels,
            rooms,
        })
    }

    /// `CHAT.SUBSCRIBE room user WITHEPOCH`, whose epoch this client then
    /// knows; plain `CHAT.SUBSCRIBE` for a module without epochs.
    pub(crate) async fn subscribe(&self, room: &str, user: &str) -> Result<()> {
        let mut c = redis::cmd("CHAT.SUBSCRIBE");
        c.arg(room).arg(user).arg("WITHEPOCH");
        let v = match self.query(&c).await {
            Err(e) if is_unknown_word(&e) => {
                let plain = redis::cmd("CHAT.SUBSCRIBE").arg(room).arg(user).clone();
                return self.query(&plain).await.map(drop);
            }
            other => other?,
        };
        if let Some(e) = epoch_fields(&mut reply::map(v)?)? {
            self.epochs.learn(room, &e.epoch, e.last_id);
        }
        Ok(())
    }

    /// [`history`](Self::history) of ids the caller holds in `epoch`
    /// (`CHAT.HISTORY ... EPOCH <epoch>`). When the room's epoch is another,
    /// or `after` is beyond the room's last id, the first document is the
    /// reset `{"type": "reset", "room", "epoch", "last_id"}` (the room's epoch
    /// and last id now), then the newest `count` messages: the caller
    /// replaces what it shows of the room. Otherwise the page is as
    /// `history`'s.
    pub async fn history_in_epoch(
        &self,
        room: &str,
        epoch: &str,
        after: Option<u64>,
        before: Option<u64>,
        count: usize,
    ) -> Result<Vec<Json>> {
        self.history_page(room, after, before, count, Some(epoch))
            .await
    }

    /// [`thread`](Self::thread) of ids the caller holds in `epoch`
    /// (`CHAT.THREAD ... EPOCH <epoch>`): when the room's epoch is another,
    /// or `after` is beyond the room's last id, the reset document first,
    /// then the root and its first replies.
    pub async fn thread_in_epoch(
        &self,
        room: &str,
        id: u64,
        epoch: &str,
        after: Option<u64>,
        count: Option<usize>,
    ) -> Result<Vec<Json>> {
        self.thread_page(room, id, after, count, Some(epoch)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn epoch(book: &Epochs, room: &str) -> Option<(String, u64)> {
        book.get(room).map(|e| (e.epoch, e.last_id))
    }

    #[test]
    fn learnt_raised_and_replaced() {
        let book = Epochs::default();
        book.seen("r", 5);
        assert_eq!(
            epoch(&book, "r"),
            None,
            "an id without an epoch tells nothing"
        );
        book.learn("r", "a1", 10);
        book.learn("r", "a1", 7);
        book.seen("r", 12);
        assert_eq!(epoch(&book, "r"), Some(("a1".into(), 12)));
        book.learn("r", "b2", 3);
        assert_eq!(epoch(&book, "r"), Some(("b2".into(), 3)));
        book.reset("r", "b2", 1);
        assert_eq!(epoch(&book, "r"), Some(("b2".into(), 1)));
        book.forget("r");
        assert_eq!(book.all(), BTreeMap::new());
    }

    #[test]
    fn pages() {
        let book = Epochs::default();
        let msgs = [
            json!({"type": "message", "id": 4}),
            json!({"type": "message", "id": 6}),
        ];
        book.page("r", None, &msgs);
        assert_eq!(epoch(&book, "r"), None, "which epoch is not known");
        book.page("r", Some("e1"), &msgs);
        assert_eq!(epoch(&book, "r"), Some(("e1".into(), 6)));
        let reset = json!({"type": "reset", "room": "r", "epoch": "e2", "last_id": 3});
        book.page(
            "r",
            Some("e1"),
            &[reset, json!({"type": "message", "id": 3})],
        );
        assert_eq!(epoch(&book, "r"), Some(("e2".into(), 3)));
    }

    #[test]
    fn unknown_words() {
        let refused = |code: &str, message: &str| Error::Refused {
            code: code.into(),
            message: message.into(),
        };
        assert!(is_unknown_word(&refused("ERR", "syntax error")));
        assert!(is_unknown_word(&refused(
            "ERR",
            "wrong number of arguments for 'chat.subscribe' command"
        )));
        assert!(!is_unknown_word(&refused("ERR", "no such room")));
        assert!(!is_unknown_word(&refused("NOINVITE", "syntax error")));
    }
}
