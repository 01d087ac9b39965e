//! DUMP, RESTORE and MIGRATE: values back under their own name, over
//! themselves and over changed values with REPLACE, under another name
//! (shown but refused), and moved or copied between servers.

use redis::{Connection, Value};

use crate::common::*;
use crate::dataset::{assert_same, dataset, observe};
use crate::key_commands::misnamed;

// ---------------------------------------------------------------------------
// 3. DUMP, RESTORE and MIGRATE

#[test]
fn a_room_and_a_user_survive_dump_and_restore() {
    let server = Server::start();
    let mut con = server.conn();
    let data = dataset(&mut con);
    let before = observe(&mut con, &data);
    for key in ["ten", "pair", "bob", "u8", &data.dm] {
        let payload = bytes(&mut con, &["DUMP", key]);
        let value_digest = digest_value(&mut con, key);
        // Back under its own name, after DEL.
        q(&mut con, &["DEL", key]);
        assert!(!exists(&mut con, key));
        assert_eq!(
            restore(&mut con, key, &payload, false).unwrap(),
            Value::Okay
        );
        assert_eq!(digest_value(&mut con, key), value_digest, "{key}");
        // Over itself, with REPLACE; without, it is refused.
        let busy = restore(&mut con, key, &payload, false).unwrap_err();
        assert!(error_text(&busy).starts_with("BUSYKEY"), "{busy}");
        assert_eq!(restore(&mut con, key, &payload, true).unwrap(), Value::Okay);
        assert_eq!(digest_value(&mut con, key), value_digest, "{key}");
    }
    assert_same(&observe(&mut con, &data), &before, "after DUMP and RESTORE");

    // REPLACE puts back the value as it was, over a changed one.
    let old = bytes(&mut con, &["DUMP", "ten"]);
    let old_digest = digest_value(&mut con, "ten");
    let old_history = q(&mut con, &["CHAT.HISTORY", "ten", "COUNT", "1000"]);
    q(&mut con, &["CHAT.SEND", "ten", "u1", "a later message"]);
    q(&mut con, &["CHAT.EDIT", "ten", "u2", "3", "edited later"]);
    assert_ne!(digest_value(&mut con, "ten"), old_digest);
    restore(&mut con, "ten", &old, true).unwrap();
    assert_eq!(digest_value(&mut con, "ten"), old_digest);
    assert_eq!(
        q(&mut con, &["CHAT.HISTORY", "ten", "COUNT", "1000"]),
        old_history
    );
    assert_eq!(int(&q(&mut con, &["CHAT.SEND", "ten", "u1", "again"])), 26);

    // The same with a user.
    let old = bytes(&mut con, &["DUMP", "u8"]);
    let old_digest = digest_value(&mut con, "u8");
    let old_inbox = q(&mut con, &["CHAT.FETCH", "u8", "COUNT", "1000"]);
    q(&mut con, &["CHAT.ONLINE", "u8", "TTL", "30"]);
    assert_ne!(digest_value(&mut con, "u8"), old_digest);
    restore(&mut con, "u8", &old, true).unwrap();
    assert_eq!(digest_value(&mut con, "u8"), old_digest);
    assert_eq!(
        q(&mut con, &["CHAT.FETCH", "u8", "COUNT", "1000"]),
        old_inbox
    );
    assert_ne!(
        q(&mut con, &["CHAT.FETCH", "u8", "COUNT", "1000"]),
        Value::Array(vec![])
    );

    // Restored under another name, a value is shown but refused.
    let payload = bytes(&mut con, &["DUMP", "bob"]);
    restore(&mut con, "bob-elsewhere", &payload, false).unwrap();
    assert_eq!(
        digest_value(&mut con, "bob-elsewhere"),
        digest_value(&mut con, "bob")
    );
    assert_eq!(text(&q(&mut con, &["TYPE", "bob-elsewhere"])), "chat-user");
    let refused = err(&mut con, &["CHAT.PROFILE", "bob-elsewhere"]);
    assert!(
        refused.starts_with(&misnamed("bob-elsewhere", "user")),
        "{refused}"
    );
    let shown: serde_json::Value =
        serde_json::from_str(&text(&q(&mut con, &["CHAT.DUMP", "bob-elsewhere"]))).unwrap();
    assert_eq!(shown["name"], "Bob");
    assert_eq!(shown["password"], true);
}

