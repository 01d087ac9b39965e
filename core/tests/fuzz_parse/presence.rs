//! The grammars of presence, devices and notifications, written again from
//! docs/commands.md and compared with the parsers the module runs:
//! CHAT.ONLINE with `TTL <seconds>` and `DEVICE <id>` in any order (each
//! as often as given: the last counts), CHAT.OFFLINE with `DEVICE <id>`,
//! CHAT.CHANNELS with `PRESENCE`, and CHAT.NOTIFY with exactly a user and
//! one of `all`, `mentions` or `none` (any case). A device id is 1 to 64
//! bytes of `A-Z a-z 0-9 _ . : @ -` (no hash tag: braces are refused).
//!
//! The properties are those of `parsers` and `moderation` for these
//! commands: random, near-valid, hostile and long vectors get the
//! documented answer (a parse with the documented values, within the
//! documented limits, or a refusal that is one short line with a code), and
//! well-formed vectors (options in any order and case, repeated) parse back
//! to the values they were built from. `rules::spec` reads CHAT.ONLINE,
//! CHAT.OFFLINE and CHAT.CHANNELS as they were before these options; where
//! a vector has none of the new words, it agrees with the reading here.

use chat_core::config::Limits;
use chat_core::error::ChatError;
use chat_core::notify::Notify;
use chat_core::request::{parse_user, Channels, Offline, Online, DEVICE_MAX_BYTES, TTL_MAX_SECS};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::check::{check_error, within_limits, Shown};
use crate::commands::{user, Cmd, Parsed, V};
use crate::config;
use crate::examples::{id_value, mutate, option, Mutation};
use crate::generators::{atom, boundary, cased, id, limits, number, text, valid_id};
use crate::rules::{exactly, id_char, is_kw, sid, spec, spec_int};

const SETTINGS: [&str; 3] = ["all", "mentions", "none"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pres {
    Online,
    Offline,
    Channels,
    Notify,
}

const ALL: [Pres; 4] = [Pres::Online, Pres::Offline, Pres::Channels, Pres::Notify];

fn name(cmd: Pres) -> &'static str {
    match cmd {
        Pres::Online => "chat.online",
        Pres::Offline => "chat.offline",
        Pres::Channels => "chat.channels",
        Pres::Notify => "chat.notify",
    }
}

fn device(d: Option<&str>) -> V {
    V::Bytes(d.map(|d| d.as_bytes().to_vec()))
}

/// The parser the module runs for `cmd` (src/commands/presence.rs,
/// reading.rs and notify.rs), its result in the common shape. CHAT.NOTIFY
/// has no parser of its own in `chat_core::request`: the module takes
/// exactly two arguments, reads the first as a user id and the second with
/// `Notify::parse`, which is what runs here.
fn run(cmd: Pres, a: &[&[u8]], limits: &Limits) -> Result<Parsed, ChatError> {
    use V::*;
    Ok(match cmd {
        Pres::Online => {
            let r = Online::parse(a, limits)?;
            vec![
                ("user", user(r.user)),
                ("ttl", Int(r.ttl_secs)),
                ("device", device(r.device)),
            ]
        }
        Pres::Offline => {
            let r = Offline::parse(a)?;
            vec![("user", user(r.user)), ("device", device(r.device))]
        }
        Pres::Channels => {
            let r = Channels::parse(a)?;
            vec![("user", user(r.user)), ("presence", Flag(r.presence))]
        }
        Pres::Notify => {
            let [u, setting] = a else {
                return Err(ChatError::WrongArity("chat.notify"));
            };
            let u = parse_user(name(cmd), std::slice::from_ref(u))?;
            let setting = Notify::parse(setting).ok_or(ChatError::BadNotify)?;
            vec![("user", user(u)), ("notify", Text(setting.name().into()))]
        }
    })
}

