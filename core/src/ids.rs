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

/// The id of the direct room of two users: the same for (a, b) and (b, a),
/// different for every other pair, and a valid room id in the users' slot.
///
/// `dm:<len>:<first>:<second>` with the two ids in byte order; the length
/// prefix keeps pairs apart although ids may contain `:`. Users that share
/// a tag (`{acme}alice`, `{acme}bob`) get a room with that tag,
/// `{acme}dm:5:alice:bob`, so the room lives in their slot; so do a tagged
/// and an untagged user whose keys share a slot by name (`{acme}bob` and
/// `acme`), whose room is `{acme}dm:<digest>`. A name that would be too
/// long, or users with different tags, get a SHA-256 digest of the pair
/// instead of the ids.
pub fn direct_room(a: UserId, b: UserId) -> Result<String, ChatError> {
    if a == b {
        return Err(ChatError::DirectRoomWithSelf);
    }
    let (first, second) = if a.as_str() <= b.as_str() {
        (a.as_str(), b.as_str())
    } else {
        (b.as_str(), a.as_str())
    };
    let shared_tag = match (split_tag(first.as_bytes()), split_tag(second.as_bytes())) {
        (Some((Some(t1), r1)), Some((Some(t2), r2))) if t1 == t2 => Some((t1, r1, r2)),
        _ => None,
    };
    let (prefix, x, y) = match shared_tag {
        Some((tag, r1, r2)) => (
            format!("{{{}}}", String::from_utf8_lossy(tag)),
            String::from_utf8_lossy(r1).into_owned(),
            String::from_utf8_lossy(r2).into_owned(),
        ),
        // `acme` and `{acme}bob`: one slot, and only a digest keeps this
        // pair apart from `{acme}acme` and `{acme}bob`.
        None if tag_of(first) == tag_of(second) => (
            format!("{{{}}}", tag_of(first)),
            String::new(),
            String::new(),
        ),
        None if has_own_tag(first) || has_own_tag(second) => {
            (String::new(), String::new(), String::new())
        }
        None => (String::new(), first.to_string(), second.to_string()),
    };
    let readable = format!("{prefix}dm:{}:{x}:{y}", x.len());
    if !x.is_empty() && readable.len() <= MAX_ID_BYTES {
        return Ok(readable);
    }
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{first}\n{second}").as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let hashed = format!("{prefix}dm:{hex}");
    if hashed.len() > MAX_ID_BYTES {
        return Err(ChatError::InvalidId(IdKind::Room));
    }
    Ok(hashed)
}

/// Whether `room` is an id of the kind `direct_room` makes (`dm:...`, or
/// `{tag}dm:...`), which no other command may create.
pub fn is_direct_room(room: &str) -> bool {
    match split_tag(room.as_bytes()) {
        Some((_, rest)) => rest.starts_with(b"dm:"),
        None => false,
    }
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
    fn direct_rooms_are_one_per_pair() {
        let id = |s: &'static str| UserId::parse(s.as_bytes()).unwrap();
        let ab = direct_room(id("alice"), id("bob")).unwrap();
        assert_eq!(ab, "dm:5:alice:bob");
        assert_eq!(direct_room(id("bob"), id("alice")).unwrap(), ab);
        // ':' in ids cannot make two pairs meet.
        assert_ne!(
            direct_room(id("a:b"), id("c")).unwrap(),
            direct_room(id("a"), id("b:c")).unwrap()
        );
        // Users with one tag get a room in their slot.
        assert_eq!(
            direct_room(id("{acme}bob"), id("{acme}al")).unwrap(),
            "{acme}dm:2:al:bob"
        );
        assert_eq!(
            tag_of(&direct_room(id("{acme}bob"), id("{acme}al")).unwrap()),
            "acme"
        );
        // Too long, or tags that differ: a digest, still a valid room id.
        let long = "x".repeat(100);
        let y = "y".repeat(100);
        let hashed = direct_room(
            UserId::parse(long.as_bytes()).unwrap(),
            UserId::parse(y.as_bytes()).unwrap(),
        )
        .unwrap();
        assert!(hashed.starts_with("dm:") && hashed.len() == 35, "{hashed}");
        assert!(RoomId::parse(hashed.as_bytes()).is_ok());
        let mixed = direct_room(id("{a}x"), id("{b}y")).unwrap();
        assert!(RoomId::parse(mixed.as_bytes()).is_ok(), "{mixed}");
        // An untagged user and a tagged one in the same slot by name.
        let same_slot = direct_room(id("acme"), id("{acme}bob")).unwrap();
        assert!(same_slot.starts_with("{acme}dm:"), "{same_slot}");
        assert_ne!(
            same_slot,
            direct_room(id("{acme}acme"), id("{acme}bob")).unwrap()
        );
        assert_eq!(
            direct_room(id("alice"), id("alice")),
            Err(ChatError::DirectRoomWithSelf)
        );
        for room in [&ab, &hashed, &mixed, &same_slot] {
            assert!(is_direct_room(room), "{room}");
        }
        assert!(!is_direct_room("general") && !is_direct_room("{acme}general"));
        assert!(!is_direct_room("adm:1") && !is_direct_room("{dm:}x"));
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
