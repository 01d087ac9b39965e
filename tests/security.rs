//! Passwords, identity binding (`chat.identity acl`) with real Redis ACL
//! users, limits, and panics that do not take the server down.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use redis::Value;

const BAD_CREDENTIALS: &str = "ERR invalid username or password";

#[test]
fn passwords_are_kept_as_argon2id_hashes_and_never_shown() {
    let server = Server::start();
    let mut con = server.conn();
    q(&mut con, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    assert_eq!(
        q(
            &mut con,
            &["CHAT.REGISTER", "alice", "Alice", "PASSWORD", "tulip-42"]
        ),
        Value::Okay
    );
    q(
        &mut con,
        &["CHAT.REGISTER", "bob", "Bob", "password", "tulip-42"],
    );

    // The hash is inside each user's value: read it from the serialized
    // value, as the RDB holds it.
    let alice = stored_hash(&mut con, "alice");
    let bob = stored_hash(&mut con, "bob");
    for hash in [&alice, &bob] {
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "not an Argon2id PHC string with OWASP parameters: {hash}"
        );
        assert!(!hash.contains("tulip"));
    }
    assert_ne!(alice, bob, "each hash has its own salt");

    // Nothing a client or an operator reads shows the password or the hash.
    let profile = format!("{:?}", q(&mut con, &["CHAT.PROFILE", "alice"]));
    let dumped = dump(&mut con, "alice").to_string();
    assert_eq!(dump(&mut con, "alice")["password"], serde_json::json!(true));
    let info = text(&q(&mut con, &["INFO", "everything"]));
    let slowlog = format!("{:?}", q(&mut con, &["SLOWLOG", "GET", "100"]));
    q(&mut con, &["CHAT.AUTH", "alice", "tulip-42"]);
    q(&mut con, &["CHAT.PASSWD", "alice", "tulip-42", "rose-7"]);
    let slowlog_after = format!("{:?}", q(&mut con, &["SLOWLOG", "GET", "100"]));
    for shown in [
        &profile,
        &dumped,
        &info,
        &slowlog,
        &slowlog_after,
        &server.log(),
    ] {
        assert!(
            !shown.contains("tulip") && !shown.contains("rose-7"),
            "{shown}"
        );
        assert!(!shown.contains("argon2"), "{shown}");
    }
    assert!(
        slowlog_after.contains("redacted"),
        "password arguments are redacted: {slowlog_after}"
    );
}

#[test]
fn auth_and_passwd_answer_one_error_for_every_failure() {
    let server = Server::start();
    let mut con = server.conn();
    q(
        &mut con,
        &["CHAT.REGISTER", "alice", "Alice", "PASSWORD", "old-pw"],
    );
    q(&mut con, &["CHAT.REGISTER", "nopw", "No password"]);

    assert_eq!(q(&mut con, &["CHAT.AUTH", "alice", "old-pw"]), Value::Okay);
    for args in [
        ["CHAT.AUTH", "alice", "old-pX"],
        ["CHAT.AUTH", "alice", ""],
        ["CHAT.AUTH", "nobody", "old-pw"],
        ["CHAT.AUTH", "nopw", ""],
        ["CHAT.AUTH", "nopw", "anything"],
    ] {
        assert_eq!(err(&mut con, &args), BAD_CREDENTIALS, "{args:?}");
    }

    // PASSWD: a wrong current password changes nothing.
    let before = digest(&mut con);
    assert_eq!(
        err(&mut con, &["CHAT.PASSWD", "alice", "wrong", "new-pw"]),
        BAD_CREDENTIALS
    );
    assert_eq!(
        err(&mut con, &["CHAT.PASSWD", "nobody", "old-pw", "new-pw"]),
        BAD_CREDENTIALS
    );
    assert_eq!(
        err(&mut con, &["CHAT.PASSWD", "alice", "old-pw", ""]),
        "ERR password must be 1 to 1024 bytes"
    );
    assert_eq!(digest(&mut con), before);

    assert_eq!(
        q(&mut con, &["CHAT.PASSWD", "alice", "old-pw", "new-pw"]),
        Value::Okay
    );
    assert_eq!(q(&mut con, &["CHAT.AUTH", "alice", "new-pw"]), Value::Okay);
    assert_eq!(
        err(&mut con, &["CHAT.AUTH", "alice", "old-pw"]),
        BAD_CREDENTIALS
    );

    // Registering a taken id fails before any hashing, and writes nothing.
    let before = digest(&mut con);
    assert_eq!(
        err(
            &mut con,
            &["CHAT.REGISTER", "alice", "Again", "PASSWORD", "x"]
        ),
        "ERR user already exists"
    );
    assert_eq!(digest(&mut con), before);

    let info = text(&q(&mut con, &["INFO", "chat"]));
    assert!(info.contains("chat_auth_successes:2"), "{info}");
    assert!(info.contains("chat_password_jobs_pending:0"), "{info}");
}

