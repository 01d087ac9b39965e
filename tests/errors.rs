//! Bad input gets a clear error that starts with a code, and writes nothing.

mod common;

use common::*;

/// A room `general` with members alice and bob, and a registered outsider.
fn setup(server: &Server) -> redis::Connection {
    let mut con = server.conn();
    room_with(&mut con, "general", &["alice", "bob"]);
    q(&mut con, &["CHAT.REGISTER", "outsider", "O"]);
    q(&mut con, &["CHAT.SEND", "general", "alice", "hello"]);
    con
}

/// Runs `args`, expects exactly `expected`, and checks nothing was written.
fn refused(con: &mut redis::Connection, args: &[&str], expected: &str) {
    let before = digest(con);
    assert_eq!(err(con, args), expected, "{args:?}");
    assert_eq!(digest(con), before, "{args:?} wrote something");
}

#[test]
fn wrong_arity_gets_the_standard_error() {
    let server = Server::start();
    let mut con = setup(&server);
    let cases: &[&[&str]] = &[
        &["CHAT.REGISTER", "u"],
        &["CHAT.PROFILE"],
        &["CHAT.PROFILE", "a", "b"],
        &["CHAT.CREATE", "r"],
        &["CHAT.INFO"],
        &["CHAT.SUBSCRIBE", "general"],
        &["CHAT.UNSUBSCRIBE", "general", "bob", "x"],
        &["CHAT.MEMBERS"],
        &["CHAT.ROOMS"],
        &["CHAT.SEND", "general", "alice"],
        &["CHAT.HISTORY"],
        &["CHAT.COUNTS"],
        &["CHAT.FETCH"],
        &["CHAT.ACK", "bob"],
        &["CHAT.ONLINE"],
        &["CHAT.OFFLINE"],
        &["CHAT.PRESENCE", "a", "b"],
    ];
    for args in cases {
        let name = args[0].to_lowercase();
        refused(
            &mut con,
            args,
            &format!("ERR wrong number of arguments for '{name}' command"),
        );
    }
}

#[test]
fn unknown_options_are_syntax_errors() {
    let server = Server::start();
    let mut con = setup(&server);
    let cases: &[&[&str]] = &[
        &["CHAT.SEND", "general", "alice", "hi", "extra"],
        &["CHAT.REGISTER", "u", "n", "x"],
        &["CHAT.REGISTER", "u", "n", "PASSWORD"],
        &["CHAT.HISTORY", "general", "SINCE", "1"],
        &["CHAT.HISTORY", "general", "BEFORE", "5", "AFTER", "1"],
        &["CHAT.HISTORY", "general", "AFTER", "1", "BEFORE", "5"],
        &["CHAT.HISTORY", "general", "COUNT"],
        &["CHAT.FETCH", "bob", "WAIT", "1"],
        &["CHAT.FETCH", "bob", "BLOCK"],
        &["CHAT.ONLINE", "bob", "FOREVER"],
        &["CHAT.ONLINE", "bob", "TTL"],
    ];
    for args in cases {
        refused(&mut con, args, "ERR syntax error");
    }
}

#[test]
fn bad_numbers_name_the_value() {
    let server = Server::start();
    let mut con = setup(&server);
    let cases: &[(&[&str], &str)] = &[
        (
            &["CHAT.HISTORY", "general", "COUNT", "0"],
            "ERR COUNT must be an integer from 1 to 1000, got '0'",
        ),
        (
            &["CHAT.HISTORY", "general", "COUNT", "-1"],
            "ERR COUNT must be an integer from 1 to 1000, got '-1'",
        ),
        (
            &["CHAT.HISTORY", "general", "COUNT", "1001"],
            "ERR COUNT must be an integer from 1 to 1000, got '1001'",
        ),
        (
            &["CHAT.HISTORY", "general", "COUNT", "ten"],
            "ERR COUNT must be an integer from 1 to 1000, got 'ten'",
        ),
        (
            &["CHAT.HISTORY", "general", "BEFORE", "-3"],
            "ERR BEFORE must be an integer from 0 to 9223372036854775807, got '-3'",
        ),
        (
            &["CHAT.HISTORY", "general", "AFTER", "1.5"],
            "ERR AFTER must be an integer from 0 to 9223372036854775807, got '1.5'",
        ),
        (
            &["CHAT.FETCH", "bob", "COUNT", "x"],
            "ERR COUNT must be an integer from 1 to 1000, got 'x'",
        ),
        (
            &["CHAT.FETCH", "bob", "BLOCK", "-1"],
            "ERR BLOCK must be an integer from 0 to 31536000000, got '-1'",
        ),
        (
            &["CHAT.FETCH", "bob", "BLOCK", "soon"],
            "ERR BLOCK must be an integer from 0 to 31536000000, got 'soon'",
        ),
        (
            &["CHAT.ONLINE", "bob", "TTL", "0"],
            "ERR TTL must be an integer from 1 to 86400, got '0'",
        ),
        (
            &["CHAT.ONLINE", "bob", "TTL", "-5"],
            "ERR TTL must be an integer from 1 to 86400, got '-5'",
        ),
        (
            &["CHAT.ONLINE", "bob", "TTL", "86401"],
            "ERR TTL must be an integer from 1 to 86400, got '86401'",
        ),
    ];
    for (args, expected) in cases {
        refused(&mut con, args, expected);
    }
}

