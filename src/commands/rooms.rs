//! CHAT.CREATE, CHAT.INFO, CHAT.SUBSCRIBE, CHAT.UNSUBSCRIBE, CHAT.LIST-ROOM,
//! CHAT.UNLIST-ROOM, CHAT.MEMBERS, CHAT.COUNTS, and joining and leaving for
//! every command that does.
//!
//! Membership is recorded on both sides: in the room (with the member's
//! read cursor) and in the user's list of rooms (with the time of
//! joining). The room's side is the truth; the user's list is how a user
//! finds their rooms. When both keys share a slot (always, without Redis
//! Cluster), CHAT.SUBSCRIBE and CHAT.UNSUBSCRIBE write both in one step. In
//! a cluster, a user of another slot than the room's joins in steps, each
//! in one slot, ordered so that the user's list always names every room
//! the user is a member of: CHAT.LIST-ROOM, CHAT.SUBSCRIBE, CHAT.LIST-ROOM
//! again (which restores a listing a concurrent repair removed); and leaves
//! with CHAT.UNSUBSCRIBE, then CHAT.UNLIST-ROOM. A crash between two steps
//! leaves a listed room the user is not a member of, which reads skip and
//! CHAT.UNLIST-ROOM ... IF-OLDER-THAN-MS repairs (docs/deployment.md).

use chat_core::channels::{room_channel, user_channel};
use chat_core::data::wire::name_hash;
use chat_core::data::{Room, User};
use chat_core::event::{Event, RoomMode};
use chat_core::ids::is_direct_room;
use chat_core::request::{parse_room, Create, Listing, Members, Membership};
use chat_core::ChatError;

use super::{existing_in_slot, existing_room, existing_user, mode_of, open_new, Args};
use crate::cluster::{self, shares_slot};
use crate::config::limits;
use crate::context;
use crate::generation;
use crate::publish::publish_event;
use crate::replication;
use crate::reply::{field, Reply};
use crate::store::{self, Access, Ctx, Opened};

/// CHAT.CREATE <room> <title> [OWNER <user>] [PRIVATE]
///
/// With OWNER, the user (who must be registered) joins as the room's
/// owner, listed in their key when it shares the room's slot; in a
/// cluster, an owner of another slot is listed with CHAT.LIST-ROOM, as for
/// any join across slots.
pub fn create(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Create::parse(args, &limits())?;
    let room_id = req.room.as_str();
    if let Some(owner) = &req.owner {
        crate::identity::check_acting_as(ctx, owner.as_str())?;
    }
    let mut key = open_new::<Room>(ctx, args.key(0)?)?;
    let mut owner_key = match &req.owner {
        Some(owner) if shares_slot(ctx, room_id, owner.as_str()) => {
            let user = cluster::open_id_here::<User>(ctx, owner.as_str(), Access::Write)?;
            if !user.exists() {
                return Err(ChatError::NoSuchUser);
            }
            check_user_capacity(&user, room_id)?;
            Some(user)
        }
        _ => None,
    };
    create_room(ctx, &mut key, req.title)?;
    if let Some(owner) = &req.owner {
        key.value_mut()?.found(owner.as_str(), req.private);
        key.changed(c"chat.join");
        if let Some(user) = &mut owner_key {
            if user.value_mut()?.join(room_id, context::now()) {
                user.changed(c"chat.join");
            }
        }
    }
    Ok(Reply::Ok)
}

/// Makes the room, with a new epoch (on the primary; a replica gets the
/// primary's right after): a room made again under an id it had before
/// must not look like the one before to a client.
pub(super) fn create_room(ctx: Ctx, key: &mut Opened<Room>, title: &str) -> Result<(), ChatError> {
    let origin = name_hash(key.name().as_bytes());
    key.create(Room::new(origin, title, context::now()))?;
    if let (room_id, Some(room)) = key.id_and_value() {
        generation::vouch(ctx, room_id, room);
    }
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
            "first_id",
            Reply::Int(room.first_id().unwrap_or(room.last_id() + 1) as i64),
        ),
        field("epoch", Reply::Bulk(room.epoch().to_string().into_bytes())),
        field("pins", Reply::Int(room.pins().count() as i64)),
        field(
            "mode",
            Reply::Bulk(
                mode_of(ctx, req.room.as_str(), room)
                    .name()
                    .as_bytes()
                    .to_vec(),
            ),
        ),
        field("private", Reply::Int(i64::from(room.is_private()))),
        field("slowmode", Reply::Int(i64::from(room.slowmode()))),
        field(
            "owners",
            Reply::bulks(room.owners().map(|o| o.as_bytes().to_vec())),
        ),
    ];
    if req.with_read {
        info.push(field("read", read_cursors(room)));
    }
    Ok(Reply::Map(info))
}

