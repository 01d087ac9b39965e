//! Presence events: a user coming online or going offline is published
//! once per change on the user's presence channel
//! (`chat:user:{U}:presence`).
//!
//! CHAT.ONLINE and CHAT.OFFLINE publish what they change. Going offline
//! because the presence TTL ran out is noticed here: every server keeps, in
//! memory, when each user it knows to be online will stop being so, and a
//! primary's timer, four times a second, announces those whose time came
//! and who did not come back meanwhile (their value still holds that
//! time). Users read from an RDB file (at start-up, at a full resync, or
//! moved in by a cluster migration) carry no id in their value, so a slow
//! pass over the keyspace finds the online ones; until it does, their
//! expiry is announced late. Replicas keep the same times (they replay
//! CHAT.ONLINE) and announce nothing until promoted.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Mutex;

use chat_core::channels::presence_channel;
use chat_core::data::User;
use chat_core::event::Event;
use chat_core::presence::PresenceWatch;
use redis_module::raw;

use crate::cluster;
use crate::context;
use crate::publish::publish;
use crate::store::{self, api, bytes_of, Access, Ctx, RStr};
use crate::types::raw_type;

const TICK_MS: i64 = 250;
/// Keyspace scan steps per tick, looking for online users the watch does
/// not know (each step visits one hash-table bucket).
const SCAN_STEPS_PER_TICK: usize = 200;

static WATCH: Mutex<Option<PresenceWatch>> = Mutex::new(None);
static CURSOR: AtomicPtr<raw::RedisModuleScanCursor> = AtomicPtr::new(std::ptr::null_mut());

/// Notes that `user` is online until `until` (0: offline).
pub fn note(user: &str, until: i64) {
    if let Ok(mut watch) = WATCH.lock() {
        watch.get_or_insert_with(Default::default).note(user, until);
    }
}

/// Takes the users whose online time ended by `now`.
fn due(now: i64) -> Vec<(Box<str>, i64)> {
    match WATCH.lock() {
        Ok(mut watch) => watch.as_mut().map(|w| w.due(now)).unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

/// Publishes a presence event for `user` on their presence channel.
pub fn announce(ctx: Ctx, user: &str, until: Option<i64>) {
    let event = Event::Presence {
        user,
        online: until.is_some(),
        until,
    };
    let channel = RStr::new(ctx, &presence_channel(user));
    publish(
        ctx,
        cluster::enabled(ctx),
        &channel,
        &RStr::new(ctx, &event.to_json()),
    );
}

/// Starts the timer. Called once at load.
pub fn start(ctx: Ctx) {
    // SAFETY: a cursor kept for the life of the module.
    CURSOR.store(
        unsafe { api!(RedisModule_ScanCursorCreate)() },
        Ordering::Relaxed,
    );
    schedule(ctx);
}

fn schedule(ctx: Ctx) {
    // SAFETY: a timer with a plain function and no data.
    unsafe { api!(RedisModule_CreateTimer)(ctx, TICK_MS, Some(tick), std::ptr::null_mut()) };
}

extern "C" fn tick(ctx: Ctx, _data: *mut c_void) {
    // A panic must not unwind into Redis; the next tick tries again.
    let _ = catch_unwind(AssertUnwindSafe(|| check(ctx)));
    schedule(ctx);
}

fn check(ctx: Ctx) {
    let primary = context::has_flags(ctx, raw::REDISMODULE_CTX_FLAGS_MASTER);
    let loading = context::has_flags(ctx, raw::REDISMODULE_CTX_FLAGS_LOADING);
    if loading {
        return;
    }
    let now = context::now();
    find_online(ctx, now);
    if !primary {
        return;
    }
    for (user, until) in due(now) {
        // Still that time: neither back online nor offline by command
        // (each of which announced itself). A key gone, moved to another
        // node, or of another type: nobody to announce.
        let Ok(key) = store::open_id::<User>(ctx, &user, Access::Read) else {
            continue;
        };
        if key.get().is_some_and(|u| u.online_until() == until) {
            announce(ctx, &user, None);
        }
    }
}

/// One slice of the pass over the keyspace that notes online users the
/// watch does not know yet.
fn find_online(ctx: Ctx, now: i64) {
    let cursor = CURSOR.load(Ordering::Relaxed);
    if cursor.is_null() {
        return;
    }
    struct Found {
        now: i64,
        online: Vec<(Box<str>, i64)>,
    }
    extern "C" fn collect(
        _ctx: Ctx,
        name: *mut raw::RedisModuleString,
        key: *mut raw::RedisModuleKey,
        privdata: *mut c_void,
    ) {
        // SAFETY: privdata is the `Found` below, alive for the scan.
        let found = unsafe { &mut *privdata.cast::<Found>() };
        if key.is_null() {
            return;
        }
        // SAFETY: the key handle Redis opened for this callback; a value of
        // the user type is a `User` this module made.
        let until = unsafe {
            if api!(RedisModule_KeyType)(key) as isize != raw::REDISMODULE_KEYTYPE_MODULE
                || api!(RedisModule_ModuleTypeGetType)(key) != raw_type::<User>()
            {
                return;
            }
            let value = api!(RedisModule_ModuleTypeGetValue)(key).cast::<User>();
            value.as_ref().map_or(0, User::online_until)
        };
        if until > found.now {
            let id = String::from_utf8_lossy(bytes_of(name));
            found.online.push((id.into(), until));
        }
    }
    let mut found = Found {
        now,
        online: Vec::new(),
    };
    for _ in 0..SCAN_STEPS_PER_TICK {
        // SAFETY: the module's cursor; `collect` runs during the call.
        let more = unsafe {
            api!(RedisModule_Scan)(
                ctx,
                cursor,
                Some(collect),
                &mut found as *mut Found as *mut c_void,
            )
        };
        if more == 0 {
            // SAFETY: the module's cursor.
            unsafe { api!(RedisModule_ScanCursorRestart)(cursor) };
            break;
        }
    }
    for (user, until) in found.online {
        note(&user, until);
    }
}
