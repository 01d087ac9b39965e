//! Conversations and retention: the gaps that history, threads and inboxes
//! show once messages or copies were dropped, what retention takes with the
//! messages it removes, and replies, mentions, reactions, pins and gaps
//! kept alike by replicas, DEBUG RELOAD and the AOF.

use redis::Connection;
use serde_json::{json, Value as Json};

use crate::common::*;
use crate::{mentions, room_info, send};

/// Sends `n` plain messages from `sender`, in one round trip.
fn send_many(con: &mut Connection, room: &str, sender: &str, n: usize) {
    let mut pipe = redis::pipe();
    for i in 0..n {
        pipe.cmd("CHAT.SEND")
            .arg(room)
            .arg(sender)
            .arg(format!("filler {i}"))
            .ignore();
    }
    pipe.query::<()>(con).unwrap();
}

fn page(con: &mut Connection, args: &[&str]) -> Vec<Json> {
    docs(&q(con, args))
}

/// The ids of a page, with a gap shown as `-1`.
fn ids(page: &[Json]) -> Vec<i64> {
    page.iter()
        .map(|d| {
            if d["type"] == json!("gap") {
                -1
            } else {
                d["id"].as_i64().unwrap()
            }
        })
        .collect()
}

fn gap(room: &str, after: i64, before: i64) -> Json {
    json!({"type": "gap", "room": room, "after": after, "before": before})
}

/// A delivery handle `ms-seq` as a pair that orders like the handles.
fn delivery(d: &Json) -> (u64, u64) {
    let s = d["delivery"].as_str().unwrap();
    let (ms, seq) = s.split_once('-').unwrap();
    (ms.parse().unwrap(), seq.parse().unwrap())
}

fn inbox_drops(con: &mut Connection) -> i64 {
    info_int(con, "chat", "chat_inbox_drops")
}

// ---------------------------------------------------------------------------
// History gaps

/// `chat.history-max` 5 and 135 messages: the oldest chunk, 128 messages
/// (short ones fill a chunk by count, not by its 4 KB), has gone.
#[test]
fn history_after_a_removed_id_starts_with_a_gap() {
    let server = Server::start();
    let mut con = server.conn();
    q(&mut con, &["CONFIG", "SET", "chat.history-max", "5"]);
    room_with(&mut con, "r", &["alice", "bob"]);
    send_many(&mut con, "r", "alice", 135);
    let first = room_info(&mut con, "r", "first_id");
    assert_eq!(first, 129);
    assert_eq!(room_info(&mut con, "r", "last_id"), 135);

    let got = page(&mut con, &["CHAT.HISTORY", "r", "AFTER", "0", "COUNT", "2"]);
    assert_eq!(got[0], gap("r", 0, first), "{got:?}");
    assert_eq!(ids(&got), [-1, 129, 130], "the gap is on top of COUNT");
    let got = page(&mut con, &["CHAT.HISTORY", "r", "AFTER", "100"]);
    assert_eq!(got[0], gap("r", 100, 129));
    assert_eq!(ids(&got[1..]), (129..=135).collect::<Vec<_>>());
    let got = page(&mut con, &["CHAT.HISTORY", "r", "AFTER", "127"]);
    assert_eq!(got[0], gap("r", 127, 129));

    // After a kept id, or the id just before the first kept: no gap.
    assert_eq!(
        ids(&page(&mut con, &["CHAT.HISTORY", "r", "AFTER", "128"])),
        (129..=135).collect::<Vec<_>>()
    );
    assert_eq!(
        ids(&page(&mut con, &["CHAT.HISTORY", "r", "AFTER", "131"])),
        [132, 133, 134, 135]
    );
    assert!(page(&mut con, &["CHAT.HISTORY", "r", "AFTER", "135"]).is_empty());
    // An id the room never reached: a reset (tests/epochs), not a gap.
    let beyond = page(&mut con, &["CHAT.HISTORY", "r", "AFTER", "500"]);
    assert_eq!(beyond[0]["type"], "reset", "{beyond:?}");
    assert_eq!(beyond[0]["last_id"], 135);
    // The newest page is no catching up: no gap.
    assert_eq!(
        ids(&page(&mut con, &["CHAT.HISTORY", "r", "COUNT", "1000"])),
        (129..=135).collect::<Vec<_>>()
    );
}

