//! Listening for a user while at least one of their tabs is open.
//!
//! The module delivers a message live only to a member who is online and has
//! a connection subscribed to their channels; everyone else gets it in
//! their inbox, or (in a broadcast room) finds it from their read cursor
//! (docs/delivery.md). So, per signed-in user, the server keeps one
//! listener of the client library while the user has a tab open:
//!
//! * first tab opens: the listener subscribes to what `CHAT.CHANNELS`
//!   names (`SUBSCRIBE` on one server, `SSUBSCRIBE` on each channel's node
//!   in a cluster), then marks the user online (`CHAT.ONLINE <user> TTL
//!   30`, renewed every 10 seconds); it follows rooms joined later, a room
//!   that changes mode, a slot that moves and a connection that breaks,
//!   and fills any gap from the history, so each message comes once;
//! * last tab closes: the listener stops (its subscriptions end), then
//!   `CHAT.OFFLINE`, so from then on the user's messages wait for them.
//!
//! Whatever the listener hands out goes to every open tab of the user.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures_util::StreamExt;
use redis_chat_client::ListenerHandle;
use serde_json::{json, Value as Json};
use tokio::sync::{broadcast, oneshot, Mutex};
use tokio::task::JoinHandle;

use crate::chat::{Chat, ChatResult};

/// What a user's tabs are sent.
#[derive(Clone)]
pub enum Frame {
    /// A frame to pass on, already JSON text.
    Json(Arc<str>),
    /// The listener stopped for good: the tab tells its page, and closes.
    Reconnect,
    /// The user's sessions ended but this one (a password change): every
    /// other tab tells its page, and closes.
    SignedOutExcept(Arc<str>),
}

pub struct Hubs {
    chat: Chat,
    /// Held only to find, add or remove a user's hub, never across an await.
    users: std::sync::Mutex<HashMap<String, Arc<Hub>>>,
}

/// One user's share of the server. Its state has its own lock, held during
/// the Redis calls that start and stop listening for that user only.
struct Hub {
    tx: broadcast::Sender<Frame>,
    state: Mutex<HubState>,
}

struct HubState {
    tabs: usize,
    listening: Option<Listening>,
    /// Taken out of the map: a tab that finds a closed hub looks again.
    closed: bool,
}

/// A running listener: its handle, and the task that passes on what it
/// hands out.
struct Listening {
    handle: ListenerHandle,
    dead: Arc<AtomicBool>,
    stop: oneshot::Sender<()>,
    reader: JoinHandle<()>,
}

/// One open tab of a user. Dropping it closes the tab's share of the hub.
pub struct Tab {
    pub rx: broadcast::Receiver<Frame>,
    user: String,
    hub: Arc<Hub>,
    hubs: Arc<Hubs>,
}

impl Drop for Tab {
    fn drop(&mut self) {
        let hubs = self.hubs.clone();
        let hub = self.hub.clone();
        let user = std::mem::take(&mut self.user);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { hubs.detach(&user, &hub).await });
        }
    }
}

pub fn frame(value: &Json) -> Frame {
    Frame::Json(Arc::from(value.to_string()))
}

