//! Redis Cluster (3 primaries, started by `scripts/cluster`): presence on
//! each user's sharded presence channel, on the node of the user's slot;
//! one notification stream per slot, on the node of the room's slot.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};

use chat_core::channels::slot;
use redis::cluster::{ClusterClient, ClusterConnection};
use redis::Value;

use crate::common::*;
use crate::{
    counted, notices, offline, offline_within, online, pairs_of, presence_of, send, Counted, Ear,
};

/// Three primaries on consecutive ports, stopped when dropped.
struct Cluster {
    ports: [u16; 3],
    dir: PathBuf,
    /// (first slot, last slot, port), from CLUSTER SLOTS once started.
    ranges: Vec<(u16, u16, u16)>,
}

impl Cluster {
    fn start() -> Cluster {
        let base = free_port_block(3);
        let dir = std::env::temp_dir().join(format!(
            "redis-chat-events-cluster-{}-{base}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let mut cluster = Cluster {
            ports: [base, base + 1, base + 2],
            dir,
            ranges: Vec::new(),
        };
        let out = cluster.script("start");
        assert!(
            out.status.success(),
            "scripts/cluster failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let Value::Array(ranges) = q(&mut cluster.node(base), &["CLUSTER", "SLOTS"]) else {
            panic!("CLUSTER SLOTS");
        };
        for range in ranges {
            let Value::Array(r) = range else { continue };
            let Value::Array(node) = &r[2] else { continue };
            let port = int(&node[1]) as u16;
            cluster
                .ranges
                .push((int(&r[0]) as u16, int(&r[1]) as u16, port));
        }
        cluster
    }

    fn script(&self, action: &str) -> std::process::Output {
        Command::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/cluster"))
            .arg(action)
            .env("PORT", self.ports[0].to_string())
            .env("REPLICAS", "0")
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

    fn node(&self, port: u16) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// The port of the primary that owns the slot of `key`.
    fn owner(&self, key: &str) -> u16 {
        let s = slot(key.as_bytes());
        self.ranges
            .iter()
            .find(|(first, last, _)| (*first..=*last).contains(&s))
            .map(|r| r.2)
            .unwrap_or_else(|| panic!("nobody owns slot {s}"))
    }

    /// `format!("{prefix}{n}")` for the first n that lands on each port.
    fn ids_on(&self, prefix: &str, ports: &[u16]) -> Vec<String> {
        ports
            .iter()
            .map(|&port| {
                (0..10_000)
                    .map(|n| format!("{prefix}{n}"))
                    .find(|id| self.owner(id) == port)
                    .expect("an id on every node")
            })
            .collect()
    }

    /// A subscriber to `user`'s presence channel (SSUBSCRIBE), on the node
    /// of the channel's slot.
    fn presence_ear(&self, user: &str) -> Ear {
        let channel = presence_of(user);
        Ear::start(self.owner(&channel), &channel, true)
    }

    /// The notification streams on the node on `port`, by SCAN.
    fn streams_on(&self, port: u16) -> Vec<String> {
        let mut node = self.node(port);
        let args = [
            "SCAN",
            "0",
            "MATCH",
            "chat:notify*",
            "TYPE",
            "stream",
            "COUNT",
            "1000",
        ];
        let Value::Array(reply) = q(&mut node, &args) else {
            panic!("SCAN");
        };
        assert_eq!(text(&reply[0]), "0", "one SCAN call covers a small node");
        let mut keys = strings(&reply[1]);
        keys.sort();
        keys
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.script("stop");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `n` consecutive free ports whose cluster bus ports (+10000) are free
/// too; each call starts past the blocks handed out before.
fn free_port_block(n: u16) -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let free = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
    let offset = NEXT.fetch_add(40, Ordering::SeqCst);
    let start = 21000 + (std::process::id() % 8000) as u16 + offset;
    (start..29990 - n)
        .step_by(usize::from(n))
        .find(|&p| (p..p + n).all(|q| free(q) && free(q + 10000)))
        .expect("free ports")
}

/// When `user`'s presence ends, from CHAT.DUMP through the cluster.
fn until_of(con: &mut ClusterConnection, user: &str) -> i64 {
    let doc: serde_json::Value =
        serde_json::from_str(&text(&q(con, &["CHAT.DUMP", user]))).unwrap();
    doc["online_until"].as_i64().unwrap_or(0)
}

#[test]
fn presence_events_go_to_each_users_shard_channel() {
    let cluster = Cluster::start();
    let mut con = cluster.client();
    let users = cluster.ids_on("user", &cluster.ports);
    for u in &users {
        q(&mut con, &["CHAT.REGISTER", u, "U"]);
        let profile = q(&mut con, &["CHAT.PROFILE", u]);
        assert_eq!(text(&field(&profile, "presence_channel")), presence_of(u));
    }
    let mut ears: Vec<Ear> = users.iter().map(|u| cluster.presence_ear(u)).collect();
    // Each on its own node.
    let mut nodes: Vec<u16> = users.iter().map(|u| cluster.owner(u)).collect();
    nodes.sort();
    assert_eq!(nodes, cluster.ports);

    q(&mut con, &["CHAT.ONLINE", &users[0], "TTL", "30"]);
    let until = until_of(&mut con, &users[0]);
    ears[0].heard_exactly(&[online(&users[0], until)], "online");
    q(&mut con, &["CHAT.ONLINE", &users[0], "TTL", "30"]);
    ears[0].quiet("a heartbeat");
    q(&mut con, &["CHAT.OFFLINE", &users[0]]);
    ears[0].heard_exactly(&[offline(&users[0])], "offline");

    // Expiries, on the other two nodes (one of them by a device).
    q(&mut con, &["CHAT.ONLINE", &users[1], "TTL", "1"]);
    q(
        &mut con,
        &["CHAT.ONLINE", &users[2], "TTL", "1", "DEVICE", "phone"],
    );
    let ends: Vec<i64> = users[1..].iter().map(|u| until_of(&mut con, u)).collect();
    for (i, end) in [(1, ends[0]), (2, ends[1])] {
        ears[i].heard_exactly(&[online(&users[i], end)], "online");
    }
    offline_within(&mut ears[1], &users[1], ends[0], 2000);
    offline_within(&mut ears[2], &users[2], ends[1], 2000);
    ears[0].quiet("the others' changes");
}

#[test]
fn each_rooms_notifications_are_in_a_stream_of_its_slot() {
    let cluster = Cluster::start();
    let mut con = cluster.client();
    // Two tenants on two nodes; the third node holds no room.
    let tags = cluster.ids_on("t", &cluster.ports[..2]);
    let mut streams = Vec::new();
    for tag in &tags {
        let (room, alice, bob) = (
            format!("{{{tag}}}room"),
            format!("{{{tag}}}alice"),
            format!("{{{tag}}}bob"),
        );
        q(&mut con, &["CHAT.CREATE", &room, "Room"]);
        for u in [&alice, &bob] {
            q(&mut con, &["CHAT.REGISTER", u, "U"]);
            q(&mut con, &["CHAT.SUBSCRIBE", &room, u]);
        }
        assert_eq!(
            text(&field(&q(&mut con, &["CHAT.INFO", &room]), "mode")),
            "fanout"
        );
        let id = send(&mut con, &room, &alice, "hi", &[&bob]);

        let port = cluster.owner(&room);
        let found = cluster.streams_on(port);
        assert_eq!(found.len(), 1, "on {port}: {found:?}");
        let key = found[0].clone();
        assert!(key.starts_with("chat:notify:{"), "{key}");
        let mut node = cluster.node(port);
        let key_slot = int(&q(&mut node, &["CLUSTER", "KEYSLOT", &key]));
        let room_slot = int(&q(&mut node, &["CLUSTER", "KEYSLOT", &room]));
        assert_eq!(key_slot, room_slot, "{key} for {room}");
        let got = notices(&mut node, &key);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            (got[0].room.as_str(), got[0].id, got[0].sender.as_str()),
            (room.as_str(), id, alice.as_str())
        );
        assert_eq!(got[0].to, pairs_of(&[(bob.as_str(), "mention")]));
        streams.push((port, key));
    }
    assert_eq!(cluster.streams_on(cluster.ports[2]), Vec::<String>::new());

    // A broadcast room of the first tenant's slot with a member of another
    // slot: one entry, in the same stream, naming the members of its slot
    // it mentions, in the order of the mentions.
    let tag = &tags[0];
    let [big, alice, bob, carol] =
        ["big", "alice", "bob", "carol"].map(|name| format!("{{{tag}}}{name}"));
    let other = &cluster.ids_on("far", &cluster.ports[1..2])[0];
    for u in [&carol, other] {
        q(&mut con, &["CHAT.REGISTER", u, "U"]);
    }
    q(&mut con, &["CHAT.CREATE", &big, "Big"]);
    for u in [&alice, &bob, &carol, other] {
        q(&mut con, &["CHAT.LIST-ROOM", u, &big]);
        q(&mut con, &["CHAT.SUBSCRIBE", &big, u]);
    }
    assert_eq!(
        text(&field(&q(&mut con, &["CHAT.INFO", &big]), "mode")),
        "broadcast"
    );
    let id = send(&mut con, &big, &alice, "you three", &[&carol, other, &bob]);
    let (port, key) = &streams[0];
    assert_eq!(cluster.streams_on(*port), std::slice::from_ref(key));
    let mut node = cluster.node(*port);
    let got = notices(&mut node, key);
    assert_eq!(got.len(), 2);
    assert_eq!((got[1].room.as_str(), got[1].id), (big.as_str(), id));
    assert_eq!(
        got[1].to,
        pairs_of(&[(carol.as_str(), "mention"), (bob.as_str(), "mention")])
    );
    // Each node counts what it recorded: this one two entries, three
    // members notified.
    assert_eq!(
        counted(&mut node),
        Counted {
            notifications: 3,
            entries: 2,
            failures: 0
        }
    );
    // Nothing anywhere else: the far member's node has its tenant's stream
    // only, unchanged.
    let (far_port, far_key) = &streams[1];
    assert_eq!(cluster.owner(other), *far_port);
    assert_eq!(cluster.streams_on(*far_port), std::slice::from_ref(far_key));
    let mut far = cluster.node(*far_port);
    assert_eq!(notices(&mut far, far_key).len(), 1);
    assert_eq!(counted(&mut far).entries, 1);
    let mut third = cluster.node(cluster.ports[2]);
    assert_eq!(counted(&mut third).entries, 0);
}
