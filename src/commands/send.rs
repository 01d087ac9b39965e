//! CHAT.SEND <room> <sender> <text> [DEDUP <key>]: the hot path; and
//! CHAT.SEND-RESOLVED, the form in which a send reaches replicas and the AOF.

use chat_core::delivery::{route, Route};
use chat_core::keys::{dedup_key, RoomKey, UserKey};
use chat_core::message::{parse_i64, Message, INBOX_FIELDS, LOG_FIELDS};
use chat_core::request::{ResolvedSend, Send};
use chat_core::ChatError;
use redis_module::raw;

use super::{in_cluster, open_room, require_same_slot, require_user};
use crate::config::limits;
use crate::publish::Publisher;
use crate::reply::Reply;
use crate::store::{
    self, api, format_stream_id, now_ms, Ctx, Key, Kind, Propagation, RStr, StreamId, Trim,
};
use crate::{log_warning, stats};

/// In one atomic step: check everything, assign the room's next id, append
/// to the room log, count the message for the sender, then deliver it to
/// every other member, live or to the inbox (see `chat_core::delivery`).
pub fn send(ctx: Ctx, args: &[&[u8]]) -> Result<Reply, ChatError> {
    let limits = limits();
    let req = Send::parse(args, &limits)?;
    let (room, sender) = (req.room.as_str(), req.sender.as_str());
    let propagation = if limits.replicate_effects {
        Propagation::Effects
    } else {
        Propagation::Resolved
    };

    // A retry of a send that already happened gets the first reply again.
    let dedup = match req.dedup {
        Some(key) => {
            let dedup = Key::write(ctx, &dedup_key(room, key), Kind::String)?;
            if let Some(first) = dedup.string_get() {
                let id = parse_i64(&first).ok_or_else(|| {
                    ChatError::Internal(format!("DEDUP entry of room '{room}' is not an id"))
                })?;
                return Ok(Reply::Int(id));
            }
            Some(dedup)
        }
        None => None,
    };

    // Checks. Nothing is written until all of them pass.
    let meta = open_room(ctx, room, propagation)?;
    let members = Key::read(ctx, &RoomKey::Members.of(room), Kind::Hash)?;
    if !members.hash_exists(sender.as_bytes()) {
        require_user(ctx, sender)?;
        return Err(ChatError::NotMember);
    }
    let log = Key::write_with(ctx, &RoomKey::Log.of(room), Kind::Stream, propagation)?;
    let counts = Key::write_with(ctx, &RoomKey::Counts.of(room), Kind::Hash, propagation)?;
    let last_id = meta.hash_get_int(b"last_id")?.unwrap_or(0);
    let sent_before = counts.hash_get_int(sender.as_bytes())?.unwrap_or(0);
    // Every other member's inbox is opened, and its type checked, now: any
    // of them may be written below. Sorted ids keep the writes, and so what
    // replicas receive, in a stable order.
    let cluster = in_cluster(ctx);
    let mut recipients = Vec::with_capacity(members.len() as usize);
    let mut name = Vec::with_capacity(64);
    for member in members.hash_fields() {
        // Member ids were validated when they joined.
        let Ok(member) = String::from_utf8(member) else {
            continue;
        };
        if member == sender {
            continue;
        }
        if cluster {
            require_same_slot(room, &member)?;
        }
        UserKey::Inbox.write(&member, &mut name);
        let inbox = Key::write_with(ctx, &name, Kind::Stream, propagation)?;
        recipients.push((member, inbox));
    }

    // The log append goes first: it is the one write that can be refused
    // (when the stream was given a higher id by hand), and nothing else has
    // been written yet when it is.
    let id = u64::try_from(last_id).unwrap_or(0) + 1;
    let ts = now_ms();
    let fields = Fields::new(ctx, room, sender, req.text, id, ts);
    log.stream_add(
        Some(StreamId { ms: id, seq: 0 }),
        &fields.log(),
        Trim::KeepAtLeast(limits.history_max),
    )
    .map_err(|_| {
        ChatError::Internal(format!(
            "the history of room '{room}' already holds an entry at or after id {id}; \
                 was its stream written to by hand?"
        ))
    })?;

    // From here on every write succeeds: nothing may fail half-way.
    let sent_count = RStr::from_int(ctx, sent_before + 1);
    meta.hash_set(&[(&RStr::new(ctx, b"last_id"), &fields.id)]);
    counts.hash_set(&[(&fields.sender, &sent_count)]);

    // The document is encoded once and published as is to every live
    // member; inbox copies share the same field strings.
    let message = Message {
        room: room.into(),
        id,
        sender: sender.into(),
        text: req.text.into(),
        ts,
    };
    let document = RStr::new(ctx, &message.to_json());
    let inbox_fields = fields.inbox();
    let mut publisher = Publisher::new(ctx, cluster);
    let mut copies: Vec<(RStr, RStr, RStr)> = Vec::new();
    let (mut live, mut queued, mut dropped) = (0, 0, 0);
    for (member, inbox) in &recipients {
        UserKey::Presence.write(member, &mut name);
        let online = store::exists(ctx, &name);
        let listeners = if online {
            UserKey::Channel.write(member, &mut name);
            publisher.publish_if_listened(&RStr::new(ctx, &name), &document)
        } else {
            0
        };
        match route(online, listeners) {
            Route::Live => live += 1,
            Route::Inbox => {
                match inbox.stream_add(None, &inbox_fields, Trim::KeepAtLeast(limits.inbox_max)) {
                    // The append itself wakes a `CHAT.FETCH ... BLOCK` waiting
                    // on this inbox.
                    Ok((delivery, trimmed)) => {
                        queued += 1;
                        dropped += trimmed;
                        if propagation == Propagation::Resolved {
                            copies.push((
                                RStr::new(ctx, member.as_bytes()),
                                RStr::new(ctx, format_stream_id(delivery).as_bytes()),
                                RStr::from_int(ctx, inbox.len() as i64),
                            ));
                        }
                    }
                    // Only possible if the inbox was given the largest possible
                    // id by hand. The message is stored and other members get
                    // it; failing now would leave it half-sent.
                    Err(error) => log_warning(&format!(
                        "message {id} of room '{room}' not put in the inbox of '{member}': {error}"
                    )),
                }
            }
        }
    }

    if propagation == Propagation::Resolved {
        // See chat_core::request::ResolvedSend for the layout.
        let history_length = RStr::from_int(ctx, log.len() as i64);
        let n = RStr::from_int(ctx, copies.len() as i64);
        let mut argv = vec![
            fields.room.ptr(),
            fields.sender.ptr(),
            fields.text.ptr(),
            fields.id.ptr(),
            fields.ts.ptr(),
            history_length.ptr(),
            sent_count.ptr(),
            n.ptr(),
        ];
        for (member, delivery, length) in &copies {
            argv.extend([member.ptr(), delivery.ptr(), length.ptr()]);
        }
        store::replicate(ctx, c"CHAT.SEND-RESOLVED", &argv);
    }
    if let Some(dedup) = dedup {
        let until = ts.saturating_add((limits.dedup_window_secs * 1000) as i64);
        dedup.string_set_until(&id.to_string().into_bytes(), until);
    }

    stats::add(&stats::MESSAGES_SENT, 1);
    stats::add(&stats::LIVE_DELIVERIES, live);
    stats::add(&stats::INBOX_DELIVERIES, queued);
    stats::add(&stats::INBOX_DROPS, dropped);
    Ok(Reply::Int(id as i64))
}

