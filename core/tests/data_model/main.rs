//! Model-based properties of the chat data types (`chat_core::data`).
//!
//! A `Room` and a `User` go through random sequences of what the commands
//! do to them, with times that mostly increase but sometimes go back. Next
//! to each runs a reference model written here with plain `VecDeque`s and
//! `BTreeMap`s, from the documented rules, and after every step everything
//! the value answers (pages of history, messages, cursors, unread counts,
//! members, counts, DEDUP keys, inbox copies, delivery handles) must be what
//! the model says, and every error must be the one the model expects.
//!
//! The same values go through their encoding (`data::encode_*` and
//! `decode_*`), whole and damaged: what decodes is the value that was
//! encoded, and damaged bytes are refused or give a value that can be read
//! and changed without a panic and saved again.
//!
//! Each property runs a bounded number of cases (`PROPTEST_CASES` overrides
//! it); proptest prints the smallest failing sequence it finds.
//!
//! The target's modules:
//!
//! * `conversation`: threads, mentions, reactions and pins through random
//!   steps, on a primary and a replica that must agree byte for byte;
//! * `moderation`: roles, private rooms, invitations, bans, mutes and slow
//!   mode through random steps, on a primary that checks the clock and a
//!   replica that does not, which must agree byte for byte, next to a
//!   model of what each join and send may do;
//! * `room_model`: the reference model of a room, the steps a room goes
//!   through and their generators;
//! * `room`: applying a step to a room and to its model and comparing them,
//!   and the properties of rooms;
//! * `inbox_model`: the reference model of a user and its inbox, the steps
//!   a user goes through and their generators;
//! * `inbox`: applying a step to a user and to its model and comparing them,
//!   and the properties of users and their inboxes;
//! * `encoding`: versions, damaged and random bytes, values whose parts
//!   disagree;
//! * `memory`: the memory a room or a user reports;
//! * `version1`: a room and a user as encoding version 1 wrote them, which
//!   must read back as they were;
//! * `version2`: rooms and users as encoding version 2 wrote them (a
//!   conversation, an inbox that dropped copies), which must read back as
//!   they were, without rules or invitations;
//! * `version3`: users as encoding version 3 wrote them (a password and
//!   invitations aside), which must read back without devices and with
//!   the default notify setting.

mod conversation;
mod encoding;
mod inbox;
mod inbox_model;
mod memory;
mod moderation;
mod room;
mod room_model;
mod version1;
mod version2;
mod version3;

use proptest::prelude::*;

/// Cases per property; the whole target stays within a few seconds in release.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const ROOM: &str = "general";
const TITLE: &str = "General";
const USERS: [&str; 6] = ["alice", "bob", "{t}carol", "d", "e:x.y@z", "zed"];
const DEDUP_KEYS: [&[u8]; 4] = [b"k1", b"k2", b"", b"\xff\x00 key"];
const ROOMS: [&str; 4] = ["general", "{t}dev", "dm:5:alice:bob", "r"];
const SENDERS: [&str; 3] = ["alice", "bob", "{t}carol"];
