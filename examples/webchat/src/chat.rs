//! The CHAT.* commands the web server uses, one async method each.
//!
//! Every call goes through one multiplexed connection that reconnects by
//! itself. Replies are decoded here, so the rest of the server sees plain Rust
//! values; server errors become [`ChatError`]s that carry the module's own
//! words ("no such room"), ready to show to a user.

use std::collections::BTreeMap;
use std::fmt;

use redis::aio::ConnectionManager;
use redis::{Cmd, Value};
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

impl From<redis::RedisError> for ChatError {
    fn from(e: redis::RedisError) -> Self {
        match (e.code(), e.detail()) {
            // "ERR no such room": the module's words are the message.
            (Some("ERR"), Some(detail)) => ChatError::new(detail),
            (Some(code), Some(detail)) => ChatError::new(format!("{code} {detail}")),
            _ => {
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
}

#[derive(Clone)]
pub struct Chat {
    conn: ConnectionManager,
}

impl Chat {
    pub fn new(conn: ConnectionManager) -> Self {
        Chat { conn }
    }

    /// Runs a command that may run twice: after a broken connection (Redis
    /// restarted) the manager reconnects and the command runs once more.
    /// Only for reads and for writes a second run does not repeat, such as
    /// CHAT.SEND with its DEDUP key.
    async fn run(&self, cmd: &Cmd) -> ChatResult<Value> {
        let mut conn = self.conn.clone();
        match cmd.query_async::<Value>(&mut conn).await {
            Err(e) if e.is_io_error() || e.is_connection_dropped() => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                Ok(cmd.query_async::<Value>(&mut conn).await?)
            }
            result => Ok(result?),
        }
    }

    /// Runs a command once: a write that may have happened before the
    /// connection broke is not made again; the user is told to try again.
    async fn run_once(&self, cmd: &Cmd) -> ChatResult<Value> {
        let mut conn = self.conn.clone();
        Ok(cmd.query_async::<Value>(&mut conn).await?)
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
        let mut c = redis::cmd("CHAT.REGISTER");
        c.arg(user).arg(name).arg("PASSWORD").arg(password);
        self.run_once(&c).await.map(|_| ())
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
        let mut c = redis::cmd("CHAT.PROFILE");
        c.arg(user);
        match self.run(&c).await? {
            Value::Nil => Ok(None),
            v => {
                let fields = pairs(v)?;
                Ok(fields.get("name").cloned().map(string).transpose()?)
            }
        }
    }

    pub async fn rooms(&self, user: &str) -> ChatResult<Vec<String>> {
        let mut c = redis::cmd("CHAT.ROOMS");
        c.arg(user);
        self.strings(&c).await
    }

    pub async fn unread(&self, user: &str) -> ChatResult<BTreeMap<String, i64>> {
        let mut c = redis::cmd("CHAT.UNREAD");
        c.arg(user);
        pairs(self.run(&c).await?)?
            .into_iter()
            .map(|(room, n)| Ok((room, int(n)?)))
            .collect()
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

    pub async fn presence(&self, room: &str) -> ChatResult<Vec<String>> {
        let mut c = redis::cmd("CHAT.PRESENCE");
        c.arg(room);
        self.strings(&c).await
    }

    pub async fn history(&self, room: &str, page: Page, count: u32) -> ChatResult<Vec<Json>> {
        let mut c = redis::cmd("CHAT.HISTORY");
        c.arg(room);
        match page {
            Page::Newest => {}
            Page::Before(id) => {
                c.arg("BEFORE").arg(id);
            }
            Page::After(id) => {
                c.arg("AFTER").arg(id);
            }
        }
        c.arg("COUNT").arg(count);
        self.docs(&c).await
    }

    /// The message document with this id, as the history holds it now.
    pub async fn message(&self, room: &str, id: i64) -> ChatResult<Option<Json>> {
        let docs = self.history(room, Page::After(id - 1), 1).await?;
        Ok(docs.into_iter().find(|d| d["id"].as_i64() == Some(id)))
    }

    /// The DEDUP key makes a second run reply the first one's id.
    pub async fn send(&self, room: &str, user: &str, text: &str, dedup: &str) -> ChatResult<i64> {
        let mut c = redis::cmd("CHAT.SEND");
        c.arg(room).arg(user).arg(text).arg("DEDUP").arg(dedup);
        self.int(&c).await
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

    pub async fn online(&self, user: &str, ttl: u64) -> ChatResult<()> {
        let mut c = redis::cmd("CHAT.ONLINE");
        c.arg(user).arg("TTL").arg(ttl);
        self.ok(&c).await
    }

    pub async fn offline(&self, user: &str) -> ChatResult<()> {
        let mut c = redis::cmd("CHAT.OFFLINE");
        c.arg(user);
        self.ok(&c).await
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

    /// The command to listen with (SUBSCRIBE or SSUBSCRIBE) and the channels.
    pub async fn channels(&self, user: &str) -> ChatResult<(String, Vec<String>)> {
        let mut c = redis::cmd("CHAT.CHANNELS");
        c.arg(user);
        let mut all = self.strings(&c).await?;
        if all.is_empty() {
            return Err(ChatError::new("CHAT.CHANNELS replied nothing"));
        }
        let command = all.remove(0);
        Ok((command, all))
    }

    pub async fn create(&self, room: &str, title: &str) -> ChatResult<()> {
        let mut c = redis::cmd("CHAT.CREATE");
        c.arg(room).arg(title);
        self.run_once(&c).await.map(|_| ())
    }

    /// Joins; the reply (where to listen) is not needed: the caller runs
    /// CHAT.CHANNELS afterwards, which covers every room.
    pub async fn subscribe(&self, room: &str, user: &str) -> ChatResult<()> {
        let mut c = redis::cmd("CHAT.SUBSCRIBE");
        c.arg(room).arg(user);
        self.ok(&c).await
    }

    pub async fn unsubscribe(&self, room: &str, user: &str) -> ChatResult<i64> {
        let mut c = redis::cmd("CHAT.UNSUBSCRIBE");
        c.arg(room).arg(user);
        self.int(&c).await
    }

    pub async fn dm(&self, a: &str, b: &str) -> ChatResult<String> {
        let mut c = redis::cmd("CHAT.DM");
        c.arg(a).arg(b);
        string(self.run(&c).await?)
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

fn string(v: Value) -> ChatResult<String> {
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

fn int(v: Value) -> ChatResult<i64> {
    match v {
        Value::Int(n) => Ok(n),
        Value::BulkString(ref b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| unexpected("an integer", &v)),
        other => Err(unexpected("an integer", &other)),
    }
}

fn strings(v: Value) -> ChatResult<Vec<String>> {
    match v {
        Value::Array(items) | Value::Set(items) => items.into_iter().map(string).collect(),
        Value::Nil => Ok(Vec::new()),
        other => Err(unexpected("an array", &other)),
    }
}

/// A map reply: a RESP3 map, or the flat field/value array RESP2 gets.
fn pairs(v: Value) -> ChatResult<BTreeMap<String, Value>> {
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