#[test]
fn password_commands_refuse_multi_and_scripts() {
    let server = Server::start();
    let mut con = server.conn();
    q(
        &mut con,
        &["CHAT.REGISTER", "alice", "Alice", "PASSWORD", "pw"],
    );
    let before = digest(&mut con);
    let replies: Vec<redis::RedisResult<Value>> = redis::pipe()
        .cmd("MULTI")
        .cmd("CHAT.AUTH")
        .arg("alice")
        .arg("pw")
        .cmd("CHAT.REGISTER")
        .arg("carol")
        .arg("Carol")
        .arg("PASSWORD")
        .arg("pw")
        .cmd("EXEC")
        .query::<Vec<Value>>(&mut con)
        .map(|v| vec![Ok(Value::Array(v))])
        .unwrap_or_else(|e| vec![Err(e)]);
    let shown = format!("{replies:?}");
    assert!(
        shown.contains("cannot run inside MULTI"),
        "MULTI must refuse the blocking commands: {shown}"
    );
    let script = err(
        &mut con,
        &["EVAL", "return redis.call('chat.auth', 'alice', 'pw')", "0"],
    );
    assert!(
        script.contains("cannot run inside MULTI, a script"),
        "{script}"
    );
    assert_eq!(digest(&mut con), before, "nothing was written");
    // The connection is usable afterwards.
    assert_eq!(q(&mut con, &["CHAT.AUTH", "alice", "pw"]), Value::Okay);
}

