//! The chat operations the web server uses, one async method each.
//!
//! They go through the redis-chat client library (`clients/rust`), so the
//! same server runs on one Redis or on a Redis Cluster: joins, leaves and
//! direct rooms run in the library's single-slot steps, read state comes
//! from each room's cursor, and listening is the library's. Commands the
//! library has no method for are sent as they are. Replies are decoded
//! here, so the rest of the server sees plain Rust values; server errors
//! become [`ChatError`]s that carry the module's own words ("no such
//! room"), ready to show to a user.

use std::collections::BTreeMap;
use std::fmt;

use redis_chat_client::redis::{self, Cmd, Value};
use redis_chat_client::{Cursor, ListenOptions, Listener, Settings, Target};
use serde_json::Value as Json;

/// An error for the user: what went wrong, in plain words.
#[derive(Debug, Clone)]
pub struct ChatError {
    pub message: String,
    /// The error came from the module (a refused command), not from the
    /// connection.
    pub refused: bool,
}

impl ChatError {
    pub fn new(message: impl Into<String>) -> Self {
        ChatError {
            message: message.into(),
            refused: true,
        }
    }

    /// True when the module refused the command with exactly this message.
    pub fn is(&self, message: &str) -> bool {
        self.refused && self.message == message
    }
}

impl fmt::Display for ChatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<redis_chat_client::Error> for ChatError {
    fn from(e: redis_chat_client::Error) -> Self {
        use redis_chat_client::Error;
        match e {
            // "ERR no such room": the module's words are the message.
            Error::Refused { code, message } if code == "ERR" => ChatError::new(message),
            Error::Refused { code, message } => ChatError::new(format!("{code} {message}")),
            Error::Usage(message) => ChatError::new(message),
            e => {
                eprintln!("webchat: Redis: {e}");
                ChatError {
                    message: "the chat database cannot be reached; try again in a moment".into(),
                    refused: false,
                }
            }
        }
    }
}

pub type ChatResult<T> = Result<T, ChatError>;

/// Where CHAT.HISTORY starts.
pub enum Page {
    Newest,
    Before(i64),
    After(i64),
}

/// What CHAT.INFO tells about a room.
pub struct RoomInfo {
    pub id: String,
    pub title: String,
    pub members: i64,
    pub last_id: i64,
    pub mode: String,
    /// Joined only by invitation.
    pub private: bool,
    /// Seconds a member waits between messages; 0: off.
    pub slowmode: i64,
    /// The members with the role owner; none for a room without one.
    pub owners: Vec<String>,
    /// Changes when the room's ids are handed out again (a promoted
    /// replica, a restart that lost messages, the room made again); None
    /// from a module without epochs.
    pub epoch: Option<String>,
}

#[derive(Clone)]
pub struct Chat {
    inner: redis_chat_client::Chat,
}

impl Chat {
    pub async fn connect(target: &Target) -> ChatResult<Chat> {
        let inner = redis_chat_client::Chat::connect(target, Settings::default()).await?;
        Ok(Chat { inner })
    }

    /// Runs a command that may run twice (a read, or a write a second run
    /// does not repeat), again after a broken connection or a failover.
    pub(crate) async fn run(&self, cmd: &Cmd) -> ChatResult<Value> {
        Ok(self.inner.query(cmd).await?)
    }

    /// Runs a command once: a write that may have happened before the
    /// connection broke is not made again; the user is told to try again.
    pub(crate) async fn run_once(&self, cmd: &Cmd) -> ChatResult<Value> {
        Ok(self.inner.query_once(cmd).await?)
    }

    async fn ok(&self, cmd: &Cmd) -> ChatResult<()> {
        self.run(cmd).await.map(|_| ())
    }

    async fn int(&self, cmd: &Cmd) -> ChatResult<i64> {
        int(self.run(cmd).await?)
    }

    async fn strings(&self, cmd: &Cmd) -> ChatResult<Vec<String>> {
        strings(self.run(cmd).await?)
    }

    async fn docs(&self, cmd: &Cmd) -> ChatResult<Vec<Json>> {
        Ok(self
            .strings(cmd)
            .await?
            .iter()
            .filter_map(|s| match serde_json::from_str(s) {
                Ok(doc) => Some(doc),
                Err(e) => {
                    eprintln!("webchat: skipped a document that is not JSON ({e}): {s}");
                    None
                }
            })
            .collect())
    }

    /// Checks that the server answers and has the module loaded.
    pub async fn probe(&self) -> ChatResult<()> {
        let mut c = redis::cmd("CHAT.PROFILE");
        c.arg("webchat-probe");
        self.run(&c).await.map(|_| ())
    }

    pub async fn register(&self, user: &str, name: &str, password: &str) -> ChatResult<()> {
        Ok(self.inner.register(user, name, Some(password)).await?)
    }

