//! The commands the module sends itself, to replicas and the AOF, with
//! every choice the primary made already made: no client may send them.
//!
//! ```text
//! CHAT.SEND-RESOLVED <room> <sender> <text> <id> <ts> <first-kept> <copies> [<dedup-key> <dedup-until> [<reply-to> <mentions> [<entry-id> <stream-length> <to>]]]
//! CHAT.AT <unix-ms> <command> <argument>...
//! CHAT.SET-PASSWORD <user> <hash>
//! CHAT.TRIM-RESOLVED <room> <first-kept>
//! CHAT.RESTORE-VALUE <key> <room|user> <encoding-version> <bytes>
//! ```
//!
//! `CHAT.AT` replays a command whose only choice was the time (CREATE,
//! SUBSCRIBE, EDIT, ONLINE with its TTL spelled out, ...) at the primary's
//! time. `CHAT.RESTORE-VALUE` is how a rewritten AOF without an RDB
//! preamble stores each chat key.

use crate::data::extra::Extra;
use crate::delivery::DeliveryId;
use crate::error::ChatError;
use crate::ids::{RoomId, UserId};
use crate::parse::{parse_int_in, Args};

/// `CHAT.SEND-RESOLVED`: how a CHAT.SEND reaches replicas and the AOF.
///
/// `id` and `ts` are the message's; `first-kept` is the id of the oldest
/// message the room keeps after the send (what trimming by
/// `chat.history-max` and `chat.history-max-age` left). `copies` lists each
/// member that got an inbox copy, with the copy's delivery and the inbox's
/// length after the send, as `member,delivery,length;` one after the other
/// (ids never contain `,` or `;`), so a send to a big room is still one
/// short command. A send with DEDUP ends with the key and the unix ms from
/// which it is forgotten. A reply or a send with mentions adds the id it
/// answers (0: none) and the members it mentions, joined by `,`, after the
/// DEDUP pair (an empty key and 0 when there was no DEDUP). A send that
/// recorded a notification ends with its stream entry (after both pairs,
/// empty when unused): the entry's id, the stream's length after the
/// primary trimmed it, and the entry's `to` field.
#[derive(Debug, PartialEq, Eq)]
pub struct ResolvedSend<'a> {
    pub room: RoomId<'a>,
    pub sender: UserId<'a>,
    pub text: &'a str,
    pub id: u64,
    pub ts: i64,
    pub first_kept: u64,
    pub inbox_copies: Vec<InboxCopy<'a>>,
    pub dedup: Option<(&'a [u8], i64)>,
    pub extra: Extra<'a>,
    pub notified: Option<Notified<'a>>,
}

/// The notification entry a send recorded (`chat_core::notify`), for a
/// replay to add the same one.
#[derive(Debug, PartialEq, Eq)]
pub struct Notified<'a> {
    /// The stream entry's id, `<ms>-<seq>` like a delivery handle.
    pub entry: DeliveryId,
    /// The stream's length once the primary trimmed it.
    pub length: u64,
    /// Each member notified and why, as JSON.
    pub to: &'a str,
}

#[derive(Debug, PartialEq, Eq)]
pub struct InboxCopy<'a> {
    pub member: UserId<'a>,
    pub delivery: DeliveryId,
    pub inbox_length: u64,
}

/// Appends one inbox copy to a `copies` argument of CHAT.SEND-RESOLVED.
pub fn push_inbox_copy(
    copies: &mut Vec<u8>,
    member: &str,
    delivery: DeliveryId,
    inbox_length: u64,
) {
    let mut number = itoa::Buffer::new();
    copies.extend_from_slice(member.as_bytes());
    copies.push(b',');
    copies.extend_from_slice(number.format(delivery.ms).as_bytes());
    copies.push(b'-');
    copies.extend_from_slice(number.format(delivery.seq).as_bytes());
    copies.push(b',');
    copies.extend_from_slice(number.format(inbox_length.min(i64::MAX as u64)).as_bytes());
    copies.push(b';');
}

