//! Users against their model: each step applied to a `User` and to the
//! model, its rooms and inbox compared with the model's; and the properties
//! of users and their inboxes.

use chat_core::data::chunks::Codec;
use chat_core::data::inbox::{Change, Copy, CopyCodec};
use chat_core::data::{decode_user, encode_user, User, ENCODING_VERSION};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

use crate::inbox_model::{
    before, delivery, handle, next_handle, user_clock, user_ops, AckPick, HandlePick, MCopy,
    MsgPick, Stale, Target, UserModel, UserOp,
};
use crate::room::spec_document;
use crate::room_model::Msg;
use crate::{config, ROOMS, SENDERS};

pub(crate) fn round_trip_user(user: &User) -> Result<User, TestCaseError> {
    let bytes = encode_user(user);
    let back = decode_user(ENCODING_VERSION, &bytes);
    prop_assert_eq!(back.as_ref(), Ok(user));
    let back = back.unwrap();
    prop_assert_eq!(encode_user(&back), bytes, "the encoding is not stable");
    Ok(back)
}

pub(crate) fn user_step(
    user: &mut User,
    m: &mut UserModel,
    op: &UserOp,
) -> Result<(), TestCaseError> {
    match op {
        UserOp::JoinRoom { room, dt } => {
            m.now = user_clock(m.now, *dt);
            let want = !m.rooms.contains_key(ROOMS[*room]);
            if want {
                m.rooms.insert(ROOMS[*room].to_string(), m.now);
            }
            prop_assert_eq!(user.join(ROOMS[*room], m.now), want);
        }
        UserOp::LeaveRoom { room } => {
            prop_assert_eq!(
                user.leave(ROOMS[*room]),
                m.rooms.remove(ROOMS[*room]).is_some()
            );
        }
        UserOp::Deliver {
            dt,
            msg,
            handle: pick,
        } => {
            m.now = user_clock(m.now, *dt);
            let offered = handle(user.next_delivery(m.now));
            prop_assert_eq!(offered, next_handle(m.last, m.now), "offered at {}", m.now);
            prop_assert!(offered > m.last);
            // A message counts as sent once a copy of it is in: every copy
            // is delivered no earlier than its message was sent.
            let mut new = None;
            let (room, id, sender, ts, text, edited, deleted) = match msg {
                MsgPick::New {
                    room,
                    sender,
                    text,
                    back,
                    edited,
                    deleted,
                } => {
                    let id = m.sent.len() as u64 + 1;
                    let ts = m.now.saturating_sub(*back);
                    new = Some((
                        ROOMS[*room].to_string(),
                        id,
                        SENDERS[*sender].to_string(),
                        ts,
                        text.clone(),
                    ));
                    let edited = edited.map(|e| ts.saturating_add(e)).filter(|_| !deleted);
                    let text = if *deleted {
                        String::new()
                    } else {
                        text.clone()
                    };
                    (
                        ROOMS[*room].to_string(),
                        id,
                        SENDERS[*sender].to_string(),
                        ts,
                        text,
                        edited,
                        *deleted,
                    )
                }
                MsgPick::Again(i) if !m.sent.is_empty() => {
                    let (room, id, sender, ts, text) = m.sent[i.index(m.sent.len())].clone();
                    (room, id, sender, ts, text, None, false)
                }
                MsgPick::Again(_) => (
                    "r".to_string(),
                    0,
                    "s".to_string(),
                    m.now,
                    String::new(),
                    None,
                    false,
                ),
            };
            let (h, accepted) = match pick {
                HandlePick::Next => (offered, true),
                HandlePick::Ahead { ms: 0, seq } => {
                    ((offered.0, offered.1.saturating_add(*seq)), true)
                }
                // Handles stay within the times a clock gives (up to i64::MAX
                // ms), as next_delivery's do.
                HandlePick::Ahead { ms, seq } if offered.0 + ms <= i64::MAX as u64 => {
                    ((offered.0 + ms, *seq), true)
                }
                HandlePick::Ahead { .. } => (offered, true),
                HandlePick::Stale(stale) => {
                    let h = match stale {
                        Stale::Last => m.last,
                        Stale::SeqBack(k) => (m.last.0, m.last.1.saturating_sub(*k)),
                        Stale::MsBack(k, seq) => (m.last.0.saturating_sub(*k), *seq),
                        Stale::Existing(i) if !m.copies.is_empty() => {
                            m.copies[i.index(m.copies.len())].delivery
                        }
                        Stale::Existing(_) | Stale::Zero => (0, 0),
                    };
                    (h.min(m.last), false)
                }
            };
            let copy = MCopy {
                delivery: h,
                room,
                id,
                sender,
                ts,
                edited,
                deleted,
                text,
            };
            let unchanged = user.inbox().cloned();
            prop_assert_eq!(m.deliver(copy.clone()), accepted);
            prop_assert_eq!(user.deliver(&copy.as_copy()), accepted, "delivery {:?}", h);
            if accepted {
                m.sent.extend(new);
            }
            if !accepted {
                // (A user without an inbox gets an empty one.)
                let inbox = user.inbox().cloned();
                prop_assert_eq!(
                    inbox,
                    Some(unchanged.unwrap_or_default()),
                    "a refused delivery changed the inbox"
                );
            }
        }
        UserOp::Burst { room, n, len, dt } => {
            m.now = user_clock(m.now, *dt);
            for i in 0..*n {
                let h = handle(user.next_delivery(m.now));
                prop_assert_eq!(h, next_handle(m.last, m.now));
                let id = m.sent.len() as u64 + 1;
                let text = format!("{i}:{}", "y".repeat(len + i % 3));
                m.sent.push((
                    ROOMS[*room].to_string(),
                    id,
                    "alice".into(),
                    m.now,
                    text.clone(),
                ));
                let copy = MCopy {
                    delivery: h,
                    room: ROOMS[*room].to_string(),
                    id,
                    sender: "alice".into(),
                    ts: m.now,
                    edited: None,
                    deleted: false,
                    text,
                };
                prop_assert!(m.deliver(copy.clone()));
                prop_assert!(user.deliver(&copy.as_copy()));
            }
        }
        UserOp::Ack(pick) => {
            let at = |i: &Index| {
                m.copies
                    .get(i.index(m.copies.len().max(1)))
                    .map(|c| c.delivery)
            };
            let upto = match pick {
                AckPick::Existing(i) => at(i).unwrap_or(m.last),
                AckPick::JustBefore(i) => before(at(i).unwrap_or(m.last)),
                AckPick::JustAfter(i) => {
                    let h = at(i).unwrap_or(m.last);
                    delivery(h).successor().map_or(h, handle)
                }
                AckPick::Last => m.last,
                AckPick::Zero => (0, 0),
                AckPick::Far => (u64::MAX, u64::MAX),
            };
            let want = m.ack(upto);
            prop_assert_eq!(user.ack(delivery(upto)).0, want, "ACK {:?}", upto);
        }
        UserOp::Trim(keep) => {
            let before = m.copies.len() as u64;
            let keep = keep.of(before);
            let removed = user.trim_inbox_keeping(keep);
            prop_assert!(removed <= before);
            let after = before - removed;
            if before <= keep {
                prop_assert_eq!(removed, 0);
            } else {
                prop_assert!(
                    after >= keep,
                    "kept {} of {}, asked to keep {}",
                    after,
                    before,
                    keep
                );
                prop_assert!(
                    after < keep.saturating_add(u64::from(CopyCodec::MAX_RECORDS)),
                    "kept {} of {}, asked to keep {}",
                    after,
                    before,
                    keep
                );
            }
            m.copies.drain(..removed as usize);
        }
        UserOp::Change { target, edit } => {
            let (room, id, ts) = match target {
                Target::Delivered(i) if !m.sent.is_empty() => {
                    let (room, id, _, ts, _) = &m.sent[i.index(m.sent.len())];
                    (room.clone(), *id, *ts)
                }
                Target::Delivered(_) => ("r".to_string(), 1, m.now),
                Target::Unknown { room, id } => (ROOMS[*room].to_string(), id + 1_000_000, m.now),
            };
            let change = match edit {
                Some((text, dt)) => Change::Edited {
                    text,
                    at: m.now.saturating_add(*dt),
                },
                None => Change::Deleted,
            };
            let want = m.change(&room, id, change);
            prop_assert_eq!(
                user.change_copies(&room, id, ts, change),
                want,
                "{} {}",
                room,
                id
            );
        }
        UserOp::SetPassword(hash) => {
            user.set_password(hash);
            m.password = Some(hash.clone());
        }
        UserOp::SetOnline(until) => {
            user.set_online_until(*until);
            m.online_until = *until;
        }
        UserOp::Reload => *user = round_trip_user(user)?,
    }
    Ok(())
}

