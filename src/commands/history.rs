//! CHAT.HISTORY <room> [BEFORE <id> | AFTER <id>] [COUNT <n>]

use std::collections::BTreeMap;

use chat_core::keys::RoomKey;
use chat_core::message::{parse_i64, Change, Message};
use chat_core::request::{Cursor, History};
use chat_core::ChatError;

use super::{require_room, Args};
use crate::reply::Reply;
use crate::store::{Ctx, Key, Kind, StreamId, STREAM_ID_MAX, STREAM_ID_MIN};

/// A page of the room log, always ascending by id. Message n is the stream
/// entry `n-0`, so each cursor is a plain stream range. Edits recorded for a
/// message show in its document; a deleted message, whose entry is gone from
/// the stream, shows as a tombstone, so that ids stay without gaps.
pub fn history(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = History::parse(args)?;
    let room = req.room.as_str();
    require_room(ctx, room)?;
    let log = Key::read(ctx, &RoomKey::Log.of(room), Kind::Stream)?;
    let changes = room_changes(ctx, room)?;

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
    let (lowest, highest) = (from.ms, to.ms);
    // Deleted messages in the range, in the order the page is read.
    let mut deleted: Vec<u64> = changes
        .iter()
        .filter(|(id, c)| c.is_deletion() && (lowest..=highest).contains(*id))
        .map(|(id, _)| *id)
        .collect();
    if backwards {
        deleted.reverse();
    }
    let mut deleted = deleted.into_iter().peekable();

    let mut page = Vec::with_capacity(req.count);
    let tombstone = |id: u64| {
        let mut message = Message::from_log_entry(room, id, []);
        if let Some(change) = changes.get(&id) {
            message.apply(change);
        }
        Reply::Bulk(message.to_json())
    };
    log.stream_range(from, to, backwards, req.count, |entry, fields| {
        // Tombstones of deleted messages that come before this entry.
        while let Some(&id) = deleted.peek() {
            let before = if backwards {
                id > entry.ms
            } else {
                id < entry.ms
            };
            if !before || page.len() == req.count {
                break;
            }
            page.push(tombstone(id));
            deleted.next();
        }
        if page.len() == req.count {
            return false;
        }
        let mut message = Message::from_log_entry(room, entry.ms, fields.iter().copied());
        if let Some(change) = changes.get(&entry.ms) {
            message.apply(change);
        }
        page.push(Reply::Bulk(message.to_json()));
        page.len() < req.count
    });
    // Deleted messages past the last entry read (the newest, or the oldest).
    while page.len() < req.count {
        let Some(id) = deleted.next() else { break };
        page.push(tombstone(id));
    }
    if backwards {
        page.reverse();
    }
    Ok(Reply::Array(page))
}

/// What the room recorded about edited and deleted messages, by id.
pub fn room_changes(ctx: Ctx, room: &str) -> Result<BTreeMap<u64, Change<'static>>, ChatError> {
    let changes = Key::read(ctx, &RoomKey::Changes.of(room), Kind::Hash)?;
    Ok(changes
        .hash_entries()
        .into_iter()
        .filter_map(|(id, change)| Some((parse_i64(&id)? as u64, Change::decode(&change)?)))
        .collect())
}
