//! Moderation: roles, invitations, kicks, bans, mutes and slow mode.
//!
//! A room created with an owner ([`Chat::create_with`]) has roles, from
//! high to low `owner`, `admin` and `member`. Owners and admins invite,
//! kick, ban, mute and set slow mode; nobody acts on an equal or higher
//! role. A room without an owner refuses all of these (nobody there is
//! above member).
//!
//! Each operation is one command of the module on the slot of the room
//! (its first argument; [`Chat::invites`] on the user's), acting as
//! `actor`. What a cluster adds, as for [`Chat::leave`]: a kick or a ban
//! ends a membership, and the room's listing in the user's key (another
//! slot) goes after it (`CHAT.UNLIST-ROOM user room IF-OLDER-THAN-MS`,
//! only a listing older than the kick or ban, so that a join that ran
//! meanwhile keeps its own). A cut between the two leaves a listing that
//! readers skip and [`Chat::reconcile`] removes.
//!
//! Refusals are [`Error::Refused`](crate::Error::Refused) whose
//! [`refusal`](crate::Error::refusal) tells them apart: `NOPERM` (a role
//! too low), `BANNED` (inviting a banned user), `NOINVITE` and `BANNED`
//! from [`Chat::join`], `MUTED`, `SLOWMODE` and `RATELIMIT` from sends (and
//! `MUTED` from [`Chat::react`]).
//!
//! Every change is an event to the room's audience, which listeners hand
//! out: `role`, `kick`, `ban`, `unban`, `mute`, `unmute`, `slowmode`, and
//! `invite` to the invitee alone.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::chat::Chat;
use crate::error::{Error, Result};
use crate::reply;

impl Chat {
    // -- roles ---------------------------------------------------------------

    /// Gives member `user` the role `role` (`owner`, `admin` or `member`;
    /// `CHAT.ROLE`); false when they had it already.
    ///
    /// Owners give any role (to themselves too, while another owner
    /// stays); admins make members admins and admins members. The last
    /// owner may not step down (`ERR ... last owner ...`). Retried like
    /// any idempotent step: after a lost reply, the retry answers false
    /// for a change this call made.
    pub async fn role(&self, room: &str, actor: &str, user: &str, role: &str) -> Result<bool> {
        let mut c = redis::cmd("CHAT.ROLE");
        c.arg(room).arg(actor).arg(user).arg(role);
        Ok(reply::int(self.query(&c).await?)? == 1)
    }

    /// Each member of `room` with their role, `owner`, `admin` or `member`
    /// (`CHAT.MEMBERS room WITHROLES`).
    pub async fn members_with_roles(&self, room: &str) -> Result<BTreeMap<String, String>> {
        let v = self
            .query(redis::cmd("CHAT.MEMBERS").arg(room).arg("WITHROLES"))
            .await?;
        reply::map(v)?
            .into_iter()
            .map(|(member, role)| Ok((member, reply::string(role)?)))
            .collect()
    }

    // -- invitations ---------------------------------------------------------

    /// Invites `user` to `room` (`CHAT.INVITE`; owners and admins); false
    /// when they were invited already. [`join`](Self::join) takes the
    /// invitation up; a private room is joined no other way.
    ///
    /// The invitee gets an `invite` event (with the room's `title`) if
    /// listening and, in a cluster, if their key shares the room's slot. A
    /// banned user is refused (`BANNED`), a member with `ERR`.
    pub async fn invite(&self, room: &str, actor: &str, user: &str) -> Result<bool> {
        let c = moderation("CHAT.INVITE", room, actor, user);
        Ok(reply::int(self.query(&c).await?)? == 1)
    }

    /// The rooms that invited `user` and have not been joined yet, each
    /// with when (unix ms), ascending by room (`CHAT.INVITES`).
    ///
    /// In a cluster, only invitations of rooms in the user's slot are kept
    /// in the user's key, so only those are listed; the room keeps every
    /// invitation, and [`join`](Self::join) takes it up wherever the room
    /// is.
    pub async fn invites(&self, user: &str) -> Result<BTreeMap<String, u64>> {
        let v = self.query(redis::cmd("CHAT.INVITES").arg(user)).await?;
        reply::map(v)?
            .into_iter()
            .map(|(room, ms)| Ok((room, reply::count(ms)?)))
            .collect()
    }

    // -- removing members ----------------------------------------------------

