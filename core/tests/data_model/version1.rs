//! Encoding version 1 stays readable: a room and a user written by the
//! first version of the module, kept here as bytes, decode to the values
//! they were made from, and those encode (in the current version) to bytes
//! that decode to them again. A change to a type that changes its encoding
//! fails in `encoding.rs` or here, and must come with a new encoding
//! version whose decoder still reads these bytes.

use chat_core::data::inbox::{Change, Copy};
use chat_core::data::wire::name_hash;
use chat_core::data::{
    decode_room, decode_user, encode_room, encode_user, Room, User, ENCODING_VERSION,
};
use chat_core::delivery::DeliveryId;

const T: i64 = 1_764_201_600_000;

/// A room with members, a sender who left, a read cursor, an edited and a
/// deleted message, a trimmed history and a DEDUP key.
fn written_room() -> Room {
    let mut room = Room::new(name_hash(b"general"), "Général", T);
    for user in ["alice", "bob", "carol"] {
        room.join(user, 0);
    }
    let texts = ["first", "hello", "to be edited", "to be deleted", "last"];
    for (i, text) in texts.iter().enumerate() {
        let sender = if i % 2 == 0 { "alice" } else { "carol" };
        room.send(sender, text, T + 1_000 * i as i64).unwrap();
    }
    room.edit(3, "alice", "edited", T + 9_000).unwrap();
    room.delete(4, "carol").unwrap();
    room.trim_below(2);
    room.read("bob", 3).unwrap();
    room.leave("carol");
    room.dedup_record(b"retry-1", 5, T + 60_000);
    room
}

/// A user with a password, presence, two rooms and three inbox copies, one
/// of them edited and one acknowledged.
fn written_user() -> User {
    let mut user = User::new(name_hash(b"bob"), "Bob", T);
    user.set_password("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo");
    user.set_online_until(T + 30_000);
    user.join("general", T + 10);
    user.join("{t}dm", T + 20);
    for (i, text) in ["one", "two", "three"].iter().enumerate() {
        let ms = (T + 1_000 * i as i64) as u64;
        user.deliver(&Copy {
            delivery: DeliveryId { ms, seq: i as u64 },
            room: "general",
            id: i as u64 + 1,
            sender: "alice",
            ts: T + 1_000 * i as i64 - 5,
            edited: None,
            deleted: false,
            text,
            extra: &[],
        });
    }
    user.change_copies(
        "general",
        2,
        T + 995,
        Change::Edited {
            text: "deux",
            at: T + 4_000,
        },
    );
    user.ack(DeliveryId {
        ms: T as u64,
        seq: 0,
    });
    user
}

/// `written_room()` as version 1 writes it.
const ROOM_V1: &str = "fc6b21b9240947c3a96ec3a972616cfd00283885350300000305616c69636501050303626f62010300056361726f6c00020206010101fd0028388535030000fd4047388535030000042efbd0070200000568656c6c6ffbd0070001fbb0360006656469746564fbd00702000100fbd007000000046c6173740501010772657472792d3105fdc0fc398535030000";

/// `written_user()` as version 1 writes it.
const USER_V1: &str = "fcd4a0c68603426f62fd002838853503000001fd6012398535030000013b246172676f6e32696424763d3139246d3d31393435362c743d322c703d31246332467364484e68624851246147467a614768686332686f59584e6f020767656e6572616cfd1428388535030000057b747d646dfd2828388535030000010101fd0028388535030000fda037388535030000023afbe80301090767656e6572616c0205616c69636501fb7a17000464657578fbe80302090767656e6572616c0305616c696365000005746872656503fdd01b9cc29a01000002";

fn bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn a_version_1_room_reads_back_as_it_was_written() {
    let stored = bytes(ROOM_V1);
    let room = decode_room(1, &stored).unwrap();
    assert_eq!(room, written_room());
    assert_eq!(
        decode_room(ENCODING_VERSION, &encode_room(&room)),
        Ok(room.clone())
    );
    assert_eq!(room.origin(), name_hash(b"general"));
    assert_eq!((room.title(), room.created()), ("Général", T));
    assert_eq!((room.first_id(), room.last_id()), (Some(2), 5));
    let members: Vec<_> = room.members().collect();
    // A sender has read what they sent.
    assert_eq!(members, [("alice", 5), ("bob", 3)]);
    let counts: Vec<_> = room.counts().collect();
    assert_eq!(counts, [("alice", 3), ("carol", 2)]);
    let texts: Vec<_> = room
        .log()
        .iter()
        .map(|(id, m)| (id, m.text, m.edited, m.deleted))
        .collect();
    assert_eq!(
        texts,
        [
            (2, "hello", None, false),
            (3, "edited", Some(T + 9_000), false),
            (4, "", None, true),
            (5, "last", None, false),
        ]
    );
    assert_eq!(room.dedup_get(b"retry-1", T), Some(5));
}

#[test]
fn a_version_1_user_reads_back_as_it_was_written() {
    let stored = bytes(USER_V1);
    let user = decode_user(1, &stored).unwrap();
    assert_eq!(user, written_user());
    assert_eq!(
        decode_user(ENCODING_VERSION, &encode_user(&user)),
        Ok(user.clone())
    );
    assert_eq!(user.origin(), name_hash(b"bob"));
    assert_eq!((user.name(), user.created()), ("Bob", T));
    assert!(user.password().is_some_and(|p| p.starts_with("$argon2id$")));
    assert_eq!(user.online_until(), T + 30_000);
    let rooms: Vec<_> = user.rooms().collect();
    assert_eq!(rooms, [("general", T + 10), ("{t}dm", T + 20)]);
    let inbox: Vec<_> = user
        .inbox()
        .into_iter()
        .flat_map(|i| i.iter())
        .map(|c| (c.delivery.to_string(), c.id, c.text, c.edited))
        .collect();
    assert_eq!(
        inbox,
        [
            (format!("{}-1", T + 1_000), 2, "deux", Some(T + 4_000)),
            (format!("{}-2", T + 2_000), 3, "three", None),
        ]
    );
    assert_eq!(
        user.next_delivery(T),
        DeliveryId {
            ms: (T + 2_000) as u64,
            seq: 3
        }
    );
}
