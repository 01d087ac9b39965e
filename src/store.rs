//! The only file that opens Redis keys.
//!
//! Reads and writes go through the low-level key API (hashes, streams,
//! strings), which costs far less than calling Redis commands with
//! `RM_Call`. Those writes neither replicate nor notify by themselves, so
//! every write method here does three things at once: apply the change,
//! emit the keyspace event Redis's own command would emit, and (for a key
//! opened with `Propagation::Effects`) propagate the change to replicas and
//! the AOF as the plain Redis command that has the same effect, with every
//! non-deterministic value (ids, times) already resolved. A replica, even one
//! without the module loaded, then ends up with the primary's exact data.
//! Redis wraps the writes of one command in MULTI/EXEC.
//!
//! A command may instead propagate itself once, in resolved form, and open
//! its keys with `Propagation::Resolved` (CHAT.SEND does, by default).

use std::ffi::{c_char, c_int, c_long, c_void, CStr};
use std::ptr;
use std::sync::OnceLock;

use chat_core::ChatError;
use redis_module::raw;

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

/// A stream entry id; for a room log `ms` is the message id and `seq` is 0.
pub type StreamId = raw::RedisModuleStreamID;

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

    pub fn as_bytes(&self) -> &[u8] {
        bytes_of(self.0)
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

/// Milliseconds since the epoch, from the server's clock.
pub fn now_ms() -> i64 {
    // SAFETY: no arguments.
    unsafe { api!(RedisModule_Milliseconds)() }
}

/// What a key holds. `Empty` means the key does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Empty,
    String,
    Hash,
    Stream,
    Other,
}

/// Whether a key exists, without opening it. On a primary an expired key is
/// deleted by this check (and the deletion replicated), as a read would.
pub fn exists(ctx: Ctx, name: &[u8]) -> bool {
    let name = RStr::new(ctx, name);
    // SAFETY: live context and key name.
    unsafe { api!(RedisModule_KeyExists)(ctx, name.ptr()) != 0 }
}

pub struct Key {
    ctx: Ctx,
    raw: *mut raw::RedisModuleKey,
    name: RStr,
    propagation: Propagation,
}

/// How the writes to a key reach replicas and the AOF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Each write is propagated as the equivalent Redis command.
    Effects,
    /// The command propagates itself, resolved, once (see
    /// `chat_core::request::ResolvedSend`); single writes are not propagated.
    Resolved,
}

impl Drop for Key {
    fn drop(&mut self) {
        // SAFETY: the key was opened by us and is closed once.
        unsafe { api!(RedisModule_CloseKey)(self.raw) }
    }
}

const NOTIFY_GENERIC: c_int = raw::REDISMODULE_NOTIFY_GENERIC as c_int;
const NOTIFY_STRING: c_int = raw::REDISMODULE_NOTIFY_STRING as c_int;
const NOTIFY_HASH: c_int = raw::REDISMODULE_NOTIFY_HASH as c_int;
const NOTIFY_STREAM: c_int = raw::REDISMODULE_NOTIFY_STREAM as c_int;

impl Key {
    /// Opens `name` for reading and checks that it is empty or of kind `want`.
    pub fn read(ctx: Ctx, name: &[u8], want: Kind) -> Result<Key, ChatError> {
        let mode = raw::REDISMODULE_READ as c_int;
        Key::open(ctx, name, mode, want, Propagation::Effects)
    }

    /// Opens `name` for writing and checks that it is empty or of kind
    /// `want`. Each of its writes is propagated as the equivalent Redis
    /// command (`Propagation::Effects`), which is what every command but
    /// CHAT.SEND wants.
    pub fn write(ctx: Ctx, name: &[u8], want: Kind) -> Result<Key, ChatError> {
        Key::write_with(ctx, name, want, Propagation::Effects)
    }

    pub fn write_with(
        ctx: Ctx,
        name: &[u8],
        want: Kind,
        propagation: Propagation,
    ) -> Result<Key, ChatError> {
        let mode = (raw::REDISMODULE_READ | raw::REDISMODULE_WRITE) as c_int;
        Key::open(ctx, name, mode, want, propagation)
    }

