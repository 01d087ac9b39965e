//! Every command's happy path against a real redis-server.

mod common;

use common::*;
use redis::Value;
use serde_json::json;

#[test]
fn module_is_listed_as_chat() {
    let server = Server::start();
    let mut con = server.conn();
    let modules = q(&mut con, &["MODULE", "LIST"]);
    let Value::Array(modules) = modules else {
        panic!("{modules:?}")
    };
    // Redis 8 lists its built-in modules too (`vectorset`): the chat
    // module is there once, with its version and the path it came from.
    let chat: Vec<&Value> = modules
        .iter()
        .filter(|m| text(&field(m, "name")) == "chat")
        .collect();
    assert_eq!(chat.len(), 1, "{modules:?}");
    assert_eq!(int(&field(chat[0], "ver")), 100);
    assert_eq!(
        text(&field(chat[0], "path")),
        module_path().to_string_lossy()
    );
}

#[test]
fn register_and_profile() {
    let server = Server::start();
    let mut con = server.conn();
    assert_eq!(
        q(&mut con, &["CHAT.REGISTER", "alice", "Alice Liddell"]),
        Value::Okay
    );
    let profile = q(&mut con, &["CHAT.PROFILE", "alice"]);
    let fields: Vec<String> = pairs(&profile).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        fields,
        [
            "id",
            "name",
            "created",
            "online",
            "presence_channel",
            "notify"
        ]
    );
    assert_eq!(int(&field(&profile, "online")), 0);
    assert_eq!(
        text(&field(&profile, "presence_channel")),
        "chat:user:{alice}:presence"
    );
    assert_eq!(text(&field(&profile, "notify")), "mentions");
    assert_eq!(text(&field(&profile, "id")), "alice");
    assert_eq!(text(&field(&profile, "name")), "Alice Liddell");
    let created = int(&field(&profile, "created"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        (created - now).abs() < 60_000,
        "created {created} vs now {now}"
    );
    assert_eq!(q(&mut con, &["CHAT.PROFILE", "nobody"]), Value::Nil);
}

#[test]
fn create_and_info() {
    let server = Server::start();
    let mut con = server.conn();
    assert_eq!(
        q(&mut con, &["CHAT.CREATE", "general", "General chat"]),
        Value::Okay
    );
    let info = q(&mut con, &["CHAT.INFO", "general"]);
    let fields: Vec<String> = pairs(&info).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        fields,
        [
            "id", "title", "created", "members", "messages", "last_id", "first_id", "epoch",
            "pins", "mode", "private", "slowmode", "owners"
        ]
    );
    // A room nobody moderates: public, no slow mode, no owners.
    assert_eq!(int(&field(&info, "private")), 0);
    assert_eq!(int(&field(&info, "slowmode")), 0);
    assert!(strings(&field(&info, "owners")).is_empty());
    // No message yet: the oldest kept would be the next one.
    assert_eq!(int(&field(&info, "first_id")), 1);
    assert_eq!(int(&field(&info, "pins")), 0);
    assert_eq!(text(&field(&info, "mode")), "fanout");
    assert_eq!(text(&field(&info, "title")), "General chat");
    assert_eq!(int(&field(&info, "members")), 0);
    assert_eq!(int(&field(&info, "messages")), 0);
    assert_eq!(int(&field(&info, "last_id")), 0);
    assert!(int(&field(&info, "created")) > 1_700_000_000_000);

    room_with(&mut con, "r2", &["a", "b"]);
    q(&mut con, &["CHAT.SEND", "r2", "a", "one"]);
    q(&mut con, &["CHAT.SEND", "r2", "b", "two"]);
    let info = q(&mut con, &["CHAT.INFO", "r2"]);
    assert_eq!(int(&field(&info, "members")), 2);
    assert_eq!(int(&field(&info, "messages")), 2);
    assert_eq!(int(&field(&info, "last_id")), 2);
    assert_eq!(q(&mut con, &["CHAT.INFO", "nowhere"]), Value::Nil);
}

