//! What the running server offers beyond the module API of Redis 7.0, found
//! out once at load from the API functions it fills in. The module needs
//! nothing newer than 7.0 (`missing_api` in lib.rs checks that); where a
//! newer server has more, the module uses it, and `INFO chat` says what was
//! found.

use std::ffi::{c_char, CStr, CString};
use std::sync::atomic::{AtomicU8, Ordering};

use redis_module::raw;

use crate::store::{api, Ctx};

/// Which ACL categories the chat commands are in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum AclCategories {
    /// Redis 7.0: module commands cannot be put in categories; ACL rules
    /// name the commands one by one.
    None = 0,
    /// Redis 7.2: the standard categories (`@read`, `@write`, `@fast`, ...)
    /// that follow from each command's flags.
    Standard = 1,
    /// Redis 7.4 and later, Valkey 8: the standard ones and the module's
    /// own `@chat`, so `ACL SETUSER app +@chat` grants every chat command.
    Chat = 2,
}

impl AclCategories {
    pub fn name(self) -> &'static str {
        match self {
            AclCategories::None => "none",
            AclCategories::Standard => "standard",
            AclCategories::Chat => "chat",
        }
    }
}

static ACL_CATEGORIES: AtomicU8 = AtomicU8::new(AclCategories::None as u8);

pub fn acl_categories() -> AclCategories {
    match ACL_CATEGORIES.load(Ordering::Relaxed) {
        2 => AclCategories::Chat,
        1 => AclCategories::Standard,
        _ => AclCategories::None,
    }
}

/// Adds the `@chat` category where the server can (Redis 7.4+, Valkey 8),
/// and notes what the commands registered next can be put in. Call during
/// OnLoad, before the commands are registered.
pub fn detect(ctx: Ctx) {
    // SAFETY: reading function pointers Redis filled in at load.
    let (set, add) = unsafe {
        (
            raw::RedisModule_SetCommandACLCategories,
            raw::RedisModule_AddACLCategory,
        )
    };
    let found = match (set, add) {
        (None, _) => AclCategories::None,
        (Some(_), None) => AclCategories::Standard,
        (Some(_), Some(add)) => {
            // SAFETY: called during OnLoad with the load context.
            if unsafe { add(ctx, c"chat".as_ptr()) } == raw::REDISMODULE_OK as i32 {
                AclCategories::Chat
            } else {
                crate::log_warning("the server refused the ACL category chat; commands get only the standard categories");
                AclCategories::Standard
            }
        }
    };
    ACL_CATEGORIES.store(found as u8, Ordering::Relaxed);
}

/// The ACL categories of a command with these flags (`COMMAND INFO` flags
/// as registered), on this server; `public` commands go into `@chat`.
pub fn categories_for(flags: &str, public: bool) -> String {
    let mut out: Vec<&str> = Vec::new();
    if public && acl_categories() == AclCategories::Chat {
        out.push("chat");
    }
    let has = |flag: &str| flags.split(' ').any(|f| f == flag);
    if has("readonly") {
        out.push("read");
    }
    if has("write") {
        out.push("write");
    }
    out.push(if has("fast") { "fast" } else { "slow" });
    if has("pubsub") {
        out.push("pubsub");
    }
    if has("blocking") {
        out.push("blocking");
    }
    out.join(" ")
}

/// Puts a registered command into its ACL categories, where the server
/// can. Call during OnLoad.
pub fn set_categories(
    command: *mut raw::RedisModuleCommand,
    name: &str,
    flags: &str,
    public: bool,
) -> Result<(), String> {
    // SAFETY: reading a function pointer Redis filled in at load.
    let Some(set) = (unsafe { raw::RedisModule_SetCommandACLCategories }) else {
        return Ok(());
    };
    let categories = CString::new(categories_for(flags, public)).unwrap_or_default();
    // SAFETY: a command handle from RM_GetCommand and a C string alive for
    // the call; called during OnLoad.
    let status = unsafe { set(command, categories.as_ptr() as *const c_char) };
    if status == raw::REDISMODULE_OK as i32 {
        Ok(())
    } else {
        Err(format!(
            "the server refused the ACL categories {categories:?} of {name}"
        ))
    }
}

/// `CONFIG GET <name>`'s value, or `None` if the server has no such
/// setting.
pub fn config_get(ctx: Ctx, name: &CStr) -> Option<String> {
    // SAFETY: "cc" = two C string arguments; the reply is read, copied and
    // freed here.
    unsafe {
        let reply = api!(RedisModule_Call)(
            ctx,
            c"CONFIG".as_ptr(),
            c"cc".as_ptr(),
            c"GET".as_ptr(),
            name.as_ptr(),
        );
        if reply.is_null() {
            return None;
        }
        let value = api!(RedisModule_CallReplyArrayElement)(reply, 1);
        let text = (!value.is_null()).then(|| {
            let mut len = 0;
            let ptr = api!(RedisModule_CallReplyStringPtr)(value, &mut len);
            (!ptr.is_null()).then(|| {
                String::from_utf8_lossy(std::slice::from_raw_parts(ptr.cast::<u8>(), len))
                    .into_owned()
            })
        });
        api!(RedisModule_FreeCallReply)(reply);
        text.flatten()
    }
}
