//! The commands only replicas and the AOF receive (`chat_core::replay`):
//! CHAT.AT, CHAT.SET-PASSWORD, CHAT.TRIM-RESOLVED, CHAT.RESTORE-VALUE,
//! CHAT.EPOCH and CHAT.GENERATION (CHAT.SEND-RESOLVED is in send.rs). Each refuses a client, and each only
//! applies what the primary decided.

use chat_core::data::{Room, User};
use chat_core::replay::{
    At, EpochResolved, Generation, RestoreValue, SetPassword, TrimResolved, ValueKind,
};
use chat_core::ChatError;

use super::{existing_room, existing_user, Args};
use crate::context;
use crate::reply::Reply;
use crate::store::{self, Access, Ctx};
use crate::types::{decode_value, ChatValue};

/// Whether the server is loading its data (the AOF, at start-up or for
/// DEBUG LOADAOF).
fn loading(ctx: Ctx) -> bool {
    context::has_flags(ctx, redis_module::raw::REDISMODULE_CTX_FLAGS_LOADING)
}

fn internal_only(command: &'static str) -> Result<(), ChatError> {
    if context::replaying() {
        Ok(())
    } else {
        Err(ChatError::InternalOnly(command))
    }
}

/// CHAT.AT <unix-ms> <command> <argument>...: runs `command` as the
/// primary did, with the clock reading `unix-ms`.
pub fn at(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    internal_only("CHAT.AT")?;
    let req = At::parse(args)?;
    let name = String::from_utf8_lossy(req.command).to_ascii_lowercase();
    let command = crate::table::find(&name)
        .filter(|c| c.replayable_at())
        .ok_or_else(|| ChatError::Internal(format!("CHAT.AT cannot replay '{name}'")))?;
    context::pin_time(req.at);
    let inner = Args {
        bytes: req.args,
        strings: args.strings.get(2..).unwrap_or_default(),
    };
    (command.handler)(ctx, &inner)
}

/// CHAT.SET-PASSWORD <user> <hash>
pub fn set_password(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    internal_only("CHAT.SET-PASSWORD")?;
    let req = SetPassword::parse(args)?;
    let mut key = existing_user(ctx, args, 0, Access::Write)?;
    key.value_mut()?.set_password(req.hash);
    key.changed(c"chat.passwd");
    Ok(Reply::Ok)
}

/// CHAT.TRIM-RESOLVED <room> <first-kept>: what the age sweep removed.
pub fn trim_resolved(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    internal_only("CHAT.TRIM-RESOLVED")?;
    let req = TrimResolved::parse(args)?;
    let mut key = existing_room(ctx, args, 0, Access::Write)?;
    let removed = key.value_mut()?.trim_below(req.first_kept);
    if removed > 0 {
        key.changed(c"chat.trim");
    }
    Ok(Reply::Int(removed as i64))
}

/// CHAT.EPOCH <room> <epoch> <generation>: the new epoch the primary gave
/// a room at a send or when it made it.
pub fn epoch(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    internal_only("CHAT.EPOCH")?;
    let req = EpochResolved::parse(args)?;
    let mut key = existing_room(ctx, args, 0, Access::Write)?;
    key.value_mut()?.set_epoch(req.epoch);
    key.changed(c"chat.epoch");
    Ok(Reply::Ok)
}

/// CHAT.GENERATION <generation> [DURABLE | REPLICA]: the generation the
/// primary drew (`generation`). Writes no key; a replica passes it on
/// itself.
pub fn generation(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    internal_only("CHAT.GENERATION")?;
    let req = Generation::parse(args)?;
    crate::generation::apply_logged(ctx, req.generation, req.recorded)?;
    Ok(Reply::Ok)
}

/// CHAT.RESTORE-VALUE <key> <room|user> <version> <bytes>: a chat key as a
/// rewritten AOF without an RDB preamble stores it. Replaces the key.
pub fn restore_value(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    internal_only("CHAT.RESTORE-VALUE")?;
    let req = RestoreValue::parse(args)?;
    match req.kind {
        ValueKind::Room => restore::<Room>(ctx, args, &req),
        ValueKind::User => restore::<User>(ctx, args, &req),
    }
}

fn restore<T: ChatValue>(ctx: Ctx, args: &Args, req: &RestoreValue) -> Result<Reply, ChatError> {
    let Some(value) = decode_value::<T>(req.key, req.version, req.bytes) else {
        if loading(ctx) {
            // Redis stops at an RDB value it cannot read, but only logs a
            // command of the AOF that fails and goes on: the server would
            // then serve without this room or user, and the next rewrite
            // would lose it for good. Stop as the RDB case does.
            crate::log_warning(
                "the AOF holds a chat value this module cannot read (see the line above); \
                 the server stops rather than serve without it. Load it with the module \
                 that wrote it, or a later one",
            );
            std::process::exit(1);
        }
        return Err(ChatError::Internal(format!(
            "the chat-{} value of key '{}' does not decode; see the log",
            T::KIND,
            String::from_utf8_lossy(req.key)
        )));
    };
    // A value renamed by hand is restored as it was, still refused by the
    // commands until it is renamed back: the AOF keeps the data as it is.
    let mut key = store::inspect::<T>(ctx, args.key(0)?, Access::Write)?;
    key.delete();
    key.create(value)?;
    key.changed(c"chat.restore");
    Ok(Reply::Ok)
}
