//! Slow work off Redis's main thread: password hashing.
//!
//! Argon2id takes tens of milliseconds by design, and Redis runs every
//! command on one thread, so a command that hashes blocks its own client
//! (`RM_BlockClient`), hands the hashing to a small pool of threads
//! (`chat.password-threads`), and finishes on the main thread when the hash
//! is ready, with the server's lock held as for any command: the writes it
//! then makes are atomic and replicated like those of any other command.
//! Other clients run meanwhile.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;

use chat_core::ChatError;
use redis_module::raw;

use crate::context;
use crate::reply::{send_error, send_error_text, Reply};
use crate::store::{api, Ctx};

type Job = Box<dyn FnOnce() + Send>;

/// What runs on the main thread once the background work is done.
type Finish = Box<dyn FnOnce(Ctx) -> Result<Reply, ChatError> + Send>;

/// Jobs waiting for a thread or running; shown by `INFO chat`.
pub static PENDING: AtomicI64 = AtomicI64::new(0);

static QUEUE: OnceLock<Mutex<Sender<Job>>> = OnceLock::new();

/// Starts the pool. Called once at load.
pub fn start(threads: usize) -> Result<(), String> {
    let (send, receive) = channel::<Job>();
    let receive = Arc::new(Mutex::new(receive));
    for n in 0..threads {
        let receive = Arc::clone(&receive);
        thread::Builder::new()
            .name(format!("chat-password-{n}"))
            .spawn(move || work(&receive))
            .map_err(|e| format!("could not start a password thread: {e}"))?;
    }
    QUEUE
        .set(Mutex::new(send))
        .map_err(|_| "the password threads were started twice".to_string())
}

fn work(jobs: &Mutex<Receiver<Job>>) {
    loop {
        let job = match jobs.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        match job {
            // A job catches its own panics (see `run`).
            Ok(job) => job(),
            Err(_) => return, // the module is going away
        }
    }
}

/// A client that waits for a background job. It is unblocked exactly once:
/// by `unblock`, or, should the job be dropped without running, with an
/// error when it is dropped, so that no client waits forever.
struct Waiting(*mut raw::RedisModuleBlockedClient);

// SAFETY: RM_UnblockClient is documented as callable from any thread, and it
// is the only thing done with the pointer off the main thread.
unsafe impl Send for Waiting {}

impl Waiting {
    fn unblock(mut self, finish: Finish) {
        PENDING.fetch_sub(1, Ordering::Relaxed);
        let blocked = std::mem::replace(&mut self.0, std::ptr::null_mut());
        let private = Box::into_raw(Box::new(Some(finish))).cast::<c_void>();
        // SAFETY: `blocked` came from RM_BlockClient and is unblocked once
        // (the pointer left behind is null); `private` is freed by
        // `free_private` after the reply callback.
        unsafe { api!(RedisModule_UnblockClient)(blocked, private) };
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if !self.0.is_null() {
            let waiting = Waiting(std::mem::replace(&mut self.0, std::ptr::null_mut()));
            waiting.unblock(Box::new(|_| {
                Err(ChatError::Internal("the password check did not run".into()))
            }));
        }
    }
}

/// Blocks the calling client, runs `work` on a pool thread, then `finish`
/// with its result on the main thread, whose reply goes to the client.
/// Returns `Reply::Deferred`, or an error if the client cannot be blocked
/// (inside MULTI, a script or a function) — then nothing runs.
pub fn run<T: Send + 'static>(
    ctx: Ctx,
    command: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
    finish: impl FnOnce(Ctx, T) -> Result<Reply, ChatError> + Send + 'static,
) -> Result<Reply, ChatError> {
    let cannot_block = raw::REDISMODULE_CTX_FLAGS_MULTI
        | raw::REDISMODULE_CTX_FLAGS_LUA
        | raw::REDISMODULE_CTX_FLAGS_DENY_BLOCKING;
    if context::has_flags(ctx, cannot_block) {
        return Err(ChatError::CannotBlock(command));
    }
    let queue = QUEUE
        .get()
        .ok_or_else(|| ChatError::Internal("the password threads are not running".into()))?;
    // SAFETY: live context of a command that may block (checked above).
    let blocked =
        unsafe { api!(RedisModule_BlockClient)(ctx, Some(reply), None, Some(free_private), 0) };
    if blocked.is_null() {
        return Err(ChatError::CannotBlock(command));
    }
    PENDING.fetch_add(1, Ordering::Relaxed);
    let waiting = Waiting(blocked);
    let job: Job = Box::new(move || {
        let finish: Finish = match catch_unwind(AssertUnwindSafe(work)) {
            Ok(result) => Box::new(move |ctx| finish(ctx, result)),
            Err(_) => Box::new(|_| {
                Err(ChatError::Internal(
                    "the password check failed unexpectedly, see the Redis log".into(),
                ))
            }),
        };
        waiting.unblock(finish);
    });
    // From here on the client is blocked and its one reply comes through
    // the unblock: should the job not reach a thread, dropping it unblocks
    // the client with an error (`Waiting`'s Drop).
    if let Ok(queue) = queue.lock() {
        let _ = queue.send(job);
    }
    Ok(Reply::Deferred)
}

/// The reply callback: runs the job's `Finish` on the main thread.
extern "C" fn reply(
    ctx: Ctx,
    _argv: *mut *mut raw::RedisModuleString,
    _argc: std::ffi::c_int,
) -> std::ffi::c_int {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: called by Redis for a client unblocked with private data
        // made by `Waiting::unblock`.
        let private =
            unsafe { api!(RedisModule_GetBlockedClientPrivateData)(ctx) }.cast::<Option<Finish>>();
        // SAFETY: `private` is alive until `free_private`, which runs after
        // this callback; taking the closure leaves None behind.
        let finish = unsafe { private.as_mut() }.and_then(Option::take);
        match finish.map(|f| f(ctx)) {
            Some(Ok(reply)) => reply.send(ctx),
            Some(Err(error)) => send_error(ctx, &error),
            None => send_error_text(ctx, "ERR internal error: the reply was lost"),
        }
    }));
    if outcome.is_err() {
        send_error_text(
            ctx,
            "ERR internal error: the command failed unexpectedly, see the Redis log",
        );
    }
    raw::REDISMODULE_OK as std::ffi::c_int
}

/// Frees what `Waiting::unblock` allocated, whether or not the reply
/// callback ran (it does not when the client disconnected meanwhile).
extern "C" fn free_private(_ctx: Ctx, private: *mut c_void) {
    if !private.is_null() {
        // SAFETY: made by Box::into_raw in `Waiting::unblock`, freed once.
        drop(unsafe { Box::from_raw(private.cast::<Option<Finish>>()) });
    }
}
