//! The transcripts in the README and in docs/ are replayed against a real
//! server with `redis-cli`, so every reply they show is a real reply.
//!
//! A transcript is a fenced block marked `redis-cli`. Lines starting with
//! `127.0.0.1:6379> ` are commands; the lines after one are its output as
//! `redis-cli` prints it. Blocks of one file run in order on one fresh server.
//! Times, delivery handles and room epochs differ from run to run: numbers
//! of 13 or more digits and words of 16 hex digits are compared as
//! placeholders, and a handle or epoch shown in an output may be used by a
//! later command, which then gets this run's real one.
//!
//! A second terminal listening on a push channel is shown as a block marked
//! `subscriber` whose first line is `$ redis-cli SUBSCRIBE <channel>`. The
//! listener is started where the comment `<!-- replay: start subscriber -->`
//! stands (before the commands whose messages it receives); at the block, it
//! is stopped and what it printed must equal the block.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const PROMPT: &str = "127.0.0.1:6379> ";

enum Event {
    Command {
        line: usize,
        command: String,
        expected: Vec<String>,
    },
    StartSubscriber {
        line: usize,
    },
    CheckSubscriber {
        line: usize,
        command: String,
        expected: Vec<String>,
    },
}

fn events(markdown: &str) -> Vec<Event> {
    let mut events: Vec<Event> = Vec::new();
    let mut block: Option<&str> = None;
    for (n, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_end();
        let line = n + 1;
        match block {
            None => {
                if trimmed == "<!-- replay: start subscriber -->" {
                    events.push(Event::StartSubscriber { line });
                }
                block = match trimmed {
                    "```redis-cli" => Some("redis-cli"),
                    "```subscriber" => Some("subscriber-start"),
                    _ => None,
                };
            }
            Some(_) if trimmed == "```" => block = None,
            Some("subscriber-start") => {
                let command = trimmed.strip_prefix("$ ").unwrap_or_else(|| {
                    panic!("line {line}: a subscriber block starts with `$ redis-cli ...`")
                });
                events.push(Event::CheckSubscriber {
                    line,
                    command: command.to_string(),
                    expected: Vec::new(),
                });
                block = Some("subscriber");
            }
            Some("subscriber") => {
                if let Some(Event::CheckSubscriber { expected, .. }) = events.last_mut() {
                    expected.push(trimmed.to_string());
                }
            }
            Some(_) => {
                if let Some(command) = trimmed.strip_prefix(PROMPT) {
                    events.push(Event::Command {
                        line,
                        command: command.to_string(),
                        expected: Vec::new(),
                    });
                } else if let Some(Event::Command { expected, .. }) = events.last_mut() {
                    expected.push(trimmed.to_string());
                } else {
                    panic!("line {line}: output before any command");
                }
            }
        }
    }
    events
}

/// Splits a command line the way redis-cli does: spaces separate arguments,
/// "double quotes" allow escapes, 'single quotes' are literal.
fn split(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        let mut arg = String::new();
        if first == '"' || first == '\'' {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' if first == '"' => match chars.next() {
                        Some('n') => arg.push('\n'),
                        Some('t') => arg.push('\t'),
                        Some(other) => arg.push(other),
                        None => break,
                    },
                    c if c == first => break,
                    c => arg.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                arg.push(c);
                chars.next();
            }
        }
        args.push(arg);
    }
    args
}

/// Room epochs (words of exactly 16 lowercase hex digits), then runs of 13
/// or more digits (unix-ms times and the handles made from them), in the
/// order they appear: what differs from run to run.
fn volatile_numbers(text: &str) -> Vec<String> {
    let epochs = volatile_words(text, is_epoch);
    let mut out = epochs.clone();
    for word in volatile_words(text, |_| true) {
        if epochs.contains(&word) {
            continue;
        }
        let mut run = String::new();
        for c in word.chars().chain(std::iter::once(' ')) {
            if c.is_ascii_digit() {
                run.push(c);
            } else {
                if run.len() >= 13 {
                    out.push(run.clone());
                }
                run.clear();
            }
        }
    }
    out
}

/// The words of `text` (runs of letters and digits) that `keep` accepts.
fn volatile_words(text: &str, keep: impl Fn(&str) -> bool) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty() && keep(w))
        .map(str::to_string)
        .collect()
}

/// The placeholder a volatile number stands as.
fn placeholder(n: &str) -> &'static str {
    if is_epoch(n) {
        "<epoch>"
    } else {
        "<time>"
    }
}

