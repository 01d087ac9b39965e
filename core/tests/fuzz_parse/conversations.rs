//! Well-formed vectors of CHAT.SEND with its options (DEDUP, REPLY and
//! MENTION in any order and case), of CHAT.SEND-RESOLVED as a primary sends
//! it, and of the conversation commands (THREAD, REACT, UNREACT, REACTIONS,
//! PIN, UNPIN, PINS, MENTIONS), with what each must parse to; and the cases
//! at the edges of their limits.

use chat_core::config::Limits;
use chat_core::delivery::DeliveryId;
use chat_core::error::ChatError;
use chat_core::replay::push_inbox_copy;
use chat_core::request::{Send, COUNT_MAX, HISTORY_COUNT_DEFAULT};
use proptest::prelude::*;

use crate::check::check_parse;
use crate::commands::{run, Cmd, Parsed, V};
use crate::config;
use crate::examples::{good_text, id_value, option, valid_room, Example};
use crate::generators::{
    boundary, cased, id, keyword, limits, mention_list, number, reaction, text, valid_id,
    valid_reaction, BAD_REACTIONS, REACTIONS,
};
use crate::rules::{spec, spec_reaction, MENTIONS_MAX};

/// A message id: small, any, or the largest.
pub(crate) fn message_id() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => 1u64..=9,
        2 => 1u64..=i64::MAX as u64,
        1 => Just(i64::MAX as u64),
    ]
}

/// An option of CHAT.SEND, drawn before the options are shuffled.
#[derive(Debug, Clone)]
enum SendOption {
    Dedup(String),
    Reply(u64),
    /// An index into the pool of users mentioned.
    Mention(prop::sample::Index),
}

/// CHAT.SEND with DEDUP, REPLY and MENTION options in any order and case:
/// the last DEDUP and REPLY count, mentions are folded in the order first
/// given, up to the most a send may carry (often just under or at it).
pub(crate) fn send() -> impl Strategy<Value = Example> {
    let mentions = prop_oneof![0usize..4, 4usize..12, (MENTIONS_MAX - 2)..=MENTIONS_MAX];
    (
        (valid_room(), valid_id(), good_text()),
        prop::collection::vec("[ -~]{1,200}", 0..3),
        prop::collection::vec(message_id(), 0..3),
        prop::collection::vec(valid_id(), 1..6),
        mentions.prop_flat_map(|n| prop::collection::vec(any::<prop::sample::Index>(), n)),
        any::<u32>(),
    )
        .prop_flat_map(|(head, keys, replies, pool, picks, mask)| {
            let mut options: Vec<SendOption> = keys.into_iter().map(SendOption::Dedup).collect();
            options.extend(replies.into_iter().map(SendOption::Reply));
            options.extend(picks.into_iter().map(SendOption::Mention));
            (
                Just(head),
                Just(options).prop_shuffle(),
                Just(pool),
                Just(mask),
            )
        })
        .prop_map(|((r, u, t), options, pool, mask)| {
            let mut args = vec![
                r.clone().into_bytes(),
                u.clone().into_bytes(),
                t.clone().into_bytes(),
            ];
            let (mut dedup, mut reply, mut mentions) = (None, None, Vec::<String>::new());
            for (i, o) in options.into_iter().enumerate() {
                let mask = mask.rotate_left(i as u32);
                match o {
                    SendOption::Dedup(key) => {
                        args.extend(option("DEDUP", mask, Some(key.clone())));
                        dedup = Some(key.into_bytes());
                    }
                    SendOption::Reply(id) => {
                        args.extend(option("REPLY", mask, Some(id.to_string())));
                        reply = Some(id);
                    }
                    SendOption::Mention(pick) => {
                        let user = pool[pick.index(pool.len())].clone();
                        args.extend(option("MENTION", mask, Some(user.clone())));
                        if !mentions.contains(&user) {
                            mentions.push(user);
                        }
                    }
                }
            }
            let parsed = vec![
                ("room", id_value(&r)),
                ("user", id_value(&u)),
                ("text", V::Text(t)),
                ("dedup", V::Bytes(dedup)),
                ("reply-to", V::OptInt(reply)),
                ("mentions", V::Ids(mentions)),
            ];
            (Cmd::Send, args, parsed)
        })
}

