//! The two module data types, `chat-room` and `chat-user`, as Redis sees
//! them: their names and memory, every way a value leaves and comes back
//! (RDB, AOF with and without preamble, the AOF's command stream, DUMP and
//! RESTORE, MIGRATE, full syncs), the generic key commands (COPY, RENAME,
//! DEL, UNLINK), values from a newer module, and replicas, also with
//! smaller limits than their primary.
//!
//! One module per subject: `dataset` (the dataset every part uses, and
//! what Redis shows of its keys), `persistence`, `dump_restore`,
//! `key_commands`, `newer_module` and `replication`; what they share with
//! the other test targets is in `tests/common`.

#[path = "../common/mod.rs"]
mod common;

mod dataset;
mod dump_restore;
mod key_commands;
mod newer_module;
mod persistence;
mod replication;
