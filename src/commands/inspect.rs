//! CHAT.DUMP <key>: any chat key, room or user, as JSON, for people to
//! read (the values are binary). The password hash is never shown. A value
//! renamed or copied by hand shows too, under the name it has now.

use chat_core::data::{room_json, user_json, Room, User};
use chat_core::ChatError;

use super::Args;
use crate::reply::Reply;
use crate::store::{self, Access, Ctx};

/// CHAT.DUMP <key>: the JSON document, or nil for a missing key.
pub fn dump(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let id = std::str::from_utf8(args.first().copied().unwrap_or_default()).unwrap_or_default();
    let json = match store::inspect::<Room>(ctx, args.key(0)?, Access::Read) {
        Ok(room) => match room.get() {
            Some(r) => room_json(id, r),
            None => return Ok(Reply::Nil),
        },
        Err(ChatError::OtherKind { .. }) => {
            let user = store::inspect::<User>(ctx, args.key(0)?, Access::Read)?;
            match user.get() {
                Some(u) => user_json(id, u),
                None => return Ok(Reply::Nil),
            }
        }
        Err(error) => return Err(error),
    };
    Ok(Reply::Bulk(json.into_bytes()))
}
