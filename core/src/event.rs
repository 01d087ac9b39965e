//! Everything besides messages that is published on push channels. Each is
//! a JSON object with a `type`, like messages, so one client loop reads all.
//!
//! ```text
//! {"type":"read","room":"general","user":"bob","id":7}
//! {"type":"edit","room":"general","id":7,"sender":"alice","text":"hi!","edited":1764201600000}
//! {"type":"delete","room":"general","id":7,"sender":"alice"}
//! {"type":"typing","room":"general","user":"alice"}
//! {"type":"dropped","room":"general"}
//! {"type":"mode","room":"general","mode":"broadcast","channel":"chat:room:{general}:push"}
//! {"type":"reaction","room":"general","id":7,"user":"bob","reaction":"👍","added":true}
//! {"type":"pin","room":"general","id":7,"user":"bob"}
//! {"type":"unpin","room":"general","id":7,"user":"bob"}
//! {"type":"mention","room":"general","id":7,"sender":"alice","text":"@bob look"}
//! {"type":"role","room":"general","user":"bob","role":"admin","by":"alice"}
//! {"type":"kick","room":"general","user":"bob","by":"alice"}
//! {"type":"ban","room":"general","user":"bob","by":"alice","until":1764201900000}
//! {"type":"unban","room":"general","user":"bob","by":"alice"}
//! {"type":"mute","room":"general","user":"bob","by":"alice","until":null}
//! {"type":"unmute","room":"general","user":"bob","by":"alice"}
//! {"type":"slowmode","room":"general","seconds":10,"by":"alice"}
//! {"type":"invite","room":"general","user":"bob","by":"alice","title":"General"}
//! {"type":"member","room":"general","user":"bob","change":"join"}
//! {"type":"presence","user":"bob","online":true,"until":1764201660000}
//! {"type":"reset","room":"general","epoch":"9f3c0a1b22d4e5f6","last_id":120}
//! ```
//!
//! The same shape says what a reply cannot bring back: a page of history
//! or a thread starts with `{"type":"gap","room":"general","after":3,"before":120}`
//! when retention removed the ids between, and CHAT.FETCH with
//! `{"type":"gap","dropped":17,"delivery":"1764201600000-3"}` when the inbox
//! dropped copies past `chat.inbox-max`.

use serde::Serialize;

/// How a room delivers messages live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RoomMode {
    /// Each member gets each message on their own push channel, or in their
    /// inbox when not listening.
    Fanout,
    /// Too many members for a copy each: one publish on the room's channel,
    /// no inbox copies; members catch up with UNREAD and HISTORY.
    Broadcast,
}

impl RoomMode {
    /// The mode a room with `members` members is in.
    pub fn for_members(members: u64, fanout_max_members: u64) -> RoomMode {
        if members > fanout_max_members {
            RoomMode::Broadcast
        } else {
            RoomMode::Fanout
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            RoomMode::Fanout => "fanout",
            RoomMode::Broadcast => "broadcast",
        }
    }
}

