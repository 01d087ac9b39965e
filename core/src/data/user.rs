//! A user as one value: profile, password hash, presence, rooms and inbox.
//!
//! The module stores a `User` as the value of the key named by the user id
//! (type `chat-user`). A user who only registered keeps a name and a time;
//! the rest (presence, password, rooms, inbox) is allocated when first
//! needed, so idle users stay small.

use serde::{Deserialize, Serialize};

use super::devices::Devices;
use super::inbox::{Change, Copy, Inbox, InboxV1};
use super::label::Label;
use crate::delivery::DeliveryId;
use crate::notify::Notify;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    name: Label,
    /// Unix ms.
    created: i64,
    more: Option<Box<More>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct More {
    /// Online until this unix ms (0: offline).
    online_until: i64,
    /// The rooms the user is a member of, in order of id.
    rooms: Vec<Joined>,
    inbox: Inbox,
    /// What fewer users have, in its own allocation so that `More` stays
    /// in its allocator size class.
    aside: Option<Box<Aside>>,
    /// What they are notified of while away (`CHAT.NOTIFY`).
    notify: Notify,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Aside {
    /// An Argon2id hash in PHC form.
    #[serde(with = "super::wire::optional_text")]
    password: Option<Box<str>>,
    /// The rooms that invited them and when, in order of id.
    invites: Vec<Joined>,
    /// Devices online each on their own (CHAT.ONLINE ... DEVICE), each
    /// with when it stops being online; the user is online while any is.
    devices: Devices,
}

impl More {
    fn aside(&mut self) -> &mut Aside {
        self.aside.get_or_insert_with(Default::default)
    }

    fn invites(&self) -> &[Joined] {
        self.aside.as_deref().map_or(&[], |a| &a.invites)
    }

    fn password(&self) -> Option<&str> {
        self.aside.as_deref().and_then(|a| a.password.as_deref())
    }

    fn drop_empty_aside(&mut self) {
        if self.aside.as_deref().is_some_and(Aside::is_empty) {
            self.aside = None;
        }
    }
}

impl Aside {
    fn is_empty(&self) -> bool {
        self.password.is_none() && self.invites.is_empty() && self.devices.is_empty()
    }
}

/// The aside of a user read from an encoding that kept the password in
/// `More` itself.
fn aside_with(password: Option<Box<str>>) -> Option<Box<Aside>> {
    password.map(|p| {
        Box::new(Aside {
            password: Some(p),
            invites: Vec::new(),
            devices: Devices::default(),
        })
    })
}

impl More {
    /// Where `room` is, or would go, among the rooms kept in order of id.
    fn find_room(&self, room: &str) -> Result<usize, usize> {
        self.rooms.binary_search_by(|j| (*j.room).cmp(room))
    }
}

/// A user as the first encoding wrote it: an inbox without dropped copies.
#[derive(Deserialize)]
pub(super) struct UserV1 {
    name: Label,
    created: i64,
    more: Option<Box<MoreV1>>,
}

#[derive(Deserialize)]
struct MoreV1 {
    online_until: i64,
    #[serde(with = "super::wire::optional_text")]
    password: Option<Box<str>>,
    rooms: Vec<Joined>,
    inbox: InboxV1,
}

impl From<UserV1> for User {
    fn from(v1: UserV1) -> User {
        User {
            name: v1.name,
            created: v1.created,
            more: v1.more.map(|m| {
                Box::new(More {
                    online_until: m.online_until,
                    rooms: m.rooms,
                    inbox: m.inbox.into(),
                    aside: aside_with(m.password),
                    notify: Notify::default(),
                })
            }),
        }
    }
}

/// A user as encoding version 2 wrote it: without invitations.
#[derive(Deserialize)]
pub(super) struct UserV2 {
    name: Label,
    created: i64,
    more: Option<Box<MoreV2>>,
}

#[derive(Deserialize)]
struct MoreV2 {
    online_until: i64,
    #[serde(with = "super::wire::optional_text")]
    password: Option<Box<str>>,
    rooms: Vec<Joined>,
    inbox: Inbox,
}

impl From<UserV2> for User {
    fn from(v2: UserV2) -> User {
        User {
            name: v2.name,
            created: v2.created,
            more: v2.more.map(|m| {
                Box::new(More {
                    online_until: m.online_until,
                    rooms: m.rooms,
                    inbox: m.inbox,
                    aside: aside_with(m.password),
                    notify: Notify::default(),
                })
            }),
        }
    }
}

/// A user as encoding version 3 wrote it: without a notify setting or
/// devices.
#[derive(Deserialize)]
pub(super) struct UserV3 {
    name: Label,
    created: i64,
    more: Option<Box<MoreV3>>,
}

#[derive(Deserialize)]
struct MoreV3 {
    online_until: i64,
    rooms: Vec<Joined>,
    inbox: Inbox,
    aside: Option<Box<AsideV3>>,
}

#[derive(Deserialize)]
struct AsideV3 {
    #[serde(with = "super::wire::optional_text")]
    password: Option<Box<str>>,
    invites: Vec<Joined>,
}

impl From<UserV3> for User {
    fn from(v3: UserV3) -> User {
        User {
            name: v3.name,
            created: v3.created,
            more: v3.more.map(|m| {
                Box::new(More {
                    online_until: m.online_until,
                    rooms: m.rooms,
                    inbox: m.inbox,
                    aside: m.aside.map(|a| {
                        Box::new(Aside {
                            password: a.password,
                            invites: a.invites,
                            devices: Devices::default(),
                        })
                    }),
                    notify: Notify::default(),
                })
            }),
        }
    }
}

/// A room the user is in, and when they joined it (unix ms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Joined {
    #[serde(with = "super::wire::text")]
    room: Box<str>,
    at: i64,
}

