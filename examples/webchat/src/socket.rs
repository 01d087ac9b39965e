//! One browser tab's WebSocket.
//!
//! The tab sends JSON requests `{"op": ..., "req": n, ...}` and gets
//! `{"t": "reply", "req": n, "data": ...}` or `{"t": "reply", "req": n,
//! "error": "..."}` back. Besides replies the server sends:
//!
//! * `ready`: the user, their rooms, unread and mention counts, and
//!   pending invitations, once signed in;
//! * `missed`: messages of a room after the user's read cursor (first a gap
//!   document if retention removed some of them);
//! * `inbox`: a page of the user's inbox (first a gap document if the inbox
//!   dropped copies past its limit); the tab answers `ack` once it has
//!   shown it, and the server sends the next page (an empty one at the end);
//! * `push`: a message or an event, live from the user's channels;
//! * `presence`: `{"online": {"bob": true}}`, who of the people the user
//!   sees came online or went offline (ready has them all as they are);
//! * `resync`: a room changed mode, catch up on it; `reconnect`: listening
//!   for the user stopped for good (the listener retries a broken link to
//!   Redis by itself), connect again.
//!
//! The first frame must be `{"op": "auth", "token": ...}`. The tab acts only
//! as its signed-in user, and reads only rooms that user is a member of.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use serde::Deserialize;
use serde_json::{json, Value as Json};
use tokio::sync::broadcast::error::RecvError;

use redis_chat_client::Cursor;

use crate::chat::{ChatError, ChatResult, Page};
use crate::hub::Frame;
use crate::requests::{Op, Request};
use crate::views::{self, has_older, PAGE};
use crate::App;
use crate::{moderation, talk};

/// Messages sent in one catch-up frame per room.
const CATCH_UP: u32 = 200;
const INBOX_PAGE: u32 = 100;
/// A page says "typing" every few seconds, and again right after a send;
/// more often than this is dropped.
const TYPING_MIN_GAP: Duration = Duration::from_millis(250);
/// At most this many rooms are remembered for TYPING_MIN_GAP.
const TYPING_ROOMS_MAX: usize = 64;
const PING_EVERY: Duration = Duration::from_secs(15);
const SILENT_MAX: Duration = Duration::from_secs(45);
/// A frame the page has not taken in this long ends the tab.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The socket is gone; stop serving it.
struct Gone;

struct Conn {
    app: Arc<App>,
    user: String,
    token: String,
    typing_sent: HashMap<String, Instant>,
}

pub async fn serve(mut socket: WebSocket, app: Arc<App>) {
    let Some((user, token)) = authenticate(&mut socket, &app).await else {
        return;
    };
    let mut tab = match app.hubs.attach(&user).await {
        Ok(tab) => tab,
        Err(e) => {
            let _ = send(&mut socket, &json!({"t": "error", "message": e.message})).await;
            close(&mut socket).await;
            return;
        }
    };
    let mut conn = Conn {
        app,
        user,
        token,
        typing_sent: HashMap::new(),
    };
    if conn.start(&mut socket).await.is_err() {
        return;
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut heard = Instant::now();
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                heard = Instant::now();
                match incoming {
                    Some(Ok(Message::Text(text))) => {
                        if conn.handle(&mut socket, text.as_str()).await.is_err() {
                            break;
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                }
            }
            pushed = tab.rx.recv() => {
                let frame = match pushed {
                    Ok(frame) => frame,
                    // More frames than the hub keeps (512) went by unsent:
                    // the socket closes, and the page connects again and
                    // asks for the messages after the newest it has (an edit
                    // or a receipt it missed shows when the room is opened).
                    Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => break,
                };
                match frame {
                    Frame::Json(text) => {
                        if send_message(&mut socket, Message::Text(text.to_string().into())).await.is_err() {
                            break;
                        }
                    }
                    Frame::Reconnect => {
                        let _ = send(&mut socket, &json!({"t": "reconnect"})).await;
                        break;
                    }
                    Frame::SignedOutExcept(keep) => {
                        if *keep != *conn.token {
                            let _ = send(&mut socket, &signed_out()).await;
                            break;
                        }
                    }
                }
            }
            _ = ping.tick() => {
                if heard.elapsed() > SILENT_MAX {
                    break;
                }
                // An open tab keeps its session alive; one that ended
                // (signed out elsewhere, expired) closes the tab.
                if conn.app.sessions.user(&conn.token).as_deref() != Some(conn.user.as_str()) {
                    let _ = send(&mut socket, &signed_out()).await;
                    break;
                }
                if send_message(&mut socket, Message::Ping(Vec::new().into())).await.is_err() {
                    break;
                }
            }
        }
    }
    close(&mut socket).await;
    // Dropping the tab closes the user's share of the hub; the last tab to
    // close makes the user offline.
    drop(tab);
}

