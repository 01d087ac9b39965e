//! The grammars of moderation, written again from docs/commands.md and
//! compared with the parsers the module runs: CHAT.CREATE with `OWNER
//! <user>` and `PRIVATE` in any order (PRIVATE needs OWNER), CHAT.MEMBERS
//! with `WITHREAD` or `WITHROLES` (not both; CHAT.INFO takes only
//! WITHREAD), CHAT.ROLE, CHAT.BAN and CHAT.MUTE with `[SECONDS <n>]`,
//! CHAT.KICK, CHAT.UNBAN, CHAT.UNMUTE and CHAT.INVITE of exactly three
//! arguments, CHAT.INVITES and CHAT.SLOWMODE.
//!
//! The properties are those of `parsers` for these commands: random,
//! near-valid, hostile and long vectors get the documented answer (a parse
//! with the documented values, within the documented limits, or a refusal
//! that is one short line with a code), and well-formed vectors (options
//! in any order and case, repeated) parse back to the values they were
//! built from. `rules::spec` reads CHAT.CREATE and CHAT.MEMBERS as they
//! were before these options; where a vector has none of the new words,
//! it agrees with the reading here.

use chat_core::config::Limits;
use chat_core::error::ChatError;
use chat_core::refusal::Refusal;
use chat_core::request::{parse_user, Create, Members, Moderate, SetRole, SlowMode};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::check::{check_error, within_limits, Shown};
use crate::commands::{room, user, Cmd, Parsed, V};
use crate::config;
use crate::examples::{good_text, id_value, mutate, option, valid_room, Mutation};
use crate::generators::{atom, boundary, cased, id, keyword, limits, number, text, valid_id};
use crate::rules::{exactly, is_kw, sid, spec, spec_direct, spec_int, spec_text};

/// The longest ban or mute in SECONDS: ten years.
const SANCTION_MAX_SECS: i64 = 315_360_000;
/// The longest slow mode, in seconds.
const SLOWMODE_MAX_SECS: i64 = 3600;
const ROLE_NAMES: [&str; 3] = ["owner", "admin", "member"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mod {
    Create,
    Members,
    Info,
    Role,
    Invite,
    Invites,
    Kick,
    Ban,
    Unban,
    Mute,
    Unmute,
    SlowMode,
}

const ALL: [Mod; 12] = [
    Mod::Create,
    Mod::Members,
    Mod::Info,
    Mod::Role,
    Mod::Invite,
    Mod::Invites,
    Mod::Kick,
    Mod::Ban,
    Mod::Unban,
    Mod::Mute,
    Mod::Unmute,
    Mod::SlowMode,
];

fn name(cmd: Mod) -> &'static str {
    match cmd {
        Mod::Create => "chat.create",
        Mod::Members => "chat.members",
        Mod::Info => "chat.info",
        Mod::Role => "chat.role",
        Mod::Invite => "chat.invite",
        Mod::Invites => "chat.invites",
        Mod::Kick => "chat.kick",
        Mod::Ban => "chat.ban",
        Mod::Unban => "chat.unban",
        Mod::Mute => "chat.mute",
        Mod::Unmute => "chat.unmute",
        Mod::SlowMode => "chat.slowmode",
    }
}

