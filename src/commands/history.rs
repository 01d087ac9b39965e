//! CHAT.HISTORY <room> [BEFORE <id> | AFTER <id>] [COUNT <n>]

use chat_core::request::History;
use chat_core::ChatError;

use super::{existing_room, Args};
use crate::reply::{Page, Reply};
use crate::store::{Access, Ctx};

/// A page of the room's messages, always ascending by id. Edited messages
/// show their latest text; a deleted message shows as a tombstone, so that
/// ids stay without gaps.
pub fn history(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = History::parse(args)?;
    let key = existing_room(ctx, args, 0, Access::Read)?;
    let room = key.value()?;
    let room_id = req.room.as_str();
    let mut page = Page::with_capacity(req.count.min(room.messages_kept() as usize));
    for (id, m) in room.page(req.cursor, req.count) {
        page.push_with(|out| room.document(room_id, id, &m).write_json(None, out));
    }
    Ok(Reply::Page(page))
}
