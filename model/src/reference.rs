//! Canonical forms of payment references, shared by the customer index (which
//! stores them) and the matchers (which look them up), so both sides agree.
//!
//! Payers type account numbers into a phone keypad: case, spaces, dashes,
//! leading zeros and look-alike characters (O/0, I/1/L, S/5) vary. The
//! canonical form folds all of these, so `acc-1oo23` and `ACC10023` meet.

/// Upper case, ASCII letters and digits only; other characters dropped.
pub fn fold_case_and_punctuation(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The canonical form: [`fold_case_and_punctuation`], then look-alike
/// letters mapped to digits (O→0, I→1, L→1, S→5), then leading zeros of each
/// run of digits dropped (`ACC00123` and `ACC123` meet).
pub fn canonical(text: &str) -> String {
    let folded = fold_case_and_punctuation(text);
    let mut out = String::with_capacity(folded.len());
    let mut in_digits = false;
    let mut run_has_nonzero = false;
    let mut pending_zero = false;
    for c in folded.chars() {
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
}
