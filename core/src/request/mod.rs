//! One typed request per command, parsed and validated in full before any key
//! is touched, so bad input is refused with nothing written.

use crate::config::Limits;
use crate::data::extra::Extra;
use crate::delivery::DeliveryId;
use crate::error::ChatError;
use crate::ids::{RoomId, UserId};
use crate::parse::{parse_int_in, Args};

mod moderation;
mod steps;
mod talk;
pub use moderation::{Moderate, SetRole, SlowMode, SANCTION_MAX_SECS};
pub use steps::{DirectRoom, Listing, LISTING_AGE_MAX_MS};
pub use talk::{valid_reaction, Pin, React, Reactions, Thread, MENTIONS_MAX, REACTION_MAX_BYTES};

pub const HISTORY_COUNT_DEFAULT: i64 = 50;
pub const FETCH_COUNT_DEFAULT: i64 = 100;
pub const COUNT_MAX: i64 = 1000;
/// The longest BLOCK: one year. Long enough for any client, short enough that
/// `now + BLOCK` can never overflow inside Redis.
pub const BLOCK_MAX_MS: i64 = 365 * 24 * 3600 * 1000;
pub const TTL_MAX_SECS: i64 = 86_400;

/// `CHAT.REGISTER <user> <name> [PASSWORD <password>]`
#[derive(Debug, PartialEq, Eq)]
pub struct Register<'a> {
    pub user: UserId<'a>,
    pub name: &'a str,
    pub password: Option<&'a [u8]>,
}

impl<'a> Register<'a> {
    pub fn parse(args: &'a [&'a [u8]], limits: &Limits) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.register", args);
        let user = a.next_user()?;
        let name = a.next_utf8("name", limits.max_text_bytes)?;
        let mut password = None;
        while let Some(option) = a.next_option() {
            match option.as_str() {
                "PASSWORD" if password.is_none() => {
                    password = Some(password_arg(a.option_value()?)?)
                }
                _ => return Err(ChatError::Syntax),
            }
        }
        Ok(Register {
            user,
            name,
            password,
        })
    }
}

fn password_arg(value: &[u8]) -> Result<&[u8], ChatError> {
    if crate::password::acceptable(value) {
        Ok(value)
    } else {
        Err(ChatError::BadPassword)
    }
}

/// `CHAT.AUTH <user> <password>`. The user id is checked only for its form:
/// an unknown user is answered like a wrong password.
#[derive(Debug, PartialEq, Eq)]
pub struct Auth<'a> {
    pub user: UserId<'a>,
    pub password: &'a [u8],
}

impl<'a> Auth<'a> {
    pub fn parse(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.auth", args);
        let user = a.next_user()?;
        let password = a.positional()?;
        a.finish()?;
        // A password too long to have been set cannot match: refused at
        // once, which tells nothing about the user, and spares the hash.
        if password.len() > crate::password::MAX_PASSWORD_BYTES {
            return Err(ChatError::BadCredentials);
        }
        Ok(Auth { user, password })
    }
}

/// `CHAT.PASSWD <user> <old-password> <new-password>`
#[derive(Debug, PartialEq, Eq)]
pub struct Passwd<'a> {
    pub user: UserId<'a>,
    pub old: &'a [u8],
    pub new: &'a [u8],
}

impl<'a> Passwd<'a> {
    pub fn parse(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.passwd", args);
        let user = a.next_user()?;
        let old = a.positional()?;
        let new = password_arg(a.positional()?)?;
        a.finish()?;
        if old.len() > crate::password::MAX_PASSWORD_BYTES {
            return Err(ChatError::BadCredentials);
        }
        Ok(Passwd { user, old, new })
    }
}

/// `CHAT.CREATE <room> <title>`
#[derive(Debug, PartialEq, Eq)]
pub struct Create<'a> {
    pub room: RoomId<'a>,
    pub title: &'a str,
    /// `OWNER <user>`: made a member with the role `owner`.
    pub owner: Option<UserId<'a>>,
    /// `PRIVATE`: joined by invitation only (needs OWNER).
    pub private: bool,
}

