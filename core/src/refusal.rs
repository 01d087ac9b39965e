//! Refusals by a room's rules: who may moderate, who may join, and who may
//! send now. Each renders its exact error reply, code first. Clients tell
//! them apart by code: `NOPERM` (a role too low), `NOINVITE`, `BANNED`,
//! `MUTED`, `SLOWMODE` and `RATELIMIT`; the rest are `ERR`.

use std::fmt;

use crate::data::rules::{Role, FOREVER, INVITES_MAX};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The action needs an owner or admin of the room.
    NotModerator {
        actor: String,
        role: Role,
        action: &'static str,
    },
    /// Nobody acts on someone of an equal or higher role.
    Outranked {
        actor: String,
        action: &'static str,
        user: String,
        role: Role,
    },
    /// A role change the actor's role does not allow.
    RoleNotYours {
        actor: String,
        role: Role,
        what: &'static str,
    },
    /// The last owner may not step down or leave.
    LastOwner(String),
    /// CHAT.CREATE ... PRIVATE without OWNER.
    PrivateNeedsOwner,
    /// CHAT.INVITE of a member.
    AlreadyMember(String),
    TooManyInvites,
    NeedsInvitation {
        room: String,
        user: String,
    },
    Banned {
        room: String,
        user: String,
        until: i64,
        now: i64,
    },
    Muted {
        room: String,
        user: String,
        until: i64,
        now: i64,
    },
    SlowMode {
        room: String,
        seconds: u32,
        user: String,
        wait_ms: i64,
    },
    RateLimited {
        user: String,
        rate: u64,
        burst: u64,
        retry_ms: i64,
    },
}

impl Refusal {
    /// The kind, as INFO counts refusals (`refused_<kind>`).
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::NotModerator { .. }
            | Refusal::Outranked { .. }
            | Refusal::RoleNotYours { .. } => "role",
            Refusal::NeedsInvitation { .. } => "private",
            Refusal::Banned { .. } => "banned",
            Refusal::Muted { .. } => "muted",
            Refusal::SlowMode { .. } => "slowmode",
            Refusal::RateLimited { .. } => "ratelimit",
            Refusal::LastOwner(_)
            | Refusal::PrivateNeedsOwner
            | Refusal::AlreadyMember(_)
            | Refusal::TooManyInvites => "other",
        }
    }
}

fn with_article(role: Role) -> &'static str {
    match role {
        Role::Member => "a member",
        Role::Admin => "an admin",
        Role::Owner => "an owner",
    }
}

/// "until 1764583200000 (30 seconds from now)", or "until CHAT.UNBAN".
struct Until {
    until: i64,
    now: i64,
    lifted_by: &'static str,
}

impl fmt::Display for Until {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.until == FOREVER {
            return write!(f, "until {}", self.lifted_by);
        }
        let secs = (self.until.saturating_sub(self.now) as u64).div_ceil(1000);
        write!(f, "until {} ({secs} seconds from now)", self.until)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotModerator { actor, role, action } => write!(
                f,
                "NOPERM only the room's owners and admins may {action}; {actor} is {}",
                with_article(*role)
            ),
            Refusal::Outranked { actor, action, user, role } => write!(
                f,
                "NOPERM {actor} may not {action} {user}, who is {}: nobody acts on an equal or higher role",
                with_article(*role)
            ),
            Refusal::RoleNotYours { actor, role, what } => write!(
                f,
                "NOPERM {actor} is {} and may not {what}: owners give any role, admins make members admins and admins members",
                with_article(*role)
            ),
            Refusal::LastOwner(user) => write!(
                f,
                "ERR {user} is the room's last owner: make another member owner first (CHAT.ROLE)"
            ),
            Refusal::PrivateNeedsOwner => f.write_str(
                "ERR PRIVATE needs OWNER: a private room is joined by invitation, which only its owners and admins give",
            ),
            Refusal::AlreadyMember(user) => {
                write!(f, "ERR {user} is already a member of the room")
            }
            Refusal::TooManyInvites => write!(
                f,
                "ERR the room has {INVITES_MAX} pending invitations, the most it keeps; they are used by joining"
            ),
            Refusal::NeedsInvitation { room, user } => write!(
                f,
                "NOINVITE room {room} is private: {user} needs an invitation from an owner or admin (CHAT.INVITE)"
            ),
            Refusal::Banned { room, user, until, now } => write!(
                f,
                "BANNED {user} is banned from room {room} {}",
                Until { until: *until, now: *now, lifted_by: "CHAT.UNBAN" }
            ),
            Refusal::Muted { room, user, until, now } => write!(
                f,
                "MUTED {user} is muted in room {room} {}",
                Until { until: *until, now: *now, lifted_by: "CHAT.UNMUTE" }
            ),
            Refusal::SlowMode { room, seconds, user, wait_ms } => write!(
                f,
                "SLOWMODE room {room} allows a member one message every {seconds} seconds; {user} may send again in {wait_ms} ms"
            ),
            Refusal::RateLimited { user, rate, burst, retry_ms } => write!(
                f,
                "RATELIMIT {user} may send {rate} messages per second (burst {burst}, chat.send-rate); retry in {retry_ms} ms"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_starts_with_its_code_and_says_until_when() {
        let banned = Refusal::Banned {
            room: "r".into(),
            user: "bob".into(),
            until: 31_500,
            now: 1_000,
        };
        assert_eq!(
            banned.to_string(),
            "BANNED bob is banned from room r until 31500 (31 seconds from now)"
        );
        let muted = Refusal::Muted {
            room: "r".into(),
            user: "bob".into(),
            until: FOREVER,
            now: 0,
        };
        assert_eq!(
            muted.to_string(),
            "MUTED bob is muted in room r until CHAT.UNMUTE"
        );
        assert_eq!(muted.kind(), "muted");
        let outranked = Refusal::Outranked {
            actor: "a".into(),
            action: "kick",
            user: "o".into(),
            role: Role::Owner,
        };
        assert!(outranked
            .to_string()
            .starts_with("NOPERM a may not kick o, who is an owner"));
    }
}
