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

    /// `CHAT.SUBSCRIBE <room> <user> [WITHEPOCH]`: the membership, and
    /// whether the reply names the room's epoch and last id too.
    pub fn parse_subscribe(args: &'a [&'a [u8]]) -> Result<(Self, bool), ChatError> {
        let mut a = Args::new("chat.subscribe", args);
        let room = a.next_room()?;
        let user = a.next_user()?;
        let mut with_epoch = false;
        while let Some(option) = a.next_option() {
            match option.as_str() {
                "WITHEPOCH" if !with_epoch => with_epoch = true,
                _ => return Err(ChatError::Syntax),
            }
        }
        Ok((Membership { room, user }, with_epoch))
    }
}

/// An epoch as the module shows it: a u64 in 16 hex digits.
const EPOCH_DIGITS: usize = 16;

/// An epoch a client passes back (`EPOCH <epoch>`): 16 lowercase hex
/// digits, as the module shows them.
fn parse_epoch(bytes: &[u8]) -> Result<&str, ChatError> {
    let valid =
        bytes.len() == EPOCH_DIGITS && bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    match std::str::from_utf8(bytes) {
        Ok(epoch) if valid => Ok(epoch),
        _ => Err(ChatError::BadEpoch),
    }
}

/// `EPOCH <epoch>`, once.
pub(crate) fn epoch_option<'a>(
    a: &mut Args<'a>,
    epoch: &mut Option<&'a str>,
) -> Result<(), ChatError> {
    if epoch.is_some() {
        return Err(ChatError::Syntax);
    }
    *epoch = Some(parse_epoch(a.option_value()?)?);
    Ok(())
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

/// `CHAT.HISTORY <room> [BEFORE <id> | AFTER <id>] [COUNT <n>] [EPOCH <epoch>]`
#[derive(Debug, PartialEq, Eq)]
pub struct History<'a> {
    pub room: RoomId<'a>,
    pub cursor: Cursor,
    pub count: usize,
    /// The epoch the client's ids belong to.
    pub epoch: Option<&'a str>,
}

impl<'a> History<'a> {
    pub fn parse(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.history", args);
        let room = a.next_room()?;
        let mut cursor = Cursor::Latest;
        let mut count = HISTORY_COUNT_DEFAULT;
        let mut epoch = None;
        while let Some(option) = a.next_option() {
            match option.as_str() {
                "EPOCH" => epoch_option(&mut a, &mut epoch)?,
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
            epoch,
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
    /// WITHEPOCHS: the reply names each room's epoch and last id too.
    pub with_epochs: bool,
}

impl<'a> Channels<'a> {
    pub fn parse(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.channels", args);
        let user = a.next_user()?;
        let (mut presence, mut with_epochs) = (false, false);
        while let Some(option) = a.next_option() {
            match option.as_str() {
                "PRESENCE" => presence = true,
                "WITHEPOCHS" => with_epochs = true,
                _ => return Err(ChatError::Syntax),
            }
        }
        Ok(Channels {
            user,
            presence,
            with_epochs,
        })
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
mod tests;
