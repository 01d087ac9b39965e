//! A room's rules (roles, privacy, invitations, bans, mutes, slow mode)
//! through random steps, made twice: once as the primary makes them (the
//! checks that read the clock first: a ban or a private room on a join, a
//! mute or slow mode on a send; then the change, a send trimmed by
//! `history-max`) and once as a replica replays them (the same change,
//! without the clock checks, a send trimmed to the primary's first kept
//! id; a moderation command at the primary's time, as `CHAT.AT` carries
//! it). A step reaches the replica only when the primary made it. After
//! every step both rooms have the same encoding, which decodes to the
//! room, and the room keeps its invariants: roles name members only, a
//! room with an owner and members keeps an owner, nobody banned is a
//! member while the ban is in force, and the members of a private room
//! joined it with an invitation or founded it. Next to the room runs a
//! model of the bans, mutes, invitations and slow mode written here from
//! the documented rules, which says which joins and sends are refused.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use chat_core::data::extra::Extra;
use chat_core::data::rules::{Role, FOREVER};
use chat_core::data::{decode_room, encode_room, Room, ENCODING_VERSION};
use chat_core::refusal::Refusal;
use chat_core::ChatError;

use crate::config;

const ROOM: &str = "mod";
const USERS: [&str; 5] = ["ann", "bo", "cy", "di", "ed"];
const ROLES: [Role; 3] = [Role::Member, Role::Admin, Role::Owner];
/// As in `conversation`: a chunk of the log holds about twenty messages,
/// so `history-max` drops whole chunks while the steps run.
const TEXT: &str = concat!(
    "a message long enough to fill a chunk of the room's log in about twenty messages, ",
    "so that history-max trims whole chunks while the steps run, as it does in a busy room ",
    "that has been talking for a while"
);

/// Who acts: a user, or (`moderator`) the room's owner or admin that the
/// number picks among them when it has any, so that most moderation steps
/// come from someone who may make them.
#[derive(Debug, Clone, Copy)]
struct Actor {
    pick: usize,
    moderator: bool,
}

impl Actor {
    fn of(self, room: &Room) -> &'static str {
        let moderators: Vec<&'static str> = USERS
            .into_iter()
            .filter(|u| room.role(u).is_some_and(Role::moderates))
            .collect();
        match moderators.len() {
            n if n > 0 && self.moderator => moderators[self.pick % n],
            _ => USERS[self.pick % USERS.len()],
        }
    }
}

#[derive(Debug, Clone)]
enum Step {
    Join(usize),
    Leave(usize),
    SetRole(Actor, usize, usize),
    Invite(Actor, usize),
    Kick(Actor, usize),
    Ban(Actor, usize, Option<u64>),
    Unban(Actor, usize),
    Mute(Actor, usize, Option<u64>),
    Unmute(Actor, usize),
    SlowMode(Actor, u32),
    Send(usize),
    Delete(Actor, u64),
    Pin(Actor, u64),
    Trim(u64),
}

/// A step, and how far the clock moves before it (ms).
fn step() -> impl Strategy<Value = (u64, Step)> {
    let user = || 0..USERS.len();
    let actor = || {
        (
            0..USERS.len(),
            prop_oneof![1 => Just(false), 3 => Just(true)],
        )
            .prop_map(|(pick, moderator)| Actor { pick, moderator })
    };
    let seconds = || prop_oneof![1 => Just(None), 3 => (1u64..5).prop_map(Some)];
    let back = || 0u64..30;
    let step = prop_oneof![
        4 => user().prop_map(Step::Join),
        1 => user().prop_map(Step::Leave),
        3 => (actor(), user(), 0..ROLES.len()).prop_map(|(a, u, r)| Step::SetRole(a, u, r)),
        3 => (actor(), user()).prop_map(|(a, u)| Step::Invite(a, u)),
        1 => (actor(), user()).prop_map(|(a, u)| Step::Kick(a, u)),
        2 => (actor(), user(), seconds()).prop_map(|(a, u, s)| Step::Ban(a, u, s)),
        1 => (actor(), user()).prop_map(|(a, u)| Step::Unban(a, u)),
        2 => (actor(), user(), seconds()).prop_map(|(a, u, s)| Step::Mute(a, u, s)),
        1 => (actor(), user()).prop_map(|(a, u)| Step::Unmute(a, u)),
        1 => (actor(), prop::sample::select(vec![0u32, 0, 1, 2, 3, 3600]))
            .prop_map(|(a, s)| Step::SlowMode(a, s)),
        10 => user().prop_map(Step::Send),
        2 => (actor(), back()).prop_map(|(u, b)| Step::Delete(u, b)),
        1 => (actor(), back()).prop_map(|(u, b)| Step::Pin(u, b)),
        1 => (10u64..90).prop_map(Step::Trim),
    ];
    let tick = prop_oneof![2 => Just(0u64), 3 => 1u64..1_500, 1 => 1_500u64..6_000];
    (tick, step)
}

