//! Hostile input against a live server: thousands of random argument
//! vectors sent to every CHAT.* command the server reports, keys of every
//! other Redis type (or of the other chat kind) where a room or a user is
//! wanted, and chat values crafted byte by byte through RESTORE.
//!
//! The command list comes from `COMMAND LIST FILTERBY MODULE chat` and each
//! command's arguments from `COMMAND DOCS`, so a new command is covered as
//! soon as it is registered (CHAT.DUMP, and the internal commands that only
//! replicas and the AOF may send, which must refuse every client). Vectors
//! mix random bytes, huge, negative and malformed numbers, option keywords
//! in any case (missing, repeated, unknown), empty and very long arguments
//! (up to 1 MB), ids of existing rooms and users (so that some calls
//! succeed and write), ids whose keys hold another Redis type, a room
//! copied by hand, members whose user key is gone, and commands wrapped in
//! CHAT.AT. Some calls run inside MULTI/EXEC or a script, over RESP3, and
//! the chat.* limits change now and then. The run is seeded: the seed is
//! printed, and `HOSTILE_SEED=<n>` replays it (`HOSTILE_CALLS=<n>` runs
//! longer, `HOSTILE_RESTORES=<n>` crafts more values). The crafted values
//! also depend on the times stored in the data they start from, so a seed
//! replays the same changes to slightly different bytes.
//!
//! Asserted: the server never crashes or hangs (every reply within the read
//! timeout, PING answers, the process lives, no panic in its log), every
//! reply is a value or an error whose text starts with an upper-case code,
//! no error is the module's "internal error", a command that fails writes
//! nothing (`DEBUG DIGEST` before and after, on a sample of the calls, and
//! on every call of an internal command, which never succeeds), a replica
//! ends with the primary's data, and the data written before the run under
//! the reserved tag `{keep}` is exactly as it was.
//!
//! Reserved data: the rooms and users whose ids start with `{keep}` (the
//! keys `{keep}alice`, `{keep}general`, ...) are written before the run and
//! never named by a random call (any generated argument that contains
//! `{keep}` is replaced). Nothing a random call can do reaches them
//! otherwise: they are in no room the random calls know, and are offline,
//! so no send reaches their inboxes. Every other id is fair game for writes.

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
    /// Encodings of real chat values (what CHAT.RESTORE-VALUE carries).
    values: Vec<Vec<u8>>,
    /// The name of every CHAT.* command, for CHAT.AT to wrap.
    commands: Vec<String>,
}

/// The commands only a primary (to its replicas) or the AOF may send: a
/// client gets an error, and nothing is written.
const INTERNAL: [&str; 5] = [
    "chat.at",
    "chat.send-resolved",
    "chat.set-password",
    "chat.trim-resolved",
    "chat.restore-value",
];

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
        // CHAT.DUMP's and CHAT.RESTORE-VALUE's key: a room or a user.
        "key" if name == "key" && rng.chance(50) => rng.pick(&known.rooms).as_bytes().to_vec(),
        "key" => match pair {
            Some((_, user)) if rng.chance(80) => user.as_bytes().to_vec(),
            _ => rng.pick(&known.users).as_bytes().to_vec(),
        },
        "integer" if rng.chance(70) => rng.below(8).to_string().into_bytes(),
        "integer" => number(rng),
        _ if name == "kind" => {
            let kind = *rng.pick(&["room", "user", "rooms", ""]);
            cased(rng, kind)
        }
        _ if name == "command" => {
            let command = rng.pick(&known.commands).clone();
            cased(rng, &command)
        }
        _ if name == "bytes" && rng.chance(70) => rng.pick(&known.values).clone(),
        _ if name == "hash" => {
            b"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA".to_vec()
        }
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

/// A random argument vector for `cmd`. CHAT.AT, more often than not,
/// wraps a vector of another command (`commands`), as a primary would.
fn vector(rng: &mut Rng, known: &Known, cmd: &CommandDoc, commands: &[CommandDoc]) -> Vec<Vec<u8>> {
    let mut args = Vec::new();
    if cmd.name == "chat.at" && rng.chance(60) {
        let inner = rng.pick(commands);
        args.push(match rng.below(3) {
            0 => number(rng),
            _ => (1_700_000_000_000 + rng.below(1 << 40) as u64)
                .to_string()
                .into_bytes(),
        });
        args.push(cased(rng, &inner.name));
        // CHAT.AT inside CHAT.AT now and then, never deeper.
        let inner_args = if inner.name == "chat.at" {
            vec![
                number(rng),
                b"chat.send".to_vec(),
                b"r1".to_vec(),
                b"u1".to_vec(),
                b"x".to_vec(),
            ]
        } else {
            vector(rng, known, inner, commands)
        };
        args.extend(inner_args);
        return args;
    }
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
/// and each key's type, digest, serialized value and CHAT.DUMP.
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
    // A room and a user are one key each, named by the id.
    let mut keys = strings(&q(con, &["KEYS", "*{keep}*"]));
    keys.sort();
    let mut expected: Vec<String> = KEEP_USERS
        .iter()
        .chain(&KEEP_ROOMS)
        .map(|id| id.to_string())
        .chain([dm.to_string()])
        .collect();
    expected.sort();
    assert_eq!(keys, expected, "reserved keys");
    for key in keys {
        out.insert(format!("TYPE {key}"), q(con, &["TYPE", &key]));
        out.insert(
            format!("DIGEST {key}"),
            q(con, &["DEBUG", "DIGEST-VALUE", &key]),
        );
        out.insert(
            format!("DUMP {key}"),
            Value::BulkString(dump_payload(con, &key)),
        );
        out.insert(format!("CHAT.DUMP {key}"), q(con, &["CHAT.DUMP", &key]));
    }
    out
}

