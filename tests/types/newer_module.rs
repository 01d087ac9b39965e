//! Values from a newer module: Redis's module type ids and CRC-64 as this
//! test computes them, and DUMP payloads, RDB files and AOF files patched
//! to say the encoding version after the module's own (`NEWER`), which
//! RESTORE and a starting server must refuse, saying why.

use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use redis::Connection;

use crate::common::*;
use crate::dataset::dataset;
use crate::persistence::AOF;

// ---------------------------------------------------------------------------
// 5. Values from a newer module

/// The encoding version the module writes, and the next one.
const WRITTEN: u64 = 5;
const NEWER: u64 = 6;
const NEWER_REFUSED: &str = "encoding version 6 is newer than this module reads (up to 5)";

const MODULE_ID_CHARSET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Redis's 64-bit module type id: 9 characters of 6 bits, then 10 bits of
/// encoding version.
fn module_type_id(name: &str, version: u64) -> u64 {
    assert_eq!(name.len(), 9);
    let mut id = 0u64;
    for c in name.bytes() {
        let digit = MODULE_ID_CHARSET.iter().position(|&x| x == c).unwrap();
        id = (id << 6) | digit as u64;
    }
    (id << 10) | version
}

/// The id as RDB writes it: a 64-bit length, 0x81 then 8 bytes big-endian.
fn encoded_module_id(name: &str, version: u64) -> Vec<u8> {
    let mut encoded = vec![0x81];
    encoded.extend_from_slice(&module_type_id(name, version).to_be_bytes());
    encoded
}

