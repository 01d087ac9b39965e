//! The one place that names Redis keys and pub/sub channels.
//!
//! Every name is derived from one room id or one user id and carries a hash
//! tag (`{...}`): the id itself, in braces, or, for an id that starts with its
//! own tag, that tag followed by the rest of the id in braces
//! (`chat:room:{acme}{general}:log`). So all keys of a room, or of a user,
//! hash to the same cluster slot, and so do those of every id that shares a
//! tag. The braces around every id part also keep names apart: ids may
//! contain `:`, so without them the user `{bob}:inbox` would own bob's inbox
//! key. In the table, `{R}` stands for either form:
//!
//! | name                       | type   | holds                                     |
//! |----------------------------|--------|-------------------------------------------|
//! | `chat:room:{R}`            | hash   | `title`, `created` (unix ms), `last_id`   |
//! | `chat:room:{R}:log`        | stream | messages; entry id `<n>-0` for message n  |
//! | `chat:room:{R}:members`    | hash   | member id -> read cursor (message id)     |
//! | `chat:room:{R}:roster`     | string | member ids, each followed by `\n`         |
//! | `chat:room:{R}:counts`     | hash   | sender id -> messages sent                |
//! | `chat:room:{R}:changes`    | hash   | message id -> its latest edit or deletion |
//! | `chat:room:{R}:push`       | channel| live messages of a broadcast room         |
//! | `chat:room:{R}:dedup:<k>`  | string | id of the send with DEDUP key k (expires) |
//! | `chat:user:{U}`            | hash   | `name`, `created` (unix ms)               |
//! | `chat:user:{U}:rooms`      | hash   | room id -> joined at (unix ms)            |
//! | `chat:user:{U}:inbox`      | stream | undelivered messages; entry id = delivery |
//! | `chat:user:{U}:online`     | string | exists while the user is online (TTL)     |
//! | `chat:user:{U}:push`       | channel| live events for the user (pub/sub)        |

/// Keys that belong to a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomKey {
    Meta,
    Log,
    Members,
    /// The members again, as one string: what CHAT.SEND reads to fan out,
    /// in one read instead of one string per member.
    Roster,
    Counts,
    Changes,
    /// The pub/sub channel of a broadcast room (not a key).
    Channel,
}

/// The key that remembers, for `chat.dedup-window`, which message id a
/// `CHAT.SEND ... DEDUP <key>` in `room` got.
pub fn dedup_key(room: &str, key: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(24 + room.len() + key.len());
    write_name(b"chat:room:", room, b":dedup:", &mut buf);
    buf.extend_from_slice(key);
    buf
}

/// The room id of a room log key name (`chat:room:{general}:log` ->
/// `general`, `chat:room:{acme}{general}:log` -> `{acme}general`); `None`
/// for any other name.
pub fn room_of_log_key(name: &[u8]) -> Option<String> {
    let inner = name.strip_prefix(b"chat:room:")?.strip_suffix(b":log")?;
    let inner = std::str::from_utf8(inner).ok()?;
    let braced = inner.strip_suffix('}')?;
    let id = match braced.split_once("}{") {
        // `{tag}{rest}` -> `{tag}rest`
        Some((tag, rest)) => format!("{tag}}}{rest}"),
        None => braced.strip_prefix('{')?.to_string(),
    };
    crate::ids::RoomId::parse(id.as_bytes()).ok()?;
    (RoomKey::Log.of(&id) == name).then_some(id)
}

/// The roster line of a member: the id and a newline (ids never hold one).
pub fn roster_line(member: &str) -> Vec<u8> {
    let mut line = Vec::with_capacity(member.len() + 1);
    line.extend_from_slice(member.as_bytes());
    line.push(b'\n');
    line
}

/// `roster` without `member`'s line, or `None` if it has no such line.
pub fn roster_without(roster: &[u8], member: &str) -> Option<Vec<u8>> {
    let mut start = 0;
    for line in roster.split_inclusive(|&b| b == b'\n') {
        let end = start + line.len();
        if line.strip_suffix(b"\n") == Some(member.as_bytes()) {
            let mut out = Vec::with_capacity(roster.len() - line.len());
            out.extend_from_slice(&roster[..start]);
            out.extend_from_slice(&roster[end..]);
            return Some(out);
        }
        start = end;
    }
    None
}

/// The member ids in a roster.
pub fn roster_members(roster: &[u8]) -> impl Iterator<Item = &[u8]> {
    roster.split(|&b| b == b'\n').filter(|id| !id.is_empty())
}

/// Keys (and the channel) that belong to a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserKey {
    Profile,
    Rooms,
    Inbox,
    Presence,
    Channel,
}