impl<'a> Create<'a> {
    pub fn parse(args: &'a [&'a [u8]], limits: &Limits) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.create", args);
        let room = a.next_room()?;
        let title = a.next_utf8("title", limits.max_text_bytes)?;
        let (mut owner, mut private) = (None, false);
        while let Some(option) = a.next_option() {
            match option.as_str() {
                "OWNER" => owner = Some(UserId::parse(a.option_value()?)?),
                "PRIVATE" => private = true,
                _ => return Err(ChatError::Syntax),
            }
        }
        if crate::ids::is_direct_room(room.as_str()) {
            return Err(ChatError::DirectRoomId);
        }
        if private && owner.is_none() {
            return Err(crate::refusal::Refusal::PrivateNeedsOwner.into());
        }
        Ok(Create {
            room,
            title,
            owner,
            private,
        })
    }
}

/// Commands whose only argument is a room: INFO, MEMBERS, COUNTS, PRESENCE.
pub fn parse_room<'a>(
    command: &'static str,
    args: &'a [&'a [u8]],
) -> Result<RoomId<'a>, ChatError> {
    let mut a = Args::new(command, args);
    let room = a.next_room()?;
    a.finish()?;
    Ok(room)
}

/// Commands whose only argument is a user: PROFILE, ROOMS, OFFLINE.
pub fn parse_user<'a>(
    command: &'static str,
    args: &'a [&'a [u8]],
) -> Result<UserId<'a>, ChatError> {
    let mut a = Args::new(command, args);
    let user = a.next_user()?;
    a.finish()?;
    Ok(user)
}

/// `CHAT.SUBSCRIBE <room> <user>` and `CHAT.UNSUBSCRIBE <room> <user>`
#[derive(Debug, PartialEq, Eq)]
pub struct Membership<'a> {
    pub room: RoomId<'a>,
    pub user: UserId<'a>,
}

impl<'a> Membership<'a> {
    pub fn parse(command: &'static str, args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new(command, args);
        let room = a.next_room()?;
        let user = a.next_user()?;
        a.finish()?;
        Ok(Membership { room, user })
    }
}

/// The longest DEDUP key.
pub const DEDUP_KEY_MAX_BYTES: usize = 200;

/// `CHAT.SEND <room> <sender> <text> [DEDUP <key>] [REPLY <id>] [MENTION <user>]...`
#[derive(Debug, PartialEq, Eq)]
pub struct Send<'a> {
    pub room: RoomId<'a>,
    pub sender: UserId<'a>,
    pub text: &'a str,
    /// A client's name for this send, so that a retry is recognised.
    pub dedup: Option<&'a [u8]>,
    /// The message it answers, and who it mentions (each once).
    pub extra: Extra<'a>,
}

impl<'a> Send<'a> {
    pub fn parse(args: &'a [&'a [u8]], limits: &Limits) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.send", args);
        let room = a.next_room()?;
        let sender = a.next_user()?;
        let text = a.next_utf8("message text", limits.max_text_bytes)?;
        if text.is_empty() {
            return Err(ChatError::EmptyText);
        }
        let mut dedup = None;
        let mut extra = Extra::default();
        let mut mentions = 0;
        while let Some(option) = a.next_option() {
            match option.as_str() {
                "DEDUP" => {
                    let key = a.option_value()?;
                    if key.is_empty() || key.len() > DEDUP_KEY_MAX_BYTES {
                        return Err(ChatError::BadDedupKey);
                    }
                    dedup = Some(key);
                }
                "REPLY" => extra.reply_to = Some(a.option_int("REPLY", 1, i64::MAX)? as u64),
                "MENTION" => {
                    let user = UserId::parse(a.option_value()?)?;
                    mentions += 1;
                    if mentions > MENTIONS_MAX {
                        return Err(ChatError::TooManyMentions);
                    }
                    if !extra.mentions.contains(&user.as_str()) {
                        extra.mentions.push(user.as_str());
                    }
                }
                _ => return Err(ChatError::Syntax),
            }
        }
        Ok(Send {
            room,
            sender,
            text,
            dedup,
            extra,
        })
    }
}