/// Rooms, users, messages and inboxes the random calls know by id, and
/// ids whose keys were spoiled by hand.
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
    // Spoiled by hand: a member whose user key is a string, ids whose keys
    // hold a list, a hash and a stream, a member whose user key is gone,
    // and a room and a user copied to another name.
    room_with(con, "wtr", &["u2", "wt"]);
    q(con, &["DEL", "wt"]);
    q(con, &["SET", "wt", "not a user"]);
    q(con, &["RPUSH", "wtroom", "not a room"]);
    q(con, &["HSET", "wthash", "not", "a room"]);
    q(con, &["XADD", "wtstream", "*", "not", "a user"]);
    room_with(con, "gonr", &["u3", "gone"]);
    q(con, &["DEL", "gone"]);
    q(con, &["COPY", "r2", "r2copy"]);
    q(con, &["COPY", "u3", "u3copy"]);
    let mut values = Vec::new();
    for key in ["r1", "u1", "u3", &dm] {
        let payload = dump_payload(con, key);
        values.push(Payload::parse(&payload).value);
    }

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
            "wtstream",
            "gone",
            "u3copy",
            "r2",
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
            "wthash",
            "gonr",
            "r2copy",
            "u3",
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
            ("gonr", "u3"),
            ("gonr", "gone"),
        ]
        .map(|(r, u)| (r.to_string(), u.to_string()))
        .to_vec(),
        deliveries,
        passwords: ["pw1", "wrong", "", "new password"]
            .map(String::from)
            .to_vec(),
        values,
        commands: Vec::new(),
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
/// random calls removed it; errors (already there, of the wrong type) are
/// expected.
fn refresh_known(con: &mut Connection) {
    let _ = try_q(con, &["CHAT.REGISTER", "u1", "U1", "PASSWORD", "pw1"]);
    for (room, users) in [
        ("r1", &["u1", "u2", "u3"][..]),
        ("r2", &["u1"]),
        ("{t}r3", &["{t}u4", "{t}u5"]),
        ("wtr", &["u2", "wt"]),
        ("gonr", &["u3", "gone"]),
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
    // Gone again, if a random call registered it.
    q(con, &["DEL", "gone"]);
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
    // it); a few others need luck (the author of an existing message, a
    // password that matches). This only guards against a run that
    // exercises nothing.
    assert!(
        succeeded + 4 >= public.len(),
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
/// module logs `panic: ...`) or of a crash (a bug report, and the reason
/// Redis gives for it).
fn log_problems(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            l.to_ascii_lowercase().contains("panic")
                || l.contains("BUG REPORT")
                || l.contains("Guru Meditation")
        })
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
// Keys spoiled by hand: another Redis type, or the other chat kind, under a
// room or user id.

/// A small dataset: users a, b, c (a online with a password, b offline
/// with an inbox), room r with a and b, three messages by a (one edited,
/// each sent with a DEDUP key), b's cursor at 1. Made once; `put_back`
/// writes it again from DUMP payloads (the password hash too, without
/// hashing again).
struct SmallDataset {
    payloads: Vec<(String, Vec<u8>)>,
    /// A delivery of b's inbox, for CHAT.ACK.
    delivery: String,
}

impl SmallDataset {
    fn make(con: &mut Connection) -> SmallDataset {
        q(con, &["FLUSHALL"]);
        q(con, &["CHAT.REGISTER", "a", "A", "PASSWORD", "pw"]);
        room_with(con, "r", &["a", "b"]);
        q(con, &["CHAT.REGISTER", "c", "C"]);
        for i in 1..=3 {
            let (text, key) = (format!("m{i}"), format!("k{i}"));
            q(con, &["CHAT.SEND", "r", "a", &text, "DEDUP", &key]);
        }
        q(con, &["CHAT.EDIT", "r", "a", "1", "edited"]);
        q(con, &["CHAT.READ", "r", "b", "1"]);
        q(con, &["CHAT.ONLINE", "a", "TTL", "600"]);
        let inbox = docs(&q(con, &["CHAT.FETCH", "b", "COUNT", "1"]));
        let delivery = inbox[0]["delivery"].as_str().unwrap().to_string();
        let mut keys = strings(&q(con, &["KEYS", "*"]));
        keys.sort();
        assert_eq!(keys, ["a", "b", "c", "r"]);
        let payloads = keys
            .into_iter()
            .map(|k| {
                let payload = dump_payload(con, &k);
                (k, payload)
            })
            .collect();
        SmallDataset { payloads, delivery }
    }

    /// Empties the server, writes the dataset again, then runs `spoil`:
    /// one round trip.
    fn put_back(&self, con: &mut Connection, spoil: &[Vec<String>]) {
        let mut pipe = redis::pipe();
        pipe.cmd("FLUSHALL").ignore();
        for (key, payload) in &self.payloads {
            pipe.cmd("RESTORE").arg(key).arg(0).arg(payload).ignore();
        }
        for command in spoil {
            pipe.cmd(&command[0]).arg(&command[1..]).ignore();
        }
        pipe.query::<()>(con)
            .unwrap_or_else(|e| panic!("{spoil:?}: {e}"));
    }
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
        &["CHAT.DUMP", "r"],
        &["CHAT.DUMP", "b"],
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
/// wrote nothing. Returns the reply: "ok", or the error text. With
/// `crafted` data, an "internal error" that says what it found is a fair
/// answer; a caught panic never is.
fn checked_call(con: &mut Connection, call: &[String], what: &str, crafted: bool) -> String {
    let (digest_before, expired_before) = (digest(con), expired_keys(con));
    let args: Vec<&str> = call.iter().map(String::as_str).collect();
    let result = try_q(con, &args);
    let shown = || format!("{what}: {}", args.join(" "));
    let outcome = match &result {
        Ok(_) => "ok".to_string(),
        Err(e) if crafted && error_text(e).starts_with("ERR internal error: ") => {
            let text = error_text(e);
            assert!(!text.contains("unexpectedly"), "{text} after {}", shown());
            text
        }
        Err(e) => {
            check_reply(&result, 0, &shown);
            error_text(e)
        }
    };
    if outcome != "ok" && expired_keys(con) == expired_before {
        assert_eq!(
            digest(con),
            digest_before,
            "a failed command wrote: {} -> {outcome}",
            shown()
        );
    }
    outcome
}

/// What is put under a room or user id by hand: a value of each other
/// Redis type, or a chat value of the other kind.
const SPOILS: [&str; 7] = [
    "string",
    "list",
    "hash",
    "set",
    "zset",
    "stream",
    "chat value of the other kind",
];

/// The commands that put `spoil` under `key` (which the dataset holds, or
/// not), a room id if `room`.
fn spoil_key(key: &str, room: bool, spoil: &str) -> Vec<Vec<String>> {
    let write: Vec<&str> = match spoil {
        "string" => vec!["SET", key, "by hand"],
        "list" => vec!["RPUSH", key, "by hand"],
        "hash" => vec!["HSET", key, "by", "hand"],
        "set" => vec!["SADD", key, "by hand"],
        "zset" => vec!["ZADD", key, "1", "by hand"],
        "stream" => vec!["XADD", key, "*", "by", "hand"],
        _ if room => vec!["CHAT.REGISTER", key, "a user"],
        _ => vec!["CHAT.CREATE", key, "a room"],
    };
    [vec!["DEL", key], write]
        .into_iter()
        .map(|c| c.into_iter().map(String::from).collect())
        .collect()
}

/// Every command, against room and user ids whose keys hold each other
/// Redis type, and a room where a user is wanted and the reverse. A key
/// the command names (a declared key) gets `WRONGTYPE` for another Redis
/// type, and an error that names the other kind for a chat value of the
/// other kind (CHAT.DUMP shows either); any other key the command opens
/// may fail it too. A command that fails writes nothing.
#[test]
fn every_key_of_the_wrong_type() {
    let mut server = Server::start();
    let mut con = server.conn();
    con.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let dataset = SmallDataset::make(&mut con);
    let calls = every_command(&dataset.delivery);
    // The keys each call names, as Redis finds them.
    dataset.put_back(&mut con, &[]);
    let declared: Vec<Vec<String>> = calls
        .iter()
        .map(|call| {
            let mut getkeys = vec!["COMMAND", "GETKEYS"];
            getkeys.extend(call.iter().map(String::as_str));
            strings(&q(&mut con, &getkeys))
        })
        .collect();
    let ids = [
        ("r", true),
        ("a", false),
        ("b", false),
        ("c", false),
        ("d", false),
        ("s", true),
        ("dm:1:a:b", true),
    ];
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    // What each call that was not refused for the spoiled key it names
    // did, and with which spoils.
    let mut wrong: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (key, room) in ids {
        for spoil in SPOILS {
            let spoiling = spoil_key(key, room, spoil);
            for (call, declared) in calls.iter().zip(&declared) {
                dataset.put_back(&mut con, &spoiling);
                let what = format!("{key} holding a {spoil}");
                let outcome = checked_call(&mut con, call, &what, false);
                let code = outcome.split(' ').next().unwrap_or_default().to_string();
                *codes.entry(code).or_default() += 1;
                if !declared.iter().any(|k| k == key) {
                    continue;
                }
                let fine = match spoil {
                    "chat value of the other kind" if call[0] == "CHAT.DUMP" => outcome == "ok",
                    "chat value of the other kind" => {
                        outcome.starts_with(&format!("WRONGTYPE key '{key}' holds a chat "))
                            || outcome.starts_with(&format!("ERR '{key}' is the id of a "))
                    }
                    _ => {
                        outcome
                            == format!(
                                "WRONGTYPE key '{key}' holds another kind of value than a chat room or user"
                            )
                    }
                };
                if !fine {
                    let did = format!("{} -> {outcome}, with {key} holding a", call.join(" "));
                    wrong.entry(did).or_default().push(spoil);
                }
            }
        }
    }
    assert!(server.is_running());
    let log = server.log();
    assert!(log_problems(&log).is_empty(), "{log}");
    eprintln!("hostile: keys of the wrong type: {codes:?}");
    let wrong: Vec<String> = wrong
        .into_iter()
        .map(|(did, spoils)| format!("{did}: {}", spoils.join(", ")))
        .collect();
    assert!(
        wrong.is_empty(),
        "calls naming a spoiled key that were not refused for it:\n{}",
        wrong.join("\n")
    );
}

// ---------------------------------------------------------------------------
// Chat values crafted byte by byte and given to RESTORE.
//
// A DUMP payload of a chat value is the RDB encoding of a module value:
// the type byte 7 (RDB_TYPE_MODULE_2), the module type id (0x81 and 8
// bytes), the opcode 5 (a string buffer), the string (an RDB length, then
// the value's bytes, which the module encodes with bincode), the opcode 0
// (EOF), then the RDB version (2 bytes) and a CRC-64 of all that (8 bytes,
// little-endian). RESTORE checks the CRC, so a crafted payload needs it
// right.

/// CRC-64/Jones as Redis computes it (reflected, init 0, no final xor).
fn crc64(data: &[u8]) -> u64 {
    const POLY: u64 = 0x95ac_9329_ac4b_c9b5; // 0xad93d23594c935a9 reflected
    let mut crc = 0u64;
    for &byte in data {
        crc ^= u64::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// `body` with its CRC appended: a payload RESTORE reads.
fn sealed(mut body: Vec<u8>) -> Vec<u8> {
    let crc = crc64(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// An RDB length.
fn rdb_len(n: usize) -> Vec<u8> {
    match n {
        0..=63 => vec![n as u8],
        64..=16383 => vec![0x40 | (n >> 8) as u8, n as u8],
        _ if n <= u32::MAX as usize => [&[0x80][..], &(n as u32).to_be_bytes()].concat(),
        _ => [&[0x81][..], &(n as u64).to_be_bytes()].concat(),
    }
}

/// Reads an RDB length at `at`, and moves past it.
fn read_rdb_len(bytes: &[u8], at: &mut usize) -> usize {
    let first = bytes[*at];
    *at += 1;
    let wide = |at: &mut usize, n: usize| {
        let mut v = 0usize;
        for &b in &bytes[*at..*at + n] {
            v = (v << 8) | b as usize;
        }
        *at += n;
        v
    };
    match first {
        0x00..=0x3f => first as usize,
        0x40..=0x7f => ((first & 0x3f) as usize) << 8 | wide(at, 1),
        0x80 => wide(at, 4),
        0x81 => wide(at, 8),
        _ => panic!("not a plain RDB length: {first:#x} (is rdbcompression off?)"),
    }
}

/// A DUMP payload of a chat value, in parts.
#[derive(Clone)]
struct Payload {
    /// Type byte, module type id, string opcode.
    head: Vec<u8>,
    /// The module's bytes.
    value: Vec<u8>,
    /// EOF opcode and RDB version.
    tail: Vec<u8>,
}

impl Payload {
    fn parse(payload: &[u8]) -> Payload {
        let (body, crc) = payload.split_at(payload.len() - 8);
        assert_eq!(
            u64::from_le_bytes(crc.try_into().unwrap()),
            crc64(body),
            "the payload ends with the CRC-64 of the rest"
        );
        assert_eq!(body[0], 7, "RDB_TYPE_MODULE_2");
        assert_eq!(body[1], 0x81, "a 64-bit module type id");
        assert_eq!(body[10], 5, "RDB_MODULE_OPCODE_STRING");
        let mut at = 11;
        let len = read_rdb_len(body, &mut at);
        let value = body[at..at + len].to_vec();
        let tail = body[at + len..].to_vec();
        assert_eq!(tail.len(), 3, "the EOF opcode and the RDB version");
        assert_eq!(tail[0], 0, "RDB_MODULE_OPCODE_EOF");
        Payload {
            head: body[..11].to_vec(),
            value,
            tail,
        }
    }

    /// The payload carrying `value`, with its length and CRC right.
    fn with_value(&self, value: &[u8]) -> Vec<u8> {
        let mut body = self.head.clone();
        body.extend(rdb_len(value.len()));
        body.extend_from_slice(value);
        body.extend_from_slice(&self.tail);
        sealed(body)
    }

    /// Everything but the CRC, as DUMP made it.
    fn body(&self) -> Vec<u8> {
        let whole = self.with_value(&self.value);
        whole[..whole.len() - 8].to_vec()
    }
}

/// DUMP of `key`, with its string not LZF-compressed (so that it can be
/// taken apart).
fn dump_payload(con: &mut Connection, key: &str) -> Vec<u8> {
    q(con, &["CONFIG", "SET", "rdbcompression", "no"]);
    match q(con, &["DUMP", key]) {
        Value::BulkString(payload) => payload,
        other => panic!("DUMP {key}: {other:?}"),
    }
}

/// FNV-1a of a key name: what a chat value keeps of the name it was made
/// under (its first field, `origin`), to refuse itself under another.
fn name_hash(name: &[u8]) -> u32 {
    name.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// An unsigned integer as bincode's varint writes it.
fn varint(n: u64) -> Vec<u8> {
    match n {
        0..=250 => vec![n as u8],
        251..=0xffff => [&[251][..], &(n as u16).to_le_bytes()].concat(),
        0x1_0000..=0xffff_ffff => [&[252][..], &(n as u32).to_le_bytes()].concat(),
        _ => [&[253][..], &n.to_le_bytes()].concat(),
    }
}

/// How many bytes the varint at the start of `bytes` takes.
fn varint_len(bytes: &[u8]) -> usize {
    match bytes.first() {
        Some(0..=250) => 1,
        Some(251) => 3,
        Some(252) => 5,
        Some(253) => 9,
        _ => 17,
    }
}

/// A value's bytes made for key `name`: its origin replaced by the hash
/// of `name`, so that commands act on it there.
fn value_for_name(value: &[u8], name: &str) -> Vec<u8> {
    let rest = &value[varint_len(value).min(value.len())..];
    [varint(u64::from(name_hash(name.as_bytes()))), rest.to_vec()].concat()
}

/// One to three random changes: bits flipped, bytes set to what varints
/// and options are made of, pieces cut, random bytes inserted, pieces
/// repeated, pieces of other values spliced in, numbers nudged.
fn mutate(rng: &mut Rng, value: &[u8], donors: &[Vec<u8>]) -> Vec<u8> {
    let mut v = value.to_vec();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(v.len() + 1);
        let within = at < v.len();
        match rng.below(9) {
            0 if within => v[at] ^= 1 << rng.below(8),
            1 if within => {
                v[at] = *rng.pick(&[0, 1, 2, 0x7f, 0x80, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff])
            }
            2 => v.truncate(at),
            3 => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                v.drain(at..end);
            }
            4 => {
                let bytes: Vec<u8> = (0..1 + rng.below(8)).map(|_| rng.next() as u8).collect();
                v.splice(at..at, bytes);
            }
            5 => {
                let end = (at + 1 + rng.below(32)).min(v.len());
                let piece = v[at..end].to_vec();
                v.splice(at..at, piece);
            }
            6 => {
                let donor = rng.pick(donors);
                let from = rng.below(donor.len() + 1);
                let end = (from + 1 + rng.below(32)).min(donor.len());
                let replaced = (at + rng.below(4)).min(v.len());
                v.splice(at..replaced, donor[from..end].to_vec());
            }
            7 if within => v[at] = v[at].wrapping_add(1 + rng.below(2) as u8),
            _ if within => v[at] = v[at].wrapping_sub(1),
            _ => v.push(rng.next() as u8),
        }
    }
    v
}

/// Rooms and users with something in every part of their values: rooms
/// with members, cursors, counts, edited and deleted messages, DEDUP keys,
/// enough messages to fill several chunks; users with a password, rooms,
/// presence and inboxes holding changed copies. Returns the keys, rooms
/// first.
fn crafted_dataset(con: &mut Connection) -> (Vec<&'static str>, Vec<&'static str>) {
    q(con, &["CHAT.REGISTER", "alice", "Alice", "PASSWORD", "pw"]);
    room_with(con, "general", &["alice", "bob", "carol"]);
    room_with(con, "quiet", &["carol"]);
    for i in 1..=40 {
        let sender = ["alice", "bob", "carol"][i % 3];
        let text = format!("message {i} {}", "\u{e9}".repeat(i % 5));
        q(
            con,
            &[
                "CHAT.SEND",
                "general",
                sender,
                &text,
                "DEDUP",
                &format!("k{i}"),
            ],
        );
    }
    for i in 0..300 {
        q(con, &["CHAT.SEND", "quiet", "carol", &format!("q{i}")]);
    }
    q(con, &["CHAT.EDIT", "general", "bob", "1", "edited"]);
    q(con, &["CHAT.DELETE", "general", "alice", "3"]);
    q(con, &["CHAT.READ", "general", "bob", "20"]);
    q(con, &["CHAT.ONLINE", "alice", "TTL", "3600"]);
    let dm = text(&q(con, &["CHAT.DM", "alice", "bob"]));
    assert_eq!(dm, "dm:5:alice:bob");
    q(con, &["CHAT.SEND", &dm, "bob", "psst"]);
    q(con, &["CHAT.REGISTER", "idle", "Idle"]);
    q(con, &["CHAT.CREATE", "empty", "Empty"]);
    let carol = docs(&q(con, &["CHAT.FETCH", "carol", "COUNT", "2"]));
    q(
        con,
        &["CHAT.ACK", "carol", carol[0]["delivery"].as_str().unwrap()],
    );
    (
        vec!["general", "quiet", "dm:5:alice:bob", "empty"],
        vec!["alice", "bob", "carol", "idle"],
    )
}

/// The calls that read or change a restored room or user `key`, given its
/// CHAT.DUMP; the last one removes it, if `remove`.
fn calls_on(key: &str, room: bool, dump: &serde_json::Value, remove: bool) -> Vec<Vec<String>> {
    let first_id = |v: &serde_json::Value| {
        v.as_array()
            .and_then(|a| a.first())
            .and_then(|m| m["id"].as_u64())
            .unwrap_or(1)
            .to_string()
    };
    let calls: Vec<Vec<String>> = if room {
        let member = dump["members"]
            .as_object()
            .and_then(|m| m.keys().next().cloned())
            .unwrap_or_else(|| "alice".into());
        let id = first_id(&dump["messages"]);
        let m = member.as_str();
        [
            vec!["CHAT.INFO", key, "WITHREAD"],
            vec!["CHAT.HISTORY", key, "COUNT", "1000"],
            vec!["CHAT.HISTORY", key, "BEFORE", &id, "COUNT", "3"],
            vec!["CHAT.HISTORY", key, "AFTER", "0"],
            vec!["CHAT.MEMBERS", key, "WITHREAD"],
            vec!["CHAT.COUNTS", key],
            vec!["CHAT.PRESENCE", key],
            vec!["CHAT.SEND", key, m, "hi", "DEDUP", "k1"],
            vec!["CHAT.SEND", key, m, "hi again"],
            vec!["CHAT.READ", key, m, &id],
            vec!["CHAT.EDIT", key, m, &id, "changed"],
            vec!["CHAT.DELETE", key, m, &id],
            vec!["CHAT.TYPING", key, m],
            vec!["CHAT.SUBSCRIBE", key, "idle"],
            vec!["CHAT.UNSUBSCRIBE", key, m],
            vec!["CHAT.UNREAD", "idle"],
            vec!["CHAT.DROP", key],
        ]
        .into_iter()
        .map(|c| c.into_iter().map(String::from).collect())
        .collect()
    } else {
        let delivery = dump["inbox"]
            .as_array()
            .and_then(|a| a.last())
            .and_then(|c| c["delivery"].as_str())
            .unwrap_or("1-0")
            .to_string();
        [
            vec!["CHAT.PROFILE", key],
            vec!["CHAT.FETCH", key, "COUNT", "1000"],
            vec!["CHAT.ROOMS", key],
            vec!["CHAT.UNREAD", key],
            vec!["CHAT.CHANNELS", key],
            vec!["CHAT.ONLINE", key, "TTL", "60"],
            vec!["CHAT.ACK", key, &delivery],
            vec!["CHAT.OFFLINE", key],
            vec!["CHAT.SUBSCRIBE", "general", key],
            vec!["CHAT.SEND", "general", key, "from a crafted user"],
            vec!["CHAT.SEND", "general", "alice", "to a crafted user"],
            vec!["CHAT.FETCH", key, "COUNT", "1"],
            vec!["CHAT.DM", key, "alice"],
            vec!["CHAT.UNREGISTER", key],
        ]
        .into_iter()
        .map(|c| c.into_iter().map(String::from).collect())
        .collect()
    };
    let keep = if remove { calls.len() } else { calls.len() - 1 };
    calls.into_iter().take(keep).collect()
}

/// DEBUG RELOAD (save, empty, load) gives back the same data, and the
/// server lives through it.
fn reload_keeps_everything(server: &mut Server, con: &mut Connection, what: &str) {
    let before = digest(con);
    let reloaded = try_q(con, &["DEBUG", "RELOAD"]);
    assert!(
        server.is_running(),
        "{what}: the server died in DEBUG RELOAD:\n{}",
        log_problems(&server.log()).join("\n")
    );
    assert!(reloaded.is_ok(), "{what}: DEBUG RELOAD: {reloaded:?}");
    assert_eq!(digest(con), before, "{what}: DEBUG RELOAD changed the data");
}

/// RESTORE of `payload` under `key`: Ok(true) if restored, Ok(false) if
/// refused with `ERR Bad data format`; any other answer is a failure.
fn restore_crafted(
    server: &mut Server,
    con: &mut Connection,
    key: &str,
    payload: &[u8],
    what: &str,
) -> bool {
    let result = redis::cmd("RESTORE")
        .arg(key)
        .arg(0)
        .arg(payload)
        .query::<Value>(con);
    if let Err(e) = &result {
        if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
            // A crashing server writes its bug report (with a memory test)
            // before it exits: wait for it, to show why.
            let deadline = Instant::now() + Duration::from_secs(30);
            while server.is_running()
                && !server.log().contains("BUG REPORT END")
                && Instant::now() < deadline
            {
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
    assert!(
        server.is_running() && !server.log().contains("BUG REPORT"),
        "{what}: the server crashed on RESTORE {key}; its log says:\n{}",
        log_problems(&server.log()).join("\n")
    );
    match result {
        Ok(_) => true,
        Err(e) if error_text(&e) == "ERR Bad data format" => false,
        Err(e) => {
            // Kept for whoever looks into it.
            let file = std::env::temp_dir().join(format!(
                "hostile-restore-{}-{}.payload",
                std::process::id(),
                key.replace(':', "-")
            ));
            let _ = std::fs::write(&file, payload);
            panic!(
                "{what}: RESTORE {key} ({} bytes, written to {}): {}",
                payload.len(),
                file.display(),
                error_text(&e)
            )
        }
    }
}

/// DUMP payloads of real rooms and users, changed at random in the bytes
/// the module reads (the RDB framing around them kept right, and the CRC
/// recomputed), restored under fresh keys (their origin set to the new
/// name, so that commands act on them there; some keep the old one, and
/// some claim the other chat type). Each RESTORE is refused with `ERR Bad
/// data format`, and the log says why, or it succeeds and the value then
/// goes through CHAT.DUMP, the commands that read and change it, DEBUG
/// DIGEST, COPY and DEBUG RELOAD: errors are fine, crashes and panics are
/// not, and a command that fails writes nothing.
#[test]
fn crafted_values_are_refused_or_survive_every_command() {
    let seed = seed();
    let _report = SeedReport(seed);
    let mut rng = Rng(seed);
    let rounds = std::env::var("HOSTILE_RESTORES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_200);
    let mut server = Server::start();
    let mut con = server.conn();
    con.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let (rooms, users) = crafted_dataset(&mut con);
    let originals: Vec<(&str, bool, Payload)> = rooms
        .iter()
        .map(|k| (*k, true))
        .chain(users.iter().map(|k| (*k, false)))
        .map(|(k, room)| (k, room, Payload::parse(&dump_payload(&mut con, k))))
        .collect();
    for (key, _, payload) in &originals {
        // The origin is the first field: a value made for its own name is
        // the value as it is.
        assert_eq!(value_for_name(&payload.value, key), payload.value, "{key}");
    }
    let room_head = originals[0].2.head.clone();
    let user_head = originals[rooms.len()].2.head.clone();
    assert_ne!(room_head, user_head);
    let donors: Vec<Vec<u8>> = originals.iter().map(|(_, _, p)| p.value.clone()).collect();

    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    let mut refused = Vec::new();
    for i in 0..rounds {
        let (original, room, payload) = rng.pick(&originals).clone();
        let key = format!("crafted:{i}");
        let value = if rng.chance(90) {
            value_for_name(&payload.value, &key)
        } else {
            payload.value.clone()
        };
        let value = mutate(&mut rng, &value, &donors);
        // Now and then, bytes of one kind under the other's type.
        let (room, payload) = if rng.chance(5) {
            let other = Payload {
                head: if room {
                    user_head.clone()
                } else {
                    room_head.clone()
                },
                ..payload
            };
            (!room, other)
        } else {
            (room, payload)
        };
        let what = format!("seed {seed}, round {i}, from {original}");
        if !restore_crafted(
            &mut server,
            &mut con,
            &key,
            &payload.with_value(&value),
            &what,
        ) {
            *tally.entry("refused".into()).or_default() += 1;
            refused.push(key);
            continue;
        }
        *tally.entry("restored".into()).or_default() += 1;
        // CHAT.DUMP shows any chat value, whatever its name.
        let dump = q(&mut con, &["CHAT.DUMP", &key]);
        let dump: serde_json::Value = serde_json::from_str(&text(&dump))
            .unwrap_or_else(|e| panic!("{what}: CHAT.DUMP {key} is not JSON: {e}"));
        q(&mut con, &["DEBUG", "DIGEST-VALUE", &key]);
        q(&mut con, &["MEMORY", "USAGE", &key]);
        let copy = format!("{key}:copy");
        q(&mut con, &["COPY", &key, &copy]);
        q(&mut con, &["CHAT.DUMP", &copy]);
        for call in calls_on(&key, room, &dump, rng.chance(50)) {
            let outcome = checked_call(&mut con, &call, &what, true);
            let code = match outcome.split(' ').next().unwrap_or_default() {
                _ if outcome.starts_with("ERR internal error") => "internal-error",
                code => code,
            };
            *tally.entry(format!("{} {code}", call[0])).or_default() += 1;
        }
        if i % 300 == 299 {
            reload_keeps_everything(&mut server, &mut con, &what);
        }
    }
    reload_keeps_everything(&mut server, &mut con, &format!("seed {seed}, at the end"));
    assert_eq!(text(&q(&mut con, &["PING"])), "PONG");
    // The originals still work.
    q(&mut con, &["CHAT.SEND", "general", "alice", "still works"]);
    let log = server.log();
    assert!(
        log_problems(&log).is_empty(),
        "seed {seed}: the log says:\n{}",
        log_problems(&log).join("\n")
    );
    // Every refusal is explained in the log, naming the key.
    for key in &refused {
        let quoted = format!("'{key}'");
        assert!(
            log.lines()
                .any(|l| l.contains("<chat> cannot read chat-") && l.contains(&quoted)),
            "seed {seed}: no log line tells why {key} was refused"
        );
    }
    assert!(tally.get("refused").is_some_and(|n| *n > 0), "{tally:?}");
    assert!(tally.get("restored").is_some_and(|n| *n > 0), "{tally:?}");
    eprintln!("hostile: crafted values (seed {seed}): {tally:?}");
}

/// The same, with the framing around the module's bytes damaged too: the
/// string's length, the opcodes, the module type id, missing or extra
/// bytes anywhere before the RDB version (the CRC recomputed). Redis then
/// stops reading in the middle of the module's value: RESTORE must answer
/// `ERR Bad data format` (or succeed), and the server stay up.
#[test]
fn crafted_payload_framing_is_refused_without_a_crash() {
    let seed = seed();
    let _report = SeedReport(seed);
    let mut rng = Rng(seed);
    let mut server = Server::start();
    let mut con = server.conn();
    con.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    room_with(&mut con, "general", &["alice", "bob"]);
    q(&mut con, &["CHAT.SEND", "general", "alice", "hello"]);
    let mut bodies = Vec::new();
    for key in ["general", "alice", "bob"] {
        bodies.push(Payload::parse(&dump_payload(&mut con, key)));
    }
    let room = bodies[0].clone();
    let len_at = room.head.len();
    let declared = room.value.len();
    let body = room.body();
    let version_at = body.len() - 2;
    let with_len = |n: usize| {
        let mut b = room.head.clone();
        b.extend(rdb_len(n));
        b.extend_from_slice(&room.value);
        b.extend_from_slice(&room.tail);
        b
    };
    // Cases that reach the module with the reading cut short, first.
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        (
            "a string longer than the payload".into(),
            with_len(declared + 5),
        ),
        (
            "a string far longer than the payload".into(),
            with_len(1 << 30),
        ),
        (
            "a string shorter than its bytes".into(),
            with_len(declared - 3),
        ),
        ("an empty string".into(), {
            let mut b = room.head.clone();
            b.push(0);
            b.extend_from_slice(&room.tail);
            b
        }),
        ("a number where the string is".into(), {
            let mut b = body.clone();
            b[len_at - 1] = 2; // RDB_MODULE_OPCODE_UINT
            b
        }),
        ("no string at all".into(), {
            let mut b = room.head[..len_at - 1].to_vec();
            b.extend_from_slice(&room.tail);
            b
        }),
        ("no EOF opcode".into(), {
            let mut b = body[..version_at - 1].to_vec();
            b.extend_from_slice(&body[version_at..]);
            b
        }),
        ("the value cut in the middle".into(), {
            let mut b = body[..len_at + 1 + declared / 2].to_vec();
            b.extend_from_slice(&body[version_at..]);
            b
        }),
    ];
    for i in 0..400 {
        let source = rng.pick(&bodies).body();
        // Everything before the RDB version is fair game.
        let (framing, version) = source.split_at(source.len() - 2);
        let mut damaged = mutate(&mut rng, framing, &[framing.to_vec()]);
        if damaged.is_empty() {
            damaged.push(7);
        }
        damaged.extend_from_slice(version);
        cases.push((format!("seed {seed}, random damage {i}"), damaged));
    }
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, (what, body)) in cases.into_iter().enumerate() {
        let key = format!("framed:{i}");
        let restored = restore_crafted(&mut server, &mut con, &key, &sealed(body), &what);
        *tally
            .entry(if restored { "restored" } else { "refused" })
            .or_default() += 1;
        if restored {
            let dump = q(&mut con, &["CHAT.DUMP", &key]);
            assert!(matches!(dump, Value::BulkString(_)), "{what}: {dump:?}");
        }
        if i % 50 == 0 {
            assert_eq!(text(&q(&mut con, &["PING"])), "PONG", "{what}");
        }
    }
    reload_keeps_everything(&mut server, &mut con, &format!("seed {seed}"));
    let log = server.log();
    assert!(
        log_problems(&log).is_empty(),
        "seed {seed}: the log says:\n{}",
        log_problems(&log).join("\n")
    );
    eprintln!("hostile: damaged payloads: {tally:?}");
}

/// A valid payload restored under another name holds a value made for the
/// old one: commands refuse it there (CHAT.DUMP shows it), and it works
/// again under its own name. A user's payload over a room's name is a user
/// there, made for another name.
#[test]
fn a_value_restored_under_another_name_is_refused() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "general", &["alice", "bob"]);
    q(&mut con, &["CHAT.SEND", "general", "alice", "hello"]);
    let room = dump_payload(&mut con, "general");
    let user = dump_payload(&mut con, "alice");
    let misnamed = |key: &str, kind: &str| {
        format!(
            "ERR key '{key}' holds a chat {kind} made under another key name (renamed or copied by hand); other keys still name it by its old name, so rename it back to use it"
        )
    };
    let restore = |con: &mut Connection, key: &str, payload: &[u8], replace: bool| {
        let mut cmd = redis::cmd("RESTORE");
        cmd.arg(key).arg(0).arg(payload);
        if replace {
            cmd.arg("REPLACE");
        }
        cmd.query::<Value>(con).unwrap();
    };
    restore(&mut con, "elsewhere", &room, false);
    restore(&mut con, "someone", &user, false);
    let cases: &[(&[&str], String)] = &[
        (&["CHAT.INFO", "elsewhere"], misnamed("elsewhere", "room")),
        (
            &["CHAT.HISTORY", "elsewhere"],
            misnamed("elsewhere", "room"),
        ),
        (
            &["CHAT.SEND", "elsewhere", "alice", "hi"],
            misnamed("elsewhere", "room"),
        ),
        (
            &["CHAT.SUBSCRIBE", "elsewhere", "bob"],
            misnamed("elsewhere", "room"),
        ),
        (&["CHAT.DROP", "elsewhere"], misnamed("elsewhere", "room")),
        (&["CHAT.PROFILE", "someone"], misnamed("someone", "user")),
        (&["CHAT.FETCH", "someone"], misnamed("someone", "user")),
        (
            &["CHAT.SUBSCRIBE", "general", "someone"],
            misnamed("someone", "user"),
        ),
        (&["CHAT.UNREGISTER", "someone"], misnamed("someone", "user")),
    ];
    for (args, expected) in cases {
        let before = digest(&mut con);
        assert_eq!(&err(&mut con, args), expected, "{args:?}");
        assert_eq!(digest(&mut con), before, "{args:?} wrote something");
    }
    let shown: serde_json::Value =
        serde_json::from_str(&text(&q(&mut con, &["CHAT.DUMP", "elsewhere"]))).unwrap();
    assert_eq!(shown["id"], "elsewhere");
    assert_eq!(shown["messages"][0]["text"], "hello");

    // A user's bytes over the room's name: a user there, made for alice.
    restore(&mut con, "general", &user, true);
    let before = digest(&mut con);
    assert_eq!(
        err(&mut con, &["CHAT.INFO", "general"]),
        "WRONGTYPE key 'general' holds a chat user, not a chat room"
    );
    assert_eq!(
        err(&mut con, &["CHAT.PROFILE", "general"]),
        misnamed("general", "user")
    );
    assert_eq!(digest(&mut con), before);

    // Back under its own name, the room works again.
    restore(&mut con, "general", &room, true);
    assert_eq!(
        int(&q(&mut con, &["CHAT.SEND", "general", "alice", "again"])),
        2
    );
    assert!(log_problems(&server.log()).is_empty(), "{}", server.log());
}

/// The peak resident memory of process `pid` (Linux's VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A length inside a value that claims more bytes than the value holds
/// (here the user's name, or the room's title, said to be 512 MiB long in
/// a payload of a few dozen bytes) is refused without reserving that much:
/// the server's peak memory stays where it was, and RESTORE answers at
/// once instead of blocking the server while it fills the memory.
#[test]
fn a_length_past_the_end_of_a_value_reserves_nothing() {
    const CLAIMED: u64 = 1 << 29;
    let mut found = Vec::new();
    for key in ["idle", "empty"] {
        // A server each: the peak memory only ever grows.
        let mut server = Server::start();
        let mut con = server.conn();
        con.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        q(&mut con, &["CHAT.REGISTER", "idle", "Idle"]);
        q(&mut con, &["CHAT.CREATE", "empty", "Empty"]);
        let payload = Payload::parse(&dump_payload(&mut con, key));
        // The origin first, then the name or title: a length and the bytes.
        let origin = varint_len(&payload.value);
        let rest = &payload.value[origin..];
        let value = [
            &payload.value[..origin],
            &varint(CLAIMED)[..],
            &rest[varint_len(rest)..],
        ]
        .concat();
        let target = format!("{key}:claims");
        let what = format!(
            "{key} with a length of {CLAIMED} bytes in {} bytes",
            value.len()
        );
        let peak = peak_rss_kib(server.pid());
        let started = Instant::now();
        let restored = restore_crafted(
            &mut server,
            &mut con,
            &target,
            &payload.with_value(&value),
            &what,
        );
        let took = started.elapsed();
        assert!(!restored, "{what}: restored");
        let grew = peak
            .zip(peak_rss_kib(server.pid()))
            .map_or(0, |(before, after)| after.saturating_sub(before));
        if grew > 64 * 1024 || took > Duration::from_secs(1) {
            found.push(format!(
                "{what}: RESTORE took {took:.1?}, the server's peak memory grew by {} MiB",
                grew / 1024
            ));
        }
        assert_eq!(text(&q(&mut con, &["PING"])), "PONG");
        assert!(log_problems(&server.log()).is_empty(), "{}", server.log());
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}
