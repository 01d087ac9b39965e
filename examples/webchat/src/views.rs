//! A room as the page sees it: its entry in the room list, and what
//! opening it brings (socket.rs checks first that the user is a member).

use serde_json::{json, Value as Json};

use crate::chat::{is_direct, Chat, ChatError, ChatResult, Page};
use crate::talk;

/// A page of history.
pub const PAGE: u32 = 50;
/// Rooms with more members show no per-member read receipts.
pub const RECEIPTS_MAX_MEMBERS: i64 = 100;
/// Rooms with more members send the page no list of roles: it knows the
/// owners (from CHAT.INFO) and nothing of the admins.
pub const ROLES_MAX_MEMBERS: i64 = 500;

/// Whether a full page of history may have older messages before it: it is
/// full and does not start at message 1.
pub fn has_older(messages: &[Json]) -> bool {
    messages.len() == PAGE as usize
        && messages.first().and_then(|m| m["id"].as_i64()).unwrap_or(1) > 1
}

/// A room as the page shows it in its list; None for a room that is gone.
pub async fn describe(
    chat: &Chat,
    me: &str,
    room: &str,
    unread: i64,
    mentions: i64,
) -> ChatResult<Option<Json>> {
    let Some(info) = chat.info(room).await? else {
        return Ok(None);
    };
    let mut dm = Json::Null;
    if is_direct(room) {
        let members = chat.members(room).await?;
        if let Some(other) = members.into_iter().find(|m| m != me) {
            let name = chat.profile_name(&other).await?;
            dm = json!({"user": other, "name": name.unwrap_or_else(|| other.clone())});
        }
    }
    Ok(Some(json!({
        "id": info.id,
        "title": info.title,
        "mode": info.mode,
        "members": info.members,
        "last_id": info.last_id,
        "cursor": (info.last_id - unread).max(0),
        "mentions": mentions,
        "dm": dm,
        "private": info.private,
        "slowmode": info.slowmode,
        "owners": info.owners,
        // The page compares it with the one of the messages it shows: if
        // another, it reads the room afresh.
        "epoch": info.epoch,
    })))
}

/// What the page needs to show a room it opens: its entry, the newest page
/// of messages (each with the user's own reactions), pins, the members
/// with their read receipts and names (in rooms of at most
/// RECEIPTS_MAX_MEMBERS), and each member's role. Who is online comes in
/// `presence` frames (presence.rs).
pub async fn open(
    chat: &Chat,
    me: &str,
    room: &str,
    unread: i64,
    mentions: i64,
) -> ChatResult<Json> {
    let Some(view) = describe(chat, me, room, unread, mentions).await? else {
        return Err(ChatError::new("no such room"));
    };
    let mut messages = chat.history(room, Page::Newest, PAGE).await?;
    talk::mark_mine(chat, me, room, &mut messages).await;
    let older = has_older(&messages);
    let pins = chat.pins(room).await?;
    let members = view["members"].as_i64().unwrap_or(0);
    let (mut reads, mut names) = (Json::Null, serde_json::Map::new());
    if members <= RECEIPTS_MAX_MEMBERS {
        let cursors = chat.read_cursors(room).await?;
        for user in cursors.keys() {
            if let Some(name) = chat.profile_name(user).await? {
                names.insert(user.clone(), json!(name));
            }
        }
        reads = json!(cursors);
    }
    let roles = if members <= ROLES_MAX_MEMBERS && !is_direct(room) {
        roles(chat, room).await
    } else {
        Json::Null
    };
    Ok(json!({
        "room": view,
        "messages": messages,
        "older": older,
        "reads": reads,
        "names": names,
        "pins": pins,
        "roles": roles,
    }))
}

/// Member -> role, or null where the module keeps none (one without
/// moderation): the page then shows no roles.
pub async fn roles(chat: &Chat, room: &str) -> Json {
    match chat.roles(room).await {
        Ok(roles) => json!(roles),
        Err(e) => {
            eprintln!("webchat: CHAT.MEMBERS {room} WITHROLES: {e}");
            Json::Null
        }
    }
}
