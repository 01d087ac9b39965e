//! The message document: one JSON shape everywhere a message appears
//! (HISTORY, FETCH, pub/sub, the inbox copies' documents):
//!
//! ```text
//! {"type":"message","room":"general","id":7,"sender":"alice","text":"hi","ts":1764201600000}
//! ```
//!
//! An edited message adds `"edited"` (unix ms of the last edit) after `ts`;
//! a deleted one is a tombstone without `text`, with `"deleted":true` (and
//! `"deleted_by"` when an owner or admin deleted another's message). Then,
//! when there are any: `"reply_to"` (the message it answers), `"mentions"`,
//! `"replies"` and `"last_reply"` (of a message with replies) and
//! `"reactions"` (reaction -> count). FETCH adds `"delivery"` last. Messages are not stored as JSON (see `data`): the
//! document is made when a message is read, and once per send for the live
//! route.

use std::borrow::Cow;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::data::extra::Extra;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message<'a> {
    pub room: Cow<'a, str>,
    pub id: u64,
    pub sender: Cow<'a, str>,
    pub text: Cow<'a, str>,
    /// Unix time in milliseconds, taken once on the primary when it was sent.
    pub ts: i64,
    /// When the text was last edited (unix ms), if it was.
    pub edited: Option<i64>,
    /// Deleted: the document is a tombstone without text.
    pub deleted: bool,
    /// Who deleted it, when an owner or admin deleted another's message.
    pub deleted_by: Option<&'a str>,
    /// The message it replies to and the members it mentions.
    pub extra: Extra<'a>,
    /// How many replies it has and the id of the last, if it has any.
    pub replies: Option<(u64, u64)>,
    /// Each reaction with how many gave it, in the order first given.
    pub reactions: Vec<(&'a str, u64)>,
}

/// Reactions as a JSON object, in their own order.
pub(crate) struct Reactions<'a>(&'a [(&'a str, u64)]);

impl Serialize for Reactions<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (reaction, count) in self.0 {
            map.serialize_entry(reaction, count)?;
        }
        map.end()
    }
}

/// The document as serde writes it, fields in this order. `CHAT.DUMP`
/// writes the messages of a room with neither `type` nor `room` (both
/// empty here), the copies of an inbox without `type`.
#[derive(Serialize)]
pub(crate) struct Document<'a> {
    #[serde(rename = "type", skip_serializing_if = "str::is_empty")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub room: &'a str,
    pub id: u64,
    pub sender: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<&'a str>,
    pub ts: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edited: Option<i64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_by: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<u64>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub mentions: &'a [&'a str],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replies: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_reply: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reactions: Option<Reactions<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<&'a str>,
}

impl<'a> Document<'a> {
    /// A document with the fields every message has; the rest empty.
    pub fn new(id: u64, sender: &'a str, ts: i64) -> Document<'a> {
        Document {
            kind: "",
            room: "",
            id,
            sender,
            text: None,
            ts,
            edited: None,
            deleted: false,
            deleted_by: None,
            reply_to: None,
            mentions: &[],
            replies: None,
            last_reply: None,
            reactions: None,
            delivery: None,
        }
    }

    /// The fields of a message, as `CHAT.DUMP` lists them: without `type`
    /// and `room`.
    pub fn of_message(m: &'a Message<'a>) -> Document<'a> {
        let mut document = Document {
            text: (!m.deleted).then_some(&*m.text),
            edited: m.edited.filter(|_| !m.deleted),
            deleted: m.deleted,
            deleted_by: m.deleted_by,
            reply_to: m.extra.reply_to,
            mentions: &m.extra.mentions,
            replies: m.replies.map(|(n, _)| n),
            last_reply: m.replies.map(|(_, last)| last),
            ..Document::new(m.id, &m.sender, m.ts)
        };
        document.reactions(&m.reactions);
        document
    }

    /// Sets the reactions shown (none for an empty list).
    pub fn reactions(&mut self, reactions: &'a [(&'a str, u64)]) {
        self.reactions = (!reactions.is_empty()).then_some(Reactions(reactions));
    }
}

impl Message<'_> {
    /// The JSON document of the message.
    pub fn to_json(&self) -> Vec<u8> {
        self.write(None)
    }

    /// The JSON document as FETCH returns it, with the inbox `delivery`.
    pub fn to_json_with_delivery(&self, delivery: &str) -> Vec<u8> {
        self.write(Some(delivery))
    }

    fn write(&self, delivery: Option<&str>) -> Vec<u8> {
        let mut out = Vec::with_capacity(100 + self.text.len());
        self.write_json(delivery, &mut out);
        out
    }

    /// Appends the document (with `delivery` for FETCH) to `out`: a page of
    /// documents is written into one buffer.
    pub fn write_json(&self, delivery: Option<&str>, out: &mut Vec<u8>) {
        let document = Document {
            kind: "message",
            room: &self.room,
            delivery,
            ..Document::of_message(self)
        };
        // Writing plain data to a Vec cannot fail.
        let _ = serde_json::to_writer(out, &document);
    }
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
            text: "hi \"bob\"\n<b>\u{1}".into(),
            ts: 1_764_201_600_000,
            edited: None,
            deleted: false,
            ..Message::default()
        }
    }

    #[test]
    fn document_has_the_documented_fields_in_order() {
        let json = String::from_utf8(sample().to_json()).unwrap();
        assert_eq!(
            json,
            r#"{"type":"message","room":"general","id":7,"sender":"alice","text":"hi \"bob\"\n<b>\u0001","ts":1764201600000}"#
        );
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["text"], json!("hi \"bob\"\n<b>\u{1}"));
    }

    #[test]
    fn fetch_document_adds_delivery_last() {
        let json = String::from_utf8(sample().to_json_with_delivery("17-0")).unwrap();
        assert!(json.ends_with(r#","delivery":"17-0"}"#), "{json}");
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["id"], json!(7));
        assert_eq!(v.as_object().unwrap().len(), 7);
    }

    #[test]
    fn edits_and_deletions_show_in_the_document() {
        let mut m = sample();
        m.text = "new".into();
        m.edited = Some(5);
        let json = String::from_utf8(m.to_json()).unwrap();
        assert!(
            json.ends_with(r#""text":"new","ts":1764201600000,"edited":5}"#),
            "{json}"
        );
        m.deleted = true;
        m.text = "".into();
        let json = String::from_utf8(m.to_json_with_delivery("1-0")).unwrap();
        assert_eq!(
            json,
            r#"{"type":"message","room":"general","id":7,"sender":"alice","ts":1764201600000,"deleted":true,"delivery":"1-0"}"#
        );
    }
}