/// The parser the module runs for `cmd` (src/commands), its result in the
/// common shape.
fn run(cmd: Mod, a: &[&[u8]], limits: &Limits) -> Result<Parsed, ChatError> {
    use V::*;
    Ok(match cmd {
        Mod::Create => {
            let r = Create::parse(a, limits)?;
            let owner = r.owner.iter().map(|o| o.as_str().to_string()).collect();
            vec![
                ("room", room(r.room)),
                ("title", Text(r.title.to_string())),
                ("owner", Ids(owner)),
                ("private", Flag(r.private)),
            ]
        }
        Mod::Members | Mod::Info => {
            let r = if cmd == Mod::Members {
                Members::parse(a)?
            } else {
                Members::parse_info(a)?
            };
            vec![
                ("room", room(r.room)),
                ("withread", Flag(r.with_read)),
                ("withroles", Flag(r.with_roles)),
            ]
        }
        Mod::Role => {
            let r = SetRole::parse(a)?;
            vec![
                ("room", room(r.room)),
                ("actor", user(r.actor)),
                ("user", user(r.user)),
                ("role", Text(r.role.name().to_string())),
            ]
        }
        Mod::Invite | Mod::Kick | Mod::Unban | Mod::Unmute | Mod::Ban | Mod::Mute => {
            let r = if matches!(cmd, Mod::Ban | Mod::Mute) {
                Moderate::parse_timed(name(cmd), a)?
            } else {
                Moderate::parse(name(cmd), a)?
            };
            vec![
                ("room", room(r.room)),
                ("actor", user(r.actor)),
                ("user", user(r.user)),
                ("seconds", OptInt(r.seconds)),
            ]
        }
        Mod::Invites => vec![("user", user(parse_user(name(cmd), a)?))],
        Mod::SlowMode => {
            let r = SlowMode::parse(a)?;
            vec![
                ("room", room(r.room)),
                ("actor", user(r.actor)),
                ("slowmode", Int(u64::from(r.seconds))),
            ]
        }
    })
}

/// What docs/commands.md says `cmd` makes of `a`: `None` for a refusal.
fn spec_mod(cmd: Mod, a: &[&[u8]], limits: &Limits) -> Option<Parsed> {
    use V::*;
    match cmd {
        Mod::Create => {
            // A room and a title (UTF-8, empty allowed), then OWNER <user>
            // and PRIVATE in any order, each as often as given: the last
            // OWNER counts. PRIVATE needs OWNER; ids of direct rooms are
            // CHAT.DM's.
            let [r, t] = exactly(a.get(..2)?)?;
            let (mut owner, mut private) = (None, false);
            let mut rest = &a[2..];
            while let Some((option, after)) = rest.split_first() {
                if is_kw(option, "OWNER") {
                    let (value, after) = after.split_first()?;
                    owner = Some(sid(value)?);
                    rest = after;
                } else if is_kw(option, "PRIVATE") {
                    private = true;
                    rest = after;
                } else {
                    return None;
                }
            }
            if spec_direct(r) || (private && owner.is_none()) {
                return None;
            }
            let owner = match owner {
                Some(Id(id)) => vec![id],
                _ => Vec::new(),
            };
            Some(vec![
                ("room", sid(r)?),
                ("title", Text(spec_text(t, limits.max_text_bytes, false)?)),
                ("owner", Ids(owner)),
                ("private", Flag(private)),
            ])
        }
        Mod::Members | Mod::Info => {
            // WITHREAD or (CHAT.MEMBERS only) WITHROLES, as often as
            // given, never both.
            let (r, options) = a.split_first()?;
            let read = options.iter().any(|o| is_kw(o, "WITHREAD"));
            let roles = options.iter().any(|o| is_kw(o, "WITHROLES"));
            let known =
                |o: &&[u8]| is_kw(o, "WITHREAD") || (cmd == Mod::Members && is_kw(o, "WITHROLES"));
            if !options.iter().all(known) || (read && roles) {
                return None;
            }
            Some(vec![
                ("room", sid(r)?),
                ("withread", Flag(read)),
                ("withroles", Flag(roles)),
            ])
        }
        Mod::Role => {
            let [r, actor, u, role] = exactly(a)?;
            let role = ROLE_NAMES.into_iter().find(|n| is_kw(role, n))?;
            Some(vec![
                ("room", sid(r)?),
                ("actor", sid(actor)?),
                ("user", sid(u)?),
                ("role", Text(role.to_string())),
            ])
        }
        Mod::Invite | Mod::Kick | Mod::Unban | Mod::Unmute => {
            let [r, actor, u] = exactly(a)?;
            Some(vec![
                ("room", sid(r)?),
                ("actor", sid(actor)?),
                ("user", sid(u)?),
                ("seconds", OptInt(None)),
            ])
        }
        Mod::Ban | Mod::Mute => {
            // `SECONDS <n>`, 1 to 315360000, as often as given: the last
            // counts.
            let [r, actor, u] = exactly(a.get(..3)?)?;
            let mut seconds = None;
            let mut rest = &a[3..];
            while let Some((option, after)) = rest.split_first() {
                let (value, after) = after.split_first()?;
                if !is_kw(option, "SECONDS") {
                    return None;
                }
                seconds = Some(spec_int(value, 1, SANCTION_MAX_SECS)? as u64);
                rest = after;
            }
            Some(vec![
                ("room", sid(r)?),
                ("actor", sid(actor)?),
                ("user", sid(u)?),
                ("seconds", OptInt(seconds)),
            ])
        }
        Mod::Invites => {
            let [u] = exactly(a)?;
            Some(vec![("user", sid(u)?)])
        }
        Mod::SlowMode => {
            let [r, actor, seconds] = exactly(a)?;
            Some(vec![
                ("room", sid(r)?),
                ("actor", sid(actor)?),
                (
                    "slowmode",
                    Int(spec_int(seconds, 0, SLOWMODE_MAX_SECS)? as u64),
                ),
            ])
        }
    }
}

