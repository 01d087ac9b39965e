//! The two data types, `chat-room` and `chat-user`, and the callbacks Redis
//! calls on their values: RDB save and load (also DUMP/RESTORE, MIGRATE,
//! full syncs), AOF rewrite, DEBUG DIGEST, MEMORY USAGE, COPY and freeing.
//!
//! A value is a boxed `chat_core::data::Room` or `User`; Redis holds the
//! pointer. Every callback catches panics: none may unwind into Redis.

use std::ffi::{c_char, c_int, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use chat_core::data::{self, DecodeError, Room, User, ENCODING_VERSION};
use chat_core::ChatError;
use redis_module::native_types::RedisType;
use redis_module::raw;

use crate::log_warning;
use crate::store::bytes_of;

/// What the callbacks need to know of a chat value.
pub trait ChatValue: Sized + Clone + 'static {
    /// `room` or `user`: what CHAT.RESTORE-VALUE is told, and the word
    /// error messages use.
    const KIND: &'static str;
    fn redis_type() -> &'static RedisType;
    fn encode(&self) -> Vec<u8>;
    fn decode(version: i32, bytes: &[u8]) -> Result<Self, DecodeError>;
    /// `wire::name_hash` of the key it was made under.
    fn origin(&self) -> u32;
    /// The error for a command that needs one and finds none.
    fn missing() -> ChatError;
    /// The error for a command that makes one where one is.
    fn taken() -> ChatError;
    /// Heap bytes beyond the struct itself.
    fn heap_bytes(&self) -> usize;
    /// About how many allocations freeing it takes.
    fn allocations(&self) -> usize;
    /// Called on a value COPY made (a RESTORE is `generation`'s).
    fn arrived_as_copy(&mut self) {}
    /// What DEBUG DIGEST digests.
    fn digest_bytes(&self) -> Vec<u8> {
        self.encode()
    }
    /// What RDB files, DUMP, MIGRATE and AOF rewrites store.
    fn encode_to_save(&self) -> Vec<u8> {
        self.encode()
    }
}

impl ChatValue for Room {
    const KIND: &'static str = "room";
    fn redis_type() -> &'static RedisType {
        &ROOM_TYPE
    }
    fn encode(&self) -> Vec<u8> {
        data::encode_room(self)
    }
    fn decode(version: i32, bytes: &[u8]) -> Result<Self, DecodeError> {
        data::decode_room(version, bytes)
    }
    fn origin(&self) -> u32 {
        Room::origin(self)
    }
    fn missing() -> ChatError {
        ChatError::NoSuchRoom
    }
    fn taken() -> ChatError {
        ChatError::RoomExists
    }
    fn heap_bytes(&self) -> usize {
        Room::heap_bytes(self)
    }
    fn allocations(&self) -> usize {
        self.log().chunks().chunks().count() + self.people().len() as usize + 4
    }
    /// A copy may be renamed over the room it was copied from, after that
    /// room handed out more ids: it must not keep its epoch past its next
    /// send (docs/data-model.md#epochs-and-generations).
    fn arrived_as_copy(&mut self) {
        self.unvouch();
    }
    fn digest_bytes(&self) -> Vec<u8> {
        data::digest_room(self)
    }
    fn encode_to_save(&self) -> Vec<u8> {
        data::encode_room_to_save(self, crate::generation::vouching())
    }
}

impl ChatValue for User {
    const KIND: &'static str = "user";
    fn redis_type() -> &'static RedisType {
        &USER_TYPE
    }
    fn encode(&self) -> Vec<u8> {
        data::encode_user(self)
    }
    fn decode(version: i32, bytes: &[u8]) -> Result<Self, DecodeError> {
        data::decode_user(version, bytes)
    }
    fn origin(&self) -> u32 {
        User::origin(self)
    }
    fn missing() -> ChatError {
        ChatError::NoSuchUser
    }
    fn taken() -> ChatError {
        ChatError::UserExists
    }
    fn heap_bytes(&self) -> usize {
        User::heap_bytes(self)
    }
    fn allocations(&self) -> usize {
        self.room_count() as usize + (self.inbox_len() as usize).div_ceil(32) + 4
    }
}

const fn methods<T: ChatValue>() -> raw::RedisModuleTypeMethods {
    raw::RedisModuleTypeMethods {
        version: raw::REDISMODULE_TYPE_METHOD_VERSION as u64,
        rdb_load: Some(rdb_load::<T>),
        rdb_save: Some(rdb_save::<T>),
        aof_rewrite: Some(aof_rewrite::<T>),
        mem_usage: None,
        digest: Some(digest::<T>),
        free: Some(free::<T>),
        aux_load: None,
        aux_save: None,
        aux_save_triggers: 0,
        free_effort: None,
        unlink: None,
        copy: None,
        defrag: None,
        mem_usage2: Some(mem_usage::<T>),
        free_effort2: Some(free_effort::<T>),
        unlink2: None,
        copy2: Some(copy::<T>),
        aux_save2: None,
    }
}

