//! Who gets a message how, and the delivery handles of inbox entries.
//!
//! For every member other than the sender, CHAT.SEND picks one route:
//!
//! * **live**: the member is online and at least one connection listens on
//!   the member's push channel by its exact name. The document is published
//!   there and that is the delivery (at most once, like any pub/sub message).
//! * **inbox**: otherwise (offline, or online with nobody listening). The
//!   document is appended to the member's inbox, where it stays until the
//!   member acknowledges it (at least once).
//!
//! Pattern subscribers (a `PSUBSCRIBE chat:*` monitor) do not make a member
//! reachable: they are not the member's app.

use std::fmt;

/// How one member receives one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Live,
    Inbox,
}

/// The delivery rule. `exact_listeners` counts the connections subscribed to
/// the member's push channel by its exact name.
pub fn route(online: bool, exact_listeners: u64) -> Route {
    if online && exact_listeners > 0 {
        Route::Live
    } else {
        Route::Inbox
    }
}

/// How SEND learns `exact_listeners` for an online member.
///
/// Publishing reports how many connections received the message, pattern
/// subscribers included. When the server has no pattern subscription at all,
/// that count *is* the exact-name count, and publishing first costs nothing
/// extra: a count of zero just means the copy goes to the inbox. When
/// patterns exist, the exact count has to be asked for before publishing, so
/// that a pattern monitor alone never turns an inbox delivery into a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerProbe {
    PublishAndCount,
    AskFirst,
}

pub fn listener_probe(pattern_subscriptions: i64) -> ListenerProbe {
    if pattern_subscriptions == 0 {
        ListenerProbe::PublishAndCount
    } else {
        ListenerProbe::AskFirst
    }
}

/// The handle of one inbox entry, as FETCH returns it and ACK takes it:
/// `<ms>-<seq>`, ordered by `ms`, then `seq`; clients treat it as opaque.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct DeliveryId {
    pub ms: u64,
    pub seq: u64,
}

impl DeliveryId {
    pub fn parse(bytes: &[u8]) -> Option<DeliveryId> {
        let s = std::str::from_utf8(bytes).ok()?;
        let (ms, seq) = s.split_once('-')?;
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(ms) || !digits(seq) {
            return None;
        }
        Some(DeliveryId {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }

    /// The smallest id greater than this one: the lower bound that keeps
    /// everything after it when an ACK trims up to and including `self`.
    /// `None` when nothing can come after (the largest possible id).
    pub fn successor(self) -> Option<DeliveryId> {
        match self.seq.checked_add(1) {
            Some(seq) => Some(DeliveryId { ms: self.ms, seq }),
            None => self.ms.checked_add(1).map(|ms| DeliveryId { ms, seq: 0 }),
        }
    }

    /// The largest id smaller than this one; `None` for the smallest.
    pub fn predecessor(self) -> Option<DeliveryId> {
        match self.seq.checked_sub(1) {
            Some(seq) => Some(DeliveryId { ms: self.ms, seq }),
            None => self
                .ms
                .checked_sub(1)
                .map(|ms| DeliveryId { ms, seq: u64::MAX }),
        }
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_online_members_with_a_listener_get_it_live() {
        assert_eq!(route(true, 1), Route::Live);
        assert_eq!(route(true, 3), Route::Live);
        assert_eq!(route(true, 0), Route::Inbox);
        assert_eq!(route(false, 0), Route::Inbox);
        assert_eq!(route(false, 2), Route::Inbox);
    }

    #[test]
    fn pattern_subscriptions_force_asking_first() {
        assert_eq!(listener_probe(0), ListenerProbe::PublishAndCount);
        assert_eq!(listener_probe(1), ListenerProbe::AskFirst);
    }

    #[test]
    fn delivery_ids_round_trip() {
        let d = DeliveryId::parse(b"1764201600000-3").unwrap();
        assert_eq!(
            d,
            DeliveryId {
                ms: 1_764_201_600_000,
                seq: 3
            }
        );
        assert_eq!(d.to_string(), "1764201600000-3");
        for bad in [
            &b""[..],
            b"1",
            b"-1",
            b"1-",
            b"a-1",
            b"1-2-3",
            b"1 -2",
            b"+1-2",
            b"99999999999999999999-0",
        ] {
            assert_eq!(DeliveryId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn successor_carries_over() {
        let d = DeliveryId {
            ms: 5,
            seq: u64::MAX,
        };
        assert_eq!(d.successor(), Some(DeliveryId { ms: 6, seq: 0 }));
        assert_eq!(
            DeliveryId { ms: 5, seq: 1 }.successor(),
            Some(DeliveryId { ms: 5, seq: 2 })
        );
        assert_eq!(
            DeliveryId {
                ms: u64::MAX,
                seq: u64::MAX
            }
            .successor(),
            None
        );
    }
}
