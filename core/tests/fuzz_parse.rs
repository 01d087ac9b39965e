//! Hostile input for every command's argument parser.
//!
//! Random argument vectors (random bytes, ids valid and invalid, huge,
//! negative and junk-laden numbers, option keywords in any case, missing,
//! repeated and unknown options, empty strings, non-UTF-8, long arguments)
//! go through each parser of `chat_core::request` and of the internal
//! commands in `chat_core::replay`. Properties:
//!
//! * no parser panics;
//! * a parse agrees with an independent reading of docs/commands.md (the
//!   `spec_*` functions below): it succeeds exactly when the documentation
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

use chat_core::channels::{
    hash_tag, room_channel, slot, slot_of_id, user_channel, write_user_channel,
};
use chat_core::config::{parse_module_args, Limits, Setting, PARAMS, WORDS};
use chat_core::delivery::DeliveryId;
use chat_core::error::ChatError;
use chat_core::ids::{direct_room, is_direct_room, tag_of, RoomId, UserId, MAX_ID_BYTES};
use chat_core::message::Message;
use chat_core::parse::{parse_int_in, Args};
use chat_core::password::MAX_PASSWORD_BYTES;
use chat_core::replay::{
    push_inbox_copy, At, ResolvedSend, RestoreValue, SetPassword, TrimResolved, ValueKind,
};
use chat_core::request::{
    parse_room, parse_user, Ack, Auth, Change, Create, Cursor, Direct, Fetch, History, Members,
    Membership, Online, Passwd, Read, Register, Send, BLOCK_MAX_MS, COUNT_MAX, DEDUP_KEY_MAX_BYTES,
    FETCH_COUNT_DEFAULT, HISTORY_COUNT_DEFAULT, TTL_MAX_SECS,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Cases per property; the whole file stays within a few seconds in release.
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

// ---------------------------------------------------------------------------
// The documented rules, written again from docs/commands.md.

/// `A-Z a-z 0-9 _ . : @ -`
fn id_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_.:@-".contains(&b)
}

fn id_part(part: &[u8]) -> bool {
    !part.is_empty() && part.iter().all(|&b| id_char(b))
}

/// 1 to 128 bytes of the id charset, optionally starting with a `{tag}`.
fn spec_id(bytes: &[u8]) -> bool {
    if bytes.is_empty() || bytes.len() > MAX_ID_BYTES {
        return false;
    }
    match bytes.strip_prefix(b"{") {
        Some(after) => match after.iter().position(|&b| b == b'}') {
            Some(close) => id_part(&after[..close]) && id_part(&after[close + 1..]),
            None => false,
        },
        None => id_part(bytes),
    }
}

/// Ids of the form CHAT.DM makes: `dm:...` or `{tag}dm:...`.
fn spec_direct(id: &[u8]) -> bool {
    let rest = match id.strip_prefix(b"{") {
        Some(after) => match after.iter().position(|&b| b == b'}') {
            Some(close) => &after[close + 1..],
            None => return false,
        },
        None => id,
    };
    rest.starts_with(b"dm:")
}

/// A decimal integer (an optional `-`, then digits) in `min..=max`.
fn spec_int(bytes: &[u8], min: i64, max: i64) -> Option<i64> {
    let (negative, digits) = match bytes.strip_prefix(b"-") {
        Some(d) => (true, d),
        None => (false, bytes),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let significant = match digits.iter().position(|&b| b != b'0') {
        Some(first) => &digits[first..],
        None => b"0",
    };
    if significant.len() > 19 {
        return None;
    }
    let magnitude = significant
        .iter()
        .fold(0i128, |n, &d| n * 10 + i128::from(d - b'0'));
    let n = if negative { -magnitude } else { magnitude };
    (i128::from(min)..=i128::from(max))
        .contains(&n)
        .then_some(n as i64)
}

/// `<digits>-<digits>`, each part a 64-bit unsigned number.
fn spec_delivery(bytes: &[u8]) -> Option<(u64, u64)> {
    let dash = bytes.iter().position(|&b| b == b'-')?;
    let part = |p: &[u8]| -> Option<u64> {
        if p.is_empty() || !p.iter().all(u8::is_ascii_digit) {
            return None;
        }
        p.iter().try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
    };
    Some((part(&bytes[..dash])?, part(&bytes[dash + 1..])?))
}

/// Valid UTF-8 of at most `max` bytes (and at least one when `non_empty`).
fn spec_text(bytes: &[u8], max: usize, non_empty: bool) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?;
    (text.len() <= max && !(non_empty && text.is_empty())).then(|| text.to_string())
}

/// A password to set: 1 to 1024 bytes, any bytes.
fn spec_password(bytes: &[u8]) -> Option<Vec<u8>> {
    (1..=MAX_PASSWORD_BYTES)
        .contains(&bytes.len())
        .then(|| bytes.to_vec())
}

fn is_kw(arg: &[u8], keyword: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword.as_bytes())
}

// ---------------------------------------------------------------------------
// One shape for every parser's result, so that the parsers and the rules above
// can be compared field by field.

#[derive(Debug, Clone, PartialEq, Eq)]
enum V {
    Id(String),
    Text(String),
    Int(u64),
    Bytes(Option<Vec<u8>>),
    Flag(bool),
    Cur(Cursor),
    /// (member, delivery ms, delivery seq, inbox length)
    Copies(Vec<(String, u64, u64, u64)>),
    /// Arguments passed on as they are.
    List(Vec<Vec<u8>>),
}

type Parsed = Vec<(&'static str, V)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Register,
    Auth,
    Passwd,
    Profile,
    Create,
    Info,
    Subscribe,
    Unsubscribe,
    Members,
    Rooms,
    Send,
    SendResolved,
    History,
    Counts,
    Fetch,
    Ack,
    Online,
    Offline,
    Presence,
    Read,
    Unread,
    Typing,
    Edit,
    Delete,
    Channels,
    Dm,
    Drop,
    Unregister,
    At,
    SetPassword,
    TrimResolved,
    RestoreValue,
}

