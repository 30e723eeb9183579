//! A strict reader of one JSON object's members, for the adapters' hot
//! path and stage 2's reading of decisions.
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
pub(crate) fn members<'a, const N: usize>(
    payload: &'a str,
    names: [&str; N],
) -> Option<[Option<&'a str>; N]> {
    let mut found: [Option<&'a str>; N] = [None; N];
    let mut seen = [false; N];
    read_object(
        payload,
        &mut pick(payload, names, &mut found, &mut seen),
        None,
    )?;
    Some(found)
}

/// [`members`] of `payload`, and every member of the object reached from
/// it by `path` (as [`all_members`] reads them), in one pass: a Stripe
/// event's envelope and its `data.object`, without reading the object's
/// bytes once per level. `None` also when a step of `path` is missing,
/// repeated or not an object (serde refuses each, a struct field).
pub(super) fn members_and_object<'a, const N: usize>(
    payload: &'a str,
    names: [&str; N],
    path: &[&str],
) -> Option<([Option<&'a str>; N], Members<'a>)> {
    let (step, rest) = path.split_first()?;
    let mut found: [Option<&'a str>; N] = [None; N];
    let mut seen = [false; N];
    let mut object = Vec::new();
    let mut reached = false;
    let mut once = false;
    let mut descend = |reader: &mut Reader<'a>| {
        (!std::mem::replace(&mut once, true)).then_some(())?;
        walk(reader, 1, rest, &mut object, &mut reached)
    };
    read_object(
        payload,
        &mut pick(payload, names, &mut found, &mut seen),
        Some((step.as_bytes(), &mut descend)),
    )?;
    reached.then_some((found, object))
}

/// Every member of the object `payload`, in order and repeats included:
/// its key and its value's raw JSON text (`null` too), as serde reads an
/// object into a map of `&RawValue`s before a repeated key replaces the
/// earlier one. `None` when `payload` is not one JSON object this reader
/// handles (see the module docs).
pub(super) fn all_members(payload: &str) -> Option<Members<'_>> {
    let mut found = Vec::new();
    read_object(payload, &mut collect(payload, &mut found), None)?;
    Some(found)
}

/// A member callback keeping the raw text of each member named in
/// `names` in `found`, refusing a name met twice.
fn pick<'a, 'f, const N: usize>(
    payload: &'a str,
    names: [&'f str; N],
    found: &'f mut [Option<&'a str>; N],
    seen: &'f mut [bool; N],
) -> impl FnMut(&'a [u8], std::ops::Range<usize>) -> Option<()> + 'f
where
    'a: 'f,
{
    move |key, value| {
        if let Some(i) = names.iter().position(|n| n.as_bytes() == key) {
            if std::mem::replace(&mut seen[i], true) {
                return None;
            }
            let value = &payload[value];
            found[i] = (value != "null").then_some(value);
        }
        Some(())
    }
}

/// A member callback collecting every member into `found`.
fn collect<'a, 'f>(
    payload: &'a str,
    found: &'f mut Vec<(&'a str, &'a str)>,
) -> impl FnMut(&'a [u8], std::ops::Range<usize>) -> Option<()> + 'f
where
    'a: 'f,
{
    move |key, value| {
        // A key is the text between two quotes: on character boundaries.
        found.push((std::str::from_utf8(key).ok()?, &payload[value]));
        Some(())
    }
}

/// Reads `payload`, one JSON object and nothing after it, telling
/// `on_member` each of its members and reading the member `descend`
/// names with its reader.
fn read_object<'a>(
    payload: &'a str,
    on_member: OnMember<'_, 'a>,
    descend: Option<Descend<'_, 'a>>,
) -> Option<()> {
    let mut reader = Reader {
        text: payload,
        bytes: payload.as_bytes(),
        at: 0,
    };
    reader.skip_space();
    if reader.peek() != Some(b'{') {
        return None;
    }
    reader.container(b'}', 0, true, Some(on_member), descend)?;
    reader.skip_space();
    (reader.at == reader.bytes.len()).then_some(())
}

/// Reads the object at the reader (anything else refused) at `depth`,
/// following `path` into it; at the path's end, collects every member of
/// the object there into `object` and sets `reached`.
fn walk<'a>(
    reader: &mut Reader<'a>,
    depth: usize,
    path: &[&str],
    object: &mut Vec<(&'a str, &'a str)>,
    reached: &mut bool,
) -> Option<()> {
    if reader.peek() != Some(b'{') || depth >= MAX_DEPTH {
        return None;
    }
    let text = reader.text;
    match path.split_first() {
        None => {
            *reached = true;
            reader.container(b'}', depth, true, Some(&mut collect(text, object)), None)
        }
        Some((step, rest)) => {
            let mut once = false;
            let mut descend = |reader: &mut Reader<'a>| {
                (!std::mem::replace(&mut once, true)).then_some(())?;
                walk(reader, depth + 1, rest, object, reached)
            };
            reader.container(
                b'}',
                depth,
                true,
                None,
                Some((step.as_bytes(), &mut descend)),
            )
        }
    }
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

