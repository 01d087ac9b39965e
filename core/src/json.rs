//! The little JSON the module writes: objects of strings and integers.
//!
//! Message documents are written straight into a byte buffer, once per send;
//! nothing here parses JSON.

/// Appends `s` as a JSON string literal (quotes included).
pub fn push_str(out: &mut Vec<u8>, s: &str) {
    let needs_escape = |b: &u8| *b < 0x20 || *b == b'"' || *b == b'\\';
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut rest = s.as_bytes();
    // Copy runs of plain bytes whole; most texts have no byte to escape.
    while let Some(at) = rest.iter().position(needs_escape) {
        out.extend_from_slice(&rest[..at]);
        push_escaped(out, rest[at]);
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

fn push_escaped(out: &mut Vec<u8>, b: u8) {
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        _ => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        }
    }
}

/// Appends a decimal integer.
pub fn push_int(out: &mut Vec<u8>, n: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Writes one JSON object field by field, in the order they are added.
pub struct ObjectWriter<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> ObjectWriter<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        ObjectWriter { out, first: true }
    }

    /// Field names are the module's own constants, which need no escaping
    /// (checked in debug builds).
    fn key(&mut self, key: &str) {
        debug_assert!(!key.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\'));
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    pub fn str(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        push_str(self.out, value);
        self
    }

    pub fn int(mut self, key: &str, value: i64) -> Self {
        self.key(key);
        push_int(self.out, value);
        self
    }

    pub fn bool(mut self, key: &str, value: bool) -> Self {
        self.key(key);
        self.out
            .extend_from_slice(if value { b"true" } else { b"false" });
        self
    }

    pub fn finish(self) {
        self.out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(s: &str) -> String {
        let mut out = Vec::new();
        push_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_round_trip_through_a_real_json_parser() {
        for s in [
            "",
            "plain",
            "quote \" backslash \\ slash /",
            "line\nbreak\r\ttab\u{8}\u{c}",
            "\u{0}\u{1}\u{1f}\u{7f}",
            "caf\u{e9} \u{1F600} \u{2028}",
            "<img src=x onerror=alert(1)>",
        ] {
            let json = encode(s);
            let back: String = serde_json::from_str(&json).unwrap();
            assert_eq!(back, s, "{json}");
        }
    }

    #[test]
    fn integers_cover_the_whole_range() {
        for n in [0, 7, -7, 1_764_201_600_000, i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            push_int(&mut out, n);
            assert_eq!(String::from_utf8(out).unwrap(), n.to_string());
        }
    }

    #[test]
    fn objects_keep_field_order() {
        let mut out = Vec::new();
        ObjectWriter::new(&mut out)
            .str("type", "x")
            .int("n", 1)
            .bool("b", true)
            .finish();
        assert_eq!(out, br#"{"type":"x","n":1,"b":true}"#);
    }
}