/// A device id as docs/commands.md gives it: 1 to 64 bytes of the
/// characters of ids.
fn spec_device(bytes: &[u8]) -> Option<V> {
    let ok = (1..=DEVICE_MAX_BYTES).contains(&bytes.len()) && bytes.iter().all(|&b| id_char(b));
    ok.then(|| V::Bytes(Some(bytes.to_vec())))
}

/// What docs/commands.md says `cmd` makes of `a`: `None` for a refusal.
fn spec_pres(cmd: Pres, a: &[&[u8]], limits: &Limits) -> Option<Parsed> {
    use V::*;
    match cmd {
        Pres::Online => {
            // `TTL <seconds>` (1 to 86400) and `DEVICE <id>`, in any order,
            // each as often as given: the last counts.
            let (u, mut rest) = a.split_first()?;
            let mut ttl = limits.presence_ttl_secs as i64;
            let mut dev = Bytes(None);
            while let Some((option, after)) = rest.split_first() {
                let (value, after) = after.split_first()?;
                if is_kw(option, "TTL") {
                    ttl = spec_int(value, 1, TTL_MAX_SECS)?;
                } else if is_kw(option, "DEVICE") {
                    dev = spec_device(value)?;
                } else {
                    return None;
                }
                rest = after;
            }
            Some(vec![
                ("user", sid(u)?),
                ("ttl", Int(ttl as u64)),
                ("device", dev),
            ])
        }
        Pres::Offline => {
            let (u, mut rest) = a.split_first()?;
            let mut dev = Bytes(None);
            while let Some((option, after)) = rest.split_first() {
                let (value, after) = after.split_first()?;
                if !is_kw(option, "DEVICE") {
                    return None;
                }
                dev = spec_device(value)?;
                rest = after;
            }
            Some(vec![("user", sid(u)?), ("device", dev)])
        }
        Pres::Channels => {
            // PRESENCE, as often as given.
            let (u, options) = a.split_first()?;
            if !options.iter().all(|o| is_kw(o, "PRESENCE")) {
                return None;
            }
            Some(vec![
                ("user", sid(u)?),
                ("presence", Flag(!options.is_empty())),
            ])
        }
        Pres::Notify => {
            let [u, setting] = exactly(a)?;
            let setting = SETTINGS.into_iter().find(|s| is_kw(setting, s))?;
            Some(vec![
                ("user", sid(u)?),
                ("notify", Text(setting.to_string())),
            ])
        }
    }
}

/// The documented limits of the fields these commands add.
fn within_presence_limits(parsed: &Parsed) -> Result<(), TestCaseError> {
    for (field, value) in parsed {
        match (*field, value) {
            ("device", V::Bytes(Some(d))) => {
                prop_assert!((1..=DEVICE_MAX_BYTES).contains(&d.len()), "device {d:?}");
                prop_assert!(d.iter().all(|&b| id_char(b)), "device {d:?}");
            }
            ("notify", V::Text(s)) => prop_assert!(SETTINGS.contains(&s.as_str())),
            _ => {}
        }
    }
    Ok(())
}

/// Runs `cmd`'s parser on `args` and compares it with the documentation.
fn check(cmd: Pres, args: &[Vec<u8>], limits: &Limits) -> Result<(), TestCaseError> {
    let a: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    match (run(cmd, &a, limits), spec_pres(cmd, &a, limits)) {
        (Ok(got), Some(want)) => {
            prop_assert_eq!(&got, &want, "{:?} {:?}", cmd, Shown(args));
            within_limits(&got, limits)?;
            within_presence_limits(&got)?;
        }
        (Err(e), None) => check_error(&e)?,
        (Ok(got), None) => prop_assert!(
            false,
            "{cmd:?} accepted what the docs refuse: {:?} -> {got:?}",
            Shown(args)
        ),
        (Err(e), Some(want)) => prop_assert!(
            false,
            "{cmd:?} refused what the docs accept: {:?} -> {e} (expected {want:?})",
            Shown(args)
        ),
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Generators.

/// The words of these grammars, and words close to them.
static PRESENCE_WORDS: [&str; 9] = [
    "TTL", "DEVICE", "PRESENCE", "all", "mentions", "none", "ALL", "Mentions", "NONE",
];

static NEAR_PRESENCE_WORDS: [&[u8]; 20] = [
    b"DEVICES",
    b"DEVIC",
    b"DEVICE ",
    b"DEVICE\0",
    b"PRESENCES",
    b"PRESENC",
    b"PRESENCE\r\n",
    b"TT",
    b"TTLS",
    b"mention",
    b"mentions ",
    b"al",
    b"all\xff",
    b"nothing",
    b"some",
    b"every",
    b"",
    b"\xc4\xb0TTL",
    "ＤＥＶＩＣＥ".as_bytes(),
    "ａｌｌ".as_bytes(),
];

fn presence_word() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (prop::sample::select(&PRESENCE_WORDS[..]), any::<u32>()).prop_map(|(w, m)| cased(w, m)),
        1 => prop::sample::select(&NEAR_PRESENCE_WORDS[..]).prop_map(<[u8]>::to_vec),
    ]
}