/// Serialized with its `type` first and then its fields, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event<'a> {
    Read {
        room: &'a str,
        user: &'a str,
        id: u64,
    },
    Edit {
        room: &'a str,
        id: u64,
        sender: &'a str,
        text: &'a str,
        edited: i64,
    },
    Delete {
        room: &'a str,
        id: u64,
        sender: &'a str,
        /// An owner or admin who deleted another's message.
        #[serde(skip_serializing_if = "Option::is_none")]
        by: Option<&'a str>,
    },
    Typing {
        room: &'a str,
        user: &'a str,
    },
    Dropped {
        room: &'a str,
    },
    /// The room switched delivery mode; in broadcast mode, `channel` is the
    /// room channel to listen on.
    Mode {
        room: &'a str,
        mode: RoomMode,
        /// Only for a broadcast room: a fan-out room has no channel to name.
        #[serde(skip_serializing_if = "str::is_empty")]
        channel: &'a str,
    },
    Reaction {
        room: &'a str,
        id: u64,
        user: &'a str,
        reaction: &'a str,
        /// False when the reaction was taken back.
        added: bool,
    },
    Pin {
        room: &'a str,
        id: u64,
        user: &'a str,
    },
    Unpin {
        room: &'a str,
        id: u64,
        user: &'a str,
    },
    /// To a mentioned member of a broadcast room, on their own channel.
    Mention {
        room: &'a str,
        id: u64,
        sender: &'a str,
        text: &'a str,
    },
    /// A member's role changed (`role` is owner, admin or member).
    Role {
        room: &'a str,
        user: &'a str,
        role: &'a str,
        by: &'a str,
    },
    Kick {
        room: &'a str,
        user: &'a str,
        by: &'a str,
    },
    /// `until`: unix ms, or null for a ban until CHAT.UNBAN.
    Ban {
        room: &'a str,
        user: &'a str,
        by: &'a str,
        until: Option<i64>,
    },
    Unban {
        room: &'a str,
        user: &'a str,
        by: &'a str,
    },
    /// `until`: unix ms, or null for a mute until CHAT.UNMUTE.
    Mute {
        room: &'a str,
        user: &'a str,
        by: &'a str,
        until: Option<i64>,
    },
    Unmute {
        room: &'a str,
        user: &'a str,
        by: &'a str,
    },
    /// Slow mode changed; 0 seconds: off.
    #[serde(rename = "slowmode")]
    SlowMode {
        room: &'a str,
        seconds: u32,
        by: &'a str,
    },
    /// To the invited user, on their own channel.
    Invite {
        room: &'a str,
        user: &'a str,
        by: &'a str,
        title: &'a str,
    },
    /// Someone joined, left, was invited to, kicked from or banned from the
    /// room (`change`: join, leave, invite, kick, ban).
    Member {
        room: &'a str,
        user: &'a str,
        change: &'a str,
    },
    /// On the user's presence channel: they came online (until `until`,
    /// unix ms) or went offline (`until` null), once per change.
    Presence {
        user: &'a str,
        online: bool,
        until: Option<i64>,
    },
    /// The room's ids after some point may name other messages than a
    /// client saw (`data::epoch`): it now has epoch `epoch`, and `last_id`
    /// is its newest id. Live, once per change; and first in a page asked
    /// for with another epoch, or after an id the room never reached.
    Reset {
        room: &'a str,
        epoch: &'a str,
        last_id: u64,
    },
    /// Messages after `after` and before `before` were removed by retention.
    #[serde(rename = "gap")]
    HistoryGap {
        room: &'a str,
        after: u64,
        before: u64,
    },
    /// The inbox dropped `dropped` copies unread; the last had `delivery`.
    #[serde(rename = "gap")]
    InboxGap {
        dropped: u64,
        delivery: &'a str,
    },
}

impl Event<'_> {
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        // Writing plain data to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, self);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parse(e: Event) -> Value {
        serde_json::from_slice(&e.to_json()).unwrap()
    }

    #[test]
    fn every_event_has_a_type_and_its_fields() {
        assert_eq!(
            parse(Event::Read {
                room: "r",
                user: "u",
                id: 3
            }),
            json!({"type": "read", "room": "r", "user": "u", "id": 3})
        );
        assert_eq!(
            parse(Event::Edit {
                room: "r",
                id: 3,
                sender: "a",
                text: "x\"y",
                edited: 9
            }),
            json!({"type": "edit", "room": "r", "id": 3, "sender": "a", "text": "x\"y", "edited": 9})
        );
        assert_eq!(
            parse(Event::Delete {
                room: "r",
                id: 3,
                sender: "a",
                by: None
            }),
            json!({"type": "delete", "room": "r", "id": 3, "sender": "a"})
        );
        assert_eq!(
            parse(Event::Delete {
                room: "r",
                id: 3,
                sender: "a",
                by: Some("o")
            }),
            json!({"type": "delete", "room": "r", "id": 3, "sender": "a", "by": "o"})
        );
        assert_eq!(
            parse(Event::Ban {
                room: "r",
                user: "b",
                by: "o",
                until: None
            }),
            json!({"type": "ban", "room": "r", "user": "b", "by": "o", "until": null})
        );
        assert_eq!(
            parse(Event::SlowMode {
                room: "r",
                seconds: 5,
                by: "o"
            }),
            json!({"type": "slowmode", "room": "r", "seconds": 5, "by": "o"})
        );
        assert_eq!(
            parse(Event::Typing {
                room: "r",
                user: "u"
            }),
            json!({"type": "typing", "room": "r", "user": "u"})
        );
        assert_eq!(
            parse(Event::Dropped { room: "r" }),
            json!({"type": "dropped", "room": "r"})
        );
        assert_eq!(
            parse(Event::Mode {
                room: "r",
                mode: RoomMode::Broadcast,
                channel: "c"
            }),
            json!({"type": "mode", "room": "r", "mode": "broadcast", "channel": "c"})
        );
        assert_eq!(
            parse(Event::Mode {
                room: "r",
                mode: RoomMode::Fanout,
                channel: ""
            }),
            json!({"type": "mode", "room": "r", "mode": "fanout"})
        );
    }

    #[test]
    fn a_room_broadcasts_past_the_limit() {
        assert_eq!(RoomMode::for_members(500, 500), RoomMode::Fanout);
        assert_eq!(RoomMode::for_members(501, 500), RoomMode::Broadcast);
        assert_eq!(RoomMode::for_members(0, 1), RoomMode::Fanout);
    }
}
