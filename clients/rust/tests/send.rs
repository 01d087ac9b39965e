//! Sends through a failover: the primary of the room's slot is killed
//! while messages are being sent with `replicas = 1`. Each primary has two
//! replicas, so the one promoted still has one to wait for.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use redis_chat_client::Settings;

#[tokio::test(flavor = "multi_thread")]
async fn every_send_is_stored_once_through_a_failover() {
    let setup = Setup::Cluster(Cluster::start(2));
    let Setup::Cluster(cluster) = &setup else {
        unreachable!()
    };
    // Enough attempts to outlast the election (cluster-node-timeout 5 s).
    let chat = setup
        .chat_with(Settings {
            attempts: 40,
            ..Settings::default()
        })
        .await;
    let users = setup.spread("writer", 2);
    let (alice, bob) = (&users[0], &users[1]);
    let room = &setup.spread("busy", 3)[2];
    for user in &users {
        chat.register(user, "U", None).await.unwrap();
    }
    chat.create(room, "R").await.unwrap();
    chat.join(room, alice).await.unwrap();
    chat.join(room, bob).await.unwrap();

    const N: usize = 300;
    let acked = Arc::new(AtomicUsize::new(0));
    let sender = {
        let (chat, room, alice, acked) = (chat.clone(), room.clone(), alice.clone(), acked.clone());
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..N {
                let id = chat.send(&room, &alice, &format!("m{i}"), 1).await;
                ids.push(id.unwrap_or_else(|e| panic!("send {i}: {e}")));
                acked.fetch_add(1, Ordering::SeqCst);
            }
            ids
        })
    };
    until("a first hundred sends", 30, || {
        acked.load(Ordering::SeqCst) >= 100
    })
    .await;
    let primary = setup.port_for(room);
    let killed = Command::new("kill")
        .args(["-9", &cluster.pid(primary).to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = Instant::now();
    let ids = sender.await.unwrap();
    let took = started.elapsed();

    // Served by the promoted replica now; every message once, in order,
    // with ids 1..N.
    assert_ne!(setup.port_for(room), primary);
    assert_eq!(ids, (1..=N as u64).collect::<Vec<u64>>());
    let history = chat.history(room, Some(0), None, 1000).await.unwrap();
    let texts: Vec<&str> = history.iter().filter_map(|d| d["text"].as_str()).collect();
    let wanted: Vec<String> = (0..N).map(|i| format!("m{i}")).collect();
    assert_eq!(texts, wanted);
    assert!(took < Duration::from_secs(60), "{took:?}");
    println!(
        "the last {} sends took {took:?} through the failover",
        N - 100
    );
}
