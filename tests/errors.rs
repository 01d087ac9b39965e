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

/// Like `refused`, for a list of calls that are all checked before the
/// test fails: what each call that did otherwise did.
struct Refusals(Vec<String>);

impl Refusals {
    fn check(&mut self, con: &mut redis::Connection, args: &[&str], expected: &str) {
        let before = digest(con);
        let outcome = match try_q(con, args) {
            Ok(v) => format!("{v:?}"),
            Err(e) => error_text(&e),
        };
        let wrote = digest(con) != before;
        if outcome != expected || wrote {
            self.0.push(format!(
                "{args:?} -> {outcome} (wrote: {wrote}), expected {expected}"
            ));
        }
    }

    fn assert_none(self) {
        assert!(self.0.is_empty(), "\n{}", self.0.join("\n"));
    }
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
        &["CHAT.DUMP"],
        &["CHAT.DUMP", "general", "alice"],
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

/// The error for a key of another Redis type under a room or user id.
fn wrongtype(key: &str) -> String {
    format!("WRONGTYPE key '{key}' holds another kind of value than a chat room or user")
}

/// The error for a chat key of the other kind.
fn other_kind(key: &str, holds: &str, wanted: &str) -> String {
    format!("WRONGTYPE key '{key}' holds a chat {holds}, not a chat {wanted}")
}

#[test]
fn keys_of_the_wrong_type_get_wrongtype_and_nothing_is_written() {
    let server = Server::start();
    let mut con = setup(&server);
    let mut wrong = Refusals(Vec::new());

    // Each key SEND names or opens (the room, the sender, the other
    // member), spoiled in turn by a plain SET.
    for key in ["general", "alice", "bob"] {
        q(&mut con, &["RENAME", key, "saved"]);
        q(&mut con, &["SET", key, "oops"]);
        wrong.check(
            &mut con,
            &["CHAT.SEND", "general", "alice", "hi"],
            &wrongtype(key),
        );
        q(&mut con, &["DEL", key]);
        q(&mut con, &["RENAME", "saved", key]);
    }
    q(&mut con, &["CHAT.SEND", "general", "alice", "still works"]);

    // Every other Redis type under an id that is neither a room nor a user.
    for (key, write) in [
        ("string", &["SET", "string", "x"][..]),
        ("list", &["RPUSH", "list", "x"]),
        ("hash", &["HSET", "hash", "f", "v"]),
        ("set", &["SADD", "set", "x"]),
        ("zset", &["ZADD", "zset", "1", "x"]),
        ("stream", &["XADD", "stream", "*", "f", "v"]),
    ] {
        q(&mut con, write);
        let calls: &[&[&str]] = &[
            &["CHAT.CREATE", key, "t"],
            &["CHAT.INFO", key],
            &["CHAT.HISTORY", key],
            &["CHAT.MEMBERS", key],
            &["CHAT.REGISTER", key, "n"],
            &["CHAT.PROFILE", key],
            &["CHAT.FETCH", key],
            &["CHAT.ROOMS", key],
            &["CHAT.SUBSCRIBE", "general", key],
            &["CHAT.SUBSCRIBE", key, "alice"],
            &["CHAT.DM", "alice", key],
            &["CHAT.DUMP", key],
        ];
        for args in calls {
            wrong.check(&mut con, args, &wrongtype(key));
        }
    }

    // A user whose key became a hash.
    q(&mut con, &["RENAME", "bob", "saved"]);
    q(&mut con, &["HSET", "bob", "f", "v"]);
    for args in [
        &["CHAT.ONLINE", "bob"][..],
        &["CHAT.OFFLINE", "bob"],
        &["CHAT.SUBSCRIBE", "general", "bob"],
        &["CHAT.UNSUBSCRIBE", "general", "bob"],
        &["CHAT.ROOMS", "bob"],
        &["CHAT.FETCH", "bob"],
        &["CHAT.FETCH", "bob", "BLOCK", "10"],
        &["CHAT.ACK", "bob", "1-0"],
        &["CHAT.UNREAD", "bob"],
        &["CHAT.CHANNELS", "bob"],
        &["CHAT.UNREGISTER", "bob"],
        &["CHAT.READ", "general", "bob", "1"],
        &["CHAT.TYPING", "general", "bob"],
        &["CHAT.SEND", "general", "bob", "hi"],
    ] {
        wrong.check(&mut con, args, &wrongtype("bob"));
    }
    wrong.assert_none();
}

#[test]
fn a_room_where_a_user_is_wanted_and_the_reverse() {
    let server = Server::start();
    let mut con = setup(&server);
    let room_not_user = other_kind("general", "room", "user");
    let user_not_room = other_kind("alice", "user", "room");
    let cases: &[(&[&str], &str)] = &[
        (&["CHAT.PROFILE", "general"], &room_not_user),
        (&["CHAT.ROOMS", "general"], &room_not_user),
        (&["CHAT.FETCH", "general"], &room_not_user),
        (&["CHAT.ACK", "general", "1-0"], &room_not_user),
        (&["CHAT.ONLINE", "general"], &room_not_user),
        (&["CHAT.OFFLINE", "general"], &room_not_user),
        (&["CHAT.UNREAD", "general"], &room_not_user),
        (&["CHAT.CHANNELS", "general"], &room_not_user),
        (&["CHAT.UNREGISTER", "general"], &room_not_user),
        (&["CHAT.SEND", "general", "general", "hi"], &room_not_user),
        (&["CHAT.SUBSCRIBE", "general", "general"], &room_not_user),
        (&["CHAT.DM", "alice", "general"], &room_not_user),
        (&["CHAT.INFO", "alice"], &user_not_room),
        (&["CHAT.MEMBERS", "alice"], &user_not_room),
        (&["CHAT.HISTORY", "alice"], &user_not_room),
        (&["CHAT.COUNTS", "alice"], &user_not_room),
        (&["CHAT.PRESENCE", "alice"], &user_not_room),
        (&["CHAT.SEND", "alice", "alice", "hi"], &user_not_room),
        (&["CHAT.SUBSCRIBE", "alice", "bob"], &user_not_room),
        (&["CHAT.READ", "alice", "bob", "1"], &user_not_room),
        (&["CHAT.DROP", "alice"], &user_not_room),
        (
            &["CHAT.REGISTER", "general", "n"],
            "ERR 'general' is the id of a room: rooms and users share the keyspace, so give them different ids (for example room:general and user:alice)",
        ),
        (
            &["CHAT.CREATE", "alice", "t"],
            "ERR 'alice' is the id of a user: rooms and users share the keyspace, so give them different ids (for example room:general and user:alice)",
        ),
    ];
    for (args, expected) in cases {
        refused(&mut con, args, expected);
    }
    // CHAT.DUMP shows either kind.
    let dump = |con: &mut redis::Connection, key: &str| -> serde_json::Value {
        serde_json::from_str(&text(&q(con, &["CHAT.DUMP", key]))).unwrap()
    };
    assert_eq!(dump(&mut con, "general")["type"], "chat-room");
    assert_eq!(dump(&mut con, "alice")["type"], "chat-user");
    assert_eq!(q(&mut con, &["CHAT.DUMP", "nothing"]), redis::Value::Nil);
}

/// The error for a chat value found under another name than its own.
fn misnamed(key: &str, kind: &str) -> String {
    format!(
        "ERR key '{key}' holds a chat {kind} made under another key name (renamed or copied by hand); other keys still name it by its old name, so rename it back to use it"
    )
}

#[test]
fn values_renamed_or_copied_by_hand_are_refused_under_their_new_name() {
    let server = Server::start();
    let mut con = setup(&server);
    q(&mut con, &["CHAT.CREATE", "lobby", "Lobby"]);
    q(&mut con, &["RENAME", "general", "moved"]);
    q(&mut con, &["COPY", "alice", "alice2"]);
    let room = misnamed("moved", "room");
    let user = misnamed("alice2", "user");
    let cases: &[(&[&str], &str)] = &[
        (&["CHAT.INFO", "moved"], &room),
        (&["CHAT.HISTORY", "moved"], &room),
        (&["CHAT.MEMBERS", "moved"], &room),
        (&["CHAT.SEND", "moved", "alice", "hi"], &room),
        (&["CHAT.SUBSCRIBE", "moved", "outsider"], &room),
        (&["CHAT.READ", "moved", "bob", "1"], &room),
        (&["CHAT.DROP", "moved"], &room),
        (&["CHAT.CREATE", "moved", "t"], &room),
        (&["CHAT.PROFILE", "alice2"], &user),
        (&["CHAT.FETCH", "alice2"], &user),
        (&["CHAT.ONLINE", "alice2"], &user),
        (&["CHAT.REGISTER", "alice2", "n"], &user),
        (&["CHAT.UNREGISTER", "alice2"], &user),
        (&["CHAT.SUBSCRIBE", "lobby", "alice2"], &user),
        (&["CHAT.DM", "alice2", "bob"], &user),
        (&["CHAT.SUBSCRIBE", "general", "bob"], "ERR no such room"),
        (&["CHAT.SEND", "general", "alice", "hi"], "ERR no such room"),
    ];
    for (args, expected) in cases {
        refused(&mut con, args, expected);
    }
    // CHAT.DUMP shows them under the name they have now.
    let moved: serde_json::Value =
        serde_json::from_str(&text(&q(&mut con, &["CHAT.DUMP", "moved"]))).unwrap();
    assert_eq!(moved["id"], "moved");
    assert_eq!(moved["messages"][0]["text"], "hello");
    let copy: serde_json::Value =
        serde_json::from_str(&text(&q(&mut con, &["CHAT.DUMP", "alice2"]))).unwrap();
    assert_eq!(copy["name"], "User alice");
    // The original of the copy works, and the room works again once
    // renamed back.
    q(&mut con, &["CHAT.PROFILE", "alice"]);
    q(&mut con, &["RENAME", "moved", "general"]);
    assert_eq!(
        int(&q(&mut con, &["CHAT.SEND", "general", "alice", "back"])),
        2
    );
}

/// A room with a second message (by bob), and a member's key spoiled by a
/// SET: the commands that tell a room's members open every member key
/// (a send's copies, an edit's or a delete's changed copies, a drop's room
/// lists) before writing, and refuse before writing anything. The key of
/// the member who acts, which each of these commands names, is refused
/// too, as is a spoiled user or direct room key for CHAT.DM.
#[test]
fn commands_that_tell_a_rooms_members_open_every_member_key_before_writing() {
    let server = Server::start();
    let mut con = setup(&server);
    q(&mut con, &["CHAT.SEND", "general", "bob", "second"]);
    q(&mut con, &["RENAME", "bob", "saved"]);
    q(&mut con, &["SET", "bob", "by hand"]);
    for args in [
        &["CHAT.SEND", "general", "alice", "third"][..],
        &["CHAT.EDIT", "general", "alice", "1", "changed"],
        &["CHAT.DELETE", "general", "alice", "1"],
        &["CHAT.DROP", "general"],
    ] {
        refused(&mut con, args, &wrongtype("bob"));
    }
    // READ and TYPING write no member's key (they publish to the members'
    // channels): refused the same way, or done without touching bob's key.
    for args in [
        &["CHAT.READ", "general", "alice", "2"][..],
        &["CHAT.TYPING", "general", "alice"],
    ] {
        let before = digest(&mut con);
        match try_q(&mut con, args) {
            Err(e) => {
                assert_eq!(error_text(&e), wrongtype("bob"), "{args:?}");
                assert_eq!(digest(&mut con), before, "{args:?} wrote something");
            }
            Ok(_) => assert_eq!(text(&q(&mut con, &["GET", "bob"])), "by hand"),
        }
    }
    q(&mut con, &["DEL", "bob"]);
    q(&mut con, &["RENAME", "saved", "bob"]);

    // The key of the member who acts, which every one of these commands
    // names: refused whether or not the command needs what it holds.
    q(&mut con, &["RENAME", "alice", "saved"]);
    q(&mut con, &["SET", "alice", "by hand"]);
    let mut wrong = Refusals(Vec::new());
    for args in [
        &["CHAT.SEND", "general", "alice", "third"][..],
        &["CHAT.EDIT", "general", "alice", "1", "changed"],
        &["CHAT.DELETE", "general", "alice", "1"],
        &["CHAT.READ", "general", "alice", "2"],
        &["CHAT.TYPING", "general", "alice"],
        &["CHAT.UNSUBSCRIBE", "general", "alice"],
    ] {
        wrong.check(&mut con, args, &wrongtype("alice"));
    }
    wrong.assert_none();
    q(&mut con, &["DEL", "alice"]);
    q(&mut con, &["RENAME", "saved", "alice"]);

    // CHAT.DM opens both users and the direct room before it creates it.
    q(&mut con, &["RENAME", "bob", "saved"]);
    q(&mut con, &["SET", "bob", "x"]);
    refused(&mut con, &["CHAT.DM", "alice", "bob"], &wrongtype("bob"));
    q(&mut con, &["DEL", "bob"]);
    q(&mut con, &["RENAME", "saved", "bob"]);
    q(&mut con, &["SET", "dm:5:alice:bob", "x"]);
    refused(
        &mut con,
        &["CHAT.DM", "alice", "bob"],
        &wrongtype("dm:5:alice:bob"),
    );
    q(&mut con, &["DEL", "dm:5:alice:bob"]);
    assert_eq!(
        text(&q(&mut con, &["CHAT.DM", "alice", "bob"])),
        "dm:5:alice:bob"
    );
}
/// The commands that replay a write on replicas and from the AOF refuse a
/// client, wherever it sends them from, and write nothing.
#[test]
fn internal_commands_are_refused_from_clients() {
    let server = Server::start();
    let mut con = setup(&server);
    let only = |name: &str| {
        format!(
            "ERR {name} only replays writes on replicas and from the AOF; clients cannot send it"
        )
    };
    let resolved =
        "ERR CHAT.SEND-RESOLVED only replays a send on replicas and from the AOF; use CHAT.SEND";
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["CHAT.AT", "1", "CHAT.CREATE", "elsewhere", "t"],
            only("CHAT.AT"),
        ),
        (
            vec!["CHAT.AT", "1", "CHAT.SEND", "general", "alice", "hi"],
            only("CHAT.AT"),
        ),
        (vec!["CHAT.AT", "x", "y"], only("CHAT.AT")),
        (
            vec![
                "CHAT.SET-PASSWORD",
                "alice",
                "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
            ],
            only("CHAT.SET-PASSWORD"),
        ),
        (
            vec!["CHAT.TRIM-RESOLVED", "general", "5"],
            only("CHAT.TRIM-RESOLVED"),
        ),
        (
            vec!["CHAT.RESTORE-VALUE", "general", "room", "1", "\x00"],
            only("CHAT.RESTORE-VALUE"),
        ),
        (
            vec!["CHAT.RESTORE-VALUE", "new", "user", "1", ""],
            only("CHAT.RESTORE-VALUE"),
        ),
        (
            vec![
                "CHAT.SEND-RESOLVED",
                "general",
                "alice",
                "hi",
                "2",
                "0",
                "1",
                "",
            ],
            resolved.to_string(),
        ),
    ];
    for (args, expected) in &cases {
        refused(&mut con, args, expected);
        // Inside a transaction and a script too.
        let before = digest(&mut con);
        q(&mut con, &["MULTI"]);
        q(&mut con, args);
        assert_eq!(&err(&mut con, &["EXEC"]), expected, "{args:?} in MULTI");
        let mut script = vec!["EVAL", "return redis.pcall(unpack(ARGV))", "0"];
        script.extend(args.iter().copied());
        let e = err(&mut con, &script);
        assert!(e.ends_with(&expected[4..]), "{args:?} in a script: {e}");
        assert_eq!(digest(&mut con), before, "{args:?} wrote something");
    }
}

