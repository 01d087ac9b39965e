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
//!   in a cluster); it follows rooms joined later, a room that changes
//!   mode, a slot that moves and a connection that breaks, and fills any
//!   gap from the history, so each message comes once. The server follows
//!   the presence of the people the user sees (presence.rs);
//! * each tab is a device of the user: once listening, `CHAT.ONLINE <user>
//!   DEVICE <tab>`, renewed every third of the module's presence TTL
//!   (`chat.presence-ttl`); the user is online while any tab (or any
//!   other device) is;
//! * a tab closes: `CHAT.OFFLINE <user> DEVICE <tab>`, which makes the user
//!   offline only if it was their last device; the last tab first stops
//!   the listener (its subscriptions end), so from then on the user's
//!   messages wait for them.
//!
//! Whatever the listener hands out goes to every open tab of the user; a
//! `member` event (someone joined or left one of the user's rooms) or a
//! `mode` event makes the server read again whom the user sees.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis_chat_client::ListenerHandle;
use serde_json::{json, Value as Json};
use tokio::sync::{broadcast, oneshot, Mutex, Notify};
use tokio::task::JoinHandle;

use crate::chat::{Chat, ChatResult};
use crate::presence::{self, Presence};

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
    presence: Presence,
    /// Held only to find, add or remove a user's hub, never across an await.
    users: std::sync::Mutex<HashMap<String, Arc<Hub>>>,
}

/// One user's share of the server. Its state has its own lock, held during
/// the Redis calls that start and stop listening for that user only.
struct Hub {
    tx: broadcast::Sender<Frame>,
    state: Mutex<HubState>,
    /// The user's open tabs here, each a device of CHAT.ONLINE; locked
    /// while they are renewed, so a tab that closes is not renewed after
    /// its CHAT.OFFLINE.
    devices: Mutex<BTreeSet<String>>,
    /// Wakes the upkeep task to read again whom the user sees.
    rewatch: Notify,
}

struct HubState {
    tabs: usize,
    listening: Option<Listening>,
    /// Taken out of the map: a tab that finds a closed hub looks again.
    closed: bool,
}

/// A running listener: its handle, the task that passes on what it hands
/// out, and the one that renews the tabs' presence and follows whom the
/// user sees.
struct Listening {
    handle: ListenerHandle,
    dead: Arc<AtomicBool>,
    stop: oneshot::Sender<()>,
    reader: JoinHandle<()>,
    stop_upkeep: oneshot::Sender<()>,
    upkeep: JoinHandle<()>,
}

/// One open tab of a user. Dropping it closes the tab's share of the hub.
pub struct Tab {
    pub rx: broadcast::Receiver<Frame>,
    user: String,
    device: String,
    hub: Arc<Hub>,
    hubs: Arc<Hubs>,
}

impl Drop for Tab {
    fn drop(&mut self) {
        let hubs = self.hubs.clone();
        let hub = self.hub.clone();
        let user = std::mem::take(&mut self.user);
        let device = std::mem::take(&mut self.device);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { hubs.detach(&user, &hub, &device).await });
        }
    }
}

pub fn frame(value: &Json) -> Frame {
    Frame::Json(Arc::from(value.to_string()))
}

/// A tab's device id for CHAT.ONLINE: `tab-` and 16 random hex digits.
fn device_id() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // Not secret, only distinct: the time will do.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        bytes = nanos.to_le_bytes();
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("tab-{hex}")
}

/// Reads again whom `user` sees, and follows them.
async fn watch(chat: &Chat, presence: &Presence, user: &str, tx: &broadcast::Sender<Frame>) {
    match presence::people(chat, user).await {
        Ok(people) => presence.watch(user, tx.clone(), people).await,
        Err(e) => eprintln!("webchat: whom {user} sees: {e}"),
    }
}

impl Hubs {
    pub fn new(chat: Chat, presence: Presence) -> Arc<Self> {
        Arc::new(Hubs {
            chat,
            presence,
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

    /// Opens a tab for the user: listens first, then marks the tab online.
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
                        devices: Mutex::new(BTreeSet::new()),
                        rewatch: Notify::new(),
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
                match self.listen(user, &hub).await {
                    Ok(listening) => state.listening = Some(listening),
                    Err(e) => {
                        if state.tabs == 0 {
                            state.closed = true;
                            self.forget(user, &hub);
                            self.presence.forget(user, &hub.tx);
                        }
                        return Err(e);
                    }
                }
            }
            // Listening: now the tab is online.
            let device = device_id();
            {
                let mut devices = hub.devices.lock().await;
                devices.insert(device.clone());
                if let Err(e) = self.chat.online(user, &device).await {
                    // The renewal tries again.
                    eprintln!("webchat: CHAT.ONLINE {user} DEVICE {device}: {e}");
                }
            }
            state.tabs += 1;
            drop(state);
            return Ok(Tab {
                rx,
                user: user.to_string(),
                device,
                hub,
                hubs: self.clone(),
            });
        }
    }