/// CHAT.SUBSCRIBE <room> <user> [WITHEPOCH]
///
/// The member's read cursor starts at the room's last message. Subscribing
/// again changes nothing. Replies where to listen: see `listen_reply`;
/// with WITHEPOCH, that and the room's epoch and last id, what a client
/// keeps to catch up later (docs/delivery.md). A user whose key is in
/// another cluster slot joins on the room's side only (see the module doc).
pub fn subscribe(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let (req, with_epoch) = Membership::parse_subscribe(args)?;
    let (room_id, user_id) = (req.room.as_str(), req.user.as_str());
    let mut room = existing_room(ctx, args, 0, Access::Write)?;
    let mut user = if shares_slot(ctx, room_id, user_id) {
        Some(existing_in_slot(ctx, args.key(1)?, Access::Write)?)
    } else {
        None
    };
    // Only CHAT.DM adds members to a direct room; a member's SUBSCRIBE
    // changes nothing and replies as usual.
    if is_direct_room(room_id) && !room.value()?.is_member(user_id) {
        return Err(ChatError::DirectRoomMembers);
    }
    // Bans and private rooms.
    if let Some(now) = context::clock_checks() {
        room.value()?.check_admit(room_id, user_id, now)?;
    }
    check_room_capacity(&room, &[user_id])?;
    if let Some(user) = &user {
        check_user_capacity(user, room_id)?;
    }
    let mode = join(ctx, &mut room, user_id, user.as_mut())?;
    let listen = listen_reply(ctx, user_id, &[(room_id, mode)], true);
    if !with_epoch {
        return Ok(listen);
    }
    let mut reply = vec![field("listen", listen)];
    reply.extend(epoch_fields(room.value()?));
    Ok(Reply::Map(reply))
}

/// `epoch` and `last_id`: where a client's catching up starts from.
pub(super) fn epoch_fields(room: &Room) -> [(Vec<u8>, Reply); 2] {
    [
        field("epoch", Reply::Bulk(room.epoch().to_string().into_bytes())),
        field("last_id", Reply::Int(room.last_id() as i64)),
    ]
}

/// CHAT.UNSUBSCRIBE <room> <user>: replies whether the user was a member.
/// The room leaves the user's list even when the room itself is gone (its
/// key deleted by hand).
pub fn unsubscribe(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Membership::parse("chat.unsubscribe", args)?;
    let (room_id, user_id) = (req.room.as_str(), req.user.as_str());
    let mut room = store::open::<Room>(ctx, args.key(0)?, Access::Write)?;
    let mut user = if shares_slot(ctx, room_id, user_id) {
        Some(cluster::open_here::<User>(
            ctx,
            args.key(1)?,
            Access::Write,
        )?)
    } else {
        None
    };
    if let Some(r) = room.get() {
        r.check_leave(user_id)?;
    }
    let was_member = leave(ctx, &mut room, user_id, user.as_mut(), "leave", None);
    Ok(Reply::Int(i64::from(was_member)))
}

/// CHAT.LIST-ROOM <user> <room>: adds the room to the user's list, the
/// user's side of a join across slots, or makes a listing recent again
/// (see CHAT.UNLIST-ROOM's IF-OLDER-THAN-MS). Replies 1, or 0 if it was listed.
pub fn list_room(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Listing::parse_list(args)?;
    let room_id = req.room.as_str();
    let mut user = existing_user(ctx, args, 0, Access::Write)?;
    check_user_capacity(&user, room_id)?;
    let added = user.value_mut()?.list_room(room_id, context::now());
    user.changed(c"chat.join");
    Ok(Reply::Int(i64::from(added)))
}

/// CHAT.UNLIST-ROOM <user> <room> [IF-OLDER-THAN-MS <ms>]: takes the room
/// off the user's list, the user's side of a leave across slots, and the
/// repair of a join cut short. Replies 1, or 0 if it was not listed (or
/// listed more recently than asked). A room of the user's slot is refused
/// while the user is a member: the list must name it.
pub fn unlist_room(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Listing::parse_unlist(args)?;
    let (user_id, room_id) = (req.user.as_str(), req.room.as_str());
    let mut user = existing_user(ctx, args, 0, Access::Write)?;
    if shares_slot(ctx, user_id, room_id) && super::is_member(ctx, room_id, user_id)? {
        return Err(ChatError::StillMember);
    }
    let Some(listed_at) = user.value()?.joined_at(room_id) else {
        return Ok(Reply::Int(0));
    };
    if let Some(ms) = req.if_older_than_ms {
        let age = context::now().saturating_sub(listed_at);
        if age < ms as i64 {
            return Ok(Reply::Int(0));
        }
    }
    user.value_mut()?.leave(room_id);
    user.changed(c"chat.leave");
    // Without the age, which depends on this server's clock.
    replication::words(
        ctx,
        c"CHAT.UNLIST-ROOM",
        &[user_id.as_bytes(), room_id.as_bytes()],
    );
    Ok(Reply::Int(1))
}