const ALL: [Cmd; 32] = [
    Cmd::Register,
    Cmd::Auth,
    Cmd::Passwd,
    Cmd::Profile,
    Cmd::Create,
    Cmd::Info,
    Cmd::Subscribe,
    Cmd::Unsubscribe,
    Cmd::Members,
    Cmd::Rooms,
    Cmd::Send,
    Cmd::SendResolved,
    Cmd::History,
    Cmd::Counts,
    Cmd::Fetch,
    Cmd::Ack,
    Cmd::Online,
    Cmd::Offline,
    Cmd::Presence,
    Cmd::Read,
    Cmd::Unread,
    Cmd::Typing,
    Cmd::Edit,
    Cmd::Delete,
    Cmd::Channels,
    Cmd::Dm,
    Cmd::Drop,
    Cmd::Unregister,
    Cmd::At,
    Cmd::SetPassword,
    Cmd::TrimResolved,
    Cmd::RestoreValue,
];

fn room(r: RoomId) -> V {
    V::Id(r.as_str().to_string())
}

fn user(u: UserId) -> V {
    V::Id(u.as_str().to_string())
}

/// The parser the module runs for `cmd` (src/commands), its result in the
/// common shape.
fn run(cmd: Cmd, a: &[&[u8]], limits: &Limits) -> Result<Parsed, ChatError> {
    use V::*;
    Ok(match cmd {
        Cmd::Register => {
            let r = Register::parse(a, limits)?;
            vec![
                ("user", user(r.user)),
                ("name", Text(r.name.to_string())),
                ("password", Bytes(r.password.map(<[u8]>::to_vec))),
            ]
        }
        Cmd::Auth => {
            let r = Auth::parse(a)?;
            vec![
                ("user", user(r.user)),
                ("any-password", Bytes(Some(r.password.to_vec()))),
            ]
        }
        Cmd::Passwd => {
            let r = Passwd::parse(a)?;
            vec![
                ("user", user(r.user)),
                ("any-password", Bytes(Some(r.old.to_vec()))),
                ("password", Bytes(Some(r.new.to_vec()))),
            ]
        }
        Cmd::Create => {
            let r = Create::parse(a, limits)?;
            vec![("room", room(r.room)), ("title", Text(r.title.to_string()))]
        }
        Cmd::Info | Cmd::Members => {
            let r = if cmd == Cmd::Info {
                Members::parse_info(a)?
            } else {
                Members::parse(a)?
            };
            vec![("room", room(r.room)), ("withread", Flag(r.with_read))]
        }
        Cmd::Counts | Cmd::Presence | Cmd::Drop => {
            vec![("room", room(parse_room(name(cmd), a)?))]
        }
        Cmd::Profile
        | Cmd::Rooms
        | Cmd::Offline
        | Cmd::Unread
        | Cmd::Channels
        | Cmd::Unregister => vec![("user", user(parse_user(name(cmd), a)?))],
        Cmd::Subscribe | Cmd::Unsubscribe | Cmd::Typing => {
            let r = Membership::parse(name(cmd), a)?;
            vec![("room", room(r.room)), ("user", user(r.user))]
        }
        Cmd::Send => {
            let r = Send::parse(a, limits)?;
            vec![
                ("room", room(r.room)),
                ("user", user(r.sender)),
                ("text", Text(r.text.to_string())),
                ("dedup", Bytes(r.dedup.map(<[u8]>::to_vec))),
            ]
        }
        Cmd::SendResolved => {
            let r = ResolvedSend::parse(a)?;
            let copies = r
                .inbox_copies
                .iter()
                .map(|c| {
                    (
                        c.member.as_str().to_string(),
                        c.delivery.ms,
                        c.delivery.seq,
                        c.inbox_length,
                    )
                })
                .collect();
            let mut out = vec![
                ("room", room(r.room)),
                ("user", user(r.sender)),
                ("anytext", Text(r.text.to_string())),
                ("id", Int(r.id)),
                ("ts", Int(r.ts as u64)),
                ("first-kept", Int(r.first_kept)),
                ("copies", Copies(copies)),
            ];
            if let Some((key, until)) = r.dedup {
                out.push(("dedup-key", Bytes(Some(key.to_vec()))));
                out.push(("dedup-until", Int(until as u64)));
            }
            out
        }
        Cmd::History => {
            let r = History::parse(a)?;
            vec![
                ("room", room(r.room)),
                ("cursor", Cur(r.cursor)),
                ("count", Int(r.count as u64)),
            ]
        }
        Cmd::Fetch => {
            let r = Fetch::parse(a)?;
            vec![
                ("user", user(r.user)),
                ("count", Int(r.count as u64)),
                (
                    "block",
                    Bytes(r.block_ms.map(|ms| ms.to_string().into_bytes())),
                ),
            ]
        }
        Cmd::Ack => {
            let r = Ack::parse(a)?;
            vec![
                ("user", user(r.user)),
                ("delivery-ms", Int(r.delivery.ms)),
                ("delivery-seq", Int(r.delivery.seq)),
            ]
        }
        Cmd::Online => {
            let r = Online::parse(a, limits)?;
            vec![("user", user(r.user)), ("ttl", Int(r.ttl_secs))]
        }
        Cmd::Read => {
            let r = Read::parse(a)?;
            vec![
                ("room", room(r.room)),
                ("user", user(r.user)),
                ("cursor-id", Int(r.id)),
            ]
        }
        Cmd::Edit | Cmd::Delete => {
            let r = if cmd == Cmd::Edit {
                Change::parse_edit(a, limits)?
            } else {
                Change::parse_delete(a)?
            };
            let mut out = vec![
                ("room", room(r.room)),
                ("user", user(r.user)),
                ("message-id", Int(r.id)),
            ];
            if let Some(text) = r.text {
                out.push(("text", Text(text.to_string())));
            }
            out
        }
        Cmd::Dm => {
            let r = Direct::parse(a)?;
            vec![("user", user(r.a)), ("user", user(r.b))]
        }
        Cmd::At => {
            let r = At::parse(a)?;
            vec![
                ("at", Int(r.at as u64)),
                ("command", Bytes(Some(r.command.to_vec()))),
                ("args", List(r.args.iter().map(|a| a.to_vec()).collect())),
            ]
        }
        Cmd::SetPassword => {
            let r = SetPassword::parse(a)?;
            vec![("user", user(r.user)), ("hash", Text(r.hash.to_string()))]
        }
        Cmd::TrimResolved => {
            let r = TrimResolved::parse(a)?;
            vec![("room", room(r.room)), ("first-kept", Int(r.first_kept))]
        }
        Cmd::RestoreValue => {
            let r = RestoreValue::parse(a)?;
            let kind = match r.kind {
                ValueKind::Room => "room",
                ValueKind::User => "user",
            };
            vec![
                ("key", Bytes(Some(r.key.to_vec()))),
                ("kind", Text(kind.to_string())),
                ("version", Int(r.version as u64)),
                ("bytes", Bytes(Some(r.bytes.to_vec()))),
            ]
        }
    })
}