impl<'a> ResolvedSend<'a> {
    pub fn parse(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.send-resolved", args);
        let room = a.next_room()?;
        let sender = a.next_user()?;
        let text = a.next_utf8("message text", usize::MAX)?;
        let mut int = |what| parse_int_in(what, a.positional()?, 0, i64::MAX);
        let id = int("id")? as u64;
        let ts = int("ts")?;
        let first_kept = int("first-kept")? as u64;
        let copies = a.positional()?;
        let mut dedup = None;
        let mut extra = Extra::default();
        let mut notified = None;
        if let Ok(key) = a.positional() {
            let until = parse_int_in("dedup-until", a.positional()?, 0, i64::MAX)?;
            dedup = (!key.is_empty()).then_some((key, until));
            if let Ok(reply_to) = a.positional() {
                let reply_to = parse_int_in("reply-to", reply_to, 0, i64::MAX)? as u64;
                extra.reply_to = (reply_to > 0).then_some(reply_to);
                extra.mentions = a
                    .positional()?
                    .split(|&b| b == b',')
                    .filter(|m| !m.is_empty())
                    .map(|m| UserId::parse(m).map(|u| u.as_str()))
                    .collect::<Result<_, _>>()?;
                if let Ok(entry) = a.positional() {
                    notified = Some(Notified {
                        entry: DeliveryId::parse(entry).ok_or(ChatError::Syntax)?,
                        length: parse_int_in("stream-length", a.positional()?, 0, i64::MAX)? as u64,
                        to: a.next_utf8("notified members", usize::MAX)?,
                    });
                }
            }
        }
        a.finish()?;
        let inbox_copies = copies
            .split(|&b| b == b';')
            .filter(|copy| !copy.is_empty())
            .map(parse_copy)
            .collect::<Result<_, _>>()?;
        Ok(ResolvedSend {
            room,
            sender,
            text,
            id,
            ts,
            first_kept,
            inbox_copies,
            dedup,
            extra,
            notified,
        })
    }
}

fn parse_copy(copy: &[u8]) -> Result<InboxCopy<'_>, ChatError> {
    let mut parts = copy.split(|&b| b == b',');
    let (Some(member), Some(delivery), Some(length), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ChatError::Syntax);
    };
    Ok(InboxCopy {
        member: UserId::parse(member)?,
        delivery: DeliveryId::parse(delivery).ok_or_else(|| {
            ChatError::InvalidDelivery(String::from_utf8_lossy(delivery).into_owned())
        })?,
        inbox_length: parse_int_in("inbox-length", length, 0, i64::MAX)? as u64,
    })
}

/// `CHAT.AT <unix-ms> <command> <argument>...`
#[derive(Debug, PartialEq, Eq)]
pub struct At<'a> {
    pub at: i64,
    pub command: &'a [u8],
    /// The replayed command's arguments, after its name.
    pub args: &'a [&'a [u8]],
}

impl<'a> At<'a> {
    pub fn parse(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.at", args);
        let at = parse_int_in("unix-ms", a.positional()?, 0, i64::MAX)?;
        let command = a.positional()?;
        Ok(At {
            at,
            command,
            args: args.get(2..).unwrap_or_default(),
        })
    }
}

/// `CHAT.SET-PASSWORD <user> <hash>`
#[derive(Debug, PartialEq, Eq)]
pub struct SetPassword<'a> {
    pub user: UserId<'a>,
    pub hash: &'a str,
}

impl<'a> SetPassword<'a> {
    pub fn parse(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.set-password", args);
        let user = a.next_user()?;
        let hash = a.next_utf8("password hash", 1024)?;
        a.finish()?;
        Ok(SetPassword { user, hash })
    }
}

/// `CHAT.TRIM-RESOLVED <room> <first-kept>`
#[derive(Debug, PartialEq, Eq)]
pub struct TrimResolved<'a> {
    pub room: RoomId<'a>,
    pub first_kept: u64,
}

impl<'a> TrimResolved<'a> {
    pub fn parse(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.trim-resolved", args);
        let room = a.next_room()?;
        let first_kept = parse_int_in("first-kept", a.positional()?, 0, i64::MAX)? as u64;
        a.finish()?;
        Ok(TrimResolved { room, first_kept })
    }
}

