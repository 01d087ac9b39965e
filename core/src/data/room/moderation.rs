//! A room's rules applied: who may change roles, invite, kick, ban, mute
//! and set slow mode, who may join, and who may send now. The state lives
//! in `Rules`; a room nobody moderates has none and behaves as rooms always
//! did.
//!
//! Checks that read the clock take `now` from the caller: the module makes
//! them on the primary only, and replicas apply the outcome.

use super::Room;
use crate::data::rules::{Role, Rules, INVITES_MAX};
use crate::refusal::Refusal;
use crate::ChatError;

impl Room {
    /// The room's rules, if anyone moderates it.
    pub fn rules(&self) -> Option<&Rules> {
        self.besides.as_deref().and_then(|b| b.rules.as_deref())
    }

    /// Changes the rules, made when first needed and let go once empty.
    pub(super) fn change_rules<T>(&mut self, change: impl FnOnce(&mut Rules) -> T) -> T {
        self.change_besides(|b| {
            let rules = b.rules.get_or_insert_with(Default::default);
            let result = change(rules);
            if rules.is_empty() {
                b.rules = None;
            }
            result
        })
    }

    /// A member's role; `None` for someone who is not a member.
    pub fn role(&self, user: &str) -> Option<Role> {
        self.is_member(user)
            .then(|| self.rules().map_or(Role::Member, |r| r.role(user)))
    }

    /// Members with their roles, in order of id.
    pub fn members_with_roles(&self) -> impl Iterator<Item = (&str, Role)> {
        let rules = self.rules();
        self.members()
            .map(move |(m, _)| (m, rules.map_or(Role::Member, |r| r.role(m))))
    }

    pub fn owners(&self) -> impl Iterator<Item = &str> {
        self.rules().into_iter().flat_map(Rules::owners)
    }

    pub fn has_owner(&self) -> bool {
        self.rules().is_some_and(Rules::has_owner)
    }

    pub fn is_private(&self) -> bool {
        self.rules().is_some_and(Rules::private)
    }

    pub fn slowmode(&self) -> u32 {
        self.rules().map_or(0, Rules::slowmode)
    }

    /// CHAT.CREATE ... OWNER: `owner` joins as the room's owner; a private
    /// room is then joined by invitation only.
    pub fn found(&mut self, owner: &str, private: bool) {
        self.join(owner, 0);
        self.change_rules(|r| {
            r.set_role(owner, Role::Owner);
            r.set_private(private);
        });
    }

    /// The role of `actor`, who must be an owner or admin to `action`.
    fn moderator(&self, actor: &str, action: &'static str) -> Result<Role, ChatError> {
        let role = self.role(actor).ok_or(ChatError::NotMember)?;
        if !role.moderates() {
            return Err(Refusal::NotModerator {
                actor: actor.to_owned(),
                role,
                action,
            }
            .into());
        }
        Ok(role)
    }

    /// `actor` (an owner or admin) may `action` `user` only from a higher
    /// role; someone who is not a member counts as a member.
    fn outranks(&self, actor: &str, user: &str, action: &'static str) -> Result<(), ChatError> {
        let role = self.moderator(actor, action)?;
        let theirs = self.role(user).unwrap_or(Role::Member);
        if actor == user || theirs >= role {
            return Err(Refusal::Outranked {
                actor: actor.to_owned(),
                action,
                user: user.to_owned(),
                role: theirs,
            }
            .into());
        }
        Ok(())
    }

    /// CHAT.ROLE: gives member `user` `role`. Owners give any role; admins
    /// make members admins and admins members. A room with an owner keeps
    /// one. True if the role changed.
    pub fn set_role(&mut self, actor: &str, user: &str, role: Role) -> Result<bool, ChatError> {
        let mine = self.role(actor).ok_or(ChatError::NotMember)?;
        let theirs = self.role(user).ok_or(ChatError::NotMember)?;
        let refuse = |what| -> Result<bool, ChatError> {
            Err(Refusal::RoleNotYours {
                actor: actor.to_owned(),
                role: mine,
                what,
            }
            .into())
        };
        match mine {
            Role::Owner => {}
            Role::Admin if role == Role::Owner => return refuse("make owners"),
            Role::Admin if theirs == Role::Owner => return refuse("change an owner's role"),
            Role::Admin => {}
            Role::Member => return refuse("change roles"),
        }
        if theirs == role {
            return Ok(false);
        }
        if theirs == Role::Owner && self.owners().count() == 1 {
            return Err(Refusal::LastOwner(user.to_owned()).into());
        }
        Ok(self.change_rules(|r| r.set_role(user, role)))
    }

