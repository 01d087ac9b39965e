//! Every error a chat command can reply with, worded once.
//!
//! `Display` renders the exact error reply: it starts with a Redis error code
//! (`ERR`, `WRONGTYPE`) and then says in plain words what was wrong, so the
//! module glue can send `to_string()` as is.

use std::fmt;

/// Which kind of id an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Room,
    User,
}

impl IdKind {
    pub fn noun(self) -> &'static str {
        match self {
            IdKind::Room => "room",
            IdKind::User => "user",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatError {
    /// Wrong number of arguments; carries the lower-case command name, as in
    /// Redis's own arity error.
    WrongArity(&'static str),
    /// An option the command does not know, or options that exclude each other.
    Syntax,
    InvalidId(IdKind),
    /// A title, name or text that is not UTF-8; carries what it was.
    NotUtf8(&'static str),
    EmptyText,
    TextTooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    /// A value that should have been an integer in a range. `option` names the
    /// option or parameter (`COUNT`, `TTL`, ...), `value` repeats what was sent.
    BadInteger {
        option: &'static str,
        value: String,
        min: i64,
        max: i64,
    },
    InvalidDelivery(String),
    BadDedupKey,
    NoSuchRoom,
    NoSuchUser,
    RoomExists,
    UserExists,
    NotMember,
    DirectRoomWithSelf,
    /// CHAT.CREATE of an id only CHAT.DM makes.
    DirectRoomId,
    /// CHAT.SUBSCRIBE of a third user to a direct room.
    DirectRoomMembers,
    /// CHAT.DM-ROOM of a room id that is not the pair's.
    NotDirectRoomOf {
        room: String,
        expected: String,
    },
    NoSuchMessage(u64),
    /// A reply to, reaction on or pin of a deleted message.
    Deleted(u64),
    /// A MENTION of someone who is not a member of the room.
    MentionNotMember(String),
    TooManyMentions,
    BadReaction,
    /// The message has `REACTIONS_MAX` different reactions already.
    TooManyReactions(u64),
    /// The room has `PINS_MAX` pinned messages already.
    TooManyPins,
    /// Only the author may edit or delete a message.
    NotAuthor,
    /// An id past the room's last message.
    IdAfterLast {
        id: u64,
        last: u64,
    },
    /// In Redis Cluster, a member whose keys live in another slot than the
    /// room's (they do not share a hash tag).
    CrossSlot {
        id: String,
        other: String,
        /// What to do instead.
        advice: &'static str,
    },
    /// CHAT.UNLIST-ROOM of a room the user is still a member of.
    StillMember,
    /// A key of the command's slot is missing while the slot moves between
    /// Redis Cluster nodes: it may be on the other node for the moment.
    TryAgain(String),
    /// CHAT.SEND-RESOLVED sent by a client rather than by the primary.
    ResolvedFromClient,
    /// A key this command reads or writes holds another Redis type than a
    /// chat room or user (an app's own key under that name).
    WrongType(String),
    /// A chat key of the other kind: a room where a user is wanted, or the
    /// reverse.
    OtherKind {
        key: String,
        holds: &'static str,
        wanted: &'static str,
    },
    /// CHAT.REGISTER of an id that names a room, or CHAT.CREATE of one that
    /// names a user: rooms and users share the keyspace.
    IdTaken {
        id: String,
        holds: &'static str,
    },
    /// A chat value renamed or copied by hand to another key name.
    Misnamed {
        key: String,
        kind: &'static str,
    },
    /// An internal replay command sent by a client.
    InternalOnly(&'static str),
    /// CHAT.AUTH or CHAT.PASSWD with a wrong password or an unknown user:
    /// one wording for both, so the reply does not tell which users exist.
    BadCredentials,
    /// A password outside the accepted length.
    BadPassword,
    /// CHAT.PASSWD lost a race: another client changed the password while
    /// this one was being checked.
    PasswordChanged,
    /// The write that follows a background password hash found writes
    /// paused (CLIENT PAUSE, a failover); nothing was written.
    WritesPaused,
    /// A command that waits for a background password hash, called where a
    /// client cannot be blocked (MULTI, a script, a function).
    CannotBlock(&'static str),
    /// `chat.identity acl`: the connection's ACL user may not act as `wanted`.
    NotYourself {
        acl_user: String,
        wanted: String,
    },
    /// `chat.identity acl`: reading a room needs membership.
    NotInRoom {
        acl_user: String,
        room: String,
    },
    /// `chat.identity acl`: a command only a chat admin may run.
    AdminOnly {
        acl_user: String,
        command: &'static str,
    },
    /// The room has `chat.max-members` members already.
    RoomFull(u64),
    /// The user is in `chat.max-rooms-per-user` rooms already.
    TooManyRooms(u64),
    /// CHAT.ROLE with a role that is not owner, admin or member.
    BadRole,
    /// A DEVICE id outside the id characters or lengths.
    BadDevice,
    /// EPOCH with a value that is not an epoch as the module shows them.
    BadEpoch,
    /// CHAT.NOTIFY with a setting that is not all, mentions or none.
    BadNotify,
    /// A room's rules refused it: roles, privacy, bans, mutes, slow mode
    /// and rate limits (`crate::refusal`). Boxed: sends return this error
    /// type, and its size is copied on every call.
    Refused(Box<crate::refusal::Refusal>),
    /// Something that should not happen; the reply says so instead of crashing.
    Internal(String),
}

impl From<crate::refusal::Refusal> for ChatError {
    fn from(refusal: crate::refusal::Refusal) -> ChatError {
        ChatError::Refused(Box::new(refusal))
    }
}

impl fmt::Display for ChatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChatError::WrongArity(cmd) => {
                write!(f, "ERR wrong number of arguments for '{cmd}' command")
            }
            ChatError::Syntax => f.write_str("ERR syntax error"),
            ChatError::InvalidId(kind) => write!(
                f,
                "ERR invalid {} id: use 1 to {} bytes of A-Z a-z 0-9 _ . : @ -, optionally starting with a {{tag}}",
                kind.noun(),
                crate::ids::MAX_ID_BYTES
            ),
            ChatError::NotUtf8(what) => write!(f, "ERR {what} is not valid UTF-8"),
            ChatError::EmptyText => f.write_str("ERR message text is empty"),
            ChatError::TextTooLong { what, len, max } => write!(
                f,
                "ERR {what} is {len} bytes, more than chat.max-text-bytes ({max})"
            ),
            ChatError::BadInteger {
                option,
                value,
                min,
                max,
            } => write!(
                f,
                "ERR {option} must be an integer from {min} to {max}, got '{}'",
                printable(value)
            ),
            ChatError::InvalidDelivery(value) => write!(
                f,
                "ERR invalid delivery '{}': use a delivery string returned by CHAT.FETCH",
                printable(value)
            ),
            ChatError::BadDedupKey => write!(
                f,
                "ERR DEDUP key must be 1 to {} bytes",
                crate::request::DEDUP_KEY_MAX_BYTES
            ),
            ChatError::NoSuchRoom => f.write_str("ERR no such room"),
            ChatError::NoSuchUser => f.write_str("ERR no such user"),
            ChatError::RoomExists => f.write_str("ERR room already exists"),
            ChatError::UserExists => f.write_str("ERR user already exists"),
            ChatError::NotMember => f.write_str("ERR user is not a member of the room"),
            ChatError::DirectRoomWithSelf => f.write_str("ERR a direct room needs two different users"),
            ChatError::DirectRoomId => {
                f.write_str("ERR room ids starting with 'dm:' are kept for direct rooms; use CHAT.DM")
            }
            ChatError::NotDirectRoomOf { room, expected } => write!(
                f,
                "ERR '{room}' is not the direct room of these two users: theirs is \
                 '{expected}' (CHAT.DM-ID names it)"
            ),
            ChatError::DirectRoomMembers => {
                f.write_str("ERR a direct room has only its two users; use CHAT.DM")
            }
            ChatError::NoSuchMessage(id) => write!(f, "ERR no such message: {id} is not in the room's history"),
            ChatError::Deleted(id) => write!(f, "ERR message {id} is deleted"),
            ChatError::MentionNotMember(user) => write!(
                f,
                "ERR cannot mention '{user}': not a member of the room"
            ),
            ChatError::TooManyMentions => write!(
                f,
                "ERR at most {} MENTIONs in one message",
                crate::request::MENTIONS_MAX
            ),
            ChatError::BadReaction => write!(
                f,
                "ERR invalid reaction: use 1 to {} bytes of UTF-8 without spaces or control characters",
                crate::request::REACTION_MAX_BYTES
            ),
            ChatError::TooManyReactions(id) => write!(
                f,
                "ERR message {id} has {} different reactions, the most a message may have",
                crate::data::talk::REACTIONS_MAX
            ),
            ChatError::TooManyPins => write!(
                f,
                "ERR the room has {} pinned messages, the most it may have: unpin one first",
                crate::data::talk::PINS_MAX
            ),
            ChatError::NotAuthor => f.write_str("ERR only the author of a message may change it"),
            ChatError::IdAfterLast { id, last } => {
                write!(f, "ERR id {id} is after the room's last message ({last})")
            }
            ChatError::CrossSlot { id, other, advice } => write!(
                f,
                "CROSSSLOT '{id}' and '{other}' are in different Redis Cluster slots, and a \
                 command touches one slot only: {advice}"
            ),
            ChatError::TryAgain(id) => write!(
                f,
                "TRYAGAIN the key of '{id}' is moving to another node with its slot; retry in a moment"
            ),
            ChatError::StillMember => f.write_str(
                "ERR user is still a member of the room; CHAT.UNSUBSCRIBE first, then \
                 CHAT.UNLIST-ROOM",
            ),
            ChatError::ResolvedFromClient => f.write_str(
                "ERR CHAT.SEND-RESOLVED only replays a send on replicas and from the AOF; use CHAT.SEND",
            ),
            ChatError::WrongType(key) => write!(
                f,
                "WRONGTYPE key '{}' holds another kind of value than a chat room or user",
                printable(key)
            ),
            ChatError::OtherKind { key, holds, wanted } => write!(
                f,
                "WRONGTYPE key '{}' holds a chat {holds}, not a chat {wanted}",
                printable(key)
            ),
            ChatError::IdTaken { id, holds } => write!(
                f,
                "ERR '{}' is the id of a {holds}: rooms and users share the keyspace, so give them different ids (for example room:general and user:alice)",
                printable(id)
            ),
            ChatError::Misnamed { key, kind } => write!(
                f,
                "ERR key '{}' holds a chat {kind} made under another key name (renamed or copied by hand); other keys still name it by its old name, so rename it back to use it",
                printable(key)
            ),
            ChatError::InternalOnly(command) => write!(
                f,
                "ERR {command} only replays writes on replicas and from the AOF; clients cannot send it"
            ),
            ChatError::BadCredentials => f.write_str("ERR invalid username or password"),
            ChatError::BadPassword => write!(
                f,
                "ERR password must be 1 to {} bytes",
                crate::password::MAX_PASSWORD_BYTES
            ),
            ChatError::PasswordChanged => f.write_str(
                "ERR the password was changed by another client meanwhile; nothing was changed, try again",
            ),
            ChatError::WritesPaused => f.write_str(
                "TRYAGAIN writes were paused (CLIENT PAUSE or a failover) when the password hash was ready; nothing was written, send the command again",
            ),
            ChatError::CannotBlock(command) => write!(
                f,
                "ERR {command} cannot run inside MULTI, a script or a function: it waits for a password hash computed in the background"
            ),
            ChatError::NotYourself { acl_user, wanted } => write!(
                f,
                "NOPERM ACL user '{}' may act only as chat user '{}', not as '{}' (chat.identity is acl)",
                printable(acl_user),
                printable(acl_user),
                printable(wanted)
            ),
            ChatError::NotInRoom { acl_user, room } => write!(
                f,
                "NOPERM ACL user '{}' is not a member of room '{}' (chat.identity is acl)",
                printable(acl_user),
                printable(room)
            ),
            ChatError::AdminOnly { acl_user, command } => write!(
                f,
                "NOPERM only the ACL users in chat.admins may run {command}; this connection is ACL user '{}'",
                printable(acl_user)
            ),
            ChatError::RoomFull(max) => write!(
                f,
                "ERR room is full: chat.max-members is {max}"
            ),
            ChatError::TooManyRooms(max) => write!(
                f,
                "ERR user is in too many rooms: chat.max-rooms-per-user is {max}"
            ),
            ChatError::BadRole => f.write_str("ERR role must be owner, admin or member"),
            ChatError::BadNotify => f.write_str("ERR notify must be all, mentions or none"),
            ChatError::BadEpoch => f.write_str(
                "ERR invalid EPOCH: pass the room's epoch as CHAT.INFO shows it (16 lowercase hex digits)",
            ),
            ChatError::BadDevice => write!(
                f,
                "ERR invalid device id: use 1 to {} bytes of A-Z a-z 0-9 _ . : @ -",
                crate::request::DEVICE_MAX_BYTES
            ),
            ChatError::Refused(refusal) => refusal.fmt(f),
            ChatError::Internal(what) => write!(f, "ERR internal error: {what}"),
        }
    }
}

impl std::error::Error for ChatError {}

/// An error reply is one line: keep client-supplied text short and free of
/// line breaks so it cannot break the protocol or flood the reply.
fn printable(value: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = value
        .chars()
        .take(MAX)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if value.chars().count() > MAX {
        out.push_str("...");
    }
    out
}

/// Builds a `BadInteger` error from the raw bytes the client sent.
pub fn bad_integer(option: &'static str, value: &[u8], min: i64, max: i64) -> ChatError {
    ChatError::BadInteger {
        option,
        value: String::from_utf8_lossy(value).into_owned(),
        min,
        max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_starts_with_a_code() {
        let all = [
            ChatError::WrongArity("chat.send"),
            ChatError::Syntax,
            ChatError::InvalidId(IdKind::Room),
            ChatError::NotUtf8("message text"),
            ChatError::EmptyText,
            ChatError::TextTooLong {
                what: "title",
                len: 9,
                max: 8,
            },
            bad_integer("COUNT", b"x", 1, 1000),
            ChatError::InvalidDelivery("x".into()),
            ChatError::BadDedupKey,
            ChatError::NoSuchRoom,
            ChatError::NoSuchUser,
            ChatError::RoomExists,
            ChatError::UserExists,
            ChatError::NotMember,
            ChatError::DirectRoomWithSelf,
            ChatError::DirectRoomId,
            ChatError::DirectRoomMembers,
            ChatError::NotDirectRoomOf {
                room: "r".into(),
                expected: "dm:1:a:b".into(),
            },
            ChatError::NoSuchMessage(3),
            ChatError::Deleted(3),
            ChatError::MentionNotMember("bob".into()),
            ChatError::TooManyMentions,
            ChatError::BadReaction,
            ChatError::TooManyReactions(3),
            ChatError::TooManyPins,
            ChatError::NotAuthor,
            ChatError::IdAfterLast { id: 9, last: 3 },
            ChatError::WrongType("k".into()),
            ChatError::OtherKind {
                key: "k".into(),
                holds: "room",
                wanted: "user",
            },
            ChatError::IdTaken {
                id: "k".into(),
                holds: "room",
            },
            ChatError::Misnamed {
                key: "k".into(),
                kind: "room",
            },
            ChatError::InternalOnly("chat.at"),
            ChatError::CrossSlot {
                id: "r".into(),
                other: "m".into(),
                advice: "do it elsewhere",
            },
            ChatError::StillMember,
            ChatError::TryAgain("alice".into()),
            ChatError::ResolvedFromClient,
            ChatError::BadCredentials,
            ChatError::BadPassword,
            ChatError::PasswordChanged,
            ChatError::CannotBlock("chat.auth"),
            ChatError::WritesPaused,
            ChatError::NotYourself {
                acl_user: "a".into(),
                wanted: "b".into(),
            },
            ChatError::NotInRoom {
                acl_user: "a".into(),
                room: "r".into(),
            },
            ChatError::AdminOnly {
                acl_user: "a".into(),
                command: "chat.drop",
            },
            ChatError::RoomFull(3),
            ChatError::TooManyRooms(3),
            ChatError::Internal("x".into()),
        ];
        for e in all {
            let text = e.to_string();
            let code = text.split(' ').next().unwrap_or_default();
            assert!(
                ["ERR", "WRONGTYPE", "CROSSSLOT", "NOPERM", "TRYAGAIN"].contains(&code),
                "error without a code: {text}"
            );
            assert!(!text.contains('\n') && !text.contains('\r'));
        }
    }

    #[test]
    fn client_text_in_errors_is_one_short_line() {
        let e = bad_integer("COUNT", b"1\r\n2", 1, 10);
        assert_eq!(
            e.to_string(),
            "ERR COUNT must be an integer from 1 to 10, got '1??2'"
        );
        let long = "9".repeat(500);
        let text = bad_integer("COUNT", long.as_bytes(), 1, 10).to_string();
        assert!(text.len() < 130, "{text}");
        assert!(text.ends_with("...'"));
    }

    #[test]
    fn arity_error_matches_redis_wording() {
        assert_eq!(
            ChatError::WrongArity("chat.send").to_string(),
            "ERR wrong number of arguments for 'chat.send' command"
        );
    }
}
