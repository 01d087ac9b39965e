//! A listener's pub/sub connections: one per node that serves one of its
//! channels, all feeding one queue of pushes.
//!
//! Each connection is a RESP3 multiplexed connection with a push sender:
//! messages, the server's own `sunsubscribe` (when a slot moves away in a
//! reshard), and a `Disconnection` when the connection breaks, all arrive
//! in one queue. One channel per (S)SUBSCRIBE command: the server refuses
//! shard channels of different slots in one command, even on one node, and
//! the confirmation of a single channel is the command's reply.

use std::collections::{HashMap, HashSet};

use redis::aio::MultiplexedConnection;
use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::backend::Backend;
use crate::error::Result;
use crate::reply;

/// The command that ends what `verb` started.
fn undo(verb: &str) -> &'static str {
    if verb.eq_ignore_ascii_case("SSUBSCRIBE") {
        "SUNSUBSCRIBE"
    } else {
        "UNSUBSCRIBE"
    }
}

/// What a push from a subscription means to the listener.
pub(crate) enum Push {
    /// A published document (the payload, not yet decoded), and the
    /// channel it came on.
    Payload { channel: Vec<u8>, payload: Vec<u8> },
    /// The server ended a subscription the listener did not end: its slot
    /// moved to another node.
    Dropped,
    /// A connection broke: anything published meanwhile is lost.
    Disconnected,
    /// Nothing the listener needs (a confirmation).
    Nothing,
}

pub(crate) struct Subscriptions {
    sender: UnboundedSender<PushInfo>,
    pub pushes: UnboundedReceiver<PushInfo>,
    /// Node name -> its pub/sub connection.
    conns: HashMap<String, MultiplexedConnection>,
    /// Channel -> the node it is subscribed on.
    channels: HashMap<String, String>,
    /// `SUBSCRIBE` or `SSUBSCRIBE`, as CHAT.CHANNELS said.
    verb: String,
    /// Channels the listener itself is unsubscribing from.
    leaving: HashSet<String>,
}

impl Subscriptions {
    /// No connection yet. A new set also starts a new queue, so pushes of
    /// connections dropped before are never read.
    pub fn new() -> Subscriptions {
        let (sender, pushes) = unbounded_channel();
        Subscriptions {
            sender,
            pushes,
            conns: HashMap::new(),
            channels: HashMap::new(),
            verb: "SUBSCRIBE".into(),
            leaving: HashSet::new(),
        }
    }

    /// Subscribes to exactly `channels` with `verb`, each on the node that
    /// serves it; returns once the server confirmed every new one.
    pub async fn set(&mut self, backend: &Backend, verb: &str, channels: &[String]) -> Result<()> {
        let mut wanted = HashMap::new();
        for channel in channels {
            let node = backend.node_for(channel.as_bytes()).await?;
            wanted.insert(channel.clone(), node);
        }
        let gone: Vec<(String, String)> = self
            .channels
            .iter()
            .filter(|(ch, node)| wanted.get(*ch).is_none_or(|n| n.name != **node))
            .map(|(ch, node)| (ch.clone(), node.clone()))
            .collect();
        for (channel, node) in gone {
            self.channels.remove(&channel);
            if let Some(conn) = self.conns.get_mut(&node) {
                self.leaving.insert(channel.clone());
                redis::cmd(undo(&self.verb))
                    .arg(&channel)
                    .query_async::<Value>(conn)
                    .await?;
            }
        }
        self.verb = verb.to_string();
        for (channel, node) in wanted {
            if self.channels.contains_key(&channel) {
                continue;
            }
            let conn = match self.conns.get(&node.name) {
                Some(conn) => conn.clone(),
                None => {
                    let conn = backend
                        .pubsub_connection(&node, self.sender.clone())
                        .await?;
                    self.conns.insert(node.name.clone(), conn.clone());
                    conn
                }
            };
            let mut conn = conn;
            redis::cmd(verb)
                .arg(&channel)
                .query_async::<Value>(&mut conn)
                .await?;
            self.channels.insert(channel, node.name);
        }
        Ok(())
    }

    /// What a push means.
    pub fn classify(&mut self, push: PushInfo) -> Push {
        match push.kind {
            PushKind::Message | PushKind::SMessage => {
                let mut data = push.data.into_iter();
                match (data.next(), data.next()) {
                    (Some(Value::BulkString(channel)), Some(Value::BulkString(payload))) => {
                        Push::Payload { channel, payload }
                    }
                    _ => Push::Nothing,
                }
            }
            PushKind::Unsubscribe | PushKind::SUnsubscribe => {
                let channel = push.data.into_iter().next().map(reply::string);
                match channel {
                    Some(Ok(channel)) => {
                        if self.leaving.remove(&channel) || !self.channels.contains_key(&channel) {
                            Push::Nothing
                        } else {
                            Push::Dropped
                        }
                    }
                    _ => Push::Nothing,
                }
            }
            PushKind::Disconnection => Push::Disconnected,
            _ => Push::Nothing,
        }
    }
}
