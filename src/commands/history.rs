//! CHAT.HISTORY <room> [BEFORE <id> | AFTER <id>] [COUNT <n>]

use chat_core::keys::RoomKey;
use chat_core::message::Message;
use chat_core::request::{Cursor, History};
use chat_core::ChatError;

use super::{require_room, Args};
use crate::reply::Reply;
use crate::store::{Ctx, Key, Kind, StreamId, STREAM_ID_MAX, STREAM_ID_MIN};

/// A page of the room log, always ascending by id. Message n is the stream
/// entry `n-0`, so each cursor is a plain stream range.
pub fn history(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = History::parse(args)?;
    let room = req.room.as_str();
    require_room(ctx, room)?;
    let log = Key::read(ctx, &RoomKey::Log.of(room), Kind::Stream)?;

    // Newest-first pages are read backwards, then turned around.
    let (from, to, backwards) = match req.cursor {
        Cursor::Latest => (STREAM_ID_MIN, STREAM_ID_MAX, true),
        Cursor::Before(0) => return Ok(Reply::Array(Vec::new())),
        Cursor::Before(id) => (
            STREAM_ID_MIN,
            StreamId {
                ms: id - 1,
                seq: u64::MAX,
            },
            true,
        ),
        Cursor::After(id) => (
            StreamId {
                ms: id.saturating_add(1),
                seq: 0,
            },
            STREAM_ID_MAX,
            false,
        ),
    };
    let mut page = Vec::with_capacity(req.count);
    log.stream_range(from, to, backwards, req.count, |entry, fields| {
        let message = Message::from_log_entry(room, entry.ms, fields.iter().copied());
        page.push(Reply::Bulk(message.to_json()));
    });
    if backwards {
        page.reverse();
    }
    Ok(Reply::Array(page))
}