    /// Whether `user` may join now: not banned, and invited to a private
    /// room. Members may always "join" again (nothing changes).
    pub fn check_admit(&self, room_id: &str, user: &str, now: i64) -> Result<(), ChatError> {
        let Some(rules) = self.rules() else {
            return Ok(());
        };
        if self.is_member(user) {
            return Ok(());
        }
        self.check_not_banned(room_id, user, now)?;
        if rules.private() && !rules.invited(user) {
            return Err(Refusal::NeedsInvitation {
                room: room_id.to_owned(),
                user: user.to_owned(),
            }
            .into());
        }
        Ok(())
    }

    fn check_not_banned(&self, room_id: &str, user: &str, now: i64) -> Result<(), ChatError> {
        match self.rules().and_then(|r| r.banned_until(user, now)) {
            Some(until) => Err(Refusal::Banned {
                room: room_id.to_owned(),
                user: user.to_owned(),
                until,
                now,
            }
            .into()),
            None => Ok(()),
        }
    }

    /// CHAT.INVITE: true if `user` was not invited yet.
    pub fn invite(
        &mut self,
        room_id: &str,
        actor: &str,
        user: &str,
        now: i64,
    ) -> Result<bool, ChatError> {
        self.moderator(actor, "invite")?;
        if self.is_member(user) {
            return Err(Refusal::AlreadyMember(user.to_owned()).into());
        }
        self.check_not_banned(room_id, user, now)?;
        let rules = self.rules();
        if rules.is_some_and(|r| r.invited(user)) {
            return Ok(false);
        }
        if rules.is_some_and(|r| r.invite_count() >= INVITES_MAX) {
            return Err(Refusal::TooManyInvites.into());
        }
        Ok(self.change_rules(|r| {
            r.forget_ended(now);
            r.invite(user, now)
        }))
    }

    /// Whether `user` has an invitation waiting.
    pub fn is_invited(&self, user: &str) -> bool {
        self.rules().is_some_and(|r| r.invited(user))
    }

    /// CHAT.KICK: whether `actor` may make `user`, a member, leave (the
    /// caller then makes them leave, as CHAT.UNSUBSCRIBE does).
    pub fn check_kick(&self, actor: &str, user: &str) -> Result<(), ChatError> {
        if !self.is_member(user) {
            return Err(ChatError::NotMember);
        }
        self.outranks(actor, user, "kick")
    }

    /// CHAT.BAN: `user` loses any invitation, and may not join nor be
    /// invited until `until`. A member must then leave (the caller makes
    /// them, as CHAT.UNSUBSCRIBE does).
    pub fn ban(&mut self, actor: &str, user: &str, until: i64, now: i64) -> Result<(), ChatError> {
        self.outranks(actor, user, "ban")?;
        self.change_rules(|r| {
            r.forget_ended(now);
            r.ban(user, until);
        });
        Ok(())
    }

    /// CHAT.UNBAN: true if a ban was in force.
    pub fn unban(&mut self, actor: &str, user: &str, now: i64) -> Result<bool, ChatError> {
        self.moderator(actor, "unban")?;
        Ok(self.change_rules(|r| {
            let lifted = r.unban(user, now);
            r.forget_ended(now);
            lifted
        }))
    }

    /// CHAT.MUTE: `user`, a member, may not send, react or edit until
    /// `until`.
    pub fn mute(&mut self, actor: &str, user: &str, until: i64, now: i64) -> Result<(), ChatError> {
        if !self.is_member(user) {
            return Err(ChatError::NotMember);
        }
        self.outranks(actor, user, "mute")?;
        self.change_rules(|r| {
            r.forget_ended(now);
            r.mute(user, until);
        });
        Ok(())
    }

    /// CHAT.UNMUTE: true if a mute was in force.
    pub fn unmute(&mut self, actor: &str, user: &str, now: i64) -> Result<bool, ChatError> {
        self.moderator(actor, "unmute")?;
        Ok(self.change_rules(|r| {
            let lifted = r.unmute(user, now);
            r.forget_ended(now);
            lifted
        }))
    }

    /// CHAT.SLOWMODE: a member may send once per `seconds` (0: off).
    pub fn set_slowmode(&mut self, actor: &str, seconds: u32) -> Result<(), ChatError> {
        self.moderator(actor, "set slow mode")?;
        self.change_rules(|r| r.set_slowmode(seconds));
        Ok(())
    }

