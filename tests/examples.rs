//! The client examples run against a real server, so they cannot rot.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

/// target/<profile>/examples/, next to this test binary's deps/ folder.
fn examples_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples")
}

fn run(mut cmd: Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

const EXPECTED: [&str; 4] = [
    "bob got live: \"alice\": \"Hi Bob!\" (id 1)",
    "bob missed: \"alice\": \"Are you there?\" (id 2)",
    "bob missed: \"alice\": \"Call me when you are back.\" (id 3)",
    "bob acknowledged 2 message(s); inbox now holds 0",
];

#[test]
fn rust_quickstart_runs() {
    let server = Server::start();
    let binary = examples_dir().join("quickstart");
    assert!(
        binary.exists(),
        "build it first: cargo build --release --examples ({binary:?})"
    );
    let mut cmd = Command::new(binary);
    cmd.env("REDIS_URL", server.url());
    let out = run(cmd);
    for line in EXPECTED {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    // A second run against the same server works too.
    let mut again = Command::new(examples_dir().join("quickstart"));
    again.env("REDIS_URL", server.url());
    run(again);
}

#[test]
fn python_quickstart_runs() {
    let server = Server::start();
    // scripts/test makes a virtualenv with redis-py in target/venv and
    // points CHAT_PYTHON at it.
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/venv/bin/python");
    let python = std::env::var("CHAT_PYTHON").unwrap_or_else(|_| {
        if venv.exists() {
            venv.to_string_lossy().into_owned()
        } else {
            "python3".into()
        }
    });
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/python/quickstart.py");
    let mut cmd = Command::new(python);
    cmd.arg(script).env("REDIS_URL", server.url());
    let out = run(cmd);
    for line in EXPECTED {
        let line = line.replace('"', "");
        assert!(out.contains(&line), "missing {line:?} in:\n{out}");
    }
}
