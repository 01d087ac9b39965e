//! CHAT.HISTORY <room> [BEFORE <id> | AFTER <id>] [COUNT <n>] [EPOCH <epoch>]

use chat_core::data::room::Gap;
use chat_core::data::Room;
use chat_core::event::Event;
use chat_core::request::{Cursor, History};
use chat_core::ChatError;

use super::{existing_room, Args};
use crate::reply::{Page, Reply};
use crate::store::{Access, Ctx};

/// A page of the room's messages, always ascending by id. Edited messages
/// show their latest text; a deleted message shows as a tombstone, so that
/// ids stay without gaps. A page after an id whose next messages
/// retention removed starts with a gap document saying which. A client
/// whose ids are not the room's (another epoch, or an id the room never
/// reached) gets the reset document and the newest messages instead.
pub fn history(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = History::parse(args)?;
    let key = existing_room(ctx, args, 0, Access::Read)?;
    let room = key.value()?;
    let room_id = req.room.as_str();
    let mut page = Page::with_capacity(req.count.min(room.messages_kept() as usize) + 1);
    let after = match req.cursor {
        Cursor::After(id) => Some(id),
        _ => None,
    };
    let mut cursor = req.cursor;
    if room.needs_reset(req.epoch, after) {
        push_reset(&mut page, room_id, room);
        cursor = Cursor::Latest;
    } else if let Some(after) = after {
        push_gap(&mut page, room_id, room.gap_after(after));
    }
    for (id, m) in room.page(cursor, req.count) {
        page.push_with(|out| room.document(room_id, id, &m).write_json(None, out));
    }
    Ok(Reply::Page(page))
}

/// Starts a page with the reset document: the client's ids are not the
/// room's (docs/delivery.md), and the page that follows replaces them.
pub fn push_reset(page: &mut Page, room_id: &str, room: &Room) {
    let epoch = room.epoch().to_string();
    let event = Event::Reset {
        room: room_id,
        epoch: &epoch,
        last_id: room.last_id(),
    };
    page.push_with(|out| out.extend_from_slice(&event.to_json()));
}

/// Starts a page with the gap document, if there is a gap.
pub fn push_gap(page: &mut Page, room: &str, gap: Option<Gap>) {
    if let Some(Gap { after, before }) = gap {
        let event = Event::HistoryGap {
            room,
            after,
            before,
        };
        page.push_with(|out| out.extend_from_slice(&event.to_json()));
    }
}