/// The documented limits of the fields these commands add.
fn within_moderation_limits(parsed: &Parsed) -> Result<(), TestCaseError> {
    for (field, value) in parsed {
        match (*field, value) {
            ("seconds", V::OptInt(Some(n))) => {
                prop_assert!((1..=SANCTION_MAX_SECS as u64).contains(n), "SECONDS {n}")
            }
            ("slowmode", V::Int(n)) => prop_assert!(*n <= SLOWMODE_MAX_SECS as u64),
            ("role", V::Text(role)) => prop_assert!(ROLE_NAMES.contains(&role.as_str())),
            ("owner", V::Ids(owners)) => {
                prop_assert!(owners.len() <= 1);
                for owner in owners {
                    prop_assert!(crate::rules::spec_id(owner.as_bytes()));
                }
            }
            _ => {}
        }
    }
    let flag = |name| parsed.contains(&(name, V::Flag(true)));
    prop_assert!(!(flag("withread") && flag("withroles")));
    if flag("private") {
        prop_assert!(!parsed.contains(&("owner", V::Ids(Vec::new()))));
    }
    Ok(())
}

/// Runs `cmd`'s parser on `args` and compares it with the documentation.
fn check(cmd: Mod, args: &[Vec<u8>], limits: &Limits) -> Result<(), TestCaseError> {
    let a: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    match (run(cmd, &a, limits), spec_mod(cmd, &a, limits)) {
        (Ok(got), Some(want)) => {
            prop_assert_eq!(&got, &want, "{:?} {:?}", cmd, Shown(args));
            within_limits(&got, limits)?;
            within_moderation_limits(&got)?;
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
static MODERATION_WORDS: [&str; 9] = [
    "OWNER",
    "PRIVATE",
    "SECONDS",
    "WITHROLES",
    "WITHREAD",
    "owner",
    "admin",
    "member",
    "Admin",
];

static NEAR_MODERATION_WORDS: [&[u8]; 22] = [
    b"OWNERS",
    b"OWNE",
    b"OWNER ",
    b"OWNER\0",
    b"PRIVAT",
    b"PRIVATE\r\n",
    b"PUBLIC",
    b"SECOND",
    b"SECONDSS",
    b"SECS",
    b"WITHROLE",
    b"WITH ROLES",
    b"WITHREADWITHROLES",
    b"admins",
    b"adm in",
    b"moderator",
    b"owner\xff",
    b"",
    "ＯＷＮＥＲ".as_bytes(),
    "PRİVATE".as_bytes(),
    "ownér".as_bytes(),
    "ᴀdmin".as_bytes(),
];

fn moderation_word() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (prop::sample::select(&MODERATION_WORDS[..]), any::<u32>())
            .prop_map(|(w, m)| cased(w, m)),
        2 => prop::sample::select(&NEAR_MODERATION_WORDS[..]).prop_map(<[u8]>::to_vec),
        1 => keyword(),
    ]
}

/// Numbers at the edges of SECONDS and of slow mode, and any others.
fn seconds_value() -> impl Strategy<Value = Vec<u8>> {
    let edges = vec![
        "0",
        "1",
        "-1",
        "-0",
        "00",
        "3599",
        "3600",
        "3601",
        "0003600",
        "315359999",
        "315360000",
        "315360001",
        "+5",
        " 5",
        "5 ",
        "5s",
        "1e3",
    ];
    prop_oneof![
        2 => prop::sample::select(edges).prop_map(|s| s.as_bytes().to_vec()),
        1 => (0u64..=SANCTION_MAX_SECS as u64 + 2).prop_map(|n| n.to_string().into_bytes()),
        1 => (0u64..=SLOWMODE_MAX_SECS as u64 + 2).prop_map(|n| n.to_string().into_bytes()),
        1 => number(),
    ]
}

/// One argument of any kind, the words of these grammars more often.
fn moderation_atom() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => moderation_word(),
        2 => seconds_value(),
        3 => id(),
        4 => atom(),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<prop::sample::Index>;
    prop_oneof![
        3 => (at(), moderation_atom()).prop_map(|(i, a)| Mutation::Replace(i, a)),
        2 => (at(), moderation_atom()).prop_map(|(i, a)| Mutation::Insert(i, a)),
        1 => at().prop_map(Mutation::Remove),
        1 => at().prop_map(Mutation::Repeat),
        1 => (at(), at()).prop_map(|(i, j)| Mutation::Swap(i, j)),
    ]
}

