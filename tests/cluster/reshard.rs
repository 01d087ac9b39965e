//! A room moves to another node, one key at a time, while it receives sends.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use chat_core::channels::slot;
use redis::Value;

use crate::common::*;
use crate::{chat_stat, join_in_steps, Cluster, Migration};

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
    // bob's inbox keeps every copy, and the history every message, to be
    // counted at the end (a slow reshard sends more than the default 10,000).
    cluster.config_everywhere(&[
        ("chat.inbox-max", "1000000"),
        ("chat.history-max", "1000000"),
    ]);
    let mut con = cluster.client();
    q(&mut con, &["CHAT.REGISTER", &alice, "Alice"]);
    q(&mut con, &["CHAT.CREATE", &room, "General"]);
    q(&mut con, &["CHAT.SUBSCRIBE", &room, &alice]);
    // The target has a generation of its own: a room there has a message.
    let there = (0..100_000)
        .map(|n| format!("{{x{n}}}there"))
        .find(|r| cluster.node_for(slot(r.as_bytes())).0 == target)
        .expect("a room id on the target");
    let local = there.replace("there", "alice");
    q(&mut con, &["CHAT.REGISTER", &local, "Alice"]);
    q(&mut con, &["CHAT.CREATE", &there, "There"]);
    q(&mut con, &["CHAT.SUBSCRIBE", &there, &local]);
    q(&mut con, &["CHAT.SEND", &there, &local, "hello"]);
    let epoch = text(&field(&q(&mut con, &["CHAT.INFO", &room]), "epoch"));
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
    // One key per MIGRATE: the room and its members move apart, so sends
    // meet each of them on either node.
    cluster.reshard(source, target, 10, &["--cluster-pipeline", "1"]);
    thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let (acked, retries) = sender.join().unwrap();

    // The room and its members live on the other node now.
    assert_eq!(cluster.node_for(slot(tag.as_bytes())).0, target);
    let mut home = cluster.node(target);
    for key in [&room, &alice].into_iter().chain(&others) {
        assert_eq!(int(&q(&mut home, &["EXISTS", key])), 1, "{key}");
    }
    // A move loses no id: the room keeps its epoch, though sends went on
    // on both nodes, each with its own generation.
    assert_eq!(
        text(&field(&q(&mut con, &["CHAT.INFO", &room]), "epoch")),
        epoch,
        "the room's epoch changed with the move"
    );
    // Every acknowledged send is in the history once, with its id, and the
    // ids have no gaps: nothing lost, nothing doubled, no pause.
    let sent = acked.len() as i64;
    let history = history_after(&mut con, &room, 0);
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
        copies += drain_inbox(&mut con, bob).len() as i64;
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

