//! Reading decimal amounts from JSON exactly, whether written as strings
//! (`"2500.00"`, the contract) or as numbers (`2500`, `1000.50`, as some
//! billing exports write them). Numbers are read from their JSON text, never
//! through a float.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// Parses a JSON scalar's text (a string or a number, as valid JSON) as a
/// decimal; `None` for anything else.
pub fn parse(text: &str) -> Option<Decimal> {
    let text = text.trim();
    let unquoted;
    let digits = if text.starts_with('"') {
        unquoted = crate::json::string_text(text)?;
        unquoted.trim()
    } else {
        text
    };
    if digits.contains(['e', 'E']) {
        Decimal::from_scientific(digits).ok()
    } else {
        Decimal::from_str(digits).ok()
    }
}

/// `deserialize_with` for a decimal written as a string or a number.
///
/// # Errors
/// A value that is neither, or not a decimal.
pub fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    let raw = Box::<RawValue>::deserialize(d)?;
    parse(raw.get())
        .ok_or_else(|| serde::de::Error::custom(format!("{} is not a decimal amount", raw.get())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Row {
        #[serde(deserialize_with = "lenient")]
        amount: Decimal,
    }

    fn read(json: &str) -> Option<String> {
        serde_json::from_str::<Row>(json)
            .ok()
            .map(|r| r.amount.to_string())
    }

    #[test]
    fn strings_and_numbers_read_exactly() {
        assert_eq!(read(r#"{"amount": "2500.00"}"#).as_deref(), Some("2500.00"));
        assert_eq!(read(r#"{"amount": 2500}"#).as_deref(), Some("2500"));
        assert_eq!(read(r#"{"amount": 1000.50}"#).as_deref(), Some("1000.50"));
        assert_eq!(read(r#"{"amount": 0.1}"#).as_deref(), Some("0.1"));
        assert_eq!(read(r#"{"amount": 1e3}"#).as_deref(), Some("1000"));
        assert_eq!(read(r#"{"amount": "abc"}"#), None);
        assert_eq!(read(r#"{"amount": true}"#), None);
        assert_eq!(read(r#"{"amount": null}"#), None);
    }
}