/// Replaces every `from` in `data` by `to` (same length); returns how many.
fn replace_all(data: &mut [u8], from: &[u8], to: &[u8]) -> usize {
    assert_eq!(from.len(), to.len());
    let mut n = 0;
    let mut i = 0;
    while i + from.len() <= data.len() {
        if &data[i..i + from.len()] == from {
            data[i..i + from.len()].copy_from_slice(to);
            n += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    n
}

/// A DUMP payload of a `type_name` value, made to say encoding version `NEWER`.
fn payload_at_newer_version(payload: &[u8], type_name: &str) -> Vec<u8> {
    const RDB_TYPE_MODULE_2: u8 = 7;
    assert_eq!(payload[0], RDB_TYPE_MODULE_2);
    let written = encoded_module_id(type_name, WRITTEN);
    assert_eq!(
        &payload[1..10],
        &written[..],
        "the payload starts with the id"
    );
    let (body, crc) = payload.split_at(payload.len() - 8);
    assert_eq!(
        u64::from_le_bytes(crc.try_into().unwrap()),
        crc64(body),
        "the payload ends with the CRC of the rest"
    );
    let mut body = body.to_vec();
    assert_eq!(
        replace_all(&mut body, &written, &encoded_module_id(type_name, NEWER)),
        1
    );
    let crc = crc64(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

#[test]
fn module_type_ids_and_crcs_are_computed_as_redis_does() {
    assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    assert_eq!(module_type_id("chat-room", 1) & 1023, 1);
    assert_ne!(
        module_type_id("chat-room", 1),
        module_type_id("chat-user", 1)
    );
}

#[test]
fn restore_refuses_a_value_with_a_newer_encoding_version() {
    let mut server = Server::start();
    let mut con = server.conn();
    dataset(&mut con);
    for (key, type_name, kind) in [("ten", "chat-room", "room"), ("bob", "chat-user", "user")] {
        let payload = bytes(&mut con, &["DUMP", key]);
        let newer = payload_at_newer_version(&payload, type_name);
        let target = format!("{key}-from-the-future");
        let refused = restore(&mut con, &target, &newer, false).unwrap_err();
        let refused = error_text(&refused);
        assert!(refused.starts_with("ERR"), "{refused}");
        assert!(
            !refused.contains("checksum"),
            "the patched payload has a bad CRC: {refused}"
        );
        assert!(!exists(&mut con, &target));
        // Over an existing key, with REPLACE: refused, the key unchanged.
        let before = digest_value(&mut con, key);
        assert!(restore(&mut con, key, &newer, true).is_err());
        assert_eq!(digest_value(&mut con, key), before);
        // The server is up, and the log says why, with both versions.
        assert!(server.is_running());
        assert_eq!(text(&q(&mut con, &["PING"])), "PONG");
        let log = server.log();
        let line = log
            .lines()
            .find(|l| l.contains(&format!("'{target}'")) && l.contains(NEWER_REFUSED))
            .unwrap_or_else(|| panic!("no line about {target} in the log:\n{log}"));
        assert!(line.contains(&format!("chat-{kind}")), "{line}");
        // The untouched payload still restores.
        restore(&mut con, &target, &payload, false).unwrap();
        assert_eq!(digest_value(&mut con, &target), before);
    }
    assert_eq!(int(&q(&mut con, &["CHAT.SEND", "ten", "u1", "fine"])), 26);
}

/// How a server started on data it may refuse went.
enum Start {
    /// It stopped by itself.
    Exited,
    /// It answers commands: it took the data.
    Serving(std::process::Child, Connection),
}

/// Starts the server with the module and `server_args` on `dir`'s data,
/// logging to `log_name`; returns once it exits or answers PING, with its
/// log.
fn start_on(dir: &Path, log_name: &str, server_args: &[&str]) -> (Start, String) {
    let log = dir.join(log_name);
    let port = free_port();
    let mut child = Command::new(server_program())
        .arg("--port")
        .arg(port.to_string())
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args(["--daemonize", "no"])
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(&log)
        .arg("--loadmodule")
        .arg(module_path())
        .args(server_args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("redis://127.0.0.1:{port}/");
    let deadline = Instant::now() + Duration::from_secs(15);
    let start = loop {
        if child.try_wait().unwrap().is_some() {
            break Start::Exited;
        }
        let answering = redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c).map(|_| c));
        if let Ok(con) = answering {
            break Start::Serving(child, con);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server neither started nor stopped in 15 s");
        }
        thread::sleep(Duration::from_millis(20));
    };
    (start, std::fs::read_to_string(&log).unwrap_or_default())
}

/// The server must stop rather than serve without the values it could not
/// read, and say why in its log, without crashing.
fn assert_refused(start: Start, log: &str, missing: &[String]) {
    if let Start::Serving(mut child, mut con) = start {
        let gone: Vec<&String> = missing.iter().filter(|k| !exists(&mut con, k)).collect();
        let keys = q(&mut con, &["DBSIZE"]);
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server started and serves {keys:?} keys, without {gone:?}; its log:\n{log}");
    }
    assert!(
        log.contains("chat-room value of key") && log.contains(NEWER_REFUSED),
        "no clear line in the log:\n{log}"
    );
    assert!(!log.contains("crashed by signal"), "a crash:\n{log}");
    assert!(!log.contains("STACK TRACE"), "a crash:\n{log}");
}

#[test]
fn a_server_refuses_to_start_on_an_rdb_from_a_newer_module_and_says_why() {
    let mut server = Server::start_with(&[], &["--rdbchecksum", "no"]);
    let mut con = server.conn();
    dataset(&mut con);
    q(&mut con, &["SAVE"]);
    server.kill();
    let path = server.dir.join("dump.rdb");
    let mut rdb = std::fs::read(&path).unwrap();
    assert_eq!(&rdb[rdb.len() - 8..], &[0; 8], "saved without a checksum");
    let patched = replace_all(
        &mut rdb,
        &encoded_module_id("chat-room", WRITTEN),
        &encoded_module_id("chat-room", NEWER),
    );
    // One id per room, and one before the room type's auxiliary data (the
    // server's generation), which is read whatever its version says.
    assert_eq!(patched, 5, "one id per room, and the generation's");
    std::fs::write(&path, &rdb).unwrap();

    // The server stops while loading. (Redis 7.0 then runs its RDB check,
    // which finds nothing wrong in the file's structure, and exits with 0.)
    let (start, log) = start_on(&server.dir, "newer.log", &[]);
    assert_refused(start, &log, &[]);
    assert!(
        !log.contains("Ready to accept connections"),
        "the server served the data:\n{log}"
    );

    // The same file, put back to the version written, loads.
    replace_all(
        &mut rdb,
        &encoded_module_id("chat-room", NEWER),
        &encoded_module_id("chat-room", WRITTEN),
    );
    std::fs::write(&path, &rdb).unwrap();
    server.restart(&[]);
    let mut con = server.conn();
    assert_eq!(int(&q(&mut con, &["CHAT.SEND", "ten", "u1", "back"])), 26);
}

#[test]
fn a_server_does_not_start_without_the_values_of_an_aof_from_a_newer_module() {
    let args = [&AOF[..], &["--aof-use-rdb-preamble", "no"]].concat();
    let mut server = Server::start_with(&[], &args);
    let mut con = server.conn();
    let data = dataset(&mut con);
    rewrite_aof(&mut con);
    server.kill();
    // The rewritten AOF says `CHAT.RESTORE-VALUE <room> room 2 <bytes>`:
    // make every room's say version 6.
    let mut patched = 0;
    for (name, mut content) in aof_files(&server.dir) {
        if !name.contains(".base.") {
            continue;
        }
        for room in &data.rooms {
            let written = format!(
                "${}\r\n{room}\r\n$4\r\nroom\r\n$1\r\n{WRITTEN}\r\n",
                room.len()
            );
            let newer = written.replace(
                &format!("$1\r\n{WRITTEN}\r\n"),
                &format!("$1\r\n{NEWER}\r\n"),
            );
            patched += replace_all(&mut content, written.as_bytes(), newer.as_bytes());
        }
        std::fs::write(server.dir.join("appendonlydir").join(&name), content).unwrap();
    }
    assert_eq!(patched, data.rooms.len());
    let (start, log) = start_on(&server.dir, "newer.log", &args);
    assert_refused(start, &log, &data.rooms);
    let _ = std::fs::remove_dir_all(&server.dir);
}
