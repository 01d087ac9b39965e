//! Module parameters: names, defaults, ranges, and the check of the
//! arguments given to `--loadmodule`.
//!
//! Redis range-checks `CONFIG SET` and config-file values itself, but the
//! module arguments arrive as plain strings before the configs exist, so they
//! are checked here with the same ranges.

/// One numeric module parameter, exposed as `chat.<name>`.
#[derive(Debug, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    pub default: i64,
    pub min: i64,
    pub max: i64,
}

pub const MAX_TEXT_BYTES: Param = Param {
    name: "max-text-bytes",
    default: 16_384,
    min: 1,
    max: 16 * 1024 * 1024,
};
pub const HISTORY_MAX: Param = Param {
    name: "history-max",
    default: 10_000,
    min: 1,
    max: 1_000_000_000,
};
pub const INBOX_MAX: Param = Param {
    name: "inbox-max",
    default: 1_000,
    min: 1,
    max: 1_000_000_000,
};
pub const PRESENCE_TTL: Param = Param {
    name: "presence-ttl",
    default: 60,
    min: 1,
    max: 86_400,
};
pub const DEDUP_WINDOW: Param = Param {
    name: "dedup-window",
    default: 300,
    min: 1,
    max: 7 * 86_400,
};

pub const FANOUT_MAX_MEMBERS: Param = Param {
    name: "fanout-max-members",
    default: 500,
    min: 1,
    max: 1_000_000_000,
};
/// Seconds a message stays in a room's history; 0 keeps it until the
/// history is full.
pub const HISTORY_MAX_AGE: Param = Param {
    name: "history-max-age",
    default: 0,
    min: 0,
    max: 100 * 365 * 86_400,
};

/// The most members a room may have; CHAT.SUBSCRIBE and CHAT.DM refuse more.
pub const MAX_MEMBERS: Param = Param {
    name: "max-members",
    default: 10_000,
    min: 1,
    max: 1_000_000_000,
};
/// The most rooms a user may be a member of.
pub const MAX_ROOMS_PER_USER: Param = Param {
    name: "max-rooms-per-user",
    default: 10_000,
    min: 1,
    max: 1_000_000_000,
};
/// Threads that hash and check passwords, away from Redis's main thread.
/// Read at load only: each thread holds up to 19 MiB while it hashes.
pub const PASSWORD_THREADS: Param = Param {
    name: "password-threads",
    default: 1,
    min: 1,
    max: 64,
};

/// Messages a user may send per second (a token bucket per user, kept by
/// each primary); 0 turns the limit off.
pub const SEND_RATE: Param = Param {
    name: "send-rate",
    default: 0,
    min: 0,
    max: 1_000_000,
};
/// How many messages a user may send at once before `chat.send-rate`
/// holds them back; 0 is the rate itself.
pub const SEND_BURST: Param = Param {
    name: "send-burst",
    default: 0,
    min: 0,
    max: 1_000_000,
};

/// The most notifications a stream keeps for the notification worker
/// (`chat:notify`, one per slot in Redis Cluster); the oldest go first. 0
/// records none.
pub const NOTIFY_MAX: Param = Param {
    name: "notify-max",
    default: 100_000,
    min: 0,
    max: 1_000_000_000,
};

/// A module parameter whose value is a word: one of `choices`, or any text
/// when `choices` is empty.
#[derive(Debug, PartialEq, Eq)]
pub struct Word {
    pub name: &'static str,
    pub default: &'static str,
    pub choices: &'static [&'static str],
}

/// Who a connection may act as: `trust` (any user: the app server is the
/// only client) or `acl` (only the chat user named like its ACL user).
pub const IDENTITY: Word = Word {
    name: "identity",
    default: "trust",
    choices: &["trust", "acl"],
};
/// ACL users that may act as any chat user when `chat.identity` is `acl`,
/// separated by commas or spaces (as a `--loadmodule` argument, where
/// spaces separate arguments, by commas).
pub const ADMINS: Word = Word {
    name: "admins",
    default: "",
    choices: &[],
};

/// How `chat.identity` binds connections to chat users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    Trust,
    Acl,
}

/// Whether `acl_user` is listed in the `chat.admins` value `admins`.
pub fn is_admin(admins: &str, acl_user: &str) -> bool {
    admins
        .split([' ', ','])
        .any(|name| !name.is_empty() && name == acl_user)
}

pub const PARAMS: [&Param; 13] = [
    &MAX_TEXT_BYTES,
    &HISTORY_MAX,
    &INBOX_MAX,
    &PRESENCE_TTL,
    &DEDUP_WINDOW,
    &FANOUT_MAX_MEMBERS,
    &HISTORY_MAX_AGE,
    &MAX_MEMBERS,
    &MAX_ROOMS_PER_USER,
    &PASSWORD_THREADS,
    &SEND_RATE,
    &SEND_BURST,
    &NOTIFY_MAX,
];
pub const WORDS: [&Word; 2] = [&IDENTITY, &ADMINS];

/// The limits one command runs under, read from the configs once per command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_text_bytes: usize,
    pub history_max: u64,
    pub inbox_max: u64,
    pub presence_ttl_secs: u64,
    pub dedup_window_secs: u64,
    /// A room with more members than this is a broadcast room.
    pub fanout_max_members: u64,
    /// 0: no age limit.
    pub history_max_age_secs: u64,
    pub max_members: u64,
    pub max_rooms_per_user: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_text_bytes: MAX_TEXT_BYTES.default as usize,
            history_max: HISTORY_MAX.default as u64,
            inbox_max: INBOX_MAX.default as u64,
            presence_ttl_secs: PRESENCE_TTL.default as u64,
            dedup_window_secs: DEDUP_WINDOW.default as u64,
            fanout_max_members: FANOUT_MAX_MEMBERS.default as u64,
            history_max_age_secs: HISTORY_MAX_AGE.default as u64,
            max_members: MAX_MEMBERS.default as u64,
            max_rooms_per_user: MAX_ROOMS_PER_USER.default as u64,
        }
    }
}

