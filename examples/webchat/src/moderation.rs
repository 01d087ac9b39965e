//! Moderation: rooms with an owner, roles, invitations, kicks, bans, mutes
//! and slow mode, as a tab asks for them. The module decides who may do
//! what (an owner or admin above the member's role) and refuses the rest
//! with `NOPERM`; a refused send or join comes back with the module's code
//! (`MUTED`, `SLOWMODE`, `RATELIMIT`, `NOINVITE`, `BANNED`), which the page
//! turns into words. An owner or admin who opens the members panel gets
//! the bans, mutes and invitations in force from CHAT.MODERATION.
//!
//! The module tells a change to the room's members other than the one who
//! made it; the user's own tabs hear of it from here, and so does the user
//! it concerns: a kicked or banned member of another cluster slot is no
//! longer on the room's channel, and an invitee of another slot gets no
//! `invite` event from the module (it publishes only in the room's slot).
//! The page takes each change once, wherever it comes from.

use std::collections::BTreeMap;
use std::time::Instant;

use redis_chat_client::redis::{self, Value};
use serde_json::{json, Value as Json};

use crate::chat::{int, pairs, string, Chat, ChatError, ChatResult};
use crate::requests::Op;
use crate::views;
use crate::App;

/// Invitations listed at sign-in, at most.
const INVITES_MAX: usize = 100;
/// Bans, mutes and waiting invitations sent to a moderator's page, at
/// most of each; the page says how many more there are.
const LISTED_MAX: usize = 200;

impl Chat {
    /// Member -> role (`owner`, `admin` or `member`).
    pub async fn roles(&self, room: &str) -> ChatResult<BTreeMap<String, String>> {
        let mut c = redis::cmd("CHAT.MEMBERS");
        c.arg(room).arg("WITHROLES");
        pairs(self.run(&c).await?)?
            .into_iter()
            .map(|(user, role)| Ok((user, string(role)?)))
            .collect()
    }

    /// Makes a room with `owner` as its owner and first member (private:
    /// joined only by invitation), in the steps of a join: the room listed
    /// for the owner before and after (in a cluster the owner's key may be
    /// in another slot, which CHAT.CREATE does not open).
    pub async fn create_owned(
        &self,
        room: &str,
        title: &str,
        owner: &str,
        private: bool,
    ) -> ChatResult<()> {
        self.list_room(owner, room).await?;
        let mut c = redis::cmd("CHAT.CREATE");
        c.arg(room).arg(title).arg("OWNER").arg(owner);
        if private {
            c.arg("PRIVATE");
        }
        match self.run_once(&c).await {
            Ok(_) => self.list_room(owner, room).await,
            // Made meanwhile: the caller joins it, which lists it again.
            Err(e) if e.is("room already exists") => Err(e),
            Err(e) => {
                if e.refused {
                    let _ = self.unlist_room(owner, room, None).await;
                }
                Err(e)
            }
        }
    }

    async fn list_room(&self, user: &str, room: &str) -> ChatResult<()> {
        let mut c = redis::cmd("CHAT.LIST-ROOM");
        c.arg(user).arg(room);
        self.run(&c).await.map(drop)
    }

    /// Takes a room off a user's list (only a listing older than `age_ms`,
    /// if given): the user's side of a kick or ban in a cluster, where the
    /// module changes only the room's side for a user of another slot. On
    /// one server the module did it already.
    async fn unlist_room(&self, user: &str, room: &str, age_ms: Option<u64>) -> ChatResult<()> {
        let mut c = redis::cmd("CHAT.UNLIST-ROOM");
        c.arg(user).arg(room);
        if let Some(ms) = age_ms {
            c.arg("IF-OLDER-THAN-MS").arg(ms.min(86_400_000));
        }
        self.run(&c).await.map(drop)
    }

    /// CHAT.ROLE: true if the role changed.
    pub async fn set_role(
        &self,
        room: &str,
        actor: &str,
        user: &str,
        role: &str,
    ) -> ChatResult<bool> {
        let mut c = redis::cmd("CHAT.ROLE");
        c.arg(room).arg(actor).arg(user).arg(role);
        Ok(int(self.run(&c).await?)? == 1)
    }

