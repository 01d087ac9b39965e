//! redis-chat: a Redis module that makes Redis a chat backend.
//!
//! Load it with `redis-server --loadmodule target/release/libredis_chat.so`
//! and every client gets the `CHAT.*` commands. This crate is the Redis glue:
//! the chat logic itself (ids, parsing, documents, delivery rules) lives in
//! the `chat-core` crate and is tested without a server.
//!
//! * `table`       — the command table
//! * `registry`    — registration, `COMMAND DOCS`, and how a call runs
//! * `commands`    — one function per command
//! * `types`       — the `chat-room` and `chat-user` data types' callbacks
//! * `store`       — the only place that opens keys
//! * `context`     — the running command's time, and whether it replays
//! * `replication` — what replicas and the AOF receive
//! * `publish`     — pub/sub
//! * `reply`       — replies and error replies
//! * `config`      — `chat.*` configs
//! * `server`      — what a newer server offers, found out at load
//! * `stats`       — `INFO chat`

mod background;
mod cluster;
mod commands;
mod config;
mod context;
mod eviction;
mod generation;
mod identity;
mod presence;
mod publish;
mod ratelimit;
mod registry;
mod replication;
mod reply;
mod retention;
mod server;
mod stats;
mod store;
mod table;
mod types;

use std::ffi::CString;
use std::sync::atomic::{AtomicPtr, Ordering};

use redis_module::{raw, redis_module, Context, RedisString, Status};

use crate::store::api;
use crate::types::{ROOM_TYPE, USER_TYPE};

/// The module API functions this module calls; all exist since Redis 7.0.
/// Checked at load so that a missing one fails the load with its name
/// instead of failing a command later.
fn missing_api() -> Option<&'static str> {
    macro_rules! check {
        ($($name:ident),* $(,)?) => {
            // SAFETY: reading function pointers Redis filled in at load.
            $( if unsafe { raw::$name }.is_none() { return Some(stringify!($name)); } )*
        };
    }
    check!(
        RedisModule_CreateCommand,
        RedisModule_GetCommand,
        RedisModule_SetCommandInfo,
        RedisModule_LoadConfigs,
        RedisModule_CreateString,
        RedisModule_CreateStringFromLongLong,
        RedisModule_FreeString,
        RedisModule_StringPtrLen,
        RedisModule_Milliseconds,
        RedisModule_OpenKey,
        RedisModule_CloseKey,
        RedisModule_KeyType,
        RedisModule_DeleteKey,
        RedisModule_StreamAdd,
        RedisModule_StreamTrimByLength,
        RedisModule_ValueLength,
        RedisModule_NotifyKeyspaceEvent,
        RedisModule_Replicate,
        RedisModule_ReplicateVerbatim,
        RedisModule_PublishMessageShard,
        RedisModule_ScanCursorCreate,
        RedisModule_Scan,
        RedisModule_ScanCursorRestart,
        RedisModule_CreateTimer,
        RedisModule_RegisterCommandFilter,
        RedisModule_CommandFilterArgGet,
        RedisModule_SubscribeToServerEvent,
        RedisModule_SubscribeToKeyspaceEvents,
        RedisModule_PublishMessage,
        RedisModule_Call,
        RedisModule_CallReplyInteger,
        RedisModule_CallReplyArrayElement,
        RedisModule_CallReplyStringPtr,
        RedisModule_FreeCallReply,
        RedisModule_SignalKeyAsReady,
        RedisModule_BlockClientOnKeys,
        RedisModule_BlockClient,
        RedisModule_UnblockClient,
        RedisModule_GetCurrentUserName,
        RedisModule_RedactClientCommandArgument,
        RedisModule_AvoidReplicaTraffic,
        RedisModule_GetBlockedClientReadyKey,
        RedisModule_GetBlockedClientPrivateData,
        RedisModule_GetContextFlags,
        RedisModule_ReplyWithSimpleString,
        RedisModule_ReplyWithLongLong,
        RedisModule_ReplyWithStringBuffer,
        RedisModule_ReplyWithNull,
        RedisModule_ReplyWithArray,
        RedisModule_ReplyWithMap,
        RedisModule_ReplyWithError,
        RedisModule_Log,
        RedisModule_SetModuleOptions,
        RedisModule_ModuleTypeSetValue,
        RedisModule_ModuleTypeGetValue,
        RedisModule_ModuleTypeGetType,
        RedisModule_SaveStringBuffer,
        RedisModule_LoadStringBuffer,
        RedisModule_IsIOError,
        RedisModule_GetKeyNameFromIO,
        RedisModule_EmitAOF,
        RedisModule_DigestAddStringBuffer,
        RedisModule_DigestEndSequence,
        RedisModule_Free,
        RedisModule_SaveUnsigned,
        RedisModule_LoadUnsigned,
        RedisModule_GetContextFromIO,
    );
    None
}