/// A room's callbacks, and the server's generation as the type's
/// auxiliary data in every RDB (`generation`).
const fn room_methods() -> raw::RedisModuleTypeMethods {
    let mut methods = methods::<Room>();
    methods.aux_load = Some(crate::generation::aux_load);
    methods.aux_save = Some(crate::generation::aux_save);
    methods.aux_save_triggers = raw::REDISMODULE_AUX_BEFORE_RDB as c_int;
    methods
}

pub static ROOM_TYPE: RedisType = RedisType::new("chat-room", ENCODING_VERSION, room_methods());
pub static USER_TYPE: RedisType = RedisType::new("chat-user", ENCODING_VERSION, methods::<User>());

/// The type Redis registered, to compare a key's type with.
pub fn raw_type<T: ChatValue>() -> *mut raw::RedisModuleType {
    *T::redis_type().raw_type.borrow()
}

/// Reads a value back: the one place bytes from outside become a value.
/// Logs why, naming the key, when they cannot; Redis then refuses the RDB
/// (at start-up it stops) or the RESTORE, and nothing is misread.
pub fn decode_value<T: ChatValue>(key: &[u8], version: i32, bytes: &[u8]) -> Option<T> {
    match T::decode(version, bytes) {
        Ok(value) => Some(value),
        Err(error) => {
            log_warning(&format!(
                "cannot read chat-{} value of key '{}' ({} bytes): {error}",
                T::KIND,
                String::from_utf8_lossy(key),
                bytes.len()
            ));
            None
        }
    }
}

extern "C" fn rdb_load<T: ChatValue>(rdb: *mut raw::RedisModuleIO, encver: c_int) -> *mut c_void {
    let loaded = catch_unwind(AssertUnwindSafe(|| {
        let mut len = 0usize;
        // SAFETY: `rdb` is the IO handle Redis passed; the buffer it returns
        // is ours to free with RM_Free.
        let buffer = unsafe { raw::RedisModule_LoadStringBuffer.map(|f| f(rdb, &mut len)) }?;
        // SAFETY: reading the key name Redis keeps for this load (may be null).
        let key = unsafe { raw::RedisModule_GetKeyNameFromIO.map(|f| f(rdb)) }
            .map_or(&[][..], |name| bytes_of(name));
        // SAFETY: checking the IO handle for a read error.
        if buffer.is_null() || unsafe { raw::RedisModule_IsIOError.is_some_and(|f| f(rdb) != 0) } {
            if !buffer.is_null() {
                // SAFETY: the buffer came from RM_LoadStringBuffer.
                unsafe { raw::RedisModule_Free.map(|free| free(buffer.cast())) };
            }
            log_warning(&format!(
                "cannot read chat-{} value of key '{}': the RDB ended early or could not be read",
                T::KIND,
                String::from_utf8_lossy(key)
            ));
            return None;
        }
        // SAFETY: Redis returns `len` readable bytes at `buffer`.
        let bytes = unsafe { std::slice::from_raw_parts(buffer.cast::<u8>(), len) };
        let value = decode_value::<T>(key, encver, bytes);
        // SAFETY: the buffer came from RM_LoadStringBuffer.
        unsafe { raw::RedisModule_Free.map(|free| free(buffer.cast())) };
        value
    }));
    match loaded {
        Ok(Some(value)) => Box::into_raw(Box::new(value)).cast(),
        Ok(None) => ptr::null_mut(),
        Err(_) => {
            log_warning(&format!("internal error reading a chat-{} value", T::KIND));
            ptr::null_mut()
        }
    }
}

/// The value behind a pointer Redis passes back to a callback.
///
/// SAFETY: `value` must be a pointer this module gave Redis for a `T`.
unsafe fn value_ref<'a, T>(value: *mut c_void) -> Option<&'a T> {
    // SAFETY: as the caller promises.
    unsafe { value.cast::<T>().as_ref() }
}

extern "C" fn rdb_save<T: ChatValue>(rdb: *mut raw::RedisModuleIO, value: *mut c_void) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: Redis passes back a value of this type.
        let Some(value) = (unsafe { value_ref::<T>(value) }) else {
            return;
        };
        let bytes = value.encode_to_save();
        // SAFETY: `bytes` is alive during the call; Redis copies it.
        unsafe {
            if let Some(save) = raw::RedisModule_SaveStringBuffer {
                save(rdb, bytes.as_ptr().cast::<c_char>(), bytes.len());
            }
        }
    }));
}

