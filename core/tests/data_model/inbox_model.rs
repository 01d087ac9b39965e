//! The reference model of a user and its inbox; the steps a user goes
//! through (rooms joined and left, deliveries, acknowledgements, trims,
//! changes to copies), as generated.

use std::collections::{BTreeMap, VecDeque};

use chat_core::data::inbox::{Change, Copy};
use chat_core::delivery::DeliveryId;
use proptest::prelude::*;
use proptest::sample::Index;

use crate::room_model::{amount, dt, text, Amount};
use crate::{ROOMS, SENDERS};

// ---------------------------------------------------------------------------
// The user model.

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MCopy {
    pub(crate) delivery: (u64, u64),
    pub(crate) room: String,
    pub(crate) id: u64,
    pub(crate) sender: String,
    pub(crate) ts: i64,
    pub(crate) edited: Option<i64>,
    pub(crate) deleted: bool,
    pub(crate) text: String,
}

impl MCopy {
    pub(crate) fn of(c: &Copy) -> MCopy {
        MCopy {
            delivery: (c.delivery.ms, c.delivery.seq),
            room: c.room.to_string(),
            id: c.id,
            sender: c.sender.to_string(),
            ts: c.ts,
            edited: c.edited,
            deleted: c.deleted,
            text: c.text.to_string(),
        }
    }

    pub(crate) fn as_copy(&self) -> Copy<'_> {
        Copy {
            delivery: DeliveryId {
                ms: self.delivery.0,
                seq: self.delivery.1,
            },
            room: &self.room,
            id: self.id,
            sender: &self.sender,
            ts: self.ts,
            edited: self.edited,
            deleted: self.deleted,
            text: &self.text,
            extra: &[],
        }
    }
}

/// A message that reached the inbox: (room, id, sender, ts, text).
pub(crate) type Sent = (String, u64, String, i64, String);

#[derive(Debug, Clone)]
pub(crate) struct UserModel {
    pub(crate) rooms: BTreeMap<String, i64>,
    pub(crate) copies: VecDeque<MCopy>,
    /// The last handle given out.
    pub(crate) last: (u64, u64),
    pub(crate) password: Option<String>,
    pub(crate) online_until: i64,
    pub(crate) sent: Vec<Sent>,
    pub(crate) now: i64,
}

/// A user's clock: 1 ms at the least (see
/// a_new_user_accepts_the_handle_it_offers_at_any_time), and short of
/// i64::MAX, so that a handle one past the last stays a time.
pub(crate) fn user_clock(now: i64, dt: i64) -> i64 {
    now.saturating_add(dt).clamp(1, i64::MAX - 1_000_000)
}

/// `<now>-0`, or one more than the last handle when `now` is not later.
pub(crate) fn next_handle(last: (u64, u64), now: i64) -> (u64, u64) {
    if now > 0 && now as u64 > last.0 {
        (now as u64, 0)
    } else if last.1 < u64::MAX {
        (last.0, last.1 + 1)
    } else {
        (last.0 + 1, 0)
    }
}

pub(crate) fn handle(d: DeliveryId) -> (u64, u64) {
    (d.ms, d.seq)
}

pub(crate) fn delivery(h: (u64, u64)) -> DeliveryId {
    DeliveryId { ms: h.0, seq: h.1 }
}

/// One handle below `h` (`h` itself for 0-0).
pub(crate) fn before(h: (u64, u64)) -> (u64, u64) {
    match h {
        (0, 0) => (0, 0),
        (ms, 0) => (ms - 1, u64::MAX),
        (ms, seq) => (ms, seq - 1),
    }
}

impl UserModel {
    pub(crate) fn new(now: i64) -> UserModel {
        UserModel {
            rooms: BTreeMap::new(),
            copies: VecDeque::new(),
            last: (0, 0),
            password: None,
            online_until: 0,
            sent: Vec::new(),
            now,
        }
    }

    pub(crate) fn deliver(&mut self, copy: MCopy) -> bool {
        if copy.delivery <= self.last {
            return false;
        }
        self.last = copy.delivery;
        self.copies.push_back(copy);
        true
    }

    pub(crate) fn ack(&mut self, upto: (u64, u64)) -> u64 {
        let n = self
            .copies
            .iter()
            .take_while(|c| c.delivery <= upto)
            .count();
        self.copies.drain(..n);
        n as u64
    }

    pub(crate) fn change(&mut self, room: &str, id: u64, change: Change) -> usize {
        let mut n = 0;
        for c in self
            .copies
            .iter_mut()
            .filter(|c| c.room == room && c.id == id)
        {
            match change {
                Change::Edited { text, at } => {
                    c.text = text.to_string();
                    c.edited = Some(at);
                }
                Change::Deleted => {
                    c.text.clear();
                    c.edited = None;
                    c.deleted = true;
                }
            }
            n += 1;
        }
        n
    }

    pub(crate) fn content_bytes(&self) -> usize {
        self.copies
            .iter()
            .map(|c| c.text.len() + c.room.len() + c.sender.len())
            .sum::<usize>()
            + self.rooms.keys().map(String::len).sum::<usize>()
            + self.password.as_ref().map_or(0, String::len)
    }
}

