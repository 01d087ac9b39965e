//! The one place that talks pub/sub.
//!
//! A module's publish is not replicated: the decision to deliver live is
//! made on the primary, and replicas receive its outcome instead.

use chat_core::channels::{room_channel, slot_of_id, write_user_channel};
use chat_core::data::User;
use chat_core::delivery::{listener_probe, ListenerProbe};
use chat_core::event::RoomMode;

use std::sync::atomic::{AtomicI64, Ordering};

use redis_module::raw;

use crate::context;
use crate::store::{self, api, bytes_of, Access, Ctx, RStr};

/// Publishes one send's document to the members who listen.
pub struct Publisher {
    ctx: Ctx,
    /// Redis Cluster: sharded pub/sub (SPUBLISH), which reaches the
    /// SSUBSCRIBE-rs of the node that owns the channel's slot.
    sharded: bool,
    /// Decided on first use, so a send with nobody online asks nothing.
    probe: Option<ListenerProbe>,
}

impl Publisher {
    pub fn new(ctx: Ctx, sharded: bool) -> Publisher {
        Publisher {
            ctx,
            sharded,
            probe: None,
        }
    }

    /// Publishes `document` on `channel` if at least one connection listens
    /// there by the channel's exact name; returns how many such connections
    /// received it. Pattern subscribers alone never get a publish.
    pub fn publish_if_listened(&mut self, channel: &RStr, document: &RStr) -> u64 {
        let (ctx, sharded) = (self.ctx, self.sharded);
        // Sharded pub/sub has no pattern subscriptions: its count is exact.
        let probe = *self.probe.get_or_insert_with(|| {
            listener_probe(if sharded {
                0
            } else {
                pattern_subscriptions(ctx)
            })
        });
        let delivered = match probe {
            ListenerProbe::PublishAndCount => self.publish(channel, document),
            ListenerProbe::AskFirst => {
                let listeners = exact_subscribers(ctx, channel);
                if listeners > 0 {
                    self.publish(channel, document);
                }
                listeners
            }
        };
        delivered.max(0) as u64
    }

    fn publish(&self, channel: &RStr, message: &RStr) -> i64 {
        publish(self.ctx, self.sharded, channel, message)
    }
}

/// Publishes `message` on `channel`: sharded (SPUBLISH) in a cluster.
/// Returns how many connections received it.
pub fn publish(ctx: Ctx, sharded: bool, channel: &RStr, message: &RStr) -> i64 {
    if context::replaying() {
        return 0;
    }
    // SAFETY: live context and strings.
    let receivers = unsafe {
        if sharded {
            api!(RedisModule_PublishMessageShard)(ctx, channel.ptr(), message.ptr())
        } else {
            api!(RedisModule_PublishMessage)(ctx, channel.ptr(), message.ptr())
        }
    };
    i64::from(receivers)
}

/// Sends an event (not a message: nothing is kept for who misses it) to the
/// members of a room who are online now. In a fan-out room it goes to each
/// online member's push channel, `except` the one who caused it; in a
/// broadcast room, once on the room's channel. A replica, replaying what
/// the primary did, publishes nothing: the primary did.
pub fn publish_event<'m>(
    ctx: Ctx,
    sharded: bool,
    room: &str,
    mode: RoomMode,
    members: impl Iterator<Item = &'m str>,
    except: Option<&str>,
    event: &[u8],
) {
    if context::replaying() {
        return;
    }
    let event = RStr::new(ctx, event);
    if mode == RoomMode::Broadcast {
        publish(ctx, sharded, &RStr::new(ctx, &room_channel(room)), &event);
        return;
    }
    let now = context::now();
    let mut channel = Vec::with_capacity(64);
    // In Redis Cluster a command touches its own slot only (and a member's
    // channel in another slot would be another node's).
    let room_slot = sharded.then(|| slot_of_id(room));
    for member in members {
        if Some(member) == except || room_slot.is_some_and(|s| slot_of_id(member) != s) {
            continue;
        }
        // A key of another type where a member's should be: nobody to tell.
        let Ok(user) = store::open_id::<User>(ctx, member, Access::Read) else {
            continue;
        };
        if user.get().is_some_and(|u| u.online(now)) {
            write_user_channel(member, &mut channel);
            publish(ctx, sharded, &RStr::new(ctx, &channel), &event);
        }
    }
}