/// 50 sign-ins at once while another client measures PING: the hashing
/// happens on a background thread, so PING stays fast.
#[test]
fn hashing_does_not_stall_other_clients() {
    let server = Server::start();
    let mut con = server.conn();
    q(
        &mut con,
        &["CHAT.REGISTER", "alice", "Alice", "PASSWORD", "pw-1"],
    );

    let done = Arc::new(AtomicBool::new(false));
    let pinger = {
        let done = Arc::clone(&done);
        let mut con = server.conn();
        thread::spawn(move || {
            let mut latencies = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let start = Instant::now();
                q(&mut con, &["PING"]);
                latencies.push(start.elapsed());
                thread::sleep(Duration::from_millis(1));
            }
            latencies
        })
    };

    let clients = 50;
    let start = Barrier::new(clients);
    let started = Instant::now();
    let outcomes: Vec<bool> = thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|i| {
                let mut con = server.conn();
                let start = &start;
                s.spawn(move || {
                    // Every third one has a wrong password.
                    let password = if i % 3 == 0 { "wrong" } else { "pw-1" };
                    start.wait();
                    try_q(&mut con, &["CHAT.AUTH", "alice", password]).is_ok()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let auth_time = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let mut latencies = pinger.join().unwrap();

    for (i, ok) in outcomes.iter().enumerate() {
        assert_eq!(*ok, i % 3 != 0, "sign-in {i}");
    }
    latencies.sort();
    assert!(
        latencies.len() >= 20,
        "too few PINGs ({}) to judge, in {auth_time:?}",
        latencies.len()
    );
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    println!(
        "50 CHAT.AUTH in {auth_time:?}; {} PINGs meanwhile, p99 {p99:?}, max {:?}",
        latencies.len(),
        latencies.last().unwrap()
    );
    assert!(
        p99 < Duration::from_millis(10),
        "PING p99 {p99:?} while 50 sign-ins were hashed"
    );
}

#[test]
fn a_password_reaches_replicas_as_its_hash() {
    let primary = Server::start();
    let replica = start_replica(&primary, true);
    let mut con = primary.conn();
    q(
        &mut con,
        &["CHAT.REGISTER", "alice", "Alice", "PASSWORD", "pw"],
    );
    wait_for_replicas(&mut con, 1);
    let mut rcon = replica.conn();
    assert_eq!(digest(&mut rcon), digest(&mut con));
    // CHAT.AUTH only reads: it works on a replica.
    assert_eq!(q(&mut rcon, &["CHAT.AUTH", "alice", "pw"]), Value::Okay);
    assert_eq!(
        err(&mut rcon, &["CHAT.AUTH", "alice", "no"]),
        BAD_CREDENTIALS
    );
}

/// The ACL rules docs/security.md gives for an end user, for `user`.
fn acl_recipe(user: &str) -> Vec<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/security.md")).unwrap();
    let block = doc
        .split("<!-- acl-recipe -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- end -->").next())
        .expect("docs/security.md has an acl-recipe block");
    let line = block
        .lines()
        .find(|l| l.starts_with("ACL SETUSER alice "))
        .expect("the recipe is one ACL SETUSER line for alice");
    line.replace("alice", user)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn connect_as(server: &Server, user: &str, password: &str) -> redis::Connection {
    redis::Client::open(format!(
        "redis://{user}:{password}@127.0.0.1:{}/",
        server.port
    ))
    .unwrap()
    .get_connection()
    .unwrap()
}

#[test]
fn in_acl_mode_a_connection_acts_only_as_its_own_user() {
    let server = Server::start_with(&["identity", "acl", "admins", "app"], &[]);
    let mut admin = server.conn();
    q(
        &mut admin,
        &[
            "ACL", "SETUSER", "app", "on", ">app-pw", "~*", "&*", "+@all",
        ],
    );
    for user in ["alice", "bob"] {
        let rule = acl_recipe(user);
        let args: Vec<&str> = rule.iter().map(String::as_str).collect();
        q(&mut admin, &args);
    }
    let mut app = connect_as(&server, "app", "app-pw");
    room_with(&mut app, "general", &["alice", "bob"]);
    room_with(&mut app, "board", &["bob"]);
    q(&mut app, &["CHAT.SEND", "general", "bob", "hi alice"]);
    q(&mut app, &["CHAT.SEND", "board", "bob", "board only"]);

    let mut alice = connect_as(&server, "alice", "alice-secret");
    // What alice may do.
    assert_eq!(
        int(&q(&mut alice, &["CHAT.SEND", "general", "alice", "hi bob"])),
        2
    );
    assert_eq!(docs(&q(&mut alice, &["CHAT.HISTORY", "general"])).len(), 2);
    assert_eq!(docs(&q(&mut alice, &["CHAT.FETCH", "alice"])).len(), 1);
    q(&mut alice, &["CHAT.ONLINE", "alice"]);
    q(&mut alice, &["SUBSCRIBE", "chat:user:{alice}:push"]);
    let mut alice = connect_as(&server, "alice", "alice-secret");

    // What she may not: each refusal writes nothing.
    let before = digest(&mut app);
    let refusals: &[(&[&str], &str)] = &[
        (
            &["CHAT.FETCH", "bob"],
            "NOPERM ACL user 'alice' may act only as chat user 'alice', not as 'bob'",
        ),
        (
            &["CHAT.ACK", "bob", "1-0"],
            "NOPERM ACL user 'alice' may act only as chat user 'alice'",
        ),
        (
            &["CHAT.SEND", "general", "bob", "forged"],
            "NOPERM ACL user 'alice' may act only as chat user 'alice'",
        ),
        (
            &["CHAT.ONLINE", "bob"],
            "NOPERM ACL user 'alice' may act only",
        ),
        (
            &["CHAT.SUBSCRIBE", "board", "bob"],
            "NOPERM ACL user 'alice' may act only",
        ),
        (
            &["CHAT.HISTORY", "board"],
            "NOPERM ACL user 'alice' is not a member of room 'board'",
        ),
        (
            &["CHAT.MEMBERS", "board"],
            "NOPERM ACL user 'alice' is not a member of room 'board'",
        ),
        (&["CHAT.DROP", "general"], "NOPERM"),
        (&["SUBSCRIBE", "chat:user:{bob}:push"], "NOPERM"),
        (&["HGETALL", "chat:user:{bob}"], "NOPERM"),
        (&["DUMP", "bob"], "NOPERM"),
        (&["CHAT.DUMP", "bob"], "NOPERM"),
        (&["CONFIG", "SET", "chat.identity", "trust"], "NOPERM"),
        (&["CHAT.REGISTER", "mallory", "M"], "NOPERM"),
    ];
    for (args, expected) in refusals {
        let got = err(&mut alice, args);
        assert!(got.starts_with(expected), "{args:?}: {got}");
    }
    assert_eq!(
        digest(&mut app),
        before,
        "a refused command wrote something"
    );
    let info = text(&q(&mut app, &["INFO", "chat"]));
    // Seven of those were refused by the module; the rest (DROP and
    // REGISTER included, which the recipe leaves out) by Redis's ACLs.
    assert!(info.contains("chat_identity_refusals:7\r"), "{info}");

    // Bob's inbox is still bob's, and the admin may act for anyone.
    assert_eq!(docs(&q(&mut app, &["CHAT.FETCH", "bob"])).len(), 1);
    let mut bob = connect_as(&server, "bob", "bob-secret");
    assert_eq!(docs(&q(&mut bob, &["CHAT.HISTORY", "board"])).len(), 1);
    // The default user is no admin unless listed.
    let mut default = server.conn();
    assert!(err(&mut default, &["CHAT.FETCH", "bob"]).starts_with("NOPERM"));

    // Back to trust mode: any connection acts for anyone again.
    q(&mut app, &["CONFIG", "SET", "chat.identity", "trust"]);
    q(&mut default, &["CHAT.FETCH", "bob"]);
}

#[test]
fn rooms_and_memberships_have_limits() {
    let server = Server::start_with(&["max-members", "3", "max-rooms-per-user", "2"], &[]);
    let mut con = server.conn();
    room_with(&mut con, "r1", &["a", "b", "c"]);
    q(&mut con, &["CHAT.REGISTER", "d", "D"]);
    let before = digest(&mut con);
    assert_eq!(
        err(&mut con, &["CHAT.SUBSCRIBE", "r1", "d"]),
        "ERR room is full: chat.max-members is 3"
    );
    assert_eq!(digest(&mut con), before);
    // Joining again as a member is no new membership.
    q(&mut con, &["CHAT.SUBSCRIBE", "r1", "a"]);

    q(&mut con, &["CHAT.CREATE", "r2", "R2"]);
    q(&mut con, &["CHAT.CREATE", "r3", "R3"]);
    q(&mut con, &["CHAT.SUBSCRIBE", "r2", "a"]);
    let before = digest(&mut con);
    assert_eq!(
        err(&mut con, &["CHAT.SUBSCRIBE", "r3", "a"]),
        "ERR user is in too many rooms: chat.max-rooms-per-user is 2"
    );
    // A direct room counts too, and fails whole.
    assert_eq!(
        err(&mut con, &["CHAT.DM", "a", "d"]),
        "ERR user is in too many rooms: chat.max-rooms-per-user is 2"
    );
    assert_eq!(digest(&mut con), before);

    q(&mut con, &["CONFIG", "SET", "chat.max-members", "1"]);
    let before = digest(&mut con);
    assert_eq!(
        err(&mut con, &["CHAT.DM", "c", "d"]),
        "ERR room is full: chat.max-members is 1"
    );
    assert_eq!(digest(&mut con), before);

    assert_eq!(
        err(&mut con, &["CHAT.HISTORY", "r1", "COUNT", "1001"]),
        "ERR COUNT must be an integer from 1 to 1000, got '1001'"
    );
}

/// A panic inside a command answers an error and a log line; the server
/// and its data survive. The command that panics on purpose exists only in
/// debug builds.
#[test]
fn a_panic_is_an_error_reply_not_a_crash() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let debug = root.join("target/debug/libredis_chat.so");
    assert!(
        debug.exists(),
        "build the debug module first: cargo build (scripts/test does)"
    );
    let debug = debug.to_string_lossy().into_owned();
    let mut server = Server::start_without_module(&["--loadmodule", &debug]);
    let mut con = server.conn();
    room_with(&mut con, "general", &["alice", "bob"]);
    q(
        &mut con,
        &["CHAT.SEND", "general", "alice", "before the panic"],
    );
    let before = digest(&mut con);

    assert_eq!(
        err(&mut con, &["CHAT.DEBUG-PANIC"]),
        "ERR internal error: the command failed unexpectedly, see the Redis log"
    );
    assert!(server.is_running());
    assert_eq!(q(&mut con, &["PING"]), Value::SimpleString("PONG".into()));
    assert_eq!(digest(&mut con), before);
    assert_eq!(
        int(&q(&mut con, &["CHAT.SEND", "general", "bob", "after"])),
        2
    );
    let log = server.log();
    assert!(
        log.contains("<chat> panic: ") && log.contains("CHAT.DEBUG-PANIC panics on purpose"),
        "the panic is in the log:\n{log}"
    );

    // The release module has no such command.
    let release = Server::start();
    let mut con = release.conn();
    let unknown = err(&mut con, &["CHAT.DEBUG-PANIC"]);
    assert!(unknown.starts_with("ERR unknown command"), "{unknown}");
}

