//! Events, presence, read state and notifications (issue 16), with real
//! subscribers on real servers.
//!
//! One module per subject: `members` (join, leave, invite, kick and ban as
//! `member` events, in fan-out and broadcast rooms), `presence` (online and
//! offline events, heartbeats, TTL expiry, devices, CHAT.PROFILE and
//! CHAT.DUMP), `restarts` (expiries announced after DEBUG RELOAD, a restart
//! from the RDB or the AOF, and by a promoted replica), `reading`
//! (CHAT.READ to the reader's other devices, CHAT.CHANNELS ... PRESENCE),
//! `notify` (CHAT.NOTIFY and who gets a stream entry for what),
//! `workers` (the stream through the AOF, replicas, promotion and consumer
//! groups) and `cluster` (presence on sharded channels, one stream per
//! slot).
//!
//! An `Ear` is a subscriber that can say exactly what it heard since the
//! last time it was asked: it publishes a marker on its own channel and
//! takes everything before the marker (the module publishes while a
//! command runs, so whatever a command published comes first). So "heard
//! nothing" is checked without sleeping.

#[path = "../common/mod.rs"]
mod common;

mod cluster;
mod members;
mod notify;
mod presence;
mod reading;
mod restarts;
mod workers;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use redis::{Connection, Value};
use serde_json::{json, Value as Json};

/// How long to wait for an event that must come.
const WAIT: Duration = Duration::from_secs(2);

/// A subscriber on one channel (SUBSCRIBE, or SSUBSCRIBE in a cluster) of
/// the server on `port`, with its own connection to publish markers.
struct Ear {
    channel: String,
    received: mpsc::Receiver<String>,
    publisher: Connection,
    sharded: bool,
    /// This ear's own number: its markers carry it, and another ear's
    /// markers on the same channel (or published on a primary and
    /// replicated) are skipped.
    id: u64,
    markers: u64,
}

static EARS: AtomicU64 = AtomicU64::new(0);

/// Whether `event` is a marker of any ear.
fn is_marker(event: &Json) -> bool {
    event["type"] == "marker"
}

impl Ear {
    /// SUBSCRIBE `channel` on `server`.
    fn on(server: &Server, channel: &str) -> Ear {
        Ear::start(server.port, channel, false)
    }

    /// SUBSCRIBE to `user`'s push channel.
    fn push(server: &Server, user: &str) -> Ear {
        Ear::on(server, &format!("chat:user:{{{user}}}:push"))
    }

    /// SUBSCRIBE to `user`'s presence channel.
    fn presence(server: &Server, user: &str) -> Ear {
        Ear::on(server, &presence_of(user))
    }

    /// Listens on `channel` of the server on `port`; with `sharded`,
    /// SSUBSCRIBE (Redis Cluster), else SUBSCRIBE.
    fn start(port: u16, channel: &str, sharded: bool) -> Ear {
        let connect = || {
            redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                .unwrap()
                .get_connection()
                .unwrap()
        };
        let mut con = connect();
        let (tx, received) = mpsc::channel();
        let (ready_tx, ready) = mpsc::channel();
        let name = channel.to_string();
        let (subscribe, kind) = if sharded {
            ("SSUBSCRIBE", "smessage")
        } else {
            ("SUBSCRIBE", "message")
        };
        thread::spawn(move || {
            con.send_packed_command(&redis::cmd(subscribe).arg(&name).get_packed_command())
                .unwrap();
            let _confirmation = con.recv_response().unwrap();
            ready_tx.send(()).unwrap();
            // Ends when the server goes away at the end of the test.
            while let Ok(Value::Array(msg)) = con.recv_response() {
                if let [k, _, Value::BulkString(payload)] = &msg[..] {
                    if text(k) == kind
                        && tx
                            .send(String::from_utf8_lossy(payload).into_owned())
                            .is_err()
                    {
                        break;
                    }
                }
            }
        });
        ready
            .recv_timeout(Duration::from_secs(5))
            .expect("subscribed");
        Ear {
            channel: channel.to_string(),
            received,
            publisher: connect(),
            sharded,
            id: EARS.fetch_add(1, Ordering::Relaxed),
            markers: 0,
        }
    }

