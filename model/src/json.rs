//! Raw JSON text read without a parser where none is needed.
//!
//! Fast paths (the providers' flat reader, stage 2's reading of
//! decisions, decimal amounts) hand over a member's raw JSON text, quotes
//! included. Most strings carry no escape, and their text is then exactly
//! what lies between the quotes: borrowed, not decoded or copied.

use std::borrow::Cow;

/// The text of a JSON string, given its raw JSON text (valid JSON, quotes
/// included, as serde's `RawValue` or the flat reader hand it over):
/// borrowed from between the quotes when it has no escape, decoded
/// otherwise; `None` when `raw` is not a string.
pub fn string_text(raw: &str) -> Option<Cow<'_, str>> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

/// Where a JSON string's content stops: the first `"`, `\\` or control
/// character (what serde_json escapes; `None`: none, the string needs no
/// escape). Eight bytes at a time (SWAR: a byte below `n` sets its top
/// bit in `(w - n·ONES) & !w`, and only a true match starts a borrow), then
/// byte by byte within the eight that hold it.
pub fn string_end(bytes: &[u8]) -> Option<usize> {
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn plain_strings_are_borrowed_and_escaped_ones_decoded() {
        assert!(matches!(
            string_text(r#""ACC1""#),
            Some(Cow::Borrowed("ACC1"))
        ));
        assert_eq!(string_text(r#""a\"b\u00e9""#).as_deref(), Some("a\"bé"));
        assert_eq!(string_text(r#""""#).as_deref(), Some(""));
        assert_eq!(string_text(r#""\n""#).as_deref(), Some("\n"));
        assert_eq!(string_text(r#""\\""#).as_deref(), Some("\\"));
        for not_a_string in ["12", "null", "\"", "[\"a\"]", ""] {
            assert_eq!(string_text(not_a_string), None, "{not_a_string}");
        }
    }

    proptest! {
        /// Any string's JSON text reads back as serde reads it.
        #[test]
        fn any_string_reads_as_serde(
            text in prop_oneof![any::<String>(), "[a\"\\\\\n\t\u{1}é]{0,6}"],
        ) {
            let raw = serde_json::to_string(&text).unwrap();
            let read = string_text(&raw);
            prop_assert_eq!(read.as_deref(), Some(text.as_str()));
        }
    }
}
