//! Listening for a user while at least one of their tabs is open.
//!
//! The module delivers a message live only to a member who is online and has
//! a connection subscribed to their push channel; everyone else gets it in
//! their inbox (docs/delivery.md). So, per signed-in user, the server keeps
//! one Redis pub/sub connection while the user has a tab open:
//!
//! * first tab opens: `CHAT.CHANNELS`, `SUBSCRIBE` to all of them, then
//!   `CHAT.ONLINE <user> TTL 30`, renewed every 10 seconds;
//! * last tab closes: `CHAT.OFFLINE`, `UNSUBSCRIBE`, and the connection is
//!   closed, so from then on the user's messages wait in the inbox.
//!
//! Whatever arrives on the connection goes to every open tab of the user.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::PubSubSink;
use serde_json::{json, Value as Json};
use tokio::sync::{broadcast, Mutex};
use tokio::task::JoinHandle;

use crate::chat::{Chat, ChatError, ChatResult};

/// Presence lasts this long without a heartbeat: a server that dies leaves
/// its users online for at most this time.
pub const PRESENCE_TTL: u64 = 30;
const HEARTBEAT: Duration = Duration::from_secs(10);

/// What a user's tabs are sent.
#[derive(Clone)]
pub enum Frame {
    /// A frame to pass on, already JSON text.
    Json(Arc<str>),
    /// The link to Redis broke: the tab tells its page, and closes.
    Reconnect,
    /// The user's sessions ended but this one (a password change): every
    /// other tab tells its page, and closes.
    SignedOutExcept(Arc<str>),
}

pub struct Hubs {
    chat: Chat,
    client: redis::Client,
    /// Held only to find, add or remove a user's hub, never across an await.
    users: std::sync::Mutex<HashMap<String, Arc<Hub>>>,
}

/// One user's share of the server. Its state has its own lock, held during
/// the Redis calls that start, change and stop listening for that user only.
struct Hub {
    tx: broadcast::Sender<Frame>,
    state: Mutex<HubState>,
}

struct HubState {
    tabs: usize,
    listener: Option<Listener>,
    /// Taken out of the map: a tab that finds a closed hub looks again.
    closed: bool,
}