impl User {
    pub fn new(origin: u32, name: &str, created: i64) -> User {
        User {
            name: Label::new(origin, name),
            created,
            more: None,
        }
    }

    pub fn origin(&self) -> u32 {
        self.name.origin()
    }

    pub fn name(&self) -> &str {
        self.name.text()
    }

    pub fn created(&self) -> i64 {
        self.created
    }

    fn more(&mut self) -> &mut More {
        self.more.get_or_insert_with(Default::default)
    }

    pub fn password(&self) -> Option<&str> {
        self.more.as_ref().and_then(|m| m.password())
    }

    pub fn set_password(&mut self, hash: &str) {
        self.more().aside().password = Some(hash.into());
    }

    /// Whether the user is online at `now`.
    pub fn online(&self, now: i64) -> bool {
        self.online_until() > now
    }

    pub fn online_until(&self) -> i64 {
        self.more.as_ref().map_or(0, |m| m.online_until)
    }

    pub fn set_online_until(&mut self, until: i64) {
        if until != 0 || self.more.is_some() {
            self.more().online_until = until;
        }
    }

    /// CHAT.ONLINE at `now`: the user, or one of their devices (`device`),
    /// is online until `until`. Without devices, the user's time is the
    /// last heartbeat's; once a device is named, each device has its own
    /// (a heartbeat without a device is the device ""), devices whose time
    /// ended are forgotten, and the user is online until the latest.
    pub fn heartbeat(&mut self, device: Option<&str>, until: i64, now: i64) {
        let has_devices = self.devices().is_some_and(|d| !d.is_empty());
        let Some(device) = device.or(has_devices.then_some("")) else {
            self.set_online_until(until);
            return;
        };
        let was_until = self.online_until();
        let more = self.more();
        let devices = &mut more.aside().devices;
        if !has_devices && was_until > now {
            // Online already without a device: that presence is device "".
            devices.beat("", was_until, now);
        }
        devices.beat(device, until, now);
        more.online_until = devices.latest();
    }