/// The rules as the documentation states them, kept by user id.
#[derive(Debug, Default)]
struct Model {
    /// User -> end of their ban (`FOREVER`: until lifted).
    bans: BTreeMap<&'static str, i64>,
    mutes: BTreeMap<&'static str, i64>,
    invites: BTreeSet<&'static str>,
    slowmode: u32,
    /// While slow mode is on: sender -> when they last sent.
    last_sent: BTreeMap<&'static str, i64>,
    private: bool,
    /// Members who founded the room or joined it with an invitation.
    admitted: BTreeSet<&'static str>,
}

impl Model {
    fn banned(&self, user: &str, now: i64) -> bool {
        self.bans.get(user).is_some_and(|&until| until > now)
    }

    fn muted(&self, user: &str, now: i64) -> bool {
        self.mutes.get(user).is_some_and(|&until| until > now)
    }

    fn left(&mut self, user: &str) {
        self.admitted.remove(user);
    }
}

fn same<T: PartialEq + std::fmt::Debug>(primary: T, replica: T) -> T {
    assert_eq!(primary, replica);
    primary
}

/// Applies `step` at `now` to the primary's room, the replica's and the
/// model.
fn apply(
    primary: &mut Room,
    replica: &mut Room,
    model: &mut Model,
    step: &Step,
    now: i64,
    history_max: u64,
) {
    let u = |i: &usize| USERS[*i];
    match step {
        Step::Join(i) => {
            let user = u(i);
            let member = primary.is_member(user);
            let invited = primary.is_invited(user);
            let admitted = primary.check_admit(ROOM, user, now);
            // Members join again freely; a room nobody moderates (no
            // rules at all) admits everyone.
            let rules = primary.rules().is_some();
            let expected = if member || !rules {
                None
            } else if model.banned(user, now) {
                Some("banned")
            } else if model.private && !model.invites.contains(user) {
                Some("private")
            } else {
                None
            };
            match (&admitted, expected) {
                (Ok(()), None) => {}
                (Err(ChatError::Refused(r)), Some(kind)) => assert_eq!(r.kind(), kind),
                (got, want) => panic!("join of {user}: {got:?}, expected refusal {want:?}"),
            }
            if admitted.is_err() {
                return;
            }
            let joined = same(primary.join(user, 0), replica.join(user, 0));
            assert_eq!(joined, !member);
            if joined {
                assert!(
                    !model.private || invited,
                    "{user} joined a private room uninvited"
                );
                model.invites.remove(user);
                model.bans.remove(user);
                model.admitted.insert(user);
            }
        }
        Step::Leave(i) => {
            let user = u(i);
            if same(primary.check_leave(user), replica.check_leave(user)).is_ok()
                && same(primary.leave(user), replica.leave(user))
            {
                model.left(user);
            }
        }
        Step::SetRole(a, i, r) => {
            let (actor, user, role) = (a.of(primary), u(i), ROLES[*r]);
            let had_owner = primary.has_owner();
            let before = primary.role(user);
            let changed = same(
                primary.set_role(actor, user, role),
                replica.set_role(actor, user, role),
            );
            if let Ok(changed) = changed {
                assert_eq!(changed, before != Some(role));
                assert_eq!(primary.role(user), Some(role));
            } else {
                assert_eq!(primary.role(user), before);
            }
            assert!(!had_owner || primary.has_owner(), "the last owner went");
        }
        Step::Invite(a, i) => {
            let (actor, user) = (a.of(primary), u(i));
            let invited = same(
                primary.invite(ROOM, actor, user, now),
                replica.invite(ROOM, actor, user, now),
            );
            if let Ok(new) = invited {
                assert!(!primary.is_member(user) && !model.banned(user, now));
                assert_eq!(new, model.invites.insert(user));
            }
        }
        Step::Kick(a, i) => {
            let (actor, user) = (a.of(primary), u(i));
            let may = same(
                primary.check_kick(actor, user),
                replica.check_kick(actor, user),
            );
            if may.is_ok() {
                assert!(same(primary.leave(user), replica.leave(user)));
                model.left(user);
            }
        }
        Step::Ban(a, i, seconds) => {
            let (actor, user) = (a.of(primary), u(i));
            let until = seconds.map_or(FOREVER, |s| now + s as i64 * 1000);
            let banned = same(
                primary.ban(actor, user, until, now),
                replica.ban(actor, user, until, now),
            );
            if banned.is_ok() {
                same(primary.leave(user), replica.leave(user));
                model.bans.insert(user, until);
                model.invites.remove(user);
                model.left(user);
            }
        }
        Step::Unban(a, i) => {
            let (actor, user) = (a.of(primary), u(i));
            let lifted = same(
                primary.unban(actor, user, now),
                replica.unban(actor, user, now),
            );
            if let Ok(lifted) = lifted {
                assert_eq!(lifted, model.banned(user, now));
                model.bans.remove(user);
            }
        }
        Step::Mute(a, i, seconds) => {
            let (actor, user) = (a.of(primary), u(i));
            let until = seconds.map_or(FOREVER, |s| now + s as i64 * 1000);
            let muted = same(
                primary.mute(actor, user, until, now),
                replica.mute(actor, user, until, now),
            );
            if muted.is_ok() {
                model.mutes.insert(user, until);
            }
        }
        Step::Unmute(a, i) => {
            let (actor, user) = (a.of(primary), u(i));
            let lifted = same(
                primary.unmute(actor, user, now),
                replica.unmute(actor, user, now),
            );
            if let Ok(lifted) = lifted {
                assert_eq!(lifted, model.muted(user, now));
                model.mutes.remove(user);
            }
        }
        Step::SlowMode(a, seconds) => {
            let actor = a.of(primary);
            let set = same(
                primary.set_slowmode(actor, *seconds),
                replica.set_slowmode(actor, *seconds),
            );
            if set.is_ok() {
                model.slowmode = *seconds;
                if *seconds == 0 {
                    model.last_sent.clear();
                }
            }
            assert_eq!(primary.slowmode(), model.slowmode);
        }
        Step::Send(i) => {
            let sender = u(i);
            let extra = Extra::default();
            let checked = same(
                primary.check_send(sender, &extra),
                replica.check_send(sender, &extra),
            );
            if checked.is_err() {
                return;
            }
            let may = primary.check_may_send(ROOM, sender, now);
            let exempt = primary.role(sender).is_some_and(Role::moderates);
            let slow = model.slowmode > 0
                && !exempt
                && model
                    .last_sent
                    .get(sender)
                    .is_some_and(|&t| t + i64::from(model.slowmode) * 1000 > now);
            let expected = if model.muted(sender, now) {
                Some("muted")
            } else if slow {
                Some("slowmode")
            } else {
                None
            };
            match (&may, expected) {
                (Ok(()), None) => {}
                (Err(ChatError::Refused(r)), Some(kind)) => assert_eq!(r.kind(), kind),
                (got, want) => panic!("send of {sender}: {got:?}, expected refusal {want:?}"),
            }
            if may.is_err() {
                return;
            }
            let id = primary
                .append_message(sender, TEXT, &extra, &extra.encode(), now)
                .unwrap();
            primary.trim_keeping(history_max);
            let first_kept = primary.first_id().unwrap_or(id + 1);
            assert_eq!(replica.send_message(sender, TEXT, &extra, now), Ok(id));
            replica.trim_below(first_kept);
            if model.slowmode > 0 {
                model.last_sent.insert(sender, now);
            }
        }
        Step::Delete(a, back) => {
            let (actor, id) = (a.of(primary), primary.last_id().saturating_sub(*back));
            let author = primary
                .message(ROOM, id)
                .map(|m| m.sender.into_owned())
                .unwrap_or_default();
            let deleted = same(primary.delete(id, actor), replica.delete(id, actor));
            if deleted.is_ok() {
                let by = primary.message(ROOM, id).unwrap().deleted_by;
                if author == actor {
                    assert_eq!(by, None);
                } else {
                    // Only an owner or admin of a room with an owner
                    // deletes someone else's message, and is named.
                    assert!(primary.has_owner());
                    assert!(primary.role(actor).is_some_and(Role::moderates));
                    assert_eq!(by, Some(actor));
                }
            }
        }
        Step::Pin(a, back) => {
            let (user, id) = (a.of(primary), primary.last_id().saturating_sub(*back));
            let may = same(
                primary.check_may_pin(user, "pin"),
                replica.check_may_pin(user, "pin"),
            );
            if may.is_ok() {
                let _ = same(primary.pin(id, user), replica.pin(id, user));
            }
        }
        Step::Trim(back) => {
            let first = primary.last_id().saturating_sub(*back);
            same(primary.trim_below(first), replica.trim_below(first));
        }
    }
}