/// A context that lives as long as the module, so that log lines written
/// outside a command (from the panic hook, say) are tagged `<chat>` too.
static LOG_CTX: AtomicPtr<raw::RedisModuleCtx> = AtomicPtr::new(std::ptr::null_mut());

/// Writes one line to the Redis log at `warning` level.
pub(crate) fn log_warning(text: &str) {
    log_at(c"warning", text);
}

/// Writes one line to the Redis log at `notice` level: what an operator
/// may want to know happened, not a problem.
pub(crate) fn log_notice(text: &str) {
    log_at(c"notice", text);
}

fn log_at(level: &std::ffi::CStr, text: &str) {
    let line = CString::new(text.replace('\0', "?")).unwrap_or_default();
    // SAFETY: reading a function pointer Redis filled in at load.
    if let Some(log) = unsafe { raw::RedisModule_Log } {
        // SAFETY: the context is the detached one made at load (or null,
        // which Redis logs as "<module>"); "%s" takes one C string.
        unsafe {
            log(
                LOG_CTX.load(Ordering::Relaxed),
                level.as_ptr(),
                c"%s".as_ptr(),
                line.as_ptr(),
            )
        };
    }
}

fn init(ctx: &Context, args: &[RedisString]) -> Status {
    // SAFETY: reading a function pointer; the detached context is never freed.
    if let Some(detach) = unsafe { raw::RedisModule_GetDetachedThreadSafeContext } {
        // SAFETY: called with the load context, as the API requires.
        LOG_CTX.store(unsafe { detach(ctx.get_raw()) }, Ordering::Relaxed);
    }
    // A panic inside a command is caught and answered with an error; this
    // hook puts what happened, and where, into the Redis log.
    std::panic::set_hook(Box::new(|info| log_warning(&format!("panic: {info}"))));

    if let Some(name) = missing_api() {
        log_warning(&format!(
            "this Redis lacks {name}; redis-chat needs Redis 7.0 or later"
        ));
        return Status::Err;
    }
    if let Err(error) = config::register(ctx, args) {
        log_warning(&error);
        return Status::Err;
    }
    // SAFETY: called during OnLoad, after every config is registered.
    if unsafe { api!(RedisModule_LoadConfigs)(ctx.get_raw()) } != raw::REDISMODULE_OK as i32 {
        log_warning("could not load the chat.* configs");
        return Status::Err;
    }
    if let Err(error) = publish::watch_patterns(ctx.get_raw()) {
        log_warning(&error);
        return Status::Err;
    }
    // A value that cannot be read from an RDB file or a RESTORE payload
    // (cut short, damaged) is refused by the type's loader, which checks for
    // read errors itself: without this option Redis stops the server at the
    // first short read instead.
    // SAFETY: called during OnLoad with the load context.
    unsafe {
        api!(RedisModule_SetModuleOptions)(
            ctx.get_raw(),
            raw::REDISMODULE_OPTIONS_HANDLE_IO_ERRORS as i32,
        )
    };
    server::detect(ctx.get_raw());
    if let Err(error) = registry::register_all(ctx.get_raw()) {
        log_warning(&error);
        return Status::Err;
    }
    if let Err(error) = background::start(config::password_threads()) {
        log_warning(&error);
        return Status::Err;
    }
    retention::start(ctx.get_raw());
    presence::start(ctx.get_raw());
    if let Err(error) = eviction::start(ctx.get_raw()) {
        log_warning(&error);
        return Status::Err;
    }
    if let Err(error) = generation::start(ctx.get_raw()) {
        log_warning(&error);
        return Status::Err;
    }
    Status::Ok
}

redis_module! {
    name: "chat",
    version: 100,
    allocator: (redis_module::alloc::RedisAlloc, redis_module::alloc::RedisAlloc),
    data_types: [ROOM_TYPE, USER_TYPE],
    init: init,
}
