//! CHAT.DM, CHAT.DROP, CHAT.UNREGISTER: rooms and users that come and go.

use chat_core::event::{Event, RoomMode};
use chat_core::ids::direct_room;
use chat_core::keys::{RoomKey, UserKey};
use chat_core::request::{parse_room, parse_user, Direct};
use chat_core::ChatError;

use super::rooms::{check_capacity, create_room, join, leave};
use super::{in_cluster, require_same_slot, require_user, Args};
use crate::config::limits;
use crate::publish::publish_event;
use crate::reply::Reply;
use crate::store::{Ctx, Key, Kind};

/// CHAT.DM <user-a> <user-b>: the pair's one direct room, created on first
/// use. The same room for (a, b) and (b, a). Both are members afterwards,
/// also one who had left it: a direct room is the pair's conversation.
pub fn dm(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Direct::parse(args)?;
    let room = direct_room(req.a, req.b)?;
    let (a, b) = (req.a.as_str(), req.b.as_str());
    // Redis has checked that the users share a slot (they are the declared
    // keys); the room's keys must live there too. Users with one hash tag
    // always pass; two untagged users whose slots meet by chance do not.
    if in_cluster(ctx) {
        require_same_slot(&room, a)?;
    }
    require_user(ctx, a)?;
    require_user(ctx, b)?;
    // Every key the creation and the joins write, checked before the first.
    Key::write(ctx, &RoomKey::Members.of(&room), Kind::Hash)?;
    Key::write(ctx, &RoomKey::Roster.of(&room), Kind::String)?;
    Key::write(ctx, &UserKey::Rooms.of(a), Kind::Hash)?;
    Key::write(ctx, &UserKey::Rooms.of(b), Kind::Hash)?;
    check_capacity(ctx, &room, &[a, b])?;
    let exists = Key::read(ctx, &RoomKey::Meta.of(&room), Kind::Hash)?.exists();
    if !exists {
        let (first, second) = if a <= b { (a, b) } else { (b, a) };
        create_room(ctx, &room, &format!("{first}, {second}"))?;
    }
    join(ctx, &room, a, 0)?;
    join(ctx, &room, b, 0)?;
    Ok(Reply::Bulk(room.into_bytes()))
}

/// CHAT.DROP <room>: the room, its history, counters and read state go, and
/// it leaves every member's room list; members online hear it.
pub fn drop(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let room = parse_room("chat.drop", args)?;
    let room = room.as_str();
    // Every key is opened, and its type checked, before the first write.
    // One handle per key: see Key::string_bytes.
    let open = |key: RoomKey, kind| Key::write(ctx, &key.of(room), kind);
    let meta = open(RoomKey::Meta, Kind::Hash)?;
    let log = open(RoomKey::Log, Kind::Stream)?;
    let members = open(RoomKey::Members, Kind::Hash)?;
    let roster = open(RoomKey::Roster, Kind::String)?;
    let counts = open(RoomKey::Counts, Kind::Hash)?;
    let changes = open(RoomKey::Changes, Kind::Hash)?;
    if !meta.exists() {
        return Err(ChatError::NoSuchRoom);
    }
    let member_ids = members.hash_fields();
    let mut their_rooms = Vec::with_capacity(member_ids.len());
    for member in &member_ids {
        let Ok(member) = std::str::from_utf8(member) else {
            continue;
        };
        their_rooms.push(Key::write(ctx, &UserKey::Rooms.of(member), Kind::Hash)?);
    }

    let mode = RoomMode::for_members(members.len(), limits().fanout_max_members);
    let event = Event::Dropped { room }.to_json();
    publish_event(
        ctx,
        in_cluster(ctx),
        room,
        mode,
        roster.string_bytes().unwrap_or_default(),
        None,
        &event,
    );
    for rooms in &their_rooms {
        rooms.hash_del(room.as_bytes());
    }
    for key in [&meta, &log, &members, &roster, &counts, &changes] {
        key.delete();
    }
    Ok(Reply::Ok)
}

/// CHAT.UNREGISTER <user>: the user's profile, presence, inbox and
/// memberships go. What they sent stays in the rooms' histories.
pub fn unregister(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let user = parse_user("chat.unregister", args)?;
    let user = user.as_str();
    let profile = Key::write(ctx, &UserKey::Profile.of(user), Kind::Hash)?;
    if !profile.exists() {
        return Err(ChatError::NoSuchUser);
    }
    let rooms = Key::write(ctx, &UserKey::Rooms.of(user), Kind::Hash)?;
    let inbox = Key::write(ctx, &UserKey::Inbox.of(user), Kind::Stream)?;
    let presence = Key::write(ctx, &UserKey::Presence.of(user), Kind::String)?;
    // Check every room's keys before the first write.
    let room_ids = rooms.hash_fields();
    for room in &room_ids {
        let Ok(room) = std::str::from_utf8(room) else {
            continue;
        };
        Key::write(ctx, &RoomKey::Members.of(room), Kind::Hash)?;
        Key::write(ctx, &RoomKey::Roster.of(room), Kind::String)?;
    }
    // leave() removes each room from the user's room list through a handle
    // of its own, and Redis frees the hash with its last field: this handle
    // must be closed first, and the list is deleted by name afterwards.
    std::mem::drop(rooms);
    for room in &room_ids {
        let Ok(room) = std::str::from_utf8(room) else {
            continue;
        };
        leave(ctx, room, user)?;
    }
    Key::write(ctx, &UserKey::Rooms.of(user), Kind::Hash)?.delete();
    for key in [&inbox, &presence, &profile] {
        key.delete();
    }
    Ok(Reply::Ok)
}