fn is_epoch(word: &str) -> bool {
    word.len() == 16 && word.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn normalize(text: &str) -> String {
    let mut out = text.to_string();
    for n in volatile_numbers(text) {
        out = out.replacen(&n, placeholder(&n), 1);
    }
    // A stream entry id's sequence number after a time: two entries added
    // in the same millisecond in one run may not be in another.
    let mut masked = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(at) = rest.find("<time>-") {
        let (head, tail) = rest.split_at(at + "<time>-".len());
        masked.push_str(head);
        let digits = tail.len() - tail.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 && digits < 13 {
            masked.push_str("<seq>");
            rest = &tail[digits..];
        } else {
            rest = tail;
        }
    }
    masked.push_str(rest);
    masked
}

/// Compares one output, then learns the volatile numbers it introduced.
fn compare(
    file: &str,
    line: usize,
    what: &str,
    actual: &str,
    expected: &[String],
    seen: &mut HashMap<String, String>,
) {
    let actual: Vec<&str> = actual.lines().map(str::trim_end).collect();
    let actual = actual.join("\n");
    let expected = expected.join("\n");
    assert_eq!(
        normalize(&actual),
        normalize(&expected),
        "{file}:{line}: `{what}` printed something else"
    );
    for (doc, real) in volatile_numbers(&expected)
        .into_iter()
        .zip(volatile_numbers(&actual))
    {
        seen.insert(doc, real);
    }
}

fn replay(file: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let markdown = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    let events = events(&markdown);
    assert!(!events.is_empty(), "{file} shows no redis-cli transcript");
    let server = Server::start();
    let port = server.port.to_string();
    let cli = || {
        let mut cmd = Command::new(cli_program());
        cmd.args(["--no-raw", "-p", &port]);
        cmd
    };
    // Volatile numbers as the document shows them -> as this run made them.
    let mut seen: HashMap<String, String> = HashMap::new();
    // The subscriber started at a `replay: start subscriber` comment, with
    // the line of its block, found ahead of time.
    let mut pending: Vec<(usize, String)> = events
        .iter()
        .filter_map(|e| match e {
            Event::CheckSubscriber { line, command, .. } => Some((*line, command.clone())),
            _ => None,
        })
        .collect();
    pending.reverse();
    let mut listener: Option<Child> = None;
    for event in events {
        match event {
            Event::Command {
                line,
                command,
                expected,
            } => {
                let mut args = split(&command);
                for arg in &mut args {
                    for n in volatile_numbers(arg) {
                        if let Some(real) = seen.get(&n) {
                            *arg = arg.replace(&n, real);
                        }
                    }
                }
                let out = cli().args(&args).output().expect("redis-cli");
                compare(
                    file,
                    line,
                    &command,
                    &String::from_utf8_lossy(&out.stdout),
                    &expected,
                    &mut seen,
                );
            }
            Event::StartSubscriber { line } => {
                let (_, command) = pending
                    .pop()
                    .unwrap_or_else(|| panic!("{file}:{line}: no subscriber block follows"));
                let args = split(
                    command
                        .strip_prefix("redis-cli ")
                        .expect("a redis-cli command"),
                );
                let channel = args.last().expect("a channel").clone();
                let child = cli()
                    .args(&args)
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("redis-cli");
                // Wait until it is really subscribed.
                let mut con = server.conn();
                let deadline = Instant::now() + Duration::from_secs(5);
                while int(&subscribers(&mut con, &channel)) == 0 {
                    assert!(
                        Instant::now() < deadline,
                        "{file}:{line}: subscriber never subscribed"
                    );
                    std::thread::sleep(Duration::from_millis(10));
                }
                listener = Some(child);
            }
            Event::CheckSubscriber {
                line,
                command,
                expected,
            } => {
                let mut child = listener.take().unwrap_or_else(|| {
                    panic!("{file}:{line}: no `replay: start subscriber` comment before this block")
                });
                // redis-cli flushes each message as it prints it.
                std::thread::sleep(Duration::from_millis(200));
                let _ = child.kill();
                let out = child.wait_with_output().expect("subscriber output");
                let actual = String::from_utf8_lossy(&out.stdout);
                compare(
                    file,
                    line,
                    &command,
                    &actual,
                    &subscriber_expectation(&expected, &actual),
                    &mut seen,
                );
            }
        }
    }
}

/// The banner `redis-cli SUBSCRIBE` prints before the first reply.
const SUBSCRIBE_BANNER: &str = "Reading messages... (press Ctrl-C to quit)";

/// What a subscriber block must print on this run. The documents show
/// `redis-cli` in a terminal, banner included; redis-cli 7.0 prints the
/// banner to a pipe too, while redis-cli 7.2 and later and valkey-cli print
/// it only to a terminal, so the banner is expected only when this client
/// printed one.
fn subscriber_expectation(expected: &[String], actual: &str) -> Vec<String> {
    let printed_banner = actual.lines().any(|l| l.trim_end() == SUBSCRIBE_BANNER);
    expected
        .iter()
        .filter(|l| printed_banner || l.as_str() != SUBSCRIBE_BANNER)
        .cloned()
        .collect()
}

/// How many connections listen on `channel` (PUBSUB NUMSUB).
fn subscribers(con: &mut redis::Connection, channel: &str) -> redis::Value {
    let reply = q(con, &["PUBSUB", "NUMSUB", channel]);
    pairs(&reply)
        .into_iter()
        .next()
        .map(|(_, n)| n)
        .unwrap_or(redis::Value::Int(0))
}

#[test]
fn readme_transcripts_are_real() {
    replay("README.md");
}

#[test]
fn command_reference_transcripts_are_real() {
    replay("docs/commands.md");
}

#[test]
fn the_subscribe_banner_is_expected_only_from_a_client_that_prints_it() {
    let block: Vec<String> = [SUBSCRIBE_BANNER, "1) \"subscribe\""]
        .map(String::from)
        .to_vec();
    let with_banner = format!("{SUBSCRIBE_BANNER}\n1) \"subscribe\"\n");
    assert_eq!(subscriber_expectation(&block, &with_banner), block);
    assert_eq!(
        subscriber_expectation(&block, "1) \"subscribe\"\n"),
        ["1) \"subscribe\""]
    );
}

#[test]
fn splitting_follows_redis_cli() {
    assert_eq!(
        split(r#"CHAT.SEND general alice "Hi \"Bob\"!""#),
        ["CHAT.SEND", "general", "alice", "Hi \"Bob\"!"]
    );
    assert_eq!(split("A  'b c'  d"), ["A", "b c", "d"]);
    assert_eq!(volatile_numbers("x 1764201600000-3 42"), ["1764201600000"]);
}

// The README's client snippets are checked against the example programs in
// tests/examples.rs, next to the tests that run them.
