//! A two-user conversation through redis-chat, from Rust (the `redis` crate).
//!
//! Alice and Bob join a room. Bob's app listens on his push channel while he
//! is online and gets Alice's first message live; then Bob goes offline,
//! misses two messages, and on his return fetches and acknowledges them from
//! his inbox.
//!
//! ```text
//! REDIS_URL=redis://127.0.0.1:6379/ cargo run --release --example quickstart
//! ```

use std::time::Duration;

use redis::{Connection, FromRedisValue, RedisResult};
use serde_json::Value;

/// Sends a command as it is: CHAT.* commands are not built into the client.
fn chat<T: FromRedisValue>(con: &mut Connection, args: &[&str]) -> RedisResult<T> {
    redis::cmd(args[0]).arg(&args[1..]).query(con)
}

/// Runs a create-style command; an earlier run may already have done it.
fn ensure(con: &mut Connection, args: &[&str]) -> RedisResult<()> {
    match chat::<()>(con, args) {
        Err(e) if !e.to_string().contains("already exists") => Err(e),
        _ => Ok(()),
    }
}

/// A message document, as the history, the inbox and the push channel give it.
fn doc(json: &str) -> Value {
    serde_json::from_str(json).expect("a JSON document")
}

/// "alice: Hi Bob! (id 1)"
fn show(m: &Value) -> String {
    let text = |field: &str| m[field].as_str().unwrap_or_default().to_string();
    format!("{}: {} (id {})", text("sender"), text("text"), m["id"])
}

fn main() -> RedisResult<()> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let client = redis::Client::open(url)?;
    let mut con = client.get_connection_with_timeout(Duration::from_secs(10))?;
    // No step should take long: give up rather than hang.
    con.set_read_timeout(Some(Duration::from_secs(10)))?;

    // [readme:conversation]
    ensure(&mut con, &["CHAT.REGISTER", "alice", "Alice"])?;
    ensure(&mut con, &["CHAT.REGISTER", "bob", "Bob"])?;
    ensure(&mut con, &["CHAT.CREATE", "general", "General chat"])?;
    chat::<()>(&mut con, &["CHAT.SUBSCRIBE", "general", "alice"])?;
    let channel: String = chat(&mut con, &["CHAT.SUBSCRIBE", "general", "bob"])?;

    // Bob's app listens on his push channel, then tells the server he is online.
    let mut bob_app = client.get_connection()?;
    let mut listener = bob_app.as_pubsub();
    listener.subscribe(&channel)?; // returns once Redis confirms it
    listener.set_read_timeout(Some(Duration::from_secs(2)))?;
    chat::<()>(&mut con, &["CHAT.ONLINE", "bob", "TTL", "60"])?;

    let first: i64 = chat(&mut con, &["CHAT.SEND", "general", "alice", "Hi Bob!"])?;
    let live = doc(&listener.get_message()?.get_payload::<String>()?);
    println!("bob got live: {}", show(&live));

    // Bob closes the app and goes offline: the next messages wait in his inbox.
    drop(listener);
    drop(bob_app);
    chat::<()>(&mut con, &["CHAT.OFFLINE", "bob"])?;
    for text in ["Are you there?", "Call me when you are back."] {
        chat::<()>(&mut con, &["CHAT.SEND", "general", "alice", text])?;
    }

    // Back again, Bob fetches what he missed, shows it and acknowledges it.
    let missed: Vec<String> = chat(&mut con, &["CHAT.FETCH", "bob"])?;
    let missed: Vec<Value> = missed.iter().map(|json| doc(json)).collect();
    for m in &missed {
        println!("bob missed: {}", show(m));
    }
    let delivery = missed.last().and_then(|m| m["delivery"].as_str()).unwrap();
    let removed: i64 = chat(&mut con, &["CHAT.ACK", "bob", delivery])?;
    // [end]
    assert_eq!(live["id"], first);
    assert_eq!(live["text"], "Hi Bob!");
    let texts: Vec<&str> = missed.iter().filter_map(|m| m["text"].as_str()).collect();
    assert!(texts.ends_with(&["Are you there?", "Call me when you are back."]));

    let left: Vec<String> = chat(&mut con, &["CHAT.FETCH", "bob"])?;
    println!(
        "bob acknowledged {removed} message(s); inbox now holds {}",
        left.len()
    );
    assert!(left.is_empty());

    // Anyone can page through the room's history.
    let history: Vec<String> = chat(&mut con, &["CHAT.HISTORY", "general", "COUNT", "3"])?;
    let texts: Vec<String> = history
        .iter()
        .map(|json| doc(json)["text"].as_str().unwrap_or_default().to_string())
        .collect();
    println!("history: {}", texts.join(" | "));
    Ok(())
}
