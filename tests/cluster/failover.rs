//! A primary dies (`kill -9`) while four clients send with `WAIT 1`; one of
//! its replicas takes over, the clients retry with their DEDUP keys, and no
//! acknowledged send is lost or stored twice, with ids still gap-free. Each
//! primary has two replicas, so that the promoted one still has a replica
//! to acknowledge `WAIT 1`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use chat_core::channels::slot;
use redis::Value;

use crate::common::*;
use crate::{join_in_steps, slot_owner, Cluster};

/// A client that sends to one room through whichever node owns its slot
/// now, and acknowledges a send only once a replica has it: `WAIT 1` on the
/// same connection, or, for the first send on a new connection (a DEDUP
/// retry that wrote nothing leaves `WAIT` nothing to count), a replica's
/// offset that reached the primary's.
struct Sender {
    ports: Vec<u16>,
    node: Option<redis::Connection>,
    /// Whether the connection has written since it was made.
    fresh: bool,
}

/// Whether a replica of the primary `con` is connected to has everything
/// the primary has now, waiting up to a second.
fn replicated(con: &mut redis::Connection) -> redis::RedisResult<bool> {
    let info = text(&try_q(con, &["INFO", "replication"])?);
    let primary = info
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("master_repl_offset:")?
                .parse::<i64>()
                .ok()
        })
        .expect("master_repl_offset in INFO replication");
    for _ in 0..100 {
        let info = text(&try_q(con, &["INFO", "replication"])?);
        // slave0:ip=127.0.0.1,port=7004,state=online,offset=1234,lag=0
        let caught_up = info
            .lines()
            .filter(|l| l.starts_with("slave"))
            .filter_map(|l| {
                l.trim()
                    .split(',')
                    .find_map(|f| f.strip_prefix("offset=")?.parse::<i64>().ok())
            })
            .any(|offset| offset >= primary);
        if caught_up {
            return Ok(true);
        }
        thread::sleep(Duration::from_millis(10));
    }
    Ok(false)
}

impl Sender {
    /// Sends until a replica has it; the same DEDUP key every time.
    fn send(&mut self, room: &str, user: &str, text: &str) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.node.is_none() {
                let connected = slot_owner(&self.ports, slot(room.as_bytes())).and_then(|port| {
                    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                        .ok()?
                        .get_connection_with_timeout(Duration::from_millis(500))
                        .ok()
                });
                if let Some(con) = &connected {
                    let _ = con.set_read_timeout(Some(Duration::from_secs(2)));
                }
                self.node = connected;
                self.fresh = true;
            }
            if let Some(con) = &mut self.node {
                let fresh = self.fresh;
                let sent =
                    try_q(con, &["CHAT.SEND", room, user, text, "DEDUP", text]).and_then(|id| {
                        let on_replica = if fresh {
                            replicated(con)?
                        } else {
                            int(&try_q(con, &["WAIT", "1", "1000"])?) >= 1
                        };
                        Ok((id, on_replica))
                    });
                match sent {
                    Ok((Value::Int(id), true)) => {
                        self.fresh = false;
                        return id as u64;
                    }
                    // Not on a replica yet: the retry finds the first id.
                    Ok(_) => {}
                    // A connection lost, MOVED, CLUSTERDOWN: find the owner again.
                    Err(_) => self.node = None,
                }
            }
            thread::sleep(Duration::from_millis(50));
        }
        panic!("{text}: not acknowledged within 60 s");
    }
}