    /// Ok(true) for the right password, Ok(false) for a wrong one or an
    /// unknown user.
    pub async fn auth(&self, user: &str, password: &str) -> ChatResult<bool> {
        let mut c = redis::cmd("CHAT.AUTH");
        c.arg(user).arg(password);
        match self.ok(&c).await {
            Ok(()) => Ok(true),
            Err(e) if e.is("invalid username or password") => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Changes a password, given the current one.
    pub async fn passwd(&self, user: &str, old: &str, new: &str) -> ChatResult<()> {
        let mut c = redis::cmd("CHAT.PASSWD");
        c.arg(user).arg(old).arg(new);
        self.run_once(&c).await.map(|_| ())
    }

    /// The user's display name; None for an unknown user.
    pub async fn profile_name(&self, user: &str) -> ChatResult<Option<String>> {
        Ok(match self.profile(user).await? {
            Some(mut fields) => fields.remove("name").map(string).transpose()?,
            None => None,
        })
    }

    pub(crate) async fn profile(&self, user: &str) -> ChatResult<Option<BTreeMap<String, Value>>> {
        let mut c = redis::cmd("CHAT.PROFILE");
        c.arg(user);
        match self.run(&c).await? {
            Value::Nil => Ok(None),
            v => Ok(Some(pairs(v)?)),
        }
    }

    /// The rooms the user is a member of.
    pub async fn rooms(&self, user: &str) -> ChatResult<Vec<String>> {
        Ok(self.inner.rooms(user).await?)
    }

    /// The user's read state in each of their rooms.
    pub async fn cursors(&self, user: &str) -> ChatResult<BTreeMap<String, Cursor>> {
        Ok(self.inner.cursors(user).await?)
    }

    /// The user's read state in one room; None when not a member.
    pub async fn cursor(&self, room: &str, user: &str) -> ChatResult<Option<Cursor>> {
        Ok(self.inner.cursor(room, user).await?)
    }

    /// None for a room that does not exist (any more).
    pub async fn info(&self, room: &str) -> ChatResult<Option<RoomInfo>> {
        let mut c = redis::cmd("CHAT.INFO");
        c.arg(room);
        let v = self.run(&c).await?;
        if v == Value::Nil {
            return Ok(None);
        }
        let mut f = pairs(v)?;
        let mut take = |k: &str| f.remove(k).unwrap_or(Value::Nil);
        Ok(Some(RoomInfo {
            id: string(take("id"))?,
            title: string(take("title"))?,
            members: int(take("members"))?,
            last_id: int(take("last_id"))?,
            mode: string(take("mode"))?,
            // A module without moderation has none of these.
            private: int_or_zero(take("private"))? == 1,
            slowmode: int_or_zero(take("slowmode"))?,
            owners: strings(take("owners"))?,
            epoch: match take("epoch") {
                Value::Nil => None,
                v => Some(string(v)?),
            },
        }))
    }

    pub async fn members(&self, room: &str) -> ChatResult<Vec<String>> {
        let mut c = redis::cmd("CHAT.MEMBERS");
        c.arg(room);
        self.strings(&c).await
    }

    /// Member id -> read cursor.
    pub async fn read_cursors(&self, room: &str) -> ChatResult<BTreeMap<String, i64>> {
        let mut c = redis::cmd("CHAT.MEMBERS");
        c.arg(room).arg("WITHREAD");
        pairs(self.run(&c).await?)?
            .into_iter()
            .map(|(user, n)| Ok((user, int(n)?)))
            .collect()
    }

    pub async fn history(&self, room: &str, page: Page, count: u32) -> ChatResult<Vec<Json>> {
        let (after, before) = match page {
            Page::Newest => (None, None),
            Page::Before(id) => (None, Some(id.max(0) as u64)),
            Page::After(id) => (Some(id.max(0) as u64), None),
        };
        Ok(self
            .inner
            .history(room, after, before, count as usize)
            .await?)
    }

    /// The message document with this id, as the history holds it now.
    pub async fn message(&self, room: &str, id: i64) -> ChatResult<Option<Json>> {
        let docs = self.history(room, Page::After(id - 1), 1).await?;
        Ok(docs.into_iter().find(|d| d["id"].as_i64() == Some(id)))
    }

    /// The DEDUP key makes a second run reply the first one's id.
    pub async fn send(&self, room: &str, user: &str, text: &str, dedup: &str) -> ChatResult<i64> {
        let id = self.inner.send_with_key(room, user, text, dedup, 0).await?;
        i64::try_from(id).map_err(|_| ChatError::new("a message id out of range"))
    }

    /// A send with `REPLY <id>` and `MENTION <user>` options (the page's
    /// plain sends go through [`send`](Self::send)). The DEDUP key makes a
    /// second run reply the first one's id, so it may run again.
    pub async fn send_with(
        &self,
        room: &str,
        user: &str,
        text: &str,
        dedup: &str,
        reply_to: Option<i64>,
        mentions: &[String],
    ) -> ChatResult<i64> {
        if reply_to.is_none() && mentions.is_empty() {
            return self.send(room, user, text, dedup).await;
        }
        let mut c = redis::cmd("CHAT.SEND");
        c.arg(room).arg(user).arg(text).arg("DEDUP").arg(dedup);
        if let Some(id) = reply_to {
            c.arg("REPLY").arg(id);
        }
        for name in mentions {
            c.arg("MENTION").arg(name);
        }
        self.int(&c).await
    }

    /// A thread: its root's document, then its replies ascending; with
    /// `after`, only the replies after that id. A root that retention
    /// removed comes as a gap document.
    pub async fn thread(
        &self,
        room: &str,
        root: i64,
        after: Option<i64>,
        count: u32,
    ) -> ChatResult<Vec<Json>> {
        let mut c = redis::cmd("CHAT.THREAD");
        c.arg(room).arg(root);
        if let Some(after) = after {
            c.arg("AFTER").arg(after.max(0));
        }
        c.arg("COUNT").arg(count);
        self.docs(&c).await
    }

    /// Adds (`on`) or takes back a reaction; true if that changed anything.
    pub async fn react(
        &self,
        room: &str,
        user: &str,
        id: i64,
        reaction: &str,
        on: bool,
    ) -> ChatResult<bool> {
        let mut c = redis::cmd(if on { "CHAT.REACT" } else { "CHAT.UNREACT" });
        c.arg(room).arg(user).arg(id).arg(reaction);
        Ok(self.int(&c).await? == 1)
    }

    /// Reaction -> the users who gave it.
    pub async fn reactions(
        &self,
        room: &str,
        id: i64,
    ) -> ChatResult<BTreeMap<String, Vec<String>>> {
        let mut c = redis::cmd("CHAT.REACTIONS");
        c.arg(room).arg(id);
        pairs(self.run(&c).await?)?
            .into_iter()
            .map(|(reaction, users)| Ok((reaction, strings(users)?)))
            .collect()
    }

    /// Pins (`on`) or unpins a message.
    pub async fn pin(&self, room: &str, user: &str, id: i64, on: bool) -> ChatResult<()> {
        let mut c = redis::cmd(if on { "CHAT.PIN" } else { "CHAT.UNPIN" });
        c.arg(room).arg(user).arg(id);
        self.ok(&c).await
    }

    /// The pinned messages, most recently pinned first.
    pub async fn pins(&self, room: &str) -> ChatResult<Vec<Json>> {
        let mut c = redis::cmd("CHAT.PINS");
        c.arg(room);
        self.docs(&c).await
    }

    /// Room -> messages after the user's read cursor that mention them
    /// (rooms with none are left out). In a cluster this is CROSSSLOT for a
    /// user with rooms in other slots: see [`mentions_in`](Self::mentions_in).
    pub async fn mentions(&self, user: &str) -> ChatResult<BTreeMap<String, i64>> {
        let mut c = redis::cmd("CHAT.MENTIONS");
        c.arg(user);
        pairs(self.run(&c).await?)?
            .into_iter()
            .map(|(room, n)| Ok((room, int(n)?)))
            .collect()
    }

    /// The messages after the user's read cursor in one room that mention
    /// them, from the room's own CHAT.CURSOR.
    pub async fn mentions_in(&self, room: &str, user: &str) -> ChatResult<i64> {
        let mut c = redis::cmd("CHAT.CURSOR");
        c.arg(room).arg(user);
        match pairs(self.run(&c).await?)?.remove("mentions") {
            Some(n) => int(n),
            None => Ok(0),
        }
    }

    pub async fn fetch(&self, user: &str, count: u32) -> ChatResult<Vec<Json>> {
        let mut c = redis::cmd("CHAT.FETCH");
        c.arg(user).arg("COUNT").arg(count);
        self.docs(&c).await
    }

    pub async fn ack(&self, user: &str, delivery: &str) -> ChatResult<i64> {
        let mut c = redis::cmd("CHAT.ACK");
        c.arg(user).arg(delivery);
        self.int(&c).await
    }

    pub async fn read(&self, room: &str, user: &str, id: i64) -> ChatResult<i64> {
        let mut c = redis::cmd("CHAT.READ");
        c.arg(room).arg(user).arg(id);
        self.int(&c).await
    }

    pub async fn typing(&self, room: &str, user: &str) -> ChatResult<()> {
        let mut c = redis::cmd("CHAT.TYPING");
        c.arg(room).arg(user);
        self.ok(&c).await
    }

    /// Live messages and events for the user's tabs: subscribed before it
    /// returns. It marks no one online: each tab is a device of the user,
    /// which the hub marks online itself (hub.rs). Each room starts
    /// after its last message: what the user missed comes to the page
    /// from the history and the inbox.
    pub async fn listen(&self, user: &str) -> ChatResult<Listener> {
        let options = ListenOptions {
            from_latest: true,
            presence: false,
            ..ListenOptions::default()
        };
        Ok(self.inner.listen_with(user, options).await?)
    }

    pub async fn create(&self, room: &str, title: &str) -> ChatResult<()> {
        Ok(self.inner.create(room, title).await?)
    }

    /// Joins, in the library's steps; where to listen is the listener's
    /// business.
    pub async fn join(&self, room: &str, user: &str) -> ChatResult<()> {
        Ok(self.inner.join(room, user).await?)
    }

    pub async fn leave(&self, room: &str, user: &str) -> ChatResult<bool> {
        Ok(self.inner.leave(room, user).await?)
    }

    pub async fn dm(&self, a: &str, b: &str) -> ChatResult<String> {
        Ok(self.inner.dm(a, b).await?)
    }

    pub async fn edit(&self, room: &str, user: &str, id: i64, text: &str) -> ChatResult<()> {
        let mut c = redis::cmd("CHAT.EDIT");
        c.arg(room).arg(user).arg(id).arg(text);
        self.run_once(&c).await.map(|_| ())
    }

    pub async fn delete(&self, room: &str, user: &str, id: i64) -> ChatResult<()> {
        let mut c = redis::cmd("CHAT.DELETE");
        c.arg(room).arg(user).arg(id);
        self.run_once(&c).await.map(|_| ())
    }
}

fn unexpected(what: &str, v: &Value) -> ChatError {
    ChatError::new(format!(
        "unexpected reply from Redis: wanted {what}, got {v:?}"
    ))
}

pub(crate) fn string(v: Value) -> ChatResult<String> {
    match v {
        Value::BulkString(b) => {
            String::from_utf8(b).map_err(|_| ChatError::new("a reply is not UTF-8"))
        }
        Value::SimpleString(s) => Ok(s),
        Value::VerbatimString { text, .. } => Ok(text),
        Value::Okay => Ok("OK".into()),
        other => Err(unexpected("a string", &other)),
    }
}

pub(crate) fn int(v: Value) -> ChatResult<i64> {
    match v {
        Value::Int(n) => Ok(n),
        Value::BulkString(ref b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| unexpected("an integer", &v)),
        other => Err(unexpected("an integer", &other)),
    }
}

fn int_or_zero(v: Value) -> ChatResult<i64> {
    match v {
        Value::Nil => Ok(0),
        Value::Boolean(b) => Ok(i64::from(b)),
        v => int(v),
    }
}

pub(crate) fn strings(v: Value) -> ChatResult<Vec<String>> {
    match v {
        Value::Array(items) | Value::Set(items) => items.into_iter().map(string).collect(),
        Value::Nil => Ok(Vec::new()),
        other => Err(unexpected("an array", &other)),
    }
}

/// A map reply: a RESP3 map, or the flat field/value array RESP2 gets.
pub(crate) fn pairs(v: Value) -> ChatResult<BTreeMap<String, Value>> {
    let list: Vec<(Value, Value)> = match v {
        Value::Map(kv) => kv,
        Value::Array(items) => {
            if items.len() % 2 != 0 {
                return Err(ChatError::new(
                    "unexpected reply from Redis: a map with an odd length",
                ));
            }
            let mut it = items.into_iter();
            let mut kv = Vec::new();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                kv.push((k, v));
            }
            kv
        }
        Value::Nil => Vec::new(),
        other => return Err(unexpected("a map", &other)),
    };
    list.into_iter().map(|(k, v)| Ok((string(k)?, v))).collect()
}

/// True for the ids CHAT.DM makes: `dm:...`, or `{tag}dm:...`.
pub fn is_direct(room: &str) -> bool {
    let rest = match room.strip_prefix('{') {
        Some(tagged) => match tagged.find('}') {
            Some(end) => &tagged[end + 1..],
            None => room,
        },
        None => room,
    };
    rest.starts_with("dm:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_room_ids() {
        assert!(is_direct("dm:5:alice:bob"));
        assert!(is_direct("{acme}dm:3:bob:eve"));
        assert!(!is_direct("general"));
        assert!(!is_direct("{acme}general"));
        assert!(!is_direct("{dm:x"));
    }

    #[test]
    fn maps_from_both_protocols() {
        let flat = Value::Array(vec![Value::BulkString(b"general".to_vec()), Value::Int(3)]);
        let map = Value::Map(vec![(
            Value::BulkString(b"general".to_vec()),
            Value::Int(3),
        )]);
        for v in [flat, map] {
            let p = pairs(v).unwrap();
            assert_eq!(int(p["general"].clone()).unwrap(), 3);
        }
    }
}
