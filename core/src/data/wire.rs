//! bincode, as every chat encoding uses it: little-endian, varint integers
//! (signed ones zigzag-coded), lengths before strings and byte strings.

use bincode::config::{Configuration, Limit, LittleEndian, Varint};
use serde::{Deserialize, Serialize};

/// The largest value the module will decode: a room of a million messages
/// of the largest text is far below it, and no length read from damaged
/// bytes can make the decoder reserve more.
const MAX_VALUE_BYTES: usize = 1 << 34;

type Config = Configuration<LittleEndian, Varint, Limit<MAX_VALUE_BYTES>>;

const CONFIG: Config = bincode::config::standard().with_limit::<MAX_VALUE_BYTES>();

/// Appends the encoding of `value` to `out`.
pub fn encode_into<T: Serialize>(value: &T, out: &mut Vec<u8>) {
    // Writing to a Vec cannot fail, and every type encoded here is plain
    // data: an error would be a bug, and is dropped rather than panicking.
    let _ = bincode::serde::encode_into_std_write(value, out, CONFIG);
}

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(value, &mut out);
    out
}

/// Decodes a value that borrows its strings from `bytes`; returns it and
/// how many bytes it took.
pub fn decode_borrowed<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Option<(T, usize)> {
    bincode::serde::borrow_decode_from_slice(bytes, CONFIG).ok()
}

/// Decodes a whole value: every byte must belong to it.
pub fn decode_all<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, String> {
    match bincode::serde::borrow_decode_from_slice(bytes, CONFIG) {
        Ok((value, used)) if used == bytes.len() => Ok(value),
        Ok((_, used)) => Err(format!(
            "{} bytes left over after the value",
            bytes.len() - used
        )),
        Err(error) => Err(error.to_string()),
    }
}

// Strings and byte strings are decoded borrowed from the input, then
// copied: bincode reserves an owned string's length before it checks that
// the bytes are there, so a damaged length could make it reserve
// gigabytes. A borrowed one is checked against the input first.

/// `#[serde(with = "wire::bytes")]`: a `Vec<u8>` as one byte string (a
/// length and the bytes), not as a sequence of numbers.
pub mod bytes {
    use serde::de::{Error, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct Bytes;
        impl<'de> Visitor<'de> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
        }
        d.deserialize_bytes(Bytes)
    }
}

/// `#[serde(with = "wire::text")]`: a `Box<str>`, decoded borrowed.
pub mod text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Box<str>, D::Error> {
        <&'de str>::deserialize(d).map(Box::from)
    }
}

/// `#[serde(with = "wire::optional_text")]`: an `Option<Box<str>>`, decoded
/// borrowed.
pub mod optional_text {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(text: &Option<Box<str>>, s: S) -> Result<S::Ok, S::Error> {
        text.as_deref().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Box<str>>, D::Error> {
        <Option<&'de str>>::deserialize(d).map(|t| t.map(Box::from))
    }
}

/// `#[serde(with = "wire::boxed_bytes")]`: the same for a `Box<[u8]>`.
pub mod boxed_bytes {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Box<[u8]>, D::Error> {
        super::bytes::deserialize(d).map(Vec::into_boxed_slice)
    }
}

/// FNV-1a of a key name: what a value remembers of the name it was made
/// under, to notice that it was renamed or copied by hand.
pub fn name_hash(name: &[u8]) -> u32 {
    name.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample<'a> {
        n: i64,
        #[serde(borrow)]
        text: &'a str,
        #[serde(with = "bytes")]
        raw: Vec<u8>,
    }

    #[test]
    fn records_round_trip_and_small_numbers_are_small() {
        let s = Sample {
            n: -3,
            text: "hi",
            raw: vec![1, 2, 3],
        };
        let bytes = encode(&s);
        // zigzag(-3) = 5, one byte; "hi": length byte + 2; raw: 1 + 3.
        assert_eq!(bytes.len(), 1 + 3 + 4);
        assert_eq!(decode_all::<Sample>(&bytes), Ok(s));
    }

    #[test]
    fn damaged_bytes_are_refused() {
        let s = Sample {
            n: 300,
            text: "hello",
            raw: vec![9; 10],
        };
        let bytes = encode(&s);
        for cut in 0..bytes.len() {
            assert!(decode_all::<Sample>(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_all::<Sample>(&longer).is_err());
        // A length far past the end is an error, not a huge allocation.
        let huge = [0u8, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(decode_all::<Sample>(&huge).is_err());
    }

    #[test]
    fn a_damaged_length_reserves_nothing() {
        #[derive(Debug, Serialize, Deserialize)]
        struct Owned {
            #[serde(with = "text")]
            name: Box<str>,
            #[serde(with = "bytes")]
            raw: Vec<u8>,
        }
        // A length of about 3 GB with nothing after it: refused at once,
        // before anything is reserved for it.
        let claim = [0xfc, 0x00, 0x00, 0x00, 0xb8];
        assert!(decode_all::<Owned>(&claim).is_err());
        let mut after_name = encode(&("n",));
        after_name.extend_from_slice(&claim);
        assert!(decode_all::<Owned>(&after_name).is_err());
        let ok = encode(&Owned {
            name: "n".into(),
            raw: vec![1, 2],
        });
        let back: Owned = decode_all(&ok).unwrap();
        assert_eq!((&*back.name, back.raw), ("n", vec![1, 2]));
    }

    #[test]
    fn name_hashes_tell_names_apart() {
        assert_ne!(name_hash(b"general"), name_hash(b"generam"));
        assert_eq!(name_hash(b""), 0x811c_9dc5);
    }
}