#[test]
fn a_primary_killed_while_clients_send_loses_no_acknowledged_message() {
    let cluster = Cluster::with_replicas(2);
    let mut con = cluster.client();
    let victim = cluster.ports[0];
    let on_victim = |prefix: &str| {
        (0..10_000)
            .map(|n| format!("{prefix}{n}"))
            .filter(|id| cluster.node_for(slot(id.as_bytes())).0 == victim)
            .take(2)
            .collect::<Vec<_>>()
    };
    let rooms = on_victim("room");
    // Every message stays in the history, to be compared at the end: two
    // clients per room can send more than the default 10,000 before the
    // failover is over.
    cluster.config_everywhere(&[("chat.history-max", "1000000")]);
    let all_ports = cluster.every_port();
    let users: Vec<String> = (0..4).map(|n| format!("sender{n}")).collect();
    for room in &rooms {
        q(&mut con, &["CHAT.CREATE", room, "R"]);
    }
    for (n, user) in users.iter().enumerate() {
        let room = &rooms[n % 2];
        q(&mut con, &["CHAT.REGISTER", user, "U"]);
        join_in_steps(&mut con, room, user);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::<(String, u64, String, Instant)>::new()));
    let clients: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(n, user)| {
            let (room, user) = (rooms[n % 2].clone(), user.clone());
            let (stop, acked, ports) = (stop.clone(), acked.clone(), all_ports.clone());
            thread::spawn(move || {
                let mut sender = Sender {
                    ports,
                    node: None,
                    fresh: true,
                };
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let text = format!("{user}-{i}");
                    let id = sender.send(&room, &user, &text);
                    acked
                        .lock()
                        .unwrap()
                        .push((room.clone(), id, text, Instant::now()));
                    i += 1;
                }
            })
        })
        .collect();

    thread::sleep(Duration::from_secs(1));
    let pidfile = cluster.dir.join(victim.to_string()).join("redis.pid");
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    let status = std::process::Command::new("kill")
        .args(["-9", pid.trim()])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = std::fs::remove_file(&pidfile);
    // Gone once its process entry is (it is a daemon: not our child).
    let proc_entry = std::path::PathBuf::from(format!("/proc/{}", pid.trim()));
    while proc_entry.exists() {
        thread::sleep(Duration::from_millis(1));
    }
    let killed_at = Instant::now();
    // Until every client has been served again, and a while after.
    let served_again = |acked: &Mutex<Vec<(String, u64, String, Instant)>>| {
        let acked = acked.lock().unwrap();
        users.iter().all(|u| {
            let prefix = format!("{u}-");
            let after = acked
                .iter()
                .filter(|(_, _, text, at)| text.starts_with(&prefix) && *at > killed_at);
            after.count() >= 1
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !served_again(&acked) {
        assert!(
            Instant::now() < deadline,
            "the clients were not served again"
        );
        thread::sleep(Duration::from_millis(100));
    }
    let back = killed_at.elapsed();
    thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }

    // The whole history of each room, from the node that owns it now.
    let acked = acked.lock().unwrap();
    let mut histories = BTreeMap::new();
    let survivors: Vec<u16> = all_ports.iter().copied().filter(|&p| p != victim).collect();
    for room in &rooms {
        let owner = slot_owner(&survivors, slot(room.as_bytes())).expect("an owner");
        assert_ne!(owner, victim);
        let mut con = cluster.node(owner);
        let mut texts = Vec::new();
        for doc in history_after(&mut con, room, 0) {
            assert_eq!(
                doc["id"].as_u64().unwrap(),
                texts.len() as u64 + 1,
                "{room}: a gap"
            );
            texts.push(doc["text"].as_str().unwrap().to_string());
        }
        let unique: BTreeSet<&String> = texts.iter().collect();
        assert_eq!(unique.len(), texts.len(), "{room}: a message stored twice");
        histories.insert(room.clone(), texts);
    }
    for (room, id, text, _) in acked.iter() {
        assert_eq!(
            histories[room].get(*id as usize - 1),
            Some(text),
            "acknowledged {text} as {room} #{id}"
        );
    }
    // The time without service: the longest wait between two
    // acknowledgements of one client.
    let mut longest = Duration::ZERO;
    for user in &users {
        let prefix = format!("{user}-");
        let times: Vec<Instant> = acked
            .iter()
            .filter(|a| a.2.starts_with(&prefix))
            .map(|a| a.3)
            .collect();
        for pair in times.windows(2) {
            longest = longest.max(pair[1] - pair[0]);
        }
    }
    let after_kill = acked.iter().filter(|a| a.3 > killed_at).count();
    println!(
        "{} sends acknowledged ({} after the kill), all in the history once, ids without \
         gaps; every client served again {:.1} s after the kill; longest wait for an \
         acknowledgement {:.1} s",
        acked.len(),
        after_kill,
        back.as_secs_f64(),
        longest.as_secs_f64()
    );
}
