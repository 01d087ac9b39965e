//! Random argument vectors sent to every CHAT.* command, from a client with
//! every right and from an end user, with everything the crate root lists
//! as asserted checked on the way.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use redis::{Connection, Value};

use crate::checks::{check_reply, expired_keys, READ_TIMEOUT};
use crate::commands::chat_commands;
use crate::common::*;
use crate::data::{
    chat_configs, known_data, refresh_known, reserved_data, settled_digest, snapshot,
};
use crate::rng::{seed, Rng, SeedReport};
use crate::vectors::{shown, vector, INTERNAL};

/// Random calls in one run; `HOSTILE_CALLS` overrides it for longer runs.
const CALLS: usize = 6_000;
/// A CHAT.FETCH with a BLOCK longer than this is unblocked by the watchdog.
const UNBLOCK_AFTER: Duration = Duration::from_millis(200);

/// Unblocks a connection stuck in a long `CHAT.FETCH ... BLOCK`.
struct Watchdog {
    /// (client id, when to unblock it)
    armed: Arc<Mutex<Option<(i64, Instant)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<u64>>,
}

impl Watchdog {
    fn start(server: &Server) -> Watchdog {
        let armed: Arc<Mutex<Option<(i64, Instant)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let mut con = server.conn();
        let (armed2, stop2) = (armed.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let mut unblocked = 0;
            while !stop2.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(20));
                let due = {
                    let mut armed = armed2.lock().unwrap();
                    match *armed {
                        Some((id, at)) if Instant::now() >= at => {
                            *armed = None;
                            Some(id)
                        }
                        _ => None,
                    }
                };
                if let Some(id) = due {
                    let id = id.to_string();
                    if int(&q(&mut con, &["CLIENT", "UNBLOCK", &id, "TIMEOUT"])) == 1 {
                        unblocked += 1;
                    }
                }
            }
            unblocked
        });
        Watchdog {
            armed,
            stop,
            thread: Some(thread),
        }
    }

    fn arm(&self, client: i64) {
        *self.armed.lock().unwrap() = Some((client, Instant::now() + UNBLOCK_AFTER));
    }

    fn disarm(&self) {
        *self.armed.lock().unwrap() = None;
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

fn client_id(con: &mut Connection) -> i64 {
    int(&q(con, &["CLIENT", "ID"]))
}

/// A connection with timeouts, signed in as `acl_user` (whose password is
/// its name) if given.
fn timed(server: &Server, resp3: bool, acl_user: Option<&str>) -> (Connection, i64) {
    let mut con = if resp3 { server.conn3() } else { server.conn() };
    con.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    con.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
    if let Some(user) = acl_user {
        q(&mut con, &["AUTH", user, user]);
    }
    let id = client_id(&mut con);
    (con, id)
}

/// Whether a FETCH vector may wait longer than the watchdog allows: any
/// BLOCK followed by anything but a small positive number.
fn may_block_long(args: &[Vec<u8>]) -> bool {
    args.windows(2).any(|w| {
        w[0].eq_ignore_ascii_case(b"BLOCK")
            && !std::str::from_utf8(&w[1])
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|ms| (1..=100).contains(&ms))
    })
}

#[test]
fn random_vectors_to_every_command() {
    let outcomes = random_run(&[], None, CALLS);
    let ok = |name: &str| outcomes.contains_key(&(name.to_string(), "ok".to_string()));
    let commands: std::collections::BTreeSet<&String> = outcomes.keys().map(|(c, _)| c).collect();
    let public: Vec<&&String> = commands
        .iter()
        .filter(|c| !INTERNAL.contains(&c.as_str()))
        .collect();
    assert!(
        public.len() + INTERNAL.len() == commands.len(),
        "{commands:?}"
    );
    let succeeded = public.iter().filter(|c| ok(c)).count();
    // The internal commands never succeed for a client (random_run checks
    // it); many others need luck (the author of an existing message, a
    // password that matches, a cursor to move, the id of a pair's direct
    // room for DM-ROOM, an existing message and a reaction without spaces
    // for REACT, PIN and THREAD, a room made with an OWNER acting as its
    // owner for the moderation commands, one of three words for NOTIFY),
    // and how many get it depends on the seed. This only guards against a
    // run that exercises little: at least half of the public commands
    // succeed.
    assert!(
        succeeded * 2 >= public.len(),
        "too few commands ever succeeded: {outcomes:?}"
    );
}

