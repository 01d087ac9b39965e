//! CHAT.ONLINE <user> [TTL <seconds>], CHAT.OFFLINE <user>, CHAT.PRESENCE <room>
//!
//! A user is online while their presence key exists. ONLINE (re)sets it with
//! an absolute expiry, so replicas and the AOF expire it at the same instant
//! as the primary; apps call ONLINE as a heartbeat.

use chat_core::keys::{RoomKey, UserKey};
use chat_core::request::{parse_room, parse_user, Online};
use chat_core::ChatError;

use super::{in_cluster, require_room, require_same_slot, require_user, Args};
use crate::config::limits;
use crate::reply::Reply;
use crate::store::{self, now_ms, Ctx, Key, Kind};

/// CHAT.ONLINE <user> [TTL <seconds>]
pub fn online(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Online::parse(args, &limits())?;
    let user = req.user.as_str();
    require_user(ctx, user)?;
    let presence = Key::write(ctx, &UserKey::Presence.of(user), Kind::String)?;
    let until = now_ms().saturating_add((req.ttl_secs * 1000) as i64);
    presence.string_set_until(b"1", until);
    Ok(Reply::Ok)
}

/// CHAT.OFFLINE <user>
pub fn offline(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let user = parse_user("chat.offline", args)?;
    require_user(ctx, user.as_str())?;
    let presence = Key::write(ctx, &UserKey::Presence.of(user.as_str()), Kind::String)?;
    presence.delete();
    Ok(Reply::Ok)
}

/// CHAT.PRESENCE <room>
pub fn presence(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let room = parse_room("chat.presence", args)?;
    require_room(ctx, room.as_str())?;
    let members = Key::read(ctx, &RoomKey::Members.of(room.as_str()), Kind::Hash)?;
    let cluster = in_cluster(ctx);
    let mut name = Vec::with_capacity(64);
    let mut online = Vec::new();
    for member in members.hash_fields() {
        let Ok(id) = std::str::from_utf8(&member) else {
            continue;
        };
        if cluster {
            require_same_slot(room.as_str(), id)?;
        }
        UserKey::Presence.write(id, &mut name);
        if store::exists(ctx, &name) {
            online.push(member);
        }
    }
    Ok(Reply::bulks(online))
}
