//! Redis Cluster: `scripts/cluster` starts three primaries with the module,
//! and a real cluster client drives them.
//!
//! `tenants`: tenants whose ids share a hash tag, each in one slot;
//! `spread`: one app whose rooms and users spread over every node, each
//! command touching one slot, with the steps that join, leave and make
//! direct rooms across slots; `reshard`: a room moves between nodes while
//! it receives sends.

#[path = "../common/mod.rs"]
mod common;

mod failover;
mod reshard;
mod scale;
mod spread;
mod tenants;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use chat_core::channels::slot;
use common::*;
use redis::cluster::{ClusterClient, ClusterConnection};
use redis::Value;

/// The cluster started by `scripts/cluster`, stopped when dropped.
struct Cluster {
    /// The primaries' ports, as created.
    ports: [u16; 3],
    /// Each primary's replicas follow, on the ports after them.
    replicas: u16,
    dir: PathBuf,
}

impl Cluster {
    /// Three primaries, no replicas.
    fn start() -> Cluster {
        Cluster::with_replicas(0)
    }

    fn with_replicas(replicas: u16) -> Cluster {
        let base = free_port_block(3 * (replicas + 1));
        let dir =
            std::env::temp_dir().join(format!("redis-chat-cluster-{}-{base}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cluster = Cluster {
            ports: [base, base + 1, base + 2],
            replicas,
            dir,
        };
        let out = cluster.script("start");
        assert!(
            out.status.success(),
            "scripts/cluster failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster
    }

    fn script(&self, action: &str) -> std::process::Output {
        Command::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/cluster"))
            .arg(action)
            .env("PORT", self.ports[0].to_string())
            .env("REPLICAS", self.replicas.to_string())
            .env("CLUSTER_DIR", &self.dir)
            .env("CHAT_MODULE", module_path())
            .output()
            .expect("run scripts/cluster")
    }

    fn client(&self) -> ClusterConnection {
        let nodes: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}/"))
            .collect();
        ClusterClient::new(nodes).unwrap().get_connection().unwrap()
    }

    /// A plain connection to the node that owns `slot`.
    fn node_for(&self, slot: u16) -> (u16, redis::Connection) {
        let port = slot_owner(&self.ports, slot).unwrap_or_else(|| panic!("no node owns {slot}"));
        (port, self.node(port))
    }

    /// `redis-cli --cluster reshard` of `slots` slots from the primary on
    /// `source` to the one on `target`, with `options` added.
    fn reshard(&self, source: u16, target: u16, slots: u16, options: &[&str]) {
        let (from, to, slots) = (
            node_id(self, source),
            node_id(self, target),
            slots.to_string(),
        );
        let out = Command::new(cli_program())
            .args(["--cluster", "reshard", &format!("127.0.0.1:{source}")])
            .args([
                "--cluster-from",
                &from,
                "--cluster-to",
                &to,
                "--cluster-slots",
                &slots,
            ])
            .args(options)
            .arg("--cluster-yes")
            .output()
            .expect("redis-cli --cluster reshard");
        assert!(
            out.status.success(),
            "reshard failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Every node's port: the primaries', then their replicas'.
    fn every_port(&self) -> Vec<u16> {
        (self.ports[0]..self.ports[0] + 3 * (self.replicas + 1)).collect()
    }

    /// `CONFIG SET` of each pair on every node, replicas included: one of
    /// them may become a primary and write.
    fn config_everywhere(&self, pairs: &[(&str, &str)]) {
        for port in self.every_port() {
            let mut con = self.node(port);
            for (config, value) in pairs {
                q(&mut con, &["CONFIG", "SET", config, value]);
            }
        }
    }

    fn node(&self, port: u16) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .unwrap()
            .get_connection()
            .unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.script("stop");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Joins `user` to `room` in the documented steps (docs/deployment.md):
/// the user's list, the room, the list again (which finds the room listed).
/// Returns the reply of CHAT.SUBSCRIBE: where to listen.
fn join_in_steps(con: &mut ClusterConnection, room: &str, user: &str) -> Vec<String> {
    q(con, &["CHAT.LIST-ROOM", user, room]);
    let how = strings(&q(con, &["CHAT.SUBSCRIBE", room, user]));
    assert_eq!(int(&q(con, &["CHAT.LIST-ROOM", user, room])), 0);
    how
}

/// The port of the primary that owns `slot`, as the first of `ports` that
/// answers says (`CLUSTER SLOTS`); `None` if none answers.
fn slot_owner(ports: &[u16], slot: u16) -> Option<u16> {
    ports.iter().find_map(|&port| {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).ok()?;
        let mut con = client
            .get_connection_with_timeout(Duration::from_millis(300))
            .ok()?;
        let Ok(Value::Array(ranges)) = try_q(&mut con, &["CLUSTER", "SLOTS"]) else {
            return None;
        };
        ranges.iter().find_map(|range| {
            let Value::Array(r) = range else { return None };
            let Value::Array(node) = r.get(2)? else {
                return None;
            };
            (int(&r[0])..=int(&r[1]))
                .contains(&i64::from(slot))
                .then(|| int(&node[1]) as u16)
        })
    })
}

/// A slot moved by hand, key by key, from the node that owns it to
/// another one, as `redis-cli --cluster reshard` does: between `start` and
/// `finish` the slot is migrating on one node and importing on the other.
struct Migration {
    slot: String,
    from: redis::Connection,
    to: redis::Connection,
    source_id: String,
    target_id: String,
    target_port: String,
}

impl Migration {
    /// Starts moving the slot of `tag` to another primary.
    fn start(cluster: &Cluster, tag: &str) -> Migration {
        let (source, from) = cluster.node_for(slot(tag.as_bytes()));
        let target = *cluster.ports.iter().find(|&&p| p != source).unwrap();
        let mut migration = Migration {
            slot: slot(tag.as_bytes()).to_string(),
            from,
            to: cluster.node(target),
            source_id: node_id(cluster, source),
            target_id: node_id(cluster, target),
            target_port: target.to_string(),
        };
        migration.mark();
        migration
    }

    /// The slot importing on the target and migrating on the source.
    fn mark(&mut self) {
        let s = &self.slot;
        q(
            &mut self.to,
            &["CLUSTER", "SETSLOT", s, "IMPORTING", &self.source_id],
        );
        q(
            &mut self.from,
            &["CLUSTER", "SETSLOT", s, "MIGRATING", &self.target_id],
        );
    }

    /// The move called off: the slot stays the source's.
    fn cancel(&mut self) {
        for node in [&mut self.from, &mut self.to] {
            q(node, &["CLUSTER", "SETSLOT", &self.slot, "STABLE"]);
        }
    }

    fn migrate(&mut self, key: &str) {
        let port = &self.target_port;
        q(
            &mut self.from,
            &["MIGRATE", "127.0.0.1", port, key, "0", "5000"],
        );
    }

    /// The slot is the target's on both nodes. Keys the test did not move
    /// itself (the notification stream a send made in the slot) go first:
    /// a node refuses to give away a slot it still holds keys of.
    fn finish(&mut self) {
        let left = q(
            &mut self.from,
            &["CLUSTER", "GETKEYSINSLOT", &self.slot, "1000"],
        );
        for key in strings(&left) {
            self.migrate(&key);
        }
        for node in [&mut self.to, &mut self.from] {
            q(
                node,
                &["CLUSTER", "SETSLOT", &self.slot, "NODE", &self.target_id],
            );
        }
    }
}

/// `n` consecutive free ports whose cluster bus ports (+10000) are free
/// too. Tests run in parallel: each call starts past the blocks handed out
/// before, so two clusters never pick the same ports.
fn free_port_block(n: u16) -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let free = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
    let offset = NEXT.fetch_add(60, Ordering::SeqCst);
    let start = 20000 + (std::process::id() % 9000) as u16 + offset;
    (start..29990 - n)
        .step_by(usize::from(n))
        .find(|&p| (p..p + n).all(|q| free(q) && free(q + 10000)))
        .expect("free ports")
}

/// Listens with SSUBSCRIBE on `channel`, connected to the node that owns it.
fn sharded_listener(cluster: &Cluster, channel: &str) -> mpsc::Receiver<String> {
    let (_, mut con) = cluster.node_for(slot(channel.as_bytes()));
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready) = mpsc::channel();
    let channel = channel.to_string();
    thread::spawn(move || {
        con.send_packed_command(&redis::cmd("SSUBSCRIBE").arg(&channel).get_packed_command())
            .unwrap();
        let _confirmation = con.recv_response().unwrap();
        ready_tx.send(()).unwrap();
        while let Ok(Value::Array(msg)) = con.recv_response() {
            if let [kind, _, Value::BulkString(payload)] = &msg[..] {
                if text(kind) == "smessage"
                    && tx
                        .send(String::from_utf8_lossy(payload).into_owned())
                        .is_err()
                {
                    break;
                }
            }
        }
    });
    ready.recv_timeout(Duration::from_secs(5)).unwrap();
    rx
}

/// The node id of the server on `port` (CLUSTER MYID).
fn node_id(cluster: &Cluster, port: u16) -> String {
    text(&q(&mut cluster.node(port), &["CLUSTER", "MYID"]))
}

/// INFO chat field `name`, as an integer, on the server on `port`.
fn chat_stat(cluster: &Cluster, port: u16, name: &str) -> i64 {
    info_int(&mut cluster.node(port), "chat", name)
}
