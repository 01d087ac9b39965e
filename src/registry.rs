//! The command table: every CHAT.* command with its handler, flags, arity,
//! keys and documentation, and the code that registers it with Redis.
//!
//! Commands are registered with `RM_CreateCommand` and described with
//! `RM_SetCommandInfo`, so `COMMAND INFO`, `COMMAND DOCS` and
//! `COMMAND GETKEYS` know them, and Redis itself enforces their arity.
//!
//! The room and user arguments are declared as the commands' keys. They are
//! not key names themselves, but each key a command touches carries one of
//! them as its hash tag and so hashes to the slot of that argument. (ACL key
//! patterns therefore see the ids, not the key names.)

use std::ffi::{c_char, c_int, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use redis_module::raw;

use crate::commands::{self, Args, Handler};
use crate::identity::{self, Who};
use crate::reply::{send_error, send_error_text};
use crate::server;
use crate::store::{api, bytes_of, Ctx};

type CommandFn = extern "C" fn(Ctx, *mut *mut raw::RedisModuleString, c_int) -> c_int;

/// How a command uses the room or user named by one of its arguments.
#[derive(Clone, Copy)]
enum Access {
    Read,
    Write,
}

#[derive(Clone, Copy)]
enum ArgKind {
    /// A room or user id declared as a key (index into the command's keys).
    Key(usize),
    Text,
    Integer,
    OneOf,
    PureToken,
}

struct Arg {
    name: &'static str,
    kind: ArgKind,
    token: Option<&'static str>,
    optional: bool,
    sub: &'static [Arg],
}

const fn arg(name: &'static str, kind: ArgKind) -> Arg {
    Arg {
        name,
        kind,
        token: None,
        optional: false,
        sub: &[],
    }
}

/// An optional `TOKEN value` argument.
const fn option(token: &'static str, name: &'static str, kind: ArgKind) -> Arg {
    Arg {
        token: Some(token),
        optional: true,
        ..arg(name, kind)
    }
}

/// An optional keyword on its own, like `WITHREAD`.
const fn flag(token: &'static str) -> Arg {
    Arg {
        token: Some(token),
        optional: true,
        ..arg(token, ArgKind::PureToken)
    }
}

/// A `TOKEN value` alternative inside a one-of group.
const fn choice(token: &'static str, name: &'static str, kind: ArgKind) -> Arg {
    Arg {
        token: Some(token),
        ..arg(name, kind)
    }
}

pub struct Command {
    pub name: &'static str,
    func: CommandFn,
    pub flags: &'static str,
    arity: i32,
    /// 1-based argument positions that name a room or user, in order.
    keys: &'static [(i32, Access)],
    summary: &'static str,
    complexity: &'static str,
    args: &'static [Arg],
}

/// Wraps a handler into the C entry point Redis calls.
macro_rules! entry {
    ($handler:path, $name:literal, $who:expr) => {{
        extern "C" fn call(ctx: Ctx, argv: *mut *mut raw::RedisModuleString, argc: c_int) -> c_int {
            dispatch(ctx, argv, argc, $handler, $name, $who)
        }
        call
    }};
}

const ROOM: Arg = arg("room", ArgKind::Key(0));
const USER: Arg = arg("user", ArgKind::Key(0));
const ROOM_THEN_USER: [Arg; 2] = [arg("room", ArgKind::Key(0)), arg("user", ArgKind::Key(1))];

pub static COMMANDS: &[Command] = &[
    Command {
        name: "chat.register",
        func: entry!(commands::users::register, "chat.register", Who::User(1)),
        flags: "write deny-oom",
        arity: -3,
        keys: &[(1, Access::Write)],
        summary: "Registers a user with a display name and, optionally, a password (kept as an Argon2id hash).",
        complexity: "O(1); with a password, the client waits while the hash is computed on a background thread",
        args: &[
            USER,
            arg("name", ArgKind::Text),
            option("PASSWORD", "password", ArgKind::Text),
        ],
    },
    Command {
        name: "chat.auth",
        func: entry!(commands::users::auth, "chat.auth", Who::User(1)),
        flags: "readonly",
        arity: 3,
        keys: &[(1, Access::Read)],
        summary: "Checks a user's password: OK, or the same error for a wrong password and an unknown user.",
        complexity: "O(1); the client waits while the hash is checked on a background thread",
        args: &[USER, arg("password", ArgKind::Text)],
    },
    Command {
        name: "chat.passwd",
        func: entry!(commands::users::passwd, "chat.passwd", Who::User(1)),
        flags: "write deny-oom",
        arity: 4,
        keys: &[(1, Access::Write)],
        summary: "Changes a user's password, given the current one.",
        complexity: "O(1); the client waits while the hashes are computed on a background thread",
        args: &[
            USER,
            arg("old-password", ArgKind::Text),
            arg("new-password", ArgKind::Text),
        ],
    },
    Command {
        name: "chat.profile",
        func: entry!(commands::users::profile, "chat.profile", Who::Anyone),
        flags: "readonly fast",
        arity: 2,
        keys: &[(1, Access::Read)],
        summary: "Returns a user's id, name and creation time, or nil for an unknown user.",
        complexity: "O(1)",
        args: &[USER],
    },
    Command {
        name: "chat.create",
        func: entry!(commands::rooms::create, "chat.create", Who::Anyone),
        flags: "write deny-oom fast",
        arity: 3,
        keys: &[(1, Access::Write)],
        summary: "Creates a room with a title.",
        complexity: "O(1)",
        args: &[ROOM, arg("title", ArgKind::Text)],
    },
    Command {
        name: "chat.info",
        func: entry!(commands::rooms::info, "chat.info", Who::Member(1)),
        flags: "readonly fast",
        arity: -2,
        keys: &[(1, Access::Read)],
        summary: "Returns a room's title, creation time, member count, stored message count, last message id and delivery mode (with WITHREAD also each member's read cursor), or nil.",
        complexity: "O(1); O(N log N) with WITHREAD, where N is the number of members",
        args: &[ROOM, flag("WITHREAD")],
    },
    Command {
        name: "chat.subscribe",
        func: entry!(commands::rooms::subscribe, "chat.subscribe", Who::User(2)),
        flags: "write deny-oom fast",
        arity: 3,
        keys: &[(1, Access::Write), (2, Access::Write)],
        summary: "Makes a registered user a member of a room and returns the user's push channel.",
        complexity: "O(1)",
        args: &ROOM_THEN_USER,
    },
    Command {
        name: "chat.unsubscribe",
        func: entry!(commands::rooms::unsubscribe, "chat.unsubscribe", Who::User(2)),
        flags: "write fast",
        arity: 3,
        keys: &[(1, Access::Write), (2, Access::Write)],
        summary: "Removes a user from a room; returns 1 if the user was a member, else 0.",
        complexity: "O(1)",
        args: &ROOM_THEN_USER,
    },
    Command {
        name: "chat.members",
        func: entry!(commands::rooms::members, "chat.members", Who::Member(1)),
        flags: "readonly",
        arity: -2,
        keys: &[(1, Access::Read)],
        summary: "Lists a room's member ids in ascending order; with WITHREAD, a map of member to read cursor.",
        complexity: "O(N log N) where N is the number of members",
        args: &[ROOM, flag("WITHREAD")],
    },
    Command {
        name: "chat.rooms",
        func: entry!(commands::users::rooms, "chat.rooms", Who::User(1)),
        flags: "readonly",
        arity: 2,
        keys: &[(1, Access::Read)],
        summary: "Lists the ids of the rooms a user belongs to in ascending order.",
        complexity: "O(N log N) where N is the number of rooms of the user",
        args: &[USER],
    },
    Command {
        name: "chat.send",
        func: entry!(commands::send::send, "chat.send", Who::User(2)),
        flags: "write deny-oom",
        arity: -4,
        keys: &[(1, Access::Write), (2, Access::Read)],
        summary: "Sends a message to a room: stores it, counts it and delivers it to every other member, live or to their inbox. Returns the message id; a retry with the same DEDUP key returns the first id and writes nothing.",
        complexity: "O(N) in a fan-out room of N members, O(1) in a broadcast room",
        args: &[
            arg("room", ArgKind::Key(0)),
            arg("sender", ArgKind::Key(1)),
            arg("text", ArgKind::Text),
            option("DEDUP", "key", ArgKind::Text),
        ],
    },
    Command {
        name: "chat.send-resolved",
        func: entry!(commands::send::send_resolved, "chat.send-resolved", Who::Admin),
        flags: "write",
        arity: 9,
        keys: &[(1, Access::Write), (2, Access::Read)],
        summary: "Replays a CHAT.SEND on a replica or from the AOF, with every id and delivery the primary chose. Internal: refused from clients.",
        complexity: "O(N) where N is the number of inbox copies",
        args: &[
            arg("room", ArgKind::Key(0)),
            arg("sender", ArgKind::Key(1)),
            arg("text", ArgKind::Text),
            arg("id", ArgKind::Integer),
            arg("ts", ArgKind::Integer),
            arg("history-length", ArgKind::Integer),
            arg("sent-count", ArgKind::Integer),
            arg("copies", ArgKind::Text),
        ],
    },
    Command {
        name: "chat.history",
        func: entry!(commands::history::history, "chat.history", Who::Member(1)),
        flags: "readonly",
        arity: -2,
        keys: &[(1, Access::Read)],
        summary: "Returns a page of a room's messages as JSON documents, ascending by id.",
        complexity: "O(log N + COUNT) where N is the number of stored messages",
        args: &[
            ROOM,
            Arg {
                optional: true,
                sub: &[
                    choice("BEFORE", "id", ArgKind::Integer),
                    choice("AFTER", "id", ArgKind::Integer),
                ],
                ..arg("cursor", ArgKind::OneOf)
            },
            option("COUNT", "count", ArgKind::Integer),
        ],
    },
    Command {
        name: "chat.counts",
        func: entry!(commands::rooms::counts, "chat.counts", Who::Member(1)),
        flags: "readonly",
        arity: 2,
        keys: &[(1, Access::Read)],
        summary: "Returns how many messages each sender sent in a room.",
        complexity: "O(S log S) where S is the number of senders",
        args: &[ROOM],
    },
    Command {
        name: "chat.fetch",
        func: entry!(commands::inbox::fetch, "chat.fetch", Who::User(1)),
        flags: "readonly blocking",
        arity: -2,
        keys: &[(1, Access::Read)],
        summary: "Returns a user's undelivered inbox messages, oldest first, optionally waiting for the first one.",
        complexity: "O(COUNT)",
        args: &[
            USER,
            option("COUNT", "count", ArgKind::Integer),
            option("BLOCK", "milliseconds", ArgKind::Integer),
        ],
    },
    Command {
        name: "chat.ack",
        func: entry!(commands::inbox::ack, "chat.ack", Who::User(1)),
        flags: "write",
        arity: 3,
        keys: &[(1, Access::Write)],
        summary: "Removes an inbox entry and every older one; returns how many were removed.",
        complexity: "O(K) where K is the number of entries removed",
        args: &[USER, arg("delivery", ArgKind::Text)],
    },
    Command {
        name: "chat.online",
        func: entry!(commands::presence::online, "chat.online", Who::User(1)),
        flags: "write deny-oom fast",
        arity: -2,
        keys: &[(1, Access::Write)],
        summary: "Marks a user online for TTL seconds (default chat.presence-ttl).",
        complexity: "O(1)",
        args: &[USER, option("TTL", "seconds", ArgKind::Integer)],
    },
    Command {
        name: "chat.offline",
        func: entry!(commands::presence::offline, "chat.offline", Who::User(1)),
        flags: "write fast",
        arity: 2,
        keys: &[(1, Access::Write)],
        summary: "Marks a user offline now.",
        complexity: "O(1)",
        args: &[USER],
    },
    Command {
        name: "chat.presence",
        func: entry!(commands::presence::presence, "chat.presence", Who::Member(1)),
        flags: "readonly",
        arity: 2,
        keys: &[(1, Access::Read)],
        summary: "Lists the members of a room who are online, in ascending order.",
        complexity: "O(N log N) where N is the number of members",
        args: &[ROOM],
    },
    Command {
        name: "chat.read",
        func: entry!(commands::reading::read, "chat.read", Who::User(2)),
        flags: "write fast",
        arity: 4,
        keys: &[(1, Access::Write), (2, Access::Read)],
        summary: "Moves a member's read cursor forward to a message id and tells the other members; returns the cursor now in force.",
        complexity: "O(1) in a broadcast room, O(N) in a fan-out room of N members (the read event)",
        args: &[
            arg("room", ArgKind::Key(0)),
            arg("user", ArgKind::Key(1)),
            arg("id", ArgKind::Integer),
        ],
    },
    Command {
        name: "chat.unread",
        func: entry!(commands::reading::unread, "chat.unread", Who::User(1)),
        flags: "readonly",
        arity: 2,
        keys: &[(1, Access::Read)],
        summary: "Returns, for each of the user's rooms with unread messages, how many there are after the user's read cursor.",
        complexity: "O(R) where R is the number of rooms of the user",
        args: &[USER],
    },
    Command {
        name: "chat.typing",
        func: entry!(commands::reading::typing, "chat.typing", Who::User(2)),
        flags: "pubsub fast",
        arity: 3,
        keys: &[(1, Access::Read), (2, Access::Read)],
        summary: "Tells the other members of a room that the user is typing; stores nothing.",
        complexity: "O(1) in a broadcast room, O(N) in a fan-out room of N members",
        args: &ROOM_THEN_USER,
    },
    Command {
        name: "chat.channels",
        func: entry!(commands::reading::channels, "chat.channels", Who::User(1)),
        flags: "readonly",
        arity: 2,
        keys: &[(1, Access::Read)],
        summary: "Returns the command to listen with (SUBSCRIBE or SSUBSCRIBE) and every channel the user's app should listen on now.",
        complexity: "O(R) where R is the number of rooms of the user",
        args: &[USER],
    },
    Command {
        name: "chat.edit",
        func: entry!(commands::changes::edit, "chat.edit", Who::User(2)),
        flags: "write deny-oom",
        arity: 5,
        keys: &[(1, Access::Write), (2, Access::Read)],
        summary: "Replaces the text of a message; only its author may.",
        complexity: "O(1) in a broadcast room, O(N) in a fan-out room of N members (the edit event)",
        args: &[
            arg("room", ArgKind::Key(0)),
            arg("user", ArgKind::Key(1)),
            arg("id", ArgKind::Integer),
            arg("text", ArgKind::Text),
        ],
    },
    Command {
        name: "chat.delete",
        func: entry!(commands::changes::delete, "chat.delete", Who::User(2)),
        flags: "write",
        arity: 4,
        keys: &[(1, Access::Write), (2, Access::Read)],
        summary: "Deletes a message, leaving a tombstone in the history; only its author may.",
        complexity: "O(1) in a broadcast room, O(N) in a fan-out room of N members (the delete event)",
        args: &[
            arg("room", ArgKind::Key(0)),
            arg("user", ArgKind::Key(1)),
            arg("id", ArgKind::Integer),
        ],
    },
    Command {
        name: "chat.dm",
        func: entry!(commands::lifecycle::dm, "chat.dm", Who::EitherUser(1, 2)),
        flags: "write deny-oom",
        arity: 3,
        keys: &[(1, Access::Write), (2, Access::Write)],
        summary: "Returns the id of the two users' direct room, creating it and making both members on first use.",
        complexity: "O(1)",
        args: &[arg("user-a", ArgKind::Key(0)), arg("user-b", ArgKind::Key(1))],
    },
    Command {
        name: "chat.drop",
        func: entry!(commands::lifecycle::drop, "chat.drop", Who::Admin),
        flags: "write",
        arity: 2,
        keys: &[(1, Access::Write)],
        summary: "Removes a room: its history, counters and read state, and the room from every member's rooms.",
        complexity: "O(N + M) where N is the number of members and M of stored messages",
        args: &[ROOM],
    },
    Command {
        name: "chat.unregister",
        func: entry!(commands::lifecycle::unregister, "chat.unregister", Who::User(1)),
        flags: "write",
        arity: 2,
        keys: &[(1, Access::Write)],
        summary: "Removes a user: profile, presence, inbox and memberships. Their messages stay in the histories.",
        complexity: "O(R + I) where R is the number of rooms of the user and I the size of the inbox",
        args: &[USER],
    },
    // Proves that a panic in a handler becomes an error reply and a log line
    // (tests/security.rs). Debug builds only: release builds lack it.
    #[cfg(debug_assertions)]
    Command {
        name: "chat.debug-panic",
        func: entry!(commands::debug_panic, "chat.debug-panic", Who::Admin),
        flags: "readonly",
        arity: 1,
        keys: &[],
        summary: "Panics on purpose (debug builds only).",
        complexity: "O(1)",
        args: &[],
    },
];

/// Runs one command: decodes the arguments, calls the handler, sends its
/// reply or error. A panic becomes an error reply and a log line instead of
/// taking redis-server down.
fn dispatch(
    ctx: Ctx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
    handler: Handler,
    name: &'static str,
    who: Who,
) -> c_int {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let argv: &[*mut raw::RedisModuleString] = if argv.is_null() || argc <= 0 {
            &[]
        } else {
            // SAFETY: Redis passes `argc` valid argument strings.
            unsafe { std::slice::from_raw_parts(argv, argc as usize) }
        };
        let strings = argv.get(1..).unwrap_or_default();
        // Most commands have a handful of arguments: no allocation for them.
        let mut inline: [&[u8]; 16] = [&[]; 16];
        let spilled: Vec<&[u8]>;
        let bytes: &[&[u8]] = if strings.len() <= inline.len() {
            for (slot, s) in inline.iter_mut().zip(strings) {
                *slot = bytes_of(*s);
            }
            &inline[..strings.len()]
        } else {
            spilled = strings.iter().map(|s| bytes_of(*s)).collect();
            &spilled
        };
        commands::users::redact_secrets(ctx, name, bytes);
        let result = identity::check(ctx, who, name, bytes)
            .and_then(|()| handler(ctx, &Args { bytes, strings }));
        match result {
            Ok(reply) => reply.send(ctx),
            Err(error) => send_error(ctx, &error),
        }
    }));
    if outcome.is_err() {
        send_error_text(
            ctx,
            "ERR internal error: the command failed unexpectedly, see the Redis log",
        );
    }
    raw::REDISMODULE_OK as c_int
}