    fn open(
        ctx: Ctx,
        name: &[u8],
        mode: c_int,
        want: Kind,
        propagation: Propagation,
    ) -> Result<Key, ChatError> {
        let name = RStr::new(ctx, name);
        // SAFETY: live context and key name; the handle is closed in Drop.
        let raw = unsafe { api!(RedisModule_OpenKey)(ctx, name.ptr(), mode) };
        let key = Key {
            ctx,
            raw,
            name,
            propagation,
        };
        let kind = key.kind();
        if kind != Kind::Empty && kind != want {
            return Err(ChatError::WrongType(
                String::from_utf8_lossy(key.name.as_bytes()).into_owned(),
            ));
        }
        Ok(key)
    }

    pub fn kind(&self) -> Kind {
        if self.raw.is_null() {
            return Kind::Empty;
        }
        // SAFETY: open key handle.
        match unsafe { api!(RedisModule_KeyType)(self.raw) } as isize {
            raw::REDISMODULE_KEYTYPE_EMPTY => Kind::Empty,
            raw::REDISMODULE_KEYTYPE_STRING => Kind::String,
            raw::REDISMODULE_KEYTYPE_HASH => Kind::Hash,
            raw::REDISMODULE_KEYTYPE_STREAM => Kind::Stream,
            _ => Kind::Other,
        }
    }

    /// Whether the key exists. (A stream emptied by trimming still exists.)
    pub fn exists(&self) -> bool {
        self.kind() != Kind::Empty
    }

    /// Number of fields of a hash, entries of a stream; 0 for a missing key.
    pub fn len(&self) -> u64 {
        if self.raw.is_null() {
            return 0;
        }
        // SAFETY: open key handle.
        unsafe { api!(RedisModule_ValueLength)(self.raw) as u64 }
    }

    fn notify(&self, class: c_int, event: &CStr) {
        // SAFETY: live context, static event name, live key name.
        unsafe {
            api!(RedisModule_NotifyKeyspaceEvent)(self.ctx, class, event.as_ptr(), self.name.ptr())
        };
    }

    /// Propagates `command key args...` to replicas and the AOF.
    fn replicate(&self, command: &CStr, args: &[*mut raw::RedisModuleString]) {
        if self.propagation != Propagation::Effects {
            return;
        }
        let mut argv = Vec::with_capacity(args.len() + 1);
        argv.push(self.name.ptr());
        argv.extend_from_slice(args);
        replicate(self.ctx, command, &argv);
    }

    // ----- hashes ---------------------------------------------------------

    /// The value of a hash field, if present.
    pub fn hash_get<F: AsRedisString + ?Sized>(&self, field: &F) -> Option<Vec<u8>> {
        self.hash_get_with(field, |v| v.to_vec())
    }

    /// `read` applied to the value of a hash field, if present, without
    /// copying the value.
    pub fn hash_get_with<F: AsRedisString + ?Sized, T>(
        &self,
        field: &F,
        read: impl FnOnce(&[u8]) -> T,
    ) -> Option<T> {
        if self.raw.is_null() {
            return None;
        }
        let mut value: *mut raw::RedisModuleString = ptr::null_mut();
        // SAFETY: HashGet takes (field, &value) pairs ended by NULL; the value
        // it returns is ours to free.
        field.with_ptr(self.ctx, |field| unsafe {
            api!(RedisModule_HashGet)(
                self.raw,
                raw::REDISMODULE_HASH_NONE as c_int,
                field,
                &mut value as *mut *mut raw::RedisModuleString,
                ptr::null_mut::<c_void>(),
            );
        });
        if value.is_null() {
            return None;
        }
        let value = RStr(value);
        Some(read(value.as_bytes()))
    }

    pub fn hash_exists<F: AsRedisString + ?Sized>(&self, field: &F) -> bool {
        if self.raw.is_null() {
            return false;
        }
        let mut exists: c_int = 0;
        // SAFETY: with HASH_EXISTS the out-parameter is an int.
        field.with_ptr(self.ctx, |field| unsafe {
            api!(RedisModule_HashGet)(
                self.raw,
                raw::REDISMODULE_HASH_EXISTS as c_int,
                field,
                &mut exists as *mut c_int,
                ptr::null_mut::<c_void>(),
            );
        });
        exists != 0
    }