/// Every chat key of `data` has the same DIGEST-VALUE on both servers.
fn assert_same_values(a: &mut Connection, b: &mut Connection, keys: &[String], what: &str) {
    for key in keys {
        assert_eq!(
            digest_value(b, key),
            digest_value(a, key),
            "{what}: DIGEST-VALUE of {key}"
        );
    }
}

#[test]
fn migrate_moves_rooms_and_users_between_servers() {
    let source = Server::start();
    let target = Server::start();
    let third = Server::start();
    let mut con = source.conn();
    let mut tcon = target.conn();
    let data = dataset(&mut con);
    let keys = data.keys();
    let before = observe(&mut con, &data);
    let target_port = target.port.to_string();

    // MIGRATE ... COPY, one key at a time: the source keeps its keys.
    for key in &keys {
        let reply = q(
            &mut con,
            &[
                "MIGRATE",
                "127.0.0.1",
                &target_port,
                key,
                "0",
                "5000",
                "COPY",
            ],
        );
        assert_eq!(reply, Value::Okay, "{key}");
    }
    for key in &keys {
        assert!(exists(&mut con, key), "{key} left the source");
    }
    assert_same_values(&mut con, &mut tcon, &keys, "after MIGRATE COPY");
    assert_same(
        &observe(&mut tcon, &data),
        &before,
        "target after MIGRATE COPY",
    );
    // The target runs commands on them.
    assert_eq!(
        int(&q(
            &mut tcon,
            &["CHAT.SEND", "pair", "bob", "on the target"]
        )),
        5
    );
    q(&mut tcon, &["CHAT.AUTH", "bob", "bob-new-secret"]);
    let fetched = docs(&q(&mut tcon, &["CHAT.FETCH", "alice", "COUNT", "1000"]));
    assert_eq!(fetched.last().unwrap()["text"], "on the target");

    // Without REPLACE a key the target holds is refused; with REPLACE the
    // target gets the source's value again.
    q(&mut con, &["CHAT.SEND", "ten", "u6", "on the source"]);
    let refused = err(
        &mut con,
        &[
            "MIGRATE",
            "127.0.0.1",
            &target_port,
            "ten",
            "0",
            "5000",
            "COPY",
        ],
    );
    assert!(refused.contains("BUSYKEY"), "{refused}");
    let mut args = vec![
        "MIGRATE",
        "127.0.0.1",
        &target_port,
        "",
        "0",
        "5000",
        "COPY",
        "REPLACE",
        "KEYS",
    ];
    args.extend(keys.iter().map(String::as_str));
    assert_eq!(q(&mut con, &args), Value::Okay);
    assert_same_values(&mut con, &mut tcon, &keys, "after MIGRATE COPY REPLACE");
    assert_eq!(digest(&mut tcon), digest(&mut con));
    assert_eq!(int(&q(&mut tcon, &["CHAT.SEND", "ten", "u6", "next"])), 27);

    // A plain MIGRATE moves the keys: gone from the source.
    let moved = observe(&mut con, &data);
    let third_port = third.port.to_string();
    let mut args = vec!["MIGRATE", "127.0.0.1", &third_port, "", "0", "5000", "KEYS"];
    args.extend(keys.iter().map(String::as_str));
    assert_eq!(q(&mut con, &args), Value::Okay);
    for key in &keys {
        assert!(!exists(&mut con, key), "{key} is still on the source");
    }
    assert_eq!(int(&q(&mut con, &["DBSIZE"])), 0);
    let mut third_con = third.conn();
    assert_same(
        &observe(&mut third_con, &data),
        &moved,
        "after a plain MIGRATE",
    );
    assert_eq!(
        int(&q(&mut third_con, &["CHAT.SEND", "ten", "u0", "moved"])),
        27
    );
    assert_eq!(
        int(&q(&mut third_con, &["CHAT.SEND", &data.dm, "bob", "moved"])),
        2
    );
    q(&mut third_con, &["CHAT.AUTH", "alice", "alice-secret"]);
}