/// `CHAT.EPOCH <room> <epoch> <generation>`: the epoch a primary gave a
/// room (both in hex, as `Epoch` shows its id).
#[derive(Debug, PartialEq, Eq)]
pub struct EpochResolved<'a> {
    pub room: RoomId<'a>,
    pub epoch: crate::data::epoch::Epoch,
}

impl<'a> EpochResolved<'a> {
    pub fn parse(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.epoch", args);
        let room = a.next_room()?;
        let id = hex_u64("epoch", a.positional()?)?;
        let generation = hex_u64("generation", a.positional()?)?;
        a.finish()?;
        Ok(EpochResolved {
            room,
            epoch: crate::data::epoch::Epoch { id, generation },
        })
    }
}

/// Who wrote a `CHAT.GENERATION` to the AOF, which decides whether a
/// restart from it may keep the generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// A primary whose AOF kept every write it acknowledged since
    /// (`appendfsync always`): `DURABLE`.
    Durably,
    /// A primary whose AOF may lose its last writes: no word.
    Lossily,
    /// A replica, which may be behind its primary: `REPLICA`.
    ByReplica,
}

/// `CHAT.GENERATION <generation> [DURABLE | REPLICA]`
#[derive(Debug, PartialEq, Eq)]
pub struct Generation<'a> {
    pub generation: &'a str,
    pub recorded: Recorded,
}

impl<'a> Generation<'a> {
    pub fn parse(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.generation", args);
        let raw = a.positional()?;
        hex_u64("generation", raw)?;
        let generation = std::str::from_utf8(raw).map_err(|_| ChatError::Syntax)?;
        let recorded = match a.next_option() {
            None => Recorded::Lossily,
            Some(word) => match word.as_str() {
                "DURABLE" => Recorded::Durably,
                "REPLICA" => Recorded::ByReplica,
                _ => return Err(ChatError::Syntax),
            },
        };
        a.finish()?;
        Ok(Generation {
            generation,
            recorded,
        })
    }
}

/// A u64 written as 1 to 16 lowercase hex digits.
fn hex_u64(what: &str, bytes: &[u8]) -> Result<u64, ChatError> {
    std::str::from_utf8(bytes)
        .ok()
        .filter(|s| (1..=16).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|s| u64::from_str_radix(s, 16).ok())
        .ok_or_else(|| ChatError::Internal(format!("{what} must be 1 to 16 hex digits")))
}

/// Which type a `CHAT.RESTORE-VALUE` restores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Room,
    User,
}

/// `CHAT.RESTORE-VALUE <key> <room|user> <encoding-version> <bytes>`
#[derive(Debug, PartialEq, Eq)]
pub struct RestoreValue<'a> {
    pub key: &'a [u8],
    pub kind: ValueKind,
    pub version: i32,
    pub bytes: &'a [u8],
}