#[test]
fn invalid_ids_and_texts_are_refused() {
    let server = Server::start();
    let mut con = setup(&server);
    let room_err = "ERR invalid room id: use 1 to 128 bytes of A-Z a-z 0-9 _ . : @ -, optionally starting with a {tag}";
    let user_err = "ERR invalid user id: use 1 to 128 bytes of A-Z a-z 0-9 _ . : @ -, optionally starting with a {tag}";
    let long = "x".repeat(129);
    let cases: &[(&[&str], &str)] = &[
        (&["CHAT.REGISTER", "has space", "n"], user_err),
        (&["CHAT.REGISTER", "", "n"], user_err),
        (&["CHAT.REGISTER", &long, "n"], user_err),
        (&["CHAT.REGISTER", "{tag}", "n"], user_err),
        (&["CHAT.CREATE", "a/b", "t"], room_err),
        (&["CHAT.SEND", "gen eral", "alice", "hi"], room_err),
        (&["CHAT.SEND", "general", "al ice", "hi"], user_err),
        (&["CHAT.PROFILE", "é"], user_err),
        (&["CHAT.INFO", "é"], room_err),
        (
            &["CHAT.SEND", "general", "alice", ""],
            "ERR message text is empty",
        ),
    ];
    for (args, expected) in cases {
        refused(&mut con, args, expected);
    }
    // Not UTF-8: sent as raw bytes.
    for (cmd, expected) in [
        (
            vec!["CHAT.REGISTER".as_bytes(), b"u", b"\xff\xfe"],
            "ERR name is not valid UTF-8",
        ),
        (
            vec!["CHAT.CREATE".as_bytes(), b"r", b"\xc3("],
            "ERR title is not valid UTF-8",
        ),
        (
            vec![
                "CHAT.SEND".as_bytes(),
                b"general",
                b"alice",
                b"bad \xff text",
            ],
            "ERR message text is not valid UTF-8",
        ),
    ] {
        let before = digest(&mut con);
        let e = redis::cmd(std::str::from_utf8(cmd[0]).unwrap())
            .arg(&cmd[1..])
            .query::<redis::Value>(&mut con)
            .unwrap_err();
        assert_eq!(error_text(&e), expected);
        assert_eq!(digest(&mut con), before);
    }
}

#[test]
fn text_longer_than_the_limit_is_refused() {
    let server = Server::start_with(&["max-text-bytes", "20"], &[]);
    let mut con = setup(&server);
    q(
        &mut con,
        &["CHAT.SEND", "general", "alice", "01234567890123456789"],
    );
    refused(
        &mut con,
        &["CHAT.SEND", "general", "alice", "01234567890123456789X"],
        "ERR message text is 21 bytes, more than chat.max-text-bytes (20)",
    );
    // Characters count in bytes: 7 × 3 bytes = 21.
    refused(
        &mut con,
        &["CHAT.SEND", "general", "alice", "中文中文中文中"],
        "ERR message text is 21 bytes, more than chat.max-text-bytes (20)",
    );
    // Names and titles have the same bound.
    refused(
        &mut con,
        &["CHAT.CREATE", "r", "a title of 25 bytes......"],
        "ERR title is 25 bytes, more than chat.max-text-bytes (20)",
    );
    q(&mut con, &["CONFIG", "SET", "chat.max-text-bytes", "100"]);
    q(
        &mut con,
        &["CHAT.SEND", "general", "alice", "中文中文中文中"],
    );
}

