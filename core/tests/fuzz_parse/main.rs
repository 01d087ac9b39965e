//! Hostile input for every command's argument parser.
//!
//! Random argument vectors (random bytes, ids valid and invalid, huge,
//! negative and junk-laden numbers, option keywords in any case, missing,
//! repeated and unknown options, empty strings, non-UTF-8, long arguments,
//! reactions valid and invalid) go through each parser of `chat_core::request` and of the internal
//! commands in `chat_core::replay`. Properties:
//!
//! * no parser panics;
//! * a parse agrees with an independent reading of docs/commands.md (the
//!   `spec_*` functions of `rules`): it succeeds exactly when the documentation
//!   says the arguments are valid, with the values it says, and those values
//!   are within the documented limits;
//! * a refusal is a `ChatError` whose text is one short line starting with a
//!   Redis error code;
//! * a vector built from valid values, options in any order and case, parses
//!   back to those values.
//!
//! The same goes, more briefly, for the `--loadmodule` arguments, for the
//! pub/sub channel names and cluster slots of ids, and for the message
//! documents of `chat_core::message`.
//!
//! Each property runs a bounded number of cases (`PROPTEST_CASES` overrides
//! it); proptest prints the smallest failing input it finds.
//!
//! The target's modules:
//!
//! * `rules`: the documented rules, written again from docs/commands.md,
//!   and what they make of an argument vector;
//! * `commands`: the commands, their parsers, and one shape for every
//!   parser's result;
//! * `check`: the comparison of a parse with the rules, and of a refusal
//!   with what an error reply must be;
//! * `generators`: the arguments of every kind that the properties draw;
//! * `examples`: well-formed vectors with what each must parse to, and the
//!   mutations that take them near valid;
//! * `conversations`: the well-formed vectors of CHAT.SEND with its options,
//!   of CHAT.SEND-RESOLVED, and of threads, reactions, pins and mentions;
//!   and the cases at the edges of their limits;
//! * `moderation`: the grammars of CHAT.CREATE's OWNER and PRIVATE,
//!   CHAT.MEMBERS's WITHROLES, CHAT.ROLE, CHAT.INVITE, CHAT.INVITES,
//!   CHAT.KICK, CHAT.BAN, CHAT.UNBAN, CHAT.MUTE, CHAT.UNMUTE and
//!   CHAT.SLOWMODE, written again, with their own generators and
//!   properties;
//! * `presence`: the grammars of CHAT.ONLINE's `TTL` and `DEVICE`,
//!   CHAT.OFFLINE's `DEVICE`, CHAT.CHANNELS's `PRESENCE` and CHAT.NOTIFY,
//!   written again, with their own generators and properties;
//! * `parsers`: the properties of every command's parser and of the
//!   argument helpers;
//! * `values`: direct room ids, what CHAT.SEND propagates, and message
//!   documents;
//! * `channels`: pub/sub channel names and cluster slots;
//! * `module_args`: the `--loadmodule` arguments.

mod channels;
mod check;
mod commands;
mod conversations;
mod examples;
mod generators;
mod moderation;
mod module_args;
mod parsers;
mod presence;
mod rules;
mod values;

use proptest::prelude::*;

/// Cases per property; the whole target stays within a few seconds in release.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}
