//! Presence events on the user's presence channel: once per change (a
//! heartbeat publishes nothing), offline by CHAT.OFFLINE or by the TTL
//! running out (within 2 s of the end), and devices, each with its own end.

use std::thread::sleep;
use std::time::Duration;

use serde_json::json;

use crate::common::*;
use crate::{is_online, offline, offline_within, online, online_until, register, Ear};

#[test]
fn online_once_heartbeats_publish_nothing_offline_once() {
    let server = Server::start();
    let mut con = server.conn();
    register(&mut con, &["alice", "bob"]);
    let mut bob = Ear::presence(&server, "bob");
    let mut alice = Ear::presence(&server, "alice");

    let before = now_ms();
    q(&mut con, &["CHAT.ONLINE", "bob", "TTL", "30"]);
    let until = online_until(&mut con, "bob");
    assert!(
        (before + 30_000..=now_ms() + 30_000).contains(&until),
        "{until}"
    );
    bob.heard_exactly(&[online("bob", until)], "the first CHAT.ONLINE");
    assert_eq!(is_online(&mut con, "bob"), 1);

    // Heartbeats, even one that moves the end, publish nothing.
    q(&mut con, &["CHAT.ONLINE", "bob", "TTL", "30"]);
    q(&mut con, &["CHAT.ONLINE", "bob", "TTL", "90"]);
    assert!(online_until(&mut con, "bob") >= until + 59_000);
    bob.quiet("heartbeats");

    q(&mut con, &["CHAT.OFFLINE", "bob"]);
    bob.heard_exactly(&[offline("bob")], "CHAT.OFFLINE");
    assert_eq!(is_online(&mut con, "bob"), 0);
    // Offline already: nothing changes, nothing is published.
    q(&mut con, &["CHAT.OFFLINE", "bob"]);
    bob.quiet("CHAT.OFFLINE of a user offline");

    // Back online, with the default TTL (chat.presence-ttl, 60 s).
    q(&mut con, &["CHAT.ONLINE", "bob"]);
    let until = online_until(&mut con, "bob");
    assert!((now_ms() + 58_000..=now_ms() + 60_000).contains(&until));
    bob.heard_exactly(&[online("bob", until)], "online again");
    alice.quiet("bob's changes are on bob's channel only");
}

#[test]
fn a_ttl_running_out_is_announced_once_within_two_seconds() {
    let server = Server::start();
    let mut con = server.conn();
    register(&mut con, &["bob", "carol"]);
    let mut bob = Ear::presence(&server, "bob");
    let mut carol = Ear::presence(&server, "carol");
    q(&mut con, &["CHAT.ONLINE", "bob", "TTL", "1"]);
    q(&mut con, &["CHAT.ONLINE", "carol", "TTL", "1"]);
    let bob_until = online_until(&mut con, "bob");
    let first = online_until(&mut con, "carol");
    bob.heard_exactly(&[online("bob", bob_until)], "bob online");
    carol.heard_exactly(&[online("carol", first)], "carol online");

    // carol's heartbeat before her end moves it: nothing at the first end.
    sleep(Duration::from_millis(400));
    q(&mut con, &["CHAT.ONLINE", "carol", "TTL", "2"]);
    let carol_until = online_until(&mut con, "carol");
    assert!(carol_until > first + 1000);
    carol.quiet("a heartbeat");

    offline_within(&mut bob, "bob", bob_until, 2000);
    assert_eq!(is_online(&mut con, "bob"), 0);
    offline_within(&mut carol, "carol", carol_until, 2000);
    assert_eq!(is_online(&mut con, "carol"), 0);
    // An expiry changes no data: the value keeps its old end.
    assert_eq!(online_until(&mut con, "bob"), bob_until);
}

