//! [`Chat`]: the chat operations, the same on one server and in a cluster.
//!
//! In a cluster every command of the module touches one slot, so a user and
//! a room in different slots are joined in steps: the room keeps the
//! membership and the read cursor, the user's key a *listing* of the room.
//! The operations here run those steps in the order docs/deployment.md
//! gives, which keeps one rule at every moment: a user's list names every
//! room the user is a member of (it may name more). Every step is
//! idempotent, so an operation cut short anywhere (a crash, a failover) is
//! finished by running it again. Readers (`rooms`, `cursors`, `unread`,
//! `missed`, the listener) ask each listed room with `CHAT.CURSOR` and skip
//! a listing without a membership; [`Chat::reconcile`] removes old ones.
//!
//! The same steps run on one server, where they are also correct (there
//! `CHAT.SUBSCRIBE` lists the room itself, and the extra steps change
//! nothing), so an app behaves the same on both.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use redis::{Cmd, Value};

use crate::backend::Backend;
use crate::epochs::Epochs;
use crate::error::{Error, Result};
use crate::listen::{ListenOptions, Listener};
use crate::reply;
use crate::send::{self, SendOptions};
use crate::settings::Settings;

/// Where the chat lives.
#[derive(Clone, Debug)]
pub enum Target {
    /// One server, at a `redis://` URL.
    Standalone(String),
    /// A Redis Cluster, from some of its nodes (`redis://` URLs or
    /// `host:port`); the rest are found from these.
    Cluster(Vec<String>),
}

/// A member's read state in one room (`CHAT.CURSOR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// The id of the last message the member has read.
    pub cursor: u64,
    /// The id of the room's last message.
    pub last_id: u64,
    /// `last_id - cursor`.
    pub unread: u64,
    /// Messages after the cursor that mention the member (0 from a module
    /// without mentions).
    pub mentions: u64,
}

/// How to create a room: [`Chat::create_with`]. `CreateOptions::default()`
/// is a room without an owner, as [`Chat::create`] makes.
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    /// A registered user who becomes the room's first member, with the
    /// role owner (`OWNER`): the room then has moderators.
    pub owner: Option<String>,
    /// Joined by invitation only (`PRIVATE`); needs an owner.
    pub private: bool,
}

/// The chat operations of the redis-chat module, on one server or a
/// cluster. Cheap to clone: clones share the connections.
#[derive(Clone)]
pub struct Chat {
    pub(crate) backend: Arc<Backend>,
    /// The rooms' epochs known (epochs.rs).
    pub(crate) epochs: Arc<Epochs>,
}

impl Chat {
    /// Connects to one server, with default [`Settings`].
    pub async fn standalone(url: &str) -> Result<Chat> {
        Chat::connect(&Target::Standalone(url.to_string()), Settings::default()).await
    }

    /// Connects to a cluster through some of its nodes, with default
    /// [`Settings`].
    pub async fn cluster<S: AsRef<str>>(nodes: &[S]) -> Result<Chat> {
        let nodes = nodes.iter().map(|n| n.as_ref().to_string()).collect();
        Chat::connect(&Target::Cluster(nodes), Settings::default()).await
    }

    /// Connects to `target`.
    pub async fn connect(target: &Target, settings: Settings) -> Result<Chat> {
        let backend = match target {
            Target::Standalone(url) => Backend::standalone(url, settings).await?,
            Target::Cluster(nodes) => Backend::cluster(nodes, settings).await?,
        };
        Ok(Chat {
            backend: Arc::new(backend),
            epochs: Arc::default(),
        })
    }

    /// Whether this is a cluster.
    pub fn is_cluster(&self) -> bool {
        self.backend.is_cluster()
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.backend.settings
    }

    /// Runs any command, routed by its first argument in a cluster, and
    /// again after each transient failure: only for reads and for writes
    /// that may run twice.
    pub async fn query(&self, cmd: &Cmd) -> Result<Value> {
        self.backend.call(cmd).await
    }

    /// Runs any command once: a write that must not run twice.
    pub async fn query_once(&self, cmd: &Cmd) -> Result<Value> {
        self.backend.once(cmd).await
    }

    // -- users and rooms -----------------------------------------------------

    /// Registers a user (`CHAT.REGISTER`). Not retried: a retry whose first
    /// attempt did register would be refused with `user already exists`.
    pub async fn register(&self, user: &str, name: &str, password: Option<&str>) -> Result<()> {
        let mut c = redis::cmd("CHAT.REGISTER");
        c.arg(user).arg(name);
        if let Some(password) = password {
            c.arg("PASSWORD").arg(password);
        }
        self.query_once(&c).await.map(drop)
    }

