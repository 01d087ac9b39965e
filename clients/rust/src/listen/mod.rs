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
//! Ids in a room are handed out again after a server lost acknowledged
//! writes; the room's epoch then changes, and the listener hands out a
//! reset and forgets the room's ids it handed out past it (rooms.rs).
//!
//! It subscribes before it reads the history, and waits for the server to
//! confirm each subscription: a message sent after the history was read is
//! published to a connection already listening. While listening it marks
//! the user online (`CHAT.ONLINE ... TTL`, with `DEVICE` when given one),
//! so that fan-out rooms publish to it instead of filling the inbox.
//!
//! It can also follow other users' presence: their presence channels
//! (`chat:user:{<id>}:presence`; in Redis Cluster shard channels of each
//! user's slot, subscribed on the node that serves it) are subscribed with
//! the rest, and the `presence` events on them are handed out with the
//! user's messages. Pub/sub may lose an event while a connection is down,
//! so after a break the listener reads each followed user's presence again
//! (`CHAT.PROFILE`) and hands out an event for each that changed meanwhile.

mod following;
mod handle;
mod options;
mod rooms;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
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
use handle::Control;
pub use handle::ListenerHandle;
pub use options::{ListenOptions, ListenStats};

/// Events about one member that a broadcast room publishes on its channel
/// and also on that member's own channel (see `State::echo`): a `read` goes
/// to the reader's own channel too, for their other devices.
const ABOUT_A_MEMBER: [&str; 7] = ["role", "kick", "ban", "unban", "mute", "unmute", "read"];

/// How many of those a listener remembers, waiting for their second copy.
const ECHOES: usize = 64;

/// A stream of `user`'s messages and events, as JSON documents.
///
/// Messages (`"type": "message"`) come in ascending id order within each
/// room, none skipped and none twice; events (`read`, `typing`, `edit`,
/// `delete`, `dropped`, `mode`, `reaction`, `pin`, `unpin`, `mention`, the
/// moderation events `role`, `kick`, `ban`, `unban`, `mute`, `unmute`,
/// `slowmode` and `invite`, `member` (a join, leave, invitation, kick or
/// ban in one of the user's rooms), `presence` of the users it follows,
/// and any type the module adds later) are passed on as they arrive, once
/// each. A `read` of the user's own comes too: their other devices'
/// reading, on the user's own channel. A `mention` (a broadcast room's message
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
/// `before`.
///
/// Where a room's ids were handed out again (its epoch changed: a promoted
/// replica, a lossy restart, a room made again), a reset comes:
/// `{"type": "reset", "room", "epoch", "last_id"}`. Live, the event the
/// room's first send after the change publishes (`last_id`: the room's last
/// id before it), then the messages from `last_id + 1`, handed out even
/// where the listener had handed out those ids before. From a catch-up,
/// the history's reset document (`last_id`: the room's last id now), then
/// the room's newest messages. Either way the app replaces what it shows
/// of the room.
///
/// Presence events, of the users followed: `{"type": "presence", "user":
/// "bob", "online": true, "until": <unix ms>}` when one comes online,
/// `{..., "online": false, "until": null}` when one goes offline (by
/// command, or when their presence runs out). The listener keeps each
/// followed user's state ([`ListenerHandle::presence_state`]) and hands out
/// only changes of it. After a break (a reconnect, a failover) it reads the
/// states again and hands out an event for each that changed meanwhile,
/// with `until` null (the profile does not say it).
///
/// An `Err` item means the listener stopped for good (the user is gone, for
/// example); transient failures are retried without end, and show only as
/// a pause. Dropping the listener ends its subscriptions.
pub struct Listener {
    events: mpsc::UnboundedReceiver<Result<Json>>,
    handle: ListenerHandle,
    task: JoinHandle<()>,
    /// What `close` ends: the listener's device, of its user.
    device: Option<(Chat, String, String)>,
}

