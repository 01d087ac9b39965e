//! CHAT.FETCH <user> [COUNT <n>] [BLOCK <ms>] and CHAT.ACK <user> <delivery>
//!
//! A user's inbox lives in their key; the delivery handle of a copy is what
//! FETCH shows and ACK takes. FETCH reads from the oldest copy and never
//! removes anything, ACK removes everything up to and including the
//! acknowledged copy: at-least-once. A copy shows the message as it is now:
//! EDIT and DELETE change the copies too.

use std::ffi::{c_int, c_longlong, c_void};
use std::fmt::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;

use chat_core::data::User;
use chat_core::event::Event;
use chat_core::request::{Ack, Fetch};
use chat_core::ChatError;
use redis_module::raw;

use super::{existing_user, Args};
use crate::context;
use crate::reply::{send_error, send_error_text, Page, Reply};
use crate::stats;
use crate::store::{self, api, Access, Ctx, Name};

/// CHAT.FETCH <user> [COUNT <n>] [BLOCK <ms>]
pub fn fetch(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Fetch::parse(args)?;
    let key = existing_user(ctx, args, 0, Access::Read)?;
    let page = page(key.value()?, req.count);
    let Some(block_ms) = req.block_ms else {
        return Ok(Reply::Page(page));
    };
    if !page.is_empty() || blocking_denied(ctx) {
        // Inside MULTI/EXEC or a script a client cannot wait: answer now.
        return Ok(Reply::Page(page));
    }
    block_until_delivery(ctx, args, req.count, block_ms)?;
    Ok(Reply::Deferred)
}

/// CHAT.ACK <user> <delivery>
pub fn ack(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Ack::parse(args)?;
    let mut key = existing_user(ctx, args, 0, Access::Write)?;
    let (removed, gap) = key.value_mut()?.ack(req.delivery);
    if removed > 0 || gap {
        key.changed(c"chat.ack");
    }
    stats::add(&stats::INBOX_ACKED, removed);
    Ok(Reply::Int(removed as i64))
}

/// The oldest `count` inbox copies as FETCH documents, after a gap
/// document when copies were dropped unread.
fn page(user: &User, count: usize) -> Page {
    let mut page = Page::with_capacity(count.min(user.inbox_len() as usize) + 1);
    let mut delivery = String::new();
    if let Some(dropped) = user.inbox().and_then(|i| i.dropped()) {
        let _ = write!(delivery, "{}", dropped.upto);
        let gap = Event::InboxGap {
            dropped: dropped.count,
            delivery: &delivery,
        };
        page.push_with(|out| out.extend_from_slice(&gap.to_json()));
    }
    for copy in user.inbox().into_iter().flat_map(|inbox| inbox.page(count)) {
        delivery.clear();
        // Writing to a String cannot fail.
        let _ = write!(delivery, "{}", copy.delivery);
        page.push_with(|out| copy.message().write_json(Some(&delivery), out));
    }
    page
}

fn blocking_denied(ctx: Ctx) -> bool {
    context::has_flags(ctx, raw::REDISMODULE_CTX_FLAGS_DENY_BLOCKING)
}

/// What a blocked FETCH remembers while it waits.
struct Waiting {
    count: usize,
}

fn block_until_delivery(
    ctx: Ctx,
    args: &Args,
    count: usize,
    block_ms: u64,
) -> Result<(), ChatError> {
    let Name::Lent(user) = args.key(0)? else {
        return Err(ChatError::Internal("the user is not an argument".into()));
    };
    let mut keys = [user];
    let waiting = Box::into_raw(Box::new(Waiting { count }));
    stats::BLOCKED_FETCHES.fetch_add(1, Ordering::Relaxed);
    // SAFETY: Redis keeps its own reference to the key name. `waiting` is
    // handed to Redis and comes back once, to `free_waiting`. A timeout of 0
    // waits forever, as BLOCK 0 promises.
    unsafe {
        api!(RedisModule_BlockClientOnKeys)(
            ctx,
            Some(on_inbox_ready),
            Some(on_timeout),
            Some(free_waiting),
            block_ms as c_longlong,
            keys.as_mut_ptr(),
            1,
            waiting.cast::<c_void>(),
        );
    }
    Ok(())
}

/// Called when the inbox was written to. Replies with what is there now, or
/// keeps waiting if another reader of the same inbox left it empty.
extern "C" fn on_inbox_ready(
    ctx: Ctx,
    _argv: *mut *mut raw::RedisModuleString,
    _argc: c_int,
) -> c_int {
    let keep_waiting = raw::REDISMODULE_ERR as c_int;
    let done = raw::REDISMODULE_OK as c_int;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: called by Redis for a client blocked by `block_until_delivery`,
        // whose private data is a `Waiting`.
        let (inbox, waiting) = unsafe {
            (
                api!(RedisModule_GetBlockedClientReadyKey)(ctx),
                api!(RedisModule_GetBlockedClientPrivateData)(ctx).cast::<Waiting>(),
            )
        };
        // SAFETY: see above; freed only in `free_waiting`, after this call.
        let count = unsafe { waiting.as_ref() }.map_or(1, |w| w.count);
        let key = match store::open::<User>(ctx, Name::Lent(inbox), Access::Read) {
            Ok(key) => key,
            Err(error) => {
                send_error(ctx, &error);
                return done;
            }
        };
        match key.get().map(|u| page(u, count)) {
            Some(page) if !page.is_empty() => {
                Reply::Page(page).send(ctx);
                done
            }
            _ => keep_waiting,
        }
    }));
    outcome.unwrap_or_else(|_| {
        send_error_text(ctx, "ERR internal error while serving a blocked CHAT.FETCH");
        done
    })
}

/// BLOCK ran out: an empty array, as the command promises.
extern "C" fn on_timeout(ctx: Ctx, _argv: *mut *mut raw::RedisModuleString, _argc: c_int) -> c_int {
    Reply::Array(Vec::new()).send(ctx);
    raw::REDISMODULE_OK as c_int
}

extern "C" fn free_waiting(_ctx: Ctx, privdata: *mut c_void) {
    if !privdata.is_null() {
        // SAFETY: `privdata` is the box made in `block_until_delivery`.
        drop(unsafe { Box::from_raw(privdata.cast::<Waiting>()) });
    }
    stats::BLOCKED_FETCHES.fetch_sub(1, Ordering::Relaxed);
}
