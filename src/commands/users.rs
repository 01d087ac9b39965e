//! CHAT.REGISTER, CHAT.PROFILE, CHAT.ROOMS, CHAT.AUTH, CHAT.PASSWD
//!
//! A password is kept as an Argon2id hash in the user's value, and is never
//! replied, logged or shown in MONITOR or SLOWLOG (its argument is
//! redacted). Hashing runs on a background thread while the client waits
//! (`background.rs`); the write that follows runs on the main thread and
//! checks again everything it depends on, since other commands ran
//! meanwhile. Such a write is not a command's own, so it propagates itself:
//! the registration as `CHAT.AT <time> CHAT.REGISTER <user> <name>`, the
//! hash as `CHAT.SET-PASSWORD <user> <hash>`.

use chat_core::channels::presence_channel;
use chat_core::data::wire::name_hash;
use chat_core::data::User;
use chat_core::password::{self, SALT_BYTES};
use chat_core::request::{parse_user, Auth, Passwd, Register};
use chat_core::ChatError;

use super::{existing_user, open_new, Args};
use crate::background;
use crate::config::limits;
use crate::context;
use crate::replication;
use crate::reply::{field, Reply};
use crate::stats;
use crate::store::{self, api, writes_paused, Access, Ctx, Name, Opened};

/// CHAT.REGISTER <user> <name> [PASSWORD <password>]
pub fn register(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    // The password arguments were hidden from MONITOR and SLOWLOG by the
    // dispatcher (`redact_secrets`), before anything could refuse the call.
    let req = Register::parse(args, &limits())?;
    let user = req.user.as_str();
    // Fail fast, before any hashing, on a taken id or a key of another type.
    let key = open_new::<User>(ctx, args.key(0)?)?;
    let Some(secret) = req.password else {
        let mut key = key;
        create_user(&mut key, req.name, context::now())?;
        replication::at_now(
            ctx,
            &[b"CHAT.REGISTER", user.as_bytes(), req.name.as_bytes()],
        );
        return Ok(Reply::Ok);
    };
    drop(key);
    let salt = new_salt()?;
    let secret = secret.to_vec();
    let (user, name) = (user.to_owned(), req.name.to_owned());
    background::run(
        ctx,
        "chat.register",
        move || password::hash(&secret, &salt),
        move |ctx, hash| {
            let hash =
                hash.ok_or_else(|| ChatError::Internal("could not hash the password".into()))?;
            if writes_paused() {
                return Err(ChatError::WritesPaused);
            }
            // Registered by another client while the password was hashed?
            let mut key = open_new::<User>(ctx, Name::made(ctx, &user))?;
            let now = context::now();
            create_user(&mut key, &name, now)?;
            if let Some(value) = key.get_mut() {
                value.set_password(&hash);
            }
            replication::at(
                ctx,
                now,
                &[b"CHAT.REGISTER", user.as_bytes(), name.as_bytes()],
            );
            replication::set_password(ctx, &user, &hash);
            Ok(Reply::Ok)
        },
    )
}

fn create_user(key: &mut Opened<User>, name: &str, now: i64) -> Result<(), ChatError> {
    let origin = name_hash(key.name().as_bytes());
    key.create(User::new(origin, name, now))?;
    key.changed(c"chat.register");
    Ok(())
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
            let mut key = store::open_id::<User>(ctx, &user, Access::Write)?;
            let Some(value) = key.get_mut() else {
                return Err(ChatError::PasswordChanged);
            };
            if value.password().map(str::to_owned) != stored {
                return Err(ChatError::PasswordChanged);
            }
            value.set_password(&new_hash);
            key.changed(c"chat.passwd");
            replication::set_password(ctx, &user, &new_hash);
            Ok(Reply::Ok)
        },
    )
}

/// The user's password hash; None for an unknown user or one registered
/// without a password (both then fail like a wrong password).
fn stored_hash(ctx: Ctx, user: &str) -> Result<Option<String>, ChatError> {
    let key = store::open_id::<User>(ctx, user, Access::Read)?;
    Ok(key.get().and_then(User::password).map(str::to_owned))
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
    let id = parse_user("chat.profile", args)?;
    let key = store::open::<User>(ctx, args.key(0)?, Access::Read)?;
    let Some(user) = key.get() else {
        return Ok(Reply::Nil);
    };
    Ok(Reply::Map(vec![
        field("id", Reply::Bulk(id.as_str().as_bytes().to_vec())),
        field("name", Reply::Bulk(user.name().as_bytes().to_vec())),
        field("created", Reply::Int(user.created())),
        field("online", Reply::Int(i64::from(user.online(context::now())))),
        field(
            "presence_channel",
            Reply::Bulk(presence_channel(id.as_str())),
        ),
        field("notify", Reply::Bulk(user.notify().name().into())),
    ]))
}

/// CHAT.ROOMS <user>
pub fn rooms(ctx: Ctx, args: &Args) -> Result<Reply, ChatError> {
    parse_user("chat.rooms", args)?;
    let key = existing_user(ctx, args, 0, Access::Read)?;
    let rooms = key.value()?.rooms();
    Ok(Reply::bulks(rooms.map(|(r, _)| r.as_bytes().to_vec())))
}
