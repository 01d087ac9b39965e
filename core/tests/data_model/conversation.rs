//! A room's conversation (threads, mentions, reactions, pins) through
//! random steps, made twice: once as the primary makes them (checks first,
//! then the message appended with its encoded extra, then trimming by
//! `history-max`) and once as a replica replays them (`send_message`, then
//! trimming to the primary's first kept id). After every step both rooms
//! have the same encoding, which decodes and passes every check, and what
//! they answer follows from their messages alone: each member's unread
//! mentions are the live messages after their cursor that name them, each
//! thread the kept messages that answer its root.

use proptest::prelude::*;

use chat_core::data::extra::Extra;
use chat_core::data::{decode_room, encode_room, Room, ENCODING_VERSION};

use crate::config;

/// The first three start as members; the others join and leave.
const USERS: [&str; 4] = ["ann", "bo", "cy", "di"];
const REACTIONS: [&str; 3] = ["ok", "👍", "🎉"];
/// Long enough that a chunk holds about 20 messages: retention, which
/// drops whole chunks, runs within a case.
const TEXT: &str = concat!(
    "a message long enough to fill a chunk of the room's log in about twenty messages, ",
    "so that history-max trims whole chunks while the steps run, as it does in a busy room ",
    "that has been talking for a while"
);

#[derive(Debug, Clone)]
enum Step {
    Send {
        user: usize,
        reply: Option<u64>,
        mentions: Vec<usize>,
    },
    React(usize, u64, usize),
    Unreact(usize, u64, usize),
    Pin(usize, u64),
    Unpin(usize, u64),
    Delete(usize, u64),
    Read(usize, u64),
    Join(usize),
    Leave(usize),
    Trim(u64),
}

/// Message ids are drawn as how far back from the room's last id they
/// are (see `at`), so that most name a message the room has.
fn step() -> impl Strategy<Value = Step> {
    let user = 0..USERS.len();
    let id = 0u64..30;
    let reply = prop_oneof![2 => Just(None), 1 => id.clone().prop_map(Some)];
    prop_oneof![
        12 => (user.clone(), reply, prop::collection::vec(0..USERS.len(), 0..3))
            .prop_map(|(user, reply, mentions)| Step::Send { user, reply, mentions }),
        2 => (user.clone(), id.clone(), 0..REACTIONS.len()).prop_map(|(u, i, r)| Step::React(u, i, r)),
        1 => (user.clone(), id.clone(), 0..REACTIONS.len()).prop_map(|(u, i, r)| Step::Unreact(u, i, r)),
        1 => (user.clone(), id.clone()).prop_map(|(u, i)| Step::Pin(u, i)),
        1 => (user.clone(), id.clone()).prop_map(|(u, i)| Step::Unpin(u, i)),
        1 => (user.clone(), id.clone()).prop_map(|(u, i)| Step::Delete(u, i)),
        1 => (user.clone(), id.clone()).prop_map(|(u, i)| Step::Read(u, i)),
        2 => user.clone().prop_map(Step::Join),
        1 => user.prop_map(Step::Leave),
        1 => (10u64..90).prop_map(Step::Trim),
    ]
}

/// The id `back` messages before the room's last (0 when there is none).
fn at(room: &Room, back: u64) -> u64 {
    room.last_id().saturating_sub(back)
}

