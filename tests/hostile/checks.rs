//! Checks.
//!
//! Shared by every part: a reply is a value or a well-formed error, a
//! command that fails writes nothing, and the server's log tells of no panic
//! or crash (with a test that this log check sees a panic).

use std::time::Duration;

use redis::{Connection, Value};

use crate::common::*;

/// A reply that takes longer than this is a hang.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Fails on anything but a value or a well-formed error reply; returns the
/// error text, if any.
pub(crate) fn check_reply(
    result: &redis::RedisResult<Value>,
    seed: u64,
    call: &dyn Fn() -> String,
) -> Option<String> {
    let e = match result {
        Ok(_) => return None,
        Err(e) => e,
    };
    assert!(
        !e.is_io_error() && !e.is_timeout() && !e.is_connection_dropped(),
        "seed {seed}: no reply (crash or hang): {e} after {}",
        call()
    );
    let text = error_text(e);
    let code = text.split(' ').next().unwrap_or_default();
    assert!(
        !code.is_empty() && code.bytes().all(|b| b.is_ascii_uppercase()),
        "seed {seed}: error without an upper-case code: {text:?} after {}",
        call()
    );
    assert!(
        !text.contains("internal error"),
        "seed {seed}: {text:?} after {}",
        call()
    );
    Some(code.to_string())
}

/// How many keys have expired so far.
pub(crate) fn expired_keys(con: &mut Connection) -> i64 {
    info_int(con, "stats", "expired_keys")
}

/// Runs `call`; checks the reply, that the server lives, and that a failure
/// wrote nothing. Returns the reply: "ok", or the error text. With
/// `crafted` data, an "internal error" that says what it found is a fair
/// answer; a caught panic never is.
pub(crate) fn checked_call(
    con: &mut Connection,
    call: &[String],
    what: &str,
    crafted: bool,
) -> String {
    let (digest_before, expired_before) = (digest(con), expired_keys(con));
    let args: Vec<&str> = call.iter().map(String::as_str).collect();
    let result = try_q(con, &args);
    let shown = || format!("{what}: {}", args.join(" "));
    let outcome = match &result {
        Ok(_) => "ok".to_string(),
        Err(e) if crafted && error_text(e).starts_with("ERR internal error: ") => {
            let text = error_text(e);
            assert!(!text.contains("unexpectedly"), "{text} after {}", shown());
            text
        }
        Err(e) => {
            check_reply(&result, 0, &shown);
            error_text(e)
        }
    };
    if outcome != "ok" && expired_keys(con) == expired_before {
        assert_eq!(
            digest(con),
            digest_before,
            "a failed command wrote: {} -> {outcome}",
            shown()
        );
    }
    outcome
}

/// The log check of the random runs sees a panic, with the debug module
/// (whose CHAT.DEBUG-PANIC panics on purpose) when it is built.
#[test]
fn the_log_check_sees_a_panic() {
    let debug =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/debug/libredis_chat.so");
    if !debug.exists() {
        return; // scripts/test builds it; tests/security.rs requires it
    }
    let debug = debug.to_string_lossy().into_owned();
    let server = Server::start_without_module(&["--loadmodule", &debug]);
    let mut con = server.conn();
    assert!(log_problems(&server.log()).is_empty(), "{}", server.log());
    let e = err(&mut con, &["CHAT.DEBUG-PANIC"]);
    assert!(e.starts_with("ERR "), "{e}");
    assert_eq!(text(&q(&mut con, &["PING"])), "PONG");
    let log = server.log();
    assert!(
        log_problems(&log)
            .iter()
            .any(|l| l.contains("<chat> panic: ")),
        "{log}"
    );
}
