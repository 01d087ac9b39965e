//! The generators of hostile arguments: keywords and near keywords,
//! numbers at the edges and with junk around them, ids valid and invalid,
//! deliveries, texts, reactions, `copies` and mention-list arguments, long
//! arguments and arguments at the length limits, and the limits themselves.

use chat_core::config::Limits;
use chat_core::ids::MAX_ID_BYTES;
use chat_core::password::MAX_PASSWORD_BYTES;
use chat_core::request::{DEDUP_KEY_MAX_BYTES, TTL_MAX_SECS};

use crate::rules::REACTION_MAX_BYTES;
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// Generators.

pub(crate) static KEYWORDS: [&str; 13] = [
    "COUNT", "BEFORE", "AFTER", "BLOCK", "TTL", "DEDUP", "REPLY", "MENTION", "WITHREAD",
    "PASSWORD", "MAXLEN", "ROOM", "USER",
];

/// Almost keywords: a byte too many or too few, look-alike Unicode letters,
/// padding, NULs.
pub(crate) static NEAR_KEYWORDS: [&[u8]; 30] = [
    // The kinds of CHAT.RESTORE-VALUE, which only the lower case names.
    b"room",
    b"user",
    b"ROOM",
    b"User",
    b"rooms",
    b"COUNTS",
    b"COUN",
    b"COUNT ",
    b" COUNT",
    b"COUNT\0",
    b"\0",
    b"WITH",
    b"WITHREADS",
    b"WITH READ",
    b"BLOCK\r\n",
    b"TT L",
    b"DEDUP\xff",
    b"\xffDEDUP",
    b"-",
    b"--COUNT",
    "ＣＯＵＮＴ".as_bytes(),
    "WİTHREAD".as_bytes(),
    "wıthread".as_bytes(),
    b"MENTIONS",
    b"MENTIO",
    b"@MENTION",
    b"REPLY\0",
    b"REPLY-TO",
    b"RE PLY",
    "ＲＥＰＬＹ".as_bytes(),
];

/// `word` with the case of each letter picked by a bit of `mask`.
pub(crate) fn cased(word: &str, mask: u32) -> Vec<u8> {
    word.bytes()
        .enumerate()
        .map(|(i, b)| {
            if mask >> (i % 32) & 1 == 1 {
                b.to_ascii_lowercase()
            } else {
                b.to_ascii_uppercase()
            }
        })
        .collect()
}

pub(crate) fn keyword() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (prop::sample::select(&KEYWORDS[..]), any::<u32>()).prop_map(|(w, m)| cased(w, m)),
        1 => prop::sample::select(&NEAR_KEYWORDS[..]).prop_map(<[u8]>::to_vec),
    ]
}

pub(crate) static EDGE_NUMBERS: [&str; 24] = [
    "0",
    "1",
    "-1",
    "-0",
    "00",
    "007",
    "50",
    "999",
    "1000",
    "1001",
    "86400",
    "86401",
    "31536000000",
    "31536000001",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "000000000000000000000000000000000000001",
    "99999999999999999999999999999999999999999",
    "1e3",
    "0x10",
];

pub(crate) static JUNK: [&str; 16] = [
    "", "+", "-", " ", "\t", "x", ".0", ".", "e3", "\0", "\r\n", "0x", "١", "½", "_", ",",
];

pub(crate) fn plain_number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (-3i64..1200).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        prop::sample::select(&EDGE_NUMBERS[..]).prop_map(str::to_string),
        "-?0{0,25}[0-9]{1,4}",
        "[0-9]{19,60}",
    ]
}

pub(crate) fn number() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => plain_number().prop_map(String::into_bytes),
        1 => (
            prop::sample::select(&JUNK[..]),
            plain_number(),
            prop::sample::select(&JUNK[..]),
        )
            .prop_map(|(before, n, after)| format!("{before}{n}{after}").into_bytes()),
    ]
}

pub(crate) fn valid_id() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[A-Za-z0-9_.:@-]{1,12}",
        2 => "\\{[A-Za-z0-9_.:@-]{1,6}\\}[A-Za-z0-9_.:@-]{1,10}",
        1 => "[a-z]{2}".prop_map(|s| s.repeat(MAX_ID_BYTES / 2)),
        1 => "[a-z]{1,5}".prop_map(|t| {
            let rest = MAX_ID_BYTES - t.len() - 2;
            format!("{{{t}}}{}", "r".repeat(rest))
        }),
        1 => "(\\{[a-z]{1,3}\\})?dm:[0-9]:[a-z]{1,4}:[a-z]{1,4}",
    ]
}

