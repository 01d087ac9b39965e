//! The one place that talks pub/sub.
//!
//! A module's publish is not replicated: the decision to deliver live is
//! made on the primary, and replicas receive its outcome instead.

use chat_core::delivery::{listener_probe, ListenerProbe};

use crate::store::{api, Ctx, RStr};

/// Publishes one send's document to the members who listen.
pub struct Publisher {
    ctx: Ctx,
    /// Redis Cluster: sharded pub/sub (SPUBLISH), which reaches the
    /// SSUBSCRIBE-rs of the node that owns the channel's slot.
    sharded: bool,
    /// Decided on first use, so a send with nobody online asks nothing.
    probe: Option<ListenerProbe>,
}

impl Publisher {
    pub fn new(ctx: Ctx, sharded: bool) -> Publisher {
        Publisher {
            ctx,
            sharded,
            probe: None,
        }
    }

    /// Publishes `document` on `channel` if at least one connection listens
    /// there by the channel's exact name; returns how many such connections
    /// received it. Pattern subscribers alone never get a publish.
    pub fn publish_if_listened(&mut self, channel: &RStr, document: &RStr) -> u64 {
        let (ctx, sharded) = (self.ctx, self.sharded);
        // Sharded pub/sub has no pattern subscriptions: its count is exact.
        let probe = *self.probe.get_or_insert_with(|| {
            listener_probe(if sharded {
                0
            } else {
                pattern_subscriptions(ctx)
            })
        });
        let delivered = match probe {
            ListenerProbe::PublishAndCount => self.publish(channel, document),
            ListenerProbe::AskFirst => {
                let listeners = exact_subscribers(ctx, channel);
                if listeners > 0 {
                    self.publish(channel, document);
                }
                listeners
            }
        };
        delivered.max(0) as u64
    }

    fn publish(&self, channel: &RStr, message: &RStr) -> i64 {
        // SAFETY: live context and strings.
        let receivers = unsafe {
            if self.sharded {
                api!(RedisModule_PublishMessageShard)(self.ctx, channel.ptr(), message.ptr())
            } else {
                api!(RedisModule_PublishMessage)(self.ctx, channel.ptr(), message.ptr())
            }
        };
        i64::from(receivers)
    }
}

/// How many pattern subscriptions (`PSUBSCRIBE`) exist on this server.
fn pattern_subscriptions(ctx: Ctx) -> i64 {
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
fn exact_subscribers(ctx: Ctx, channel: &RStr) -> i64 {
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
