//! CHAT.READ, CHAT.UNREAD, CHAT.TYPING, CHAT.CHANNELS: read state and what
//! a member's app listens to.
//!
//! A member's read cursor, kept in the room, is the id of the last message
//! they have read. Unread counts are the room's last id minus the cursor,
//! so they cost one lookup per room however many messages there are.

use chat_core::data::{Read, Room};
use chat_core::event::Event;
use chat_core::request::{parse_user, Membership, Read as ReadRequest};
use chat_core::ChatError;

use super::rooms::listen_reply;
use super::{existing_room, existing_user, mode_of, require_member, tell_room, Args};
use crate::reply::Reply;
use crate::store::{self, Access, Ctx};

/// CHAT.READ <room> <user> <id>
pub fn read(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = ReadRequest::parse(args)?;
    let (room_id, user) = (req.room.as_str(), req.user.as_str());
    let mut key = existing_room(ctx, args, 0, Access::Write)?;
    require_member(ctx, key.value()?, args, 1)?;
    let room = key.value_mut()?;
    let moved = match room.read(user, req.id)? {
        Read::Stayed(cursor) => return Ok(Reply::Int(cursor as i64)),
        Read::Moved(cursor) => cursor,
    };
    key.changed(c"chat.read");
    let event = Event::Read {
        room: room_id,
        user,
        id: moved,
    };
    tell_room(ctx, room_id, key.value()?, Some(user), &event);
    Ok(Reply::Int(moved as i64))
}

/// CHAT.UNREAD <user>
pub fn unread(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let user = parse_user("chat.unread", args)?;
    let key = existing_user(ctx, args, 0, Access::Read)?;
    let mut counts = Vec::new();
    for (room_id, _) in key.value()?.rooms() {
        // A room whose key was deleted by hand has nothing to read.
        let room = store::open_id::<Room>(ctx, room_id, Access::Read)?;
        if let Some(unread) = room.get().and_then(|r| r.unread(user.as_str())) {
            if unread > 0 {
                counts.push((room_id.as_bytes().to_vec(), Reply::Int(unread as i64)));
            }
        }
    }
    Ok(Reply::Map(counts))
}

/// CHAT.TYPING <room> <user>: tells the other members, stores nothing.
pub fn typing(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Membership::parse("chat.typing", args)?;
    let (room_id, user) = (req.room.as_str(), req.user.as_str());
    let key = existing_room(ctx, args, 0, Access::Read)?;
    let room = key.value()?;
    require_member(ctx, room, args, 1)?;
    tell_room(
        ctx,
        room_id,
        room,
        Some(user),
        &Event::Typing {
            room: room_id,
            user,
        },
    );
    Ok(Reply::Ok)
}

/// CHAT.CHANNELS <user>: everything the user's app should listen to now.
pub fn channels(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let user = parse_user("chat.channels", args)?;
    let key = existing_user(ctx, args, 0, Access::Read)?;
    let mut modes = Vec::new();
    for (room_id, _) in key.value()?.rooms() {
        let room = store::open_id::<Room>(ctx, room_id, Access::Read)?;
        if let Some(r) = room.get() {
            modes.push((room_id, mode_of(r)));
        }
    }
    Ok(listen_reply(ctx, user.as_str(), &modes, false))
}