fn name(cmd: Cmd) -> &'static str {
    match cmd {
        Cmd::Register => "chat.register",
        Cmd::Auth => "chat.auth",
        Cmd::Passwd => "chat.passwd",
        Cmd::Profile => "chat.profile",
        Cmd::Create => "chat.create",
        Cmd::Info => "chat.info",
        Cmd::Subscribe => "chat.subscribe",
        Cmd::Unsubscribe => "chat.unsubscribe",
        Cmd::Members => "chat.members",
        Cmd::Rooms => "chat.rooms",
        Cmd::Send => "chat.send",
        Cmd::SendResolved => "chat.send-resolved",
        Cmd::History => "chat.history",
        Cmd::Counts => "chat.counts",
        Cmd::Fetch => "chat.fetch",
        Cmd::Ack => "chat.ack",
        Cmd::Online => "chat.online",
        Cmd::Offline => "chat.offline",
        Cmd::Presence => "chat.presence",
        Cmd::Read => "chat.read",
        Cmd::Unread => "chat.unread",
        Cmd::Typing => "chat.typing",
        Cmd::Edit => "chat.edit",
        Cmd::Delete => "chat.delete",
        Cmd::Channels => "chat.channels",
        Cmd::Dm => "chat.dm",
        Cmd::Drop => "chat.drop",
        Cmd::Unregister => "chat.unregister",
        Cmd::At => "chat.at",
        Cmd::SetPassword => "chat.set-password",
        Cmd::TrimResolved => "chat.trim-resolved",
        Cmd::RestoreValue => "chat.restore-value",
    }
}

fn sid(bytes: &[u8]) -> Option<V> {
    spec_id(bytes).then(|| V::Id(String::from_utf8(bytes.to_vec()).unwrap()))
}

fn exactly<'a, const N: usize>(a: &[&'a [u8]]) -> Option<[&'a [u8]; N]> {
    a.try_into().ok()
}

