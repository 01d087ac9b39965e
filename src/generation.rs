//! The server's generation, and room epochs (`chat_core::data::epoch`).
//!
//! A generation is a random number that stands for "the data as this
//! primary acknowledged it". A new one is due whenever the data may lack
//! writes a primary acknowledged: when the server becomes primary by
//! promotion, when it starts as a primary from anything but an AOF that
//! kept every acknowledged write, and when its AOF stops or starts keeping
//! every write (`appendonly`, `appendfsync`, `no-appendfsync-on-rewrite`
//! changed). It is drawn at the first send after that, on the primary,
//! before that send hands out an id. Each room remembers the generation
//! it was last written under; a send to a room written under another one
//! first gives the room a new epoch (`vouch`), which replicas and the AOF
//! receive as `CHAT.EPOCH <room> <epoch> <generation>`, and which the
//! room's listeners hear as one `reset` event. The check is one comparison
//! per send.
//!
//! For a restart from an AOF that keeps every write to keep epochs, the
//! generation must survive it: the primary writes it to the AOF and to its
//! replicas as `CHAT.GENERATION <generation> [DURABLE]` when it draws it
//! (`DURABLE`: its AOF keeps every acknowledged write), and into every RDB
//! (and so an AOF's RDB preamble) as the room type's auxiliary data, with
//! whether a restart may keep it. A replica passes it on to its own AOF as
//! `CHAT.GENERATION <generation> REPLICA`: a replica may be behind its
//! primary, so data it saved never keeps a generation when it starts as a
//! primary.

use std::collections::hash_map::RandomState;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::hash::{BuildHasher, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chat_core::data::epoch::Epoch;
use chat_core::data::Room;
use chat_core::replay::Recorded;
use chat_core::ChatError;
use redis_module::raw;

use crate::store::{self, api, Access, Ctx, Name, RStr};
use crate::{context, log_notice, stats};

/// The generation in force; 0 before the first is drawn or loaded.
static GENERATION: AtomicU64 = AtomicU64::new(0);
/// A new generation is due: drawn at the next send on the primary.
static DUE: AtomicBool = AtomicBool::new(false);
/// Whether the generation was recorded by a primary whose AOF has kept
/// every acknowledged write since: only then may a restart keep it.
static KEEPABLE: AtomicBool = AtomicBool::new(false);
/// Whether the AOF now keeps every acknowledged write, as last read.
static DURABLE: AtomicBool = AtomicBool::new(false);
/// Whether the command running is `RESTORE-ASKING`, the RESTORE of a
/// cluster migration (set by the command filter, before every command).
static MIGRATING: AtomicBool = AtomicBool::new(false);

/// The generation in force (0: none yet).
pub fn current() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}

/// A random u64 that is neither 0 nor `not`. The standard library seeds
/// each `RandomState` from the operating system's randomness.
fn random_except(not: u64) -> u64 {
    loop {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_i64(context::now());
        let n = hasher.finish();
        if n != 0 && n != not {
            return n;
        }
    }
}

/// Whether the AOF keeps every write acknowledged: `appendonly yes` and
/// `appendfsync always`, and no pause of fsync while a child saves.
fn read_durability(ctx: Ctx) -> bool {
    let is =
        |name: &CStr, value: &str| crate::server::config_get(ctx, name).as_deref() == Some(value);
    is(c"appendonly", "yes")
        && is(c"appendfsync", "always")
        && is(c"no-appendfsync-on-rewrite", "no")
}

/// Makes a new generation due at the next send, and says why. The one in
/// force no longer vouches for anything a restart could keep.
fn make_due(why: &str) {
    DUE.store(true, Ordering::Relaxed);
    KEEPABLE.store(false, Ordering::Relaxed);
    log_notice(&format!(
        "{why}: a new generation at the next send, and a new epoch for each room it writes"
    ));
}

/// Draws the new generation, in a command on the primary, and writes it to
/// the AOF and replicas before anything written under it.
fn draw(ctx: Ctx) {
    let generation = random_except(current());
    let durable = read_durability(ctx);
    GENERATION.store(generation, Ordering::Relaxed);
    DUE.store(false, Ordering::Relaxed);
    DURABLE.store(durable, Ordering::Relaxed);
    KEEPABLE.store(durable, Ordering::Relaxed);
    stats::add(&stats::GENERATIONS, 1);
    log_notice(&format!("new generation {generation:016x}"));
    let hex = RStr::new(ctx, format!("{generation:016x}").as_bytes());
    if durable {
        let word = RStr::new(ctx, b"DURABLE");
        store::replicate(ctx, c"CHAT.GENERATION", &[hex.ptr(), word.ptr()]);
    } else {
        store::replicate(ctx, c"CHAT.GENERATION", &[hex.ptr()]);
    }
}

