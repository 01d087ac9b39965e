//! CHAT.NOTIFY, and the notifications a send records for members who are
//! away (`chat_core::notify`).
//!
//! A notification is an entry of a Redis stream in the room's slot, added
//! with XADD in the same step as the send, after its own writes. Redis
//! propagates that XADD with the entry id it chose and the exact length it
//! trimmed to, so replicas and the AOF hold the very same entries (the
//! send's own replay, CHAT.SEND-RESOLVED, records none). A worker reads
//! them with a consumer group and acknowledges each once delivered.

use chat_core::data::User;
use chat_core::notify::{notify_key, Notify};
use chat_core::request::parse_user;
use chat_core::ChatError;
use redis_module::raw;

use super::{existing_user, Args};
use crate::config;
use crate::reply::Reply;
use crate::stats;
use crate::store::Access;
use crate::store::{api, Ctx, RStr};

/// CHAT.NOTIFY <user> <all|mentions|none>: what the user is notified of
/// while away; `mentions` (with direct rooms) by default.
pub fn notify(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let [_, setting] = **args else {
        return Err(ChatError::WrongArity("chat.notify"));
    };
    parse_user("chat.notify", &args[..1])?;
    let setting = Notify::parse(setting).ok_or(ChatError::BadNotify)?;
    let mut key = existing_user(ctx, args, 0, Access::Write)?;
    key.value_mut()?.set_notify(setting);
    key.changed(c"chat.notify");
    Ok(Reply::Ok)
}

/// The members one send notifies, each with why.
#[derive(Default)]
pub struct Notifications {
    due: Vec<(String, &'static str)>,
}

impl Notifications {
    /// Notes `member` if they are away and their setting asks for it.
    pub fn consider(
        &mut self,
        member: &str,
        user: &User,
        online: bool,
        mentioned: bool,
        direct: bool,
    ) {
        if online {
            return;
        }
        if let Some(reason) = user.notify().reason(mentioned, direct) {
            self.due.push((member.to_owned(), reason));
        }
    }

    /// Adds one stream entry per member noted: `user`, `reason` (mention,
    /// direct or message), `room`, `id`, `sender`, `ts`, `text`.
    pub fn write(self, ctx: Ctx, cluster: bool, message: &Sent) {
        let max = config::notify_max();
        if self.due.is_empty() || max == 0 {
            return;
        }
        let key = RStr::new(ctx, notify_key(message.room, cluster).as_bytes());
        let max = RStr::new(ctx, max.to_string().as_bytes());
        let id = RStr::new(ctx, message.id.to_string().as_bytes());
        let ts = RStr::new(ctx, message.ts.to_string().as_bytes());
        let fixed = |s: &[u8]| RStr::new(ctx, s);
        let (maxlen, approx, auto) = (fixed(b"MAXLEN"), fixed(b"~"), fixed(b"*"));
        let names: [&[u8]; 7] = [
            b"user", b"reason", b"room", b"id", b"sender", b"ts", b"text",
        ];
        let names = names.map(fixed);
        let (room, sender, text) = (
            fixed(message.room.as_bytes()),
            fixed(message.sender.as_bytes()),
            fixed(message.text.as_bytes()),
        );
        for (member, reason) in &self.due {
            let member = fixed(member.as_bytes());
            let reason = fixed(reason.as_bytes());
            let values = [&member, &reason, &room, &id, &sender, &ts, &text];
            let mut argv = vec![key.ptr(), maxlen.ptr(), approx.ptr(), max.ptr(), auto.ptr()];
            for (name, value) in names.iter().zip(values) {
                argv.extend([name.ptr(), value.ptr()]);
            }
            if xadd(ctx, &mut argv) {
                stats::add(&stats::NOTIFICATIONS, 1);
            } else {
                stats::add(&stats::NOTIFICATION_FAILURES, 1);
            }
        }
    }
}

/// What a notification says of the message.
pub struct Sent<'a> {
    pub room: &'a str,
    pub id: u64,
    pub sender: &'a str,
    pub ts: i64,
    pub text: &'a str,
}

/// `XADD <argv...>`, propagated to replicas and the AOF as Redis ran it
/// (the `!` flag). False if Redis refused it (a key of another type under
/// the stream's name, or a slot moving away in Redis Cluster).
fn xadd(ctx: Ctx, argv: &mut [*mut raw::RedisModuleString]) -> bool {
    // SAFETY: "!v" = propagate, then an array of `argv.len()` strings, all
    // alive for the call; the reply is freed here.
    unsafe {
        let reply = api!(RedisModule_Call)(
            ctx,
            c"XADD".as_ptr(),
            c"!v".as_ptr(),
            argv.as_mut_ptr(),
            argv.len(),
        );
        if reply.is_null() {
            return false;
        }
        let ok = api!(RedisModule_CallReplyType)(reply) != raw::REDISMODULE_REPLY_ERROR as i32;
        api!(RedisModule_FreeCallReply)(reply);
        ok
    }
}