async fn send(socket: &mut WebSocket, value: &Json) -> Result<(), Gone> {
    send_message(socket, Message::Text(value.to_string().into())).await
}

/// Every frame to a page goes through here: a page that stops reading is
/// given up on after SEND_TIMEOUT, so its tab closes and the user's
/// presence and listener are released.
async fn send_message(socket: &mut WebSocket, message: Message) -> Result<(), Gone> {
    match tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) | Err(_) => Err(Gone),
    }
}

/// Says goodbye, briefly: a page that does not read does not hold us up.
async fn close(socket: &mut WebSocket) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.send(Message::Close(None))).await;
}

/// Now, in milliseconds since 1970, as the module's `ts`.
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Unread messages in a room, as the page counts them.
fn unread(cursor: &Cursor) -> i64 {
    i64::try_from(cursor.unread).unwrap_or(i64::MAX)
}

fn signed_out() -> Json {
    json!({"t": "signed_out", "message": "your session has ended; sign in again"})
}

/// Waits for the auth frame; the user it names and the token, or None (the
/// socket is then told why and closed).
async fn authenticate(socket: &mut WebSocket, app: &App) -> Option<(String, String)> {
    #[derive(Deserialize)]
    struct Auth {
        op: String,
        token: String,
    }
    let first = tokio::time::timeout(Duration::from_secs(10), socket.recv()).await;
    let user = match first {
        Ok(Some(Ok(Message::Text(text)))) => match serde_json::from_str::<Auth>(text.as_str()) {
            Ok(auth) if auth.op == "auth" => app
                .sessions
                .user(&auth.token)
                .map(|user| (user, auth.token)),
            _ => None,
        },
        _ => None,
    };
    if user.is_none() {
        let _ = send(socket, &signed_out()).await;
        close(socket).await;
    }
    user
}

