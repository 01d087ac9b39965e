//! The message document and how a message is stored.
//!
//! One JSON shape everywhere a message appears (HISTORY, FETCH, pub/sub):
//!
//! ```text
//! {"type":"message","room":"general","id":7,"sender":"alice","text":"hi","ts":1764201600000}
//! ```
//!
//! FETCH adds `"delivery"`. In Redis a message is not stored as JSON: the room
//! log keeps stream fields `sender`, `text`, `ts` under entry id `<id>-0` (the
//! room is the key); an inbox entry keeps one field, `msg`, whose value packs
//! the rest as `room\nid\nsender\nts\ntext` (ids hold no newline, and the text
//! comes last, so it may). One field per inbox copy is the cheapest entry a
//! stream can append, and it is smaller than the JSON document.

use std::borrow::Cow;

use crate::json::ObjectWriter;

/// Field names in a room log entry, in the order they are written.
pub const LOG_FIELDS: [&[u8]; 3] = [b"sender", b"text", b"ts"];
/// The one field of an inbox entry.
pub const INBOX_FIELD: &[u8] = b"msg";

/// What happened to a message after it was sent, as kept in the room's
/// `changes` hash under the message id: `e\n<unix ms>\n<text>` for the
/// latest edit; `d\n<unix ms>\n<sent ts>\n<sender>` for a deletion, which
/// keeps who sent it and when (the message itself is gone from the history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<'a> {
    Edited {
        at: i64,
        text: Cow<'a, str>,
    },
    Deleted {
        at: i64,
        ts: i64,
        sender: Cow<'a, str>,
    },
}

impl Change<'_> {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Change::Edited { at, text } => {
                out.extend_from_slice(b"e\n");
                crate::json::push_int(&mut out, *at);
                out.push(b'\n');
                out.extend_from_slice(text.as_bytes());
            }
            Change::Deleted { at, ts, sender } => {
                out.extend_from_slice(b"d\n");
                crate::json::push_int(&mut out, *at);
                out.push(b'\n');
                crate::json::push_int(&mut out, *ts);
                out.push(b'\n');
                out.extend_from_slice(sender.as_bytes());
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Change<'static>> {
        let owned = |b: &[u8]| Cow::Owned(String::from_utf8_lossy(b).into_owned());
        let (kind, rest) = bytes.split_at_checked(2)?;
        match kind {
            b"e\n" => {
                let mut parts = rest.splitn(2, |&b| b == b'\n');
                let at = parse_i64(parts.next()?)?;
                Some(Change::Edited {
                    at,
                    text: owned(parts.next().unwrap_or_default()),
                })
            }
            b"d\n" => {
                let mut parts = rest.splitn(3, |&b| b == b'\n');
                let at = parse_i64(parts.next()?)?;
                let ts = parse_i64(parts.next()?)?;
                Some(Change::Deleted {
                    at,
                    ts,
                    sender: owned(parts.next()?),
                })
            }
            _ => None,
        }
    }

    pub fn is_deletion(&self) -> bool {
        matches!(self, Change::Deleted { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    pub room: Cow<'a, str>,
    pub id: u64,
    pub sender: Cow<'a, str>,
    pub text: Cow<'a, str>,
    /// Unix time in milliseconds, taken once on the primary when it was sent.
    pub ts: i64,
    /// When the text was last edited (unix ms), if it was.
    pub edited: Option<i64>,
    /// Deleted by its author: the document is a tombstone without text.
    pub deleted: bool,
}

impl<'a> Message<'a> {
    /// The JSON document of the message.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(80 + self.text.len());
        self.fields(ObjectWriter::new(&mut out)).finish();
        out
    }

    /// The JSON document as FETCH returns it, with the inbox `delivery`.
    pub fn to_json_with_delivery(&self, delivery: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(110 + self.text.len());
        self.fields(ObjectWriter::new(&mut out))
            .str("delivery", delivery)
            .finish();
        out
    }

    fn fields<'w>(&self, w: ObjectWriter<'w>) -> ObjectWriter<'w> {
        let w = w
            .str("type", "message")
            .str("room", &self.room)
            .int("id", i64::try_from(self.id).unwrap_or(i64::MAX))
            .str("sender", &self.sender);
        if self.deleted {
            return w.int("ts", self.ts).bool("deleted", true);
        }
        let w = w.str("text", &self.text).int("ts", self.ts);
        match self.edited {
            Some(at) => w.int("edited", at),
            None => w,
        }
    }

    /// Applies an edit or a deletion recorded for this message.
    pub fn apply(&mut self, change: &Change) {
        match change {
            Change::Edited { at, text } => {
                self.text = Cow::Owned(text.to_string());
                self.edited = Some(*at);
            }
            Change::Deleted { ts, sender, .. } => {
                self.sender = Cow::Owned(sender.to_string());
                self.ts = *ts;
                self.text = Cow::Borrowed("");
                self.edited = None;
                self.deleted = true;
            }
        }
    }

    /// Rebuilds a message from a room log entry. Missing or unreadable fields
    /// (only possible if someone edited the stream by hand) become empty
    /// values rather than failing the whole read.
    pub fn from_log_entry<'f>(
        room: &'a str,
        id: u64,
        fields: impl IntoIterator<Item = (&'f [u8], &'f [u8])>,
    ) -> Message<'a> {
        let mut msg = Message {
            room: Cow::Borrowed(room),
            id,
            sender: Cow::Borrowed(""),
            text: Cow::Borrowed(""),
            ts: 0,
            edited: None,
            deleted: false,
        };
        for (name, value) in fields {
            msg.set_field(name, value);
        }
        msg
    }

    /// The value of the `msg` field of an inbox copy.
    pub fn inbox_value(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(self.room.len() + self.sender.len() + self.text.len() + 40);
        out.extend_from_slice(self.room.as_bytes());
        out.push(b'\n');
        crate::json::push_int(&mut out, i64::try_from(self.id).unwrap_or(i64::MAX));
        out.push(b'\n');
        out.extend_from_slice(self.sender.as_bytes());
        out.push(b'\n');
        crate::json::push_int(&mut out, self.ts);
        out.push(b'\n');
        out.extend_from_slice(self.text.as_bytes());
        out
    }

    /// Rebuilds a message from an inbox entry. A value that is not in the
    /// packed form (only possible if someone edited the inbox by hand) gives
    /// empty fields rather than failing the whole read.
    pub fn from_inbox_entry<'f>(
        fields: impl IntoIterator<Item = (&'f [u8], &'f [u8])>,
    ) -> Message<'static> {
        let mut msg = Message {
            room: Cow::Borrowed(""),
            id: 0,
            sender: Cow::Borrowed(""),
            text: Cow::Borrowed(""),
            ts: 0,
            edited: None,
            deleted: false,
        };
        let Some((_, value)) = fields.into_iter().find(|(name, _)| *name == INBOX_FIELD) else {
            return msg;
        };
        let mut parts = value.splitn(5, |&b| b == b'\n');
        for name in [&b"room"[..], b"id", b"sender", b"ts", b"text"] {
            if let Some(part) = parts.next() {
                msg.set_field(name, part);
            }
        }
        msg
    }

    fn set_field(&mut self, name: &[u8], value: &[u8]) {
        let text = || Cow::Owned(String::from_utf8_lossy(value).into_owned());
        match name {
            b"room" => self.room = text(),
            b"id" => self.id = parse_u64(value).unwrap_or(0),
            b"sender" => self.sender = text(),
            b"text" => self.text = text(),
            b"ts" => self.ts = parse_i64(value).unwrap_or(0),
            _ => {}
        }
    }
}