pub(crate) fn check_user(user: &User, m: &UserModel) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        (user.name(), user.created(), user.origin()),
        ("Alice", 5, 9)
    );
    let rooms: Vec<(String, i64)> = user.rooms().map(|(r, at)| (r.to_string(), at)).collect();
    let want: Vec<(String, i64)> = m.rooms.iter().map(|(r, at)| (r.clone(), *at)).collect();
    prop_assert_eq!(rooms, want);
    prop_assert_eq!(user.room_count(), m.rooms.len() as u64);
    for room in ROOMS {
        prop_assert_eq!(user.in_room(room), m.rooms.contains_key(room));
    }
    prop_assert_eq!(user.password(), m.password.as_deref());
    prop_assert_eq!(user.online_until(), m.online_until);
    prop_assert_eq!(user.online(m.now), m.online_until > m.now);

    prop_assert_eq!(user.inbox_len(), m.copies.len() as u64);
    let copies: Vec<MCopy> = user
        .inbox()
        .into_iter()
        .flat_map(|i| i.iter())
        .map(|c| MCopy::of(&c))
        .collect();
    prop_assert_eq!(&copies, &Vec::from(m.copies.clone()));
    match user.inbox() {
        Some(inbox) => {
            prop_assert_eq!(handle(inbox.last_delivery()), m.last);
            for count in [0, 1, 5, usize::MAX] {
                let page: Vec<MCopy> = inbox.page(count).map(|c| MCopy::of(&c)).collect();
                let want: Vec<MCopy> = m.copies.iter().take(count).cloned().collect();
                prop_assert_eq!(page, want, "page of {}", count);
            }
            // The documents FETCH returns, oldest and newest.
            let n = m.copies.len();
            for (c, want) in inbox
                .iter()
                .zip(&m.copies)
                .enumerate()
                .filter(|(i, _)| *i < 2 || *i + 2 >= n)
                .map(|(_, p)| p)
            {
                let delivery = c.delivery.to_string();
                let doc = c.message().to_json_with_delivery(&delivery);
                let msg = Msg {
                    sender: want.sender.clone(),
                    text: want.text.clone(),
                    ts: want.ts,
                    edited: want.edited,
                    deleted: want.deleted,
                };
                let (h_ms, h_seq) = want.delivery;
                let expected =
                    spec_document(&want.room, want.id, &msg, Some(&format!("{h_ms}-{h_seq}")));
                prop_assert_eq!(
                    serde_json::from_slice::<serde_json::Value>(&doc).ok(),
                    Some(expected)
                );
            }
        }
        None => prop_assert!(m.last == (0, 0) && m.copies.is_empty()),
    }
    // Handles strictly increase, up to the last given out, and the next is
    // above them all whatever the time.
    prop_assert!(copies.windows(2).all(|w| w[0].delivery < w[1].delivery));
    prop_assert!(copies.last().is_none_or(|c| c.delivery <= m.last));
    for now in [
        m.now,
        m.now.saturating_sub(5000).max(1),
        m.now.saturating_add(1),
    ] {
        let next = handle(user.next_delivery(now));
        prop_assert_eq!(next, next_handle(m.last, now), "at {}", now);
        prop_assert!(next > m.last);
    }
    let content = m.content_bytes() + user.name().len();
    prop_assert!(
        user.heap_bytes() >= content,
        "{} bytes for {} of content",
        user.heap_bytes(),
        content
    );
    Ok(())
}

