//! How a listener behaves ([`ListenOptions`]) and what it did so far
//! ([`ListenStats`]).

use std::collections::BTreeMap;
use std::time::Duration;

/// How a listener behaves; `ListenOptions::default()` is what most apps
/// want.
#[derive(Clone, Debug)]
pub struct ListenOptions {
    /// Time between re-reads of the user's channels and rooms, which picks
    /// up rooms joined elsewhere; None: only after a reconnect, a `mode`
    /// event or
    /// [`ListenerHandle::refresh`](crate::ListenerHandle::refresh).
    /// Default 5 s.
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
    /// The epoch each room's ids (from `start`, or the read cursor) belong
    /// to, as the app last knew it: a room whose epoch is another now
    /// starts with a reset. Rooms not here start in the epoch the client
    /// knows ([`Chat::known_epoch`](crate::Chat::known_epoch)), else the
    /// server's.
    pub epochs: BTreeMap<String, String>,
    /// A device id (1 to 64 bytes of `A-Z a-z 0-9 _ . : @ -`): the
    /// heartbeats keep this device online (`CHAT.ONLINE ... DEVICE`), and
    /// [`Listener::close`](crate::Listener::close) ends its presence
    /// (`CHAT.OFFLINE ... DEVICE`), so the user goes offline at once when
    /// it was their last device.
    /// Without one, closing sends nothing (the TTL runs out): an OFFLINE
    /// would end the user's other devices too.
    pub device: Option<String>,
    /// Users whose presence to follow from the start (see
    /// [`ListenerHandle::follow_presence`](crate::ListenerHandle::follow_presence)).
    pub follow: Vec<String>,
    /// Also follow the other members of the user's fan-out rooms
    /// (`CHAT.CHANNELS ... PRESENCE`; a broadcast room's members are too
    /// many), read again at every sync and after a `member` event.
    pub follow_members: bool,
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
            epochs: BTreeMap::new(),
            device: None,
            follow: Vec::new(),
            follow_members: false,
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
    /// Reset documents and events handed out: rooms whose ids were handed
    /// out again.
    pub resets: u64,
    /// The epoch of each room's ids handed out, where known.
    pub epochs: BTreeMap<String, String>,
    /// Each followed user's presence (true: online) as last known: read
    /// when first followed, then changed by their `presence` events.
    pub presence: BTreeMap<String, bool>,
}
