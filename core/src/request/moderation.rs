//! Requests of the moderation commands: roles, invitations, kicks, bans,
//! mutes and slow mode.

use crate::data::rules::{Role, SLOWMODE_MAX_SECS};
use crate::error::ChatError;
use crate::ids::{RoomId, UserId};
use crate::parse::Args;

/// The longest ban or mute given in SECONDS: ten years.
pub const SANCTION_MAX_SECS: i64 = 10 * 365 * 24 * 3600;

/// `CHAT.<command> <room> <actor> <user>`: INVITE, KICK, UNBAN, UNMUTE;
/// with `[SECONDS <n>]`: BAN and MUTE.
#[derive(Debug, PartialEq, Eq)]
pub struct Moderate<'a> {
    pub room: RoomId<'a>,
    pub actor: UserId<'a>,
    pub user: UserId<'a>,
    /// How long a ban or mute lasts; `None`: until lifted.
    pub seconds: Option<u64>,
}

impl<'a> Moderate<'a> {
    /// A command without options.
    pub fn parse(command: &'static str, args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new(command, args);
        let (room, actor, user) = (a.next_room()?, a.next_user()?, a.next_user()?);
        a.finish()?;
        Ok(Moderate {
            room,
            actor,
            user,
            seconds: None,
        })
    }

    /// BAN and MUTE: `[SECONDS <n>]`.
    pub fn parse_timed(command: &'static str, args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new(command, args);
        let (room, actor, user) = (a.next_room()?, a.next_user()?, a.next_user()?);
        let mut seconds = None;
        while let Some(option) = a.next_option() {
            match option.as_str() {
                "SECONDS" => seconds = Some(a.option_int("SECONDS", 1, SANCTION_MAX_SECS)? as u64),
                _ => return Err(ChatError::Syntax),
            }
        }
        Ok(Moderate {
            room,
            actor,
            user,
            seconds,
        })
    }

    /// The end of a ban or mute made at `now` (unix ms).
    pub fn until(&self, now: i64) -> i64 {
        match self.seconds {
            Some(s) => now.saturating_add(s as i64 * 1000),
            None => crate::data::rules::FOREVER,
        }
    }
}

/// `CHAT.ROLE <room> <actor> <user> <owner|admin|member>`
#[derive(Debug, PartialEq, Eq)]
pub struct SetRole<'a> {
    pub room: RoomId<'a>,
    pub actor: UserId<'a>,
    pub user: UserId<'a>,
    pub role: Role,
}

impl<'a> SetRole<'a> {
    pub fn parse(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.role", args);
        let (room, actor, user) = (a.next_room()?, a.next_user()?, a.next_user()?);
        let role = a.positional()?;
        a.finish()?;
        let role = Role::parse(role).ok_or(ChatError::BadRole)?;
        Ok(SetRole {
            room,
            actor,
            user,
            role,
        })
    }
}

/// `CHAT.SLOWMODE <room> <actor> <seconds>`
#[derive(Debug, PartialEq, Eq)]
pub struct SlowMode<'a> {
    pub room: RoomId<'a>,
    pub actor: UserId<'a>,
    pub seconds: u32,
}

impl<'a> SlowMode<'a> {
    pub fn parse(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.slowmode", args);
        let (room, actor) = (a.next_room()?, a.next_user()?);
        let seconds =
            crate::parse::parse_int_in("seconds", a.positional()?, 0, SLOWMODE_MAX_SECS as i64)?
                as u32;
        a.finish()?;
        Ok(SlowMode {
            room,
            actor,
            seconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args<'a>(words: &'a [&'a str]) -> Vec<&'a [u8]> {
        words.iter().map(|w| w.as_bytes()).collect()
    }

    #[test]
    fn bans_and_mutes_take_seconds_and_nothing_else() {
        let a = args(&["r", "alice", "bob", "seconds", "30"]);
        let ban = Moderate::parse_timed("chat.ban", &a).unwrap();
        assert_eq!(ban.seconds, Some(30));
        assert_eq!(ban.until(1000), 31_000);
        let a = args(&["r", "alice", "bob"]);
        let forever = Moderate::parse_timed("chat.ban", &a).unwrap();
        assert_eq!(forever.until(5), crate::data::rules::FOREVER);
        for bad in [
            &["r", "alice", "bob", "SECONDS", "0"][..],
            &["r", "alice", "bob", "FOR", "3"],
        ] {
            assert!(Moderate::parse_timed("chat.ban", &args(bad)).is_err());
        }
        let a = args(&["r", "alice", "bob", "extra"]);
        assert_eq!(
            Moderate::parse("chat.kick", &a),
            Err(ChatError::WrongArity("chat.kick"))
        );
    }

    #[test]
    fn roles_and_slow_mode_are_checked() {
        let a = args(&["r", "alice", "bob", "Admin"]);
        assert_eq!(SetRole::parse(&a).unwrap().role, Role::Admin);
        let a = args(&["r", "alice", "bob", "king"]);
        assert_eq!(SetRole::parse(&a), Err(ChatError::BadRole));
        let a = args(&["r", "alice", "3600"]);
        assert_eq!(SlowMode::parse(&a).unwrap().seconds, 3600);
        let a = args(&["r", "alice", "3601"]);
        assert!(SlowMode::parse(&a)
            .unwrap_err()
            .to_string()
            .starts_with("ERR seconds must be an integer from 0 to 3600"));
    }
}