/// What docs/commands.md says `cmd` makes of `a`: `None` for a refusal.
fn spec(cmd: Cmd, a: &[&[u8]], limits: &Limits) -> Option<Parsed> {
    use V::*;
    let max = limits.max_text_bytes;
    match cmd {
        Cmd::Register => {
            let [u, n] = exactly(a.get(..2)?)?;
            // At most one PASSWORD, of 1 to 1024 bytes.
            let password = match &a[2..] {
                [] => None,
                [option, value] if is_kw(option, "PASSWORD") => Some(spec_password(value)?),
                _ => return None,
            };
            Some(vec![
                ("user", sid(u)?),
                ("name", Text(spec_text(n, max, false)?)),
                ("password", Bytes(password)),
            ])
        }
        Cmd::Auth => {
            let [u, password] = exactly(a)?;
            // A password longer than any that can be set fails at once.
            if password.len() > MAX_PASSWORD_BYTES {
                return None;
            }
            Some(vec![
                ("user", sid(u)?),
                ("any-password", Bytes(Some(password.to_vec()))),
            ])
        }
        Cmd::Passwd => {
            let [u, old, new] = exactly(a)?;
            if old.len() > MAX_PASSWORD_BYTES {
                return None;
            }
            Some(vec![
                ("user", sid(u)?),
                ("any-password", Bytes(Some(old.to_vec()))),
                ("password", Bytes(Some(spec_password(new)?))),
            ])
        }
        Cmd::Create => {
            let [r, t] = exactly(a)?;
            if spec_direct(r) {
                return None;
            }
            Some(vec![
                ("room", sid(r)?),
                ("title", Text(spec_text(t, max, false)?)),
            ])
        }
        Cmd::Info | Cmd::Members => {
            let (r, options) = a.split_first()?;
            if !options.iter().all(|o| is_kw(o, "WITHREAD")) {
                return None;
            }
            Some(vec![
                ("room", sid(r)?),
                ("withread", Flag(!options.is_empty())),
            ])
        }
        Cmd::Counts | Cmd::Presence | Cmd::Drop => {
            let [r] = exactly(a)?;
            Some(vec![("room", sid(r)?)])
        }
        Cmd::Profile
        | Cmd::Rooms
        | Cmd::Offline
        | Cmd::Unread
        | Cmd::Channels
        | Cmd::Unregister => {
            let [u] = exactly(a)?;
            Some(vec![("user", sid(u)?)])
        }
        Cmd::Subscribe | Cmd::Unsubscribe | Cmd::Typing => {
            let [r, u] = exactly(a)?;
            Some(vec![("room", sid(r)?), ("user", sid(u)?)])
        }
        Cmd::Send => {
            let [r, u, t] = exactly(a.get(..3)?)?;
            let mut dedup = None;
            let mut rest = &a[3..];
            while let Some((option, after)) = rest.split_first() {
                if !is_kw(option, "DEDUP") {
                    return None;
                }
                let (key, after) = after.split_first()?;
                if key.is_empty() || key.len() > DEDUP_KEY_MAX_BYTES {
                    return None;
                }
                dedup = Some(key.to_vec());
                rest = after;
            }
            Some(vec![
                ("room", sid(r)?),
                ("user", sid(u)?),
                ("text", Text(spec_text(t, max, true)?)),
                ("dedup", Bytes(dedup)),
            ])
        }
        Cmd::SendResolved => {
            // Seven arguments, or nine with a DEDUP key (any bytes: the
            // primary checked it) and the time it is forgotten from.
            let (dedup, a) = match a.len() {
                7 => (None, a),
                9 => (Some((a[7], a[8])), &a[..7]),
                _ => return None,
            };
            let [r, u, t, id, ts, first, copies] = exactly(a)?;
            let int = |b| spec_int(b, 0, i64::MAX).map(|n| Int(n as u64));
            let mut parsed = Vec::new();
            for copy in copies.split(|&b| b == b';').filter(|c| !c.is_empty()) {
                let parts: Vec<&[u8]> = copy.split(|&b| b == b',').collect();
                let [member, delivery, length] = exactly(&parts)?;
                spec_id(member).then_some(())?;
                let (ms, seq) = spec_delivery(delivery)?;
                let length = spec_int(length, 0, i64::MAX)? as u64;
                parsed.push((String::from_utf8(member.to_vec()).ok()?, ms, seq, length));
            }
            let mut out = vec![
                ("room", sid(r)?),
                ("user", sid(u)?),
                ("anytext", Text(spec_text(t, usize::MAX, false)?)),
                ("id", int(id)?),
                ("ts", int(ts)?),
                ("first-kept", int(first)?),
                ("copies", Copies(parsed)),
            ];
            if let Some((key, until)) = dedup {
                out.push(("dedup-key", Bytes(Some(key.to_vec()))));
                out.push(("dedup-until", int(until)?));
            }
            Some(out)
        }
        Cmd::History => {
            let (r, mut rest) = a.split_first()?;
            let mut cursor = Cursor::Latest;
            let mut count = HISTORY_COUNT_DEFAULT;
            while let Some((option, after)) = rest.split_first() {
                let (value, after) = after.split_first()?;
                if is_kw(option, "COUNT") {
                    count = spec_int(value, 1, COUNT_MAX)?;
                } else if is_kw(option, "BEFORE") {
                    let id = spec_int(value, 0, i64::MAX)? as u64;
                    cursor = match cursor {
                        Cursor::After(_) => return None,
                        _ => Cursor::Before(id),
                    };
                } else if is_kw(option, "AFTER") {
                    let id = spec_int(value, 0, i64::MAX)? as u64;
                    cursor = match cursor {
                        Cursor::Before(_) => return None,
                        _ => Cursor::After(id),
                    };
                } else {
                    return None;
                }
                rest = after;
            }
            Some(vec![
                ("room", sid(r)?),
                ("cursor", Cur(cursor)),
                ("count", Int(count as u64)),
            ])
        }
        Cmd::Fetch => {
            let (u, mut rest) = a.split_first()?;
            let mut count = FETCH_COUNT_DEFAULT;
            let mut block = None;
            while let Some((option, after)) = rest.split_first() {
                let (value, after) = after.split_first()?;
                if is_kw(option, "COUNT") {
                    count = spec_int(value, 1, COUNT_MAX)?;
                } else if is_kw(option, "BLOCK") {
                    block = Some(spec_int(value, 0, BLOCK_MAX_MS)?);
                } else {
                    return None;
                }
                rest = after;
            }
            Some(vec![
                ("user", sid(u)?),
                ("count", Int(count as u64)),
                ("block", Bytes(block.map(|ms| ms.to_string().into_bytes()))),
            ])
        }
        Cmd::Ack => {
            let [u, d] = exactly(a)?;
            let (ms, seq) = spec_delivery(d)?;
            Some(vec![
                ("user", sid(u)?),
                ("delivery-ms", Int(ms)),
                ("delivery-seq", Int(seq)),
            ])
        }
        Cmd::Online => {
            let (u, mut rest) = a.split_first()?;
            let mut ttl = limits.presence_ttl_secs as i64;
            while let Some((option, after)) = rest.split_first() {
                let (value, after) = after.split_first()?;
                if !is_kw(option, "TTL") {
                    return None;
                }
                ttl = spec_int(value, 1, TTL_MAX_SECS)?;
                rest = after;
            }
            Some(vec![("user", sid(u)?), ("ttl", Int(ttl as u64))])
        }
        Cmd::Read => {
            let [r, u, id] = exactly(a)?;
            Some(vec![
                ("room", sid(r)?),
                ("user", sid(u)?),
                ("cursor-id", Int(spec_int(id, 0, i64::MAX)? as u64)),
            ])
        }
        Cmd::Edit => {
            let [r, u, id, t] = exactly(a)?;
            Some(vec![
                ("room", sid(r)?),
                ("user", sid(u)?),
                ("message-id", Int(spec_int(id, 1, i64::MAX)? as u64)),
                ("text", Text(spec_text(t, max, true)?)),
            ])
        }
        Cmd::Delete => {
            let [r, u, id] = exactly(a)?;
            Some(vec![
                ("room", sid(r)?),
                ("user", sid(u)?),
                ("message-id", Int(spec_int(id, 1, i64::MAX)? as u64)),
            ])
        }
        Cmd::Dm => {
            let [x, y] = exactly(a)?;
            Some(vec![("user", sid(x)?), ("user", sid(y)?)])
        }
        // The internal commands, as chat_core::replay documents them.
        Cmd::At => {
            // A time and a command name (any bytes), then the command's
            // arguments, passed on untouched, however many.
            let [at, command] = exactly(a.get(..2)?)?;
            Some(vec![
                ("at", Int(spec_int(at, 0, i64::MAX)? as u64)),
                ("command", Bytes(Some(command.to_vec()))),
                (
                    "args",
                    List(a[2..].iter().map(|arg| arg.to_vec()).collect()),
                ),
            ])
        }
        Cmd::SetPassword => {
            // The hash as the primary made it: UTF-8 of at most 1024 bytes.
            let [u, hash] = exactly(a)?;
            Some(vec![
                ("user", sid(u)?),
                ("hash", Text(spec_text(hash, 1024, false)?)),
            ])
        }
        Cmd::TrimResolved => {
            let [r, first] = exactly(a)?;
            Some(vec![
                ("room", sid(r)?),
                ("first-kept", Int(spec_int(first, 0, i64::MAX)? as u64)),
            ])
        }
        Cmd::RestoreValue => {
            // The key is any name; the kind is written in lower case by the
            // module and read only so; versions are 1 to 1023.
            let [key, kind, version, bytes] = exactly(a)?;
            let kind = match kind {
                b"room" => "room",
                b"user" => "user",
                _ => return None,
            };
            Some(vec![
                ("key", Bytes(Some(key.to_vec()))),
                ("kind", Text(kind.to_string())),
                ("version", Int(spec_int(version, 1, 1023)? as u64)),
                ("bytes", Bytes(Some(bytes.to_vec()))),
            ])
        }
    }
}

