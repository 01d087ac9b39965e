//! The conversation around messages: CHAT.THREAD, CHAT.REACT,
//! CHAT.UNREACT, CHAT.REACTIONS, CHAT.PIN, CHAT.UNPIN and CHAT.PINS.
//! (Replies and mentions are sent with CHAT.SEND; unread mentions are
//! counted by CHAT.MENTIONS and CHAT.CURSOR.)
//!
//! All of it lives in the room's value, so each command opens one key.
//! Reactions and pins follow from their arguments and the room alone, so
//! they reach replicas and the AOF as they came.

use chat_core::event::Event;
use chat_core::request::{parse_room, Pin, React, Reactions, Thread};
use chat_core::ChatError;

use super::history::{push_gap, push_reset};
use super::{existing_room, require_member, tell_room, Args};
use crate::context;
use crate::reply::{Page, Reply};
use crate::stats;
use crate::store::{Access, Ctx};

/// CHAT.THREAD <room> <id> [AFTER <id>] [COUNT <n>] [EPOCH <epoch>]: the
/// root, then its replies ascending; with AFTER, the replies after that id
/// only; with another epoch than the room's, or AFTER an id the room never
/// reached, the reset document, then the root and its first replies.
pub fn thread(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Thread::parse(args)?;
    let key = existing_room(ctx, args, 0, Access::Read)?;
    let room = key.value()?;
    let room_id = req.room.as_str();
    let reset = room.needs_reset(req.epoch, req.after);
    let after = if reset { None } else { req.after };
    let thread = room.thread(req.root, after, req.count)?;
    let mut page = Page::with_capacity(thread.replies.len() + 2);
    if reset {
        push_reset(&mut page, room_id, room);
    }
    push_gap(&mut page, room_id, thread.gap);
    let ids = thread
        .root
        .then_some(req.root)
        .into_iter()
        .chain(thread.replies);
    for id in ids {
        if let Some(message) = room.message(room_id, id) {
            page.push_with(|out| message.write_json(None, out));
        }
    }
    Ok(Reply::Page(page))
}

/// CHAT.REACT <room> <user> <id> <reaction>: 1 if added, 0 if the user had
/// given that reaction already.
pub fn react(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    reaction(ctx, args, true)
}

/// CHAT.UNREACT <room> <user> <id> <reaction>: 1 if removed, else 0.
pub fn unreact(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    reaction(ctx, args, false)
}

fn reaction(ctx: Ctx, args: &Args, add: bool) -> Result<Reply, ChatError> {
    let command = if add { "chat.react" } else { "chat.unreact" };
    let req = React::parse(command, args)?;
    let (room_id, user) = (req.room.as_str(), req.user.as_str());
    let mut key = existing_room(ctx, args, 0, Access::Write)?;
    require_member(ctx, &key, user, args, 1)?;
    if let Some(now) = context::clock_checks() {
        key.value()?.check_not_muted(room_id, user, now)?;
    }
    let room = key.value_mut()?;
    let changed = if add {
        room.react(req.id, user, req.reaction)?
    } else {
        room.unreact(req.id, user, req.reaction)?
    };
    if changed {
        key.changed(if add { c"chat.react" } else { c"chat.unreact" });
        if add {
            stats::add(&stats::REACTIONS_ADDED, 1);
        }
        let event = Event::Reaction {
            room: room_id,
            id: req.id,
            user,
            reaction: req.reaction,
            added: add,
        };
        tell_room(ctx, room_id, key.value()?, Some(user), &event);
    }
    Ok(Reply::Int(i64::from(changed)))
}

/// CHAT.REACTIONS <room> <id>: each reaction with the users who gave it.
pub fn reactions(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Reactions::parse(args)?;
    let key = existing_room(ctx, args, 0, Access::Read)?;
    let given = key.value()?.reactions(req.id)?;
    Ok(Reply::Map(
        given
            .into_iter()
            .map(|(reaction, users)| {
                let users = users
                    .into_iter()
                    .map(|u| Reply::Bulk(u.as_bytes().to_vec()))
                    .collect();
                (reaction.as_bytes().to_vec(), Reply::Array(users))
            })
            .collect(),
    ))
}

/// CHAT.PIN <room> <user> <id>
pub fn pin(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    pinning(ctx, args, true)
}

/// CHAT.UNPIN <room> <user> <id>
pub fn unpin(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    pinning(ctx, args, false)
}

/// Pins or unpins; `OK` either way, and an event only when it changed.
fn pinning(ctx: Ctx, args: &Args, pin: bool) -> Result<Reply, ChatError> {
    let req = Pin::parse(if pin { "chat.pin" } else { "chat.unpin" }, args)?;
    let (room_id, user) = (req.room.as_str(), req.user.as_str());
    let mut key = existing_room(ctx, args, 0, Access::Write)?;
    require_member(ctx, &key, user, args, 1)?;
    key.value()?
        .check_may_pin(user, if pin { "pin" } else { "unpin" })?;
    let room = key.value_mut()?;
    let changed = if pin {
        room.pin(req.id, user)?
    } else {
        room.unpin(req.id, user)?
    };
    if changed {
        key.changed(if pin { c"chat.pin" } else { c"chat.unpin" });
        let (room, id) = (room_id, req.id);
        let event = if pin {
            Event::Pin { room, id, user }
        } else {
            Event::Unpin { room, id, user }
        };
        tell_room(ctx, room_id, key.value()?, Some(user), &event);
    }
    Ok(Reply::Ok)
}

/// CHAT.PINS <room>: the pinned messages' documents, the most recently
/// pinned first.
pub fn pins(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let room_id = parse_room("chat.pins", args)?;
    let key = existing_room(ctx, args, 0, Access::Read)?;
    let room = key.value()?;
    let mut page = Page::with_capacity(room.pins().count());
    for id in room.pins() {
        if let Some(message) = room.message(room_id.as_str(), id) {
            page.push_with(|out| message.write_json(None, out));
        }
    }
    Ok(Reply::Page(page))
}
