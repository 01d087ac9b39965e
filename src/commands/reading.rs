//! CHAT.READ, CHAT.CURSOR, CHAT.UNREAD, CHAT.TYPING, CHAT.CHANNELS: read
//! state and what a member's app listens to.
//!
//! A member's read cursor, kept in the room, is the id of the last message
//! they have read. Unread counts are the room's last id minus the cursor,
//! so they cost one lookup per room however many messages there are.

use chat_core::channels::presence_channel;
use chat_core::data::{Read, Room};
use chat_core::event::{Event, RoomMode};
use chat_core::request::{parse_user, Channels, Membership, Read as ReadRequest};
use chat_core::ChatError;

use super::rooms::listen_reply;
use super::{existing_room, existing_user, mode_of, require_member, tell_room, tell_user, Args};
use crate::cluster::{self, require_same_slot, shares_slot};
use crate::reply::{field, Reply};
use crate::store::{Access, Ctx};

/// CHAT.READ <room> <user> <id>
pub fn read(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = ReadRequest::parse(args)?;
    let (room_id, user) = (req.room.as_str(), req.user.as_str());
    let mut key = existing_room(ctx, args, 0, Access::Write)?;
    require_member(ctx, &key, user, args, 1)?;
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
    // The user's other devices: their unread count changed too.
    tell_user(ctx, room_id, user, &event);
    Ok(Reply::Int(moved as i64))
}

/// CHAT.CURSOR <room> <user>: a member's read state in one room, answered
/// by the room's own slot (what a client asks for each room of a user
/// whose rooms live in other slots).
pub fn cursor(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Membership::parse("chat.cursor", args)?;
    let user = req.user.as_str();
    let key = existing_room(ctx, args, 0, Access::Read)?;
    require_member(ctx, &key, user, args, 1)?;
    let room = key.value()?;
    let cursor = room.cursor(user).unwrap_or(0);
    let last = room.last_id();
    Ok(Reply::Map(vec![
        field("cursor", Reply::Int(cursor as i64)),
        field("last_id", Reply::Int(last as i64)),
        field("unread", Reply::Int(last.saturating_sub(cursor) as i64)),
        field(
            "mentions",
            Reply::Int(room.unread_mentions(user).unwrap_or(0) as i64),
        ),
    ]))
}

/// CHAT.UNREAD <user>. Read state lives in the rooms: in Redis Cluster it
/// answers for a user whose rooms share the user's slot.
pub fn unread(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    per_room(ctx, args, "chat.unread", Room::unread)
}

/// CHAT.MENTIONS <user>: per room, the unread messages that mention them.
pub fn mentions(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    per_room(ctx, args, "chat.mentions", Room::unread_mentions)
}

/// A count for each of the user's rooms where it is not 0: what `count`
/// says of the room for the user.
fn per_room(
    ctx: Ctx,
    args: &Args,
    command: &'static str,
    count: fn(&Room, &str) -> Option<u64>,
) -> Result<Reply, ChatError> {
    let user = parse_user(command, args)?;
    let key = existing_user(ctx, args, 0, Access::Read)?;
    let mut counts = Vec::new();
    for (room_id, _) in key.value()?.rooms() {
        require_same_slot(
            ctx,
            user.as_str(),
            room_id,
            "ask CHAT.CURSOR <room> <user> for each of the user's rooms instead, \
             as the client libraries do",
        )?;
        // A room whose key was deleted by hand has nothing to read.
        let room = cluster::open_id_here::<Room>(ctx, room_id, Access::Read)?;
        if let Some(n) = room.get().and_then(|r| count(r, user.as_str())) {
            if n > 0 {
                counts.push((room_id.as_bytes().to_vec(), Reply::Int(n as i64)));
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
    require_member(ctx, &key, user, args, 1)?;
    let room = key.value()?;
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

/// CHAT.CHANNELS <user> [PRESENCE] [WITHEPOCHS]: everything the user's app should
/// listen to now. A room in another Redis Cluster slot than the user's has
/// a member outside its slot, so it broadcasts: its channel is listed
/// unopened. With PRESENCE, also the presence channels of the other
/// members of the user's fan-out rooms (a broadcast room's members are
/// too many to follow, and another slot's rooms cannot be read here).
/// With WITHEPOCHS, a map of that list (`listen`) and of the epoch and
/// last id of each room read here (`rooms`).
pub fn channels(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Channels::parse(args)?;
    let user = req.user;
    let key = existing_user(ctx, args, 0, Access::Read)?;
    let mut modes = Vec::new();
    let mut people = std::collections::BTreeSet::new();
    let mut epochs = Vec::new();
    for (room_id, _) in key.value()?.rooms() {
        if !shares_slot(ctx, user.as_str(), room_id) {
            modes.push((room_id, RoomMode::Broadcast));
            continue;
        }
        // A listed room the user is not a member of (a join or leave cut
        // short, in a cluster) has nothing to listen to.
        let room = cluster::open_id_here::<Room>(ctx, room_id, Access::Read)?;
        if let Some(r) = room.get().filter(|r| r.is_member(user.as_str())) {
            let mode = mode_of(ctx, room_id, r);
            modes.push((room_id, mode));
            if req.with_epochs {
                let fields = super::rooms::epoch_fields(r);
                epochs.push((room_id.as_bytes().to_vec(), Reply::Map(fields.into())));
            }
            if req.presence && mode == RoomMode::Fanout {
                people.extend(r.members().map(|(m, _)| m.to_owned()));
            }
        }
    }
    people.remove(user.as_str());
    let reply = listen_reply(ctx, user.as_str(), &modes, false);
    let Reply::Array(mut channels) = reply else {
        return Ok(reply);
    };
    channels.extend(people.iter().map(|p| Reply::Bulk(presence_channel(p))));
    if !req.with_epochs {
        return Ok(Reply::Array(channels));
    }
    Ok(Reply::Map(vec![
        field("listen", Reply::Array(channels)),
        field("rooms", Reply::Map(epochs)),
    ]))
}
