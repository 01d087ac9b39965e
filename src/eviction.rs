//! A warning when Redis may evict chat keys.
//!
//! Under `maxmemory`, an `allkeys-*` policy lets Redis delete any key to
//! make room, rooms and users included: a room would lose its history and
//! members, a user their inbox and memberships, silently, while the keys
//! that name them (a member's rooms, a room's members) go on naming them.
//! `noeviction` refuses writes instead (every CHAT.* write is `deny-oom`),
//! and the `volatile-*` policies evict only keys with a TTL, which chat keys
//! never have. The module reads the policy once the server is up and again
//! whenever a `CONFIG SET` changes it, and logs a warning for one that can
//! evict chat keys.

use std::ffi::{c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use chat_core::config::eviction_is_unsafe;
use redis_module::raw;

use crate::store::{api, Ctx};

/// The policy last read, so that a warning is logged once per change.
static LAST: Mutex<String> = Mutex::new(String::new());

/// Checks the policy on the first turn of the event loop (the server is
/// up, its configuration read), and at every change of configuration.
pub fn start(ctx: Ctx) -> Result<(), String> {
    // SAFETY: a timer with a plain function and no data; an event
    // subscription with a plain function, for the life of the module.
    unsafe {
        api!(RedisModule_CreateTimer)(ctx, 0, Some(first_check), std::ptr::null_mut());
        let event = raw::RedisModuleEvent {
            id: raw::REDISMODULE_EVENT_CONFIG,
            dataver: 1,
        };
        if api!(RedisModule_SubscribeToServerEvent)(ctx, event, Some(on_config_change))
            != raw::REDISMODULE_OK as i32
        {
            return Err("could not subscribe to configuration changes".into());
        }
    }
    Ok(())
}

extern "C" fn first_check(ctx: Ctx, _data: *mut c_void) {
    let _ = catch_unwind(AssertUnwindSafe(|| check(ctx)));
}

extern "C" fn on_config_change(
    ctx: Ctx,
    _event: raw::RedisModuleEvent,
    subevent: u64,
    data: *mut c_void,
) {
    if subevent != raw::REDISMODULE_SUBEVENT_CONFIG_CHANGE {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if changed(data.cast(), c"maxmemory-policy") {
            check(ctx);
        }
        // The one listener to configuration changes a module may have: it
        // tells the generation about persistence settings too.
        let persistence = [c"appendonly", c"appendfsync", c"no-appendfsync-on-rewrite"];
        if persistence.iter().any(|name| changed(data.cast(), name)) {
            crate::generation::persistence_changed(ctx);
        }
    }));
}

/// Whether the configuration change `change` includes `name`.
fn changed(change: *const raw::RedisModuleConfigChange, name: &CStr) -> bool {
    // SAFETY: Redis passes a live change record for the length of the
    // callback: `num_changes` names, each a C string.
    unsafe {
        let Some(change) = change.as_ref() else {
            return false;
        };
        if change.config_names.is_null() {
            return false;
        }
        (0..change.num_changes as usize).any(|i| {
            let p = *change.config_names.add(i);
            !p.is_null()
                && CStr::from_ptr(p)
                    .to_bytes()
                    .eq_ignore_ascii_case(name.to_bytes())
        })
    }
}

fn check(ctx: Ctx) {
    let Some(policy) = policy(ctx) else {
        return;
    };
    let Ok(mut last) = LAST.lock() else {
        return;
    };
    if *last == policy {
        return;
    }
    if eviction_is_unsafe(&policy) {
        crate::log_warning(&format!(
            "maxmemory-policy is {policy}: at maxmemory, Redis may evict chat rooms and users, \
             losing a room's messages and members or a user's inbox and memberships without a \
             trace; use noeviction (sends are then refused with OOM), or a volatile-* policy, \
             which evicts only keys with a TTL and never a chat key"
        ));
    }
    *last = policy;
}

/// `CONFIG GET maxmemory-policy`'s value.
fn policy(ctx: Ctx) -> Option<String> {
    crate::server::config_get(ctx, c"maxmemory-policy")
}