/// A member whose user key was deleted by hand gets no copy of a send,
/// is counted in INFO, and their read cursor stays where it was; the
/// send happens in full for everybody else.
#[test]
fn a_member_whose_key_is_gone_gets_no_copy_and_does_not_stop_the_send() {
    let server = Server::start();
    let mut con = setup(&server);
    q(&mut con, &["CHAT.REGISTER", "carol", "C"]);
    q(&mut con, &["CHAT.SUBSCRIBE", "general", "carol"]);
    let cursors = |con: &mut redis::Connection| {
        pairs(&field(
            &q(con, &["CHAT.INFO", "general", "WITHREAD"]),
            "read",
        ))
        .into_iter()
        .map(|(member, cursor)| (member, int(&cursor)))
        .collect::<Vec<_>>()
    };
    let missing = |con: &mut redis::Connection| {
        let info = text(&q(con, &["INFO", "chat"]));
        info.lines()
            .find_map(|l| l.strip_prefix("chat_missing_recipients:"))
            .and_then(|n| n.trim().parse::<i64>().ok())
            .unwrap_or_else(|| panic!("no chat_missing_recipients in {info}"))
    };
    let before = cursors(&mut con);
    assert_eq!(missing(&mut con), 0);
    q(&mut con, &["DEL", "carol"]);
    assert_eq!(
        int(&q(&mut con, &["CHAT.SEND", "general", "alice", "hi"])),
        2
    );
    assert_eq!(missing(&mut con), 1);
    assert_eq!(
        int(&q(&mut con, &["EXISTS", "carol"])),
        0,
        "carol made again"
    );
    assert_eq!(docs(&q(&mut con, &["CHAT.FETCH", "bob"])).len(), 2);
    assert_eq!(
        int(&field(&q(&mut con, &["CHAT.INFO", "general"]), "last_id")),
        2
    );
    let after = cursors(&mut con);
    let carol = |c: &[(String, i64)]| c.iter().find(|(m, _)| m == "carol").cloned();
    assert!(carol(&before).is_some(), "{before:?}");
    assert_eq!(carol(&after), carol(&before), "carol's cursor moved");
    // Edits and deletes skip them too.
    q(&mut con, &["CHAT.EDIT", "general", "alice", "2", "changed"]);
    q(&mut con, &["CHAT.DELETE", "general", "alice", "2"]);
    assert_eq!(
        int(&q(&mut con, &["EXISTS", "carol"])),
        0,
        "carol made again"
    );
    assert!(log_problems(&server.log()).is_empty(), "{}", server.log());
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
