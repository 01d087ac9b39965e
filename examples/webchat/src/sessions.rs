//! Signed-in sessions: a random token per sign-in, kept in memory. A restart
//! of the web server signs everyone out.
//!
//! A token ends after [`IDLE_MAX`] without use (an open tab uses it every
//! few seconds), when its user has signed in [`PER_USER_MAX`] times since
//! (the least recently used goes), at sign-out, and when its user changes
//! their password (all but the token of the tab that changed it).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token unused this long no longer signs anyone in.
pub const IDLE_MAX: Duration = Duration::from_secs(12 * 60 * 60);
/// Sessions one user may have at once.
pub const PER_USER_MAX: usize = 20;
/// How often expired tokens are swept out (at a sign-in).
const SWEEP_EVERY: Duration = Duration::from_secs(60);

struct Session {
    user: String,
    used: Instant,
}

struct Store {
    tokens: HashMap<String, Session>,
    swept: Instant,
}

pub struct Sessions {
    store: Mutex<Store>,
    idle_max: Duration,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::with_idle_max(IDLE_MAX)
    }
}

impl Sessions {
    pub fn with_idle_max(idle_max: Duration) -> Self {
        Sessions {
            store: Mutex::new(Store {
                tokens: HashMap::new(),
                swept: Instant::now(),
            }),
            idle_max,
        }
    }

    /// A new token for the user.
    pub fn create(&self, user: &str) -> Result<String, String> {
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes)
            .map_err(|e| format!("no random numbers for a session token: {e}"))?;
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let now = Instant::now();
        let mut store = self.lock();
        if now.duration_since(store.swept) >= SWEEP_EVERY {
            let idle_max = self.idle_max;
            store
                .tokens
                .retain(|_, s| now.duration_since(s.used) < idle_max);
            store.swept = now;
        }
        // At the cap, the user's least recently used sessions end.
        let mut theirs: Vec<(Instant, String)> = store
            .tokens
            .iter()
            .filter(|(_, s)| s.user == user)
            .map(|(t, s)| (s.used, t.clone()))
            .collect();
        if theirs.len() >= PER_USER_MAX {
            theirs.sort();
            let excess = theirs.len() + 1 - PER_USER_MAX;
            for (_, old) in theirs.into_iter().take(excess) {
                store.tokens.remove(&old);
            }
        }
        store.tokens.insert(
            token.clone(),
            Session {
                user: user.to_string(),
                used: now,
            },
        );
        Ok(token)
    }

    /// The user a token belongs to; using it keeps it alive.
    pub fn user(&self, token: &str) -> Option<String> {
        let now = Instant::now();
        let mut store = self.lock();
        let session = store.tokens.get_mut(token)?;
        if now.duration_since(session.used) >= self.idle_max {
            store.tokens.remove(token);
            return None;
        }
        session.used = now;
        Some(session.user.clone())
    }

    pub fn remove(&self, token: &str) {
        self.lock().tokens.remove(token);
    }

    /// Ends every session of the user but `keep`.
    pub fn revoke_others(&self, user: &str, keep: &str) {
        self.lock()
            .tokens
            .retain(|t, s| s.user != user || t == keep);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        // A panic while holding this lock cannot leave the map half-written.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_user_until_removed() {
        let s = Sessions::default();
        let t = s.create("alice").unwrap();
        assert_eq!(t.len(), 48);
        assert_eq!(s.user(&t).as_deref(), Some("alice"));
        assert_eq!(s.user("not a token"), None);
        s.remove(&t);
        assert_eq!(s.user(&t), None);
    }

    #[test]
    fn an_idle_token_expires() {
        let s = Sessions::with_idle_max(Duration::from_millis(30));
        let t = s.create("alice").unwrap();
        std::thread::sleep(Duration::from_millis(15));
        assert!(s.user(&t).is_some(), "use keeps it alive");
        std::thread::sleep(Duration::from_millis(20));
        assert!(s.user(&t).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(s.user(&t), None);
    }

    #[test]
    fn a_user_has_at_most_the_cap() {
        let s = Sessions::default();
        let first = s.create("alice").unwrap();
        let other = s.create("bob").unwrap();
        let mut last = String::new();
        for _ in 0..PER_USER_MAX {
            std::thread::sleep(Duration::from_millis(1));
            last = s.create("alice").unwrap();
        }
        assert_eq!(s.user(&first), None, "the oldest went");
        assert!(s.user(&last).is_some());
        assert!(s.user(&other).is_some());
        let alice = s
            .lock()
            .tokens
            .values()
            .filter(|x| x.user == "alice")
            .count();
        assert_eq!(alice, PER_USER_MAX);
    }

    #[test]
    fn a_password_change_ends_the_other_sessions() {
        let s = Sessions::default();
        let here = s.create("carol").unwrap();
        let there = s.create("carol").unwrap();
        let bob = s.create("bob").unwrap();
        s.revoke_others("carol", &here);
        assert!(s.user(&here).is_some());
        assert_eq!(s.user(&there), None);
        assert!(s.user(&bob).is_some());
    }
}
