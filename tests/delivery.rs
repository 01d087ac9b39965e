//! The delivery rule, inboxes, FETCH/ACK and blocking FETCH.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::*;
use redis::{Connection, Value};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(2);
const QUIET: Duration = Duration::from_millis(300);

fn inbox_len(con: &mut Connection, user: &str) -> usize {
    docs(&q(con, &["CHAT.FETCH", user, "COUNT", "1000"])).len()
}

fn stat(con: &mut Connection, name: &str) -> i64 {
    info_int(con, "chat", &format!("chat_{name}"))
}

#[test]
fn online_and_listening_gets_it_live_and_no_inbox_copy() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    let channel = text(&q(&mut con, &["CHAT.SUBSCRIBE", "r", "bob"]));
    let mut bob = Listener::exact(&server, &channel);
    q(&mut con, &["CHAT.ONLINE", "bob"]);

    let id = int(&q(&mut con, &["CHAT.SEND", "r", "alice", "hi bob"]));
    let live = bob.next(WAIT).expect("bob should get the message live");
    let stored = &docs(&q(&mut con, &["CHAT.HISTORY", "r"]))[0];
    assert_eq!(&live, stored, "pub/sub and history carry the same document");
    assert_eq!(live["id"], json!(id));
    assert_eq!(live["type"], json!("message"));
    assert_eq!(inbox_len(&mut con, "bob"), 0);
    assert_eq!(stat(&mut con, "live_deliveries"), 1);
    assert_eq!(stat(&mut con, "inbox_deliveries"), 0);
}

#[test]
fn online_without_a_listener_gets_an_inbox_copy() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    q(&mut con, &["CHAT.ONLINE", "bob"]);
    q(&mut con, &["CHAT.SEND", "r", "alice", "are you there?"]);
    let inbox = docs(&q(&mut con, &["CHAT.FETCH", "bob"]));
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0]["text"], json!("are you there?"));
}

#[test]
fn offline_gets_an_inbox_copy_even_with_a_listener() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    let mut bob = Listener::exact(&server, "chat:user:{bob}:push");
    q(&mut con, &["CHAT.SEND", "r", "alice", "you are offline"]);
    assert_eq!(inbox_len(&mut con, "bob"), 1);
    assert!(
        bob.next(QUIET).is_none(),
        "an offline member gets no live copy"
    );

    // Presence that ran out counts as offline too.
    q(&mut con, &["CHAT.ONLINE", "bob", "TTL", "1"]);
    thread::sleep(Duration::from_millis(1100));
    q(&mut con, &["CHAT.SEND", "r", "alice", "still offline"]);
    assert_eq!(inbox_len(&mut con, "bob"), 2);
    assert!(bob.next(QUIET).is_none());
}

#[test]
fn a_pattern_subscriber_alone_does_not_make_a_member_reachable() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    let mut monitor = Listener::pattern(&server, "chat:*");
    q(&mut con, &["CHAT.ONLINE", "bob"]);
    // The monitor hears bob's presence change on his presence channel.
    assert_eq!(monitor.next(WAIT).unwrap()["type"], json!("presence"));
    q(
        &mut con,
        &["CHAT.SEND", "r", "alice", "only a monitor listens"],
    );
    assert_eq!(inbox_len(&mut con, "bob"), 1);
    assert!(
        monitor.next(QUIET).is_none(),
        "nothing is published when only a pattern listens"
    );

    // With a real listener too, both receive it and there is no inbox copy.
    let mut bob = Listener::exact(&server, "chat:user:{bob}:push");
    q(&mut con, &["CHAT.SEND", "r", "alice", "now bob listens"]);
    assert_eq!(bob.next(WAIT).unwrap()["text"], json!("now bob listens"));
    assert_eq!(
        monitor.next(WAIT).unwrap()["text"],
        json!("now bob listens")
    );
    assert_eq!(inbox_len(&mut con, "bob"), 1);
}

#[test]
fn the_sender_gets_no_copy_and_each_other_member_gets_one() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob", "carol", "dave"]);
    let mut carol = Listener::exact(&server, "chat:user:{carol}:push");
    let mut alice = Listener::exact(&server, "chat:user:{alice}:push");
    q(&mut con, &["CHAT.ONLINE", "carol"]);
    q(&mut con, &["CHAT.ONLINE", "alice"]);
    q(&mut con, &["CHAT.SEND", "r", "alice", "to all"]);
    assert_eq!(carol.next(WAIT).unwrap()["text"], json!("to all"));
    assert!(
        alice.next(QUIET).is_none(),
        "the sender is not sent its own message"
    );
    assert_eq!(inbox_len(&mut con, "alice"), 0);
    assert_eq!(inbox_len(&mut con, "carol"), 0);
    assert_eq!(inbox_len(&mut con, "bob"), 1);
    assert_eq!(inbox_len(&mut con, "dave"), 1);
}

