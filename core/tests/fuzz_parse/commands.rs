//! The commands whose parsers are tested, the parser the module runs for
//! each, and one shape for every parser's result.

use chat_core::config::Limits;
use chat_core::data::extra::Extra;
use chat_core::error::ChatError;
use chat_core::ids::{RoomId, UserId};
use chat_core::replay::{At, ResolvedSend, RestoreValue, SetPassword, TrimResolved, ValueKind};
use chat_core::request::{
    parse_room, parse_user, Ack, Auth, Change, Create, Cursor, Direct, Fetch, History, Members,
    Membership, Online, Passwd, Pin, React, Reactions, Read, Register, Send, Thread,
};

// ---------------------------------------------------------------------------
// One shape for every parser's result, so that the parsers and the rules above
// can be compared field by field.

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum V {
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
    /// A number that may be absent (a reply's id, THREAD's AFTER).
    OptInt(Option<u64>),
    /// Ids, in order (the members a message mentions).
    Ids(Vec<String>),
}

pub(crate) type Parsed = Vec<(&'static str, V)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmd {
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
    Thread,
    React,
    Unreact,
    Reactions,
    Pin,
    Unpin,
    Pins,
    Mentions,
}

pub(crate) const ALL: [Cmd; 40] = [
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
    Cmd::Thread,
    Cmd::React,
    Cmd::Unreact,
    Cmd::Reactions,
    Cmd::Pin,
    Cmd::Unpin,
    Cmd::Pins,
    Cmd::Mentions,
];

pub(crate) fn room(r: RoomId) -> V {
    V::Id(r.as_str().to_string())
}

pub(crate) fn user(u: UserId) -> V {
    V::Id(u.as_str().to_string())
}

/// What a message carries besides its text, as two fields.
pub(crate) fn extra(e: &Extra) -> [(&'static str, V); 2] {
    [
        ("reply-to", V::OptInt(e.reply_to)),
        (
            "mentions",
            V::Ids(e.mentions.iter().map(|m| m.to_string()).collect()),
        ),
    ]
}

/// The parser the module runs for `cmd` (src/commands), its result in the
/// common shape.
pub(crate) fn run(cmd: Cmd, a: &[&[u8]], limits: &Limits) -> Result<Parsed, ChatError> {
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
        Cmd::Counts | Cmd::Presence | Cmd::Drop | Cmd::Pins => {
            vec![("room", room(parse_room(name(cmd), a)?))]
        }
        Cmd::Profile
        | Cmd::Rooms
        | Cmd::Offline
        | Cmd::Unread
        | Cmd::Channels
        | Cmd::Unregister
        | Cmd::Mentions => vec![("user", user(parse_user(name(cmd), a)?))],
        Cmd::Subscribe | Cmd::Unsubscribe | Cmd::Typing => {
            let r = Membership::parse(name(cmd), a)?;
            vec![("room", room(r.room)), ("user", user(r.user))]
        }
        Cmd::Send => {
            let r = Send::parse(a, limits)?;
            let mut out = vec![
                ("room", room(r.room)),
                ("user", user(r.sender)),
                ("text", Text(r.text.to_string())),
                ("dedup", Bytes(r.dedup.map(<[u8]>::to_vec))),
            ];
            out.extend(extra(&r.extra));
            out
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
            out.extend(extra(&r.extra));
            if let Some(n) = r.notified {
                out.push(("entry-ms", Int(n.entry.ms)));
                out.push(("entry-seq", Int(n.entry.seq)));
                out.push(("stream-length", Int(n.length)));
                out.push(("notified", Text(n.to.to_string())));
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
        Cmd::Thread => {
            let r = Thread::parse(a)?;
            vec![
                ("room", room(r.room)),
                ("message-id", Int(r.root)),
                ("after", OptInt(r.after)),
                ("count", Int(r.count as u64)),
            ]
        }
        Cmd::React | Cmd::Unreact => {
            let r = React::parse(name(cmd), a)?;
            vec![
                ("room", room(r.room)),
                ("user", user(r.user)),
                ("message-id", Int(r.id)),
                ("reaction", Text(r.reaction.to_string())),
            ]
        }
        Cmd::Reactions => {
            let r = Reactions::parse(a)?;
            vec![("room", room(r.room)), ("message-id", Int(r.id))]
        }
        Cmd::Pin | Cmd::Unpin => {
            let r = Pin::parse(name(cmd), a)?;
            vec![
                ("room", room(r.room)),
                ("user", user(r.user)),
                ("message-id", Int(r.id)),
            ]
        }
    })
}

pub(crate) fn name(cmd: Cmd) -> &'static str {
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
        Cmd::Thread => "chat.thread",
        Cmd::React => "chat.react",
        Cmd::Unreact => "chat.unreact",
        Cmd::Reactions => "chat.reactions",
        Cmd::Pin => "chat.pin",
        Cmd::Unpin => "chat.unpin",
        Cmd::Pins => "chat.pins",
        Cmd::Mentions => "chat.mentions",
    }
}
