//! CHAT.NOTIFY, and the notifications a send records for members who are
//! away (`chat_core::notify`).
//!
//! A send's notifications are one entry of a Redis stream in the room's
//! slot, added in the same step as the send. Its CHAT.SEND-RESOLVED
//! carries the entry's id, the stream's length after the trim and the
//! entry's `to`, so a replay adds the same entry and trims the same nodes.
//! A worker reads the entries with a consumer group and acknowledges each
//! once its members are notified.

use std::sync::OnceLock;

use chat_core::data::User;
use chat_core::delivery::DeliveryId;
use chat_core::notify::{notify_key, Notify, Recipients, NOTIFY_KEY};
use chat_core::replay::Notified;
use chat_core::request::parse_user;
use chat_core::ChatError;

use super::{existing_user, Args};
use crate::config;
use crate::reply::Reply;
use crate::stats;
use crate::store::Access;
use crate::store::{self, Appended, Ctx, Placement, RStr};
use redis_module::raw;

/// CHAT.NOTIFY <user> <all|mentions|none>: what the user is notified of
/// while away; `mentions` (with direct rooms) by default.
pub fn notify(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let [_, setting] = **args else {
        return Err(ChatError::WrongArity("chat.notify"));
    };
    parse_user("chat.notify", &args[..1])?;
    let setting = Notify::parse(setting).ok_or(ChatError::BadNotify)?;
    let mut key = existing_user(ctx, args, 0, Access::Write)?;
    key.value_mut()?.set_notify(setting);
    key.changed(c"chat.notify");
    Ok(Reply::Ok)
}

/// The members one send notifies, each with why.
pub struct Notifications {
    /// How many entries each stream keeps, about (0: notifications off).
    max: u64,
    to: Recipients,
}

/// The entry a send recorded, for its CHAT.SEND-RESOLVED.
pub struct Recorded {
    pub entry: DeliveryId,
    /// The stream's length once trimmed.
    pub length: i64,
    /// The entry's `to` field.
    pub to: RStr,
}

impl Notifications {
    pub fn new() -> Notifications {
        Notifications {
            max: config::notify_max(),
            to: Recipients::default(),
        }
    }

    /// Notes `member` if they are away and their setting asks for it.
    pub fn consider(
        &mut self,
        member: &str,
        user: &User,
        online: bool,
        mentioned: bool,
        direct: bool,
    ) {
        if self.max > 0 {
            self.to
                .consider(member, user.notify(), online, mentioned, direct);
        }
    }

    /// Adds one stream entry for the message, naming every member noted,
    /// with an id Redis chooses, and trims the stream to about
    /// `chat.notify-max` entries. `None` when nobody is notified (or the
    /// stream cannot be written). The send's CHAT.SEND-RESOLVED carries
    /// the entry's id and the stream's length, so that replicas and the
    /// AOF add the same entry and keep the same nodes.
    pub fn record(self, ctx: Ctx, cluster: bool, message: &Sent) -> Option<Recorded> {
        if self.to.is_empty() {
            return None;
        }
        let members = self.to.len() as u64;
        let to = RStr::new(ctx, &self.to.into_json());
        let max = self.max.min(i64::MAX as u64) as i64;
        let Some(entry) = add(ctx, cluster, message, &to, Placement::New { max }) else {
            stats::add(&stats::NOTIFICATION_FAILURES, members);
            return None;
        };
        stats::add(&stats::NOTIFICATIONS, members);
        stats::add(&stats::NOTIFICATION_ENTRIES, 1);
        Some(Recorded {
            entry: entry.id,
            length: entry.length,
            to,
        })
    }
}

/// Adds, in a replay of CHAT.SEND-RESOLVED, the entry the primary recorded.
pub fn replay(ctx: Ctx, cluster: bool, message: &Sent, notified: &Notified) {
    let placement = Placement::Replayed {
        id: notified.entry,
        length: notified.length.min(i64::MAX as u64) as i64,
    };
    let to = RStr::new(ctx, notified.to.as_bytes());
    if add(ctx, cluster, message, &to, placement).is_none() {
        crate::log_warning(&format!(
            "replayed send to room '{}' could not add notification entry {}-{} to its stream; \
             this replica's data differs from the primary's",
            message.room_id, notified.entry.ms, notified.entry.seq
        ));
    }
}

/// The entry's field names, and the stream's name on one server, made
/// once: most of an entry is strings a send already has.
fn kept_names() -> [*mut raw::RedisModuleString; 7] {
    static NAMES: OnceLock<[usize; 7]> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        [
            b"room".as_slice(),
            b"id",
            b"sender",
            b"ts",
            b"text",
            b"to",
            NOTIFY_KEY.as_bytes(),
        ]
        .map(|name| RStr::kept(name) as usize)
    });
    names.map(|p| p as *mut raw::RedisModuleString)
}

/// Adds the entry `room`, `id`, `sender`, `ts`, `text`, `to` to the
/// stream of the message's room.
fn add(
    ctx: Ctx,
    cluster: bool,
    message: &Sent,
    to: &RStr,
    placement: Placement,
) -> Option<Appended> {
    let [room, id_name, sender, ts_name, text, to_name, one_stream] = kept_names();
    let slot_stream = cluster.then(|| RStr::new(ctx, notify_key(message.room_id, true).as_bytes()));
    let key = slot_stream.as_ref().map_or(one_stream, RStr::ptr);
    let id = RStr::from_int(ctx, message.id.min(i64::MAX as u64) as i64);
    let ts = RStr::from_int(ctx, message.ts);
    let fields = [
        room,
        message.room,
        id_name,
        id.ptr(),
        sender,
        message.sender,
        ts_name,
        ts.ptr(),
        text,
        message.text,
        to_name,
        to.ptr(),
    ];
    store::append_to_stream(ctx, key, &fields, placement)
}

/// The message a notification is about: its room, sender and text as the
/// strings the command was given (not copied again).
pub struct Sent<'a> {
    pub room_id: &'a str,
    pub room: *mut raw::RedisModuleString,
    pub sender: *mut raw::RedisModuleString,
    pub text: *mut raw::RedisModuleString,
    pub id: u64,
    pub ts: i64,
}
