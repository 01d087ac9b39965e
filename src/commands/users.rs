//! CHAT.REGISTER, CHAT.PROFILE, CHAT.ROOMS, CHAT.AUTH, CHAT.PASSWD
//!
//! A password is kept as an Argon2id hash in the `password` field of the
//! user's profile hash, and is never replied, logged or shown in MONITOR or
//! SLOWLOG (its argument is redacted). Hashing runs on a background thread
//! while the client waits (`background.rs`); the write that follows runs on
//! the main thread and checks again everything it depends on, since other
//! commands ran meanwhile.

use chat_core::keys::UserKey;
use chat_core::password::{self, SALT_BYTES};
use chat_core::request::{parse_user, Auth, Passwd, Register};
use chat_core::ChatError;

use super::{require_user, Args};
use crate::background;
use crate::config::limits;
use crate::reply::{field, Reply};
use crate::stats;
use crate::store::{api, now_ms, writes_paused, Ctx, Key, Kind, RStr};

const PASSWORD_FIELD: &[u8] = b"password";

/// CHAT.REGISTER <user> <name> [PASSWORD <password>]
pub fn register(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    // The password arguments were hidden from MONITOR and SLOWLOG by the
    // dispatcher (`redact_secrets`), before anything could refuse the call.
    let req = Register::parse(args, &limits())?;
    // Fail fast, before any hashing, on a taken id or a key of the wrong type.
    if Key::read(ctx, &UserKey::Profile.of(req.user.as_str()), Kind::Hash)?.exists() {
        return Err(ChatError::UserExists);
    }
    let Some(secret) = req.password else {
        return write_profile(ctx, req.user.as_str(), req.name, None);
    };
    let salt = new_salt()?;
    let secret = secret.to_vec();
    let (user, name) = (req.user.as_str().to_owned(), req.name.to_owned());
    background::run(
        ctx,
        "chat.register",
        move || password::hash(&secret, &salt),
        move |ctx, hash| {
            let hash =
                hash.ok_or_else(|| ChatError::Internal("could not hash the password".into()))?;
            write_profile(ctx, &user, &name, Some(&hash))
        },
    )
}

fn write_profile(ctx: Ctx, user: &str, name: &str, hash: Option<&str>) -> Result<Reply, ChatError> {
    if writes_paused() {
        return Err(ChatError::WritesPaused);
    }
    let profile = Key::write(ctx, &UserKey::Profile.of(user), Kind::Hash)?;
    if profile.exists() {
        // Registered by another client while the password was hashed.
        return Err(ChatError::UserExists);
    }
    let name = RStr::new(ctx, name.as_bytes());
    let created = RStr::from_int(ctx, now_ms());
    let (name_field, created_field) = (RStr::new(ctx, b"name"), RStr::new(ctx, b"created"));
    let mut fields = vec![
        (name_field.ptr(), name.ptr()),
        (created_field.ptr(), created.ptr()),
    ];
    let hash = hash.map(|h| (RStr::new(ctx, PASSWORD_FIELD), RStr::new(ctx, h.as_bytes())));
    if let Some((f, v)) = &hash {
        fields.push((f.ptr(), v.ptr()));
    }
    profile.hash_set(&fields);
    Ok(Reply::Ok)
}

/// CHAT.AUTH <user> <password>
pub fn auth(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Auth::parse(args)?;
    let user = req.user.as_str().to_owned();
    let stored = stored_hash(ctx, &user)?;
    let secret = req.password.to_vec();
    let checked = stored.clone();
    background::run(
        ctx,
        "chat.auth",
        move || password::verify(checked.as_deref().unwrap_or(password::DECOY), &secret),
        move |ctx, matched| {
            // The hash checked must still be the user's: a password changed
            // or a user removed meanwhile makes the old password wrong.
            if matched && stored.is_some() && stored_hash(ctx, &user)? == stored {
                stats::add(&stats::AUTH_SUCCESSES, 1);
                Ok(Reply::Ok)
            } else {
                stats::add(&stats::AUTH_FAILURES, 1);
                Err(ChatError::BadCredentials)
            }
        },
    )
}