fn is_primary(ctx: Ctx) -> bool {
    context::has_flags(ctx, raw::REDISMODULE_CTX_FLAGS_MASTER)
}

/// Before a send hands out the room's next id, on the primary: if the room
/// was last written under another generation, its ids after its last one
/// may have been handed out before, so it gets a new epoch. Returns it, for
/// the caller to announce; the dispatcher propagates it after the command.
/// A replay decides nothing: the primary's `CHAT.EPOCH` follows it.
pub fn vouch(ctx: Ctx, room_id: &str, room: &mut Room) -> Option<Epoch> {
    if !DUE.load(Ordering::Relaxed) && room.epoch().holds_under(current()) {
        return None;
    }
    if context::replaying() {
        return None;
    }
    if DUE.load(Ordering::Relaxed) || current() == 0 {
        draw(ctx);
    }
    let generation = current();
    if room.epoch().holds_under(generation) {
        return None;
    }
    let epoch = Epoch {
        id: random_except(room.epoch().id),
        generation,
    };
    room.set_epoch(epoch);
    crate::replication::epoch_changed(room_id, epoch);
    stats::add(&stats::EPOCH_CHANGES, 1);
    Some(epoch)
}

/// Subscribes to the events that make a generation due, and to RESTORE.
/// Called once at load.
pub fn start(ctx: Ctx) -> Result<(), String> {
    let events = [
        (
            raw::REDISMODULE_EVENT_REPLICATION_ROLE_CHANGED,
            "role changes",
        ),
        (raw::REDISMODULE_EVENT_LOADING, "loading"),
    ];
    for (id, what) in events {
        let event = raw::RedisModuleEvent { id, dataver: 1 };
        // SAFETY: an event subscription with a plain function, for the
        // life of the module.
        let status =
            unsafe { api!(RedisModule_SubscribeToServerEvent)(ctx, event, Some(on_event)) };
        if status != raw::REDISMODULE_OK as c_int {
            return Err(format!("could not subscribe to {what}"));
        }
    }
    // SAFETY: a keyspace subscription with a plain function, for the life
    // of the module.
    let status = unsafe {
        api!(RedisModule_SubscribeToKeyspaceEvents)(
            ctx,
            raw::NotifyEvent::GENERIC.bits(),
            Some(on_keyspace),
        )
    };
    if status != raw::REDISMODULE_OK as c_int {
        return Err("could not subscribe to RESTORE".into());
    }
    Ok(())
}

extern "C" fn on_event(ctx: Ctx, event: raw::RedisModuleEvent, subevent: u64, _data: *mut c_void) {
    let _ = catch_unwind(AssertUnwindSafe(|| match (event.id, subevent) {
        (
            raw::REDISMODULE_EVENT_REPLICATION_ROLE_CHANGED,
            raw::REDISMODULE_EVENT_REPLROLECHANGED_NOW_MASTER,
        ) => make_due("promoted to primary"),
        (raw::REDISMODULE_EVENT_LOADING, raw::REDISMODULE_SUBEVENT_LOADING_ENDED) => {
            after_loading(ctx)
        }
        _ => {}
    }));
}

/// Once a primary has loaded its data: it keeps the generation it loaded
/// only from an AOF that a primary wrote keeping every acknowledged write,
/// loaded by a server whose AOF still does. A replica waits for its
/// primary's.
fn after_loading(ctx: Ctx) {
    if !is_primary(ctx) {
        return;
    }
    let durable = read_durability(ctx);
    DURABLE.store(durable, Ordering::Relaxed);
    if durable && current() != 0 && KEEPABLE.load(Ordering::Relaxed) {
        log_notice(&format!(
            "kept generation {:016x}: loaded from an AOF that kept every acknowledged write",
            current()
        ));
    } else {
        make_due("started from data that may lack acknowledged writes");
    }
}

/// After `CONFIG SET` of the persistence settings: a primary whose AOF
/// stops keeping every write (or starts) needs a generation recorded as
/// such. Called by the configuration listener (`eviction`).
pub fn persistence_changed(ctx: Ctx) {
    let durable = read_durability(ctx);
    if DURABLE.swap(durable, Ordering::Relaxed) == durable {
        return;
    }
    KEEPABLE.store(false, Ordering::Relaxed);
    if is_primary(ctx) {
        make_due("the AOF's persistence settings changed");
    }
}

/// The generation a room is saved with (`data::encode_room_to_save`): none
/// while a new one is due.
pub fn vouching() -> u64 {
    if DUE.load(Ordering::Relaxed) {
        0
    } else {
        current()
    }
}

/// Called by the command filter with the name of every command, before it
/// runs (and not for commands replayed from the AOF, which then count as
/// plain RESTOREs: the safe side).
pub fn command_seen(name: &[u8]) {
    MIGRATING.store(
        name.eq_ignore_ascii_case(b"restore-asking"),
        Ordering::Relaxed,
    );
}

