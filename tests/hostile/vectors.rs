//! Inputs: the random argument vectors, made from the ids the random calls
//! know and from each command's documentation.

use crate::commands::{CommandDoc, DocArg};
use crate::rng::Rng;

/// Ids that exist (or almost) and may be written by random calls.
pub(crate) struct Known {
    pub(crate) users: Vec<String>,
    pub(crate) rooms: Vec<String>,
    /// A room and one of its members, with messages by that member.
    pub(crate) pairs: Vec<(String, String)>,
    pub(crate) deliveries: Vec<String>,
    pub(crate) passwords: Vec<String>,
    /// Encodings of real chat values (what CHAT.RESTORE-VALUE carries).
    pub(crate) values: Vec<Vec<u8>>,
    /// The name of every CHAT.* command, for CHAT.AT to wrap.
    pub(crate) commands: Vec<String>,
}

/// The commands only a primary (to its replicas) or the AOF may send: a
/// client gets an error, and nothing is written.
pub(crate) const INTERNAL: [&str; 5] = [
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
pub(crate) fn vector(
    rng: &mut Rng,
    known: &Known,
    cmd: &CommandDoc,
    commands: &[CommandDoc],
) -> Vec<Vec<u8>> {
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
pub(crate) fn shown(name: &str, args: &[Vec<u8>]) -> String {
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
