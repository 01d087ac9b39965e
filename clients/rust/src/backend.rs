//! One server or a cluster, behind the same calls.
//!
//! Commands go through a connection that finds the right node by itself:
//! a [`ConnectionManager`] on one server (it reconnects after a failure),
//! a cluster [`ClusterConnection`] in a cluster (it follows `MOVED` and
//! `ASK` and refreshes its view of the slots). Each CHAT.* command declares
//! its first argument as its key, so cluster routing needs nothing else.
//!
//! Two things need a connection to one particular node, which the library
//! keeps itself: a send followed by `WAIT` (both on one connection, to the
//! primary of the room's slot), and pub/sub (a shard channel is served by
//! the node of its slot). [`Backend::node_for`] finds that node from the
//! slots `CLUSTER SLOTS` reports, kept until a redirect says they changed.

use std::collections::HashMap;
use std::sync::Mutex;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{
    AsyncConnectionConfig, Client, Cmd, ConnectionAddr, ConnectionInfo, IntoConnectionInfo,
    ProtocolVersion, PushInfo, Value,
};
use tokio::sync::mpsc::UnboundedSender;

use crate::error::{is_transient, Error, Result};
use crate::reply;
use crate::settings::Settings;
use crate::slot::slot;

/// Where commands go.
#[derive(Clone)]
enum Commands {
    Standalone(ConnectionManager),
    Cluster(ClusterConnection),
}

/// A server, named `host:port` (or a socket path), with how to reach it.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub name: String,
    info: ConnectionInfo,
}

/// A range of slots and the primary that serves it.
struct Range {
    start: u16,
    end: u16,
    host: String,
    port: u16,
}

pub(crate) struct Backend {
    commands: Commands,
    /// How to reach a node: the first address given, whose credentials and
    /// settings every node connection reuses with its own host and port.
    template: ConnectionInfo,
    /// The primaries of the slots, as CLUSTER SLOTS last said; empty until
    /// first needed, and after a redirect.
    slots: Mutex<Vec<Range>>,
    /// One connection per node for sends.
    nodes: Mutex<HashMap<String, MultiplexedConnection>>,
    pub settings: Settings,
}

impl Backend {
    /// One server, at a `redis://` URL.
    pub async fn standalone(url: &str, settings: Settings) -> Result<Backend> {
        let template = url.into_connection_info()?;
        let client = Client::open(template.clone())?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(settings.response_timeout))
            .set_connection_timeout(Some(settings.connection_timeout))
            .set_number_of_retries(2);
        let manager = ConnectionManager::new_with_config(client, config).await?;
        Ok(Backend::new(
            Commands::Standalone(manager),
            template,
            settings,
        ))
    }

    /// A cluster, from the URLs (or `host:port`s) of some of its nodes.
    pub async fn cluster(nodes: &[String], settings: Settings) -> Result<Backend> {
        let urls: Vec<String> = nodes.iter().map(|n| as_url(n)).collect();
        let Some(first) = urls.first() else {
            return Err(Error::Usage("a cluster needs at least one node".into()));
        };
        let template = first.as_str().into_connection_info()?;
        let client = ClusterClientBuilder::new(urls.clone())
            .connection_timeout(settings.connection_timeout)
            .response_timeout(settings.response_timeout)
            .build()?;
        let conn = client.get_async_connection().await?;
        Ok(Backend::new(Commands::Cluster(conn), template, settings))
    }

    fn new(commands: Commands, template: ConnectionInfo, settings: Settings) -> Backend {
        Backend {
            commands,
            template,
            slots: Mutex::new(Vec::new()),
            nodes: Mutex::new(HashMap::new()),
            settings,
        }
    }

    /// Whether listing ages go in seconds (an older module).
    pub fn is_cluster(&self) -> bool {
        matches!(self.commands, Commands::Cluster(_))
    }

    /// Runs a command once.
    pub async fn once(&self, cmd: &Cmd) -> Result<Value> {
        Ok(self.raw(cmd).await?)
    }

    async fn raw(&self, cmd: &Cmd) -> redis::RedisResult<Value> {
        match self.commands.clone() {
            Commands::Standalone(mut c) => cmd.query_async(&mut c).await,
            Commands::Cluster(mut c) => cmd.query_async(&mut c).await,
        }
    }

    /// Runs a command that may run twice (a read, or an idempotent step),
    /// again after each transient failure, up to `settings.attempts` times.
    pub async fn call(&self, cmd: &Cmd) -> Result<Value> {
        let mut attempt = 1;
        loop {
            match self.raw(cmd).await {
                Ok(v) => return Ok(v),
                Err(e) if is_transient(&e) && attempt < self.settings.attempts => {
                    attempt += 1;
                    self.settings.before(attempt).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    // -- nodes ---------------------------------------------------------------

    /// The primary that serves `name` (a key or a shard channel): the one
    /// server, or the node of its slot in a cluster.
    pub async fn node_for(&self, name: &[u8]) -> Result<Node> {
        if !self.is_cluster() {
            return Ok(Node {
                name: self.template.addr().to_string(),
                info: self.template.clone(),
            });
        }
        let slot = slot(name);
        if let Some(node) = self.cached_owner(slot) {
            return Ok(node);
        }
        self.refresh_slots().await?;
        self.cached_owner(slot)
            .ok_or_else(|| Error::Reply(format!("CLUSTER SLOTS names no node for slot {slot}")))
    }

    fn cached_owner(&self, slot: u16) -> Option<Node> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots
            .iter()
            .find(|r| (r.start..=r.end).contains(&slot))
            .map(|r| self.node(&r.host, r.port))
    }

    /// A node by host and port, as a redirect names it.
    pub fn node(&self, host: &str, port: u16) -> Node {
        let addr = ConnectionAddr::Tcp(host.to_string(), port);
        Node {
            name: addr.to_string(),
            info: self.template.clone().set_addr(addr),
        }
    }

    /// Forgets the slots: the next [`node_for`](Self::node_for) asks again.
    pub fn slots_changed(&self) {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    async fn refresh_slots(&self) -> Result<()> {
        let reply = self.call(redis::cmd("CLUSTER").arg("SLOTS")).await?;
        let ranges = parse_slots(reply, &self.template)?;
        *self.slots.lock().unwrap_or_else(|e| e.into_inner()) = ranges;
        Ok(())
    }

    /// The kept connection to `node` for sends, made when missing.
    pub async fn node_connection(&self, node: &Node) -> Result<MultiplexedConnection> {
        let kept = self
            .nodes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&node.name)
            .cloned();
        if let Some(conn) = kept {
            return Ok(conn);
        }
        let conn = self.dedicated_connection(node).await?;
        self.nodes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(node.name.clone(), conn.clone());
        Ok(conn)
    }

    /// A new connection to `node`, for the caller alone: a `WAIT` on it
    /// blocks nobody else, and counts the caller's writes only.
    pub async fn dedicated_connection(&self, node: &Node) -> Result<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.settings.connection_timeout))
            .set_response_timeout(Some(
                self.settings.response_timeout + self.settings.wait_timeout,
            ));
        Ok(Client::open(node.info.clone())?
            .get_multiplexed_async_connection_with_config(&config)
            .await?)
    }

    /// Drops the kept connection to `node` (it broke).
    pub fn forget_connection(&self, node: &Node) {
        self.nodes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&node.name);
    }

    /// A new RESP3 connection to `node` whose pushes (messages, and a
    /// `Disconnection` when it breaks) go to `pushes`.
    pub async fn pubsub_connection(
        &self,
        node: &Node,
        pushes: UnboundedSender<PushInfo>,
    ) -> Result<MultiplexedConnection> {
        let redis = node
            .info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let info = node.info.clone().set_redis_settings(redis);
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.settings.connection_timeout))
            .set_response_timeout(Some(self.settings.response_timeout))
            .set_push_sender(pushes);
        Ok(Client::open(info)?
            .get_multiplexed_async_connection_with_config(&config)
            .await?)
    }
}