/// Rooms of one app, without tags, spread over the nodes; two clients send
/// to all of them while 3,000 slots move from one node to another.
#[test]
fn three_thousand_slots_move_while_an_app_sends() {
    let cluster = Cluster::start();
    let (source, target) = (cluster.ports[0], cluster.ports[1]);
    let mut con = cluster.client();
    // Rooms on every node, most on the node whose slots move.
    let rooms: Vec<String> = (0..10_000)
        .map(|n| format!("room{n}"))
        .filter(|r| {
            let port = cluster.node_for(slot(r.as_bytes())).0;
            port == source || r.ends_with('0')
        })
        .take(30)
        .collect();
    let senders = ["alice", "bob"];
    for user in senders {
        q(&mut con, &["CHAT.REGISTER", user, "U"]);
    }
    for room in &rooms {
        q(&mut con, &["CHAT.CREATE", room, "R"]);
        for user in senders {
            join_in_steps(&mut con, room, user);
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = senders
        .iter()
        .map(|&user| {
            let (stop, rooms) = (stop.clone(), rooms.clone());
            let mut con = cluster.client();
            thread::spawn(move || {
                let mut acked: Vec<(String, i64, String)> = Vec::new();
                let mut retries = 0;
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) || n < 100 {
                    let room = &rooms[n % rooms.len()];
                    let text = format!("{user}-{n}");
                    let id = loop {
                        match try_q(&mut con, &["CHAT.SEND", room, user, &text, "DEDUP", &text]) {
                            Ok(Value::Int(id)) => break id,
                            other => {
                                retries += 1;
                                assert!(retries < 10_000, "{text} keeps failing: {other:?}");
                                thread::sleep(Duration::from_millis(5));
                            }
                        }
                    };
                    acked.push((room.clone(), id, text));
                    n += 1;
                }
                (acked, retries)
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(300));
    let started = std::time::Instant::now();
    cluster.reshard(source, target, 3000, &[]);
    let moving = started.elapsed();
    thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    let mut retries = 0;
    for client in clients {
        let (a, r) = client.join().unwrap();
        acked.extend(a);
        retries += r;
    }
    let moved = rooms
        .iter()
        .filter(|r| cluster.node_for(slot(r.as_bytes())).0 == target)
        .count();
    assert!(moved > 0, "no room moved");

    // Every acknowledged send is in its room's history once, at its id,
    // and the ids have no gaps.
    let mut histories = std::collections::BTreeMap::new();
    for room in &rooms {
        let page = history_after(&mut con, room, 0);
        let gap = page
            .iter()
            .enumerate()
            .find(|(i, d)| d["id"].as_i64() != Some(*i as i64 + 1));
        assert_eq!(gap, None, "{room}: ids from 1 without gaps");
        histories.insert(room.clone(), page);
    }
    let stored: usize = histories.values().map(Vec::len).sum();
    assert_eq!(stored, acked.len(), "a send lost or stored twice");
    for (room, id, text) in &acked {
        let doc = &histories[room][*id as usize - 1];
        assert_eq!(doc["text"].as_str(), Some(text.as_str()), "{room} #{id}");
    }
    println!(
        "3000 slots moved in {:.1} s ({moved} of {} rooms with them); {} sends, {retries} retried, none lost or doubled",
        moving.as_secs_f64(),
        rooms.len(),
        acked.len()
    );
}

/// While a slot migrates, a send whose sender's key already moved (and the
/// room's not yet) cannot check the sender: it answers TRYAGAIN, as Redis
/// does for a command whose keys a migration splits, and writes nothing.
#[test]
fn a_send_whose_sender_moved_ahead_of_the_room_is_told_to_try_again() {
    let cluster = Cluster::start();
    let tag = "t1";
    let (room, alice) = (format!("{{{tag}}}room"), format!("{{{tag}}}alice"));
    let mut con = cluster.client();
    q(&mut con, &["CHAT.REGISTER", &alice, "Alice"]);
    q(&mut con, &["CHAT.CREATE", &room, "Room"]);
    q(&mut con, &["CHAT.SUBSCRIBE", &room, &alice]);
    assert_eq!(int(&q(&mut con, &["CHAT.SEND", &room, &alice, "one"])), 1);

    let mut migration = Migration::start(&cluster, tag);
    migration.migrate(&alice);

    let from = &mut migration.from;
    let before = digest(from);
    let e = try_q(from, &["CHAT.SEND", &room, &alice, "two"]).unwrap_err();
    assert_eq!(e.code(), Some("TRYAGAIN"), "{e}");
    assert!(error_text(&e).contains(&alice), "{e}");
    assert_eq!(digest(from), before);
    // A user whose key is simply not there, outside a migration, is
    // unknown, as ever.
    migration.cancel();
    let e = try_q(&mut migration.from, &["CHAT.SEND", &room, &alice, "two"]).unwrap_err();
    assert_eq!(error_text(&e), "ERR no such user");
    // Once the room follows, the send goes through.
    migration.mark();
    migration.migrate(&room);
    migration.finish();
    let mut moved = cluster.client();
    assert_eq!(int(&q(&mut moved, &["CHAT.SEND", &room, &alice, "two"])), 2);
}

/// While a slot migrates, a direct room or a room a user is in that moved
/// ahead of the users is not made again on the old node (which would stall
/// the reshard with BUSYKEY), nor left keeping a user who unregisters.
#[test]
fn keys_that_moved_ahead_are_neither_made_again_nor_left_behind() {
    let cluster = Cluster::start();
    let tag = "t2";
    let (a, b, c) = ("{t2}a", "{t2}b", "{t2}c");
    let room = "{t2}room";
    let mut con = cluster.client();
    for user in [a, b, c] {
        q(&mut con, &["CHAT.REGISTER", user, "U"]);
    }
    let dm = text(&q(&mut con, &["CHAT.DM", a, b]));
    q(&mut con, &["CHAT.SEND", &dm, a, "hello"]);
    q(&mut con, &["CHAT.CREATE", room, "Room"]);
    q(&mut con, &["CHAT.SUBSCRIBE", room, c]);

    let mut migration = Migration::start(&cluster, tag);
    for key in [dm.as_str(), room] {
        migration.migrate(key);
    }

    let from = &mut migration.from;
    let before = digest(from);
    for command in [&["CHAT.DM", a, b][..], &["CHAT.UNREGISTER", c]] {
        let e = try_q(from, command).unwrap_err();
        assert_eq!(e.code(), Some("TRYAGAIN"), "{command:?}: {e}");
    }
    assert_eq!(digest(from), before, "nothing written");

    // The users follow; the slot is the target's; both work there.
    for key in [a, b, c] {
        migration.migrate(key);
    }
    migration.finish();
    let mut moved = cluster.client();
    assert_eq!(text(&q(&mut moved, &["CHAT.DM", a, b])), dm);
    assert_eq!(docs(&q(&mut moved, &["CHAT.HISTORY", &dm])).len(), 1);
    q(&mut moved, &["CHAT.UNREGISTER", c]);
    assert!(strings(&q(&mut moved, &["CHAT.MEMBERS", room])).is_empty());
}