/// A device id that is valid: short, at the longest, or of every allowed
/// character.
fn valid_device() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[A-Za-z0-9_.:@-]{1,16}",
        1 => "[a-z0-9]{1,4}".prop_map(|s| s.repeat(DEVICE_MAX_BYTES)[..DEVICE_MAX_BYTES].to_string()),
        1 => Just("az09_.:@-AZ".to_string()),
    ]
}

static BAD_DEVICES: [&[u8]; 14] = [
    b"",
    b"a b",
    b" a",
    b"a\n",
    b"a\0",
    b"{t}x",
    b"{}",
    b"a/b",
    b"a,b",
    b"*",
    b"\xff",
    b"\xc3\xa9",
    "téléphone".as_bytes(),
    b"phone\r\n",
];

/// A device id, valid or not: too long by one, a stray byte, a known bad
/// one.
fn device_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        5 => valid_device().prop_map(String::into_bytes),
        2 => prop::sample::select(&BAD_DEVICES[..]).prop_map(<[u8]>::to_vec),
        1 => "[a-z]{1,4}".prop_map(|s| s.repeat(DEVICE_MAX_BYTES + 1).into_bytes()[..DEVICE_MAX_BYTES + 1].to_vec()),
        2 => (valid_device(), any::<u8>(), any::<prop::sample::Index>()).prop_map(|(d, b, at)| {
            let mut bytes = d.into_bytes();
            bytes.insert(at.index(bytes.len() + 1), b);
            bytes
        }),
    ]
}

/// A TTL value: in range, at the edges, or not a number.
fn ttl_value() -> impl Strategy<Value = Vec<u8>> {
    let edges: &[&str] = &["0", "1", "86400", "86401", "-1", "+5", " 5", "5s", "1e3"];
    prop_oneof![
        2 => prop::sample::select(edges).prop_map(|s| s.as_bytes().to_vec()),
        2 => (0u64..=TTL_MAX_SECS as u64 + 2).prop_map(|n| n.to_string().into_bytes()),
        1 => number(),
    ]
}

/// One argument of any kind, the words of these grammars more often.
fn presence_atom() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => presence_word(),
        2 => device_value(),
        1 => ttl_value(),
        3 => id(),
        4 => atom(),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<prop::sample::Index>;
    prop_oneof![
        3 => (at(), presence_atom()).prop_map(|(i, a)| Mutation::Replace(i, a)),
        2 => (at(), presence_atom()).prop_map(|(i, a)| Mutation::Insert(i, a)),
        1 => at().prop_map(Mutation::Remove),
        1 => at().prop_map(Mutation::Repeat),
        1 => (at(), at()).prop_map(|(i, j)| Mutation::Swap(i, j)),
    ]
}

/// A well-formed vector, with what it must parse to (default limits).
type Example = (Pres, Vec<Vec<u8>>, Parsed);

/// An option of CHAT.ONLINE or CHAT.OFFLINE, drawn before the options are
/// shuffled.
#[derive(Debug, Clone)]
enum PresenceOption {
    Ttl(u64),
    Device(String),
}