    async fn listen(&self, user: &str, hub: &Arc<Hub>) -> ChatResult<Listening> {
        let mut listener = self.chat.listen(user).await?;
        let handle = listener.handle();
        let dead = Arc::new(AtomicBool::new(false));
        let (stop, mut stopped) = oneshot::channel();
        let tx = hub.tx.clone();
        let reader = {
            let (dead, handle, user, hub) =
                (dead.clone(), handle.clone(), user.to_string(), hub.clone());
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
                    let kind = doc["type"].as_str().unwrap_or_default();
                    // Someone joined or left a room of the user (or the user
                    // was put out of one): whom the user sees changed.
                    let members_changed = matches!(kind, "kick" | "ban" | "dropped")
                        || (kind == "member" && doc["change"] != "invite");
                    let mode_of = (kind == "mode")
                        .then(|| doc["room"].as_str().map(str::to_string))
                        .flatten();
                    let _ = tx.send(frame(&json!({"t": "push", "doc": doc})));
                    if members_changed {
                        hub.rewatch.notify_one();
                    }
                    if let Some(room) = mode_of {
                        // The room moved between fan-out and broadcast: once
                        // the listener listens where CHAT.CHANNELS says,
                        // the tabs catch up on it.
                        let (handle, tx, hub) = (handle.clone(), tx.clone(), hub.clone());
                        tokio::spawn(async move {
                            let _ = handle.refresh().await;
                            let _ = tx.send(frame(&json!({"t": "resync", "room": room})));
                            hub.rewatch.notify_one();
                        });
                    }
                }
                // The listener gave up: the tabs reconnect, which listens
                // again.
                dead.store(true, Ordering::SeqCst);
                let _ = tx.send(Frame::Reconnect);
            })
        };
        // Whom the user sees, before the first tab gets its rooms.
        watch(&self.chat, &self.presence, user, &hub.tx).await;
        let (stop_upkeep, upkeep) = self.upkeep(user, hub);
        Ok(Listening {
            handle,
            dead,
            stop,
            reader,
            stop_upkeep,
            upkeep,
        })
    }

    /// While listening: renews each open tab's presence every third of the
    /// module's presence TTL (read again each time), and reads again whom
    /// the user sees when woken.
    fn upkeep(&self, user: &str, hub: &Arc<Hub>) -> (oneshot::Sender<()>, JoinHandle<()>) {
        let (stop, mut stopped) = oneshot::channel::<()>();
        let (chat, presence, user, hub) = (
            self.chat.clone(),
            self.presence.clone(),
            user.to_string(),
            hub.clone(),
        );
        let task = tokio::spawn(async move {
            let every = |ttl: u64| Duration::from_millis((ttl * 1000 / 3).max(500));
            let mut next = tokio::time::Instant::now() + every(chat.presence_ttl().await);
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = tokio::time::sleep_until(next) => {
                        let ttl = chat.presence_ttl().await;
                        let devices = hub.devices.lock().await;
                        for device in devices.iter() {
                            if let Err(e) = chat.online(&user, device).await {
                                eprintln!("webchat: CHAT.ONLINE {user} DEVICE {device}: {e}");
                            }
                        }
                        next = tokio::time::Instant::now() + every(ttl);
                    }
                    _ = hub.rewatch.notified() => watch(&chat, &presence, &user, &hub.tx).await,
                }
            }
        });
        (stop, task)
    }

    /// Closes a tab; the last one stops listening first. The tab's device
    /// goes offline, which makes the user offline if it was their last.
    async fn detach(&self, user: &str, hub: &Arc<Hub>, device: &str) {
        let mut state = hub.state.lock().await;
        state.tabs = state.tabs.saturating_sub(1);
        if state.closed {
            // Shutting down: every device went offline already.
            return;
        }
        if state.tabs == 0 {
            state.closed = true;
            self.forget(user, hub);
            if let Some(listening) = state.listening.take() {
                listening.stop().await;
            }
            self.presence.forget(user, &hub.tx);
        }
        drop(state);
        // No renewal of this tab after this point: one already sent went
        // out on the same connection as the OFFLINE below, so it runs first.
        let mut devices = hub.devices.lock().await;
        devices.remove(device);
        // From here on (for the last tab) the user's messages wait for them.
        if let Err(e) = self.chat.offline(user, device).await {
            eprintln!("webchat: CHAT.OFFLINE {user} DEVICE {device}: {e}");
        }
    }

    /// Listens on what CHAT.CHANNELS names now (after a join, a leave or a
    /// direct room), if the user has a tab open here, and reads again whom
    /// the user sees.
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
        hub.rewatch.notify_one();
    }

    /// Reads again whom the user sees (a room new to them, made
    /// elsewhere), if they have a tab open here.
    pub fn rewatch(&self, user: &str) {
        if let Some(hub) = self.hub(user) {
            hub.rewatch.notify_one();
        }
    }

    /// Person -> online, for the people the user sees (those known now).
    pub fn online_seen_by(&self, user: &str) -> Json {
        self.presence.online(user)
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

    /// At shutdown: every tab still open goes offline.
    pub async fn close_all(&self) {
        let hubs: Vec<(String, Arc<Hub>)> = self.map().drain().collect();
        for (user, hub) in hubs {
            let mut state = hub.state.lock().await;
            state.closed = true;
            if let Some(listening) = state.listening.take() {
                listening.stop().await;
            }
            self.presence.forget(&user, &hub.tx);
            let devices = std::mem::take(&mut *hub.devices.lock().await);
            for device in devices {
                if let Err(e) = self.chat.offline(&user, &device).await {
                    eprintln!("webchat: CHAT.OFFLINE {user} DEVICE {device}: {e}");
                }
            }
        }
    }
}

impl Listening {
    /// Stops renewing presence and the listener, and waits until they
    /// have: its subscriptions are ended and it sends nothing more.
    async fn stop(self) {
        let _ = self.stop_upkeep.send(());
        let _ = self.upkeep.await;
        let _ = self.stop.send(());
        let _ = self.reader.await;
    }
}