#[test]
fn first_id_is_one_past_the_last_when_nothing_is_kept() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice"]);
    assert_eq!(room_info(&mut con, "r", "first_id"), 1);
    assert_eq!(room_info(&mut con, "r", "last_id"), 0);
    assert_eq!(room_info(&mut con, "r", "pins"), 0);
    assert!(page(&mut con, &["CHAT.HISTORY", "r", "AFTER", "0"]).is_empty());
    send(&mut con, "r", "alice", "one", &[]);
    assert_eq!(room_info(&mut con, "r", "first_id"), 1);
    assert_eq!(room_info(&mut con, "r", "last_id"), 1);
}

#[test]
fn a_thread_whose_root_was_removed_starts_with_a_gap() {
    let server = Server::start();
    let mut con = server.conn();
    q(&mut con, &["CONFIG", "SET", "chat.history-max", "5"]);
    room_with(&mut con, "r", &["alice", "bob", "carol"]);
    send(&mut con, "r", "alice", "root", &[]);
    send(&mut con, "r", "bob", "early reply", &["REPLY", "1"]);
    send_many(&mut con, "r", "alice", 126);
    assert_eq!(send(&mut con, "r", "bob", "late", &["REPLY", "1"]), 129);
    assert_eq!(send(&mut con, "r", "carol", "later", &["REPLY", "1"]), 130);
    send_many(&mut con, "r", "alice", 6);
    assert_eq!(room_info(&mut con, "r", "first_id"), 129);

    // The root went too: the gap starts before it.
    let got = page(&mut con, &["CHAT.THREAD", "r", "1"]);
    assert_eq!(got[0], gap("r", 0, 129));
    assert_eq!(ids(&got), [-1, 129, 130]);
    assert_eq!(got[1]["reply_to"], json!(1));
    assert_eq!(
        ids(&page(&mut con, &["CHAT.THREAD", "r", "1", "COUNT", "1"])),
        [-1, 129]
    );
    assert_eq!(
        ids(&page(&mut con, &["CHAT.THREAD", "r", "1", "AFTER", "129"])),
        [130]
    );
    // As implemented: AFTER an id before the first kept shows the gap from
    // that id.
    let got = page(&mut con, &["CHAT.THREAD", "r", "1", "AFTER", "5"]);
    assert_eq!(got[0], gap("r", 5, 129));
    assert_eq!(ids(&got), [-1, 129, 130]);
    // The removed root takes no more replies.
    assert_eq!(
        err(&mut con, &["CHAT.SEND", "r", "bob", "x", "REPLY", "1"]),
        "ERR no such message: 1 is not in the room's history"
    );
    // As implemented: a removed message without kept replies is a gap
    // alone; an id past the last is no message.
    assert_eq!(
        page(&mut con, &["CHAT.THREAD", "r", "2"]),
        [gap("r", 1, 129)]
    );
    assert_eq!(
        err(&mut con, &["CHAT.THREAD", "r", "137"]),
        "ERR no such message: 137 is not in the room's history"
    );
}

/// As implemented: the reactions, pins and unread mentions of removed
/// messages go with them.
#[test]
fn retention_takes_the_reactions_pins_and_mentions_of_what_it_removes() {
    let server = Server::start();
    let mut con = server.conn();
    q(&mut con, &["CONFIG", "SET", "chat.history-max", "5"]);
    room_with(&mut con, "r", &["alice", "bob"]);
    send(&mut con, "r", "alice", "@bob", &["MENTION", "bob"]);
    q(&mut con, &["CHAT.REACT", "r", "bob", "1", "ok"]);
    q(&mut con, &["CHAT.PIN", "r", "bob", "1"]);
    send_many(&mut con, "r", "alice", 135);
    // A mention that is kept still counts.
    send(&mut con, "r", "alice", "@bob again", &["MENTION", "bob"]);
    q(&mut con, &["CHAT.PIN", "r", "bob", "137"]);
    assert_eq!(room_info(&mut con, "r", "first_id"), 129);

    assert_eq!(room_info(&mut con, "r", "pins"), 1);
    assert_eq!(
        ids(&page(&mut con, &["CHAT.PINS", "r"])),
        [137],
        "the removed pin went"
    );
    assert_eq!(mentions(&mut con, "bob"), [("r".to_string(), 1)]);
    assert_eq!(
        err(&mut con, &["CHAT.REACTIONS", "r", "1"]),
        "ERR no such message: 1 is not in the room's history"
    );
    assert_eq!(
        dump(&mut con, "r")["reactions"],
        json!({}),
        "nothing kept for removed messages"
    );
}

