//! CHAT.SEND <room> <sender> <text> [DEDUP <key>] [REPLY <id>] [MENTION <user>]...:
//! the hot path; and
//! CHAT.SEND-RESOLVED, the form in which a send reaches replicas and the AOF.
//!
//! A send opens the room's key and, in a fan-out room, the key of every
//! other member: one key per member, holding both their presence and their
//! inbox. It does no string formatting, no JSON and no allocation per member
//! beyond the key name Redis needs; the document is encoded once, and only
//! if someone is online. A send to a broadcast room opens the room alone
//! (and the sender's key, when it shares the room's slot). In Redis Cluster
//! a room with a member of another slot is a broadcast room, so a send
//! touches the room's slot only.

use chat_core::channels::{room_channel, write_user_channel};
use chat_core::data::inbox::Copy;
use chat_core::data::User;
use chat_core::delivery::{route, Route};
use chat_core::event::{Event, RoomMode};
use chat_core::replay::ResolvedSend;
use chat_core::request::Send;
use chat_core::ChatError;

use super::notify::{Notifications, Sent};
use super::{existing_in_slot, existing_room, mode_of, open_other_members, Args};
use crate::cluster::{self, shares_slot};
use crate::config::limits;
use crate::context;
use crate::generation;
use crate::publish::{publish, publish_event, Publisher};
use crate::replication::{self, Copies};
use crate::reply::Reply;
use crate::stats;
use crate::store::{self, Access, Ctx, RStr};
use chat_core::ids::is_direct_room;

/// In one atomic step: check everything, assign the room's next id, store
/// the message, count it for the sender, then deliver it to every other
/// member, live or to the inbox (see `chat_core::delivery`).
pub fn send(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let limits = limits();
    let req = Send::parse(args, &limits)?;
    let (room_id, sender) = (req.room.as_str(), req.sender.as_str());
    let now = context::now();
    let mut key = existing_room(ctx, args, 0, Access::Write)?;
    let room = key.value()?;
    // A retry of a send that already happened gets the first reply again,
    // and writes nothing, whatever happened since.
    if let Some(first) = req.dedup.and_then(|k| room.dedup_get(k, now)) {
        return Ok(Reply::Int(first as i64));
    }
    // The sender's key, when it is in the room's slot, is checked like the
    // room's: its type, and that it still exists.
    if shares_slot(ctx, room_id, sender) {
        existing_in_slot(ctx, args.key(1)?, Access::Read)?;
    }
    // Membership, the message replied to and the members mentioned.
    room.check_send(sender, &req.extra)?;
    // The room's rules: a mute, slow mode.
    room.check_may_send(room_id, sender, now)?;
    // Every key a send may write is opened, and its type checked, before
    // the first write. A member whose key is gone (a user key deleted by
    // hand, or moved away by a slot migration) gets no copy, and misses
    // nothing: their read cursor stays before the message.
    let mode = mode_of(ctx, room_id, room);
    let cluster = cluster::enabled(ctx);
    let mut recipients = match mode {
        RoomMode::Fanout => open_other_members(ctx, room_id, room, sender)?,
        RoomMode::Broadcast => Vec::new(),
    };
    // Last of the checks: it spends one of the sender's tokens.
    crate::ratelimit::take(sender, now)?;

    let room = key.value_mut()?;
    // Ids this server hands out may follow ids a client saw from a primary
    // that had more (a promotion, a lossy restart): a new epoch first.
    if let Some(epoch) = generation::vouch(ctx, room_id, room) {
        let epoch = epoch.to_string();
        let reset = Event::Reset {
            room: room_id,
            epoch: &epoch,
            last_id: room.last_id(),
        };
        super::tell_room(ctx, room_id, room, None, &reset);
    }
    room.dedup_forget_expired(now);
    let extra = req.extra.encode();
    let id = room.append_message(sender, req.text, &req.extra, &extra, now)?;
    if limits.history_max_age_secs > 0 {
        room.retire_older_than(now, limits.history_max_age_secs);
    }
    room.trim_keeping(limits.history_max);
    let dedup = req.dedup.map(|k| {
        let until = now.saturating_add((limits.dedup_window_secs * 1000) as i64);
        room.dedup_record(k, id, until);
        (k, until)
    });
    let first_kept = room.first_id().unwrap_or(id + 1);
    key.changed(c"chat.send");

    let copy = Copy {
        delivery: Default::default(),
        room: room_id,
        id,
        sender,
        ts: now,
        edited: None,
        deleted: false,
        text: req.text,
        extra: &extra,
    };
    // The document is made once, when the first member needs it.
    let mut document = None;
    let mut publisher = Publisher::new(ctx, cluster);
    let mut copies = Copies::with_capacity(recipients.len());
    let (mut live, mut queued, mut dropped) = (0, 0, 0);
    let mut channel = Vec::new();
    let mut notifications = Notifications::new();
    let direct = is_direct_room(room_id);
    for recipient in &mut recipients {
        let (member, value) = recipient.id_and_value();
        let Some(user) = value else {
            stats::add(&stats::MISSING_RECIPIENTS, 1);
            continue;
        };
        let online = user.online(now);
        let mentioned = req.extra.mentions.contains(&member);
        notifications.consider(member, user, online, mentioned, direct);
        let listeners = if online {
            let document =
                document.get_or_insert_with(|| RStr::new(ctx, &copy.message().to_json()));
            write_user_channel(member, &mut channel);
            publisher.publish_if_listened(&RStr::new(ctx, &channel), document)
        } else {
            0
        };
        if route(online, listeners) == Route::Live {
            live += 1;
            continue;
        }
        let delivery = user.next_delivery(now);
        user.deliver(&Copy { delivery, ..copy });
        dropped += user.trim_inbox_keeping(limits.inbox_max);
        queued += 1;
        copies.add(member, delivery, user.inbox_len());
        recipient.changed(c"chat.deliver");
        // Wakes a `CHAT.FETCH ... BLOCK` waiting on this user.
        recipient.signal_ready();
    }
    if mode == RoomMode::Broadcast {
        let document = document.get_or_insert_with(|| RStr::new(ctx, &copy.message().to_json()));
        let channel = RStr::new(ctx, &room_channel(room_id));
        live += publish(ctx, cluster, &channel, document).max(0) as u64;
        // A member of a big room may not listen to it: a mention reaches
        // them on their own channel too, or a notification when away.
        if !req.extra.mentions.is_empty() {
            for &member in &req.extra.mentions {
                if member == sender || !shares_slot(ctx, room_id, member) {
                    continue;
                }
                let Ok(key) = store::open_id::<User>(ctx, member, Access::Read) else {
                    continue;
                };
                if let Some(user) = key.get() {
                    notifications.consider(member, user, user.online(now), true, direct);
                }
            }
            let event = Event::Mention {
                room: room_id,
                id,
                sender,
                text: req.text,
            };
            let mentioned = req.extra.mentions.iter().copied();
            publish_event(
                ctx,
                cluster,
                room_id,
                RoomMode::Fanout,
                mentioned,
                Some(sender),
                &event.to_json(),
            );
        }
    }

    let [room_arg, sender_arg, text_arg, ..] = *args.strings else {
        return Err(ChatError::Internal(
            "a send without room, sender and text".into(),
        ));
    };
    let sent = Sent {
        room_id,
        room: room_arg,
        sender: sender_arg,
        text: text_arg,
        id,
        ts: now,
    };
    let notified = notifications.record(ctx, cluster, &sent);
    replication::send_resolved(
        ctx,
        replication::ResolvedSend {
            room: room_arg,
            sender: sender_arg,
            text: text_arg,
            id,
            ts: now,
            first_kept,
            copies,
            dedup,
            extra: &req.extra,
            notified: notified.as_ref(),
        },
    );
    stats::add(&stats::MESSAGES_SENT, 1);
    stats::add(
        &stats::REPLIES_SENT,
        u64::from(req.extra.reply_to.is_some()),
    );
    stats::add(&stats::MENTIONS_SENT, req.extra.mentions.len() as u64);
    stats::add(&stats::LIVE_DELIVERIES, live);
    stats::add(&stats::INBOX_DELIVERIES, queued);
    stats::add(&stats::INBOX_DROPS, dropped);
    Ok(Reply::Int(id as i64))
}