#[test]
fn maps_are_resp3_maps_for_resp3_clients() {
    let server = Server::start();
    let mut con = server.conn3();
    room_with(&mut con, "r", &["a"]);
    assert!(matches!(q(&mut con, &["CHAT.INFO", "r"]), Value::Map(_)));
    assert!(matches!(q(&mut con, &["CHAT.PROFILE", "a"]), Value::Map(_)));
    q(&mut con, &["CHAT.SEND", "r", "a", "x"]);
    assert!(matches!(q(&mut con, &["CHAT.COUNTS", "r"]), Value::Map(_)));
    let mut con2 = server.conn();
    assert!(matches!(q(&mut con2, &["CHAT.INFO", "r"]), Value::Array(_)));
}

#[test]
fn subscribe_is_idempotent_and_returns_the_push_channel() {
    let server = Server::start();
    let mut con = server.conn();
    q(&mut con, &["CHAT.CREATE", "general", "G"]);
    q(&mut con, &["CHAT.REGISTER", "bob", "Bob"]);
    let channel = text(&q(&mut con, &["CHAT.SUBSCRIBE", "general", "bob"]));
    assert_eq!(channel, "chat:user:{bob}:push");
    let before = digest(&mut con);
    assert_eq!(
        text(&q(&mut con, &["CHAT.SUBSCRIBE", "general", "bob"])),
        channel
    );
    assert_eq!(
        digest(&mut con),
        before,
        "subscribing twice must change nothing"
    );
    assert_eq!(strings(&q(&mut con, &["CHAT.MEMBERS", "general"])), ["bob"]);
    assert_eq!(strings(&q(&mut con, &["CHAT.ROOMS", "bob"])), ["general"]);
}

#[test]
fn unsubscribe_reports_whether_the_user_was_a_member() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["a", "b"]);
    assert_eq!(int(&q(&mut con, &["CHAT.UNSUBSCRIBE", "r", "a"])), 1);
    assert_eq!(int(&q(&mut con, &["CHAT.UNSUBSCRIBE", "r", "a"])), 0);
    assert_eq!(int(&q(&mut con, &["CHAT.UNSUBSCRIBE", "nowhere", "a"])), 0);
    assert_eq!(int(&q(&mut con, &["CHAT.UNSUBSCRIBE", "r", "nobody"])), 0);
    assert_eq!(strings(&q(&mut con, &["CHAT.MEMBERS", "r"])), ["b"]);
    assert!(strings(&q(&mut con, &["CHAT.ROOMS", "a"])).is_empty());
    assert_eq!(
        err(&mut con, &["CHAT.SEND", "r", "a", "hi"]),
        "ERR user is not a member of the room"
    );
}

#[test]
fn members_and_rooms_are_sorted_bytewise() {
    let server = Server::start();
    let mut con = server.conn();
    let users = ["zed", "Alice", "bob", "_x", "9lives", "a.b", "a"];
    room_with(&mut con, "r", &users);
    for room in ["r3", "R1", "r10", "r2"] {
        room_with(&mut con, room, &["bob"]);
    }
    let mut expected: Vec<&str> = users.to_vec();
    expected.sort_unstable();
    assert_eq!(strings(&q(&mut con, &["CHAT.MEMBERS", "r"])), expected);
    assert_eq!(
        strings(&q(&mut con, &["CHAT.ROOMS", "bob"])),
        ["R1", "r", "r10", "r2", "r3"]
    );
}

#[test]
fn send_assigns_gap_free_ids_per_room() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r1", &["a", "b"]);
    room_with(&mut con, "r2", &["a", "b"]);
    for expected in 1..=5 {
        assert_eq!(int(&q(&mut con, &["CHAT.SEND", "r1", "a", "m"])), expected);
    }
    assert_eq!(int(&q(&mut con, &["CHAT.SEND", "r2", "b", "m"])), 1);
    assert_eq!(int(&q(&mut con, &["CHAT.SEND", "r1", "b", "m"])), 6);
}

