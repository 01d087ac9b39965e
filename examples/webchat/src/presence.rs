//! Who is online, live, for the people each signed-in user sees.
//!
//! The module publishes a user's change of presence on their presence
//! channel, `chat:user:{U}:presence` (a shard channel in the user's slot
//! in Redis Cluster): once when CHAT.ONLINE finds them offline, once when
//! CHAT.OFFLINE of their last device or the end of their presence TTL
//! makes them offline. A heartbeat while online publishes nothing.
//!
//! Per signed-in user with a tab open, the hub says whom the user sees
//! ([`people`]): the other members of their fan-out rooms (the presence
//! channels `CHAT.CHANNELS <user> PRESENCE` lists) and of their broadcast
//! rooms of at most [`ROOM_PEOPLE_MAX`] members (in a cluster, a room with
//! members of other slots broadcasts, however small). The server listens
//! once per person, however many of its users see them: on one server
//! `SUBSCRIBE`, in a cluster `SSUBSCRIBE` on the node that serves the
//! channel's slot, one pub/sub connection per node, as the client
//! library's listener does for the rooms. Once subscribed it reads the
//! person's `CHAT.PROFILE`, so no change falls between the two; a
//! connection that breaks, or a slot that moves (the server ends its
//! subscriptions), makes it start over on new connections and read every
//! person again. Each change goes to the tabs of every user who sees the
//! person: `{"t": "presence", "online": {"bob": true}}`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::future::join_all;
use redis_chat_client::redis::{self, IntoConnectionInfo};
use redis_chat_client::Target;
use serde_json::{json, Value as Json};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::{sleep_until, timeout, Instant};

use crate::chat::{int, pairs, strings, Chat, ChatResult};
use crate::hub::{frame, Frame};
use crate::pubsub::{Push, Subscriptions};

/// A broadcast room with more members than this: the presence of its
/// members is not followed (the page lists no members there either).
pub const ROOM_PEOPLE_MAX: i64 = 100;
/// How long a change of whom a user sees waits for the subscriptions.
const WATCH_WAIT: Duration = Duration::from_secs(10);

/// `chat:user:{U}:presence`, as the module names it: `{U}` is the id in
/// braces, or for an id with its own tag (`{acme}bob`) the tag and then
/// the rest in braces (`{acme}{bob}`).
pub fn presence_channel(user: &str) -> String {
    format!("chat:user:{}:presence", braced(user))
}

fn braced(id: &str) -> String {
    match id.strip_prefix('{').and_then(|rest| rest.split_once('}')) {
        Some((tag, rest)) => format!("{{{tag}}}{{{rest}}}"),
        None => format!("{{{id}}}"),
    }
}

/// The id a channel is named after: `{bob}` -> `bob`, `{acme}{bob}` ->
/// `{acme}bob` (ids have no braces but their tag's).
fn unbraced(name: &str) -> Option<String> {
    let inner = name.strip_prefix('{')?.strip_suffix('}')?;
    Some(match inner.split_once("}{") {
        Some((tag, rest)) => format!("{{{tag}}}{rest}"),
        None => inner.to_string(),
    })
}

fn id_in(channel: &str, prefix: &str, suffix: &str) -> Option<String> {
    unbraced(channel.strip_prefix(prefix)?.strip_suffix(suffix)?)
}

/// Whom `user` sees: the other members of their fan-out rooms, and of
/// their broadcast rooms of at most ROOM_PEOPLE_MAX members.
pub async fn people(chat: &Chat, user: &str) -> ChatResult<BTreeSet<String>> {
    let mut people = BTreeSet::new();
    // The first is the verb, SUBSCRIBE or SSUBSCRIBE.
    for channel in chat.channels(user).await?.iter().skip(1) {
        if let Some(person) = id_in(channel, "chat:user:", ":presence") {
            people.insert(person);
        } else if let Some(room) = id_in(channel, "chat:room:", ":push") {
            match chat.info(&room).await {
                Ok(Some(info)) if info.members <= ROOM_PEOPLE_MAX => {
                    people.extend(chat.members(&room).await?);
                }
                Ok(_) => {}
                Err(e) if e.refused => {}
                Err(e) => return Err(e),
            }
        }
    }
    people.remove(user);
    Ok(people)
}

/// The module's presence TTL (`chat.presence-ttl`) when it cannot be read:
/// the module's default.
const PRESENCE_TTL: u64 = 60;