/// How many pattern subscriptions (`PSUBSCRIBE`) exist on this server.
///
/// Asking Redis (`PUBSUB NUMPAT`) costs as much as a small command, and a
/// send would ask on every call, so the answer is kept until it may change: a
/// command filter sees every PSUBSCRIBE, PUNSUBSCRIBE and RESET, and a client
/// event every disconnect, and each forgets the count (see `watch_patterns`).
fn pattern_subscriptions(ctx: Ctx) -> i64 {
    let known = PATTERNS.load(Ordering::Relaxed);
    if known >= 0 {
        return known;
    }
    // SAFETY: "c" = one C string argument; the reply is freed here.
    let n = unsafe {
        let reply =
            api!(RedisModule_Call)(ctx, c"PUBSUB".as_ptr(), c"c".as_ptr(), c"NUMPAT".as_ptr());
        if reply.is_null() {
            return 0;
        }
        let n = api!(RedisModule_CallReplyInteger)(reply);
        api!(RedisModule_FreeCallReply)(reply);
        n
    };
    PATTERNS.store(n, Ordering::Relaxed);
    n
}

/// The pattern subscription count last asked, or -1 when it may have changed.
static PATTERNS: AtomicI64 = AtomicI64::new(-1);

/// Installs what keeps `PATTERNS` honest. Called once at load.
pub fn watch_patterns(ctx: Ctx) -> Result<(), String> {
    // SAFETY: called during OnLoad with the load context; both callbacks are
    // plain functions that live as long as the module.
    unsafe {
        let filter = api!(RedisModule_RegisterCommandFilter)(ctx, Some(on_command), 0);
        if filter.is_null() {
            return Err(
                "could not register the command filter that tracks pattern subscriptions".into(),
            );
        }
        let event = raw::RedisModuleEvent {
            id: raw::REDISMODULE_EVENT_CLIENT_CHANGE,
            dataver: 1,
        };
        if api!(RedisModule_SubscribeToServerEvent)(ctx, event, Some(on_client_change))
            != raw::REDISMODULE_OK as i32
        {
            return Err("could not subscribe to client events".into());
        }
    }
    Ok(())
}

/// Runs before every command of every client: cheap, it compares names.
/// (A module has one filter here; it also tells `generation` which command
/// runs.)
extern "C" fn on_command(fctx: *mut raw::RedisModuleCommandFilterCtx) {
    // SAFETY: the filter context is live during the call; the argument
    // string belongs to Redis.
    let name = bytes_of(unsafe { api!(RedisModule_CommandFilterArgGet)(fctx, 0) });
    crate::generation::command_seen(name);
    if [&b"psubscribe"[..], b"punsubscribe", b"reset"]
        .iter()
        .any(|c| name.eq_ignore_ascii_case(c))
    {
        PATTERNS.store(-1, Ordering::Relaxed);
    }
}

extern "C" fn on_client_change(
    _ctx: Ctx,
    _event: raw::RedisModuleEvent,
    subevent: u64,
    _data: *mut std::ffi::c_void,
) {
    if subevent == raw::REDISMODULE_SUBEVENT_CLIENT_CHANGE_DISCONNECTED {
        PATTERNS.store(-1, Ordering::Relaxed);
    }
}

/// How many connections are subscribed to `channel` by its exact name.
fn exact_subscribers(ctx: Ctx, channel: &RStr) -> i64 {
    // SAFETY: "cs" = one C string and one RedisModuleString argument. The
    // reply is [channel, count]; element 1 is the count.
    unsafe {
        let reply = api!(RedisModule_Call)(
            ctx,
            c"PUBSUB".as_ptr(),
            c"cs".as_ptr(),
            c"NUMSUB".as_ptr(),
            channel.ptr(),
        );
        if reply.is_null() {
            return 0;
        }
        let count = api!(RedisModule_CallReplyArrayElement)(reply, 1);
        let n = if count.is_null() {
            0
        } else {
            api!(RedisModule_CallReplyInteger)(count)
        };
        api!(RedisModule_FreeCallReply)(reply);
        n
    }
}
