//! An async Rust client for [redis-chat](../../README.md), the Redis module
//! that adds `CHAT.*` commands: one [`Chat`] type that works the same on
//! one Redis server and across a Redis Cluster.
//!
//! ```no_run
//! # async fn demo() -> redis_chat_client::Result<()> {
//! use futures_util::StreamExt;
//! use redis_chat_client::Chat;
//!
//! // Chat::standalone("redis://127.0.0.1:6379/") for one server.
//! let chat = Chat::cluster(&["127.0.0.1:7001", "127.0.0.1:7002"]).await?;
//! chat.register("alice", "Alice", None).await?;
//! chat.register("bob", "Bob", None).await?;
//! chat.create("general", "General chat").await?;
//! chat.join("general", "alice").await?;
//! chat.join("general", "bob").await?;
//! let mut bob = chat.listen("bob").await?;
//! let id = chat.send("general", "alice", "Hi Bob!", 1).await?;
//! let message = bob.next().await;
//! chat.read("general", "bob", id).await?;
//! # Ok(()) }
//! ```
//!
//! In a cluster every command of the module touches one slot, and rooms
//! and users without a shared hash tag live on different nodes. The
//! library hides that:
//!
//! - joins, leaves, direct rooms, unregistering and dropping run in the
//!   single-slot steps of docs/deployment.md ("Steps across slots"), in
//!   an order where a cut anywhere leaves nothing a retry, [`Chat::rooms`]
//!   or [`Chat::reconcile`] does not heal;
//! - read state comes from `CHAT.CURSOR` per room ([`Chat::unread`],
//!   [`Chat::missed`]), which one slot always answers;
//! - [`Chat::send`] names each send with a DEDUP key and retries it through
//!   broken connections, redirects and failovers, and can wait for
//!   replicas on the connection of the send;
//! - [`Chat::listen`] subscribes to each channel `CHAT.CHANNELS` names on
//!   the node that serves it, and fills every gap from the history, so each
//!   message comes once, in order, whatever breaks meanwhile; where
//!   retention removed messages it had not handed out yet, it hands out
//!   the history's gap document in their place.
//!
//! Epochs: ids in a room are handed out again after a server lost
//! acknowledged writes (a promoted replica, a lossy restart) or a room was
//! made again under its id; the room's epoch then changes. The client
//! keeps each room's epoch ([`Chat::known_epoch`], [`RoomEpoch`]), reads on
//! from an id with it ([`Chat::missed`], [`Chat::history_in_epoch`], the
//! listener's catch-up), and hands out the `reset` documents and events
//! that say a room must be reloaded.
//!
//! Conversations: [`Chat::send_with`] sends replies and mentions
//! ([`SendOptions`]); [`Chat::thread`], [`Chat::react`],
//! [`Chat::reactions`], [`Chat::pin`], [`Chat::pins`] and
//! [`Chat::mentions`] read and change them; [`Chat::fetch`] and
//! [`Chat::ack`] read the inbox.
//!
//! Moderation: [`Chat::create_with`] makes a room with an owner, private
//! or not ([`CreateOptions`]); [`Chat::role`], [`Chat::members_with_roles`],
//! [`Chat::invite`], [`Chat::invites`], [`Chat::kick`], [`Chat::ban`],
//! [`Chat::unban`], [`Chat::mute`], [`Chat::unmute`] and
//! [`Chat::slowmode`] moderate it; [`Error::refusal`] tells a room's
//! refusals apart ([`Refusal`]: `NOPERM`, `NOINVITE`, `BANNED`, `MUTED`,
//! `SLOWMODE`, `RATELIMIT`).
//!
//! Presence: [`Chat::online`] and [`Chat::offline`] (with a device or
//! not), [`Chat::profile`] (with the user's presence channel and
//! notification setting), [`Chat::is_online`], [`Chat::notify`]
//! ([`Notify`]) and [`Chat::channels`]; a listener follows other users'
//! presence ([`ListenerHandle::follow_presence`],
//! [`ListenOptions::follow`], [`ListenOptions::follow_members`]) and hands
//! out their `presence` events.

mod backend;
mod chat;
mod conversations;
mod epochs;
mod error;
mod history;
mod listen;
mod moderation;
mod presence;
mod reply;
mod send;
mod settings;
mod slot;
mod subscriptions;

pub use chat::{Chat, CreateOptions, Cursor, Target};
pub use epochs::{Channels, RoomEpoch};
pub use error::{Error, Refusal, Result};
pub use listen::{ListenOptions, ListenStats, Listener, ListenerHandle};
pub use moderation::RoomModeration;
pub use presence::{presence_channel, Notify, Profile};
pub use send::SendOptions;
pub use settings::Settings;
pub use slot::slot;

/// The `redis` crate this library is built on, for [`Chat::query`].
pub use redis;
