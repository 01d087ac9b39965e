//! A cursor over a command's arguments.
//!
//! Positionals are read with `positional` and `next_*`, options with a case-insensitive match
//! on [`Args::next_option`], and [`Args::finish`] rejects anything left over.
//! A missing positional is an arity error; a malformed value names itself.

use crate::error::{bad_integer, ChatError};
use crate::ids::{RoomId, UserId};

pub struct Args<'a> {
    command: &'static str,
    items: &'a [&'a [u8]],
    pos: usize,
}

impl<'a> Args<'a> {
    /// `items` are the arguments after the command name; `command` is the
    /// lower-case command name used in arity errors.
    pub fn new(command: &'static str, items: &'a [&'a [u8]]) -> Self {
        Args {
            command,
            items,
            pos: 0,
        }
    }

    /// The next positional argument; its absence is an arity error.
    pub fn positional(&mut self) -> Result<&'a [u8], ChatError> {
        let item = self
            .items
            .get(self.pos)
            .ok_or(ChatError::WrongArity(self.command))?;
        self.pos += 1;
        Ok(item)
    }

    pub fn next_room(&mut self) -> Result<RoomId<'a>, ChatError> {
        RoomId::parse(self.positional()?)
    }

    pub fn next_user(&mut self) -> Result<UserId<'a>, ChatError> {
        UserId::parse(self.positional()?)
    }

    /// A UTF-8 argument (`what` names it in the error) of at most `max` bytes.
    pub fn next_utf8(&mut self, what: &'static str, max: usize) -> Result<&'a str, ChatError> {
        let raw = self.positional()?;
        let text = std::str::from_utf8(raw).map_err(|_| ChatError::NotUtf8(what))?;
        if text.len() > max {
            return Err(ChatError::TextTooLong {
                what,
                len: text.len(),
                max,
            });
        }
        Ok(text)
    }

    /// The next option keyword, upper-cased for matching, or `None` at the end.
    pub fn next_option(&mut self) -> Option<Keyword> {
        let item = self.items.get(self.pos)?;
        self.pos += 1;
        Some(Keyword::new(item))
    }

    /// The value following an option keyword; a missing one is a syntax
    /// error, as in Redis's own commands.
    pub fn option_value(&mut self) -> Result<&'a [u8], ChatError> {
        let item = self.items.get(self.pos).ok_or(ChatError::Syntax)?;
        self.pos += 1;
        Ok(item)
    }

    /// An integer option value in `min..=max`.
    pub fn option_int(
        &mut self,
        option: &'static str,
        min: i64,
        max: i64,
    ) -> Result<i64, ChatError> {
        parse_int_in(option, self.option_value()?, min, max)
    }

    /// Fails if arguments are left over.
    pub fn finish(&self) -> Result<(), ChatError> {
        if self.pos < self.items.len() {
            Err(ChatError::WrongArity(self.command))
        } else {
            Ok(())
        }
    }
}

/// An option keyword, upper-cased in a buffer of its own: a command with
/// options allocates nothing to match them. A word longer than any option
/// (or not UTF-8) matches none.
#[derive(Debug, Clone, Copy)]
pub struct Keyword {
    bytes: [u8; Keyword::MAX],
    len: usize,
}

impl Keyword {
    /// Longer than the longest option, `IF-OLDER-THAN-MS`.
    const MAX: usize = 24;

    fn new(word: &[u8]) -> Keyword {
        let mut bytes = [0u8; Keyword::MAX];
        let len = if word.len() <= Keyword::MAX {
            word.len()
        } else {
            0
        };
        for (to, from) in bytes.iter_mut().zip(word.get(..len).unwrap_or_default()) {
            *to = from.to_ascii_uppercase();
        }
        Keyword { bytes, len }
    }

    /// The keyword, or "" when it can be no option.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.bytes.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }
}

impl std::ops::Deref for Keyword {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<&str> for Keyword {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Parses a decimal integer in `min..=max`; anything else is an error that
/// names the option and repeats the value.
pub fn parse_int_in(
    option: &'static str,
    value: &[u8],
    min: i64,
    max: i64,
) -> Result<i64, ChatError> {
    std::str::from_utf8(value)
        .ok()
        .filter(|s| !s.starts_with('+'))
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| bad_integer(option, value, min, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positionals_then_options() {
        let raw: Vec<&[u8]> = vec![b"room", b"count", b"5"];
        let mut a = Args::new("chat.history", &raw);
        assert_eq!(a.next_room().unwrap().as_str(), "room");
        assert_eq!(a.next_option().as_deref(), Some("COUNT"));
        assert_eq!(a.option_int("COUNT", 1, 10), Ok(5));
        assert!(a.next_option().is_none());
        assert!(a.finish().is_ok());
    }

    #[test]
    fn missing_positional_is_an_arity_error() {
        let raw: Vec<&[u8]> = vec![b"room"];
        let mut a = Args::new("chat.send", &raw);
        a.positional().unwrap();
        assert_eq!(a.positional(), Err(ChatError::WrongArity("chat.send")));
    }

    #[test]
    fn leftovers_are_an_arity_error() {
        let raw: Vec<&[u8]> = vec![b"a", b"b"];
        let mut a = Args::new("chat.profile", &raw);
        a.positional().unwrap();
        assert_eq!(a.finish(), Err(ChatError::WrongArity("chat.profile")));
    }

    #[test]
    fn option_without_value_is_a_syntax_error() {
        let raw: Vec<&[u8]> = vec![b"COUNT"];
        let mut a = Args::new("chat.fetch", &raw);
        a.next_option();
        assert_eq!(a.option_int("COUNT", 1, 10), Err(ChatError::Syntax));
    }

    #[test]
    fn integers_must_be_plain_decimals_in_range() {
        assert_eq!(parse_int_in("N", b"0", 0, 5), Ok(0));
        assert_eq!(parse_int_in("N", b"5", 0, 5), Ok(5));
        for bad in [
            &b"6"[..],
            b"-1",
            b"+1",
            b" 1",
            b"1.0",
            b"",
            b"0x1",
            b"99999999999999999999",
        ] {
            assert!(parse_int_in("N", bad, 0, 5).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_int_in("COUNT", b"-3", 1, 1000)
                .unwrap_err()
                .to_string(),
            "ERR COUNT must be an integer from 1 to 1000, got '-3'"
        );
    }

    #[test]
    fn utf8_arguments_are_checked() {
        let raw: Vec<&[u8]> = vec![b"\xff", b"12345"];
        let mut a = Args::new("x", &raw);
        assert_eq!(a.next_utf8("title", 10), Err(ChatError::NotUtf8("title")));
        assert_eq!(
            a.next_utf8("title", 4),
            Err(ChatError::TextTooLong {
                what: "title",
                len: 5,
                max: 4
            })
        );
    }
}