/// With `aof-use-rdb-preamble no`, an AOF rewrite writes each chat key as
/// one `CHAT.RESTORE-VALUE <key> <room|user> <version> <bytes>`.
extern "C" fn aof_rewrite<T: ChatValue>(
    aof: *mut raw::RedisModuleIO,
    key: *mut raw::RedisModuleString,
    value: *mut c_void,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: Redis passes back a value of this type.
        let Some(value) = (unsafe { value_ref::<T>(value) }) else {
            return;
        };
        let bytes = value.encode_to_save();
        let kind = CString::new(T::KIND).unwrap_or_default();
        // SAFETY: "sclb" = key string, C string, long long, buffer + length;
        // all alive during the call.
        unsafe {
            if let Some(emit) = raw::RedisModule_EmitAOF {
                emit(
                    aof,
                    c"CHAT.RESTORE-VALUE".as_ptr(),
                    c"sclb".as_ptr(),
                    key,
                    kind.as_ptr(),
                    i64::from(ENCODING_VERSION),
                    bytes.as_ptr().cast::<c_char>(),
                    bytes.len(),
                );
            }
        }
    }));
}

/// DEBUG DIGEST: equal values have equal encodings, so the encoding is
/// what is digested (of a room, without what `data::digest_room` says).
extern "C" fn digest<T: ChatValue>(md: *mut raw::RedisModuleDigest, value: *mut c_void) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: Redis passes back a value of this type.
        let Some(value) = (unsafe { value_ref::<T>(value) }) else {
            return;
        };
        let mut bytes = value.digest_bytes();
        // SAFETY: `md` is live for the call; Redis reads the buffer.
        unsafe {
            if let (Some(add), Some(end)) = (
                raw::RedisModule_DigestAddStringBuffer,
                raw::RedisModule_DigestEndSequence,
            ) {
                add(md, bytes.as_mut_ptr().cast::<c_char>(), bytes.len());
                end(md);
            }
        }
    }));
}

extern "C" fn free<T: ChatValue>(value: *mut c_void) {
    if value.is_null() {
        return;
    }
    // Runs on a background thread for a big value (lazy free); dropping
    // only frees memory, which the allocator allows from any thread.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the box this module made for Redis, dropped once.
        drop(unsafe { Box::from_raw(value.cast::<T>()) });
    }));
}

/// What a key costs Redis besides the value, that `MEMORY USAGE` would not
/// count otherwise: the object and the small struct pointing at the type
/// and the value (16 bytes each), and about 16 bytes that Redis leaves out
/// of every key's usage, its dictionary entry's allocator rounding (24
/// bytes asked, 32 taken) and its slot in the keyspace's hash table (8 to
/// 16 bytes). Measured: an idle user's key adds 131 bytes to `used_memory`.
const REDIS_VALUE_OVERHEAD: usize = 16 + 16 + 16;

extern "C" fn mem_usage<T: ChatValue>(
    _ctx: *mut raw::RedisModuleKeyOptCtx,
    value: *const c_void,
    _sample_size: usize,
) -> usize {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: Redis passes back a value of this type.
        let Some(value) = (unsafe { value_ref::<T>(value.cast_mut()) }) else {
            return 0;
        };
        REDIS_VALUE_OVERHEAD + data::alloc_size(std::mem::size_of::<T>()) + value.heap_bytes()
    }))
    .unwrap_or(0)
}

/// A big room is freed on a background thread (UNLINK, lazy free), which
/// Redis does when this is above `lazyfree-lazy-user-del`'s threshold (64).
extern "C" fn free_effort<T: ChatValue>(
    _ctx: *mut raw::RedisModuleKeyOptCtx,
    value: *const c_void,
) -> usize {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: Redis passes back a value of this type.
        unsafe { value_ref::<T>(value.cast_mut()) }.map_or(1, T::allocations)
    }))
    .unwrap_or(1)
}

/// COPY: an independent copy, which remembers the name it was made under
/// (commands refuse it under the new name; see `store`).
extern "C" fn copy<T: ChatValue>(
    _ctx: *mut raw::RedisModuleKeyOptCtx,
    value: *const c_void,
) -> *mut c_void {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: Redis passes back a value of this type.
        unsafe { value_ref::<T>(value.cast_mut()) }.map_or(ptr::null_mut(), |v| {
            let mut copied = v.clone();
            copied.arrived_as_copy();
            Box::into_raw(Box::new(copied)).cast()
        })
    }))
    .unwrap_or(ptr::null_mut())
}