/// A well-formed vector, with what it must parse to (default limits).
type Example = (Mod, Vec<Vec<u8>>, Parsed);

/// An option of CHAT.CREATE, drawn before the options are shuffled.
#[derive(Debug, Clone)]
enum CreateOption {
    Owner(String),
    Private,
}

/// CHAT.CREATE with OWNER and PRIVATE in any order, case and number (an
/// OWNER added when PRIVATE came without one).
fn create() -> impl Strategy<Value = Example> {
    (
        (valid_room(), good_text()),
        prop::collection::vec(valid_id(), 0..3),
        0usize..3,
        any::<u32>(),
    )
        .prop_flat_map(|(head, owners, privates, mask)| {
            let mut options: Vec<CreateOption> =
                owners.into_iter().map(CreateOption::Owner).collect();
            options.extend(std::iter::repeat_n(CreateOption::Private, privates));
            (Just(head), Just(options).prop_shuffle(), Just(mask))
        })
        .prop_map(|((r, t), mut options, mask)| {
            let private = options.iter().any(|o| matches!(o, CreateOption::Private));
            let owned = options.iter().any(|o| matches!(o, CreateOption::Owner(_)));
            if private && !owned {
                options.push(CreateOption::Owner("founder".to_string()));
            }
            let mut args = vec![r.clone().into_bytes(), t.clone().into_bytes()];
            let mut owner = Vec::new();
            for (i, o) in options.into_iter().enumerate() {
                let mask = mask.rotate_left(i as u32);
                match o {
                    CreateOption::Owner(u) => {
                        args.extend(option("OWNER", mask, Some(u.clone())));
                        owner = vec![u];
                    }
                    CreateOption::Private => args.extend(option("PRIVATE", mask, None)),
                }
            }
            let parsed = vec![
                ("room", id_value(&r)),
                ("title", V::Text(t)),
                ("owner", V::Ids(owner)),
                ("private", V::Flag(private)),
            ];
            (Mod::Create, args, parsed)
        })
}

