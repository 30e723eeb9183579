//! Token-set Jaro-Winkler on ASCII bytes, without allocating.
//!
//! The name strategy compares the payer's name with every candidate's, for
//! most payments. The general path splits the candidate's name into
//! lower-cased `String`s and runs `strsim`'s generic Jaro over `char`s with
//! a heap-allocated flag vector: a dozen allocations per candidate. Most
//! names are ASCII, and for them this module gives the same answer — bit
//! for bit, the tests check it against `strsim` — from a stack buffer and
//! bit masks. Anything else (a non-ASCII name, a very long one) returns
//! `None` and takes the general path.

/// Longest name (bytes) compared here.
const MAX_NAME: usize = 128;

/// Most tokens of a name compared here.
const MAX_TOKENS: usize = 16;

/// Longest token compared with bit masks.
const MAX_TOKEN: usize = 128;

// A candidate's name fits, so each of its tokens fits the masks.
const _: () = assert!(MAX_NAME <= MAX_TOKEN);

/// A name lower-cased into a stack buffer and split into tokens of two
/// bytes or more, as `super::tokens` splits it.
pub(super) struct AsciiTokens {
    text: [u8; MAX_NAME],
    spans: [(u8, u8); MAX_TOKENS],
    count: usize,
}

impl AsciiTokens {
    /// Splits `name`; `None` when it is not ASCII or too long.
    pub(super) fn split(name: &str) -> Option<Self> {
        let bytes = name.as_bytes();
        if bytes.len() > MAX_NAME || !bytes.is_ascii() {
            return None;
        }
        let mut tokens = AsciiTokens {
            text: [0; MAX_NAME],
            spans: [(0, 0); MAX_TOKENS],
            count: 0,
        };
        let mut start = 0;
        for end in 0..=bytes.len() {
            let boundary = end == bytes.len() || !bytes[end].is_ascii_alphanumeric();
            if end < bytes.len() {
                tokens.text[end] = bytes[end].to_ascii_lowercase();
            }
            if boundary {
                if end - start > 1 {
                    if tokens.count == MAX_TOKENS {
                        return None;
                    }
                    tokens.spans[tokens.count] = (start as u8, end as u8);
                    tokens.count += 1;
                }
                start = end + 1;
            }
        }
        Some(tokens)
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.spans[..self.count]
            .iter()
            .map(|&(s, e)| &self.text[usize::from(s)..usize::from(e)])
    }

    fn len(&self) -> usize {
        self.count
    }
}

/// `super::token_similarity` of two names split by [`AsciiTokens::split`]
/// (the payer's first).
pub(super) fn token_similarity(payer: &AsciiTokens, name: &AsciiTokens) -> f64 {
    if payer.len() == 0 || name.len() == 0 {
        return 0.0;
    }
    // Most payers type their own name: an equal token scores 1, the most
    // any pair can, so no Jaro-Winkler is computed for a token that has
    // its equal anywhere in the other name (looked for first: the name's
    // tokens before it would each have cost one).
    let best = |token: &[u8], others: &AsciiTokens| {
        if others.iter().any(|other| other == token) {
            return 1.0;
        }
        others
            .iter()
            .map(|other| jaro_winkler(token, other))
            .fold(0.0f64, f64::max)
    };
    // The shorter list (by token count, the payer's on a tie) is paired
    // with its best match in the other, as the general path does.
    let (short, long) = if payer.len() <= name.len() {
        (payer, name)
    } else {
        (name, payer)
    };
    let total: f64 = short.iter().map(|t| best(t, long)).sum();
    total / short.len() as f64
}

/// `strsim::jaro_winkler` on bytes of at most [`MAX_TOKEN`].
fn jaro_winkler(a: &[u8], b: &[u8]) -> f64 {
    let sim = jaro(a, b);
    if sim > 0.7 {
        let prefix = a.iter().take(4).zip(b).take_while(|(x, y)| x == y).count();
        sim + 0.1 * prefix as f64 * (1.0 - sim)
    } else {
        sim
    }
}

/// `strsim::generic_jaro` on bytes of at most [`MAX_TOKEN`], its flags in
/// bit masks.
fn jaro(a: &[u8], b: &[u8]) -> f64 {
    let (a_len, b_len) = (a.len(), b.len());
    if a_len == 0 && b_len == 0 {
        return 1.0;
    }
    if a_len == 0 || b_len == 0 {
        return 0.0;
    }
    let range = (a_len.max(b_len) / 2).saturating_sub(1);
    let (mut a_flags, mut b_flags) = (0u128, 0u128);
    let mut matches = 0usize;
    for (i, &x) in a.iter().enumerate() {
        let low = i.saturating_sub(range);
        let high = b_len.min(i + range + 1);
        for (j, &y) in b.iter().enumerate().take(high).skip(low) {
            if y == x && b_flags & (1 << j) == 0 {
                a_flags |= 1 << i;
                b_flags |= 1 << j;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    // The matched bytes of `a` and of `b`, paired in order: a pair that
    // differs is half a transposition.
    let mut b_matched = (0..b_len).filter(|&j| b_flags & (1 << j) != 0);
    let mut transpositions = 0usize;
    for (i, &x) in a.iter().enumerate() {
        if a_flags & (1 << i) != 0 {
            if let Some(j) = b_matched.next() {
                transpositions += usize::from(b[j] != x);
            }
        }
    }
    transpositions /= 2;
    let m = matches as f64;
    ((m / a_len as f64) + (m / b_len as f64) + ((matches - transpositions) as f64 / m)) / 3.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_as_the_general_path_does() {
        let t = AsciiTokens::split("Jane  W. O'Doe-Smith 42").unwrap();
        let words: Vec<&[u8]> = t.iter().collect();
        assert_eq!(words, [&b"jane"[..], b"doe", b"smith", b"42"]);
        assert!(AsciiTokens::split("Zoë").is_none());
        assert!(AsciiTokens::split(&"a".repeat(MAX_NAME + 1)).is_none());
    }

    proptest! {
        #[test]
        fn jaro_winkler_is_strsims_to_the_bit(a in "[a-e]{0,12}", b in "[a-e]{0,12}") {
            prop_assert_eq!(
                jaro_winkler(a.as_bytes(), b.as_bytes()).to_bits(),
                strsim::jaro_winkler(&a, &b).to_bits()
            );
        }

        #[test]
        fn shared_tokens_compare_as_the_general_path_does(
            shared in proptest::collection::vec("[a-e]{2,5}", 1..4),
            payer_extra in "[a-e ]{0,12}",
            name_extra in "[a-e ]{0,12}",
        ) {
            let shared = shared.join(" ");
            let (payer, name) = (format!("{payer_extra} {shared}"), format!("{shared} {name_extra}"));
            let tokens = super::super::tokens(&payer);
            let general = super::super::token_similarity(&tokens, &super::super::tokens(&name));
            let (payer, split) = (AsciiTokens::split(&payer).unwrap(), AsciiTokens::split(&name).unwrap());
            prop_assert_eq!(token_similarity(&payer, &split).to_bits(), general.to_bits());
        }

        #[test]
        fn names_compare_as_the_general_path_does(
            payer in "[A-Za-z .'-]{0,30}",
            name in "[A-Za-z0-9 .-]{0,40}",
        ) {
            let tokens = super::super::tokens(&payer);
            let general = super::super::token_similarity(&tokens, &super::super::tokens(&name));
            let (payer, split) = (AsciiTokens::split(&payer).unwrap(), AsciiTokens::split(&name).unwrap());
            prop_assert_eq!(token_similarity(&payer, &split).to_bits(), general.to_bits());
        }
    }
}
