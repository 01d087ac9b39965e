//! CHAT.CREATE, CHAT.INFO, CHAT.SUBSCRIBE, CHAT.UNSUBSCRIBE, CHAT.MEMBERS,
//! CHAT.COUNTS, and joining and leaving for every command that does.

use chat_core::event::{Event, RoomMode};
use chat_core::ids::is_direct_room;
use chat_core::keys::{roster_line, roster_without, RoomKey, UserKey};
use chat_core::message::parse_i64;
use chat_core::request::{parse_room, Create, Members, Membership};
use chat_core::ChatError;

use super::{in_cluster, is_member, require_room, require_user, Args};
use crate::config::limits;
use crate::publish::publish_event;
use crate::reply::{field, Reply};
use crate::store::{now_ms, words, Ctx, Key, Kind, RStr};

/// CHAT.CREATE <room> <title>
pub fn create(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Create::parse(args, &limits())?;
    create_room(ctx, req.room.as_str(), req.title)?;
    Ok(Reply::Ok)
}

pub(super) fn create_room(ctx: Ctx, room: &str, title: &str) -> Result<(), ChatError> {
    let meta = Key::write(ctx, &RoomKey::Meta.of(room), Kind::Hash)?;
    if meta.exists() {
        return Err(ChatError::RoomExists);
    }
    let title = RStr::new(ctx, title.as_bytes());
    let created = RStr::from_int(ctx, now_ms());
    let zero = RStr::from_int(ctx, 0);
    let (title_field, created_field) = (RStr::new(ctx, b"title"), RStr::new(ctx, b"created"));
    meta.hash_set(&[
        (title_field.ptr(), title.ptr()),
        (created_field.ptr(), created.ptr()),
        (words().last_id.ptr(), zero.ptr()),
    ]);
    Ok(())
}

/// CHAT.INFO <room> [WITHREAD]
pub fn info(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Members::parse_info(args)?;
    let room = req.room.as_str();
    let meta = Key::read(ctx, &RoomKey::Meta.of(room), Kind::Hash)?;
    if !meta.exists() {
        return Ok(Reply::Nil);
    }
    let members = Key::read(ctx, &RoomKey::Members.of(room), Kind::Hash)?;
    let log = Key::read(ctx, &RoomKey::Log.of(room), Kind::Stream)?;
    let mode = RoomMode::for_members(members.len(), limits().fanout_max_members);
    let mut info = vec![
        field("id", Reply::Bulk(room.as_bytes().to_vec())),
        field(
            "title",
            Reply::Bulk(meta.hash_get(b"title").unwrap_or_default()),
        ),
        field(
            "created",
            Reply::Int(meta.hash_get_int(b"created")?.unwrap_or(0)),
        ),
        field("members", Reply::Int(members.len() as i64)),
        field("messages", Reply::Int(log.len() as i64)),
        field(
            "last_id",
            Reply::Int(meta.hash_get_int(&words().last_id)?.unwrap_or(0)),
        ),
        field("mode", Reply::Bulk(mode.name().as_bytes().to_vec())),
    ];
    if req.with_read {
        info.push(field("read", read_cursors(&members)));
    }
    Ok(Reply::Map(info))
}

/// CHAT.SUBSCRIBE <room> <user>
///
/// Membership is recorded on both sides: the room's member hash (with the
/// member's read cursor, which starts at the room's last message) and the
/// user's room hash (with the time of joining). Subscribing again changes
/// nothing. Replies where to listen: see `listen_reply`.
pub fn subscribe(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Membership::parse("chat.subscribe", args)?;
    let (room, user) = (req.room.as_str(), req.user.as_str());
    require_room(ctx, room)?;
    require_user(ctx, user)?;
    // Only CHAT.DM adds members to a direct room; a member's SUBSCRIBE
    // changes nothing and replies as usual.
    if is_direct_room(room) && !is_member(ctx, room, user)? {
        return Err(ChatError::DirectRoomMembers);
    }
    let mode = join(ctx, room, user, 0)?;
    Ok(listen_reply(ctx, user, &[(room, mode)], true))
}

/// CHAT.UNSUBSCRIBE <room> <user>
pub fn unsubscribe(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Membership::parse("chat.unsubscribe", args)?;
    let was_member = leave(ctx, req.room.as_str(), req.user.as_str())?;
    Ok(Reply::Int(i64::from(was_member)))
}

/// CHAT.MEMBERS <room> [WITHREAD]
pub fn members(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Members::parse(args)?;
    require_room(ctx, req.room.as_str())?;
    let members = Key::read(ctx, &RoomKey::Members.of(req.room.as_str()), Kind::Hash)?;
    if req.with_read {
        return Ok(read_cursors(&members));
    }
    Ok(Reply::bulks(members.hash_fields()))
}

/// CHAT.COUNTS <room>
pub fn counts(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let room = parse_room("chat.counts", args)?;
    require_room(ctx, room.as_str())?;
    let counts = Key::read(ctx, &RoomKey::Counts.of(room.as_str()), Kind::Hash)?;
    Ok(int_map(counts.hash_entries()))
}

/// Member -> read cursor, ascending by member.
fn read_cursors(members: &Key) -> Reply {
    int_map(members.hash_entries())
}

