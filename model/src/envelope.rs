//! The payment envelope split without reading its payload twice.
//!
//! Reading an envelope through serde ([`crate::PaymentEnvelopeRef`]) scans
//! the payload once to find where it ends (it is kept raw), and the
//! provider's adapter then parses it again: the first scan was a twelfth of
//! stage 1's time (BENCHMARKS, session 21). Envelopes are small objects of
//! three plain fields around one large one, so [`split`] finds the short
//! fields at either end — `provider` and `received_at` before the payload
//! or after it, in any order and spacing — and hands back the text in
//! between as the payload *candidate*, unread.
//!
//! The candidate is only right if it is exactly one JSON value; the
//! adapter's parse checks that (every adapter parses its whole payload and
//! refuses trailing text). When it succeeds, the line *is* a valid
//! envelope with these fields: the ends were checked here token by token,
//! and a JSON value has one end, so serde would have split it the same way.
//! Anything this does not read — escapes in the short fields, other keys,
//! `null`, a payload forwarded as a string — gives `None`, and so does any
//! failure downstream: the caller then reads the line through serde as
//! before, which also words every refusal.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

/// An input line's bytes as text: borrowed when they are valid UTF-8 (as
/// every well-formed callback is), else with each invalid sequence
/// replaced by U+FFFD, so a malformed line still reaches a parser and its
/// dead letter instead of being dropped.
///
/// `String::from_utf8_lossy` alone gives the same answer, but walks the
/// bytes one at a time; `str::from_utf8` checks ASCII a word at a time.
/// On the generator's callbacks (400 bytes on average) that is 40 ns a
/// line instead of 160 ns.
pub fn input_text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// An envelope's fields, as [`split`] finds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeParts<'a> {
    /// The provider's name.
    pub provider: &'a str,
    /// When the callback was received, if the envelope says.
    pub received_at: Option<DateTime<Utc>>,
    /// The payload's text: one JSON object *if* the line is an envelope;
    /// the caller must parse it whole before trusting anything here.
    pub payload: &'a str,
}

/// The short fields found so far; a key seen twice refuses the line (serde
/// refuses duplicate fields).
#[derive(Default)]
struct Short<'a> {
    provider: Option<&'a str>,
    received_at: Option<&'a str>,
}