    /// A hash field holding an integer; `None` if absent, an error if it is
    /// not a number (the hash was edited by hand).
    pub fn hash_get_int<F: AsRedisString + ?Sized>(
        &self,
        field: &F,
    ) -> Result<Option<i64>, ChatError> {
        match self.hash_get(field) {
            None => Ok(None),
            Some(v) => chat_core::message::parse_i64(&v).map(Some).ok_or_else(|| {
                ChatError::Internal(format!(
                    "a field of key '{}' is not an integer",
                    String::from_utf8_lossy(self.name.as_bytes())
                ))
            }),
        }
    }

    /// Sets hash fields, like `HSET key f1 v1 f2 v2 ...`. Takes string
    /// pointers (`RStr::ptr`, `Word::ptr`) so that hot paths can pass
    /// strings made once.
    pub fn hash_set(&self, pairs: &[(*mut raw::RedisModuleString, *mut raw::RedisModuleString)]) {
        for &(field, value) in pairs {
            // SAFETY: one (field, value) pair ended by NULL; Redis copies both.
            unsafe {
                api!(RedisModule_HashSet)(
                    self.raw,
                    raw::REDISMODULE_HASH_NONE as c_int,
                    field,
                    value,
                    ptr::null_mut::<c_void>(),
                );
            }
        }
        self.notify(NOTIFY_HASH, c"hset");
        if self.propagation == Propagation::Effects {
            let args: Vec<_> = pairs.iter().flat_map(|&(f, v)| [f, v]).collect();
            self.replicate(c"HSET", &args);
        }
    }

    /// Deletes a hash field, like `HDEL key field`; true if it existed. An
    /// emptied hash is deleted, as Redis does.
    pub fn hash_del(&self, field: &[u8]) -> bool {
        if self.raw.is_null() {
            return false;
        }
        let field = RStr::new(self.ctx, field);
        // SAFETY: HASH_DELETE marks the field for removal; returns fields changed.
        let removed = unsafe {
            api!(RedisModule_HashSet)(
                self.raw,
                raw::REDISMODULE_HASH_NONE as c_int,
                field.ptr(),
                raw::REDISMODULE_HASH_DELETE as *mut raw::RedisModuleString,
                ptr::null_mut::<c_void>(),
            )
        };
        if removed > 0 {
            self.notify(NOTIFY_HASH, c"hdel");
            self.replicate(c"HDEL", &[field.ptr()]);
        }
        removed > 0
    }