/// Applies `step` to the primary's room and the replica's; both must
/// answer alike.
fn apply(primary: &mut Room, replica: &mut Room, step: &Step, ts: i64, history_max: u64) {
    let id = |back: &u64| at(primary, *back);
    match step {
        Step::Send {
            user,
            reply,
            mentions,
        } => {
            let mut names: Vec<&str> = mentions.iter().map(|&m| USERS[m]).collect();
            names.dedup();
            let extra = Extra {
                reply_to: reply.map(|back| at(primary, back)),
                mentions: names,
            };
            let sender = USERS[*user];
            let checked = primary.check_send(sender, &extra);
            assert_eq!(checked, replica.check_send(sender, &extra));
            if checked.is_err() {
                return;
            }
            let id = primary
                .append_message(sender, TEXT, &extra, &extra.encode(), ts)
                .unwrap();
            primary.trim_keeping(history_max);
            let first_kept = primary.first_id().unwrap_or(id + 1);
            assert_eq!(replica.send_message(sender, TEXT, &extra, ts), Ok(id));
            replica.trim_below(first_kept);
        }
        Step::React(u, back, r) => {
            let (id, user, reaction) = (id(back), USERS[*u], REACTIONS[*r]);
            assert_eq!(
                primary.react(id, user, reaction),
                replica.react(id, user, reaction)
            )
        }
        Step::Unreact(u, back, r) => {
            let (id, user, reaction) = (id(back), USERS[*u], REACTIONS[*r]);
            assert_eq!(
                primary.unreact(id, user, reaction),
                replica.unreact(id, user, reaction)
            )
        }
        Step::Pin(u, back) => {
            let id = id(back);
            assert_eq!(primary.pin(id, USERS[*u]), replica.pin(id, USERS[*u]))
        }
        Step::Unpin(u, back) => {
            let id = id(back);
            assert_eq!(primary.unpin(id, USERS[*u]), replica.unpin(id, USERS[*u]))
        }
        Step::Delete(u, back) => {
            let id = id(back);
            assert_eq!(primary.delete(id, USERS[*u]), replica.delete(id, USERS[*u]))
        }
        Step::Read(u, back) => {
            let id = id(back);
            assert_eq!(primary.read(USERS[*u], id), replica.read(USERS[*u], id))
        }
        Step::Join(u) => assert_eq!(primary.join(USERS[*u], 0), replica.join(USERS[*u], 0)),
        Step::Leave(u) => assert_eq!(primary.leave(USERS[*u]), replica.leave(USERS[*u])),
        Step::Trim(back) => {
            let first = id(back);
            assert_eq!(primary.trim_below(first), replica.trim_below(first))
        }
    }
}

/// What the room answers must follow from its messages.
fn agrees_with_its_messages(room: &Room) {
    let extras: Vec<(u64, bool, Extra)> = room
        .log()
        .iter()
        .map(|(id, m)| (id, m.deleted, Extra::decode(m.extra)))
        .collect();
    for (member, cursor) in room.members() {
        let named = extras
            .iter()
            .filter(|(id, deleted, e)| *id > cursor && !deleted && e.mentions.contains(&member))
            .count() as u64;
        assert_eq!(room.unread_mentions(member), Some(named), "{member}");
    }
    for &(root, _, _) in &extras {
        let answers: Vec<u64> = extras
            .iter()
            .filter(|(_, _, e)| e.reply_to == Some(root))
            .map(|(id, _, _)| *id)
            .collect();
        let page = room.thread(root, None, 1000).unwrap();
        assert_eq!(page.replies, answers, "thread {root}");
        let document = room.message("r", root).unwrap();
        assert_eq!(
            document.replies,
            answers.last().map(|&l| (answers.len() as u64, l))
        );
        if document.deleted {
            assert!(document.reactions.is_empty() && document.extra.mentions.is_empty());
        }
    }
    for pinned in room.pins() {
        assert!(room.message("r", pinned).is_some_and(|m| !m.deleted));
    }
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn a_primary_and_its_replica_agree_and_decode_after_every_step(
        steps in prop::collection::vec(step(), 1..400),
        history_max in 1u64..40,
    ) {
        let mut primary = Room::new(1, "talk", 0);
        for user in &USERS[..3] {
            primary.join(user, 0);
        }
        let mut replica = primary.clone();
        for (ts, step) in steps.iter().enumerate() {
            apply(&mut primary, &mut replica, step, ts as i64, history_max);
            let bytes = encode_room(&primary);
            prop_assert_eq!(&bytes, &encode_room(&replica), "after {:?}", step);
            let back = decode_room(ENCODING_VERSION, &bytes);
            prop_assert_eq!(back.as_ref(), Ok(&primary), "after {:?}", step);
            agrees_with_its_messages(&primary);
        }
    }
}
