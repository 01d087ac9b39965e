//! Faults a server running chat meets in production, on real servers:
//! memory full (`memory`), a disk that fills while the AOF writes (`disk`)
//! and a replica that falls behind its primary's backlog (`behind`).
//!
//! Each test sends through one helper that keeps what the server
//! acknowledged, so that "nothing acknowledged is lost" is checked against
//! the replies the client got, not against what the server says it has.

#[path = "../common/mod.rs"]
mod common;

mod behind;
mod disk;
mod memory;

use common::*;
use redis::Connection;

/// The ids the server acknowledged to sends in one room, in order.
pub struct Acked {
    pub room: String,
    pub ids: Vec<i64>,
}

impl Acked {
    pub fn new(room: &str) -> Acked {
        Acked {
            room: room.to_string(),
            ids: Vec::new(),
        }
    }

    /// Sends `text` from `sender`; keeps the id if acknowledged, and
    /// returns the error otherwise.
    pub fn send(&mut self, con: &mut Connection, sender: &str, text: &str) -> Result<i64, String> {
        match try_q(con, &["CHAT.SEND", &self.room, sender, text]) {
            Ok(v) => {
                let id = int(&v);
                self.ids.push(id);
                Ok(id)
            }
            Err(e) => Err(error_text(&e)),
        }
    }

    /// Every acknowledged id is in the room's history, and the ids are
    /// gap-free from 1.
    pub fn all_there(&self, con: &mut Connection, what: &str) {
        let expected: Vec<i64> = (1..=self.ids.len() as i64).collect();
        assert_eq!(
            self.ids, expected,
            "{what}: acknowledged ids are not gap-free"
        );
        let kept: Vec<i64> = history_after(con, &self.room, 0)
            .iter()
            .map(|m| m["id"].as_i64().unwrap_or(-1))
            .collect();
        assert_eq!(
            kept, self.ids,
            "{what}: the history differs from what was acknowledged"
        );
    }
}