    /// The next payload but other ears' markers, or None if nothing
    /// arrives within `wait`.
    fn next(&mut self, wait: Duration) -> Option<Json> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let payload = self.received.recv_timeout(left).ok()?;
            let event: Json = serde_json::from_str(&payload)
                .unwrap_or_else(|e| panic!("not JSON on {} ({e}): {payload}", self.channel));
            if !is_marker(&event) || event["ear"] == self.id {
                return Some(event);
            }
        }
    }

    /// Everything published on the channel since the last call (or since
    /// the subscription), in order.
    fn heard(&mut self) -> Vec<Json> {
        self.markers += 1;
        let marker = json!({"type": "marker", "ear": self.id, "n": self.markers});
        let publish = if self.sharded { "SPUBLISH" } else { "PUBLISH" };
        q(
            &mut self.publisher,
            &[publish, &self.channel, &marker.to_string()],
        );
        let mut heard = Vec::new();
        loop {
            let event = self
                .next(WAIT)
                .unwrap_or_else(|| panic!("{}: the marker never came back", self.channel));
            if event == marker {
                return heard;
            }
            if !is_marker(&event) {
                heard.push(event);
            }
        }
    }

    /// Asserts that nothing was published since the last call.
    fn quiet(&mut self, what: &str) {
        let heard = self.heard();
        assert!(heard.is_empty(), "{what}: {} heard {heard:?}", self.channel);
    }

    /// Asserts that exactly `expected` was published since the last call,
    /// in any order.
    fn heard_exactly(&mut self, expected: &[Json], what: &str) {
        let mut heard: Vec<String> = self.heard().iter().map(Json::to_string).collect();
        let mut expected: Vec<String> = expected.iter().map(Json::to_string).collect();
        heard.sort();
        expected.sort();
        assert_eq!(heard, expected, "{what}: on {}", self.channel);
    }
}

/// The presence channel of `user` (`{tag}rest` ids: `{tag}{rest}`).
fn presence_of(user: &str) -> String {
    String::from_utf8(chat_core::channels::presence_channel(user)).unwrap()
}

/// `{"type":"member",...}`
fn member(room: &str, user: &str, change: &str) -> Json {
    json!({"type": "member", "room": room, "user": user, "change": change})
}

/// The online event of `user`, online until `until`.
fn online(user: &str, until: i64) -> Json {
    json!({"type": "presence", "user": user, "online": true, "until": until})
}

/// The offline event of `user`.
fn offline(user: &str) -> Json {
    json!({"type": "presence", "user": user, "online": false, "until": null})
}

/// When `user`'s presence ends, as CHAT.DUMP shows it (0: offline).
fn online_until(con: &mut Connection, user: &str) -> i64 {
    dump(con, user)["online_until"].as_i64().unwrap_or(0)
}

/// CHAT.PROFILE's `online`.
fn is_online<C: redis::ConnectionLike>(con: &mut C, user: &str) -> i64 {
    int(&field(&q(con, &["CHAT.PROFILE", user]), "online"))
}

/// Waits for `user`'s offline event, which must come because their
/// presence ended at `until` (unix ms): not before, and within `slack_ms`
/// after. Then nothing more comes for a moment.
fn offline_within(ear: &mut Ear, user: &str, until: i64, slack_ms: i64) {
    let wait = (until + slack_ms - now_ms()).max(0) as u64 + 1000;
    let event = ear
        .next(Duration::from_millis(wait))
        .unwrap_or_else(|| panic!("no offline event for {user} (ended at {until})"));
    let at = now_ms();
    assert_eq!(event, offline(user), "the event after {user}'s end");
    assert!(
        at >= until - 5,
        "{user}'s offline event came {} ms before the end",
        until - at
    );
    assert!(
        at <= until + slack_ms,
        "{user}'s offline event came {} ms after the end (at most {slack_ms})",
        at - until
    );
    ear.quiet("after the offline event");
}

/// Registers each user (those registered already are left alone).
fn register<C: redis::ConnectionLike>(con: &mut C, users: &[&str]) {
    for u in users {
        let _ = try_q(con, &["CHAT.REGISTER", u, &format!("User {u}")]);
    }
}

/// `CHAT.SEND room sender text [MENTION m]...`, replying the id.
fn send<C: redis::ConnectionLike>(
    con: &mut C,
    room: &str,
    sender: &str,
    text: &str,
    mentions: &[&str],
) -> i64 {
    let mut args = vec!["CHAT.SEND", room, sender, text];
    for m in mentions {
        args.extend(["MENTION", m]);
    }
    int(&q(con, &args))
}

/// One stream entry: its id and its fields in order.
type Entry = (String, Vec<(String, String)>);

/// The entries of stream `key` (XRANGE - +), oldest first.
fn entries<C: redis::ConnectionLike>(con: &mut C, key: &str) -> Vec<Entry> {
    entries_of(&q(con, &["XRANGE", key, "-", "+"]))
}

/// An XRANGE / XREADGROUP-style array of [id, [field, value, ...]].
fn entries_of(reply: &Value) -> Vec<Entry> {
    let Value::Array(items) = reply else {
        panic!("expected stream entries, got {reply:?}");
    };
    items
        .iter()
        .map(|item| match item {
            Value::Array(e) if e.len() == 2 => {
                let fields = strings(&e[1]);
                let fields = fields
                    .chunks(2)
                    .map(|kv| (kv[0].clone(), kv[1].clone()))
                    .collect();
                (text(&e[0]), fields)
            }
            other => panic!("not a stream entry: {other:?}"),
        })
        .collect()
}

