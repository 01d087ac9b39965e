//! CHAT.MODERATION: a moderator's view of a room.

use redis::Value;

use crate::common::*;
use crate::owned_room;

#[test]
fn the_view_shows_roles_invitations_and_what_is_in_force() {
    let server = Server::start();
    let mut con = server.conn();
    for u in ["dave", "eve", "frank"] {
        q(&mut con, &["CHAT.REGISTER", u, u]);
    }
    owned_room(&mut con, "r", "alice", &["bob", "carol"]);
    q(&mut con, &["CHAT.ROLE", "r", "alice", "bob", "admin"]);
    q(&mut con, &["CHAT.INVITE", "r", "bob", "dave"]);
    q(
        &mut con,
        &["CHAT.MUTE", "r", "bob", "carol", "SECONDS", "600"],
    );
    q(&mut con, &["CHAT.BAN", "r", "alice", "eve"]);
    q(
        &mut con,
        &["CHAT.BAN", "r", "alice", "frank", "SECONDS", "1"],
    );
    q(&mut con, &["CHAT.SLOWMODE", "r", "alice", "10"]);
    let view = q(&mut con, &["CHAT.MODERATION", "r"]);
    let names: Vec<String> = pairs(&view).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        names,
        ["private", "slowmode", "roles", "invites", "bans", "mutes"]
    );
    assert_eq!(int(&field(&view, "private")), 0);
    assert_eq!(int(&field(&view, "slowmode")), 10);
    let roles: Vec<(String, String)> = pairs(&field(&view, "roles"))
        .into_iter()
        .map(|(u, r)| (u, text(&r)))
        .collect();
    assert_eq!(
        roles,
        [
            ("alice".to_string(), "owner".to_string()),
            ("bob".to_string(), "admin".to_string())
        ]
    );
    let invites = pairs(&field(&view, "invites"));
    assert_eq!(invites.len(), 1);
    assert_eq!(invites[0].0, "dave");
    assert!(int(&invites[0].1) > 1_700_000_000_000);
    // eve until UNBAN (nil), frank for a second.
    let bans = pairs(&field(&view, "bans"));
    assert_eq!(bans.len(), 2);
    assert_eq!(bans[0], ("eve".to_string(), Value::Nil));
    assert_eq!(bans[1].0, "frank");
    let mutes = pairs(&field(&view, "mutes"));
    assert_eq!(mutes[0].0, "carol");
    let until = int(&mutes[0].1);
    let left = until - now_ms();
    assert!((590_000..=600_000).contains(&left), "{left}");
    // An ended ban leaves the view (before the room forgets it).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let view = q(&mut con, &["CHAT.MODERATION", "r"]);
    let bans: Vec<String> = pairs(&field(&view, "bans"))
        .into_iter()
        .map(|(u, _)| u)
        .collect();
    assert_eq!(bans, ["eve"]);
    // A room nobody moderates has an empty view; a missing room is an error.
    q(&mut con, &["CHAT.CREATE", "open", "Open"]);
    let view = q(&mut con, &["CHAT.MODERATION", "open"]);
    assert!(pairs(&field(&view, "roles")).is_empty());
    assert!(err(&mut con, &["CHAT.MODERATION", "nowhere"]).starts_with("ERR no such room"));
}