pub fn parse_u64(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn sample() -> Message<'static> {
        Message {
            room: "general".into(),
            id: 7,
            sender: "alice".into(),
            text: "hi \"bob\"\n<b>".into(),
            ts: 1_764_201_600_000,
            edited: None,
            deleted: false,
        }
    }

    #[test]
    fn document_has_the_documented_fields_in_order() {
        let json = String::from_utf8(sample().to_json()).unwrap();
        assert_eq!(
            json,
            r#"{"type":"message","room":"general","id":7,"sender":"alice","text":"hi \"bob\"\n<b>","ts":1764201600000}"#
        );
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["text"], json!("hi \"bob\"\n<b>"));
    }

    #[test]
    fn fetch_document_adds_delivery() {
        let v: Value = serde_json::from_slice(&sample().to_json_with_delivery("17-0")).unwrap();
        assert_eq!(v["delivery"], json!("17-0"));
        assert_eq!(v["id"], json!(7));
        assert_eq!(v.as_object().unwrap().len(), 7);
    }

    #[test]
    fn stored_fields_round_trip() {
        let m = sample();
        let ts = m.ts.to_string();
        let log = [
            (LOG_FIELDS[0], m.sender.as_bytes()),
            (LOG_FIELDS[1], m.text.as_bytes()),
            (LOG_FIELDS[2], ts.as_bytes()),
        ];
        assert_eq!(Message::from_log_entry("general", 7, log), m);

        let value = m.inbox_value();
        assert_eq!(value, b"general\n7\nalice\n1764201600000\nhi \"bob\"\n<b>");
        let inbox = [(&b"other"[..], &b"x"[..]), (INBOX_FIELD, &value[..])];
        assert_eq!(Message::from_inbox_entry(inbox), m);
        // A copy is smaller than the document it stands for.
        assert!(value.len() < m.to_json().len());
    }

    #[test]
    fn edits_and_deletions_change_the_document() {
        let mut m = sample();
        let edit = Change::Edited {
            at: 5,
            text: "new\ntext".into(),
        };
        assert_eq!(Change::decode(&edit.encode()), Some(edit.clone()));
        m.apply(&edit);
        let v: Value = serde_json::from_slice(&m.to_json()).unwrap();
        assert_eq!(v["text"], json!("new\ntext"));
        assert_eq!(v["edited"], json!(5));

        let deletion = Change::Deleted {
            at: 6,
            ts: 1_764_201_600_000,
            sender: "alice".into(),
        };
        assert_eq!(Change::decode(&deletion.encode()), Some(deletion.clone()));
        m.apply(&deletion);
        let v: Value = serde_json::from_slice(&m.to_json()).unwrap();
        assert_eq!(
            v,
            json!({"type": "message", "room": "general", "id": 7, "sender": "alice", "ts": 1764201600000u64, "deleted": true})
        );
        assert_eq!(Change::decode(b"x\n1"), None);
        assert_eq!(Change::decode(b"d\n1"), None);
        assert_eq!(Change::decode(b"e\nnope\ntext"), None);
    }

    #[test]
    fn tampered_entries_still_give_valid_json() {
        let fields = [
            (&b"text"[..], &b"\xff\xfe bad"[..]),
            (b"ts", b"not a number"),
            (b"extra", b"ignored"),
        ];
        let m = Message::from_log_entry("r", 1, fields);
        let v: Value = serde_json::from_slice(&m.to_json()).unwrap();
        assert_eq!(v["ts"], json!(0));
        assert_eq!(v["sender"], json!(""));
        assert!(v["text"].as_str().unwrap().ends_with(" bad"));
    }
}
