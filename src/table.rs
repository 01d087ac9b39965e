//! The command table: every CHAT.* command with its handler, who may run
//! it, how its writes reach replicas, its flags, arity, keys and
//! documentation (what `COMMAND DOCS` shows).

use crate::commands;
use crate::identity::Who;
use crate::registry::{arg, choice, command, flag, option, Arg, ArgKind, Command};
use crate::replication::Propagate;
use crate::store::Access;

mod moderation;

const ROOM: Arg = arg("room", ArgKind::Key(0));
const USER: Arg = arg("user", ArgKind::Key(0));
/// A room and a user: the room is the command's one key. In Redis Cluster
/// a command touches one slot, the room's; the user's key is opened only
/// when it shares that slot.
const ROOM_AND_USER: [Arg; 2] = [ROOM, arg("user", ArgKind::Text)];

pub static COMMANDS: &[Command] = &[
    command!("chat.register", commands::users::register, Who::User(1), Propagate::ByHandler, {
        flags: "write deny-oom",
        arity: -3,
        keys: &[(1, Access::Write)],
        summary: "Registers a user with a display name and, optionally, a password (kept as an Argon2id hash).",
        complexity: "O(1); with a password, the client waits while the hash is computed on a background thread",
        args: &[
            USER,
            arg("name", ArgKind::Text),
            option("PASSWORD", "password", ArgKind::Text),
        ],
    }),
    command!("chat.auth", commands::users::auth, Who::User(1), Propagate::Verbatim, {
        flags: "readonly",
        arity: 3,
        keys: &[(1, Access::Read)],
        summary: "Checks a user's password: OK, or the same error for a wrong password and an unknown user.",
        complexity: "O(1); the client waits while the hash is checked on a background thread",
        args: &[USER, arg("password", ArgKind::Text)],
    }),
    command!("chat.passwd", commands::users::passwd, Who::User(1), Propagate::ByHandler, {
        flags: "write deny-oom",
        arity: 4,
        keys: &[(1, Access::Write)],
        summary: "Changes a user's password, given the current one.",
        complexity: "O(1); the client waits while the hashes are computed on a background thread",
        args: &[
            USER,
            arg("old-password", ArgKind::Text),
            arg("new-password", ArgKind::Text),
        ],
    }),
    command!("chat.profile", commands::users::profile, Who::Anyone, Propagate::Verbatim, {
        flags: "readonly fast",
        arity: 2,
        keys: &[(1, Access::Read)],
        summary: "Returns a user's id, name and creation time, or nil for an unknown user.",
        complexity: "O(1)",
        args: &[USER],
    }),
    command!("chat.create", commands::rooms::create, Who::Anyone, Propagate::AtNow, {
        flags: "write deny-oom fast",
        arity: -3,
        keys: &[(1, Access::Write)],
        summary: "Creates a room with a title; with OWNER, that user joins as its owner, and with PRIVATE it is joined by invitation only.",
        complexity: "O(1)",
        args: &[
            ROOM,
            arg("title", ArgKind::Text),
            option("OWNER", "owner", ArgKind::Text),
            flag("PRIVATE"),
        ],
    }),
    command!("chat.info", commands::rooms::info, Who::Member(1), Propagate::Verbatim, {
        flags: "readonly fast",
        arity: -2,
        keys: &[(1, Access::Read)],
        summary: "Returns a room's title, creation time, member count, stored message count, last message id, epoch and delivery mode (with WITHREAD also each member's read cursor), or nil.",
        complexity: "O(1); O(N log N) with WITHREAD, where N is the number of members",
        args: &[ROOM, flag("WITHREAD")],
    }),
    command!("chat.subscribe", commands::rooms::subscribe, Who::User(2), Propagate::AtNow, {
        flags: "write deny-oom fast",
        arity: -3,
        keys: &[(1, Access::Write)],
        summary: "Makes a registered user a member of a room and returns where to listen; with WITHEPOCH, also the room's epoch and last id.",
        complexity: "O(1)",
        args: &[ROOM, USER, flag("WITHEPOCH")],
    }),
    command!("chat.unsubscribe", commands::rooms::unsubscribe, Who::User(2), Propagate::Verbatim, {
        flags: "write fast",
        arity: 3,
        keys: &[(1, Access::Write)],
        summary: "Removes a user from a room; returns 1 if the user was a member, else 0.",
        complexity: "O(1)",
        args: &ROOM_AND_USER,
    }),
    command!("chat.members", commands::rooms::members, Who::Member(1), Propagate::Verbatim, {
        flags: "readonly",
        arity: -2,
        keys: &[(1, Access::Read)],
        summary: "Lists a room's member ids in ascending order; with WITHREAD, a map of member to read cursor; with WITHROLES, a map of member to role (owner, admin or member).",
        complexity: "O(N log N) where N is the number of members",
        args: &[ROOM, flag("WITHREAD"), flag("WITHROLES")],
    }),
    command!("chat.rooms", commands::users::rooms, Who::User(1), Propagate::Verbatim, {
        flags: "readonly",
        arity: 2,
        keys: &[(1, Access::Read)],
        summary: "Lists the ids of the rooms in a user's list, in ascending order: the rooms the user belongs to (in Redis Cluster, also a room a join or leave across slots left listed, until repaired).",
        complexity: "O(N log N) where N is the number of rooms of the user",
        args: &[USER],
    }),
    command!("chat.send", commands::send::send, Who::User(2), Propagate::ByHandler, {
        flags: "write deny-oom",
        arity: -4,
        keys: &[(1, Access::Write)],
        summary: "Sends a message to a room, optionally as a reply to a message and mentioning members: stores it, counts it and delivers it to every other member, live or to their inbox. Returns the message id; a retry with the same DEDUP key returns the first id and writes nothing.",
        complexity: "O(N) in a fan-out room of N members, O(1) in a broadcast room (plus O(M) for M mentions)",
        args: &[
            ROOM,
            arg("sender", ArgKind::Text),
            arg("text", ArgKind::Text),
            option("DEDUP", "key", ArgKind::Text),
            option("REPLY", "id", ArgKind::Integer),
            Arg {
                multiple: true,
                ..option("MENTION", "user", ArgKind::Text)
            },
        ],
    }),
    command!("chat.thread", commands::talk::thread, Who::Member(1), Propagate::Verbatim, {
        flags: "readonly",
        arity: -3,
        keys: &[(1, Access::Read)],
        summary: "Returns a message and its replies as JSON documents, ascending; with AFTER, only the replies after that id. Starts with a gap document when retention removed the message.",
        complexity: "O(log N + COUNT) where N is the number of stored messages",
        args: &[
            ROOM,
            arg("id", ArgKind::Integer),
            option("AFTER", "id", ArgKind::Integer),
            option("COUNT", "count", ArgKind::Integer),
            option("EPOCH", "epoch", ArgKind::Text),
        ],
    }),
    command!("chat.react", commands::talk::react, Who::User(2), Propagate::Verbatim, {
        flags: "write deny-oom fast",
        arity: 5,
        keys: &[(1, Access::Write)],
        summary: "Adds a member's reaction to a message and tells the other members: 1 if added, 0 if the member had given it already.",
        complexity: "O(R) where R is the number of reactions to the message, plus O(N) in a fan-out room of N members (the event)",
        args: &[
            ROOM,
            arg("user", ArgKind::Text),
            arg("id", ArgKind::Integer),
            arg("reaction", ArgKind::Text),
        ],
    }),
    command!("chat.unreact", commands::talk::unreact, Who::User(2), Propagate::Verbatim, {
        flags: "write fast",
        arity: 5,
        keys: &[(1, Access::Write)],
        summary: "Takes back a member's reaction to a message and tells the other members: 1 if removed, 0 if it was not there.",
        complexity: "O(R) where R is the number of reactions to the message, plus O(N) in a fan-out room of N members (the event)",
        args: &[
            ROOM,
            arg("user", ArgKind::Text),
            arg("id", ArgKind::Integer),
            arg("reaction", ArgKind::Text),
        ],
    }),
    command!("chat.reactions", commands::talk::reactions, Who::Member(1), Propagate::Verbatim, {
        flags: "readonly fast",
        arity: 3,
        keys: &[(1, Access::Read)],
        summary: "Returns each reaction to a message with the users who gave it, ascending.",
        complexity: "O(R log R) where R is the number of reactions to the message",
        args: &[ROOM, arg("id", ArgKind::Integer)],
    }),
    command!("chat.pin", commands::talk::pin, Who::User(2), Propagate::Verbatim, {
        flags: "write deny-oom fast",
        arity: 4,
        keys: &[(1, Access::Write)],
        summary: "Pins a message of a room (at most 50 pins) and tells the other members.",
        complexity: "O(P) where P is the number of pins, plus O(N) in a fan-out room of N members (the event)",
        args: &[
            ROOM,
            arg("user", ArgKind::Text),
            arg("id", ArgKind::Integer),
        ],
    }),
    command!("chat.unpin", commands::talk::unpin, Who::User(2), Propagate::Verbatim, {
        flags: "write fast",
        arity: 4,
        keys: &[(1, Access::Write)],
        summary: "Unpins a message of a room and tells the other members.",
        complexity: "O(P) where P is the number of pins, plus O(N) in a fan-out room of N members (the event)",
        args: &[
            ROOM,
            arg("user", ArgKind::Text),
            arg("id", ArgKind::Integer),
        ],
    }),
    command!("chat.pins", commands::talk::pins, Who::Member(1), Propagate::Verbatim, {
        flags: "readonly",
        arity: 2,
        keys: &[(1, Access::Read)],
        summary: "Returns the pinned messages of a room as JSON documents, the most recently pinned first.",
        complexity: "O(P log N) where P is the number of pins and N the number of stored messages",
        args: &[ROOM],
    }),
    command!("chat.send-resolved", commands::send::send_resolved, Who::Admin, Propagate::Verbatim, {
        flags: "write",
        arity: -8,
        keys: &[(1, Access::Write)],
        summary: "Replays a CHAT.SEND on a replica or from the AOF, with every id, time, trim and delivery the primary chose. Internal: refused from clients.",
        complexity: "O(N) where N is the number of inbox copies",
        args: &[
            ROOM,
            arg("sender", ArgKind::Text),
            arg("text", ArgKind::Text),
            arg("id", ArgKind::Integer),
            arg("ts", ArgKind::Integer),
            arg("first-kept", ArgKind::Integer),
            arg("copies", ArgKind::Text),
            Arg {
                optional: true,
                sub: &[arg("dedup-key", ArgKind::Text), arg("dedup-until", ArgKind::Integer)],
                ..arg("dedup", ArgKind::Block)
            },
        ],
    }),
    command!("chat.history", commands::history::history, Who::Member(1), Propagate::Verbatim, {
        flags: "readonly",
        arity: -2,
        keys: &[(1, Access::Read)],
        summary: "Returns a page of a room's messages as JSON documents, ascending by id; with EPOCH, starts with a reset document and the newest messages when the client's ids are not the room's.",
        complexity: "O(log N + COUNT) where N is the number of stored messages",
        args: &[
            ROOM,
            Arg {
                optional: true,
                sub: &[
                    choice("BEFORE", "id", ArgKind::Integer),
                    choice("AFTER", "id", ArgKind::Integer),
                ],
                ..arg("cursor", ArgKind::OneOf)
            },
            option("COUNT", "count", ArgKind::Integer),
            option("EPOCH", "epoch", ArgKind::Text),
        ],
    }),
    command!("chat.counts", commands::rooms::counts, Who::Member(1), Propagate::Verbatim, {
        flags: "readonly",
        arity: 2,
        keys: &[(1, Access::Read)],
        summary: "Returns how many messages each sender sent in a room.",
        complexity: "O(S log S) where S is the number of senders",
        args: &[ROOM],
    }),
    command!("chat.fetch", commands::inbox::fetch, Who::User(1), Propagate::Verbatim, {
        flags: "readonly blocking",
        arity: -2,
        keys: &[(1, Access::Read)],
        summary: "Returns a user's undelivered inbox messages, oldest first, optionally waiting for the first one.",
        complexity: "O(COUNT)",
        args: &[
            USER,
            option("COUNT", "count", ArgKind::Integer),
            option("BLOCK", "milliseconds", ArgKind::Integer),
        ],
    }),
    command!("chat.ack", commands::inbox::ack, Who::User(1), Propagate::Verbatim, {
        flags: "write",
        arity: 3,
        keys: &[(1, Access::Write)],
        summary: "Removes an inbox entry and every older one; returns how many were removed.",
        complexity: "O(K) where K is the number of entries removed",
        args: &[USER, arg("delivery", ArgKind::Text)],
    }),
    command!("chat.online", commands::presence::online, Who::User(1), Propagate::ByHandler, {
        flags: "write deny-oom fast",
        arity: -2,
        keys: &[(1, Access::Write)],
        summary: "Marks a user, or one of their devices, online for TTL seconds (default chat.presence-ttl); a change of presence is published on the user's presence channel.",
        complexity: "O(D) where D is the number of the user's devices (at most 16)",
        args: &[
            USER,
            option("TTL", "seconds", ArgKind::Integer),
            option("DEVICE", "device", ArgKind::Text),
        ],
    }),
    command!("chat.offline", commands::presence::offline, Who::User(1), Propagate::AtNow, {
        flags: "write fast",
        arity: -2,
        keys: &[(1, Access::Write)],
        summary: "Marks a user offline now, or one of their devices (the user stays online while another device is); a change of presence is published on the user's presence channel.",
        complexity: "O(D) where D is the number of the user's devices (at most 16)",
        args: &[USER, option("DEVICE", "device", ArgKind::Text)],
    }),
    command!("chat.notify", commands::notify::notify, Who::User(1), Propagate::Verbatim, {
        flags: "write fast",
        arity: 3,
        keys: &[(1, Access::Write)],
        summary: "Sets what a user is notified of while away: all (every message), mentions (mentions and direct rooms, the default) or none.",
        complexity: "O(1)",
        args: &[USER, arg("setting", ArgKind::Text)],
    }),
    command!("chat.presence", commands::presence::presence, Who::Member(1), Propagate::Verbatim, {
        flags: "readonly",
        arity: 2,
        keys: &[(1, Access::Read)],
        summary: "Lists the members of a room who are online, in ascending order.",
        complexity: "O(N log N) where N is the number of members",
        args: &[ROOM],
    }),
    command!("chat.read", commands::reading::read, Who::User(2), Propagate::Verbatim, {
        flags: "write fast",
        arity: 4,
        keys: &[(1, Access::Write)],
        summary: "Moves a member's read cursor forward to a message id and tells the other members; returns the cursor now in force.",
        complexity: "O(1) in a broadcast room, O(N) in a fan-out room of N members (the read event)",
        args: &[
            ROOM,
            arg("user", ArgKind::Text),
            arg("id", ArgKind::Integer),
        ],
    }),
    command!("chat.list-room", commands::rooms::list_room, Who::User(1), Propagate::AtNow, {
        flags: "write deny-oom fast",
        arity: 3,
        keys: &[(1, Access::Write)],
        summary: "Adds a room to a user's list of rooms: the user's side of a join when the room is in another Redis Cluster slot. Returns 1, or 0 if it was listed already.",
        complexity: "O(log R) where R is the number of rooms of the user",
        args: &[USER, arg("room", ArgKind::Text)],
    }),
    command!("chat.unlist-room", commands::rooms::unlist_room, Who::User(1), Propagate::ByHandler, {
        flags: "write fast",
        arity: -3,
        keys: &[(1, Access::Write)],
        summary: "Takes a room off a user's list of rooms: the user's side of a leave across Redis Cluster slots, and the repair of a join cut short. Returns 1, or 0 if it was not listed (or listed more recently than IF-OLDER-THAN-MS).",
        complexity: "O(log R) where R is the number of rooms of the user",
        args: &[
            USER,
            arg("room", ArgKind::Text),
            option("IF-OLDER-THAN-MS", "milliseconds", ArgKind::Integer),
        ],
    }),
    command!("chat.cursor", commands::reading::cursor, Who::User(2), Propagate::Verbatim, {
        flags: "readonly fast",
        arity: 3,
        keys: &[(1, Access::Read)],
        summary: "Returns a member's read cursor in a room, the room's last message id and how many messages the member has not read.",
        complexity: "O(log N) where N is the number of members",
        args: &ROOM_AND_USER,
    }),
    command!("chat.mentions", commands::reading::mentions, Who::User(1), Propagate::Verbatim, {
        flags: "readonly",
        arity: 2,
        keys: &[(1, Access::Read)],
        summary: "Returns, for each of the user's rooms where unread messages mention the user, how many do.",
        complexity: "O(R) where R is the number of the user's rooms",
        args: &[USER],
    }),
    command!("chat.unread", commands::reading::unread, Who::User(1), Propagate::Verbatim, {
        flags: "readonly",
        arity: 2,
        keys: &[(1, Access::Read)],
        summary: "Returns, for each of the user's rooms with unread messages, how many there are after the user's read cursor.",
        complexity: "O(R) where R is the number of rooms of the user",
        args: &[USER],
    }),
    command!("chat.typing", commands::reading::typing, Who::User(2), Propagate::Verbatim, {
        flags: "pubsub fast",
        arity: 3,
        keys: &[(1, Access::Read)],
        summary: "Tells the other members of a room that the user is typing; stores nothing.",
        complexity: "O(1) in a broadcast room, O(N) in a fan-out room of N members",
        args: &ROOM_AND_USER,
    }),
    command!("chat.channels", commands::reading::channels, Who::User(1), Propagate::Verbatim, {
        flags: "readonly",
        arity: -2,
        keys: &[(1, Access::Read)],
        summary: "Returns the command to listen with (SUBSCRIBE or SSUBSCRIBE) and every channel the user's app should listen on now; with PRESENCE, also the presence channels of the other members of the user's fan-out rooms; with WITHEPOCHS, a map of that list and of each room's epoch and last id.",
        complexity: "O(R) where R is the number of rooms of the user; O(R + M log M) with PRESENCE, M the members of those rooms",
        args: &[USER, flag("PRESENCE"), flag("WITHEPOCHS")],
    }),
    command!("chat.edit", commands::changes::edit, Who::User(2), Propagate::AtNow, {
        flags: "write deny-oom",
        arity: 5,
        keys: &[(1, Access::Write)],
        summary: "Replaces the text of a message; only its author may.",
        complexity: "O(1) in a broadcast room, O(N) in a fan-out room of N members (the edit event)",
        args: &[
            ROOM,
            arg("user", ArgKind::Text),
            arg("id", ArgKind::Integer),
            arg("text", ArgKind::Text),
        ],
    }),
    command!("chat.delete", commands::changes::delete, Who::User(2), Propagate::Verbatim, {
        flags: "write",
        arity: 4,
        keys: &[(1, Access::Write)],
        summary: "Deletes a message, leaving a tombstone in the history; only its author may.",
        complexity: "O(1) in a broadcast room, O(N) in a fan-out room of N members (the delete event)",
        args: &[
            ROOM,
            arg("user", ArgKind::Text),
            arg("id", ArgKind::Integer),
        ],
    }),
    command!("chat.dm", commands::lifecycle::dm, Who::EitherUser(1, 2), Propagate::AtNow, {
        flags: "write deny-oom",
        arity: 3,
        keys: &[(1, Access::Write), (2, Access::Write)],
        summary: "Returns the id of the two users' direct room, creating it and making both members on first use.",
        complexity: "O(1)",
        args: &[arg("user-a", ArgKind::Key(0)), arg("user-b", ArgKind::Key(1))],
    }),
    command!("chat.dm-id", commands::lifecycle::dm_id, Who::Anyone, Propagate::Verbatim, {
        flags: "readonly fast",
        arity: 3,
        keys: &[],
        summary: "Returns the id of two users' direct room, without touching any key.",
        complexity: "O(1)",
        args: &[arg("user-a", ArgKind::Text), arg("user-b", ArgKind::Text)],
    }),
    command!("chat.dm-room", commands::lifecycle::dm_room, Who::EitherUser(2, 3), Propagate::AtNow, {
        flags: "write deny-oom",
        arity: 4,
        keys: &[(1, Access::Write)],
        summary: "The room's side of CHAT.DM for users in other Redis Cluster slots: creates the pair's direct room if needed and makes both members. Returns the room id.",
        complexity: "O(1)",
        args: &[
            ROOM,
            arg("user-a", ArgKind::Text),
            arg("user-b", ArgKind::Text),
        ],
    }),
    command!("chat.drop", commands::lifecycle::drop, Who::Admin, Propagate::Verbatim, {
        flags: "write",
        arity: 2,
        keys: &[(1, Access::Write)],
        summary: "Removes a room: its history, counters and read state, and the room from its members' lists (in Redis Cluster, those in the room's slot; CHAT.UNLIST-ROOM does the others).",
        complexity: "O(N + M) where N is the number of members and M of stored messages",
        args: &[ROOM],
    }),
    command!("chat.unregister", commands::lifecycle::unregister, Who::User(1), Propagate::Verbatim, {
        flags: "write",
        arity: 2,
        keys: &[(1, Access::Write)],
        summary: "Removes a user: profile, presence, inbox and memberships. Their messages stay in the histories.",
        complexity: "O(R + I) where R is the number of rooms of the user and I the size of the inbox",
        args: &[USER],
    }),
    command!("chat.dump", commands::inspect::dump, Who::Admin, Propagate::Verbatim, {
        flags: "readonly",
        arity: 2,
        keys: &[(1, Access::Read)],
        summary: "Returns everything a chat key holds, a room or a user, as one JSON document (never a password hash), or nil for a missing key.",
        complexity: "O(N) where N is the size of the value",
        args: &[arg("key", ArgKind::Key(0))],
    }),
    // The commands below only replay, on replicas and from the AOF, what
    // the primary decided (chat_core::replay); clients cannot run them.
    command!("chat.at", commands::internal::at, Who::Admin, Propagate::Verbatim, {
        flags: "write deny-oom",
        arity: -3,
        keys: &[],
        summary: "Replays a command at the time the primary ran it. Internal: refused from clients.",
        complexity: "That of the replayed command",
        args: &[
        arg("unix-ms", ArgKind::Integer),
        arg("command", ArgKind::Text),
        Arg {
            optional: true,
            multiple: true,
            ..arg("argument", ArgKind::Text)
        },
        ],
    }),
    command!("chat.set-password", commands::internal::set_password, Who::Admin, Propagate::Verbatim, {
        flags: "write deny-oom",
        arity: 3,
        keys: &[(1, Access::Write)],
        summary: "Sets a user's password hash as the primary computed it. Internal: refused from clients.",
        complexity: "O(1)",
        args: &[USER, arg("hash", ArgKind::Text)],
    }),
    command!("chat.trim-resolved", commands::internal::trim_resolved, Who::Admin, Propagate::Verbatim, {
        flags: "write",
        arity: 3,
        keys: &[(1, Access::Write)],
        summary: "Removes a room's messages below an id, as the primary's age sweep did. Internal: refused from clients.",
        complexity: "O(N) where N is the number of messages removed",
        args: &[ROOM, arg("first-kept", ArgKind::Integer)],
    }),
    command!("chat.restore-value", commands::internal::restore_value, Who::Admin, Propagate::Verbatim, {
        flags: "write deny-oom",
        arity: 5,
        keys: &[(1, Access::Write)],
        summary: "Stores a chat key as a rewritten AOF without an RDB preamble keeps it. Internal: refused from clients.",
        complexity: "O(N) where N is the size of the value",
        args: &[
        arg("key", ArgKind::Key(0)),
        arg("kind", ArgKind::Text),
        arg("encoding-version", ArgKind::Integer),
        arg("bytes", ArgKind::Text),
        ],
    }),
    command!("chat.epoch", commands::internal::epoch, Who::Admin, Propagate::Verbatim, {
        flags: "write",
        arity: 4,
        keys: &[(1, Access::Write)],
        summary: "Gives a room the epoch the primary drew for it. Internal: refused from clients.",
        complexity: "O(1)",
        args: &[ROOM, arg("epoch", ArgKind::Text), arg("generation", ArgKind::Text)],
    }),
    command!("chat.generation", commands::internal::generation, Who::Admin, Propagate::ByHandler, {
        flags: "write",
        arity: -2,
        keys: &[],
        summary: "Records the generation a primary drew, DURABLE when its AOF kept every write, REPLICA as a replica passes it on (docs/data-model.md, epochs and generations). Internal: refused from clients.",
        complexity: "O(1)",
        args: &[arg("generation", ArgKind::Text), flag("DURABLE"), flag("REPLICA")],
    }),
    // Proves that a panic in a handler becomes an error reply and a log line
    // (tests/security.rs). Debug builds only: release builds lack it.
    #[cfg(debug_assertions)]
    command!("chat.debug-panic", commands::debug_panic, Who::Admin, Propagate::Verbatim, {
        flags: "readonly",
        arity: 1,
        keys: &[],
        summary: "Panics on purpose (debug builds only).",
        complexity: "O(1)",
        args: &[],
    }),
];

/// Every command: the ones above, then moderation's.
pub fn all() -> impl Iterator<Item = &'static Command> {
    COMMANDS.iter().chain(moderation::COMMANDS)
}

/// The entry of command `name` (lower case).
pub fn find(name: &str) -> Option<&'static Command> {
    all().find(|c| c.name == name)
}