fn int_map(entries: Vec<(Vec<u8>, Vec<u8>)>) -> Reply {
    Reply::Map(
        entries
            .into_iter()
            .map(|(name, n)| (name, Reply::Int(parse_i64(&n).unwrap_or(0))))
            .collect(),
    )
}

/// Makes `user` a member of `room` with the read cursor at the room's last
/// message (or `cursor`, when that is later). Returns the room's mode after
/// the join. Both the room and the user must exist.
pub(super) fn join(ctx: Ctx, room: &str, user: &str, cursor: u64) -> Result<RoomMode, ChatError> {
    check_capacity(ctx, room, &[user])?;
    let meta = Key::read(ctx, &RoomKey::Meta.of(room), Kind::Hash)?;
    let members = Key::write(ctx, &RoomKey::Members.of(room), Kind::Hash)?;
    let roster = Key::write(ctx, &RoomKey::Roster.of(room), Kind::String)?;
    let rooms = Key::write(ctx, &UserKey::Rooms.of(user), Kind::Hash)?;
    let limit = limits().fanout_max_members;
    let before = members.len();
    if !members.hash_exists(user.as_bytes()) {
        let last_id = meta.hash_get_int(&words().last_id)?.unwrap_or(0).max(0) as u64;
        let cursor = RStr::from_int(ctx, last_id.max(cursor) as i64);
        members.hash_set(&[(RStr::new(ctx, user.as_bytes()).ptr(), cursor.ptr())]);
        roster.string_append(&roster_line(user));
        announce_mode_change(ctx, room, &roster, before, members.len(), limit);
    }
    if !rooms.hash_exists(room.as_bytes()) {
        let now = RStr::from_int(ctx, now_ms());
        rooms.hash_set(&[(RStr::new(ctx, room.as_bytes()).ptr(), now.ptr())]);
    }
    Ok(RoomMode::for_members(members.len(), limit))
}

/// Fails, before anything is written, if making `users` members of `room`
/// would pass `chat.max-members`, or `chat.max-rooms-per-user` for one of
/// them. Users who are members already count for nothing.
pub(super) fn check_capacity(ctx: Ctx, room: &str, users: &[&str]) -> Result<(), ChatError> {
    let limits = limits();
    let members = Key::read(ctx, &RoomKey::Members.of(room), Kind::Hash)?;
    let mut newcomers = 0;
    for user in users {
        if members.hash_exists(user.as_bytes()) {
            continue;
        }
        newcomers += 1;
        let rooms = Key::read(ctx, &UserKey::Rooms.of(user), Kind::Hash)?;
        if !rooms.hash_exists(room.as_bytes()) && rooms.len() >= limits.max_rooms_per_user {
            return Err(ChatError::TooManyRooms(limits.max_rooms_per_user));
        }
    }
    if newcomers > 0 && members.len() + newcomers > limits.max_members {
        return Err(ChatError::RoomFull(limits.max_members));
    }
    Ok(())
}

/// Ends `user`'s membership of `room`, on both sides. Returns whether the
/// user was a member.
pub(super) fn leave(ctx: Ctx, room: &str, user: &str) -> Result<bool, ChatError> {
    let members = Key::write(ctx, &RoomKey::Members.of(room), Kind::Hash)?;
    let roster = Key::write(ctx, &RoomKey::Roster.of(room), Kind::String)?;
    let rooms = Key::write(ctx, &UserKey::Rooms.of(user), Kind::Hash)?;
    let before = members.len();
    let was_member = members.hash_del(user.as_bytes());
    rooms.hash_del(room.as_bytes());
    let rest = roster.string_bytes().and_then(|r| roster_without(r, user));
    match rest {
        Some(rest) if rest.is_empty() => {
            roster.delete();
        }
        Some(rest) => roster.string_set(&rest),
        None => {}
    }
    if was_member {
        announce_mode_change(
            ctx,
            room,
            &roster,
            before,
            members.len(),
            limits().fanout_max_members,
        );
    }
    Ok(was_member)
}

/// When a join or a leave moves a room across `chat.fanout-max-members`, its
/// members learn it from a `mode` event: on their own push channels when
/// the room turns broadcast (they are not on the room's channel yet), on
/// the room's channel when it turns back.
fn announce_mode_change(ctx: Ctx, room: &str, roster: &Key, before: u64, after: u64, limit: u64) {
    let (old, new) = (
        RoomMode::for_members(before, limit),
        RoomMode::for_members(after, limit),
    );
    if old == new {
        return;
    }
    let channel = RoomKey::Channel.of(room);
    let channel = String::from_utf8_lossy(&channel);
    let event = Event::Mode {
        room,
        mode: new,
        channel: &channel,
    };
    let roster = roster.string_bytes().unwrap_or_default();
    publish_event(
        ctx,
        in_cluster(ctx),
        room,
        old,
        roster,
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
    let mut channels = vec![UserKey::Channel.of(user)];
    for (room, mode) in rooms {
        if *mode == RoomMode::Broadcast {
            channels.push(RoomKey::Channel.of(room));
        }
    }
    if compact && !cluster && channels.len() == 1 {
        return Reply::Bulk(channels.remove(0));
    }
    let command: &[u8] = if cluster { b"SSUBSCRIBE" } else { b"SUBSCRIBE" };
    Reply::bulks(std::iter::once(command.to_vec()).chain(channels))
}
