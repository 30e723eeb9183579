//! Canonical forms of payment references, shared by the customer index (which
//! stores them) and the matchers (which look them up), so both sides agree.
//!
//! Payers type account numbers into a phone keypad: case, spaces, dashes,
//! leading zeros and look-alike characters (O/0, I/1/L, S/5) vary. The
//! canonical form folds all of these, so `acc-1oo23` and `ACC10023` meet.

/// Upper case, ASCII letters and digits only; other characters dropped.
pub fn fold_case_and_punctuation(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    out.extend(folded_bytes(text).map(char::from));
    out
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
    // Folded as it goes, without an intermediate string.
    let mut out = String::with_capacity(text.len());
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
            out.push(char::from(c));
        } else {
            if in_digits && !run_has_nonzero && pending_zero {
                out.push('0');
            }
            in_digits = false;
            pending_zero = false;
            out.push(char::from(c));
        }
    }
    if in_digits && !run_has_nonzero && pending_zero {
        out.push('0');
    }
    out
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
        #[test]
        fn byte_loops_agree_with_the_char_definitions(text in "\\PC{0,24}|[a-zA-Z0-9 .OoIiLlSs\u{e9}\u{130}-]{0,24}") {
            proptest::prop_assert_eq!(fold_case_and_punctuation(&text), fold_by_chars(&text));
            proptest::prop_assert_eq!(canonical(&text), canonical_by_chars(&text));
        }
    }
}
