//! What a message carries besides its text, fixed when it is sent: the
//! message it replies to and the members it mentions.
//!
//! A room's record and an inbox copy keep these as one byte string after
//! the text, present only when the record's flags say so (`HAS_EXTRA`): a
//! plain message costs nothing more, and a record written before replies
//! and mentions existed (flags 0 or 1, its old `deleted` byte) reads as a
//! message with neither.

use serde::{Deserialize, Serialize};

use super::wire;

/// Bits of a record's flags byte. The byte was a `bool` (`deleted`) in the
/// first encoding, so records written then have only `DELETED` set or none.
pub const DELETED: u8 = 1;
/// The record ends with the bytes of an `Extra`.
pub const HAS_EXTRA: u8 = 2;
const KNOWN_FLAGS: u8 = DELETED | HAS_EXTRA;

/// The flags byte of a record.
pub fn flags(deleted: bool, extra: &[u8]) -> u8 {
    let mut flags = 0;
    if deleted {
        flags |= DELETED;
    }
    if !extra.is_empty() {
        flags |= HAS_EXTRA;
    }
    flags
}

/// Reads the flags byte and, when it says there is one, the extra's bytes
/// from the start of `rest`. Returns `(deleted, extra, bytes used)`, or
/// `None` for flags no encoding ever wrote.
pub fn read(flags: u8, rest: &[u8]) -> Option<(bool, &[u8], usize)> {
    if flags & !KNOWN_FLAGS != 0 {
        return None;
    }
    let deleted = flags & DELETED != 0;
    if flags & HAS_EXTRA == 0 {
        return Some((deleted, &[], 0));
    }
    let (extra, used) = wire::decode_borrowed::<&[u8]>(rest)?;
    // An empty extra is never written: its flag would not be set.
    (!extra.is_empty()).then_some((deleted, extra, used))
}

/// Appends `extra` (already encoded, non-empty) after a record, as one
/// byte string.
pub fn write(extra: &[u8], out: &mut Vec<u8>) {
    /// Serialized as bytes (a length, then one copy), not as a sequence
    /// of numbers: the same encoding, written at once.
    struct Bytes<'a>(&'a [u8]);
    impl Serialize for Bytes<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }
    if !extra.is_empty() {
        wire::encode_into(&Bytes(extra), out);
    }
}

/// The reply and mentions of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extra<'a> {
    /// The id of the message (of the same room) this one answers.
    pub reply_to: Option<u64>,
    /// The members it mentions, in the order given, each once.
    #[serde(borrow)]
    pub mentions: Vec<&'a str>,
}

impl<'a> Extra<'a> {
    pub fn is_empty(&self) -> bool {
        self.reply_to.is_none() && self.mentions.is_empty()
    }

    /// The bytes a record keeps: none for a message with neither.
    pub fn encode(&self) -> Vec<u8> {
        if self.is_empty() {
            return Vec::new();
        }
        // Sized once: an id, and each mention with its length.
        let mentions: usize = self.mentions.iter().map(|m| m.len() + 1).sum();
        let mut out = Vec::with_capacity(12 + mentions);
        wire::encode_into(self, &mut out);
        out
    }

    /// Reads what `encode` wrote; an empty or damaged one is no extra.
    pub fn decode(bytes: &'a [u8]) -> Extra<'a> {
        if bytes.is_empty() {
            return Extra::default();
        }
        wire::decode_all(bytes).unwrap_or_default()
    }

    /// Checks stored bytes: they decode whole, into something not empty.
    pub fn check(bytes: &[u8]) -> bool {
        bytes.is_empty() || wire::decode_all::<Extra>(bytes).is_ok_and(|e| !e.is_empty())
    }

    /// The same reply without the mentions: what a tombstone keeps.
    pub fn without_mentions(bytes: &[u8]) -> Vec<u8> {
        let extra = Extra::decode(bytes);
        Extra {
            reply_to: extra.reply_to,
            mentions: Vec::new(),
        }
        .encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_message_has_no_extra_bytes() {
        assert!(Extra::default().encode().is_empty());
        assert_eq!(flags(false, &[]), 0);
        assert_eq!(flags(true, &[]), 1);
        assert_eq!(read(1, &[9, 9]), Some((true, &[][..], 0)));
    }

    #[test]
    fn extras_round_trip_after_the_flags() {
        let extra = Extra {
            reply_to: Some(7),
            mentions: vec!["bob", "carol"],
        };
        let bytes = extra.encode();
        let mut record = Vec::new();
        write(&bytes, &mut record);
        let (deleted, back, used) = read(flags(false, &bytes), &record).unwrap();
        assert!(!deleted);
        assert_eq!(used, record.len());
        assert_eq!(Extra::decode(back), extra);
        assert_eq!(
            Extra::decode(&Extra::without_mentions(back)),
            Extra {
                reply_to: Some(7),
                mentions: vec![]
            }
        );
        // Mentions alone: a tombstone keeps nothing.
        let only = Extra {
            reply_to: None,
            mentions: vec!["bob"],
        };
        assert!(Extra::without_mentions(&only.encode()).is_empty());
    }

    #[test]
    fn unknown_flags_and_damaged_extras_are_refused() {
        assert_eq!(read(4, &[]), None);
        assert_eq!(read(HAS_EXTRA, &[]), None);
        assert_eq!(read(HAS_EXTRA, &[0]), None);
        assert!(!Extra::check(&[0, 0]));
        assert!(Extra::check(&[]));
    }
}
