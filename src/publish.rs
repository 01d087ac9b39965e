//! The one place that talks pub/sub.

use crate::store::{api, Ctx, RStr};

/// Publishes `message` on `channel`; returns how many connections received
/// it, pattern subscribers included.
///
/// `RM_PublishMessage` is not replicated: the decision to deliver live was
/// made here, on the primary, and replicas receive its effects instead.
pub fn publish(ctx: Ctx, channel: &RStr, message: &RStr) -> i64 {
    // SAFETY: live context and strings.
    i64::from(unsafe { api!(RedisModule_PublishMessage)(ctx, channel.ptr(), message.ptr()) })
}

/// How many pattern subscriptions (`PSUBSCRIBE`) exist on this server.
pub fn pattern_subscriptions(ctx: Ctx) -> i64 {
    // SAFETY: "c" = one C string argument; the reply is freed here.
    unsafe {
        let reply =
            api!(RedisModule_Call)(ctx, c"PUBSUB".as_ptr(), c"c".as_ptr(), c"NUMPAT".as_ptr());
        if reply.is_null() {
            return 0;
        }
        let n = api!(RedisModule_CallReplyInteger)(reply);
        api!(RedisModule_FreeCallReply)(reply);
        n
    }
}

/// How many connections are subscribed to `channel` by its exact name.
pub fn exact_subscribers(ctx: Ctx, channel: &RStr) -> i64 {
    // SAFETY: "cs" = one C string and one RedisModuleString argument. The
    // reply is [channel, count]; element 1 is the count.
    unsafe {
        let reply = api!(RedisModule_Call)(
            ctx,
            c"PUBSUB".as_ptr(),
            c"cs".as_ptr(),
            c"NUMSUB".as_ptr(),
            channel.ptr(),
        );
        if reply.is_null() {
            return 0;
        }
        let count = api!(RedisModule_CallReplyArrayElement)(reply, 1);
        let n = if count.is_null() {
            0
        } else {
            api!(RedisModule_CallReplyInteger)(count)
        };
        api!(RedisModule_FreeCallReply)(reply);
        n
    }
}