/// CHAT.ONLINE with TTL and DEVICE, or CHAT.OFFLINE with DEVICE, in any
/// order, case and number.
fn online_or_offline() -> impl Strategy<Value = Example> {
    (
        valid_id(),
        prop::collection::vec(1u64..=TTL_MAX_SECS as u64, 0..3),
        prop::collection::vec(valid_device(), 0..3),
        any::<u32>(),
    )
        .prop_flat_map(|(u, ttls, devices, mask)| {
            let offline = mask % 3 == 0;
            let mut options: Vec<PresenceOption> = if offline {
                Vec::new()
            } else {
                ttls.into_iter().map(PresenceOption::Ttl).collect()
            };
            options.extend(devices.into_iter().map(PresenceOption::Device));
            (Just(u), Just(options).prop_shuffle(), Just(mask))
        })
        .prop_map(|(u, options, mask)| {
            let offline = mask % 3 == 0;
            let mut args = vec![u.clone().into_bytes()];
            let mut ttl = Limits::default().presence_ttl_secs;
            let mut dev = None;
            for (i, o) in options.into_iter().enumerate() {
                let mask = mask.rotate_left(i as u32 + 1);
                match o {
                    PresenceOption::Ttl(n) => {
                        args.extend(option("TTL", mask, Some(n.to_string())));
                        ttl = n;
                    }
                    PresenceOption::Device(d) => {
                        args.extend(option("DEVICE", mask, Some(d.clone())));
                        dev = Some(d);
                    }
                }
            }
            let dev = V::Bytes(dev.map(String::into_bytes));
            if offline {
                let parsed = vec![("user", id_value(&u)), ("device", dev)];
                (Pres::Offline, args, parsed)
            } else {
                let parsed = vec![
                    ("user", id_value(&u)),
                    ("ttl", V::Int(ttl)),
                    ("device", dev),
                ];
                (Pres::Online, args, parsed)
            }
        })
}

/// CHAT.CHANNELS with PRESENCE 0 to 2 times, or CHAT.NOTIFY with a setting,
/// in any case.
fn channels_or_notify() -> impl Strategy<Value = Example> {
    (valid_id(), 0usize..3, any::<u32>()).prop_map(|(u, repeat, mask)| {
        if mask % 2 == 0 {
            let mut args = vec![u.clone().into_bytes()];
            for i in 0..repeat {
                args.extend(option("PRESENCE", mask.rotate_left(i as u32 + 1), None));
            }
            let parsed = vec![("user", id_value(&u)), ("presence", V::Flag(repeat > 0))];
            (Pres::Channels, args, parsed)
        } else {
            let setting = SETTINGS[repeat];
            let args = vec![u.clone().into_bytes(), cased(setting, mask.rotate_left(1))];
            let parsed = vec![
                ("user", id_value(&u)),
                ("notify", V::Text(setting.to_string())),
            ];
            (Pres::Notify, args, parsed)
        }
    })
}

fn example() -> impl Strategy<Value = Example> {
    prop_oneof![2 => online_or_offline(), 1 => channels_or_notify()]
}

/// An option of these grammars (or a near one) with a hostile value, or
/// none.
fn hostile_option() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop_oneof![
        3 => (presence_word(), device_value()).prop_map(|(k, v)| vec![k, v]),
        2 => (presence_word(), ttl_value()).prop_map(|(k, v)| vec![k, v]),
        1 => (presence_word(), id()).prop_map(|(k, v)| vec![k, v]),
        1 => (presence_word(), boundary()).prop_map(|(k, v)| vec![k, v]),
        1 => (presence_word(), text()).prop_map(|(k, v)| vec![k, v]),
        3 => presence_word().prop_map(|k| vec![k]),
    ]
}

// ---------------------------------------------------------------------------
// The properties.

