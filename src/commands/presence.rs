//! CHAT.ONLINE <user> [TTL <seconds>], CHAT.OFFLINE <user>, CHAT.PRESENCE <room>
//!
//! A user is online until the time their value keeps: ONLINE sets it (the
//! app calls it as a heartbeat), OFFLINE clears it. A replica or the AOF
//! gets the ONLINE with its TTL spelled out, at the primary's time
//! (`CHAT.AT`), so they keep the very same time. A change of presence is
//! published on the user's presence channel (`crate::presence`, which also
//! announces a TTL running out).

use chat_core::data::User;
use chat_core::request::{parse_room, Offline, Online};
use chat_core::ChatError;

use super::{existing_room, existing_user, Args};
use crate::cluster::require_same_slot;
use crate::config::limits;
use crate::context;
use crate::presence;
use crate::replication;
use crate::reply::Reply;
use crate::store::{self, Access, Ctx};

/// CHAT.ONLINE <user> [TTL <seconds>]
pub fn online(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Online::parse(args, &limits())?;
    let mut key = existing_user(ctx, args, 0, Access::Write)?;
    let now = context::now();
    let until = now.saturating_add((req.ttl_secs * 1000) as i64);
    let user = key.value_mut()?;
    let was_online = user.online(now);
    user.heartbeat(req.device, until, now);
    let until = user.online_until();
    key.changed(c"chat.online");
    let user_id = req.user.as_str();
    presence::note(user_id, until);
    if !was_online {
        presence::announce(ctx, user_id, Some(until));
    }
    let ttl = req.ttl_secs.to_string();
    let mut replayed: Vec<&[u8]> = vec![
        b"CHAT.ONLINE",
        req.user.as_str().as_bytes(),
        b"TTL",
        ttl.as_bytes(),
    ];
    if let Some(device) = req.device {
        replayed.extend([&b"DEVICE"[..], device.as_bytes()]);
    }
    replication::at_now(ctx, &replayed);
    Ok(Reply::Ok)
}

/// CHAT.OFFLINE <user> [DEVICE <id>]: the user, or one device, goes
/// offline; with devices, the user stays online while another is.
pub fn offline(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Offline::parse(args)?;
    let user_id = req.user.as_str();
    let mut key = existing_user(ctx, args, 0, Access::Write)?;
    let now = context::now();
    let user = key.value_mut()?;
    let was_online = user.online(now);
    let before = (user.online_until(), user.device_ends().count());
    user.go_offline(req.device, now);
    let until = user.online_until();
    if (until, user.device_ends().count()) != before {
        key.changed(c"chat.offline");
    }
    presence::note(user_id, until);
    if was_online && until <= now {
        presence::announce(ctx, user_id, None);
    }
    Ok(Reply::Ok)
}

/// CHAT.PRESENCE <room>: the members online now, in order of id. Presence
/// lives in each member's key: in Redis Cluster, only a room whose members
/// share its slot can answer in one step.
pub fn presence(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let room_id = parse_room("chat.presence", args)?;
    let key = existing_room(ctx, args, 0, Access::Read)?;
    let room = key.value()?;
    let now = context::now();
    let mut online = Vec::new();
    for (member, _) in room.members() {
        require_same_slot(
            ctx,
            room_id.as_str(),
            member,
            "CHAT.PRESENCE answers for a room whose members share its slot (one hash tag); \
             ask CHAT.PROFILE of each member instead, as the client libraries do",
        )?;
        let user = store::open_id::<User>(ctx, member, Access::Read)?;
        if user.get().is_some_and(|u| u.online(now)) {
            online.push(member.as_bytes().to_vec());
        }
    }
    Ok(Reply::bulks(online))
}
