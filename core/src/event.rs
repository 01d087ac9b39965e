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
//! ```

use crate::json::ObjectWriter;

/// How a room delivers messages live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

#[derive(Debug, Clone, PartialEq, Eq)]
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
        channel: &'a str,
    },
}

impl Event<'_> {
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        let w = ObjectWriter::new(&mut out);
        let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        match self {
            Event::Read { room, user, id } => w
                .str("type", "read")
                .str("room", room)
                .str("user", user)
                .int("id", int(*id)),
            Event::Edit {
                room,
                id,
                sender,
                text,
                edited,
            } => w
                .str("type", "edit")
                .str("room", room)
                .int("id", int(*id))
                .str("sender", sender)
                .str("text", text)
                .int("edited", *edited),
            Event::Delete { room, id, sender } => w
                .str("type", "delete")
                .str("room", room)
                .int("id", int(*id))
                .str("sender", sender),
            Event::Typing { room, user } => {
                w.str("type", "typing").str("room", room).str("user", user)
            }
            Event::Dropped { room } => w.str("type", "dropped").str("room", room),
            Event::Mode {
                room,
                mode,
                channel,
            } => {
                let w = w
                    .str("type", "mode")
                    .str("room", room)
                    .str("mode", mode.name());
                match mode {
                    RoomMode::Broadcast => w.str("channel", channel),
                    RoomMode::Fanout => w,
                }
            }
        }
        .finish();
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
                sender: "a"
            }),
            json!({"type": "delete", "room": "r", "id": 3, "sender": "a"})
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
                channel: "c"
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
