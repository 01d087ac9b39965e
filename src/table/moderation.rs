//! The moderation commands' entries of the command table: roles,
//! invitations, kicks, bans, mutes and slow mode. Each changes the room
//! named by its first argument at the time it ran (`CHAT.AT` on replicas),
//! acting as the member named by its second.

use crate::commands;
use crate::identity::Who;
use crate::registry::{arg, command, option, Arg, ArgKind, Command};
use crate::replication::Propagate;
use crate::store::Access;

use super::{ROOM, USER};

/// `<room> <actor> <user>`: the room is the command's one key; the user's
/// key is opened when it shares the room's slot.
const ROOM_ACTOR_USER: [Arg; 3] = [
    ROOM,
    arg("actor", ArgKind::Text),
    arg("user", ArgKind::Text),
];
const SECONDS: Arg = option("SECONDS", "seconds", ArgKind::Integer);

pub static COMMANDS: &[Command] = &[
    command!("chat.role", commands::moderation::role, Who::User(2), Propagate::AtNow, {
        flags: "write deny-oom fast",
        arity: 5,
        keys: &[(1, Access::Write)],
        summary: "Gives a member of a room the role owner, admin or member: owners give any role, admins make members admins and admins members. Replies 1 if the role changed.",
        complexity: "O(log N) where N is the number of members, plus O(N) in a fan-out room (the event)",
        args: &[
            ROOM,
            arg("actor", ArgKind::Text),
            arg("user", ArgKind::Text),
            arg("role", ArgKind::Text),
        ],
    }),
    command!("chat.invite", commands::moderation::invite, Who::User(2), Propagate::AtNow, {
        flags: "write deny-oom fast",
        arity: 4,
        keys: &[(1, Access::Write)],
        summary: "Invites a user to a room (owners and admins); a private room is joined by invitation only. Replies 1 if invited now, 0 if invited already.",
        complexity: "O(log I) where I is the number of pending invitations",
        args: &ROOM_ACTOR_USER,
    }),
    command!("chat.invites", commands::moderation::invites, Who::User(1), Propagate::Verbatim, {
        flags: "readonly fast",
        arity: 2,
        keys: &[(1, Access::Read)],
        summary: "Returns the rooms that invited a user, each with when (unix ms), ascending by room.",
        complexity: "O(I) where I is the number of the user's invitations",
        args: &[USER],
    }),
    command!("chat.moderation", commands::moderation::moderation, Who::Member(1), Propagate::Verbatim, {
        flags: "readonly",
        arity: 2,
        keys: &[(1, Access::Read)],
        summary: "Returns a room's moderation: private, slowmode, the roles above member, the invitations waiting (user -> unix ms), and the bans and mutes in force (user -> end in unix ms, or nil until lifted).",
        complexity: "O(R + I + B) where R, I and B are the numbers of roles, invitations, and bans and mutes",
        args: &[ROOM],
    }),
    command!("chat.kick", commands::moderation::kick, Who::User(2), Propagate::AtNow, {
        flags: "write fast",
        arity: 4,
        keys: &[(1, Access::Write)],
        summary: "Removes a member of lower role from a room (owners and admins).",
        complexity: "O(log N) where N is the number of members, plus O(N) in a fan-out room (the event)",
        args: &ROOM_ACTOR_USER,
    }),
    command!("chat.ban", commands::moderation::ban, Who::User(2), Propagate::AtNow, {
        flags: "write deny-oom fast",
        arity: -4,
        keys: &[(1, Access::Write)],
        summary: "Removes a user of lower role from a room and refuses their joining and invitations, for SECONDS or until CHAT.UNBAN (owners and admins).",
        complexity: "O(log N) where N is the number of members and bans, plus O(N) in a fan-out room (the event)",
        args: &[
            ROOM,
            arg("actor", ArgKind::Text),
            arg("user", ArgKind::Text),
            SECONDS,
        ],
    }),
    command!("chat.unban", commands::moderation::unban, Who::User(2), Propagate::AtNow, {
        flags: "write fast",
        arity: 4,
        keys: &[(1, Access::Write)],
        summary: "Lifts a user's ban from a room (owners and admins). Replies 1 if a ban was in force.",
        complexity: "O(B) where B is the number of bans and mutes (ended ones are forgotten)",
        args: &ROOM_ACTOR_USER,
    }),
    command!("chat.mute", commands::moderation::mute, Who::User(2), Propagate::AtNow, {
        flags: "write deny-oom fast",
        arity: -4,
        keys: &[(1, Access::Write)],
        summary: "Refuses a member's sends, reactions and edits in a room, for SECONDS or until CHAT.UNMUTE (owners and admins, on a lower role).",
        complexity: "O(log M) where M is the number of mutes, plus O(N) in a fan-out room of N members (the event)",
        args: &[
            ROOM,
            arg("actor", ArgKind::Text),
            arg("user", ArgKind::Text),
            SECONDS,
        ],
    }),
    command!("chat.unmute", commands::moderation::unmute, Who::User(2), Propagate::AtNow, {
        flags: "write fast",
        arity: 4,
        keys: &[(1, Access::Write)],
        summary: "Lifts a member's mute in a room (owners and admins). Replies 1 if a mute was in force.",
        complexity: "O(B) where B is the number of bans and mutes (ended ones are forgotten)",
        args: &ROOM_ACTOR_USER,
    }),
    command!("chat.slowmode", commands::moderation::slowmode, Who::User(2), Propagate::AtNow, {
        flags: "write deny-oom fast",
        arity: 4,
        keys: &[(1, Access::Write)],
        summary: "Lets each member send one message per this many seconds in a room (0 turns it off, at most 3600; owners and admins are exempt).",
        complexity: "O(1), plus O(N) in a fan-out room of N members (the event)",
        args: &[
            ROOM,
            arg("actor", ArgKind::Text),
            arg("seconds", ArgKind::Integer),
        ],
    }),
];
