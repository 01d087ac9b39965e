//! What a command table entry holds, how it is registered with Redis, and
//! how a call runs (the table itself is `table.rs`).
//!
//! Commands are registered with `RM_CreateCommand` and described with
//! `RM_SetCommandInfo`, so `COMMAND INFO`, `COMMAND DOCS` and
//! `COMMAND GETKEYS` know them, and Redis itself enforces their arity.
//!
//! The room and user arguments are the names of the keys that hold them,
//! and are declared as the commands' keys: cluster clients route by them,
//! a slot migration sees them, and ACL key patterns (`~room:*`) apply.

use std::ffi::{c_char, c_int, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use chat_core::ChatError;
use redis_module::raw;

use crate::commands::{self, Args, Handler};
use crate::context;
use crate::identity::{self, Who};
use crate::replication::{self, Propagate};
use crate::reply::{send_error, send_error_text};
use crate::server;
use crate::store::{api, bytes_of, Access, Ctx};

type CommandFn = extern "C" fn(Ctx, *mut *mut raw::RedisModuleString, c_int) -> c_int;

#[derive(Clone, Copy)]
pub enum ArgKind {
    /// A room or user id declared as a key (index into the command's keys).
    Key(usize),
    Text,
    Integer,
    OneOf,
    /// A group of arguments that come together.
    Block,
    PureToken,
}

pub struct Arg {
    pub name: &'static str,
    pub kind: ArgKind,
    pub token: Option<&'static str>,
    pub optional: bool,
    /// May repeat (`CHAT.AT`'s arguments).
    pub multiple: bool,
    pub sub: &'static [Arg],
}

pub const fn arg(name: &'static str, kind: ArgKind) -> Arg {
    Arg {
        name,
        kind,
        token: None,
        optional: false,
        multiple: false,
        sub: &[],
    }
}

/// An optional `TOKEN value` argument.
pub const fn option(token: &'static str, name: &'static str, kind: ArgKind) -> Arg {
    Arg {
        token: Some(token),
        optional: true,
        ..arg(name, kind)
    }
}

/// An optional keyword on its own, like `WITHREAD`.
pub const fn flag(token: &'static str) -> Arg {
    Arg {
        token: Some(token),
        optional: true,
        ..arg(token, ArgKind::PureToken)
    }
}

/// A `TOKEN value` alternative inside a one-of group.
pub const fn choice(token: &'static str, name: &'static str, kind: ArgKind) -> Arg {
    Arg {
        token: Some(token),
        ..arg(name, kind)
    }
}

pub struct Command {
    pub name: &'static str,
    pub func: CommandFn,
    /// The handler itself, for `CHAT.AT` to replay the command.
    pub handler: Handler,
    pub flags: &'static str,
    pub arity: i32,
    /// 1-based argument positions that name a key (a room or a user), in order.
    pub keys: &'static [(i32, Access)],
    pub summary: &'static str,
    pub complexity: &'static str,
    pub args: &'static [Arg],
}

impl Command {
    /// Whether `CHAT.AT` may replay this command: any a client may send.
    pub fn replayable_at(&self) -> bool {
        !INTERNAL.contains(&self.name)
    }
}

/// Builds a table entry and the C entry point Redis calls for it.
macro_rules! command {
    ($name:literal, $handler:path, $who:expr, $propagate:expr, { $($field:ident: $value:expr),* $(,)? }) => {{
        extern "C" fn call(
            ctx: $crate::store::Ctx,
            argv: *mut *mut redis_module::raw::RedisModuleString,
            argc: std::ffi::c_int,
        ) -> std::ffi::c_int {
            $crate::registry::dispatch(ctx, argv, argc, $handler, $name, $who, $propagate)
        }
        $crate::registry::Command {
            name: $name,
            func: call,
            handler: $handler,
            $($field: $value),*
        }
    }};
}
pub(crate) use command;

/// Runs one command: decodes the arguments, checks who may run it, calls
/// the handler, sends its reply or error, and propagates what it wrote. A
/// panic becomes an error reply and a log line instead of taking
/// redis-server down.
pub fn dispatch(
    ctx: Ctx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
    handler: Handler,
    name: &'static str,
    who: Who,
    propagate: Propagate,
) -> c_int {
    let _running = context::begin(ctx);
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
            Err(error) => {
                if let ChatError::Refused(refusal) = &error {
                    crate::stats::refused(refusal.kind());
                }
                send_error(ctx, &error)
            }
        }
        replication::after_command(ctx, propagate, argv);
    }));
    if outcome.is_err() {
        send_error_text(
            ctx,
            "ERR internal error: the command failed unexpectedly, see the Redis log",
        );
        // A room may have got a new epoch before the failure: replicas
        // must get it with this command, not tacked onto a later one.
        let _ = catch_unwind(AssertUnwindSafe(|| replication::propagate_new_epochs(ctx)));
    }
    raw::REDISMODULE_OK as c_int
}