/// What must hold of the room after every step.
fn keeps_its_invariants(room: &Room, model: &Model, now: i64, had_owner: bool) {
    let rules = room.rules();
    for (user, _) in rules.into_iter().flat_map(|r| r.roles()) {
        assert!(room.is_member(user), "a role names {user}, not a member");
    }
    if had_owner && room.member_count() > 0 {
        assert!(room.has_owner(), "a room with members lost its last owner");
    }
    for (member, _) in room.members() {
        let ban = rules.and_then(|r| r.banned_until(member, now));
        assert_eq!(ban, None, "{member} is a member while banned");
        if room.is_private() {
            assert!(
                model.admitted.contains(member),
                "{member} is in a private room uninvited"
            );
        }
        assert!(
            !room.is_invited(member),
            "{member} is a member still invited"
        );
    }
    assert_eq!(room.is_private(), model.private);
    for user in USERS {
        assert_eq!(
            room.is_invited(user),
            model.invites.contains(user),
            "{user}"
        );
        let banned = rules.and_then(|r| r.banned_until(user, now)).is_some();
        assert_eq!(banned, model.banned(user, now), "ban of {user}");
        let muted = rules.and_then(|r| r.muted_until(user, now)).is_some();
        assert_eq!(muted, model.muted(user, now), "mute of {user}");
    }
    // A room whose rules say nothing keeps none.
    assert!(rules.is_none_or(|r| !r.is_empty()));
}

