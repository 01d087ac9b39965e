//! One function per command: parse the request with `chat_core`, check every
//! key it touches, then write, then reply. A command fails before its first
//! write or not at all.

pub mod history;
pub mod inbox;
pub mod presence;
pub mod rooms;
pub mod send;
pub mod users;

use chat_core::keys::{slot_of_id, RoomKey, UserKey};
use chat_core::ChatError;

use crate::reply::Reply;
use crate::store::{api, Ctx, Key, Kind, Propagation};

/// What every command handler looks like to the command table (`registry.rs`).
pub type Handler = fn(Ctx, &Args) -> Result<Reply, ChatError>;

/// A command's arguments after its name: as bytes (what parsing reads, and
/// what `Args` dereferences to), and as the strings Redis passed, which a
/// handler can hand back to Redis without copying them.
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

/// Fails with `ERR no such room` unless the room exists.
fn require_room(ctx: Ctx, room: &str) -> Result<(), ChatError> {
    match Key::read(ctx, &RoomKey::Meta.of(room), Kind::Hash)?.exists() {
        true => Ok(()),
        false => Err(ChatError::NoSuchRoom),
    }
}

/// Opens an existing room's metadata hash for writing.
fn open_room(ctx: Ctx, room: &str, propagation: Propagation) -> Result<Key, ChatError> {
    let meta = Key::write_with(ctx, &RoomKey::Meta.of(room), Kind::Hash, propagation)?;
    if !meta.exists() {
        return Err(ChatError::NoSuchRoom);
    }
    Ok(meta)
}

/// Fails with `ERR no such user` unless the user is registered.
fn require_user(ctx: Ctx, user: &str) -> Result<(), ChatError> {
    match Key::read(ctx, &UserKey::Profile.of(user), Kind::Hash)?.exists() {
        true => Ok(()),
        false => Err(ChatError::NoSuchUser),
    }
}

/// Whether this server runs in Redis Cluster mode.
fn in_cluster(ctx: Ctx) -> bool {
    // SAFETY: live context.
    let flags = unsafe { api!(RedisModule_GetContextFlags)(ctx) };
    flags & redis_module::raw::REDISMODULE_CTX_FLAGS_CLUSTER as std::ffi::c_int != 0
}

/// In Redis Cluster, a command may only touch keys of its own slot. A room's
/// members always share its slot when they joined through CHAT.SUBSCRIBE
/// (Redis refuses the cross-slot join), but data moved between deployments
/// may break that; then the command fails before writing anything.
fn require_same_slot(room: &str, member: &str) -> Result<(), ChatError> {
    if slot_of_id(room) == slot_of_id(member) {
        Ok(())
    } else {
        Err(ChatError::CrossSlot {
            room: room.to_string(),
            member: member.to_string(),
        })
    }
}
