//! A send that survives retries, redirects and failovers, and can wait for
//! replicas.
//!
//! `CHAT.SEND ... DEDUP <key>` sent again with the same key replies the id
//! of the first send and writes nothing, so a send whose reply was lost is
//! simply sent again. This does that, a bounded number of times with a
//! growing pause, through everything that loses a reply or bounces a
//! command: a broken connection, a timeout, `TRYAGAIN`, `CLUSTERDOWN`,
//! `LOADING`, `READONLY` from a primary that just became a replica, `MOVED`
//! and `ASK`.
//!
//! `WAIT n` counts the replicas that have *this connection's* last write.
//! So the send and its `WAIT` go in one pipeline on one connection of the
//! send's own, to the primary of the room's slot (a cluster client may send
//! two commands on two connections, and a `WAIT` on a shared connection
//! holds up everything behind it). A send without replicas uses the
//! library's shared connection to that primary. When an earlier
//! attempt may have written on another connection (it broke, or the room's
//! primary changed), a retry finds the message already stored and writes
//! nothing, so its `WAIT` would count nothing; the library then reads the
//! primary's replication offset with `ROLE` and waits until enough replicas
//! report at least that offset, which covers the first write wherever it
//! came from.

use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{ErrorKind, RedisError, ServerErrorKind, Value};

use crate::backend::{Backend, Node};
use crate::error::{is_lost, is_transient, Error, Result};
use crate::reply;