impl Chat {
    /// CHAT.ONLINE for one tab, a device of its own: the user is online
    /// while any of their devices is, each for the module's presence TTL.
    pub async fn online(&self, user: &str, device: &str) -> ChatResult<()> {
        let mut c = redis::cmd("CHAT.ONLINE");
        c.arg(user).arg("DEVICE").arg(device);
        self.run(&c).await.map(drop)
    }

    /// CHAT.OFFLINE for one tab: the user goes offline (and the module
    /// says so on their presence channel) only when it was the last one.
    pub async fn offline(&self, user: &str, device: &str) -> ChatResult<()> {
        let mut c = redis::cmd("CHAT.OFFLINE");
        c.arg(user).arg("DEVICE").arg(device);
        self.run(&c).await.map(drop)
    }

    /// How long a CHAT.ONLINE lasts, in seconds (`chat.presence-ttl`, as
    /// the module has it now; on a cluster, as one node has it).
    pub async fn presence_ttl(&self) -> u64 {
        let mut c = redis::cmd("CONFIG");
        c.arg("GET").arg("chat.presence-ttl");
        let ttl = match self.run(&c).await {
            Ok(v) => pairs(v)
                .ok()
                .and_then(|mut f| f.remove("chat.presence-ttl"))
                .and_then(|v| int(v).ok()),
            Err(_) => None,
        };
        ttl.and_then(|n| u64::try_from(n).ok())
            .filter(|n| *n > 0)
            .unwrap_or(PRESENCE_TTL)
    }

    /// Whether the user is online now (CHAT.PROFILE); false for no such
    /// user.
    pub async fn is_online(&self, user: &str) -> ChatResult<bool> {
        match self
            .profile(user)
            .await?
            .and_then(|mut f| f.remove("online"))
        {
            Some(v) => Ok(int(v)? == 1),
            None => Ok(false),
        }
    }

    /// CHAT.CHANNELS <user> PRESENCE: SUBSCRIBE or SSUBSCRIBE, the user's
    /// channels and those of their broadcast rooms, then the presence
    /// channels of the other members of their fan-out rooms.
    pub async fn channels(&self, user: &str) -> ChatResult<Vec<String>> {
        let mut c = redis::cmd("CHAT.CHANNELS");
        c.arg(user).arg("PRESENCE");
        strings(self.run(&c).await?)
    }
}

/// The presence of the people the server's users see; cheap to clone.
#[derive(Clone)]
pub struct Presence {
    shared: Arc<Mutex<Shared>>,
    /// Asks the subscriber to follow `Shared` now; with a sender, to say
    /// when it did.
    sync: mpsc::UnboundedSender<Option<oneshot::Sender<()>>>,
}

#[derive(Default)]
struct Shared {
    /// Signed-in user -> their tabs, and whom they see.
    watchers: HashMap<String, Watcher>,
    /// Person -> the signed-in users who see them.
    seen_by: HashMap<String, BTreeSet<String>>,
    /// Person -> online, as last read or told (people followed only).
    known: HashMap<String, bool>,
}

struct Watcher {
    tx: broadcast::Sender<Frame>,
    people: BTreeSet<String>,
}

impl Shared {
    /// Whom a user sees now (none: the user is gone); the people no one
    /// sees any more are forgotten.
    fn set(&mut self, user: &str, watcher: Option<Watcher>) {
        let now = watcher
            .as_ref()
            .map(|w| w.people.clone())
            .unwrap_or_default();
        let old = match watcher {
            Some(w) => self.watchers.insert(user.to_string(), w),
            None => self.watchers.remove(user),
        };
        for person in old.map(|w| w.people).unwrap_or_default().difference(&now) {
            let users = self.seen_by.entry(person.clone()).or_default();
            users.remove(user);
            if users.is_empty() {
                self.seen_by.remove(person);
                self.known.remove(person);
            }
        }
        for person in now {
            self.seen_by
                .entry(person)
                .or_default()
                .insert(user.to_string());
        }
    }

    /// Takes a person's presence; a change goes to whoever sees them.
    fn learn(&mut self, person: &str, online: bool) {
        let Some(users) = self.seen_by.get(person) else {
            return;
        };
        if self.known.insert(person.to_string(), online) == Some(online) {
            return;
        }
        let change = frame(&json!({"t": "presence", "online": {person: online}}));
        for user in users {
            if let Some(w) = self.watchers.get(user) {
                let _ = w.tx.send(change.clone());
            }
        }
    }
}

