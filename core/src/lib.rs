//! The chat logic of redis-chat, kept apart from Redis.
//!
//! No Redis, no clock, no I/O: this crate validates ids and arguments, holds
//! the room and user values and their encodings, encodes message documents
//! and decides how each member receives a message. The module crate feeds
//! it bytes and the current time, and keeps its values in Redis keys. Everything here is tested with `cargo test -p
//! chat-core`, without a server.

pub mod channels;
pub mod config;
pub mod data;
pub mod delivery;
pub mod error;
pub mod event;
pub mod ids;
pub mod message;
pub mod notify;
pub mod parse;
pub mod password;
pub mod presence;
pub mod refusal;
pub mod replay;
pub mod request;

pub use error::ChatError;