impl<'a> RestoreValue<'a> {
    pub fn parse(args: &'a [&'a [u8]]) -> Result<Self, ChatError> {
        let mut a = Args::new("chat.restore-value", args);
        let key = a.positional()?;
        let kind = match a.positional()? {
            b"room" => ValueKind::Room,
            b"user" => ValueKind::User,
            _ => return Err(ChatError::Syntax),
        };
        let version = parse_int_in("encoding-version", a.positional()?, 1, 1023)? as i32;
        let bytes = a.positional()?;
        a.finish()?;
        Ok(RestoreValue {
            key,
            kind,
            version,
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_generation_says_who_recorded_it() {
        let parse = |words: &[&'static str]| {
            let raw: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
            Generation::parse(&raw).map(|g| (g.generation.to_string(), g.recorded))
        };
        let g = "00000000000000ab".to_string();
        assert_eq!(
            parse(&["00000000000000ab"]),
            Ok((g.clone(), Recorded::Lossily))
        );
        assert_eq!(
            parse(&["00000000000000ab", "durable"]),
            Ok((g.clone(), Recorded::Durably))
        );
        assert_eq!(
            parse(&["00000000000000ab", "REPLICA"]),
            Ok((g, Recorded::ByReplica))
        );
        assert!(parse(&["00000000000000ab", "DURABLE", "REPLICA"]).is_err());
        assert!(parse(&["00000000000000ab", "OTHER"]).is_err());
        assert!(parse(&["xyz"]).is_err());
        assert!(parse(&[]).is_err());
    }
    use super::*;

    #[test]
    fn resolved_sends_round_trip() {
        let mut copies = Vec::new();
        let at = |seq| DeliveryId {
            ms: 1795749231574,
            seq,
        };
        push_inbox_copy(&mut copies, "{t}b", at(0), 4);
        push_inbox_copy(&mut copies, "{t}c", at(1), 1);
        assert_eq!(copies, b"{t}b,1795749231574-0,4;{t}c,1795749231574-1,1;");
        let raw: Vec<&[u8]> = vec![
            b"{t}r",
            b"{t}a",
            b"hi",
            b"7",
            b"1795749231574",
            b"2",
            &copies,
        ];
        let r = ResolvedSend::parse(&raw).unwrap();
        assert_eq!(
            (r.id, r.ts, r.first_kept, r.dedup),
            (7, 1795749231574, 2, None)
        );
        assert_eq!(r.inbox_copies.len(), 2);
        assert_eq!(r.inbox_copies[1].member.as_str(), "{t}c");
        assert_eq!(r.inbox_copies[1].delivery, at(1));
        assert_eq!(r.inbox_copies[0].inbox_length, 4);
        let mut with_dedup = raw.clone();
        with_dedup.extend_from_slice(&[b"k-1", b"1795749531574"]);
        let r = ResolvedSend::parse(&with_dedup).unwrap();
        assert_eq!(r.dedup, Some((&b"k-1"[..], 1795749531574)));
        // No copies at all is an empty argument.
        let none: Vec<&[u8]> = vec![b"r", b"a", b"hi", b"1", b"2", b"1", b""];
        assert!(ResolvedSend::parse(&none).unwrap().inbox_copies.is_empty());
        // Malformed copies and missing or extra arguments are refused.
        for bad in [&b"b,1-0;"[..], b"b,1-0,4,9;", b"b c,1-0,4;", b"b,x,4;"] {
            let raw: Vec<&[u8]> = vec![b"r", b"a", b"hi", b"1", b"2", b"1", bad];
            assert!(ResolvedSend::parse(&raw).is_err(), "{bad:?}");
        }
        assert!(ResolvedSend::parse(&raw[..6]).is_err());
        let mut half_dedup = raw.clone();
        half_dedup.push(b"k");
        assert!(ResolvedSend::parse(&half_dedup).is_err());
        with_dedup.push(b"x");
        assert!(ResolvedSend::parse(&with_dedup).is_err());
    }

    #[test]
    fn internal_commands_parse() {
        let raw: Vec<&[u8]> = vec![b"1795749231574", b"CHAT.CREATE", b"general", b"General"];
        let at = At::parse(&raw).unwrap();
        assert_eq!((at.at, at.command), (1795749231574, &b"CHAT.CREATE"[..]));
        assert_eq!(at.args, [&b"general"[..], b"General"]);
        assert!(At::parse(&raw[..1]).is_err());
        assert!(At::parse(&[b"-1", b"CHAT.CREATE"]).is_err());

        let p = SetPassword::parse(&[b"alice", b"$argon2id$x"]).unwrap();
        assert_eq!((p.user.as_str(), p.hash), ("alice", "$argon2id$x"));
        let t = TrimResolved::parse(&[b"general", b"17"]).unwrap();
        assert_eq!((t.room.as_str(), t.first_kept), ("general", 17));
        let r = RestoreValue::parse(&[b"k", b"user", b"1", b"\x00\x01"]).unwrap();
        assert_eq!(
            (r.kind, r.version, r.bytes),
            (ValueKind::User, 1, &b"\x00\x01"[..])
        );
        assert!(RestoreValue::parse(&[b"k", b"queue", b"1", b""]).is_err());
        assert!(RestoreValue::parse(&[b"k", b"room", b"0", b""]).is_err());
    }
}
