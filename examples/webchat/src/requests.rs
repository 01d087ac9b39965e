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
    /// Joins a room; one that does not exist is made, with the user as its
    /// owner if `owner` or `private` (then joined only by invitation).
    Join {
        room: String,
        title: Option<String>,
        #[serde(default)]
        owner: bool,
        #[serde(default)]
        private: bool,
    },
    Leave {
        room: String,
    },
    Dm {
        user: String,
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
    // Moderation (moderation.rs): the module decides who may.
    /// The members of a room with their roles; for its owners and admins
    /// also the bans, mutes and invitations in force (CHAT.MODERATION).
    Members {
        room: String,
    },
    /// Gives a member the role owner, admin or member.
    Role {
        room: String,
        user: String,
        role: String,
    },
    Kick {
        room: String,
        user: String,
    },
    /// `seconds`: for that long; none: until lifted.
    Ban {
        room: String,
        user: String,
        seconds: Option<u64>,
    },
    Unban {
        room: String,
        user: String,
    },
    Mute {
        room: String,
        user: String,
        seconds: Option<u64>,
    },
    Unmute {
        room: String,
        user: String,
    },
    /// Seconds a member waits between two messages; 0 turns it off.
    Slowmode {
        room: String,
        seconds: u32,
    },
    Invite {
        room: String,
        user: String,
    },
    /// The user's pending invitations.
    Invites,
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
    fn moderation_requests() {
        let r = parse(r#"{"op":"join","room":"den","private":true}"#).unwrap();
        assert!(matches!(
            r.op,
            Op::Join {
                private: true,
                owner: false,
                ..
            }
        ));
        let r = parse(r#"{"op":"join","room":"den"}"#).unwrap();
        assert!(matches!(
            r.op,
            Op::Join {
                private: false,
                owner: false,
                ..
            }
        ));
        let r = parse(r#"{"op":"role","room":"den","user":"bob","role":"admin"}"#).unwrap();
        assert!(matches!(r.op, Op::Role { ref role, .. } if role == "admin"));
        let r = parse(r#"{"op":"mute","room":"den","user":"bob","seconds":600}"#).unwrap();
        assert!(matches!(
            r.op,
            Op::Mute {
                seconds: Some(600),
                ..
            }
        ));
        let r = parse(r#"{"op":"ban","room":"den","user":"bob"}"#).unwrap();
        assert!(matches!(r.op, Op::Ban { seconds: None, .. }));
        assert!(matches!(
            parse(r#"{"op":"slowmode","room":"den","seconds":30}"#)
                .unwrap()
                .op,
            Op::Slowmode { seconds: 30, .. }
        ));
        assert!(matches!(
            parse(r#"{"op":"invites","req":2}"#).unwrap().op,
            Op::Invites
        ));
        // The actor is always the socket's user: no request names one.
        assert!(parse(r#"{"op":"kick","room":"den"}"#).is_none());
        assert!(parse(r#"{"op":"slowmode","room":"den","seconds":-1}"#).is_none());
        assert!(parse(r#"{"op":"drop","room":"den"}"#).is_none());
    }

    #[test]
    fn requests_the_page_cannot_make() {
        // No operation drops rooms, unregisters users or acts for someone else.
        assert!(parse(r#"{"op":"drop","room":"general"}"#).is_none());
        assert!(parse(r#"{"op":"unregister","user":"bob"}"#).is_none());
        // Presence comes from the module's events; the page asks none.
        assert!(parse(r#"{"op":"presence","rooms":["general"]}"#).is_none());
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
