//! Presence, devices, notification settings and profiles.
//!
//! A user is online while their presence lasts: [`Chat::online`] sets it
//! (an app calls it as a heartbeat, or lets a listener do so),
//! [`Chat::offline`] ends it. With a device each device has a presence of
//! its own (at most 16 at once), and the user is online while any is.
//!
//! Every change of a user's presence (not a heartbeat) is published once on
//! the user's presence channel ([`presence_channel`]) as
//! `{"type": "presence", "user", "online": true, "until": <unix ms>}` or
//! `{"type": "presence", "user", "online": false, "until": null}`; a
//! presence whose time runs out is announced by the server within about a
//! quarter of a second. In Redis Cluster the channel is a shard channel of
//! the user's slot. A listener follows other users' presence
//! ([`ListenerHandle::follow_presence`](crate::ListenerHandle::follow_presence),
//! or [`ListenOptions::follow`](crate::ListenOptions::follow) and
//! [`ListenOptions::follow_members`](crate::ListenOptions::follow_members)).
//!
//! [`Chat::notify`] chooses what a user is notified of while away: a send
//! records a notification for each member away it concerns, in a Redis
//! stream a worker reads (docs/delivery.md).

use std::collections::BTreeMap;

use futures_util::future::join_all;

use crate::chat::Chat;
use crate::error::Result;
use crate::reply;

/// What a user is notified of while away ([`Chat::notify`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Notify {
    /// Every message of their fan-out rooms, and mentions in broadcast
    /// rooms.
    All,
    /// Mentions and direct rooms (the default).
    #[default]
    Mentions,
    /// Nothing.
    None,
}

impl Notify {
    /// The word the module takes and shows: `all`, `mentions` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Notify::All => "all",
            Notify::Mentions => "mentions",
            Notify::None => "none",
        }
    }

    /// The setting a word names (any case).
    pub fn parse(word: &str) -> Option<Notify> {
        [Notify::All, Notify::Mentions, Notify::None]
            .into_iter()
            .find(|n| word.eq_ignore_ascii_case(n.as_str()))
    }
}

/// A user's profile ([`Chat::profile`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub id: String,
    pub name: String,
    /// When the user registered (unix ms).
    pub created: i64,
    /// Online now.
    pub online: bool,
    /// Where the user's changes of presence are published.
    pub presence_channel: String,
    /// What they are notified of while away; the module's word when it is
    /// none this library knows.
    pub notify: Option<Notify>,
}

/// The presence channel of `user`, named as the module names it:
/// `chat:user:{<id>}:presence`, or for an id that starts with its own hash
/// tag (`{acme}bob`) `chat:user:{acme}{bob}:presence`; either way in the
/// slot of the user's key.
pub fn presence_channel(user: &str) -> String {
    if user.starts_with('{') {
        let close = user.find('}').map_or(user.len(), |i| i + 1);
        let (tag, rest) = user.split_at(close);
        return format!("chat:user:{tag}{{{rest}}}:presence");
    }
    format!("chat:user:{{{user}}}:presence")
}

/// The user whose presence channel `channel` is; None for another channel.
pub fn user_of_presence_channel(channel: &str) -> Option<String> {
    let middle = channel
        .strip_prefix("chat:user:")?
        .strip_suffix(":presence")?;
    let inner = middle.strip_prefix('{')?.strip_suffix('}')?;
    match inner.split_once("}{") {
        // {acme}{bob} -> {acme}bob
        Some((tag, rest)) => Some(format!("{{{tag}}}{rest}")),
        None => Some(inner.to_string()),
    }
}

impl Chat {
    /// Marks `user` online for `ttl` seconds (1 to 86400; None: the
    /// server's `chat.presence-ttl`), or one of their devices (`DEVICE`: 1
    /// to 64 bytes of `A-Z a-z 0-9 _ . : @ -`) (`CHAT.ONLINE`).
    ///
    /// Call it again before the time runs out, as a heartbeat. Going from
    /// offline to online publishes a `presence` event on the user's
    /// presence channel; a heartbeat publishes nothing. Once a device is
    /// named, a heartbeat without one counts as the device `""`. Retried
    /// like any idempotent step.
    pub async fn online(&self, user: &str, ttl: Option<u64>, device: Option<&str>) -> Result<()> {
        let mut c = redis::cmd("CHAT.ONLINE");
        c.arg(user);
        if let Some(ttl) = ttl {
            c.arg("TTL").arg(ttl);
        }
        if let Some(device) = device {
            c.arg("DEVICE").arg(device);
        }
        self.query(&c).await.map(drop)
    }

