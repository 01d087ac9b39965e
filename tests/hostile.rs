//! Hostile input against a live server: thousands of random argument
//! vectors sent to every CHAT.* command the server reports.
//!
//! The command list comes from `COMMAND LIST FILTERBY MODULE chat` and each
//! command's arguments from `COMMAND DOCS`, so a new command is covered as
//! soon as it is registered. Vectors mix random bytes, huge, negative and
//! malformed numbers, option keywords in any case (missing, repeated,
//! unknown), empty and very long arguments (up to 1 MB), ids of existing
//! rooms and users (so that some calls succeed and write), and keys of the
//! wrong type. Some calls run inside MULTI/EXEC or a script, over RESP3, and
//! the chat.* limits change now and then. The run is seeded: the seed is
//! printed, and `HOSTILE_SEED=<n>` replays it (`HOSTILE_CALLS=<n>` runs
//! longer).
//!
//! Asserted: the server never crashes or hangs (every reply within the read
//! timeout, PING answers, the process lives, no panic in its log), every
//! reply is a value or an error whose text starts with an upper-case code,
//! no error is the module's "internal error", a command that fails writes
//! nothing (`DEBUG DIGEST` before and after, on a sample of the calls), a
//! replica ends with the primary's data, and the data written before the
//! run under the reserved tag `{keep}` is exactly as it was.
//!
//! Reserved data: the rooms and users whose ids start with `{keep}` are
//! written before the run and never named by a random call (any generated
//! argument that contains `{keep}` is replaced). Nothing a random call can
//! do reaches them otherwise: they are in no room the random calls know, and
//! are offline, so no send reaches their inboxes. Every other id is fair
//! game for writes.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use redis::{Connection, Value};

/// Random calls in one run; `HOSTILE_CALLS` overrides it for longer runs.
const CALLS: usize = 6_000;
/// A reply that takes longer than this is a hang.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// A CHAT.FETCH with a BLOCK longer than this is unblocked by the watchdog.
const UNBLOCK_AFTER: Duration = Duration::from_millis(200);

/// SplitMix64: small, seedable, good enough to pick test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// 0..n
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// true with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Prints the seed if the test fails, wherever it fails.
struct SeedReport(u64);

impl Drop for SeedReport {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!(
                "hostile: failed with seed {0}; replay with HOSTILE_SEED={0}",
                self.0
            );
        }
    }
}