/// `CHAT.READ <room> <user> <id>`
#[derive(Debug, PartialEq, Eq)]
pub struct Read<'a> {
    pub room: RoomId<'a>,
    pub user: UserId<'a>,
    pub id: u64,
}

impl<'a> Read<'a> {
    pub fn parse(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.read", args);
        let room = a.next_room()?;
        let user = a.next_user()?;
        let id = parse_int_in("id", a.positional()?, 0, i64::MAX)? as u64;
        a.finish()?;
        Ok(Read { room, user, id })
    }
}

/// `CHAT.MEMBERS <room> [WITHREAD | WITHROLES]` and `CHAT.INFO <room>
/// [WITHREAD]`
#[derive(Debug, PartialEq, Eq)]
pub struct Members<'a> {
    pub room: RoomId<'a>,
    pub with_read: bool,
    pub with_roles: bool,
}

impl<'a> Members<'a> {
    pub fn parse(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        Members::parse_for("chat.members", args, true)
    }

    pub fn parse_info(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        Members::parse_for("chat.info", args, false)
    }

    fn parse_for(
        command: &'static str,
        args: &'a [&'a [u8]],
        roles: bool,
    ) -> Result<Self, ChatError> {
        let mut a = Args::new(command, args);
        let room = a.next_room()?;
        let (mut with_read, mut with_roles) = (false, false);
        while let Some(option) = a.next_option() {
            match option.as_str() {
                "WITHREAD" => with_read = true,
                "WITHROLES" if roles => with_roles = true,
                _ => return Err(ChatError::Syntax),
            }
        }
        if with_read && with_roles {
            return Err(ChatError::Syntax);
        }
        Ok(Members {
            room,
            with_read,
            with_roles,
        })
    }
}

/// `CHAT.EDIT <room> <user> <id> <text>` and `CHAT.DELETE <room> <user> <id>`
#[derive(Debug, PartialEq, Eq)]
pub struct Change<'a> {
    pub room: RoomId<'a>,
    pub user: UserId<'a>,
    pub id: u64,
    /// The new text; `None` for a deletion.
    pub text: Option<&'a str>,
}

impl<'a> Change<'a> {
    pub fn parse_edit(args: &'a [&'a [u8]], limits: &Limits) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.edit", args);
        let (room, user, id) = (
            a.next_room()?,
            a.next_user()?,
            parse_int_in("id", a.positional()?, 1, i64::MAX)? as u64,
        );
        let text = a.next_utf8("message text", limits.max_text_bytes)?;
        if text.is_empty() {
            return Err(ChatError::EmptyText);
        }
        a.finish()?;
        Ok(Change {
            room,
            user,
            id,
            text: Some(text),
        })
    }

    pub fn parse_delete(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.delete", args);
        let (room, user, id) = (
            a.next_room()?,
            a.next_user()?,
            parse_int_in("id", a.positional()?, 1, i64::MAX)? as u64,
        );
        a.finish()?;
        Ok(Change {
            room,
            user,
            id,
            text: None,
        })
    }
}

/// `CHAT.DM <user-a> <user-b>`
#[derive(Debug, PartialEq, Eq)]
pub struct Direct<'a> {
    pub a: UserId<'a>,
    pub b: UserId<'a>,
}

impl<'a> Direct<'a> {
    pub fn parse(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        Self::parse_for("chat.dm", args)
    }

    /// `CHAT.DM <a> <b>`, and `CHAT.DM-ID <a> <b>` (named by `command`).
    pub fn parse_for(command: &'static str, args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new(command, args);
        let (first, second) = (a.next_user()?, a.next_user()?);
        a.finish()?;
        Ok(Direct {
            a: first,
            b: second,
        })
    }
}

/// Where a HISTORY page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// The newest messages.
    Latest,
    /// The messages just before this id (exclusive).
    Before(u64),
    /// The messages just after this id (exclusive).
    After(u64),
}

