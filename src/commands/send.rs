//! CHAT.SEND <room> <sender> <text> [DEDUP <key>]: the hot path; and
//! CHAT.SEND-RESOLVED, the form in which a send reaches replicas and the AOF.
//!
//! A send to a fan-out room of N members does O(N) work in Redis whatever
//! happens; what this file keeps small is the work per member on top of it:
//! no string formatting, no JSON, no allocation beyond the key names Redis
//! needs. The document is encoded once, and only if someone is online. A send
//! to a broadcast room does the same work whatever the room's size.

use chat_core::delivery::{route, DeliveryId, Route};
use chat_core::event::RoomMode;
use chat_core::keys::{dedup_key, roster_members, RoomKey, UserKey};
use chat_core::message::{parse_i64, Message};
use chat_core::request::{push_inbox_copy, ResolvedSend, Send};
use chat_core::ChatError;
use redis_module::raw;

use super::{
    forget_changes_before_history, in_cluster, open_room, require_same_slot, require_user,
    retire_old_messages, Args,
};
use crate::config::limits;
use crate::publish::{publish, Publisher};
use crate::reply::Reply;
use crate::store::{self, api, now_ms, words, Ctx, Key, Kind, Propagation, RStr, StreamId, Trim};
use crate::{log_warning, stats};

