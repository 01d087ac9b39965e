//! Clients that leave, are killed or are unblocked while they wait, and data
//! that changes under a password being hashed.

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

use redis::Value;

use crate::checks::READ_TIMEOUT;
use crate::common::*;
use crate::rng::{seed, Rng, SeedReport};

/// A command as the client sends it on the wire.
fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A connection without a client library: it can leave at any moment.
struct Raw(std::net::TcpStream);

impl Raw {
    fn open(server: &Server) -> Raw {
        let stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        Raw(stream)
    }

    fn send(&mut self, args: &[&[u8]]) {
        use std::io::Write;
        // The server may have closed the connection already (CLIENT KILL).
        let _ = self.0.write_all(&resp(args));
    }

    /// The first line of the next reply.
    fn line(&mut self) -> String {
        use std::io::Read;
        let mut line = Vec::new();
        let mut byte = [0u8];
        while !line.ends_with(b"\r\n") {
            match self.0.read(&mut byte) {
                Ok(1) => line.push(byte[0]),
                Ok(_) => break,
                Err(e) => panic!("no reply within {READ_TIMEOUT:?}: {e}"),
            }
        }
        String::from_utf8_lossy(&line).trim_end().to_string()
    }

    fn client_id(&mut self) -> String {
        self.send(&[b"CLIENT", b"ID"]);
        self.line().trim_start_matches(':').to_string()
    }
}

/// The first line of a reply is a value, or an error with an upper-case code.
fn check_line(line: &str, what: &str) {
    match line.as_bytes().first() {
        Some(b'-') => {
            let code = line[1..].split(' ').next().unwrap_or_default();
            assert!(
                !code.is_empty() && code.bytes().all(|b| b.is_ascii_uppercase()),
                "{what}: {line:?}"
            );
            assert!(!line.contains("internal error"), "{what}: {line:?}");
        }
        Some(b'+' | b':' | b'*' | b'$' | b'%' | b'_') => {}
        _ => panic!("{what}: not a reply: {line:?}"),
    }
}

#[test]
fn clients_that_leave_while_they_wait() {
    let seed = seed();
    let _report = SeedReport(seed);
    let mut rng = Rng(seed);
    let mut server = Server::start();
    let mut con = server.conn();
    q(&mut con, &["CHAT.REGISTER", "u1", "U1", "PASSWORD", "pw"]);
    q(&mut con, &["CHAT.REGISTER", "idle", "Idle"]);

    // Each waits: on a password hash, or on an empty inbox.
    let waits: [&[&[u8]]; 4] = [
        &[b"CHAT.AUTH", b"u1", b"pw"],
        &[b"CHAT.PASSWD", b"u1", b"pw", b"pw"],
        &[b"CHAT.REGISTER", b"later", b"Later", b"PASSWORD", b"pw"],
        &[b"CHAT.FETCH", b"idle", b"BLOCK", b"0"],
    ];
    let mut stats: BTreeMap<&str, usize> = BTreeMap::new();
    for i in 0..120 {
        let wait = *rng.pick(&waits);
        let mut raw = Raw::open(&server);
        let id = raw.client_id();
        raw.send(wait);
        if rng.chance(50) {
            // Let the command reach the server, or not.
            thread::sleep(Duration::from_millis(rng.below(20) as u64));
        }
        let how = match rng.below(5) {
            0 => {
                drop(raw);
                "closed"
            }
            1 => {
                // Redis closes a connection whose client stops writing.
                raw.0.shutdown(std::net::Shutdown::Write).unwrap();
                let line = raw.line();
                if !line.is_empty() {
                    check_line(&line, "after a half close");
                }
                "half-closed"
            }
            2 => {
                q(&mut con, &["CLIENT", "KILL", "ID", &id]);
                "killed"
            }
            3 => {
                // Only a FETCH may be unblocked; a password check finishes.
                let unblocked = int(&q(&mut con, &["CLIENT", "UNBLOCK", &id, "ERROR"]));
                check_line(&raw.line(), "after CLIENT UNBLOCK");
                if unblocked == 0 && wait[0] == b"CHAT.FETCH" {
                    // Not blocked yet when UNBLOCK came: end the wait.
                    drop(raw);
                }
                "unblocked"
            }
            _ => {
                // More commands queued behind the waiting one, then QUIT.
                raw.send(&[b"CHAT.AUTH", b"u1", b"wrong"]);
                raw.send(&[b"PING"]);
                raw.send(&[b"QUIT"]);
                if wait[0] != b"CHAT.FETCH" {
                    for _ in 0..4 {
                        check_line(&raw.line(), "pipelined");
                    }
                }
                "pipelined"
            }
        };
        *stats.entry(how).or_default() += 1;
        if i % 10 == 9 {
            assert_eq!(text(&q(&mut con, &["PING"])), "PONG", "seed {seed}");
        }
    }

    // Everything settles: no job left, no fetch still counted as blocked.
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_int(&mut con, "chat", "chat_password_jobs_pending") != 0
        || info_int(&mut con, "chat", "chat_blocked_fetches") != 0
    {
        assert!(
            Instant::now() < deadline,
            "seed {seed}: waits left behind: {}",
            text(&q(&mut con, &["INFO", "chat"]))
        );
        thread::sleep(Duration::from_millis(50));
    }
    assert!(server.is_running(), "seed {seed}: redis-server died");
    q(&mut con, &["CHAT.AUTH", "u1", "pw"]);
    let later = q(&mut con, &["CHAT.PROFILE", "later"]);
    if later != Value::Nil {
        q(&mut con, &["CHAT.AUTH", "later", "pw"]);
    }
    let log = server.log();
    assert!(log_problems(&log).is_empty(), "seed {seed}: {log}");
    eprintln!("hostile: waits ended by {stats:?}");
    server.kill();
}

/// The user a password command waits for changes under it: unregistered,
/// registered again, the whole dataset flushed. Every wait ends with a reply,
/// and the password in force afterwards is the last one set.
#[test]
fn data_changes_while_passwords_are_hashed() {
    let server = Server::start();
    let mut con = server.conn();
    for round in 0..20 {
        q(&mut con, &["CHAT.REGISTER", "u", "U", "PASSWORD", "old"]);
        let mut raws: Vec<Raw> = (0..3).map(|_| Raw::open(&server)).collect();
        raws[0].send(&[b"CHAT.PASSWD", b"u", b"old", b"new"]);
        raws[1].send(&[b"CHAT.AUTH", b"u", b"old"]);
        raws[2].send(&[b"CHAT.REGISTER", b"v", b"V", b"PASSWORD", b"pw"]);
        if round % 2 == 0 {
            q(&mut con, &["CHAT.UNREGISTER", "u"]);
            q(&mut con, &["CHAT.REGISTER", "u", "U", "PASSWORD", "again"]);
        } else {
            q(&mut con, &["FLUSHALL"]);
            q(&mut con, &["CHAT.REGISTER", "u", "U", "PASSWORD", "again"]);
        }
        for (n, raw) in raws.iter_mut().enumerate() {
            check_line(&raw.line(), &format!("round {round}, waiter {n}"));
        }
        // The password set last is in force; the one changed under the
        // PASSWD no longer works, whatever PASSWD replied.
        q(&mut con, &["CHAT.AUTH", "u", "again"]);
        let e = err(&mut con, &["CHAT.AUTH", "u", "new"]);
        assert!(e.starts_with("ERR "), "{e}");
        q(&mut con, &["FLUSHALL"]);
    }
    assert!(log_problems(&server.log()).is_empty(), "{}", server.log());
}
