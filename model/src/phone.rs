//! Phone numbers as E.164 digits (`254712345678`, no `+`), and their SHA-256
//! hashes.
//!
//! Payers and billing systems write numbers every way (`0712 345 678`,
//! `+254712345678`, `712345678`); the index and the matchers only ever see the
//! normalized form. Safaricom may send the payer's MSISDN as the SHA-256 hex
//! digest of that form, so the index keeps each customer's hash too.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A phone number in E.164 digits, without the leading `+`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Msisdn(String);

impl Msisdn {
    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits, owned.
    pub fn into_string(self) -> String {
        self.0
    }

    /// The SHA-256 hex digest of the digits, as M-Pesa sends hashed numbers.
    pub fn hash(&self) -> String {
        phone_hash(&self.0)
    }
}

impl fmt::Display for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Msisdn({})", self.0)
    }
}

/// Lowercase SHA-256 hex digest of a normalized number's digits.
pub fn phone_hash(e164_digits: &str) -> String {
    hex::encode(Sha256::digest(e164_digits.as_bytes()))
}

/// Whether `text` looks like a SHA-256 hex digest (64 hex characters).
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Length of the national significant number in the East African markets
/// paymatch serves (Kenya, Uganda, Tanzania, Rwanda all use nine digits).
const NATIONAL_LENGTH: usize = 9;

/// Normalizes a phone number to E.164 digits.
///
/// `default_country_code` (digits, such as `"254"`) is used for numbers
/// written in national form: `0712345678`, `712345678`. International forms
/// (`+254…`, `00254…`, `254…`) are kept as they are.
///
/// # Errors
/// [`Error::BadPhone`] when the text holds letters, too few or too many digits.
pub fn normalize_msisdn(text: &str, default_country_code: &str) -> Result<Msisdn> {
    let bad = || Error::BadPhone {
        text: text.to_string(),
    };
    let trimmed = text.trim();
    let mut international = false;
    let mut digits = String::with_capacity(trimmed.len());
    for (i, c) in trimmed.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => international = true,
            ' ' | '-' | '(' | ')' | '.' => {}
            _ => return Err(bad()),
        }
    }
    if !international && digits.starts_with("00") {
        international = true;
        digits.drain(..2);
    }
    let already_international = international
        || (digits.starts_with(default_country_code)
            && digits.len() == default_country_code.len() + NATIONAL_LENGTH);
    let normalized = if already_international {
        digits
    } else if digits.len() == NATIONAL_LENGTH + 1 && digits.starts_with('0') {
        format!("{default_country_code}{}", &digits[1..])
    } else if digits.len() == NATIONAL_LENGTH && !digits.starts_with('0') {
        format!("{default_country_code}{digits}")
    } else if (11..=15).contains(&digits.len()) && !digits.starts_with('0') {
        digits
    } else {
        return Err(bad());
    };
    if !(8..=15).contains(&normalized.len()) || normalized.starts_with('0') {
        return Err(bad());
    }
    Ok(Msisdn(normalized))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn kenyan_forms_agree() {
        for text in [
            "0712345678",
            "+254712345678",
            "712345678",
            "254712345678",
            "0712 345 678",
            "+254 712-345-678",
            "00254712345678",
        ] {
            assert_eq!(
                normalize_msisdn(text, "254").unwrap().as_str(),
                "254712345678",
                "{text}"
            );
        }
        assert_eq!(
            normalize_msisdn("0110345678", "254").unwrap().as_str(),
            "254110345678"
        );
    }

    #[test]
    fn other_countries_by_default_code_or_prefix() {
        assert_eq!(
            normalize_msisdn("0772123456", "256").unwrap().as_str(),
            "256772123456"
        );
        assert_eq!(
            normalize_msisdn("256772123456", "254").unwrap().as_str(),
            "256772123456"
        );
    }

    #[test]
    fn rubbish_is_refused() {
        for text in [
            "",
            "abc",
            "0712",
            "07123456789012345678",
            "+0712345678",
            "07x2345678",
        ] {
            assert!(normalize_msisdn(text, "254").is_err(), "{text}");
        }
    }

    #[test]
    fn hash_is_sha256_of_the_digits() {
        let m = normalize_msisdn("0712345678", "254").unwrap();
        assert_eq!(m.hash(), phone_hash("254712345678"));
        assert!(is_sha256_hex(&m.hash()));
        assert_eq!(m.hash().len(), 64);
    }

    proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,40}") {
            let _ = normalize_msisdn(&text, "254");
        }
    }
}
