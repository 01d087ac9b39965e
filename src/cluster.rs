//! Redis Cluster, as the commands see it: a command touches the keys of
//! one slot only, the slot of the key it declares. Other keys it names or
//! finds in the data are opened only when they live in that slot, whatever
//! node holds which slots now, so that a command behaves the same before,
//! during and after a reshard. Without cluster mode every key is at hand.

use chat_core::channels::slot_of_id;
use chat_core::ChatError;
use redis_module::raw;

use crate::context;
use crate::store::{self, api, Access, Ctx, Name, Opened};
use crate::types::ChatValue;

/// Whether this server runs in Redis Cluster mode.
pub fn enabled(ctx: Ctx) -> bool {
    context::has_flags(ctx, raw::REDISMODULE_CTX_FLAGS_CLUSTER)
}

/// The Redis Cluster slot of `id`'s key, or `None` without cluster mode.
pub fn slot_of(ctx: Ctx, id: &str) -> Option<u16> {
    enabled(ctx).then(|| slot_of_id(id))
}

/// Whether a command that runs in `id`'s slot may open `other`'s key too.
pub fn shares_slot(ctx: Ctx, id: &str, other: &str) -> bool {
    !enabled(ctx) || slot_of_id(id) == slot_of_id(other)
}

/// Fails with `CROSSSLOT` (and `advice`) unless `other` shares `id`'s slot.
pub fn require_same_slot(
    ctx: Ctx,
    id: &str,
    other: &str,
    advice: &'static str,
) -> Result<(), ChatError> {
    if shares_slot(ctx, id, other) {
        Ok(())
    } else {
        Err(ChatError::CrossSlot {
            id: id.to_string(),
            other: other.to_string(),
            advice,
        })
    }
}

/// Opens a key of the command's slot that the command does not declare
/// (a member's, a room a user lists, a pair's direct room). While the slot
/// moves between nodes, a key missing here may be on the other node for
/// the moment: then `TRYAGAIN`, as Redis answers for a command whose
/// declared keys a migration splits, before anything is written. Else a
/// missing key is simply missing (an empty `Opened`).
pub fn open_here<T: ChatValue>(
    ctx: Ctx,
    name: Name,
    access: Access,
) -> Result<Opened<T>, ChatError> {
    let key = store::open::<T>(ctx, name, access)?;
    if !key.exists() && enabled(ctx) && slot_moving(ctx, slot_of_id(key.id())) {
        return Err(ChatError::TryAgain(key.id().to_string()));
    }
    Ok(key)
}

/// `open_here` for a key found by id.
pub fn open_id_here<T: ChatValue>(
    ctx: Ctx,
    id: &str,
    access: Access,
) -> Result<Opened<T>, ChatError> {
    open_here(ctx, Name::made(ctx, id), access)
}

/// Whether `slot` is being migrated from this node, or imported into it.
///
/// Asks `CLUSTER NODES`, whose line for this node names such slots as
/// `[<slot>->-<node>]` or `[<slot>-<-<node>]`. That costs as much as a
/// small command, so it is asked only when a key is missing.
fn slot_moving(ctx: Ctx, slot: u16) -> bool {
    let nodes = call_text(ctx, c"CLUSTER", c"NODES");
    let (out, into) = (format!("[{slot}->-"), format!("[{slot}-<-"));
    nodes.is_some_and(|n| n.contains(&out) || n.contains(&into))
}

/// The text reply of `command subcommand`, or `None` if it failed.
fn call_text(ctx: Ctx, command: &std::ffi::CStr, subcommand: &std::ffi::CStr) -> Option<String> {
    // SAFETY: "c" = one C string argument; the reply is read, copied and
    // freed here.
    unsafe {
        let reply =
            api!(RedisModule_Call)(ctx, command.as_ptr(), c"c".as_ptr(), subcommand.as_ptr());
        if reply.is_null() {
            return None;
        }
        let mut len = 0;
        let ptr = api!(RedisModule_CallReplyStringPtr)(reply, &mut len);
        let text = (!ptr.is_null()).then(|| {
            String::from_utf8_lossy(std::slice::from_raw_parts(ptr.cast::<u8>(), len)).into_owned()
        });
        api!(RedisModule_FreeCallReply)(reply);
        text
    }
}