    /// CHAT.KICK, CHAT.BAN, CHAT.UNBAN, CHAT.MUTE, CHAT.UNMUTE: `<room>
    /// <actor> <user> [SECONDS <n>]`. A kick runs once (a second run would
    /// say the user is not a member); the others may run again.
    async fn moderate(
        &self,
        verb: &str,
        room: &str,
        actor: &str,
        user: &str,
        seconds: Option<u64>,
    ) -> ChatResult<Value> {
        let mut c = redis::cmd(verb);
        c.arg(room).arg(actor).arg(user);
        if let Some(n) = seconds {
            c.arg("SECONDS").arg(n);
        }
        if verb == "CHAT.KICK" {
            self.run_once(&c).await
        } else {
            self.run(&c).await
        }
    }

    pub async fn slowmode(&self, room: &str, actor: &str, seconds: u32) -> ChatResult<()> {
        let mut c = redis::cmd("CHAT.SLOWMODE");
        c.arg(room).arg(actor).arg(seconds);
        self.run(&c).await.map(drop)
    }

    /// CHAT.INVITE: true if invited now, false if invited already.
    pub async fn invite(&self, room: &str, actor: &str, user: &str) -> ChatResult<bool> {
        let mut c = redis::cmd("CHAT.INVITE");
        c.arg(room).arg(actor).arg(user);
        Ok(int(self.run(&c).await?)? == 1)
    }

    /// Room -> when the user was invited (unix ms).
    pub async fn invites(&self, user: &str) -> ChatResult<BTreeMap<String, i64>> {
        let mut c = redis::cmd("CHAT.INVITES");
        c.arg(user);
        pairs(self.run(&c).await?)?
            .into_iter()
            .map(|(room, at)| Ok((room, int(at)?)))
            .collect()
    }

    /// CHAT.MODERATION: the room's privacy and slow mode, the invitations
    /// waiting and the bans and mutes in force, as the page takes them.
    pub async fn moderation(&self, room: &str) -> ChatResult<Json> {
        let mut c = redis::cmd("CHAT.MODERATION");
        c.arg(room);
        moderation_view(self.run(&c).await?)
    }
}

/// CHAT.MODERATION's map as JSON: `private` (bool), `slowmode` (seconds),
/// `invites` (user -> unix ms), `bans` and `mutes` (user -> end in unix
/// ms, or null until lifted), each of those three at most LISTED_MAX
/// users (ascending), and `more`: how many each left out. The roles are
/// not in it: CHAT.MEMBERS WITHROLES has them, with the members.
fn moderation_view(reply: Value) -> ChatResult<Json> {
    let mut fields = pairs(reply)?;
    let mut take = |name: &str| fields.remove(name).unwrap_or(Value::Nil);
    let flag = |v: Value| match v {
        Value::Nil => Ok(0),
        Value::Boolean(b) => Ok(i64::from(b)),
        v => int(v),
    };
    let private = flag(take("private"))? == 1;
    let slowmode = flag(take("slowmode"))?;
    let mut more = serde_json::Map::new();
    let mut list = |name: &str, v: Value| -> ChatResult<Json> {
        let all = pairs(v)?;
        more.insert(name.into(), json!(all.len().saturating_sub(LISTED_MAX)));
        let mut out = serde_json::Map::new();
        for (user, when) in all.into_iter().take(LISTED_MAX) {
            let when = match when {
                Value::Nil => Json::Null,
                v => json!(int(v)?),
            };
            out.insert(user, when);
        }
        Ok(Json::Object(out))
    };
    let invites = list("invites", take("invites"))?;
    let bans = list("bans", take("bans"))?;
    let mutes = list("mutes", take("mutes"))?;
    Ok(json!({
        "private": private,
        "slowmode": slowmode,
        "invites": invites,
        "bans": bans,
        "mutes": mutes,
        "more": more,
    }))
}

/// Whether `user` is an owner or admin in a map of roles.
fn moderates(roles: &Json, user: &str) -> bool {
    matches!(roles[user].as_str(), Some("owner" | "admin"))
}

/// Joins `room`, making it first if there is none: with the user as its
/// owner when `owner` (or `private`: joined only by invitation), else as a
/// room anyone may join, with no owner.
pub async fn join_or_create(
    chat: &Chat,
    me: &str,
    room: &str,
    title: Option<String>,
    owner: bool,
    private: bool,
) -> ChatResult<()> {
    match chat.join(room, me).await {
        Err(e) if e.is("no such room") => {}
        other => return other,
    }
    let title = title
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| room.to_string());
    if owner || private {
        // The owner is its first member.
        match chat.create_owned(room, &title, me, private).await {
            Err(e) if e.is("room already exists") => {}
            other => return other,
        }
    } else {
        match chat.create(room, &title).await {
            Err(e) if e.is("room already exists") => {}
            other => other?,
        }
    }
    // A room anyone may join, or one made meanwhile.
    chat.join(room, me).await
}