#[test]
fn history_pages_in_every_direction() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["a", "b"]);
    for i in 1..=120 {
        q(
            &mut con,
            &[
                "CHAT.SEND",
                "r",
                if i % 2 == 0 { "a" } else { "b" },
                &format!("m{i}"),
            ],
        );
    }
    let ids = |v: &Value| {
        docs(v)
            .iter()
            .map(|d| d["id"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };

    // No cursor: the newest 50, ascending.
    assert_eq!(
        ids(&q(&mut con, &["CHAT.HISTORY", "r"])),
        (71..=120).collect::<Vec<_>>()
    );
    assert_eq!(
        ids(&q(&mut con, &["CHAT.HISTORY", "r", "COUNT", "3"])),
        [118, 119, 120]
    );
    // BEFORE: the COUNT just before the id.
    assert_eq!(
        ids(&q(
            &mut con,
            &["CHAT.HISTORY", "r", "BEFORE", "10", "COUNT", "4"]
        )),
        [6, 7, 8, 9]
    );
    assert_eq!(
        ids(&q(&mut con, &["CHAT.HISTORY", "r", "BEFORE", "3"])),
        [1, 2]
    );
    assert!(ids(&q(&mut con, &["CHAT.HISTORY", "r", "BEFORE", "1"])).is_empty());
    assert!(ids(&q(&mut con, &["CHAT.HISTORY", "r", "BEFORE", "0"])).is_empty());
    // AFTER: the first COUNT after the id.
    assert_eq!(
        ids(&q(
            &mut con,
            &["CHAT.HISTORY", "r", "AFTER", "0", "COUNT", "2"]
        )),
        [1, 2]
    );
    assert_eq!(
        ids(&q(&mut con, &["CHAT.HISTORY", "r", "AFTER", "117"])),
        [118, 119, 120]
    );
    assert!(ids(&q(&mut con, &["CHAT.HISTORY", "r", "AFTER", "120"])).is_empty());
    assert_eq!(
        ids(&q(&mut con, &["CHAT.HISTORY", "r", "COUNT", "1000"])).len(),
        120
    );

    // Walking backwards with BEFORE visits every message exactly once.
    let mut seen = Vec::new();
    let mut before = i64::MAX;
    loop {
        let page = ids(&q(
            &mut con,
            &[
                "CHAT.HISTORY",
                "r",
                "BEFORE",
                &before.to_string(),
                "COUNT",
                "7",
            ],
        ));
        if page.is_empty() {
            break;
        }
        before = page[0];
        seen.splice(0..0, page);
    }
    assert_eq!(seen, (1..=120).collect::<Vec<_>>());

    let doc = &docs(&q(&mut con, &["CHAT.HISTORY", "r", "COUNT", "1"]))[0];
    assert_eq!(doc["type"], json!("message"));
    assert_eq!(doc["room"], json!("r"));
    assert_eq!(doc["sender"], json!("a"));
    assert_eq!(doc["text"], json!("m120"));
    assert!(doc["ts"].as_i64().unwrap() > 1_700_000_000_000);
    assert_eq!(doc.as_object().unwrap().len(), 6);
    assert!(docs(&q(
        &mut con,
        &["CHAT.HISTORY", "r", "BEFORE", "5", "COUNT", "2"]
    ))
    .iter()
    .all(|d| d["room"] == json!("r")));
}

#[test]
fn history_keeps_text_exactly() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["a"]);
    let texts = [
        "plain",
        "quotes \" and \\ backslash",
        "new\nline\ttab\r",
        "ctrl \u{1}\u{1f}",
        "émoji 😀 and 中文",
        "<img src=x onerror=alert(1)>",
    ];
    for t in texts {
        q(&mut con, &["CHAT.SEND", "r", "a", t]);
    }
    let got: Vec<String> = docs(&q(&mut con, &["CHAT.HISTORY", "r"]))
        .iter()
        .map(|d| d["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, texts);
}

#[test]
fn counts_per_sender() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["bob", "alice", "carol"]);
    for (who, n) in [("alice", 3), ("bob", 2)] {
        for _ in 0..n {
            q(&mut con, &["CHAT.SEND", "r", who, "x"]);
        }
    }
    let counts = q(&mut con, &["CHAT.COUNTS", "r"]);
    let got: Vec<(String, i64)> = pairs(&counts)
        .into_iter()
        .map(|(k, v)| (k, int(&v)))
        .collect();
    assert_eq!(got, [("alice".to_string(), 3), ("bob".to_string(), 2)]);
    q(&mut con, &["CHAT.CREATE", "empty", "E"]);
    assert!(pairs(&q(&mut con, &["CHAT.COUNTS", "empty"])).is_empty());
}