impl<'a> Short<'a> {
    fn set(&mut self, key: &str, value: &'a str) -> Option<()> {
        let slot = match key {
            "provider" => &mut self.provider,
            "received_at" => &mut self.received_at,
            _ => return None,
        };
        if slot.replace(value).is_some() {
            return None;
        }
        Some(())
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The first non-whitespace position at or after `at`.
fn skip_ws(b: &[u8], mut at: usize) -> usize {
    while at < b.len() && is_ws(b[at]) {
        at += 1;
    }
    at
}

/// The end (exclusive) of the text before `end` once trailing whitespace
/// is dropped.
fn skip_ws_back(b: &[u8], mut end: usize) -> usize {
    while end > 0 && is_ws(b[end - 1]) {
        end -= 1;
    }
    end
}

/// A byte a plain string may hold: no quote, no escape, no control
/// character (JSON forbids those raw).
fn plain(b: u8) -> bool {
    b != b'"' && b != b'\\' && b >= 0x20
}

/// A plain string starting at `at` (its opening quote): its content and
/// the position after its closing quote.
fn string_at(raw: &str, at: usize) -> Option<(&str, usize)> {
    let b = raw.as_bytes();
    if b.get(at) != Some(&b'"') {
        return None;
    }
    let len = b[at + 1..].iter().position(|&c| !plain(c))?;
    let close = at + 1 + len;
    (b[close] == b'"').then(|| (&raw[at + 1..close], close + 1))
}

/// A plain string ending just before `end` (its closing quote at
/// `end - 1`): its content and the position of its opening quote.
fn string_before(raw: &str, end: usize) -> Option<(&str, usize)> {
    let b = raw.as_bytes();
    if end < 2 || b[end - 1] != b'"' {
        return None;
    }
    let len = b[..end - 1].iter().rev().position(|&c| !plain(c))?;
    let open = end - 2 - len;
    (b[open] == b'"').then(|| (&raw[open + 1..end - 1], open))
}

/// Splits an envelope line into its fields without reading the payload;
/// `None` when the line is not laid out as this reads (see the module
/// docs: the caller then reads it through serde).
pub fn split(raw: &str) -> Option<EnvelopeParts<'_>> {
    let b = raw.as_bytes();
    let open = skip_ws(b, 0);
    let close = skip_ws_back(b, b.len()).checked_sub(1)?;
    if b.get(open) != Some(&b'{') || b[close] != b'}' || close <= open {
        return None;
    }
    let mut short = Short::default();
    // Forwards: the short fields before `"payload":`.
    let mut at = open + 1;
    let payload_start = loop {
        let (key, after) = string_at(raw, skip_ws(b, at))?;
        let colon = skip_ws(b, after);
        if b.get(colon) != Some(&b':') {
            return None;
        }
        let value_at = skip_ws(b, colon + 1);
        if key == "payload" {
            break value_at;
        }
        let (value, after) = string_at(raw, value_at)?;
        short.set(key, value)?;
        let comma = skip_ws(b, after);
        if b.get(comma) != Some(&b',') {
            return None;
        }
        at = comma + 1;
    };
    // Backwards from the closing brace: the short fields after the
    // payload, until the payload's own closing brace.
    let mut end = close;
    let payload_end = loop {
        let last = skip_ws_back(b, end);
        if last <= payload_start {
            return None;
        }
        if b[last - 1] == b'}' {
            break last;
        }
        let (value, value_open) = string_before(raw, last)?;
        let colon = skip_ws_back(b, value_open);
        if colon == 0 || b[colon - 1] != b':' {
            return None;
        }
        let (key, key_open) = string_before(raw, skip_ws_back(b, colon - 1))?;
        short.set(key, value)?;
        let comma = skip_ws_back(b, key_open);
        if comma == 0 || b[comma - 1] != b',' {
            return None;
        }
        end = comma - 1;
    };
    if b[payload_start] != b'{' || payload_end <= payload_start {
        return None;
    }
    let received_at = match short.received_at {
        Some(text) => Some(crate::time::parse(text).ok()?),
        None => None,
    };
    Some(EnvelopeParts {
        provider: short.provider?,
        received_at,
        payload: &raw[payload_start..payload_end],
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::PaymentEnvelopeRef;

    const PAYLOAD: &str = r#"{"txn_id":"T1","amount":"10","nested":{"provider":"x"}}"#;

    fn parts(raw: &str) -> Option<(String, Option<String>, String)> {
        split(raw).map(|p| {
            (
                p.provider.to_string(),
                p.received_at.map(|t| t.to_rfc3339()),
                p.payload.to_string(),
            )
        })
    }

    #[test]
    fn the_short_fields_are_found_before_or_after_the_payload() {
        let at = "2026-11-01T05:00:04Z";
        let want = Some((
            "generic".to_string(),
            Some("2026-11-01T05:00:04+00:00".to_string()),
            PAYLOAD.to_string(),
        ));
        for line in [
            format!(r#"{{"payload":{PAYLOAD},"provider":"generic","received_at":"{at}"}}"#),
            format!(r#"{{"provider":"generic","received_at":"{at}","payload":{PAYLOAD}}}"#),
            format!(r#"{{"received_at":"{at}","payload":{PAYLOAD},"provider":"generic"}}"#),
            format!(
                "{{ \"provider\" : \"generic\" ,\n \"payload\" : {PAYLOAD} , \"received_at\": \"{at}\" }}\n"
            ),
        ] {
            assert_eq!(parts(&line), want, "{line}");
        }
        let without_time = format!(r#"{{"provider":"generic","payload":{PAYLOAD}}}"#);
        assert_eq!(
            parts(&without_time),
            Some(("generic".to_string(), None, PAYLOAD.to_string()))
        );
    }

    #[test]
    fn what_it_does_not_read_is_left_to_serde() {
        for line in [
            // escapes, null, other keys, a repeated key, no provider
            format!(r#"{{"provider":"gen\u0065ric","payload":{PAYLOAD}}}"#),
            format!(r#"{{"provider":"generic","received_at":null,"payload":{PAYLOAD}}}"#),
            format!(r#"{{"provider":"generic","gateway":"g1","payload":{PAYLOAD}}}"#),
            format!(r#"{{"provider":"generic","payload":{PAYLOAD},"provider":"stripe"}}"#),
            format!(r#"{{"payload":{PAYLOAD},"received_at":"2026-11-01T05:00:04Z"}}"#),
            // a payload forwarded as a string; a bad time; not an object
            r#"{"provider":"generic","payload":"{\"txn_id\":\"T1\"}"}"#.to_string(),
            format!(r#"{{"provider":"generic","received_at":"soon","payload":{PAYLOAD}}}"#),
            format!(r#"[{{"provider":"generic","payload":{PAYLOAD}}}]"#),
            String::new(),
            "{}".to_string(),
        ] {
            assert_eq!(parts(&line), None, "{line}");
        }
    }

    /// The text after the payload that looks like the short fields but sits
    /// inside it is left in the candidate, whose parse then fails; never
    /// taken for the envelope's fields.
    #[test]
    fn fields_inside_the_payload_stay_in_the_candidate() {
        let line = r#"{"payload":{"a":{"b":1},"provider":"x"},"provider":"generic"}"#;
        assert_eq!(
            parts(line).map(|p| (p.0, p.2)),
            Some((
                "generic".to_string(),
                r#"{"a":{"b":1},"provider":"x"}"#.to_string()
            ))
        );
    }

    #[test]
    fn input_text_borrows_valid_text_and_replaces_invalid_bytes() {
        assert!(matches!(
            input_text("Jos\u{e9} {}".as_bytes()),
            Cow::Borrowed("Jos\u{e9} {}")
        ));
        assert_eq!(input_text(b"ab\xffc\xe2\x82"), "ab\u{fffd}c\u{fffd}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any bytes read as `String::from_utf8_lossy` reads them.
        #[test]
        fn input_text_is_the_lossy_reading(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(input_text(&bytes), String::from_utf8_lossy(&bytes));
        }

        /// Whenever the candidate is one JSON value, serde reads the line
        /// as an envelope with the same fields: the split is never wrong.
        /// And every envelope of only the three fields is split.
        #[test]
        fn a_candidate_that_parses_is_what_serde_reads(
            keys in prop::sample::subsequence(vec!["provider", "received_at", "payload", "provider", "extra"], 1..5).prop_shuffle(),
            payload in prop::sample::select(vec![
                PAYLOAD, "{}", r#"{"s":"a,\"provider\":\"b\"}"}"#, r#"{"a":[1,2,{"c":"}"}]}"#,
                r#"{"a":1}, "b": {}"#, r#"{"a":1},"provider":"x","b":{"c":2}"#, "{", "}",
            ]),
            space in prop::sample::select(vec!["", " ", "\n\t"]),
            cut in 0usize..200,
        ) {
            let fields: Vec<String> = keys.iter().map(|k| {
                let value = match *k {
                    "provider" => "\"generic\"".to_string(),
                    "received_at" => "\"2026-11-01T05:00:04.5Z\"".to_string(),
                    "payload" => payload.to_string(),
                    _ => "\"e\"".to_string(),
                };
                format!("{space}\"{k}\"{space}:{space}{value}{space}")
            }).collect();
            let mut line = format!("{{{}}}", fields.join(","));
            if cut % 3 == 0 {
                line.truncate(line.len().saturating_sub(cut / 3));
            }
            let read_by_serde = serde_json::from_str::<PaymentEnvelopeRef<'_>>(&line).is_ok();
            // Two payload texts smuggle in fields of their own.
            let one_value = !payload.contains("}, \"b\"") && !payload.contains(",\"b\":");
            if read_by_serde && one_value && !keys.contains(&"extra") {
                prop_assert!(split(&line).is_some(), "not split: {}", line);
            }
            if let Some(p) = split(&line) {
                if serde_json::from_str::<serde::de::IgnoredAny>(p.payload).is_ok() {
                    let envelope: PaymentEnvelopeRef<'_> = serde_json::from_str(&line)
                        .unwrap_or_else(|e| panic!("{line}: {e}"));
                    prop_assert_eq!(&*envelope.provider, p.provider);
                    prop_assert_eq!(envelope.received_at, p.received_at);
                    prop_assert_eq!(envelope.payload.get(), p.payload);
                }
            }
        }
    }
}
