//! The pub/sub channels of rooms and users, and Redis Cluster slots.
//!
//! A room is the key named by its id, a user the key named by theirs. Each
//! also has a channel, which is not a key:
//!
//! | channel                | carries                                       |
//! |------------------------|-----------------------------------------------|
//! | `chat:user:{U}:push`   | the user's live messages and events           |
//! | `chat:room:{R}:push`   | the live messages and events of a broadcast room |
//! | `chat:user:{U}:presence` | the user going online and offline, for whoever shows them |
//!
//! `{U}` is the id in braces, or, for an id that starts with its own tag,
//! that tag followed by the rest of the id in braces
//! (`chat:user:{acme}{bob}:push`). Either way the channel hashes to the
//! cluster slot of the key it belongs to, so in Redis Cluster it is a shard
//! channel of the node that holds the room or user. (Ids may contain `:`;
//! the braces keep the channels of different ids apart.)

/// The push channel of user `user`.
pub fn user_channel(user: &str) -> Vec<u8> {
    let mut buf = Vec::with_capacity(16 + user.len());
    write_user_channel(user, &mut buf);
    buf
}

/// Writes the push channel of `user` into `buf` (cleared first), so that a
/// loop can reuse one buffer.
pub fn write_user_channel(user: &str, buf: &mut Vec<u8>) {
    write_name(b"chat:user:", user, b":push", buf);
}

/// The presence channel of user `user`: whoever shows the user listens
/// there, so a user in many rooms costs nothing extra per room.
pub fn presence_channel(user: &str) -> Vec<u8> {
    let mut buf = Vec::with_capacity(20 + user.len());
    write_name(b"chat:user:", user, b":presence", &mut buf);
    buf
}

/// The channel of broadcast room `room`.
pub fn room_channel(room: &str) -> Vec<u8> {
    let mut buf = Vec::with_capacity(16 + room.len());
    write_name(b"chat:room:", room, b":push", &mut buf);
    buf
}

fn write_name(prefix: &[u8], id: &str, suffix: &[u8], buf: &mut Vec<u8>) {
    buf.clear();
    buf.reserve(prefix.len() + id.len() + suffix.len() + 2);
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
    fn channels_follow_the_documented_layout() {
        let s = |v: Vec<u8>| String::from_utf8(v).unwrap();
        assert_eq!(s(user_channel("bob")), "chat:user:{bob}:push");
        assert_eq!(s(room_channel("general")), "chat:room:{general}:push");
        assert_eq!(s(user_channel("{acme}bob")), "chat:user:{acme}{bob}:push");
        assert_eq!(
            s(room_channel("{acme}general")),
            "chat:room:{acme}{general}:push"
        );
        // A channel hashes to the slot of the key it belongs to.
        for id in ["bob", "{acme}bob", "user:bob"] {
            assert_eq!(slot(&user_channel(id)), slot(id.as_bytes()), "{id}");
        }
    }

    #[test]
    fn ids_with_a_tag_share_a_slot() {
        assert_eq!(slot_of_id("{acme}bob"), slot_of_id("{acme}general"));
        assert_eq!(slot_of_id("{acme}bob"), slot(b"acme"));
        assert_eq!(slot_of_id("bob"), slot(b"bob"));
    }

    #[test]
    fn slots_match_redis_cluster() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"bar"), 5061);
        assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
        assert_eq!(slot(b"123456789"), 0x31c3 & 0x3fff);
        assert_eq!(slot(b"{}x"), slot(b"{}x"));
        assert_eq!(hash_tag(b"{}x"), b"{}x");
    }
}
