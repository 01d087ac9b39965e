//! CHAT.EDIT and CHAT.DELETE: authors change what they sent.
//!
//! A stream entry cannot be rewritten, so the latest change of a message is
//! kept beside the history, in the room's `changes` hash, and HISTORY and
//! FETCH show the message as changed. A deleted message's entry is removed
//! from the history (its text is gone); what remains is a tombstone with
//! its id, sender and time, so that ids stay without gaps.

use chat_core::event::Event;
use chat_core::keys::RoomKey;
use chat_core::message::{Change, Message};
use chat_core::request::Change as ChangeRequest;
use chat_core::ChatError;

use super::{listeners, require_member, tell_room, Args};
use crate::config::limits;
use crate::reply::Reply;
use crate::store::{now_ms, Ctx, Key, Kind, RStr, StreamId};

/// CHAT.EDIT <room> <user> <id> <text>
pub fn edit(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    change(ctx, ChangeRequest::parse_edit(args, &limits())?)
}

/// CHAT.DELETE <room> <user> <id>
pub fn delete(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    change(ctx, ChangeRequest::parse_delete(args)?)
}

fn change(ctx: Ctx, req: ChangeRequest) -> Result<Reply, ChatError> {
    let (room, user, id) = (req.room.as_str(), req.user.as_str(), req.id);
    require_member(ctx, room, user)?;
    let log = Key::write(ctx, &RoomKey::Log.of(room), Kind::Stream)?;
    let changes = Key::write(ctx, &RoomKey::Changes.of(room), Kind::Hash)?;
    let listeners = listeners(ctx, room)?;
    let at = StreamId { ms: id, seq: 0 };
    let mut sent = None;
    log.stream_range(at, at, false, 1, |_, fields| {
        sent = Some(Message::from_log_entry(room, id, fields.iter().copied()));
        false
    });
    let Some(sent) = sent else {
        return Err(ChatError::NoSuchMessage(id));
    };
    if sent.sender != user {
        return Err(ChatError::NotAuthor);
    }

    let now = now_ms();
    let (change, event) = match req.text {
        Some(text) => (
            Change::Edited {
                at: now,
                text: text.into(),
            },
            Event::Edit {
                room,
                id,
                sender: user,
                text,
                edited: now,
            },
        ),
        None => (
            Change::Deleted {
                at: now,
                ts: sent.ts,
                sender: user.into(),
            },
            Event::Delete {
                room,
                id,
                sender: user,
            },
        ),
    };
    let field = RStr::from_int(ctx, id as i64);
    changes.hash_set(&[(field.ptr(), RStr::new(ctx, &change.encode()).ptr())]);
    if change.is_deletion() {
        log.stream_delete(at);
    }
    tell_room(ctx, room, listeners, user, &event);
    Ok(Reply::Ok)
}
