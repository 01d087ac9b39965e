//! What replicas and the AOF receive.
//!
//! A chat value is a module type, so no plain Redis command can express a
//! change to it: every write reaches replicas and the AOF as a chat command
//! that, replayed, makes exactly the same change. A command whose writes
//! follow from its arguments and the data alone goes as it came (verbatim);
//! one that read the clock goes inside `CHAT.AT <time>`; one that decided
//! more (who got a message live, what was trimmed, a password hash) goes as
//! an internal command carrying every decision (`chat_core::replay`).
//!
//! A replayed command (from the primary, or the AOF at start-up) is passed
//! on verbatim, to the replica's own AOF: it never decides again.

use std::ffi::CStr;
use std::sync::Mutex;

use chat_core::data::epoch::Epoch;
use chat_core::data::extra::Extra;
use chat_core::delivery::DeliveryId;
use chat_core::replay::push_inbox_copy;
use redis_module::raw;

use crate::commands::notify::Recorded;
use crate::context;
use crate::store::{self, api, Ctx, RStr};

/// How a command's writes reach replicas and the AOF, declared in the
/// command table and carried out by the dispatcher after the command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagate {
    /// The command as it came.
    Verbatim,
    /// `CHAT.AT <the command's time> <the command as it came>`.
    AtNow,
    /// The handler propagates what it did itself.
    ByHandler,
}

/// New epochs the running command gave rooms (`generation::vouch`), to
/// propagate after the command itself: a room it created must exist on
/// the replica first. Only the main thread runs commands.
static NEW_EPOCHS: Mutex<Vec<(String, Epoch)>> = Mutex::new(Vec::new());

/// Notes that the running command gave `room` a new epoch.
pub fn epoch_changed(room: &str, epoch: Epoch) {
    if let Ok(mut pending) = NEW_EPOCHS.lock() {
        pending.push((room.to_owned(), epoch));
    }
}

/// `CHAT.EPOCH <room> <epoch> <generation>` for each new epoch.
pub fn propagate_new_epochs(ctx: Ctx) {
    let pending = match NEW_EPOCHS.lock() {
        Ok(mut pending) if !pending.is_empty() => std::mem::take(&mut *pending),
        _ => return,
    };
    for (room, epoch) in pending {
        let id = epoch.to_string();
        let generation = format!("{:016x}", epoch.generation);
        words(
            ctx,
            c"CHAT.EPOCH",
            &[room.as_bytes(), id.as_bytes(), generation.as_bytes()],
        );
    }
}

/// Propagates the command that ran, if it wrote anything, then the new
/// epochs it gave rooms. `argv` is the whole command, name first.
pub fn after_command(ctx: Ctx, how: Propagate, argv: &[*mut raw::RedisModuleString]) {
    propagate_command(ctx, how, argv);
    propagate_new_epochs(ctx);
}

fn propagate_command(ctx: Ctx, how: Propagate, argv: &[*mut raw::RedisModuleString]) {
    if !context::has_written() {
        return;
    }
    if context::replaying() {
        store::replicate_verbatim(ctx);
        return;
    }
    match how {
        Propagate::Verbatim => store::replicate_verbatim(ctx),
        Propagate::AtNow => {
            let at = RStr::from_int(ctx, context::now());
            let mut with_time = Vec::with_capacity(argv.len() + 1);
            with_time.push(at.ptr());
            with_time.extend_from_slice(argv);
            store::replicate(ctx, c"CHAT.AT", &with_time);
        }
        Propagate::ByHandler => {}
    }
}

/// Propagates `command args...`, unless this is a replay (passed on as it
/// came by the dispatcher instead).
pub fn words(ctx: Ctx, command: &CStr, args: &[&[u8]]) {
    if context::replaying() {
        return;
    }
    let strings: Vec<RStr> = args.iter().map(|a| RStr::new(ctx, a)).collect();
    let argv: Vec<_> = strings.iter().map(RStr::ptr).collect();
    store::replicate(ctx, command, &argv);
}

/// `CHAT.AT <now> <command...>`: a command replayed at time `now`.
pub fn at(ctx: Ctx, now: i64, command: &[&[u8]]) {
    let now = now.to_string();
    let mut args = Vec::with_capacity(command.len() + 1);
    args.push(now.as_bytes());
    args.extend_from_slice(command);
    words(ctx, c"CHAT.AT", &args);
}

/// `CHAT.AT` at the running command's time.
pub fn at_now(ctx: Ctx, command: &[&[u8]]) {
    at(ctx, context::now(), command);
}

/// `CHAT.SET-PASSWORD <user> <hash>`.
pub fn set_password(ctx: Ctx, user: &str, hash: &str) {
    words(
        ctx,
        c"CHAT.SET-PASSWORD",
        &[user.as_bytes(), hash.as_bytes()],
    );
}

