//! The sweep that retires old messages from rooms nobody writes to.
//!
//! With `chat.history-max-age` set, CHAT.SEND drops a room's messages that
//! are older than that whenever it appends one. A room without sends would
//! keep them forever, so a timer walks the keyspace a slice at a time, ten
//! times a second, and retires old messages from every room history it meets. The
//! trims replicate as plain `XTRIM ... MINID` (and `HDEL`) commands, so only
//! a primary sweeps.

use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, Ordering};

use chat_core::keys::room_of_log_key;
use redis_module::raw;

use crate::commands::{forget_changes_before_history, retire_old_messages};
use crate::config::limits;
use crate::store::{api, bytes_of, now_ms, writes_paused, Ctx, Key, Kind, Propagation};

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
    // SAFETY: live context.
    let flags = unsafe { api!(RedisModule_GetContextFlags)(ctx) };
    let primary = flags & raw::REDISMODULE_CTX_FLAGS_MASTER as c_int != 0;
    let loading = flags & raw::REDISMODULE_CTX_FLAGS_LOADING as c_int != 0;
    if max_age == 0 || !primary || loading || writes_paused() {
        return;
    }
    let cursor = CURSOR.load(Ordering::Relaxed);
    if cursor.is_null() {
        return;
    }
    // Collect first, trim after: the scan does not expect the keyspace to
    // change under it.
    let mut logs: Vec<Vec<u8>> = Vec::new();
    extern "C" fn collect(
        _ctx: Ctx,
        name: *mut raw::RedisModuleString,
        _key: *mut raw::RedisModuleKey,
        privdata: *mut c_void,
    ) {
        // SAFETY: privdata is the `logs` vector below, alive for the scan.
        let logs = unsafe { &mut *privdata.cast::<Vec<Vec<u8>>>() };
        let name = bytes_of(name);
        if name.starts_with(b"chat:room:") && name.ends_with(b":log") {
            logs.push(name.to_vec());
        }
    }
    for _ in 0..STEPS_PER_TICK {
        // SAFETY: the module's cursor; `collect` runs during the call.
        let more = unsafe {
            api!(RedisModule_Scan)(
                ctx,
                cursor,
                Some(collect),
                &mut logs as *mut Vec<Vec<u8>> as *mut c_void,
            )
        };
        if more == 0 {
            // A full pass is done; the next tick starts another.
            // SAFETY: the module's cursor.
            unsafe { api!(RedisModule_ScanCursorRestart)(cursor) };
            break;
        }
    }
    let now = now_ms();
    for name in logs {
        let Some(room) = room_of_log_key(&name) else {
            continue;
        };
        let Ok(log) = Key::write(ctx, &name, Kind::Stream) else {
            continue;
        };
        if retire_old_messages(&log, now, max_age) > 0 {
            forget_changes_before_history(ctx, &room, &log, Propagation::Effects);
        }
    }
}
