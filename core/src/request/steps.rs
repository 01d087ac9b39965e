//! The requests of the steps that span Redis Cluster slots: the user's
//! side of a membership (CHAT.LIST-ROOM, CHAT.UNLIST-ROOM) and the room's
//! side of a direct room (CHAT.DM-ROOM).

use super::Direct;
use crate::ids::{RoomId, UserId};
use crate::parse::Args;
use crate::ChatError;

/// `CHAT.LIST-ROOM <user> <room>` and `CHAT.UNLIST-ROOM <user> <room>
/// [IF-OLDER-THAN-MS <ms>]`: the user's side of a membership, for a
/// room in another Redis Cluster slot.
#[derive(Debug, PartialEq, Eq)]
pub struct Listing<'a> {
    pub user: UserId<'a>,
    pub room: RoomId<'a>,
    /// Only a listing made at least this many milliseconds ago goes.
    pub if_older_than_ms: Option<u64>,
}

/// The longest IF-OLDER-THAN-MS: a day.
pub const LISTING_AGE_MAX_MS: i64 = 86_400_000;

impl<'a> Listing<'a> {
    pub fn parse_list(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.list-room", args);
        let (user, room) = (a.next_user()?, a.next_room()?);
        a.finish()?;
        Ok(Listing {
            user,
            room,
            if_older_than_ms: None,
        })
    }

    pub fn parse_unlist(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.unlist-room", args);
        let (user, room) = (a.next_user()?, a.next_room()?);
        let mut if_older_than_ms = None;
        while let Some(option) = a.next_option() {
            match option.as_str() {
                "IF-OLDER-THAN-MS" => {
                    let ms = a.option_int("IF-OLDER-THAN-MS", 0, LISTING_AGE_MAX_MS)?;
                    if_older_than_ms = Some(ms as u64);
                }
                _ => return Err(ChatError::Syntax),
            }
        }
        Ok(Listing {
            user,
            room,
            if_older_than_ms,
        })
    }
}

/// `CHAT.DM-ROOM <room> <user-a> <user-b>`: the room's side of CHAT.DM.
#[derive(Debug, PartialEq, Eq)]
pub struct DirectRoom<'a> {
    pub room: RoomId<'a>,
    pub pair: Direct<'a>,
}

impl<'a> DirectRoom<'a> {
    pub fn parse(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.dm-room", args);
        let room = a.next_room()?;
        let (first, second) = (a.next_user()?, a.next_user()?);
        a.finish()?;
        Ok(DirectRoom {
            room,
            pair: Direct {
                a: first,
                b: second,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&'static str]) -> Vec<&'static [u8]> {
        s.iter().map(|a| a.as_bytes()).collect()
    }

    #[test]
    fn listings_take_a_user_a_room_and_an_age() {
        let raw = args(&["bob", "general", "if-older-than-ms", "60000"]);
        let l = Listing::parse_unlist(&raw).unwrap();
        assert_eq!(
            (l.user.as_str(), l.room.as_str(), l.if_older_than_ms),
            ("bob", "general", Some(60_000))
        );
        assert_eq!(
            Listing::parse_list(&args(&["bob", "general"]))
                .unwrap()
                .if_older_than_ms,
            None
        );
        for bad in [
            &["bob", "general", "IF-OLDER-THAN-MS"][..],
            &["bob", "general", "IF-OLDER-THAN-MS", "-1"],
            &["bob", "general", "IF-OLDER-THAN-MS", "86400001"],
            &["bob", "general", "SOON"],
        ] {
            assert!(Listing::parse_unlist(&args(bad)).is_err(), "{bad:?}");
        }
        assert!(Listing::parse_list(&args(&["bob", "general", "x"])).is_err());
        let raw = args(&["dm:3:bob:eve", "eve", "bob"]);
        let d = DirectRoom::parse(&raw).unwrap();
        assert_eq!((d.pair.a.as_str(), d.pair.b.as_str()), ("eve", "bob"));
    }
}
