//! The only file that opens Redis keys (chat values, and the streams of
//! notifications).
//!
//! A room is the value of the key named by the room id (type `chat-room`),
//! a user the value of the key named by the user id (`chat-user`). `open`
//! checks a key's type before anything reads it: a key of another type is
//! `WRONGTYPE`, a room where a user is wanted (or the reverse) says so, and
//! a value renamed or copied by hand to another name is refused, since the
//! other keys that name it (a member's rooms, a room's members) still use
//! the old one.
//!
//! Writes change the value in place through the pointer Redis keeps. A
//! command that changed a value calls `Opened::changed`, which emits the
//! keyspace event and notes, for the dispatcher, that the command wrote
//! something to propagate (see `context`).

use std::ffi::{c_char, c_int, CStr};
use std::marker::PhantomData;
use std::ptr;

use chat_core::data::wire::name_hash;
use chat_core::delivery::DeliveryId;
use chat_core::ChatError;
use redis_module::raw;

use crate::context;
use crate::types::{raw_type, ChatValue};

/// Calls a Redis module API function. Every function used here is checked at
/// load time (see `lib.rs`), so the pointer is never missing at call time.
macro_rules! api {
    ($name:ident) => {{
        #[allow(unused_unsafe)]
        // SAFETY: Redis fills these pointers once, at load, before any call.
        let f = unsafe { redis_module::raw::$name };
        match f {
            Some(f) => f,
            None => $crate::store::missing_api(stringify!($name)),
        }
    }};
}
pub(crate) use api;

#[cold]
pub fn missing_api(name: &str) -> ! {
    panic!("Redis module API {name} is not available")
}

pub type Ctx = *mut raw::RedisModuleCtx;

/// An owned Redis string, freed on drop.
pub struct RStr(*mut raw::RedisModuleString);

impl RStr {
    pub fn new(ctx: Ctx, bytes: &[u8]) -> RStr {
        // SAFETY: Redis copies `bytes`; the pointer and length describe a live slice.
        RStr(unsafe {
            api!(RedisModule_CreateString)(ctx, bytes.as_ptr().cast::<c_char>(), bytes.len())
        })
    }

    pub fn from_int(ctx: Ctx, n: i64) -> RStr {
        // SAFETY: plain value conversion by Redis.
        RStr(unsafe { api!(RedisModule_CreateStringFromLongLong)(ctx, n) })
    }

    pub fn ptr(&self) -> *mut raw::RedisModuleString {
        self.0
    }

    /// A string made outside any command (a null context) and never freed:
    /// for names used on every call.
    pub fn kept(bytes: &[u8]) -> *mut raw::RedisModuleString {
        let s = RStr::new(ptr::null_mut(), bytes);
        let p = s.0;
        std::mem::forget(s);
        p
    }
}

impl Drop for RStr {
    fn drop(&mut self) {
        // SAFETY: we own one reference to this string.
        unsafe { api!(RedisModule_FreeString)(ptr::null_mut(), self.0) }
    }
}

/// The bytes of a Redis string that Redis owns (valid while it lives).
pub fn bytes_of<'a>(s: *const raw::RedisModuleString) -> &'a [u8] {
    if s.is_null() {
        return &[];
    }
    let mut len = 0usize;
    // SAFETY: `s` is a live RedisModuleString; Redis returns its buffer and length.
    let p = unsafe { api!(RedisModule_StringPtrLen)(s, &mut len) };
    if p.is_null() {
        return &[];
    }
    // SAFETY: Redis guarantees `len` readable bytes at `p`.
    unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) }
}

/// Whether writes are paused now (`CLIENT PAUSE`, `FAILOVER`, a cluster
/// manual failover). Commands are held back by Redis itself while paused,
/// but work that runs outside a command (a timer, the reply of a blocked
/// client) must check: Redis aborts if such work propagates a write during
/// a pause, and a failover could lose what it wrote.
pub fn writes_paused() -> bool {
    // SAFETY: no arguments; reads server state on the main thread.
    unsafe { api!(RedisModule_AvoidReplicaTraffic)() != 0 }
}