pub(crate) fn new_user(now: i64) -> (User, UserModel) {
    (User::new(9, "Alice", 5), UserModel::new(now))
}

pub(crate) fn build_user(now: i64, ops: &[UserOp]) -> Result<(User, UserModel), TestCaseError> {
    let (mut user, mut m) = new_user(now);
    for op in ops {
        user_step(&mut user, &mut m, op)?;
    }
    Ok((user, m))
}

proptest! {
    #![proptest_config(config(1000))]

    /// After every step of any sequence, a user's rooms and inbox are the
    /// model's: deliveries get strictly increasing handles (a stale one is
    /// refused and changes nothing), an acknowledgement removes exactly the
    /// copies up to its handle, changes reach every copy of their message;
    /// and the user reads back from its encoding.
    #[test]
    fn an_inbox_agrees_with_its_model_after_every_step((now, ops) in user_ops(40)) {
        let (mut user, mut m) = new_user(now);
        for op in &ops {
            user_step(&mut user, &mut m, op)?;
            check_user(&user, &m)?;
        }
        let back = round_trip_user(&user)?;
        check_user(&back, &m)?;
    }
}

/// `User::next_delivery` promises "the handle the next copy delivered at
/// `now` gets", and `deliver` refuses any handle not above the last one
/// given out, which starts at 0-0. A user without an inbox yet is offered
/// 0-0 at a time at or before 0 (`now.max(0)`, seq 0), which `deliver` then
/// refuses; a user whose inbox exists (it joined a room first) is offered
/// 0-1 at the same time. Times that low never come from a real clock, so
/// no send is lost in practice.
#[test]
pub(crate) fn a_new_user_accepts_the_handle_it_offers_at_any_time() {
    for now in [0, -5, i64::MIN] {
        let mut user = User::new(1, "a", 0);
        let offered = user.next_delivery(now);
        let copy = Copy {
            delivery: offered,
            room: "r",
            id: 1,
            sender: "s",
            ts: now,
            edited: None,
            deleted: false,
            text: "t",
            extra: &[],
        };
        assert!(user.deliver(&copy), "at {now}: offered {offered}, refused");
    }
}