// ---------------------------------------------------------------------------
// Inbox gaps

/// `chat.inbox-max` 3: each time an inbox passes it, its oldest chunk of
/// copies goes, and FETCH shows how many went until an ACK passes them.
#[test]
fn an_inbox_that_dropped_copies_starts_with_a_gap_until_acked() {
    let server = Server::start();
    let mut con = server.conn();
    q(&mut con, &["CONFIG", "SET", "chat.inbox-max", "3"]);
    room_with(&mut con, "r", &["alice", "bob"]);
    send_many(&mut con, "r", "alice", 70);

    let inbox = page(&mut con, &["CHAT.FETCH", "bob", "COUNT", "1000"]);
    let (head, copies) = (&inbox[0], &inbox[1..]);
    let dropped = head["dropped"].as_i64().unwrap();
    assert_eq!(
        head,
        &json!({"type": "gap", "dropped": dropped, "delivery": head["delivery"]})
    );
    assert_eq!(dropped + copies.len() as i64, 70, "{inbox:?}");
    assert_eq!(dropped, inbox_drops(&mut con));
    assert!((3..3 + 64).contains(&copies.len()), "{}", copies.len());
    assert_eq!(ids(copies), ((dropped + 1)..=70).collect::<Vec<_>>());
    assert!(delivery(head) < delivery(&copies[0]));
    // The gap is on top of COUNT.
    assert_eq!(
        ids(&page(&mut con, &["CHAT.FETCH", "bob", "COUNT", "2"])),
        [-1, dropped + 1, dropped + 2]
    );

    // More drops before an ACK add up, under the latest delivery.
    send_many(&mut con, "r", "alice", 64);
    let inbox = page(&mut con, &["CHAT.FETCH", "bob", "COUNT", "1000"]);
    let total = inbox[0]["dropped"].as_i64().unwrap();
    assert_eq!(total, inbox_drops(&mut con));
    assert!(total > dropped, "{total}");
    assert_eq!(total + inbox.len() as i64 - 1, 134);
    assert!(delivery(&inbox[0]) > delivery(head));
    assert_eq!(ids(&inbox[1..]), ((total + 1)..=134).collect::<Vec<_>>());

    // ACK of the gap's delivery clears it, and no copy.
    let kept = inbox.len() - 1;
    assert_eq!(
        int(&q(
            &mut con,
            &["CHAT.ACK", "bob", inbox[0]["delivery"].as_str().unwrap()]
        )),
        0
    );
    let after = page(&mut con, &["CHAT.FETCH", "bob", "COUNT", "1000"]);
    assert_eq!(after, inbox[1..], "the copies stay, the gap went");
    assert_eq!(after.len(), kept);

    // A new gap, cleared by the ACK of a later copy.
    send_many(&mut con, "r", "alice", 70);
    let inbox = page(&mut con, &["CHAT.FETCH", "bob", "COUNT", "1000"]);
    let again = inbox[0]["dropped"].as_i64().unwrap();
    assert_eq!(inbox[0]["type"], json!("gap"));
    assert_eq!(total + again, inbox_drops(&mut con));
    assert_eq!(again + inbox.len() as i64 - 1, kept as i64 + 70);
    let third = inbox[3]["delivery"].as_str().unwrap();
    assert_eq!(int(&q(&mut con, &["CHAT.ACK", "bob", third])), 3);
    let after = page(&mut con, &["CHAT.FETCH", "bob", "COUNT", "1000"]);
    assert_eq!(after, inbox[4..]);
    assert!(after.iter().all(|d| d["type"] == json!("message")));
}