/// Registers every command and its documentation. Called once at load.
pub fn register_all(ctx: Ctx) -> Result<(), String> {
    for command in COMMANDS {
        register(ctx, command)?;
    }
    Ok(())
}

fn register(ctx: Ctx, command: &Command) -> Result<(), String> {
    let name = c(command.name);
    let flags = c(command.flags);
    let first = command.keys.first().map_or(0, |k| k.0);
    let last = command.keys.last().map_or(0, |k| k.0);
    let step = i32::from(!command.keys.is_empty());
    // SAFETY: static strings and a C entry point; called during OnLoad.
    let created = unsafe {
        api!(RedisModule_CreateCommand)(
            ctx,
            name.as_ptr(),
            Some(command.func),
            flags.as_ptr(),
            first,
            last,
            step,
        )
    };
    if created != raw::REDISMODULE_OK as c_int {
        return Err(format!("could not create command {}", command.name));
    }
    // SAFETY: the command was just created under this name.
    let handle = unsafe { api!(RedisModule_GetCommand)(ctx, name.as_ptr()) };
    if handle.is_null() {
        return Err(format!(
            "could not find command {} after creating it",
            command.name
        ));
    }

    let mut key_specs: Vec<raw::RedisModuleCommandKeySpec> = command
        .keys
        .iter()
        .map(|&(pos, access)| key_spec(pos, access))
        .collect();
    // SAFETY: an all-zero key spec is the terminator Redis expects.
    key_specs.push(unsafe { std::mem::zeroed() });
    let mut args = c_args(command.args);

    static VERSION: raw::RedisModuleCommandInfoVersion = raw::RedisModuleCommandInfoVersion {
        version: 1,
        sizeof_historyentry: std::mem::size_of::<raw::RedisModuleCommandHistoryEntry>(),
        sizeof_keyspec: std::mem::size_of::<raw::RedisModuleCommandKeySpec>(),
        sizeof_arg: std::mem::size_of::<raw::RedisModuleCommandArg>(),
    };
    let summary = c(command.summary);
    let complexity = c(command.complexity);
    let since = c(env!("CARGO_PKG_VERSION"));
    let info = raw::RedisModuleCommandInfo {
        version: &VERSION,
        summary: summary.as_ptr(),
        complexity: complexity.as_ptr(),
        since: since.as_ptr(),
        history: ptr::null_mut(),
        tips: ptr::null(),
        arity: command.arity,
        key_specs: key_specs.as_mut_ptr(),
        args: args.as_mut_ptr(),
    };
    // SAFETY: every pointer in `info` is alive until the call returns; Redis
    // copies what it keeps. The C strings of `args` are leaked on purpose
    // (a few hundred bytes, once).
    let status = unsafe { api!(RedisModule_SetCommandInfo)(handle, &info) };
    if status != raw::REDISMODULE_OK as c_int {
        return Err(format!(
            "Redis refused the command info of {}",
            command.name
        ));
    }
    let public = !INTERNAL.contains(&command.name);
    server::set_categories(handle, command.name, command.flags, public)
}