/// CHAT.SEND-RESOLVED: replays, on a replica or while loading the AOF, the
/// writes of one CHAT.SEND exactly as the primary made them. It publishes
/// nothing and decides nothing. Clients cannot call it.
pub fn send_resolved(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    if !context::replaying() {
        return Err(ChatError::ResolvedFromClient);
    }
    let r = ResolvedSend::parse(args)?;
    let sender = r.sender.as_str();
    let mut key = existing_room(ctx, args, 0, Access::Write)?;
    let room_id = key.id().to_owned();
    let mut inboxes = Vec::with_capacity(r.inbox_copies.len());
    for copy in &r.inbox_copies {
        inboxes.push(store::open_id::<User>(
            ctx,
            copy.member.as_str(),
            Access::Write,
        )?);
    }
    let room = key.value_mut()?;
    room.dedup_forget_expired(r.ts);
    let id = room.send_message(sender, r.text, &r.extra, r.ts)?;
    if id != r.id {
        crate::log_warning(&format!(
            "replayed send to room '{room_id}' got id {id} where the primary gave {}; \
             this replica's data differs from the primary's",
            r.id
        ));
    }
    room.trim_below(r.first_kept);
    if let Some((dedup_key, until)) = r.dedup {
        room.dedup_record(dedup_key, id, until);
    }
    key.changed(c"chat.send");
    let extra = r.extra.encode();
    let copy = Copy {
        delivery: Default::default(),
        room: &room_id,
        id,
        sender,
        ts: r.ts,
        edited: None,
        deleted: false,
        text: r.text,
        extra: &extra,
    };
    for (resolved, inbox) in r.inbox_copies.iter().zip(&mut inboxes) {
        let Some(user) = inbox.get_mut() else {
            continue;
        };
        let delivered = user.deliver(&Copy {
            delivery: resolved.delivery,
            ..copy
        });
        if !delivered {
            crate::log_warning(&format!(
                "replayed send to room '{room_id}' has a copy for '{}' older than their inbox; \
                 this replica's data differs from the primary's",
                resolved.member.as_str()
            ));
        }
        user.trim_inbox_keeping(resolved.inbox_length);
        inbox.changed(c"chat.deliver");
        inbox.signal_ready();
    }
    if let (Some(notified), &[room, sender, text, ..]) = (&r.notified, args.strings) {
        let sent = Sent {
            room_id: &room_id,
            room,
            sender,
            text,
            id,
            ts: r.ts,
        };
        super::notify::replay(ctx, cluster::enabled(ctx), &sent, notified);
    }
    Ok(Reply::Ok)
}