/// CHAT.PASSWD <user> <old-password> <new-password>
pub fn passwd(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let req = Passwd::parse(args)?;
    let user = req.user.as_str().to_owned();
    let stored = stored_hash(ctx, &user)?;
    let (old, new) = (req.old.to_vec(), req.new.to_vec());
    let salt = new_salt()?;
    let checked = stored.clone();
    background::run(
        ctx,
        "chat.passwd",
        move || {
            let known = checked.as_deref().unwrap_or(password::DECOY);
            match password::verify(known, &old) {
                true => password::hash(&new, &salt).map(Some),
                false => Some(None),
            }
        },
        move |ctx, outcome| {
            let new_hash = match outcome {
                Some(Some(hash)) if stored.is_some() => hash,
                Some(_) => {
                    stats::add(&stats::AUTH_FAILURES, 1);
                    return Err(ChatError::BadCredentials);
                }
                None => return Err(ChatError::Internal("could not hash the password".into())),
            };
            if writes_paused() {
                return Err(ChatError::WritesPaused);
            }
            let profile = Key::write(ctx, &UserKey::Profile.of(&user), Kind::Hash)?;
            if password_of(&profile) != stored {
                return Err(ChatError::PasswordChanged);
            }
            let (f, v) = (
                RStr::new(ctx, PASSWORD_FIELD),
                RStr::new(ctx, new_hash.as_bytes()),
            );
            profile.hash_set(&[(f.ptr(), v.ptr())]);
            Ok(Reply::Ok)
        },
    )
}

/// The user's password hash; None for an unknown user or one registered
/// without a password (both then fail like a wrong password).
fn stored_hash(ctx: Ctx, user: &str) -> Result<Option<String>, ChatError> {
    let profile = Key::read(ctx, &UserKey::Profile.of(user), Kind::Hash)?;
    Ok(password_of(&profile))
}

/// The password hash in an open profile hash.
fn password_of(profile: &Key) -> Option<String> {
    profile
        .hash_get(PASSWORD_FIELD)
        .map(|h| String::from_utf8_lossy(&h).into_owned())
}

fn new_salt() -> Result<[u8; SALT_BYTES], ChatError> {
    let mut salt = [0u8; SALT_BYTES];
    getrandom::fill(&mut salt)
        .map_err(|e| ChatError::Internal(format!("no random salt available: {e}")))?;
    Ok(salt)
}

/// Hides the password arguments of `command` from MONITOR and SLOWLOG.
/// Runs before every other check, so that a refused or mistyped call is
/// hidden too.
pub fn redact_secrets(ctx: Ctx, command: &str, args: &[&[u8]]) {
    for pos in password::secret_positions(command, args) {
        // SAFETY: live context of the command being run; Redis ignores a
        // position past the last argument.
        unsafe { api!(RedisModule_RedactClientCommandArgument)(ctx, pos as std::ffi::c_int) };
    }
}

/// CHAT.PROFILE <user>
pub fn profile(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let user = parse_user("chat.profile", args)?;
    let profile = Key::read(ctx, &UserKey::Profile.of(user.as_str()), Kind::Hash)?;
    if !profile.exists() {
        return Ok(Reply::Nil);
    }
    Ok(Reply::Map(vec![
        field("id", Reply::Bulk(user.as_str().as_bytes().to_vec())),
        field(
            "name",
            Reply::Bulk(profile.hash_get(b"name").unwrap_or_default()),
        ),
        field(
            "created",
            Reply::Int(profile.hash_get_int(b"created")?.unwrap_or(0)),
        ),
    ]))
}

/// CHAT.ROOMS <user>
pub fn rooms(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    let user = parse_user("chat.rooms", args)?;
    require_user(ctx, user.as_str())?;
    let rooms = Key::read(ctx, &UserKey::Rooms.of(user.as_str()), Kind::Hash)?;
    Ok(Reply::bulks(rooms.hash_fields()))
}
