//! Pub/sub channel names and cluster slots of ids, against the Redis
//! Cluster specification.

use chat_core::channels::{
    hash_tag, room_channel, slot, slot_of_id, user_channel, write_user_channel,
};
use chat_core::ids::tag_of;
use proptest::prelude::*;

use crate::config;
use crate::generators::{id, valid_id};
use crate::rules::spec_id;

// ---------------------------------------------------------------------------
// Channels and cluster slots, against the Redis Cluster specification.

/// CRC16/XMODEM as polynomial division: the key's bits, most significant
/// first, followed by 16 zero bits, divided by x^16 + x^12 + x^5 + 1.
pub(crate) fn spec_crc16(bytes: &[u8]) -> u16 {
    let bits = bytes
        .iter()
        .flat_map(|&b| (0..8).rev().map(move |i| u32::from(b >> i) & 1))
        .chain(std::iter::repeat_n(0, 16));
    let mut reg = 0u32;
    for bit in bits {
        reg = (reg << 1) | bit;
        if reg & 0x1_0000 != 0 {
            reg ^= 0x1_1021;
        }
    }
    reg as u16
}

/// The slot of a key: if it has a `{` and a `}` after it with something in
/// between, only that part is hashed (the first `{`, the first `}` after
/// it); else the whole key.
pub(crate) fn spec_slot(key: &[u8]) -> u16 {
    let hashed = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let after = &key[open + 1..];
            let close = after.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &after[..close])
        })
        .unwrap_or(key);
    spec_crc16(hashed) % 16384
}

/// `chat:<kind>:{id}:push`, or `chat:<kind>:{tag}{rest}:push` for an id
/// that starts with its own tag.
pub(crate) fn spec_channel(kind: &str, id: &str) -> Vec<u8> {
    let braced = match id.strip_prefix('{').and_then(|a| a.split_once('}')) {
        Some((tag, rest)) => format!("{{{tag}}}{{{rest}}}"),
        None => format!("{{{id}}}"),
    };
    format!("chat:{kind}:{braced}:push").into_bytes()
}

/// Ids from a few letters, to make equal ones and near ones common.
pub(crate) fn small_id() -> impl Strategy<Value = String> {
    "(\\{[ab:]{1,2}\\})?[ab:{}]{1,3}".prop_filter("a valid id", |s| spec_id(s.as_bytes()))
}

proptest! {
    #![proptest_config(config(5_000))]

    /// Every valid id's channels follow the documented layout and hash to
    /// the cluster slot of the id's key, so they are shard channels of the
    /// node that holds it; different ids never share a channel.
    #[test]
    fn channels_hash_to_the_slot_of_their_id(
        id in prop_oneof![
            3 => valid_id(),
            1 => id().prop_filter("a valid id", |b| spec_id(b)).prop_map(|b| String::from_utf8(b).unwrap()),
            1 => small_id(),
        ],
        other in small_id(),
        junk in prop::collection::vec(any::<u8>(), 0..30),
    ) {
        let user = user_channel(&id);
        let room = room_channel(&id);
        prop_assert_eq!(&user, &spec_channel("user", &id));
        prop_assert_eq!(&room, &spec_channel("room", &id));
        // A reused buffer holds exactly the channel, whatever it held.
        let mut buf = junk;
        write_user_channel(&id, &mut buf);
        prop_assert_eq!(&buf, &user);

        let key_slot = slot(id.as_bytes());
        prop_assert_eq!(key_slot, spec_slot(id.as_bytes()));
        prop_assert_eq!(slot(&user), key_slot, "{}", String::from_utf8_lossy(&user));
        prop_assert_eq!(slot(&room), key_slot, "{}", String::from_utf8_lossy(&room));
        prop_assert_eq!(slot_of_id(&id), key_slot);
        prop_assert_eq!(hash_tag(&user), tag_of(&id).as_bytes());

        prop_assert_eq!(user_channel(&other) == user, other == id, "{} {}", other, id);
        prop_assert_eq!(room_channel(&other) == room, other == id, "{} {}", other, id);
        prop_assert_ne!(user_channel(&other), room.clone());
    }

    /// Any key's slot is Redis Cluster's.
    #[test]
    fn slots_are_those_of_redis_cluster(
        key in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..40),
            "[a{}b]{0,8}".prop_map(String::into_bytes),
        ],
    ) {
        prop_assert!(slot(&key) < 16384);
        prop_assert_eq!(slot(&key), spec_slot(&key), "{:?}", String::from_utf8_lossy(&key));
    }
}

#[test]
pub(crate) fn the_reference_crc_is_the_one_redis_cluster_uses() {
    // The check value of CRC16/XMODEM, and slots `CLUSTER KEYSLOT` gives.
    assert_eq!(spec_crc16(b"123456789"), 0x31c3);
    assert_eq!(spec_slot(b"foo"), 12182);
    assert_eq!(spec_slot(b"bar"), 5061);
}
