//! Unit tests of the room's own rules.

use super::*;

fn room() -> Room {
    let mut r = Room::new(7, "General", 1000);
    r.join("alice", 0);
    r.join("bob", 0);
    r
}

fn ids(r: &Room, cursor: Cursor, count: usize) -> Vec<u64> {
    r.page(cursor, count).map(|(id, _)| id).collect()
}

#[test]
fn a_room_is_a_small_struct() {
    // An allocator size class of 192 bytes (160 before epochs), not 224.
    assert!(
        std::mem::size_of::<Room>() <= 192,
        "{}",
        std::mem::size_of::<Room>()
    );
}

#[test]
fn a_room_with_a_member_in_another_slot_broadcasts() {
    let mut r = Room::new(7, "General", 1000);
    let slot = crate::channels::slot_of_id("{t}general");
    r.join("{t}alice", 0);
    assert_eq!(r.mode(500, Some(slot)), RoomMode::Fanout);
    r.join("bob", 0);
    assert_eq!(r.mode(500, Some(slot)), RoomMode::Broadcast);
    // Without cluster mode, only the number of members counts.
    assert_eq!(r.mode(500, None), RoomMode::Fanout);
    assert_eq!(r.mode(1, None), RoomMode::Broadcast);
    r.leave("bob");
    assert_eq!(r.mode(500, Some(slot)), RoomMode::Fanout);
}

#[test]
fn messages_older_than_the_age_limit_retire() {
    let mut r = room();
    for ts in [1_000, 2_000, 9_000] {
        r.send("alice", "m", ts).unwrap();
    }
    // At 10 s with a limit of 5 s, messages sent before 5 s go.
    assert_eq!(r.retire_older_than(10_000, 5), Some(3));
    assert_eq!(r.first_id(), Some(3));
    assert_eq!(r.retire_older_than(10_000, 5), None);
    assert_eq!(r.retire_older_than(20_000, 5), Some(4));
    assert_eq!((r.first_id(), r.last_id()), (None, 3));
}

#[test]
fn members_send_and_everyone_counts() {
    let mut r = room();
    assert_eq!(r.send("alice", "hi", 10), Ok(1));
    assert_eq!(r.send("bob", "hey", 11), Ok(2));
    assert_eq!(r.send("alice", "ok", 12), Ok(3));
    assert_eq!(r.send("carol", "x", 13), Err(ChatError::NotMember));
    assert_eq!(r.counts().collect::<Vec<_>>(), [("alice", 2), ("bob", 1)]);
    // A sender has read up to their own message.
    assert_eq!(r.cursor("alice"), Some(3));
    assert_eq!(r.unread("bob"), Some(1));
    let doc = r.message("general", 2).unwrap();
    assert_eq!((doc.sender.as_ref(), doc.text.as_ref()), ("bob", "hey"));
    // A newcomer starts at the last message.
    r.join("carol", 0);
    assert_eq!(r.cursor("carol"), Some(3));
    assert!(r.leave("bob"));
    assert_eq!(r.counts().collect::<Vec<_>>(), [("alice", 2), ("bob", 1)]);
    assert_eq!(r.message("general", 2).unwrap().sender, "bob");
}

#[test]
fn pages_are_runs_of_ids() {
    let mut r = room();
    for i in 0..10 {
        r.send("alice", &format!("m{i}"), i).unwrap();
    }
    assert_eq!(ids(&r, Cursor::Latest, 3), [8, 9, 10]);
    assert_eq!(ids(&r, Cursor::Latest, 50).len(), 10);
    assert_eq!(ids(&r, Cursor::Before(4), 2), [2, 3]);
    assert_eq!(ids(&r, Cursor::Before(2), 5), [1]);
    assert_eq!(ids(&r, Cursor::Before(0), 5), Vec::<u64>::new());
    assert_eq!(ids(&r, Cursor::Before(99), 2), [9, 10]);
    assert_eq!(ids(&r, Cursor::After(8), 5), [9, 10]);
    assert_eq!(ids(&r, Cursor::After(10), 5), Vec::<u64>::new());
    assert_eq!(ids(&r, Cursor::After(0), 2), [1, 2]);
    r.trim_below(5);
    assert_eq!(ids(&r, Cursor::Before(7), 5), [5, 6]);
    assert_eq!(ids(&r, Cursor::After(1), 2), [5, 6]);
}