struct Listener {
    sink: PubSubSink,
    channels: BTreeSet<String>,
    dead: Arc<AtomicBool>,
    reader: JoinHandle<()>,
    heartbeat: JoinHandle<()>,
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
    pub fn new(chat: Chat, client: redis::Client) -> Arc<Self> {
        Arc::new(Hubs {
            chat,
            client,
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
                            listener: None,
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
                .listener
                .as_ref()
                .is_some_and(|l| !l.dead.load(Ordering::SeqCst));
            if !alive {
                if let Some(old) = state.listener.take() {
                    old.stop();
                }
                match self.listen(user, hub.tx.clone()).await {
                    Ok(listener) => state.listener = Some(listener),
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

    async fn listen(
        self: &Arc<Self>,
        user: &str,
        tx: broadcast::Sender<Frame>,
    ) -> ChatResult<Listener> {
        let (command, channels) = self.chat.channels(user).await?;
        if command != "SUBSCRIBE" {
            return Err(ChatError::new(format!(
                "the chat server asks to listen with {command}; this web server supports a single Redis server (SUBSCRIBE) only"
            )));
        }
        let pubsub = self.client.get_async_pubsub().await?;
        let (mut sink, mut stream) = pubsub.split();
        sink.subscribe(&channels).await?;
        self.chat.online(user, PRESENCE_TTL).await?;

        let dead = Arc::new(AtomicBool::new(false));
        let reader = {
            let dead = dead.clone();
            let hubs = Arc::downgrade(self);
            let user = user.to_string();
            tokio::spawn(async move {
                while let Some(msg) = stream.next().await {
                    let payload: String = match msg.get_payload() {
                        Ok(p) => p,
                        Err(_) => continue,
                    };
                    let doc: Json = match serde_json::from_str(&payload) {
                        Ok(d) => d,
                        Err(_) => continue,
                    };
                    if doc["type"] == "mode" {
                        // The room moved between fan-out and broadcast:
                        // listen where CHAT.CHANNELS says, then catch up.
                        if let (Some(hubs), Some(room)) = (hubs.upgrade(), doc["room"].as_str()) {
                            let (user, room) = (user.clone(), room.to_string());
                            tokio::spawn(async move {
                                if let Err(e) = hubs.reconcile(&user).await {
                                    eprintln!("webchat: listening again for {user}: {e}");
                                }
                                hubs.notify(&user, &json!({"t": "resync", "room": room}));
                            });
                        }
                    }
                    let _ = tx.send(frame(&json!({"t": "push", "doc": doc})));
                }
                // The connection to Redis is gone: the tabs reconnect, which
                // listens again on a new connection.
                dead.store(true, Ordering::SeqCst);
                let _ = tx.send(Frame::Reconnect);
            })
        };
        let heartbeat = {
            let chat = self.chat.clone();
            let user = user.to_string();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(HEARTBEAT);
                every.tick().await;
                loop {
                    every.tick().await;
                    if let Err(e) = chat.online(&user, PRESENCE_TTL).await {
                        eprintln!("webchat: heartbeat for {user}: {e}");
                    }
                }
            })
        };
        Ok(Listener {
            sink,
            channels: channels.into_iter().collect(),
            dead,
            reader,
            heartbeat,
        })
    }

    /// Closes a tab; the last one makes the user offline and stops listening.
    async fn detach(&self, user: &str, hub: &Arc<Hub>) {
        let mut state = hub.state.lock().await;
        state.tabs = state.tabs.saturating_sub(1);
        if state.tabs > 0 || state.closed {
            return;
        }
        state.closed = true;
        self.forget(user, hub);
        if let Some(listener) = state.listener.take() {
            self.stop_listening(user, listener).await;
        }
    }

    async fn stop_listening(&self, user: &str, mut listener: Listener) {
        // No heartbeat after this point; an ONLINE already sent went out on
        // the same connection as the OFFLINE below, so it runs first.
        listener.heartbeat.abort();
        // Offline first: from here on the user's messages go to the inbox.
        if let Err(e) = self.chat.offline(user).await {
            eprintln!("webchat: CHAT.OFFLINE {user}: {e}");
        }
        if !listener.dead.load(Ordering::SeqCst) && !listener.channels.is_empty() {
            let channels: Vec<&String> = listener.channels.iter().collect();
            if let Err(e) = listener.sink.unsubscribe(channels).await {
                eprintln!("webchat: UNSUBSCRIBE for {user}: {e}");
            }
        }
        listener.stop();
    }

    /// Listens on exactly the channels CHAT.CHANNELS names now (after a join,
    /// a leave or a `mode` event).
    pub async fn reconcile(&self, user: &str) -> ChatResult<()> {
        let Some(hub) = self.hub(user) else {
            return Ok(());
        };
        let mut state = hub.state.lock().await;
        let Some(listener) = state.listener.as_mut() else {
            return Ok(());
        };
        let (_, now) = self.chat.channels(user).await?;
        let now: BTreeSet<String> = now.into_iter().collect();
        let added: Vec<&String> = now.difference(&listener.channels).collect();
        if !added.is_empty() {
            listener.sink.subscribe(added).await?;
        }
        let gone: Vec<&String> = listener.channels.difference(&now).collect();
        if !gone.is_empty() {
            listener.sink.unsubscribe(gone).await?;
        }
        listener.channels = now;
        Ok(())
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
            if let Some(listener) = state.listener.take() {
                self.stop_listening(&user, listener).await;
            }
        }
    }
}

impl Listener {
    fn stop(self) {
        self.heartbeat.abort();
        // Dropping the stream closes the pub/sub connection.
        self.reader.abort();
    }
}