/// The same, with `chat.identity acl`: the random calls come from a
/// connection signed in as the ACL user `u1`, which may act only as the chat
/// user `u1` and read only its rooms; the rest is refused with NOPERM.
#[test]
fn random_vectors_from_an_end_user() {
    let outcomes = random_run(&["identity", "acl", "admins", "default"], Some("u1"), 3_000);
    assert!(
        outcomes.keys().any(|(_, code)| code == "NOPERM"),
        "no NOPERM: {outcomes:?}"
    );
    let succeeded = outcomes.keys().filter(|(_, code)| code == "ok").count();
    assert!(succeeded >= 10, "u1 could hardly do anything: {outcomes:?}");
}

/// Sends `calls` random vectors (`HOSTILE_CALLS` overrides it) to a server
/// started with `module_args`, from connections signed in as `acl_user` if
/// given; checks everything listed at the top of `main.rs`; returns how
/// often each command got each reply code ("ok" for a value).
fn random_run(
    module_args: &[&str],
    acl_user: Option<&str>,
    calls: usize,
) -> BTreeMap<(String, String), usize> {
    let seed = seed();
    let _report = SeedReport(seed);
    eprintln!("hostile: seed {seed}");
    let mut rng = Rng(seed);
    let calls = std::env::var("HOSTILE_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(calls);
    // The main run keeps an AOF, replayed at the end.
    let server_args: &[&str] = match acl_user {
        None => &["--appendonly", "yes"],
        Some(_) => &[],
    };
    let mut server = Server::start_with(module_args, server_args);
    let mut setup = server.conn();
    if let Some(user) = acl_user {
        q(
            &mut setup,
            &[
                "ACL",
                "SETUSER",
                user,
                "on",
                &format!(">{user}"),
                "~*",
                "&*",
                "+@all",
            ],
        );
    }
    let dm = reserved_data(&mut setup);
    let before = snapshot(&mut setup, &dm);
    let mut known = known_data(&mut setup);
    let commands = chat_commands(&mut setup);
    known.commands = commands.iter().map(|c| c.name.clone()).collect();
    let replica = acl_user.is_none().then(|| start_replica(&server, true));
    let configs = chat_configs(&mut setup);
    assert!(commands.len() >= 31, "{commands:?}");
    for name in ["chat.dump"].iter().chain(&INTERNAL) {
        assert!(known.commands.iter().any(|c| c == name), "no {name}");
    }

    let (mut resp2, id2) = timed(&server, false, acl_user);
    let (mut resp3, id3) = timed(&server, true, acl_user);
    let watchdog = Watchdog::start(&server);
    // Keys expire only when read, so that fewer samples are spoilt.
    q(&mut setup, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    let mut outcomes: BTreeMap<(String, String), usize> = BTreeMap::new();
    let started = Instant::now();
    for i in 0..calls {
        // Every command as often as every other, in a random order.
        let cmd = &commands[if i < commands.len() {
            i
        } else {
            rng.below(commands.len())
        }];
        let args = vector(&mut rng, &known, cmd, &commands);
        let use_resp3 = rng.chance(25);
        // A command that fails writes nothing (checked on a sample, and on
        // every call of an internal command).
        let internal = INTERNAL.contains(&cmd.name.as_str());
        let before =
            (rng.chance(20) || internal).then(|| (digest(&mut setup), expired_keys(&mut setup)));
        let (con, client) = if use_resp3 {
            (&mut resp3, id3)
        } else {
            (&mut resp2, id2)
        };
        let result: redis::RedisResult<Value> = match rng.below(100) {
            // Inside MULTI/EXEC and inside a script, where nothing may
            // block: a FETCH ... BLOCK or a password hash answers at once.
            0..=2 => {
                q(con, &["MULTI"]);
                let queued = redis::cmd(&cmd.name).arg(&args).query::<Value>(con);
                check_reply(&queued, seed, &|| shown(&cmd.name, &args));
                redis::cmd("EXEC").query(con)
            }
            3..=5 => redis::cmd("EVAL")
                .arg("return redis.pcall(unpack(ARGV))")
                .arg(0)
                .arg(&cmd.name)
                .arg(&args)
                .query(con),
            _ => {
                let blocking = cmd.name == "chat.fetch" && may_block_long(&args);
                if blocking {
                    watchdog.arm(client);
                }
                let result = redis::cmd(&cmd.name).arg(&args).query(con);
                if blocking {
                    watchdog.disarm();
                }
                result
            }
        };
        let call = || shown(&cmd.name, &args);
        let outcome = check_reply(&result, seed, &call).unwrap_or_else(|| "ok".into());
        assert!(
            !(internal && outcome == "ok"),
            "seed {seed}: an internal command succeeded for a client: {} -> {result:?}",
            call()
        );
        if let Some((digest_before, expired_before)) = before {
            // A key that expires meanwhile would change the digest without
            // any command writing. (Chat keys have no TTL: a presence or a
            // DEDUP key expires inside its value, which stays as it is until
            // a command writes it.)
            if outcome != "ok" && expired_keys(&mut setup) == expired_before {
                assert_eq!(
                    digest(&mut setup),
                    digest_before,
                    "seed {seed}: a failed command wrote: {} -> {result:?}",
                    call()
                );
            }
        }
        *outcomes.entry((cmd.name.clone(), outcome)).or_default() += 1;
        if i % 250 == 249 {
            // Put back what random calls removed, so that calls keep
            // finding rooms, members and messages.
            refresh_known(&mut setup);
            // And change a limit now and then.
            let (name, default) = rng.pick(&configs).clone();
            let value = match default.as_str() {
                "yes" | "no" => rng.pick(&["yes", "no"]).to_string(),
                _ => rng.pick(&["1", "2", "3", &default]).to_string(),
            };
            let _ = try_q(&mut setup, &["CONFIG", "SET", &name, &value]);
        }
        if i % 250 == 49 {
            // Back to the defaults for most of the calls.
            for (name, default) in &configs {
                q(&mut setup, &["CONFIG", "SET", name, default]);
            }
        }
        if i % 500 == 499 {
            let pong = try_q(&mut setup, &["PING"]);
            assert!(
                matches!(pong, Ok(Value::SimpleString(ref s)) if s == "PONG"),
                "seed {seed}: PING after call {i} ({}): {pong:?}",
                call()
            );
        }
    }
    let elapsed = started.elapsed();
    q(&mut setup, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
    let unblocked = watchdog.finish();

    assert!(server.is_running(), "seed {seed}: redis-server died");
    assert_eq!(text(&q(&mut setup, &["PING"])), "PONG");
    for (name, default) in &configs {
        q(&mut setup, &["CONFIG", "SET", name, default]);
    }
    if let Some(replica) = &replica {
        // Whatever the random calls did, the replica has the same data.
        let mut rcon = replica.conn();
        let mut tries = 0;
        loop {
            q(&mut setup, &["WAIT", "1", "5000"]);
            let (primary, copy) = (digest(&mut setup), digest(&mut rcon));
            if primary == copy {
                break;
            }
            // A key may expire between the two digests: look again.
            tries += 1;
            assert!(tries < 20, "seed {seed}: the replica's data differs");
            thread::sleep(Duration::from_millis(100));
        }
        let log = replica.log();
        assert!(
            log_problems(&log).is_empty(),
            "seed {seed}: the replica's log: {log}"
        );
    }
    let after = snapshot(&mut setup, &dm);
    for (what, value) in &before {
        assert_eq!(
            after.get(what),
            Some(value),
            "seed {seed}: reserved data changed: {what}"
        );
    }
    assert_eq!(
        before.len(),
        after.len(),
        "seed {seed}: reserved keys added"
    );
    q(&mut setup, &["CHAT.AUTH", "{keep}alice", "correct horse"]);
    if acl_user.is_none() {
        // Replaying the AOF makes the same data again. Only a key whose
        // time ran out meanwhile may make the two differ: then the data as
        // it is now is what the next replay must make.
        let mut before = settled_digest(&mut setup);
        for tries in 1.. {
            let expired = expired_keys(&mut setup);
            q(&mut setup, &["DEBUG", "LOADAOF"]);
            let replayed = settled_digest(&mut setup);
            if replayed == before {
                break;
            }
            assert!(
                expired_keys(&mut setup) > expired && tries < 10,
                "seed {seed}: the AOF replays to other data"
            );
            before = replayed;
        }
    }
    let log = server.log();
    let bad = log_problems(&log);
    assert!(
        bad.is_empty(),
        "seed {seed}: the log says:\n{}",
        bad.join("\n")
    );

    for cmd in &commands {
        assert!(
            outcomes.keys().any(|(name, _)| *name == cmd.name),
            "{} never called",
            cmd.name
        );
    }
    eprintln!(
        "hostile: {calls} calls to {} commands in {elapsed:.1?}, {unblocked} long BLOCKs \
         unblocked; outcomes: {outcomes:?}",
        commands.len()
    );
    server.kill();
    outcomes
}