/// In one atomic step: check everything, assign the room's next id, append
/// to the room log, count the message for the sender, then deliver it to
/// every other member, live or to the inbox (see `chat_core::delivery`).
pub fn send(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let limits = limits();
    let req = Send::parse(args, &limits)?;
    let (room, sender) = (req.room.as_str(), req.sender.as_str());
    let propagation = if limits.replicate_effects {
        Propagation::Effects
    } else {
        Propagation::Resolved
    };

    // A retry of a send that already happened gets the first reply again.
    // The DEDUP key reaches replicas as its own `SET ... PXAT` (effects) in
    // both propagation modes; CHAT.SEND-RESOLVED does not carry it.
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
    let mut name = Vec::with_capacity(64);
    let meta = open_room(ctx, room, propagation)?;
    RoomKey::Members.write(room, &mut name);
    let members = Key::write_with(ctx, &name, Kind::Hash, propagation)?;
    if !members.hash_exists(sender.as_bytes()) {
        require_user(ctx, sender)?;
        return Err(ChatError::NotMember);
    }
    RoomKey::Log.write(room, &mut name);
    let log = Key::write_with(ctx, &name, Kind::Stream, propagation)?;
    RoomKey::Counts.write(room, &mut name);
    let counts = Key::write_with(ctx, &name, Kind::Hash, propagation)?;
    let last_id = meta.hash_get_int(&words().last_id)?.unwrap_or(0);
    let sent_before = counts.hash_get_int(sender.as_bytes())?.unwrap_or(0);
    // In a fan-out room every other member's inbox is opened, and its type
    // checked, now: any of them may be written below. The roster lists the
    // members in one string, read in place. A broadcast room needs neither.
    let cluster = in_cluster(ctx);
    let mode = RoomMode::for_members(members.len(), limits.fanout_max_members);
    RoomKey::Roster.write(room, &mut name);
    let roster = Key::read(ctx, &name, Kind::String)?;
    let roster_bytes = match mode {
        RoomMode::Fanout => roster.string_bytes().unwrap_or_default(),
        RoomMode::Broadcast => &[],
    };
    let mut recipients = Vec::with_capacity(match mode {
        RoomMode::Fanout => members.len() as usize,
        RoomMode::Broadcast => 0,
    });
    for member in roster_members(roster_bytes) {
        // Member ids were validated when they joined.
        let Ok(member) = std::str::from_utf8(member) else {
            continue;
        };
        if member == sender {
            continue;
        }
        if cluster {
            require_same_slot(room, member)?;
        }
        UserKey::Inbox.write(member, &mut name);
        let inbox = Key::write_with(ctx, &name, Kind::Stream, propagation)?;
        recipients.push((member, inbox));
    }

    // The log append goes first: it is the one write that can be refused
    // (when the stream was given a higher id by hand), and nothing else has
    // been written yet when it is.
    let id = u64::try_from(last_id).unwrap_or(0) + 1;
    let ts = now_ms();
    let fields = Fields::new(ctx, args, id, ts)?;
    let (_, trimmed) = log
        .stream_add(
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
    let retired = retire_old_messages(&log, ts, limits.history_max_age_secs);
    if trimmed + retired > 0 {
        forget_changes_before_history(ctx, room, &log, propagation);
    }
    let sent_count = RStr::from_int(ctx, sent_before + 1);
    meta.hash_set(&[(words().last_id.ptr(), fields.id.ptr())]);
    counts.hash_set(&[(fields.sender, sent_count.ptr())]);
    // The sender has read what they answer.
    members.hash_set(&[(fields.sender, fields.id.ptr())]);

    // The JSON document and the inbox form are each made once, when the
    // first member needs them.
    let message = Message {
        room: room.into(),
        id,
        sender: sender.into(),
        text: req.text.into(),
        ts,
        edited: None,
        deleted: false,
    };
    let mut document = None;
    let mut inbox_value = None;
    let mut publisher = Publisher::new(ctx, cluster);
    let mut copies = Vec::new();
    let (mut live, mut queued, mut dropped) = (0, 0, 0);
    for (member, inbox) in &recipients {
        UserKey::Presence.write(member, &mut name);
        let online = store::exists(ctx, &name);
        let listeners = if online {
            let document = document.get_or_insert_with(|| RStr::new(ctx, &message.to_json()));
            UserKey::Channel.write(member, &mut name);
            publisher.publish_if_listened(&RStr::new(ctx, &name), document)
        } else {
            0
        };
        match route(online, listeners) {
            Route::Live => live += 1,
            Route::Inbox => {
                let value =
                    inbox_value.get_or_insert_with(|| RStr::new(ctx, &message.inbox_value()));
                let entry = [words().inbox_field.ptr(), value.ptr()];
                match inbox.stream_add(None, &entry, Trim::KeepAtLeast(limits.inbox_max)) {
                    // The append itself wakes a `CHAT.FETCH ... BLOCK` waiting
                    // on this inbox.
                    Ok((delivery, trimmed)) => {
                        queued += 1;
                        dropped += trimmed;
                        if propagation == Propagation::Resolved {
                            let delivery = DeliveryId {
                                ms: delivery.ms,
                                seq: delivery.seq,
                            };
                            push_inbox_copy(&mut copies, member, delivery, inbox.len());
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

    if mode == RoomMode::Broadcast {
        let document = document.get_or_insert_with(|| RStr::new(ctx, &message.to_json()));
        RoomKey::Channel.write(room, &mut name);
        live += publish(ctx, cluster, &RStr::new(ctx, &name), document).max(0) as u64;
    }

    if propagation == Propagation::Resolved {
        // See chat_core::request::ResolvedSend for the layout.
        let history_length = RStr::from_int(ctx, log.len() as i64);
        let copies = RStr::new(ctx, &copies);
        let argv = [
            fields.room,
            fields.sender,
            fields.text,
            fields.id.ptr(),
            fields.ts.ptr(),
            history_length.ptr(),
            sent_count.ptr(),
            copies.ptr(),
        ];
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
pub fn send_resolved(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    // SAFETY: live context.
    let flags = unsafe { api!(RedisModule_GetContextFlags)(ctx) };
    let from_primary_or_aof =
        (raw::REDISMODULE_CTX_FLAGS_REPLICATED | raw::REDISMODULE_CTX_FLAGS_LOADING) as i32;
    if flags & from_primary_or_aof == 0 {
        return Err(ChatError::ResolvedFromClient);
    }
    let r = ResolvedSend::parse(args)?;
    let room = r.room.as_str();
    // This command is itself what replicas and the AOF get (see the end).
    let not_per_write = Propagation::Resolved;
    let meta = open_room(ctx, room, not_per_write)?;
    let log = Key::write_with(ctx, &RoomKey::Log.of(room), Kind::Stream, not_per_write)?;
    let counts = Key::write_with(ctx, &RoomKey::Counts.of(room), Kind::Hash, not_per_write)?;
    let members = Key::write_with(ctx, &RoomKey::Members.of(room), Kind::Hash, not_per_write)?;
    let mut inboxes = Vec::with_capacity(r.inbox_copies.len());
    for copy in &r.inbox_copies {
        let name = UserKey::Inbox.of(copy.member.as_str());
        inboxes.push(Key::write_with(ctx, &name, Kind::Stream, not_per_write)?);
    }

    let fields = Fields::new(ctx, args, r.id, r.ts)?;
    let at = StreamId { ms: r.id, seq: 0 };
    let (_, trimmed) = log.stream_add(Some(at), &fields.log(), Trim::ToLength(r.history_length))?;
    if trimmed > 0 {
        forget_changes_before_history(ctx, room, &log, not_per_write);
    }
    meta.hash_set(&[(words().last_id.ptr(), fields.id.ptr())]);
    let sent_count = RStr::from_int(ctx, r.sent_count);
    counts.hash_set(&[(fields.sender, sent_count.ptr())]);
    members.hash_set(&[(fields.sender, fields.id.ptr())]);
    let message = Message {
        room: room.into(),
        id: r.id,
        sender: r.sender.as_str().into(),
        text: r.text.into(),
        ts: r.ts,
        edited: None,
        deleted: false,
    };
    let value = RStr::new(ctx, &message.inbox_value());
    let entry = [words().inbox_field.ptr(), value.ptr()];
    for (copy, inbox) in r.inbox_copies.iter().zip(&inboxes) {
        let at = StreamId {
            ms: copy.delivery.ms,
            seq: copy.delivery.seq,
        };
        // As on the primary, a copy that cannot be appended (an inbox given
        // the largest id by hand) must not leave the replay half done.
        if let Err(error) = inbox.stream_add(Some(at), &entry, Trim::ToLength(copy.inbox_length)) {
            log_warning(&format!(
                "replayed message {} of room '{room}' not put in the inbox of '{}': {error}",
                r.id,
                copy.member.as_str()
            ));
        }
    }
    // A replica's own AOF (and its replicas) get the command as it came.
    store::replicate_verbatim(ctx);
    Ok(Reply::Ok)
}

/// The strings of one message, shared by every write. Room, sender and text
/// are the command's own argument strings, which Redis lends for the whole
/// command: nothing is copied for them.
struct Fields {
    room: *mut raw::RedisModuleString,
    sender: *mut raw::RedisModuleString,
    text: *mut raw::RedisModuleString,
    id: RStr,
    ts: RStr,
}

impl Fields {
    /// `args` are those of CHAT.SEND or CHAT.SEND-RESOLVED, which both
    /// start with room, sender, text.
    fn new(ctx: Ctx, args: &Args, id: u64, ts: i64) -> Result<Fields, ChatError> {
        let [room, sender, text, ..] = *args.strings else {
            return Err(ChatError::Internal(
                "a send without room, sender and text".into(),
            ));
        };
        Ok(Fields {
            room,
            sender,
            text,
            id: RStr::from_int(ctx, id as i64),
            ts: RStr::from_int(ctx, ts),
        })
    }

    /// `sender`, `text`, `ts`, as a room log entry holds them.
    fn log(&self) -> [*mut raw::RedisModuleString; 6] {
        let n = &words().log_fields;
        [
            n[0].ptr(),
            self.sender,
            n[1].ptr(),
            self.text,
            n[2].ptr(),
            self.ts.ptr(),
        ]
    }
}
