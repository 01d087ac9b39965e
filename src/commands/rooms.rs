//! CHAT.CREATE, CHAT.INFO, CHAT.SUBSCRIBE, CHAT.UNSUBSCRIBE, CHAT.MEMBERS,
//! CHAT.COUNTS, and joining and leaving for every command that does.
//!
//! Membership is recorded on both sides: in the room (with the member's
//! read cursor) and in the user (with the time of joining).

use chat_core::channels::{room_channel, user_channel};
use chat_core::data::wire::name_hash;
use chat_core::data::{Room, User};
use chat_core::event::{Event, RoomMode};
use chat_core::ids::is_direct_room;
use chat_core::request::{parse_room, Create, Members, Membership};
use chat_core::ChatError;

use super::{existing_room, existing_user, in_cluster, open_new, Args};
use crate::config::limits;
use crate::context;
use crate::publish::publish_event;
use crate::reply::{field, Reply};
use crate::store::{self, Access, Ctx, Opened};

/// CHAT.CREATE <room> <title>
pub fn create(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Create::parse(args, &limits())?;
    let mut key = open_new::<Room>(ctx, args.key(0)?)?;
    create_room(&mut key, req.title)?;
    Ok(Reply::Ok)
}

pub(super) fn create_room(key: &mut Opened<Room>, title: &str) -> Result<(), ChatError> {
    let origin = name_hash(key.name().as_bytes());
    key.create(Room::new(origin, title, context::now()))?;
    key.changed(c"chat.create");
    Ok(())
}

/// CHAT.INFO <room> [WITHREAD]
pub fn info(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Members::parse_info(args)?;
    let key = store::open::<Room>(ctx, args.key(0)?, Access::Read)?;
    let Some(room) = key.get() else {
        return Ok(Reply::Nil);
    };
    let mut info = vec![
        field("id", Reply::Bulk(req.room.as_str().as_bytes().to_vec())),
        field("title", Reply::Bulk(room.title().as_bytes().to_vec())),
        field("created", Reply::Int(room.created())),
        field("members", Reply::Int(room.member_count() as i64)),
        field("messages", Reply::Int(room.messages_kept() as i64)),
        field("last_id", Reply::Int(room.last_id() as i64)),
        field(
            "mode",
            Reply::Bulk(super::mode_of(room).name().as_bytes().to_vec()),
        ),
    ];
    if req.with_read {
        info.push(field("read", read_cursors(room)));
    }
    Ok(Reply::Map(info))
}

/// CHAT.SUBSCRIBE <room> <user>
///
/// The member's read cursor starts at the room's last message. Subscribing
/// again changes nothing. Replies where to listen: see `listen_reply`.
pub fn subscribe(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Membership::parse("chat.subscribe", args)?;
    let (room_id, user_id) = (req.room.as_str(), req.user.as_str());
    let mut room = existing_room(ctx, args, 0, Access::Write)?;
    let mut user = existing_user(ctx, args, 1, Access::Write)?;
    // Only CHAT.DM adds members to a direct room; a member's SUBSCRIBE
    // changes nothing and replies as usual.
    if is_direct_room(room_id) && !room.value()?.is_member(user_id) {
        return Err(ChatError::DirectRoomMembers);
    }
    check_capacity(&room, &[&user])?;
    let mode = join(ctx, &mut room, &mut user)?;
    Ok(listen_reply(ctx, user_id, &[(room_id, mode)], true))
}

/// CHAT.UNSUBSCRIBE <room> <user>: replies whether the user was a member.
/// The room leaves the user's list even when the room itself is gone (its
/// key deleted by hand).
pub fn unsubscribe(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    Membership::parse("chat.unsubscribe", args)?;
    let mut room = store::open::<Room>(ctx, args.key(0)?, Access::Write)?;
    let mut user = store::open::<User>(ctx, args.key(1)?, Access::Write)?;
    let was_member = leave(ctx, &mut room, &mut user);
    Ok(Reply::Int(i64::from(was_member)))
}

/// CHAT.MEMBERS <room> [WITHREAD]
pub fn members(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Members::parse(args)?;
    let key = existing_room(ctx, args, 0, Access::Read)?;
    let room = key.value()?;
    if req.with_read {
        return Ok(read_cursors(room));
    }
    Ok(Reply::bulks(
        room.members().map(|(m, _)| m.as_bytes().to_vec()),
    ))
}

/// CHAT.COUNTS <room>
pub fn counts(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    parse_room("chat.counts", args)?;
    let key = existing_room(ctx, args, 0, Access::Read)?;
    Ok(int_map(key.value()?.counts()))
}

/// Member -> read cursor, ascending by member.
fn read_cursors(room: &Room) -> Reply {
    int_map(room.members())
}

fn int_map<'a>(entries: impl Iterator<Item = (&'a str, u64)>) -> Reply {
    Reply::Map(
        entries
            .map(|(name, n)| (name.as_bytes().to_vec(), Reply::Int(n as i64)))
            .collect(),
    )
}