#[test]
fn a_user_with_devices_is_online_while_any_is() {
    let server = Server::start();
    let mut con = server.conn();
    register(&mut con, &["bob"]);
    let mut bob = Ear::presence(&server, "bob");

    q(
        &mut con,
        &["CHAT.ONLINE", "bob", "TTL", "30", "DEVICE", "phone"],
    );
    let phone = online_until(&mut con, "bob");
    bob.heard_exactly(&[online("bob", phone)], "the first device");
    q(
        &mut con,
        &["CHAT.ONLINE", "bob", "TTL", "60", "DEVICE", "tab"],
    );
    bob.quiet("a second device");
    let user = dump(&mut con, "bob");
    let tab = user["online_until"].as_i64().unwrap();
    assert!(tab > phone + 20_000, "{user}");
    assert_eq!(user["devices"], json!({"phone": phone, "tab": tab}));

    // One device goes: the user stays online, nothing is published.
    q(&mut con, &["CHAT.OFFLINE", "bob", "DEVICE", "phone"]);
    bob.quiet("CHAT.OFFLINE of one device of two");
    assert_eq!(is_online(&mut con, "bob"), 1);
    assert_eq!(dump(&mut con, "bob")["devices"], json!({"tab": tab}));
    q(&mut con, &["CHAT.OFFLINE", "bob", "DEVICE", "phone"]);
    bob.quiet("CHAT.OFFLINE of a device gone already");
    assert_eq!(is_online(&mut con, "bob"), 1);

    // The last one goes: offline, once.
    q(&mut con, &["CHAT.OFFLINE", "bob", "DEVICE", "tab"]);
    bob.heard_exactly(&[offline("bob")], "the last device's CHAT.OFFLINE");
    assert_eq!(is_online(&mut con, "bob"), 0);
    let user = dump(&mut con, "bob");
    assert!(user.get("devices").is_none(), "{user}");

    // A heartbeat without DEVICE, once devices are named, is device "".
    q(
        &mut con,
        &["CHAT.ONLINE", "bob", "TTL", "30", "DEVICE", "phone"],
    );
    let until = online_until(&mut con, "bob");
    bob.heard_exactly(&[online("bob", until)], "online by a device");
    q(&mut con, &["CHAT.ONLINE", "bob", "TTL", "30"]);
    bob.quiet("a heartbeat without a device");
    let devices = dump(&mut con, "bob")["devices"].clone();
    let names: Vec<&String> = devices.as_object().unwrap().keys().collect();
    assert_eq!(names, ["", "phone"], "{devices}");
    q(&mut con, &["CHAT.OFFLINE", "bob", "DEVICE", "phone"]);
    bob.quiet("device \"\" is still online");
    assert_eq!(is_online(&mut con, "bob"), 1);

    // CHAT.OFFLINE without DEVICE ends every device, with one event.
    q(
        &mut con,
        &["CHAT.ONLINE", "bob", "TTL", "30", "DEVICE", "tab"],
    );
    q(&mut con, &["CHAT.OFFLINE", "bob"]);
    bob.heard_exactly(&[offline("bob")], "CHAT.OFFLINE without a device");
    assert_eq!(is_online(&mut con, "bob"), 0);
    assert!(dump(&mut con, "bob").get("devices").is_none());

    // At most 16 devices: one more pushes out the one ending first.
    for i in 0..17 {
        let (ttl, device) = ((100 + i).to_string(), format!("d{i:02}"));
        q(
            &mut con,
            &["CHAT.ONLINE", "bob", "TTL", &ttl, "DEVICE", &device],
        );
    }
    let devices = dump(&mut con, "bob")["devices"].clone();
    let devices = devices.as_object().unwrap();
    assert_eq!(devices.len(), 16, "{devices:?}");
    assert!(!devices.contains_key("d00"), "{devices:?}");
    assert!(devices.contains_key("d16"), "{devices:?}");
    // One online event, for the first of them, with its end.
    let last = online_until(&mut con, "bob");
    let heard = bob.heard();
    assert_eq!(heard.len(), 1, "{heard:?}");
    let first = heard[0]["until"].as_i64().unwrap_or(0);
    assert_eq!(heard[0], online("bob", first));
    assert!(
        (last - 17_000..=last - 16_000).contains(&first),
        "{first} {last}"
    );
}

