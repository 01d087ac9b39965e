//! The parsers' unit tests: what each command accepts, and the error for
//! what it does not.

use super::*;
use crate::error::IdKind;

fn args(s: &[&'static str]) -> Vec<&'static [u8]> {
    s.iter().map(|a| a.as_bytes()).collect()
}

#[test]
fn send_validates_everything_before_any_write() {
    let limits = Limits {
        max_text_bytes: 5,
        ..Limits::default()
    };
    let ok = args(&["r", "alice", "hello"]);
    let send = Send::parse(&ok, &limits).unwrap();
    assert_eq!(
        (send.room.as_str(), send.sender.as_str(), send.text),
        ("r", "alice", "hello")
    );

    let cases: Vec<(Vec<&[u8]>, ChatError)> = vec![
        (args(&["r", "alice", ""]), ChatError::EmptyText),
        (
            args(&["r", "alice", "toolong"]),
            ChatError::TextTooLong {
                what: "message text",
                len: 7,
                max: 5,
            },
        ),
        (
            vec![b"r", b"alice", b"\xc3("],
            ChatError::NotUtf8("message text"),
        ),
        (
            args(&["bad room", "alice", "hi"]),
            ChatError::InvalidId(IdKind::Room),
        ),
        (
            args(&["r", "bad user", "hi"]),
            ChatError::InvalidId(IdKind::User),
        ),
        (args(&["r", "alice"]), ChatError::WrongArity("chat.send")),
        (args(&["r", "alice", "hi", "extra"]), ChatError::Syntax),
    ];
    for (input, expected) in cases {
        assert_eq!(Send::parse(&input, &limits), Err(expected));
    }
}

#[test]
fn send_takes_an_optional_dedup_key() {
    let limits = Limits::default();
    let plain = args(&["r", "a", "hi"]);
    assert_eq!(Send::parse(&plain, &limits).unwrap().dedup, None);
    let with = args(&["r", "a", "hi", "dedup", "k-1"]);
    assert_eq!(
        Send::parse(&with, &limits).unwrap().dedup,
        Some(&b"k-1"[..])
    );
    let long = "k".repeat(DEDUP_KEY_MAX_BYTES + 1);
    let cases: Vec<(Vec<&[u8]>, ChatError)> = vec![
        (args(&["r", "a", "hi", "DEDUP"]), ChatError::Syntax),
        (args(&["r", "a", "hi", "DEDUP", ""]), ChatError::BadDedupKey),
        (
            vec![b"r", b"a", b"hi", b"DEDUP", long.as_bytes()],
            ChatError::BadDedupKey,
        ),
        (args(&["r", "a", "hi", "AGAIN", "x"]), ChatError::Syntax),
    ];
    for (input, expected) in cases {
        assert_eq!(Send::parse(&input, &limits), Err(expected));
    }
}

#[test]
fn read_state_and_changes_parse() {
    let raw = args(&["r", "u", "7"]);
    let r = Read::parse(&raw).unwrap();
    assert_eq!((r.room.as_str(), r.user.as_str(), r.id), ("r", "u", 7));
    assert!(Read::parse(&args(&["r", "u", "-1"])).is_err());
    assert!(Read::parse(&args(&["r", "u"])).is_err());
    assert!(Members::parse(&args(&["r", "withread"])).unwrap().with_read);
    assert!(!Members::parse(&args(&["r"])).unwrap().with_read);
    assert_eq!(
        Members::parse(&args(&["r", "WITH"])),
        Err(ChatError::Syntax)
    );
    let limits = Limits::default();
    let raw = args(&["r", "u", "3", "new"]);
    let e = Change::parse_edit(&raw, &limits).unwrap();
    assert_eq!((e.id, e.text), (3, Some("new")));
    assert_eq!(
        Change::parse_edit(&args(&["r", "u", "3", ""]), &limits),
        Err(ChatError::EmptyText)
    );
    assert!(Change::parse_edit(&args(&["r", "u", "0", "x"]), &limits).is_err());
    assert_eq!(
        Change::parse_delete(&args(&["r", "u", "3"])).unwrap().text,
        None
    );
    assert!(Change::parse_delete(&args(&["r", "u", "3", "x"])).is_err());
    let raw = args(&["a", "b"]);
    let d = Direct::parse(&raw).unwrap();
    assert_eq!((d.a.as_str(), d.b.as_str()), ("a", "b"));
}

#[test]
fn history_options() {
    let h = |s: &[&'static str]| History::parse(&args(s)).map(|h| (h.cursor, h.count));
    assert_eq!(h(&["r"]), Ok((Cursor::Latest, 50)));
    assert_eq!(h(&["r", "count", "3"]), Ok((Cursor::Latest, 3)));
    assert_eq!(
        h(&["r", "BEFORE", "10", "COUNT", "2"]),
        Ok((Cursor::Before(10), 2))
    );
    assert_eq!(
        h(&["r", "COUNT", "2", "after", "0"]),
        Ok((Cursor::After(0), 2))
    );
    assert_eq!(
        h(&["r", "BEFORE", "1", "AFTER", "2"]),
        Err(ChatError::Syntax)
    );
    assert_eq!(
        h(&["r", "AFTER", "2", "BEFORE", "1"]),
        Err(ChatError::Syntax)
    );
    assert_eq!(h(&["r", "SINCE", "2"]), Err(ChatError::Syntax));
    assert_eq!(h(&["r", "COUNT"]), Err(ChatError::Syntax));
    assert!(h(&["r", "COUNT", "0"]).is_err());
    assert!(h(&["r", "COUNT", "1001"]).is_err());
    assert!(h(&["r", "BEFORE", "-1"]).is_err());
    assert!(h(&["r", "AFTER", "x"]).is_err());
}

#[test]
fn fetch_options() {
    let f = |s: &[&'static str]| Fetch::parse(&args(s)).map(|f| (f.count, f.block_ms));
    assert_eq!(f(&["u"]), Ok((100, None)));
    assert_eq!(f(&["u", "BLOCK", "0"]), Ok((100, Some(0))));
    assert_eq!(f(&["u", "block", "250", "count", "7"]), Ok((7, Some(250))));
    assert_eq!(
        f(&["u", "BLOCK", "-1"]).unwrap_err().to_string(),
        format!("ERR BLOCK must be an integer from 0 to {BLOCK_MAX_MS}, got '-1'")
    );
    assert_eq!(f(&["u", "WAIT", "1"]), Err(ChatError::Syntax));
}

#[test]
fn ack_needs_a_delivery_handle() {
    let ok = args(&["u", "12-3"]);
    assert_eq!(
        Ack::parse(&ok).unwrap().delivery,
        DeliveryId { ms: 12, seq: 3 }
    );
    let bad = args(&["u", "12"]);
    assert_eq!(
        Ack::parse(&bad).unwrap_err().to_string(),
        "ERR invalid delivery '12': use a delivery string returned by CHAT.FETCH"
    );
}

#[test]
fn online_ttl_defaults_to_the_config() {
    let limits = Limits {
        presence_ttl_secs: 42,
        ..Limits::default()
    };
    assert_eq!(Online::parse(&args(&["u"]), &limits).unwrap().ttl_secs, 42);
    assert_eq!(
        Online::parse(&args(&["u", "TTL", "5"]), &limits)
            .unwrap()
            .ttl_secs,
        5
    );
    for bad in ["0", "86401", "-5", "five"] {
        assert!(Online::parse(&args(&["u", "TTL", bad]), &limits).is_err());
    }
}

#[test]
fn names_and_titles_must_be_utf8() {
    let limits = Limits::default();
    let bad: Vec<&[u8]> = vec![b"u", b"\xff"];
    assert_eq!(
        Register::parse(&bad, &limits),
        Err(ChatError::NotUtf8("name"))
    );
    assert_eq!(
        Create::parse(&bad, &limits),
        Err(ChatError::NotUtf8("title"))
    );
    let ok = args(&["u", "Ünïcode ok"]);
    assert_eq!(Register::parse(&ok, &limits).unwrap().name, "Ünïcode ok");
}

#[test]
fn register_takes_one_optional_password() {
    let limits = Limits::default();
    let with = args(&["u", "U", "password", "s3cret"]);
    let r = Register::parse(&with, &limits).unwrap();
    assert_eq!(r.password, Some(&b"s3cret"[..]));
    let without = args(&["u", "U"]);
    assert_eq!(Register::parse(&without, &limits).unwrap().password, None);
    let long: &'static str = Box::leak(
        "x".repeat(crate::password::MAX_PASSWORD_BYTES + 1)
            .into_boxed_str(),
    );
    for (bad, error) in [
        (vec!["u", "U", "PASSWORD"], ChatError::Syntax),
        (vec!["u", "U", "PASSWORD", ""], ChatError::BadPassword),
        (vec!["u", "U", "PASSWORD", long], ChatError::BadPassword),
        (
            vec!["u", "U", "PASSWORD", "a", "PASSWORD", "b"],
            ChatError::Syntax,
        ),
        (vec!["u", "U", "SECRET", "a"], ChatError::Syntax),
    ] {
        let bad = args(&bad);
        assert_eq!(Register::parse(&bad, &limits), Err(error));
    }
}

#[test]
fn auth_and_passwd_arguments() {
    let ok = args(&["u", "pw"]);
    let a = Auth::parse(&ok).unwrap();
    assert_eq!((a.user.as_str(), a.password), ("u", &b"pw"[..]));
    let short = args(&["u"]);
    assert_eq!(Auth::parse(&short), Err(ChatError::WrongArity("chat.auth")));
    let bad_id = args(&["bad id", "pw"]);
    assert_eq!(
        Auth::parse(&bad_id),
        Err(ChatError::InvalidId(crate::error::IdKind::User))
    );
    let ok = args(&["u", "old", "new"]);
    let p = Passwd::parse(&ok).unwrap();
    assert_eq!((p.old, p.new), (&b"old"[..], &b"new"[..]));
    let empty = args(&["u", "old", ""]);
    assert_eq!(Passwd::parse(&empty), Err(ChatError::BadPassword));
    let extra = args(&["u", "old", "new", "x"]);
    assert_eq!(
        Passwd::parse(&extra),
        Err(ChatError::WrongArity("chat.passwd"))
    );
}

#[test]
fn epoch_options() {
    let epoch = "9f3c0a1b22d4e5f6";
    let h = |s: &[&'static str]| {
        let raw = args(s);
        History::parse(&raw).map(|h| (h.cursor, h.epoch.map(str::to_string)))
    };
    let epoch = Some(epoch.to_string());
    assert_eq!(
        h(&["r", "AFTER", "7", "EPOCH", "9f3c0a1b22d4e5f6"]),
        Ok((Cursor::After(7), epoch.clone()))
    );
    assert_eq!(
        h(&["r", "epoch", "9f3c0a1b22d4e5f6"]),
        Ok((Cursor::Latest, epoch.clone()))
    );
    assert_eq!(h(&["r"]), Ok((Cursor::Latest, None)));
    for bad in [
        "",
        "9f3c",
        "9F3C0A1B22D4E5F6",
        "9f3c0a1b22d4e5f6a",
        "9f3c0a1b22d4e5fg",
    ] {
        let raw: Vec<&[u8]> = vec![b"r", b"EPOCH", bad.as_bytes()];
        assert_eq!(
            History::parse(&raw).map(|h| h.epoch),
            Err(ChatError::BadEpoch),
            "{bad:?}"
        );
    }
    assert_eq!(h(&["r", "EPOCH"]), Err(ChatError::Syntax));
    assert_eq!(
        h(&[
            "r",
            "EPOCH",
            "9f3c0a1b22d4e5f6",
            "EPOCH",
            "9f3c0a1b22d4e5f6"
        ]),
        Err(ChatError::Syntax),
        "once"
    );

    let raw = args(&["r", "4", "AFTER", "6", "EPOCH", "9f3c0a1b22d4e5f6"]);
    let t = Thread::parse(&raw).unwrap();
    assert_eq!(
        (t.root, t.after, t.epoch.map(str::to_string)),
        (4, Some(6), epoch)
    );
    assert_eq!(
        Thread::parse(&args(&["r", "4", "EPOCH", "nope"])).map(|t| t.epoch),
        Err(ChatError::BadEpoch)
    );

    let s = |s: &[&'static str]| Membership::parse_subscribe(&args(s)).map(|(_, with)| with);
    assert_eq!(s(&["r", "u"]), Ok(false));
    assert_eq!(s(&["r", "u", "withepoch"]), Ok(true));
    assert_eq!(
        s(&["r", "u", "WITHEPOCH", "WITHEPOCH"]),
        Err(ChatError::Syntax)
    );
    assert_eq!(s(&["r", "u", "WITHEPOCHS"]), Err(ChatError::Syntax));

    let c = |s: &[&'static str]| Channels::parse(&args(s)).map(|c| (c.presence, c.with_epochs));
    assert_eq!(c(&["u"]), Ok((false, false)));
    assert_eq!(c(&["u", "WITHEPOCHS", "PRESENCE"]), Ok((true, true)));
    assert_eq!(c(&["u", "presence", "withepochs"]), Ok((true, true)));
    assert_eq!(c(&["u", "WITHEPOCH"]), Err(ChatError::Syntax));
}
