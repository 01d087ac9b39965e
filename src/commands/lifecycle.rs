//! CHAT.DM, CHAT.DROP, CHAT.UNREGISTER: rooms and users that come and go.

use chat_core::data::{Room, User};
use chat_core::event::Event;
use chat_core::ids::direct_room;
use chat_core::request::{parse_room, parse_user, Direct};
use chat_core::ChatError;

use super::rooms::{check_capacity, create_room, join, leave};
use super::{existing_room, existing_user, in_cluster, require_same_slot, tell_room, Args};
use crate::reply::Reply;
use crate::store::{self, Access, Ctx, Opened};

/// CHAT.DM <user-a> <user-b>: the pair's one direct room, created on first
/// use. The same room for (a, b) and (b, a). Both are members afterwards,
/// also one who had left it: a direct room is the pair's conversation.
///
/// The room's key is named by the pair, not by an argument, so the
/// command declares the two users only; in Redis Cluster the room's id
/// carries their hash tag, so it lives in their slot.
pub fn dm(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Direct::parse(args)?;
    let room_id = direct_room(req.a, req.b)?;
    // Redis has checked that the users share a slot (they are the declared
    // keys); the room's key must live there too. Users with one hash tag
    // always pass; two untagged users whose slots meet by chance do not.
    if in_cluster(ctx) {
        require_same_slot(&room_id, req.a.as_str())?;
    }
    let mut a = existing_user(ctx, args, 0, Access::Write)?;
    let mut b = existing_user(ctx, args, 1, Access::Write)?;
    let mut room = store::open_id::<Room>(ctx, &room_id, Access::Write)?;
    check_capacity(&room, &[&a, &b])?;
    if !room.exists() {
        let (first, second) = if a.id() <= b.id() {
            (a.id().to_owned(), b.id().to_owned())
        } else {
            (b.id().to_owned(), a.id().to_owned())
        };
        create_room(&mut room, &format!("{first}, {second}"))?;
    }
    join(ctx, &mut room, &mut a)?;
    join(ctx, &mut room, &mut b)?;
    Ok(Reply::Bulk(room_id.into_bytes()))
}

/// CHAT.DROP <room>: the room goes, with its history, counters and read
/// state, and it leaves every member's room list; members online hear it.
pub fn drop(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let room_id = parse_room("chat.drop", args)?;
    let room_id = room_id.as_str();
    let mut room = existing_room(ctx, args, 0, Access::Write)?;
    // Every member's key is opened, and its type checked, before the first
    // write.
    let r = room.value()?;
    let mut members: Vec<Opened<User>> = Vec::with_capacity(r.member_count() as usize);
    for (member, _) in r.members() {
        members.push(store::open_id(ctx, member, Access::Write)?);
    }
    tell_room(ctx, room_id, r, None, &Event::Dropped { room: room_id });
    for member in &mut members {
        if member.get_mut().is_some_and(|u| u.leave(room_id)) {
            member.changed(c"chat.leave");
        }
    }
    room.delete();
    room.changed(c"chat.drop");
    Ok(Reply::Ok)
}

/// CHAT.UNREGISTER <user>: the user goes, with their profile, presence,
/// inbox and memberships. What they sent stays in the rooms' histories.
pub fn unregister(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    parse_user("chat.unregister", args)?;
    let mut user = existing_user(ctx, args, 0, Access::Write)?;
    // Every room's key is opened, and its type checked, before the first
    // write.
    let room_ids: Vec<String> = user.value()?.rooms().map(|(r, _)| r.to_owned()).collect();
    let mut rooms = Vec::with_capacity(room_ids.len());
    for room_id in &room_ids {
        rooms.push(store::open_id::<Room>(ctx, room_id, Access::Write)?);
    }
    for room in &mut rooms {
        leave(ctx, room, &mut user);
    }
    user.delete();
    user.changed(c"chat.unregister");
    Ok(Reply::Ok)
}
