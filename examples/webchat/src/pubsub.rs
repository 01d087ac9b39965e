//! Pub/sub connections of the web server's own, for the presence channels
//! (presence.rs): one per node that serves one of the channels, all
//! feeding one queue of pushes, as the client library's listener keeps
//! them for a user's rooms.
//!
//! Each is a RESP3 connection whose pushes (messages, the server's own
//! `sunsubscribe` when a slot moves away in a reshard, a `Disconnection`
//! when the connection breaks) arrive in one queue. On one server the
//! channels are plain ones (`SUBSCRIBE`); in Redis Cluster each is a shard
//! channel in its user's slot, subscribed (`SSUBSCRIBE`) on the primary
//! that CLUSTER SLOTS says serves it, one channel per command (the server
//! refuses shard channels of different slots in one).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use redis_chat_client::redis::aio::MultiplexedConnection;
use redis_chat_client::redis::{
    self, AsyncConnectionConfig, Client, ConnectionAddr, ConnectionInfo, ProtocolVersion, PushInfo,
    PushKind, Value,
};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::chat::{int, string, Chat};

const TIMEOUT: Duration = Duration::from_secs(5);

/// What a push means to whoever reads the queue.
pub enum Push {
    /// A published payload, and the channel it came on.
    Payload { channel: String, payload: Vec<u8> },
    /// The server ended a subscription no one ended here: its slot moved.
    Dropped,
    /// A connection broke: anything published meanwhile is lost.
    Disconnected,
    /// Nothing to act on (a confirmation).
    Nothing,
}

pub struct Subscriptions {
    /// How to reach a node: the address given, with each node's host and
    /// port.
    template: ConnectionInfo,
    cluster: bool,
    /// Slot ranges and their primaries, from CLUSTER SLOTS; read again
    /// when empty.
    slots: Vec<(u16, u16, String, u16)>,
    sender: UnboundedSender<PushInfo>,
    pub pushes: UnboundedReceiver<PushInfo>,
    /// Node -> its pub/sub connection.
    conns: HashMap<String, MultiplexedConnection>,
    /// Channel -> the node it is subscribed on.
    channels: HashMap<String, String>,
    /// Channels being unsubscribed from here.
    leaving: HashSet<String>,
}

impl Subscriptions {
    /// No connection yet; `template` is the address of the one server, or
    /// of a node of the cluster.
    pub fn new(template: ConnectionInfo, cluster: bool) -> Subscriptions {
        let (sender, pushes) = unbounded_channel();
        Subscriptions {
            template,
            cluster,
            slots: Vec::new(),
            sender,
            pushes,
            conns: HashMap::new(),
            channels: HashMap::new(),
            leaving: HashSet::new(),
        }
    }

    /// Drops every connection (which ends their subscriptions) and the
    /// slots known; a new queue, so pushes of the old connections are
    /// never read.
    pub fn reset(&mut self) {
        *self = Subscriptions::new(self.template.clone(), self.cluster);
    }

