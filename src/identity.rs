//! Who a connection may act as (`chat.identity`).
//!
//! In `trust` mode (the default) the app server is the only client and acts
//! for every user, so nothing is checked. In `acl` mode each connection is an
//! end user, signed in with Redis's own `AUTH <user> <password>`: it may act
//! only as the chat user whose id equals its ACL user name, and read only
//! rooms that user is a member of. ACL users listed in `chat.admins` act for
//! anyone. Each command's rule is declared in the command table.

use chat_core::config::Identity;
use chat_core::ChatError;

use crate::commands::is_member;
use crate::config;
use crate::context;
use crate::stats;
use crate::store::{api, bytes_of, Ctx};

/// Who may run a command in `acl` mode. Positions count the command's
/// arguments from 1, as in the command table's key positions.
#[derive(Clone, Copy, Debug)]
pub enum Who {
    /// Any connection: the command acts for nobody and reads nothing private.
    Anyone,
    /// The chat user named at this position, and admins.
    User(usize),
    /// Either of the chat users named at these positions, and admins.
    EitherUser(usize, usize),
    /// The members of the room named at this position, and admins.
    Member(usize),
    /// Admins only.
    Admin,
}

/// Refuses the command with `NOPERM` unless the connection may run it with
/// these arguments. `args` are the arguments after the command name.
pub fn check(ctx: Ctx, who: Who, command: &'static str, args: &[&[u8]]) -> Result<(), ChatError> {
    if matches!(who, Who::Anyone) || config::identity() == Identity::Trust {
        return Ok(());
    }
    if context::replaying() {
        // From the primary or the AOF: checked when it first ran.
        return Ok(());
    }
    let Some(acl_user) = current_acl_user(ctx) else {
        // Only Redis's internal clients have no user; they are trusted.
        return Ok(());
    };
    if config::is_admin(&acl_user) {
        return Ok(());
    }
    let arg = |pos: usize| args.get(pos.wrapping_sub(1)).copied().unwrap_or_default();
    let refusal = match who {
        Who::Anyone => None,
        Who::User(pos) => (arg(pos) != acl_user.as_bytes()).then(|| ChatError::NotYourself {
            acl_user: acl_user.clone(),
            wanted: String::from_utf8_lossy(arg(pos)).into_owned(),
        }),
        Who::EitherUser(a, b) => {
            let me = acl_user.as_bytes();
            (arg(a) != me && arg(b) != me).then(|| ChatError::NotYourself {
                acl_user: acl_user.clone(),
                wanted: String::from_utf8_lossy(arg(a)).into_owned(),
            })
        }
        Who::Member(pos) => {
            let room = String::from_utf8_lossy(arg(pos)).into_owned();
            (!is_member(ctx, &room, &acl_user)?).then(|| ChatError::NotInRoom {
                acl_user: acl_user.clone(),
                room,
            })
        }
        Who::Admin => Some(ChatError::AdminOnly {
            acl_user: acl_user.clone(),
            command,
        }),
    };
    match refusal {
        None => Ok(()),
        Some(error) => {
            stats::add(&stats::IDENTITY_REFUSALS, 1);
            Err(error)
        }
    }
}

/// In `acl` mode, refuses with `NOPERM` unless the connection acts as chat
/// user `user` (its ACL user is named so, or is in `chat.admins`): for a
/// user named inside an option, such as CHAT.CREATE's OWNER.
pub fn check_acting_as(ctx: Ctx, user: &str) -> Result<(), ChatError> {
    check(ctx, Who::User(1), "", &[user.as_bytes()])
}

/// The ACL user name of the connection running the command.
fn current_acl_user(ctx: Ctx) -> Option<String> {
    // SAFETY: live context; the returned string is ours to free.
    let name = unsafe { api!(RedisModule_GetCurrentUserName)(ctx) };
    if name.is_null() {
        return None;
    }
    let user = String::from_utf8_lossy(bytes_of(name)).into_owned();
    // SAFETY: made by RM_GetCurrentUserName above and freed once.
    unsafe { api!(RedisModule_FreeString)(ctx, name) };
    Some(user)
}