/// CHAT.SEND-RESOLVED as a primary sends it: with or without a DEDUP pair
/// (an empty key for none), with or without the reply and mentions after it
/// (0 and an empty list for none), with or without a notification's entry
/// after both.
pub(crate) fn send_resolved() -> impl Strategy<Value = Example> {
    (
        (valid_room(), valid_id(), any::<String>()),
        prop::collection::vec(0..=i64::MAX as u64, 3),
        prop::collection::vec(
            (valid_id(), any::<u64>(), 0u64..10, 0..=i64::MAX as u64),
            0..4,
        ),
        prop::option::of((
            prop::collection::vec(any::<u8>(), 0..40),
            0..=i64::MAX as u64,
        )),
        prop::option::of((
            prop_oneof![Just(0u64), message_id()],
            prop::collection::vec(valid_id(), 0..4),
        )),
        prop::option::of((any::<u64>(), 0u64..3, 0..=i64::MAX as u64, any::<String>())),
    )
        .prop_map(|((r, u, t), n, copies, dedup, extra, notified)| {
            let mut packed = Vec::new();
            for (member, ms, seq, length) in &copies {
                push_inbox_copy(
                    &mut packed,
                    member,
                    DeliveryId { ms: *ms, seq: *seq },
                    *length,
                );
            }
            let mut args = vec![
                r.clone().into_bytes(),
                u.clone().into_bytes(),
                t.clone().into_bytes(),
            ];
            args.extend(n.iter().map(|n| n.to_string().into_bytes()));
            args.push(packed);
            let mut parsed = vec![
                ("room", id_value(&r)),
                ("user", id_value(&u)),
                ("anytext", V::Text(t)),
                ("id", V::Int(n[0])),
                ("ts", V::Int(n[1])),
                ("first-kept", V::Int(n[2])),
                ("copies", V::Copies(copies)),
            ];
            match &dedup {
                Some((key, until)) => {
                    args.push(key.clone());
                    args.push(until.to_string().into_bytes());
                    if !key.is_empty() {
                        parsed.push(("dedup-key", V::Bytes(Some(key.clone()))));
                        parsed.push(("dedup-until", V::Int(*until)));
                    }
                }
                None if extra.is_some() || notified.is_some() => {
                    args.extend([Vec::new(), b"0".to_vec()])
                }
                None => {}
            }
            let (reply, mentions) = extra.clone().unwrap_or_default();
            if extra.is_some() || notified.is_some() {
                args.push(reply.to_string().into_bytes());
                args.push(mentions.join(",").into_bytes());
            }
            parsed.push(("reply-to", V::OptInt(Some(reply).filter(|&id| id > 0))));
            parsed.push(("mentions", V::Ids(mentions)));
            if let Some((ms, seq, length, to)) = notified {
                args.push(format!("{ms}-{seq}").into_bytes());
                args.push(length.to_string().into_bytes());
                args.push(to.clone().into_bytes());
                parsed.push(("entry-ms", V::Int(ms)));
                parsed.push(("entry-seq", V::Int(seq)));
                parsed.push(("stream-length", V::Int(length)));
                parsed.push(("notified", V::Text(to)));
            }
            (Cmd::SendResolved, args, parsed)
        })
}

