//! Following other users' presence: their presence channels, subscribed
//! with the rest, and each one's state as last known, of which only changes
//! are handed out.

use std::collections::BTreeSet;

use serde_json::{json, Value as Json};

use super::State;
use crate::error::Result;
use crate::presence::{presence_channel, user_of_presence_channel};

impl State {
    /// The users followed: by name, and as members of the user's rooms.
    pub(super) fn followed(&self) -> BTreeSet<String> {
        let members = self.base.iter().filter_map(|c| user_of_presence_channel(c));
        self.following.iter().cloned().chain(members).collect()
    }

    /// The channels to listen on: CHAT.CHANNELS's, and the presence
    /// channels of the users followed by name.
    pub(super) fn wanted(&self) -> Vec<String> {
        let mut wanted = self.base.clone();
        for user in &self.following {
            let channel = presence_channel(user);
            if !wanted.contains(&channel) {
                wanted.push(channel);
            }
        }
        wanted
    }

    /// Subscribes to the channels of the users followed now, and reads the
    /// presence of those not known yet.
    pub(super) async fn apply_follows(&mut self) -> Result<()> {
        let wanted = self.wanted();
        self.subs
            .set(&self.chat.backend, &self.verb.clone(), &wanted)
            .await?;
        self.read_presence(false).await?;
        self.count(|_| {});
        Ok(())
    }

    /// Reads the presence of the followed users not known yet (all of them
    /// after a break, handing out an event for each that changed).
    pub(super) async fn read_presence(&mut self, full: bool) -> Result<()> {
        let followed = self.followed();
        self.known.retain(|user, _| followed.contains(user));
        let ask: Vec<&String> = followed
            .iter()
            .filter(|u| full || !self.known.contains_key(*u))
            .collect();
        for (user, online) in self.chat.is_online(&ask).await? {
            let before = self.known.insert(user.clone(), online);
            if before.is_some_and(|b| b != online) {
                let event =
                    json!({"type": "presence", "user": user, "online": online, "until": null});
                let _ = self.out.send(Ok(event));
            }
        }
        Ok(())
    }

    /// Whether a presence event is to be handed out: one of a followed
    /// user that changes what is known of them.
    pub(super) fn presence_event(&mut self, doc: &Json) -> bool {
        let Some(user) = doc.get("user").and_then(Json::as_str) else {
            return false;
        };
        if !self.followed().contains(user) {
            return false;
        }
        let online = doc.get("online").and_then(Json::as_bool).unwrap_or(false);
        if self.known.get(user) == Some(&online) {
            return false;
        }
        self.known.insert(user.to_string(), online);
        self.count(|_| {});
        true
    }
}
