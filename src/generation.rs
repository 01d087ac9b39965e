//! The server's generation, and room epochs (`chat_core::data::epoch`).
//!
//! A generation is a random number that stands for "the data as this
//! primary acknowledged it". A server draws a new one whenever its data may
//! lack writes a primary acknowledged: when it becomes primary by promotion,
//! and when it starts as a primary from anything but an AOF with
//! `appendfsync always` (an RDB, or an AOF that may have lost its last
//! second). Each room remembers the generation it was last written under;
//! a send to a room written under another one first gives the room a new
//! epoch (`vouch`), which replicas and the AOF receive as
//! `CHAT.EPOCH <room> <epoch> <generation>`, and which the room's listeners
//! hear as one `reset` event. The check is one comparison per send.
//!
//! For a restart with `appendfsync always` to keep epochs, the generation
//! must survive it: the primary writes it to the AOF and to its replicas as
//! `CHAT.GENERATION <generation>` when it draws it, and into every RDB (and
//! so an AOF's RDB preamble) as the room type's auxiliary data, with
//! whether a primary saved it. A replica passes it on to its own AOF as
//! `CHAT.GENERATION <generation> REPLICA`: a replica may be behind its
//! primary, so data it saved never keeps a generation when it starts as a
//! primary.

use std::collections::hash_map::RandomState;
use std::ffi::{c_int, c_void};
use std::hash::{BuildHasher, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chat_core::data::epoch::Epoch;
use chat_core::data::Room;
use chat_core::ChatError;
use redis_module::raw;

use crate::store::{self, api, Ctx, RStr};
use crate::{context, log_notice, stats};

/// The generation in force; 0 before the first is drawn or loaded.
static GENERATION: AtomicU64 = AtomicU64::new(0);
/// Whether the generation was recorded by a primary (loaded from its RDB
/// or AOF): only then may a start from an `always` AOF keep it.
static RECORDED_BY_PRIMARY: AtomicBool = AtomicBool::new(false);
/// Drawn here and not yet written to the AOF and replicas.
static UNLOGGED: AtomicBool = AtomicBool::new(false);

/// The generation in force (0: none yet).
pub fn current() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}

/// A random u64 that is neither 0 nor `not`. The standard library seeds
/// each `RandomState` from the operating system's randomness.
fn random_except(not: u64) -> u64 {
    loop {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_i64(context::now());
        let n = hasher.finish();
        if n != 0 && n != not {
            return n;
        }
    }
}

/// Draws a new generation, to be written to the AOF and replicas at the
/// next send or within a moment, whichever comes first.
fn begin_new(ctx: Ctx, why: &str) {
    let generation = random_except(current());
    GENERATION.store(generation, Ordering::Relaxed);
    RECORDED_BY_PRIMARY.store(true, Ordering::Relaxed);
    UNLOGGED.store(true, Ordering::Relaxed);
    stats::add(&stats::GENERATIONS, 1);
    log_notice(&format!(
        "new generation {generation:016x} ({why}): each room gets a new epoch at its next send"
    ));
    // SAFETY: a timer with a plain function and no data.
    unsafe { api!(RedisModule_CreateTimer)(ctx, 0, Some(log_soon), std::ptr::null_mut()) };
}

fn is_primary(ctx: Ctx) -> bool {
    context::has_flags(ctx, raw::REDISMODULE_CTX_FLAGS_MASTER)
}

/// Writes a generation drawn here to the AOF and replicas, once.
fn log_if_unlogged(ctx: Ctx) {
    if UNLOGGED.swap(false, Ordering::Relaxed) {
        let hex = RStr::new(ctx, format!("{:016x}", current()).as_bytes());
        store::replicate(ctx, c"CHAT.GENERATION", &[hex.ptr()]);
    }
}

/// The timer that logs a new generation when no send did first. While
/// writes are paused (a failover in progress) it waits: Redis refuses a
/// write propagated then.
extern "C" fn log_soon(ctx: Ctx, _data: *mut c_void) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if !UNLOGGED.load(Ordering::Relaxed) || !is_primary(ctx) {
            return;
        }
        if store::writes_paused() {
            // SAFETY: as in `begin_new`.
            unsafe {
                api!(RedisModule_CreateTimer)(ctx, 100, Some(log_soon), std::ptr::null_mut())
            };
            return;
        }
        log_if_unlogged(ctx);
    }));
}

/// Before a send hands out the room's next id, on the primary: if the room
/// was last written under another generation, its ids after its last one
/// may have been handed out before, so it gets a new epoch. Returns it, for
/// the caller to announce; the dispatcher propagates it after the command.
/// A replay decides nothing: the primary's `CHAT.EPOCH` follows it.
pub fn vouch(ctx: Ctx, room_id: &str, room: &mut Room) -> Option<Epoch> {
    if context::replaying() {
        return None;
    }
    if current() == 0 {
        begin_new(ctx, "first write");
    }
    let generation = current();
    if room.epoch().holds_under(generation) {
        return None;
    }
    log_if_unlogged(ctx);
    let epoch = Epoch {
        id: random_except(room.epoch().id),
        generation,
    };
    room.set_epoch(epoch);
    crate::replication::epoch_changed(room_id, epoch);
    stats::add(&stats::EPOCH_CHANGES, 1);
    Some(epoch)
}

