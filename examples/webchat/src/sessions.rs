//! Signed-in sessions: a random token per sign-in, kept in memory. A restart
//! of the web server signs everyone out.

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct Sessions {
    tokens: Mutex<HashMap<String, String>>,
}

impl Sessions {
    /// A new token for the user.
    pub fn create(&self, user: &str) -> Result<String, String> {
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes)
            .map_err(|e| format!("no random numbers for a session token: {e}"))?;
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.lock().insert(token.clone(), user.to_string());
        Ok(token)
    }

    /// The user a token belongs to.
    pub fn user(&self, token: &str) -> Option<String> {
        self.lock().get(token).cloned()
    }

    pub fn remove(&self, token: &str) {
        self.lock().remove(token);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        // A panic while holding this lock cannot leave the map half-written.
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }
}
