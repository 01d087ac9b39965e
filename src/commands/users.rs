//! CHAT.REGISTER, CHAT.PROFILE, CHAT.ROOMS

use chat_core::keys::UserKey;
use chat_core::request::{parse_user, Register};
use chat_core::ChatError;

use super::{require_user, Args};
use crate::config::limits;
use crate::reply::{field, Reply};
use crate::store::{now_ms, Ctx, Key, Kind, RStr};

/// CHAT.REGISTER <user> <name>
pub fn register(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Register::parse(args, &limits())?;
    let profile = Key::write(ctx, &UserKey::Profile.of(req.user.as_str()), Kind::Hash)?;
    if profile.exists() {
        return Err(ChatError::UserExists);
    }
    let name = RStr::new(ctx, req.name.as_bytes());
    let created = RStr::from_int(ctx, now_ms());
    let (name_field, created_field) = (RStr::new(ctx, b"name"), RStr::new(ctx, b"created"));
    profile.hash_set(&[
        (name_field.ptr(), name.ptr()),
        (created_field.ptr(), created.ptr()),
    ]);
    Ok(Reply::Ok)
}

/// CHAT.PROFILE <user>
pub fn profile(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let user = parse_user("chat.profile", args)?;
    let profile = Key::read(ctx, &UserKey::Profile.of(user.as_str()), Kind::Hash)?;
    if !profile.exists() {
        return Ok(Reply::Nil);
    }
    Ok(Reply::Map(vec![
        field("id", Reply::Bulk(user.as_str().as_bytes().to_vec())),
        field(
            "name",
            Reply::Bulk(profile.hash_get(b"name").unwrap_or_default()),
        ),
        field(
            "created",
            Reply::Int(profile.hash_get_int(b"created")?.unwrap_or(0)),
        ),
    ]))
}

/// CHAT.ROOMS <user>
pub fn rooms(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let user = parse_user("chat.rooms", args)?;
    require_user(ctx, user.as_str())?;
    let rooms = Key::read(ctx, &UserKey::Rooms.of(user.as_str()), Kind::Hash)?;
    Ok(Reply::bulks(rooms.hash_fields()))
}