/// CHAT.SEND-RESOLVED: replays, on a replica or while loading the AOF, the
/// writes of one CHAT.SEND exactly as the primary made them. It publishes
/// nothing and decides nothing. Clients cannot call it.
pub fn send_resolved(ctx: Ctx, args: &[&[u8]]) -> Result<Reply, ChatError> {
    // SAFETY: live context.
    let flags = unsafe { api!(RedisModule_GetContextFlags)(ctx) };
    let from_primary_or_aof =
        (raw::REDISMODULE_CTX_FLAGS_REPLICATED | raw::REDISMODULE_CTX_FLAGS_LOADING) as i32;
    if flags & from_primary_or_aof == 0 {
        return Err(ChatError::ResolvedFromClient);
    }
    let r = ResolvedSend::parse(args)?;
    let (room, sender) = (r.room.as_str(), r.sender.as_str());
    let quiet = Propagation::Resolved;
    let meta = open_room(ctx, room, quiet)?;
    let log = Key::write_with(ctx, &RoomKey::Log.of(room), Kind::Stream, quiet)?;
    let counts = Key::write_with(ctx, &RoomKey::Counts.of(room), Kind::Hash, quiet)?;
    let mut inboxes = Vec::with_capacity(r.inbox_copies.len());
    for copy in &r.inbox_copies {
        let name = UserKey::Inbox.of(copy.member.as_str());
        inboxes.push(Key::write_with(ctx, &name, Kind::Stream, quiet)?);
    }

    let fields = Fields::new(ctx, room, sender, r.text, r.id, r.ts);
    let at = StreamId { ms: r.id, seq: 0 };
    log.stream_add(Some(at), &fields.log(), Trim::ToLength(r.history_length))?;
    meta.hash_set(&[(&RStr::new(ctx, b"last_id"), &fields.id)]);
    counts.hash_set(&[(&fields.sender, &RStr::from_int(ctx, r.sent_count))]);
    let inbox_fields = fields.inbox();
    for (copy, inbox) in r.inbox_copies.iter().zip(&inboxes) {
        let at = StreamId {
            ms: copy.delivery.ms,
            seq: copy.delivery.seq,
        };
        inbox.stream_add(Some(at), &inbox_fields, Trim::ToLength(copy.inbox_length))?;
    }
    // A replica's own AOF (and its replicas) get the command as it came.
    store::replicate_verbatim(ctx);
    Ok(Reply::Ok)
}