fn founding() -> impl Strategy<Value = Option<(usize, bool)>> {
    prop_oneof![
        1 => Just(None),
        3 => (0..USERS.len(), any::<bool>()).prop_map(Some),
    ]
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn a_primary_and_its_replica_agree_on_the_rules_after_every_step(
        founded in founding(),
        steps in prop::collection::vec(step(), 1..300),
        history_max in 1u64..40,
    ) {
        let mut now: i64 = 1_764_201_600_000;
        let mut primary = Room::new(1, "moderated", now);
        let mut model = Model::default();
        if let Some((owner, private)) = founded {
            primary.found(USERS[owner], private);
            model.private = private;
            model.admitted.insert(USERS[owner]);
            prop_assert_eq!(primary.role(USERS[owner]), Some(Role::Owner));
        }
        let mut replica = primary.clone();
        // The first three try to join, as anyone would.
        let joins = (0..3).map(|i| (0, Step::Join(i)));
        for (tick, step) in joins.chain(steps) {
            now += tick as i64;
            let had_owner = primary.has_owner();
            apply(&mut primary, &mut replica, &mut model, &step, now, history_max);
            let bytes = encode_room(&primary);
            prop_assert_eq!(&bytes, &encode_room(&replica), "after {:?}", step);
            let back = decode_room(ENCODING_VERSION, &bytes);
            prop_assert_eq!(back.as_ref(), Ok(&primary), "after {:?}", step);
            keeps_its_invariants(&primary, &model, now, had_owner);
        }
    }
}

/// A founder alone may leave and leave the room without an owner; while
/// others stay, the last owner may neither leave nor step down.
#[test]
fn the_last_owner_stays_while_others_do() {
    let mut room = Room::new(1, "r", 0);
    room.found("ann", false);
    room.join("bo", 0);
    assert!(matches!(
        room.check_leave("ann"),
        Err(ChatError::Refused(r)) if matches!(*r, Refusal::LastOwner(_))
    ));
    assert!(room.set_role("ann", "ann", Role::Admin).is_err());
    assert_eq!(room.set_role("ann", "bo", Role::Owner), Ok(true));
    assert_eq!(room.set_role("ann", "ann", Role::Member), Ok(true));
    assert_eq!(room.owners().collect::<Vec<_>>(), ["bo"]);
    assert!(room.check_leave("bo").is_err());
    assert_eq!(room.check_leave("ann"), Ok(()));
    let mut alone = Room::new(1, "r", 0);
    alone.found("ann", true);
    assert_eq!(alone.check_leave("ann"), Ok(()));
    assert!(alone.leave("ann"));
    assert!(!alone.has_owner());
}