/// Subscribes to the events that start a generation. Called once at load.
pub fn start(ctx: Ctx) -> Result<(), String> {
    let events = [
        (
            raw::REDISMODULE_EVENT_REPLICATION_ROLE_CHANGED,
            "role changes",
        ),
        (raw::REDISMODULE_EVENT_LOADING, "loading"),
    ];
    for (id, what) in events {
        let event = raw::RedisModuleEvent { id, dataver: 1 };
        // SAFETY: an event subscription with a plain function, for the
        // life of the module.
        let status =
            unsafe { api!(RedisModule_SubscribeToServerEvent)(ctx, event, Some(on_event)) };
        if status != raw::REDISMODULE_OK as c_int {
            return Err(format!("could not subscribe to {what}"));
        }
    }
    Ok(())
}

extern "C" fn on_event(ctx: Ctx, event: raw::RedisModuleEvent, subevent: u64, _data: *mut c_void) {
    let _ = catch_unwind(AssertUnwindSafe(|| match (event.id, subevent) {
        (
            raw::REDISMODULE_EVENT_REPLICATION_ROLE_CHANGED,
            raw::REDISMODULE_EVENT_REPLROLECHANGED_NOW_MASTER,
        ) => begin_new(ctx, "promoted to primary"),
        (raw::REDISMODULE_EVENT_LOADING, raw::REDISMODULE_SUBEVENT_LOADING_ENDED) => {
            after_loading(ctx)
        }
        _ => {}
    }));
}

/// Once a primary has loaded its data: it keeps the generation it loaded
/// only from an AOF written with `appendfsync always` by a primary, which
/// has every write it acknowledged. A replica waits for its primary's.
fn after_loading(ctx: Ctx) {
    if !is_primary(ctx) {
        return;
    }
    let aof = crate::server::config_get(ctx, c"appendonly").as_deref() == Some("yes");
    let always = crate::server::config_get(ctx, c"appendfsync").as_deref() == Some("always");
    let kept = aof && always && current() != 0 && RECORDED_BY_PRIMARY.load(Ordering::Relaxed);
    if kept {
        log_notice(&format!(
            "kept generation {:016x}: loaded from an AOF with appendfsync always",
            current()
        ));
    } else {
        begin_new(ctx, "started from data that may lack acknowledged writes");
    }
}

/// CHAT.GENERATION <generation> [REPLICA]: the generation a primary drew
/// (REPLICA: as a replica passed it on to its own AOF).
pub fn apply_logged(ctx: Ctx, generation: &str, by_replica: bool) -> Result<(), ChatError> {
    let parsed = u64::from_str_radix(generation, 16)
        .ok()
        .filter(|&g| g != 0 && generation.len() <= 16)
        .ok_or_else(|| ChatError::Internal(format!("'{generation}' is not a generation")))?;
    GENERATION.store(parsed, Ordering::Relaxed);
    UNLOGGED.store(false, Ordering::Relaxed);
    let live_on_replica =
        !context::has_flags(ctx, raw::REDISMODULE_CTX_FLAGS_LOADING) && !is_primary(ctx);
    RECORDED_BY_PRIMARY.store(!by_replica && !live_on_replica, Ordering::Relaxed);
    if live_on_replica {
        let hex = RStr::new(ctx, generation.as_bytes());
        let replica = RStr::new(ctx, b"REPLICA");
        store::replicate(ctx, c"CHAT.GENERATION", &[hex.ptr(), replica.ptr()]);
    }
    Ok(())
}

/// The room type's auxiliary data, before the keys of every RDB: the
/// generation, and whether a primary saved it.
pub extern "C" fn aux_save(rdb: *mut raw::RedisModuleIO, _when: c_int) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the IO handle Redis passed, during the call; the context
        // it gives answers for the server (its role), not a client.
        unsafe {
            let ctx = api!(RedisModule_GetContextFromIO)(rdb);
            let by_primary = is_primary(ctx);
            api!(RedisModule_SaveUnsigned)(rdb, current());
            api!(RedisModule_SaveUnsigned)(rdb, u64::from(by_primary));
        }
    }));
}

pub extern "C" fn aux_load(rdb: *mut raw::RedisModuleIO, _encver: c_int, _when: c_int) -> c_int {
    let loaded = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the IO handle Redis passed, during the call; errors are
        // checked after (REDISMODULE_OPTIONS_HANDLE_IO_ERRORS).
        let (generation, by_primary, failed) = unsafe {
            let generation = api!(RedisModule_LoadUnsigned)(rdb);
            let by_primary = api!(RedisModule_LoadUnsigned)(rdb);
            (
                generation,
                by_primary,
                api!(RedisModule_IsIOError)(rdb) != 0,
            )
        };
        if failed {
            crate::log_warning(
                "cannot read the chat generation: the RDB ended early or could not be read",
            );
            return false;
        }
        GENERATION.store(generation, Ordering::Relaxed);
        RECORDED_BY_PRIMARY.store(by_primary == 1, Ordering::Relaxed);
        UNLOGGED.store(false, Ordering::Relaxed);
        true
    }));
    match loaded {
        Ok(true) => raw::REDISMODULE_OK as c_int,
        _ => raw::REDISMODULE_ERR as c_int,
    }
}

/// The generation as INFO shows it.
pub fn shown() -> String {
    format!("{:016x}", current())
}
