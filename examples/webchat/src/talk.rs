//! Conversations: threads, reactions, mentions and pins, as one tab asks
//! for them (socket.rs checks first that the user is a member of the room).
//!
//! The module tells a change to the other members, never to the member who
//! made it: the user's own tabs hear of their reactions and pins from here,
//! as they do of their edits. In a broadcast room the room channel may
//! bring the same event once more; the page takes each change once.

use std::collections::{BTreeMap, HashSet};

use futures_util::future::join_all;
use serde_json::{json, Value as Json};

use crate::chat::{Chat, ChatResult};
use crate::App;

/// Replies per page of a thread.
pub const THREAD_PAGE: u32 = 100;
/// The most members one message may mention (the module's limit).
const MENTIONS_MAX: usize = 50;
/// Names looked at per message: more `@` words than this are text.
const NAMES_MAX: usize = 100;

/// Adds `"mine"` to each message document: the reactions `me` gave it,
/// which the page needs to show its own and to take one back. A document
/// with `"mine"` is as the history holds it now, so the page also takes
/// its reaction and reply counts as they are.
pub async fn mark_mine(chat: &Chat, me: &str, room: &str, docs: &mut [Json]) {
    let reacted: Vec<usize> = (0..docs.len())
        .filter(|&i| {
            docs[i]["reactions"]
                .as_object()
                .is_some_and(|r| !r.is_empty())
        })
        .collect();
    let lists = join_all(reacted.iter().map(|&i| {
        let id = docs[i]["id"].as_i64().unwrap_or(0);
        chat.reactions(room, id)
    }))
    .await;
    let mut mine: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (i, list) in reacted.into_iter().zip(lists) {
        match list {
            Ok(list) => {
                let given = list
                    .into_iter()
                    .filter(|(_, users)| users.iter().any(|u| u == me))
                    .map(|(reaction, _)| reaction)
                    .collect();
                mine.insert(i, given);
            }
            // Without it the page shows the counts, and learns its own
            // reactions when it toggles one.
            Err(e) => eprintln!("webchat: CHAT.REACTIONS {room}: {e}"),
        }
    }
    for (i, doc) in docs.iter_mut().enumerate() {
        if doc["type"] == "message" {
            if let Some(given) = mine.remove(&i) {
                doc["mine"] = json!(given);
            } else if doc.get("reactions").is_none() {
                doc["mine"] = json!([]);
            }
        }
    }
}

/// The members of `room` among the names the user wrote as `@name`, each
/// once and without the sender: the module refuses to mention anyone who
/// is not a member, and a word after an `@` may be no user at all.
pub async fn members_among(
    chat: &Chat,
    room: &str,
    me: &str,
    names: Vec<String>,
) -> ChatResult<Vec<String>> {
    let mut seen = HashSet::new();
    let names: Vec<String> = names
        .into_iter()
        .take(NAMES_MAX)
        .filter(|n| !n.is_empty() && n.len() <= 128 && n != me && seen.insert(n.clone()))
        .collect();
    let cursors = join_all(names.iter().map(|n| chat.cursor(room, n))).await;
    let mut members = Vec::new();
    for (name, cursor) in names.into_iter().zip(cursors) {
        match cursor {
            Ok(Some(_)) if members.len() < MENTIONS_MAX => members.push(name),
            Ok(_) => {}
            // No such user, or not a user name at all: not mentioned.
            Err(e) if e.refused => {}
            Err(e) => return Err(e),
        }
    }
    Ok(members)
}

/// Room -> messages after the user's read cursor that mention them, for
/// the badges of the room list: CHAT.MENTIONS, or, where it answers
/// CROSSSLOT (a cluster, with the user's rooms in other slots), each
/// room's CHAT.CURSOR. Badges are not worth failing a sign-in for: a room
/// whose count cannot be read shows none.
pub async fn mention_counts(chat: &Chat, user: &str, rooms: &[String]) -> BTreeMap<String, i64> {
    match chat.mentions(user).await {
        Ok(counts) => return counts,
        Err(e) if e.message.starts_with("CROSSSLOT") => {}
        Err(e) => {
            eprintln!("webchat: CHAT.MENTIONS {user}: {e}");
            return BTreeMap::new();
        }
    }
    let counts = join_all(rooms.iter().map(|room| chat.mentions_in(room, user))).await;
    rooms
        .iter()
        .zip(counts)
        .filter_map(|(room, n)| match n {
            Ok(n) if n > 0 => Some((room.clone(), n)),
            Ok(_) => None,
            Err(e) => {
                eprintln!("webchat: mentions of {user} in {room}: {e}");
                None
            }
        })
        .collect()
}

/// A page of a thread: `{"docs": [root, replies...]}` (with `after`, only
/// replies), and whether more replies follow.
pub async fn thread(
    chat: &Chat,
    me: &str,
    room: &str,
    root: i64,
    after: Option<i64>,
) -> ChatResult<Json> {
    let mut docs = chat.thread(room, root, after, THREAD_PAGE).await?;
    mark_mine(chat, me, room, &mut docs).await;
    let replies = docs
        .iter()
        .filter(|d| d["type"] == "message" && d["id"].as_i64() != Some(root))
        .count();
    Ok(json!({"docs": docs, "more": replies >= THREAD_PAGE as usize}))
}

/// Adds or takes back a reaction. `changed` is false when the user already
/// had it (or did not): the page then knows where it stands.
pub async fn react(
    app: &App,
    me: &str,
    room: &str,
    id: i64,
    reaction: &str,
    on: bool,
) -> ChatResult<Json> {
    let changed = app.chat.react(room, me, id, reaction, on).await?;
    if changed {
        let doc = json!({
            "type": "reaction", "room": room, "id": id, "user": me,
            "reaction": reaction, "added": on,
        });
        app.hubs.notify(me, &json!({"t": "push", "doc": doc}));
    }
    Ok(json!({ "changed": changed }))
}

/// Pins or unpins a message; the user's tabs read the pins again.
pub async fn pin(app: &App, me: &str, room: &str, id: i64, on: bool) -> ChatResult<Json> {
    app.chat.pin(room, me, id, on).await?;
    let kind = if on { "pin" } else { "unpin" };
    let doc = json!({"type": kind, "room": room, "id": id, "user": me});
    app.hubs.notify(me, &json!({"t": "push", "doc": doc}));
    Ok(json!({}))
}