    /// Subscribes to exactly `channels`, each on the node that serves it;
    /// returns, once the server confirmed each, the channels new here.
    pub async fn set(
        &mut self,
        chat: &Chat,
        channels: &BTreeSet<String>,
    ) -> Result<Vec<String>, String> {
        let (verb, undo) = if self.cluster {
            ("SSUBSCRIBE", "SUNSUBSCRIBE")
        } else {
            ("SUBSCRIBE", "UNSUBSCRIBE")
        };
        let gone: Vec<String> = (self.channels.keys())
            .filter(|c| !channels.contains(*c))
            .cloned()
            .collect();
        for channel in gone {
            let node = self.channels.remove(&channel).unwrap_or_default();
            if let Some(conn) = self.conns.get_mut(&node) {
                self.leaving.insert(channel.clone());
                let mut c = redis::cmd(undo);
                c.arg(&channel);
                c.query_async::<Value>(conn)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        let mut fresh = Vec::new();
        for channel in channels {
            if self.channels.contains_key(channel) {
                continue;
            }
            let (node, info) = self.node_for(chat, channel).await?;
            let mut conn = self.connection(&node, info).await?;
            let mut c = redis::cmd(verb);
            c.arg(channel);
            c.query_async::<Value>(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            self.channels.insert(channel.clone(), node);
            fresh.push(channel.clone());
        }
        Ok(fresh)
    }

    /// What a push means.
    pub fn classify(&mut self, push: PushInfo) -> Push {
        match push.kind {
            PushKind::Message | PushKind::SMessage => {
                let mut data = push.data.into_iter();
                match (data.next(), data.next()) {
                    (Some(Value::BulkString(channel)), Some(Value::BulkString(payload))) => {
                        match String::from_utf8(channel) {
                            Ok(channel) if self.channels.contains_key(&channel) => {
                                Push::Payload { channel, payload }
                            }
                            _ => Push::Nothing,
                        }
                    }
                    _ => Push::Nothing,
                }
            }
            PushKind::Unsubscribe | PushKind::SUnsubscribe => {
                match push.data.into_iter().next().map(string) {
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

    /// The node that serves a channel: its name and how to reach it.
    async fn node_for(
        &mut self,
        chat: &Chat,
        channel: &str,
    ) -> Result<(String, ConnectionInfo), String> {
        if !self.cluster {
            return Ok((self.template.addr().to_string(), self.template.clone()));
        }
        if self.slots.is_empty() {
            let mut c = redis::cmd("CLUSTER");
            c.arg("SLOTS");
            let reply = chat.run(&c).await.map_err(|e| e.message)?;
            self.slots = slot_ranges(reply, &self.template)?;
        }
        let slot = redis_chat_client::slot(channel.as_bytes());
        let (_, _, host, port) = (self.slots.iter())
            .find(|(start, end, _, _)| (*start..=*end).contains(&slot))
            .ok_or_else(|| format!("CLUSTER SLOTS names no node for slot {slot}"))?;
        let addr = ConnectionAddr::Tcp(host.clone(), *port);
        Ok((addr.to_string(), self.template.clone().set_addr(addr)))
    }

    /// The pub/sub connection to a node, made when missing.
    async fn connection(
        &mut self,
        node: &str,
        info: ConnectionInfo,
    ) -> Result<MultiplexedConnection, String> {
        if let Some(conn) = self.conns.get(node) {
            return Ok(conn.clone());
        }
        let resp3 = (info.redis_settings().clone()).set_protocol(ProtocolVersion::RESP3);
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_push_sender(self.sender.clone());
        let conn = Client::open(info.set_redis_settings(resp3))
            .map_err(|e| e.to_string())?
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| e.to_string())?;
        self.conns.insert(node.to_string(), conn.clone());
        Ok(conn)
    }
}

/// CLUSTER SLOTS as (first slot, last slot, host, port) of each range's
/// primary; a primary with no host given is on the first node's host.
fn slot_ranges(
    reply: Value,
    template: &ConnectionInfo,
) -> Result<Vec<(u16, u16, String, u16)>, String> {
    let fallback = match template.addr() {
        ConnectionAddr::Tcp(host, _) | ConnectionAddr::TcpTls { host, .. } => host.clone(),
        _ => "127.0.0.1".to_string(),
    };
    let bad = || "an unexpected CLUSTER SLOTS reply".to_string();
    let number = |v: Value| {
        int(v)
            .ok()
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(bad)
    };
    let Value::Array(ranges) = reply else {
        return Err(bad());
    };
    let mut out = Vec::new();
    for range in ranges {
        let Value::Array(fields) = range else {
            return Err(bad());
        };
        let mut fields = fields.into_iter();
        let (Some(start), Some(end), Some(Value::Array(primary))) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(bad());
        };
        let mut primary = primary.into_iter();
        let (Some(host), Some(port)) = (primary.next(), primary.next()) else {
            return Err(bad());
        };
        let host = string(host).map_err(|e| e.message)?;
        let host = if host.is_empty() || host == "?" {
            fallback.clone()
        } else {
            host
        };
        out.push((number(start)?, number(end)?, host, number(port)?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis_chat_client::redis::IntoConnectionInfo;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn slot_ranges_and_their_primaries() {
        let template = "redis://127.0.0.1:7001/".into_connection_info().unwrap();
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                Value::Array(vec![bulk("10.0.0.1"), Value::Int(7001), bulk("id1")]),
                Value::Array(vec![bulk("10.0.0.4"), Value::Int(7004), bulk("id4")]),
            ]),
            Value::Array(vec![
                Value::Int(5461),
                Value::Int(16383),
                Value::Array(vec![bulk(""), Value::Int(7002)]),
            ]),
        ]);
        let ranges = slot_ranges(reply, &template).unwrap();
        assert_eq!(
            ranges,
            [
                (0, 5460, "10.0.0.1".to_string(), 7001),
                (5461, 16383, "127.0.0.1".to_string(), 7002)
            ]
        );
        assert!(slot_ranges(Value::Int(1), &template).is_err());
        assert!(slot_ranges(Value::Array(vec![Value::Array(vec![])]), &template).is_err());
    }
}