impl Presence {
    /// Starts the subscriber, which connects when someone is to be
    /// followed.
    pub fn start(chat: Chat, target: &Target) -> Result<Presence, String> {
        let (template, cluster) = match target {
            Target::Standalone(url) => (url.as_str().into_connection_info(), false),
            Target::Cluster(nodes) => {
                let first = nodes.first().map(String::as_str).unwrap_or_default();
                let url = if first.contains("://") {
                    first.to_string()
                } else {
                    format!("redis://{first}/")
                };
                (url.as_str().into_connection_info(), true)
            }
        };
        let template = template.map_err(|e| format!("a Redis address: {e}"))?;
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (sync, requests) = mpsc::unbounded_channel();
        let subscriber = Subscriber {
            chat,
            shared: shared.clone(),
            subs: Subscriptions::new(template, cluster),
        };
        tokio::spawn(subscriber.run(requests));
        Ok(Presence { shared, sync })
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `user` (whose tabs `tx` reaches) sees `people` from now on: returns
    /// once the server listens for them, having sent the tabs what each
    /// of them is now.
    pub async fn watch(&self, user: &str, tx: broadcast::Sender<Frame>, people: BTreeSet<String>) {
        self.lock().set(
            user,
            Some(Watcher {
                tx: tx.clone(),
                people,
            }),
        );
        let (done, synced) = oneshot::channel();
        if self.sync.send(Some(done)).is_ok() {
            let _ = timeout(WATCH_WAIT, synced).await;
        }
        let online = self.online(user);
        if online.as_object().is_some_and(|o| !o.is_empty()) {
            let _ = tx.send(frame(&json!({"t": "presence", "online": online})));
        }
    }

    /// `user`'s tabs (`tx`) are closed: no one is followed for them.
    pub fn forget(&self, user: &str, tx: &broadcast::Sender<Frame>) {
        let mut shared = self.lock();
        if shared
            .watchers
            .get(user)
            .is_some_and(|w| w.tx.same_channel(tx))
        {
            shared.set(user, None);
            drop(shared);
            let _ = self.sync.send(None);
        }
    }

    /// Person -> online, for the people `user` sees whose presence is
    /// known.
    pub fn online(&self, user: &str) -> Json {
        let shared = self.lock();
        let mut online = serde_json::Map::new();
        if let Some(w) = shared.watchers.get(user) {
            for person in &w.people {
                if let Some(on) = shared.known.get(person) {
                    online.insert(person.clone(), json!(on));
                }
            }
        }
        Json::Object(online)
    }
}

/// Follows, on its own task, the people someone sees.
struct Subscriber {
    chat: Chat,
    shared: Arc<Mutex<Shared>>,
    subs: Subscriptions,
}

impl Subscriber {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn run(mut self, mut requests: mpsc::UnboundedReceiver<Option<oneshot::Sender<()>>>) {
        let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
        let (mut wanted, mut full) = (false, false);
        let mut retry_at: Option<Instant> = None;
        let mut failures = 0u32;
        loop {
            if wanted && retry_at.is_none_or(|t| Instant::now() >= t) {
                match self.sync(full).await {
                    Ok(()) => (wanted, full, retry_at, failures) = (false, false, None, 0),
                    Err(e) => {
                        eprintln!("webchat: following presence: {e}");
                        full = true;
                        failures = failures.saturating_add(1);
                        let pause = Duration::from_millis(250 << failures.min(5));
                        retry_at = Some(Instant::now() + pause);
                    }
                }
                // Whoever waits goes on, followed or not: the next sync
                // comes soon.
                for done in waiting.drain(..) {
                    let _ = done.send(());
                }
                continue;
            }
            let wake = retry_at.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                request = requests.recv() => match request {
                    Some(done) => {
                        wanted = true;
                        waiting.extend(done);
                    }
                    None => return,
                },
                Some(push) = self.subs.pushes.recv() => match self.subs.classify(push) {
                    Push::Payload { channel, payload } => self.on_payload(&channel, &payload),
                    // Changes published meanwhile may be lost: start over.
                    Push::Dropped | Push::Disconnected => (wanted, full) = (true, true),
                    Push::Nothing => {}
                },
                _ = sleep_until(wake), if wanted => {}
            }
        }
    }

