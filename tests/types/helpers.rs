//! Small helpers the parts share: raw DUMP payloads and RESTORE, digests
//! of single values, AOF rewrites and files, byte searches,
//! replicas and comparisons of two servers' data, and push listeners.

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use redis::{Connection, Value};

use crate::common::*;

// ---------------------------------------------------------------------------
// Small helpers

pub(crate) fn bytes(con: &mut Connection, args: &[&str]) -> Vec<u8> {
    let (name, rest) = args.split_first().unwrap();
    redis::cmd(name)
        .arg(rest)
        .query::<Vec<u8>>(con)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

pub(crate) fn digest_value(con: &mut Connection, key: &str) -> String {
    strings(&q(con, &["DEBUG", "DIGEST-VALUE", key])).remove(0)
}

pub(crate) fn exists(con: &mut Connection, key: &str) -> bool {
    int(&q(con, &["EXISTS", key])) == 1
}

pub(crate) fn restore(
    con: &mut Connection,
    key: &str,
    payload: &[u8],
    replace: bool,
) -> redis::RedisResult<Value> {
    let mut cmd = redis::cmd("RESTORE");
    cmd.arg(key).arg(0).arg(payload);
    if replace {
        cmd.arg("REPLACE");
    }
    cmd.query(con)
}

/// Waits until INFO persistence shows `line`.
pub(crate) fn wait_persistence(con: &mut Connection, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !text(&q(con, &["INFO", "persistence"])).contains(line) {
        assert!(Instant::now() < deadline, "never saw {line}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Runs BGREWRITEAOF and waits for it to end well.
pub(crate) fn rewrite_aof(con: &mut Connection) {
    wait_persistence(con, "aof_rewrite_scheduled:0");
    wait_persistence(con, "aof_rewrite_in_progress:0");
    q(con, &["BGREWRITEAOF"]);
    thread::sleep(Duration::from_millis(50));
    wait_persistence(con, "aof_rewrite_scheduled:0");
    wait_persistence(con, "aof_rewrite_in_progress:0");
    assert_eq!(
        info_field(con, "persistence", "aof_last_bgrewrite_status"),
        "ok"
    );
}

/// Every file of the server's AOF directory, by name.
pub(crate) fn aof_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("appendonlydir"))
        .expect("an AOF directory")
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

pub(crate) fn count_of(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

/// Where two servers' data differ: the keys only one has, and for each
/// key whose DIGEST-VALUE differs, both CHAT.DUMPs.
fn differences(a: &mut Connection, b: &mut Connection) -> String {
    let keys = |con: &mut Connection| {
        let mut keys = strings(&q(con, &["KEYS", "*"]));
        keys.sort();
        keys
    };
    let (in_a, in_b) = (keys(a), keys(b));
    let mut out = String::new();
    for key in in_a.iter().filter(|k| !in_b.contains(k)) {
        out += &format!("only in the first: {key}\n");
    }
    for key in in_b.iter().filter(|k| !in_a.contains(k)) {
        out += &format!("only in the second: {key}\n");
    }
    for key in in_a.iter().filter(|k| in_b.contains(k)) {
        if digest_value(a, key) != digest_value(b, key) {
            let dump = |con: &mut Connection| match try_q(con, &["CHAT.DUMP", key]) {
                Ok(v) => text(&v),
                Err(e) => error_text(&e),
            };
            out += &format!(
                "{key} differs:\n  first:  {}\n  second: {}\n",
                dump(a),
                dump(b)
            );
        }
    }
    out
}

/// Asserts equal DEBUG DIGESTs, showing what differs if they are not.
pub(crate) fn assert_same_data(a: &mut Connection, b: &mut Connection, what: &str) {
    let (da, db) = (digest(a), digest(b));
    if da != db {
        panic!("{what}: DEBUG DIGEST {da} vs {db}\n{}", differences(a, b));
    }
}

pub(crate) fn wait_for_replicas(primary: &mut Connection, n: i64) {
    let acked = int(&q(primary, &["WAIT", &n.to_string(), "5000"]));
    assert_eq!(acked, n, "the replicas did not catch up");
}