/// A number of seconds for SECONDS: small, any, or at the edges.
fn sanction_seconds() -> impl Strategy<Value = u64> {
    let max = SANCTION_MAX_SECS as u64;
    prop_oneof![1u64..=60, 1u64..=max, Just(1u64), Just(max)]
}

/// The other commands, well-formed.
fn others() -> impl Strategy<Value = Example> {
    (
        (valid_room(), valid_id(), valid_id()),
        prop::collection::vec(sanction_seconds(), 0..3),
        prop_oneof![0u64..=SLOWMODE_MAX_SECS as u64, Just(0), Just(3600)],
        (0usize..3, 0usize..3, any::<u32>()),
    )
        .prop_map(|((r, a, u), seconds, slow, (role, repeat, mask))| {
            use V::*;
            let head =
                |r: &str, a: &str, u: &str| vec![r.to_string(), a.to_string(), u.to_string()];
            let ids = || {
                vec![
                    ("room", id_value(&r)),
                    ("actor", id_value(&a)),
                    ("user", id_value(&u)),
                ]
            };
            let bytes = |args: Vec<String>| args.into_iter().map(String::into_bytes).collect();
            // Every command but CREATE, which `create()` draws.
            let cmd = ALL[1 + (mask % (ALL.len() as u32 - 1)) as usize];
            let (args, parsed): (Vec<Vec<u8>>, Parsed) = match cmd {
                Mod::Create => unreachable!("drawn by create()"),
                Mod::Members | Mod::Info => {
                    let word = if cmd == Mod::Members && mask % 3 == 0 {
                        "WITHROLES"
                    } else {
                        "WITHREAD"
                    };
                    let mut args = vec![r.clone().into_bytes()];
                    for i in 0..repeat {
                        args.extend(option(word, mask.rotate_left(i as u32), None));
                    }
                    let given = repeat > 0;
                    let parsed = vec![
                        ("room", id_value(&r)),
                        ("withread", Flag(given && word == "WITHREAD")),
                        ("withroles", Flag(given && word == "WITHROLES")),
                    ];
                    (args, parsed)
                }
                Mod::Role => {
                    let word = cased(ROLE_NAMES[role], mask);
                    let mut args: Vec<Vec<u8>> = bytes(head(&r, &a, &u));
                    args.push(word);
                    let mut parsed = ids();
                    parsed.push(("role", Text(ROLE_NAMES[role].to_string())));
                    (args, parsed)
                }
                Mod::Invite | Mod::Kick | Mod::Unban | Mod::Unmute => {
                    let mut parsed = ids();
                    parsed.push(("seconds", OptInt(None)));
                    (bytes(head(&r, &a, &u)), parsed)
                }
                Mod::Ban | Mod::Mute => {
                    let mut args: Vec<Vec<u8>> = bytes(head(&r, &a, &u));
                    for (i, n) in seconds.iter().enumerate() {
                        let word =
                            option("SECONDS", mask.rotate_left(i as u32), Some(n.to_string()));
                        args.extend(word);
                    }
                    let mut parsed = ids();
                    parsed.push(("seconds", OptInt(seconds.last().copied())));
                    (args, parsed)
                }
                Mod::Invites => (vec![u.clone().into_bytes()], vec![("user", id_value(&u))]),
                Mod::SlowMode => {
                    let args = bytes(vec![r.clone(), a.clone(), slow.to_string()]);
                    let parsed = vec![
                        ("room", id_value(&r)),
                        ("actor", id_value(&a)),
                        ("slowmode", Int(slow)),
                    ];
                    (args, parsed)
                }
            };
            (cmd, args, parsed)
        })
}

fn example() -> impl Strategy<Value = Example> {
    prop_oneof![1 => create(), 3 => others()]
}