/// A room that a cluster migration brought here (`RESTORE-ASKING`): saved
/// with a generation, its sender vouched for its epoch when it left, with
/// every id it acknowledged, so this server vouches for it too and clients
/// keep their ids across a reshard. A server that never had a generation
/// takes the sender's (nothing here was written under another one).
fn migrated(room: &mut Room) {
    if DUE.load(Ordering::Relaxed) {
        room.unvouch();
    } else if current() == 0 {
        if room.epoch().generation != 0 {
            GENERATION.store(room.epoch().generation, Ordering::Relaxed);
            KEEPABLE.store(false, Ordering::Relaxed);
        }
    } else {
        room.adopt(current());
    }
}

/// A RESTORE (or MIGRATE's RESTORE-ASKING), live, replayed by a replica or
/// from the AOF: a room restored from an older DUMP may have handed out,
/// since, the ids after the dump's last one, so its epoch must not last
/// past its next send; a room a migration brought keeps it (`migrated`).
extern "C" fn on_keyspace(
    ctx: Ctx,
    _type: c_int,
    event: *const c_char,
    key: *mut raw::RedisModuleString,
) -> c_int {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: Redis passes the event's name as a C string for the call.
        if event.is_null() || unsafe { CStr::from_ptr(event) }.to_bytes() != b"restore" {
            return;
        }
        if let Ok(mut room) = store::inspect::<Room>(ctx, Name::Lent(key), Access::Write) {
            if let Ok(room) = room.value_mut() {
                if MIGRATING.load(Ordering::Relaxed) {
                    migrated(room);
                } else {
                    room.unvouch();
                }
            }
        }
    }));
    raw::REDISMODULE_OK as c_int
}

/// CHAT.GENERATION <generation> [DURABLE | REPLICA]: the generation a
/// primary drew, as it recorded it (`Recorded`). A replica passes it on to
/// its own AOF as one it recorded.
pub fn apply_logged(ctx: Ctx, generation: &str, recorded: Recorded) -> Result<(), ChatError> {
    let parsed = u64::from_str_radix(generation, 16)
        .ok()
        .filter(|&g| g != 0 && generation.len() <= 16)
        .ok_or_else(|| ChatError::Internal(format!("'{generation}' is not a generation")))?;
    GENERATION.store(parsed, Ordering::Relaxed);
    let live_on_replica =
        !context::has_flags(ctx, raw::REDISMODULE_CTX_FLAGS_LOADING) && !is_primary(ctx);
    KEEPABLE.store(
        recorded == Recorded::Durably && !live_on_replica,
        Ordering::Relaxed,
    );
    if live_on_replica {
        let hex = RStr::new(ctx, generation.as_bytes());
        let replica = RStr::new(ctx, b"REPLICA");
        store::replicate(ctx, c"CHAT.GENERATION", &[hex.ptr(), replica.ptr()]);
    }
    Ok(())
}

/// The room type's auxiliary data, before the keys of every RDB: the
/// generation, and whether a restart from this file may keep it (saved
/// by a primary whose AOF has kept every write since it was drawn).
pub extern "C" fn aux_save(rdb: *mut raw::RedisModuleIO, _when: c_int) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the IO handle Redis passed, during the call; the context
        // it gives answers for the server (its role), not a client.
        unsafe {
            let ctx = api!(RedisModule_GetContextFromIO)(rdb);
            let keepable = is_primary(ctx)
                && KEEPABLE.load(Ordering::Relaxed)
                && DURABLE.load(Ordering::Relaxed);
            api!(RedisModule_SaveUnsigned)(rdb, current());
            api!(RedisModule_SaveUnsigned)(rdb, u64::from(keepable));
        }
    }));
}

pub extern "C" fn aux_load(rdb: *mut raw::RedisModuleIO, _encver: c_int, _when: c_int) -> c_int {
    let loaded = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the IO handle Redis passed, during the call; errors are
        // checked after (REDISMODULE_OPTIONS_HANDLE_IO_ERRORS).
        let (generation, keepable, failed) = unsafe {
            let generation = api!(RedisModule_LoadUnsigned)(rdb);
            let keepable = api!(RedisModule_LoadUnsigned)(rdb);
            (generation, keepable, api!(RedisModule_IsIOError)(rdb) != 0)
        };
        if failed {
            crate::log_warning(
                "cannot read the chat generation: the RDB ended early or could not be read",
            );
            return false;
        }
        GENERATION.store(generation, Ordering::Relaxed);
        KEEPABLE.store(keepable == 1, Ordering::Relaxed);
        true
    }));
    match loaded {
        Ok(true) => raw::REDISMODULE_OK as c_int,
        _ => raw::REDISMODULE_ERR as c_int,
    }
}

/// The generation as INFO shows it.
pub fn shown() -> String {
    format!("{:016x}", current())
}