impl Hubs {
    pub fn new(chat: Chat) -> Arc<Self> {
        Arc::new(Hubs {
            chat,
            users: std::sync::Mutex::new(HashMap::new()),
        })
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Hub>>> {
        // The map is never left half-written: a panic elsewhere cannot spoil it.
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn hub(&self, user: &str) -> Option<Arc<Hub>> {
        self.map().get(user).cloned()
    }

    /// Takes the user's hub out of the map, if it is still this one.
    fn forget(&self, user: &str, hub: &Arc<Hub>) {
        let mut users = self.map();
        if users.get(user).is_some_and(|h| Arc::ptr_eq(h, hub)) {
            users.remove(user);
        }
    }

    /// Opens a tab for the user: listens first, then marks the user online.
    pub async fn attach(self: &Arc<Self>, user: &str) -> ChatResult<Tab> {
        loop {
            let hub = self
                .map()
                .entry(user.to_string())
                .or_insert_with(|| {
                    Arc::new(Hub {
                        tx: broadcast::channel(512).0,
                        state: Mutex::new(HubState {
                            tabs: 0,
                            listening: None,
                            closed: false,
                        }),
                    })
                })
                .clone();
            let mut state = hub.state.lock().await;
            if state.closed {
                // The last tab closed meanwhile; the next look finds a new hub.
                continue;
            }
            // Subscribed before listening starts: the tab misses nothing.
            let rx = hub.tx.subscribe();
            let alive = state
                .listening
                .as_ref()
                .is_some_and(|l| !l.dead.load(Ordering::SeqCst));
            if !alive {
                if let Some(old) = state.listening.take() {
                    old.stop().await;
                }
                match self.listen(user, hub.tx.clone()).await {
                    Ok(listening) => state.listening = Some(listening),
                    Err(e) => {
                        if state.tabs == 0 {
                            state.closed = true;
                            self.forget(user, &hub);
                        }
                        return Err(e);
                    }
                }
            }
            state.tabs += 1;
            drop(state);
            return Ok(Tab {
                rx,
                user: user.to_string(),
                hub,
                hubs: self.clone(),
            });
        }
    }

    async fn listen(&self, user: &str, tx: broadcast::Sender<Frame>) -> ChatResult<Listening> {
        let mut listener = self.chat.listen(user).await?;
        let handle = listener.handle();
        let dead = Arc::new(AtomicBool::new(false));
        let (stop, mut stopped) = oneshot::channel();
        let reader = {
            let (dead, handle, user) = (dead.clone(), handle.clone(), user.to_string());
            tokio::spawn(async move {
                loop {
                    let item = tokio::select! {
                        item = listener.next() => item,
                        _ = &mut stopped => {
                            listener.close().await;
                            return;
                        }
                    };
                    let doc = match item {
                        Some(Ok(doc)) => doc,
                        Some(Err(e)) => {
                            eprintln!("webchat: listening for {user}: {e}");
                            break;
                        }
                        None => break,
                    };
                    let mode_of = (doc["type"] == "mode")
                        .then(|| doc["room"].as_str().map(str::to_string))
                        .flatten();
                    let _ = tx.send(frame(&json!({"t": "push", "doc": doc})));
                    if let Some(room) = mode_of {
                        // The room moved between fan-out and broadcast: once
                        // the listener listens where CHAT.CHANNELS says,
                        // the tabs catch up on it.
                        let (handle, tx) = (handle.clone(), tx.clone());
                        tokio::spawn(async move {
                            let _ = handle.refresh().await;
                            let _ = tx.send(frame(&json!({"t": "resync", "room": room})));
                        });
                    }
                }
                // The listener gave up: the tabs reconnect, which listens
                // again.
                dead.store(true, Ordering::SeqCst);
                let _ = tx.send(Frame::Reconnect);
            })
        };
        Ok(Listening {
            handle,
            dead,
            stop,
            reader,
        })
    }

    /// Closes a tab; the last one stops listening and makes the user offline.
    async fn detach(&self, user: &str, hub: &Arc<Hub>) {
        let mut state = hub.state.lock().await;
        state.tabs = state.tabs.saturating_sub(1);
        if state.tabs > 0 || state.closed {
            return;
        }
        state.closed = true;
        self.forget(user, hub);
        if let Some(listening) = state.listening.take() {
            self.stop_listening(user, listening).await;
        }
    }

    async fn stop_listening(&self, user: &str, listening: Listening) {
        // No presence heartbeat after this point; one already sent went out
        // on the same connection as the OFFLINE below, so it runs first.
        listening.stop().await;
        // From here on the user's messages wait for them.
        if let Err(e) = self.chat.offline(user).await {
            eprintln!("webchat: CHAT.OFFLINE {user}: {e}");
        }
    }

    /// Listens on what CHAT.CHANNELS names now (after a join, a leave or a
    /// direct room), if the user has a tab open here.
    pub async fn refresh(&self, user: &str) {
        let Some(hub) = self.hub(user) else {
            return;
        };
        let handle = match hub.state.lock().await.listening.as_ref() {
            Some(listening) => listening.handle.clone(),
            None => return,
        };
        if let Err(e) = handle.refresh().await {
            // The listener keeps trying, and re-reads its rooms every few
            // seconds anyway.
            eprintln!("webchat: listening again for {user}: {e}");
        }
    }

    /// Sends a frame to every open tab of the user.
    pub fn notify(&self, user: &str, value: &Json) {
        self.send(user, frame(value));
    }

    pub fn send(&self, user: &str, frame: Frame) {
        if let Some(hub) = self.hub(user) {
            let _ = hub.tx.send(frame);
        }
    }

    /// At shutdown: every user with a tab open goes offline.
    pub async fn close_all(&self) {
        let hubs: Vec<(String, Arc<Hub>)> = self.map().drain().collect();
        for (user, hub) in hubs {
            let mut state = hub.state.lock().await;
            state.closed = true;
            if let Some(listening) = state.listening.take() {
                self.stop_listening(&user, listening).await;
            }
        }
    }
}

impl Listening {
    /// Stops the listener and waits until it has: its subscriptions are
    /// ended and it sends nothing more.
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.reader.await;
    }
}
