//! Encoding version 3 stays readable: users written by the module at
//! commit b77e8ea (the last that wrote version 3, before users kept a
//! notify setting and devices), kept here as bytes, decode to the values
//! they were made from, with no devices and the default setting, and
//! encode (in the current version) to bytes that decode to them again.
//! Rooms did not change in version 4: `version2` covers their reading.
//!
//! The functions below ran on that commit to make the bytes; they use only
//! calls both versions have.

use chat_core::data::inbox::Copy;
use chat_core::data::wire::name_hash;
use chat_core::data::{decode_user, encode_user, user_json, User, ENCODING_VERSION};
use serde_json::json;

use crate::version2::{bytes, parsed};

const T: i64 = 1_764_201_600_000;
const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";

/// A user with all of version 3's parts: a password and two invitations
/// aside, two rooms, a presence and one inbox copy.
fn moderated_user() -> User {
    let mut u = User::new(name_hash(b"dana"), "Dana", T);
    u.set_password(HASH);
    u.set_online_until(T + 45_000);
    u.join("general", T + 10);
    u.join("{t}dm", T + 20);
    assert!(u.add_invite("secret", T + 30, 100));
    assert!(u.add_invite("board", T + 40, 100));
    u.deliver(&Copy {
        delivery: u.next_delivery(T + 50),
        room: "general",
        id: 7,
        sender: "erin",
        ts: T + 45,
        edited: None,
        deleted: false,
        text: "hi dana",
        extra: &[],
    });
    u
}

/// A user with one invitation and nothing else: an aside without a password.
fn invited_user() -> User {
    let mut u = User::new(name_hash(b"finn"), "Finn", T + 1);
    assert!(u.add_invite("secret", T + 60, 100));
    u
}

/// `moderated_user()` as version 3 writes it.
const MODERATED_V3: &[&str] = &[
    "fceb02a9dc0444616e61fd002838853503000001fd9087398535030000020767656e6572616cfd1428388535",
    "030000057b747d646dfd2828388535030000010100fd6428388535030000fd6428388535030000011b000009",
    "0767656e6572616c07046572696e00000768692064616e6101fd32149cc29a010000000001013b246172676f",
    "6e32696424763d3139246d3d31393435362c743d322c703d31246332467364484e6862485124614746",
    "7a614768686332686f59584e6f0205626f617264fd502838853503000006736563726574fd3c283885350300",
    "00",
];

/// `invited_user()` as version 3 writes it.
const INVITED_V3: &[&str] = &[
    "fc9c75f0b30446696e6efd0228388535030000010000000000000100010673656372657",
    "4fd7828388535030000",
];

#[test]
fn version_3_users_read_back_without_devices_and_with_the_default_setting() {
    for (fixture, built) in [
        (MODERATED_V3, moderated_user()),
        (INVITED_V3, invited_user()),
    ] {
        let stored = bytes(fixture);
        let user = decode_user(3, &stored).unwrap();
        assert_eq!(user, built);
        assert_eq!(user.notify().name(), "mentions");
        assert_eq!(user.device_ends().count(), 0);
        // Version 4 adds the notify setting (one byte) and an empty device
        // list (one byte) to a user whose aside is kept.
        let again = encode_user(&user);
        assert_eq!(again.len(), stored.len() + 2);
        assert_eq!(decode_user(ENCODING_VERSION, &again), Ok(user.clone()));
        // Version 3 bytes are not a version 4 user.
        assert!(decode_user(ENCODING_VERSION, &stored).is_err());
    }
    let dana = decode_user(3, &bytes(MODERATED_V3)).unwrap();
    assert_eq!(dana.password(), Some(HASH));
    assert_eq!(dana.online_until(), T + 45_000);
    assert_eq!(
        dana.invites().collect::<Vec<_>>(),
        [("board", T + 40), ("secret", T + 30)]
    );
    let v = parsed(user_json("dana", &dana));
    assert_eq!(
        (&v["rooms"], &v["invites"], &v["notify"], &v["password"]),
        (
            &json!({"general": T + 10, "{t}dm": T + 20}),
            &json!({"board": T + 40, "secret": T + 30}),
            &json!("mentions"),
            &json!(true)
        )
    );
    assert_eq!(v["inbox"].as_array().map(Vec::len), Some(1));
}

#[test]
fn version_3_bytes_cut_or_grown_are_refused() {
    for fixture in [MODERATED_V3, INVITED_V3] {
        let stored = bytes(fixture);
        assert!(decode_user(3, &stored).is_ok());
        assert!(decode_user(3, &stored[..stored.len() - 1]).is_err());
        assert!(decode_user(3, &[&stored[..], &[0]].concat()).is_err());
    }
}
