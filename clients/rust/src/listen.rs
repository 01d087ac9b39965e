//! [`Listener`]: a user's live messages and events, each message once.
//!
//! Pub/sub keeps nothing: a message published while a connection is down,
//! or before a subscription is in place, is gone from the channel. The
//! room's history is not: ids in a room are 1, 2, 3, ... with no gaps, and
//! `CHAT.HISTORY <room> AFTER <id>` returns every message after `id` that
//! retention kept (those it removed show as one gap document first, which
//! the listener hands out and skips past). So the listener keeps, per
//! room, the largest id it has handed out, and
//!
//! - hands out a message only if its id is larger (a repeat is dropped);
//! - on a message more than one id ahead, first reads the ones in between
//!   from the history, so each room's messages come out in ascending order;
//! - after anything that may have lost messages (a broken connection, the
//!   server ending a subscription when a slot moves, a failover, a `mode`
//!   event), reads `CHAT.CHANNELS` again, subscribes again, and reads every
//!   room's history after its largest id;
//! - every `refresh` does the same on the connections it has, which picks
//!   up rooms joined meanwhile (and their channels).
//!
//! It subscribes before it reads the history, and waits for the server to
//! confirm each subscription: a message sent after the history was read is
//! published to a connection already listening. While listening it marks
//! the user online (`CHAT.ONLINE ... TTL`), so that fan-out rooms publish
//! to it instead of filling the inbox.

use std::collections::{BTreeMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use serde_json::Value as Json;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};

use crate::chat::Chat;
use crate::error::{Error, Result};
use crate::reply;
use crate::subscriptions::{Push, Subscriptions};

/// Events about one member that a broadcast room publishes on its channel
/// and also on that member's own channel (see `State::echo`).
const ABOUT_A_MEMBER: [&str; 6] = ["role", "kick", "ban", "unban", "mute", "unmute"];

/// How many of those a listener remembers, waiting for their second copy.
const ECHOES: usize = 64;

/// How a listener behaves; `ListenOptions::default()` is what most apps
/// want.
#[derive(Clone, Debug)]
pub struct ListenOptions {
    /// Time between re-reads of the user's channels and rooms, which picks
    /// up rooms joined elsewhere; None: only after a reconnect, a `mode`
    /// event or [`ListenerHandle::refresh`]. Default 5 s.
    pub refresh: Option<Duration>,
    /// Mark the user online while listening (default true).
    pub presence: bool,
    /// The TTL of each `CHAT.ONLINE`, in seconds (default 30, at least 3);
    /// renewed every third of it.
    pub presence_ttl: u64,
    /// Also hand out the user's own messages (default false). A fan-out
    /// room does not publish a message to its sender.
    pub own: bool,
    /// Start the rooms the user is in when listening starts after their
    /// last message, rather than after the user's read cursor (default
    /// false): for an app that shows what was missed by other means. Rooms
    /// found later always start after the read cursor.
    pub from_latest: bool,
    /// Rooms to start after the id given, whatever the two above say.
    pub start: BTreeMap<String, u64>,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            refresh: Some(Duration::from_secs(5)),
            presence: true,
            presence_ttl: 30,
            own: false,
            from_latest: false,
            start: BTreeMap::new(),
        }
    }
}

/// What a listener did so far, for tests and monitoring.
#[derive(Clone, Debug, Default)]
pub struct ListenStats {
    /// Syncs (channels, rooms and history read again), the first included.
    pub syncs: u64,
    /// Of which full ones: new connections, after a failure, a dropped
    /// subscription or a reconnect.
    pub full_syncs: u64,
    /// Messages handed out from the history rather than live.
    pub filled: u64,
    /// Gap documents handed out: messages retention removed before the
    /// listener could hand them out.
    pub gaps: u64,
    /// The largest message id handed out (or skipped as own) per room.
    pub last_ids: BTreeMap<String, u64>,
}

/// A stream of `user`'s messages and events, as JSON documents.
///
/// Messages (`"type": "message"`) come in ascending id order within each
/// room, none skipped and none twice; events (`read`, `typing`, `edit`,
/// `delete`, `dropped`, `mode`, `reaction`, `pin`, `unpin`, `mention`, the
/// moderation events `role`, `kick`, `ban`, `unban`, `mute`, `unmute`,
/// `slowmode` and `invite`, and any type the module adds later) are passed
/// on as they arrive, once each. A `mention` (a broadcast room's message
/// that mentions the user) comes on the user's own channel; in a fan-out
/// room the message itself comes, with its `mentions`. An `invite` comes
/// on the user's own channel (in a cluster, only from a room in the user's
/// slot). After a `kick` or `ban` of the user, the listener reads its
/// channels and rooms again, so the room's messages stop.
///
/// Where retention removed messages the listener had not handed out yet
/// (it was away for more than `chat.history-max` messages, or longer than
/// `chat.history-max-age`), a gap document comes in their place, before
/// the messages kept: `{"type": "gap", "room", "after", "before"}`, the
/// ids between `after` and `before` being lost; the room goes on from
/// `before`. An `Err`
/// item means the listener stopped for good (the user is gone, for
/// example); transient failures are retried without end, and show only as
/// a pause. Dropping the listener ends its subscriptions.
pub struct Listener {
    events: mpsc::UnboundedReceiver<Result<Json>>,
    handle: ListenerHandle,
    task: JoinHandle<()>,
}

