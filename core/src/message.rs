//! The message document and how a message is stored.
//!
//! One JSON shape everywhere a message appears (HISTORY, FETCH, pub/sub):
//!
//! ```text
//! {"type":"message","room":"general","id":7,"sender":"alice","text":"hi","ts":1764201600000}
//! ```
//!
//! FETCH adds `"delivery"`. In Redis a message is stored as stream fields, not
//! as JSON: the room log keeps `sender`, `text`, `ts` under entry id `<id>-0`
//! (the room is the key), an inbox keeps `room`, `id`, `sender`, `text`, `ts`.
//! Streams store the field names once per node, so an inbox copy costs less
//! than the JSON document it stands for.

use std::borrow::Cow;

use crate::json::ObjectWriter;

/// Field names in a room log entry, in the order they are written.
pub const LOG_FIELDS: [&[u8]; 3] = [b"sender", b"text", b"ts"];
/// Field names in an inbox entry, in the order they are written.
pub const INBOX_FIELDS: [&[u8]; 5] = [b"room", b"id", b"sender", b"text", b"ts"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    pub room: Cow<'a, str>,
    pub id: u64,
    pub sender: Cow<'a, str>,
    pub text: Cow<'a, str>,
    /// Unix time in milliseconds, taken once on the primary when it was sent.
    pub ts: i64,
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
        w.str("type", "message")
            .str("room", &self.room)
            .int("id", i64::try_from(self.id).unwrap_or(i64::MAX))
            .str("sender", &self.sender)
            .str("text", &self.text)
            .int("ts", self.ts)
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
        };
        for (name, value) in fields {
            msg.set_field(name, value);
        }
        msg
    }

    /// Rebuilds a message from an inbox entry.
    pub fn from_inbox_entry<'f>(
        fields: impl IntoIterator<Item = (&'f [u8], &'f [u8])>,
    ) -> Message<'static> {
        let mut msg = Message {
            room: Cow::Borrowed(""),
            id: 0,
            sender: Cow::Borrowed(""),
            text: Cow::Borrowed(""),
            ts: 0,
        };
        for (name, value) in fields {
            msg.set_field(name, value);
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

        let id = m.id.to_string();
        let inbox = [
            (INBOX_FIELDS[0], m.room.as_bytes()),
            (INBOX_FIELDS[1], id.as_bytes()),
            (INBOX_FIELDS[2], m.sender.as_bytes()),
            (INBOX_FIELDS[3], m.text.as_bytes()),
            (INBOX_FIELDS[4], ts.as_bytes()),
        ];
        assert_eq!(Message::from_inbox_entry(inbox), m);
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
