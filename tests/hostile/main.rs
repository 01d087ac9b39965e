//! Hostile input against a live server: thousands of random argument
//! vectors sent to every CHAT.* command the server reports, keys of every
//! other Redis type (or of the other chat kind) where a room or a user is
//! wanted, and chat values crafted byte by byte through RESTORE.
//!
//! The command list comes from `COMMAND LIST FILTERBY MODULE chat` and each
//! command's arguments from `COMMAND DOCS`, so a new command is covered as
//! soon as it is registered (CHAT.DUMP, and the internal commands that only
//! replicas and the AOF may send, which must refuse every client). Vectors
//! mix random bytes, huge, negative and malformed numbers, option keywords
//! in any case (missing, repeated, unknown), empty and very long arguments
//! (up to 1 MB), ids of existing rooms and users (so that some calls
//! succeed and write), ids whose keys hold another Redis type, a room
//! copied by hand, members whose user key is gone, and commands wrapped in
//! CHAT.AT. Some calls run inside MULTI/EXEC or a script, over RESP3, and
//! the chat.* limits change now and then. The run is seeded: the seed is
//! printed, and `HOSTILE_SEED=<n>` replays it (`HOSTILE_CALLS=<n>` runs
//! longer, `HOSTILE_RESTORES=<n>` crafts more values). The crafted values
//! also depend on the times stored in the data they start from, so a seed
//! replays the same changes to slightly different bytes.
//!
//! Asserted: the server never crashes or hangs (every reply within the read
//! timeout, PING answers, the process lives, no panic in its log), every
//! reply is a value or an error whose text starts with an upper-case code,
//! no error is the module's "internal error", a command that fails writes
//! nothing (`DEBUG DIGEST` before and after, on a sample of the calls, and
//! on every call of an internal command, which never succeeds), a replica
//! ends with the primary's data, and the data written before the run under
//! the reserved tag `{keep}` is exactly as it was.
//!
//! Reserved data: the rooms and users whose ids start with `{keep}` (the
//! keys `{keep}alice`, `{keep}general`, ...) are written before the run and
//! never named by a random call (any generated argument that contains
//! `{keep}` is replaced). Nothing a random call can do reaches them
//! otherwise: they are in no room the random calls know, and are offline,
//! so no send reaches their inboxes. Every other id is fair game for writes.
//!
//! The tests are split by subject: `random` (the random vectors, made by
//! `vectors` from what `commands` learns of the server, on the data of
//! `data`), `clients` (clients that leave while they wait, and passwords),
//! `wrong_type` (keys of the wrong type), `restore` and `restore_edges`
//! (crafted RESTORE payloads, in the format `dump` takes apart), with the
//! shared `rng` (the seed) and `checks` (replies and logs).

#[path = "../common/mod.rs"]
mod common;

mod checks;
mod clients;
mod commands;
mod data;
mod dump;
mod random;
mod restore;
mod restore_edges;
mod rng;
mod vectors;
mod wrong_type;
