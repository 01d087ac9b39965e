//! Memory: what a room or a user reports holds at least every text it
//! keeps and grows and shrinks with the content; a history that held many
//! chunks keeps its table of chunks once emptied.

use chat_core::data::{decode_room, encode_room, Room, ENCODING_VERSION};
use chat_core::delivery::DeliveryId;
use proptest::prelude::*;

use crate::inbox::new_user;
use crate::inbox_model::{handle, MCopy};
use crate::room::{new_room, step};
use crate::room_model::{IdPick, RoomOp};
use crate::{config, ROOM, USERS};

proptest! {
    #![proptest_config(config(300))]

    /// The memory a room or a user reports holds at least every text it
    /// keeps, and is not far above what it keeps: it grows and shrinks with
    /// the content.
    #[test]
    fn memory_counts_at_least_every_text_kept(
        sizes in prop::collection::vec(prop_oneof![8 => 0usize..100, 1 => 0usize..6000], 1..300),
        members in 1usize..USERS.len(),
    ) {
        let (mut room, mut m) = new_room(1);
        let (mut user, mut um) = new_user(1);
        for user in 0..members {
            step(&mut room, &mut m, &RoomOp::Join { user, floor: IdPick::Near(0) })?;
        }
        let empty_room = room.heap_bytes();
        let empty_user = user.heap_bytes();
        let mut previous = (0, 0);
        for (i, &size) in sizes.iter().enumerate() {
            let text = "m".repeat(size);
            step(&mut room, &mut m, &RoomOp::Send { user: i % members, text: text.clone(), dt: 1 })?;
            let copy = MCopy {
                delivery: handle(user.next_delivery(um.now)),
                room: ROOM.into(),
                id: i as u64 + 1,
                sender: USERS[i % members].into(),
                ts: um.now,
                edited: None,
                deleted: false,
                text,
            };
            prop_assert!(user.deliver(&copy.as_copy()));
            um.deliver(copy);
            let (texts, content) = (m.text_bytes(), um.content_bytes());
            let (r, u) = (room.heap_bytes(), user.heap_bytes());
            prop_assert!(r >= texts + empty_room / 2, "room: {} bytes for {} of text", r, texts);
            prop_assert!(u >= content, "user: {} bytes for {} of content", u, content);
            let n = i + 1;
            prop_assert!(r <= empty_room + 2 * (texts + 48 * n) + 8192, "room: {} bytes for {} of text", r, texts);
            prop_assert!(u <= empty_user + 2 * (content + 48 * n) + 8192, "user: {} bytes for {} of content", u, content);
            // Past a chunk's worth, more content never reports less memory
            // than half as much content did.
            if texts >= 2 * previous.0 + 8192 {
                prop_assert!(r > previous.1, "room: {} bytes after {}", r, previous.1);
                previous = (texts, r);
            }
        }
        // Emptied, they report about what they did when new.
        room.trim_below(u64::MAX);
        prop_assert_eq!(room.messages_kept(), 0);
        // (Less the history's table of chunks, which keeps its size: see
        // an_emptied_history_gives_back_its_table_of_chunks.)
        let table = 80 * sizes.len();
        prop_assert!(room.heap_bytes() <= empty_room + 1024 + table, "{} bytes for an empty history", room.heap_bytes());
        user.ack(DeliveryId { ms: u64::MAX, seq: u64::MAX });
        prop_assert_eq!(user.inbox_len(), 0);
        prop_assert!(user.heap_bytes() <= empty_user + 1024, "{} bytes for an empty inbox", user.heap_bytes());
    }
}

/// A history that held many chunks keeps its table of chunks (a `VecDeque`
/// that grows with the chunks and never shrinks) once every message has
/// left it, and `heap_bytes` rightly reports it: 1,000 messages of 1,500
/// bytes (two to a chunk) trimmed away leave about 32 KiB in a room with no
/// history, against 72 bytes for a new room or the same room saved and
/// loaded again. A room whose burst of messages ages out
/// (`chat.history-max-age`) keeps that memory until it is reloaded. (An
/// inbox gives its table back when emptied.)
#[test]
pub(crate) fn an_emptied_history_gives_back_its_table_of_chunks() {
    let text = "x".repeat(1500);
    let mut room = Room::new(1, "t", 0);
    room.join("a", 0);
    for i in 0..1000 {
        room.send("a", &text, i).unwrap();
    }
    room.trim_below(u64::MAX);
    assert_eq!(room.log().len(), 0);
    let reloaded = decode_room(ENCODING_VERSION, &encode_room(&room)).unwrap();
    assert!(
        room.heap_bytes() <= 2 * reloaded.heap_bytes(),
        "a room without history takes {} bytes, {} once reloaded",
        room.heap_bytes(),
        reloaded.heap_bytes()
    );
}