pub(crate) static BAD_IDS: [&[u8]; 22] = [
    b"",
    b"{}",
    b"{}x",
    b"{t}",
    b"{t",
    b"t}",
    b"{{t}}x",
    b"{t}}x",
    b"{t}{x}",
    b"a{t}b",
    b"a b",
    b"a\nb",
    b"a\0",
    b"a/b",
    b"a,b",
    b"a;b",
    b"*",
    b"\xff",
    b"\xc3\xa9",
    "café".as_bytes(),
    "{ü}x".as_bytes(),
    b"{t}a b",
];

pub(crate) fn id() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => valid_id().prop_map(String::into_bytes),
        2 => prop::sample::select(&BAD_IDS[..]).prop_map(<[u8]>::to_vec),
        // One more byte than allowed.
        1 => "[a-z]{1,4}".prop_map(|s| s.repeat(MAX_ID_BYTES + 1).into_bytes()[..MAX_ID_BYTES + 1].to_vec()),
        // A valid id with one stray byte put in.
        2 => (valid_id(), any::<u8>(), any::<prop::sample::Index>()).prop_map(|(id, b, at)| {
            let mut bytes = id.into_bytes();
            bytes.insert(at.index(bytes.len() + 1), b);
            bytes
        }),
    ]
}

pub(crate) static BAD_DELIVERIES: [&str; 16] = [
    "1",
    "1-",
    "-1",
    "-1-0",
    "1--1",
    "1-2-3",
    "a-1",
    " 1-2",
    "1-2 ",
    "+1-2",
    "1-+2",
    "18446744073709551616-0",
    "0-18446744073709551616",
    "18446744073709551615-18446744073709551615",
    "00-00",
    "١-٢",
];

pub(crate) fn delivery() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (any::<u64>(), any::<u64>()).prop_map(|(a, b)| format!("{a}-{b}").into_bytes()),
        (0u64..5, 0u64..5).prop_map(|(a, b)| format!("{a}-{b}").into_bytes()),
        prop::sample::select(&BAD_DELIVERIES[..]).prop_map(|s| s.as_bytes().to_vec()),
    ]
}

pub(crate) fn text() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => any::<String>().prop_map(String::into_bytes),
        2 => "[a-zé€😀 \n]{0,40}".prop_map(String::into_bytes),
        1 => Just(Vec::new()),
        // Not UTF-8: a stray continuation byte, a cut sequence, an overlong
        // encoding, a surrogate, a byte that never appears.
        2 => (
            "[a-z€]{0,8}",
            prop::sample::select(vec![
                &b"\x80"[..],
                b"\xe2\x82",
                b"\xc0\x80",
                b"\xed\xa0\x80",
                b"\xff",
                b"\xf4\x90\x80\x80",
            ]),
            "[a-z]{0,4}",
        )
            .prop_map(|(a, bad, b)| [a.as_bytes(), bad, b.as_bytes()].concat()),
    ]
}

/// A `copies` argument of CHAT.SEND-RESOLVED, well-formed or not.
pub(crate) fn copies() -> impl Strategy<Value = Vec<u8>> {
    let sep = prop::sample::select(vec![",", ";", ",,", ""]);
    prop::collection::vec((id(), delivery(), number(), sep.clone(), sep), 0..4).prop_map(|items| {
        let mut out = Vec::new();
        for (member, delivery, length, sep1, sep2) in items {
            out.extend_from_slice(&member);
            out.push(b',');
            out.extend_from_slice(&delivery);
            out.extend_from_slice(sep1.as_bytes());
            out.extend_from_slice(&length);
            out.extend_from_slice(sep2.as_bytes());
        }
        out
    })
}

/// A `mentions` argument of CHAT.SEND-RESOLVED: ids, valid or not, joined
/// by commas, with empty items now and then.
pub(crate) fn mention_list() -> impl Strategy<Value = Vec<u8>> {
    let sep = prop::sample::select(vec![&b","[..], b",", b",,", b""]);
    prop::collection::vec((id(), sep), 0..4).prop_map(|items| {
        let mut out = Vec::new();
        for (user, sep) in items {
            out.extend_from_slice(&user);
            out.extend_from_slice(sep);
        }
        out
    })
}

/// Reactions as a client would give them: emoji (some of several code
/// points, joined by zero width joiners), shortcodes, short words, and a
/// soft hyphen, invisible but no space.
pub(crate) static REACTIONS: [&str; 13] = [
    "👍",
    "🎉",
    ":tada:",
    "+1",
    "ok",
    "👨‍👩‍👧",
    "🏳️‍🌈",
    "❤️",
    "é",
    "-",
    "\u{ad}",
    "👍🏽",
    "🇫🇷",
];