    /// A change of presence, from the person's own channel only.
    fn on_payload(&mut self, channel: &str, payload: &[u8]) {
        let Ok(doc) = serde_json::from_slice::<Json>(payload) else {
            return;
        };
        if let (Some("presence"), Some(user), Some(online)) = (
            doc["type"].as_str(),
            doc["user"].as_str(),
            doc["online"].as_bool(),
        ) {
            if presence_channel(user) == channel {
                self.lock().learn(user, online);
            }
        }
    }

    /// Listens on exactly the presence channels of the people someone
    /// sees (on new connections if `full`), then reads the presence of
    /// those newly followed.
    async fn sync(&mut self, full: bool) -> Result<(), String> {
        if full {
            self.subs.reset();
        }
        let wanted: BTreeMap<String, String> = self
            .lock()
            .seen_by
            .keys()
            .map(|person| (presence_channel(person), person.clone()))
            .collect();
        let channels: BTreeSet<String> = wanted.keys().cloned().collect();
        let fresh: Vec<&String> = self
            .subs
            .set(&self.chat, &channels)
            .await?
            .iter()
            .filter_map(|channel| wanted.get(channel))
            .collect();
        // Listening: what each of them is now.
        let reads = join_all(fresh.iter().map(|p| self.chat.is_online(p))).await;
        for (person, online) in fresh.into_iter().zip(reads) {
            let online = online.map_err(|e| e.message)?;
            self.lock().learn(person, online);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_as_the_module_makes_them() {
        assert_eq!(presence_channel("bob"), "chat:user:{bob}:presence");
        assert_eq!(
            presence_channel("{acme}bob"),
            "chat:user:{acme}{bob}:presence"
        );
        for id in ["bob", "{acme}bob", "a.b@c:d-e_f"] {
            assert_eq!(
                id_in(&presence_channel(id), "chat:user:", ":presence").as_deref(),
                Some(id)
            );
        }
        assert_eq!(
            id_in("chat:room:{town}:push", "chat:room:", ":push").as_deref(),
            Some("town")
        );
        assert_eq!(
            id_in("chat:room:{acme}{dm:1:a:b}:push", "chat:room:", ":push").as_deref(),
            Some("{acme}dm:1:a:b")
        );
        assert_eq!(
            id_in("chat:user:{bob}:push", "chat:user:", ":presence"),
            None
        );
        assert_eq!(
            id_in("chat:user:bob:presence", "chat:user:", ":presence"),
            None
        );
    }

    fn watcher(people: &[&str]) -> (Watcher, broadcast::Receiver<Frame>) {
        let (tx, rx) = broadcast::channel(16);
        let people = people.iter().map(|p| p.to_string()).collect();
        (Watcher { tx, people }, rx)
    }

    fn told(rx: &mut broadcast::Receiver<Frame>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(Frame::Json(text)) = rx.try_recv() {
            out.push(text.to_string());
        }
        out
    }

    #[test]
    fn changes_reach_whoever_sees_the_person_once() {
        let mut shared = Shared::default();
        let (a, mut rx_a) = watcher(&["bob", "carol"]);
        let (b, mut rx_b) = watcher(&["bob"]);
        shared.set("alice", Some(a));
        shared.set("dan", Some(b));
        shared.learn("bob", true);
        shared.learn("bob", true);
        shared.learn("eve", true);
        let bob_on = r#"{"online":{"bob":true},"t":"presence"}"#;
        assert_eq!(told(&mut rx_a), [bob_on]);
        assert_eq!(told(&mut rx_b), [bob_on]);
        // Dan no longer sees anyone: bob stays followed for alice alone.
        shared.set("dan", None);
        assert_eq!(shared.seen_by["bob"].len(), 1);
        shared.learn("bob", false);
        assert_eq!(told(&mut rx_a).len(), 1);
        assert!(told(&mut rx_b).is_empty());
        // No one sees carol any more: she is forgotten.
        shared.learn("carol", true);
        let (a, _rx) = watcher(&["bob"]);
        shared.set("alice", Some(a));
        assert!(!shared.seen_by.contains_key("carol"));
        assert!(!shared.known.contains_key("carol"));
        assert_eq!(shared.known.get("bob"), Some(&false));
    }
}
