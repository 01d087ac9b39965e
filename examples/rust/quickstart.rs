//! A two-user conversation through redis-chat, from Rust (the `redis` crate).
//!
//! Alice and Bob join a room. Bob's app listens on his push channel while he
//! is online and gets Alice's first message live; then Bob goes offline,
//! misses two messages, and on his return fetches and acknowledges them.
//!
//! ```text
//! REDIS_URL=redis://127.0.0.1:6379/ cargo run --release --example quickstart
//! ```

use std::time::Duration;

use redis::RedisResult;
use serde_json::Value;

fn main() -> RedisResult<()> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let client = redis::Client::open(url)?;
    let mut con = client.get_connection()?;

    // An earlier run may already have registered the users and the room.
    for (cmd, id, name) in [
        ("CHAT.REGISTER", "alice", "Alice"),
        ("CHAT.REGISTER", "bob", "Bob"),
        ("CHAT.CREATE", "general", "General chat"),
    ] {
        if let Err(e) = redis::cmd(cmd).arg(id).arg(name).query::<()>(&mut con) {
            if !e.to_string().contains("already exists") {
                return Err(e);
            }
        }
    }
    redis::cmd("CHAT.SUBSCRIBE")
        .arg("general")
        .arg("alice")
        .query::<String>(&mut con)?;
    let channel: String = redis::cmd("CHAT.SUBSCRIBE")
        .arg("general")
        .arg("bob")
        .query(&mut con)?;

    // Bob's app: listen on his push channel, then tell the server he is online.
    let mut bob_app = client.get_connection()?;
    let mut pubsub = bob_app.as_pubsub();
    pubsub.subscribe(&channel)?;
    pubsub.set_read_timeout(Some(Duration::from_secs(2)))?;
    redis::cmd("CHAT.ONLINE")
        .arg("bob")
        .arg("TTL")
        .arg(60)
        .query::<()>(&mut con)?;

    let first: i64 = redis::cmd("CHAT.SEND")
        .arg("general")
        .arg("alice")
        .arg("Hi Bob!")
        .query(&mut con)?;
    let live: String = pubsub.get_message()?.get_payload()?;
    let live: Value = serde_json::from_str(&live).expect("JSON document");
    println!(
        "bob got live: {}: {} (id {})",
        live["sender"], live["text"], live["id"]
    );
    assert_eq!(live["id"], first);
    drop(pubsub);

    // Bob closes the app: he is offline, so the next messages wait in his inbox.
    redis::cmd("CHAT.OFFLINE")
        .arg("bob")
        .query::<()>(&mut con)?;
    for text in ["Are you there?", "Call me when you are back."] {
        redis::cmd("CHAT.SEND")
            .arg("general")
            .arg("alice")
            .arg(text)
            .query::<i64>(&mut con)?;
    }

    // Bob comes back: fetch what he missed, show it, then acknowledge it.
    let missed: Vec<String> = redis::cmd("CHAT.FETCH").arg("bob").query(&mut con)?;
    let missed: Vec<Value> = missed
        .iter()
        .map(|d| serde_json::from_str(d).expect("JSON"))
        .collect();
    for m in &missed {
        println!(
            "bob missed: {}: {} (id {})",
            m["sender"], m["text"], m["id"]
        );
    }
    let last = missed.last().expect("two missed messages");
    assert_eq!(last["text"], "Call me when you are back.");
    let removed: i64 = redis::cmd("CHAT.ACK")
        .arg("bob")
        .arg(last["delivery"].as_str().unwrap())
        .query(&mut con)?;
    let left: Vec<String> = redis::cmd("CHAT.FETCH").arg("bob").query(&mut con)?;
    println!(
        "bob acknowledged {removed} message(s); inbox now holds {}",
        left.len()
    );
    assert!(left.is_empty());

    let history: Vec<String> = redis::cmd("CHAT.HISTORY")
        .arg("general")
        .arg("COUNT")
        .arg(3)
        .query(&mut con)?;
    let texts: Vec<Value> = history
        .iter()
        .map(|d| serde_json::from_str::<Value>(d).expect("JSON")["text"].clone())
        .collect();
    println!("history: {texts:?}");
    Ok(())
}
