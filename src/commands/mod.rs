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

/// What every command handler looks like to `lib.rs`.
pub type Handler = fn(Ctx, &[&[u8]]) -> Result<Reply, ChatError>;

/// Opens a room's metadata hash; the room must exist.
fn existing_room(ctx: Ctx, room: &str, writable: bool) -> Result<Key, ChatError> {
    let name = RoomKey::Meta.of(room);
    let key = if writable {
        Key::write(ctx, &name, Kind::Hash)?
    } else {
        Key::read(ctx, &name, Kind::Hash)?
    };
    if key.is_empty() {
        return Err(ChatError::NoSuchRoom);
    }
    Ok(key)
}

/// Opens a user's profile hash; the user must exist.
fn existing_user(ctx: Ctx, user: &str) -> Result<Key, ChatError> {
    let key = Key::read(ctx, &UserKey::Profile.of(user), Kind::Hash)?;
    if key.is_empty() {
        return Err(ChatError::NoSuchUser);
    }
    Ok(key)
}