/// Fails, before anything is written, if making `users` members of `room`
/// would pass `chat.max-members`, or `chat.max-rooms-per-user` for one of
/// them. Users who are members already count for nothing.
pub(super) fn check_capacity(
    room: &Opened<Room>,
    users: &[&Opened<User>],
) -> Result<(), ChatError> {
    let limits = limits();
    let room_id = room.id();
    // A room about to be made (CHAT.DM) has no members yet.
    let r = room.get();
    let mut newcomers = 0;
    for user in users {
        if r.is_some_and(|r| r.is_member(user.id())) {
            continue;
        }
        newcomers += 1;
        let Some(u) = user.get() else { continue };
        if !u.in_room(room_id) && u.room_count() >= limits.max_rooms_per_user {
            return Err(ChatError::TooManyRooms(limits.max_rooms_per_user));
        }
    }
    let members = r.map_or(0, Room::member_count);
    if newcomers > 0 && members + newcomers > limits.max_members {
        return Err(ChatError::RoomFull(limits.max_members));
    }
    Ok(())
}

/// Makes `user` a member of `room` (both exist), with the read cursor at
/// the room's last message. Returns the room's mode after the join.
pub(super) fn join(
    ctx: Ctx,
    room: &mut Opened<Room>,
    user: &mut Opened<User>,
) -> Result<RoomMode, ChatError> {
    let (room_id, user_id) = (room.id().to_owned(), user.id().to_owned());
    let (Some(r), Some(u)) = (room.get_mut(), user.get_mut()) else {
        return Err(ChatError::Internal(
            "joining a room or user that is gone".into(),
        ));
    };
    let before = r.member_count();
    let joined = r.join(&user_id, 0);
    let listed = u.join(&room_id, context::now());
    let after = r.member_count();
    if joined {
        room.changed(c"chat.join");
        announce_mode_change(ctx, &room_id, room.value()?, before, after);
    }
    if listed {
        user.changed(c"chat.join");
    }
    Ok(RoomMode::for_members(after, limits().fanout_max_members))
}

/// Ends `user`'s membership of `room`, on both sides (either may be gone).
/// Returns whether the user was a member of the room.
pub(super) fn leave(ctx: Ctx, room: &mut Opened<Room>, user: &mut Opened<User>) -> bool {
    let (room_id, user_id) = (room.id().to_owned(), user.id().to_owned());
    let mut was_member = false;
    if let Some(r) = room.get_mut() {
        let before = r.member_count();
        was_member = r.leave(&user_id);
        if was_member {
            room.changed(c"chat.leave");
            if let Some(r) = room.get() {
                announce_mode_change(ctx, &room_id, r, before, r.member_count());
            }
        }
    }
    if user.get_mut().is_some_and(|u| u.leave(&room_id)) {
        user.changed(c"chat.leave");
    }
    was_member
}

/// When a join or a leave moves a room across `chat.fanout-max-members`, its
/// members learn it from a `mode` event: on their own push channels when
/// the room turns broadcast (they are not on the room's channel yet), on
/// the room's channel when it turns back.
fn announce_mode_change(ctx: Ctx, room_id: &str, room: &Room, before: u64, after: u64) {
    let limit = limits().fanout_max_members;
    let (old, new) = (
        RoomMode::for_members(before, limit),
        RoomMode::for_members(after, limit),
    );
    if old == new {
        return;
    }
    let channel = room_channel(room_id);
    let channel = String::from_utf8_lossy(&channel);
    let event = Event::Mode {
        room: room_id,
        mode: new,
        channel: if new == RoomMode::Broadcast {
            &channel
        } else {
            ""
        },
    };
    let members = room.members().map(|(m, _)| m);
    publish_event(
        ctx,
        in_cluster(ctx),
        room_id,
        old,
        members,
        None,
        &event.to_json(),
    );
}

/// Where a user listens for `rooms` (each with its mode): their own push
/// channel, plus the channel of each broadcast room. The reply is an array
/// whose first element is the command to listen with, SUBSCRIBE or, in
/// Redis Cluster, SSUBSCRIBE (sharded pub/sub), followed by the channels.
///
/// With `compact`, the common case (one server, no broadcast room) is the
/// push channel alone, as a string: CHAT.SUBSCRIBE's reply since the start.
pub(super) fn listen_reply(
    ctx: Ctx,
    user: &str,
    rooms: &[(&str, RoomMode)],
    compact: bool,
) -> Reply {
    let cluster = in_cluster(ctx);
    let mut channels = vec![user_channel(user)];
    for (room, mode) in rooms {
        if *mode == RoomMode::Broadcast {
            channels.push(room_channel(room));
        }
    }
    if compact && !cluster && channels.len() == 1 {
        return Reply::Bulk(channels.remove(0));
    }
    let command: &[u8] = if cluster { b"SSUBSCRIBE" } else { b"SUBSCRIBE" };
    Reply::bulks(std::iter::once(command.to_vec()).chain(channels))
}
