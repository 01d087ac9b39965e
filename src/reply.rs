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
    /// An array of bulk strings kept back to back in one buffer: a page of
    /// documents costs one allocation, not one per document.
    Page(Page),
    /// The client was blocked; its reply comes later from a callback.
    Deferred,
}

/// Strings written one after the other into one buffer.
#[derive(Debug, Default)]
pub struct Page {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Page {
    pub fn with_capacity(items: usize) -> Page {
        Page {
            bytes: Vec::with_capacity(items * 160),
            ends: Vec::with_capacity(items),
        }
    }

    /// Adds the string that `write` appends to the buffer.
    pub fn push_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        write(&mut self.bytes);
        self.ends.push(self.bytes.len());
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn items(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(start, end)| self.bytes.get(start..end).unwrap_or_default())
    }
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
                Reply::Page(page) => {
                    api!(RedisModule_ReplyWithArray)(ctx, page.ends.len() as c_long);
                    for item in page.items() {
                        api!(RedisModule_ReplyWithStringBuffer)(
                            ctx,
                            item.as_ptr().cast::<c_char>(),
                            item.len(),
                        );
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
