//! `chat.send-rate`: a token bucket per sender, in this server's memory.
//!
//! The primary decides, and a refused send writes nothing, so the buckets
//! are neither saved nor replicated: after a restart or a failover every
//! sender starts with a full bucket. In Redis Cluster each primary limits
//! the sends to its own rooms.

use std::collections::HashMap;
use std::sync::Mutex;

use chat_core::refusal::Refusal;
use chat_core::ChatError;

use crate::config;

struct Bucket {
    /// Messages the sender may send now, fractions included.
    tokens: f64,
    /// When `tokens` was counted (unix ms).
    at: i64,
}

impl Bucket {
    fn refill(&mut self, now: i64, rate: f64, burst: f64) {
        let elapsed = now.saturating_sub(self.at).max(0) as f64;
        self.tokens = (self.tokens + elapsed * rate / 1000.0).min(burst);
        self.at = self.at.max(now);
    }
}

struct Buckets {
    by_sender: HashMap<Box<str>, Bucket>,
    /// Forget full buckets once the map grows past this.
    sweep_at: usize,
}

static BUCKETS: Mutex<Option<Buckets>> = Mutex::new(None);

/// Takes one message from `sender`'s bucket at `now`, or refuses with
/// when to retry. Does nothing while `chat.send-rate` is 0.
pub fn take(sender: &str, now: i64) -> Result<(), ChatError> {
    let Some((rate, burst)) = config::send_limit() else {
        return Ok(());
    };
    let Ok(mut guard) = BUCKETS.lock() else {
        return Ok(());
    };
    let buckets = guard.get_or_insert_with(|| Buckets {
        by_sender: HashMap::new(),
        sweep_at: 1024,
    });
    let (rate_f, burst_f) = (rate as f64, burst as f64);
    if buckets.by_sender.len() >= buckets.sweep_at {
        // A full bucket says nothing a new one would not: forget it.
        buckets.by_sender.retain(|_, b| {
            b.refill(now, rate_f, burst_f);
            b.tokens < burst_f
        });
        buckets.sweep_at = (buckets.by_sender.len() * 2).max(1024);
    }
    let bucket = match buckets.by_sender.get_mut(sender) {
        Some(bucket) => bucket,
        None => buckets.by_sender.entry(sender.into()).or_insert(Bucket {
            tokens: burst_f,
            at: now,
        }),
    };
    bucket.refill(now, rate_f, burst_f);
    if bucket.tokens >= 1.0 {
        bucket.tokens -= 1.0;
        return Ok(());
    }
    let retry_ms = ((1.0 - bucket.tokens) * 1000.0 / rate_f).ceil() as i64;
    Err(Refusal::RateLimited {
        user: sender.to_owned(),
        rate,
        burst,
        retry_ms: retry_ms.max(1),
    }
    .into())
}
