//! CHAT.EDIT and CHAT.DELETE: authors change what they sent.
//!
//! The message changes in place in the room's history: an edit replaces
//! its text, a deletion leaves a tombstone with its id, sender and time, so
//! that ids stay without gaps. In a fan-out room the inbox copies waiting
//! for the other members change too, so a member who fetches them later
//! sees the message as it is, even once it has left the history.

use chat_core::data::inbox::Change;
use chat_core::event::{Event, RoomMode};
use chat_core::request::Change as ChangeRequest;
use chat_core::ChatError;

use super::{existing_room, mode_of, open_other_members, require_member, tell_room, Args};
use crate::config::limits;
use crate::context;
use crate::reply::Reply;
use crate::store::{Access, Ctx};

/// CHAT.EDIT <room> <user> <id> <text>
pub fn edit(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    change(ctx, args, ChangeRequest::parse_edit(args, &limits())?)
}

/// CHAT.DELETE <room> <user> <id>
pub fn delete(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    change(ctx, args, ChangeRequest::parse_delete(args)?)
}

fn change(ctx: Ctx, args: &Args, req: ChangeRequest) -> Result<Reply, ChatError> {
    let (user, id) = (req.user.as_str(), req.id);
    let mut key = existing_room(ctx, args, 0, Access::Write)?;
    let room_id = key.id().to_owned();
    require_member(ctx, &key, user, args, 1)?;
    let room = key.value()?;
    // Every member key whose copies may change is opened (and checked)
    // before the first write.
    let mut inboxes = match mode_of(ctx, &room_id, room) {
        RoomMode::Fanout => open_other_members(ctx, &room_id, room, user)?,
        RoomMode::Broadcast => Vec::new(),
    };
    let now = context::now();
    if req.text.is_some() {
        if let Some(now) = context::clock_checks() {
            room.check_not_muted(&room_id, user, now)?;
        }
    }
    let room = key.value_mut()?;
    let change = match req.text {
        Some(text) => {
            room.edit(id, user, text, now)?;
            Change::Edited { text, at: now }
        }
        None => {
            room.delete(id, user)?;
            Change::Deleted
        }
    };
    key.changed(if req.text.is_some() {
        c"chat.edit"
    } else {
        c"chat.delete"
    });
    let room = key.value()?;
    let (sent_at, author) = room
        .log()
        .get(id)
        .map_or((0, user), |m| (m.ts, room.people().id(m.sender)));
    for inbox in &mut inboxes {
        if inbox
            .get_mut()
            .is_some_and(|u| u.change_copies(&room_id, id, sent_at, change) > 0)
        {
            inbox.changed(c"chat.change");
        }
    }
    let event = match req.text {
        Some(text) => Event::Edit {
            room: &room_id,
            id,
            sender: user,
            text,
            edited: now,
        },
        None => Event::Delete {
            room: &room_id,
            id,
            sender: author,
            by: (author != user).then_some(user),
        },
    };
    tell_room(ctx, &room_id, room, Some(user), &event);
    Ok(Reply::Ok)
}
