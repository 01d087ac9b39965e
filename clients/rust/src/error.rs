//! The one error type of the library.
//!
//! A command the module refused comes back as [`Error::Refused`], with the
//! module's own words (`ERR no such room` is code `ERR`, message
//! `no such room`), so an app can show it or match on it. Everything that
//! is not the module's answer (a connection that broke, a cluster that kept
//! redirecting after every retry) is [`Error::Redis`]. A send has two more
//! outcomes of its own, [`Error::NotReplicated`] and [`Error::SendFailed`].
//!
//! A room's rules refuse with codes of their own (`NOPERM`, `NOINVITE`,
//! `BANNED`, `MUTED`, `SLOWMODE`, `RATELIMIT`): still [`Error::Refused`],
//! so a match on the code and message keeps working, and
//! [`Error::refusal`] tells them apart as a [`Refusal`], with what their
//! words say (until when, in how many milliseconds).

use std::fmt;
use std::time::Duration;

use redis::{ErrorKind, RedisError, RetryMethod, ServerErrorKind};

/// What went wrong with a chat operation.
#[derive(Debug)]
pub enum Error {
    /// The server refused the command: `code` is the error code (`ERR`,
    /// `WRONGTYPE`, `CROSSSLOT`, `NOPERM`, ...), `message` the rest.
    Refused { code: String, message: String },
    /// Redis could not be reached, or kept answering with a transient error
    /// (`TRYAGAIN`, `CLUSTERDOWN`, ...) after every retry.
    Redis(RedisError),
    /// A reply of a shape the library does not expect from the module.
    Reply(String),
    /// An argument the library refuses before sending anything.
    Usage(String),
    /// The message is stored with id `id`, but only `acked` of the `wanted`
    /// replicas confirmed it before the attempts ran out. Sending again with
    /// `key` stores nothing new.
    NotReplicated {
        id: u64,
        acked: usize,
        wanted: usize,
        key: String,
    },
    /// No attempt of a send got an answer, so whether it was stored is not
    /// known. Sending again with `key` is safe: it stores the message at
    /// most once.
    SendFailed {
        key: String,
        attempts: usize,
        last: RedisError,
    },
}

/// A refusal by a room's rules (or the send rate limit), from
/// [`Error::refusal`]: one variant per error code, with what the module's
/// words say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `NOPERM`: the actor's role does not allow the action (only owners
    /// and admins moderate, nobody acts on an equal or higher role), or,
    /// with ACL identities, the connection's user may not act as the user
    /// named.
    NoPermission,
    /// `NOINVITE`: the room is private and the user has no invitation
    /// ([`Chat::invite`](crate::Chat::invite)).
    NoInvite,
    /// `BANNED`: the user is banned from the room (joining and invitations
    /// are refused) until `until` (unix ms), or until unbanned (None).
    Banned { until: Option<u64> },
    /// `MUTED`: the member is muted in the room (sends, reactions and edits
    /// are refused) until `until` (unix ms), or until unmuted (None).
    Muted { until: Option<u64> },
    /// `SLOWMODE`: the room lets a member send one message every so many
    /// seconds; the member may send again in `retry_after_ms`.
    SlowMode { retry_after_ms: u64 },
    /// `RATELIMIT`: the sender went over the server's `chat.send-rate`
    /// (messages per second, every room); retry in `retry_after_ms`.
    RateLimited { retry_after_ms: u64 },
}

impl Refusal {
    /// The refusal an error reply's code and message say; None for other
    /// codes (`ERR`, ...).
    pub fn parse(code: &str, message: &str) -> Option<Refusal> {
        Some(match code {
            "NOPERM" => Refusal::NoPermission,
            "NOINVITE" => Refusal::NoInvite,
            "BANNED" => Refusal::Banned {
                until: number_after(message, " until "),
            },
            "MUTED" => Refusal::Muted {
                until: number_after(message, " until "),
            },
            "SLOWMODE" => Refusal::SlowMode {
                retry_after_ms: number_after(message, "may send again in ").unwrap_or(0),
            },
            "RATELIMIT" => Refusal::RateLimited {
                retry_after_ms: number_after(message, "retry in ").unwrap_or(0),
            },
            _ => return None,
        })
    }