    /// Ends `user`'s presence (`CHAT.OFFLINE`): every device's, or with
    /// `device` only that one's (the user stays online while another device
    /// is). Going offline publishes one `presence` event.
    pub async fn offline(&self, user: &str, device: Option<&str>) -> Result<()> {
        let mut c = redis::cmd("CHAT.OFFLINE");
        c.arg(user);
        if let Some(device) = device {
            c.arg("DEVICE").arg(device);
        }
        self.query(&c).await.map(drop)
    }

    /// What `user` is notified of while away (`CHAT.NOTIFY`).
    pub async fn notify(&self, user: &str, setting: Notify) -> Result<()> {
        self.query(redis::cmd("CHAT.NOTIFY").arg(user).arg(setting.as_str()))
            .await
            .map(drop)
    }

    /// `user`'s profile (`CHAT.PROFILE`); None for an unknown user.
    pub async fn profile(&self, user: &str) -> Result<Option<Profile>> {
        let v = self.query(redis::cmd("CHAT.PROFILE").arg(user)).await?;
        if v == redis::Value::Nil {
            return Ok(None);
        }
        let mut f = reply::map(v)?;
        let mut text = |name: &str| match f.remove(name) {
            Some(v) => reply::string(v),
            None => Ok(String::new()),
        };
        let (id, name) = (text("id")?, text("name")?);
        let presence_channel = text("presence_channel")?;
        let notify = Notify::parse(&text("notify")?);
        Ok(Some(Profile {
            id,
            name,
            presence_channel,
            notify,
            created: f.remove("created").map_or(Ok(0), reply::int)?,
            online: reply::count_field_or_zero(&mut f, "online")? == 1,
        }))
    }

    /// Whether each of `users` is online now, from their profiles (sent
    /// together; in a cluster each to the node of its slot). An unknown
    /// user is offline.
    pub async fn is_online<S: AsRef<str>>(&self, users: &[S]) -> Result<BTreeMap<String, bool>> {
        let profiles = join_all(users.iter().map(|u| self.profile(u.as_ref()))).await;
        users
            .iter()
            .zip(profiles)
            .map(|(u, p)| Ok((u.as_ref().to_string(), p?.is_some_and(|p| p.online))))
            .collect()
    }

    /// What `user`'s app listens to now (`CHAT.CHANNELS`): the command to
    /// listen with (`SUBSCRIBE`, or `SSUBSCRIBE` in a cluster) and the
    /// channels. With `presence`, also the presence channels of the other
    /// members of the user's fan-out rooms (`PRESENCE`).
    pub async fn channels(&self, user: &str, presence: bool) -> Result<(String, Vec<String>)> {
        let mut c = redis::cmd("CHAT.CHANNELS");
        c.arg(user);
        if presence {
            c.arg("PRESENCE");
        }
        let mut channels = reply::strings(self.query(&c).await?)?;
        if channels.is_empty() {
            return Err(crate::Error::Reply("CHAT.CHANNELS replied nothing".into()));
        }
        let verb = channels.remove(0).to_ascii_uppercase();
        Ok((verb, channels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_channel_names() {
        assert_eq!(presence_channel("bob"), "chat:user:{bob}:presence");
        assert_eq!(
            presence_channel("{acme}bob"),
            "chat:user:{acme}{bob}:presence"
        );
        for user in ["bob", "{acme}bob", "a:b", "{t}x:y"] {
            assert_eq!(
                user_of_presence_channel(&presence_channel(user)).as_deref(),
                Some(user)
            );
        }
        assert_eq!(user_of_presence_channel("chat:user:{bob}:push"), None);
        assert_eq!(Notify::parse("ALL"), Some(Notify::All));
        assert_eq!(Notify::parse("some"), None);
    }
}