/// Passwords are hidden from SLOWLOG (and MONITOR) even when the command is
/// refused before it runs, or is mistyped.
#[test]
fn refused_and_mistyped_calls_hide_their_passwords_too() {
    let server = Server::start_with(&["identity", "acl", "admins", "default"], &[]);
    let mut admin = server.conn();
    q(
        &mut admin,
        &["CONFIG", "SET", "slowlog-log-slower-than", "0"],
    );
    q(
        &mut admin,
        &[
            "ACL", "SETUSER", "mallory", "on", ">m-pw", "~*", "&*", "+@all",
        ],
    );
    q(
        &mut admin,
        &["CHAT.REGISTER", "bob", "Bob", "PASSWORD", "bob-secret-1"],
    );
    let mut mallory = connect_as(&server, "mallory", "m-pw");
    for args in [
        &["CHAT.AUTH", "bob", "guess-secret-2"][..],
        &["CHAT.PASSWD", "bob", "guess-secret-3", "new-secret-4"],
        &["CHAT.REGISTER", "bob2", "B", "PASSWORD", "reg-secret-5"],
    ] {
        assert!(err(&mut mallory, args).starts_with("NOPERM"), "{args:?}");
    }
    // The display name forgotten: the password lands where options go.
    let typo = err(
        &mut admin,
        &["CHAT.REGISTER", "carol", "PASSWORD", "typo-secret-6"],
    );
    assert_eq!(typo, "ERR syntax error");
    // An unquoted passphrase: two arguments after the keyword.
    let spread = err(
        &mut admin,
        &["CHAT.REGISTER", "dora", "D", "PASSWORD", "open", "secret-7"],
    );
    assert_eq!(spread, "ERR syntax error");
    let slowlog = q(&mut admin, &["SLOWLOG", "GET", "100"]);
    let shown = format!("{slowlog:?}");
    assert!(!shown.contains("secret"), "{shown}");
    // Each entry is [id, time, duration, [command, args...], ...]: count
    // the hidden arguments of the chat commands.
    let Value::Array(entries) = slowlog else {
        panic!("{shown}")
    };
    let hidden: usize = entries
        .iter()
        .filter_map(|entry| match entry {
            Value::Array(fields) => fields.get(3).map(strings),
            _ => None,
        })
        .filter(|argv| argv.first().is_some_and(|c| c.starts_with("CHAT.")))
        .map(|argv| argv.iter().filter(|a| *a == "(redacted)").count())
        .sum();
    // bob's own registration 1, AUTH 1, PASSWD 2, bob2 1, the typo 1, the
    // passphrase 2.
    assert_eq!(hidden, 8, "{shown}");
}

