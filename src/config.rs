//! The module's configs (`CONFIG GET/SET chat.*`), backed by atomics that the
//! commands read once per call into a `Limits`.

use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::sync::Mutex;

use chat_core::config::{self, Identity, Limits, Param, Setting};
use redis_module::configuration::{
    register_enum_configuration, register_i64_configuration, register_string_configuration,
    ConfigurationContext, ConfigurationFlags, ConfigurationValue,
};
use redis_module::{enum_configuration, Context, RedisError, RedisString};

static MAX_TEXT_BYTES: AtomicI64 = AtomicI64::new(config::MAX_TEXT_BYTES.default);
static HISTORY_MAX: AtomicI64 = AtomicI64::new(config::HISTORY_MAX.default);
static INBOX_MAX: AtomicI64 = AtomicI64::new(config::INBOX_MAX.default);
static PRESENCE_TTL: AtomicI64 = AtomicI64::new(config::PRESENCE_TTL.default);
static DEDUP_WINDOW: AtomicI64 = AtomicI64::new(config::DEDUP_WINDOW.default);
static FANOUT_MAX_MEMBERS: AtomicI64 = AtomicI64::new(config::FANOUT_MAX_MEMBERS.default);
static HISTORY_MAX_AGE: AtomicI64 = AtomicI64::new(config::HISTORY_MAX_AGE.default);
static MAX_MEMBERS: AtomicI64 = AtomicI64::new(config::MAX_MEMBERS.default);
static MAX_ROOMS_PER_USER: AtomicI64 = AtomicI64::new(config::MAX_ROOMS_PER_USER.default);
static PASSWORD_THREADS: AtomicI64 = AtomicI64::new(config::PASSWORD_THREADS.default);
static SEND_RATE: AtomicI64 = AtomicI64::new(config::SEND_RATE.default);
static SEND_BURST: AtomicI64 = AtomicI64::new(config::SEND_BURST.default);
static NOTIFY_MAX: AtomicI64 = AtomicI64::new(config::NOTIFY_MAX.default);

/// Each parameter with the cell that holds its current value.
static INTS: [(&Param, &AtomicI64); 13] = [
    (&config::MAX_TEXT_BYTES, &MAX_TEXT_BYTES),
    (&config::HISTORY_MAX, &HISTORY_MAX),
    (&config::INBOX_MAX, &INBOX_MAX),
    (&config::PRESENCE_TTL, &PRESENCE_TTL),
    (&config::DEDUP_WINDOW, &DEDUP_WINDOW),
    (&config::FANOUT_MAX_MEMBERS, &FANOUT_MAX_MEMBERS),
    (&config::HISTORY_MAX_AGE, &HISTORY_MAX_AGE),
    (&config::MAX_MEMBERS, &MAX_MEMBERS),
    (&config::MAX_ROOMS_PER_USER, &MAX_ROOMS_PER_USER),
    (&config::PASSWORD_THREADS, &PASSWORD_THREADS),
    (&config::SEND_RATE, &SEND_RATE),
    (&config::SEND_BURST, &SEND_BURST),
    (&config::NOTIFY_MAX, &NOTIFY_MAX),
];

/// Parameters Redis refuses to change with CONFIG SET: the worker threads
/// are started once, at load.
fn set_at_load_only(param: &Param) -> bool {
    param.name == config::PASSWORD_THREADS.name
}

enum_configuration! {
    /// `chat.identity` as Redis sees it; the names are the config values.
    #[allow(non_camel_case_types)]
    enum IdentityValue {
        trust = 0,
        acl = 1,
    }
}

/// `chat.identity`, read on every command: an atomic, not a lock.
struct IdentityCell(AtomicU8);

impl ConfigurationValue<IdentityValue> for IdentityCell {
    fn get(&self, _ctx: &ConfigurationContext) -> IdentityValue {
        match self.0.load(Ordering::Relaxed) {
            1 => IdentityValue::acl,
            _ => IdentityValue::trust,
        }
    }
    fn set(&self, _ctx: &ConfigurationContext, value: IdentityValue) -> Result<(), RedisError> {
        self.0.store(value as u8, Ordering::Relaxed);
        Ok(())
    }
}

static IDENTITY: IdentityCell = IdentityCell(AtomicU8::new(0));
static ADMINS: Mutex<String> = Mutex::new(String::new());

/// How connections are bound to chat users now (`chat.identity`).
pub fn identity() -> Identity {
    match IDENTITY.0.load(Ordering::Relaxed) {
        1 => Identity::Acl,
        _ => Identity::Trust,
    }
}

