//! The secondary keys of the index, computed from a record alone (pure), so
//! an update can remove exactly the keys the old version wrote.
//!
//! Key families in the `refs` table, each a set of members:
//!
//! | key | members |
//! |---|---|
//! | `x:` folded reference (case and punctuation folded) | [`RefTarget`]s |
//! | `c:` canonical reference (also O/0, I/1, S/5, leading zeros) | [`RefTarget`]s |
//! | `f:` canonical reference or one deletion of it | canonical references |
//! | `p:` E.164 phone | customer ids |
//! | `h:` SHA-256 of the phone | customer ids |
//! | `s:` Stripe customer id | customer ids |
//! | `o:` customer id | invoice ids |
//!
//! The `f:` family is a deletion neighbourhood: two strings within one
//! edit (substitution, insertion, deletion, adjacent transposition) share a
//! key, so a typo is found with `len + 1` point reads. Only account and
//! invoice numbers — what payers type by hand — get these keys.

use model::reference::{canonical, fold_case_and_punctuation};
use model::{normalize_msisdn, Customer, Invoice};

/// What a reference points at.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefTarget {
    /// A customer's account number (or customer id).
    Account {
        /// The customer.
        customer_id: String,
    },
    /// An invoice number (or invoice id).
    Invoice {
        /// Whose invoice.
        customer_id: String,
        /// The invoice.
        invoice_id: String,
    },
    /// A service's access username.
    Username {
        /// The customer.
        customer_id: String,
        /// The service.
        service_id: String,
    },
}

/// How a reference was found in the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// Equal up to case and punctuation.
    Exact,
    /// Equal in canonical form (look-alike characters, leading zeros).
    Normalized,
    /// One edit or transposition away.
    Fuzzy,
}

const SEP: char = '\u{1f}';

impl RefTarget {
    /// The customer it belongs to.
    pub fn customer_id(&self) -> &str {
        match self {
            RefTarget::Account { customer_id }
            | RefTarget::Invoice { customer_id, .. }
            | RefTarget::Username { customer_id, .. } => customer_id,
        }
    }

    /// The reason name for this target found `how`:
    /// `account_number_exact`, `invoice_number_fuzzy`, …
    pub fn reason(&self, how: Resolved) -> &'static str {
        use Resolved::{Exact, Fuzzy, Normalized};
        match (self, how) {
            (RefTarget::Account { .. }, Exact) => "account_number_exact",
            (RefTarget::Account { .. }, Normalized) => "account_number_normalized",
            (RefTarget::Account { .. }, Fuzzy) => "account_number_fuzzy",
            (RefTarget::Invoice { .. }, Exact) => "invoice_number_exact",
            (RefTarget::Invoice { .. }, Normalized) => "invoice_number_normalized",
            (RefTarget::Invoice { .. }, Fuzzy) => "invoice_number_fuzzy",
            (RefTarget::Username { .. }, Exact) => "username_exact",
            (RefTarget::Username { .. }, Normalized) => "username_normalized",
            (RefTarget::Username { .. }, Fuzzy) => "username_fuzzy",
        }
    }

    /// Encodes as a set member.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            RefTarget::Account { customer_id } => format!("A{SEP}{customer_id}"),
            RefTarget::Invoice {
                customer_id,
                invoice_id,
            } => {
                format!("I{SEP}{customer_id}{SEP}{invoice_id}")
            }
            RefTarget::Username {
                customer_id,
                service_id,
            } => {
                format!("U{SEP}{customer_id}{SEP}{service_id}")
            }
        }
        .into_bytes()
    }

    /// The customer of an encoded set member, read in place: what
    /// `decode(bytes)?.customer_id()` returns, without copying.
    pub fn customer_of(bytes: &[u8]) -> Option<&str> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut parts = text.split(SEP);
        let tag = parts.next()?;
        let customer_id = parts.next()?;
        match (tag, parts.next()) {
            ("A", None) | ("I" | "U", Some(_)) => Some(customer_id),
            _ => None,
        }
    }

    /// Decodes a set member.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut parts = text.split(SEP);
        let tag = parts.next()?;
        let customer_id = parts.next()?.to_string();
        match (tag, parts.next()) {
            ("A", None) => Some(RefTarget::Account { customer_id }),
            ("I", Some(id)) => Some(RefTarget::Invoice {
                customer_id,
                invoice_id: id.to_string(),
            }),
            ("U", Some(id)) => Some(RefTarget::Username {
                customer_id,
                service_id: id.to_string(),
            }),
            _ => None,
        }
    }
}