impl Cursor {
    /// Applies a later BEFORE/AFTER option: repeating one keeps the last
    /// value, as Redis options do; BEFORE and AFTER together make no page.
    fn then(self, next: Cursor) -> Result<Cursor, ChatError> {
        match (self, next) {
            (Cursor::Latest, _)
            | (Cursor::Before(_), Cursor::Before(_))
            | (Cursor::After(_), Cursor::After(_)) => Ok(next),
            _ => Err(ChatError::Syntax),
        }
    }
}

/// `CHAT.HISTORY <room> [BEFORE <id> | AFTER <id>] [COUNT <n>]`
#[derive(Debug, PartialEq, Eq)]
pub struct History<'a> {
    pub room: RoomId<'a>,
    pub cursor: Cursor,
    pub count: usize,
}

impl<'a> History<'a> {
    pub fn parse(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.history", args);
        let room = a.next_room()?;
        let mut cursor = Cursor::Latest;
        let mut count = HISTORY_COUNT_DEFAULT;
        while let Some(option) = a.next_option() {
            match option.as_str() {
                "BEFORE" => {
                    let id = a.option_int("BEFORE", 0, i64::MAX)? as u64;
                    cursor = cursor.then(Cursor::Before(id))?;
                }
                "AFTER" => {
                    let id = a.option_int("AFTER", 0, i64::MAX)? as u64;
                    cursor = cursor.then(Cursor::After(id))?;
                }
                "COUNT" => count = a.option_int("COUNT", 1, COUNT_MAX)?,
                _ => return Err(ChatError::Syntax),
            }
        }
        Ok(History {
            room,
            cursor,
            count: count as usize,
        })
    }
}

/// `CHAT.FETCH <user> [COUNT <n>] [BLOCK <ms>]`
#[derive(Debug, PartialEq, Eq)]
pub struct Fetch<'a> {
    pub user: UserId<'a>,
    pub count: usize,
    /// `None`: answer at once. `Some(0)`: wait forever. `Some(ms)`: wait up to ms.
    pub block_ms: Option<u64>,
}

impl<'a> Fetch<'a> {
    pub fn parse(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.fetch", args);
        let user = a.next_user()?;
        let mut count = FETCH_COUNT_DEFAULT;
        let mut block_ms = None;
        while let Some(option) = a.next_option() {
            match option.as_str() {
                "COUNT" => count = a.option_int("COUNT", 1, COUNT_MAX)?,
                "BLOCK" => block_ms = Some(a.option_int("BLOCK", 0, BLOCK_MAX_MS)? as u64),
                _ => return Err(ChatError::Syntax),
            }
        }
        Ok(Fetch {
            user,
            count: count as usize,
            block_ms,
        })
    }
}

/// `CHAT.ACK <user> <delivery>`
#[derive(Debug, PartialEq, Eq)]
pub struct Ack<'a> {
    pub user: UserId<'a>,
    pub delivery: DeliveryId,
}

impl<'a> Ack<'a> {
    pub fn parse(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.ack", args);
        let user = a.next_user()?;
        let raw = a.positional()?;
        let delivery = DeliveryId::parse(raw)
            .ok_or_else(|| ChatError::InvalidDelivery(String::from_utf8_lossy(raw).into_owned()))?;
        a.finish()?;
        Ok(Ack { user, delivery })
    }
}

/// `CHAT.ONLINE <user> [TTL <seconds>]`
#[derive(Debug, PartialEq, Eq)]
pub struct Online<'a> {
    pub user: UserId<'a>,
    pub ttl_secs: u64,
    /// `DEVICE <id>`: this device's presence, one of several.
    pub device: Option<&'a str>,
}

impl<'a> Online<'a> {
    pub fn parse(args: &'a [&'a [u8]], limits: &Limits) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.online", args);
        let user = a.next_user()?;
        let mut ttl_secs = limits.presence_ttl_secs;
        let mut device = None;
        while let Some(option) = a.next_option() {
            match option.as_str() {
                "TTL" => ttl_secs = a.option_int("TTL", 1, TTL_MAX_SECS)? as u64,
                "DEVICE" => device = Some(parse_device(a.option_value()?)?),
                _ => return Err(ChatError::Syntax),
            }
        }
        Ok(Online {
            user,
            ttl_secs,
            device,
        })
    }
}