/// `host:port` as a URL; a URL as it is.
fn as_url(node: &str) -> String {
    if node.contains("://") {
        node.to_string()
    } else {
        format!("redis://{node}/")
    }
}

/// The slot ranges of a CLUSTER SLOTS reply, with their primaries. A
/// primary without a known address (an empty host) is taken to be on the
/// host of the first node given.
fn parse_slots(reply: Value, template: &ConnectionInfo) -> Result<Vec<Range>> {
    let fallback_host = match template.addr() {
        ConnectionAddr::Tcp(host, _) | ConnectionAddr::TcpTls { host, .. } => host.clone(),
        _ => "127.0.0.1".to_string(),
    };
    let Value::Array(ranges) = reply else {
        return Err(Error::reply("the CLUSTER SLOTS array", &reply));
    };
    let mut out = Vec::new();
    for range in ranges {
        let Value::Array(fields) = range else {
            return Err(Error::reply("a slot range", &range));
        };
        let mut fields = fields.into_iter();
        let (Some(start), Some(end), Some(Value::Array(primary))) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(Error::Reply("a slot range without its primary".into()));
        };
        let mut primary = primary.into_iter();
        let (Some(host), Some(port)) = (primary.next(), primary.next()) else {
            return Err(Error::Reply("a primary without host and port".into()));
        };
        let host = reply::string(host)?;
        let as_slot = |v: Value| -> Result<u16> {
            u16::try_from(reply::int(v)?).map_err(|_| Error::Reply("a slot out of range".into()))
        };
        out.push(Range {
            start: as_slot(start)?,
            end: as_slot(end)?,
            host: if host.is_empty() || host == "?" {
                fallback_host.clone()
            } else {
                host
            },
            port: as_slot(port)?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn slot_ranges() {
        let template = "redis://127.0.0.1:7001/".into_connection_info().unwrap();
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                Value::Array(vec![bulk("127.0.0.1"), Value::Int(7001), bulk("id1")]),
                Value::Array(vec![bulk("127.0.0.1"), Value::Int(7004), bulk("id4")]),
            ]),
            Value::Array(vec![
                Value::Int(5461),
                Value::Int(16383),
                Value::Array(vec![bulk(""), Value::Int(7002)]),
            ]),
        ]);
        let ranges = parse_slots(reply, &template).unwrap();
        assert_eq!(ranges.len(), 2);
        assert_eq!(
            (ranges[0].start, ranges[0].end, ranges[0].port),
            (0, 5460, 7001)
        );
        assert_eq!(
            (ranges[1].host.as_str(), ranges[1].port),
            ("127.0.0.1", 7002)
        );
        assert!(parse_slots(Value::Int(1), &template).is_err());
        assert!(parse_slots(Value::Array(vec![Value::Array(vec![])]), &template).is_err());
    }

    #[test]
    fn node_addresses() {
        assert_eq!(as_url("127.0.0.1:7001"), "redis://127.0.0.1:7001/");
        assert_eq!(as_url("redis://h:1/"), "redis://h:1/");
    }
}