/// Registers every command and its documentation. Called once at load.
pub fn register_all(ctx: Ctx) -> Result<(), String> {
    for command in crate::table::all() {
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
    let mut c_args = CArgs::default();
    let args = c_args.list(command.args);

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
        args,
    };
    // SAFETY: every pointer in `info` is alive until the call returns
    // (`c_args` holds what `args` points into); Redis copies what it keeps.
    let status = unsafe { api!(RedisModule_SetCommandInfo)(handle, &info) };
    drop(c_args);
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
const INTERNAL: [&str; 8] = [
    "chat.send-resolved",
    "chat.at",
    "chat.set-password",
    "chat.trim-resolved",
    "chat.restore-value",
    "chat.epoch",
    "chat.generation",
    "chat.debug-panic",
];

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

/// The C form of a command's arguments, and the strings and nested lists
/// its pointers point into: kept alive until `RM_SetCommandInfo` returns
/// (Redis copies what it keeps), then freed.
#[derive(Default)]
struct CArgs {
    strings: Vec<CString>,
    lists: Vec<Vec<raw::RedisModuleCommandArg>>,
}

impl CArgs {
    fn text(&mut self, text: &str) -> *const c_char {
        let text = c(text);
        // The CString's buffer stays where it is when the CString moves.
        let ptr = text.as_ptr();
        self.strings.push(text);
        ptr
    }

    /// `args` as a list ended by a zeroed entry; returns a pointer to it,
    /// valid while `self` lives.
    fn list(&mut self, args: &[Arg]) -> *mut raw::RedisModuleCommandArg {
        let mut out: Vec<raw::RedisModuleCommandArg> = Vec::with_capacity(args.len() + 1);
        for a in args {
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
                ArgKind::Block => (
                    raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_BLOCK,
                    -1,
                ),
            };
            let subargs = if a.sub.is_empty() {
                ptr::null_mut()
            } else {
                self.list(a.sub)
            };
            let flag = |on: bool, bit: u32| {
                if on {
                    bit
                } else {
                    raw::REDISMODULE_CMD_ARG_NONE
                }
            };
            out.push(raw::RedisModuleCommandArg {
                name: self.text(a.name),
                type_,
                key_spec_index,
                token: a.token.map_or(ptr::null(), |t| self.text(t)),
                summary: ptr::null(),
                since: ptr::null(),
                flags: (flag(a.optional, raw::REDISMODULE_CMD_ARG_OPTIONAL)
                    | flag(a.multiple, raw::REDISMODULE_CMD_ARG_MULTIPLE))
                    as c_int,
                deprecated_since: ptr::null(),
                subargs,
                display_text: ptr::null(),
            });
        }
        // SAFETY: an all-zero argument is the terminator Redis expects.
        out.push(unsafe { std::mem::zeroed() });
        // The Vec's buffer stays where it is when the Vec moves.
        let ptr = out.as_mut_ptr();
        self.lists.push(out);
        ptr
    }
}

fn c(text: &str) -> CString {
    CString::new(text).unwrap_or_default()
}
