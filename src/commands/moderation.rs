//! CHAT.ROLE, CHAT.INVITE, CHAT.INVITES, CHAT.KICK, CHAT.BAN, CHAT.UNBAN,
//! CHAT.MUTE, CHAT.UNMUTE, CHAT.SLOWMODE and CHAT.MODERATION: who may do
//! what in a room.
//!
//! The rules live in the room's value (`chat_core::data::rules`), so each
//! command opens the room's key, and the affected user's key only when it
//! shares the room's slot (to check that they exist, and to keep their
//! list of rooms and invitations). Every change replicates inside
//! `CHAT.AT`, at the primary's time, so a ban or mute ends at the same
//! moment everywhere, and every change is an event: to the room's
//! audience, and to the affected user on their own channel when the room's
//! audience would not include them.

use chat_core::data::rules::FOREVER;
use chat_core::data::{Room, User};
use chat_core::event::{Event, RoomMode};
use chat_core::request::{parse_room, parse_user, Moderate, SetRole, SlowMode};
use chat_core::ChatError;

use super::rooms::leave;
use super::Args;
use super::{
    existing_in_slot, existing_room, existing_user, mode_of, require_member, tell_room, tell_user,
};
use crate::cluster::shares_slot;
use crate::config::limits;
use crate::context;
use crate::reply::{field, Reply};
use crate::stats;
use crate::store::{Access, Ctx, Opened};

/// CHAT.ROLE <room> <actor> <user> <owner|admin|member>: 1 if the role
/// changed, 0 if the user had it.
pub fn role(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = SetRole::parse(args)?;
    let (room_id, actor, user) = (req.room.as_str(), req.actor.as_str(), req.user.as_str());
    let mut key = acting_in(ctx, args, actor)?;
    let changed = key.value_mut()?.set_role(actor, user, req.role)?;
    if changed {
        done(&mut key, c"chat.role");
        let role = req.role.name();
        let event = Event::Role {
            room: room_id,
            user,
            role,
            by: actor,
        };
        announce(ctx, room_id, key.value()?, actor, user, &event);
    }
    Ok(Reply::Int(i64::from(changed)))
}

/// CHAT.INVITE <room> <actor> <user>: 1 if invited now, 0 if they were.
pub fn invite(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Moderate::parse("chat.invite", args)?;
    let (room_id, actor, user) = (req.room.as_str(), req.actor.as_str(), req.user.as_str());
    let mut key = acting_in(ctx, args, actor)?;
    let mut user_key = user_in_slot(ctx, args, room_id, user)?;
    let now = context::now();
    let invited = key.value_mut()?.invite(room_id, actor, user, now)?;
    if !invited {
        return Ok(Reply::Int(0));
    }
    done(&mut key, c"chat.invite");
    if let Some(u) = &mut user_key {
        let max = limits().max_rooms_per_user as usize;
        if u.value_mut()?.add_invite(room_id, now, max) {
            u.changed(c"chat.invite");
        }
    }
    let event = Event::Invite {
        room: room_id,
        user,
        by: actor,
        title: key.value()?.title(),
    };
    tell_user(ctx, room_id, user, &event);
    let event = Event::Member {
        room: room_id,
        user,
        change: "invite",
    };
    tell_room(ctx, room_id, key.value()?, Some(actor), &event);
    Ok(Reply::Int(1))
}

/// CHAT.INVITES <user>: room -> when it invited them (unix ms).
pub fn invites(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    parse_user("chat.invites", args)?;
    let key = existing_user(ctx, args, 0, Access::Read)?;
    Ok(Reply::Map(
        key.value()?
            .invites()
            .map(|(room, at)| (room.as_bytes().to_vec(), Reply::Int(at)))
            .collect(),
    ))
}