#[test]
fn fetch_returns_the_oldest_first_and_ack_removes_up_to_the_delivery() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    room_with(&mut con, "s", &["alice", "bob"]);
    for i in 1..=5 {
        q(
            &mut con,
            &[
                "CHAT.SEND",
                if i % 2 == 0 { "s" } else { "r" },
                "alice",
                &format!("m{i}"),
            ],
        );
    }
    let inbox = docs(&q(&mut con, &["CHAT.FETCH", "bob"]));
    let texts: Vec<&str> = inbox.iter().map(|d| d["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["m1", "m2", "m3", "m4", "m5"]);
    assert_eq!(inbox[1]["room"], json!("s"));
    assert_eq!(inbox[1]["id"], json!(1));
    assert_eq!(
        inbox[0].as_object().unwrap().len(),
        7,
        "a document plus its delivery"
    );

    // FETCH never removes: fetching again gives the same.
    assert_eq!(docs(&q(&mut con, &["CHAT.FETCH", "bob"])), inbox);
    assert_eq!(
        docs(&q(&mut con, &["CHAT.FETCH", "bob", "COUNT", "2"])),
        inbox[..2]
    );

    // ACK removes that entry and every older one.
    let third = inbox[2]["delivery"].as_str().unwrap();
    assert_eq!(int(&q(&mut con, &["CHAT.ACK", "bob", third])), 3);
    assert_eq!(
        int(&q(&mut con, &["CHAT.ACK", "bob", third])),
        0,
        "acking again removes nothing"
    );
    assert_eq!(docs(&q(&mut con, &["CHAT.FETCH", "bob"])), inbox[3..]);
    let first = inbox[0]["delivery"].as_str().unwrap();
    assert_eq!(int(&q(&mut con, &["CHAT.ACK", "bob", first])), 0);
    let last = inbox[4]["delivery"].as_str().unwrap();
    assert_eq!(int(&q(&mut con, &["CHAT.ACK", "bob", last])), 2);
    assert!(docs(&q(&mut con, &["CHAT.FETCH", "bob"])).is_empty());
    assert_eq!(int(&q(&mut con, &["CHAT.ACK", "bob", last])), 0);
    // A user who never received anything can ack too.
    q(&mut con, &["CHAT.REGISTER", "new", "N"]);
    assert_eq!(int(&q(&mut con, &["CHAT.ACK", "new", "1-0"])), 0);
}

#[test]
fn a_full_inbox_drops_its_oldest_entries_but_history_keeps_them() {
    let server = Server::start_with(&["inbox-max", "3"], &[]);
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    for i in 1..=400 {
        q(&mut con, &["CHAT.SEND", "r", "alice", &format!("m{i}")]);
    }
    // The inbox keeps at least its newest 3; the oldest leave a whole
    // chunk (at most 64 copies or 2 KB) at a time.
    let mut inbox = docs(&q(&mut con, &["CHAT.FETCH", "bob", "COUNT", "1000"]));
    // First, what was dropped: a gap document, until acknowledged.
    let gap = inbox.remove(0);
    let kept = inbox.len() as i64;
    assert_eq!(gap["type"], json!("gap"), "{gap}");
    assert_eq!(gap["dropped"], json!(400 - kept));
    assert!((3..3 + 64).contains(&kept), "{kept}");
    let ids: Vec<i64> = inbox.iter().map(|d| d["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, ((401 - kept)..=400).collect::<Vec<_>>());
    assert_eq!(stat(&mut con, "inbox_drops"), 400 - kept);
    assert_eq!(
        dump(&mut con, "bob")["inbox"].as_array().unwrap().len() as i64,
        kept
    );
    // The room's history still has every message.
    assert_eq!(
        docs(&q(&mut con, &["CHAT.HISTORY", "r", "COUNT", "1000"])).len(),
        400
    );
    let last = inbox.last().unwrap()["delivery"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(int(&q(&mut con, &["CHAT.ACK", "bob", &last])), kept);
    // Acknowledging past the gap cleared it.
    assert_eq!(docs(&q(&mut con, &["CHAT.FETCH", "bob"])).len(), 0);
}

/// Starts `CHAT.FETCH bob BLOCK 10000` on its own connection and returns
/// once the server reports it waiting.
fn blocked_fetch(server: &Server, con: &mut Connection) -> thread::JoinHandle<(Value, Duration)> {
    let mut waiter = server.conn();
    let handle = thread::spawn(move || {
        let started = Instant::now();
        let reply = q(&mut waiter, &["CHAT.FETCH", "bob", "BLOCK", "10000"]);
        (reply, started.elapsed())
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while stat(con, "blocked_fetches") == 0 {
        assert!(Instant::now() < deadline, "FETCH never blocked");
        thread::sleep(Duration::from_millis(10));
    }
    handle
}

#[test]
fn block_is_woken_by_a_send() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);

    // First on an inbox that does not exist yet...
    let waiting = blocked_fetch(&server, &mut con);
    q(&mut con, &["CHAT.SEND", "r", "alice", "wake up"]);
    let (reply, waited) = waiting.join().unwrap();
    let got = docs(&reply);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["text"], json!("wake up"));
    assert!(
        waited < Duration::from_secs(9),
        "woken by the send, not by the timeout"
    );

    // ...then on one that exists but was emptied by ACK.
    q(
        &mut con,
        &["CHAT.ACK", "bob", got[0]["delivery"].as_str().unwrap()],
    );
    let waiting = blocked_fetch(&server, &mut con);
    q(&mut con, &["CHAT.SEND", "r", "alice", "again"]);
    let (reply, waited) = waiting.join().unwrap();
    assert_eq!(docs(&reply)[0]["text"], json!("again"));
    assert!(waited < Duration::from_secs(9));
    assert_eq!(stat(&mut con, "blocked_fetches"), 0);
}

#[test]
fn block_with_waiting_messages_answers_at_once() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    q(&mut con, &["CHAT.SEND", "r", "alice", "already here"]);
    let got = docs(&q(&mut con, &["CHAT.FETCH", "bob", "BLOCK", "0"]));
    assert_eq!(got[0]["text"], json!("already here"));
}

#[test]
fn block_times_out_with_an_empty_array() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    let started = Instant::now();
    let reply = q(&mut con, &["CHAT.FETCH", "bob", "BLOCK", "200"]);
    assert_eq!(reply, Value::Array(vec![]));
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "it must have waited"
    );
    assert_eq!(stat(&mut con, "blocked_fetches"), 0);
}