/// The conversation commands: THREAD with AFTER and COUNT in any order and
/// case (the last of each counts), REACT and UNREACT, REACTIONS, PIN, UNPIN,
/// PINS and MENTIONS.
pub(crate) fn talk() -> impl Strategy<Value = Example> {
    (
        (valid_room(), valid_id(), message_id(), valid_reaction()),
        prop::collection::vec(
            prop_oneof![
                (0..=i64::MAX as u64).prop_map(|n| ("AFTER", n)),
                (1..=COUNT_MAX as u64).prop_map(|n| ("COUNT", n)),
            ],
            0..4,
        ),
        any::<u32>(),
    )
        .prop_map(|((r, u, id, reaction), thread, pick)| {
            use V::*;
            let (room, user, message) = (
                ("room", id_value(&r)),
                ("user", id_value(&u)),
                ("message-id", Int(id)),
            );
            let (cmd, args, parsed): (Cmd, Vec<String>, Parsed) = match pick % 8 {
                0 => {
                    let mut args = vec![r.clone(), id.to_string()];
                    let (mut after, mut count) = (None, HISTORY_COUNT_DEFAULT as u64);
                    for (i, (keyword, n)) in thread.into_iter().enumerate() {
                        let word = option(keyword, pick.rotate_left(i as u32), Some(n.to_string()));
                        args.extend(word.into_iter().map(|w| String::from_utf8(w).unwrap()));
                        match keyword {
                            "AFTER" => after = Some(n),
                            _ => count = n,
                        }
                    }
                    let parsed = vec![
                        room,
                        message,
                        ("after", OptInt(after)),
                        ("count", Int(count)),
                    ];
                    (Cmd::Thread, args, parsed)
                }
                1 | 2 => {
                    let cmd = if pick % 8 == 1 {
                        Cmd::React
                    } else {
                        Cmd::Unreact
                    };
                    let args = vec![r.clone(), u.clone(), id.to_string(), reaction.clone()];
                    (
                        cmd,
                        args,
                        vec![room, user, message, ("reaction", Text(reaction))],
                    )
                }
                3 => (
                    Cmd::Reactions,
                    vec![r.clone(), id.to_string()],
                    vec![room, message],
                ),
                4 | 5 => {
                    let cmd = if pick % 8 == 4 { Cmd::Pin } else { Cmd::Unpin };
                    let args = vec![r.clone(), u.clone(), id.to_string()];
                    (cmd, args, vec![room, user, message])
                }
                6 => (Cmd::Pins, vec![r.clone()], vec![room]),
                _ => (Cmd::Mentions, vec![u.clone()], vec![user]),
            };
            (
                cmd,
                args.into_iter().map(String::into_bytes).collect(),
                parsed,
            )
        })
}

/// An option of CHAT.SEND or CHAT.THREAD (or a near one) with a hostile
/// value, or without its value.
fn hostile_option() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let kw = || {
        prop_oneof![
            3 => prop::sample::select(vec!["DEDUP", "REPLY", "MENTION", "AFTER", "COUNT"])
                .prop_flat_map(|w| any::<u32>().prop_map(move |m| cased(w, m))),
            1 => keyword(),
        ]
    };
    prop_oneof![
        3 => (kw(), number()).prop_map(|(k, v)| vec![k, v]),
        3 => (kw(), id()).prop_map(|(k, v)| vec![k, v]),
        1 => (kw(), boundary()).prop_map(|(k, v)| vec![k, v]),
        1 => (kw(), text()).prop_map(|(k, v)| vec![k, v]),
        1 => kw().prop_map(|k| vec![k]),
    ]
}

proptest! {
    #![proptest_config(config(5_000))]

    /// Well-formed heads of CHAT.SEND and CHAT.THREAD followed by options
    /// with hostile values: numbers at the edges, ids valid and invalid,
    /// keys at the length limits, values missing.
    #[test]
    fn hostile_option_values_get_the_documented_answer(
        (r, u, t) in (valid_room(), valid_id(), good_text()),
        root in prop_oneof![message_id().prop_map(|n| n.to_string().into_bytes()), number()],
        options in prop::collection::vec(hostile_option(), 0..5),
        limits in limits(),
    ) {
        let options = options.concat();
        let send = [vec![r.clone().into_bytes(), u.into_bytes(), t.into_bytes()], options.clone()];
        check_parse(Cmd::Send, &send.concat(), &limits)?;
        let thread = [vec![r.into_bytes(), root], options];
        check_parse(Cmd::Thread, &thread.concat(), &limits)?;
    }

    /// The message commands with hostile ids and reactions.
    #[test]
    fn hostile_reactions_and_ids_get_the_documented_answer(
        (r, u) in (valid_room(), valid_id()),
        message in prop_oneof![message_id().prop_map(|n| n.to_string().into_bytes()), number()],
        reaction in reaction(),
        pick in 0usize..6,
    ) {
        let head = vec![r.into_bytes(), u.into_bytes(), message.clone()];
        let limits = Limits::default();
        let (cmd, args) = match pick {
            0 | 1 => {
                let cmd = [Cmd::React, Cmd::Unreact][pick];
                (cmd, [head, vec![reaction]].concat())
            }
            2 | 3 => ([Cmd::Pin, Cmd::Unpin][pick - 2], head),
            4 => (Cmd::Reactions, vec![head[0].clone(), message]),
            _ => (Cmd::Pins, vec![head[0].clone()]),
        };
        check_parse(cmd, &args, &limits)?;
    }

    /// CHAT.SEND-RESOLVED with a hostile tail: DEDUP pairs, replies,
    /// mention lists and notification entries of every kind, whole or cut
    /// short.
    #[test]
    fn hostile_resolved_tails_get_the_documented_answer(
        (_, head, _) in send_resolved(),
        key in prop_oneof![Just(Vec::new()), prop::collection::vec(any::<u8>(), 0..8), id()],
        numbers in (number(), number(), number()),
        mentions in prop_oneof![mention_list(), id()],
        entry in prop_oneof![
            (number(), number()).prop_map(|(ms, seq)| [ms, b"-".to_vec(), seq].concat()),
            number(),
        ],
        to in prop::collection::vec(any::<u8>(), 0..12),
        take in 0usize..=7,
    ) {
        let mut args: Vec<Vec<u8>> = head[..7].to_vec();
        let tail = [key, numbers.0, numbers.1, mentions, entry, numbers.2, to];
        args.extend(tail.into_iter().take(take));
        check_parse(Cmd::SendResolved, &args, &Limits::default())?;
    }
}

