//! Well-formed vectors for every command, built from valid values with
//! options in any order and case, with what each must parse to; and the
//! mutations that take them near valid.

use chat_core::config::Limits;
use chat_core::request::{
    Cursor, BLOCK_MAX_MS, COUNT_MAX, FETCH_COUNT_DEFAULT, HISTORY_COUNT_DEFAULT, TTL_MAX_SECS,
};
use proptest::prelude::*;

use crate::commands::{Cmd, Parsed, V};
use crate::conversations::{send, send_resolved, talk};
use crate::generators::{atom, cased, valid_id};
use crate::rules::spec_direct;

// ---------------------------------------------------------------------------
// Well-formed vectors built from valid values, with what each must parse to.

/// An option of a well-formed vector: its keyword in some case, then its
/// value (if it takes one).
pub(crate) fn option(keyword: &str, mask: u32, value: Option<String>) -> Vec<Vec<u8>> {
    let mut out = vec![cased(keyword, mask)];
    out.extend(value.map(String::into_bytes));
    out
}

pub(crate) fn id_value(s: &str) -> V {
    V::Id(s.to_string())
}

pub(crate) type Example = (Cmd, Vec<Vec<u8>>, Parsed);

pub(crate) fn good_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 é€😀\n\"\\\\]{1,40}"
}

pub(crate) fn valid_room() -> impl Strategy<Value = String> {
    valid_id().prop_filter("not a direct room id", |r| !spec_direct(r.as_bytes()))
}

