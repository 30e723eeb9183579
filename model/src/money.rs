//! Money: an exact decimal amount and an ISO 4217 currency, never a float.
//!
//! Providers send amounts as strings (`"2500.00"`), JSON numbers (`1.00`) or
//! integer minor units (Stripe: `250000` cents). Each is turned into a
//! [`Money`] here, using the currency's minor-unit exponent (KES 2, UGX 0,
//! KWD 3), so no provider adapter does its own arithmetic.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// An ISO 4217 currency code, upper case, three ASCII letters.
///
/// Stored inline (three bytes) so money is `Copy` and cheap to compare.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

/// ISO 4217 currencies without minor units.
const ZERO_DECIMAL: &[[u8; 3]] = &[
    *b"BIF", *b"CLP", *b"DJF", *b"GNF", *b"ISK", *b"JPY", *b"KMF", *b"KRW", *b"PYG", *b"RWF",
    *b"UGX", *b"UYI", *b"VND", *b"VUV", *b"XAF", *b"XOF", *b"XPF",
];
/// ISO 4217 currencies with three decimals.
const THREE_DECIMAL: &[[u8; 3]] = &[
    *b"BHD", *b"IQD", *b"JOD", *b"KWD", *b"LYD", *b"OMR", *b"TND",
];
/// Stripe's zero-decimal currencies (its list differs from ISO: MGA is
/// zero-decimal at Stripe, ISK is sent with two decimals).
const STRIPE_ZERO_DECIMAL: &[[u8; 3]] = &[
    *b"BIF", *b"CLP", *b"DJF", *b"GNF", *b"JPY", *b"KMF", *b"KRW", *b"MGA", *b"PYG", *b"RWF",
    *b"UGX", *b"VND", *b"VUV", *b"XAF", *b"XOF", *b"XPF",
];

impl Currency {
    /// Kenyan shilling.
    pub const KES: Currency = Currency(*b"KES");
    /// Ugandan shilling.
    pub const UGX: Currency = Currency(*b"UGX");
    /// Rwandan franc.
    pub const RWF: Currency = Currency(*b"RWF");
    /// Tanzanian shilling.
    pub const TZS: Currency = Currency(*b"TZS");
    /// US dollar.
    pub const USD: Currency = Currency(*b"USD");

    /// Parses a currency code, accepting lower case (Stripe sends `"kes"`).
    ///
    /// # Errors
    /// [`Error::UnknownCurrency`] when the code is not three ASCII letters.
    pub fn parse(code: &str) -> Result<Self> {
        let bytes = code.trim().as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_alphabetic) {
            return Err(Error::UnknownCurrency {
                code: code.to_string(),
            });
        }
        Ok(Currency([
            bytes[0].to_ascii_uppercase(),
            bytes[1].to_ascii_uppercase(),
            bytes[2].to_ascii_uppercase(),
        ]))
    }

    /// The code, upper case.
    pub fn code(&self) -> &str {
        // Only ever built from ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// The ISO 4217 minor-unit exponent: digits after the decimal point.
    pub fn exponent(&self) -> u32 {
        // Compared as bytes: every payment asks, and three-byte arrays
        // compare in place where strings call `memcmp`.
        if ZERO_DECIMAL.contains(&self.0) {
            0
        } else if THREE_DECIMAL.contains(&self.0) {
            3
        } else {
            2
        }
    }

    /// The exponent Stripe uses for this currency's minor units.
    pub fn stripe_exponent(&self) -> u32 {
        if STRIPE_ZERO_DECIMAL.contains(&self.0) {
            0
        } else if THREE_DECIMAL.contains(&self.0) {
            3
        } else {
            2
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.code())
    }
}

impl FromStr for Currency {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Currency::parse(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Currency::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Currency {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Currency".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[A-Z]{3}$",
            "description": "ISO 4217 currency code, upper case"
        })
    }
}

/// An exact amount of one currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// The amount, scaled to the currency's exponent.
    pub amount: Decimal,
    /// The currency.
    pub currency: Currency,
}

impl Money {
    /// Builds money from an exact decimal, refusing digits the currency does
    /// not have (`10.005 KES`) and rescaling trailing zeros (`100.00 UGX` is
    /// `100 UGX`; `25 KES` is `25.00 KES`).
    ///
    /// # Errors
    /// [`Error::TooPrecise`] when non-zero digits go past the exponent.
    pub fn new(amount: Decimal, currency: Currency) -> Result<Self> {
        let exponent = currency.exponent();
        let mut scaled = amount.normalize();
        if scaled.scale() > exponent {
            return Err(Error::TooPrecise {
                amount: amount.to_string(),
                currency: currency.to_string(),
                exponent,
            });
        }
        scaled.rescale(exponent);
        Ok(Money {
            amount: scaled,
            currency,
        })
    }