#[test]
fn only_authors_change_messages_and_tombstones_stay() {
    let mut r = room();
    r.send("alice", "hello", 5).unwrap();
    assert_eq!(r.edit(1, "bob", "x", 6), Err(ChatError::NotAuthor));
    assert_eq!(r.edit(2, "alice", "x", 6), Err(ChatError::NoSuchMessage(2)));
    r.edit(1, "alice", "hello!", 6).unwrap();
    let doc = r.message("g", 1).unwrap();
    assert_eq!((doc.text.as_ref(), doc.edited), ("hello!", Some(6)));
    r.delete(1, "alice").unwrap();
    let doc = r.message("g", 1).unwrap();
    assert!(doc.deleted && doc.text.is_empty() && doc.ts == 5 && doc.sender == "alice");
    assert_eq!(r.delete(1, "alice"), Err(ChatError::NoSuchMessage(1)));
    assert_eq!(r.edit(1, "alice", "y", 7), Err(ChatError::NoSuchMessage(1)));
}

#[test]
fn cursors_only_move_forward() {
    let mut r = room();
    for i in 0..5 {
        r.send("alice", "m", i).unwrap();
    }
    assert_eq!(r.read("bob", 3), Ok(Read::Moved(3)));
    assert_eq!(r.read("bob", 2), Ok(Read::Stayed(3)));
    assert_eq!(
        r.read("bob", 6),
        Err(ChatError::IdAfterLast { id: 6, last: 5 })
    );
    assert_eq!(r.read("zed", 1), Err(ChatError::NotMember));
    assert_eq!(r.unread("bob"), Some(2));
}

#[test]
fn dedup_keys_live_in_the_room() {
    let mut r = room();
    r.dedup_record(b"k", 1, 100);
    assert_eq!(r.dedup_get(b"k", 50), Some(1));
    r.dedup_forget_expired(100);
    assert_eq!(r.dedup_get(b"k", 50), None);
    assert!(r.besides.is_none());
}

#[test]
fn a_room_survives_its_encoding() {
    let mut r = room();
    for i in 0..100 {
        r.send(if i % 3 == 0 { "bob" } else { "alice" }, "text", i)
            .unwrap();
    }
    r.delete(5, "alice").unwrap();
    r.dedup_record(b"k", 3, 1 << 40);
    r.leave("alice");
    r.join("zoe", 0);
    let bytes = crate::data::wire::encode(&r);
    let mut back: Room = crate::data::wire::decode_all(&bytes).unwrap();
    back.check().unwrap();
    assert_eq!(back, r);
    assert_eq!(back.cursor("zoe"), Some(100));
    assert_eq!(
        back.counts().collect::<Vec<_>>(),
        r.counts().collect::<Vec<_>>()
    );
    assert_eq!(back.dedup_get(b"k", 0), Some(3));
}

#[test]
fn a_room_whose_messages_name_unknown_senders_is_refused() {
    let mut r = room();
    r.send("alice", "hi", 1).unwrap();
    if let Some(p) = r.people.get_mut(0) {
        p.sent = 0;
    }
    let mut back: Room = crate::data::wire::decode_all(&crate::data::wire::encode(&r)).unwrap();
    assert!(back.check().is_err());
}

#[test]
fn a_client_resets_on_another_epoch_or_an_id_never_reached() {
    let mut r = room();
    r.send("alice", "one", 1).unwrap();
    r.send("bob", "two", 2).unwrap();
    r.set_epoch(Epoch {
        id: 0xbeef,
        generation: 9,
    });
    assert!(!r.needs_reset(None, None));
    assert!(!r.needs_reset(Some("000000000000beef"), Some(2)));
    assert!(!r.needs_reset(None, Some(0)));
    assert!(r.needs_reset(Some("000000000000beee"), Some(1)));
    assert!(r.needs_reset(Some("000000000000beee"), None));
    // An id past the last is reported, whatever the epoch.
    assert!(r.needs_reset(None, Some(3)));
    assert!(r.needs_reset(Some("000000000000beef"), Some(3)));
}