fn send_args(mentions: &[&str]) -> Vec<Vec<u8>> {
    let mut args: Vec<Vec<u8>> = vec![b"r".to_vec(), b"alice".to_vec(), b"hi".to_vec()];
    for user in mentions {
        args.push(b"MENTION".to_vec());
        args.push(user.as_bytes().to_vec());
    }
    args
}

/// The most MENTIONs a send may carry are counted before duplicates are
/// folded: fifty of one user is one mention, fifty-one is too many.
#[test]
fn mentions_are_counted_before_folding() {
    let limits = Limits::default();
    let names: Vec<String> = (0..=MENTIONS_MAX).map(|i| format!("u{i}")).collect();
    let distinct: Vec<&str> = names.iter().map(String::as_str).collect();
    for (users, folded) in [
        (vec!["bob"; MENTIONS_MAX], Some(1)),
        (vec!["bob"; MENTIONS_MAX + 1], None),
        (distinct[..MENTIONS_MAX].to_vec(), Some(MENTIONS_MAX)),
        (distinct.clone(), None),
        ([&distinct[..MENTIONS_MAX], &["u0"][..]].concat(), None),
    ] {
        let args = send_args(&users);
        let a: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        check_parse(Cmd::Send, &args, &limits).unwrap();
        match folded {
            Some(n) => {
                let got = Send::parse(&a, &limits).unwrap();
                assert_eq!(got.extra.mentions.len(), n);
                assert_eq!(got.extra.mentions[0], users[0]);
            }
            None => {
                assert_eq!(Send::parse(&a, &limits), Err(ChatError::TooManyMentions));
                assert_eq!(spec(Cmd::Send, &a, &limits), None);
            }
        }
    }
    // Folding keeps the order in which each user was first named.
    let args = send_args(&["carol", "bob", "carol", "dave", "bob"]);
    let a: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    let got = run(Cmd::Send, &a, &limits).unwrap();
    let want = V::Ids(["carol", "bob", "dave"].map(str::to_string).to_vec());
    assert!(got.contains(&("mentions", want)), "{got:?}");
}

/// Every listed reaction and almost-reaction gets the documented answer from
/// CHAT.REACT and CHAT.UNREACT.
#[test]
fn listed_reactions_get_the_documented_answer() {
    let limits = Limits::default();
    let valid = REACTIONS.iter().map(|r| (r.as_bytes(), true));
    let invalid = BAD_REACTIONS.iter().map(|r| (*r, false));
    for (reaction, ok) in valid.chain(invalid) {
        assert_eq!(spec_reaction(reaction).is_some(), ok, "{reaction:?}");
        let args = vec![
            b"r".to_vec(),
            b"u".to_vec(),
            b"1".to_vec(),
            reaction.to_vec(),
        ];
        for cmd in [Cmd::React, Cmd::Unreact] {
            check_parse(cmd, &args, &limits).unwrap();
            let a: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            if !ok {
                assert_eq!(run(cmd, &a, &limits), Err(ChatError::BadReaction));
            }
        }
    }
}