    /// Refuses a muted member's send, reaction or edit.
    pub fn check_not_muted(&self, room_id: &str, user: &str, now: i64) -> Result<(), ChatError> {
        match self.rules().and_then(|r| r.muted_until(user, now)) {
            Some(until) => Err(Refusal::Muted {
                room: room_id.to_owned(),
                user: user.to_owned(),
                until,
                now,
            }
            .into()),
            None => Ok(()),
        }
    }

    /// Refuses a send that is muted, or sooner than slow mode allows (owners
    /// and admins are exempt from slow mode).
    pub fn check_may_send(&self, room_id: &str, user: &str, now: i64) -> Result<(), ChatError> {
        let Some(rules) = self.rules() else {
            return Ok(());
        };
        self.check_not_muted(room_id, user, now)?;
        let seconds = rules.slowmode();
        if seconds == 0 || rules.role(user).moderates() {
            return Ok(());
        }
        let last = self.people.find(user).and_then(|p| rules.last_sent(p));
        let next = last.map_or(i64::MIN, |t| t.saturating_add(i64::from(seconds) * 1000));
        if next > now {
            return Err(Refusal::SlowMode {
                room: room_id.to_owned(),
                seconds,
                user: user.to_owned(),
                wait_ms: next - now,
            }
            .into());
        }
        Ok(())
    }

    /// Refuses the last owner's leave while other members stay.
    pub fn check_leave(&self, user: &str) -> Result<(), ChatError> {
        let last_owner = self.role(user) == Some(Role::Owner) && self.owners().count() == 1;
        if last_owner && self.member_count() > 1 {
            return Err(Refusal::LastOwner(user.to_owned()).into());
        }
        Ok(())
    }

    /// In a room with an owner, pins are for its owners and admins.
    pub fn check_may_pin(&self, user: &str, action: &'static str) -> Result<(), ChatError> {
        if self.has_owner() {
            self.moderator(user, action)?;
        }
        Ok(())
    }

    /// Whether `actor` may delete others' messages: an owner or admin of a
    /// room with an owner.
    pub(super) fn moderates_messages(&self, actor: &str) -> bool {
        self.has_owner() && self.role(actor).is_some_and(Role::moderates)
    }

