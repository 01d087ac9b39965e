//! Redis Cluster: `scripts/cluster` starts three primaries with the module;
//! a real cluster client drives two tenants whose data lives on different
//! nodes, and a command that would span slots is refused.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use chat_core::channels::slot;
use common::*;
use redis::cluster::{ClusterClient, ClusterConnection};
use redis::Value;
use serde_json::json;

/// The cluster started by `scripts/cluster`, stopped when dropped.
struct Cluster {
    ports: [u16; 3],
    dir: PathBuf,
}

impl Cluster {
    fn start() -> Cluster {
        let base = free_port_block();
        let dir =
            std::env::temp_dir().join(format!("redis-chat-cluster-{}-{base}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cluster = Cluster {
            ports: [base, base + 1, base + 2],
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
        let mut any = self.node(self.ports[0]);
        let Value::Array(ranges) = q(&mut any, &["CLUSTER", "SLOTS"]) else {
            panic!()
        };
        for range in ranges {
            let Value::Array(r) = range else { continue };
            let (from, to) = (int(&r[0]), int(&r[1]));
            if (from..=to).contains(&i64::from(slot)) {
                let Value::Array(node) = &r[2] else { continue };
                let port = int(&node[1]) as u16;
                return (port, self.node(port));
            }
        }
        panic!("no node owns slot {slot}");
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

/// Three consecutive free ports whose cluster bus ports (+10000) are free
/// too. Tests run in parallel: each call starts past the blocks handed out
/// before, so two clusters never pick the same ports.
fn free_port_block() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let free = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
    let offset = NEXT.fetch_add(30, Ordering::SeqCst);
    let start = 20000 + (std::process::id() % 9000) as u16 + offset;
    (start..29990)
        .step_by(3)
        .find(|&p| (p..p + 3).all(|q| free(q) && free(q + 10000)))
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

#[test]
fn two_tenants_on_different_nodes_through_a_cluster_client() {
    let cluster = Cluster::start();
    let mut con = cluster.client();

    // The slot function of the module agrees with the server's.
    let mut node = cluster.node(cluster.ports[0]);
    for key in [
        "acme",
        "{acme}general",
        "chat:user:{acme}{bob}:push",
        "bob",
        "chat:room:{general}:push",
        "room:general",
    ] {
        assert_eq!(
            int(&q(&mut node, &["CLUSTER", "KEYSLOT", key])),
            i64::from(slot(key.as_bytes())),
            "{key}"
        );
    }

    // Two tenants whose tags live on different nodes.
    let candidates = [
        "acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell",
    ];
    let owner = |tag: &str| cluster.node_for(slot(tag.as_bytes())).0;
    let first = candidates[0];
    let second = *candidates
        .iter()
        .find(|t| owner(t) != owner(first))
        .expect("two nodes");
    for tag in [first, second] {
        conversation(&cluster, &mut con, tag);
    }

    // Each tenant's keys are on its own node only.
    let (port, mut home) = cluster.node_for(slot(first.as_bytes()));
    // A room and a user are one key each, named by the id.
    let keys = strings(&q(&mut home, &["KEYS", "*"]));
    assert!(keys.contains(&format!("{{{first}}}general")), "{keys:?}");
    assert!(
        keys.iter().all(|k| k.starts_with(&format!("{{{first}}}"))),
        "node {port} holds {keys:?}"
    );

    // Joining a member of another tenant would span two slots: refused, and
    // nothing is written on either node.
    let room = format!("{{{first}}}general");
    let stranger = format!("{{{second}}}alice");
    let members_before = q(&mut con, &["CHAT.MEMBERS", &room]);
    let e = try_q(&mut con, &["CHAT.SUBSCRIBE", &room, &stranger]).unwrap_err();
    assert_eq!(e.code(), Some("CROSSSLOT"), "{e}");
    let e = try_q(&mut con, &["CHAT.SEND", &room, &stranger, "hi"]).unwrap_err();
    assert_eq!(e.code(), Some("CROSSSLOT"), "{e}");
    assert_eq!(q(&mut con, &["CHAT.MEMBERS", &room]), members_before);
    assert!(!strings(&q(&mut con, &["CHAT.ROOMS", &stranger])).contains(&room));

    // A member in another slot that got into the room some other way (data
    // moved from a standalone server, say) stops a send before any write.
    // Such a room is made on a standalone server and restored here.
    let standalone = Server::start();
    let mut solo = standalone.conn();
    let alice = format!("{{{first}}}alice");
    room_with(&mut solo, &room, &[&alice, "outsider"]);
    let payload = bytes(&mut solo, &["DUMP", &room]);
    restore(&mut home, &room, &payload, true).unwrap();
    let before = text(&q(&mut home, &["DEBUG", "DIGEST"]));
    let e = try_q(
        &mut con,
        &["CHAT.SEND", &room, &format!("{{{first}}}alice"), "hi"],
    )
    .unwrap_err();
    assert_eq!(e.code(), Some("CROSSSLOT"), "{e}");
    assert!(e.to_string().contains("member 'outsider'"), "{e}");
    assert_eq!(text(&q(&mut home, &["DEBUG", "DIGEST"])), before);
}

#[test]
fn direct_rooms_live_in_their_users_slot() {
    let cluster = Cluster::start();
    let mut con = cluster.client();
    // `acme` and `{acme}bob` share a slot by name: their room is there too.
    q(&mut con, &["CHAT.REGISTER", "acme", "Acme"]);
    q(&mut con, &["CHAT.REGISTER", "{acme}bob", "Bob"]);
    let room = text(&q(&mut con, &["CHAT.DM", "{acme}bob", "acme"]));
    assert!(room.starts_with("{acme}dm:"), "{room}");
    assert_eq!(int(&q(&mut con, &["CHAT.SEND", &room, "acme", "hi"])), 1);
    let (_, mut home) = cluster.node_for(slot(b"acme"));
    let keys = strings(&q(&mut home, &["KEYS", "*"]));
    assert!(keys.contains(&room), "{keys:?}");

    // Two untagged users whose slots meet by chance: their room could not
    // be in that slot, so the command is refused and writes nothing.
    let target = slot(b"u0");
    let other = (1..100_000)
        .map(|n| format!("u{n}"))
        .find(|u| slot(u.as_bytes()) == target)
        .expect("a second id in the slot of u0");
    q(&mut con, &["CHAT.REGISTER", "u0", "U"]);
    q(&mut con, &["CHAT.REGISTER", &other, "U"]);
    let (_, mut node) = cluster.node_for(target);
    let before = text(&q(&mut node, &["DEBUG", "DIGEST"]));
    let e = try_q(&mut con, &["CHAT.DM", "u0", &other]).unwrap_err();
    assert_eq!(e.code(), Some("CROSSSLOT"), "{e}");
    assert_eq!(text(&q(&mut node, &["DEBUG", "DIGEST"])), before);
}

/// alice and bob of tenant `tag` talk; bob first gets a message live through
/// sharded pub/sub, then misses two and fetches and acknowledges them.
fn conversation(cluster: &Cluster, con: &mut ClusterConnection, tag: &str) {
    let (room, alice, bob) = (
        format!("{{{tag}}}general"),
        format!("{{{tag}}}alice"),
        format!("{{{tag}}}bob"),
    );
    q(con, &["CHAT.REGISTER", &alice, "Alice"]);
    q(con, &["CHAT.REGISTER", &bob, "Bob"]);
    q(con, &["CHAT.CREATE", &room, "General"]);
    q(con, &["CHAT.SUBSCRIBE", &room, &alice]);
    // In a cluster the reply says how to listen: sharded pub/sub.
    let how = strings(&q(con, &["CHAT.SUBSCRIBE", &room, &bob]));
    let channel = format!("chat:user:{{{tag}}}{{bob}}:push");
    assert_eq!(how, ["SSUBSCRIBE", channel.as_str()]);

    let live = sharded_listener(cluster, &channel);
    q(con, &["CHAT.ONLINE", &bob]);
    assert_eq!(int(&q(con, &["CHAT.SEND", &room, &alice, "hi bob"])), 1);
    let doc: serde_json::Value =
        serde_json::from_str(&live.recv_timeout(Duration::from_secs(5)).expect("live")).unwrap();
    assert_eq!(doc["text"], json!("hi bob"));
    assert_eq!(doc["room"], json!(room));

    q(con, &["CHAT.OFFLINE", &bob]);
    q(con, &["CHAT.SEND", &room, &alice, "are you there?"]);
    q(
        con,
        &["CHAT.SEND", &room, &alice, "call me", "DEDUP", "req-1"],
    );
    assert_eq!(
        int(&q(
            con,
            &["CHAT.SEND", &room, &alice, "call me", "DEDUP", "req-1"]
        )),
        3
    );
    let inbox = docs(&q(con, &["CHAT.FETCH", &bob]));
    let texts: Vec<&str> = inbox.iter().map(|d| d["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["are you there?", "call me"]);
    let last = inbox[1]["delivery"].as_str().unwrap();
    assert_eq!(int(&q(con, &["CHAT.ACK", &bob, last])), 2);
    assert!(docs(&q(con, &["CHAT.FETCH", &bob])).is_empty());
    let history: Vec<i64> = docs(&q(con, &["CHAT.HISTORY", &room]))
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    assert_eq!(history, [1, 2, 3]);
    assert!(
        live.recv_timeout(Duration::from_millis(200)).is_err(),
        "nothing live while offline"
    );
}

/// The node id of the server on `port` (CLUSTER MYID).
fn node_id(cluster: &Cluster, port: u16) -> String {
    text(&q(&mut cluster.node(port), &["CLUSTER", "MYID"]))
}

/// INFO chat field `name`, as an integer, on the server on `port`.
fn chat_stat(cluster: &Cluster, port: u16, name: &str) -> i64 {
    info_int(&mut cluster.node(port), "chat", name)
}

#[test]
fn a_room_moves_to_another_node_while_it_receives_sends() {
    let cluster = Cluster::start();
    // A tenant whose slot is among the first ten of the first node's range:
    // `redis-cli --cluster reshard` moves a node's lowest slots first.
    let tag = (0..100_000)
        .map(|n| format!("t{n}"))
        .find(|t| slot(t.as_bytes()) < 10)
        .expect("a tag in slots 0-9");
    let (source, _) = cluster.node_for(slot(tag.as_bytes()));
    let target = *cluster.ports.iter().find(|&&p| p != source).unwrap();
    let (room, alice) = (format!("{{{tag}}}general"), format!("{{{tag}}}alice"));
    // Offline members, whose keys move one by one with the room's.
    let others: Vec<String> = (0..20).map(|n| format!("{{{tag}}}bob{n}")).collect();
    for &port in &cluster.ports {
        // bob's inbox keeps every copy, to be counted at the end.
        q(
            &mut cluster.node(port),
            &["CONFIG", "SET", "chat.inbox-max", "1000000"],
        );
    }
    let mut con = cluster.client();
    q(&mut con, &["CHAT.REGISTER", &alice, "Alice"]);
    q(&mut con, &["CHAT.CREATE", &room, "General"]);
    q(&mut con, &["CHAT.SUBSCRIBE", &room, &alice]);
    for bob in &others {
        q(&mut con, &["CHAT.REGISTER", bob, "Bob"]);
        q(&mut con, &["CHAT.SUBSCRIBE", &room, bob]);
    }

    // alice sends without pause; each send has a DEDUP key, and a send
    // whose answer was an error or never came is sent again with it.
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (stop, room, alice) = (stop.clone(), room.clone(), alice.clone());
        let mut con = cluster.client();
        thread::spawn(move || {
            let mut acked: Vec<(i64, String)> = Vec::new();
            let mut retries = 0;
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) || n < 50 {
                n += 1;
                let text = format!("message {n}");
                let key = format!("k{n}");
                let id = loop {
                    match try_q(
                        &mut con,
                        &["CHAT.SEND", &room, &alice, &text, "DEDUP", &key],
                    ) {
                        Ok(Value::Int(id)) => break id,
                        other => {
                            retries += 1;
                            assert!(retries < 10_000, "send {n} keeps failing: {other:?}");
                            thread::sleep(Duration::from_millis(5));
                        }
                    }
                };
                acked.push((id, text));
            }
            (acked, retries)
        })
    };
    thread::sleep(Duration::from_millis(300));
    let out = Command::new(cli_program())
        .args([
            "--cluster",
            "reshard",
            &format!("127.0.0.1:{source}"),
            "--cluster-from",
            &node_id(&cluster, source),
            "--cluster-to",
            &node_id(&cluster, target),
            "--cluster-slots",
            "10",
            // One key per MIGRATE: the room and its members move apart,
            // so sends meet each of them on either node.
            "--cluster-pipeline",
            "1",
            "--cluster-yes",
        ])
        .output()
        .expect("redis-cli --cluster reshard");
    assert!(
        out.status.success(),
        "reshard failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let (acked, retries) = sender.join().unwrap();

    // The room and its members live on the other node now.
    assert_eq!(cluster.node_for(slot(tag.as_bytes())).0, target);
    let mut home = cluster.node(target);
    for key in [&room, &alice].into_iter().chain(&others) {
        assert_eq!(int(&q(&mut home, &["EXISTS", key])), 1, "{key}");
    }
    // Every acknowledged send is in the history once, with its id, and the
    // ids have no gaps: nothing lost, nothing doubled, no pause.
    let sent = acked.len() as i64;
    let mut history = Vec::new();
    let mut after = 0;
    loop {
        let page = docs(&q(
            &mut con,
            &[
                "CHAT.HISTORY",
                &room,
                "AFTER",
                &after.to_string(),
                "COUNT",
                "1000",
            ],
        ));
        let Some(last) = page.last() else { break };
        after = last["id"].as_i64().unwrap();
        history.extend(page);
    }
    assert_eq!(history.len() as i64, sent, "{retries} retries");
    for (doc, (id, text)) in history.iter().zip(&acked) {
        assert_eq!(doc["id"].as_i64(), Some(*id));
        assert_eq!(doc["text"].as_str(), Some(text.as_str()));
    }
    assert_eq!(
        history.last().and_then(|d| d["id"].as_i64()),
        Some(sent),
        "ids from 1 without gaps"
    );
    // The others were offline: each message is in each one's inbox, or,
    // where a member's key was on the other node at that moment, counted as
    // a missing recipient; their read cursors never moved, so the history
    // holds those for them.
    let mut copies = 0;
    for bob in &others {
        loop {
            let page = docs(&q(&mut con, &["CHAT.FETCH", bob, "COUNT", "1000"]));
            let Some(last) = page.last() else { break };
            copies += page.len() as i64;
            q(
                &mut con,
                &["CHAT.ACK", bob, last["delivery"].as_str().unwrap()],
            );
        }
        let read = q(&mut con, &["CHAT.MEMBERS", &room, "WITHREAD"]);
        assert_eq!(int(&field(&read, bob)), 0);
    }
    let missing: i64 = cluster
        .ports
        .iter()
        .map(|&p| chat_stat(&cluster, p, "chat_missing_recipients"))
        .sum();
    let expected = sent * others.len() as i64;
    assert_eq!(
        copies + missing,
        expected,
        "copies {copies} + missing {missing}"
    );
    eprintln!(
        "{sent} sends during the reshard, {retries} retried, {missing} copies caught up from the history"
    );
}