/// A new DEDUP key: 128 random bits, in hex.
pub(crate) fn new_key() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Usage(format!("no random bytes for a DEDUP key: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// How to send a message: [`Chat::send_with`](crate::Chat::send_with).
/// `SendOptions::default()` is a plain send with a new random DEDUP key
/// that waits for no replica.
#[derive(Clone, Debug, Default)]
pub struct SendOptions {
    /// The DEDUP key; None: a new random one. A second send with the same
    /// key within the module's `chat.dedup-window` stores nothing and
    /// returns the first one's id.
    pub key: Option<String>,
    /// Replicas that must confirm the message before the send returns
    /// (`WAIT`); 0: none.
    pub replicas: usize,
    /// The id of the message of the same room this one replies to
    /// (`REPLY <id>`): it joins that message's thread.
    pub reply_to: Option<u64>,
    /// Members of the room the message mentions (`MENTION <user>` each, at
    /// most 50; repeats are folded by the module).
    pub mentions: Vec<String>,
}

impl SendOptions {
    /// The words that follow `DEDUP <key>`, the same in every attempt.
    pub(crate) fn words(&self) -> Vec<String> {
        let mut words = Vec::new();
        if let Some(id) = self.reply_to {
            words.push("REPLY".to_string());
            words.push(id.to_string());
        }
        for user in &self.mentions {
            words.push("MENTION".to_string());
            words.push(user.clone());
        }
        words
    }
}

/// What is sent, the same in every attempt.
struct Message<'a> {
    room: &'a str,
    sender: &'a str,
    text: &'a str,
    key: &'a str,
    /// `REPLY <id>`, `MENTION <user>` ...: after the DEDUP key.
    extra: &'a [String],
    /// Replicas to wait for, and for how long at most.
    replicas: usize,
    wait: Duration,
}

/// What one attempt learnt.
enum Outcome {
    /// Stored with this id, and confirmed by this many replicas.
    Stored(u64, usize),
    /// Try again; the error says why.
    Again(RedisError),
}

/// Sends once, as far as the room can tell, and returns the message id.
pub(crate) async fn send(
    backend: &Backend,
    room: &str,
    sender: &str,
    text: &str,
    key: &str,
    replicas: usize,
    extra: &[String],
) -> Result<u64> {
    let settings = &backend.settings;
    let message = Message {
        room,
        sender,
        text,
        key,
        extra,
        replicas,
        wait: settings.wait_timeout,
    };
    let mut ask: Option<Node> = None;
    // A send that waits for replicas has a connection of its own.
    let mut own: Option<(String, MultiplexedConnection)> = None;
    // Whether an earlier attempt may have written on another connection.
    let mut uncertain = false;
    let mut stored: Option<(u64, usize)> = None;
    let mut stored_on: Option<String> = None;
    let mut last: Option<RedisError> = None;
    for attempt in 1..=settings.attempts {
        settings.before(attempt).await;
        let asking = ask.is_some();
        let node = match ask.take() {
            Some(node) => node,
            None => match backend.node_for(room.as_bytes()).await {
                Ok(node) => node,
                Err(Error::Redis(e)) => {
                    last = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            },
        };
        if stored_on.as_ref().is_some_and(|on| *on != node.name) {
            uncertain = true;
        }
        let mut conn = match connection(backend, &node, replicas, &mut own).await {
            Ok(conn) => conn,
            Err(Error::Redis(e)) => {
                backend.slots_changed();
                last = Some(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        let attempted = once(&mut conn, &message, asking).await;
        let outcome = match attempted {
            Ok(outcome) => outcome,
            Err(e) if is_transient(&e) => {
                if is_lost(&e) {
                    // The send may or may not have run: only the DEDUP key
                    // can tell, on a new connection.
                    uncertain = true;
                    backend.forget_connection(&node);
                    own = None;
                }
                backend.slots_changed();
                Outcome::Again(e)
            }
            Err(e) => return Err(e.into()),
        };
        match outcome {
            Outcome::Again(e) => {
                if e.kind() == ErrorKind::Server(ServerErrorKind::Ask) {
                    // The room is moving and already on the node named:
                    // one command, after ASKING, goes there.
                    ask = e
                        .redirect_node()
                        .and_then(|(addr, _)| addr.rsplit_once(':'))
                        .and_then(|(host, port)| Some(backend.node(host, port.parse().ok()?)));
                } else {
                    backend.slots_changed();
                }
                last = Some(e);
            }
            Outcome::Stored(id, mut acked) => {
                if replicas == 0 {
                    return Ok(id);
                }
                if uncertain && acked >= replicas {
                    acked = replicas_at_offset(&mut conn, replicas, settings.wait_timeout).await?;
                }
                stored = Some((id, acked));
                stored_on = Some(node.name.clone());
                if acked >= replicas {
                    return Ok(id);
                }
                // Too few so far. Sending again on this connection writes
                // nothing (same key), and its WAIT still counts the write.
                last = None;
            }
        }
    }
    if let Some((id, acked)) = stored {
        return Err(Error::NotReplicated {
            id,
            acked,
            wanted: replicas,
            key: key.to_string(),
        });
    }
    Err(Error::SendFailed {
        key: key.to_string(),
        attempts: settings.attempts,
        last: last.unwrap_or_else(|| RedisError::from((ErrorKind::Io, "no attempt was made"))),
    })
}

/// The connection for an attempt: the node's shared one, or for a send
/// that waits for replicas one of its own, kept across its attempts while
/// the node stays the same (a `WAIT` on a shared one would hold up every
/// other command on it, and count their writes too).
async fn connection(
    backend: &Backend,
    node: &Node,
    replicas: usize,
    own: &mut Option<(String, MultiplexedConnection)>,
) -> Result<MultiplexedConnection> {
    if replicas == 0 {
        return backend.node_connection(node).await;
    }
    if let Some((name, conn)) = own {
        if *name == node.name {
            return Ok(conn.clone());
        }
    }
    let conn = backend.dedicated_connection(node).await?;
    *own = Some((node.name.clone(), conn.clone()));
    Ok(conn)
}

/// One attempt: `[ASKING,] CHAT.SEND ... DEDUP key [, WAIT n ms]` in one
/// pipeline. A transient refusal of the send is an `Outcome::Again`; a
/// connection error is returned as it is.
async fn once(
    conn: &mut MultiplexedConnection,
    m: &Message<'_>,
    asking: bool,
) -> redis::RedisResult<Outcome> {
    let mut pipe = redis::pipe();
    if asking {
        pipe.cmd("ASKING");
    }
    pipe.cmd("CHAT.SEND")
        .arg(m.room)
        .arg(m.sender)
        .arg(m.text)
        .arg("DEDUP")
        .arg(m.key)
        .arg(m.extra);
    if m.replicas > 0 {
        pipe.cmd("WAIT").arg(m.replicas).arg(wait_ms(m.wait));
    }
    let replies: Vec<Value> = pipe.ignore_errors().query_async(conn).await?;
    let mut replies = replies.into_iter().skip(usize::from(asking));
    let id = match replies.next() {
        Some(Value::ServerError(e)) => {
            let e = RedisError::from(e);
            return if is_transient(&e) {
                Ok(Outcome::Again(e))
            } else {
                Err(e)
            };
        }
        Some(v) => reply::count(v).map_err(protocol)?,
        None => return Err(protocol(Error::Reply("no reply to CHAT.SEND".into()))),
    };
    if m.replicas == 0 {
        return Ok(Outcome::Stored(id, 0));
    }
    let acked = match replies.next() {
        Some(Value::ServerError(e)) => return Err(RedisError::from(e)),
        Some(v) => reply::count(v).map_err(protocol)?,
        None => return Err(protocol(Error::Reply("no reply to WAIT".into()))),
    };
    Ok(Outcome::Stored(
        id,
        usize::try_from(acked).unwrap_or(usize::MAX),
    ))
}

fn wait_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// A decoding error as a Redis error, so one attempt has one error type.
fn protocol(e: Error) -> RedisError {
    RedisError::from((
        ErrorKind::UnexpectedReturnType,
        "unexpected reply",
        e.to_string(),
    ))
}

/// How many replicas have the primary's current replication offset,
/// waiting up to `timeout` for `replicas` of them. Replicas report their
/// offset about once a second, so this can take that long; it runs only
/// after an attempt that may have written elsewhere.
async fn replicas_at_offset(
    conn: &mut MultiplexedConnection,
    replicas: usize,
    timeout: Duration,
) -> Result<usize> {
    let deadline = Instant::now() + timeout;
    let mut target: Option<i64> = None;
    loop {
        let role: Value = redis::cmd("ROLE").query_async(conn).await?;
        let Value::Array(fields) = role else {
            return Err(Error::reply("a ROLE array", &role));
        };
        let mut fields = fields.into_iter();
        let (Some(kind), Some(offset), Some(Value::Array(list))) =
            (fields.next(), fields.next(), fields.next())
        else {
            // Not a primary (any more): none of its replicas count.
            return Ok(0);
        };
        if reply::string(kind)? != "master" {
            return Ok(0);
        }
        let target = *target.get_or_insert(reply::int(offset)?);
        let mut caught_up = 0;
        for replica in list {
            if let Value::Array(r) = replica {
                if let Some(offset) = r.into_iter().nth(2) {
                    if reply::int(offset)? >= target {
                        caught_up += 1;
                    }
                }
            }
        }
        if caught_up >= replicas || Instant::now() >= deadline {
            return Ok(caught_up);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_follow_the_key() {
        assert!(SendOptions::default().words().is_empty());
        let options = SendOptions {
            reply_to: Some(7),
            mentions: vec!["bob".into(), "carol".into()],
            ..SendOptions::default()
        };
        assert_eq!(
            options.words(),
            ["REPLY", "7", "MENTION", "bob", "MENTION", "carol"]
        );
    }

    #[test]
    fn keys_are_new_each_time() {
        let (a, b) = (new_key().unwrap(), new_key().unwrap());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
