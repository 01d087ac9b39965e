//! CHAT.DM, CHAT.DM-ID, CHAT.DM-ROOM, CHAT.DROP, CHAT.UNREGISTER: rooms and
//! users that come and go.

use chat_core::data::{Room, User};
use chat_core::event::Event;
use chat_core::ids::direct_room;
use chat_core::request::{parse_room, parse_user, Direct, DirectRoom};
use chat_core::ChatError;

use super::rooms::{check_room_capacity, check_user_capacity, create_room, join, leave};
use super::{existing_in_slot, existing_room, existing_user, tell_room, Args};
use crate::cluster::{self, require_same_slot, shares_slot};
use crate::reply::Reply;
use crate::store::{self, Access, Ctx, Name, Opened};

/// CHAT.DM <user-a> <user-b>: the pair's one direct room, created on first
/// use. The same room for (a, b) and (b, a). Both are members afterwards,
/// also one who had left it: a direct room is the pair's conversation.
///
/// The room's key is named by the pair, not by an argument, so the
/// command declares the two users only; in Redis Cluster it works when the
/// room's id lands in their slot (users with one hash tag), and users of
/// different slots make their room in steps: CHAT.DM-ID, CHAT.LIST-ROOM
/// for each, CHAT.DM-ROOM, CHAT.LIST-ROOM for each again.
pub fn dm(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Direct::parse(args)?;
    let room_id = direct_room(req.a, req.b)?;
    // Redis has checked that the users share a slot (they are the declared
    // keys); the room's key must live there too. Users with one hash tag
    // always pass; two untagged users whose slots meet by chance do not.
    require_same_slot(ctx, req.a.as_str(), &room_id, STEPS)?;
    let mut a = existing_user(ctx, args, 0, Access::Write)?;
    let mut b = existing_user(ctx, args, 1, Access::Write)?;
    // Not declared: while the slot moves, the room may be on the other node
    // (TRYAGAIN), and must not be made again here.
    let mut room = cluster::open_id_here::<Room>(ctx, &room_id, Access::Write)?;
    open_direct_room(ctx, &mut room, req, [Some(&mut a), Some(&mut b)])?;
    Ok(Reply::Bulk(room_id.into_bytes()))
}

const STEPS: &str = "make the direct room in steps: CHAT.DM-ID <a> <b>, CHAT.LIST-ROOM for \
                     each user, CHAT.DM-ROOM <room> <a> <b>, then CHAT.LIST-ROOM for each \
                     again, as the client libraries do";

/// CHAT.DM-ID <user-a> <user-b>: the id of the pair's direct room, which
/// CHAT.DM and CHAT.DM-ROOM use. Touches no key.
pub fn dm_id(_ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Direct::parse_for("chat.dm-id", args)?;
    Ok(Reply::Bulk(direct_room(req.a, req.b)?.into_bytes()))
}

/// CHAT.DM-ROOM <room> <user-a> <user-b>: the room's side of CHAT.DM, for
/// users whose keys are in other slots than the room's: creates the direct
/// room if it is not there and makes both members. Each user's own side is
/// CHAT.LIST-ROOM, run before it on the user's slot (which checks that the
/// user exists); a user of the room's slot is listed here, as by CHAT.DM.
pub fn dm_room(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = DirectRoom::parse(args)?;
    let expected = direct_room(req.pair.a, req.pair.b)?;
    let room_id = req.room.as_str();
    if room_id != expected {
        return Err(ChatError::NotDirectRoomOf {
            room: room_id.to_string(),
            expected,
        });
    }
    let mut room = store::open::<Room>(ctx, args.key(0)?, Access::Write)?;
    // A user of the room's slot is checked and listed here; one of another
    // slot was checked by their own CHAT.LIST-ROOM.
    let here = |id: &str| {
        shares_slot(ctx, room_id, id)
            .then(|| existing_in_slot(ctx, Name::made(ctx, id), Access::Write))
            .transpose()
    };
    let (mut a, mut b) = (here(req.pair.a.as_str())?, here(req.pair.b.as_str())?);
    open_direct_room(ctx, &mut room, req.pair, [a.as_mut(), b.as_mut()])?;
    Ok(Reply::Bulk(room_id.as_bytes().to_vec()))
}

