//! Counters shown by `INFO chat`. Commands run one at a time under Redis's
//! lock, so relaxed atomics are plenty; they only need to be `Sync` statics.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use redis_module::{InfoContext, RedisResult};
use redis_module_macros::info_command_handler;

pub static MESSAGES_SENT: AtomicU64 = AtomicU64::new(0);
pub static LIVE_DELIVERIES: AtomicU64 = AtomicU64::new(0);
pub static INBOX_DELIVERIES: AtomicU64 = AtomicU64::new(0);
pub static INBOX_DROPS: AtomicU64 = AtomicU64::new(0);
pub static INBOX_ACKED: AtomicU64 = AtomicU64::new(0);
pub static REPLIES_SENT: AtomicU64 = AtomicU64::new(0);
pub static MENTIONS_SENT: AtomicU64 = AtomicU64::new(0);
pub static REACTIONS_ADDED: AtomicU64 = AtomicU64::new(0);
pub static BLOCKED_FETCHES: AtomicI64 = AtomicI64::new(0);
pub static AUTH_SUCCESSES: AtomicU64 = AtomicU64::new(0);
pub static AUTH_FAILURES: AtomicU64 = AtomicU64::new(0);
pub static IDENTITY_REFUSALS: AtomicU64 = AtomicU64::new(0);
/// Members a send found without a user key (deleted by hand, or moved by a
/// slot migration): no copy, they catch up from their read cursor.
pub static MISSING_RECIPIENTS: AtomicU64 = AtomicU64::new(0);
/// Changes made by CHAT.ROLE, INVITE, KICK, BAN, UNBAN, MUTE, UNMUTE and
/// SLOWMODE.
pub static MODERATION_ACTIONS: AtomicU64 = AtomicU64::new(0);
/// Notifications recorded for members who were away (one per member), the
/// stream entries that hold them (one per send), and those not recorded
/// because the stream's key holds another type (see `commands::notify`).
pub static NOTIFICATIONS: AtomicU64 = AtomicU64::new(0);
pub static NOTIFICATION_ENTRIES: AtomicU64 = AtomicU64::new(0);
pub static NOTIFICATION_FAILURES: AtomicU64 = AtomicU64::new(0);
/// Rooms given a new epoch at a send (`generation::vouch`), and
/// generations this server started (a promotion, a start from lossy data).
pub static EPOCH_CHANGES: AtomicU64 = AtomicU64::new(0);
pub static GENERATIONS: AtomicU64 = AtomicU64::new(0);

/// Commands a room's rules refused, by kind (`chat_core::refusal`).
static REFUSED: [(&str, AtomicU64); 7] = [
    ("role", AtomicU64::new(0)),
    ("private", AtomicU64::new(0)),
    ("banned", AtomicU64::new(0)),
    ("muted", AtomicU64::new(0)),
    ("slowmode", AtomicU64::new(0)),
    ("ratelimit", AtomicU64::new(0)),
    ("other", AtomicU64::new(0)),
];

/// Counts a refusal of kind `kind`.
pub fn refused(kind: &str) {
    if let Some((_, counter)) = REFUSED.iter().find(|(k, _)| *k == kind) {
        add(counter, 1);
    }
}

/// Counts what this server did. A replica replaying its primary's writes
/// counts nothing: the primary did it.
pub fn add(counter: &AtomicU64, n: u64) {
    if !crate::context::replaying() {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

#[info_command_handler]
fn chat_info(ctx: &InfoContext, _for_crash_report: bool) -> RedisResult<()> {
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed) as i64;
    ctx.builder()
        .add_section("stats")
        .field("messages_sent", get(&MESSAGES_SENT))?
        .field("live_deliveries", get(&LIVE_DELIVERIES))?
        .field("inbox_deliveries", get(&INBOX_DELIVERIES))?
        .field("inbox_drops", get(&INBOX_DROPS))?
        .field("inbox_acked", get(&INBOX_ACKED))?
        .field("replies_sent", get(&REPLIES_SENT))?
        .field("mentions_sent", get(&MENTIONS_SENT))?
        .field("reactions_added", get(&REACTIONS_ADDED))?
        .field("blocked_fetches", BLOCKED_FETCHES.load(Ordering::Relaxed))?
        .field("auth_successes", get(&AUTH_SUCCESSES))?
        .field("auth_failures", get(&AUTH_FAILURES))?
        .field(
            "password_jobs_pending",
            crate::background::PENDING.load(Ordering::Relaxed),
        )?
        .field("identity_refusals", get(&IDENTITY_REFUSALS))?
        .field("missing_recipients", get(&MISSING_RECIPIENTS))?
        .field("moderation_actions", get(&MODERATION_ACTIONS))?
        .field("notifications", get(&NOTIFICATIONS))?
        .field("notification_entries", get(&NOTIFICATION_ENTRIES))?
        .field("notification_failures", get(&NOTIFICATION_FAILURES))?
        .field("epoch_changes", get(&EPOCH_CHANGES))?
        .field("generations_started", get(&GENERATIONS))?
        .field("refused_role", get(&REFUSED[0].1))?
        .field("refused_private", get(&REFUSED[1].1))?
        .field("refused_banned", get(&REFUSED[2].1))?
        .field("refused_muted", get(&REFUSED[3].1))?
        .field("refused_slowmode", get(&REFUSED[4].1))?
        .field("refused_ratelimit", get(&REFUSED[5].1))?
        .field("refused_other", get(&REFUSED[6].1))?
        .build_section()?
        .add_section("server")
        .field("acl_categories", crate::server::acl_categories().name())?
        .field("generation", crate::generation::shown())?
        .build_section()?
        .build_info()?;
    Ok(())
}
