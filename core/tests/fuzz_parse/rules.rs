//! The documented rules, written again from docs/commands.md: the
//! `spec_*` readings of ids, integers, deliveries, texts, passwords and
//! reactions, and `spec`, what the documentation says each command makes of
//! its arguments.

use chat_core::config::Limits;
use chat_core::ids::MAX_ID_BYTES;
use chat_core::password::MAX_PASSWORD_BYTES;
use chat_core::request::{
    Cursor, BLOCK_MAX_MS, COUNT_MAX, DEDUP_KEY_MAX_BYTES, FETCH_COUNT_DEFAULT,
    HISTORY_COUNT_DEFAULT, TTL_MAX_SECS,
};

use crate::commands::{Cmd, Parsed, V};

// ---------------------------------------------------------------------------
// The documented rules, written again from docs/commands.md.

/// `A-Z a-z 0-9 _ . : @ -`
pub(crate) fn id_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_.:@-".contains(&b)
}

pub(crate) fn id_part(part: &[u8]) -> bool {
    !part.is_empty() && part.iter().all(|&b| id_char(b))
}

/// 1 to 128 bytes of the id charset, optionally starting with a `{tag}`.
pub(crate) fn spec_id(bytes: &[u8]) -> bool {
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
pub(crate) fn spec_direct(id: &[u8]) -> bool {
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
pub(crate) fn spec_int(bytes: &[u8], min: i64, max: i64) -> Option<i64> {
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
pub(crate) fn spec_delivery(bytes: &[u8]) -> Option<(u64, u64)> {
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
pub(crate) fn spec_text(bytes: &[u8], max: usize, non_empty: bool) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?;
    (text.len() <= max && !(non_empty && text.is_empty())).then(|| text.to_string())
}

/// The most MENTION options one CHAT.SEND may carry, duplicates included.
pub(crate) const MENTIONS_MAX: usize = 50;
/// The longest reaction, in bytes.
pub(crate) const REACTION_MAX_BYTES: usize = 32;

/// Unicode's White_Space characters.
pub(crate) fn spec_whitespace(c: char) -> bool {
    matches!(
        c,
        '\u{9}'..='\u{d}'
            | ' '
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// Unicode's control characters (general category Cc).
pub(crate) fn spec_control(c: char) -> bool {
    matches!(c, '\0'..='\u{1f}' | '\u{7f}'..='\u{9f}')
}

/// Spaces of no width: zero width space, word joiner, zero width no-break
/// space, Mongolian vowel separator.
pub(crate) fn spec_invisible_space(c: char) -> bool {
    matches!(c, '\u{200b}' | '\u{2060}' | '\u{feff}' | '\u{180e}')
}

/// A reaction: 1 to 32 bytes of UTF-8, no space (of any width), no control
/// character (an emoji, `:tada:`, `+1`).
pub(crate) fn spec_reaction(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?;
    let clean = !text
        .chars()
        .any(|c| spec_whitespace(c) || spec_invisible_space(c) || spec_control(c));
    ((1..=REACTION_MAX_BYTES).contains(&text.len()) && clean).then(|| text.to_string())
}

/// A password to set: 1 to 1024 bytes, any bytes.
pub(crate) fn spec_password(bytes: &[u8]) -> Option<Vec<u8>> {
    (1..=MAX_PASSWORD_BYTES)
        .contains(&bytes.len())
        .then(|| bytes.to_vec())
}

pub(crate) fn is_kw(arg: &[u8], keyword: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword.as_bytes())
}

pub(crate) fn sid(bytes: &[u8]) -> Option<V> {
    spec_id(bytes).then(|| V::Id(String::from_utf8(bytes.to_vec()).unwrap()))
}

/// Ids read by `sid`, as one value.
pub(crate) fn ids(list: Vec<V>) -> V {
    V::Ids(
        list.into_iter()
            .map(|v| match v {
                V::Id(id) => id,
                other => unreachable!("not an id: {other:?}"),
            })
            .collect(),
    )
}

pub(crate) fn exactly<'a, const N: usize>(a: &[&'a [u8]]) -> Option<[&'a [u8]; N]> {
    a.try_into().ok()
}

/// What docs/commands.md says `cmd` makes of `a`: `None` for a refusal.
pub(crate) fn spec(cmd: Cmd, a: &[&[u8]], limits: &Limits) -> Option<Parsed> {
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
        Cmd::Counts | Cmd::Presence | Cmd::Drop | Cmd::Pins => {
            let [r] = exactly(a)?;
            Some(vec![("room", sid(r)?)])
        }
        Cmd::Profile
        | Cmd::Rooms
        | Cmd::Offline
        | Cmd::Unread
        | Cmd::Channels
        | Cmd::Unregister
        | Cmd::Mentions => {
            let [u] = exactly(a)?;
            Some(vec![("user", sid(u)?)])
        }
        Cmd::Subscribe | Cmd::Unsubscribe | Cmd::Typing => {
            let [r, u] = exactly(a)?;
            Some(vec![("room", sid(r)?), ("user", sid(u)?)])
        }
        Cmd::Send => {
            let [r, u, t] = exactly(a.get(..3)?)?;
            let (mut dedup, mut reply, mut mentions) = (None, None, Vec::new());
            let mut given = 0;
            let mut rest = &a[3..];
            while let Some((option, after)) = rest.split_first() {
                // Every option takes a value; the last DEDUP and REPLY count.
                let (value, after) = after.split_first()?;
                if is_kw(option, "DEDUP") {
                    if value.is_empty() || value.len() > DEDUP_KEY_MAX_BYTES {
                        return None;
                    }
                    dedup = Some(value.to_vec());
                } else if is_kw(option, "REPLY") {
                    reply = Some(spec_int(value, 1, i64::MAX)? as u64);
                } else if is_kw(option, "MENTION") {
                    // At most 50, counted before duplicates are folded;
                    // each user once, in the order first given.
                    given += 1;
                    let user = sid(value)?;
                    if given > MENTIONS_MAX {
                        return None;
                    }
                    if !mentions.contains(&user) {
                        mentions.push(user);
                    }
                } else {
                    return None;
                }
                rest = after;
            }
            Some(vec![
                ("room", sid(r)?),
                ("user", sid(u)?),
                ("text", Text(spec_text(t, max, true)?)),
                ("dedup", Bytes(dedup)),
                ("reply-to", OptInt(reply)),
                ("mentions", ids(mentions)),
            ])
        }
        Cmd::SendResolved => {
            // Seven arguments; nine with a DEDUP key (any bytes: the primary
            // checked it; empty for none) and the time it is forgotten from;
            // eleven with also the id replied to (0 for none) and the users
            // mentioned, joined by `,` (empty for none); fourteen with also
            // a notification's entry id, the stream's length and its `to`.
            let (tail, a) = match a.len() {
                7 => (&[][..], a),
                9 | 11 | 14 => (&a[7..], &a[..7]),
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
            let (mut reply, mut mentions) = (None, Vec::new());
            if let [key, until, more @ ..] = tail {
                let until = int(until)?;
                if !key.is_empty() {
                    out.push(("dedup-key", Bytes(Some(key.to_vec()))));
                    out.push(("dedup-until", until));
                }
                if let [reply_to, list, ..] = more {
                    reply = Some(spec_int(reply_to, 0, i64::MAX)? as u64).filter(|&id| id > 0);
                    // As in `copies`, empty items between separators are
                    // skipped; the primary has folded duplicates already.
                    for user in list.split(|&b| b == b',').filter(|m| !m.is_empty()) {
                        mentions.push(sid(user)?);
                    }
                }
            }
            out.push(("reply-to", OptInt(reply)));
            out.push(("mentions", ids(mentions)));
            if let [_, _, _, _, entry, length, to] = tail {
                let (ms, seq) = spec_delivery(entry)?;
                out.push(("entry-ms", Int(ms)));
                out.push(("entry-seq", Int(seq)));
                out.push(("stream-length", int(length)?));
                out.push(("notified", Text(spec_text(to, usize::MAX, false)?)));
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
        Cmd::Thread => {
            let [r, root] = exactly(a.get(..2)?)?;
            let (mut after, mut count) = (None, HISTORY_COUNT_DEFAULT);
            let mut rest = &a[2..];
            while let Some((option, following)) = rest.split_first() {
                let (value, following) = following.split_first()?;
                if is_kw(option, "AFTER") {
                    after = Some(spec_int(value, 0, i64::MAX)? as u64);
                } else if is_kw(option, "COUNT") {
                    count = spec_int(value, 1, COUNT_MAX)?;
                } else {
                    return None;
                }
                rest = following;
            }
            Some(vec![
                ("room", sid(r)?),
                ("message-id", Int(spec_int(root, 1, i64::MAX)? as u64)),
                ("after", OptInt(after)),
                ("count", Int(count as u64)),
            ])
        }
        Cmd::React | Cmd::Unreact => {
            let [r, u, id, reaction] = exactly(a)?;
            Some(vec![
                ("room", sid(r)?),
                ("user", sid(u)?),
                ("message-id", Int(spec_int(id, 1, i64::MAX)? as u64)),
                ("reaction", Text(spec_reaction(reaction)?)),
            ])
        }
        Cmd::Reactions => {
            let [r, id] = exactly(a)?;
            Some(vec![
                ("room", sid(r)?),
                ("message-id", Int(spec_int(id, 1, i64::MAX)? as u64)),
            ])
        }
        Cmd::Pin | Cmd::Unpin => {
            let [r, u, id] = exactly(a)?;
            Some(vec![
                ("room", sid(r)?),
                ("user", sid(u)?),
                ("message-id", Int(spec_int(id, 1, i64::MAX)? as u64)),
            ])
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