/// A password write that is ready while writes are paused (CLIENT PAUSE
/// WRITE, as a failover does) is refused with TRYAGAIN and writes nothing;
/// the others complete. The server stays up.
#[test]
fn password_writes_wait_for_no_pause() {
    let mut server = Server::start();
    let mut con = server.conn();
    q(
        &mut con,
        &["CHAT.REGISTER", "alice", "Alice", "PASSWORD", "pw-0"],
    );
    let mut outcomes = Vec::new();
    thread::scope(|s| {
        let calls: Vec<_> = (0..8)
            .map(|i| {
                let mut con = server.conn();
                s.spawn(move || {
                    let user = format!("user{i}");
                    let reply = try_q(&mut con, &["CHAT.REGISTER", &user, "U", "PASSWORD", "pw"]);
                    (user, reply.map_err(|e| error_text(&e)))
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(30));
        q(&mut con, &["CLIENT", "PAUSE", "400", "WRITE"]);
        outcomes = calls.into_iter().map(|c| c.join().unwrap()).collect();
    });
    assert!(
        server.is_running(),
        "the pause took the server down:\n{}",
        server.log()
    );
    q(&mut con, &["CLIENT", "UNPAUSE"]);
    let mut refused = 0;
    for (user, reply) in outcomes {
        let exists = q(&mut con, &["CHAT.PROFILE", &user]) != Value::Nil;
        match reply {
            Ok(_) => assert!(exists, "{user} was acknowledged but not written"),
            Err(e) => {
                assert!(e.starts_with("TRYAGAIN writes were paused"), "{user}: {e}");
                assert!(!exists, "{user} was refused but written");
                refused += 1;
            }
        }
    }
    assert!(
        refused > 0,
        "no hash was ready during the pause: the test proved nothing"
    );
    assert_eq!(q(&mut con, &["CHAT.AUTH", "alice", "pw-0"]), Value::Okay);
}

/// The password hash kept in a user's value, read from its DUMP payload.
fn stored_hash(con: &mut redis::Connection, user: &str) -> String {
    // Uncompressed, so that the bytes can be searched.
    q(con, &["CONFIG", "SET", "rdbcompression", "no"]);
    let Value::BulkString(raw) = q(con, &["DUMP", user]) else {
        panic!("DUMP {user}")
    };
    let start = raw
        .windows(10)
        .position(|w| w == b"$argon2id$")
        .unwrap_or_else(|| panic!("no Argon2id hash in {user}'s value"));
    let phc = |b: &u8| b.is_ascii_alphanumeric() || b"$=,+/".contains(b);
    let hash: Vec<u8> = raw[start..].iter().copied().take_while(phc).collect();
    String::from_utf8(hash).unwrap()
}