impl Listener {
    /// Subscribes (and reads what the first sync finds) before returning,
    /// so that what is sent from now on reaches the listener, and an
    /// unknown user is an error here.
    pub(crate) async fn start(chat: Chat, user: &str, options: ListenOptions) -> Result<Listener> {
        let (out, events) = mpsc::unbounded_channel();
        let (control, requests) = mpsc::unbounded_channel();
        let stats = Arc::new(Mutex::new(ListenStats::default()));
        let device = options
            .device
            .clone()
            .filter(|_| options.presence)
            .map(|d| (chat.clone(), user.to_string(), d));
        let following = options.follow.iter().cloned().collect();
        let mut state = State {
            chat,
            user: user.to_string(),
            options,
            following,
            base: Vec::new(),
            verb: "SUBSCRIBE".into(),
            known: BTreeMap::new(),
            out,
            last: BTreeMap::new(),
            epochs: BTreeMap::new(),
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
                device,
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
    /// dropped, which ends their subscriptions. With a
    /// [`device`](ListenOptions::device), it then ends that device's
    /// presence (`CHAT.OFFLINE user DEVICE d`; errors are ignored: the TTL
    /// ends it anyway). Dropping a listener does the same without waiting,
    /// and without the `CHAT.OFFLINE`.
    pub async fn close(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
        if let Some((chat, user, device)) = self.device.take() {
            let _ = chat.offline(&user, Some(&device)).await;
        }
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
    /// Users followed by name.
    following: BTreeSet<String>,
    /// The channels CHAT.CHANNELS named last, and the verb to use.
    base: Vec<String>,
    verb: String,
    /// Each followed user's presence as last known (read or told).
    known: BTreeMap<String, bool>,
    out: mpsc::UnboundedSender<Result<Json>>,
    /// Room -> the largest id handed out.
    last: BTreeMap<String, u64>,
    /// Room -> the epoch of those ids, where known.
    epochs: BTreeMap<String, String>,
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
    async fn run(&mut self, mut requests: mpsc::UnboundedReceiver<Control>) {
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
                    Some(Control::Refresh(ack)) => {
                        self.waiters.push(ack);
                        self.wish(Sync::Light);
                    }
                    Some(Control::Follow { users, follow, ack }) => {
                        if follow {
                            self.following.extend(users);
                        } else {
                            for user in &users {
                                self.following.remove(user);
                            }
                        }
                        if self.want.is_some() {
                            // A sync is due anyway: it subscribes and reads.
                            self.waiters.push(ack);
                        } else {
                            let result = self.apply_follows().await;
                            let _ = ack.send(result.is_ok());
                            if !self.settle(result) {
                                return;
                            }
                        }
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
        let device = self.options.device.as_deref();
        self.chat.online(&self.user, Some(ttl), device).await?;
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
        let found = self
            .chat
            .channels_with_epochs(&self.user, self.options.follow_members)
            .await?;
        self.base = found.channels;
        self.verb = found.verb;
        let wanted = self.wanted();
        self.subs
            .set(&self.chat.backend, &self.verb.clone(), &wanted)
            .await?;
        if self.options.presence {
            self.online().await?;
        }
        if !self.known.is_empty() || !self.followed().is_empty() {
            self.read_presence(full).await?;
        }
        self.read_rooms().await?;
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
        if let (Some(room), Some(id), "message") = (&room, reply::message_id(&doc), kind) {
            return self.on_message(room.clone(), id, doc).await;
        }
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
        if kind == "presence" && !self.presence_event(&doc) {
            return Ok(());
        }
        match (kind, room) {
            // The room's ids were handed out again (rooms.rs).
            ("reset", Some(room)) if !self.reset(&room, &doc) => return Ok(()),
            // The room's channel changed: listen where CHAT.CHANNELS
            // says now, and catch up.
            ("mode", _) => self.wish(Sync::Light),
            // Someone joined or left one of the rooms: follow the
            // members there are now.
            ("member", _) if self.options.follow_members => self.wish(Sync::Light),
            ("dropped", Some(room)) => self.forget_room(&room),
            _ => {}
        }
        let _ = self.out.send(Ok(doc));
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
        stats.epochs.clone_from(&self.epochs);
        stats.presence.clone_from(&self.known);
    }
}