    /// Creates a room (`CHAT.CREATE`); not retried, as `register`.
    pub async fn create(&self, room: &str, title: &str) -> Result<()> {
        self.create_with(room, title, &CreateOptions::default())
            .await
    }

    /// Creates a room with an owner (`CHAT.CREATE room title OWNER user`),
    /// private (`PRIVATE`, which needs an owner) or not; not retried.
    ///
    /// In a cluster, steps as for [`join`](Self::join): `CHAT.LIST-ROOM
    /// owner room` (the owner's key may be in another slot, and a member is
    /// never unlisted), `CHAT.CREATE`, `CHAT.LIST-ROOM owner room` again.
    /// When the module refuses the room (the id is taken, ...), the listing
    /// goes again unless the owner is a member of a room of that id.
    pub async fn create_with(
        &self,
        room: &str,
        title: &str,
        options: &CreateOptions,
    ) -> Result<()> {
        let mut c = redis::cmd("CHAT.CREATE");
        c.arg(room).arg(title);
        if let Some(owner) = &options.owner {
            c.arg("OWNER").arg(owner);
        }
        if options.private {
            c.arg("PRIVATE");
        }
        let owner = match &options.owner {
            Some(owner) if self.is_cluster() => owner,
            _ => return self.query_once(&c).await.map(drop),
        };
        self.list(owner, room).await?;
        if let Err(e) = self.query_once(&c).await {
            if e.is_refused() && matches!(self.cursor(room, owner).await, Ok(None)) {
                let _ = self.unlist(owner, room, None).await;
            }
            return Err(e);
        }
        self.list(owner, room).await
    }

    /// Makes `user` a member of `room`; joining again changes nothing.
    ///
    /// Steps: `CHAT.LIST-ROOM user room` (listed before a member, so never
    /// a member unlisted), `CHAT.SUBSCRIBE room user WITHEPOCH` (the room's
    /// epoch, which this client then knows), `CHAT.LIST-ROOM user
    /// room` again (a concurrent repair may have removed the first listing
    /// while the membership was not there yet). When the module refuses
    /// the subscription (`no such room`, a full room, `NOINVITE` from a
    /// private room without an invitation, `BANNED`, ...), the listing the
    /// first step made goes again, and the refusal is returned. A private
    /// room's invitation ([`invite`](Self::invite)) is taken up here.
    pub async fn join(&self, room: &str, user: &str) -> Result<()> {
        self.list(user, room).await?;
        if let Err(e) = self.subscribe(room, user).await {
            if e.is_refused() {
                // Not a member: the listing would only wait for a repair.
                let _ = self.unlist(user, room, None).await;
            }
            return Err(e);
        }
        self.list(user, room).await
    }

    /// Ends `user`'s membership of `room`; true if they were a member.
    ///
    /// Steps: `CHAT.UNSUBSCRIBE room user`, then `CHAT.UNLIST-ROOM user
    /// room`: a cut between the two leaves only a listing, which readers
    /// skip.
    pub async fn leave(&self, room: &str, user: &str) -> Result<bool> {
        let began = Instant::now();
        let was = self
            .query(redis::cmd("CHAT.UNSUBSCRIBE").arg(room).arg(user))
            .await?;
        // Only a listing older than this leave: a join of the same room
        // that ran meanwhile keeps its own.
        self.unlist(user, room, Some(began.elapsed())).await?;
        Ok(reply::int(was)? == 1)
    }

    /// The direct room of `a` and `b`, made if needed, with both as members.
    ///
    /// Steps: `CHAT.DM-ID a b` (no key), `CHAT.LIST-ROOM` for a and for b,
    /// `CHAT.DM-ROOM room a b`, `CHAT.LIST-ROOM` for each again.
    pub async fn dm(&self, a: &str, b: &str) -> Result<String> {
        let room = reply::string(self.query(redis::cmd("CHAT.DM-ID").arg(a).arg(b)).await?)?;
        self.list(a, &room).await?;
        self.list(b, &room).await?;
        self.query(redis::cmd("CHAT.DM-ROOM").arg(&room).arg(a).arg(b))
            .await?;
        self.list(a, &room).await?;
        self.list(b, &room).await?;
        Ok(room)
    }