impl RoomKey {
    /// Every key a room keeps its data in (the channel is not a key).
    pub const KEYS: [RoomKey; 6] = [
        RoomKey::Meta,
        RoomKey::Log,
        RoomKey::Members,
        RoomKey::Roster,
        RoomKey::Counts,
        RoomKey::Changes,
    ];

    fn suffix(self) -> &'static [u8] {
        match self {
            RoomKey::Meta => b"",
            RoomKey::Log => b":log",
            RoomKey::Members => b":members",
            RoomKey::Roster => b":roster",
            RoomKey::Changes => b":changes",
            RoomKey::Channel => b":push",
            RoomKey::Counts => b":counts",
        }
    }

    /// The key name for `room`.
    pub fn of(self, room: &str) -> Vec<u8> {
        let mut buf = Vec::with_capacity(16 + room.len());
        self.write(room, &mut buf);
        buf
    }

    /// Writes the key name for `room` into `buf` (cleared first), so a loop
    /// can reuse one buffer instead of allocating a name per iteration.
    pub fn write(self, room: &str, buf: &mut Vec<u8>) {
        write_name(b"chat:room:", room, self.suffix(), buf);
    }
}

impl UserKey {
    /// Every key a user keeps data in (the channel is not a key).
    pub const KEYS: [UserKey; 4] = [
        UserKey::Profile,
        UserKey::Rooms,
        UserKey::Inbox,
        UserKey::Presence,
    ];

    fn suffix(self) -> &'static [u8] {
        match self {
            UserKey::Profile => b"",
            UserKey::Rooms => b":rooms",
            UserKey::Inbox => b":inbox",
            UserKey::Presence => b":online",
            UserKey::Channel => b":push",
        }
    }

    /// The key (or channel) name for `user`.
    pub fn of(self, user: &str) -> Vec<u8> {
        let mut buf = Vec::with_capacity(16 + user.len());
        self.write(user, &mut buf);
        buf
    }

    /// Writes the name for `user` into `buf` (cleared first).
    pub fn write(self, user: &str, buf: &mut Vec<u8>) {
        write_name(b"chat:user:", user, self.suffix(), buf);
    }
}

fn write_name(prefix: &[u8], id: &str, suffix: &[u8], buf: &mut Vec<u8>) {
    buf.clear();
    buf.extend_from_slice(prefix);
    if crate::ids::has_own_tag(id) {
        // `{tag}rest` -> `{tag}{rest}`
        let close = id.find('}').map_or(id.len(), |i| i + 1);
        buf.extend_from_slice(&id.as_bytes()[..close]);
        buf.push(b'{');
        buf.extend_from_slice(&id.as_bytes()[close..]);
        buf.push(b'}');
    } else {
        buf.push(b'{');
        buf.extend_from_slice(id.as_bytes());
        buf.push(b'}');
    }
    buf.extend_from_slice(suffix);
}

