//! What the module does differently on each server it supports: it uses a
//! newer server's API where there is one (ACL categories) and says so in
//! `INFO chat`. scripts/test runs this file on every server it covers
//! (`CHAT_REDIS_SERVER`).

mod common;

use common::*;
use redis::Connection;

/// The server's own version, as `(name, major, minor)`.
fn version(con: &mut Connection) -> (String, u32, u32) {
    let info = text(&q(con, &["INFO", "server"]));
    let get = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    };
    let (name, version) = match get("valkey_version") {
        Some(v) => ("valkey", v),
        None => ("redis", get("redis_version").expect("redis_version")),
    };
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap());
    (
        name.to_string(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    )
}

/// Whether ACL user `user` may run `args` (ACL DRYRUN).
fn allowed(con: &mut Connection, user: &str, args: &[&str]) -> bool {
    let mut call = vec!["ACL", "DRYRUN", user];
    call.extend_from_slice(args);
    match try_q(con, &call) {
        Ok(reply) => text(&reply) == "OK",
        Err(e) => panic!("ACL DRYRUN {args:?}: {e}"),
    }
}

#[test]
fn commands_are_in_the_acl_categories_the_server_supports() {
    let server = Server::start();
    let mut con = server.conn();
    let (name, major, minor) = version(&mut con);
    // Module commands got categories in Redis 7.2, modules their own
    // category in 7.4; Valkey 8 has both.
    let expected = if name == "valkey" || (major, minor) >= (7, 4) {
        "chat"
    } else if (major, minor) >= (7, 2) {
        "standard"
    } else {
        "none"
    };
    assert_eq!(
        info_field(&mut con, "chat", "chat_acl_categories"),
        expected,
        "{name} {major}.{minor}"
    );

    match expected {
        "chat" => {
            q(
                &mut con,
                &[
                    "ACL", "SETUSER", "app", "on", "nopass", "~*", "&*", "+@chat",
                ],
            );
            for public in [
                &["CHAT.SEND", "general", "alice", "hi"][..],
                &["CHAT.HISTORY", "general"],
                &["CHAT.DROP", "general"],
                &["CHAT.FETCH", "alice", "BLOCK", "10"],
            ] {
                assert!(allowed(&mut con, "app", public), "{public:?}");
            }
            // The internal replay command is not part of @chat.
            assert!(!allowed(
                &mut con,
                "app",
                &["CHAT.SEND-RESOLVED", "g", "a", "t", "1", "1", "1", "1", ""]
            ));
            assert!(!allowed(&mut con, "app", &["GET", "x"]));
        }
        "none" => {
            let refused = err(&mut con, &["ACL", "SETUSER", "app", "+@chat"]);
            assert!(refused.contains("chat"), "{refused}");
        }
        _ => {}
    }
    if expected != "none" {
        // The standard categories follow each command's flags.
        q(
            &mut con,
            &["ACL", "SETUSER", "reader", "on", "nopass", "~*", "+@read"],
        );
        assert!(allowed(&mut con, "reader", &["CHAT.HISTORY", "general"]));
        assert!(allowed(&mut con, "reader", &["CHAT.PROFILE", "alice"]));
        assert!(!allowed(&mut con, "reader", &["CHAT.SEND", "g", "a", "hi"]));
        q(
            &mut con,
            &["ACL", "SETUSER", "writer", "on", "nopass", "~*", "+@write"],
        );
        assert!(allowed(&mut con, "writer", &["CHAT.SEND", "g", "a", "hi"]));
        assert!(!allowed(&mut con, "writer", &["CHAT.HISTORY", "general"]));
    }
}
