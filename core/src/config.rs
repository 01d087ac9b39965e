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

/// One yes/no module parameter, exposed as `chat.<name>`.
#[derive(Debug, PartialEq, Eq)]
pub struct Flag {
    pub name: &'static str,
    pub default: bool,
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

/// `yes`: CHAT.SEND reaches replicas and the AOF as the plain Redis writes it
/// made, which a server without the module can apply. `no` (default): as one
/// CHAT.SEND-RESOLVED command, which costs far less per member.
pub const REPLICATE_EFFECTS: Flag = Flag {
    name: "replicate-effects",
    default: false,
};

pub const PARAMS: [&Param; 7] = [
    &MAX_TEXT_BYTES,
    &HISTORY_MAX,
    &INBOX_MAX,
    &PRESENCE_TTL,
    &DEDUP_WINDOW,
    &FANOUT_MAX_MEMBERS,
    &HISTORY_MAX_AGE,
];
pub const FLAGS: [&Flag; 1] = [&REPLICATE_EFFECTS];

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
    pub replicate_effects: bool,
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
            replicate_effects: REPLICATE_EFFECTS.default,
        }
    }
}

/// A value given at load.
#[derive(Debug, PartialEq, Eq)]
pub enum Setting {
    Int(&'static Param, i64),
    Flag(&'static Flag, bool),
}

/// Checks the `--loadmodule` arguments (`name value` pairs, names as in
/// [`PARAMS`] and [`FLAGS`], case-insensitive) and returns each setting.
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
        let name = String::from_utf8_lossy(name);
        let value = String::from_utf8_lossy(value);
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
        } else if let Some(flag) = FLAGS.iter().find(|f| f.name.eq_ignore_ascii_case(&name)) {
            let on = match value.to_ascii_lowercase().as_str() {
                "yes" => true,
                "no" => false,
                _ => {
                    return Err(format!(
                        "invalid value '{value}' for module argument '{}': use yes or no",
                        flag.name
                    ))
                }
            };
            out.push(Setting::Flag(flag, on));
        } else {
            let known: Vec<&str> = PARAMS
                .iter()
                .map(|p| p.name)
                .chain(FLAGS.iter().map(|f| f.name))
                .collect();
            return Err(format!(
                "unknown module argument '{name}' (known: {})",
                known.join(", ")
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            b"replicate-effects",
            b"YES",
        ];
        let parsed = parse_module_args(&args).unwrap();
        assert_eq!(
            parsed,
            vec![
                Setting::Int(&HISTORY_MAX, 5),
                Setting::Int(&PRESENCE_TTL, 30),
                Setting::Flag(&REPLICATE_EFFECTS, true)
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
                vec![b"replicate-effects", b"maybe"],
                "'replicate-effects': use yes or no",
            ),
        ];
        for (args, expected) in cases {
            let err = parse_module_args(&args).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
    }
}