#[test]
fn unknown_rooms_and_users() {
    let server = Server::start();
    let mut con = setup(&server);
    let cases: &[(&[&str], &str)] = &[
        (&["CHAT.SUBSCRIBE", "nowhere", "bob"], "ERR no such room"),
        (&["CHAT.SUBSCRIBE", "general", "nobody"], "ERR no such user"),
        (&["CHAT.MEMBERS", "nowhere"], "ERR no such room"),
        (&["CHAT.ROOMS", "nobody"], "ERR no such user"),
        (&["CHAT.SEND", "nowhere", "alice", "hi"], "ERR no such room"),
        (
            &["CHAT.SEND", "general", "nobody", "hi"],
            "ERR no such user",
        ),
        (
            &["CHAT.SEND", "general", "outsider", "hi"],
            "ERR user is not a member of the room",
        ),
        (&["CHAT.HISTORY", "nowhere"], "ERR no such room"),
        (&["CHAT.COUNTS", "nowhere"], "ERR no such room"),
        (&["CHAT.FETCH", "nobody"], "ERR no such user"),
        (&["CHAT.FETCH", "nobody", "BLOCK", "10"], "ERR no such user"),
        (&["CHAT.ACK", "nobody", "1-0"], "ERR no such user"),
        (&["CHAT.ONLINE", "nobody"], "ERR no such user"),
        (&["CHAT.OFFLINE", "nobody"], "ERR no such user"),
        (&["CHAT.PRESENCE", "nowhere"], "ERR no such room"),
        (
            &["CHAT.REGISTER", "alice", "again"],
            "ERR user already exists",
        ),
        (
            &["CHAT.CREATE", "general", "again"],
            "ERR room already exists",
        ),
        (
            &["CHAT.ACK", "bob", "not-a-delivery"],
            "ERR invalid delivery 'not-a-delivery': use a delivery string returned by CHAT.FETCH",
        ),
        (
            &["CHAT.ACK", "bob", "12"],
            "ERR invalid delivery '12': use a delivery string returned by CHAT.FETCH",
        ),
    ];
    for (args, expected) in cases {
        refused(&mut con, args, expected);
    }
}

#[test]
fn keys_of_the_wrong_type_get_wrongtype_and_nothing_is_written() {
    let server = Server::start();
    let mut con = setup(&server);
    let wrong =
        |key: &str| format!("WRONGTYPE key '{key}' holds the wrong kind of value for chat data");

    // Each key SEND would touch, spoiled in turn by a plain SET.
    for key in [
        "chat:room:{general}:log",
        "chat:room:{general}:counts",
        "chat:room:{general}:members",
        "chat:user:{bob}:inbox",
    ] {
        q(&mut con, &["RENAME", key, "saved"]);
        q(&mut con, &["SET", key, "oops"]);
        refused(
            &mut con,
            &["CHAT.SEND", "general", "alice", "hi"],
            &wrong(key),
        );
        q(&mut con, &["DEL", key]);
        q(&mut con, &["RENAME", "saved", key]);
    }
    q(&mut con, &["CHAT.SEND", "general", "alice", "still works"]);

    q(&mut con, &["SET", "chat:room:{bad}", "x"]);
    refused(
        &mut con,
        &["CHAT.CREATE", "bad", "t"],
        &wrong("chat:room:{bad}"),
    );
    refused(&mut con, &["CHAT.INFO", "bad"], &wrong("chat:room:{bad}"));
    q(&mut con, &["SET", "chat:user:{bad}", "x"]);
    refused(
        &mut con,
        &["CHAT.REGISTER", "bad", "n"],
        &wrong("chat:user:{bad}"),
    );
    refused(
        &mut con,
        &["CHAT.PROFILE", "bad"],
        &wrong("chat:user:{bad}"),
    );
    q(&mut con, &["HSET", "chat:user:{bob}:online", "f", "v"]);
    refused(
        &mut con,
        &["CHAT.ONLINE", "bob"],
        &wrong("chat:user:{bob}:online"),
    );
    q(&mut con, &["DEL", "chat:user:{bob}:online"]);
    q(&mut con, &["SET", "chat:user:{bob}:rooms", "x"]);
    refused(
        &mut con,
        &["CHAT.SUBSCRIBE", "general", "bob"],
        &wrong("chat:user:{bob}:rooms"),
    );
    refused(
        &mut con,
        &["CHAT.ROOMS", "bob"],
        &wrong("chat:user:{bob}:rooms"),
    );
    q(&mut con, &["DEL", "chat:user:{bob}:inbox"]);
    q(&mut con, &["LPUSH", "chat:user:{bob}:inbox", "x"]);
    refused(
        &mut con,
        &["CHAT.FETCH", "bob"],
        &wrong("chat:user:{bob}:inbox"),
    );
    refused(
        &mut con,
        &["CHAT.ACK", "bob", "1-0"],
        &wrong("chat:user:{bob}:inbox"),
    );
}

