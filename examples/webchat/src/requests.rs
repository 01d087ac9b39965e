//! What a page may ask of its WebSocket: `{"op": ..., "req": n, ...}`.
//!
//! Every operation acts as the signed-in user of the socket; none names
//! another user to act as, drops a room or unregisters anyone.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Deserialize)]
pub struct Request {
    pub req: Option<u64>,
    #[serde(flatten)]
    pub op: Op,
}

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Open {
        room: String,
    },
    Older {
        room: String,
        before: i64,
    },
    After {
        room: String,
        after: i64,
        count: u32,
    },
    Catchup {
        rooms: BTreeMap<String, i64>,
    },
    Room {
        room: String,
    },
    Send {
        room: String,
        text: String,
        nonce: String,
        /// The message this one replies to: it joins that thread.
        #[serde(default)]
        reply_to: Option<i64>,
        /// The names written as `@name`; the members among them are
        /// mentioned.
        #[serde(default)]
        mentions: Vec<String>,
    },
    Typing {
        room: String,
    },
    Read {
        room: String,
        id: i64,
    },
    Join {
        room: String,
        title: Option<String>,
    },
    Leave {
        room: String,
    },
    Dm {
        user: String,
    },
    Presence {
        rooms: Vec<String>,
    },
    Ack {
        delivery: String,
    },
    Edit {
        room: String,
        id: i64,
        text: String,
    },
    Delete {
        room: String,
        id: i64,
    },
    Profiles {
        users: Vec<String>,
    },
    Passwd {
        old: String,
        new: String,
    },
    /// A thread's root and replies; with `after`, the replies after it.
    Thread {
        room: String,
        id: i64,
        after: Option<i64>,
    },
    /// Adds (`on`) or takes back a reaction of the user.
    React {
        room: String,
        id: i64,
        reaction: String,
        on: bool,
    },
    /// Pins (`on`) or unpins a message.
    Pin {
        room: String,
        id: i64,
        on: bool,
    },
    Pins {
        room: String,
    },
    Ping,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Option<Request> {
        serde_json::from_str(text).ok()
    }

    #[test]
    fn requests_from_the_page() {
        let r =
            parse(r#"{"op":"send","req":3,"room":"general","text":"hi","nonce":"ab"}"#).unwrap();
        assert_eq!(r.req, Some(3));
        assert!(
            matches!(r.op, Op::Send { ref room, ref text, ref nonce, reply_to: None, ref mentions }
            if room == "general" && text == "hi" && nonce == "ab" && mentions.is_empty())
        );
        let r = parse(r#"{"op":"read","room":"general","id":7}"#).unwrap();
        assert!(r.req.is_none());
        assert!(matches!(r.op, Op::Read { id: 7, .. }));
        let r =
            parse(r#"{"op":"catchup","req":1,"rooms":{"general":4,"dm:5:alice:bob":0}}"#).unwrap();
        assert!(matches!(r.op, Op::Catchup { ref rooms } if rooms.len() == 2));
    }

    #[test]
    fn conversation_requests() {
        let r = parse(
            r#"{"op":"send","room":"g","text":"hi @bob","nonce":"n","reply_to":7,"mentions":["bob"]}"#,
        )
        .unwrap();
        assert!(
            matches!(r.op, Op::Send { reply_to: Some(7), ref mentions, .. } if mentions == &["bob"])
        );
        let r = parse(r#"{"op":"thread","room":"g","id":7}"#).unwrap();
        assert!(matches!(
            r.op,
            Op::Thread {
                id: 7,
                after: None,
                ..
            }
        ));
        let r = parse(r#"{"op":"react","room":"g","id":7,"reaction":"ok","on":false}"#).unwrap();
        assert!(matches!(r.op, Op::React { on: false, ref reaction, .. } if reaction == "ok"));
        assert!(matches!(
            parse(r#"{"op":"pin","room":"g","id":7,"on":true}"#)
                .unwrap()
                .op,
            Op::Pin {
                id: 7,
                on: true,
                ..
            }
        ));
        assert!(parse(r#"{"op":"react","room":"g","id":7,"reaction":"ok"}"#).is_none());
    }

    #[test]
    fn requests_the_page_cannot_make() {
        // No operation drops rooms, unregisters users or acts for someone else.
        assert!(parse(r#"{"op":"drop","room":"general"}"#).is_none());
        assert!(parse(r#"{"op":"unregister","user":"bob"}"#).is_none());
        assert!(parse(r#"{"op":"send","room":"general"}"#).is_none());
        assert!(parse(r#"{"op":"read","room":"general","id":"x"}"#).is_none());
        // A user named in a request is ignored: it acts as the socket's user.
        assert!(parse(
            r#"{"op":"react","room":"g","user":"bob","id":7,"reaction":"ok","on":true}"#
        )
        .is_some_and(|r| matches!(r.op, Op::React { .. })));
        assert!(parse("not json").is_none());
    }
}