/// Creates the pair's direct room if it is not there, and makes both
/// users members; `users` are their keys where they share the room's slot.
fn open_direct_room(
    ctx: Ctx,
    room: &mut Opened<Room>,
    pair: Direct,
    users: [Option<&mut Opened<User>>; 2],
) -> Result<(), ChatError> {
    let ids = [pair.a.as_str(), pair.b.as_str()];
    check_room_capacity(room, &ids)?;
    for user in users.iter().flatten() {
        check_user_capacity(user, room.id())?;
    }
    if !room.exists() {
        let (first, second) = if ids[0] <= ids[1] {
            (ids[0], ids[1])
        } else {
            (ids[1], ids[0])
        };
        create_room(ctx, room, &format!("{first}, {second}"))?;
    }
    for (id, user) in ids.into_iter().zip(users) {
        join(ctx, room, id, user)?;
    }
    Ok(())
}

/// CHAT.DROP <room>: the room goes, with its history, counters and read
/// state, and it leaves every member's room list; members online hear it.
/// In Redis Cluster, a member of another slot keeps the room in their
/// list until CHAT.UNLIST-ROOM: reads skip a room that is gone.
pub fn drop(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let room_id = parse_room("chat.drop", args)?;
    let room_id = room_id.as_str();
    let mut room = existing_room(ctx, args, 0, Access::Write)?;
    // Every member key of the room's slot is opened, and its type checked,
    // before the first write.
    let r = room.value()?;
    let mut members: Vec<Opened<User>> = Vec::with_capacity(r.member_count() as usize);
    // Invited users too: their invitation goes with the room.
    let invited = r.rules().into_iter().flat_map(|rules| rules.invites());
    for member in r.members().map(|(m, _)| m).chain(invited.map(|(u, _)| u)) {
        if shares_slot(ctx, room_id, member) {
            members.push(cluster::open_id_here(ctx, member, Access::Write)?);
        }
    }
    tell_room(ctx, room_id, r, None, &Event::Dropped { room: room_id });
    for member in &mut members {
        if member
            .get_mut()
            .is_some_and(|u| u.leave(room_id) | u.remove_invite(room_id))
        {
            member.changed(c"chat.leave");
        }
    }
    room.delete();
    room.changed(c"chat.drop");
    Ok(Reply::Ok)
}

/// CHAT.UNREGISTER <user>: the user goes, with their profile, presence,
/// inbox and memberships. What they sent stays in the rooms' histories. In
/// Redis Cluster the user first leaves the rooms of other slots, each on
/// its own slot; until then this is refused, so that no room keeps a
/// member who is gone. The last owner of a room with other members is
/// refused too, as by CHAT.UNSUBSCRIBE.
pub fn unregister(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let user_id = parse_user("chat.unregister", args)?;
    let user_id = user_id.as_str();
    let mut user = existing_user(ctx, args, 0, Access::Write)?;
    // Every room's key is opened, and its type checked, before the first
    // write.
    let room_ids: Vec<String> = user.value()?.rooms().map(|(r, _)| r.to_owned()).collect();
    let mut rooms = Vec::with_capacity(room_ids.len());
    for room_id in &room_ids {
        require_same_slot(
            ctx,
            user_id,
            room_id,
            "leave the rooms of other slots first (CHAT.UNSUBSCRIBE <room> <user>, then \
             CHAT.UNLIST-ROOM <user> <room>), as the client libraries do",
        )?;
        let room = cluster::open_id_here::<Room>(ctx, room_id, Access::Write)?;
        // A room keeps an owner: its last one hands it on first.
        if let Some(r) = room.get() {
            r.check_leave(user_id)?;
        }
        rooms.push(room);
    }
    for room in &mut rooms {
        leave(ctx, room, user_id, Some(&mut user), "leave", None);
    }
    user.delete();
    user.changed(c"chat.unregister");
    Ok(Reply::Ok)
}