    /// Checks decoded rules against the room: roles name members, slow
    /// mode names senders, and `deleted_by` names tombstones.
    pub(super) fn check_rules(&self) -> Result<(), String> {
        let Some(rules) = self.rules() else {
            return Ok(());
        };
        if rules.is_empty() {
            return Err("empty rules are kept".into());
        }
        if let Some((user, _)) = rules.roles().find(|(u, _)| !self.is_member(u)) {
            return Err(format!("a role names '{user}', who is not a member"));
        }
        if u64::from(rules.slowmode()) > crate::data::rules::SLOWMODE_MAX_SECS {
            return Err("slow mode is longer than allowed".into());
        }
        if rules
            .slow_senders()
            .any(|p| self.people.get(p).is_none_or(|p| p.sent == 0))
        {
            return Err("slow mode names someone who never sent".into());
        }
        let tombstone = |id| self.log.is_kept(id) && !self.log.is_live(id);
        if rules.all_deleted_by().any(|(id, _)| !tombstone(id)) {
            return Err("a deletion is recorded for a message that is not a tombstone".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rules::FOREVER;

    /// A private room owned by `o`, with admin `a` and member `m`.
    fn owned() -> Room {
        let mut room = Room::new(1, "t", 0);
        room.found("o", true);
        for user in ["a", "m"] {
            room.invite("r", "o", user, 1).unwrap();
            room.check_admit("r", user, 1).unwrap();
            room.join(user, 0);
        }
        room.set_role("o", "a", Role::Admin).unwrap();
        room
    }

    fn code(result: Result<impl std::fmt::Debug, ChatError>) -> String {
        let error = result.unwrap_err().to_string();
        error.split(' ').next().unwrap_or_default().to_owned()
    }

    #[test]
    fn nobody_escalates_and_nobody_acts_on_an_equal_or_higher_role() {
        let mut room = owned();
        assert_eq!(code(room.set_role("m", "m", Role::Admin)), "NOPERM");
        assert_eq!(code(room.set_role("a", "a", Role::Owner)), "NOPERM");
        assert_eq!(code(room.set_role("a", "o", Role::Member)), "NOPERM");
        assert_eq!(code(room.check_kick("a", "o")), "NOPERM");
        assert_eq!(code(room.check_kick("a", "a")), "NOPERM");
        assert_eq!(code(room.check_kick("m", "a")), "NOPERM");
        assert_eq!(code(room.mute("m", "m", FOREVER, 0)), "NOPERM");
        // Admins make members admins and admins members.
        assert_eq!(room.set_role("a", "m", Role::Admin), Ok(true));
        assert_eq!(room.set_role("a", "m", Role::Member), Ok(true));
        assert!(room.check_kick("a", "m").is_ok());
        // The last owner stays one, and may not leave while others stay.
        assert_eq!(code(room.set_role("o", "o", Role::Admin)), "ERR");
        assert_eq!(code(room.check_leave("o")), "ERR");
        assert_eq!(room.set_role("o", "a", Role::Owner), Ok(true));
        assert_eq!(room.set_role("o", "o", Role::Member), Ok(true));
        assert_eq!(room.owners().collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    fn private_rooms_need_an_invitation_and_bans_end() {
        let mut room = owned();
        assert_eq!(code(room.check_admit("r", "x", 5)), "NOINVITE");
        assert_eq!(room.invite("r", "a", "x", 5), Ok(true));
        assert_eq!(room.invite("r", "a", "x", 6), Ok(false));
        assert!(room.check_admit("r", "x", 6).is_ok());
        room.ban("o", "x", 1000, 7).unwrap();
        assert!(!room.is_invited("x"));
        assert_eq!(code(room.check_admit("r", "x", 999)), "BANNED");
        assert_eq!(code(room.invite("r", "a", "x", 999)), "BANNED");
        // Ended: an invitation is needed again, as for anyone.
        assert_eq!(code(room.check_admit("r", "x", 1000)), "NOINVITE");
        assert_eq!(room.invite("r", "a", "x", 1000), Ok(true));
        room.join("x", 0);
        assert!(room.rules().unwrap().bans().next().is_none());
        assert!(!room.is_invited("x"));
    }

    #[test]
    fn mutes_and_slow_mode_refuse_sends_until_their_time() {
        let mut room = owned();
        room.mute("a", "m", 500, 0).unwrap();
        assert_eq!(code(room.check_may_send("r", "m", 499)), "MUTED");
        assert!(room.check_may_send("r", "m", 500).is_ok());
        room.set_slowmode("o", 10).unwrap();
        room.send("m", "one", 1000).unwrap();
        let refused = room.check_may_send("r", "m", 5000).unwrap_err();
        assert!(
            refused.to_string().ends_with("may send again in 6000 ms"),
            "{refused}"
        );
        assert!(room.check_may_send("r", "m", 11_000).is_ok());
        // Owners and admins are exempt.
        room.send("a", "x", 1000).unwrap();
        assert!(room.check_may_send("r", "a", 1001).is_ok());
        room.set_slowmode("o", 0).unwrap();
        assert!(room.check_may_send("r", "m", 1001).is_ok());
    }

    #[test]
    fn moderators_delete_any_message_and_are_named_for_it() {
        let mut room = owned();
        let id = room.send("m", "spam", 1).unwrap();
        assert_eq!(room.delete(id, "o"), Ok(()));
        let doc = room.message("r", id).unwrap();
        assert_eq!(doc.deleted_by, Some("o"));
        let own = room.send("a", "mine", 2).unwrap();
        assert_eq!(room.delete(own, "m"), Err(ChatError::NotAuthor));
        assert_eq!(room.delete(own, "a"), Ok(()));
        assert_eq!(room.message("r", own).unwrap().deleted_by, None);
        room.check().unwrap();
        // Retention takes the record with the message.
        room.send("m", "later", 3).unwrap();
        room.trim_below(own + 1);
        assert!(room.rules().unwrap().all_deleted_by().next().is_none());
    }

    #[test]
    fn a_room_without_an_owner_keeps_the_old_rules() {
        let mut room = Room::new(1, "t", 0);
        room.join("x", 0);
        room.join("y", 0);
        assert!(room.check_admit("r", "z", 0).is_ok());
        assert!(room.check_may_pin("x", "pin").is_ok());
        assert_eq!(code(room.set_slowmode("x", 5)), "NOPERM");
        let id = room.send("x", "hi", 1).unwrap();
        assert_eq!(room.delete(id, "y"), Err(ChatError::NotAuthor));
        assert!(room.rules().is_none());
    }
}