/// Commands no client is meant to run: they stay out of `@chat`, so an ACL
/// rule `+@chat` does not grant them.
const INTERNAL: [&str; 2] = ["chat.send-resolved", "chat.debug-panic"];

fn key_spec(pos: i32, access: Access) -> raw::RedisModuleCommandKeySpec {
    let flags = match access {
        Access::Read => raw::REDISMODULE_CMD_KEY_RO | raw::REDISMODULE_CMD_KEY_ACCESS,
        Access::Write => raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_UPDATE,
    };
    raw::RedisModuleCommandKeySpec {
        notes: ptr::null(),
        flags: flags as u64,
        begin_search_type: raw::RedisModuleKeySpecBeginSearchType_REDISMODULE_KSPEC_BS_INDEX,
        bs: raw::RedisModuleCommandKeySpec__bindgen_ty_1 {
            index: raw::RedisModuleCommandKeySpec__bindgen_ty_1__bindgen_ty_1 { pos },
        },
        find_keys_type: raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_RANGE,
        fk: raw::RedisModuleCommandKeySpec__bindgen_ty_2 {
            range: raw::RedisModuleCommandKeySpec__bindgen_ty_2__bindgen_ty_1 {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        },
    }
}

/// The C form of an argument list, ended by a zeroed entry. Leaked: Redis
/// reads it during registration and the module lives as long as the server.
fn c_args(args: &[Arg]) -> Vec<raw::RedisModuleCommandArg> {
    let mut out: Vec<raw::RedisModuleCommandArg> = args
        .iter()
        .map(|a| {
            let (type_, key_spec_index) = match a.kind {
                ArgKind::Key(i) => (
                    raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_KEY,
                    i as c_int,
                ),
                ArgKind::Text => (
                    raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_STRING,
                    -1,
                ),
                ArgKind::Integer => (
                    raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_INTEGER,
                    -1,
                ),
                ArgKind::PureToken => (
                    raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_PURE_TOKEN,
                    -1,
                ),
                ArgKind::OneOf => (
                    raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_ONEOF,
                    -1,
                ),
            };
            let subargs = if a.sub.is_empty() {
                ptr::null_mut()
            } else {
                Box::leak(c_args(a.sub).into_boxed_slice()).as_mut_ptr()
            };
            raw::RedisModuleCommandArg {
                name: leak(a.name),
                type_,
                key_spec_index,
                token: a.token.map_or(ptr::null(), leak),
                summary: ptr::null(),
                since: ptr::null(),
                flags: if a.optional {
                    raw::REDISMODULE_CMD_ARG_OPTIONAL as c_int
                } else {
                    raw::REDISMODULE_CMD_ARG_NONE as c_int
                },
                deprecated_since: ptr::null(),
                subargs,
                display_text: ptr::null(),
            }
        })
        .collect();
    // SAFETY: an all-zero argument is the terminator Redis expects.
    out.push(unsafe { std::mem::zeroed() });
    out
}

fn c(text: &str) -> CString {
    CString::new(text).unwrap_or_default()
}

fn leak(text: &str) -> *const c_char {
    c(text).into_raw()
}
