//! A display name (a user's name, a room's title) kept in one allocation
//! with the name check of the value it belongs to: `wire::name_hash` of the
//! key the value was made under, which a value renamed or copied by hand
//! no longer matches. Four bytes that would otherwise make the room and
//! user structs one allocator size class bigger.

use serde::{Deserialize, Serialize};

/// The hash in the first four bytes (little endian), the text after them.
#[derive(Clone, PartialEq, Eq)]
pub struct Label(Box<[u8]>);

impl Label {
    pub fn new(origin: u32, text: &str) -> Self {
        Label([&origin.to_le_bytes()[..], text.as_bytes()].concat().into())
    }

    pub fn origin(&self) -> u32 {
        let mut head = [0u8; 4];
        for (to, from) in head.iter_mut().zip(self.0.iter()) {
            *to = *from;
        }
        u32::from_le_bytes(head)
    }

    pub fn text(&self) -> &str {
        // Made from a `&str` after four bytes: always UTF-8 there.
        std::str::from_utf8(self.0.get(4..).unwrap_or_default()).unwrap_or_default()
    }

    pub fn heap_bytes(&self) -> usize {
        super::alloc_size(self.0.len())
    }
}

impl std::fmt::Debug for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} (origin {:#x})", self.text(), self.origin())
    }
}

/// Encoded as the pair it stands for.
impl Serialize for Label {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.origin(), self.text()).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Label {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Borrowed: see `wire` on damaged lengths.
        let (origin, text) = <(u32, &'de str)>::deserialize(d)?;
        Ok(Label::new(origin, text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_keeps_both_and_encodes_as_the_pair() {
        let label = Label::new(0xdead_beef, "Général");
        assert_eq!((label.origin(), label.text()), (0xdead_beef, "Général"));
        let bytes = super::super::wire::encode(&label);
        assert_eq!(
            bytes,
            super::super::wire::encode(&(0xdead_beefu32, "Général"))
        );
        let back: Label = super::super::wire::decode_all(&bytes).unwrap();
        assert_eq!(back, label);
    }
}