// ---------------------------------------------------------------------------
// Replicas, DEBUG RELOAD and the AOF

const USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];

/// A bit of everything: a thread with a deleted reply and mentions,
/// reactions (one by a member who left), pins, a thread whose root
/// retention removed (needs chat.history-max 5), and an inbox that dropped
/// copies (needs chat.inbox-max 3).
fn conversation(con: &mut Connection) {
    room_with(con, "r", &USERS[..3]);
    send(con, "r", "alice", "root", &[]);
    send(
        con,
        "r",
        "bob",
        "@carol",
        &["REPLY", "1", "MENTION", "carol"],
    );
    send(
        con,
        "r",
        "carol",
        "@alice @bob",
        &["REPLY", "1", "MENTION", "alice", "MENTION", "bob"],
    );
    send(con, "r", "bob", "oops", &["REPLY", "1", "DEDUP", "k"]);
    q(con, &["CHAT.DELETE", "r", "bob", "4"]);
    send(con, "r", "alice", "@dave? not here", &["MENTION", "bob"]);
    for (user, id, reaction) in [
        ("bob", "1", "👍"),
        ("carol", "1", "ok"),
        ("carol", "1", "👍"),
        ("alice", "2", "🎉"),
    ] {
        q(con, &["CHAT.REACT", "r", user, id, reaction]);
    }
    q(con, &["CHAT.PIN", "r", "carol", "2"]);
    q(con, &["CHAT.PIN", "r", "bob", "1"]);
    q(con, &["CHAT.PIN", "r", "bob", "3"]);
    q(con, &["CHAT.UNPIN", "r", "bob", "3"]);
    q(con, &["CHAT.REGISTER", "dave", "D"]);
    q(con, &["CHAT.SUBSCRIBE", "r", "dave"]);
    q(con, &["CHAT.REACT", "r", "dave", "1", "ok"]);
    q(con, &["CHAT.UNSUBSCRIBE", "r", "dave"]);

    room_with(con, "t", &USERS[..2]);
    send(con, "t", "alice", "root", &[]);
    send_many(con, "t", "alice", 127);
    send(con, "t", "bob", "late", &["REPLY", "1", "MENTION", "alice"]);
    send_many(con, "t", "bob", 6);

    room_with(con, "ib", &["alice", "dave"]);
    send_many(con, "ib", "alice", 70);
}

/// What the conversation left, as every read shows it: each key's
/// CHAT.DUMP, and the replies of the reads that show what DUMP does not
/// (the inbox gap) or computes (mention counts, threads, gaps).
fn snapshot(con: &mut Connection) -> Vec<String> {
    // The chat values; the notification stream is a plain Redis stream.
    let mut keys = strings(&q(con, &["KEYS", "*"]));
    keys.retain(|k| !k.starts_with("chat:notify"));
    keys.sort();
    let mut seen: Vec<String> = keys
        .iter()
        .map(|k| format!("{k}: {}", text(&q(con, &["CHAT.DUMP", k]))))
        .collect();
    for u in USERS {
        seen.push(format!("{:?}", q(con, &["CHAT.FETCH", u, "COUNT", "1000"])));
        seen.push(format!("{:?}", q(con, &["CHAT.MENTIONS", u])));
    }
    for read in [
        &["CHAT.THREAD", "r", "1"][..],
        &["CHAT.THREAD", "t", "1"],
        &["CHAT.HISTORY", "t", "AFTER", "0", "COUNT", "2"],
        &["CHAT.HISTORY", "r", "COUNT", "1000"],
        &["CHAT.PINS", "r"],
        &["CHAT.REACTIONS", "r", "1"],
        &["CHAT.INFO", "r"],
        &["CHAT.INFO", "t"],
        &["CHAT.CURSOR", "r", "bob"],
    ] {
        seen.push(format!("{read:?} -> {:?}", q(con, read)));
    }
    seen
}

