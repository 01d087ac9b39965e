//! How hard the library tries, and how long it waits.

use std::time::Duration;

/// Retries, timeouts and ages. `Settings::default()` suits most apps.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Attempts of a command that failed transiently (a broken connection,
    /// `TRYAGAIN`, `CLUSTERDOWN`, a failover): the first one included.
    pub attempts: usize,
    /// The pause before the second attempt; doubled for each further one.
    pub backoff: Duration,
    /// The longest pause between two attempts.
    pub max_backoff: Duration,
    /// How long one `WAIT` for replicas may take.
    pub wait_timeout: Duration,
    /// How long a reply may take before the connection counts as broken.
    pub response_timeout: Duration,
    /// How long connecting to a node may take.
    pub connection_timeout: Duration,
    /// The age a listing of a room the user is not a member of must have
    /// before [`reconcile`](crate::Chat::reconcile) removes it: a younger
    /// one may belong to a join still between its steps. Default a minute.
    pub reconcile_age: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            attempts: 10,
            backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            wait_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(2),
            connection_timeout: Duration::from_secs(1),
            reconcile_age: Duration::from_secs(60),
        }
    }
}

impl Settings {
    /// The pause before attempt `attempt` (counted from 1; none before the
    /// first): `backoff`, doubled each time, at most `max_backoff`.
    pub(crate) fn pause(&self, attempt: usize) -> Duration {
        if attempt <= 1 {
            return Duration::ZERO;
        }
        let doublings = u32::try_from(attempt - 2).unwrap_or(u32::MAX).min(16);
        self.backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff)
    }

    /// Sleeps before attempt `attempt`.
    pub(crate) async fn before(&self, attempt: usize) {
        let pause = self.pause(attempt);
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_to_the_limit() {
        let s = Settings::default();
        let ms: Vec<u128> = (1..=9).map(|a| s.pause(a).as_millis()).collect();
        assert_eq!(ms, [0, 50, 100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(s.pause(usize::MAX), s.max_backoff);
    }
}