/// An option of CHAT.CREATE, BAN, MUTE or MEMBERS (or a near one) with a
/// hostile value, or none.
fn hostile_option() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop_oneof![
        3 => (moderation_word(), id()).prop_map(|(k, v)| vec![k, v]),
        3 => (moderation_word(), seconds_value()).prop_map(|(k, v)| vec![k, v]),
        1 => (moderation_word(), boundary()).prop_map(|(k, v)| vec![k, v]),
        1 => (moderation_word(), text()).prop_map(|(k, v)| vec![k, v]),
        3 => moderation_word().prop_map(|k| vec![k]),
    ]
}

// ---------------------------------------------------------------------------
// The properties.

proptest! {
    #![proptest_config(config(5_000))]

    /// A well-formed vector parses back to the values it was built from.
    #[test]
    fn well_formed_moderation_vectors_round_trip((cmd, args, expected) in example()) {
        let limits = Limits::default();
        let a: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        match run(cmd, &a, &limits) {
            Ok(got) => prop_assert_eq!(&got, &expected, "{:?} {:?}", cmd, Shown(&args)),
            Err(e) => prop_assert!(false, "{:?} {:?} refused: {}", cmd, Shown(&args), e),
        }
        prop_assert_eq!(spec_mod(cmd, &a, &limits), Some(expected));
        check(cmd, &args, &limits)?;
    }

    /// Any vector, the words of these grammars often in it, through every
    /// moderation parser.
    #[test]
    fn random_moderation_vectors_get_the_documented_answer(
        args in prop::collection::vec(moderation_atom(), 0..8),
        limits in limits(),
    ) {
        for cmd in ALL {
            check(cmd, &args, &limits)?;
        }
    }

    /// Well-formed vectors with one to three arguments replaced, added,
    /// removed, repeated or swapped, given to their command and to another.
    #[test]
    fn near_valid_moderation_vectors_get_the_documented_answer(
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

    /// Well-formed heads followed by options with hostile values: OWNER
    /// without a user or with a bad one, PRIVATE alone, SECONDS at and past
    /// its edges, WITHREAD with WITHROLES, near words.
    #[test]
    fn hostile_moderation_options_get_the_documented_answer(
        (r, a, u, t) in (valid_room(), valid_id(), valid_id(), good_text()),
        options in prop::collection::vec(hostile_option(), 0..4),
        limits in limits(),
    ) {
        let options = options.concat();
        let head = |parts: &[&str]| -> Vec<Vec<u8>> {
            parts.iter().map(|p| p.as_bytes().to_vec()).collect()
        };
        check(Mod::Create, &[head(&[&r, &t]), options.clone()].concat(), &limits)?;
        for cmd in [Mod::Ban, Mod::Mute, Mod::Kick, Mod::Role] {
            check(cmd, &[head(&[&r, &a, &u]), options.clone()].concat(), &limits)?;
        }
        for cmd in [Mod::Members, Mod::Info] {
            check(cmd, &[head(&[&r]), options.clone()].concat(), &limits)?;
        }
        check(Mod::SlowMode, &[head(&[&r, &a]), options].concat(), &limits)?;
    }

    /// Where a vector has none of the new words, the reading of CHAT.CREATE
    /// and CHAT.MEMBERS in `rules` (from before moderation) agrees with
    /// this one.
    #[test]
    fn the_older_readings_agree_without_the_new_words(
        args in prop::collection::vec(prop_oneof![atom(), moderation_atom()], 0..6),
        limits in limits(),
    ) {
        let a: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let new = ["OWNER", "PRIVATE", "WITHROLES"];
        prop_assume!(!a.iter().any(|w| new.iter().any(|n| is_kw(w, n))));
        for (cmd, old) in [(Mod::Create, Cmd::Create), (Mod::Members, Cmd::Members), (Mod::Info, Cmd::Info)] {
            let keep = ["room", "title", "withread"];
            let here = spec_mod(cmd, &a, &limits)
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
    fn long_moderation_vectors_get_the_documented_answer(
        (cmd, args, _) in example(),
        repeated in moderation_word(),
        times in 1usize..600,
        value in prop_oneof![seconds_value(), id()],
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

fn parsed(cmd: Mod, list: &[&str]) -> Result<Parsed, ChatError> {
    let args = words(list);
    let a: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    let limits = Limits::default();
    let got = run(cmd, &a, &limits);
    assert_eq!(got.clone().ok(), spec_mod(cmd, &a, &limits), "{list:?}");
    got
}

/// The edges the documentation names, and its errors.
#[test]
fn the_documented_edges_and_errors() {
    assert_eq!(
        chat_core::request::SANCTION_MAX_SECS,
        SANCTION_MAX_SECS,
        "ten years"
    );
    for (n, ok) in [
        ("0", false),
        ("1", true),
        ("315360000", true),
        ("315360001", false),
    ] {
        for cmd in [Mod::Ban, Mod::Mute] {
            let got = parsed(cmd, &["r", "alice", "bob", "seconds", n]);
            assert_eq!(got.is_ok(), ok, "{cmd:?} SECONDS {n}");
            if !ok {
                assert_eq!(
                    got.unwrap_err().to_string(),
                    format!("ERR SECONDS must be an integer from 1 to 315360000, got '{n}'")
                );
            }
        }
    }
    for (n, ok) in [("0", true), ("3600", true), ("3601", false), ("-1", false)] {
        let got = parsed(Mod::SlowMode, &["r", "alice", n]);
        assert_eq!(got.is_ok(), ok, "SLOWMODE {n}");
        if !ok {
            assert_eq!(
                got.unwrap_err().to_string(),
                format!("ERR seconds must be an integer from 0 to 3600, got '{n}'")
            );
        }
    }
    assert_eq!(
        parsed(Mod::Create, &["lobby", "Lobby", "private"]),
        Err(Refusal::PrivateNeedsOwner.into())
    );
    assert!(parsed(Mod::Create, &["lobby", "Lobby", "PRIVATE"])
        .unwrap_err()
        .to_string()
        .starts_with("ERR PRIVATE needs OWNER"));
    // In any order; an owner may be named PRIVATE.
    for list in [
        &["s", "Staff", "OWNER", "alice", "PRIVATE"][..],
        &["s", "Staff", "private", "owner", "alice"],
        &[
            "s", "Staff", "Private", "OWNER", "bob", "PRIVATE", "owner", "alice",
        ],
    ] {
        let got = parsed(Mod::Create, list).unwrap();
        assert!(
            got.contains(&("owner", V::Ids(vec!["alice".into()]))),
            "{list:?}"
        );
        assert!(got.contains(&("private", V::Flag(true))));
    }
    let got = parsed(Mod::Create, &["s", "S", "OWNER", "PRIVATE"]).unwrap();
    assert!(got.contains(&("owner", V::Ids(vec!["PRIVATE".into()]))));
    assert!(got.contains(&("private", V::Flag(false))));
    assert_eq!(
        parsed(Mod::Create, &["s", "S", "OWNER"]),
        Err(ChatError::Syntax)
    );
    assert_eq!(
        parsed(Mod::Members, &["r", "WITHREAD", "withroles"]),
        Err(ChatError::Syntax)
    );
    assert_eq!(
        parsed(Mod::Info, &["r", "WITHROLES"]),
        Err(ChatError::Syntax)
    );
    assert!(parsed(Mod::Members, &["r", "withroles", "WITHROLES"]).is_ok());
    assert_eq!(
        parsed(Mod::Role, &["r", "alice", "bob", "chief"]),
        Err(ChatError::BadRole)
    );
    for cmd in [Mod::Kick, Mod::Unban, Mod::Unmute, Mod::Invite] {
        assert_eq!(
            parsed(cmd, &["r", "alice", "bob", "SECONDS", "5"]),
            Err(ChatError::WrongArity(name(cmd)))
        );
        assert_eq!(
            parsed(cmd, &["r", "alice"]),
            Err(ChatError::WrongArity(name(cmd)))
        );
    }
}