/// Controls a running [`Listener`] from anywhere; cheap to clone.
#[derive(Clone)]
pub struct ListenerHandle {
    control: mpsc::UnboundedSender<oneshot::Sender<bool>>,
    stats: Arc<Mutex<ListenStats>>,
}

impl ListenerHandle {
    /// Re-reads the user's channels and rooms now (after a join, a leave or
    /// a direct room), and returns once subscribed and caught up.
    pub async fn refresh(&self) -> Result<()> {
        let (ack, done) = oneshot::channel();
        let stopped = || Error::Usage("the listener stopped".into());
        self.control.send(ack).map_err(|_| stopped())?;
        match done.await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::Usage(
                "the listener could not re-read its channels; it keeps trying".into(),
            )),
            Err(_) => Err(stopped()),
        }
    }

    /// What the listener did so far.
    pub fn stats(&self) -> ListenStats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Listener {
    /// Subscribes (and reads what the first sync finds) before returning,
    /// so that what is sent from now on reaches the listener, and an
    /// unknown user is an error here.
    pub(crate) async fn start(chat: Chat, user: &str, options: ListenOptions) -> Result<Listener> {
        let (out, events) = mpsc::unbounded_channel();
        let (control, requests) = mpsc::unbounded_channel();
        let stats = Arc::new(Mutex::new(ListenStats::default()));
        let mut state = State {
            chat,
            user: user.to_string(),
            options,
            out,
            last: BTreeMap::new(),
            started: false,
            subs: Subscriptions::new(),
            echoes: VecDeque::new(),
            stats: stats.clone(),
            want: None,
            retry_at: None,
            failures: 0,
            waiters: Vec::new(),
            next_refresh: None,
            next_online: Instant::now(),
        };
        let (ready_tx, ready) = oneshot::channel();
        let task = tokio::spawn(async move {
            let first = state.sync(true).await;
            let ok = first.is_ok();
            let _ = ready_tx.send(first);
            if ok {
                state.run(requests).await;
            }
        });
        match ready.await {
            Ok(Ok(())) => Ok(Listener {
                events,
                handle: ListenerHandle { control, stats },
                task,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Usage("the listener stopped".into())),
        }
    }

    /// A handle to refresh the listener or read its statistics.
    pub fn handle(&self) -> ListenerHandle {
        self.handle.clone()
    }

    /// Stops listening, and returns once the listener has stopped: it sends
    /// nothing more (no `CHAT.ONLINE` either), and its connections are
    /// dropped, which ends their subscriptions. Dropping a listener does the
    /// same without waiting.
    pub async fn close(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Stream for Listener {
    type Item = Result<Json>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.poll_recv(cx)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sync {
    /// Channels, rooms and history again, on the connections there are.
    Light,
    /// The same on new connections.
    Full,
}

struct State {
    chat: Chat,
    user: String,
    options: ListenOptions,
    out: mpsc::UnboundedSender<Result<Json>>,
    /// Room -> the largest id handed out.
    last: BTreeMap<String, u64>,
    /// Whether the first sync is done.
    started: bool,
    subs: Subscriptions,
    /// Events about this user handed out from a room's channel, whose copy
    /// on the user's own channel is still to come.
    echoes: VecDeque<Json>,
    stats: Arc<Mutex<ListenStats>>,
    /// The sync wanted before reading on; a full one wins over a light one.
    want: Option<Sync>,
    /// After a failure: no sync before then.
    retry_at: Option<Instant>,
    failures: u32,
    /// Refreshes waiting for the next sync.
    waiters: Vec<oneshot::Sender<bool>>,
    next_refresh: Option<Instant>,
    next_online: Instant,
}

impl State {
    async fn run(&mut self, mut requests: mpsc::UnboundedReceiver<oneshot::Sender<bool>>) {
        loop {
            let now = Instant::now();
            if let Some(kind) = self.want {
                if self.retry_at.is_none_or(|t| now >= t) {
                    let result = self.sync(kind == Sync::Full).await;
                    if !self.settle(result) {
                        return;
                    }
                    continue;
                }
            }
            let wake = self.wake();
            tokio::select! {
                _ = self.out.closed() => return,
                request = requests.recv() => match request {
                    Some(ack) => {
                        self.waiters.push(ack);
                        self.wish(Sync::Light);
                    }
                    None => return,
                },
                Some(push) = self.subs.pushes.recv() => {
                    let result = self.on_push(push).await;
                    if !self.settle(result) {
                        return;
                    }
                }
                _ = sleep_until(wake) => {
                    if self.want.is_none() {
                        let result = self.on_timer().await;
                        if !self.settle(result) {
                            return;
                        }
                    }
                }
            }
        }
    }

    /// When to look at the clock next.
    fn wake(&self) -> Instant {
        let far = Instant::now() + Duration::from_secs(3600);
        if self.want.is_some() {
            return self.retry_at.unwrap_or(far);
        }
        let mut wake = self.next_refresh.unwrap_or(far);
        if self.options.presence {
            wake = wake.min(self.next_online);
        }
        wake
    }

    async fn on_timer(&mut self) -> Result<()> {
        let now = Instant::now();
        if self.options.presence && now >= self.next_online {
            self.online().await?;
        }
        if self.next_refresh.is_some_and(|t| now >= t) {
            self.wish(Sync::Light);
        }
        Ok(())
    }

    /// Deals with the outcome of a step; false when the listener ends.
    fn settle(&mut self, result: Result<()>) -> bool {
        match result {
            Ok(()) => true,
            Err(Error::Redis(_)) => {
                // Anything may be lost: start over on new connections,
                // after a pause that grows while failures repeat.
                self.wish(Sync::Full);
                self.failures = self.failures.saturating_add(1);
                let pause = self.chat.settings().pause(self.failures as usize + 1);
                self.retry_at = Some(Instant::now() + pause);
                for ack in self.waiters.drain(..) {
                    let _ = ack.send(false);
                }
                true
            }
            Err(e) => {
                let _ = self.out.send(Err(e));
                false
            }
        }
    }

    fn wish(&mut self, kind: Sync) {
        if self.want != Some(Sync::Full) {
            self.want = Some(kind);
        }
    }

    async fn online(&mut self) -> Result<()> {
        let ttl = self.options.presence_ttl.max(3);
        self.chat
            .query(
                redis::cmd("CHAT.ONLINE")
                    .arg(&self.user)
                    .arg("TTL")
                    .arg(ttl),
            )
            .await?;
        self.next_online = Instant::now() + Duration::from_secs(ttl) / 3;
        Ok(())
    }

    // -- syncing -------------------------------------------------------------

    /// Channels, presence, rooms and history, in the order that loses
    /// nothing.
    async fn sync(&mut self, full: bool) -> Result<()> {
        self.count(|s| {
            s.syncs += 1;
            s.full_syncs += u64::from(full);
        });
        if full {
            self.subs = Subscriptions::new();
            self.echoes.clear();
            self.chat.backend.slots_changed();
        }
        let reply = self
            .chat
            .query(redis::cmd("CHAT.CHANNELS").arg(&self.user))
            .await?;
        let mut channels = reply::strings(reply)?;
        if channels.is_empty() {
            return Err(Error::Reply("CHAT.CHANNELS replied nothing".into()));
        }
        let verb = channels.remove(0).to_ascii_uppercase();
        self.subs.set(&self.chat.backend, &verb, &channels).await?;
        if self.options.presence {
            self.online().await?;
        }
        let cursors = self.chat.cursors(&self.user).await?;
        self.last.retain(|room, _| cursors.contains_key(room));
        for (room, c) in &cursors {
            if !self.last.contains_key(room) {
                let start = match self.options.start.get(room) {
                    Some(&id) => id,
                    None if !self.started && self.options.from_latest => c.last_id,
                    None => c.cursor,
                };
                self.last.insert(room.clone(), start);
            }
        }
        self.started = true;
        self.fill(self.last.clone()).await?;
        self.want = None;
        self.retry_at = None;
        self.failures = 0;
        self.next_refresh = self.options.refresh.map(|r| Instant::now() + r);
        for ack in self.waiters.drain(..) {
            let _ = ack.send(true);
        }
        self.count(|_| {});
        Ok(())
    }

    /// Hands out what the history holds after each room's largest id.
    /// A gap (messages removed by retention) is handed out as an event,
    /// and the room goes on from the oldest message kept.
    async fn fill(&mut self, starts: BTreeMap<String, u64>) -> Result<()> {
        for (room, docs) in self.chat.catch_up(starts).await? {
            for doc in docs {
                if reply::is_gap(&doc) {
                    let Some(end) = reply::gap_end(&doc) else {
                        continue;
                    };
                    if end > self.last.get(&room).copied().unwrap_or(0) {
                        self.last.insert(room.clone(), end);
                        self.count(|s| s.gaps += 1);
                        let _ = self.out.send(Ok(doc));
                    }
                    continue;
                }
                let Some(id) = reply::message_id(&doc) else {
                    continue;
                };
                if id > self.last.get(&room).copied().unwrap_or(0) {
                    self.last.insert(room.clone(), id);
                    self.count(|s| s.filled += 1);
                    self.emit_message(doc);
                }
            }
        }
        Ok(())
    }

    // -- handing out ---------------------------------------------------------

    async fn on_push(&mut self, push: redis::PushInfo) -> Result<()> {
        match self.subs.classify(push) {
            Push::Payload { channel, payload } => match reply::document(&payload) {
                Ok(doc) => self.deliver(doc, &channel).await,
                // Not from the module: nothing to hand out.
                Err(_) => Ok(()),
            },
            Push::Dropped | Push::Disconnected => {
                self.wish(Sync::Full);
                Ok(())
            }
            Push::Nothing => Ok(()),
        }
    }

    async fn deliver(&mut self, doc: Json, channel: &[u8]) -> Result<()> {
        let kind = doc.get("type").and_then(Json::as_str).unwrap_or_default();
        let room = doc.get("room").and_then(Json::as_str).map(str::to_string);
        let (Some(room), Some(id), "message") = (room.clone(), reply::message_id(&doc), kind)
        else {
            let about_me = doc.get("user").and_then(Json::as_str) == Some(self.user.as_str());
            if about_me && ABOUT_A_MEMBER.contains(&kind) {
                if self.echo(&doc, channel) {
                    return Ok(());
                }
                if kind == "kick" || kind == "ban" {
                    // Not a member any more: stop listening to the room.
                    self.wish(Sync::Light);
                }
            }
            match (kind, room) {
                // The room's channel changed: listen where CHAT.CHANNELS
                // says now, and catch up.
                ("mode", _) => self.wish(Sync::Light),
                ("dropped", Some(room)) => {
                    self.last.remove(&room);
                }
                _ => {}
            }
            let _ = self.out.send(Ok(doc));
            return Ok(());
        };
        if !self.last.contains_key(&room) {
            let start = self.start_of(&room, id).await?;
            self.last.insert(room.clone(), start);
        }
        let last = self.last.get(&room).copied().unwrap_or(0);
        if id <= last {
            return Ok(());
        }
        if id > last.saturating_add(1) {
            self.fill(BTreeMap::from([(room.clone(), last)])).await?;
        }
        if id > self.last.get(&room).copied().unwrap_or(0) {
            // Not in the history (trimmed meanwhile): the live copy is all
            // there is.
            self.last.insert(room, id);
            self.emit_message(doc);
            self.count(|_| {});
        }
        Ok(())
    }

    /// Whether `doc`, an event about this user, was handed out already.
    ///
    /// A broadcast room publishes such an event on its own channel, and
    /// again on the user's channel (the module cannot tell whether the user
    /// listens to the room's). Both come on one connection, the room's copy
    /// first: one from a room's channel is remembered, and its copy on the
    /// user's channel dropped. Without the room's copy (a fan-out room, or
    /// a room this listener no longer listens to), the user's copy is the
    /// one handed out.
    fn echo(&mut self, doc: &Json, channel: &[u8]) -> bool {
        if channel.starts_with(b"chat:room:") {
            if self.echoes.len() == ECHOES {
                self.echoes.pop_front();
            }
            self.echoes.push_back(doc.clone());
            return false;
        }
        match self.echoes.iter().position(|seen| seen == doc) {
            Some(i) => {
                self.echoes.remove(i);
                true
            }
            None => false,
        }
    }

    /// Where a room first seen live starts: the given start, else (with
    /// `from_latest`) just before this message, else the user's read
    /// cursor, else (not a member any more) just before this message, which
    /// was addressed to the user all the same.
    async fn start_of(&self, room: &str, id: u64) -> Result<u64> {
        if let Some(&start) = self.options.start.get(room) {
            return Ok(start);
        }
        if self.options.from_latest {
            return Ok(id.saturating_sub(1));
        }
        Ok(match self.chat.cursor(room, &self.user).await? {
            Some(c) => c.cursor.min(id.saturating_sub(1)),
            None => id.saturating_sub(1),
        })
    }

    fn emit_message(&mut self, doc: Json) {
        let mine = doc.get("sender").and_then(Json::as_str) == Some(self.user.as_str());
        if self.options.own || !mine {
            let _ = self.out.send(Ok(doc));
        }
    }

    fn count(&self, change: impl FnOnce(&mut ListenStats)) {
        let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut stats);
        stats.last_ids.clone_from(&self.last);
    }
}
