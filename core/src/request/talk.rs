//! Requests of the conversation commands: threads, reactions and pins.

use super::{COUNT_MAX, HISTORY_COUNT_DEFAULT};
use crate::error::ChatError;
use crate::ids::{RoomId, UserId};
use crate::parse::{parse_int_in, Args};

/// The most MENTION options one send may carry.
pub const MENTIONS_MAX: usize = 50;
/// The longest reaction.
pub const REACTION_MAX_BYTES: usize = 32;

/// A reaction is 1 to 32 bytes of UTF-8 without spaces (of any width) or
/// control characters: an emoji, a shortcode such as `:tada:`, a short
/// word. Zero width joiners stay: emoji sequences are made with them.
pub fn valid_reaction(bytes: &[u8]) -> bool {
    let space = |c: char| {
        c.is_whitespace() || matches!(c, '\u{200b}' | '\u{2060}' | '\u{feff}' | '\u{180e}')
    };
    (1..=REACTION_MAX_BYTES).contains(&bytes.len())
        && std::str::from_utf8(bytes).is_ok_and(|s| !s.chars().any(|c| space(c) || c.is_control()))
}

fn message_id<'a>(a: &mut Args<'a>) -> Result<u64, ChatError> {
    Ok(parse_int_in("id", a.positional()?, 1, i64::MAX)? as u64)
}

/// `CHAT.THREAD <room> <id> [AFTER <id>] [COUNT <n>] [EPOCH <epoch>]`
#[derive(Debug, PartialEq, Eq)]
pub struct Thread<'a> {
    pub room: RoomId<'a>,
    pub root: u64,
    pub after: Option<u64>,
    pub count: usize,
    /// The epoch the client's ids belong to.
    pub epoch: Option<&'a str>,
}

impl<'a> Thread<'a> {
    pub fn parse(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.thread", args);
        let room = a.next_room()?;
        let root = message_id(&mut a)?;
        let (mut after, mut count, mut epoch) = (None, HISTORY_COUNT_DEFAULT, None);
        while let Some(option) = a.next_option() {
            match option.as_str() {
                "EPOCH" => super::epoch_option(&mut a, &mut epoch)?,
                "AFTER" => after = Some(a.option_int("AFTER", 0, i64::MAX)? as u64),
                "COUNT" => count = a.option_int("COUNT", 1, COUNT_MAX)?,
                _ => return Err(ChatError::Syntax),
            }
        }
        Ok(Thread {
            room,
            root,
            after,
            count: count as usize,
            epoch,
        })
    }
}

/// `CHAT.REACT <room> <user> <id> <reaction>` and `CHAT.UNREACT` (the same
/// arguments).
#[derive(Debug, PartialEq, Eq)]
pub struct React<'a> {
    pub room: RoomId<'a>,
    pub user: UserId<'a>,
    pub id: u64,
    pub reaction: &'a str,
}

impl<'a> React<'a> {
    pub fn parse(command: &'static str, args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new(command, args);
        let (room, user, id) = (a.next_room()?, a.next_user()?, message_id(&mut a)?);
        let reaction = a.positional()?;
        a.finish()?;
        if !valid_reaction(reaction) {
            return Err(ChatError::BadReaction);
        }
        let reaction = std::str::from_utf8(reaction).map_err(|_| ChatError::BadReaction)?;
        Ok(React {
            room,
            user,
            id,
            reaction,
        })
    }
}

/// `CHAT.REACTIONS <room> <id>`
#[derive(Debug, PartialEq, Eq)]
pub struct Reactions<'a> {
    pub room: RoomId<'a>,
    pub id: u64,
}

impl<'a> Reactions<'a> {
    pub fn parse(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.reactions", args);
        let (room, id) = (a.next_room()?, message_id(&mut a)?);
        a.finish()?;
        Ok(Reactions { room, id })
    }
}

/// `CHAT.PIN <room> <user> <id>` and `CHAT.UNPIN` (the same arguments).
#[derive(Debug, PartialEq, Eq)]
pub struct Pin<'a> {
    pub room: RoomId<'a>,
    pub user: UserId<'a>,
    pub id: u64,
}

impl<'a> Pin<'a> {
    pub fn parse(command: &'static str, args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new(command, args);
        let (room, user, id) = (a.next_room()?, a.next_user()?, message_id(&mut a)?);
        a.finish()?;
        Ok(Pin { room, user, id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reactions_are_short_words_or_emoji() {
        for ok in ["👍", ":tada:", "ok", "+1", &"x".repeat(32), "👨‍👩‍👧"] {
            assert!(valid_reaction(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "a\tb",
            "\u{7}",
            &"x".repeat(33),
            "\u{a0}",
            "a\u{200b}b",
        ] {
            assert!(!valid_reaction(bad.as_bytes()), "{bad:?}");
        }
        assert!(!valid_reaction(&[0xff, 0xfe]));
    }

    #[test]
    fn thread_requests_take_after_and_count() {
        let args: Vec<&[u8]> = vec![b"r", b"7", b"AFTER", b"9", b"count", b"3"];
        let t = Thread::parse(&args).unwrap();
        assert_eq!((t.root, t.after, t.count), (7, Some(9), 3));
        let args: Vec<&[u8]> = vec![b"r", b"0"];
        assert!(Thread::parse(&args).is_err());
        let args: Vec<&[u8]> = vec![b"r", b"7", b"COUNT", b"1001"];
        assert!(Thread::parse(&args).is_err());
    }

    #[test]
    fn react_requests_check_the_reaction() {
        let args: Vec<&[u8]> = vec![b"r", b"u", b"3", "🎉".as_bytes()];
        let r = React::parse("chat.react", &args).unwrap();
        assert_eq!((r.id, r.reaction), (3, "🎉"));
        let args: Vec<&[u8]> = vec![b"r", b"u", b"3", b"no way"];
        assert_eq!(
            React::parse("chat.react", &args),
            Err(ChatError::BadReaction)
        );
    }
}
