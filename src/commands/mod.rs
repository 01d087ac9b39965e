//! One function per command: parse the request with `chat_core`, open and
//! check every key it touches, then write, then reply. A command fails
//! before its first write or not at all.

pub mod changes;
pub mod history;
pub mod inbox;
pub mod inspect;
pub mod internal;
pub mod lifecycle;
pub mod moderation;
pub mod notify;
pub mod presence;
pub mod reading;
pub mod rooms;
pub mod send;
pub mod talk;
pub mod users;

use chat_core::data::{Room, User};
use chat_core::event::{Event, RoomMode};
use chat_core::ChatError;

use crate::cluster;
use crate::config::limits;
use crate::reply::Reply;
use crate::store::{self, Access, Ctx, Name, Opened};
use crate::types::ChatValue;

/// What every command handler looks like to the command table.
pub type Handler = fn(Ctx, &Args) -> Result<Reply, ChatError>;

/// A command's arguments after its name: as bytes (what parsing reads, and
/// what `Args` dereferences to), and as the strings Redis passed, which a
/// handler uses as key names and hands back to Redis without copying.
pub struct Args<'a> {
    pub bytes: &'a [&'a [u8]],
    pub strings: &'a [*mut redis_module::raw::RedisModuleString],
}

impl<'a> std::ops::Deref for Args<'a> {
    type Target = [&'a [u8]];

    fn deref(&self) -> &Self::Target {
        self.bytes
    }
}

impl Args<'_> {
    /// Argument `i` (0 = the first after the command name) as a key name.
    /// Called after parsing, which checked that the argument is there.
    pub fn key(&self, i: usize) -> Result<Name, ChatError> {
        self.strings
            .get(i)
            .map(|s| Name::Lent(*s))
            .ok_or_else(|| ChatError::Internal(format!("argument {} is missing", i + 1)))
    }
}

/// CHAT.DEBUG-PANIC: panics, so that a test can see the panic caught.
#[cfg(debug_assertions)]
pub fn debug_panic(_ctx: Ctx, _args: &Args) -> Result<Reply, ChatError> {
    panic!("CHAT.DEBUG-PANIC panics on purpose");
}

/// Opens the room or user named by argument `i`; `ERR no such room` or
/// `ERR no such user` if there is none.
fn existing<T: ChatValue>(
    ctx: Ctx,
    args: &Args,
    i: usize,
    access: Access,
) -> Result<Opened<T>, ChatError> {
    let key = store::open::<T>(ctx, args.key(i)?, access)?;
    if !key.exists() {
        return Err(T::missing());
    }
    Ok(key)
}

/// Opens the key a new room or user gets, which must be free: `ERR room
/// already exists` (or user), or that the id is taken by the other kind.
fn open_new<T: ChatValue>(ctx: Ctx, name: Name) -> Result<Opened<T>, ChatError> {
    let key = match store::open::<T>(ctx, name, Access::Write) {
        Err(ChatError::OtherKind { key, holds, .. }) => {
            return Err(ChatError::IdTaken { id: key, holds })
        }
        other => other?,
    };
    if key.exists() {
        return Err(T::taken());
    }
    Ok(key)
}

fn existing_room(
    ctx: Ctx,
    args: &Args,
    i: usize,
    access: Access,
) -> Result<Opened<Room>, ChatError> {
    existing(ctx, args, i, access)
}

fn existing_user(
    ctx: Ctx,
    args: &Args,
    i: usize,
    access: Access,
) -> Result<Opened<User>, ChatError> {
    existing(ctx, args, i, access)
}

/// Fails unless `user_id`, argument `i`, names a member of `room`. When
/// the user's key lives in the room's slot (always, without cluster mode)
/// it is opened and its type checked like any other (`WRONGTYPE` for a key
/// of another type), so an unregistered user gets `ERR no such user`; a
/// user of another slot is checked by membership alone, which a join made
/// after checking that the user exists. Then `ERR user is not a member of
/// the room`.
fn require_member(
    ctx: Ctx,
    room: &Opened<Room>,
    user_id: &str,
    args: &Args,
    i: usize,
) -> Result<(), ChatError> {
    if cluster::shares_slot(ctx, room.id(), user_id) {
        existing_in_slot(ctx, args.key(i)?, Access::Read)?;
    }
    if room.value()?.is_member(user_id) {
        Ok(())
    } else {
        Err(ChatError::NotMember)
    }
}

/// Opens, for writing, the key of every member of `room` but `except`: the
/// keys whose inbox copies a send or a change in a fan-out room writes.
/// Each is opened, and its type checked, before the command's first write.
/// A member whose key is missing gets an empty `Opened`. A fan-out room's
/// members all share its slot (`mode_of`); should one not, their key is
/// not opened and they read from their cursor, as in a broadcast room.
fn open_other_members(
    ctx: Ctx,
    room_id: &str,
    room: &Room,
    except: &str,
) -> Result<Vec<Opened<User>>, ChatError> {
    let mut members = Vec::with_capacity(room.member_count() as usize);
    for (member, _) in room.members() {
        if member == except || !cluster::shares_slot(ctx, room_id, member) {
            continue;
        }
        members.push(store::open_id(ctx, member, Access::Write)?);
    }
    Ok(members)
}

/// Opens the key of a user in the command's slot that the command does not
/// declare, which must exist: `ERR no such user`, or `TRYAGAIN` while the
/// slot moves (`cluster::open_here`).
fn existing_in_slot(ctx: Ctx, name: Name, access: Access) -> Result<Opened<User>, ChatError> {
    let key = cluster::open_here::<User>(ctx, name, access)?;
    if key.exists() {
        Ok(key)
    } else {
        Err(ChatError::NoSuchUser)
    }
}

/// The mode of a room with its members now (`Room::mode`).
fn mode_of(ctx: Ctx, room_id: &str, room: &Room) -> RoomMode {
    room.mode(limits().fanout_max_members, cluster::slot_of(ctx, room_id))
}

/// Publishes `event` to the room's audience, except `actor`.
fn tell_room(ctx: Ctx, room_id: &str, room: &Room, actor: Option<&str>, event: &Event) {
    crate::publish::publish_event(
        ctx,
        cluster::enabled(ctx),
        room_id,
        mode_of(ctx, room_id, room),
        room.members().map(|(m, _)| m),
        actor,
        &event.to_json(),
    );
}

/// Publishes `event` on `user`'s own channel if they are online (and, in
/// Redis Cluster, in the room's slot: another slot's channel is another
/// node's).
fn tell_user(ctx: Ctx, room_id: &str, user: &str, event: &Event) {
    crate::publish::publish_event(
        ctx,
        cluster::enabled(ctx),
        room_id,
        RoomMode::Fanout,
        std::iter::once(user),
        None,
        &event.to_json(),
    );
}

/// Whether `user` is a member of room `room` (false for an unknown room;
/// `TRYAGAIN` while the room's slot moves and the room is not here).
pub(crate) fn is_member(ctx: Ctx, room: &str, user: &str) -> Result<bool, ChatError> {
    let room = cluster::open_id_here::<Room>(ctx, room, Access::Read)?;
    Ok(room.get().is_some_and(|r| r.is_member(user)))
}
