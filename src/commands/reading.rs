//! CHAT.READ, CHAT.UNREAD, CHAT.TYPING, CHAT.CHANNELS: read state and what
//! a member's app listens to.
//!
//! A member's read cursor is the value of their field in the room's member
//! hash: the id of the last message they have read. Unread counts are the
//! room's last id minus the cursor, so they cost one lookup per room however
//! many messages there are.

use chat_core::event::{Event, RoomMode};
use chat_core::keys::{RoomKey, UserKey};
use chat_core::request::{parse_user, Membership, Read};
use chat_core::ChatError;

use super::rooms::listen_reply;
use super::{listeners, require_member, require_room, require_user, tell_room, Args};
use crate::config::limits;
use crate::reply::Reply;
use crate::store::{words, Ctx, Key, Kind, RStr};

/// CHAT.READ <room> <user> <id>
pub fn read(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Read::parse(args)?;
    let (room, user) = (req.room.as_str(), req.user.as_str());
    require_room(ctx, room)?;
    let members = Key::write(ctx, &RoomKey::Members.of(room), Kind::Hash)?;
    let Some(cursor) = members.hash_get_int(user.as_bytes())? else {
        require_user(ctx, user)?;
        return Err(ChatError::NotMember);
    };
    let meta = Key::read(ctx, &RoomKey::Meta.of(room), Kind::Hash)?;
    let listeners = listeners(ctx, room)?;
    let last = meta.hash_get_int(&words().last_id)?.unwrap_or(0).max(0) as u64;
    if req.id > last {
        return Err(ChatError::IdAfterLast { id: req.id, last });
    }
    let cursor = cursor.max(0) as u64;
    if req.id <= cursor {
        // A cursor never moves back; reading again changes nothing.
        return Ok(Reply::Int(cursor as i64));
    }
    members.hash_set(&[(
        RStr::new(ctx, user.as_bytes()).ptr(),
        RStr::from_int(ctx, req.id as i64).ptr(),
    )]);
    tell_room(
        ctx,
        room,
        listeners,
        user,
        &Event::Read {
            room,
            user,
            id: req.id,
        },
    );
    Ok(Reply::Int(req.id as i64))
}

/// CHAT.UNREAD <user>
pub fn unread(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let user = parse_user("chat.unread", args)?;
    let user = user.as_str();
    require_user(ctx, user)?;
    let rooms = Key::read(ctx, &UserKey::Rooms.of(user), Kind::Hash)?;
    let mut counts = Vec::new();
    for room in rooms.hash_fields() {
        let Ok(room_id) = std::str::from_utf8(&room) else {
            continue;
        };
        let meta = Key::read(ctx, &RoomKey::Meta.of(room_id), Kind::Hash)?;
        let members = Key::read(ctx, &RoomKey::Members.of(room_id), Kind::Hash)?;
        let last = meta.hash_get_int(&words().last_id)?.unwrap_or(0);
        let Some(cursor) = members.hash_get_int(user.as_bytes())? else {
            continue;
        };
        if last > cursor {
            counts.push((room, Reply::Int(last - cursor)));
        }
    }
    Ok(Reply::Map(counts))
}

/// CHAT.TYPING <room> <user>: tells the other members, stores nothing.
pub fn typing(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Membership::parse("chat.typing", args)?;
    let (room, user) = (req.room.as_str(), req.user.as_str());
    require_member(ctx, room, user)?;
    let listeners = listeners(ctx, room)?;
    tell_room(ctx, room, listeners, user, &Event::Typing { room, user });
    Ok(Reply::Ok)
}

/// CHAT.CHANNELS <user>: everything the user's app should listen to now.
pub fn channels(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let user = parse_user("chat.channels", args)?;
    let user = user.as_str();
    require_user(ctx, user)?;
    let limit = limits().fanout_max_members;
    let rooms = Key::read(ctx, &UserKey::Rooms.of(user), Kind::Hash)?;
    let names = rooms.hash_fields();
    let mut modes = Vec::with_capacity(names.len());
    for room in &names {
        let Ok(room) = std::str::from_utf8(room) else {
            continue;
        };
        let members = Key::read(ctx, &RoomKey::Members.of(room), Kind::Hash)?;
        modes.push((room, RoomMode::for_members(members.len(), limit)));
    }
    Ok(listen_reply(ctx, user, &modes, false))
}
