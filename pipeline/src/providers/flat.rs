//! A strict reader of one JSON object's members, for the adapters' hot path.
//!
//! An M-Pesa C2B confirmation is a flat object of a dozen short strings,
//! and it is two payments in three. Reading it through serde's derive walks
//! a visitor per member, matches every key against every field name and
//! wraps each value in a `RawValue`; this reader makes one pass over the
//! bytes and hands back the raw text of the members asked for.
//!
//! It is a fast path, never a second grammar: it accepts a payload only
//! when serde would read it the same way, and answers `None` for anything
//! it does not handle itself — an escape anywhere, a member asked for
//! twice, nesting deeper than [`MAX_DEPTH`], anything that is not JSON. The
//! adapter then reads the payload through serde as before, so every
//! refusal and its wording stay serde's. The tests hold the two readers
//! equal on generated payloads.

/// Deepest nesting read here; deeper payloads go through serde.
const MAX_DEPTH: usize = 32;

/// The raw JSON text of each member of the object `payload` named in
/// `names` (in that order), `None` for a member absent or `null`, as serde
/// reads an `Option<&RawValue>` field. `None` overall when `payload` is not
/// one JSON object this reader handles (see the module docs).
pub(super) fn members<'a, const N: usize>(
    payload: &'a str,
    names: [&str; N],
) -> Option<[Option<&'a str>; N]> {
    let mut reader = Reader {
        bytes: payload.as_bytes(),
        at: 0,
    };
    let mut found: [Option<&'a str>; N] = [None; N];
    let mut seen = [false; N];
    reader.skip_space();
    if reader.peek() != Some(b'{') {
        return None;
    }
    reader.container(
        b'}',
        0,
        true,
        Some(&mut |key, value| {
            if let Some(i) = names.iter().position(|n| n.as_bytes() == key) {
                if seen[i] {
                    return None;
                }
                seen[i] = true;
                let value = &payload[value];
                found[i] = (value != "null").then_some(value);
            }
            Some(())
        }),
    )?;
    reader.skip_space();
    (reader.at == reader.bytes.len()).then_some(found)
}

/// Declares a flat payload's members once, as `field: "JsonName"`, and
/// gives `Shape::read(provider, payload)`: each member's raw JSON text
/// (`None` when absent or `null`), read by [`members`] when it can, else
/// through a serde struct of the same members, which also words the
/// refusal (`Shape::through_serde`).
macro_rules! flat_payload {
    ($(#[$doc:meta])* $shape:ident { $($field:ident: $name:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, PartialEq)]
        struct $shape<'a> {
            $($field: Option<&'a str>,)+
        }

        impl<'a> $shape<'a> {
            /// Reads `payload` in one pass, or through serde when the
            /// one-pass reader leaves it (see `flat`).
            fn read(
                provider: &'static str,
                payload: &'a str,
            ) -> Result<Self, $crate::providers::NormalizeError> {
                match $crate::providers::flat::members(payload, [$($name),+]) {
                    Some([$($field),+]) => Ok($shape { $($field),+ }),
                    None => Self::through_serde(provider, payload),
                }
            }

            /// Reads `payload` through serde.
            fn through_serde(
                provider: &'static str,
                payload: &'a str,
            ) -> Result<Self, $crate::providers::NormalizeError> {
                #[derive(serde::Deserialize)]
                struct Json<'p> {
                    $(
                        #[serde(rename = $name, borrow)]
                        $field: $crate::providers::fields::Scalar<'p>,
                    )+
                }
                let json: Json<'a> = $crate::providers::fields::parse_json(provider, payload)?;
                Ok($shape {
                    $($field: json.$field.map(serde_json::value::RawValue::get),)+
                })
            }
        }
    };
}
pub(super) use flat_payload;

/// Told each member of an object: its key and where its value lies; `None`
/// stops the read.
type OnMember<'c> = &'c mut dyn FnMut(&[u8], std::ops::Range<usize>) -> Option<()>;

/// Where a string's content stops: the first `"`, `\\` or control
/// character. Eight bytes at a time (SWAR: a byte below `n` sets its top
/// bit in `(w - n·ONES) & !w`, and only a true match starts a borrow), then
/// byte by byte within the eight that hold it.
fn string_end(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |w: u64, n: u64| w.wrapping_sub(ONES * n) & !w;
    let mut at = 0;
    while let Some(chunk) = bytes
        .get(at..at + 8)
        .and_then(|c| <[u8; 8]>::try_from(c).ok())
    {
        let w = u64::from_le_bytes(chunk);
        let quote = w ^ (ONES * u64::from(b'"'));
        let backslash = w ^ (ONES * u64::from(b'\\'));
        if (below(quote, 1) | below(backslash, 1) | below(w, 0x20)) & HIGH != 0 {
            break;
        }
        at += 8;
    }
    bytes[at..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|p| at + p)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// A string without escapes or control characters; its content.
    fn string(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let start = self.at;
        let len = string_end(&self.bytes[start..])?;
        self.at = start + len;
        self.expect(b'"')?;
        Some(&self.bytes[start..start + len])
    }

    /// Any JSON value, validated and skipped.
    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' | b'[' if depth >= MAX_DEPTH => None,
            b'{' => self.container(b'}', depth, true, None),
            b'[' => self.container(b']', depth, false, None),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// An object's members or an array's items, from the opening bracket;
    /// each member is told to `on_member`, if given.
    fn container(
        &mut self,
        close: u8,
        depth: usize,
        keyed: bool,
        mut on_member: Option<OnMember<'_>>,
    ) -> Option<()> {
        self.at += 1;
        self.skip_space();
        if self.peek() == Some(close) {
            self.at += 1;
            return Some(());
        }
        loop {
            let key = if keyed {
                let key = self.string()?;
                self.skip_space();
                self.expect(b':')?;
                self.skip_space();
                Some(key)
            } else {
                None
            };
            let start = self.at;
            self.value(depth + 1)?;
            if let (Some(key), Some(on_member)) = (key, on_member.as_mut()) {
                on_member(key, start..self.at)?;
            }
            self.skip_space();
            match self.next()? {
                b',' => self.skip_space(),
                b if b == close => return Some(()),
                _ => return None,
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.bytes.get(self.at..end)? == word).then(|| self.at = end)
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.at_least_one_digit()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.at_least_one_digit()?;
        }
        Some(())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
    }

    fn at_least_one_digit(&mut self) -> Option<()> {
        self.next()?.is_ascii_digit().then(|| self.digits())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde::Deserialize;
    use serde_json::value::RawValue;

    use super::*;

    /// What serde reads from the same payload: the shape the adapters use.
    #[derive(Deserialize)]
    struct Shape<'a> {
        #[serde(borrow)]
        a: Option<&'a RawValue>,
        #[serde(borrow)]
        b: Option<&'a RawValue>,
    }

    fn through_serde(payload: &str) -> Option<[Option<&str>; 2]> {
        let s: Shape = serde_json::from_str(payload).ok()?;
        Some([s.a.map(RawValue::get), s.b.map(RawValue::get)])
    }

    #[test]
    fn reads_members_as_serde_does() {
        let payload = r#" {"a": "x y", "c": {"d": [1, -2.5e3, true, null]}, "b" :12.50} "#;
        assert_eq!(members(payload, ["a", "b"]), through_serde(payload));
        assert_eq!(
            members(payload, ["a", "b"]),
            Some([Some(r#""x y""#), Some("12.50")])
        );
        assert_eq!(members(r#"{"a":null}"#, ["a", "b"]), Some([None, None]));
        assert_eq!(members("{}", ["a"]), Some([None]));
    }

    #[test]
    fn leaves_to_serde_what_it_does_not_handle() {
        for payload in [
            r#"{"a":"x\"y"}"#,       // an escape: serde decodes it
            r#"{"a\u0062":1}"#,      // an escaped key
            r#"{"a":1,"a":2}"#,      // a member twice: serde refuses
            r#"{"a":01}"#,           // not JSON
            r#"{"a":1}x"#,           // trailing text
            r#"{"a":1,}"#,           // trailing comma
            "{\"a\":\"tab\there\"}", // a control character
            r#"[1]"#,
            "",
        ] {
            assert_eq!(members(payload, ["a", "b"]), None, "{payload}");
        }
        let deep = format!("{{\"c\":{}{}}}", "[".repeat(40), "]".repeat(40));
        assert_eq!(members(&deep, ["a"]), None);
    }

    /// Objects that are often almost right: members from keys and values
    /// valid and not, joined by separators valid and not.
    fn payloads() -> impl Strategy<Value = String> {
        let key = prop::sample::select(vec!["\"a\"", "\"b\"", "\"c\"", "\"a\\n\"", "a", "\"b"]);
        let value = prop::sample::select(vec![
            "\"x\"",
            "\"\"",
            "1",
            "-0",
            "0.5",
            "1e9",
            "-1E+2",
            "-",
            "01",
            "1.",
            ".5",
            "1e",
            "true",
            "fals",
            "null",
            "nul",
            "[]",
            "[1,]",
            "{}",
            "{\"a\":}",
            "\"x\\\"\"",
            "\"\t\"",
            "[[[]]]",
            "{\"a\":{\"b\":[null,1]}}",
        ]);
        let colon = prop::sample::select(vec![":", " : ", "", "::"]);
        let comma = prop::sample::select(vec![",", " ,\n", "", ",,"]);
        let ends = prop::sample::select(vec![
            ("{", "}"),
            (" {", "} "),
            ("{", ""),
            ("", "}"),
            ("[", "]"),
            ("{", "}x"),
        ]);
        (
            prop::collection::vec((key, colon, value, comma), 0..5),
            ends,
        )
            .prop_map(|(members, (open, close))| {
                let mut text = open.to_string();
                let last = members.len().saturating_sub(1);
                for (i, (key, colon, value, comma)) in members.into_iter().enumerate() {
                    text.push_str(key);
                    text.push_str(colon);
                    text.push_str(value);
                    if i < last {
                        text.push_str(comma);
                    }
                }
                text.push_str(close);
                text
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever it accepts, serde reads the same way.
        #[test]
        fn accepts_only_what_serde_reads_alike(payload in payloads()) {
            if let Some(read) = members(&payload, ["a", "b"]) {
                prop_assert_eq!(Some(read), through_serde(&payload));
            }
        }

        /// The word-at-a-time scan stops where a byte-by-byte one does.
        #[test]
        fn string_end_stops_at_the_first_stop_byte(
            bytes in prop::collection::vec(
                prop::sample::select(vec![b'a', b'a', b'a', b'a', b'a', b'"', b'\\', 0x1f, 0x20, 0x21,
                    0x5b, 0x5d, 0x7f, 0x80, 0xa9, 0xc3, 0xff, 0x00, 0x01, 0x22 ^ 0x80]),
                0..40),
        ) {
            let naive = bytes.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
            prop_assert_eq!(string_end(&bytes), naive);
        }

        /// Objects of plain members are all read, and read as serde does.
        #[test]
        fn reads_every_plain_object(
            members_in in prop::collection::vec(
                (prop::sample::select(vec!["a", "b", "c", "d"]),
                 prop::sample::select(vec!["\"v\"", "\"\"", "12", "-3.5E-2", "null", "[]", "{\"e\":[false]}"])),
                0..6),
            space in prop::sample::select(vec!["", " ", "\n\t"]),
        ) {
            let mut names = std::collections::HashSet::new();
            let unique: Vec<_> = members_in.into_iter().filter(|(k, _)| names.insert(*k)).collect();
            let body: Vec<String> = unique
                .iter()
                .map(|(k, v)| format!("{space}\"{k}\"{space}:{space}{v}{space}"))
                .collect();
            let payload = format!("{space}{{{}}}{space}", body.join(","));
            let read = members(&payload, ["a", "b"]);
            prop_assert!(read.is_some(), "{}", payload);
            prop_assert_eq!(read, through_serde(&payload));
        }
    }
}
