//! Replies of the module, decoded into plain Rust values.
//!
//! Every decoder takes a `redis::Value` and returns an [`Error::Reply`] for
//! a shape it does not expect, never panics. Maps come as RESP3 maps or as
//! the flat field/value arrays RESP2 connections get.

use std::collections::BTreeMap;

use redis::Value;
use serde_json::Value as Json;

use crate::error::{Error, Result};

/// A string reply (bulk, simple or verbatim), as UTF-8.
pub(crate) fn string(v: Value) -> Result<String> {
    match v {
        Value::BulkString(b) => {
            String::from_utf8(b).map_err(|_| Error::Reply("a reply that is not UTF-8".into()))
        }
        Value::SimpleString(s) => Ok(s),
        Value::VerbatimString { text, .. } => Ok(text),
        Value::Okay => Ok("OK".into()),
        other => Err(Error::reply("a string", &other)),
    }
}

/// An integer reply (or a bulk string holding one).
pub(crate) fn int(v: Value) -> Result<i64> {
    match v {
        Value::Int(n) => Ok(n),
        Value::BulkString(ref b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::reply("an integer", &v)),
        other => Err(Error::reply("an integer", &other)),
    }
}

/// A non-negative integer reply: ids, counts, cursors.
pub(crate) fn count(v: Value) -> Result<u64> {
    let n = int(v)?;
    u64::try_from(n).map_err(|_| Error::Reply(format!("wanted a count, got {n}")))
}

/// An array of strings; nil is an empty array.
pub(crate) fn strings(v: Value) -> Result<Vec<String>> {
    match v {
        Value::Array(items) | Value::Set(items) => items.into_iter().map(string).collect(),
        Value::Nil => Ok(Vec::new()),
        other => Err(Error::reply("an array", &other)),
    }
}

/// An array of JSON documents (CHAT.HISTORY, CHAT.FETCH).
pub(crate) fn documents(v: Value) -> Result<Vec<Json>> {
    strings(v)?.iter().map(|s| document(s.as_bytes())).collect()
}

/// One JSON document, as the module publishes and stores them.
pub(crate) fn document(bytes: &[u8]) -> Result<Json> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::Reply(format!("a document that is not JSON ({e})")))
}

/// A map reply: field -> value, from RESP3 maps or RESP2 flat arrays.
pub(crate) fn map(v: Value) -> Result<BTreeMap<String, Value>> {
    let pairs: Vec<(Value, Value)> = match v {
        Value::Map(kv) => kv,
        Value::Array(items) => {
            if items.len() % 2 != 0 {
                return Err(Error::Reply("a map with an odd length".into()));
            }
            let mut it = items.into_iter();
            let mut kv = Vec::new();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                kv.push((k, v));
            }
            kv
        }
        Value::Nil => Vec::new(),
        other => return Err(Error::reply("a map", &other)),
    };
    pairs
        .into_iter()
        .map(|(k, v)| Ok((string(k)?, v)))
        .collect()
}

/// Field `name` of a map reply, as a count.
pub(crate) fn count_field(fields: &mut BTreeMap<String, Value>, name: &str) -> Result<u64> {
    match fields.remove(name) {
        Some(v) => count(v),
        None => Err(Error::Reply(format!("a map without '{name}'"))),
    }
}

/// Field `name` of a map reply, as a count; 0 when the map lacks it.
pub(crate) fn count_field_or_zero(fields: &mut BTreeMap<String, Value>, name: &str) -> Result<u64> {
    fields.remove(name).map_or(Ok(0), count)
}

/// The id of a message document.
pub(crate) fn message_id(doc: &Json) -> Option<u64> {
    doc.get("id").and_then(Json::as_u64)
}

/// Whether a document is a gap: messages removed by retention (`after`,
/// `before`), or inbox copies dropped (`dropped`, `delivery`).
pub(crate) fn is_gap(doc: &Json) -> bool {
    doc.get("type").and_then(Json::as_str) == Some("gap")
}