/// The entries of one stream in an XREADGROUP reply (empty for nil).
fn read_group(reply: &Value) -> Vec<Entry> {
    match reply {
        Value::Nil => Vec::new(),
        Value::Array(streams) => {
            assert_eq!(streams.len(), 1, "{reply:?}");
            let Value::Array(s) = &streams[0] else {
                panic!("{reply:?}")
            };
            entries_of(&s[1])
        }
        other => panic!("not an XREADGROUP reply: {other:?}"),
    }
}

/// The fields of a notification entry, in order.
const NOTICE_FIELDS: [&str; 6] = ["room", "id", "sender", "ts", "text", "to"];

/// A notification entry: the message a send recorded it for, and every
/// member away it notifies, each with why.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Notice {
    /// The stream entry's id.
    entry: String,
    room: String,
    id: i64,
    sender: String,
    ts: i64,
    text: String,
    /// (user, reason) in the order of the entry's `to` object.
    to: Vec<(String, String)>,
}

impl Notice {
    /// Reads a notification entry, asserting its fields (names and order)
    /// and that it notifies somebody.
    fn of((entry, fields): &Entry) -> Notice {
        let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, NOTICE_FIELDS, "the fields of entry {entry}");
        let value = |i: usize| fields[i].1.clone();
        let number = |i: usize| {
            value(i)
                .parse()
                .unwrap_or_else(|e| panic!("{} of entry {entry}: {e}", NOTICE_FIELDS[i]))
        };
        let to = recipients_of(&value(5));
        assert!(!to.is_empty(), "entry {entry} notifies nobody");
        Notice {
            entry: entry.clone(),
            room: value(0),
            id: number(1),
            sender: value(2),
            ts: number(3),
            text: value(4),
            to,
        }
    }
}

/// The notification entries of stream `key`, oldest first.
fn notices<C: redis::ConnectionLike>(con: &mut C, key: &str) -> Vec<Notice> {
    entries(con, key).iter().map(Notice::of).collect()
}

/// The (user, reason) pairs of a `to` field, a JSON object of user id to
/// reason, in its order; asserts that every reason is one of the three,
/// no user is named twice, and the object is written as `to_field` writes
/// it (compact JSON).
fn recipients_of(to: &str) -> Vec<(String, String)> {
    let object: serde_json::Map<String, Json> =
        serde_json::from_str(to).unwrap_or_else(|e| panic!("to is not a JSON object ({e}): {to}"));
    // Map may not keep the order: read the strings one by one.
    let mut rest = &to[1..to.len() - 1];
    let string = |rest: &mut &str| -> String {
        let mut tokens = serde_json::Deserializer::from_str(rest).into_iter::<String>();
        let token = tokens
            .next()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("expected a string at {rest:?} in {to}"));
        *rest = &rest[tokens.byte_offset()..];
        token
    };
    let mut pairs = Vec::new();
    while !rest.is_empty() {
        let user = string(&mut rest);
        rest = rest.strip_prefix(':').unwrap_or(rest);
        let reason = string(&mut rest);
        rest = rest.strip_prefix(',').unwrap_or(rest);
        assert!(
            ["mention", "direct", "message"].contains(&reason.as_str()),
            "reason {reason:?} in {to}"
        );
        pairs.push((user, reason));
    }
    assert_eq!(object.len(), pairs.len(), "a user named twice in {to}");
    let expected: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(u, r)| (u.as_str(), r.as_str()))
        .collect();
    assert_eq!(to, to_field(&expected), "how to is written");
    pairs
}

/// The `to` field naming `recipients` (user, reason) in this order:
/// `{"bob":"mention","carol":"direct"}`.
fn to_field(recipients: &[(&str, &str)]) -> String {
    let items: Vec<String> = recipients
        .iter()
        .map(|(user, reason)| format!("{}:{}", Json::from(*user), Json::from(*reason)))
        .collect();
    format!("{{{}}}", items.join(","))
}

/// Pairs of (user, reason), for comparing with `Notice::to`.
fn pairs_of(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(u, r)| (u.to_string(), r.to_string()))
        .collect()
}

/// The notification counters of INFO chat: members notified (one per
/// recipient), stream entries (one per send that notified anyone), and
/// recipients not recorded (the stream's key holds another type).
#[derive(Debug, PartialEq, Eq)]
struct Counted {
    notifications: i64,
    entries: i64,
    failures: i64,
}

fn counted(con: &mut Connection) -> Counted {
    Counted {
        notifications: stat(con, "notifications"),
        entries: stat(con, "notification_entries"),
        failures: stat(con, "notification_failures"),
    }
}

/// A counter of INFO chat, by its name without the module's prefix.
fn stat(con: &mut Connection, name: &str) -> i64 {
    info_int(con, "chat", &format!("chat_{name}"))
}