/// The documented limits of each field, checked on a successful parse
/// whatever produced it.
fn within_limits(parsed: &Parsed, limits: &Limits) -> Result<(), TestCaseError> {
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
            ("message-id", V::Int(n)) => prop_assert!((1..=i64::MAX as u64).contains(n)),
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

/// An error reply is one short line that starts with a Redis error code, and
/// a parser refuses only for what is wrong with the arguments themselves.
fn check_error(e: &ChatError) -> Result<(), TestCaseError> {
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

fn uid(s: &str) -> UserId<'_> {
    UserId::parse(s.as_bytes()).unwrap()
}

/// Runs `cmd`'s parser on `args` and compares it with the documentation.
fn check_parse(cmd: Cmd, args: &[Vec<u8>], limits: &Limits) -> Result<(), TestCaseError> {
    let a: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    let got = run(cmd, &a, limits);
    let want = spec(cmd, &a, limits);
    match (&got, &want) {
        (Ok(got), Some(want)) => {
            prop_assert_eq!(got, want, "{:?} {:?}", cmd, Shown(args));
            within_limits(got, limits)?;
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
struct Shown<'a>(&'a [Vec<u8>]);

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

// ---------------------------------------------------------------------------
// Generators.

static KEYWORDS: [&str; 11] = [
    "COUNT", "BEFORE", "AFTER", "BLOCK", "TTL", "DEDUP", "WITHREAD", "PASSWORD", "MAXLEN", "ROOM",
    "USER",
];

/// Almost keywords: a byte too many or too few, look-alike Unicode letters,
/// padding, NULs.
static NEAR_KEYWORDS: [&[u8]; 23] = [
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
];

/// `word` with the case of each letter picked by a bit of `mask`.
fn cased(word: &str, mask: u32) -> Vec<u8> {
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

fn keyword() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (prop::sample::select(&KEYWORDS[..]), any::<u32>()).prop_map(|(w, m)| cased(w, m)),
        1 => prop::sample::select(&NEAR_KEYWORDS[..]).prop_map(<[u8]>::to_vec),
    ]
}

static EDGE_NUMBERS: [&str; 24] = [
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

static JUNK: [&str; 16] = [
    "", "+", "-", " ", "\t", "x", ".0", ".", "e3", "\0", "\r\n", "0x", "١", "½", "_", ",",
];

fn plain_number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (-3i64..1200).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        prop::sample::select(&EDGE_NUMBERS[..]).prop_map(str::to_string),
        "-?0{0,25}[0-9]{1,4}",
        "[0-9]{19,60}",
    ]
}

fn number() -> impl Strategy<Value = Vec<u8>> {
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

fn valid_id() -> impl Strategy<Value = String> {
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

static BAD_IDS: [&[u8]; 22] = [
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

fn id() -> impl Strategy<Value = Vec<u8>> {
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

static BAD_DELIVERIES: [&str; 16] = [
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

fn delivery() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (any::<u64>(), any::<u64>()).prop_map(|(a, b)| format!("{a}-{b}").into_bytes()),
        (0u64..5, 0u64..5).prop_map(|(a, b)| format!("{a}-{b}").into_bytes()),
        prop::sample::select(&BAD_DELIVERIES[..]).prop_map(|s| s.as_bytes().to_vec()),
    ]
}

fn text() -> impl Strategy<Value = Vec<u8>> {
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
fn copies() -> impl Strategy<Value = Vec<u8>> {
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

fn long() -> impl Strategy<Value = Vec<u8>> {
    (
        1usize..100_000,
        prop::sample::select(vec![b'a', b'9', b'\n', 0xff, b'{']),
    )
        .prop_map(|(n, b)| vec![b; n])
}

/// An argument just at, under or over a documented length limit.
fn boundary() -> impl Strategy<Value = Vec<u8>> {
    let lengths = vec![
        DEDUP_KEY_MAX_BYTES,
        MAX_PASSWORD_BYTES,
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
fn atom() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => boundary(),
        4 => keyword(),
        4 => number(),
        5 => id(),
        1 => delivery(),
        3 => text(),
        2 => prop::collection::vec(any::<u8>(), 0..24),
        1 => copies(),
        1 => long(),
    ]
}

fn limits() -> impl Strategy<Value = Limits> {
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

// ---------------------------------------------------------------------------
// Well-formed vectors built from valid values, with what each must parse to.

/// An option of a well-formed vector: its keyword in some case, then its
/// value (if it takes one).
fn option(keyword: &str, mask: u32, value: Option<String>) -> Vec<Vec<u8>> {
    let mut out = vec![cased(keyword, mask)];
    out.extend(value.map(String::into_bytes));
    out
}

fn id_value(s: &str) -> V {
    V::Id(s.to_string())
}

type Example = (Cmd, Vec<Vec<u8>>, Parsed);

fn good_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 é€😀\n\"\\\\]{1,40}"
}

fn valid_room() -> impl Strategy<Value = String> {
    valid_id().prop_filter("not a direct room id", |r| !spec_direct(r.as_bytes()))
}

/// A well-formed vector for a command, and its expected parse under the
/// default limits.
fn example() -> impl Strategy<Value = Example> {
    use V::*;
    let ids = || (valid_room(), valid_id(), any::<u32>());
    prop_oneof![
        // Positional-only commands.
        (ids(), good_text(), 0u64..=i64::MAX as u64, 1u64..=9).prop_map(
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
        (
            ids(),
            any::<String>(),
            prop::collection::vec(0..=i64::MAX as u64, 3),
            prop::collection::vec(
                (valid_id(), any::<u64>(), 0u64..10, 0..=i64::MAX as u64),
                0..4
            ),
            prop::option::of((
                prop::collection::vec(any::<u8>(), 0..40),
                0..=i64::MAX as u64
            )),
        )
            .prop_map(|((r, u, _), t, n, copies, dedup)| {
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
                    ("anytext", Text(t)),
                    ("id", Int(n[0])),
                    ("ts", Int(n[1])),
                    ("first-kept", Int(n[2])),
                    ("copies", Copies(copies)),
                ];
                if let Some((key, until)) = dedup {
                    args.push(key.clone());
                    args.push(until.to_string().into_bytes());
                    parsed.push(("dedup-key", Bytes(Some(key))));
                    parsed.push(("dedup-until", Int(until)));
                }
                (Cmd::SendResolved, args, parsed)
            }),
        // The other internal commands, as the module writes them.
        (
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
        // CHAT.SEND with DEDUP keys (the last one counts).
        (
            ids(),
            good_text(),
            prop::collection::vec(("[ -~]{1,200}", any::<u32>()), 0..3)
        )
            .prop_map(|((r, u, _), t, keys)| {
                let mut args = vec![
                    r.clone().into_bytes(),
                    u.clone().into_bytes(),
                    t.clone().into_bytes(),
                ];
                let mut dedup = None;
                for (key, mask) in keys {
                    args.extend(option("DEDUP", mask, Some(key.clone())));
                    dedup = Some(key.into_bytes());
                }
                let parsed = vec![
                    ("room", id_value(&r)),
                    ("user", id_value(&u)),
                    ("text", Text(t)),
                    ("dedup", Bytes(dedup)),
                ];
                (Cmd::Send, args, parsed)
            }),
        // CHAT.HISTORY: one kind of cursor, repeated or not, and counts, in
        // any order; the last of each counts.
        (
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
        (
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
enum Mutation {
    Replace(prop::sample::Index, Vec<u8>),
    Insert(prop::sample::Index, Vec<u8>),
    Remove(prop::sample::Index),
    Repeat(prop::sample::Index),
    Swap(prop::sample::Index, prop::sample::Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<prop::sample::Index>;
    prop_oneof![
        3 => (at(), atom()).prop_map(|(i, a)| Mutation::Replace(i, a)),
        2 => (at(), atom()).prop_map(|(i, a)| Mutation::Insert(i, a)),
        1 => at().prop_map(Mutation::Remove),
        1 => at().prop_map(Mutation::Repeat),
        1 => (at(), at()).prop_map(|(i, j)| Mutation::Swap(i, j)),
    ]
}

fn mutate(args: &mut Vec<Vec<u8>>, m: &Mutation) {
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

// ---------------------------------------------------------------------------
// The properties.

proptest! {
    #![proptest_config(config(17_500))]

    /// Any vector through every parser: never a panic, always the documented
    /// answer.
    #[test]
    fn random_vectors_get_the_documented_answer(
        args in prop::collection::vec(atom(), 0..9),
        limits in limits(),
    ) {
        for cmd in ALL {
            check_parse(cmd, &args, &limits)?;
        }
    }

    /// Vectors close to valid ones: one to three arguments replaced, added,
    /// removed, repeated or swapped.
    #[test]
    fn near_valid_vectors_get_the_documented_answer(
        (cmd, args, _) in example(),
        mutations in prop::collection::vec(mutation(), 1..4),
        limits in limits(),
        other in any::<prop::sample::Index>(),
    ) {
        let mut args = args;
        for m in &mutations {
            mutate(&mut args, m);
        }
        check_parse(cmd, &args, &limits)?;
        // The same vector given to another command.
        check_parse(ALL[other.index(ALL.len())], &args, &limits)?;
    }
}

proptest! {
    #![proptest_config(config(5_000))]

    /// Long vectors: a well-formed one followed by one argument or option
    /// repeated hundreds of times.
    #[test]
    fn long_vectors_get_the_documented_answer(
        (cmd, args, _) in example(),
        repeated in prop_oneof![keyword(), number(), id(), text()],
        times in 1usize..600,
        with_value in any::<bool>(),
        value in number(),
    ) {
        let mut args = args;
        for _ in 0..times {
            args.push(repeated.clone());
            if with_value {
                args.push(value.clone());
            }
        }
        check_parse(cmd, &args, &Limits::default())?;
    }

    /// A well-formed vector parses back to the values it was built from.
    #[test]
    fn well_formed_vectors_round_trip((cmd, args, expected) in example()) {
        let limits = Limits::default();
        let a: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        match run(cmd, &a, &limits) {
            Ok(got) => prop_assert_eq!(&got, &expected, "{:?} {:?}", cmd, Shown(&args)),
            Err(e) => prop_assert!(false, "{:?} {:?} refused: {}", cmd, Shown(&args), e),
        }
        prop_assert_eq!(spec(cmd, &a, &limits), Some(expected));
    }

    /// The integer helper every numeric argument goes through.
    #[test]
    fn integers_parse_as_documented(
        value in prop_oneof![number(), prop::collection::vec(any::<u8>(), 0..24)],
        bounds in prop_oneof![
            (any::<i64>(), any::<i64>()),
            (-5i64..5, -5i64..2000),
            Just((0, i64::MAX)),
            Just((i64::MIN, i64::MAX)),
        ],
    ) {
        let (min, max) = (bounds.0.min(bounds.1), bounds.0.max(bounds.1));
        match (parse_int_in("COUNT", &value, min, max), spec_int(&value, min, max)) {
            (Ok(n), Some(m)) => prop_assert_eq!(n, m),
            (Err(e), None) => {
                check_error(&e)?;
                let text = e.to_string();
                let expected_start = format!("ERR COUNT must be an integer from {min} to {max}, got '");
                prop_assert!(text.starts_with(&expected_start), "{}", text);
            }
            (got, want) => prop_assert!(false, "{:?}: got {:?}, documented {:?}", Shown(std::slice::from_ref(&value)), got, want),
        }
    }

    /// The argument cursor: options match whatever their case, positionals
    /// run out as arity errors, leftovers are refused.
    #[test]
    fn the_argument_cursor(args in prop::collection::vec(atom(), 0..6), take in 0usize..8) {
        let a: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let mut cursor = Args::new("chat.test", &a);
        for i in 0..take {
            match cursor.positional() {
                Ok(item) => prop_assert_eq!(item, a[i]),
                Err(e) => {
                    prop_assert!(i >= a.len());
                    prop_assert_eq!(e, ChatError::WrongArity("chat.test"));
                }
            }
        }
        prop_assert_eq!(cursor.finish().is_ok(), take >= a.len());
        if let Some(option) = cursor.next_option() {
            let raw = a[take];
            for keyword in KEYWORDS {
                prop_assert_eq!(option == keyword, is_kw(raw, keyword));
            }
        } else {
            prop_assert!(take >= a.len());
        }
    }

    /// Every pair of users has one direct room, a valid room id that no
    /// other command may create, in the users' slot when they share one.
    #[test]
    fn direct_rooms(
        x in "(\\{[ab]\\})?[ab:]{1,4}|[a-z]{60,128}",
        y in "(\\{[ab]\\})?[ab:]{1,4}|[a-z]{60,128}",
        z in "(\\{[ab]\\})?[ab:]{1,4}",
    ) {
        prop_assume!(spec_id(x.as_bytes()) && spec_id(y.as_bytes()) && spec_id(z.as_bytes()));
        if x == y {
            let e = direct_room(uid(&x), uid(&y)).unwrap_err();
            check_error(&e)?;
            return Ok(());
        }
        let room = direct_room(uid(&x), uid(&y)).unwrap();
        prop_assert_eq!(&room, &direct_room(uid(&y), uid(&x)).unwrap());
        prop_assert!(spec_id(room.as_bytes()), "{}", room);
        prop_assert!(is_direct_room(&room) && spec_direct(room.as_bytes()), "{}", room);
        if tag_of(&x) == tag_of(&y) {
            prop_assert_eq!(tag_of(&room), tag_of(&x), "{} of {} and {}", room, x, y);
        }
        let a: Vec<&[u8]> = vec![room.as_bytes(), b"title"];
        prop_assert_eq!(Create::parse(&a, &Limits::default()), Err(ChatError::DirectRoomId));
        // Another pair never gets the same room.
        for (p, q) in [(&x, &z), (&y, &z)] {
            if p != q && z != x && z != y {
                prop_assert_ne!(&room, &direct_room(uid(p), uid(q)).unwrap());
            }
        }
    }

    /// What CHAT.SEND propagates (the message, the first id kept, its inbox
    /// copies and its DEDUP key) parses back on the replica.
    #[test]
    fn resolved_sends_round_trip(
        (r, u) in (valid_id(), valid_id()),
        text in any::<String>(),
        numbers in (0..=i64::MAX, 0..=i64::MAX, 0..=i64::MAX),
        copies in prop::collection::vec((valid_id(), any::<u64>(), any::<u64>(), 0..=i64::MAX as u64), 0..5),
        dedup in prop::option::of((prop::collection::vec(any::<u8>(), 0..40), 0..=i64::MAX)),
    ) {
        let mut packed = Vec::new();
        for (member, ms, seq, length) in &copies {
            push_inbox_copy(&mut packed, member, DeliveryId { ms: *ms, seq: *seq }, *length);
        }
        let (id, ts, first) = numbers;
        let mut args: Vec<Vec<u8>> = [r.as_bytes(), u.as_bytes(), text.as_bytes()]
            .into_iter()
            .map(<[u8]>::to_vec)
            .chain([id, ts, first].map(|n| n.to_string().into_bytes()))
            .chain([packed])
            .collect();
        if let Some((key, until)) = &dedup {
            args.push(key.clone());
            args.push(until.to_string().into_bytes());
        }
        let a: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let parsed = ResolvedSend::parse(&a).unwrap();
        prop_assert_eq!((parsed.room.as_str(), parsed.sender.as_str()), (r.as_str(), u.as_str()));
        prop_assert_eq!(parsed.text, text.as_str());
        prop_assert_eq!((parsed.id, parsed.ts, parsed.first_kept), (id as u64, ts, first as u64));
        prop_assert_eq!(parsed.dedup.map(|(k, until)| (k.to_vec(), until)), dedup);
        let got: Vec<_> = parsed
            .inbox_copies
            .iter()
            .map(|c| (c.member.as_str().to_string(), c.delivery.ms, c.delivery.seq, c.inbox_length))
            .collect();
        prop_assert_eq!(got, copies);
    }

    /// A message document is the documented JSON, whatever the text holds:
    /// `type`, `room`, `id`, `sender`, `text`, `ts`, then `edited` for an
    /// edited message, no text but `"deleted":true` for a tombstone, and
    /// FETCH's `delivery` last. Pages of documents are written into one
    /// buffer, each after what it holds.
    #[test]
    fn message_documents_are_the_documented_json(
        r in valid_id(),
        sender in valid_id(),
        text in prop_oneof![any::<String>(), "[\\x00-\\x1f\"\\\\/<>\u{2028}\u{7f}a]{0,12}"],
        id in any::<u64>(),
        ts in any::<i64>(),
        edited in prop::option::of(any::<i64>()),
        deleted in any::<bool>(),
        delivery in prop::option::of((any::<u64>(), any::<u64>())),
        before in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        let message = Message {
            room: r.as_str().into(),
            id,
            sender: sender.as_str().into(),
            text: text.as_str().into(),
            ts,
            edited,
            deleted,
        };
        let delivery = delivery.map(|(ms, seq)| DeliveryId { ms, seq }.to_string());
        let s = |v: &str| serde_json::to_string(v).unwrap();
        let mut want = format!(r#"{{"type":"message","room":{},"id":{id},"sender":{}"#, s(&r), s(&sender));
        if deleted {
            want += &format!(r#","ts":{ts},"deleted":true"#);
        } else {
            want += &format!(r#","text":{},"ts":{ts}"#, s(&text));
            if let Some(at) = edited {
                want += &format!(r#","edited":{at}"#);
            }
        }
        if let Some(d) = &delivery {
            want += &format!(r#","delivery":{}"#, s(d));
        }
        want += "}";
        let got = match &delivery {
            Some(d) => message.to_json_with_delivery(d),
            None => message.to_json(),
        };
        prop_assert_eq!(String::from_utf8(got.clone()).ok(), Some(want.clone()));
        // It is JSON, and reads back to what went in.
        let v: serde_json::Value = serde_json::from_slice(&got).unwrap();
        prop_assert_eq!(v["text"].as_str(), (!deleted).then_some(text.as_str()));
        prop_assert_eq!(v["id"].as_u64(), Some(id));
        let mut buf = before.clone();
        message.write_json(delivery.as_deref(), &mut buf);
        prop_assert_eq!(&buf[..before.len()], &before[..]);
        prop_assert_eq!(&buf[before.len()..], want.as_bytes());
    }
}

// ---------------------------------------------------------------------------
// Channels and cluster slots, against the Redis Cluster specification.

/// CRC16/XMODEM as polynomial division: the key's bits, most significant
/// first, followed by 16 zero bits, divided by x^16 + x^12 + x^5 + 1.
fn spec_crc16(bytes: &[u8]) -> u16 {
    let bits = bytes
        .iter()
        .flat_map(|&b| (0..8).rev().map(move |i| u32::from(b >> i) & 1))
        .chain(std::iter::repeat_n(0, 16));
    let mut reg = 0u32;
    for bit in bits {
        reg = (reg << 1) | bit;
        if reg & 0x1_0000 != 0 {
            reg ^= 0x1_1021;
        }
    }
    reg as u16
}

/// The slot of a key: if it has a `{` and a `}` after it with something in
/// between, only that part is hashed (the first `{`, the first `}` after
/// it); else the whole key.
fn spec_slot(key: &[u8]) -> u16 {
    let hashed = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let after = &key[open + 1..];
            let close = after.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &after[..close])
        })
        .unwrap_or(key);
    spec_crc16(hashed) % 16384
}

/// `chat:<kind>:{id}:push`, or `chat:<kind>:{tag}{rest}:push` for an id
/// that starts with its own tag.
fn spec_channel(kind: &str, id: &str) -> Vec<u8> {
    let braced = match id.strip_prefix('{').and_then(|a| a.split_once('}')) {
        Some((tag, rest)) => format!("{{{tag}}}{{{rest}}}"),
        None => format!("{{{id}}}"),
    };
    format!("chat:{kind}:{braced}:push").into_bytes()
}

/// Ids from a few letters, to make equal ones and near ones common.
fn small_id() -> impl Strategy<Value = String> {
    "(\\{[ab:]{1,2}\\})?[ab:{}]{1,3}".prop_filter("a valid id", |s| spec_id(s.as_bytes()))
}

proptest! {
    #![proptest_config(config(5_000))]

    /// Every valid id's channels follow the documented layout and hash to
    /// the cluster slot of the id's key, so they are shard channels of the
    /// node that holds it; different ids never share a channel.
    #[test]
    fn channels_hash_to_the_slot_of_their_id(
        id in prop_oneof![
            3 => valid_id(),
            1 => id().prop_filter("a valid id", |b| spec_id(b)).prop_map(|b| String::from_utf8(b).unwrap()),
            1 => small_id(),
        ],
        other in small_id(),
        junk in prop::collection::vec(any::<u8>(), 0..30),
    ) {
        let user = user_channel(&id);
        let room = room_channel(&id);
        prop_assert_eq!(&user, &spec_channel("user", &id));
        prop_assert_eq!(&room, &spec_channel("room", &id));
        // A reused buffer holds exactly the channel, whatever it held.
        let mut buf = junk;
        write_user_channel(&id, &mut buf);
        prop_assert_eq!(&buf, &user);

        let key_slot = slot(id.as_bytes());
        prop_assert_eq!(key_slot, spec_slot(id.as_bytes()));
        prop_assert_eq!(slot(&user), key_slot, "{}", String::from_utf8_lossy(&user));
        prop_assert_eq!(slot(&room), key_slot, "{}", String::from_utf8_lossy(&room));
        prop_assert_eq!(slot_of_id(&id), key_slot);
        prop_assert_eq!(hash_tag(&user), tag_of(&id).as_bytes());

        prop_assert_eq!(user_channel(&other) == user, other == id, "{} {}", other, id);
        prop_assert_eq!(room_channel(&other) == room, other == id, "{} {}", other, id);
        prop_assert_ne!(user_channel(&other), room.clone());
    }

    /// Any key's slot is Redis Cluster's.
    #[test]
    fn slots_are_those_of_redis_cluster(
        key in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..40),
            "[a{}b]{0,8}".prop_map(String::into_bytes),
        ],
    ) {
        prop_assert!(slot(&key) < 16384);
        prop_assert_eq!(slot(&key), spec_slot(&key), "{:?}", String::from_utf8_lossy(&key));
    }
}

#[test]
fn the_reference_crc_is_the_one_redis_cluster_uses() {
    // The check value of CRC16/XMODEM, and slots `CLUSTER KEYSLOT` gives.
    assert_eq!(spec_crc16(b"123456789"), 0x31c3);
    assert_eq!(spec_slot(b"foo"), 12182);
    assert_eq!(spec_slot(b"bar"), 5061);
}

/// A delivery above `i64::MAX` (a stream id a client may give an inbox with
/// XADD) survives the trip through CHAT.SEND-RESOLVED's copies, which the
/// replica and the AOF must accept, or the send would be lost there.
#[test]
fn resolved_copies_keep_deliveries_above_i64_max() {
    for delivery in [
        DeliveryId {
            ms: i64::MAX as u64 + 1,
            seq: 0,
        },
        DeliveryId {
            ms: 1,
            seq: u64::MAX,
        },
    ] {
        let mut copies = Vec::new();
        push_inbox_copy(&mut copies, "bob", delivery, 1);
        let args: [&[u8]; 7] = [b"r", b"alice", b"hi", b"1", b"2", b"1", &copies];
        let parsed = ResolvedSend::parse(&args)
            .unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(&copies)));
        assert_eq!(parsed.inbox_copies[0].delivery, delivery);
    }
}

/// The name of a module parameter (any case), or something else.
fn module_arg_name() -> impl Strategy<Value = Vec<u8>> {
    let names: Vec<&'static str> = PARAMS
        .iter()
        .map(|p| p.name)
        .chain(WORDS.iter().map(|w| w.name))
        // A parameter that existed once.
        .chain(["replicate-effects"])
        .collect();
    prop_oneof![
        4 => (prop::sample::select(names), any::<u32>()).prop_map(|(n, m)| cased(n, m)),
        1 => atom(),
    ]
}

fn module_arg_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        number(),
        prop::sample::select(vec![
            "yes", "no", "YES", "No", "maybe", "trust", "acl", "ACL", ""
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        atom(),
    ]
}

proptest! {
    #![proptest_config(config(5_000))]

    /// `--loadmodule` arguments: never a panic; what is accepted is within
    /// each parameter's range or choices; an unknown name is refused.
    #[test]
    fn module_arguments(
        pairs in prop::collection::vec((module_arg_name(), module_arg_value()), 0..6),
        odd in prop::option::of(module_arg_name()),
    ) {
        let mut args: Vec<&[u8]> = pairs.iter().flat_map(|(n, v)| [n.as_slice(), v.as_slice()]).collect();
        if let Some(extra) = &odd {
            args.push(extra);
        }
        match parse_module_args(&args) {
            Ok(settings) => {
                prop_assert!(odd.is_none());
                prop_assert_eq!(settings.len(), pairs.len());
                for (setting, (name, _)) in settings.iter().zip(&pairs) {
                    let setting_name = match setting {
                        Setting::Int(p, n) => {
                            prop_assert!((p.min..=p.max).contains(n), "{} {}", p.name, n);
                            p.name
                        }
                        Setting::Word(w, value) => {
                            prop_assert!(w.choices.is_empty() || w.choices.contains(&value.as_str()));
                            w.name
                        }
                    };
                    prop_assert!(is_kw(name, setting_name));
                }
            }
            Err(message) => {
                prop_assert!(!message.is_empty());
                prop_assert!(!message.contains('\n') && !message.contains('\r'), "{}", message);
            }
        }
        // No parameter is accepted under a name that is not one now.
        if pairs.iter().any(|(name, _)| is_kw(name, "replicate-effects")) {
            prop_assert!(parse_module_args(&args).is_err());
        }
    }
}
