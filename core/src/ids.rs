//! Room and user ids.
//!
//! An id is 1 to [`MAX_ID_BYTES`] bytes of `A-Z a-z 0-9 _ . : @ -`, and may
//! start with a hash tag: `{acme}general`, `{acme}alice`. The charset keeps
//! ids safe inside key names, channel names and JSON without any escaping.
//!
//! Every key of an id is placed by a Redis Cluster hash tag: the id's own tag
//! if it has one (`acme`), else the whole id. Rooms and users that share a
//! tag therefore live in one cluster slot, which is what lets a room's
//! members be written in the same atomic step as the room.

use crate::error::{ChatError, IdKind};

pub const MAX_ID_BYTES: usize = 128;

/// A validated room id, borrowed from the command's arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RoomId<'a>(&'a str);

/// A validated user id, borrowed from the command's arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UserId<'a>(&'a str);

impl<'a> RoomId<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ChatError> {
        validate(bytes, IdKind::Room).map(RoomId)
    }
    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

impl<'a> UserId<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ChatError> {
        validate(bytes, IdKind::User).map(UserId)
    }
    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

pub fn is_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'@' | b'-')
}

/// Splits `{tag}rest` into `(Some(tag), rest)`; an id without a leading `{`
/// is `(None, id)`.
fn split_tag(id: &[u8]) -> Option<(Option<&[u8]>, &[u8])> {
    match id.strip_prefix(b"{") {
        None => Some((None, id)),
        Some(after) => {
            let close = after.iter().position(|&b| b == b'}')?;
            Some((Some(&after[..close]), &after[close + 1..]))
        }
    }
}

fn validate(bytes: &[u8], kind: IdKind) -> Result<&str, ChatError> {
    let all_id_bytes = |part: &[u8]| !part.is_empty() && part.iter().all(|&b| is_id_byte(b));
    let valid = bytes.len() <= MAX_ID_BYTES
        && match split_tag(bytes) {
            Some((Some(tag), rest)) => all_id_bytes(tag) && all_id_bytes(rest),
            Some((None, id)) => all_id_bytes(id),
            None => false,
        };
    if !valid {
        return Err(ChatError::InvalidId(kind));
    }
    // Every allowed byte is ASCII, so this cannot fail; no unwrap all the same.
    std::str::from_utf8(bytes).map_err(|_| ChatError::InvalidId(kind))
}

/// The cluster hash tag that places every key of `id`: its `{tag}` if it
/// starts with one, else the whole id.
pub fn tag_of(id: &str) -> &str {
    match split_tag(id.as_bytes()) {
        Some((Some(tag), _)) => std::str::from_utf8(tag).unwrap_or(id),
        _ => id,
    }
}

/// Whether `id` starts with its own `{tag}`.
pub fn has_own_tag(id: &str) -> bool {
    id.starts_with('{')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_charset() {
        for ok in [
            "a",
            "general",
            "alice@example.com",
            "team:dev-1_x.y",
            "ABCxyz0189",
        ] {
            assert_eq!(RoomId::parse(ok.as_bytes()).map(|r| r.as_str()), Ok(ok));
            assert_eq!(UserId::parse(ok.as_bytes()).map(|u| u.as_str()), Ok(ok));
        }
        let longest = "x".repeat(MAX_ID_BYTES);
        assert!(UserId::parse(longest.as_bytes()).is_ok());
    }

    #[test]
    fn ids_may_start_with_a_hash_tag() {
        for ok in ["{acme}general", "{a}b", "{t:1}u@x.y"] {
            assert_eq!(RoomId::parse(ok.as_bytes()).map(|r| r.as_str()), Ok(ok));
        }
        assert_eq!(tag_of("{acme}general"), "acme");
        assert_eq!(tag_of("{acme}alice"), "acme");
        assert_eq!(tag_of("general"), "general");
        assert!(has_own_tag("{acme}x") && !has_own_tag("x"));
    }

    #[test]
    fn refuses_everything_else() {
        let too_long = "x".repeat(MAX_ID_BYTES + 1);
        for bad in [
            &b""[..],
            b"has space",
            b"{tag}",
            b"{}x",
            b"{tag",
            b"a{tag}b",
            b"{ta g}b",
            b"{tag}b}",
            b"{tag}{x}",
            b"a/b",
            b"caf\xc3\xa9",
            b"nul\0",
            b"\xff",
            b"new\nline",
            too_long.as_bytes(),
        ] {
            assert_eq!(
                RoomId::parse(bad),
                Err(ChatError::InvalidId(IdKind::Room)),
                "{bad:?}"
            );
            assert_eq!(
                UserId::parse(bad),
                Err(ChatError::InvalidId(IdKind::User)),
                "{bad:?}"
            );
        }
    }
}