/// `CHAT.CHANNELS <user> [PRESENCE]`
#[derive(Debug, PartialEq, Eq)]
pub struct Channels<'a> {
    pub user: UserId<'a>,
    pub presence: bool,
}

impl<'a> Channels<'a> {
    pub fn parse(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.channels", args);
        let user = a.next_user()?;
        let mut presence = false;
        while let Some(option) = a.next_option() {
            match option.as_str() {
                "PRESENCE" => presence = true,
                _ => return Err(ChatError::Syntax),
            }
        }
        Ok(Channels { user, presence })
    }
}

/// The longest device id.
pub const DEVICE_MAX_BYTES: usize = 64;

/// A device id: 1 to 64 bytes of the characters of ids.
fn parse_device(bytes: &[u8]) -> Result<&str, ChatError> {
    let valid = (1..=DEVICE_MAX_BYTES).contains(&bytes.len())
        && bytes.iter().all(|&b| crate::ids::is_id_byte(b));
    match std::str::from_utf8(bytes) {
        Ok(device) if valid => Ok(device),
        _ => Err(ChatError::BadDevice),
    }
}

/// `CHAT.OFFLINE <user> [DEVICE <id>]`
#[derive(Debug, PartialEq, Eq)]
pub struct Offline<'a> {
    pub user: UserId<'a>,
    pub device: Option<&'a str>,
}

