//! A replica that falls behind: stopped (SIGSTOP) while sends go on, past
//! its primary's replication backlog and its output buffer limit, so that
//! the primary drops it. Resumed, it cannot continue where it was and
//! resyncs in full, and ends with the primary's data.

use std::time::{Duration, Instant};

use crate::common::*;
use crate::Acked;

/// Lines of `log` that say a full synchronization with a replica ended.
fn full_syncs(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("Synchronization with replica") && l.contains("succeeded"))
        .count()
}

#[test]
fn a_replica_past_the_backlog_resyncs_in_full_and_ends_with_the_primarys_data() {
    let primary = Server::start_with(
        &[],
        &[
            "--repl-backlog-size",
            "16kb",
            "--repl-diskless-sync-delay",
            "0",
        ],
    );
    let mut con = primary.conn();
    q(
        &mut con,
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "replica 64kb 32kb 1",
        ],
    );
    let mut replica = replica_with(&primary, &[], &[]);
    room_with(&mut con, "r", &["alice", "bob", "carol"]);
    let mut acked = Acked::new("r");
    for i in 0..20 {
        acked
            .send(&mut con, "alice", &format!("early {i}"))
            .expect("a send");
    }
    wait_for_replicas(&mut con, 1);
    assert_eq!(full_syncs(&primary.log()), 1);

    // Stopped, the replica reads nothing; 12 MB of sends overflow the
    // backlog (16 KB), the sockets' kernel buffers (a few MB on loopback)
    // and then the replica's output buffer (64 KB).
    signal(replica.pid(), "-STOP");
    let text = "z".repeat(4000);
    for _ in 0..3000 {
        acked.send(&mut con, "bob", &text).expect("a send");
    }
    signal(replica.pid(), "-CONT");

    // It comes back through a second full synchronization.
    let deadline = Instant::now() + Duration::from_secs(30);
    while int(&q(&mut con, &["WAIT", "1", "1000"])) < 1 {
        assert!(
            Instant::now() < deadline,
            "the replica did not come back:\n{}",
            primary.log()
        );
    }
    assert!(replica.is_running());
    let log = primary.log();
    assert_eq!(full_syncs(&log), 2, "{log}");
    assert!(log.contains("output buffer limits"), "{log}");
    let mut on_replica = replica.conn();
    assert_same_data(&mut con, &mut on_replica, "after the resync");
    acked.all_there(&mut on_replica, "on the replica");
}