    /// Every field and value of a hash, ascending by field.
    ///
    /// Read with `RM_ScanKey`, which, like SCAN, may return a field twice
    /// when the hash table is being resized; duplicates are removed here.
    pub fn hash_entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        type Entries = Vec<(Vec<u8>, Vec<u8>)>;
        let mut out: Entries = Vec::with_capacity(self.len() as usize);
        if self.raw.is_null() {
            return out;
        }
        extern "C" fn collect(
            _key: *mut raw::RedisModuleKey,
            field: *mut raw::RedisModuleString,
            value: *mut raw::RedisModuleString,
            privdata: *mut c_void,
        ) {
            // SAFETY: privdata is the `Entries` passed to ScanKey below,
            // alive and not otherwise borrowed for the whole scan.
            let out = unsafe { &mut *privdata.cast::<Entries>() };
            out.push((bytes_of(field).to_vec(), bytes_of(value).to_vec()));
        }
        // SAFETY: the cursor is created and destroyed here; ScanKey calls
        // `collect` synchronously with `out` as privdata.
        unsafe {
            let cursor = api!(RedisModule_ScanCursorCreate)();
            while api!(RedisModule_ScanKey)(
                self.raw,
                cursor,
                Some(collect),
                &mut out as *mut Entries as *mut c_void,
            ) != 0
            {}
            api!(RedisModule_ScanCursorDestroy)(cursor);
        }
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out.dedup_by(|a, b| a.0 == b.0);
        out
    }

    /// Every field name of a hash, ascending.
    pub fn hash_fields(&self) -> Vec<Vec<u8>> {
        self.hash_entries()
            .into_iter()
            .map(|(field, _)| field)
            .collect()
    }

    // ----- streams --------------------------------------------------------

    /// Appends an entry, like `XADD key [MAXLEN ...] id field value ...`,
    /// then trims the stream as `trim` says. `id: None` lets Redis pick the
    /// next `<ms>-<seq>` id. Returns the id and how many entries the trim
    /// removed.
    ///
    /// With effects, what is propagated is exact, as Redis does for its own
    /// `XADD ... ~`: the resolved id and, if anything was trimmed,
    /// `MAXLEN = <length now>`, which removes the very same nodes on a replica.
    pub fn stream_add(
        &self,
        id: Option<StreamId>,
        fields: &[*mut raw::RedisModuleString],
        trim: Trim,
    ) -> Result<(StreamId, u64), ChatError> {
        let mut assigned = id.unwrap_or(StreamId { ms: 0, seq: 0 });
        let flags = if id.is_none() {
            raw::REDISMODULE_STREAM_ADD_AUTOID as c_int
        } else {
            0
        };
        // SAFETY: `fields` holds len/2 field-value pairs; Redis only reads
        // the array (the C signature lacks the const).
        let status = unsafe {
            api!(RedisModule_StreamAdd)(
                self.raw,
                flags,
                &mut assigned,
                fields.as_ptr().cast_mut(),
                (fields.len() / 2) as i64,
            )
        };
        if status != raw::REDISMODULE_OK as c_int {
            return Err(ChatError::Internal(format!(
                "could not append to stream '{}'",
                String::from_utf8_lossy(self.name.as_bytes())
            )));
        }
        let (limit, flags) = match trim {
            Trim::KeepAtLeast(keep) => (keep, raw::REDISMODULE_STREAM_TRIM_APPROX as c_int),
            Trim::ToLength(length) => (length, 0),
        };
        let trimmed = if self.len() > limit {
            // SAFETY: trimming an open stream key.
            unsafe { api!(RedisModule_StreamTrimByLength)(self.raw, flags, limit as i64) }.max(0)
                as u64
        } else {
            0
        };

        self.notify(NOTIFY_STREAM, c"xadd");
        if trimmed > 0 {
            self.notify(NOTIFY_STREAM, c"xtrim");
        }
        if self.propagation == Propagation::Effects {
            let id_text = RStr::new(self.ctx, format_stream_id(assigned).as_bytes());
            let mut args = Vec::with_capacity(fields.len() + 4);
            let len_text;
            if trimmed > 0 {
                len_text = RStr::from_int(self.ctx, self.len() as i64);
                let w = words();
                args.extend([w.maxlen.ptr(), w.equals.ptr(), len_text.ptr()]);
            }
            args.push(id_text.ptr());
            args.extend_from_slice(fields);
            self.replicate(c"XADD", &args);
        }
        Ok((assigned, trimmed))
    }

    /// Removes one entry with `XDEL key id`; true if it was there.
    ///
    /// Run as the command itself, not through `RM_StreamDelete`: XDEL also
    /// records the stream's largest deleted id (`XINFO STREAM`), which the
    /// API call leaves alone, and replicas and the AOF, which apply XDEL,
    /// would then hold a different stream than the primary.
    pub fn stream_delete(&self, id: StreamId) -> bool {
        if self.raw.is_null() {
            return false;
        }
        let id = RStr::new(self.ctx, format_stream_id(id).as_bytes());
        // SAFETY: "ss" = two RedisModuleString arguments; no "!" flag, so
        // Redis does not propagate it (the line below does, as an effect).
        // XDEL changes the stream in place and never deletes the key, so
        // this handle stays valid. The reply is freed here.
        let deleted = unsafe {
            let reply = api!(RedisModule_Call)(
                self.ctx,
                c"XDEL".as_ptr(),
                c"ss".as_ptr(),
                self.name.ptr(),
                id.ptr(),
            );
            if reply.is_null() {
                false
            } else {
                let n = api!(RedisModule_CallReplyInteger)(reply);
                api!(RedisModule_FreeCallReply)(reply);
                n == 1
            }
        };
        if deleted {
            self.replicate(c"XDEL", &[id.ptr()]);
        }
        deleted
    }

    /// Removes every entry with an id below `min`, like `XTRIM key MINID min`.
    /// Returns how many were removed.
    pub fn stream_trim_below(&self, mut min: StreamId) -> u64 {
        if self.raw.is_null() {
            return 0;
        }
        // SAFETY: exact trimming of an open stream key.
        let removed =
            unsafe { api!(RedisModule_StreamTrimByID)(self.raw, 0, &mut min) }.max(0) as u64;
        if removed > 0 {
            self.notify(NOTIFY_STREAM, c"xtrim");
            let id = RStr::new(self.ctx, format_stream_id(min).as_bytes());
            self.replicate(c"XTRIM", &[words().minid.ptr(), id.ptr()]);
        }
        removed
    }

    /// Removes every entry, like `XTRIM key MAXLEN 0`. Returns how many.
    pub fn stream_clear(&self) -> u64 {
        if self.raw.is_null() {
            return 0;
        }
        // SAFETY: exact trimming of an open stream key.
        let removed = unsafe { api!(RedisModule_StreamTrimByLength)(self.raw, 0, 0) }.max(0) as u64;
        if removed > 0 {
            self.notify(NOTIFY_STREAM, c"xtrim");
            let zero = RStr::from_int(self.ctx, 0);
            self.replicate(c"XTRIM", &[words().maxlen.ptr(), zero.ptr()]);
        }
        removed
    }

    /// Visits up to `limit` entries with ids in `from..=to` (both inclusive),
    /// ascending, or descending when `reverse`. `f` gets the entry id and its
    /// field-value pairs, and returns whether to go on.
    pub fn stream_range(
        &self,
        mut from: StreamId,
        mut to: StreamId,
        reverse: bool,
        limit: usize,
        mut f: impl FnMut(StreamId, &[(&[u8], &[u8])]) -> bool,
    ) {
        if self.raw.is_null() || limit == 0 || (from.ms, from.seq) > (to.ms, to.seq) {
            return;
        }
        let flags = if reverse {
            raw::REDISMODULE_STREAM_ITERATOR_REVERSE as c_int
        } else {
            0
        };
        // SAFETY: the iterator is started and stopped on this open key.
        if unsafe { api!(RedisModule_StreamIteratorStart)(self.raw, flags, &mut from, &mut to) }
            != raw::REDISMODULE_OK as c_int
        {
            return;
        }
        let mut seen = 0;
        let mut id = StreamId { ms: 0, seq: 0 };
        let mut numfields: c_long = 0;
        let mut owned: Vec<(RStr, RStr)> = Vec::new();
        // SAFETY: NextID/NextField walk the iterator started above; the field
        // and value strings they return are ours to free (RStr).
        unsafe {
            while seen < limit
                && api!(RedisModule_StreamIteratorNextID)(self.raw, &mut id, &mut numfields)
                    == raw::REDISMODULE_OK as c_int
            {
                owned.clear();
                let mut field: *mut raw::RedisModuleString = ptr::null_mut();
                let mut value: *mut raw::RedisModuleString = ptr::null_mut();
                while api!(RedisModule_StreamIteratorNextField)(self.raw, &mut field, &mut value)
                    == raw::REDISMODULE_OK as c_int
                {
                    owned.push((RStr(field), RStr(value)));
                }
                let pairs: Vec<(&[u8], &[u8])> = owned
                    .iter()
                    .map(|(f, v)| (f.as_bytes(), v.as_bytes()))
                    .collect();
                seen += 1;
                if !f(id, &pairs) {
                    break;
                }
            }
            api!(RedisModule_StreamIteratorStop)(self.raw);
        }
    }

    /// The id of the first entry, from the oldest, for which `f` holds.
    pub fn stream_find_first(
        &self,
        mut f: impl FnMut(StreamId, &[(&[u8], &[u8])]) -> bool,
    ) -> Option<StreamId> {
        let mut found = None;
        self.stream_range(
            STREAM_ID_MIN,
            STREAM_ID_MAX,
            false,
            usize::MAX,
            |id, fields| {
                if found.is_none() && f(id, fields) {
                    found = Some(id);
                }
                found.is_none()
            },
        );
        found
    }

    // ----- strings --------------------------------------------------------

    /// The value of a string key, if it exists.
    pub fn string_get(&self) -> Option<Vec<u8>> {
        self.string_bytes().map(<[u8]>::to_vec)
    }

    /// The bytes of a string key, without copying them. They stay valid as
    /// long as this key is neither written nor closed, which the borrow of
    /// `self` guarantees for reads; the write methods take `&self` too, so
    /// callers must not hold the bytes across a write to this same key.
    /// Redis may replace the key's value object here (a short string is
    /// stored embedded, and `RM_StringDMA` converts it, even for reading),
    /// so no other handle on the same key may be open: it would be left
    /// pointing at the freed object.
    pub fn string_bytes(&self) -> Option<&[u8]> {
        if self.kind() != Kind::String {
            return None;
        }
        let mut len = 0usize;
        // SAFETY: read-only access to an open string key.
        unsafe {
            let p = api!(RedisModule_StringDMA)(self.raw, &mut len, raw::REDISMODULE_READ as c_int);
            if p.is_null() {
                return None;
            }
            Some(std::slice::from_raw_parts(p.cast::<u8>(), len))
        }
    }

    /// Sets a string, like `SET key value` (dropping any expiry).
    pub fn string_set(&self, value: &[u8]) {
        let value = RStr::new(self.ctx, value);
        // SAFETY: open writable key; StringSet replaces any value.
        unsafe { api!(RedisModule_StringSet)(self.raw, value.ptr()) };
        self.notify(NOTIFY_STRING, c"set");
        self.replicate(c"SET", &[value.ptr()]);
    }

    /// Appends to a string, like `APPEND key value`.
    pub fn string_append(&self, value: &[u8]) {
        let old = self.string_bytes().map_or(0, <[u8]>::len);
        let mut len = 0usize;
        // SAFETY: open writable key. StringTruncate grows (or creates) the
        // string; DMA then gives its bytes to write the tail into.
        unsafe {
            if api!(RedisModule_StringTruncate)(self.raw, old + value.len())
                != raw::REDISMODULE_OK as c_int
            {
                return;
            }
            let p =
                api!(RedisModule_StringDMA)(self.raw, &mut len, raw::REDISMODULE_WRITE as c_int);
            if p.is_null() || len != old + value.len() {
                return;
            }
            std::ptr::copy_nonoverlapping(value.as_ptr(), p.cast::<u8>().add(old), value.len());
        }
        self.notify(NOTIFY_STRING, c"append");
        let value = RStr::new(self.ctx, value);
        self.replicate(c"APPEND", &[value.ptr()]);
    }

    /// Sets a string that expires at `at_ms`, like `SET key value PXAT at_ms`.
    pub fn string_set_until(&self, value: &[u8], at_ms: i64) {
        let value = RStr::new(self.ctx, value);
        // SAFETY: open writable key; StringSet replaces any value, then the
        // absolute expiry is attached.
        unsafe {
            api!(RedisModule_StringSet)(self.raw, value.ptr());
            api!(RedisModule_SetAbsExpire)(self.raw, at_ms);
        }
        self.notify(NOTIFY_STRING, c"set");
        self.notify(NOTIFY_GENERIC, c"expire");
        let at = RStr::from_int(self.ctx, at_ms);
        self.replicate(c"SET", &[value.ptr(), words().pxat.ptr(), at.ptr()]);
    }

    /// Deletes the key, like `DEL key`; true if it existed.
    pub fn delete(&self) -> bool {
        if !self.exists() {
            return false;
        }
        // SAFETY: open writable key.
        unsafe { api!(RedisModule_DeleteKey)(self.raw) };
        self.notify(NOTIFY_GENERIC, c"del");
        self.replicate(c"DEL", &[]);
        true
    }
}

