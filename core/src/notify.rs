//! Notifications for members who are away: who gets one for a message, and
//! the stream a notification worker reads them from.
//!
//! A send that notifies anyone records one Redis stream entry naming the
//! message and every member away it concerns. Being a stream entry, a worker reads it with consumer
//! groups (XREADGROUP, XACK, XAUTOCLAIM), and the entries are as durable
//! and replicated as any stream. A send writes only its room's slot, so in
//! Redis Cluster each slot has its own stream, named with a hash tag that
//! lands in that slot; a worker finds them on each node with
//! `SCAN 0 MATCH chat:notify* TYPE stream`. One server has one stream.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::channels::slot;
use crate::ids::is_id_byte;

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

/// The members away whom one message notifies, each with why, in the
/// order they were considered, written as they come into the entry's `to`
/// field: a JSON object of user id to reason,
/// `{"bob":"mention","carol":"direct"}` (a send makes no string per member).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recipients {
    json: Vec<u8>,
    count: usize,
}

impl Recipients {
    /// Notes `member` if they are away and their setting asks for it.
    pub fn consider(
        &mut self,
        member: &str,
        setting: Notify,
        online: bool,
        mentioned: bool,
        direct: bool,
    ) {
        if online {
            return;
        }
        let Some(reason) = setting.reason(mentioned, direct) else {
            return;
        };
        if self.count == 0 {
            // Room for a few members without growing again.
            self.json.reserve(160);
        }
        self.json.push(if self.count == 0 { b'{' } else { b',' });
        if member
            .bytes()
            .all(|b| is_id_byte(b) || b == b'{' || b == b'}')
        {
            // An id (with its hash tag) needs no escaping.
            self.json.push(b'"');
            self.json.extend_from_slice(member.as_bytes());
            self.json.push(b'"');
        } else {
            // Writing to a Vec cannot fail.
            let _ = serde_json::to_writer(&mut self.json, member);
        }
        self.json.extend_from_slice(b":\"");
        self.json.extend_from_slice(reason.as_bytes());
        self.json.push(b'"');
        self.count += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn len(&self) -> usize {
        self.count
    }

    /// The `to` field.
    pub fn into_json(mut self) -> Vec<u8> {
        if self.count == 0 {
            return b"{}".to_vec();
        }
        self.json.push(b'}');
        self.json
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
    fn a_send_names_each_member_away_once_with_why() {
        let mut to = Recipients::default();
        to.consider("ann", Notify::All, true, true, false);
        to.consider("bob", Notify::Mentions, false, true, false);
        to.consider("cy", Notify::Mentions, false, false, false);
        to.consider("dee", Notify::All, false, false, false);
        to.consider("e\"f", Notify::Mentions, false, false, true);
        to.consider("{t}g", Notify::Mentions, false, true, false);
        assert_eq!(to.len(), 4);
        let json = to.into_json();
        assert_eq!(
            std::str::from_utf8(&json).unwrap(),
            r#"{"bob":"mention","dee":"message","e\"f":"direct","{t}g":"mention"}"#
        );
        let parsed: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&json).unwrap();
        assert_eq!(parsed.len(), 4);
        assert_eq!(&*Recipients::default().into_json(), b"{}");
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
