//! What a command needs to know of Redis Cluster: whether the server runs
//! in cluster mode, and whether a slot is moving between this node and
//! another right now.

use redis_module::raw;

use crate::context;
use crate::store::{api, Ctx};

/// Whether this server runs in Redis Cluster mode.
pub fn enabled(ctx: Ctx) -> bool {
    context::has_flags(ctx, raw::REDISMODULE_CTX_FLAGS_CLUSTER)
}

/// Whether `slot` is being migrated from this node, or imported into it: a
/// key of that slot missing here may be on the other node for the moment.
///
/// Asks `CLUSTER NODES`, whose line for this node names such slots as
/// `[<slot>->-<node>]` or `[<slot>-<-<node>]`. That costs as much as a
/// small command, so it is asked only when a key is missing.
pub fn slot_moving(ctx: Ctx, slot: u16) -> bool {
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