proptest! {
    #![proptest_config(config(5_000))]

    /// A well-formed vector parses back to the values it was built from.
    #[test]
    fn well_formed_presence_vectors_round_trip((cmd, args, expected) in example()) {
        let limits = Limits::default();
        let a: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        match run(cmd, &a, &limits) {
            Ok(got) => prop_assert_eq!(&got, &expected, "{:?} {:?}", cmd, Shown(&args)),
            Err(e) => prop_assert!(false, "{:?} {:?} refused: {}", cmd, Shown(&args), e),
        }
        prop_assert_eq!(spec_pres(cmd, &a, &limits), Some(expected));
        check(cmd, &args, &limits)?;
    }

    /// Any vector, the words of these grammars often in it, through every
    /// parser of this file.
    #[test]
    fn random_presence_vectors_get_the_documented_answer(
        args in prop::collection::vec(presence_atom(), 0..8),
        limits in limits(),
    ) {
        for cmd in ALL {
            check(cmd, &args, &limits)?;
        }
    }

    /// Well-formed vectors with one to three arguments replaced, added,
    /// removed, repeated or swapped, given to their command and to another.
    #[test]
    fn near_valid_presence_vectors_get_the_documented_answer(
        (cmd, args, _) in example(),
        mutations in prop::collection::vec(mutation(), 1..4),
        limits in limits(),
        other in any::<prop::sample::Index>(),
    ) {
        let mut args = args;
        for m in &mutations {
            mutate(&mut args, m);
        }
        check(cmd, &args, &limits)?;
        check(ALL[other.index(ALL.len())], &args, &limits)?;
    }

    /// A valid user followed by options with hostile values: DEVICE without
    /// an id, with an empty, long or braced one, TTL at and past its edges,
    /// PRESENCE with a value, settings near the real ones.
    #[test]
    fn hostile_presence_options_get_the_documented_answer(
        u in valid_id(),
        options in prop::collection::vec(hostile_option(), 0..4),
        limits in limits(),
    ) {
        let args = [vec![u.into_bytes()], options.concat()].concat();
        for cmd in ALL {
            check(cmd, &args, &limits)?;
        }
    }

    /// Where a vector has none of the new words, the reading of
    /// CHAT.ONLINE, CHAT.OFFLINE and CHAT.CHANNELS in `rules` (from before
    /// devices and presence channels) agrees with this one.
    #[test]
    fn the_older_presence_readings_agree_without_the_new_words(
        args in prop::collection::vec(prop_oneof![atom(), presence_atom()], 0..6),
        limits in limits(),
    ) {
        let a: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        prop_assume!(!a.iter().any(|w| is_kw(w, "DEVICE") || is_kw(w, "PRESENCE")));
        for (cmd, old) in [
            (Pres::Online, Cmd::Online),
            (Pres::Offline, Cmd::Offline),
            (Pres::Channels, Cmd::Channels),
        ] {
            let keep = ["user", "ttl"];
            let here = spec_pres(cmd, &a, &limits)
                .map(|p| p.into_iter().filter(|(f, _)| keep.contains(f)).collect::<Parsed>());
            prop_assert_eq!(here, spec(old, &a, &limits), "{:?} {:?}", cmd, Shown(&args));
        }
    }
}

proptest! {
    #![proptest_config(config(1_000))]

    /// Long vectors: a well-formed one followed by one option repeated
    /// hundreds of times.
    #[test]
    fn long_presence_vectors_get_the_documented_answer(
        (cmd, args, _) in example(),
        repeated in presence_word(),
        times in 1usize..600,
        value in prop_oneof![device_value(), ttl_value()],
        with_value in any::<bool>(),
    ) {
        let mut args = args;
        for _ in 0..times {
            args.push(repeated.clone());
            if with_value {
                args.push(value.clone());
            }
        }
        check(cmd, &args, &Limits::default())?;
    }
}

fn words(list: &[&str]) -> Vec<Vec<u8>> {
    list.iter().map(|w| w.as_bytes().to_vec()).collect()
}

