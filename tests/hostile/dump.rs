//! Chat values crafted byte by byte and given to RESTORE: the DUMP payload
//! of a chat value taken apart and put together again.
//!
//! A DUMP payload of a chat value is the RDB encoding of a module value:
//! the type byte 7 (RDB_TYPE_MODULE_2), the module type id (0x81 and 8
//! bytes), the opcode 5 (a string buffer), the string (an RDB length, then
//! the value's bytes, which the module encodes with bincode), the opcode 0
//! (EOF), then the RDB version (2 bytes) and a CRC-64 of all that (8 bytes,
//! little-endian). RESTORE checks the CRC, so a crafted payload needs it
//! right.

use redis::{Connection, Value};

use crate::common::*;

/// `body` with its CRC appended: a payload RESTORE reads.
pub(crate) fn sealed(mut body: Vec<u8>) -> Vec<u8> {
    let crc = crc64(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// An RDB length.
pub(crate) fn rdb_len(n: usize) -> Vec<u8> {
    match n {
        0..=63 => vec![n as u8],
        64..=16383 => vec![0x40 | (n >> 8) as u8, n as u8],
        _ if n <= u32::MAX as usize => [&[0x80][..], &(n as u32).to_be_bytes()].concat(),
        _ => [&[0x81][..], &(n as u64).to_be_bytes()].concat(),
    }
}

/// Reads an RDB length at `at`, and moves past it.
fn read_rdb_len(bytes: &[u8], at: &mut usize) -> usize {
    let first = bytes[*at];
    *at += 1;
    let wide = |at: &mut usize, n: usize| {
        let mut v = 0usize;
        for &b in &bytes[*at..*at + n] {
            v = (v << 8) | b as usize;
        }
        *at += n;
        v
    };
    match first {
        0x00..=0x3f => first as usize,
        0x40..=0x7f => ((first & 0x3f) as usize) << 8 | wide(at, 1),
        0x80 => wide(at, 4),
        0x81 => wide(at, 8),
        _ => panic!("not a plain RDB length: {first:#x} (is rdbcompression off?)"),
    }
}

/// A DUMP payload of a chat value, in parts.
#[derive(Clone)]
pub(crate) struct Payload {
    /// Type byte, module type id, string opcode.
    pub(crate) head: Vec<u8>,
    /// The module's bytes.
    pub(crate) value: Vec<u8>,
    /// EOF opcode and RDB version.
    pub(crate) tail: Vec<u8>,
}

impl Payload {
    pub(crate) fn parse(payload: &[u8]) -> Payload {
        let (body, crc) = payload.split_at(payload.len() - 8);
        assert_eq!(
            u64::from_le_bytes(crc.try_into().unwrap()),
            crc64(body),
            "the payload ends with the CRC-64 of the rest"
        );
        assert_eq!(body[0], 7, "RDB_TYPE_MODULE_2");
        assert_eq!(body[1], 0x81, "a 64-bit module type id");
        assert_eq!(body[10], 5, "RDB_MODULE_OPCODE_STRING");
        let mut at = 11;
        let len = read_rdb_len(body, &mut at);
        let value = body[at..at + len].to_vec();
        let tail = body[at + len..].to_vec();
        assert_eq!(tail.len(), 3, "the EOF opcode and the RDB version");
        assert_eq!(tail[0], 0, "RDB_MODULE_OPCODE_EOF");
        Payload {
            head: body[..11].to_vec(),
            value,
            tail,
        }
    }

    /// The payload carrying `value`, with its length and CRC right.
    pub(crate) fn with_value(&self, value: &[u8]) -> Vec<u8> {
        let mut body = self.head.clone();
        body.extend(rdb_len(value.len()));
        body.extend_from_slice(value);
        body.extend_from_slice(&self.tail);
        sealed(body)
    }

    /// Everything but the CRC, as DUMP made it.
    pub(crate) fn body(&self) -> Vec<u8> {
        let whole = self.with_value(&self.value);
        whole[..whole.len() - 8].to_vec()
    }
}

/// DUMP of `key`, with its string not LZF-compressed (so that it can be
/// taken apart).
pub(crate) fn dump_payload(con: &mut Connection, key: &str) -> Vec<u8> {
    q(con, &["CONFIG", "SET", "rdbcompression", "no"]);
    match q(con, &["DUMP", key]) {
        Value::BulkString(payload) => payload,
        other => panic!("DUMP {key}: {other:?}"),
    }
}

/// FNV-1a of a key name: what a chat value keeps of the name it was made
/// under (its first field, `origin`), to refuse itself under another.
fn name_hash(name: &[u8]) -> u32 {
    name.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// An unsigned integer as bincode's varint writes it.
pub(crate) fn varint(n: u64) -> Vec<u8> {
    match n {
        0..=250 => vec![n as u8],
        251..=0xffff => [&[251][..], &(n as u16).to_le_bytes()].concat(),
        0x1_0000..=0xffff_ffff => [&[252][..], &(n as u32).to_le_bytes()].concat(),
        _ => [&[253][..], &n.to_le_bytes()].concat(),
    }
}

/// How many bytes the varint at the start of `bytes` takes.
pub(crate) fn varint_len(bytes: &[u8]) -> usize {
    match bytes.first() {
        Some(0..=250) => 1,
        Some(251) => 3,
        Some(252) => 5,
        Some(253) => 9,
        _ => 17,
    }
}

/// A value's bytes made for key `name`: its origin replaced by the hash
/// of `name`, so that commands act on it there.
pub(crate) fn value_for_name(value: &[u8], name: &str) -> Vec<u8> {
    let rest = &value[varint_len(value).min(value.len())..];
    [varint(u64::from(name_hash(name.as_bytes()))), rest.to_vec()].concat()
}
