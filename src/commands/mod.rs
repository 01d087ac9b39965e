//! One function per command: parse the request with `chat_core`, check every
//! key it touches, then write, then reply. A command fails before its first
//! write or not at all.

pub mod changes;
pub mod history;
pub mod inbox;
pub mod lifecycle;
pub mod presence;
pub mod reading;
pub mod rooms;
pub mod send;
pub mod users;

use chat_core::event::{Event, RoomMode};
use chat_core::keys::{slot_of_id, RoomKey, UserKey};
use chat_core::message::parse_i64;
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

/// CHAT.DEBUG-PANIC: panics, so that a test can see the panic caught.
#[cfg(debug_assertions)]
pub fn debug_panic(_ctx: Ctx, _args: &Args) -> Result<Reply, ChatError> {
    panic!("CHAT.DEBUG-PANIC panics on purpose");
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
pub(super) fn require_same_slot(room: &str, member: &str) -> Result<(), ChatError> {
    if slot_of_id(room) == slot_of_id(member) {
        Ok(())
    } else {
        Err(ChatError::CrossSlot {
            room: room.to_string(),
            member: member.to_string(),
        })
    }
}

/// Drops the messages older than `max_age_secs` from a room's history (as
/// `XTRIM ... MINID` of the first younger one) and returns how many went.
/// 0 means no age limit. The message just sent is never older.
pub fn retire_old_messages(log: &Key, now_ms: i64, max_age_secs: u64) -> u64 {
    if max_age_secs == 0 {
        return 0;
    }
    let cutoff = now_ms.saturating_sub((max_age_secs as i64).saturating_mul(1000));
    let is_young = |fields: &[(&[u8], &[u8])]| {
        fields
            .iter()
            .find(|(name, _)| *name == b"ts")
            .and_then(|(_, ts)| parse_i64(ts))
            .is_some_and(|ts| ts >= cutoff)
    };
    match log.stream_find_first(|_, fields| is_young(fields)) {
        Some(first_young) => log.stream_trim_below(first_young),
        None => log.stream_clear(),
    }
}

/// The edits and deletions a room keeps are about messages in its history;
/// when old messages leave the history, what was kept about them goes too.
pub fn forget_changes_before_history(ctx: Ctx, room: &str, log: &Key, propagation: Propagation) {
    let Ok(changes) = Key::write_with(ctx, &RoomKey::Changes.of(room), Kind::Hash, propagation)
    else {
        return; // a key of another type, written by hand: leave it alone
    };
    if !changes.exists() {
        return;
    }
    let first_kept = log
        .stream_find_first(|_, _| true)
        .map_or(u64::MAX, |id| id.ms);
    for (id, _) in changes.hash_entries() {
        if parse_i64(&id).is_none_or(|n| (n as u64) < first_kept) {
            changes.hash_del(&id);
        }
    }
}

/// Who hears about what happens in a room: its roster, and how it
/// delivers. Opened (and its keys type-checked) before a command's first
/// write; told about the command's event after it.
struct Listeners {
    roster: Key,
    mode: RoomMode,
}

fn listeners(ctx: Ctx, room: &str) -> Result<Listeners, ChatError> {
    let members = Key::read(ctx, &RoomKey::Members.of(room), Kind::Hash)?;
    let roster = Key::read(ctx, &RoomKey::Roster.of(room), Kind::String)?;
    let mode = RoomMode::for_members(members.len(), crate::config::limits().fanout_max_members);
    Ok(Listeners { roster, mode })
}

/// Publishes `event` to the room's audience, except `actor`.
fn tell_room(ctx: Ctx, room: &str, listeners: Listeners, actor: &str, event: &Event) {
    let Listeners { roster, mode } = listeners;
    let roster = roster.string_bytes().unwrap_or_default();
    crate::publish::publish_event(
        ctx,
        in_cluster(ctx),
        room,
        mode,
        roster,
        Some(actor),
        &event.to_json(),
    );
}

/// Whether `user` is a member of `room`; false for an unknown room.
pub(crate) fn is_member(ctx: Ctx, room: &str, user: &str) -> Result<bool, ChatError> {
    let members = Key::read(ctx, &RoomKey::Members.of(room), Kind::Hash)?;
    Ok(members.hash_exists(user.as_bytes()))
}

/// Fails unless `user` is a member of `room` (which must exist): `ERR no
/// such user` for an unknown user, else `ERR user is not a member ...`.
fn require_member(ctx: Ctx, room: &str, user: &str) -> Result<(), ChatError> {
    require_room(ctx, room)?;
    if is_member(ctx, room, user)? {
        return Ok(());
    }
    require_user(ctx, user)?;
    Err(ChatError::NotMember)
}
