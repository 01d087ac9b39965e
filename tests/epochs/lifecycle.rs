//! A room dropped and created again, AFTER beyond the last id, the replies
//! that carry a room's epoch, bad EPOCH arguments, and replication.

use std::time::Duration;

use redis::Value;

use crate::common::*;
use crate::{assert_reset, catch_up, epoch_of};

/// `REPLICAOF` a port nobody answers, then `REPLICAOF NO ONE`: a
/// promotion, as the server sees it.
fn promote(con: &mut redis::Connection) {
    q(con, &["REPLICAOF", "127.0.0.1", &free_port().to_string()]);
    q(con, &["REPLICAOF", "NO", "ONE"]);
}

#[test]
fn a_room_dropped_and_created_again_has_a_new_epoch_and_no_reset_event() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    for text in ["one", "two", "three"] {
        q(&mut con, &["CHAT.SEND", "r", "alice", text]);
    }
    let old = epoch_of(&mut con, "r");
    q(&mut con, &["CHAT.ONLINE", "bob", "TTL", "600"]);
    let mut bob = Listener::exact(&server, "chat:user:{bob}:push");

    q(&mut con, &["CHAT.DROP", "r"]);
    room_with(&mut con, "r", &["alice", "bob"]);
    let new = epoch_of(&mut con, "r");
    assert_ne!(new, old, "a room created again under its id kept its epoch");
    assert_eq!(int(&q(&mut con, &["CHAT.SEND", "r", "alice", "again"])), 1);
    assert_eq!(
        epoch_of(&mut con, "r"),
        new,
        "a send under the same generation"
    );

    // bob hears the message, and no reset: a created room is new to all.
    loop {
        let event = bob.next(Duration::from_secs(5)).expect("the message");
        assert_ne!(event["type"], "reset", "{event}");
        if event["type"] == "message" {
            assert_eq!(event["text"], "again");
            break;
        }
    }
    // Holding the old epoch, bob is told to reload, even from an id the
    // new room has reached.
    let page = catch_up(&mut con, "r", 1, &old);
    let messages = assert_reset(&mut con, "r", &page, "the old epoch");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["text"], "again");
    let page = catch_up(&mut con, "r", 0, &new);
    assert_eq!(page.len(), 1, "the current epoch: as without EPOCH");
}

#[test]
fn after_beyond_the_last_id_is_reported_with_or_without_epoch() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    for text in ["root", "a reply", "other"] {
        q(&mut con, &["CHAT.SEND", "r", "alice", text]);
    }
    let epoch = epoch_of(&mut con, "r");
    let page = docs(&q(&mut con, &["CHAT.HISTORY", "r", "AFTER", "9"]));
    assert_reset(&mut con, "r", &page, "AFTER 9 without EPOCH");
    let page = catch_up(&mut con, "r", 9, &epoch);
    assert_reset(&mut con, "r", &page, "AFTER 9 with the current epoch");
    let page = docs(&q(
        &mut con,
        &["CHAT.HISTORY", "r", "AFTER", "9", "COUNT", "2"],
    ));
    let messages = assert_reset(&mut con, "r", &page, "COUNT 2");
    assert_eq!(messages.len(), 2, "COUNT applies to the newest messages");
    // At the last id: nothing new, no reset.
    assert!(catch_up(&mut con, "r", 3, &epoch).is_empty());
    assert!(docs(&q(&mut con, &["CHAT.HISTORY", "r", "AFTER", "3"])).is_empty());
}

