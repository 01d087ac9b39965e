//! The sweep that retires old messages from rooms nobody writes to.
//!
//! With `chat.history-max-age` set, CHAT.SEND drops a room's messages that
//! are older than that whenever it appends one. A room without sends would
//! keep them forever, so a timer walks the keyspace a slice at a time, ten
//! times a second, and retires old messages from every room it meets. Each
//! trim replicates as `CHAT.TRIM-RESOLVED <room> <first id kept>`, so only a
//! primary sweeps.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, Ordering};

use chat_core::data::Room;
use redis_module::raw;

use crate::config::limits;
use crate::context;
use crate::replication;
use crate::store::{self, api, bytes_of, writes_paused, Access, Ctx, Name};
use crate::types::raw_type;

const TICK_MS: i64 = 100;
/// Scan steps per tick: each visits one hash-table bucket (a few keys), so a
/// tick stays well under a millisecond whatever the size of the keyspace,
/// and a pass over a million keys takes about two minutes.
const STEPS_PER_TICK: usize = 1000;

static CURSOR: AtomicPtr<raw::RedisModuleScanCursor> = AtomicPtr::new(std::ptr::null_mut());

/// Starts the sweep. Called once at load.
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
    let _ = catch_unwind(AssertUnwindSafe(|| sweep(ctx)));
    schedule(ctx);
}

fn sweep(ctx: Ctx) {
    let max_age = limits().history_max_age_secs;
    let primary = context::has_flags(ctx, raw::REDISMODULE_CTX_FLAGS_MASTER);
    let loading = context::has_flags(ctx, raw::REDISMODULE_CTX_FLAGS_LOADING);
    if max_age == 0 || !primary || loading || writes_paused() {
        return;
    }
    let cursor = CURSOR.load(Ordering::Relaxed);
    if cursor.is_null() {
        return;
    }
    // Collect first, trim after: the scan does not expect the keyspace to
    // change under it.
    let mut rooms: Vec<Vec<u8>> = Vec::new();
    extern "C" fn collect(
        _ctx: Ctx,
        name: *mut raw::RedisModuleString,
        key: *mut raw::RedisModuleKey,
        privdata: *mut c_void,
    ) {
        // SAFETY: privdata is the `rooms` vector below, alive for the scan.
        let rooms = unsafe { &mut *privdata.cast::<Vec<Vec<u8>>>() };
        if key.is_null() {
            return;
        }
        // SAFETY: the key handle Redis opened for this callback.
        let is_room = unsafe {
            api!(RedisModule_KeyType)(key) as isize == raw::REDISMODULE_KEYTYPE_MODULE
                && api!(RedisModule_ModuleTypeGetType)(key) == raw_type::<Room>()
        };
        if is_room {
            rooms.push(bytes_of(name).to_vec());
        }
    }
    for _ in 0..STEPS_PER_TICK {
        // SAFETY: the module's cursor; `collect` runs during the call.
        let more = unsafe {
            api!(RedisModule_Scan)(
                ctx,
                cursor,
                Some(collect),
                &mut rooms as *mut Vec<Vec<u8>> as *mut c_void,
            )
        };
        if more == 0 {
            // A full pass is done; the next tick starts another.
            // SAFETY: the module's cursor.
            unsafe { api!(RedisModule_ScanCursorRestart)(cursor) };
            break;
        }
    }
    let now = context::now();
    for name in rooms {
        let name = Name::Made(store::RStr::new(ctx, &name));
        // A room renamed by hand is left alone, as every command leaves it.
        let Ok(mut key) = store::open::<Room>(ctx, name, Access::Write) else {
            continue;
        };
        let Some(room) = key.get_mut() else {
            continue;
        };
        if let Some(first) = room.retire_older_than(now, max_age) {
            key.changed(c"chat.trim");
            replication::trim_resolved(ctx, key.id(), first);
        }
    }
}
