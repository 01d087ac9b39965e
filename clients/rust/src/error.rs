//! The one error type of the library.
//!
//! A command the module refused comes back as [`Error::Refused`], with the
//! module's own words (`ERR no such room` is code `ERR`, message
//! `no such room`), so an app can show it or match on it. Everything that
//! is not the module's answer (a connection that broke, a cluster that kept
//! redirecting after every retry) is [`Error::Redis`]. A send has two more
//! outcomes of its own, [`Error::NotReplicated`] and [`Error::SendFailed`].

use std::fmt;

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