/// An object's members: each key and its value's raw text, in order.
pub(super) type Members<'a> = Vec<(&'a str, &'a str)>;

/// Told each member of an object: its key and where its value lies; `None`
/// stops the read.
type OnMember<'c, 'a> = &'c mut dyn FnMut(&'a [u8], std::ops::Range<usize>) -> Option<()>;

/// A member read by a callback of its own instead of being skipped: its
/// key, and the callback, which finds the reader at the value's first byte
/// and must leave it after the value.
type Descend<'c, 'a> = (&'c [u8], &'c mut dyn FnMut(&mut Reader<'a>) -> Option<()>);

struct Reader<'a> {
    /// What is read, as text (values are handed out as slices of it) and
    /// as bytes.
    text: &'a str,
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
        let len = model::json::string_end(&self.bytes[start..])?;
        self.at = start + len;
        self.expect(b'"')?;
        Some(&self.bytes[start..start + len])
    }

    /// Any JSON value, validated and skipped.
    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' | b'[' if depth >= MAX_DEPTH => None,
            b'{' => self.container(b'}', depth, true, None, None),
            b'[' => self.container(b']', depth, false, None, None),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// An object's members or an array's items, from the opening bracket;
    /// each member is told to `on_member`, if given, and the member
    /// `descend` names is read by its callback.
    fn container(
        &mut self,
        close: u8,
        depth: usize,
        keyed: bool,
        mut on_member: Option<OnMember<'_, 'a>>,
        mut descend: Option<Descend<'_, 'a>>,
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
            match (key, descend.as_mut()) {
                (Some(key), Some((name, read))) if key == *name => read(self)?,
                _ => self.value(depth + 1)?,
            }
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
    use std::collections::BTreeMap;

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

    /// What serde reads from the same payload into a map of raw values.
    fn map_through_serde(payload: &str) -> Option<BTreeMap<String, String>> {
        let map: BTreeMap<String, &RawValue> = serde_json::from_str(payload).ok()?;
        Some(
            map.into_iter()
                .map(|(k, v)| (k, v.get().to_string()))
                .collect(),
        )
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
        assert_eq!(
            all_members(r#"{"a":1,"a":null}"#),
            Some(vec![("a", "1"), ("a", "null")]),
            "a map keeps repeats: serde's last one wins"
        );
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
            if let Some(all) = all_members(&payload) {
                // Into a map, a repeated key's last value wins, as in serde's.
                let read: BTreeMap<String, String> =
                    all.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
                prop_assert_eq!(Some(read), map_through_serde(&payload));
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
            prop_assert_eq!(model::json::string_end(&bytes), naive);
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
            let all = all_members(&payload);
            prop_assert_eq!(all.as_ref().map(Vec::len), Some(unique.len()));
        }
    }
}