/// A key name: one of the command's own argument strings (lent by Redis for
/// the whole command), or a string made for a key the command found by
/// reading (a room's member, a user's room).
pub enum Name {
    Lent(*mut raw::RedisModuleString),
    Made(RStr),
}

impl Name {
    pub fn made(ctx: Ctx, id: &str) -> Name {
        Name::Made(RStr::new(ctx, id.as_bytes()))
    }

    pub fn ptr(&self) -> *mut raw::RedisModuleString {
        match self {
            Name::Lent(s) => *s,
            Name::Made(s) => s.ptr(),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        bytes_of(self.ptr())
    }

    /// The name as an id (ids are ASCII; a name that is not UTF-8 gives "").
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

/// A chat key, open for one command, with its value checked to be a `T`
/// (or missing).
pub struct Opened<T: ChatValue> {
    ctx: Ctx,
    raw: *mut raw::RedisModuleKey,
    name: Name,
    value: *mut T,
    kind: PhantomData<T>,
}

impl<T: ChatValue> Drop for Opened<T> {
    fn drop(&mut self) {
        // SAFETY: the key was opened by us and is closed once.
        unsafe { api!(RedisModule_CloseKey)(self.raw) }
    }
}

/// How a command uses a key: how `open` opens it, and how the command
/// table declares it to Redis (`COMMAND INFO` key specs).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Opens the chat key `name` and checks what it holds.
pub fn open<T: ChatValue>(ctx: Ctx, name: Name, access: Access) -> Result<Opened<T>, ChatError> {
    open_checked(ctx, name, access, true)
}

/// Opens a chat key whatever name its value was made under: for showing
/// it (CHAT.DUMP) and restoring it as it is (CHAT.RESTORE-VALUE), never
/// for acting on it.
pub fn inspect<T: ChatValue>(ctx: Ctx, name: Name, access: Access) -> Result<Opened<T>, ChatError> {
    open_checked(ctx, name, access, false)
}

fn open_checked<T: ChatValue>(
    ctx: Ctx,
    name: Name,
    access: Access,
    check_name: bool,
) -> Result<Opened<T>, ChatError> {
    let mode = match access {
        Access::Read => raw::REDISMODULE_READ,
        Access::Write => raw::REDISMODULE_READ | raw::REDISMODULE_WRITE,
    };
    // SAFETY: live context and key name; the handle is closed in Drop.
    let key = unsafe { api!(RedisModule_OpenKey)(ctx, name.ptr(), mode as c_int) };
    let mut opened = Opened {
        ctx,
        raw: key,
        name,
        value: ptr::null_mut(),
        kind: PhantomData,
    };
    if key.is_null() {
        return Ok(opened);
    }
    // SAFETY: open key handle.
    let key_type = unsafe { api!(RedisModule_KeyType)(key) } as isize;
    if key_type == raw::REDISMODULE_KEYTYPE_EMPTY {
        return Ok(opened);
    }
    let shown = || String::from_utf8_lossy(opened.name.as_bytes()).into_owned();
    if key_type != raw::REDISMODULE_KEYTYPE_MODULE {
        return Err(ChatError::WrongType(shown()));
    }
    // SAFETY: a module key: Redis returns its type and value pointers.
    let (module_type, value) = unsafe {
        (
            api!(RedisModule_ModuleTypeGetType)(key),
            api!(RedisModule_ModuleTypeGetValue)(key),
        )
    };
    if module_type != raw_type::<T>() {
        return Err(other_kind::<T>(module_type, shown()));
    }
    opened.value = value.cast::<T>();
    // SAFETY: a value of this type, made by this module.
    let origin = unsafe { opened.value.as_ref() }.map_or(0, T::origin);
    if check_name && origin != name_hash(opened.name.as_bytes()) {
        return Err(ChatError::Misnamed {
            key: shown(),
            kind: T::KIND,
        });
    }
    Ok(opened)
}

/// The error for a chat key of the other kind, or a foreign module's key.
fn other_kind<T: ChatValue>(found: *mut raw::RedisModuleType, key: String) -> ChatError {
    let room = raw_type::<chat_core::data::Room>();
    let user = raw_type::<chat_core::data::User>();
    let holds = if found == room {
        "room"
    } else if found == user {
        "user"
    } else {
        return ChatError::WrongType(key);
    };
    ChatError::OtherKind {
        key,
        holds,
        wanted: T::KIND,
    }
}

/// Opens the key of the id `id`, which the command found by reading (not
/// one of its arguments).
pub fn open_id<T: ChatValue>(ctx: Ctx, id: &str, access: Access) -> Result<Opened<T>, ChatError> {
    open(ctx, Name::made(ctx, id), access)
}

impl<T: ChatValue> Opened<T> {
    pub fn exists(&self) -> bool {
        !self.value.is_null()
    }

    pub fn get(&self) -> Option<&T> {
        // SAFETY: a value of this type held by the open key; it lives until
        // the key is written or deleted, which takes `&mut self`.
        unsafe { self.value.as_ref() }
    }

    pub fn get_mut(&mut self) -> Option<&mut T> {
        // SAFETY: as in `get`; `&mut self` makes this the only reference.
        unsafe { self.value.as_mut() }
    }

    /// The value of a key the command needs to exist: `ERR no such room`
    /// (or user) if it does not.
    pub fn value(&self) -> Result<&T, ChatError> {
        self.get().ok_or_else(T::missing)
    }

    pub fn value_mut(&mut self) -> Result<&mut T, ChatError> {
        self.get_mut().ok_or_else(T::missing)
    }

    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The key's name as an id, and its value to change: both at once, for
    /// a loop that writes to many keys and names each.
    pub fn id_and_value(&mut self) -> (&str, Option<&mut T>) {
        // SAFETY: as in `get_mut`; the name is a separate Redis string.
        (self.name.as_str(), unsafe { self.value.as_mut() })
    }

    pub fn id(&self) -> &str {
        self.name.as_str()
    }

    /// Stores `value` under this (empty, writable) key.
    pub fn create(&mut self, value: T) -> Result<&mut T, ChatError> {
        let boxed = Box::into_raw(Box::new(value));
        // SAFETY: a key open for writing; Redis takes ownership of the box
        // and frees it through the type's `free` callback.
        let status = unsafe {
            api!(RedisModule_ModuleTypeSetValue)(self.raw, raw_type::<T>(), boxed.cast())
        };
        if status != raw::REDISMODULE_OK as c_int {
            // SAFETY: Redis did not take the box; it is still ours.
            drop(unsafe { Box::from_raw(boxed) });
            return Err(ChatError::Internal(format!(
                "could not store the new chat-{} '{}'",
                T::KIND,
                self.id()
            )));
        }
        self.value = boxed;
        // SAFETY: the box Redis now holds under this key.
        unsafe { boxed.as_mut() }.ok_or_else(|| ChatError::Internal("no value".into()))
    }

    /// Deletes the key; true if it existed.
    pub fn delete(&mut self) -> bool {
        if self.value.is_null() {
            return false;
        }
        // SAFETY: a writable key holding our value; Redis frees the value.
        unsafe { api!(RedisModule_DeleteKey)(self.raw) };
        self.value = ptr::null_mut();
        true
    }

    /// Records that the command changed this key: the keyspace event
    /// `event` (class `module`, as `notify-keyspace-events d` selects), and
    /// a write for the dispatcher to propagate.
    pub fn changed(&self, event: &CStr) {
        context::wrote();
        // SAFETY: live context, static event name, live key name.
        unsafe {
            api!(RedisModule_NotifyKeyspaceEvent)(
                self.ctx,
                raw::REDISMODULE_NOTIFY_MODULE,
                event.as_ptr(),
                self.name.ptr(),
            )
        };
    }

    /// Wakes the clients waiting on this key (`CHAT.FETCH ... BLOCK`).
    pub fn signal_ready(&self) {
        // SAFETY: live context and key name.
        unsafe { api!(RedisModule_SignalKeyAsReady)(self.ctx, self.name.ptr()) };
    }
}

/// An entry a command appended to a Redis stream.
pub struct Appended {
    /// The entry's id, `<ms>-<seq>`.
    pub id: DeliveryId,
    /// The stream's length once trimmed.
    pub length: i64,
}

/// Where an entry goes in a stream, and how the stream is trimmed after it.
#[derive(Clone, Copy)]
pub enum Placement {
    /// An id Redis chooses; then about `max` entries are kept, trimming
    /// whole nodes only, as `XADD ... MAXLEN ~` does.
    New { max: i64 },
    /// The id and the length a primary chose, replayed: the trim keeps
    /// exactly `length` entries, which drops the same whole nodes.
    Replayed { id: DeliveryId, length: i64 },
}

/// Appends an entry of `fields` (name, value, name, value...) to the
/// stream `name`, made if missing, then trims it. The keyspace events are
/// XADD's (`xadd`, and `xtrim` when it trimmed); propagating the entry is
/// the caller's. `None` if the key holds another type, or a replayed id is
/// not after the stream's last.
pub fn append_to_stream(
    ctx: Ctx,
    name: *mut raw::RedisModuleString,
    fields: &[*mut raw::RedisModuleString],
    placement: Placement,
) -> Option<Appended> {
    let mode = raw::REDISMODULE_READ | raw::REDISMODULE_WRITE;
    // SAFETY: live context and key name; the key is closed below.
    let key = unsafe { api!(RedisModule_OpenKey)(ctx, name, mode as c_int) };
    if key.is_null() {
        return None;
    }
    let (mut id, flags, trim, keep) = match placement {
        Placement::New { max } => (
            raw::RedisModuleStreamID { ms: 0, seq: 0 },
            raw::REDISMODULE_STREAM_ADD_AUTOID,
            raw::REDISMODULE_STREAM_TRIM_APPROX,
            max,
        ),
        Placement::Replayed { id, length } => (
            raw::RedisModuleStreamID {
                ms: id.ms,
                seq: id.seq,
            },
            0,
            0,
            length,
        ),
    };
    // SAFETY: an open key handle, closed once at the end of this block;
    // `fields` holds live strings, two per field.
    let appended = unsafe {
        let key_type = api!(RedisModule_KeyType)(key) as isize;
        let added = (key_type == raw::REDISMODULE_KEYTYPE_EMPTY
            || key_type == raw::REDISMODULE_KEYTYPE_STREAM)
            && api!(RedisModule_StreamAdd)(
                key,
                flags as c_int,
                &mut id,
                fields.as_ptr().cast_mut(),
                (fields.len() / 2) as i64,
            ) == raw::REDISMODULE_OK as c_int;
        let appended = added.then(|| {
            let trimmed = api!(RedisModule_StreamTrimByLength)(key, trim as c_int, keep);
            let appended = Appended {
                id: DeliveryId {
                    ms: id.ms,
                    seq: id.seq,
                },
                length: api!(RedisModule_ValueLength)(key) as i64,
            };
            (appended, trimmed > 0)
        });
        api!(RedisModule_CloseKey)(key);
        appended
    };
    let (appended, trimmed) = appended?;
    let stream = raw::REDISMODULE_NOTIFY_STREAM;
    // SAFETY: live context, static event names, live key name.
    unsafe {
        api!(RedisModule_NotifyKeyspaceEvent)(ctx, stream, c"xadd".as_ptr(), name);
        if trimmed {
            api!(RedisModule_NotifyKeyspaceEvent)(ctx, stream, c"xtrim".as_ptr(), name);
        }
    }
    Some(appended)
}

/// Propagates `command args...` to replicas and the AOF.
pub fn replicate(ctx: Ctx, command: &CStr, argv: &[*mut raw::RedisModuleString]) {
    // SAFETY: format "v" takes an array of RedisModuleString pointers and
    // its length; Redis only reads the array (the C signature lacks the
    // const) and takes its own references to the strings.
    unsafe {
        api!(RedisModule_Replicate)(
            ctx,
            command.as_ptr(),
            c"v".as_ptr(),
            argv.as_ptr().cast_mut(),
            argv.len(),
        );
    }
}

/// Propagates the running command as it was called.
pub fn replicate_verbatim(ctx: Ctx) {
    // SAFETY: live command context.
    unsafe { api!(RedisModule_ReplicateVerbatim)(ctx) };
}