#[test]
fn a_thread_read_under_an_old_epoch_or_beyond_the_last_id_starts_with_a_reset() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    q(&mut con, &["CHAT.SEND", "r", "alice", "root"]);
    q(
        &mut con,
        &["CHAT.SEND", "r", "bob", "first reply", "REPLY", "1"],
    );
    let old = epoch_of(&mut con, "r");
    let thread = |con: &mut redis::Connection, extra: &[&str]| {
        let mut args = vec!["CHAT.THREAD", "r", "1"];
        args.extend_from_slice(extra);
        docs(&q(con, &args))
    };
    let whole = thread(&mut con, &[]);
    assert_eq!(
        thread(&mut con, &["EPOCH", &old]),
        whole,
        "the current epoch"
    );
    assert!(thread(&mut con, &["AFTER", "2", "EPOCH", &old]).is_empty());

    let beyond = thread(&mut con, &["AFTER", "7"]);
    let reset = serde_json::json!({"type": "reset", "room": "r", "epoch": old, "last_id": 2});
    assert_eq!(beyond[0], reset);
    assert_eq!(
        beyond[1..],
        whole[..],
        "after the reset: the root and its replies"
    );

    promote(&mut con);
    q(
        &mut con,
        &["CHAT.SEND", "r", "bob", "second reply", "REPLY", "1"],
    );
    let new = epoch_of(&mut con, "r");
    assert_ne!(new, old);
    let page = thread(&mut con, &["AFTER", "2", "EPOCH", &old]);
    assert_eq!(
        page[0],
        serde_json::json!({"type": "reset", "room": "r", "epoch": new, "last_id": 3})
    );
    let texts: Vec<&str> = page[1..]
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(texts, ["root", "first reply", "second reply"]);
    let page = thread(&mut con, &["AFTER", "2", "EPOCH", &new]);
    assert_eq!(page.len(), 1);
    assert_eq!(page[0]["text"], "second reply");
}

#[test]
fn subscribe_channels_and_info_show_the_epoch() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "a", &["alice", "bob"]);
    room_with(&mut con, "b", &["alice"]);
    q(&mut con, &["CHAT.SEND", "a", "alice", "hello"]);
    let (epoch_a, epoch_b) = (epoch_of(&mut con, "a"), epoch_of(&mut con, "b"));
    assert_eq!(epoch_a.len(), 16, "{epoch_a}");
    assert!(epoch_a.bytes().all(|c| c.is_ascii_hexdigit()), "{epoch_a}");
    assert_ne!(epoch_a, epoch_b, "each room has its own");

    for mut c in [server.conn(), server.conn3()] {
        let plain = q(&mut c, &["CHAT.SUBSCRIBE", "a", "bob"]);
        let with = q(&mut c, &["CHAT.SUBSCRIBE", "a", "bob", "WITHEPOCH"]);
        assert_eq!(field(&with, "listen"), plain);
        assert_eq!(text(&field(&with, "epoch")), epoch_a);
        assert_eq!(int(&field(&with, "last_id")), 1);

        for words in [["PRESENCE", "WITHEPOCHS"], ["WITHEPOCHS", "PRESENCE"]] {
            let plain = q(&mut c, &["CHAT.CHANNELS", "alice", "PRESENCE"]);
            let mut args = vec!["CHAT.CHANNELS", "alice"];
            args.extend_from_slice(&words);
            let with = q(&mut c, &args);
            assert_eq!(field(&with, "listen"), plain);
            let rooms = pairs(&field(&with, "rooms"));
            let shown: Vec<(String, String, i64)> = rooms
                .iter()
                .map(|(room, v)| {
                    (
                        room.clone(),
                        text(&field(v, "epoch")),
                        int(&field(v, "last_id")),
                    )
                })
                .collect();
            let mut shown = shown;
            shown.sort();
            assert_eq!(
                shown,
                [
                    ("a".to_string(), epoch_a.clone(), 1),
                    ("b".to_string(), epoch_b.clone(), 0)
                ]
            );
        }
    }
}