impl<'a> Offline<'a> {
    pub fn parse(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.offline", args);
        let user = a.next_user()?;
        let mut device = None;
        while let Some(option) = a.next_option() {
            match option.as_str() {
                "DEVICE" => device = Some(parse_device(a.option_value()?)?),
                _ => return Err(ChatError::Syntax),
            }
        }
        Ok(Offline { user, device })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::IdKind;

    fn args(s: &[&'static str]) -> Vec<&'static [u8]> {
        s.iter().map(|a| a.as_bytes()).collect()
    }

    #[test]
    fn send_validates_everything_before_any_write() {
        let limits = Limits {
            max_text_bytes: 5,
            ..Limits::default()
        };
        let ok = args(&["r", "alice", "hello"]);
        let send = Send::parse(&ok, &limits).unwrap();
        assert_eq!(
            (send.room.as_str(), send.sender.as_str(), send.text),
            ("r", "alice", "hello")
        );

        let cases: Vec<(Vec<&[u8]>, ChatError)> = vec![
            (args(&["r", "alice", ""]), ChatError::EmptyText),
            (
                args(&["r", "alice", "toolong"]),
                ChatError::TextTooLong {
                    what: "message text",
                    len: 7,
                    max: 5,
                },
            ),
            (
                vec![b"r", b"alice", b"\xc3("],
                ChatError::NotUtf8("message text"),
            ),
            (
                args(&["bad room", "alice", "hi"]),
                ChatError::InvalidId(IdKind::Room),
            ),
            (
                args(&["r", "bad user", "hi"]),
                ChatError::InvalidId(IdKind::User),
            ),
            (args(&["r", "alice"]), ChatError::WrongArity("chat.send")),
            (args(&["r", "alice", "hi", "extra"]), ChatError::Syntax),
        ];
        for (input, expected) in cases {
            assert_eq!(Send::parse(&input, &limits), Err(expected));
        }
    }

    #[test]
    fn send_takes_an_optional_dedup_key() {
        let limits = Limits::default();
        let plain = args(&["r", "a", "hi"]);
        assert_eq!(Send::parse(&plain, &limits).unwrap().dedup, None);
        let with = args(&["r", "a", "hi", "dedup", "k-1"]);
        assert_eq!(
            Send::parse(&with, &limits).unwrap().dedup,
            Some(&b"k-1"[..])
        );
        let long = "k".repeat(DEDUP_KEY_MAX_BYTES + 1);
        let cases: Vec<(Vec<&[u8]>, ChatError)> = vec![
            (args(&["r", "a", "hi", "DEDUP"]), ChatError::Syntax),
            (args(&["r", "a", "hi", "DEDUP", ""]), ChatError::BadDedupKey),
            (
                vec![b"r", b"a", b"hi", b"DEDUP", long.as_bytes()],
                ChatError::BadDedupKey,
            ),
            (args(&["r", "a", "hi", "AGAIN", "x"]), ChatError::Syntax),
        ];
        for (input, expected) in cases {
            assert_eq!(Send::parse(&input, &limits), Err(expected));
        }
    }

    #[test]
    fn read_state_and_changes_parse() {
        let raw = args(&["r", "u", "7"]);
        let r = Read::parse(&raw).unwrap();
        assert_eq!((r.room.as_str(), r.user.as_str(), r.id), ("r", "u", 7));
        assert!(Read::parse(&args(&["r", "u", "-1"])).is_err());
        assert!(Read::parse(&args(&["r", "u"])).is_err());
        assert!(Members::parse(&args(&["r", "withread"])).unwrap().with_read);
        assert!(!Members::parse(&args(&["r"])).unwrap().with_read);
        assert_eq!(
            Members::parse(&args(&["r", "WITH"])),
            Err(ChatError::Syntax)
        );
        let limits = Limits::default();
        let raw = args(&["r", "u", "3", "new"]);
        let e = Change::parse_edit(&raw, &limits).unwrap();
        assert_eq!((e.id, e.text), (3, Some("new")));
        assert_eq!(
            Change::parse_edit(&args(&["r", "u", "3", ""]), &limits),
            Err(ChatError::EmptyText)
        );
        assert!(Change::parse_edit(&args(&["r", "u", "0", "x"]), &limits).is_err());
        assert_eq!(
            Change::parse_delete(&args(&["r", "u", "3"])).unwrap().text,
            None
        );
        assert!(Change::parse_delete(&args(&["r", "u", "3", "x"])).is_err());
        let raw = args(&["a", "b"]);
        let d = Direct::parse(&raw).unwrap();
        assert_eq!((d.a.as_str(), d.b.as_str()), ("a", "b"));
    }

    #[test]
    fn history_options() {
        let h = |s: &[&'static str]| History::parse(&args(s)).map(|h| (h.cursor, h.count));
        assert_eq!(h(&["r"]), Ok((Cursor::Latest, 50)));
        assert_eq!(h(&["r", "count", "3"]), Ok((Cursor::Latest, 3)));
        assert_eq!(
            h(&["r", "BEFORE", "10", "COUNT", "2"]),
            Ok((Cursor::Before(10), 2))
        );
        assert_eq!(
            h(&["r", "COUNT", "2", "after", "0"]),
            Ok((Cursor::After(0), 2))
        );
        assert_eq!(
            h(&["r", "BEFORE", "1", "AFTER", "2"]),
            Err(ChatError::Syntax)
        );
        assert_eq!(
            h(&["r", "AFTER", "2", "BEFORE", "1"]),
            Err(ChatError::Syntax)
        );
        assert_eq!(h(&["r", "SINCE", "2"]), Err(ChatError::Syntax));
        assert_eq!(h(&["r", "COUNT"]), Err(ChatError::Syntax));
        assert!(h(&["r", "COUNT", "0"]).is_err());
        assert!(h(&["r", "COUNT", "1001"]).is_err());
        assert!(h(&["r", "BEFORE", "-1"]).is_err());
        assert!(h(&["r", "AFTER", "x"]).is_err());
    }

    #[test]
    fn fetch_options() {
        let f = |s: &[&'static str]| Fetch::parse(&args(s)).map(|f| (f.count, f.block_ms));
        assert_eq!(f(&["u"]), Ok((100, None)));
        assert_eq!(f(&["u", "BLOCK", "0"]), Ok((100, Some(0))));
        assert_eq!(f(&["u", "block", "250", "count", "7"]), Ok((7, Some(250))));
        assert_eq!(
            f(&["u", "BLOCK", "-1"]).unwrap_err().to_string(),
            format!("ERR BLOCK must be an integer from 0 to {BLOCK_MAX_MS}, got '-1'")
        );
        assert_eq!(f(&["u", "WAIT", "1"]), Err(ChatError::Syntax));
    }

    #[test]
    fn ack_needs_a_delivery_handle() {
        let ok = args(&["u", "12-3"]);
        assert_eq!(
            Ack::parse(&ok).unwrap().delivery,
            DeliveryId { ms: 12, seq: 3 }
        );
        let bad = args(&["u", "12"]);
        assert_eq!(
            Ack::parse(&bad).unwrap_err().to_string(),
            "ERR invalid delivery '12': use a delivery string returned by CHAT.FETCH"
        );
    }

    #[test]
    fn online_ttl_defaults_to_the_config() {
        let limits = Limits {
            presence_ttl_secs: 42,
            ..Limits::default()
        };
        assert_eq!(Online::parse(&args(&["u"]), &limits).unwrap().ttl_secs, 42);
        assert_eq!(
            Online::parse(&args(&["u", "TTL", "5"]), &limits)
                .unwrap()
                .ttl_secs,
            5
        );
        for bad in ["0", "86401", "-5", "five"] {
            assert!(Online::parse(&args(&["u", "TTL", bad]), &limits).is_err());
        }
    }

    #[test]
    fn names_and_titles_must_be_utf8() {
        let limits = Limits::default();
        let bad: Vec<&[u8]> = vec![b"u", b"\xff"];
        assert_eq!(
            Register::parse(&bad, &limits),
            Err(ChatError::NotUtf8("name"))
        );
        assert_eq!(
            Create::parse(&bad, &limits),
            Err(ChatError::NotUtf8("title"))
        );
        let ok = args(&["u", "Ünïcode ok"]);
        assert_eq!(Register::parse(&ok, &limits).unwrap().name, "Ünïcode ok");
    }

    #[test]
    fn register_takes_one_optional_password() {
        let limits = Limits::default();
        let with = args(&["u", "U", "password", "s3cret"]);
        let r = Register::parse(&with, &limits).unwrap();
        assert_eq!(r.password, Some(&b"s3cret"[..]));
        let without = args(&["u", "U"]);
        assert_eq!(Register::parse(&without, &limits).unwrap().password, None);
        let long: &'static str = Box::leak(
            "x".repeat(crate::password::MAX_PASSWORD_BYTES + 1)
                .into_boxed_str(),
        );
        for (bad, error) in [
            (vec!["u", "U", "PASSWORD"], ChatError::Syntax),
            (vec!["u", "U", "PASSWORD", ""], ChatError::BadPassword),
            (vec!["u", "U", "PASSWORD", long], ChatError::BadPassword),
            (
                vec!["u", "U", "PASSWORD", "a", "PASSWORD", "b"],
                ChatError::Syntax,
            ),
            (vec!["u", "U", "SECRET", "a"], ChatError::Syntax),
        ] {
            let bad = args(&bad);
            assert_eq!(Register::parse(&bad, &limits), Err(error));
        }
    }

    #[test]
    fn auth_and_passwd_arguments() {
        let ok = args(&["u", "pw"]);
        let a = Auth::parse(&ok).unwrap();
        assert_eq!((a.user.as_str(), a.password), ("u", &b"pw"[..]));
        let short = args(&["u"]);
        assert_eq!(Auth::parse(&short), Err(ChatError::WrongArity("chat.auth")));
        let bad_id = args(&["bad id", "pw"]);
        assert_eq!(
            Auth::parse(&bad_id),
            Err(ChatError::InvalidId(crate::error::IdKind::User))
        );
        let ok = args(&["u", "old", "new"]);
        let p = Passwd::parse(&ok).unwrap();
        assert_eq!((p.old, p.new), (&b"old"[..], &b"new"[..]));
        let empty = args(&["u", "old", ""]);
        assert_eq!(Passwd::parse(&empty), Err(ChatError::BadPassword));
        let extra = args(&["u", "old", "new", "x"]);
        assert_eq!(
            Passwd::parse(&extra),
            Err(ChatError::WrongArity("chat.passwd"))
        );
    }
}
