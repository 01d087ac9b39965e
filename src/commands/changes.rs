//! CHAT.EDIT and CHAT.DELETE: authors change what they sent.
//!
//! The message changes in place in the room's history: an edit replaces
//! its text, a deletion leaves a tombstone with its id, sender and time, so
//! that ids stay without gaps. In a fan-out room the inbox copies waiting
//! for the other members change too, so a member who fetches them later
//! sees the message as it is, even once it has left the history.

use chat_core::data::inbox::Change;
use chat_core::data::User;
use chat_core::event::{Event, RoomMode};
use chat_core::request::Change as ChangeRequest;
use chat_core::ChatError;

use super::{
    existing_room, in_cluster, mode_of, require_member, require_same_slot, tell_room, Args,
};
use crate::config::limits;
use crate::context;
use crate::reply::Reply;
use crate::store::{self, Access, Ctx, Name, Opened};

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
    let Some(room) = key.get() else {
        return Err(ChatError::NoSuchRoom);
    };
    require_member(ctx, room, args, 1)?;
    // Every member key whose copies may change is opened (and checked)
    // before the first write.
    let cluster = in_cluster(ctx);
    let mut inboxes: Vec<Opened<User>> = Vec::new();
    if mode_of(room) == RoomMode::Fanout {
        for (member, _) in room.members() {
            if member == user {
                continue;
            }
            if cluster {
                require_same_slot(&room_id, member)?;
            }
            inboxes.push(store::open(ctx, Name::made(ctx, member), Access::Write)?);
        }
    }
    let now = context::now();
    let Some(room) = key.get_mut() else {
        return Err(ChatError::NoSuchRoom);
    };
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
    let Some(room) = key.get() else {
        return Err(ChatError::NoSuchRoom);
    };
    let sent_at = room.log().get(id).map_or(0, |m| m.ts);
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
            sender: user,
        },
    };
    tell_room(ctx, &room_id, room, Some(user), &event);
    Ok(Reply::Ok)
}