/// Anything that can be passed where Redis wants a string: bytes (copied
/// into a temporary string), an `RStr`, or a `Word` made once at load.
pub trait AsRedisString {
    fn with_ptr<R>(&self, ctx: Ctx, f: impl FnOnce(*mut raw::RedisModuleString) -> R) -> R;
}

impl AsRedisString for [u8] {
    fn with_ptr<R>(&self, ctx: Ctx, f: impl FnOnce(*mut raw::RedisModuleString) -> R) -> R {
        f(RStr::new(ctx, self).ptr())
    }
}

impl<const N: usize> AsRedisString for [u8; N] {
    fn with_ptr<R>(&self, ctx: Ctx, f: impl FnOnce(*mut raw::RedisModuleString) -> R) -> R {
        self[..].with_ptr(ctx, f)
    }
}

impl AsRedisString for RStr {
    fn with_ptr<R>(&self, _ctx: Ctx, f: impl FnOnce(*mut raw::RedisModuleString) -> R) -> R {
        f(self.ptr())
    }
}

impl AsRedisString for Word {
    fn with_ptr<R>(&self, _ctx: Ctx, f: impl FnOnce(*mut raw::RedisModuleString) -> R) -> R {
        f(self.ptr())
    }
}

/// A string made once and kept for the life of the module: the field names
/// and keywords every send uses, so it allocates none of them.
pub struct Word(*mut raw::RedisModuleString);