/// A well-formed vector for a command, and its expected parse under the
/// default limits.
pub(crate) fn example() -> impl Strategy<Value = Example> {
    use V::*;
    let ids = || (valid_room(), valid_id(), any::<u32>());
    prop_oneof![
        // Positional-only commands.
        1 => (ids(), good_text(), 0u64..=i64::MAX as u64, 1u64..=9).prop_map(
            |((r, u, pick), t, n, small)| {
                let id_arg = if pick % 2 == 0 { n } else { small };
                let (cmd, args, parsed): (Cmd, Vec<String>, Parsed) = match pick % 16 {
                    0 => (
                        Cmd::Register,
                        vec![u.clone(), t.clone()],
                        vec![
                            ("user", id_value(&u)),
                            ("name", Text(t)),
                            ("password", Bytes(None)),
                        ],
                    ),
                    13 => (
                        Cmd::Register,
                        vec![
                            u.clone(),
                            r.clone(),
                            String::from_utf8(cased("PASSWORD", pick)).unwrap(),
                            t.clone(),
                        ],
                        vec![
                            ("user", id_value(&u)),
                            ("name", Text(r)),
                            ("password", Bytes(Some(t.into_bytes()))),
                        ],
                    ),
                    14 => (
                        Cmd::Auth,
                        vec![u.clone(), t.clone()],
                        vec![
                            ("user", id_value(&u)),
                            ("any-password", Bytes(Some(t.into_bytes()))),
                        ],
                    ),
                    15 => (
                        Cmd::Passwd,
                        vec![u.clone(), r.clone(), t.clone()],
                        vec![
                            ("user", id_value(&u)),
                            ("any-password", Bytes(Some(r.into_bytes()))),
                            ("password", Bytes(Some(t.into_bytes()))),
                        ],
                    ),
                    1 => (
                        Cmd::Create,
                        vec![r.clone(), t.clone()],
                        vec![("room", id_value(&r)), ("title", Text(t))],
                    ),
                    2 => (Cmd::Counts, vec![r.clone()], vec![("room", id_value(&r))]),
                    3 => (Cmd::Drop, vec![r.clone()], vec![("room", id_value(&r))]),
                    4 => (Cmd::Profile, vec![u.clone()], vec![("user", id_value(&u))]),
                    5 => (
                        Cmd::Unregister,
                        vec![u.clone()],
                        vec![("user", id_value(&u))],
                    ),
                    6 => (
                        Cmd::Subscribe,
                        vec![r.clone(), u.clone()],
                        vec![("room", id_value(&r)), ("user", id_value(&u))],
                    ),
                    7 => (
                        Cmd::Typing,
                        vec![r.clone(), u.clone()],
                        vec![("room", id_value(&r)), ("user", id_value(&u))],
                    ),
                    8 => (
                        Cmd::Read,
                        vec![r.clone(), u.clone(), id_arg.to_string()],
                        vec![
                            ("room", id_value(&r)),
                            ("user", id_value(&u)),
                            ("cursor-id", Int(id_arg)),
                        ],
                    ),
                    9 => {
                        let id = id_arg.max(1);
                        (
                            Cmd::Edit,
                            vec![r.clone(), u.clone(), id.to_string(), t.clone()],
                            vec![
                                ("room", id_value(&r)),
                                ("user", id_value(&u)),
                                ("message-id", Int(id)),
                                ("text", Text(t)),
                            ],
                        )
                    }
                    10 => {
                        let id = id_arg.max(1);
                        (
                            Cmd::Delete,
                            vec![r.clone(), u.clone(), id.to_string()],
                            vec![
                                ("room", id_value(&r)),
                                ("user", id_value(&u)),
                                ("message-id", Int(id)),
                            ],
                        )
                    }
                    11 => (
                        Cmd::Dm,
                        vec![u.clone(), r.clone()],
                        vec![("user", id_value(&u)), ("user", id_value(&r))],
                    ),
                    _ => (
                        Cmd::Ack,
                        vec![u.clone(), format!("{n}-{small}")],
                        vec![
                            ("user", id_value(&u)),
                            ("delivery-ms", Int(n)),
                            ("delivery-seq", Int(small)),
                        ],
                    ),
                };
                (
                    cmd,
                    args.into_iter().map(String::into_bytes).collect(),
                    parsed,
                )
            }
        ),
        // CHAT.SEND-RESOLVED as a primary sends it.
        1 => send_resolved(),
        // The other internal commands, as the module writes them.
        1 => (
            ids(),
            0..=i64::MAX as u64,
            prop::collection::vec(atom(), 0..5),
            "\\$argon2id\\$v=19\\$m=19456,t=2,p=1\\$[A-Za-z0-9+/]{22}\\$[A-Za-z0-9+/]{43}",
            (prop::collection::vec(any::<u8>(), 0..60), 1u64..=1023),
        )
            .prop_map(|((r, u, pick), n, rest, hash, (bytes, version))| {
                match pick % 4 {
                    0 => {
                        let command = format!("CHAT.{}", u.to_ascii_uppercase()).into_bytes();
                        let mut args = vec![n.to_string().into_bytes(), command.clone()];
                        args.extend(rest.iter().cloned());
                        let parsed = vec![
                            ("at", Int(n)),
                            ("command", Bytes(Some(command))),
                            ("args", List(rest)),
                        ];
                        (Cmd::At, args, parsed)
                    }
                    1 => (
                        Cmd::SetPassword,
                        vec![u.clone().into_bytes(), hash.clone().into_bytes()],
                        vec![("user", id_value(&u)), ("hash", Text(hash))],
                    ),
                    2 => (
                        Cmd::TrimResolved,
                        vec![r.clone().into_bytes(), n.to_string().into_bytes()],
                        vec![("room", id_value(&r)), ("first-kept", Int(n))],
                    ),
                    _ => {
                        let kind = if pick % 8 < 4 { "room" } else { "user" };
                        let key = if kind == "room" { &r } else { &u };
                        (
                            Cmd::RestoreValue,
                            vec![
                                key.clone().into_bytes(),
                                kind.as_bytes().to_vec(),
                                version.to_string().into_bytes(),
                                bytes.clone(),
                            ],
                            vec![
                                ("key", Bytes(Some(key.clone().into_bytes()))),
                                ("kind", Text(kind.to_string())),
                                ("version", Int(version)),
                                ("bytes", Bytes(Some(bytes))),
                            ],
                        )
                    }
                }
            }),
        // CHAT.SEND with DEDUP, REPLY and MENTION options.
        2 => send(),
        // Threads, reactions, pins and mentions.
        2 => talk(),
        // CHAT.HISTORY: one kind of cursor, repeated or not, and counts, in
        // any order; the last of each counts.
        1 => (
            ids(),
            any::<bool>(),
            prop::collection::vec(0u64..=i64::MAX as u64, 0..3),
            prop::collection::vec(1u64..=COUNT_MAX as u64, 0..3),
            any::<u32>(),
        )
            .prop_flat_map(|((r, _, _), before, cursors, counts, mask)| {
                let mut options: Vec<(&'static str, u64)> = cursors
                    .iter()
                    .map(|&n| (if before { "BEFORE" } else { "AFTER" }, n))
                    .collect();
                options.extend(counts.iter().map(|&n| ("COUNT", n)));
                (Just(r), Just(options).prop_shuffle(), Just(mask))
            })
            .prop_map(|(r, options, mask)| {
                let mut args = vec![r.clone().into_bytes()];
                let (mut cursor, mut count) = (Cursor::Latest, HISTORY_COUNT_DEFAULT as u64);
                for (i, (keyword, n)) in options.into_iter().enumerate() {
                    args.extend(option(
                        keyword,
                        mask.rotate_left(i as u32),
                        Some(n.to_string()),
                    ));
                    match keyword {
                        "BEFORE" => cursor = Cursor::Before(n),
                        "AFTER" => cursor = Cursor::After(n),
                        _ => count = n,
                    }
                }
                let parsed = vec![
                    ("room", id_value(&r)),
                    ("cursor", Cur(cursor)),
                    ("count", Int(count)),
                ];
                (Cmd::History, args, parsed)
            }),
        // CHAT.FETCH with COUNT and BLOCK, CHAT.ONLINE with TTL, CHAT.MEMBERS
        // and CHAT.INFO with WITHREAD.
        1 => (
            ids(),
            prop::collection::vec(
                prop_oneof![
                    (1u64..=COUNT_MAX as u64).prop_map(|n| ("COUNT", n)),
                    (0u64..=BLOCK_MAX_MS as u64).prop_map(|n| ("BLOCK", n)),
                ],
                0..4
            ),
            prop::collection::vec(1u64..=TTL_MAX_SECS as u64, 0..3),
            0usize..3,
        )
            .prop_map(|((r, u, mask), fetch, ttls, withread)| {
                match mask % 3 {
                    0 => {
                        let mut args = vec![u.clone().into_bytes()];
                        let (mut count, mut block) = (FETCH_COUNT_DEFAULT as u64, None);
                        for (i, (keyword, n)) in fetch.into_iter().enumerate() {
                            args.extend(option(
                                keyword,
                                mask.rotate_left(i as u32),
                                Some(n.to_string()),
                            ));
                            match keyword {
                                "COUNT" => count = n,
                                _ => block = Some(n.to_string().into_bytes()),
                            }
                        }
                        let parsed = vec![
                            ("user", id_value(&u)),
                            ("count", Int(count)),
                            ("block", Bytes(block)),
                        ];
                        (Cmd::Fetch, args, parsed)
                    }
                    1 => {
                        let mut args = vec![u.clone().into_bytes()];
                        let mut ttl = Limits::default().presence_ttl_secs;
                        for (i, n) in ttls.into_iter().enumerate() {
                            args.extend(option(
                                "TTL",
                                mask.rotate_left(i as u32),
                                Some(n.to_string()),
                            ));
                            ttl = n;
                        }
                        (
                            Cmd::Online,
                            args,
                            vec![("user", id_value(&u)), ("ttl", Int(ttl))],
                        )
                    }
                    _ => {
                        let cmd = if mask % 2 == 0 {
                            Cmd::Members
                        } else {
                            Cmd::Info
                        };
                        let mut args = vec![r.clone().into_bytes()];
                        for i in 0..withread {
                            args.extend(option("WITHREAD", mask.rotate_left(i as u32), None));
                        }
                        let parsed = vec![("room", id_value(&r)), ("withread", Flag(withread > 0))];
                        (cmd, args, parsed)
                    }
                }
            }),
    ]
}

/// What can happen to a well-formed vector on its way.
#[derive(Debug, Clone)]
pub(crate) enum Mutation {
    Replace(prop::sample::Index, Vec<u8>),
    Insert(prop::sample::Index, Vec<u8>),
    Remove(prop::sample::Index),
    Repeat(prop::sample::Index),
    Swap(prop::sample::Index, prop::sample::Index),
}

pub(crate) fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<prop::sample::Index>;
    prop_oneof![
        3 => (at(), atom()).prop_map(|(i, a)| Mutation::Replace(i, a)),
        2 => (at(), atom()).prop_map(|(i, a)| Mutation::Insert(i, a)),
        1 => at().prop_map(Mutation::Remove),
        1 => at().prop_map(Mutation::Repeat),
        1 => (at(), at()).prop_map(|(i, j)| Mutation::Swap(i, j)),
    ]
}

pub(crate) fn mutate(args: &mut Vec<Vec<u8>>, m: &Mutation) {
    if args.is_empty() {
        if let Mutation::Replace(_, a) | Mutation::Insert(_, a) = m {
            args.push(a.clone());
        }
        return;
    }
    let n = args.len();
    match m {
        Mutation::Replace(i, a) => args[i.index(n)] = a.clone(),
        Mutation::Insert(i, a) => args.insert(i.index(n + 1), a.clone()),
        Mutation::Remove(i) => {
            args.remove(i.index(n));
        }
        Mutation::Repeat(i) => {
            let i = i.index(n);
            args.insert(i, args[i].clone());
        }
        Mutation::Swap(i, j) => args.swap(i.index(n), j.index(n)),
    }
}
