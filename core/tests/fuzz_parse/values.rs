//! The values the commands make or pass on: direct room ids (CHAT.DM),
//! the arguments CHAT.SEND propagates as CHAT.SEND-RESOLVED, and the
//! message documents of `chat_core::message`.

use chat_core::config::Limits;
use chat_core::delivery::DeliveryId;
use chat_core::error::ChatError;
use chat_core::ids::{direct_room, is_direct_room, tag_of};
use chat_core::message::Message;
use chat_core::replay::{push_inbox_copy, ResolvedSend};
use chat_core::request::Create;
use proptest::prelude::*;

use crate::check::{check_error, uid};
use crate::config;
use crate::generators::valid_id;
use crate::rules::{spec_direct, spec_id};

proptest! {
    #![proptest_config(config(5_000))]

    /// Every pair of users has one direct room, a valid room id that no
    /// other command may create, in the users' slot when they share one.
    #[test]
    fn direct_rooms(
        x in "(\\{[ab]\\})?[ab:]{1,4}|[a-z]{60,128}",
        y in "(\\{[ab]\\})?[ab:]{1,4}|[a-z]{60,128}",
        z in "(\\{[ab]\\})?[ab:]{1,4}",
    ) {
        prop_assume!(spec_id(x.as_bytes()) && spec_id(y.as_bytes()) && spec_id(z.as_bytes()));
        if x == y {
            let e = direct_room(uid(&x), uid(&y)).unwrap_err();
            check_error(&e)?;
            return Ok(());
        }
        let room = direct_room(uid(&x), uid(&y)).unwrap();
        prop_assert_eq!(&room, &direct_room(uid(&y), uid(&x)).unwrap());
        prop_assert!(spec_id(room.as_bytes()), "{}", room);
        prop_assert!(is_direct_room(&room) && spec_direct(room.as_bytes()), "{}", room);
        if tag_of(&x) == tag_of(&y) {
            prop_assert_eq!(tag_of(&room), tag_of(&x), "{} of {} and {}", room, x, y);
        }
        let a: Vec<&[u8]> = vec![room.as_bytes(), b"title"];
        prop_assert_eq!(Create::parse(&a, &Limits::default()), Err(ChatError::DirectRoomId));
        // Another pair never gets the same room.
        for (p, q) in [(&x, &z), (&y, &z)] {
            if p != q && z != x && z != y {
                prop_assert_ne!(&room, &direct_room(uid(p), uid(q)).unwrap());
            }
        }
    }

    /// What CHAT.SEND propagates (the message, the first id kept, its inbox
    /// copies, its DEDUP key, the message it replies to and the users it
    /// mentions) parses back on the replica. Without DEDUP but with a reply
    /// or mentions, the DEDUP pair is an empty key and 0; no reply is 0, no
    /// mentions an empty list.
    #[test]
    fn resolved_sends_round_trip(
        (r, u) in (valid_id(), valid_id()),
        text in any::<String>(),
        numbers in (0..=i64::MAX, 0..=i64::MAX, 0..=i64::MAX),
        copies in prop::collection::vec((valid_id(), any::<u64>(), any::<u64>(), 0..=i64::MAX as u64), 0..5),
        dedup in prop::option::of((prop::collection::vec(any::<u8>(), 0..40), 0..=i64::MAX)),
        extra in prop::option::of((
            prop_oneof![Just(0u64), 1..=i64::MAX as u64],
            prop::collection::vec(valid_id(), 0..6),
        )),
    ) {
        let mut packed = Vec::new();
        for (member, ms, seq, length) in &copies {
            push_inbox_copy(&mut packed, member, DeliveryId { ms: *ms, seq: *seq }, *length);
        }
        let (id, ts, first) = numbers;
        let mut args: Vec<Vec<u8>> = [r.as_bytes(), u.as_bytes(), text.as_bytes()]
            .into_iter()
            .map(<[u8]>::to_vec)
            .chain([id, ts, first].map(|n| n.to_string().into_bytes()))
            .chain([packed])
            .collect();
        match (&dedup, &extra) {
            (Some((key, until)), _) => {
                args.push(key.clone());
                args.push(until.to_string().into_bytes());
            }
            (None, Some(_)) => args.extend([Vec::new(), b"0".to_vec()]),
            (None, None) => {}
        }
        if let Some((reply, mentions)) = &extra {
            args.push(reply.to_string().into_bytes());
            args.push(mentions.join(",").into_bytes());
        }
        let a: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let parsed = ResolvedSend::parse(&a).unwrap();
        prop_assert_eq!((parsed.room.as_str(), parsed.sender.as_str()), (r.as_str(), u.as_str()));
        prop_assert_eq!(parsed.text, text.as_str());
        prop_assert_eq!((parsed.id, parsed.ts, parsed.first_kept), (id as u64, ts, first as u64));
        // An empty key is no DEDUP.
        let dedup = dedup.filter(|(key, _)| !key.is_empty());
        prop_assert_eq!(parsed.dedup.map(|(k, until)| (k.to_vec(), until)), dedup);
        let (reply, mentions) = extra.unwrap_or_default();
        prop_assert_eq!(parsed.extra.reply_to, (reply > 0).then_some(reply));
        prop_assert_eq!(&parsed.extra.mentions, &mentions);
        let got: Vec<_> = parsed
            .inbox_copies
            .iter()
            .map(|c| (c.member.as_str().to_string(), c.delivery.ms, c.delivery.seq, c.inbox_length))
            .collect();
        prop_assert_eq!(got, copies);
    }

    /// A message document is the documented JSON, whatever the text holds:
    /// `type`, `room`, `id`, `sender`, `text`, `ts`, then `edited` for an
    /// edited message, no text but `"deleted":true` for a tombstone, and
    /// FETCH's `delivery` last. Pages of documents are written into one
    /// buffer, each after what it holds.
    #[test]
    fn message_documents_are_the_documented_json(
        r in valid_id(),
        sender in valid_id(),
        text in prop_oneof![any::<String>(), "[\\x00-\\x1f\"\\\\/<>\u{2028}\u{7f}a]{0,12}"],
        id in any::<u64>(),
        ts in any::<i64>(),
        edited in prop::option::of(any::<i64>()),
        deleted in any::<bool>(),
        delivery in prop::option::of((any::<u64>(), any::<u64>())),
        before in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        let message = Message {
            room: r.as_str().into(),
            id,
            sender: sender.as_str().into(),
            text: text.as_str().into(),
            ts,
            edited,
            deleted,
            ..Message::default()
        };
        let delivery = delivery.map(|(ms, seq)| DeliveryId { ms, seq }.to_string());
        let s = |v: &str| serde_json::to_string(v).unwrap();
        let mut want = format!(r#"{{"type":"message","room":{},"id":{id},"sender":{}"#, s(&r), s(&sender));
        if deleted {
            want += &format!(r#","ts":{ts},"deleted":true"#);
        } else {
            want += &format!(r#","text":{},"ts":{ts}"#, s(&text));
            if let Some(at) = edited {
                want += &format!(r#","edited":{at}"#);
            }
        }
        if let Some(d) = &delivery {
            want += &format!(r#","delivery":{}"#, s(d));
        }
        want += "}";
        let got = match &delivery {
            Some(d) => message.to_json_with_delivery(d),
            None => message.to_json(),
        };
        prop_assert_eq!(String::from_utf8(got.clone()).ok(), Some(want.clone()));
        // It is JSON, and reads back to what went in.
        let v: serde_json::Value = serde_json::from_slice(&got).unwrap();
        prop_assert_eq!(v["text"].as_str(), (!deleted).then_some(text.as_str()));
        prop_assert_eq!(v["id"].as_u64(), Some(id));
        let mut buf = before.clone();
        message.write_json(delivery.as_deref(), &mut buf);
        prop_assert_eq!(&buf[..before.len()], &before[..]);
        prop_assert_eq!(&buf[before.len()..], want.as_bytes());
    }
}

/// A delivery above `i64::MAX` (a stream id a client may give an inbox with
/// XADD) survives the trip through CHAT.SEND-RESOLVED's copies, which the
/// replica and the AOF must accept, or the send would be lost there.
#[test]
pub(crate) fn resolved_copies_keep_deliveries_above_i64_max() {
    for delivery in [
        DeliveryId {
            ms: i64::MAX as u64 + 1,
            seq: 0,
        },
        DeliveryId {
            ms: 1,
            seq: u64::MAX,
        },
    ] {
        let mut copies = Vec::new();
        push_inbox_copy(&mut copies, "bob", delivery, 1);
        let args: [&[u8]; 7] = [b"r", b"alice", b"hi", b"1", b"2", b"1", &copies];
        let parsed = ResolvedSend::parse(&args)
            .unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(&copies)));
        assert_eq!(parsed.inbox_copies[0].delivery, delivery);
    }
}
