//! A room's epoch: what tells a client whether the ids it holds still name
//! the messages it saw.
//!
//! Ids are gap-free, so ids a server lost (acknowledged writes a promoted
//! replica never received, the tail a restart from an RDB or an `everysec`
//! AOF did not have, a room dropped and made again) are handed out again
//! for other messages. Each room therefore carries an epoch, drawn at
//! random on the primary, and a new one whenever its ids after some point
//! may have been reused: a client that holds another epoch reloads the
//! room instead of trusting its ids (docs/delivery.md).
//!
//! The module notices such a point lazily. Each server keeps a
//! *generation*, a random number drawn again whenever its data may lack
//! acknowledged writes (a promotion, a start from lossy persistence), and
//! each room remembers the generation it was last written under. A room's
//! first send under another generation gives it a new epoch.

use serde::{Deserialize, Serialize};

/// A room's epoch and the server generation that vouched for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Epoch {
    /// What clients see, as hex (`Display`). 0: none drawn yet (a room
    /// written before epochs existed, or being replayed on a replica).
    pub id: u64,
    /// The generation the room was last written under; 0 under none.
    pub generation: u64,
}

impl Epoch {
    /// Whether ids handed out now may follow ids a client saw under this
    /// epoch: only while the server is still in the generation that
    /// vouched for it.
    pub fn holds_under(&self, generation: u64) -> bool {
        self.generation == generation && generation != 0
    }

    /// Whether `shown`, an epoch a client holds, is this one: exactly as
    /// `Display` writes it (16 lowercase hex digits).
    pub fn is(&self, shown: &str) -> bool {
        shown.len() == 16
            && shown
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            && u64::from_str_radix(shown, 16) == Ok(self.id)
    }
}

/// The epoch as clients see it: its id as 16 lowercase hex digits, so
/// that every epoch has one shape.
impl std::fmt::Display for Epoch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_as_hex_and_recognised_only_exactly() {
        let e = Epoch {
            id: 0x9f3c_0a1b_22d4_e5f6,
            generation: 7,
        };
        assert_eq!(e.to_string(), "9f3c0a1b22d4e5f6");
        assert!(e.is("9f3c0a1b22d4e5f6"));
        assert!(!e.is("9F3C0A1B22D4E5F6"));
        assert!(!e.is("09f3c0a1b22d4e5f6"));
        assert!(!e.is(""));
        let small = Epoch {
            id: 0xa,
            generation: 1,
        };
        assert_eq!(small.to_string(), "000000000000000a");
        assert!(small.is("000000000000000a"));
        assert!(!small.is("a"), "one shape only");
        assert!(!small.is("+00000000000000a"));
        assert!(Epoch::default().is("0000000000000000"));
        assert!(Epoch {
            id: u64::MAX,
            generation: 0
        }
        .is("ffffffffffffffff"));
    }

    #[test]
    fn an_epoch_holds_only_under_the_generation_that_vouched_for_it() {
        let e = Epoch {
            id: 5,
            generation: 42,
        };
        assert!(e.holds_under(42));
        assert!(!e.holds_under(43));
        // Nothing holds under no generation, not even an epoch of none.
        assert!(!Epoch::default().holds_under(0));
    }
}