/// A moderation event, to the user's own tabs and to those of the user it
/// concerns.
fn announce(app: &App, me: &str, user: Option<&str>, doc: Json) {
    let frame = json!({"t": "push", "doc": doc});
    app.hubs.notify(me, &frame);
    if let Some(user) = user.filter(|u| *u != me) {
        app.hubs.notify(user, &frame);
    }
}

/// When a ban or mute of `seconds` ends (unix ms), as the module says it
/// in its events; null: until lifted.
fn until(seconds: Option<u64>) -> Json {
    match seconds {
        Some(n) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            json!(now + n.saturating_mul(1000))
        }
        None => Json::Null,
    }
}

/// After a kick or a ban: the room off the user's list (in a cluster), and
/// their listener stops listening to it.
async fn removed(app: &App, room: &str, user: &str, began: Instant) {
    let age = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
    match app.chat.unlist_room(user, room, Some(age)).await {
        Ok(()) => {}
        Err(e) if e.refused => {}
        Err(e) => eprintln!("webchat: CHAT.UNLIST-ROOM {user} {room}: {e}"),
    }
    app.hubs.refresh(user).await;
}

/// The user's pending invitations, each with its room's title, oldest
/// room id first. In a cluster the module lists only those made while the
/// user's key shared the room's slot; the others reach an open tab live.
pub async fn invites(chat: &Chat, me: &str) -> Json {
    let pending = match chat.invites(me).await {
        Ok(pending) => pending,
        Err(e) => {
            eprintln!("webchat: CHAT.INVITES {me}: {e}");
            return json!([]);
        }
    };
    let mut out = Vec::new();
    for (room, at) in pending.into_iter().take(INVITES_MAX) {
        if let Ok(Some(info)) = chat.info(&room).await {
            out.push(json!({"room": room, "title": info.title, "at": at}));
        }
    }
    json!(out)
}

/// One moderation request of the socket's user.
pub async fn handle(app: &App, me: &str, op: Op) -> ChatResult<Json> {
    let chat = &app.chat;
    match op {
        Op::Members { room } => {
            let roles = views::roles(chat, &room).await;
            // Bans, mutes and invitations are for owners and admins only
            // (the module, in trust mode, answers anyone).
            let moderation = if moderates(&roles, me) {
                chat.moderation(&room).await.unwrap_or_else(|e| {
                    eprintln!("webchat: CHAT.MODERATION {room}: {e}");
                    Json::Null
                })
            } else {
                Json::Null
            };
            Ok(json!({"roles": roles, "moderation": moderation}))
        }
        Op::Role { room, user, role } => {
            let role = role.to_ascii_lowercase();
            let changed = chat.set_role(&room, me, &user, &role).await?;
            if changed {
                let doc =
                    json!({"type": "role", "room": room, "user": user, "role": role, "by": me});
                announce(app, me, Some(&user), doc);
            }
            Ok(json!({ "changed": changed }))
        }
        Op::Kick { room, user } => {
            let began = Instant::now();
            chat.moderate("CHAT.KICK", &room, me, &user, None).await?;
            removed(app, &room, &user, began).await;
            let doc = json!({"type": "kick", "room": room, "user": user, "by": me});
            announce(app, me, Some(&user), doc);
            Ok(json!({}))
        }
        Op::Ban {
            room,
            user,
            seconds,
        } => {
            let began = Instant::now();
            chat.moderate("CHAT.BAN", &room, me, &user, seconds).await?;
            removed(app, &room, &user, began).await;
            let doc = json!({"type": "ban", "room": room, "user": user, "by": me, "until": until(seconds)});
            announce(app, me, Some(&user), doc);
            Ok(json!({}))
        }
        Op::Mute {
            room,
            user,
            seconds,
        } => {
            chat.moderate("CHAT.MUTE", &room, me, &user, seconds)
                .await?;
            let doc = json!({"type": "mute", "room": room, "user": user, "by": me, "until": until(seconds)});
            announce(app, me, Some(&user), doc);
            Ok(json!({}))
        }
        Op::Unban { room, user } => lift(app, me, "unban", &room, &user).await,
        Op::Unmute { room, user } => lift(app, me, "unmute", &room, &user).await,
        Op::Slowmode { room, seconds } => {
            chat.slowmode(&room, me, seconds).await?;
            let doc = json!({"type": "slowmode", "room": room, "seconds": seconds, "by": me});
            announce(app, me, None, doc);
            Ok(json!({}))
        }
        Op::Invite { room, user } => {
            let user = user.trim();
            let invited = chat.invite(&room, me, user).await?;
            let title = match chat.info(&room).await {
                Ok(Some(info)) => info.title,
                _ => room.clone(),
            };
            let doc =
                json!({"type": "invite", "room": room, "user": user, "by": me, "title": title});
            // Only to the invitee: the others learn of it when they join.
            app.hubs.notify(user, &json!({"t": "push", "doc": doc}));
            Ok(json!({ "invited": invited }))
        }
        Op::Invites => Ok(json!({"invites": invites(chat, me).await})),
        _ => Err(ChatError::new("not a moderation request")),
    }
}