#[test]
fn blocking_is_refused_gracefully_in_transactions_and_scripts() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    let reply: Vec<Value> = redis::pipe()
        .atomic()
        .cmd("CHAT.FETCH")
        .arg("bob")
        .arg("BLOCK")
        .arg("0")
        .query(&mut con)
        .unwrap();
    assert_eq!(reply, vec![Value::Array(vec![])]);
    let reply = q(
        &mut con,
        &[
            "EVAL",
            "return redis.call('CHAT.FETCH', 'bob', 'BLOCK', '0')",
            "0",
        ],
    );
    assert_eq!(reply, Value::Array(vec![]));
}

#[test]
fn a_blocked_client_that_disconnects_is_forgotten() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    let waiting = blocked_fetch(&server, &mut con);
    let clients = text(&q(&mut con, &["CLIENT", "LIST"]));
    let id = clients
        .lines()
        .find(|l| l.contains("cmd=chat.fetch"))
        .and_then(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .expect("the blocked client is listed")
        .to_string();
    q(&mut con, &["CLIENT", "KILL", "ID", &id]);
    assert!(waiting.join().is_err(), "the killed client's FETCH fails");
    assert_eq!(stat(&mut con, "blocked_fetches"), 0);
}

#[test]
fn a_pattern_subscriber_that_arrives_later_is_noticed() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob", "carol"]);
    q(&mut con, &["CHAT.ONLINE", "bob"]);
    q(&mut con, &["CHAT.ONLINE", "carol"]);
    let mut carol = Listener::exact(&server, "chat:user:{carol}:push");
    // No pattern subscription yet: the send remembers that there is none.
    q(&mut con, &["CHAT.SEND", "r", "alice", "before the monitor"]);
    assert_eq!(
        carol.next(WAIT).unwrap()["text"],
        json!("before the monitor")
    );
    assert_eq!(inbox_len(&mut con, "bob"), 1);

    // A monitor subscribes with a pattern; bob is online but nobody listens
    // on his channel by name, so he must still get an inbox copy, and the
    // monitor must not get his message.
    let mut monitor = Listener::pattern(&server, "chat:user:{bob}:*");
    q(&mut con, &["CHAT.SEND", "r", "alice", "after the monitor"]);
    assert_eq!(inbox_len(&mut con, "bob"), 2);
    assert!(
        monitor.next(QUIET).is_none(),
        "a pattern alone got a message"
    );
    assert_eq!(
        carol.next(WAIT).unwrap()["text"],
        json!("after the monitor")
    );
}
