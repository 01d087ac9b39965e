//! Who may do what in a room: roles, privacy, invitations, bans, mutes and
//! slow mode. The state lives here; the checks that need the room's
//! people and messages live in `room/moderation.rs`.
//!
//! People are named by user id, not by their place in the room's table:
//! a ban or an invitation names someone who is not a member, and there are
//! few of each. Ends of bans and mutes are unix ms, `FOREVER` for one
//! that lasts until lifted; one that ended stays until the room's next
//! moderation change forgets it (`forget_ended`), at the time that change
//! replicates with, so replicas forget the same ones.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The end of a ban or mute given without SECONDS.
pub const FOREVER: i64 = i64::MAX;
/// The most invitations a room keeps waiting.
pub const INVITES_MAX: usize = 1000;
/// The longest slow mode, in seconds.
pub const SLOWMODE_MAX_SECS: u64 = 3600;

/// A member's role, lowest first: `Ord` is the order of power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// `owner`, `admin` or `member`, in any case.
    pub fn parse(word: &[u8]) -> Option<Role> {
        [Role::Owner, Role::Admin, Role::Member]
            .into_iter()
            .find(|r| word.eq_ignore_ascii_case(r.name().as_bytes()))
    }

    /// Owners and admins moderate.
    pub fn moderates(self) -> bool {
        self >= Role::Admin
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rules {
    /// Joined by invitation only.
    private: bool,
    /// Seconds a member waits between two messages; 0 = off.
    slowmode: u32,
    /// Members whose role is above `member`.
    roles: BTreeMap<String, Role>,
    /// Invited user -> when (unix ms).
    invites: BTreeMap<String, i64>,
    /// Banned user -> end of the ban.
    bans: BTreeMap<String, i64>,
    /// Muted user -> end of the mute.
    mutes: BTreeMap<String, i64>,
    /// While slow mode is on: sender's place -> time of their last message.
    last_sent: BTreeMap<u32, i64>,
    /// Message id -> who deleted it, when not its author.
    deleted_by: BTreeMap<u64, String>,
}

impl Rules {
    pub fn is_empty(&self) -> bool {
        *self == Rules::default()
    }

    pub fn private(&self) -> bool {
        self.private
    }

    pub fn set_private(&mut self, private: bool) {
        self.private = private;
    }

    pub fn slowmode(&self) -> u32 {
        self.slowmode
    }

    /// Sets slow mode; turning it off forgets when each member last sent.
    pub fn set_slowmode(&mut self, seconds: u32) {
        self.slowmode = seconds;
        if seconds == 0 {
            self.last_sent.clear();
        }
    }

    /// The role of a member (`Member` when none is kept).
    pub fn role(&self, user: &str) -> Role {
        self.roles.get(user).copied().unwrap_or(Role::Member)
    }

    /// Gives `user` `role`; false if they had it.
    pub fn set_role(&mut self, user: &str, role: Role) -> bool {
        if self.role(user) == role {
            return false;
        }
        if role == Role::Member {
            self.roles.remove(user);
        } else {
            self.roles.insert(user.to_owned(), role);
        }
        true
    }

    /// Members with a role above `member`, in order of id.
    pub fn roles(&self) -> impl Iterator<Item = (&str, Role)> {
        self.roles.iter().map(|(u, r)| (u.as_str(), *r))
    }

    pub fn owners(&self) -> impl Iterator<Item = &str> {
        self.roles()
            .filter(|(_, r)| *r == Role::Owner)
            .map(|(u, _)| u)
    }

    pub fn has_owner(&self) -> bool {
        self.owners().next().is_some()
    }

    pub fn invited(&self, user: &str) -> bool {
        self.invites.contains_key(user)
    }

    pub fn invite_count(&self) -> usize {
        self.invites.len()
    }

    /// Records an invitation; false if there was one.
    pub fn invite(&mut self, user: &str, at: i64) -> bool {
        if self.invited(user) {
            return false;
        }
        self.invites.insert(user.to_owned(), at);
        true
    }

    pub fn invites(&self) -> impl Iterator<Item = (&str, i64)> {
        self.invites.iter().map(|(u, at)| (u.as_str(), *at))
    }

    /// A member of the room: their invitation is used, and a ban that
    /// ended is forgotten. Their role starts at `member`.
    pub fn joined(&mut self, user: &str) {
        self.invites.remove(user);
        self.bans.remove(user);
    }

    /// No longer a member: the role goes; a mute stays, so that leaving
    /// and coming back does not lift it.
    pub fn left(&mut self, user: &str) {
        self.roles.remove(user);
    }

    /// The end of `user`'s ban, if one is in force at `now`.
    pub fn banned_until(&self, user: &str, now: i64) -> Option<i64> {
        self.bans.get(user).copied().filter(|&until| until > now)
    }

    pub fn muted_until(&self, user: &str, now: i64) -> Option<i64> {
        self.mutes.get(user).copied().filter(|&until| until > now)
    }

    /// Bans `user` until `until`; their invitation goes.
    pub fn ban(&mut self, user: &str, until: i64) {
        self.invites.remove(user);
        self.bans.insert(user.to_owned(), until);
    }

    /// Lifts a ban; true if one was in force at `now`.
    pub fn unban(&mut self, user: &str, now: i64) -> bool {
        self.bans.remove(user).is_some_and(|until| until > now)
    }

    pub fn mute(&mut self, user: &str, until: i64) {
        self.mutes.insert(user.to_owned(), until);
    }

    pub fn unmute(&mut self, user: &str, now: i64) -> bool {
        self.mutes.remove(user).is_some_and(|until| until > now)
    }

    /// Bans and mutes with their ends, in order of id.
    pub fn bans(&self) -> impl Iterator<Item = (&str, i64)> {
        self.bans.iter().map(|(u, t)| (u.as_str(), *t))
    }

    pub fn mutes(&self) -> impl Iterator<Item = (&str, i64)> {
        self.mutes.iter().map(|(u, t)| (u.as_str(), *t))
    }

    /// Forgets bans and mutes that ended by `now`.
    pub fn forget_ended(&mut self, now: i64) {
        self.bans.retain(|_, until| *until > now);
        self.mutes.retain(|_, until| *until > now);
    }

    /// When the sender at `place` last sent, while slow mode is on.
    pub fn last_sent(&self, place: u32) -> Option<i64> {
        self.last_sent.get(&place).copied()
    }

    /// Notes a message of the sender at `place` sent at `ts`, if slow mode
    /// is on. True if anything changed.
    pub fn sent(&mut self, place: u32, ts: i64) -> bool {
        if self.slowmode == 0 {
            return false;
        }
        self.last_sent.insert(place, ts);
        true
    }

    pub fn deleted_by(&self, id: u64) -> Option<&str> {
        self.deleted_by.get(&id).map(String::as_str)
    }

    pub fn record_deleted_by(&mut self, id: u64, user: &str) {
        self.deleted_by.insert(id, user.to_owned());
    }

    pub fn all_deleted_by(&self) -> impl Iterator<Item = (u64, &str)> {
        self.deleted_by.iter().map(|(id, u)| (*id, u.as_str()))
    }

    /// Retention removed every message below `first`.
    pub fn trimmed_below(&mut self, first: u64) {
        self.deleted_by = self.deleted_by.split_off(&first);
    }

    /// The sender places slow mode remembers.
    pub fn slow_senders(&self) -> impl Iterator<Item = u32> + '_ {
        self.last_sent.keys().copied()
    }

    pub fn heap_bytes(&self) -> usize {
        use super::alloc_size;
        // A B-tree node holds up to 11 entries; count one node per 11,
        // with the keys' own text.
        let nodes = |n: usize, entry: usize| alloc_size(n.div_ceil(11) * (11 * entry + 16));
        let texts = |keys: &mut dyn Iterator<Item = &String>| -> usize {
            keys.map(|k| alloc_size(k.capacity())).sum()
        };
        nodes(self.roles.len(), 25)
            + nodes(self.invites.len(), 32)
            + nodes(self.bans.len(), 32)
            + nodes(self.mutes.len(), 32)
            + nodes(self.last_sent.len(), 12)
            + nodes(self.deleted_by.len(), 32)
            + texts(&mut self.roles.keys())
            + texts(&mut self.invites.keys())
            + texts(&mut self.bans.keys())
            + texts(&mut self.mutes.keys())
            + texts(&mut self.deleted_by.values())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_by_power_and_parsed_in_any_case() {
        assert!(Role::Owner > Role::Admin && Role::Admin > Role::Member);
        assert_eq!(Role::parse(b"ADMIN"), Some(Role::Admin));
        assert_eq!(Role::parse(b"Owner"), Some(Role::Owner));
        assert_eq!(Role::parse(b"boss"), None);
        assert!(Role::Admin.moderates() && !Role::Member.moderates());
    }

    #[test]
    fn a_member_role_is_not_kept() {
        let mut rules = Rules::default();
        assert!(rules.set_role("a", Role::Owner));
        assert!(!rules.set_role("a", Role::Owner));
        assert!(rules.has_owner());
        assert!(rules.set_role("a", Role::Member));
        assert!(rules.is_empty());
    }

    #[test]
    fn bans_and_mutes_end_and_are_forgotten_once_ended() {
        let mut rules = Rules::default();
        rules.invite("b", 1);
        rules.ban("b", 100);
        assert!(!rules.invited("b"));
        assert_eq!(rules.banned_until("b", 99), Some(100));
        assert_eq!(rules.banned_until("b", 100), None);
        rules.mute("c", FOREVER);
        rules.forget_ended(100);
        assert_eq!(rules.bans().count(), 0);
        assert_eq!(rules.muted_until("c", i64::MAX - 1), Some(FOREVER));
        assert!(rules.unmute("c", 5));
        assert!(!rules.unmute("c", 5));
        assert!(rules.is_empty());
    }

    #[test]
    fn slow_mode_remembers_senders_only_while_on() {
        let mut rules = Rules::default();
        assert!(!rules.sent(3, 10));
        rules.set_slowmode(5);
        assert!(rules.sent(3, 10));
        assert_eq!(rules.last_sent(3), Some(10));
        rules.set_slowmode(0);
        assert_eq!(rules.last_sent(3), None);
        assert!(rules.is_empty());
    }
}