/// Whether ACL user `acl_user` is listed in `chat.admins`.
pub fn is_admin(acl_user: &str) -> bool {
    match ADMINS.lock() {
        Ok(admins) => config::is_admin(&admins, acl_user),
        Err(_) => false,
    }
}

/// `chat.password-threads`, as set at load.
pub fn password_threads() -> usize {
    PASSWORD_THREADS.load(Ordering::Relaxed).clamp(1, 64) as usize
}

/// `chat.send-rate` and the burst it allows (`chat.send-burst`, or the
/// rate when that is 0); `None` while the rate is 0 (off).
pub fn send_limit() -> Option<(u64, u64)> {
    let rate = SEND_RATE.load(Ordering::Relaxed).max(0) as u64;
    let burst = SEND_BURST.load(Ordering::Relaxed).max(0) as u64;
    (rate > 0).then_some((rate, if burst == 0 { rate } else { burst }))
}

/// `chat.notify-max`: how many notifications a stream keeps (0: none).
pub fn notify_max() -> u64 {
    NOTIFY_MAX.load(Ordering::Relaxed).max(0) as u64
}

/// The limits in force now. A command replayed from the primary or the
/// AOF was checked against the primary's limits when it ran: here it must
/// do what it did there, whatever this server's configs say.
pub fn limits() -> Limits {
    let get = |a: &AtomicI64| a.load(Ordering::Relaxed).max(1) as u64;
    let configured = Limits {
        max_text_bytes: get(&MAX_TEXT_BYTES) as usize,
        history_max: get(&HISTORY_MAX),
        inbox_max: get(&INBOX_MAX),
        presence_ttl_secs: get(&PRESENCE_TTL),
        dedup_window_secs: get(&DEDUP_WINDOW),
        fanout_max_members: get(&FANOUT_MAX_MEMBERS),
        history_max_age_secs: HISTORY_MAX_AGE.load(Ordering::Relaxed).max(0) as u64,
        max_members: get(&MAX_MEMBERS),
        max_rooms_per_user: get(&MAX_ROOMS_PER_USER),
    };
    if crate::context::replaying() {
        return Limits {
            max_text_bytes: usize::MAX,
            max_members: u64::MAX,
            max_rooms_per_user: u64::MAX,
            ..configured
        };
    }
    configured
}

/// Registers every config, with the `--loadmodule` arguments as their
/// starting values. Bad arguments fail the load with a log line naming the
/// parameter. Values in redis.conf (`chat.history-max 5000`) are applied
/// afterwards by Redis, which range-checks them itself.
pub fn register(ctx: &Context, args: &[RedisString]) -> Result<(), String> {
    let raw_args: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
    let given = config::parse_module_args(&raw_args)?;
    for (param, cell) in INTS {
        let start = given
            .iter()
            .rev()
            .find_map(|s| match s {
                Setting::Int(p, v) if p.name == param.name => Some(*v),
                _ => None,
            })
            .unwrap_or(param.default);
        cell.store(start, Ordering::Relaxed);
        register_i64_configuration(
            ctx,
            param.name,
            cell,
            start,
            param.min,
            param.max,
            if set_at_load_only(param) {
                ConfigurationFlags::IMMUTABLE
            } else {
                ConfigurationFlags::DEFAULT
            },
            None,
        );
    }
    let word = |name: &str, default: &'static str| {
        given
            .iter()
            .rev()
            .find_map(|s| match s {
                Setting::Word(w, v) if w.name == name => Some(v.clone()),
                _ => None,
            })
            .unwrap_or_else(|| default.to_string())
    };
    let identity = match word(config::IDENTITY.name, config::IDENTITY.default).as_str() {
        "acl" => IdentityValue::acl,
        _ => IdentityValue::trust,
    };
    IDENTITY.0.store(identity.clone() as u8, Ordering::Relaxed);
    register_enum_configuration(
        ctx,
        config::IDENTITY.name,
        &IDENTITY,
        identity,
        ConfigurationFlags::DEFAULT,
        None,
    );
    let admins = word(config::ADMINS.name, config::ADMINS.default);
    if let Ok(mut cell) = ADMINS.lock() {
        cell.clone_from(&admins);
    }
    register_string_configuration(
        ctx,
        config::ADMINS.name,
        &ADMINS,
        &admins,
        ConfigurationFlags::DEFAULT,
        None,
    );
    Ok(())
}