#[test]
fn commands_that_tell_the_room_check_its_roster_before_writing() {
    let server = Server::start();
    let mut con = setup(&server);
    q(&mut con, &["CHAT.SEND", "general", "bob", "second"]);
    let roster = "chat:room:{general}:roster";
    let wrong = format!("WRONGTYPE key '{roster}' holds the wrong kind of value for chat data");
    q(&mut con, &["RENAME", roster, "saved"]);
    q(&mut con, &["HSET", roster, "f", "v"]);
    for args in [
        &["CHAT.READ", "general", "alice", "2"][..],
        &["CHAT.EDIT", "general", "alice", "1", "changed"],
        &["CHAT.DELETE", "general", "alice", "1"],
        &["CHAT.TYPING", "general", "alice"],
    ] {
        refused(&mut con, args, &wrong);
    }
    q(&mut con, &["DEL", roster]);
    q(&mut con, &["RENAME", "saved", roster]);

    // CHAT.DM checks both users' room lists before it creates the room.
    q(&mut con, &["SET", "chat:user:{bob}:rooms", "x"]);
    refused(
        &mut con,
        &["CHAT.DM", "alice", "bob"],
        "WRONGTYPE key 'chat:user:{bob}:rooms' holds the wrong kind of value for chat data",
    );
}

#[test]
fn every_error_reply_starts_with_a_code() {
    let server = Server::start();
    let mut con = setup(&server);
    let samples: &[&[&str]] = &[
        &["CHAT.SEND", "general", "outsider", "x"],
        &["CHAT.HISTORY", "general", "COUNT", "x"],
        &["CHAT.FETCH", "bob", "BOGUS"],
        &["CHAT.ACK", "bob", "x"],
        &["CHAT.SEND", "general", "alice"],
    ];
    for args in samples {
        let e = err(&mut con, args);
        let code = e.split(' ').next().unwrap();
        assert!(
            code.chars().all(|c| c.is_ascii_uppercase()) && e.len() > code.len() + 5,
            "{e}"
        );
    }
}

#[test]
fn a_history_edited_by_hand_refuses_sends_and_nothing_is_written() {
    let server = Server::start();
    let mut con = setup(&server);
    // The log already holds an entry past the room's last id.
    q(
        &mut con,
        &[
            "XADD",
            "chat:room:{general}:log",
            "5-0",
            "sender",
            "x",
            "text",
            "y",
            "ts",
            "0",
        ],
    );
    let e = refused_any(&mut con, &["CHAT.SEND", "general", "alice", "hi"]);
    assert!(
        e.starts_with("ERR internal error: the history of room 'general' already holds"),
        "{e}"
    );
}

#[test]
fn an_inbox_that_cannot_take_more_does_not_stop_the_send() {
    let server = Server::start();
    let mut con = setup(&server);
    q(&mut con, &["CHAT.REGISTER", "carol", "C"]);
    q(&mut con, &["CHAT.SUBSCRIBE", "general", "carol"]);
    // Nothing can be appended after the largest possible stream id.
    let max = format!("{}-{}", u64::MAX, u64::MAX);
    q(
        &mut con,
        &["XADD", "chat:user:{carol}:inbox", &max, "x", "y"],
    );
    // The send happens in full for everybody else and is not half-done.
    assert_eq!(
        int(&q(&mut con, &["CHAT.SEND", "general", "alice", "hi"])),
        2
    );
    assert_eq!(docs(&q(&mut con, &["CHAT.FETCH", "bob"])).len(), 2);
    assert_eq!(
        int(&field(&q(&mut con, &["CHAT.INFO", "general"]), "last_id")),
        2
    );
    assert!(
        server.log().contains("not put in the inbox of 'carol'"),
        "{}",
        server.log()
    );
}

/// Like `refused`, for errors whose text is checked by the caller.
fn refused_any(con: &mut redis::Connection, args: &[&str]) -> String {
    let before = digest(con);
    let e = err(con, args);
    assert_eq!(digest(con), before, "{args:?} wrote something");
    e
}