    /// Parses an amount written as text: `"2500.00"`, `"2500"`, `" 1,250.50 "`
    /// (thousands separators are accepted, as some providers format them).
    ///
    /// # Errors
    /// [`Error::BadAmount`] for text that is not a plain decimal number,
    /// [`Error::TooPrecise`] as for [`Money::new`].
    pub fn parse(text: &str, currency: Currency) -> Result<Self> {
        let trimmed = text.trim();
        // Copied only when there are separators to drop (rarely).
        let cleaned: std::borrow::Cow<'_, str> = if trimmed.contains(',') {
            trimmed
                .chars()
                .filter(|c| *c != ',')
                .collect::<String>()
                .into()
        } else {
            trimmed.into()
        };
        let bytes = cleaned.as_bytes();
        let valid = bytes.iter().any(u8::is_ascii_digit)
            && bytes.iter().filter(|b| **b == b'.').count() <= 1
            && bytes
                .iter()
                .enumerate()
                .all(|(i, b)| b.is_ascii_digit() || *b == b'.' || (i == 0 && *b == b'-'));
        if !valid {
            return Err(Error::BadAmount {
                text: text.to_string(),
            });
        }
        let amount = Decimal::from_str(&cleaned).map_err(|_| Error::BadAmount {
            text: text.to_string(),
        })?;
        Money::new(amount, currency)
    }

    /// Builds money from integer minor units with an explicit exponent
    /// (Stripe's exponent can differ from ISO's).
    ///
    /// # Errors
    /// [`Error::MinorUnitsOverflow`] when the value does not fit a decimal;
    /// [`Error::TooPrecise`] when the provider exponent exceeds ISO's and the
    /// trailing digits are not zero.
    pub fn from_minor_units(minor: i128, exponent: u32, currency: Currency) -> Result<Self> {
        let mantissa: i64 = minor
            .try_into()
            .map_err(|_| Error::MinorUnitsOverflow { minor })?;
        Money::new(Decimal::new(mantissa, exponent), currency)
    }

    /// Zero of a currency.
    pub fn zero(currency: Currency) -> Self {
        let mut amount = Decimal::ZERO;
        amount.rescale(currency.exponent());
        Money { amount, currency }
    }

    /// Whether the amount is strictly positive.
    pub fn is_positive(&self) -> bool {
        self.amount > Decimal::ZERO
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponents_follow_iso_4217() {
        assert_eq!(Currency::KES.exponent(), 2);
        assert_eq!(Currency::UGX.exponent(), 0);
        assert_eq!(Currency::RWF.exponent(), 0);
        assert_eq!(Currency::parse("kwd").unwrap().exponent(), 3);
    }

    #[test]
    fn lower_case_codes_are_accepted() {
        assert_eq!(Currency::parse("kes").unwrap(), Currency::KES);
        assert!(Currency::parse("KE").is_err());
        assert!(Currency::parse("K3S").is_err());
    }

    #[test]
    fn amounts_rescale_to_the_currency() {
        let kes = Money::parse("2500", Currency::KES).unwrap();
        assert_eq!(kes.amount.to_string(), "2500.00");
        let ugx = Money::parse("5000.00", Currency::UGX).unwrap();
        assert_eq!(ugx.amount.to_string(), "5000");
        assert!(Money::parse("5000.50", Currency::UGX).is_err());
        assert!(Money::parse("10.005", Currency::KES).is_err());
        assert_eq!(
            Money::parse("1,250.5", Currency::KES)
                .unwrap()
                .amount
                .to_string(),
            "1250.50"
        );
    }

    #[test]
    fn garbage_amounts_are_refused() {
        for text in ["", "abc", "1.2.3", "1e5", "--1", "NaN", "12a"] {
            assert!(Money::parse(text, Currency::KES).is_err(), "{text}");
        }
    }

    #[test]
    fn minor_units_use_the_given_exponent() {
        let usd = Money::from_minor_units(250_075, 2, Currency::USD).unwrap();
        assert_eq!(usd.amount.to_string(), "2500.75");
        let ugx = Money::from_minor_units(5000, 0, Currency::UGX).unwrap();
        assert_eq!(ugx.amount.to_string(), "5000");
        assert!(Money::from_minor_units(i128::MAX, 2, Currency::USD).is_err());
    }

    /// The parse as it was written first: the cleaned text copied, then
    /// checked character by character.
    fn parse_by_copy(text: &str, currency: Currency) -> Result<Money> {
        let cleaned: String = text.trim().chars().filter(|c| *c != ',').collect();
        let valid = !cleaned.is_empty()
            && cleaned
                .chars()
                .enumerate()
                .all(|(i, c)| c.is_ascii_digit() || c == '.' || (i == 0 && c == '-'))
            && cleaned.chars().filter(|c| *c == '.').count() <= 1
            && cleaned.chars().any(|c| c.is_ascii_digit());
        if !valid {
            return Err(Error::BadAmount {
                text: text.to_string(),
            });
        }
        let amount = Decimal::from_str(&cleaned).map_err(|_| Error::BadAmount {
            text: text.to_string(),
        })?;
        Money::new(amount, currency)
    }

    proptest::proptest! {
        /// Any text parses as the first, copying parse did, in any
        /// currency (zero, two or three decimals).
        #[test]
        fn parsing_in_place_is_parsing_a_copy(
            text in "[ ,.0-9é-]{0,12}|-?[0-9]{1,6}(\\.[0-9]{0,4})?|[0-9]{1,3}(,[0-9]{3}){0,3}(\\.[0-9]{2})?",
            code in proptest::sample::select(vec!["KES", "UGX", "KWD"]),
        ) {
            let currency = Currency::parse(code).unwrap();
            proptest::prop_assert_eq!(
                format!("{:?}", Money::parse(&text, currency)),
                format!("{:?}", parse_by_copy(&text, currency))
            );
        }
    }
}