    /// CHAT.OFFLINE at `now`: one device goes offline (the user stays
    /// online while another is), or, without `device`, every device.
    pub fn go_offline(&mut self, device: Option<&str>, now: i64) {
        let Some(more) = self.more.as_mut() else {
            return;
        };
        let until = match (device, more.aside.as_mut()) {
            (Some(device), Some(aside)) if !aside.devices.is_empty() => {
                aside.devices.end(device, now);
                aside.devices.latest()
            }
            // A device of a user who named none: the only presence there is.
            _ => 0,
        };
        if let Some(aside) = more.aside.as_mut() {
            if until == 0 {
                aside.devices.clear();
            }
        }
        more.online_until = until;
        more.drop_empty_aside();
    }

    /// The devices online each on their own, with when each stops.
    fn devices(&self) -> Option<&Devices> {
        self.more
            .as_ref()
            .and_then(|m| m.aside.as_deref())
            .map(|a| &a.devices)
    }

    /// Device ids with their ends, in order of id.
    pub fn device_ends(&self) -> impl Iterator<Item = (&str, i64)> {
        self.devices().into_iter().flat_map(Devices::iter)
    }

    /// What the user is notified of while away.
    pub fn notify(&self) -> Notify {
        self.more.as_ref().map_or(Notify::default(), |m| m.notify)
    }

    pub fn set_notify(&mut self, notify: Notify) {
        if notify != Notify::default() || self.more.is_some() {
            self.more().notify = notify;
        }
    }

    /// The rooms the user is in, in order of id, with when they joined.
    pub fn rooms(&self) -> impl Iterator<Item = (&str, i64)> {
        self.more
            .iter()
            .flat_map(|m| m.rooms.iter().map(|j| (&*j.room, j.at)))
    }

    pub fn room_count(&self) -> u64 {
        self.more.as_ref().map_or(0, |m| m.rooms.len() as u64)
    }

    pub fn in_room(&self, room: &str) -> bool {
        self.joined_at(room).is_some()
    }

    /// When `room` entered the user's rooms; `None` if it is not there.
    pub fn joined_at(&self, room: &str) -> Option<i64> {
        let more = self.more.as_ref()?;
        let i = more.find_room(room).ok()?;
        more.rooms.get(i).map(|j| j.at)
    }

    /// Adds `room` to the user's rooms; false if it was there already.
    pub fn join(&mut self, room: &str, at: i64) -> bool {
        let more = self.more();
        match more.find_room(room) {
            Ok(_) => false,
            Err(i) => {
                let rooms = &mut more.rooms;
                if rooms.len() == rooms.capacity() {
                    rooms.reserve_exact(1 + rooms.len() / 4);
                }
                rooms.insert(
                    i,
                    Joined {
                        room: room.into(),
                        at,
                    },
                );
                true
            }
        }
    }

    /// Lists `room` as of `at`: adds it, or, when it is listed, moves its
    /// time to `at` (CHAT.LIST-ROOM: a repair leaves a recent listing alone,
    /// and every join step makes it recent). True if it was not listed.
    pub fn list_room(&mut self, room: &str, at: i64) -> bool {
        let more = self.more();
        if let Ok(i) = more.find_room(room) {
            if let Some(joined) = more.rooms.get_mut(i) {
                joined.at = at;
            }
            return false;
        }
        self.join(room, at)
    }