/// Almost reactions: empty, spaces of every kind and width, control
/// characters, cut UTF-8.
pub(crate) static BAD_REACTIONS: [&[u8]; 22] = [
    b"",
    b" ",
    b"a b",
    b"a\tb",
    b"\n",
    b"ok\r\n",
    b"\0",
    b"\x07",
    b"\x7f",
    "\u{85}".as_bytes(),
    "\u{9f}".as_bytes(),
    "\u{a0}ok".as_bytes(),
    "\u{2028}".as_bytes(),
    "\u{3000}".as_bytes(),
    "a\u{2003}".as_bytes(),
    "👍 ".as_bytes(),
    "a\u{200b}b".as_bytes(),
    "\u{180e}".as_bytes(),
    "\u{feff}".as_bytes(),
    "ok\u{2060}".as_bytes(),
    b"\xff\xfe",
    b"\xf0\x9f\x91",
];

pub(crate) fn valid_reaction() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(&REACTIONS[..]).prop_map(str::to_string),
        2 => "[a-z0-9:_+-]{1,32}",
        2 => "[😀-🙏🎉👍]{1,8}",
        1 => Just("x".repeat(REACTION_MAX_BYTES)),
        1 => Just("😀".repeat(REACTION_MAX_BYTES / 4)),
    ]
}

/// A reaction argument, valid or not.
pub(crate) fn reaction() -> impl Strategy<Value = Vec<u8>> {
    let intruders = vec![
        ' ', '\t', '\n', '\0', '\u{1b}', '\u{7f}', '\u{85}', '\u{a0}', '\u{1680}', '\u{2003}',
        '\u{2029}', '\u{202f}', '\u{3000}',
    ];
    prop_oneof![
        4 => valid_reaction().prop_map(String::into_bytes),
        2 => prop::sample::select(&BAD_REACTIONS[..]).prop_map(<[u8]>::to_vec),
        // One byte too many.
        1 => prop_oneof![
            Just("x".repeat(REACTION_MAX_BYTES + 1)),
            Just(format!("{}a", "😀".repeat(REACTION_MAX_BYTES / 4))),
            Just(format!("{}é", "a".repeat(REACTION_MAX_BYTES - 1))),
        ]
        .prop_map(String::into_bytes),
        // A valid one with a space or a control character put in.
        2 => (valid_reaction(), prop::sample::select(intruders), any::<prop::sample::Index>())
            .prop_map(|(r, c, at)| {
                let bounds: Vec<usize> = (0..=r.len()).filter(|&i| r.is_char_boundary(i)).collect();
                let mut r = r;
                r.insert(bounds[at.index(bounds.len())], c);
                r.into_bytes()
            }),
        // Any characters at all.
        2 => prop::collection::vec(any::<char>(), 1..6)
            .prop_map(|cs| cs.into_iter().collect::<String>().into_bytes()),
    ]
}

pub(crate) fn long() -> impl Strategy<Value = Vec<u8>> {
    (
        1usize..100_000,
        prop::sample::select(vec![b'a', b'9', b'\n', 0xff, b'{']),
    )
        .prop_map(|(n, b)| vec![b; n])
}

/// An argument just at, under or over a documented length limit.
pub(crate) fn boundary() -> impl Strategy<Value = Vec<u8>> {
    let lengths = vec![
        DEDUP_KEY_MAX_BYTES,
        MAX_PASSWORD_BYTES,
        REACTION_MAX_BYTES,
        Limits::default().max_text_bytes,
    ];
    (
        prop::sample::select(lengths),
        -1isize..=1,
        prop::sample::select(vec![b'a', b'$', 0xff]),
    )
        .prop_map(|(n, delta, b)| vec![b; n.saturating_add_signed(delta)])
}

/// One argument of any kind.
pub(crate) fn atom() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => boundary(),
        4 => keyword(),
        4 => number(),
        5 => id(),
        1 => delivery(),
        3 => text(),
        2 => prop::collection::vec(any::<u8>(), 0..24),
        1 => copies(),
        2 => reaction(),
        1 => mention_list(),
        1 => long(),
    ]
}

pub(crate) fn limits() -> impl Strategy<Value = Limits> {
    (
        prop_oneof![1usize..=64, Just(16_384)],
        1u64..=TTL_MAX_SECS as u64,
    )
        .prop_map(|(max_text_bytes, presence_ttl_secs)| Limits {
            max_text_bytes,
            presence_ttl_secs,
            ..Limits::default()
        })
}
