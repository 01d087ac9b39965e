//! CHAT.SEND <room> <sender> <text>: the hot path.

use chat_core::delivery::{listener_probe, route, ListenerProbe, Route};
use chat_core::keys::{RoomKey, UserKey};
use chat_core::message::{Message, INBOX_FIELDS, LOG_FIELDS};
use chat_core::request::Send;
use chat_core::ChatError;

use super::{open_room, require_user};
use crate::config::limits;
use crate::reply::Reply;
use crate::store::{self, now_ms, Ctx, Key, Kind, RStr, StreamId};
use crate::{log_warning, publish, stats};

/// In one atomic step: check everything, assign the room's next id, append
/// to the room log, count the message for the sender, then deliver it to
/// every other member, live or to the inbox (see `chat_core::delivery`).
pub fn send(ctx: Ctx, args: &[&[u8]]) -> Result<Reply, ChatError> {
    let limits = limits();
    let req = Send::parse(args, &limits)?;
    let (room, sender) = (req.room.as_str(), req.sender.as_str());

    // Checks. Nothing is written until all of them pass.
    let meta = open_room(ctx, room)?;
    let members = Key::read(ctx, &RoomKey::Members.of(room), Kind::Hash)?;
    if !members.hash_exists(sender.as_bytes()) {
        require_user(ctx, sender)?;
        return Err(ChatError::NotMember);
    }
    let log = Key::write(ctx, &RoomKey::Log.of(room), Kind::Stream)?;
    let counts = Key::write(ctx, &RoomKey::Counts.of(room), Kind::Hash)?;
    let last_id = meta.hash_get_int(b"last_id")?.unwrap_or(0);
    let sent_before = counts.hash_get_int(sender.as_bytes())?.unwrap_or(0);
    // Every other member's inbox is opened, and its type checked, now: any
    // of them may be written below. Sorted ids keep the writes, and so what
    // replicas receive, in a stable order.
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
        UserKey::Inbox.write(&member, &mut name);
        let inbox = Key::write(ctx, &name, Kind::Stream)?;
        recipients.push((member, inbox));
    }

    // The log append goes first: it is the one write that can be refused
    // (when the stream was given a higher id by hand), and nothing else has
    // been written yet when it is.
    let id = u64::try_from(last_id).unwrap_or(0) + 1;
    let ts = now_ms();
    let id_str = RStr::from_int(ctx, id as i64);
    let ts_str = RStr::from_int(ctx, ts);
    let room_str = RStr::new(ctx, room.as_bytes());
    let sender_str = RStr::new(ctx, sender.as_bytes());
    let text_str = RStr::new(ctx, req.text.as_bytes());
    let log_names = LOG_FIELDS.map(|f| RStr::new(ctx, f));
    let log_fields = [
        log_names[0].ptr(),
        sender_str.ptr(),
        log_names[1].ptr(),
        text_str.ptr(),
        log_names[2].ptr(),
        ts_str.ptr(),
    ];
    log.stream_add(
        Some(StreamId { ms: id, seq: 0 }),
        &log_fields,
        limits.history_max,
    )
    .map_err(|_| {
        ChatError::Internal(format!(
            "the history of room '{room}' already holds an entry at or after id {id}; \
                 was its stream written to by hand?"
        ))
    })?;

    // From here on every write succeeds: nothing may fail half-way.
    meta.hash_set(&[(&RStr::new(ctx, b"last_id"), &id_str)]);
    counts.hash_set(&[(&sender_str, &RStr::from_int(ctx, sent_before + 1))]);

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
    let inbox_names = INBOX_FIELDS.map(|f| RStr::new(ctx, f));
    let inbox_fields = [
        inbox_names[0].ptr(),
        room_str.ptr(),
        inbox_names[1].ptr(),
        id_str.ptr(),
        inbox_names[2].ptr(),
        sender_str.ptr(),
        inbox_names[3].ptr(),
        text_str.ptr(),
        inbox_names[4].ptr(),
        ts_str.ptr(),
    ];

    let mut probe = None;
    let (mut live, mut queued, mut dropped) = (0, 0, 0);
    for (member, inbox) in &recipients {
        UserKey::Presence.write(member, &mut name);
        let online = store::exists(ctx, &name);
        let mut listeners = 0;
        if online {
            UserKey::Channel.write(member, &mut name);
            let channel = RStr::new(ctx, &name);
            let probe =
                *probe.get_or_insert_with(|| listener_probe(publish::pattern_subscriptions(ctx)));
            listeners = match probe {
                ListenerProbe::PublishAndCount => publish::publish(ctx, &channel, &document),
                ListenerProbe::AskFirst => {
                    let n = publish::exact_subscribers(ctx, &channel);
                    if n > 0 {
                        publish::publish(ctx, &channel, &document);
                    }
                    n
                }
            };
        }
        match route(online, listeners.max(0) as u64) {
            Route::Live => live += 1,
            Route::Inbox => match inbox.stream_add(None, &inbox_fields, limits.inbox_max) {
                // The append itself wakes a `CHAT.FETCH ... BLOCK` waiting
                // on this inbox.
                Ok((_, trimmed)) => {
                    queued += 1;
                    dropped += trimmed;
                }
                // Only possible if the inbox was given the largest possible
                // id by hand. The message is stored and other members get
                // it; failing now would leave it half-sent.
                Err(error) => log_warning(&format!(
                    "message {id} of room '{room}' not put in the inbox of '{member}': {error}"
                )),
            },
        }
    }

    stats::add(&stats::MESSAGES_SENT, 1);
    stats::add(&stats::LIVE_DELIVERIES, live);
    stats::add(&stats::INBOX_DELIVERIES, queued);
    stats::add(&stats::INBOX_DROPS, dropped);
    Ok(Reply::Int(id as i64))
}
