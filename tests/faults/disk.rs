//! A full disk: the AOF on a small tmpfs that the test fills. Redis then
//! refuses writes (`MISCONF`), chat commands among them, before they write
//! anything; reads go on; and once space returns, Redis writes what it
//! held and every send it acknowledged is there, also after a restart from
//! the AOF.

use std::fs::{self, File};
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use crate::Acked;

/// A tmpfs of `megabytes`, mounted for the test and removed after it.
/// Mounting needs root, which scripts/test runs as.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    fn mount(megabytes: u32) -> SmallDisk {
        let path = std::env::temp_dir().join(format!("redis-chat-disk-{}", std::process::id()));
        let _ = fs::create_dir_all(&path);
        let size = format!("size={megabytes}m");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &size, "tmpfs"])
            .arg(&path)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "could not mount a {megabytes} MB tmpfs at {} (the test needs root)",
            path.display()
        );
        SmallDisk { path }
    }

    fn dir(&self) -> &str {
        self.path.to_str().unwrap_or_default()
    }

    /// Fills the disk but for about `leave` bytes, with a file `free`
    /// removes.
    fn fill_leaving(&self, leave: usize) {
        let reserve = self.path.join("reserve");
        File::create(&reserve)
            .and_then(|mut f| f.write_all(&vec![0u8; leave]))
            .expect("write the reserve");
        let mut filler = File::create(self.path.join("filler")).expect("create the filler");
        let chunk = vec![0u8; 16 * 1024];
        while filler
            .write_all(&chunk)
            .and_then(|_| filler.flush())
            .is_ok()
        {}
        let _ = filler.sync_all();
        fs::remove_file(reserve).expect("remove the reserve");
    }

    fn free(&self) {
        fs::remove_file(self.path.join("filler")).expect("remove the filler");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        let _ = fs::remove_dir(&self.path);
    }
}

#[test]
fn a_full_disk_refuses_writes_keeps_reads_and_loses_nothing_acknowledged() {
    let disk = SmallDisk::mount(8);
    let args = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--auto-aof-rewrite-percentage",
        "0",
        "--dir",
        disk.dir(),
    ];
    let mut server = Server::start_with(&[], &args);
    let mut con = server.conn();
    room_with(&mut con, "r", &["alice", "bob", "carol"]);
    let mut acked = Acked::new("r");
    acked.send(&mut con, "alice", "before").expect("a send");
    disk.fill_leaving(256 * 1024);

    // Sends until the AOF cannot be written: Redis takes a few more while
    // the failing write is retried, then refuses every write.
    let text = "y".repeat(2000);
    let refused = loop {
        match acked.send(&mut con, "alice", &text) {
            Ok(_) => assert!(acked.ids.len() < 10_000, "never refused"),
            Err(e) => break e,
        }
    };
    assert!(refused.starts_with("MISCONF"), "{refused}");
    assert!(refused.contains("AOF"), "{refused}");
    let before = digest(&mut con);
    for command in [
        &["CHAT.SEND", "r", "bob", "still full"][..],
        &["CHAT.REGISTER", "dave", "Dave"],
    ] {
        assert!(err(&mut con, command).starts_with("MISCONF"), "{command:?}");
    }
    assert_eq!(digest(&mut con), before, "a refused write changed the data");
    // Reads go on.
    let last = *acked.ids.last().unwrap_or(&0);
    assert_eq!(
        int(&field(&q(&mut con, &["CHAT.INFO", "r"]), "last_id")),
        last
    );
    assert_eq!(history_after(&mut con, "r", 0).len() as i64, last);

    // Space again: Redis writes what it held (it tries again every
    // second) and takes writes again.
    disk.free();
    let deadline = Instant::now() + Duration::from_secs(15);
    while acked.send(&mut con, "bob", "space again").is_err() {
        assert!(
            Instant::now() < deadline,
            "writes still refused:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    acked.all_there(&mut con, "once space returned");
    let data = digest(&mut con);

    // Everything acknowledged is in the AOF: a restart from it has it all.
    server.restart(&args);
    let mut con = server.conn();
    assert_eq!(digest(&mut con), data, "the AOF lost something");
    acked.all_there(&mut con, "after a restart from the AOF");
}