/// `CHAT.TRIM-RESOLVED <room> <first-kept>`.
pub fn trim_resolved(ctx: Ctx, room: &str, first_kept: u64) {
    let first = first_kept.to_string();
    words(
        ctx,
        c"CHAT.TRIM-RESOLVED",
        &[room.as_bytes(), first.as_bytes()],
    );
}

/// The inbox copies one send made, collected while it delivers, for its
/// `CHAT.SEND-RESOLVED`.
pub struct Copies(Vec<u8>);

impl Copies {
    /// Room for `members` copies of the usual size, made only when this is
    /// not a replay.
    pub fn with_capacity(members: usize) -> Copies {
        if context::replaying() || members == 0 {
            return Copies(Vec::new());
        }
        Copies(Vec::with_capacity(members * 40))
    }

    pub fn add(&mut self, member: &str, delivery: DeliveryId, inbox_length: u64) {
        if !context::replaying() {
            push_inbox_copy(&mut self.0, member, delivery, inbox_length);
        }
    }
}

/// `CHAT.SEND-RESOLVED <room> <sender> <text> <id> <ts> <first-kept> <copies>
/// [<dedup-key> <dedup-until> [<reply-to> <mentions> [<entry-id>
/// <stream-length> <to>]]]` (`chat_core::replay`). Room, sender and text
/// are the send's own argument strings, passed on without copying.
pub struct ResolvedSend<'a> {
    pub room: *mut raw::RedisModuleString,
    pub sender: *mut raw::RedisModuleString,
    pub text: *mut raw::RedisModuleString,
    pub id: u64,
    pub ts: i64,
    pub first_kept: u64,
    pub copies: Copies,
    pub dedup: Option<(&'a [u8], i64)>,
    /// The message it answers and the members it mentions.
    pub extra: &'a Extra<'a>,
    /// The notification entry it recorded.
    pub notified: Option<&'a Recorded>,
}

pub fn send_resolved(ctx: Ctx, send: ResolvedSend) {
    if context::replaying() {
        return;
    }
    let id = send.id.min(i64::MAX as u64) as i64;
    let first = send.first_kept.min(i64::MAX as u64) as i64;
    let copies = &send.copies.0;
    // Numbers go as "l" and the copies as "b" (buffer and length): Redis
    // makes the strings it propagates itself, so none is made here only to
    // be freed again.
    // SAFETY: each format letter matches the argument after it ("s": a
    // RedisModuleString, "l": a long long, "b": a pointer and a length), all
    // alive during the call; Redis copies what it keeps.
    unsafe {
        let replicate = api!(RedisModule_Replicate);
        let command = c"CHAT.SEND-RESOLVED".as_ptr();
        let copies_ptr = copies.as_ptr().cast::<std::ffi::c_char>();
        // A reply, mentions or a notification follow the DEDUP pair (an
        // empty key and 0 when there was no DEDUP); a notification follows
        // the reply and mentions (0 and none when there were none).
        let (key, until) = send.dedup.unwrap_or((b"", 0));
        let reply_to = send.extra.reply_to.unwrap_or(0).min(i64::MAX as u64) as i64;
        // Ids never contain ','.
        let mentions = send.extra.mentions.join(",");
        if let Some(notified) = send.notified {
            let entry = notified.entry.to_string();
            replicate(
                ctx,
                command,
                c"ssslllbbllbbls".as_ptr(),
                send.room,
                send.sender,
                send.text,
                id,
                send.ts,
                first,
                copies_ptr,
                copies.len(),
                key.as_ptr().cast::<std::ffi::c_char>(),
                key.len(),
                until,
                reply_to,
                mentions.as_ptr().cast::<std::ffi::c_char>(),
                mentions.len(),
                entry.as_ptr().cast::<std::ffi::c_char>(),
                entry.len(),
                notified.length,
                notified.to.ptr(),
            );
            return;
        }
        if !send.extra.is_empty() {
            replicate(
                ctx,
                command,
                c"ssslllbbllb".as_ptr(),
                send.room,
                send.sender,
                send.text,
                id,
                send.ts,
                first,
                copies_ptr,
                copies.len(),
                key.as_ptr().cast::<std::ffi::c_char>(),
                key.len(),
                until,
                reply_to,
                mentions.as_ptr().cast::<std::ffi::c_char>(),
                mentions.len(),
            );
            return;
        }
        match send.dedup {
            None => replicate(
                ctx,
                command,
                c"ssslllb".as_ptr(),
                send.room,
                send.sender,
                send.text,
                id,
                send.ts,
                first,
                copies_ptr,
                copies.len(),
            ),
            Some((key, until)) => replicate(
                ctx,
                command,
                c"ssslllbbl".as_ptr(),
                send.room,
                send.sender,
                send.text,
                id,
                send.ts,
                first,
                copies_ptr,
                copies.len(),
                key.as_ptr().cast::<std::ffi::c_char>(),
                key.len(),
                until,
            ),
        };
    }
}
