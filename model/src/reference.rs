//! Canonical forms of payment references, shared by the customer index (which
//! stores them) and the matchers (which look them up), so both sides agree.
//!
//! Payers type account numbers into a phone keypad: case, spaces, dashes,
//! leading zeros and look-alike characters (O/0, I/1/L, S/5) vary. The
//! canonical form folds all of these, so `acc-1oo23` and `ACC10023` meet.

use std::borrow::Cow;

/// Upper case, ASCII letters and digits only; other characters dropped.
pub fn fold_case_and_punctuation(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    out.extend(folded_bytes(text).map(char::from));
    out
}

/// [`fold_case_and_punctuation`], borrowed when `text` is already folded
/// (most references are typed as issued: `ACC10023`), so the matchers
/// allocate only for the ones that are not.
pub fn folded(text: &str) -> Cow<'_, str> {
    if is_output_of(text, |emit| folded_bytes(text).for_each(emit)) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(fold_case_and_punctuation(text))
    }
}

/// [`canonical`], borrowed when `text` is already canonical.
pub fn canonical_form(text: &str) -> Cow<'_, str> {
    if is_output_of(text, |emit| canonical_bytes(text, emit)) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(canonical(text))
    }
}

/// Whether `form`, run over `text`, gives `text` back byte for byte: the
/// forms are checked by running them, so their rules live in one place.
fn is_output_of(text: &str, form: impl FnOnce(&mut dyn FnMut(u8))) -> bool {
    let bytes = text.as_bytes();
    let (mut at, mut same) = (0usize, true);
    form(&mut |b| {
        same &= bytes.get(at) == Some(&b);
        at += 1;
    });
    same && at == bytes.len()
}

/// [`fold_case_and_punctuation`] appended to `out` (ASCII bytes): a
/// caller building a lookup key writes the form straight after the key's
/// prefix, without a string of its own.
pub fn fold_case_and_punctuation_into(text: &str, out: &mut Vec<u8>) {
    out.extend(folded_bytes(text));
}

/// The bytes of [`fold_case_and_punctuation`], one pass over the text:
/// every byte kept is ASCII (a multi-byte character's bytes are all
/// >= 0x80, never alphanumeric), so no character is decoded.
fn folded_bytes(text: &str) -> impl Iterator<Item = u8> + '_ {
    text.bytes()
        .filter(u8::is_ascii_alphanumeric)
        .map(|b| b.to_ascii_uppercase())
}

/// The canonical form: [`fold_case_and_punctuation`], then look-alike
/// letters mapped to digits (O→0, I→1, L→1, S→5), then leading zeros of each
/// run of digits dropped (`ACC00123` and `ACC123` meet).
pub fn canonical(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len());
    canonical_into(text, &mut out);
    // Every byte written is an ASCII letter or digit: valid UTF-8, so
    // the lossy branch never runs.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// [`canonical`] appended to `out` (ASCII bytes), as
/// [`fold_case_and_punctuation_into`].
pub fn canonical_into(text: &str, out: &mut Vec<u8>) {
    canonical_bytes(text, |b| out.push(b));
}

/// The bytes of [`canonical`], each handed to `emit`.
fn canonical_bytes(text: &str, mut emit: impl FnMut(u8)) {
    // Folded as it goes, without an intermediate string.
    let mut in_digits = false;
    let mut run_has_nonzero = false;
    let mut pending_zero = false;
    for b in folded_bytes(text) {
        let c = match b {
            b'O' => b'0',
            b'I' | b'L' => b'1',
            b'S' => b'5',
            other => other,
        };
        if c.is_ascii_digit() {
            if !in_digits {
                in_digits = true;
                run_has_nonzero = false;
            }
            if c == b'0' && !run_has_nonzero {
                pending_zero = true;
                continue;
            }
            run_has_nonzero = true;
            pending_zero = false;
            emit(c);
        } else {
            if in_digits && !run_has_nonzero && pending_zero {
                emit(b'0');
            }
            in_digits = false;
            pending_zero = false;
            emit(c);
        }
    }
    if in_digits && !run_has_nonzero && pending_zero {
        emit(b'0');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_folds_typing_variants() {
        assert_eq!(canonical("ACC10023"), "ACC10023");
        assert_eq!(canonical("acc-10023"), "ACC10023");
        assert_eq!(canonical("ACC 1OO23"), "ACC10023");
        assert_eq!(canonical("ACC0010023"), "ACC10023");
        assert_eq!(canonical("INV-000123"), "1NV123");
        assert_eq!(canonical("jane.pppoe"), "JANEPPP0E");
        assert_eq!(canonical("A000"), "A0");
        assert_eq!(canonical("A0B"), "A0B");
        assert_eq!(canonical("5ACC"), "5ACC");
        assert_eq!(canonical("SACC"), "5ACC");
        assert_eq!(canonical(""), "");
    }

    /// The definitions over `chars()`, as they were first written: the
    /// byte loops above must agree with them on any text.
    fn fold_by_chars(text: &str) -> String {
        text.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect()
    }

    fn canonical_by_chars(text: &str) -> String {
        let mut out = String::new();
        let (mut in_digits, mut run_has_nonzero, mut pending_zero) = (false, false, false);
        for c in fold_by_chars(text).chars() {
            let c = match c {
                'O' => '0',
                'I' | 'L' => '1',
                'S' => '5',
                other => other,
            };
            if c.is_ascii_digit() {
                if !in_digits {
                    in_digits = true;
                    run_has_nonzero = false;
                }
                if c == '0' && !run_has_nonzero {
                    pending_zero = true;
                    continue;
                }
                run_has_nonzero = true;
                pending_zero = false;
                out.push(c);
            } else {
                if in_digits && !run_has_nonzero && pending_zero {
                    out.push('0');
                }
                in_digits = false;
                pending_zero = false;
                out.push(c);
            }
        }
        if in_digits && !run_has_nonzero && pending_zero {
            out.push('0');
        }
        out
    }

    proptest::proptest! {
        /// Texts that are often already folded or canonical, so the
        /// borrowing forms take both branches.
        #[test]
        fn borrowed_forms_are_the_computed_ones(text in "[A-Z0-9]{0,4}|[A-Z0]{0,2}[0-9]{0,4}[A-Z]{0,2}[0-9]{0,3}|0|00|[OISL0-9 a-]{0,5}") {
            proptest::prop_assert_eq!(folded(&text), fold_case_and_punctuation(&text));
            proptest::prop_assert_eq!(canonical_form(&text), canonical(&text));
        }

        #[test]
        fn byte_loops_agree_with_the_char_definitions(text in "\\PC{0,24}|[a-zA-Z0-9 .OoIiLlSs\u{e9}\u{130}-]{0,24}") {
            proptest::prop_assert_eq!(fold_case_and_punctuation(&text), fold_by_chars(&text));
            proptest::prop_assert_eq!(canonical(&text), canonical_by_chars(&text));
            proptest::prop_assert_eq!(folded(&text), fold_by_chars(&text));
            proptest::prop_assert_eq!(canonical_form(&text), canonical_by_chars(&text));
            // Appended after what a buffer already holds, as a key prefix.
            let (mut folded, mut canon) = (b"x:".to_vec(), b"c:".to_vec());
            fold_case_and_punctuation_into(&text, &mut folded);
            canonical_into(&text, &mut canon);
            let (by_chars, canonical_chars) = (fold_by_chars(&text), canonical_by_chars(&text));
            proptest::prop_assert_eq!(&folded[2..], by_chars.as_bytes());
            proptest::prop_assert_eq!(&canon[2..], canonical_chars.as_bytes());
        }
    }
}
