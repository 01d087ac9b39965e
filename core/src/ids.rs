//! Room and user ids.
//!
//! An id is 1 to [`MAX_ID_BYTES`] bytes of `A-Z a-z 0-9 _ . : @ -`. The
//! charset keeps ids safe inside key names, channel names and JSON without any
//! escaping, and leaves `{` `}` free for the hash tags in key names.

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

fn validate(bytes: &[u8], kind: IdKind) -> Result<&str, ChatError> {
    if bytes.is_empty() || bytes.len() > MAX_ID_BYTES || !bytes.iter().all(|&b| is_id_byte(b)) {
        return Err(ChatError::InvalidId(kind));
    }
    // Every allowed byte is ASCII, so this cannot fail; no unwrap all the same.
    std::str::from_utf8(bytes).map_err(|_| ChatError::InvalidId(kind))
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
    fn refuses_everything_else() {
        let too_long = "x".repeat(MAX_ID_BYTES + 1);
        for bad in [
            &b""[..],
            b"has space",
            b"{tag}",
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