// SAFETY: a Word is created once and only ever used by commands, which Redis
// runs one at a time on its main thread.
unsafe impl Send for Word {}
unsafe impl Sync for Word {}

impl Word {
    fn new(text: &[u8]) -> Word {
        // SAFETY: a string with no context is not tied to a command; it is
        // never freed.
        Word(unsafe {
            api!(RedisModule_CreateString)(
                ptr::null_mut(),
                text.as_ptr().cast::<c_char>(),
                text.len(),
            )
        })
    }

    pub fn ptr(&self) -> *mut raw::RedisModuleString {
        self.0
    }
}

pub struct Words {
    pub last_id: Word,
    pub maxlen: Word,
    pub equals: Word,
    pub minid: Word,
    pub pxat: Word,
    /// `chat_core::message::LOG_FIELDS`, in order.
    pub log_fields: [Word; 3],
    /// `chat_core::message::INBOX_FIELD`.
    pub inbox_field: Word,
}

pub fn words() -> &'static Words {
    static WORDS: OnceLock<Words> = OnceLock::new();
    WORDS.get_or_init(|| Words {
        last_id: Word::new(b"last_id"),
        maxlen: Word::new(b"MAXLEN"),
        equals: Word::new(b"="),
        minid: Word::new(b"MINID"),
        pxat: Word::new(b"PXAT"),
        log_fields: chat_core::message::LOG_FIELDS.map(Word::new),
        inbox_field: Word::new(chat_core::message::INBOX_FIELD),
    })
}