/// CHAT.KICK <room> <actor> <user>
pub fn kick(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Moderate::parse("chat.kick", args)?;
    let (room_id, actor, user) = (req.room.as_str(), req.actor.as_str(), req.user.as_str());
    let mut key = acting_in(ctx, args, actor)?;
    let mut user_key = user_in_slot(ctx, args, room_id, user)?;
    key.value()?.check_kick(actor, user)?;
    leave(ctx, &mut key, user, user_key.as_mut(), "kick", Some(actor));
    stats::add(&stats::MODERATION_ACTIONS, 1);
    let event = Event::Kick {
        room: room_id,
        user,
        by: actor,
    };
    announce(ctx, room_id, key.value()?, actor, user, &event);
    Ok(Reply::Ok)
}

/// CHAT.BAN <room> <actor> <user> [SECONDS <n>]
pub fn ban(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Moderate::parse_timed("chat.ban", args)?;
    let (room_id, actor, user) = (req.room.as_str(), req.actor.as_str(), req.user.as_str());
    let mut key = acting_in(ctx, args, actor)?;
    let mut user_key = user_in_slot(ctx, args, room_id, user)?;
    let now = context::now();
    let until = req.until(now);
    key.value_mut()?.ban(actor, user, until, now)?;
    done(&mut key, c"chat.ban");
    leave(ctx, &mut key, user, user_key.as_mut(), "ban", Some(actor));
    if let Some(u) = &mut user_key {
        if u.value_mut()?.remove_invite(room_id) {
            u.changed(c"chat.ban");
        }
    }
    let event = Event::Ban {
        room: room_id,
        user,
        by: actor,
        until: (until != FOREVER).then_some(until),
    };
    announce(ctx, room_id, key.value()?, actor, user, &event);
    Ok(Reply::Ok)
}

/// CHAT.UNBAN <room> <actor> <user>: 1 if a ban in force was lifted.
pub fn unban(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    lift(ctx, args, Lift::Ban)
}

/// CHAT.MUTE <room> <actor> <user> [SECONDS <n>]
pub fn mute(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Moderate::parse_timed("chat.mute", args)?;
    let (room_id, actor, user) = (req.room.as_str(), req.actor.as_str(), req.user.as_str());
    let mut key = acting_in(ctx, args, actor)?;
    let now = context::now();
    let until = req.until(now);
    key.value_mut()?.mute(actor, user, until, now)?;
    done(&mut key, c"chat.mute");
    let event = Event::Mute {
        room: room_id,
        user,
        by: actor,
        until: (until != FOREVER).then_some(until),
    };
    announce(ctx, room_id, key.value()?, actor, user, &event);
    Ok(Reply::Ok)
}

/// CHAT.UNMUTE <room> <actor> <user>: 1 if a mute in force was lifted.
pub fn unmute(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    lift(ctx, args, Lift::Mute)
}

/// What UNBAN and UNMUTE lift.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lift {
    Ban,
    Mute,
}

/// UNBAN and UNMUTE. Either also forgets the bans and mutes that ended,
/// so the room is written (and replicated) even when nothing was lifted.
fn lift(ctx: Ctx, args: &Args, what: Lift) -> Result<Reply, ChatError> {
    let (command, event) = match what {
        Lift::Ban => ("chat.unban", c"chat.unban"),
        Lift::Mute => ("chat.unmute", c"chat.unmute"),
    };
    let req = Moderate::parse(command, args)?;
    let (room_id, actor, user) = (req.room.as_str(), req.actor.as_str(), req.user.as_str());
    let mut key = acting_in(ctx, args, actor)?;
    let now = context::now();
    let room = key.value_mut()?;
    let lifted = match what {
        Lift::Ban => room.unban(actor, user, now)?,
        Lift::Mute => room.unmute(actor, user, now)?,
    };
    key.changed(event);
    if lifted {
        stats::add(&stats::MODERATION_ACTIONS, 1);
        let (room, by) = (room_id, actor);
        let event = match what {
            Lift::Ban => Event::Unban { room, user, by },
            Lift::Mute => Event::Unmute { room, user, by },
        };
        announce(ctx, room_id, key.value()?, actor, user, &event);
    }
    Ok(Reply::Int(i64::from(lifted)))
}

