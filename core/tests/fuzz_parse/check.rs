//! The checks every parse goes through: a successful parse agrees with the
//! documented rules and stays within the documented limits; a refusal is
//! one short line starting with a Redis error code.

use chat_core::config::Limits;
use chat_core::error::ChatError;
use chat_core::ids::UserId;
use chat_core::password::MAX_PASSWORD_BYTES;
use chat_core::request::{Cursor, BLOCK_MAX_MS, COUNT_MAX, DEDUP_KEY_MAX_BYTES, TTL_MAX_SECS};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::commands::{run, Cmd, Parsed, V};
use crate::rules::{spec, spec_id, spec_reaction, MENTIONS_MAX};

/// The documented limits of each field, checked on a successful parse
/// whatever produced it.
pub(crate) fn within_limits(parsed: &Parsed, limits: &Limits) -> Result<(), TestCaseError> {
    for (field, value) in parsed {
        match (*field, value) {
            (_, V::Id(id)) => prop_assert!(spec_id(id.as_bytes()), "{field} {id:?}"),
            ("text", V::Text(t)) => {
                prop_assert!(!t.is_empty() && t.len() <= limits.max_text_bytes)
            }
            ("name" | "title", V::Text(t)) => prop_assert!(t.len() <= limits.max_text_bytes),
            ("count", V::Int(n)) => prop_assert!((1..=COUNT_MAX as u64).contains(n)),
            ("ttl", V::Int(n)) => prop_assert!(
                (1..=TTL_MAX_SECS as u64).contains(n) || *n == limits.presence_ttl_secs
            ),
            ("message-id", V::Int(n)) | ("reply-to", V::OptInt(Some(n))) => {
                prop_assert!((1..=i64::MAX as u64).contains(n))
            }
            ("after", V::OptInt(Some(n))) => prop_assert!(*n <= i64::MAX as u64),
            ("mentions", V::Ids(users)) => {
                for user in users {
                    prop_assert!(spec_id(user.as_bytes()), "mention {user:?}");
                }
            }
            ("reaction", V::Text(t)) => {
                prop_assert!(spec_reaction(t.as_bytes()).is_some(), "reaction {t:?}")
            }
            ("cursor-id" | "id" | "ts" | "first-kept" | "dedup-until" | "at", V::Int(n)) => {
                prop_assert!(*n <= i64::MAX as u64)
            }
            ("version", V::Int(n)) => prop_assert!((1..=1023).contains(n)),
            ("hash", V::Text(t)) => prop_assert!(t.len() <= 1024),
            ("kind", V::Text(t)) => prop_assert!(t == "room" || t == "user"),
            ("cursor", V::Cur(Cursor::Before(n) | Cursor::After(n))) => {
                prop_assert!(*n <= i64::MAX as u64)
            }
            ("password", V::Bytes(Some(p))) => {
                prop_assert!((1..=MAX_PASSWORD_BYTES).contains(&p.len()))
            }
            ("dedup", V::Bytes(Some(key))) => {
                prop_assert!((1..=DEDUP_KEY_MAX_BYTES).contains(&key.len()))
            }
            ("block", V::Bytes(Some(ms))) => {
                let ms: i64 = std::str::from_utf8(ms).unwrap().parse().unwrap();
                prop_assert!((0..=BLOCK_MAX_MS).contains(&ms))
            }
            ("copies", V::Copies(copies)) => {
                for (member, _, _, length) in copies {
                    prop_assert!(spec_id(member.as_bytes()));
                    prop_assert!(*length <= i64::MAX as u64);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// CHAT.SEND's mentions: each user once, so never more than the most
/// MENTION options a send may carry.
pub(crate) fn mentions_folded(parsed: &Parsed) -> Result<(), TestCaseError> {
    for (field, value) in parsed {
        if let ("mentions", V::Ids(users)) = (*field, value) {
            prop_assert!(users.len() <= MENTIONS_MAX, "{} mentions", users.len());
            for (i, user) in users.iter().enumerate() {
                prop_assert!(!users[..i].contains(user), "{user:?} mentioned twice");
            }
        }
    }
    Ok(())
}

/// An error reply is one short line that starts with a Redis error code, and
/// a parser refuses only for what is wrong with the arguments themselves.
pub(crate) fn check_error(e: &ChatError) -> Result<(), TestCaseError> {
    let text = e.to_string();
    let code = text.split(' ').next().unwrap_or_default();
    prop_assert!(
        matches!(code, "ERR" | "WRONGTYPE" | "NOPERM" | "CROSSSLOT"),
        "error without a code: {text:?}"
    );
    prop_assert!(text.len() > code.len() + 1, "error without words: {text:?}");
    prop_assert!(
        !text.chars().any(char::is_control),
        "control character in an error: {text:?}"
    );
    prop_assert!(text.len() <= 400, "error of {} bytes", text.len());
    prop_assert!(
        !matches!(
            e,
            ChatError::NoSuchRoom
                | ChatError::NoSuchUser
                | ChatError::WrongType(_)
                | ChatError::Internal(_)
                | ChatError::CrossSlot { .. }
        ),
        "a parser answered {e:?}"
    );
    Ok(())
}

pub(crate) fn uid(s: &str) -> UserId<'_> {
    UserId::parse(s.as_bytes()).unwrap()
}

/// Runs `cmd`'s parser on `args` and compares it with the documentation.
pub(crate) fn check_parse(
    cmd: Cmd,
    args: &[Vec<u8>],
    limits: &Limits,
) -> Result<(), TestCaseError> {
    let a: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    let got = run(cmd, &a, limits);
    let want = spec(cmd, &a, limits);
    match (&got, &want) {
        (Ok(got), Some(want)) => {
            prop_assert_eq!(got, want, "{:?} {:?}", cmd, Shown(args));
            within_limits(got, limits)?;
            if cmd == Cmd::Send {
                mentions_folded(got)?;
            }
        }
        (Err(e), None) => check_error(e)?,
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

/// Arguments shown as text where they are, bytes elsewhere, long ones cut.
pub(crate) struct Shown<'a>(pub(crate) &'a [Vec<u8>]);

impl std::fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_list();
        for arg in self.0 {
            let cut = &arg[..arg.len().min(80)];
            let more = if arg.len() > 80 {
                format!("... ({} bytes)", arg.len())
            } else {
                String::new()
            };
            match std::str::from_utf8(cut) {
                Ok(s) => list.entry(&format_args!("{s:?}{more}")),
                Err(_) => list.entry(&format_args!("{cut:?}{more}")),
            };
        }
        list.finish()
    }
}