#[derive(Debug, Clone)]
pub(crate) enum MsgPick {
    New {
        room: usize,
        sender: usize,
        text: String,
        /// Sent this long before it is delivered.
        back: i64,
        edited: Option<i64>,
        deleted: bool,
    },
    /// A message delivered before, again.
    Again(Index),
}

#[derive(Debug, Clone)]
pub(crate) enum HandlePick {
    /// What `next_delivery` offers.
    Next,
    /// Further ahead than that.
    Ahead { ms: u64, seq: u64 },
    /// Not above the last handle: refused.
    Stale(Stale),
}

#[derive(Debug, Clone)]
pub(crate) enum Stale {
    Last,
    SeqBack(u64),
    MsBack(u64, u64),
    Existing(Index),
    Zero,
}

#[derive(Debug, Clone)]
pub(crate) enum AckPick {
    Existing(Index),
    JustBefore(Index),
    JustAfter(Index),
    Last,
    Zero,
    Far,
}

#[derive(Debug, Clone)]
pub(crate) enum Target {
    Delivered(Index),
    Unknown { room: usize, id: u64 },
}

#[derive(Debug, Clone)]
pub(crate) enum UserOp {
    JoinRoom {
        room: usize,
        dt: i64,
    },
    LeaveRoom {
        room: usize,
    },
    Deliver {
        dt: i64,
        msg: MsgPick,
        handle: HandlePick,
    },
    /// Many copies delivered in the same millisecond, to fill chunks.
    Burst {
        room: usize,
        n: usize,
        len: usize,
        dt: i64,
    },
    Ack(AckPick),
    Trim(Amount),
    Change {
        target: Target,
        edit: Option<(String, i64)>,
    },
    SetPassword(String),
    SetOnline(i64),
    Reload,
}

pub(crate) fn msg_pick() -> impl Strategy<Value = MsgPick> {
    prop_oneof![
        4 => (
            0..ROOMS.len(),
            0..SENDERS.len(),
            text(),
            prop_oneof![Just(0i64), 0i64..500],
            prop::option::weighted(0.1, 0i64..1000),
            prop::bool::weighted(0.1),
        )
            .prop_map(|(room, sender, text, back, edited, deleted)| MsgPick::New {
                room,
                sender,
                text,
                back,
                edited,
                deleted,
            }),
        1 => any::<Index>().prop_map(MsgPick::Again),
    ]
}

pub(crate) fn handle_pick() -> impl Strategy<Value = HandlePick> {
    prop_oneof![
        8 => Just(HandlePick::Next),
        1 => (prop_oneof![Just(0u64), 1u64..1000], prop_oneof![0u64..4, (u64::MAX - 3)..=u64::MAX])
            .prop_map(|(ms, seq)| HandlePick::Ahead { ms, seq }),
        2 => prop_oneof![
            Just(Stale::Last),
            (0u64..3).prop_map(Stale::SeqBack),
            (1u64..2000, any::<u64>()).prop_map(|(ms, seq)| Stale::MsBack(ms, seq)),
            any::<Index>().prop_map(Stale::Existing),
            Just(Stale::Zero),
        ]
        .prop_map(HandlePick::Stale),
    ]
}

pub(crate) fn ack_pick() -> impl Strategy<Value = AckPick> {
    prop_oneof![
        3 => any::<Index>().prop_map(AckPick::Existing),
        2 => any::<Index>().prop_map(AckPick::JustBefore),
        2 => any::<Index>().prop_map(AckPick::JustAfter),
        1 => Just(AckPick::Last),
        1 => Just(AckPick::Zero),
        1 => Just(AckPick::Far),
    ]
}

pub(crate) fn user_op() -> impl Strategy<Value = UserOp> {
    prop_oneof![
        2 => (0..ROOMS.len(), dt()).prop_map(|(room, dt)| UserOp::JoinRoom { room, dt }),
        1 => (0..ROOMS.len()).prop_map(|room| UserOp::LeaveRoom { room }),
        8 => (dt(), msg_pick(), handle_pick())
            .prop_map(|(dt, msg, handle)| UserOp::Deliver { dt, msg, handle }),
        1 => (0..ROOMS.len(), 1usize..100, prop_oneof![0usize..30, 0usize..200], dt())
            .prop_map(|(room, n, len, dt)| UserOp::Burst { room, n, len, dt }),
        3 => ack_pick().prop_map(UserOp::Ack),
        1 => amount().prop_map(UserOp::Trim),
        3 => (
            prop_oneof![
                5 => any::<Index>().prop_map(Target::Delivered),
                1 => (0..ROOMS.len(), 0u64..5).prop_map(|(room, id)| Target::Unknown { room, id }),
            ],
            prop::option::weighted(0.6, (text(), dt())),
        )
            .prop_map(|(target, edit)| UserOp::Change { target, edit }),
        1 => "\\$argon2id\\$[a-zA-Z0-9]{0,40}".prop_map(UserOp::SetPassword),
        1 => any::<i64>().prop_map(UserOp::SetOnline),
        1 => Just(UserOp::Reload),
    ]
}

pub(crate) fn user_ops(max: usize) -> impl Strategy<Value = (i64, Vec<UserOp>)> {
    (
        prop_oneof![Just(1_764_201_600_000i64), 1i64..100],
        prop::collection::vec(user_op(), 1..max),
    )
}