#[test]
fn history_max_keeps_at_least_the_newest_messages() {
    let server = Server::start_with(&["history-max", "10"], &[]);
    let mut con = server.conn();
    room_with(&mut con, "r", &["a"]);
    for _ in 0..250 {
        q(&mut con, &["CHAT.SEND", "r", "a", "x"]);
    }
    // Old messages leave a whole chunk at a time (at most 128 messages or
    // 4 KB), so the history holds from history-max up to one chunk more.
    let info = q(&mut con, &["CHAT.INFO", "r"]);
    let kept = int(&field(&info, "messages"));
    assert!((10..10 + 128).contains(&kept), "{kept}");
    assert!(kept < 250, "old messages must have been trimmed");
    assert_eq!(int(&field(&info, "last_id")), 250);
    let ids: Vec<i64> = docs(&q(&mut con, &["CHAT.HISTORY", "r", "COUNT", "1000"]))
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, ((251 - kept)..=250).collect::<Vec<_>>());
    // Counters count every message sent, not the ones still kept.
    assert_eq!(int(&field(&q(&mut con, &["CHAT.COUNTS", "r"]), "a")), 250);
}

#[test]
fn online_offline_and_presence() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["c", "a", "b"]);
    assert!(strings(&q(&mut con, &["CHAT.PRESENCE", "r"])).is_empty());
    assert_eq!(q(&mut con, &["CHAT.ONLINE", "c"]), Value::Okay);
    assert_eq!(q(&mut con, &["CHAT.ONLINE", "a", "TTL", "1"]), Value::Okay);
    assert_eq!(strings(&q(&mut con, &["CHAT.PRESENCE", "r"])), ["a", "c"]);
    // The default TTL is chat.presence-ttl (60 s).
    let until = dump(&mut con, "c")["online_until"].as_i64().unwrap();
    let ttl = until - now_ms();
    assert!((55_000..=60_000).contains(&ttl), "{ttl}");
    assert_eq!(q(&mut con, &["CHAT.OFFLINE", "c"]), Value::Okay);
    assert_eq!(q(&mut con, &["CHAT.OFFLINE", "c"]), Value::Okay);
    assert_eq!(strings(&q(&mut con, &["CHAT.PRESENCE", "r"])), ["a"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(
        strings(&q(&mut con, &["CHAT.PRESENCE", "r"])).is_empty(),
        "TTL 1 must expire"
    );
}

#[test]
fn command_docs_describe_every_command() {
    let server = Server::start();
    let mut con = server.conn();
    let commands = [
        "chat.register",
        "chat.profile",
        "chat.create",
        "chat.info",
        "chat.subscribe",
        "chat.unsubscribe",
        "chat.members",
        "chat.rooms",
        "chat.send",
        "chat.history",
        "chat.counts",
        "chat.fetch",
        "chat.ack",
        "chat.online",
        "chat.offline",
        "chat.presence",
    ];
    let mut args = vec!["COMMAND", "DOCS"];
    args.extend(commands);
    let docs = pairs(&q(&mut con, &args));
    assert_eq!(docs.len(), commands.len());
    for (name, doc) in &docs {
        let summary = text(&field(doc, "summary"));
        assert!(summary.ends_with('.'), "{name}: {summary}");
        assert_eq!(text(&field(doc, "module")), "chat");
        assert!(!text(&field(doc, "complexity")).is_empty());
    }
    // Routing information: one key per command, the one whose slot it
    // runs in: the room, or the user for what lives in the user's key.
    let mut keys = |a: &[&str]| {
        let mut full = vec!["COMMAND", "GETKEYS"];
        full.extend(a);
        strings(&q(&mut con, &full))
    };
    assert_eq!(keys(&["CHAT.SEND", "general", "alice", "hi"]), ["general"]);
    assert_eq!(keys(&["CHAT.SUBSCRIBE", "general", "alice"]), ["general"]);
    assert_eq!(keys(&["CHAT.LIST-ROOM", "alice", "general"]), ["alice"]);
    assert_eq!(keys(&["CHAT.FETCH", "bob", "COUNT", "5"]), ["bob"]);
    assert_eq!(
        keys(&["CHAT.HISTORY", "general", "BEFORE", "9"]),
        ["general"]
    );

    // Flags tell replicas and OOM checks the truth.
    let mut flags = |name: &str| {
        let info = q(&mut con, &["COMMAND", "INFO", name]);
        let Value::Array(items) = info else { panic!() };
        let Value::Array(entry) = &items[0] else {
            panic!()
        };
        entry[2]
            .as_sequence()
            .unwrap()
            .iter()
            .map(text)
            .collect::<Vec<_>>()
    };
    assert!(flags("chat.send").contains(&"write".to_string()));
    assert!(flags("chat.send").contains(&"denyoom".to_string()));
    assert!(flags("chat.history").contains(&"readonly".to_string()));
    assert!(flags("chat.profile").contains(&"fast".to_string()));
}

#[test]
fn info_section_counts_deliveries() {
    let server = Server::start();
    let mut con = server.conn();
    room_with(&mut con, "r", &["a", "b", "c"]);
    q(&mut con, &["CHAT.SEND", "r", "a", "x"]);
    let info = text(&q(&mut con, &["INFO", "chat"]));
    for line in [
        "chat_messages_sent:1",
        "chat_live_deliveries:0",
        "chat_inbox_deliveries:2",
        "chat_inbox_drops:0",
        "chat_blocked_fetches:0",
    ] {
        assert!(info.contains(line), "missing {line} in:\n{info}");
    }
}

#[test]
fn writes_emit_keyspace_events_named_after_them() {
    let server = Server::start();
    let mut con = server.conn();
    q(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "Kd"]);
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut listener = server.conn();
    let seen = events.clone();
    std::thread::spawn(move || {
        let mut pubsub = listener.as_pubsub();
        pubsub.psubscribe("__keyspace@0__:*").unwrap();
        while let Ok(msg) = pubsub.get_message() {
            let channel = msg.get_channel_name().to_string();
            let event: String = msg.get_payload().unwrap();
            seen.lock().unwrap().push(format!("{channel} {event}"));
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    room_with(&mut con, "r", &["a", "b"]);
    q(&mut con, &["CHAT.SEND", "r", "a", "hi"]);
    q(&mut con, &["CHAT.ACK", "b", "99999999999999-0"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let got = events.lock().unwrap().clone();
    for expected in [
        "__keyspace@0__:r chat.create",
        "__keyspace@0__:b chat.register",
        "__keyspace@0__:r chat.join",
        "__keyspace@0__:r chat.send",
        "__keyspace@0__:b chat.deliver",
        "__keyspace@0__:b chat.ack",
    ] {
        assert!(
            got.iter().any(|e| e == expected),
            "no {expected} in {got:?}"
        );
    }
}
