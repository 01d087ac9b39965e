//! [`ListenerHandle`]: what the app asks of a running listener, through
//! its task's control channel.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use super::ListenStats;
use crate::error::{Error, Result};

/// What a [`ListenerHandle`] asks of the listener's task.
pub(super) enum Control {
    /// Sync now; the answer says whether it did.
    Refresh(oneshot::Sender<bool>),
    /// Follow (or stop following) users' presence; answered once
    /// subscribed.
    Follow {
        users: Vec<String>,
        follow: bool,
        ack: oneshot::Sender<bool>,
    },
}

/// Controls a running [`Listener`](crate::Listener) from anywhere; cheap
/// to clone.
#[derive(Clone)]
pub struct ListenerHandle {
    pub(super) control: mpsc::UnboundedSender<Control>,
    pub(super) stats: Arc<Mutex<ListenStats>>,
}

impl ListenerHandle {
    /// Re-reads the user's channels and rooms now (after a join, a leave or
    /// a direct room), and returns once subscribed and caught up.
    pub async fn refresh(&self) -> Result<()> {
        let (ack, done) = oneshot::channel();
        let stopped = || Error::Usage("the listener stopped".into());
        self.control
            .send(Control::Refresh(ack))
            .map_err(|_| stopped())?;
        match done.await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::Usage(
                "the listener could not re-read its channels; it keeps trying".into(),
            )),
            Err(_) => Err(stopped()),
        }
    }

    /// What the listener did so far.
    pub fn stats(&self) -> ListenStats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Follows `users`' presence: subscribes to their presence channels
    /// (each on the node of its slot in a cluster) and returns, once
    /// subscribed, each one's presence (true: online; an unknown user is
    /// offline). Their `presence` events come from then on.
    pub async fn follow_presence<S: AsRef<str>>(
        &self,
        users: &[S],
    ) -> Result<BTreeMap<String, bool>> {
        let users: Vec<String> = users.iter().map(|u| u.as_ref().to_string()).collect();
        self.change_follows(users.clone(), true).await?;
        let known = self.presence_state();
        Ok(users
            .into_iter()
            .map(|u| {
                let online = known.get(&u).copied().unwrap_or(false);
                (u, online)
            })
            .collect())
    }

    /// Stops following `users`' presence (those followed as room members
    /// with
    /// [`ListenOptions::follow_members`](crate::ListenOptions::follow_members)
    /// stay followed).
    pub async fn unfollow_presence<S: AsRef<str>>(&self, users: &[S]) -> Result<()> {
        let users = users.iter().map(|u| u.as_ref().to_string()).collect();
        self.change_follows(users, false).await
    }

    async fn change_follows(&self, users: Vec<String>, follow: bool) -> Result<()> {
        let (ack, done) = oneshot::channel();
        let stopped = || Error::Usage("the listener stopped".into());
        let request = Control::Follow { users, follow, ack };
        self.control.send(request).map_err(|_| stopped())?;
        match done.await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::Usage(
                "the listener could not subscribe now; it keeps trying".into(),
            )),
            Err(_) => Err(stopped()),
        }
    }

    /// Each followed user's presence (true: online) as last known.
    pub fn presence_state(&self) -> BTreeMap<String, bool> {
        self.stats().presence
    }
}