/// A value given at load.
#[derive(Debug, PartialEq, Eq)]
pub enum Setting {
    Int(&'static Param, i64),
    Word(&'static Word, String),
}

/// Checks the `--loadmodule` arguments (`name value` pairs, names as in
/// [`PARAMS`] and [`WORDS`], case-insensitive) and returns each setting.
/// The error is one log line that names the offending parameter.
pub fn parse_module_args(args: &[&[u8]]) -> Result<Vec<Setting>, String> {
    if !args.len().is_multiple_of(2) {
        return Err(format!(
            "module arguments must be name value pairs, got {} argument(s)",
            args.len()
        ));
    }
    let mut out = Vec::new();
    for pair in args.chunks(2) {
        let [name, value] = pair else { continue };
        // Errors become one log line: no control characters from the input.
        let one_line = |bytes: &[u8]| -> String {
            String::from_utf8_lossy(bytes)
                .chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect()
        };
        let (name, value) = (one_line(name), one_line(value));
        if let Some(param) = PARAMS.iter().find(|p| p.name.eq_ignore_ascii_case(&name)) {
            let n = value
                .parse::<i64>()
                .ok()
                .filter(|v| (param.min..=param.max).contains(v))
                .ok_or_else(|| {
                    format!(
                        "invalid value '{value}' for module argument '{}': use an integer from {} to {}",
                        param.name, param.min, param.max
                    )
                })?;
            out.push(Setting::Int(param, n));
        } else if let Some(word) = WORDS.iter().find(|w| w.name.eq_ignore_ascii_case(&name)) {
            let value = if word.choices.is_empty() {
                value.clone()
            } else {
                let lower = value.to_ascii_lowercase();
                if !word.choices.contains(&lower.as_str()) {
                    return Err(format!(
                        "invalid value '{value}' for module argument '{}': use {}",
                        word.name,
                        word.choices.join(" or ")
                    ));
                }
                lower
            };
            out.push(Setting::Word(word, value));
        } else {
            let known: Vec<&str> = PARAMS
                .iter()
                .map(|p| p.name)
                .chain(WORDS.iter().map(|w| w.name))
                .collect();
            return Err(format!(
                "unknown module argument '{name}' (known: {})",
                known.join(", ")
            ));
        }
    }
    Ok(out)
}

/// Whether Redis's `maxmemory-policy` may evict chat keys: an `allkeys-*`
/// policy evicts any key. `noeviction` refuses writes instead, and the
/// `volatile-*` policies evict only keys with a TTL, which chat keys never
/// have.
pub fn eviction_is_unsafe(policy: &str) -> bool {
    policy
        .trim()
        .get(..8)
        .is_some_and(|head| head.eq_ignore_ascii_case("allkeys-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allkeys_policies_can_evict_chat_keys() {
        for policy in ["allkeys-lru", "allkeys-lfu", "ALLKEYS-random"] {
            assert!(eviction_is_unsafe(policy), "{policy}");
        }
        for policy in [
            "noeviction",
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
            "",
            "allkeys",
        ] {
            assert!(!eviction_is_unsafe(policy), "{policy}");
        }
    }

    #[test]
    fn admins_are_listed_by_exact_name() {
        assert!(is_admin("app, ops", "ops"));
        assert!(is_admin("app ops", "app"));
        assert!(!is_admin("app ops", "ap"));
        assert!(!is_admin("", ""));
        assert!(!is_admin("app", "default"));
    }

    #[test]
    fn defaults_are_inside_their_ranges() {
        for p in PARAMS {
            assert!((p.min..=p.max).contains(&p.default), "{}", p.name);
        }
    }

    #[test]
    fn good_arguments_are_returned_in_order() {
        let args: Vec<&[u8]> = vec![
            b"history-max",
            b"5",
            b"PRESENCE-TTL",
            b"30",
            b"identity",
            b"ACL",
            b"admins",
            b"app ops",
        ];
        let parsed = parse_module_args(&args).unwrap();
        assert_eq!(
            parsed,
            vec![
                Setting::Int(&HISTORY_MAX, 5),
                Setting::Int(&PRESENCE_TTL, 30),
                Setting::Word(&IDENTITY, "acl".into()),
                Setting::Word(&ADMINS, "app ops".into()),
            ]
        );
        assert_eq!(parse_module_args(&[]).unwrap(), vec![]);
    }

    #[test]
    fn bad_arguments_name_the_parameter() {
        let cases: Vec<(Vec<&[u8]>, &str)> = vec![
            (vec![b"history-max"], "name value pairs"),
            (vec![b"nope", b"1"], "unknown module argument 'nope'"),
            (vec![b"inbox-max", b"0"], "'inbox-max'"),
            (vec![b"presence-ttl", b"86401"], "'presence-ttl'"),
            (vec![b"max-text-bytes", b"ten"], "'max-text-bytes'"),
            (vec![b"dedup-window", b"0"], "'dedup-window'"),
            (
                vec![b"replicate-effects", b"yes"],
                "unknown module argument 'replicate-effects'",
            ),
            (vec![b"identity", b"open"], "'identity': use trust or acl"),
            (vec![b"history-max", b"1\n2"], "invalid value '1?2'"),
        ];
        for (args, expected) in cases {
            let err = parse_module_args(&args).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
    }
}