fn parsed(cmd: Pres, list: &[&str]) -> Result<Parsed, ChatError> {
    let args = words(list);
    let a: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    let limits = Limits::default();
    let got = run(cmd, &a, &limits);
    assert_eq!(got.clone().ok(), spec_pres(cmd, &a, &limits), "{list:?}");
    got
}

/// The edges the documentation names, and its errors.
#[test]
fn the_documented_presence_edges_and_errors() {
    assert_eq!(DEVICE_MAX_BYTES, 64, "a device id is at most 64 bytes");
    let longest = "d".repeat(64);
    let too_long = "d".repeat(65);
    let bad_device = "ERR invalid device id: use 1 to 64 bytes of A-Z a-z 0-9 _ . : @ -";
    for cmd in [Pres::Online, Pres::Offline] {
        let got = parsed(cmd, &["bob", "DEVICE", &longest]).unwrap();
        assert!(got.contains(&("device", device(Some(&longest)))));
        for bad in [too_long.as_str(), "", "a b", "{t}x", "café"] {
            let e = parsed(cmd, &["bob", "device", bad]).unwrap_err();
            assert_eq!(e, ChatError::BadDevice, "{cmd:?} DEVICE {bad:?}");
            assert_eq!(e.to_string(), bad_device);
        }
        assert_eq!(
            parsed(cmd, &["bob", "DEVICE"]),
            Err(ChatError::Syntax),
            "{cmd:?} DEVICE without an id"
        );
        // The last DEVICE counts.
        let got = parsed(cmd, &["bob", "DEVICE", "phone", "Device", "tab"]).unwrap();
        assert!(got.contains(&("device", device(Some("tab")))));
    }
    // TTL and DEVICE in any order; without DEVICE, no device.
    let got = parsed(Pres::Online, &["bob", "device", "phone", "ttl", "86400"]).unwrap();
    assert_eq!(
        got,
        [
            ("user", id_value("bob")),
            ("ttl", V::Int(86_400)),
            ("device", device(Some("phone"))),
        ]
    );
    let got = parsed(Pres::Online, &["bob"]).unwrap();
    assert!(got.contains(&("device", device(None))));
    assert_eq!(
        parsed(Pres::Online, &["bob", "TTL", "86401", "DEVICE", "phone"])
            .unwrap_err()
            .to_string(),
        "ERR TTL must be an integer from 1 to 86400, got '86401'"
    );
    assert_eq!(
        parsed(Pres::Offline, &["bob", "TTL", "5"]),
        Err(ChatError::Syntax)
    );
    // CHAT.CHANNELS: PRESENCE, in any case, as often as given; nothing else.
    for list in [&["bob", "PRESENCE"][..], &["bob", "presence", "Presence"]] {
        let got = parsed(Pres::Channels, list).unwrap();
        assert!(got.contains(&("presence", V::Flag(true))), "{list:?}");
    }
    assert_eq!(
        parsed(Pres::Channels, &["bob", "PRESENCE", "x"]),
        Err(ChatError::Syntax)
    );
    assert!(parsed(Pres::Channels, &["bob"]).is_ok());
    // CHAT.NOTIFY: exactly a user and a setting, in any case.
    for (word, setting) in [("ALL", "all"), ("Mentions", "mentions"), ("none", "none")] {
        let got = parsed(Pres::Notify, &["bob", word]).unwrap();
        assert!(got.contains(&("notify", V::Text(setting.into()))), "{word}");
    }
    for bad in ["some", "", "mention", "all "] {
        let e = parsed(Pres::Notify, &["bob", bad]).unwrap_err();
        assert_eq!(e.to_string(), "ERR notify must be all, mentions or none");
    }
    assert_eq!(
        parsed(Pres::Notify, &["bob"]),
        Err(ChatError::WrongArity("chat.notify"))
    );
    assert_eq!(
        parsed(Pres::Notify, &["bob", "all", "now"]),
        Err(ChatError::WrongArity("chat.notify"))
    );
    assert!(parsed(Pres::Notify, &["bad id", "all"]).is_err());
}