    /// False if `room` was not among the user's rooms.
    pub fn leave(&mut self, room: &str) -> bool {
        let Some(more) = self.more.as_mut() else {
            return false;
        };
        match more.find_room(room) {
            Ok(i) => {
                more.rooms.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    pub fn inbox(&self) -> Option<&Inbox> {
        self.more.as_ref().map(|m| &m.inbox)
    }

    pub fn inbox_len(&self) -> u64 {
        self.inbox().map_or(0, Inbox::len)
    }

    /// The handle the next copy delivered at `now` gets.
    pub fn next_delivery(&self, now: i64) -> DeliveryId {
        match self.inbox() {
            Some(inbox) => inbox.next_delivery(now),
            None => Inbox::default().next_delivery(now),
        }
    }

    /// Adds a copy (see `Inbox::push`).
    pub fn deliver(&mut self, copy: &Copy<'_>) -> bool {
        self.more().inbox.push(copy)
    }

    /// See `Inbox::ack`.
    pub fn ack(&mut self, upto: DeliveryId) -> (u64, bool) {
        self.more.as_mut().map_or((0, false), |m| m.inbox.ack(upto))
    }

    /// See `Inbox::trim_keeping`.
    pub fn trim_inbox_keeping(&mut self, keep: u64) -> u64 {
        self.more.as_mut().map_or(0, |m| m.inbox.trim_keeping(keep))
    }

    /// See `Inbox::change_copies`.
    pub fn change_copies(&mut self, room: &str, id: u64, ts: i64, change: Change<'_>) -> usize {
        self.more
            .as_mut()
            .map_or(0, |m| m.inbox.change_copies(room, id, ts, change))
    }

    /// Heap bytes the user holds beyond its own struct.
    pub fn heap_bytes(&self) -> usize {
        use super::alloc_size;
        self.name.heap_bytes()
            + self.more.as_ref().map_or(0, |m| {
                alloc_size(std::mem::size_of::<More>())
                    + m.aside.as_ref().map_or(0, |a| {
                        alloc_size(std::mem::size_of::<Aside>())
                            + a.password.as_ref().map_or(0, |p| alloc_size(p.len()))
                            + alloc_size(a.invites.capacity() * std::mem::size_of::<Joined>())
                            + a.invites
                                .iter()
                                .map(|j| alloc_size(j.room.len()))
                                .sum::<usize>()
                            + a.devices.heap_bytes()
                    })
                    + alloc_size(m.rooms.capacity() * std::mem::size_of::<Joined>())
                    + m.rooms
                        .iter()
                        .map(|j| alloc_size(j.room.len()))
                        .sum::<usize>()
                    + m.inbox.heap_bytes()
            })
    }

    /// The rooms that invited the user, in order of id, with when.
    pub fn invites(&self) -> impl Iterator<Item = (&str, i64)> {
        self.more
            .iter()
            .flat_map(|m| m.invites().iter())
            .map(|j| (&*j.room, j.at))
    }

    /// Lists an invitation to `room`; with `max` listed already, the
    /// oldest goes first (the room keeps the invitation that counts).
    /// False if it was listed.
    pub fn add_invite(&mut self, room: &str, at: i64, max: usize) -> bool {
        let invites = &mut self.more().aside().invites;
        let Err(i) = invites.binary_search_by(|j| (*j.room).cmp(room)) else {
            return false;
        };
        invites.insert(
            i,
            Joined {
                room: room.into(),
                at,
            },
        );
        if invites.len() > max {
            let oldest = invites.iter().enumerate().min_by_key(|(_, j)| j.at);
            if let Some((i, _)) = oldest {
                invites.remove(i);
            }
        }
        true
    }

    /// Takes `room` off the invitations; false if it was not there.
    pub fn remove_invite(&mut self, room: &str) -> bool {
        let Some(more) = self.more.as_mut() else {
            return false;
        };
        let Some(aside) = more.aside.as_mut() else {
            return false;
        };
        let Ok(i) = aside.invites.binary_search_by(|j| (*j.room).cmp(room)) else {
            return false;
        };
        aside.invites.remove(i);
        more.drop_empty_aside();
        true
    }

    /// Checks a decoded user.
    pub fn check(&mut self) -> Result<(), String> {
        if let Some(more) = self.more.as_mut() {
            if more.rooms.windows(2).any(|w| w[0].room >= w[1].room) {
                return Err("the user's rooms are out of order".into());
            }
            if let Some(aside) = &more.aside {
                if aside.is_empty() {
                    return Err("an empty part of a user is kept".into());
                }
                if aside.invites.windows(2).any(|w| w[0].room >= w[1].room) {
                    return Err("the user's invitations are out of order".into());
                }
                aside.devices.check()?;
            }
            more.inbox.check()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::wire;

    #[test]
    fn listing_a_listed_room_makes_it_recent() {
        let mut u = User::new(1, "Alice", 1000);
        assert!(u.list_room("general", 5));
        assert!(!u.list_room("general", 9));
        assert_eq!(u.joined_at("general"), Some(9));
        assert!(!u.join("general", 12));
        assert_eq!(u.joined_at("general"), Some(9));
        assert_eq!(u.room_count(), 1);
    }

    #[test]
    fn an_idle_user_is_small() {
        assert_eq!(std::mem::size_of::<User>(), 32);
        // A user in a room: 80 bytes more, one allocator size class.
        assert!(
            std::mem::size_of::<More>() <= 80,
            "{}",
            std::mem::size_of::<More>()
        );
        let u = User::new(1, "Alice", 1000);
        assert_eq!(u.heap_bytes(), 16);
        assert_eq!((u.name(), u.origin()), ("Alice", 1));
        assert_eq!(u.room_count(), 0);
        assert_eq!(u.inbox_len(), 0);
        assert!(!u.online(0));
    }

    #[test]
    fn rooms_are_kept_in_order() {
        let mut u = User::new(1, "A", 0);
        assert!(u.join("b", 2));
        assert!(u.join("a", 1));
        assert!(!u.join("a", 9));
        assert_eq!(u.rooms().collect::<Vec<_>>(), [("a", 1), ("b", 2)]);
        assert!(u.in_room("b"));
        assert!(u.leave("a"));
        assert!(!u.leave("a"));
        assert_eq!(u.room_count(), 1);
    }

    #[test]
    fn a_user_survives_its_encoding() {
        let mut u = User::new(9, "Bob", 5);
        u.set_password("$argon2id$v=19$...");
        u.join("general", 6);
        u.set_online_until(77);
        let c = Copy {
            delivery: u.next_delivery(100),
            room: "general",
            id: 1,
            sender: "alice",
            ts: 100,
            edited: None,
            deleted: false,
            text: "hi",
            extra: &[],
        };
        assert!(u.deliver(&c));
        let mut back: User = wire::decode_all(&wire::encode(&u)).unwrap();
        back.check().unwrap();
        assert_eq!(back, u);
        assert_eq!(back.password(), Some("$argon2id$v=19$..."));
        assert_eq!(back.inbox().unwrap().iter().next(), Some(c));
    }
}

#[cfg(test)]
mod device_tests {
    use super::*;

    #[test]
    fn a_user_with_devices_is_online_while_any_is() {
        let mut u = User::new(1, "A", 0);
        u.heartbeat(None, 100, 0);
        assert_eq!((u.online_until(), u.device_ends().count()), (100, 0));
        // Naming a device keeps the presence there was as device "".
        u.heartbeat(Some("phone"), 50, 10);
        assert_eq!(
            u.device_ends().collect::<Vec<_>>(),
            [("", 100), ("phone", 50)]
        );
        assert_eq!(u.online_until(), 100);
        u.go_offline(Some(""), 20);
        assert_eq!(u.online_until(), 50);
        // A device whose time ended is forgotten at the next change.
        u.heartbeat(Some("tab"), 90, 60);
        assert_eq!(u.device_ends().collect::<Vec<_>>(), [("tab", 90)]);
        u.go_offline(Some("tab"), 61);
        assert_eq!(u.online_until(), 0);
        assert!(u.more.as_ref().unwrap().aside.is_none());
        // Without a device, OFFLINE ends every device.
        u.heartbeat(Some("a"), 100, 0);
        u.heartbeat(Some("b"), 100, 0);
        u.go_offline(None, 1);
        assert_eq!((u.online_until(), u.device_ends().count()), (0, 0));
    }
}
