//! The command running now: its clock, whether it replays a write the
//! primary made, and whether it wrote anything.
//!
//! Redis runs commands one at a time on its main thread, so these are
//! plain statics that the dispatcher sets before a handler runs and clears
//! after. Everything a command decides from the time reads it here, once
//! per command: a replica replaying the command with the primary's time
//! (`CHAT.AT`) then decides the same.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use redis_module::raw;

use crate::store::{api, Ctx};

/// The time of the running command (unix ms), or `UNSET` outside one.
static NOW: AtomicI64 = AtomicI64::new(UNSET);
const UNSET: i64 = i64::MIN;
static REPLAYING: AtomicBool = AtomicBool::new(false);
static WROTE: AtomicBool = AtomicBool::new(false);

/// Set for the length of one command; clears it all when dropped.
pub struct Running(());

impl Drop for Running {
    fn drop(&mut self) {
        NOW.store(UNSET, Ordering::Relaxed);
        REPLAYING.store(false, Ordering::Relaxed);
        WROTE.store(false, Ordering::Relaxed);
    }
}

/// Starts a command: its time is the server's clock now, and it is a
/// replay when it comes from the primary or the AOF.
pub fn begin(ctx: Ctx) -> Running {
    NOW.store(clock(), Ordering::Relaxed);
    REPLAYING.store(from_primary_or_aof(ctx), Ordering::Relaxed);
    WROTE.store(false, Ordering::Relaxed);
    Running(())
}

/// Replays a command at the time the primary ran it (`CHAT.AT`).
pub fn pin_time(at: i64) {
    NOW.store(at, Ordering::Relaxed);
}

/// The time of the running command; the clock outside one (timers,
/// replies of blocked clients).
pub fn now() -> i64 {
    match NOW.load(Ordering::Relaxed) {
        UNSET => clock(),
        now => now,
    }
}

/// Whether the running command replays what the primary (or the AOF)
/// decided: it decides nothing, publishes nothing and checks no limit.
pub fn replaying() -> bool {
    REPLAYING.load(Ordering::Relaxed)
}

/// The time for checks that read the clock (bans, mutes, slow mode, rate
/// limits): the command's time on the primary, `None` in a replay, which
/// applies what the primary decided (a verbatim replay runs later, at
/// another server's time, and must not refuse what the primary accepted).
pub fn clock_checks() -> Option<i64> {
    (!replaying()).then(now)
}

/// Notes that the running command changed a key.
pub fn wrote() {
    WROTE.store(true, Ordering::Relaxed);
}

pub fn has_written() -> bool {
    WROTE.load(Ordering::Relaxed)
}

/// Whether `ctx` runs a command from the primary or the AOF.
fn from_primary_or_aof(ctx: Ctx) -> bool {
    has_flags(
        ctx,
        raw::REDISMODULE_CTX_FLAGS_REPLICATED | raw::REDISMODULE_CTX_FLAGS_LOADING,
    )
}

/// Whether any of `flags` (`REDISMODULE_CTX_FLAGS_*`) is set for `ctx`.
pub fn has_flags(ctx: Ctx, flags: u32) -> bool {
    // SAFETY: live context.
    let set = unsafe { api!(RedisModule_GetContextFlags)(ctx) } as u32;
    set & flags != 0
}

fn clock() -> i64 {
    // SAFETY: no arguments.
    unsafe { api!(RedisModule_Milliseconds)() }
}