fn seed() -> u64 {
    match std::env::var("HOSTILE_SEED") {
        Ok(s) => s.parse().expect("HOSTILE_SEED must be an integer"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    }
}

// ---------------------------------------------------------------------------
// What the server says about its commands.

/// One argument of a command, as `COMMAND DOCS` describes it.
#[derive(Debug, Clone)]
struct DocArg {
    name: String,
    kind: String,
    token: Option<String>,
    optional: bool,
    multiple: bool,
    sub: Vec<DocArg>,
}

#[derive(Debug)]
struct CommandDoc {
    name: String,
    arity: i64,
    args: Vec<DocArg>,
}

fn bulk(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Int(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

fn items(v: &Value) -> &[Value] {
    match v {
        Value::Array(items) | Value::Set(items) => items,
        _ => &[],
    }
}

fn doc_args(v: &Value) -> Vec<DocArg> {
    items(v)
        .iter()
        .map(|arg| {
            let fields = pairs(arg);
            let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
            let flags: Vec<String> = get("flags")
                .map(|f| items(f).iter().map(bulk).collect())
                .unwrap_or_default();
            DocArg {
                name: get("name").map(bulk).unwrap_or_default(),
                kind: get("type").map(bulk).unwrap_or_default(),
                token: get("token").map(bulk),
                optional: flags.iter().any(|f| f == "optional"),
                multiple: flags.iter().any(|f| f == "multiple"),
                sub: get("arguments").map(doc_args).unwrap_or_default(),
            }
        })
        .collect()
}

/// Every CHAT.* command the server has, with its arity and arguments.
fn chat_commands(con: &mut Connection) -> Vec<CommandDoc> {
    let mut names = strings(&q(con, &["COMMAND", "LIST", "FILTERBY", "MODULE", "chat"]));
    names.sort();
    // Debug builds have a command that panics on purpose; it is checked
    // on its own in `the_log_check_sees_a_panic`.
    names.retain(|n| n != "chat.debug-panic");
    names
        .into_iter()
        .map(|name| {
            let info = q(con, &["COMMAND", "INFO", &name]);
            let arity = items(&items(&info)[0])
                .get(1)
                .map(int)
                .expect("COMMAND INFO gives the arity");
            let docs = q(con, &["COMMAND", "DOCS", &name]);
            let doc = pairs(&docs)
                .into_iter()
                .next()
                .map(|(_, d)| d)
                .expect("COMMAND DOCS knows the command");
            let args = pairs(&doc)
                .into_iter()
                .find(|(k, _)| k == "arguments")
                .map(|(_, a)| doc_args(&a))
                .unwrap_or_default();
            CommandDoc { name, arity, args }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Inputs.

/// Ids that exist (or almost) and may be written by random calls.
struct Known {
    users: Vec<String>,
    rooms: Vec<String>,
    /// A room and one of its members, with messages by that member.
    pairs: Vec<(String, String)>,
    deliveries: Vec<String>,
    passwords: Vec<String>,
}

const KEYWORDS: [&str; 11] = [
    "COUNT", "BEFORE", "AFTER", "BLOCK", "TTL", "DEDUP", "WITHREAD", "PASSWORD", "COUNTS", "FOO",
    "MAXLEN",
];

const NUMBERS: [&str; 24] = [
    "0",
    "1",
    "2",
    "3",
    "-1",
    "-0",
    "007",
    "1000",
    "1001",
    "86400",
    "86401",
    "31536000000",
    "31536000001",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999999999",
    "+5",
    " 5",
    "5 ",
    "1e3",
    "0x10",
];

const BAD_IDS: [&str; 12] = [
    "",
    "{}",
    "{}x",
    "{t}",
    "{t",
    "a b",
    "a\nb",
    "a\0b",
    "{a}{b}",
    "caf\u{e9}",
    "*",
    "a}",
];

fn cased(rng: &mut Rng, word: &str) -> Vec<u8> {
    word.bytes()
        .map(|b| {
            if rng.chance(50) {
                b.to_ascii_lowercase()
            } else {
                b
            }
        })
        .collect()
}

fn random_id(rng: &mut Rng) -> Vec<u8> {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCXYZ0123456789_.:@-";
    let max = if rng.chance(5) { 128 } else { 10 };
    let len = 1 + rng.below(max);
    let body: Vec<u8> = (0..len).map(|_| *rng.pick(CHARS)).collect();
    if rng.chance(20) {
        [&b"{t}"[..], &body].concat()
    } else {
        body
    }
}

fn number(rng: &mut Rng) -> Vec<u8> {
    match rng.below(5) {
        0 => rng.pick(&NUMBERS).as_bytes().to_vec(),
        1 => (rng.next() as i64).to_string().into_bytes(),
        2 => format!(
            "{}{}",
            rng.below(12),
            rng.pick(&["", "x", ".5", "\0", "-", ","])
        )
        .into_bytes(),
        3 => (0..20 + rng.below(60))
            .map(|_| b'0' + rng.below(10) as u8)
            .collect(),
        _ => rng.below(12).to_string().into_bytes(),
    }
}

fn some_text(rng: &mut Rng) -> Vec<u8> {
    let samples: [&[u8]; 10] = [
        b"hello",
        "h\u{e9}llo \u{1f600}".as_bytes(),
        b"line\nbreak\r\n",
        b"",
        b"\xff\xfe",
        b"\xc3",
        b"{\"type\":\"message\"}",
        b"\0\0\0",
        b"%s%n%x",
        b"x",
    ];
    rng.pick(&samples).to_vec()
}

fn delivery(rng: &mut Rng, known: &Known) -> Vec<u8> {
    if !known.deliveries.is_empty() && rng.chance(50) {
        return rng.pick(&known.deliveries).as_bytes().to_vec();
    }
    let forms = [
        format!("{}-{}", rng.next(), rng.next()),
        format!("{}-0", rng.below(3)),
        "18446744073709551615-18446744073709551615".to_string(),
        "18446744073709551616-0".to_string(),
        "1-".to_string(),
        "-1".to_string(),
        "1-2-3".to_string(),
        "12".to_string(),
    ];
    rng.pick(&forms).as_bytes().to_vec()
}

fn long(rng: &mut Rng) -> Vec<u8> {
    let len = if rng.chance(20) {
        1 << 20
    } else {
        1_000 + rng.below(60_000)
    };
    let fill = *rng.pick(&[b'a', b'7', b'{', 0xff, b'\n']);
    vec![fill; len]
}

/// One argument of any kind.
fn any_arg(rng: &mut Rng, known: &Known) -> Vec<u8> {
    match rng.below(100) {
        0..=14 => rng.pick(&known.users).as_bytes().to_vec(),
        15..=29 => rng.pick(&known.rooms).as_bytes().to_vec(),
        30..=44 => number(rng),
        45..=59 => {
            let keyword = *rng.pick(&KEYWORDS);
            cased(rng, keyword)
        }
        60..=69 => some_text(rng),
        70..=73 => delivery(rng, known),
        74..=78 => random_id(rng),
        79..=83 => rng.pick(&BAD_IDS).as_bytes().to_vec(),
        84..=91 => (0..rng.below(24)).map(|_| rng.next() as u8).collect(),
        92..=93 => rng.pick(&known.passwords).as_bytes().to_vec(),
        94..=96 => Vec::new(),
        _ => long(rng),
    }
}

/// A value for a documented argument: usually of its kind, sometimes not.
fn value_for(rng: &mut Rng, known: &Known, pair: Option<usize>, arg: &DocArg) -> Vec<u8> {
    if rng.chance(15) {
        return any_arg(rng, known);
    }
    let name = arg.name.as_str();
    let pair = pair.map(|i| &known.pairs[i]);
    match arg.kind.as_str() {
        "key" if name.contains("room") => match pair {
            Some((room, _)) => room.as_bytes().to_vec(),
            None => rng.pick(&known.rooms).as_bytes().to_vec(),
        },
        "key" => match pair {
            Some((_, user)) if rng.chance(80) => user.as_bytes().to_vec(),
            _ => rng.pick(&known.users).as_bytes().to_vec(),
        },
        "integer" if rng.chance(70) => rng.below(8).to_string().into_bytes(),
        "integer" => number(rng),
        _ if name.contains("delivery") => delivery(rng, known),
        _ if name.contains("password") => rng.pick(&known.passwords).as_bytes().to_vec(),
        _ if name.contains("user") || name.contains("member") || name.contains("sender") => {
            rng.pick(&known.users).as_bytes().to_vec()
        }
        _ if name.contains("room") => rng.pick(&known.rooms).as_bytes().to_vec(),
        _ if rng.chance(50) => format!("text {}", rng.below(100)).into_bytes(),
        _ => some_text(rng),
    }
}

/// Arguments following the command's documentation: positionals in order,
/// optional ones now and then, repeated sometimes, tokens in any case.
fn documented(
    rng: &mut Rng,
    known: &Known,
    pair: Option<usize>,
    args: &[DocArg],
    out: &mut Vec<Vec<u8>>,
) {
    for arg in args {
        if arg.optional && rng.chance(50) {
            continue;
        }
        let times = if arg.multiple || rng.chance(10) {
            1 + rng.below(3)
        } else {
            1
        };
        for _ in 0..times {
            if let Some(token) = &arg.token {
                out.push(cased(rng, token));
            }
            match arg.kind.as_str() {
                "pure-token" => {}
                "oneof" if !arg.sub.is_empty() => {
                    let choice = rng.pick(&arg.sub).clone();
                    let choice = DocArg {
                        optional: false,
                        ..choice
                    };
                    documented(rng, known, pair, &[choice], out);
                }
                "block" => documented(rng, known, pair, &arg.sub, out),
                _ => out.push(value_for(rng, known, pair, arg)),
            }
        }
    }
}

/// A random argument vector for `cmd`.
fn vector(rng: &mut Rng, known: &Known, cmd: &CommandDoc) -> Vec<Vec<u8>> {
    let mut args = Vec::new();
    match rng.below(10) {
        // As documented, or nearly: one argument replaced, dropped or added.
        0..=5 => {
            let pair = rng.chance(60).then(|| rng.below(known.pairs.len()));
            documented(rng, known, pair, &cmd.args, &mut args);
            if rng.chance(40) && !args.is_empty() {
                let at = rng.below(args.len());
                match rng.below(3) {
                    0 => args[at] = any_arg(rng, known),
                    1 => {
                        args.remove(at);
                    }
                    _ => args.insert(at, any_arg(rng, known)),
                }
            }
        }
        // The right number of arguments, of any kind.
        6..=7 => {
            let n = if cmd.arity > 0 {
                cmd.arity - 1
            } else {
                -cmd.arity - 1 + rng.below(4) as i64
            };
            for _ in 0..n {
                args.push(any_arg(rng, known));
            }
        }
        // Anything.
        _ => {
            for _ in 0..rng.below(9) {
                args.push(any_arg(rng, known));
            }
        }
    }
    if rng.chance(2) {
        // Many arguments: more than a handler keeps on its stack, an option
        // repeated thousands of times.
        let extra = 10 + rng.below(3_000);
        let keyword = *rng.pick(&KEYWORDS);
        let repeated = rng.chance(50).then(|| cased(rng, keyword));
        for _ in 0..extra {
            args.push(match &repeated {
                Some(keyword) => keyword.clone(),
                None => any_arg(rng, known),
            });
        }
    }
    for arg in &mut args {
        if arg.windows(6).any(|w| w == b"{keep}") {
            *arg = b"u1".to_vec();
        }
    }
    args
}

/// Shows a vector the way a reader would type it, long arguments cut.
fn shown(name: &str, args: &[Vec<u8>]) -> String {
    let mut out = name.to_string();
    for arg in args {
        let cut = &arg[..arg.len().min(60)];
        out.push_str(&format!(" {:?}", String::from_utf8_lossy(cut)));
        if arg.len() > 60 {
            out.push_str(&format!("...({} bytes)", arg.len()));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The data: reserved (compared after the run) and known (fair game).

/// The ids nobody but `reserved_data` names.
const KEEP_USERS: [&str; 3] = ["{keep}alice", "{keep}bob", "{keep}carol"];
const KEEP_ROOMS: [&str; 2] = ["{keep}general", "{keep}quiet"];

fn reserved_data(con: &mut Connection) -> String {
    q(
        con,
        &[
            "CHAT.REGISTER",
            "{keep}alice",
            "Alice",
            "PASSWORD",
            "correct horse",
        ],
    );
    q(con, &["CHAT.REGISTER", "{keep}bob", "Bob \u{1f600}"]);
    q(con, &["CHAT.REGISTER", "{keep}carol", "Carol"]);
    room_with(con, "{keep}general", &KEEP_USERS);
    room_with(con, "{keep}quiet", &["{keep}alice"]);
    for i in 1..=5 {
        q(
            con,
            &[
                "CHAT.SEND",
                "{keep}general",
                "{keep}alice",
                &format!("message {i}"),
            ],
        );
    }
    q(
        con,
        &["CHAT.SEND", "{keep}general", "{keep}carol", "line\nbreak"],
    );
    q(con, &["CHAT.SEND", "{keep}quiet", "{keep}alice", "alone"]);
    q(
        con,
        &["CHAT.EDIT", "{keep}general", "{keep}alice", "2", "edited"],
    );
    q(con, &["CHAT.DELETE", "{keep}general", "{keep}alice", "3"]);
    q(con, &["CHAT.READ", "{keep}general", "{keep}bob", "4"]);
    let dm = text(&q(con, &["CHAT.DM", "{keep}alice", "{keep}bob"]));
    q(con, &["CHAT.SEND", &dm, "{keep}bob", "psst"]);
    let carol = docs(&q(con, &["CHAT.FETCH", "{keep}carol", "COUNT", "2"]));
    let delivery = carol[1]["delivery"].as_str().unwrap().to_string();
    q(con, &["CHAT.ACK", "{keep}carol", &delivery]);
    dm
}

/// Everything that can be read about the reserved data: command replies,
/// and each key's type, digest and serialized value.
fn snapshot(con: &mut Connection, dm: &str) -> BTreeMap<String, Value> {
    let mut reads: Vec<Vec<&str>> = Vec::new();
    for room in KEEP_ROOMS.iter().copied().chain([dm]) {
        reads.push(vec!["CHAT.HISTORY", room, "COUNT", "1000"]);
        reads.push(vec!["CHAT.MEMBERS", room, "WITHREAD"]);
        reads.push(vec!["CHAT.INFO", room, "WITHREAD"]);
        reads.push(vec!["CHAT.COUNTS", room]);
        reads.push(vec!["CHAT.PRESENCE", room]);
    }
    for user in KEEP_USERS {
        reads.push(vec!["CHAT.PROFILE", user]);
        reads.push(vec!["CHAT.ROOMS", user]);
        reads.push(vec!["CHAT.FETCH", user, "COUNT", "1000"]);
        reads.push(vec!["CHAT.UNREAD", user]);
        reads.push(vec!["CHAT.CHANNELS", user]);
    }
    let mut out = BTreeMap::new();
    for read in reads {
        out.insert(read.join(" "), q(con, &read));
    }
    let mut keys = Vec::new();
    let mut cursor = "0".to_string();
    loop {
        let reply = q(
            con,
            &["SCAN", &cursor, "MATCH", "*{keep}*", "COUNT", "1000"],
        );
        cursor = text(&items(&reply)[0]);
        keys.extend(strings(&items(&reply)[1]));
        if cursor == "0" {
            break;
        }
    }
    keys.sort();
    assert!(keys.len() >= 15, "reserved keys: {keys:?}");
    for key in keys {
        out.insert(format!("TYPE {key}"), q(con, &["TYPE", &key]));
        out.insert(
            format!("DIGEST {key}"),
            q(con, &["DEBUG", "DIGEST-VALUE", &key]),
        );
        out.insert(format!("DUMP {key}"), q(con, &["DUMP", &key]));
    }
    out
}

/// Rooms, users, messages and inboxes the random calls know by id.
fn known_data(con: &mut Connection) -> Known {
    q(con, &["CHAT.REGISTER", "u1", "U1", "PASSWORD", "pw1"]);
    room_with(con, "r1", &["u1", "u2", "u3"]);
    room_with(con, "r2", &["u1"]);
    room_with(con, "{t}r3", &["{t}u4", "{t}u5"]);
    for i in 0..6 {
        q(con, &["CHAT.SEND", "r1", "u1", &format!("r1 message {i}")]);
        q(con, &["CHAT.SEND", "{t}r3", "{t}u5", "tagged"]);
    }
    let dm = text(&q(con, &["CHAT.DM", "u1", "u2"]));
    q(con, &["CHAT.SEND", &dm, "u2", "direct"]);
    // Keys of the wrong type: an inbox that is a string, a history that
    // is a list, a room whose roster is a hash.
    room_with(con, "wtr", &["u2", "wt"]);
    q(con, &["SET", "chat:user:{wt}:inbox", "not a stream"]);
    room_with(con, "wtroom", &["u3"]);
    q(con, &["RPUSH", "chat:room:{wtroom}:log", "not a stream"]);
    room_with(con, "wtroster", &["u3"]);
    q(con, &["DEL", "chat:room:{wtroster}:roster"]);
    q(con, &["HSET", "chat:room:{wtroster}:roster", "u3", "1"]);

    let mut deliveries = Vec::new();
    for user in ["u2", "u3", "{t}u4"] {
        for doc in docs(&q(con, &["CHAT.FETCH", user, "COUNT", "3"])) {
            deliveries.push(doc["delivery"].as_str().unwrap().to_string());
        }
    }
    Known {
        users: [
            "u1",
            "u2",
            "u3",
            "{t}u4",
            "{t}u5",
            "wt",
            "nobody",
            "{t}nobody",
        ]
        .map(String::from)
        .to_vec(),
        rooms: [
            "r1",
            "r2",
            "{t}r3",
            "wtr",
            "wtroom",
            "wtroster",
            "nowhere",
            "{t}nowhere",
            &dm,
        ]
        .map(String::from)
        .to_vec(),
        pairs: [
            ("r1", "u1"),
            ("r1", "u2"),
            ("r2", "u1"),
            ("{t}r3", "{t}u5"),
            ("wtr", "u2"),
            ("wtr", "wt"),
        ]
        .map(|(r, u)| (r.to_string(), u.to_string()))
        .to_vec(),
        deliveries,
        passwords: ["pw1", "wrong", "", "new password"]
            .map(String::from)
            .to_vec(),
    }
}

/// DEBUG DIGEST once every key past its expiry time is gone (a key that
/// expires is only dropped when read while active expiry is off).
fn settled_digest(con: &mut Connection) -> String {
    let mut cursor = "0".to_string();
    loop {
        let reply = q(con, &["SCAN", &cursor, "COUNT", "1000"]);
        cursor = text(&items(&reply)[0]);
        for key in items(&items(&reply)[1]) {
            let Value::BulkString(key) = key else {
                panic!("a key name: {key:?}")
            };
            redis::cmd("EXISTS").arg(key).query::<i64>(con).unwrap();
        }
        if cursor == "0" {
            break;
        }
    }
    digest(con)
}

/// How many keys have expired so far.
fn expired_keys(con: &mut Connection) -> i64 {
    let info = text(&q(con, &["INFO", "stats"]));
    info.lines()
        .find_map(|l| l.strip_prefix("expired_keys:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("INFO stats has expired_keys")
}

/// The chat.* configs a running server may change without touching the
/// reserved data, with their values at start.
fn chat_configs(con: &mut Connection) -> Vec<(String, String)> {
    // The age limit would retire the reserved messages; who a connection
    // is, and the thread count, are not limits.
    let fixed = [
        "chat.history-max-age",
        "chat.identity",
        "chat.admins",
        "chat.password-threads",
    ];
    pairs(&q(con, &["CONFIG", "GET", "chat.*"]))
        .into_iter()
        .map(|(name, value)| (name, text(&value)))
        .filter(|(name, _)| !fixed.contains(&name.as_str()))
        .collect()
}

/// Registers, creates and subscribes again what `known_data` made, where
/// random calls removed it; errors (already there) are expected.
fn refresh_known(con: &mut Connection) {
    let _ = try_q(con, &["CHAT.REGISTER", "u1", "U1", "PASSWORD", "pw1"]);
    for (room, users) in [
        ("r1", &["u1", "u2", "u3"][..]),
        ("r2", &["u1"]),
        ("{t}r3", &["{t}u4", "{t}u5"]),
        ("wtr", &["u2", "wt"]),
    ] {
        let _ = try_q(con, &["CHAT.CREATE", room, "again"]);
        for user in users {
            let _ = try_q(con, &["CHAT.REGISTER", user, "again"]);
            let _ = try_q(con, &["CHAT.SUBSCRIBE", room, user]);
        }
    }
    let _ = try_q(con, &["CHAT.SEND", "r1", "u1", "again"]);
    let _ = try_q(con, &["CHAT.SEND", "r2", "u1", "again"]);
    let _ = try_q(con, &["CHAT.SEND", "{t}r3", "{t}u5", "again"]);
    let _ = try_q(con, &["CHAT.DM", "u1", "u2"]);
}

// ---------------------------------------------------------------------------
// Checks.

/// Fails on anything but a value or a well-formed error reply; returns the
/// error text, if any.
fn check_reply(
    result: &redis::RedisResult<Value>,
    seed: u64,
    call: &dyn Fn() -> String,
) -> Option<String> {
    let e = match result {
        Ok(_) => return None,
        Err(e) => e,
    };
    assert!(
        !e.is_io_error() && !e.is_timeout() && !e.is_connection_dropped(),
        "seed {seed}: no reply (crash or hang): {e} after {}",
        call()
    );
    let text = error_text(e);
    let code = text.split(' ').next().unwrap_or_default();
    assert!(
        !code.is_empty() && code.bytes().all(|b| b.is_ascii_uppercase()),
        "seed {seed}: error without an upper-case code: {text:?} after {}",
        call()
    );
    assert!(
        !text.contains("internal error"),
        "seed {seed}: {text:?} after {}",
        call()
    );
    Some(code.to_string())
}

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
    let succeeded = commands.iter().filter(|c| ok(c)).count();
    // Only SEND-RESOLVED never succeeds for a client; a few others need
    // luck (the author of an existing message, a password that matches).
    // This only guards against a run that exercises nothing.
    assert!(
        succeeded + 5 >= commands.len(),
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
/// given; checks everything listed at the top of this file; returns how
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
    let known = known_data(&mut setup);
    let commands = chat_commands(&mut setup);
    let replica = acl_user.is_none().then(|| start_replica(&server, true));
    let configs = chat_configs(&mut setup);
    assert!(commands.len() >= 26, "{commands:?}");

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
        let args = vector(&mut rng, &known, cmd);
        let use_resp3 = rng.chance(25);
        // A command that fails writes nothing (checked on a sample).
        let before = rng
            .chance(20)
            .then(|| (digest(&mut setup), expired_keys(&mut setup)));
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
        if let Some((digest_before, expired_before)) = before {
            // A key that expires meanwhile (a presence, a DEDUP key) changes
            // the digest without any command writing.
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
            // And change a limit or the replication mode now and then.
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
            !log.to_ascii_lowercase().contains("panic"),
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
        // Replaying the AOF makes the same data again.
        let mut tries = 0;
        loop {
            let before = settled_digest(&mut setup);
            q(&mut setup, &["DEBUG", "LOADAOF"]);
            if settled_digest(&mut setup) == before {
                break;
            }
            tries += 1;
            assert!(tries < 10, "seed {seed}: the AOF replays to other data");
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

/// The lines of a Redis log that tell of a panic caught in a handler (the
/// module logs `panic: ...`) or of a crash.
fn log_problems(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.to_ascii_lowercase().contains("panic") || l.contains("BUG REPORT"))
        .collect()
}

/// The log check of the random runs sees a panic, with the debug module
/// (whose CHAT.DEBUG-PANIC panics on purpose) when it is built.
#[test]
fn the_log_check_sees_a_panic() {
    let debug =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/debug/libredis_chat.so");
    if !debug.exists() {
        return; // scripts/test builds it; tests/security.rs requires it
    }
    let debug = debug.to_string_lossy().into_owned();
    let server = Server::start_without_module(&["--loadmodule", &debug]);
    let mut con = server.conn();
    assert!(log_problems(&server.log()).is_empty(), "{}", server.log());
    let e = err(&mut con, &["CHAT.DEBUG-PANIC"]);
    assert!(e.starts_with("ERR "), "{e}");
    assert_eq!(text(&q(&mut con, &["PING"])), "PONG");
    let log = server.log();
    assert!(
        log_problems(&log)
            .iter()
            .any(|l| l.contains("<chat> panic: ")),
        "{log}"
    );
}

/// An inbox given a stream id above `i64::MAX` by hand (`XADD` on a chat
/// key, which the docs do not support but a client can do): the next
/// CHAT.SEND's inbox copy has a delivery above `i64::MAX`, and its
/// CHAT.SEND-RESOLVED must still replay on the replica.
#[test]
fn replicas_get_sends_to_inboxes_with_huge_ids() {
    let primary = Server::start();
    let replica = start_replica(&primary, true);
    let mut con = primary.conn();
    room_with(&mut con, "r", &["a", "b"]);
    q(
        &mut con,
        &[
            "XADD",
            "chat:user:{b}:inbox",
            "9223372036854775808-0",
            "msg",
            "x",
        ],
    );
    assert_eq!(int(&q(&mut con, &["CHAT.SEND", "r", "a", "hi"])), 1);
    q(&mut con, &["WAIT", "1", "2000"]);
    let mut rcon = replica.conn();
    assert_eq!(
        strings(&q(&mut rcon, &["CHAT.HISTORY", "r"])).len(),
        1,
        "the replica lacks the message"
    );
    assert_eq!(digest(&mut con), digest(&mut rcon));
}

// ---------------------------------------------------------------------------
// Clients that leave, are killed or are unblocked while they wait.

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

fn info_field(con: &mut Connection, name: &str) -> i64 {
    let info = text(&q(con, &["INFO", "chat"]));
    info.lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.ends_with(name)))
        .map(|(_, v)| v.trim().parse().unwrap())
        .unwrap_or_else(|| panic!("no {name} in {info}"))
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
    while info_field(&mut con, "password_jobs_pending") != 0
        || info_field(&mut con, "blocked_fetches") != 0
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
    assert!(
        !log.to_ascii_lowercase().contains("panic"),
        "seed {seed}: {log}"
    );
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
    assert!(!server.log().to_ascii_lowercase().contains("panic"));
}

// ---------------------------------------------------------------------------
// Keys written by hand: of the wrong type, or of the right type with
// contents the module never writes.

/// Writes the small dataset afresh (with a password for the commands that
/// check one) and returns `call` with its `0-0` placeholder replaced by a
/// real delivery of b's inbox.
fn on_small_dataset(con: &mut Connection, call: Vec<String>) -> Vec<String> {
    let password = call[0] == "CHAT.AUTH" || call[0] == "CHAT.PASSWD";
    let delivery = small_dataset(con, password);
    call.into_iter()
        .map(|a| if a == "0-0" { delivery.clone() } else { a })
        .collect()
}

/// A small dataset: users a, b, c (b offline with an inbox, a online), room
/// r with a and b, three messages by a (one edited), b's cursor at 1.
fn small_dataset(con: &mut Connection, password: bool) -> String {
    q(con, &["FLUSHALL"]);
    if password {
        q(con, &["CHAT.REGISTER", "a", "A", "PASSWORD", "pw"]);
    }
    room_with(con, "r", &["a", "b"]);
    q(con, &["CHAT.REGISTER", "c", "C"]);
    for i in 1..=3 {
        q(
            con,
            &[
                "CHAT.SEND",
                "r",
                "a",
                &format!("m{i}"),
                "DEDUP",
                &format!("k{i}"),
            ],
        );
    }
    q(con, &["CHAT.EDIT", "r", "a", "1", "edited"]);
    q(con, &["CHAT.READ", "r", "b", "1"]);
    q(con, &["CHAT.ONLINE", "a", "TTL", "600"]);
    let inbox = docs(&q(con, &["CHAT.FETCH", "b", "COUNT", "1"]));
    inbox[0]["delivery"].as_str().unwrap().to_string()
}

/// One valid call of every command, on the small dataset.
fn every_command(delivery: &str) -> Vec<Vec<String>> {
    let calls: &[&[&str]] = &[
        &["CHAT.REGISTER", "d", "D"],
        &["CHAT.REGISTER", "a", "A"],
        &["CHAT.PROFILE", "a"],
        &["CHAT.ROOMS", "a"],
        &["CHAT.CREATE", "r", "again"],
        &["CHAT.CREATE", "s", "S"],
        &["CHAT.INFO", "r"],
        &["CHAT.INFO", "r", "WITHREAD"],
        &["CHAT.MEMBERS", "r"],
        &["CHAT.MEMBERS", "r", "WITHREAD"],
        &["CHAT.COUNTS", "r"],
        &["CHAT.SUBSCRIBE", "r", "c"],
        &["CHAT.UNSUBSCRIBE", "r", "b"],
        &["CHAT.SEND", "r", "a", "hi"],
        &["CHAT.SEND", "r", "a", "again", "DEDUP", "k1"],
        &["CHAT.SEND", "r", "b", "hello"],
        &["CHAT.HISTORY", "r"],
        &["CHAT.HISTORY", "r", "BEFORE", "3", "COUNT", "1"],
        &["CHAT.HISTORY", "r", "AFTER", "0"],
        &["CHAT.FETCH", "b"],
        &["CHAT.FETCH", "b", "BLOCK", "10"],
        &["CHAT.ACK", "b", delivery],
        &["CHAT.ONLINE", "b"],
        &["CHAT.OFFLINE", "a"],
        &["CHAT.PRESENCE", "r"],
        &["CHAT.READ", "r", "b", "3"],
        &["CHAT.UNREAD", "b"],
        &["CHAT.TYPING", "r", "a"],
        &["CHAT.EDIT", "r", "a", "2", "new"],
        &["CHAT.DELETE", "r", "a", "3"],
        &["CHAT.CHANNELS", "a"],
        &["CHAT.DM", "a", "b"],
        &["CHAT.AUTH", "a", "pw"],
        &["CHAT.PASSWD", "a", "pw", "pw2"],
        &["CHAT.DROP", "r"],
        &["CHAT.UNREGISTER", "b"],
        &["CHAT.UNREGISTER", "a"],
    ];
    calls
        .iter()
        .map(|c| c.iter().map(|s| s.to_string()).collect())
        .collect()
}

/// Runs `call`; checks the reply, that the server lives, and that a failure
/// wrote nothing. Returns the reply's code ("ok" for a value). With
/// `hand_written` data, an "internal error" that says what it found is a
/// fair answer; a caught panic never is.
fn checked_call(con: &mut Connection, call: &[String], what: &str, hand_written: bool) -> String {
    let (digest_before, expired_before) = (digest(con), expired_keys(con));
    let args: Vec<&str> = call.iter().map(String::as_str).collect();
    let result = try_q(con, &args);
    let shown = || format!("{what}: {}", args.join(" "));
    let code = match &result {
        Err(e) if hand_written && error_text(e).starts_with("ERR internal error: ") => {
            let text = error_text(e);
            assert!(!text.contains("unexpectedly"), "{text} after {}", shown());
            "ERR".to_string()
        }
        _ => check_reply(&result, 0, &shown).unwrap_or_else(|| "ok".into()),
    };
    if code != "ok" && expired_keys(con) == expired_before {
        assert_eq!(
            digest(con),
            digest_before,
            "a failed command wrote: {}",
            shown()
        );
    }
    code
}

#[test]
fn every_key_of_the_wrong_type() {
    let mut server = Server::start();
    let mut con = server.conn();
    con.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let keys = [
        ("chat:room:{r}", "string"),
        ("chat:room:{r}:log", "string"),
        ("chat:room:{r}:members", "string"),
        ("chat:room:{r}:roster", "list"),
        ("chat:room:{r}:counts", "string"),
        ("chat:room:{r}:changes", "string"),
        ("chat:room:{r}:dedup:k1", "list"),
        ("chat:user:{a}", "string"),
        ("chat:user:{a}:rooms", "string"),
        ("chat:user:{a}:inbox", "string"),
        ("chat:user:{a}:online", "list"),
        ("chat:user:{b}", "list"),
        ("chat:user:{b}:rooms", "list"),
        ("chat:user:{b}:inbox", "list"),
        ("chat:user:{b}:online", "list"),
        ("chat:user:{c}", "string"),
        ("chat:user:{d}", "string"),
        ("chat:room:{s}", "string"),
        ("chat:room:{dm:1:a:b}", "string"),
        ("chat:room:{dm:1:a:b}:members", "string"),
    ];
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    for (key, kind) in keys {
        for call in every_command("0-0") {
            let call = on_small_dataset(&mut con, call);
            q(&mut con, &["DEL", key]);
            match kind {
                "string" => q(&mut con, &["SET", key, "by hand"]),
                _ => q(&mut con, &["RPUSH", key, "by hand"]),
            };
            let code = checked_call(&mut con, &call, &format!("{key} a {kind}"), false);
            *codes.entry(code).or_default() += 1;
        }
    }
    assert!(server.is_running());
    let log = server.log();
    assert!(!log.to_ascii_lowercase().contains("panic"), "{log}");
    assert!(codes.contains_key("WRONGTYPE"), "{codes:?}");
    eprintln!("hostile: keys of the wrong type: {codes:?}");
    server.kill();
}

#[test]
fn keys_with_contents_the_module_never_writes() {
    let mut server = Server::start();
    let mut con = server.conn();
    con.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let edits: &[&[&str]] = &[
        &["HSET", "chat:room:{r}", "last_id", "-5"],
        &["HSET", "chat:room:{r}", "last_id", "99999999999999999999"],
        &["HSET", "chat:room:{r}", "last_id", "1"],
        &["HDEL", "chat:room:{r}", "title", "created", "last_id"],
        &["XADD", "chat:room:{r}:log", "4-0", "junk", "x"],
        &[
            "XADD",
            "chat:room:{r}:log",
            "18446744073709551615-0",
            "sender",
            "a",
        ],
        &[
            "XADD",
            "chat:room:{r}:log",
            "4-1",
            "sender",
            "a",
            "text",
            "t",
            "ts",
            "x",
        ],
        &[
            "HSET",
            "chat:room:{r}:members",
            "a",
            "not a number",
            "b",
            "-1",
        ],
        &["HSET", "chat:room:{r}:members", "c", "99999999999999999999"],
        &["HSET", "chat:room:{r}:members", "bad id", "1"],
        &["SET", "chat:room:{r}:roster", "x\n\n{bad id}\nb"],
        &["SET", "chat:room:{r}:roster", ""],
        &["SET", "chat:room:{r}:roster", "a\nb\nc\nd\ne\n"],
        &["HSET", "chat:room:{r}:counts", "a", "abc"],
        &["HSET", "chat:room:{r}:counts", "a", "9223372036854775807"],
        &["HSET", "chat:room:{r}:changes", "2", "zzz"],
        &["HSET", "chat:room:{r}:changes", "2", "e\nabc\n"],
        &["HSET", "chat:room:{r}:changes", "3", "d\n1\n2"],
        &["HSET", "chat:room:{r}:changes", "x", "e\n1\nnew"],
        &["SET", "chat:room:{r}:dedup:k1", "abc"],
        &["SET", "chat:room:{r}:dedup:k1", "999"],
        &["HSET", "chat:user:{a}", "password", "not a PHC string"],
        &["HSET", "chat:user:{a}", "created", "x", "name", ""],
        &[
            "HSET",
            "chat:user:{a}:rooms",
            "bad room id",
            "1",
            "nowhere",
            "1",
        ],
        &["HSET", "chat:user:{b}:rooms", "r", "not a time"],
        &["XADD", "chat:user:{b}:inbox", "*", "junk", "x"],
        &["XADD", "chat:user:{b}:inbox", "*", "msg", "no newlines"],
        &["XADD", "chat:user:{b}:inbox", "*", "msg", "r\nx\na\ny\n"],
        &[
            "XADD",
            "chat:user:{b}:inbox",
            "18446744073709551615-18446744073709551615",
            "msg",
            "r\n2\na\n1\nt",
        ],
        &["SET", "chat:user:{a}:online", "anything"],
    ];
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    for edit in edits {
        let edit: Vec<String> = edit.iter().map(|a| a.to_string()).collect();
        for call in every_command("0-0") {
            let call = on_small_dataset(&mut con, call);
            let edit_args: Vec<&str> = edit.iter().map(String::as_str).collect();
            q(&mut con, &edit_args);
            let what = format!("after {}", edit.join(" "));
            let code = checked_call(&mut con, &call, &what, true);
            *codes.entry(code).or_default() += 1;
        }
    }
    assert!(server.is_running());
    let log = server.log();
    assert!(!log.to_ascii_lowercase().contains("panic"), "{log}");
    eprintln!("hostile: keys with unexpected contents: {codes:?}");
    server.kill();
}

/// A stream's metadata as `XINFO STREAM` shows it, without the entries.
fn stream_metadata(con: &mut Connection, key: &str) -> Vec<(String, Value)> {
    pairs(&q(con, &["XINFO", "STREAM", key]))
        .into_iter()
        .filter(|(field, _)| !field.ends_with("-entry") || field.starts_with("recorded"))
        .collect()
}

/// CHAT.DELETE removes a message from the room's log and propagates `XDEL`:
/// the primary's stream must have the same metadata (`max-deleted-entry-id`)
/// as the replica's and a reloaded AOF's, which applied that XDEL. DEBUG
/// DIGEST does not cover stream metadata, so the durability tests cannot
/// see a difference there.
#[test]
fn deletes_leave_the_same_stream_metadata_everywhere() {
    let primary = Server::start();
    let replica = start_replica(&primary, true);
    let mut con = primary.conn();
    room_with(&mut con, "r", &["a", "b"]);
    for i in 1..=4 {
        q(&mut con, &["CHAT.SEND", "r", "a", &format!("m{i}")]);
    }
    q(&mut con, &["CHAT.DELETE", "r", "a", "3"]);
    let first = docs(&q(&mut con, &["CHAT.FETCH", "b", "COUNT", "1"]));
    q(
        &mut con,
        &["CHAT.ACK", "b", first[0]["delivery"].as_str().unwrap()],
    );
    q(&mut con, &["WAIT", "1", "2000"]);
    let mut rcon = replica.conn();
    assert_eq!(digest(&mut con), digest(&mut rcon));
    for key in ["chat:room:{r}:log", "chat:user:{b}:inbox"] {
        assert_eq!(
            stream_metadata(&mut con, key),
            stream_metadata(&mut rcon, key),
            "{key}"
        );
    }
}
