//! CHAT.FETCH <user> [COUNT <n>] [BLOCK <ms>] and CHAT.ACK <user> <delivery>
//!
//! An inbox is a stream; the delivery handle of an entry is its stream id.
//! FETCH reads from the oldest entry and never removes anything, ACK trims
//! everything up to and including the acknowledged entry: at-least-once.

use std::ffi::{c_int, c_longlong, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;

use std::collections::{BTreeMap, HashMap};

use chat_core::keys::UserKey;

use chat_core::message::{Change, Message};
use chat_core::request::{Ack, Fetch};
use chat_core::ChatError;
use redis_module::raw;

use super::history::room_changes;
use super::{require_user, Args};
use crate::reply::{send_error, send_error_text, Reply};
use crate::stats;
use crate::store::{
    api, bytes_of, format_stream_id, Ctx, Key, Kind, RStr, StreamId, STREAM_ID_MAX, STREAM_ID_MIN,
};

/// CHAT.FETCH <user> [COUNT <n>] [BLOCK <ms>]
pub fn fetch(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Fetch::parse(args)?;
    let user = req.user.as_str();
    require_user(ctx, user)?;
    let inbox = UserKey::Inbox.of(user);
    let page = read_inbox(ctx, &inbox, req.count)?;
    let Some(block_ms) = req.block_ms else {
        return Ok(Reply::Array(page));
    };
    if !page.is_empty() || blocking_denied(ctx) {
        // Inside MULTI/EXEC or a script a client cannot wait: answer now.
        return Ok(Reply::Array(page));
    }
    block_until_delivery(ctx, &inbox, req.count, block_ms);
    Ok(Reply::Deferred)
}

/// CHAT.ACK <user> <delivery>
pub fn ack(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Ack::parse(args)?;
    let user = req.user.as_str();
    require_user(ctx, user)?;
    let inbox = Key::write(ctx, &UserKey::Inbox.of(user), Kind::Stream)?;
    let removed = match req.delivery.successor() {
        Some(next) => inbox.stream_trim_below(StreamId {
            ms: next.ms,
            seq: next.seq,
        }),
        None => inbox.stream_clear(),
    };
    stats::add(&stats::INBOX_ACKED, removed);
    Ok(Reply::Int(removed as i64))
}

/// The oldest `count` inbox entries as FETCH documents. A copy shows the
/// message as it is now: edited, or a tombstone if its author deleted it.
fn read_inbox(ctx: Ctx, name: &[u8], count: usize) -> Result<Vec<Reply>, ChatError> {
    let inbox = Key::read(ctx, name, Kind::Stream)?;
    let mut page = Vec::with_capacity(count.min(inbox.len() as usize));
    let mut changes_by_room: HashMap<String, BTreeMap<u64, Change<'static>>> = HashMap::new();
    let mut failure = None;
    inbox.stream_range(STREAM_ID_MIN, STREAM_ID_MAX, false, count, |id, fields| {
        let mut message = Message::from_inbox_entry(fields.iter().copied());
        if !changes_by_room.contains_key(message.room.as_ref()) {
            match room_changes(ctx, &message.room) {
                Ok(changes) => changes_by_room.insert(message.room.to_string(), changes),
                Err(error) => {
                    failure = Some(error);
                    return false;
                }
            };
        }
        if let Some(change) = changes_by_room
            .get(message.room.as_ref())
            .and_then(|c| c.get(&message.id))
        {
            message.apply(change);
        }
        page.push(Reply::Bulk(
            message.to_json_with_delivery(&format_stream_id(id)),
        ));
        true
    });
    match failure {
        Some(error) => Err(error),
        None => Ok(page),
    }
}

fn blocking_denied(ctx: Ctx) -> bool {
    // SAFETY: live context.
    let flags = unsafe { api!(RedisModule_GetContextFlags)(ctx) };
    flags & raw::REDISMODULE_CTX_FLAGS_DENY_BLOCKING as c_int != 0
}

/// What a blocked FETCH remembers while it waits.
struct Waiting {
    count: usize,
}

fn block_until_delivery(ctx: Ctx, inbox: &[u8], count: usize, block_ms: u64) {
    let key = RStr::new(ctx, inbox);
    let mut keys = [key.ptr()];
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
        match read_inbox(ctx, bytes_of(inbox), count) {
            Ok(page) if page.is_empty() => keep_waiting,
            Ok(page) => {
                Reply::Array(page).send(ctx);
                done
            }
            Err(error) => {
                send_error(ctx, &error);
                done
            }
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
