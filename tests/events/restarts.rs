//! A presence TTL that runs out after the server restarted (DEBUG RELOAD,
//! a restart from the RDB file or from the AOF) is still announced: the
//! module finds the users who were online. A replica announces nothing;
//! once promoted, it announces the expiries that come.

use std::thread::sleep;
use std::time::Duration;

use crate::common::*;
use crate::{is_online, offline, offline_within, online, online_until, register, Ear};

/// How late an expiry may be announced after a restart.
const AFTER_RESTART_MS: i64 = 3000;

/// bob online for 3 s, carol for a minute, dave online then offline.
fn three_users(con: &mut redis::Connection) -> i64 {
    register(con, &["bob", "carol", "dave"]);
    q(con, &["CHAT.ONLINE", "bob", "TTL", "3"]);
    q(con, &["CHAT.ONLINE", "carol", "TTL", "60"]);
    q(con, &["CHAT.ONLINE", "dave", "TTL", "60"]);
    q(con, &["CHAT.OFFLINE", "dave"]);
    online_until(con, "bob")
}

/// After a restart: bob's end is announced, once; nothing for carol, who
/// is still online, nor dave, who went offline before.
fn expiry_announced(server: &Server, until: i64) {
    let mut ears: Vec<Ear> = ["bob", "carol", "dave"]
        .into_iter()
        .map(|u| Ear::presence(server, u))
        .collect();
    let mut con = server.conn();
    assert_eq!(is_online(&mut con, "bob"), 1, "bob's presence was lost");
    offline_within(&mut ears[0], "bob", until, AFTER_RESTART_MS);
    assert_eq!(is_online(&mut con, "bob"), 0);
    assert_eq!(is_online(&mut con, "carol"), 1);
    ears[1].quiet("carol is still online");
    ears[2].quiet("dave was offline already");
}

#[test]
fn an_expiry_after_debug_reload_is_announced() {
    let server = Server::start();
    let mut con = server.conn();
    let until = three_users(&mut con);
    let mut bob = Ear::presence(&server, "bob");
    assert_eq!(q(&mut con, &["DEBUG", "RELOAD"]), redis::Value::Okay);
    bob.quiet("loading announces nothing");
    expiry_announced(&server, until);
    bob.heard_exactly(&[offline("bob")], "one event, to every listener");
}

#[test]
fn an_expiry_after_a_restart_from_the_rdb_file_is_announced() {
    let mut server = Server::start();
    let mut con = server.conn();
    let until = three_users(&mut con);
    q(&mut con, &["SAVE"]);
    server.restart(&[]);
    expiry_announced(&server, until);
}

#[test]
fn an_expiry_after_a_restart_from_the_aof_is_announced() {
    let aof = ["--appendonly", "yes", "--appendfsync", "always"];
    let mut server = Server::start_with(&[], &aof);
    let mut con = server.conn();
    let until = three_users(&mut con);
    server.restart(&aof);
    expiry_announced(&server, until);
}

#[test]
fn a_replica_announces_nothing_until_promoted() {
    let mut primary = Server::start();
    let replica = start_replica(&primary, true);
    let mut con = primary.conn();
    let mut replica_con = replica.conn();
    register(&mut con, &["alice", "bob"]);
    let mut alice = Ear::presence(&primary, "alice");
    let mut alice_on_replica = Ear::presence(&replica, "alice");
    let mut bob_on_replica = Ear::presence(&replica, "bob");

    q(&mut con, &["CHAT.ONLINE", "alice", "TTL", "1"]);
    q(&mut con, &["CHAT.ONLINE", "bob", "TTL", "4"]);
    wait_for_replicas(&mut con, 1);
    let (alice_until, bob_until) = (
        online_until(&mut con, "alice"),
        online_until(&mut con, "bob"),
    );
    assert_eq!(online_until(&mut replica_con, "bob"), bob_until);
    alice.heard_exactly(&[online("alice", alice_until)], "on the primary");
    alice_on_replica.quiet("the replica replays CHAT.ONLINE");
    bob_on_replica.quiet("the replica replays CHAT.ONLINE");

    // alice's end: the primary announces it, the replica does not.
    offline_within(&mut alice, "alice", alice_until, 2000);
    sleep(Duration::from_millis(500));
    alice_on_replica.quiet("a replica, past an end");
    assert_eq!(is_online(&mut replica_con, "alice"), 0);

    // The primary goes; the replica, promoted, announces bob's end.
    primary.kill();
    assert_eq!(
        q(&mut replica_con, &["REPLICAOF", "NO", "ONE"]),
        redis::Value::Okay
    );
    assert_eq!(is_online(&mut replica_con, "bob"), 1);
    offline_within(&mut bob_on_replica, "bob", bob_until, 2000);
    assert_eq!(is_online(&mut replica_con, "bob"), 0);
    // alice's end passed (and was announced by the old primary) before
    // the failover: the promoted replica may announce it late, once, and
    // nothing else.
    let late = alice_on_replica.heard();
    assert!(
        late.len() <= 1 && late.iter().all(|e| *e == offline("alice")),
        "{late:?}"
    );
}