/// CHAT.MEMBERS <room> [WITHREAD | WITHROLES]
pub fn members(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Members::parse(args)?;
    let key = existing_room(ctx, args, 0, Access::Read)?;
    let room = key.value()?;
    if req.with_read {
        return Ok(read_cursors(room));
    }
    if req.with_roles {
        return Ok(Reply::Map(
            room.members_with_roles()
                .map(|(m, role)| {
                    let role = Reply::Bulk(role.name().as_bytes().to_vec());
                    (m.as_bytes().to_vec(), role)
                })
                .collect(),
        ));
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

/// Fails, before anything is written, if making `ids` members of `room`
/// would pass `chat.max-members`. Members already count for nothing; a
/// room about to be made (CHAT.DM) has no members yet.
pub(super) fn check_room_capacity(room: &Opened<Room>, ids: &[&str]) -> Result<(), ChatError> {
    let max = limits().max_members;
    let r = room.get();
    let newcomers = ids
        .iter()
        .filter(|id| !r.is_some_and(|r| r.is_member(id)))
        .count() as u64;
    let members = r.map_or(0, Room::member_count);
    if newcomers > 0 && members + newcomers > max {
        return Err(ChatError::RoomFull(max));
    }
    Ok(())
}

/// Fails if listing `room_id` would pass `chat.max-rooms-per-user` for
/// `user`; a room listed already counts for nothing.
pub(super) fn check_user_capacity(user: &Opened<User>, room_id: &str) -> Result<(), ChatError> {
    let max = limits().max_rooms_per_user;
    match user.get() {
        Some(u) if !u.in_room(room_id) && u.room_count() >= max => {
            Err(ChatError::TooManyRooms(max))
        }
        _ => Ok(()),
    }
}

/// Makes `user_id` a member of `room` (which exists), with the read cursor
/// at the room's last message, and lists the room in `user`, the user's
/// key when it shares the room's slot. Returns the room's mode after.
pub(super) fn join(
    ctx: Ctx,
    room: &mut Opened<Room>,
    user_id: &str,
    user: Option<&mut Opened<User>>,
) -> Result<RoomMode, ChatError> {
    let room_id = room.id().to_owned();
    let before = mode_of(ctx, &room_id, room.value()?);
    let joined = room.value_mut()?.join(user_id, 0);
    if joined {
        room.changed(c"chat.join");
    }
    let after = mode_of(ctx, &room_id, room.value()?);
    announce_mode_change(ctx, &room_id, room.value()?, before, after);
    if joined {
        let event = Event::Member {
            room: &room_id,
            user: user_id,
            change: "join",
        };
        super::tell_room(ctx, &room_id, room.value()?, Some(user_id), &event);
    }
    if let Some(user) = user {
        let u = user.value_mut()?;
        // An invitation is used by joining.
        if u.join(&room_id, context::now()) | u.remove_invite(&room_id) {
            user.changed(c"chat.join");
        }
    }
    Ok(after)
}

/// Ends `user_id`'s membership of `room`, and takes the room off `user`'s
/// list when given (either key may be gone). The other members hear a
/// `member` event with `change` (leave, or kick and ban, made `by` an
/// owner or admin, who does not hear it). Returns whether the user was a
/// member of the room.
pub(super) fn leave(
    ctx: Ctx,
    room: &mut Opened<Room>,
    user_id: &str,
    user: Option<&mut Opened<User>>,
    change: &str,
    by: Option<&str>,
) -> bool {
    let room_id = room.id().to_owned();
    let mut was_member = false;
    if let Some(r) = room.get() {
        let before = mode_of(ctx, &room_id, r);
        was_member = room.get_mut().is_some_and(|r| r.leave(user_id));
        if was_member {
            room.changed(c"chat.leave");
            if let Some(r) = room.get() {
                let after = mode_of(ctx, &room_id, r);
                announce_mode_change(ctx, &room_id, r, before, after);
                let event = Event::Member {
                    room: &room_id,
                    user: user_id,
                    change,
                };
                let except = by.unwrap_or(user_id);
                super::tell_room(ctx, &room_id, r, Some(except), &event);
            }
        }
    }
    if let Some(user) = user {
        if user.get_mut().is_some_and(|u| u.leave(&room_id)) {
            user.changed(c"chat.leave");
        }
    }
    was_member
}

/// When a join or a leave changes a room's mode (across
/// `chat.fanout-max-members`, or in Redis Cluster with the first member of
/// another slot in, or the last one out), its members learn it from a
/// `mode` event: on their own push channels when the room turns broadcast
/// (they are not on the room's channel yet), on the room's channel when it
/// turns back.
fn announce_mode_change(ctx: Ctx, room_id: &str, room: &Room, old: RoomMode, new: RoomMode) {
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
        cluster::enabled(ctx),
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
    let cluster = cluster::enabled(ctx);
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