    /// The error code: `NOPERM`, `NOINVITE`, `BANNED`, `MUTED`, `SLOWMODE`
    /// or `RATELIMIT`.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NoPermission => "NOPERM",
            Refusal::NoInvite => "NOINVITE",
            Refusal::Banned { .. } => "BANNED",
            Refusal::Muted { .. } => "MUTED",
            Refusal::SlowMode { .. } => "SLOWMODE",
            Refusal::RateLimited { .. } => "RATELIMIT",
        }
    }

    /// How long to wait before sending again, for a refusal that ends by
    /// itself soon (`SLOWMODE`, `RATELIMIT`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Refusal::SlowMode { retry_after_ms } | Refusal::RateLimited { retry_after_ms } => {
                Some(Duration::from_millis(*retry_after_ms))
            }
            _ => None,
        }
    }
}

/// The number right after the first `marker` in `text` ("until 1764583200000
/// (...)" -> 1764583200000; "until CHAT.UNBAN" -> None).
fn number_after(text: &str, marker: &str) -> Option<u64> {
    let rest = &text[text.find(marker)? + marker.len()..];
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..digits].parse().ok()
}

/// The result of a chat operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True when the module refused the command with `ERR <message>`.
    pub fn is(&self, message: &str) -> bool {
        matches!(self, Error::Refused { code, message: m } if code == "ERR" && m == message)
    }

    /// True when the server refused with this error code (`CROSSSLOT`, ...).
    pub fn has_code(&self, wanted: &str) -> bool {
        matches!(self, Error::Refused { code, .. } if code == wanted)
    }

    /// `ERR no such room`.
    pub fn is_no_such_room(&self) -> bool {
        self.is("no such room")
    }

    /// `ERR no such user`.
    pub fn is_no_such_user(&self) -> bool {
        self.is("no such user")
    }

    /// `ERR user is not a member of the room`.
    pub fn is_not_member(&self) -> bool {
        self.is("user is not a member of the room")
    }

    /// True when the server answered (a refusal), false when the outcome is
    /// a broken connection or a cluster that did not settle.
    pub fn is_refused(&self) -> bool {
        matches!(self, Error::Refused { .. })
    }

    /// The refusal by a room's rules (or the send rate limit) this is, if
    /// it is one: `NOPERM`, `NOINVITE`, `BANNED`, `MUTED`, `SLOWMODE` or
    /// `RATELIMIT`.
    ///
    /// ```
    /// # use redis_chat_client::{Error, Refusal};
    /// let e = Error::Refused {
    ///     code: "SLOWMODE".into(),
    ///     message: "room r allows a member one message every 10 seconds; \
    ///               bob may send again in 9986 ms".into(),
    /// };
    /// assert_eq!(e.refusal(), Some(Refusal::SlowMode { retry_after_ms: 9986 }));
    /// ```
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            Error::Refused { code, message } => Refusal::parse(code, message),
            _ => None,
        }
    }

    pub(crate) fn reply(what: &str, got: &redis::Value) -> Error {
        Error::Reply(format!("wanted {what}, got {got:?}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Refused { code, message } => write!(f, "{code} {message}"),
            Error::Redis(e) => write!(f, "Redis: {e}"),
            Error::Reply(what) => write!(f, "unexpected reply from the chat module: {what}"),
            Error::Usage(what) => f.write_str(what),
            Error::NotReplicated {
                id,
                acked,
                wanted,
                key,
            } => write!(
                f,
                "message {id} is stored, but only {acked} of {wanted} replicas confirmed it (DEDUP key {key})"
            ),
            Error::SendFailed {
                key,
                attempts,
                last,
            } => write!(
                f,
                "the send got no answer after {attempts} attempts (DEDUP key {key}; sending again with it is safe): {last}"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Redis(e) | Error::SendFailed { last: e, .. } => Some(e),
            _ => None,
        }
    }
}

impl From<RedisError> for Error {
    fn from(e: RedisError) -> Self {
        if is_transient(&e) {
            return Error::Redis(e);
        }
        match (e.kind(), e.code()) {
            (ErrorKind::Server(_) | ErrorKind::Extension, Some(code)) => Error::Refused {
                code: code.to_string(),
                message: e.detail().unwrap_or_default().to_string(),
            },
            _ => Error::Redis(e),
        }
    }
}

/// Whether a command that failed this way may succeed when sent again: the
/// connection broke or timed out, or the cluster is moving, electing or
/// loading (`MOVED`, `ASK`, `TRYAGAIN`, `CLUSTERDOWN`, `MASTERDOWN`,
/// `READONLY` from a primary turned replica, `LOADING`).
pub(crate) fn is_transient(e: &RedisError) -> bool {
    if e.kind() == ErrorKind::AuthenticationFailed {
        return false;
    }
    if matches!(
        e.kind(),
        ErrorKind::Server(
            ServerErrorKind::Moved
                | ServerErrorKind::Ask
                | ServerErrorKind::TryAgain
                | ServerErrorKind::ClusterDown
                | ServerErrorKind::MasterDown
                | ServerErrorKind::ReadOnly
                | ServerErrorKind::BusyLoading
        )
    ) {
        return true;
    }
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.kind() == ErrorKind::ClusterConnectionNotFound
        || !matches!(e.retry_method(), RetryMethod::NoRetry)
}

/// Whether the request may have reached the server before it failed: a
/// broken or timed-out connection. A send retried after this is uncertain.
pub(crate) fn is_lost(e: &RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(code: &str, message: &str) -> Error {
        Error::Refused {
            code: code.into(),
            message: message.into(),
        }
    }

    #[test]
    fn refusals_by_code_with_their_numbers() {
        let cases = [
            (
                "MUTED",
                "bob is muted in room r until 1764583200000 (30 seconds from now)",
                Refusal::Muted {
                    until: Some(1764583200000),
                },
            ),
            (
                "MUTED",
                "bob is muted in room r until CHAT.UNMUTE",
                Refusal::Muted { until: None },
            ),
            (
                "BANNED",
                "bob is banned from room r until 31500 (31 seconds from now)",
                Refusal::Banned { until: Some(31500) },
            ),
            (
                "BANNED",
                "bob is banned from room r until CHAT.UNBAN",
                Refusal::Banned { until: None },
            ),
            (
                "NOINVITE",
                "room r is private: bob needs an invitation from an owner or admin (CHAT.INVITE)",
                Refusal::NoInvite,
            ),
            (
                "NOPERM",
                "only the room's owners and admins may kick; bob is a member",
                Refusal::NoPermission,
            ),
            (
                "SLOWMODE",
                "room r allows a member one message every 10 seconds; bob may send again in 9986 ms",
                Refusal::SlowMode {
                    retry_after_ms: 9986,
                },
            ),
            (
                "RATELIMIT",
                "bob may send 1 messages per second (burst 1, chat.send-rate); retry in 981 ms",
                Refusal::RateLimited {
                    retry_after_ms: 981,
                },
            ),
        ];
        for (code, message, want) in cases {
            let e = refused(code, message);
            assert_eq!(e.refusal(), Some(want), "{e}");
            assert_eq!(want.code(), code);
            assert!(e.has_code(code) && e.is_refused());
            assert_eq!(e.to_string(), format!("{code} {message}"));
        }
        assert_eq!(
            refused("RATELIMIT", "retry in 981 ms")
                .refusal()
                .and_then(|r| r.retry_after()),
            Some(Duration::from_millis(981))
        );
        assert_eq!(Refusal::NoInvite.retry_after(), None);
        assert_eq!(refused("ERR", "no such room").refusal(), None);
        assert_eq!(Error::Usage("x".into()).refusal(), None);
    }
}