impl Conn {
    /// After listening has started: the user's rooms and unread counts, what
    /// they missed in each room, then the first page of their inbox.
    async fn start(&mut self, socket: &mut WebSocket) -> Result<(), Gone> {
        let ready = match self.ready().await {
            Ok(ready) => ready,
            Err(e) => {
                send(socket, &json!({"t": "error", "message": e.message})).await?;
                return Err(Gone);
            }
        };
        let rooms: Vec<(String, i64, i64)> = ready["rooms"]
            .as_array()
            .map(|rooms| {
                rooms
                    .iter()
                    .filter_map(|r| {
                        Some((
                            r["id"].as_str()?.to_string(),
                            r["cursor"].as_i64()?,
                            r["last_id"].as_i64()?,
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        send(socket, &ready).await?;
        // Unread messages of every room, from the history: this covers the
        // broadcast rooms, which keep no inbox copies.
        for (room, cursor, last_id) in rooms {
            if last_id > cursor {
                match self.history(&room, Page::After(cursor), CATCH_UP).await {
                    Ok(messages) => {
                        send(
                            socket,
                            &json!({"t": "missed", "room": room, "messages": messages}),
                        )
                        .await?
                    }
                    Err(e) => eprintln!("webchat: catching up {room} for {}: {e}", self.user),
                }
            }
        }
        self.send_inbox(socket).await
    }

    async fn ready(&self) -> ChatResult<Json> {
        let chat = &self.app.chat;
        let name = chat
            .profile_name(&self.user)
            .await?
            .unwrap_or_else(|| self.user.clone());
        let cursors = chat.cursors(&self.user).await?;
        let ids: Vec<String> = cursors.keys().cloned().collect();
        let mentions = talk::mention_counts(chat, &self.user, &ids).await;
        let mut rooms = Vec::new();
        for (room, cursor) in cursors {
            let mentioned = mentions.get(&room).copied().unwrap_or(0);
            if let Some(view) = self.describe(&room, unread(&cursor), mentioned).await? {
                rooms.push(view);
            }
        }
        let invites = moderation::invites(chat, &self.user).await;
        let online = self.app.hubs.online_seen_by(&self.user);
        Ok(json!({
            "t": "ready", "user": self.user, "name": name, "rooms": rooms, "invites": invites,
            "online": online,
        }))
    }

    /// The next page of the inbox; an empty page says the inbox is drained.
    async fn send_inbox(&self, socket: &mut WebSocket) -> Result<(), Gone> {
        let page = match self.app.chat.fetch(&self.user, INBOX_PAGE).await {
            Ok(page) => page,
            Err(e) => {
                eprintln!("webchat: CHAT.FETCH {}: {e}", self.user);
                Vec::new()
            }
        };
        let delivery = page
            .last()
            .map(|d| d["delivery"].clone())
            .unwrap_or(Json::Null);
        send(
            socket,
            &json!({"t": "inbox", "messages": page, "delivery": delivery}),
        )
        .await
    }

    /// Messages of a room, each marked with the user's own reactions.
    async fn history(&self, room: &str, page: Page, count: u32) -> ChatResult<Vec<Json>> {
        let mut docs = self.app.chat.history(room, page, count).await?;
        talk::mark_mine(&self.app.chat, &self.user, room, &mut docs).await;
        Ok(docs)
    }

    /// The messages after the user's read cursor in `room` that mention
    /// them.
    async fn mentions_in(&self, room: &str) -> ChatResult<i64> {
        self.app.chat.mentions_in(room, &self.user).await
    }

    /// A room as the page shows it in its list.
    async fn describe(&self, room: &str, unread: i64, mentions: i64) -> ChatResult<Option<Json>> {
        views::describe(&self.app.chat, &self.user, room, unread, mentions).await
    }

    async fn my_rooms(&self) -> ChatResult<HashSet<String>> {
        Ok(self.app.chat.rooms(&self.user).await?.into_iter().collect())
    }

    /// The user's read state in `room`, or an error if they are not a
    /// member (asked of the room, which keeps the membership).
    async fn check_member(&self, room: &str) -> ChatResult<Cursor> {
        match self.app.chat.cursor(room, &self.user).await {
            Ok(Some(cursor)) => Ok(cursor),
            Ok(None) => Err(ChatError::new("you are not a member of that room")),
            Err(e) if e.refused => Err(ChatError::new("you are not a member of that room")),
            Err(e) => Err(e),
        }
    }

    async fn handle(&mut self, socket: &mut WebSocket, text: &str) -> Result<(), Gone> {
        let request: Request = match serde_json::from_str(text) {
            Ok(r) => r,
            Err(_) => {
                return send(
                    socket,
                    &json!({"t": "error", "message": "the server did not understand a request from this page; reload it"}),
                )
                .await;
            }
        };
        let result = self.op(socket, request.op).await;
        match (request.req, result) {
            (Some(req), Ok(data)) => {
                send(socket, &json!({"t": "reply", "req": req, "data": data})).await
            }
            (Some(req), Err(e)) => {
                send(
                    socket,
                    &json!({"t": "reply", "req": req, "error": e.message}),
                )
                .await
            }
            (None, Ok(_)) => Ok(()),
            (None, Err(e)) => send(socket, &json!({"t": "error", "message": e.message})).await,
        }
    }

    async fn op(&mut self, socket: &mut WebSocket, op: Op) -> ChatResult<Json> {
        let chat = self.app.chat.clone();
        let me = self.user.clone();
        match op {
            Op::Ping => Ok(json!("pong")),
            Op::Open { room } => {
                let cursor = self.check_member(&room).await?;
                let mentions = self.mentions_in(&room).await?;
                views::open(&chat, &me, &room, unread(&cursor), mentions).await
            }
            Op::Older { room, before } => {
                self.check_member(&room).await?;
                let messages = self
                    .history(&room, Page::Before(before.max(0)), PAGE)
                    .await?;
                let older = has_older(&messages);
                Ok(json!({"messages": messages, "older": older}))
            }
            Op::After { room, after, count } => {
                self.check_member(&room).await?;
                let messages = self
                    .history(&room, Page::After(after.max(0)), count.clamp(1, CATCH_UP))
                    .await?;
                Ok(json!({ "messages": messages }))
            }
            Op::Catchup { rooms } => {
                let mine = self.my_rooms().await?;
                for (room, last) in rooms.into_iter().take(500) {
                    if !mine.contains(&room) {
                        continue;
                    }
                    let messages = self
                        .history(&room, Page::After(last.max(0)), CATCH_UP)
                        .await?;
                    if !messages.is_empty() {
                        send(
                            socket,
                            &json!({"t": "missed", "room": room, "messages": messages}),
                        )
                        .await
                        .map_err(|_| ChatError::new("the page went away"))?;
                    }
                }
                Ok(json!({}))
            }
            Op::Room { room } => {
                let cursor = match self.check_member(&room).await {
                    Ok(cursor) => cursor,
                    Err(e) if e.refused => return Ok(Json::Null),
                    Err(e) => return Err(e),
                };
                // A room new to the page (made elsewhere): new people too.
                self.app.hubs.rewatch(&me);
                let mentions = self.mentions_in(&room).await?;
                let view = self.describe(&room, unread(&cursor), mentions).await?;
                Ok(view.unwrap_or(Json::Null))
            }
            Op::Send {
                room,
                text,
                nonce,
                reply_to,
                mentions,
            } => {
                if nonce.is_empty() || nonce.len() > 64 {
                    return Err(ChatError::new("a message needs a nonce of 1 to 64 bytes"));
                }
                let mentions = talk::members_among(&chat, &room, &me, mentions).await?;
                // The nonce makes a resend after a lost reply a no-op.
                let dedup = format!("{me}:{nonce}");
                let id = chat
                    .send_with(&room, &me, &text, &dedup, reply_to, &mentions)
                    .await?;
                // The message is stored: from here on the reply is its id,
                // whatever happens to the look-up of its document.
                let doc = match chat.message(&room, id).await {
                    Ok(Some(doc)) => doc,
                    Ok(None) | Err(_) => json!({
                        "type": "message", "room": room, "id": id, "sender": me, "text": text,
                        "ts": unix_ms(),
                    }),
                };
                // The module does not deliver a message to its sender: the
                // user's other tabs hear of it from here.
                self.app.hubs.notify(&me, &json!({"t": "push", "doc": doc}));
                Ok(json!({"id": id, "doc": doc}))
            }
            Op::Typing { room } => {
                let now = Instant::now();
                let recent = self
                    .typing_sent
                    .get(&room)
                    .is_some_and(|t| now.duration_since(*t) < TYPING_MIN_GAP);
                if !recent {
                    chat.typing(&room, &me).await?;
                    // Only rooms the module accepted are remembered, and only
                    // while they matter: the map stays small whatever the
                    // page sends.
                    self.typing_sent
                        .retain(|_, t| now.duration_since(*t) < TYPING_MIN_GAP);
                    if self.typing_sent.len() < TYPING_ROOMS_MAX {
                        self.typing_sent.insert(room, now);
                    }
                }
                Ok(json!({}))
            }
            Op::Read { room, id } => {
                // The module tells the user's other tabs (a `read` event on
                // their own channel, or the room's).
                let cursor = chat.read(&room, &me, id).await?;
                Ok(json!({"cursor": cursor}))
            }
            Op::Join {
                room,
                title,
                owner,
                private,
            } => {
                let room = room.trim().to_string();
                moderation::join_or_create(&chat, &me, &room, title, owner, private).await?;
                self.app.hubs.refresh(&me).await;
                Ok(self.describe(&room, 0, 0).await?.unwrap_or(Json::Null))
            }
            Op::Leave { room } => {
                chat.leave(&room, &me).await?;
                self.app.hubs.refresh(&me).await;
                Ok(json!({}))
            }
            Op::Dm { user } => {
                let other = user.trim();
                let room = chat.dm(&me, other).await?;
                // Both listen to the room now, if they have a tab open
                // here (in a cluster it has a channel of its own).
                self.app.hubs.refresh(&me).await;
                self.app.hubs.refresh(other).await;
                let unread = chat.cursor(&room, &me).await?.map_or(0, |c| unread(&c));
                let mentions = self.mentions_in(&room).await?;
                Ok(self
                    .describe(&room, unread, mentions)
                    .await?
                    .unwrap_or(Json::Null))
            }
            Op::Ack { delivery } => {
                let removed = chat.ack(&me, &delivery).await?;
                self.send_inbox(socket)
                    .await
                    .map_err(|_| ChatError::new("the page went away"))?;
                Ok(json!({"removed": removed}))
            }
            Op::Edit { room, id, text } => {
                chat.edit(&room, &me, id, &text).await?;
                self.changed(&room, id).await?;
                Ok(json!({}))
            }
            Op::Delete { room, id } => {
                chat.delete(&room, &me, id).await?;
                self.changed(&room, id).await?;
                Ok(json!({}))
            }
            Op::Passwd { old, new } => {
                if new.is_empty() || new.len() > 1024 {
                    return Err(ChatError::new("the new password must be 1 to 1024 bytes"));
                }
                match chat.passwd(&me, &old, &new).await {
                    Ok(()) => {
                        // Whoever signed in with the old password is signed
                        // out; this tab stays.
                        self.app.sessions.revoke_others(&me, &self.token);
                        self.app
                            .hubs
                            .send(&me, Frame::SignedOutExcept(Arc::from(self.token.as_str())));
                        Ok(json!({}))
                    }
                    Err(e) if e.is("invalid username or password") => {
                        Err(ChatError::new("the current password is not right"))
                    }
                    Err(e) => Err(e),
                }
            }
            Op::Thread { room, id, after } => {
                self.check_member(&room).await?;
                talk::thread(&chat, &me, &room, id, after).await
            }
            Op::React {
                room,
                id,
                reaction,
                on,
            } => {
                self.check_member(&room).await?;
                talk::react(&self.app, &me, &room, id, &reaction, on).await
            }
            Op::Pin { room, id, on } => {
                self.check_member(&room).await?;
                talk::pin(&self.app, &me, &room, id, on).await
            }
            Op::Pins { room } => {
                self.check_member(&room).await?;
                Ok(json!({"docs": chat.pins(&room).await?}))
            }
            Op::Members { ref room } => {
                self.check_member(room).await?;
                moderation::handle(&self.app, &me, op).await
            }
            // The module checks the user's role in the room.
            op @ (Op::Role { .. }
            | Op::Kick { .. }
            | Op::Ban { .. }
            | Op::Unban { .. }
            | Op::Mute { .. }
            | Op::Unmute { .. }
            | Op::Slowmode { .. }
            | Op::Invite { .. }
            | Op::Invites) => moderation::handle(&self.app, &me, op).await,
            Op::Profiles { users } => {
                let mut names = serde_json::Map::new();
                for user in users.into_iter().take(100) {
                    let name = chat.profile_name(&user).await?;
                    names.insert(user, json!(name));
                }
                Ok(Json::Object(names))
            }
        }
    }

    /// After an edit or a delete: the message as the history has it now, to
    /// every tab of the user (the module tells only the other members).
    async fn changed(&self, room: &str, id: i64) -> ChatResult<()> {
        if let Some(doc) = self.app.chat.message(room, id).await? {
            self.app
                .hubs
                .notify(&self.user, &json!({"t": "push", "doc": doc}));
        }
        Ok(())
    }
}