/// A key in the `refs` table.
pub fn key(family: char, value: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(value.len() + 2);
    k.push(family as u8);
    k.push(b':');
    k.extend_from_slice(value.as_bytes());
    k
}

/// Keys of the `refs` table written one after another into one buffer.
/// A batch's read-ahead builds a few keys per payment, and a vector per
/// key (with a string per folded or canonical form before it) was a fifth
/// of stage 1's allocations (BENCHMARKS, session 26).
#[derive(Debug, Default)]
pub struct KeyList {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl KeyList {
    /// Room for about `keys` keys.
    pub fn with_capacity(keys: usize) -> Self {
        KeyList {
            bytes: Vec::with_capacity(keys * 24),
            ends: Vec::with_capacity(keys),
        }
    }

    /// Adds [`key`]`(family, value)`.
    pub fn push(&mut self, family: char, value: &str) {
        self.push_with(family, |key| key.extend_from_slice(value.as_bytes()));
    }

    /// Adds the key of `family` whose value `write` appends (for example
    /// `model::reference::canonical_into`); returns the value's length.
    pub fn push_with(&mut self, family: char, write: impl FnOnce(&mut Vec<u8>)) -> usize {
        let start = self.bytes.len();
        self.bytes.push(family as u8);
        self.bytes.push(b':');
        write(&mut self.bytes);
        self.ends.push(self.bytes.len());
        self.bytes.len() - start - 2
    }

    /// Removes the last key.
    pub fn pop(&mut self) {
        if self.ends.pop().is_some() {
            self.bytes.truncate(self.ends.last().copied().unwrap_or(0));
        }
    }

    /// The key at `at`.
    pub fn get(&self, at: usize) -> &[u8] {
        let start = at.checked_sub(1).map_or(0, |before| self.ends[before]);
        &self.bytes[start..self.ends[at]]
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The keys, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + Clone + '_ {
        (0..self.len()).map(|at| self.get(at))
    }

