//! One function per command: parse the request with `chat_core`, check every
//! key it touches, then write, then reply. A command fails before its first
//! write or not at all.

pub mod history;
pub mod inbox;
pub mod presence;
pub mod rooms;
pub mod send;
pub mod users;

use chat_core::keys::{RoomKey, UserKey};
use chat_core::ChatError;

use crate::reply::Reply;
use crate::store::{Ctx, Key, Kind};

/// What every command handler looks like to the command table (`registry.rs`).
pub type Handler = fn(Ctx, &[&[u8]]) -> Result<Reply, ChatError>;

/// Fails with `ERR no such room` unless the room exists.
fn require_room(ctx: Ctx, room: &str) -> Result<(), ChatError> {
    match Key::read(ctx, &RoomKey::Meta.of(room), Kind::Hash)?.exists() {
        true => Ok(()),
        false => Err(ChatError::NoSuchRoom),
    }
}

/// Opens an existing room's metadata hash for writing.
fn open_room(ctx: Ctx, room: &str) -> Result<Key, ChatError> {
    let meta = Key::write(ctx, &RoomKey::Meta.of(room), Kind::Hash)?;
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
