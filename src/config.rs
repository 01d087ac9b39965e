//! The module's configs (`CONFIG GET/SET chat.*`), backed by atomics that the
//! commands read once per call into a `Limits`.

use std::sync::atomic::{AtomicI64, Ordering};

use chat_core::config::{self, Limits, Param};
use redis_module::configuration::{register_i64_configuration, ConfigurationFlags};
use redis_module::{Context, RedisString};

static MAX_TEXT_BYTES: AtomicI64 = AtomicI64::new(config::MAX_TEXT_BYTES.default);
static HISTORY_MAX: AtomicI64 = AtomicI64::new(config::HISTORY_MAX.default);
static INBOX_MAX: AtomicI64 = AtomicI64::new(config::INBOX_MAX.default);
static PRESENCE_TTL: AtomicI64 = AtomicI64::new(config::PRESENCE_TTL.default);

/// Each parameter with the cell that holds its current value.
static CONFIGS: [(&Param, &AtomicI64); 4] = [
    (&config::MAX_TEXT_BYTES, &MAX_TEXT_BYTES),
    (&config::HISTORY_MAX, &HISTORY_MAX),
    (&config::INBOX_MAX, &INBOX_MAX),
    (&config::PRESENCE_TTL, &PRESENCE_TTL),
];

/// The limits in force now.
pub fn limits() -> Limits {
    let get = |a: &AtomicI64| a.load(Ordering::Relaxed).max(1) as u64;
    Limits {
        max_text_bytes: get(&MAX_TEXT_BYTES) as usize,
        history_max: get(&HISTORY_MAX),
        inbox_max: get(&INBOX_MAX),
        presence_ttl_secs: get(&PRESENCE_TTL),
    }
}

/// Registers every config, with the `--loadmodule` arguments as their
/// starting values. Bad arguments fail the load with a log line naming the
/// parameter. Values in redis.conf (`chat.history-max 5000`) are applied
/// afterwards by Redis, which range-checks them itself.
pub fn register(ctx: &Context, args: &[RedisString]) -> Result<(), String> {
    let raw_args: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
    let given = config::parse_module_args(&raw_args)?;
    for (param, cell) in CONFIGS {
        let start = given
            .iter()
            .rev()
            .find(|(p, _)| p.name == param.name)
            .map_or(param.default, |(_, v)| *v);
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
    Ok(())
}