#[test]
fn the_last_device_running_out_is_announced_and_the_first_is_not() {
    let server = Server::start();
    let mut con = server.conn();
    register(&mut con, &["bob"]);
    let mut bob = Ear::presence(&server, "bob");
    q(
        &mut con,
        &["CHAT.ONLINE", "bob", "TTL", "1", "DEVICE", "phone"],
    );
    let phone = online_until(&mut con, "bob");
    q(
        &mut con,
        &["CHAT.ONLINE", "bob", "TTL", "2", "DEVICE", "tab"],
    );
    let tab = online_until(&mut con, "bob");
    assert!(tab >= phone + 900);
    bob.heard_exactly(&[online("bob", phone)], "two devices");

    // The phone's end passes (and the timer's quarter second after it).
    let wait = (phone + 600 - now_ms()).max(0) as u64;
    assert_eq!(bob.next(Duration::from_millis(wait)), None);
    assert_eq!(is_online(&mut con, "bob"), 1);
    offline_within(&mut bob, "bob", tab, 2000);
    assert_eq!(is_online(&mut con, "bob"), 0);
}

#[test]
fn a_device_id_is_1_to_64_id_bytes() {
    let server = Server::start();
    let mut con = server.conn();
    register(&mut con, &["bob"]);
    let mut bob = Ear::presence(&server, "bob");
    let longest: String = "Az09_.:@-".chars().cycle().take(64).collect();
    let too_long = "d".repeat(65);
    let before = digest(&mut con);
    for bad in ["", "bad id", too_long.as_str(), "caf\u{e9}", "a/b", "{x}"] {
        for command in ["CHAT.ONLINE", "CHAT.OFFLINE"] {
            let e = err(&mut con, &[command, "bob", "DEVICE", bad]);
            assert!(
                e.starts_with("ERR invalid device id"),
                "{command} DEVICE {bad:?}: {e}"
            );
        }
    }
    assert_eq!(digest(&mut con), before, "a refused device id wrote");
    bob.quiet("refused commands");
    assert_eq!(is_online(&mut con, "bob"), 0);
    q(&mut con, &["CHAT.ONLINE", "bob", "DEVICE", &longest]);
    assert_eq!(is_online(&mut con, "bob"), 1);
    let devices = dump(&mut con, "bob")["devices"].clone();
    assert!(devices.get(&longest).is_some(), "{devices}");
}

#[test]
fn the_profile_names_the_presence_channel_and_the_notify_setting() {
    let server = Server::start();
    let mut con = server.conn();
    register(&mut con, &["bob", "{acme}bob"]);
    let profile = q(&mut con, &["CHAT.PROFILE", "bob"]);
    let names: Vec<String> = pairs(&profile).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        names,
        [
            "id",
            "name",
            "created",
            "online",
            "presence_channel",
            "notify"
        ]
    );
    assert_eq!(
        text(&field(&profile, "presence_channel")),
        "chat:user:{bob}:presence"
    );
    assert_eq!(text(&field(&profile, "notify")), "mentions");
    let mut con3 = server.conn3();
    let profile = q(&mut con3, &["CHAT.PROFILE", "{acme}bob"]);
    assert!(matches!(profile, redis::Value::Map(_)), "{profile:?}");
    let channel = text(&field(&profile, "presence_channel"));
    assert_eq!(channel, "chat:user:{acme}{bob}:presence");

    // Events arrive on the channel the profile names.
    let mut ear = Ear::on(&server, &channel);
    q(&mut con, &["CHAT.ONLINE", "{acme}bob", "TTL", "5"]);
    let until = online_until(&mut con, "{acme}bob");
    ear.heard_exactly(&[online("{acme}bob", until)], "a tagged user");
    q(&mut con, &["CHAT.OFFLINE", "{acme}bob"]);
    ear.heard_exactly(&[offline("{acme}bob")], "a tagged user");
}