/// How `Key::stream_add` trims after appending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    /// Drop whole old nodes while at least this many entries remain (cheap;
    /// like `XADD ... MAXLEN ~`). Used where the choice is made.
    KeepAtLeast(u64),
    /// Trim to exactly this length. Used to replay a trim: on a stream laid
    /// out as the primary's, it removes the same whole nodes.
    ToLength(u64),
}

/// Propagates `command args...` to replicas and the AOF.
pub fn replicate(ctx: Ctx, command: &CStr, argv: &[*mut raw::RedisModuleString]) {
    let mut argv = argv.to_vec();
    // SAFETY: format "v" takes an array of RedisModuleString pointers and
    // its length; Redis takes its own references to them.
    unsafe {
        api!(RedisModule_Replicate)(
            ctx,
            command.as_ptr(),
            c"v".as_ptr(),
            argv.as_mut_ptr(),
            argv.len(),
        );
    }
}

/// Propagates the running command as it was called.
pub fn replicate_verbatim(ctx: Ctx) {
    // SAFETY: live command context.
    unsafe { api!(RedisModule_ReplicateVerbatim)(ctx) };
}

pub fn format_stream_id(id: StreamId) -> String {
    format!("{}-{}", id.ms, id.seq)
}

/// The largest stream id, an open upper bound for ranges.
pub const STREAM_ID_MAX: StreamId = StreamId {
    ms: u64::MAX,
    seq: u64::MAX,
};
pub const STREAM_ID_MIN: StreamId = StreamId { ms: 0, seq: 0 };
