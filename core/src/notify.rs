//! Notifications for members who are away: who gets one for a message, and
//! the stream a notification worker reads them from.
//!
//! A notification is a Redis stream entry, so a worker reads with consumer
//! groups (XREADGROUP, XACK, XAUTOCLAIM), and the entries are as durable
//! and replicated as any stream. A send writes only its room's slot, so in
//! Redis Cluster each slot has its own stream, named with a hash tag that
//! lands in that slot; a worker finds them on each node with
//! `SCAN 0 MATCH chat:notify* TYPE stream`. One server has one stream.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::channels::slot;

/// What a user is notified of while away (`CHAT.NOTIFY`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Notify {
    /// Messages that mention them, and every message of a direct room.
    #[default]
    Mentions,
    /// Every message of every room (a broadcast room's only when they are
    /// mentioned: nobody checks who is away among thousands).
    All,
    None,
}

impl Notify {
    pub fn name(self) -> &'static str {
        match self {
            Notify::Mentions => "mentions",
            Notify::All => "all",
            Notify::None => "none",
        }
    }

    pub fn parse(word: &[u8]) -> Option<Notify> {
        [Notify::All, Notify::Mentions, Notify::None]
            .into_iter()
            .find(|n| word.eq_ignore_ascii_case(n.name().as_bytes()))
    }

    /// Why a member away with this setting is notified of a message: it
    /// mentions them, or it is in a direct room, or they want all; `None`
    /// when they are not.
    pub fn reason(self, mentioned: bool, direct: bool) -> Option<&'static str> {
        match self {
            Notify::None => None,
            _ if mentioned => Some("mention"),
            _ if direct => Some("direct"),
            Notify::All => Some("message"),
            Notify::Mentions => None,
        }
    }
}

/// The stream of one server.
pub const NOTIFY_KEY: &str = "chat:notify";

/// The stream that holds the notifications of room `room`: `chat:notify`,
/// or in Redis Cluster `chat:notify:{<tag>}` with a tag of the room's slot.
pub fn notify_key(room: &str, cluster: bool) -> String {
    if !cluster {
        return NOTIFY_KEY.to_owned();
    }
    let slot = crate::channels::slot_of_id(room);
    format!("{NOTIFY_KEY}:{{{}}}", slot_tag(slot))
}

/// The smallest number whose decimal digits hash to `slot`.
pub fn slot_tag(slot_wanted: u16) -> u32 {
    static TAGS: OnceLock<Vec<u32>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        let mut tags = vec![u32::MAX; 16384];
        let mut left = tags.len();
        let mut n = 0u32;
        while left > 0 {
            let s = slot(n.to_string().as_bytes()) as usize;
            if let Some(tag) = tags.get_mut(s) {
                if *tag == u32::MAX {
                    *tag = n;
                    left -= 1;
                }
            }
            n += 1;
        }
        tags
    });
    tags.get(slot_wanted as usize).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_is_notified_of_what() {
        assert_eq!(Notify::Mentions.reason(true, false), Some("mention"));
        assert_eq!(Notify::Mentions.reason(false, true), Some("direct"));
        assert_eq!(Notify::Mentions.reason(false, false), None);
        assert_eq!(Notify::All.reason(false, false), Some("message"));
        assert_eq!(Notify::None.reason(true, true), None);
        assert_eq!(Notify::parse(b"ALL"), Some(Notify::All));
        assert_eq!(Notify::parse(b"some"), None);
    }

    #[test]
    fn each_slot_has_a_stream_in_it() {
        assert_eq!(notify_key("general", false), "chat:notify");
        for room in ["general", "{acme}team", "dm:a:b", "x"] {
            let key = notify_key(room, true);
            assert_eq!(
                slot(key.as_bytes()),
                crate::channels::slot_of_id(room),
                "{key}"
            );
        }
        for s in [0u16, 1, 5000, 16383] {
            assert_eq!(slot(slot_tag(s).to_string().as_bytes()), s);
        }
    }
}
