//! Replies: what a command answers, and how it goes on the wire.
//!
//! Maps are sent as RESP3 maps; Redis itself turns them into flat
//! field/value arrays for RESP2 clients.

use std::ffi::{c_char, c_long, CString};

use chat_core::ChatError;

use crate::store::{api, Ctx};

#[derive(Debug)]
pub enum Reply {
    Ok,
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Reply>),
    Map(Vec<(Vec<u8>, Reply)>),
    /// The client was blocked; its reply comes later from a callback.
    Deferred,
}

impl Reply {
    pub fn bulks(items: impl IntoIterator<Item = Vec<u8>>) -> Reply {
        Reply::Array(items.into_iter().map(Reply::Bulk).collect())
    }

    pub fn send(&self, ctx: Ctx) {
        // SAFETY: every call writes to the reply of the live context `ctx`.
        unsafe {
            match self {
                Reply::Ok => {
                    api!(RedisModule_ReplyWithSimpleString)(ctx, c"OK".as_ptr());
                }
                Reply::Int(n) => {
                    api!(RedisModule_ReplyWithLongLong)(ctx, *n);
                }
                Reply::Bulk(bytes) => {
                    api!(RedisModule_ReplyWithStringBuffer)(
                        ctx,
                        bytes.as_ptr().cast::<c_char>(),
                        bytes.len(),
                    );
                }
                Reply::Nil => {
                    api!(RedisModule_ReplyWithNull)(ctx);
                }
                Reply::Array(items) => {
                    api!(RedisModule_ReplyWithArray)(ctx, items.len() as c_long);
                    for item in items {
                        item.send(ctx);
                    }
                }
                Reply::Map(pairs) => {
                    api!(RedisModule_ReplyWithMap)(ctx, pairs.len() as c_long);
                    for (field, value) in pairs {
                        api!(RedisModule_ReplyWithStringBuffer)(
                            ctx,
                            field.as_ptr().cast::<c_char>(),
                            field.len(),
                        );
                        value.send(ctx);
                    }
                }
                Reply::Deferred => {}
            }
        }
    }
}

/// Sends `error` as an error reply. Its text already starts with the code.
pub fn send_error(ctx: Ctx, error: &ChatError) {
    send_error_text(ctx, &error.to_string());
}

pub fn send_error_text(ctx: Ctx, text: &str) {
    // Error texts never hold NUL bytes (client text in them is sanitised);
    // fall back to a fixed text rather than fail if one ever did.
    let text = CString::new(text).unwrap_or_else(|_| CString::from(c"ERR internal error"));
    // SAFETY: live context, NUL-terminated text.
    unsafe { api!(RedisModule_ReplyWithError)(ctx, text.as_ptr()) };
}

/// Shorthand for map fields with a static name.
pub fn field(name: &str, value: Reply) -> (Vec<u8>, Reply) {
    (name.as_bytes().to_vec(), value)
}