/// CHAT.SLOWMODE <room> <actor> <seconds>
pub fn slowmode(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = SlowMode::parse(args)?;
    let (room_id, actor) = (req.room.as_str(), req.actor.as_str());
    let mut key = acting_in(ctx, args, actor)?;
    key.value_mut()?.set_slowmode(actor, req.seconds)?;
    done(&mut key, c"chat.slowmode");
    let event = Event::SlowMode {
        room: room_id,
        seconds: req.seconds,
        by: actor,
    };
    tell_room(ctx, room_id, key.value()?, Some(actor), &event);
    Ok(Reply::Ok)
}

/// CHAT.MODERATION <room>: what a moderator's view shows: privacy, slow
/// mode, the roles above member, the invitations waiting, and the bans and
/// mutes in force with their ends (nil: until lifted).
pub fn moderation(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    parse_room("chat.moderation", args)?;
    let key = existing_room(ctx, args, 0, Access::Read)?;
    let room = key.value()?;
    let now = context::now();
    let rules = room.rules();
    let ends = |entries: Vec<(&str, i64)>| {
        Reply::Map(
            entries
                .into_iter()
                .filter(|&(_, until)| until > now)
                .map(|(user, until)| {
                    let end = if until == FOREVER {
                        Reply::Nil
                    } else {
                        Reply::Int(until)
                    };
                    (user.as_bytes().to_vec(), end)
                })
                .collect(),
        )
    };
    let roles = rules.into_iter().flat_map(|r| r.roles());
    let invites = rules.into_iter().flat_map(|r| r.invites());
    Ok(Reply::Map(vec![
        field("private", Reply::Int(i64::from(room.is_private()))),
        field("slowmode", Reply::Int(i64::from(room.slowmode()))),
        field(
            "roles",
            Reply::Map(
                roles
                    .map(|(u, r)| (u.as_bytes().to_vec(), Reply::Bulk(r.name().into())))
                    .collect(),
            ),
        ),
        field(
            "invites",
            Reply::Map(
                invites
                    .map(|(u, at)| (u.as_bytes().to_vec(), Reply::Int(at)))
                    .collect(),
            ),
        ),
        field(
            "bans",
            ends(rules.into_iter().flat_map(|r| r.bans()).collect()),
        ),
        field(
            "mutes",
            ends(rules.into_iter().flat_map(|r| r.mutes()).collect()),
        ),
    ]))
}

/// Opens the room (argument 1) for writing; `actor` (argument 2, parsed)
/// must be a registered member.
fn acting_in(ctx: Ctx, args: &Args, actor: &str) -> Result<Opened<Room>, ChatError> {
    let key = existing_room(ctx, args, 0, Access::Write)?;
    require_member(ctx, &key, actor, args, 1)?;
    Ok(key)
}

/// The key of `user` (argument 3) when it shares the room's slot, which
/// must exist: `ERR no such user`. `None` for a user of another slot.
fn user_in_slot(
    ctx: Ctx,
    args: &Args,
    room_id: &str,
    user: &str,
) -> Result<Option<Opened<User>>, ChatError> {
    if shares_slot(ctx, room_id, user) {
        Ok(Some(existing_in_slot(ctx, args.key(2)?, Access::Write)?))
    } else {
        Ok(None)
    }
}

fn done(key: &mut Opened<Room>, event: &'static std::ffi::CStr) {
    key.changed(event);
    stats::add(&stats::MODERATION_ACTIONS, 1);
}

/// Tells the room, and `user` on their own channel when the room's
/// audience does not include them (they left it, or the room broadcasts
/// on its own channel, which a member may not listen to).
fn announce(ctx: Ctx, room_id: &str, room: &Room, actor: &str, user: &str, event: &Event) {
    tell_room(ctx, room_id, room, Some(actor), event);
    let reached = room.is_member(user) && mode_of(ctx, room_id, room) == RoomMode::Fanout;
    if !reached && user != actor {
        tell_user(ctx, room_id, user, event);
    }
}