/// The strings of one message, made once and shared by every write.
struct Fields {
    room: RStr,
    sender: RStr,
    text: RStr,
    id: RStr,
    ts: RStr,
    log_names: [RStr; 3],
    inbox_names: [RStr; 5],
}

impl Fields {
    fn new(ctx: Ctx, room: &str, sender: &str, text: &str, id: u64, ts: i64) -> Fields {
        Fields {
            room: RStr::new(ctx, room.as_bytes()),
            sender: RStr::new(ctx, sender.as_bytes()),
            text: RStr::new(ctx, text.as_bytes()),
            id: RStr::from_int(ctx, id as i64),
            ts: RStr::from_int(ctx, ts),
            log_names: LOG_FIELDS.map(|f| RStr::new(ctx, f)),
            inbox_names: INBOX_FIELDS.map(|f| RStr::new(ctx, f)),
        }
    }

    /// `sender`, `text`, `ts`, as a room log entry holds them.
    fn log(&self) -> [*mut raw::RedisModuleString; 6] {
        let n = &self.log_names;
        [
            n[0].ptr(),
            self.sender.ptr(),
            n[1].ptr(),
            self.text.ptr(),
            n[2].ptr(),
            self.ts.ptr(),
        ]
    }

    /// `room`, `id`, `sender`, `text`, `ts`, as an inbox entry holds them.
    fn inbox(&self) -> [*mut raw::RedisModuleString; 10] {
        let n = &self.inbox_names;
        [
            n[0].ptr(),
            self.room.ptr(),
            n[1].ptr(),
            self.id.ptr(),
            n[2].ptr(),
            self.sender.ptr(),
            n[3].ptr(),
            self.text.ptr(),
            n[4].ptr(),
            self.ts.ptr(),
        ]
    }
}