/// The epoch and last id of a reset document (`{"type": "reset", "room",
/// "epoch", "last_id"}`): the room's ids were handed out again after some
/// point, so those a client holds may name other messages now.
pub(crate) fn reset_of(doc: &Json) -> Option<(String, u64)> {
    if doc.get("type").and_then(Json::as_str) != Some("reset") {
        return None;
    }
    let epoch = doc.get("epoch").and_then(Json::as_str)?;
    let last_id = doc.get("last_id").and_then(Json::as_u64)?;
    Some((epoch.to_string(), last_id))
}

/// The id just before the oldest message a history gap says is kept.
pub(crate) fn gap_end(doc: &Json) -> Option<u64> {
    let before = doc.get("before").and_then(Json::as_u64)?;
    is_gap(doc).then(|| before.saturating_sub(1))
}

/// Where the next history page starts: after the last message of this
/// one, or past a gap that ends it.
pub(crate) fn resume_after(page: &[Json]) -> Option<u64> {
    page.iter()
        .rev()
        .find_map(|doc| gap_end(doc).or_else(|| message_id(doc)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn maps_from_both_protocols() {
        let flat = Value::Array(vec![bulk("cursor"), Value::Int(3)]);
        let resp3 = Value::Map(vec![(bulk("cursor"), Value::Int(3))]);
        for v in [flat, resp3] {
            let mut m = map(v).unwrap();
            assert_eq!(count_field(&mut m, "cursor").unwrap(), 3);
            assert!(count_field(&mut m, "cursor").is_err());
        }
        assert!(map(Value::Array(vec![bulk("odd")])).is_err());
    }

    #[test]
    fn shapes_that_do_not_fit_are_errors_not_panics() {
        assert!(int(bulk("x")).is_err());
        assert!(count(Value::Int(-1)).is_err());
        assert!(string(Value::Int(1)).is_err());
        assert!(strings(Value::Int(1)).is_err());
        assert!(documents(Value::Array(vec![bulk("{not json")])).is_err());
        assert_eq!(strings(Value::Nil).unwrap(), Vec::<String>::new());
        assert_eq!(int(bulk("42")).unwrap(), 42);
    }

    #[test]
    fn message_ids() {
        let doc: Json = serde_json::json!({"type": "message", "id": 7});
        assert_eq!(message_id(&doc), Some(7));
        assert_eq!(message_id(&serde_json::json!({"id": "7"})), None);
    }

    #[test]
    fn gaps_and_where_pages_resume() {
        let gap = serde_json::json!({"type": "gap", "room": "r", "after": 3, "before": 120});
        let inbox = serde_json::json!({"type": "gap", "dropped": 17, "delivery": "1-3"});
        let msg = serde_json::json!({"type": "message", "id": 121});
        assert!(is_gap(&gap) && is_gap(&inbox) && !is_gap(&msg));
        assert_eq!(
            (gap_end(&gap), gap_end(&inbox), gap_end(&msg)),
            (Some(119), None, None)
        );
        assert_eq!(resume_after(&[gap.clone(), msg.clone()]), Some(121));
        assert_eq!(resume_after(std::slice::from_ref(&gap)), Some(119));
        assert_eq!(resume_after(&[]), None);
        let reset =
            serde_json::json!({"type": "reset", "room": "r", "epoch": "9f", "last_id": 120});
        assert_eq!(reset_of(&reset), Some(("9f".into(), 120)));
        assert_eq!((reset_of(&gap), reset_of(&msg)), (None, None));
        assert_eq!(resume_after(&[reset.clone(), msg.clone()]), Some(121));
        assert_eq!(resume_after(&[reset]), None);
        let mut m = map(Value::Array(vec![bulk("unread"), Value::Int(2)])).unwrap();
        assert_eq!(count_field_or_zero(&mut m, "mentions").unwrap(), 0);
        assert_eq!(count_field_or_zero(&mut m, "unread").unwrap(), 2);
    }
}
