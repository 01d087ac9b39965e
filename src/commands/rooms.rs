//! CHAT.CREATE, CHAT.INFO, CHAT.SUBSCRIBE, CHAT.UNSUBSCRIBE, CHAT.MEMBERS,
//! CHAT.COUNTS

use chat_core::keys::{roster_line, roster_without, RoomKey, UserKey};
use chat_core::request::{parse_room, Create, Membership};
use chat_core::ChatError;

use super::{in_cluster, require_room, require_user, Args};
use crate::config::limits;
use crate::reply::{field, Reply};
use crate::store::{now_ms, words, Ctx, Key, Kind, RStr};

/// CHAT.CREATE <room> <title>
pub fn create(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Create::parse(args, &limits())?;
    let meta = Key::write(ctx, &RoomKey::Meta.of(req.room.as_str()), Kind::Hash)?;
    if meta.exists() {
        return Err(ChatError::RoomExists);
    }
    let title = RStr::new(ctx, req.title.as_bytes());
    let created = RStr::from_int(ctx, now_ms());
    let zero = RStr::from_int(ctx, 0);
    let (title_field, created_field) = (RStr::new(ctx, b"title"), RStr::new(ctx, b"created"));
    meta.hash_set(&[
        (title_field.ptr(), title.ptr()),
        (created_field.ptr(), created.ptr()),
        (words().last_id.ptr(), zero.ptr()),
    ]);
    Ok(Reply::Ok)
}

/// CHAT.INFO <room>
pub fn info(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let room = parse_room("chat.info", args)?;
    let meta = Key::read(ctx, &RoomKey::Meta.of(room.as_str()), Kind::Hash)?;
    if !meta.exists() {
        return Ok(Reply::Nil);
    }
    let members = Key::read(ctx, &RoomKey::Members.of(room.as_str()), Kind::Hash)?;
    let log = Key::read(ctx, &RoomKey::Log.of(room.as_str()), Kind::Stream)?;
    Ok(Reply::Map(vec![
        field("id", Reply::Bulk(room.as_str().as_bytes().to_vec())),
        field(
            "title",
            Reply::Bulk(meta.hash_get(b"title").unwrap_or_default()),
        ),
        field(
            "created",
            Reply::Int(meta.hash_get_int(b"created")?.unwrap_or(0)),
        ),
        field("members", Reply::Int(members.len() as i64)),
        field("messages", Reply::Int(log.len() as i64)),
        field(
            "last_id",
            Reply::Int(meta.hash_get_int(&words().last_id)?.unwrap_or(0)),
        ),
    ]))
}

/// CHAT.SUBSCRIBE <room> <user>
///
/// Membership is recorded on both sides: the room's member hash and the
/// user's room hash, each with the time of joining. Subscribing again
/// changes nothing. Replies the user's push channel; in Redis Cluster, where
/// live messages go through sharded pub/sub, `["SSUBSCRIBE", channel]`, so a
/// client cannot mistake which command reaches them.
pub fn subscribe(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Membership::parse("chat.subscribe", args)?;
    let (room, user) = (req.room.as_str(), req.user.as_str());
    require_room(ctx, room)?;
    require_user(ctx, user)?;
    let members = Key::write(ctx, &RoomKey::Members.of(room), Kind::Hash)?;
    let roster = Key::write(ctx, &RoomKey::Roster.of(room), Kind::String)?;
    let rooms = Key::write(ctx, &UserKey::Rooms.of(user), Kind::Hash)?;
    let now = RStr::from_int(ctx, now_ms());
    if !members.hash_exists(user.as_bytes()) {
        members.hash_set(&[(RStr::new(ctx, user.as_bytes()).ptr(), now.ptr())]);
        roster.string_append(&roster_line(user));
    }
    if !rooms.hash_exists(room.as_bytes()) {
        rooms.hash_set(&[(RStr::new(ctx, room.as_bytes()).ptr(), now.ptr())]);
    }
    let channel = UserKey::Channel.of(user);
    if in_cluster(ctx) {
        return Ok(Reply::Array(vec![
            Reply::Bulk(b"SSUBSCRIBE".to_vec()),
            Reply::Bulk(channel),
        ]));
    }
    Ok(Reply::Bulk(channel))
}

/// CHAT.UNSUBSCRIBE <room> <user>
pub fn unsubscribe(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Membership::parse("chat.unsubscribe", args)?;
    let (room, user) = (req.room.as_str(), req.user.as_str());
    let members = Key::write(ctx, &RoomKey::Members.of(room), Kind::Hash)?;
    let roster = Key::write(ctx, &RoomKey::Roster.of(room), Kind::String)?;
    let rooms = Key::write(ctx, &UserKey::Rooms.of(user), Kind::Hash)?;
    let was_member = members.hash_del(user.as_bytes());
    rooms.hash_del(room.as_bytes());
    let rest = roster.string_bytes().and_then(|r| roster_without(r, user));
    match rest {
        Some(rest) if rest.is_empty() => {
            roster.delete();
        }
        Some(rest) => roster.string_set(&rest),
        None => {}
    }
    Ok(Reply::Int(i64::from(was_member)))
}

/// CHAT.MEMBERS <room>
pub fn members(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let room = parse_room("chat.members", args)?;
    require_room(ctx, room.as_str())?;
    let members = Key::read(ctx, &RoomKey::Members.of(room.as_str()), Kind::Hash)?;
    Ok(Reply::bulks(members.hash_fields()))
}

/// CHAT.COUNTS <room>
pub fn counts(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let room = parse_room("chat.counts", args)?;
    require_room(ctx, room.as_str())?;
    let counts = Key::read(ctx, &RoomKey::Counts.of(room.as_str()), Kind::Hash)?;
    let pairs = counts
        .hash_entries()
        .into_iter()
        .map(|(sender, n)| {
            (
                sender,
                Reply::Int(chat_core::message::parse_i64(&n).unwrap_or(0)),
            )
        })
        .collect();
    Ok(Reply::Map(pairs))
}