    /// Removes a user, after ending their memberships; false if there was
    /// no such user.
    ///
    /// Steps: for each room of `CHAT.ROOMS user`, the leave above; then
    /// `CHAT.UNREGISTER user`. A join that lists another room meanwhile
    /// makes `CHAT.UNREGISTER` refuse with `CROSSSLOT`: then again, a
    /// bounded number of times.
    pub async fn unregister(&self, user: &str) -> Result<bool> {
        for _ in 0..self.settings().attempts {
            let listed = match self.listed(user).await {
                Err(e) if e.is_no_such_user() => return Ok(false),
                other => other?,
            };
            for room in &listed {
                self.leave(room, user).await?;
            }
            match self.query(redis::cmd("CHAT.UNREGISTER").arg(user)).await {
                Ok(_) => return Ok(true),
                Err(e) if e.is_no_such_user() => return Ok(false),
                Err(e) if e.has_code("CROSSSLOT") => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Usage(format!(
            "could not unregister '{user}': its rooms kept changing"
        )))
    }

    /// Removes a room; false if there was no such room.
    ///
    /// Steps: `CHAT.MEMBERS room`, `CHAT.DROP room`, then `CHAT.UNLIST-ROOM
    /// member room` for each member (errors ignored: a member may have gone
    /// meanwhile), only for a listing older than the drop (`IF-OLDER-THAN-MS`
    /// the time since the drop began), so that a member who joined a room
    /// made again under the same id meanwhile keeps theirs. A cut before the
    /// last step leaves listings of a room that is gone, which readers skip
    /// and `reconcile` removes.
    pub async fn drop_room(&self, room: &str) -> Result<bool> {
        let began = Instant::now();
        let members = match self.query(redis::cmd("CHAT.MEMBERS").arg(room)).await {
            Err(e) if e.is_no_such_room() => return Ok(false),
            other => reply::strings(other?)?,
        };
        match self.query(redis::cmd("CHAT.DROP").arg(room)).await {
            Err(e) if e.is_no_such_room() => return Ok(false),
            other => other?,
        };
        self.epochs.forget(room);
        for member in &members {
            let age = began.elapsed();
            let _ = self.unlist(member, room, Some(age)).await;
        }
        Ok(true)
    }

    /// Removes the listings of rooms `user` is not a member of (a join or
    /// leave cut short, a dropped room), and returns them.
    ///
    /// Only listings at least `settings.reconcile_age` old go
    /// (`CHAT.UNLIST-ROOM user room IF-OLDER-THAN-MS 60000` by default): a
    /// younger one may belong to a join still between its steps.
    pub async fn reconcile(&self, user: &str) -> Result<Vec<String>> {
        let (_, stale) = self.memberships(user).await?;
        let age = self.settings().reconcile_age;
        let mut removed = Vec::new();
        for room in stale {
            if self.unlist(user, &room, Some(age)).await? {
                removed.push(room);
            }
        }
        Ok(removed)
    }

    // -- reading -------------------------------------------------------------

    /// The rooms `user` is a member of, ascending: the listed rooms whose
    /// `CHAT.CURSOR` says so.
    pub async fn rooms(&self, user: &str) -> Result<Vec<String>> {
        Ok(self.cursors(user).await?.into_keys().collect())
    }

    /// The read state of `user` in each room they are a member of.
    pub async fn cursors(&self, user: &str) -> Result<BTreeMap<String, Cursor>> {
        Ok(self.memberships(user).await?.0)
    }

    /// `user`'s read state in `room`; None when they are not a member (or
    /// there is no such room).
    pub async fn cursor(&self, room: &str, user: &str) -> Result<Option<Cursor>> {
        match self
            .query(redis::cmd("CHAT.CURSOR").arg(room).arg(user))
            .await
        {
            Ok(v) => {
                let mut f = reply::map(v)?;
                Ok(Some(Cursor {
                    cursor: reply::count_field(&mut f, "cursor")?,
                    last_id: reply::count_field(&mut f, "last_id")?,
                    unread: reply::count_field(&mut f, "unread")?,
                    mentions: reply::count_field_or_zero(&mut f, "mentions")?,
                }))
            }
            Err(e) if e.is_not_member() || e.is_no_such_room() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The rooms with unread messages for `user`, and how many each.
    pub async fn unread(&self, user: &str) -> Result<BTreeMap<String, u64>> {
        Ok(self
            .cursors(user)
            .await?
            .into_iter()
            .filter(|(_, c)| c.unread > 0)
            .map(|(room, c)| (room, c.unread))
            .collect())
    }

    /// Moves `user`'s read cursor in `room` forward to `id`; returns the
    /// cursor now in force (it never moves back).
    pub async fn read(&self, room: &str, user: &str, id: u64) -> Result<u64> {
        reply::count(
            self.query(redis::cmd("CHAT.READ").arg(room).arg(user).arg(id))
                .await?,
        )
    }

    // -- messages ------------------------------------------------------------

    /// Sends a message and returns its id, stored at most once.
    ///
    /// A new random DEDUP key names the send, which is retried with it
    /// through broken connections, `TRYAGAIN`, `CLUSTERDOWN`, `MOVED`/`ASK`
    /// and failovers, up to `settings.attempts` times. With `replicas` > 0
    /// it returns once that many replicas have the message (`WAIT` on the
    /// connection of the send), else [`Error::NotReplicated`].
    pub async fn send(&self, room: &str, sender: &str, text: &str, replicas: usize) -> Result<u64> {
        let options = SendOptions {
            replicas,
            ..SendOptions::default()
        };
        self.send_with(room, sender, text, &options).await
    }

    /// [`send`](Self::send) with the DEDUP key given: a second send with the
    /// same key within the module's `chat.dedup-window` stores nothing and
    /// returns the first one's id.
    pub async fn send_with_key(
        &self,
        room: &str,
        sender: &str,
        text: &str,
        key: &str,
        replicas: usize,
    ) -> Result<u64> {
        send::send(&self.backend, room, sender, text, key, replicas, &[]).await
    }

    /// [`send`](Self::send) with options: a reply (`REPLY <id>`), mentions
    /// (`MENTION <user>`), the DEDUP key and the replicas to wait for. A
    /// retry sends the same words with the same key.
    pub async fn send_with(
        &self,
        room: &str,
        sender: &str,
        text: &str,
        options: &SendOptions,
    ) -> Result<u64> {
        let key = match &options.key {
            Some(key) => key.clone(),
            None => send::new_key()?,
        };
        let extra = options.words();
        send::send(
            &self.backend,
            room,
            sender,
            text,
            &key,
            options.replicas,
            &extra,
        )
        .await
    }

    /// Live messages and events for `user`, with default options: see
    /// [`Listener`].
    pub async fn listen(&self, user: &str) -> Result<Listener> {
        self.listen_with(user, ListenOptions::default()).await
    }

    /// [`listen`](Self::listen) with options.
    pub async fn listen_with(&self, user: &str, options: ListenOptions) -> Result<Listener> {
        Listener::start(self.clone(), user, options).await
    }

    // -- steps ---------------------------------------------------------------

    async fn list(&self, user: &str, room: &str) -> Result<()> {
        self.query(redis::cmd("CHAT.LIST-ROOM").arg(user).arg(room))
            .await
            .map(drop)
    }

    /// Removes a listing (only one made at least `age` ago, if given): a
    /// repair's margin for joins in progress, or the time since a drop
    /// began; false
    /// when there was none, or the module kept it (younger than asked, or
    /// the user is a member of a room of their slot: a join won the race,
    /// as it should), or the user is gone.
    pub(crate) async fn unlist(
        &self,
        user: &str,
        room: &str,
        age: Option<Duration>,
    ) -> Result<bool> {
        let ms = age.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self.unlist_with(user, room, ms.map(|ms| ("IF-OLDER-THAN-MS", ms)))
            .await
    }

    async fn unlist_with(&self, user: &str, room: &str, age: Option<(&str, u64)>) -> Result<bool> {
        let mut c = redis::cmd("CHAT.UNLIST-ROOM");
        c.arg(user).arg(room);
        if let Some((option, value)) = age {
            c.arg(option).arg(value);
        }
        match self.query(&c).await {
            Ok(v) => Ok(reply::int(v)? == 1),
            Err(Error::Refused { message, .. })
                if message == "no such user" || message.starts_with("user is still a member") =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// The rooms listed for `user` (`CHAT.ROOMS`), members or not.
    pub(crate) async fn listed(&self, user: &str) -> Result<Vec<String>> {
        reply::strings(self.query(redis::cmd("CHAT.ROOMS").arg(user)).await?)
    }

    /// (the rooms `user` is a member of, with their cursors; the listed
    /// rooms they are not a member of).
    async fn memberships(&self, user: &str) -> Result<(BTreeMap<String, Cursor>, Vec<String>)> {
        let listed = self.listed(user).await?;
        self.memberships_of(user, listed).await
    }

    /// [`memberships`](Self::memberships) among rooms listed already.
    pub(crate) async fn memberships_of(
        &self,
        user: &str,
        listed: Vec<String>,
    ) -> Result<(BTreeMap<String, Cursor>, Vec<String>)> {
        let cursors = join_all(listed.iter().map(|room| self.cursor(room, user))).await;
        let mut members = BTreeMap::new();
        let mut stale = Vec::new();
        for (room, cursor) in listed.into_iter().zip(cursors) {
            match cursor? {
                Some(c) => {
                    members.insert(room, c);
                }
                None => stale.push(room),
            }
        }
        Ok((members, stale))
    }
}
