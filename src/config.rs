//! The module's configs (`CONFIG GET/SET chat.*`), backed by atomics that the
//! commands read once per call into a `Limits`.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use chat_core::config::{self, Flag, Limits, Param, Setting};
use redis_module::configuration::{
    register_bool_configuration, register_i64_configuration, ConfigurationFlags,
};
use redis_module::{Context, RedisString};

static MAX_TEXT_BYTES: AtomicI64 = AtomicI64::new(config::MAX_TEXT_BYTES.default);
static HISTORY_MAX: AtomicI64 = AtomicI64::new(config::HISTORY_MAX.default);
static INBOX_MAX: AtomicI64 = AtomicI64::new(config::INBOX_MAX.default);
static PRESENCE_TTL: AtomicI64 = AtomicI64::new(config::PRESENCE_TTL.default);
static DEDUP_WINDOW: AtomicI64 = AtomicI64::new(config::DEDUP_WINDOW.default);
static FANOUT_MAX_MEMBERS: AtomicI64 = AtomicI64::new(config::FANOUT_MAX_MEMBERS.default);
static HISTORY_MAX_AGE: AtomicI64 = AtomicI64::new(config::HISTORY_MAX_AGE.default);
static REPLICATE_EFFECTS: AtomicBool = AtomicBool::new(config::REPLICATE_EFFECTS.default);

/// Each parameter with the cell that holds its current value.
static INTS: [(&Param, &AtomicI64); 7] = [
    (&config::MAX_TEXT_BYTES, &MAX_TEXT_BYTES),
    (&config::HISTORY_MAX, &HISTORY_MAX),
    (&config::INBOX_MAX, &INBOX_MAX),
    (&config::PRESENCE_TTL, &PRESENCE_TTL),
    (&config::DEDUP_WINDOW, &DEDUP_WINDOW),
    (&config::FANOUT_MAX_MEMBERS, &FANOUT_MAX_MEMBERS),
    (&config::HISTORY_MAX_AGE, &HISTORY_MAX_AGE),
];
static FLAGS: [(&Flag, &AtomicBool); 1] = [(&config::REPLICATE_EFFECTS, &REPLICATE_EFFECTS)];

/// The limits in force now.
pub fn limits() -> Limits {
    let get = |a: &AtomicI64| a.load(Ordering::Relaxed).max(1) as u64;
    Limits {
        max_text_bytes: get(&MAX_TEXT_BYTES) as usize,
        history_max: get(&HISTORY_MAX),
        inbox_max: get(&INBOX_MAX),
        presence_ttl_secs: get(&PRESENCE_TTL),
        dedup_window_secs: get(&DEDUP_WINDOW),
        fanout_max_members: get(&FANOUT_MAX_MEMBERS),
        history_max_age_secs: HISTORY_MAX_AGE.load(Ordering::Relaxed).max(0) as u64,
        replicate_effects: REPLICATE_EFFECTS.load(Ordering::Relaxed),
    }
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
            ConfigurationFlags::DEFAULT,
            None,
        );
    }
    for (flag, cell) in FLAGS {
        let start = given
            .iter()
            .rev()
            .find_map(|s| match s {
                Setting::Flag(f, v) if f.name == flag.name => Some(*v),
                _ => None,
            })
            .unwrap_or(flag.default);
        cell.store(start, Ordering::Relaxed);
        register_bool_configuration(
            ctx,
            flag.name,
            cell,
            start,
            ConfigurationFlags::DEFAULT,
            None,
        );
    }
    Ok(())
}