/// The Redis Cluster slot of a key: CRC16 (XMODEM) of its hash tag, mod 16384.
pub fn slot(key: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in hash_tag(key) {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc & 0x3fff
}

/// The slot that holds every key of an id.
pub fn slot_of_id(id: &str) -> u16 {
    slot(crate::ids::tag_of(id).as_bytes())
}

/// The hash tag Redis Cluster would use for `key`: the bytes between the first
/// `{` and the next `}`, if that is not empty; else the whole key.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        let rest = &key[open + 1..];
        if let Some(close) = rest.iter().position(|&b| b == b'}') {
            if close > 0 {
                return &rest[..close];
            }
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_documented_layout() {
        let s = |v: Vec<u8>| String::from_utf8(v).unwrap();
        assert_eq!(s(RoomKey::Meta.of("general")), "chat:room:{general}");
        assert_eq!(s(RoomKey::Log.of("general")), "chat:room:{general}:log");
        assert_eq!(
            s(RoomKey::Members.of("general")),
            "chat:room:{general}:members"
        );
        assert_eq!(
            s(RoomKey::Counts.of("general")),
            "chat:room:{general}:counts"
        );
        assert_eq!(s(UserKey::Profile.of("bob")), "chat:user:{bob}");
        assert_eq!(s(UserKey::Rooms.of("bob")), "chat:user:{bob}:rooms");
        assert_eq!(s(UserKey::Inbox.of("bob")), "chat:user:{bob}:inbox");
        assert_eq!(s(UserKey::Presence.of("bob")), "chat:user:{bob}:online");
        assert_eq!(s(UserKey::Channel.of("bob")), "chat:user:{bob}:push");
    }

    #[test]
    fn dedup_keys_live_with_their_room() {
        assert_eq!(
            dedup_key("general", b"req-1"),
            b"chat:room:{general}:dedup:req-1"
        );
        assert_eq!(hash_tag(&dedup_key("general", b"{x}")), b"general");
        assert_eq!(hash_tag(&dedup_key("{acme}general", b"k")), b"acme");
        assert_eq!(
            dedup_key("{acme}general", b"k"),
            b"chat:room:{acme}{general}:dedup:k"
        );
    }

    #[test]
    fn every_name_of_an_id_shares_its_hash_tag() {
        for key in RoomKey::KEYS.into_iter().chain([RoomKey::Channel]) {
            assert_eq!(hash_tag(&key.of("r:1")), b"r:1");
        }
        for key in UserKey::KEYS.into_iter().chain([UserKey::Channel]) {
            assert_eq!(hash_tag(&key.of("u@x")), b"u@x");
        }
    }

    #[test]
    fn write_reuses_the_buffer() {
        let mut buf = Vec::new();
        UserKey::Inbox.write("a-very-long-user-name", &mut buf);
        UserKey::Inbox.write("b", &mut buf);
        assert_eq!(buf, b"chat:user:{b}:inbox");
    }

    #[test]
    fn no_two_ids_share_a_key_name() {
        // Ids may contain ':', so an id can look like another id's name plus
        // a suffix; the braces around every id part keep them apart.
        let ids = [
            "bob",
            "{bob}:inbox",
            "{bob}:online",
            "{acme}general",
            "{acme}:log",
            "{acme}:counts",
            "{acme}:dedup:y",
            "acme",
            "{a}b:c",
            "{a}b",
            "{a:b}c",
            "general:log",
        ];
        let mut names = std::collections::HashSet::new();
        for id in ids {
            assert!(
                crate::ids::RoomId::parse(id.as_bytes()).is_ok(),
                "{id} is a valid id"
            );
            for key in RoomKey::KEYS {
                assert!(names.insert(key.of(id)), "{id} {key:?}");
            }
            for key in UserKey::KEYS {
                assert!(names.insert(key.of(id)), "{id} {key:?}");
            }
            assert!(names.insert(dedup_key(id, b"y")), "{id} dedup");
        }
    }

    #[test]
    fn ids_with_their_own_tag_keep_it() {
        assert_eq!(
            RoomKey::Log.of("{acme}general"),
            b"chat:room:{acme}{general}:log"
        );
        assert_eq!(
            UserKey::Channel.of("{acme}bob"),
            b"chat:user:{acme}{bob}:push"
        );
        assert_eq!(hash_tag(&UserKey::Inbox.of("{acme}bob")), b"acme");
        assert_eq!(slot_of_id("{acme}bob"), slot_of_id("{acme}general"));
        assert_eq!(slot_of_id("{acme}bob"), slot(b"acme"));
        assert_eq!(slot_of_id("bob"), slot(&UserKey::Inbox.of("bob")));
    }

    #[test]
    fn slots_match_redis_cluster() {
        // Values from CLUSTER KEYSLOT on a real cluster.
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"bar"), 5061);
        assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
        assert_eq!(slot(b"123456789"), 0x31c3 & 0x3fff);
    }

    #[test]
    fn log_key_names_give_back_their_room() {
        for room in ["general", "{acme}general", "a:b", "{t}x:log"] {
            assert_eq!(
                room_of_log_key(&RoomKey::Log.of(room)).as_deref(),
                Some(room),
                "{room}"
            );
        }
        for other in [
            &b"chat:room:{general}"[..],
            b"chat:room:{general}:logs",
            b"chat:user:{bob}:log",
            b"x",
            b"chat:room:{a b}:log",
        ] {
            assert_eq!(room_of_log_key(other), None, "{other:?}");
        }
    }

    #[test]
    fn rosters_add_and_remove_whole_lines() {
        let mut roster = Vec::new();
        for id in ["alice", "al", "bob"] {
            roster.extend(roster_line(id));
        }
        assert_eq!(roster, b"alice\nal\nbob\n");
        let members: Vec<&[u8]> = roster_members(&roster).collect();
        assert_eq!(members, [&b"alice"[..], b"al", b"bob"]);
        assert_eq!(roster_without(&roster, "al").unwrap(), b"alice\nbob\n");
        assert_eq!(roster_without(&roster, "alice").unwrap(), b"al\nbob\n");
        assert_eq!(roster_without(&roster, "bob").unwrap(), b"alice\nal\n");
        assert_eq!(roster_without(&roster, "a"), None);
        assert_eq!(roster_without(b"", "a"), None);
    }

    #[test]
    fn hash_tag_follows_cluster_rules() {
        assert_eq!(hash_tag(b"plain"), b"plain");
        assert_eq!(hash_tag(b"a{b}c"), b"b");
        assert_eq!(hash_tag(b"a{}c{d}"), b"a{}c{d}");
        assert_eq!(hash_tag(b"a{b"), b"a{b");
    }
}
