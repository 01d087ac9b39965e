//! The chat logic of redis-chat, kept apart from Redis.
//!
//! No Redis, no clock, no I/O: this crate validates ids and arguments, names
//! keys, encodes message documents and decides how each member receives a
//! message. The module crate feeds it bytes and the current time, and applies
//! its answers to Redis keys. Everything here is tested with `cargo test -p
//! chat-core`, without a server.

pub mod config;
pub mod data;
pub mod delivery;
pub mod error;
pub mod event;
pub mod ids;
pub mod json;
pub mod keys;
pub mod message;
pub mod parse;
pub mod password;
pub mod request;

pub use error::ChatError;