/// CHAT.UNBAN or CHAT.UNMUTE; an event only when something was lifted.
async fn lift(app: &App, me: &str, kind: &str, room: &str, user: &str) -> ChatResult<Json> {
    let verb = if kind == "unban" {
        "CHAT.UNBAN"
    } else {
        "CHAT.UNMUTE"
    };
    let lifted = int(app.chat.moderate(verb, room, me, user, None).await?)? == 1;
    if lifted {
        let doc = json!({"type": kind, "room": room, "user": user, "by": me});
        announce(app, me, Some(user), doc);
    }
    Ok(json!({ "lifted": lifted }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_of_bans_and_mutes() {
        assert_eq!(until(None), Json::Null);
        let soon = until(Some(600)).as_u64().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(soon >= now + 599_000 && soon <= now + 601_000);
        // A duration too long for the clock does not overflow.
        assert!(until(Some(u64::MAX)).is_u64());
    }

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn a_moderators_view() {
        // RESP2: a flat array of fields, the maps in it flat too.
        let reply = Value::Array(vec![
            bulk("private"),
            Value::Int(1),
            bulk("slowmode"),
            Value::Int(30),
            bulk("roles"),
            Value::Array(vec![bulk("alice"), bulk("owner")]),
            bulk("invites"),
            Value::Array(vec![bulk("dan"), Value::Int(1_700_000_000_000)]),
            bulk("bans"),
            Value::Array(vec![
                bulk("carol"),
                Value::Nil,
                bulk("eve"),
                Value::Int(1_800_000_000_000),
            ]),
            bulk("mutes"),
            Value::Array(vec![]),
        ]);
        let view = moderation_view(reply).unwrap();
        assert_eq!(
            view,
            json!({
                "private": true,
                "slowmode": 30,
                "invites": {"dan": 1_700_000_000_000_i64},
                "bans": {"carol": null, "eve": 1_800_000_000_000_i64},
                "mutes": {},
                "more": {"invites": 0, "bans": 0, "mutes": 0},
            })
        );
        // RESP3: maps; a room nobody moderates.
        let reply = Value::Map(vec![
            (bulk("private"), Value::Int(0)),
            (bulk("slowmode"), Value::Int(0)),
            (bulk("roles"), Value::Map(vec![])),
            (bulk("invites"), Value::Map(vec![])),
            (bulk("bans"), Value::Map(vec![])),
            (
                bulk("mutes"),
                Value::Map(vec![(bulk("bob"), Value::Int(5))]),
            ),
        ]);
        let view = moderation_view(reply).unwrap();
        assert_eq!(view["private"], json!(false));
        assert_eq!(view["mutes"], json!({"bob": 5}));
        assert!(moderation_view(Value::Int(3)).is_err());
    }

    #[test]
    fn long_lists_are_cut() {
        let bans: Vec<Value> = (0..LISTED_MAX + 5)
            .flat_map(|i| [bulk(&format!("u{i:04}")), Value::Nil])
            .collect();
        let view = moderation_view(Value::Array(vec![bulk("bans"), Value::Array(bans)])).unwrap();
        assert_eq!(view["bans"].as_object().unwrap().len(), LISTED_MAX);
        assert_eq!(view["more"]["bans"], json!(5));
        assert_eq!(view["more"]["mutes"], json!(0));
    }

    #[test]
    fn who_sees_the_lists() {
        let roles = json!({"oscar": "owner", "penny": "admin", "quinn": "member"});
        assert!(moderates(&roles, "oscar"));
        assert!(moderates(&roles, "penny"));
        assert!(!moderates(&roles, "quinn"));
        assert!(!moderates(&roles, "nobody"));
        assert!(!moderates(&Json::Null, "oscar"));
    }
}