#[test]
fn a_bad_epoch_is_refused_and_changes_nothing() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice"]);
    let before = digest(&mut con);
    for bad in ["", "xyz", "-1", "0x12", "12345678901234567"] {
        let e = err(&mut con, &["CHAT.HISTORY", "r", "AFTER", "0", "EPOCH", bad]);
        assert!(e.starts_with("ERR invalid EPOCH"), "{bad:?}: {e}");
        let e = err(&mut con, &["CHAT.THREAD", "r", "1", "EPOCH", bad]);
        assert!(e.starts_with("ERR "), "{bad:?}: {e}");
    }
    let e = err(&mut con, &["CHAT.HISTORY", "r", "EPOCH"]);
    assert!(e.starts_with("ERR "), "{e}");
    let e = err(&mut con, &["CHAT.SUBSCRIBE", "r", "alice", "WITHEPOCHS"]);
    assert!(e.starts_with("ERR "), "{e}");
    let e = err(&mut con, &["CHAT.CHANNELS", "alice", "WITHEPOCH"]);
    assert!(e.starts_with("ERR "), "{e}");
    assert_eq!(digest(&mut con), before);
    // The internal commands are refused from clients.
    let e = err(&mut con, &["CHAT.EPOCH", "r", "1", "1"]);
    assert!(e.starts_with("ERR "), "{e}");
    let e = err(&mut con, &["CHAT.GENERATION", "1"]);
    assert!(e.starts_with("ERR "), "{e}");
    assert_eq!(digest(&mut con), before);
}

#[test]
fn epoch_changes_replicate_exactly_also_inside_multi() {
    let primary = Server::start();
    let replica = start_replica(&primary, true);
    let mut con = primary.conn();
    let mut replica_con = replica.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    room_with(&mut con, "s", &["alice", "bob"]);
    q(&mut con, &["CHAT.SEND", "r", "alice", "one"]);
    q(&mut con, &["CHAT.DROP", "s"]);
    room_with(&mut con, "s", &["alice", "bob"]);
    wait_for_replicas(&mut con, 1);
    assert_same_data(&mut con, &mut replica_con, "after create, drop, create");

    let old = epoch_of(&mut con, "r");
    promote(&mut con);
    wait_for_link(&replica);
    q(&mut con, &["MULTI"]);
    q(&mut con, &["CHAT.SEND", "r", "alice", "two"]);
    q(&mut con, &["CHAT.SEND", "s", "alice", "two"]);
    q(&mut con, &["CHAT.SEND", "r", "bob", "three"]);
    let replies = q(&mut con, &["EXEC"]);
    assert!(
        matches!(replies, Value::Array(ref v) if v.len() == 3),
        "{replies:?}"
    );
    assert_ne!(epoch_of(&mut con, "r"), old);
    wait_for_replicas(&mut con, 1);
    assert_same_data(&mut con, &mut replica_con, "after the promotion");
    assert_eq!(epoch_of(&mut replica_con, "r"), epoch_of(&mut con, "r"));
    assert_eq!(
        dump(&mut replica_con, "r")["epoch"],
        dump(&mut con, "r")["epoch"]
    );
}

#[test]
fn a_room_restored_from_an_older_dump_gets_a_new_epoch_at_its_next_send() {
    let primary = Server::start();
    let replica = start_replica(&primary, true);
    let mut con = primary.conn();
    room_with(&mut con, "r", &["alice", "bob"]);
    for text in ["one", "two"] {
        q(&mut con, &["CHAT.SEND", "r", "alice", text]);
    }
    let backup = bytes(&mut con, &["DUMP", "r"]);
    let epoch = epoch_of(&mut con, "r");
    // Sent after the dump, seen by bob (last id 4), then lost to the restore.
    for text in ["three", "four"] {
        q(&mut con, &["CHAT.SEND", "r", "alice", text]);
    }
    restore(&mut con, "r", &backup, true).expect("RESTORE REPLACE");
    assert_eq!(
        epoch_of(&mut con, "r"),
        epoch,
        "the dump's epoch, until the next send"
    );
    let page = catch_up(&mut con, "r", 4, &epoch);
    assert_reset(
        &mut con,
        "r",
        &page,
        "4 is beyond the restored room's last id",
    );

    // Ids 3 and 4 are handed out again, under a new epoch.
    assert_eq!(
        int(&q(&mut con, &["CHAT.SEND", "r", "alice", "three again"])),
        3
    );
    let new = epoch_of(&mut con, "r");
    assert_ne!(new, epoch);
    let page = catch_up(&mut con, "r", 2, &epoch);
    assert_reset(&mut con, "r", &page, "bob's old epoch after the restore");
    wait_for_replicas(&mut con, 1);
    let mut replica_con = replica.conn();
    assert_same_data(&mut con, &mut replica_con, "after RESTORE and a send");
}