    /// The keys as slices, as `KvStore::get_many_shared` takes them.
    pub fn slices(&self) -> Vec<&[u8]> {
        self.iter().collect()
    }
}

/// Every distinct string one character shorter than `text`.
pub fn deletions(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<String> = Vec::with_capacity(chars.len());
    for i in 0..chars.len() {
        // Deleting either of two equal neighbours gives the same string.
        if i > 0 && chars[i] == chars[i - 1] {
            continue;
        }
        out.push(chars[..i].iter().chain(&chars[i + 1..]).collect());
    }
    out
}

/// Whether `a` and `b` are exactly one edit apart: one substitution,
/// insertion or deletion, or one swap of adjacent characters (optimal
/// string alignment distance 1, as `strsim::osa_distance(a, b) == 1`).
/// Every typo candidate the deletion keys find is checked with this, so
/// it compares in one pass without building the distance matrix.
pub fn one_edit_apart(a: &str, b: &str) -> bool {
    if !(a.is_ascii() && b.is_ascii()) {
        return strsim::osa_distance(a, b) == 1;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let prefix = short.iter().zip(long).take_while(|(x, y)| x == y).count();
    match long.len() - short.len() {
        // The rest after the first difference, with one change there.
        0 => {
            if prefix == short.len() {
                return false; // equal
            }
            let (s, l) = (&short[prefix..], &long[prefix..]);
            s[1..] == l[1..] || (s.len() >= 2 && s[0] == l[1] && s[1] == l[0] && s[2..] == l[2..])
        }
        // One character of the longer one dropped at the first difference.
        1 => short[prefix..] == long[prefix + 1..],
        _ => false,
    }
}

/// Settings that shape the keys.
#[derive(Clone, Debug)]
pub struct KeyRules {
    /// Country code for numbers in national form.
    pub default_country_code: String,
    /// Shortest canonical reference that gets fuzzy keys (shorter ones
    /// collide with too many others to be worth a typo match).
    pub fuzzy_min_len: usize,
}

/// (key, member) pairs of the `refs` table.
pub type KeyPairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Whether a reference gets typo keys: only what payers type by hand.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Typos {
    /// Account and invoice numbers: typed on a phone keypad, typos expected.
    Indexed,
    /// Ids and usernames: exact and normalized keys only. Typo keys cost
    /// about ten keys per reference (index size, build time, lookup reads),
    /// and these are rarely typed from memory.
    Skipped,
}

fn reference_keys(
    rules: &KeyRules,
    text: &str,
    target: &RefTarget,
    typos: Typos,
    out: &mut KeyPairs,
) {
    let folded = fold_case_and_punctuation(text);
    if folded.is_empty() {
        return;
    }
    let member = target.encode();
    out.push((key('x', &folded), member.clone()));
    let canon = canonical(text);
    out.push((key('c', &canon), member));
    if typos == Typos::Indexed && canon.chars().count() >= rules.fuzzy_min_len {
        out.push((key('f', &canon), canon.clone().into_bytes()));
        for d in deletions(&canon) {
            out.push((key('f', &d), canon.clone().into_bytes()));
        }
    }
}

/// The keys a customer record writes.
pub fn customer_keys(rules: &KeyRules, c: &Customer) -> KeyPairs {
    let mut out = Vec::new();
    let account = RefTarget::Account {
        customer_id: c.customer_id.clone(),
    };
    if let Some(number) = &c.account_number {
        reference_keys(rules, number, &account, Typos::Indexed, &mut out);
    }
    reference_keys(rules, &c.customer_id, &account, Typos::Skipped, &mut out);
    for s in &c.services {
        let target = RefTarget::Username {
            customer_id: c.customer_id.clone(),
            service_id: s.service_id.clone(),
        };
        reference_keys(rules, &s.username, &target, Typos::Skipped, &mut out);
    }
    let id = c.customer_id.as_bytes().to_vec();
    for raw in &c.msisdns {
        if let Ok(m) = normalize_msisdn(raw, &rules.default_country_code) {
            out.push((key('p', m.as_str()), id.clone()));
            out.push((key('h', &m.hash()), id.clone()));
        }
    }
    if let Some(stripe) = c
        .stripe_customer_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        out.push((key('s', stripe), id.clone()));
    }
    dedup(out)
}

/// The keys an invoice record writes.
pub fn invoice_keys(rules: &KeyRules, inv: &Invoice) -> KeyPairs {
    let mut out = Vec::new();
    let target = RefTarget::Invoice {
        customer_id: inv.customer_id.clone(),
        invoice_id: inv.invoice_id.clone(),
    };
    if let Some(number) = &inv.number {
        reference_keys(rules, number, &target, Typos::Indexed, &mut out);
    }
    reference_keys(rules, &inv.invoice_id, &target, Typos::Skipped, &mut out);
    out.push((
        key('o', &inv.customer_id),
        inv.invoice_id.as_bytes().to_vec(),
    ));
    dedup(out)
}

fn dedup(mut pairs: KeyPairs) -> KeyPairs {
    pairs.sort();
    pairs.dedup();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletions_are_distinct() {
        assert_eq!(deletions("ABC"), vec!["BC", "AC", "AB"]);
        assert_eq!(deletions("AAB"), vec!["AB", "AA"]);
        assert!(deletions("").is_empty());
    }

    #[test]
    fn targets_round_trip() {
        for t in [
            RefTarget::Account {
                customer_id: "C1".into(),
            },
            RefTarget::Invoice {
                customer_id: "C1".into(),
                invoice_id: "I-9".into(),
            },
            RefTarget::Username {
                customer_id: "C1".into(),
                service_id: "S-7".into(),
            },
        ] {
            assert_eq!(RefTarget::decode(&t.encode()), Some(t));
        }
        assert_eq!(RefTarget::decode(b"garbage"), None);
    }

    proptest::proptest! {
        /// Reading the customer in place agrees with decoding, on any bytes
        /// (members are built from a few tags, separators and ids here, so
        /// most cases are near-valid).
        #[test]
        fn the_customer_read_in_place_is_the_decoded_one(
            parts in proptest::collection::vec("[AIUX]?|C[0-9]{1,3}|", 0..5),
            noise in proptest::collection::vec(proptest::num::u8::ANY, 0..3),
        ) {
            let mut bytes = parts.join("\u{1f}").into_bytes();
            bytes.extend(noise);
            let decoded = RefTarget::decode(&bytes);
            proptest::prop_assert_eq!(
                RefTarget::customer_of(&bytes),
                decoded.as_ref().map(RefTarget::customer_id)
            );
        }
    }

    proptest::proptest! {
        /// The one-pass check agrees with the edit distance, on near
        /// strings (one or two random edits of a reference) and any others.
        #[test]
        fn one_edit_apart_is_osa_distance_one(
            a in "[A-Z0-9]{0,10}|\\PC{0,6}",
            edits in proptest::collection::vec((0usize..12, 0u8..4, "[A-C0-2\u{e9}]"), 0..3),
        ) {
            let mut b: Vec<char> = a.chars().collect();
            for (at, kind, c) in &edits {
                let at = (*at).min(b.len());
                let c = c.chars().next().unwrap_or('A');
                match kind {
                    0 if at < b.len() => b[at] = c,
                    1 => b.insert(at, c),
                    2 if at < b.len() => { b.remove(at); }
                    3 if at + 1 < b.len() => b.swap(at, at + 1),
                    _ => {}
                }
            }
            let b: String = b.into_iter().collect();
            proptest::prop_assert_eq!(one_edit_apart(&a, &b), strsim::osa_distance(&a, &b) == 1);
            proptest::prop_assert_eq!(one_edit_apart(&b, &a), strsim::osa_distance(&b, &a) == 1);
        }
    }

    #[test]
    fn one_edit_apart_cases() {
        assert!(one_edit_apart("ACC10023", "ACC10028"));
        assert!(one_edit_apart("ACC10023", "ACC1023"));
        assert!(one_edit_apart("ACC10023", "ACC100273"));
        assert!(one_edit_apart("ACC10023", "ACC10032"));
        assert!(one_edit_apart("AB", "BA"));
        assert!(!one_edit_apart("ACC10023", "ACC10023"));
        assert!(!one_edit_apart("ACC10023", "ACC10099"));
        assert!(!one_edit_apart("ABC", "CBA"));
        assert!(!one_edit_apart("", "AB"));
        assert!(one_edit_apart("", "A"));
    }

    #[test]
    fn one_edit_shares_a_key() {
        let keys = |s: &str| {
            let mut k = deletions(s);
            k.push(s.to_string());
            k
        };
        let share = |a: &str, b: &str| keys(a).iter().any(|k| keys(b).contains(k));
        assert!(share("ACC10023", "ACC10028")); // substitution
        assert!(share("ACC10023", "ACC1023")); // deletion
        assert!(share("ACC10023", "ACC100273")); // insertion
        assert!(share("ACC10023", "ACC10032")); // transposition
        assert!(!share("ACC10023", "ACC10099"));
    }

    #[test]
    fn a_key_list_holds_what_key_builds() {
        let mut list = KeyList::with_capacity(1);
        list.push('p', "254712345678");
        assert_eq!(list.push_with('x', |k| k.extend_from_slice(b"ACC1")), 4);
        assert_eq!(list.push_with('x', |_| {}), 0);
        list.pop();
        list.push('c', "");
        list.push('s', "cus_Nq8");
        let built = [
            key('p', "254712345678"),
            key('x', "ACC1"),
            key('c', ""),
            key('s', "cus_Nq8"),
        ];
        assert_eq!(list.len(), built.len());
        assert_eq!(
            list.slices(),
            built.iter().map(Vec::as_slice).collect::<Vec<_>>()
        );
        list.pop();
        list.pop();
        list.push('o', "C1");
        assert_eq!(list.iter().last(), Some(&b"o:C1"[..]));
        assert_eq!(list.get(1), b"x:ACC1");
    }
}