/// The counts the conversation must have left, checked on one snapshot's
/// server.
fn check_conversation(con: &mut Connection) {
    let root = &page(con, &["CHAT.THREAD", "r", "1"])[0];
    assert_eq!(root["replies"], json!(3));
    assert_eq!(root["last_reply"], json!(4));
    assert_eq!(root["reactions"], json!({"👍": 2, "ok": 2}));
    assert_eq!(ids(&page(con, &["CHAT.PINS", "r"])), [1, 2]);
    let thread = page(con, &["CHAT.THREAD", "t", "1"]);
    assert_eq!(thread[0], gap("t", 0, 129));
    assert_eq!(ids(&thread), [-1, 129]);
    let inbox = page(con, &["CHAT.FETCH", "dave", "COUNT", "1000"]);
    assert_eq!(inbox[0]["type"], json!("gap"));
    assert_eq!(
        inbox[0]["dropped"].as_i64().unwrap() + inbox.len() as i64 - 1,
        70
    );
    // alice and carol answered after they were mentioned in r; bob was
    // mentioned again after his reply.
    assert_eq!(mentions(con, "alice"), [("t".to_string(), 1)]);
    assert_eq!(mentions(con, "bob"), [("r".to_string(), 1)]);
    assert!(mentions(con, "carol").is_empty());
}

#[test]
fn a_replica_and_a_reload_keep_every_conversation() {
    let primary = Server::start();
    let replica = start_replica(&primary, true);
    let mut con = primary.conn();
    // Only the primary's limits: the replica follows what it decided.
    q(&mut con, &["CONFIG", "SET", "chat.history-max", "5"]);
    q(&mut con, &["CONFIG", "SET", "chat.inbox-max", "3"]);
    conversation(&mut con);
    check_conversation(&mut con);
    wait_for_replicas(&mut con, 1);
    let mut rcon = replica.conn();
    assert_same_data(&mut con, &mut rcon, "replica");
    let before = snapshot(&mut con);
    assert_eq!(snapshot(&mut rcon), before, "the replica reads the same");

    q(&mut con, &["DEBUG", "RELOAD"]);
    assert_eq!(snapshot(&mut con), before, "after DEBUG RELOAD");
    check_conversation(&mut con);

    // And the replica follows what comes after.
    q(&mut con, &["CHAT.REACT", "r", "alice", "1", "ok"]);
    q(&mut con, &["CHAT.PIN", "r", "alice", "3"]);
    q(&mut con, &["CHAT.READ", "r", "bob", "3"]);
    send(
        &mut con,
        "r",
        "carol",
        "more",
        &["REPLY", "2", "MENTION", "alice"],
    );
    wait_for_replicas(&mut con, 1);
    assert_same_data(&mut con, &mut rcon, "replica after more");
    assert_eq!(snapshot(&mut rcon), snapshot(&mut con));
}

const AOF: [&str; 4] = ["--appendonly", "yes", "--appendfsync", "always"];
const LIMITS: [&str; 4] = ["history-max", "5", "inbox-max", "3"];

#[test]
fn an_aof_restart_keeps_every_conversation() {
    let mut server = Server::start_with(&LIMITS, &AOF);
    let mut con = server.conn();
    conversation(&mut con);
    let before = snapshot(&mut con);
    let digest_before = digest(&mut con);
    server.kill();
    server.restart_with(&LIMITS, &AOF);
    let mut con = server.conn();
    assert_eq!(digest(&mut con), digest_before, "replayed from the AOF");
    assert_eq!(snapshot(&mut con), before);
    check_conversation(&mut con);

    // From a rewritten AOF, with more in the file written after it.
    rewrite_aof(&mut con);
    q(&mut con, &["CHAT.UNREACT", "r", "carol", "1", "ok"]);
    q(&mut con, &["CHAT.UNPIN", "r", "carol", "1"]);
    send(
        &mut con,
        "r",
        "bob",
        "@alice",
        &["REPLY", "2", "MENTION", "alice"],
    );
    send_many(&mut con, "ib", "alice", 64);
    let before = snapshot(&mut con);
    let digest_before = digest(&mut con);
    server.kill();
    server.restart_with(&LIMITS, &AOF);
    let mut con = server.conn();
    assert_eq!(digest(&mut con), digest_before, "after a rewrite");
    assert_eq!(snapshot(&mut con), before);
}
