//! Redis Cluster hash slots, to find the node that owns a shard channel.
//!
//! A key (or a shard channel) lives in slot `CRC16(tag) mod 16384`, where
//! `tag` is the part between the first `{` and the next `}` when that part
//! is not empty, else the whole name. Cluster clients do this for keys;
//! the library needs it for the channels it subscribes to on each node.

/// The number of hash slots of a Redis Cluster.
pub const SLOTS: u16 = 16384;

/// The hash slot of a key or shard channel name.
pub fn slot(name: &[u8]) -> u16 {
    crc16::State::<crc16::XMODEM>::calculate(hash_tag(name)) % SLOTS
}

/// The part of `name` that decides its slot.
fn hash_tag(name: &[u8]) -> &[u8] {
    let Some(open) = name.iter().position(|&b| b == b'{') else {
        return name;
    };
    match name[open + 1..].iter().position(|&b| b == b'}') {
        Some(len) if len > 0 => &name[open + 1..open + 1 + len],
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_as_redis_computes_them() {
        // CLUSTER KEYSLOT on a real server.
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"bar"), 5061);
        assert_eq!(slot(b"123456789"), 12739);
    }

    #[test]
    fn hash_tags() {
        assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
        assert_eq!(
            slot(b"chat:user:{alice}:push"),
            slot(b"chat:room:{alice}:push")
        );
        assert_eq!(slot(b"chat:user:{alice}:push"), slot(b"alice"));
        // An empty tag, or no closing brace: the whole name counts.
        assert_ne!(slot(b"{}x"), slot(b"x"));
        assert_eq!(hash_tag(b"a{b"), b"a{b");
        assert_eq!(hash_tag(b"{a}{b}"), b"a");
        assert_eq!(hash_tag(b"x{{a}}"), b"{a");
    }
}