    /// Removes member `user` from `room` (`CHAT.KICK`; an owner or admin
    /// above the user's role). They may join again (unless the room is
    /// private); [`ban`](Self::ban) keeps them out.
    ///
    /// Sent once, then, when that got no answer or bounced, retried: a lost
    /// reply may hide a kick that happened, so on a retry `not a member`
    /// means done. In a cluster, then the listing's removal (see the
    /// module's documentation).
    pub async fn kick(&self, room: &str, actor: &str, user: &str) -> Result<()> {
        let began = Instant::now();
        let c = moderation("CHAT.KICK", room, actor, user);
        match self.query_once(&c).await {
            Ok(_) => {}
            Err(Error::Redis(_)) => {
                self.settings().before(2).await;
                match self.query(&c).await {
                    Ok(_) => {}
                    Err(e) if e.is_not_member() => {}
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
        self.after_removal(room, user, began).await
    }

    /// Bans `user` from `room` (`CHAT.BAN`; an owner or admin above the
    /// user's role, a non-member counting as member): ends their membership
    /// and invitation, and refuses their joining and invitations for
    /// `seconds` (1 to 315360000), or until [`unban`](Self::unban) (None).
    /// Banning again replaces the end.
    pub async fn ban(
        &self,
        room: &str,
        actor: &str,
        user: &str,
        seconds: Option<u64>,
    ) -> Result<()> {
        let began = Instant::now();
        let mut c = moderation("CHAT.BAN", room, actor, user);
        if let Some(seconds) = seconds {
            c.arg("SECONDS").arg(seconds);
        }
        self.query(&c).await?;
        self.after_removal(room, user, began).await
    }

    /// Lifts `user`'s ban from `room` (`CHAT.UNBAN`; owners and admins);
    /// false when no ban was in force (or, after a lost reply, the first
    /// attempt lifted it).
    pub async fn unban(&self, room: &str, actor: &str, user: &str) -> Result<bool> {
        let c = moderation("CHAT.UNBAN", room, actor, user);
        Ok(reply::int(self.query(&c).await?)? == 1)
    }

    /// In a cluster, the listing of a room `user` was just removed from:
    /// only one older than the removal, so a join since keeps its own.
    async fn after_removal(&self, room: &str, user: &str, began: Instant) -> Result<()> {
        if self.is_cluster() {
            self.unlist(user, room, Some(began.elapsed())).await?;
        }
        Ok(())
    }

    // -- mutes and slow mode -------------------------------------------------

    /// Mutes member `user` in `room` (`CHAT.MUTE`; an owner or admin above
    /// the user's role): their sends, reactions and edits are refused
    /// (`MUTED`) for `seconds` (1 to 315360000), or until
    /// [`unmute`](Self::unmute) (None). The mute stays if they leave and
    /// come back.
    pub async fn mute(
        &self,
        room: &str,
        actor: &str,
        user: &str,
        seconds: Option<u64>,
    ) -> Result<()> {
        let mut c = moderation("CHAT.MUTE", room, actor, user);
        if let Some(seconds) = seconds {
            c.arg("SECONDS").arg(seconds);
        }
        self.query(&c).await.map(drop)
    }

    /// Lifts `user`'s mute in `room` (`CHAT.UNMUTE`); false when no mute
    /// was in force (or, after a lost reply, the first attempt lifted it).
    pub async fn unmute(&self, room: &str, actor: &str, user: &str) -> Result<bool> {
        let c = moderation("CHAT.UNMUTE", room, actor, user);
        Ok(reply::int(self.query(&c).await?)? == 1)
    }

    /// Lets each member send one message every `seconds` (0 to 3600; 0
    /// turns slow mode off) in `room` (`CHAT.SLOWMODE`; owners and admins,
    /// who are exempt). A send too soon is refused with `SLOWMODE`, whose
    /// [`Refusal::SlowMode`](crate::Refusal::SlowMode) says when the member
    /// may send again.
    pub async fn slowmode(&self, room: &str, actor: &str, seconds: u64) -> Result<()> {
        self.query(
            redis::cmd("CHAT.SLOWMODE")
                .arg(room)
                .arg(actor)
                .arg(seconds),
        )
        .await
        .map(drop)
    }

    /// A moderator's view of `room` (`CHAT.MODERATION`): privacy, slow
    /// mode, the roles above member, the invitations waiting, and the bans
    /// and mutes in force with their ends.
    pub async fn moderation(&self, room: &str) -> Result<RoomModeration> {
        let v = self.query(redis::cmd("CHAT.MODERATION").arg(room)).await?;
        let mut fields = reply::map(v)?;
        let mut take = |name: &str| fields.remove(name).map_or(Ok(BTreeMap::new()), reply::map);
        let ends = |entries: BTreeMap<String, redis::Value>| -> Result<_> {
            entries
                .into_iter()
                .map(|(user, end)| match end {
                    redis::Value::Nil => Ok((user, None)),
                    end => Ok((user, Some(reply::count(end)?))),
                })
                .collect()
        };
        let roles = take("roles")?
            .into_iter()
            .map(|(u, r)| Ok((u, reply::string(r)?)))
            .collect::<Result<_>>()?;
        let invites = take("invites")?
            .into_iter()
            .map(|(u, at)| Ok((u, reply::count(at)?)))
            .collect::<Result<_>>()?;
        let (bans, mutes) = (ends(take("bans")?)?, ends(take("mutes")?)?);
        Ok(RoomModeration {
            private: reply::count_field_or_zero(&mut fields, "private")? == 1,
            slowmode: reply::count_field_or_zero(&mut fields, "slowmode")?,
            roles,
            invites,
            bans,
            mutes,
        })
    }
}

/// What [`Chat::moderation`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomModeration {
    /// Joined by invitation only.
    pub private: bool,
    /// Seconds between two messages of a member; 0 when off.
    pub slowmode: u64,
    /// Each member above `member` with their role.
    pub roles: BTreeMap<String, String>,
    /// Each invited user with when (unix ms).
    pub invites: BTreeMap<String, u64>,
    /// Each banned user with the end (unix ms), `None` until lifted.
    pub bans: BTreeMap<String, Option<u64>>,
    /// Each muted member with the end (unix ms), `None` until lifted.
    pub mutes: BTreeMap<String, Option<u64>>,
}

/// `<command> <room> <actor> <user>`.
fn moderation(command: &str, room: &str, actor: &str, user: &str) -> redis::Cmd {
    let mut c = redis::cmd(command);
    c.arg(room).arg(actor).arg(user);
    c
}
