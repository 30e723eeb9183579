//! Field readers shared by the adapters, so each quirk (amounts as strings
//! or numbers, local compact times, clear/hashed/masked phones) is handled in
//! exactly one place.

use std::borrow::Cow;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use model::phone::is_sha256_hex;
use model::{
    normalize_msisdn, Currency, Money, PayerPhone, Payment, PaymentStatus, ReferenceKind,
    ReferenceValue,
};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::NormalizeError;
use crate::config::ProvidersConfig;

/// Parses a payload into the adapter's shape. The shapes borrow their
/// fields from `payload` ([`Scalar`]): reading a callback copies only the
/// text a [`Payment`] keeps.
pub(super) fn parse_json<'a, T: Deserialize<'a>>(
    provider: &'static str,
    payload: &'a str,
) -> Result<T, NormalizeError> {
    serde_json::from_str(payload).map_err(|e| NormalizeError::BadPayload {
        provider,
        detail: e.to_string(),
    })
}

/// The text of a JSON scalar, given its raw JSON text: a string's content
/// or a number's digits as written (never through a float). `None` for
/// null, booleans and objects.
pub(super) fn scalar_text(raw: &str) -> Option<Cow<'_, str>> {
    let text = trim(raw);
    match text.as_bytes().first()? {
        b'"' => model::json::string_text(text),
        b'-' | b'0'..=b'9' => Some(Cow::Borrowed(text)),
        _ => None,
    }
}

/// `str::trim`, answering at once for text that starts and ends with a
/// printable ASCII byte (every field of most payloads): Unicode's white
/// space is either ASCII at or below the space, or starts and ends with a
/// byte above 0x7f.
fn trim(text: &str) -> &str {
    let printable = |b: Option<&u8>| b.is_some_and(|b| (0x21..0x7f).contains(b));
    let bytes = text.as_bytes();
    if printable(bytes.first()) && printable(bytes.last()) {
        text
    } else {
        text.trim()
    }
}

/// A JSON field that providers send as a string or a number, borrowed
/// from the payload: fields must say `#[serde(borrow)]`, or serde copies.
pub(super) type Scalar<'a> = Option<&'a RawValue>;

/// A scalar field's text, trimmed; `None` when absent, null or empty.
/// Borrowed from the payload unless the string had escapes.
pub(super) fn text<'a>(field: &Scalar<'a>) -> Option<Cow<'a, str>> {
    raw_text(field.map(RawValue::get))
}

/// [`text`] of a member's raw JSON text (as `flat::members` reads it).
pub(super) fn raw_text(raw: Option<&str>) -> Option<Cow<'_, str>> {
    match scalar_text(raw?)? {
        Cow::Borrowed(text) => Some(trim(text))
            .filter(|t| !t.is_empty())
            .map(Cow::Borrowed),
        Cow::Owned(text) => non_empty(Some(&text)).map(Cow::Owned),
    }
}

/// A trimmed, non-empty string, or `None`.
pub(super) fn non_empty(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// A field the provider always sends (as [`text`] reads it).
pub(super) fn required<'a>(
    provider: &'static str,
    field: &'static str,
    value: Option<Cow<'a, str>>,
) -> Result<Cow<'a, str>, NormalizeError> {
    value.ok_or(NormalizeError::MissingField { provider, field })
}

/// Reads a currency code.
pub(super) fn currency(provider: &'static str, code: &str) -> Result<Currency, NormalizeError> {
    Currency::parse(code).map_err(|_| NormalizeError::BadCurrency {
        provider,
        code: code.to_string(),
    })
}

/// Reads a decimal amount written as a string or a JSON number.
pub(super) fn decimal_amount(
    provider: &'static str,
    text: &str,
    currency: Currency,
) -> Result<Money, NormalizeError> {
    // JSON numbers may use exponents (`1e3`): accept them exactly.
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text)
            .map_err(|_| model::Error::BadAmount {
                text: text.to_string(),
            })
            .and_then(|d| Money::new(d, currency))
    } else {
        Money::parse(text, currency)
    };
    parsed.map_err(|e| NormalizeError::BadAmount {
        provider,
        detail: e.to_string(),
    })
}

/// Reads an integer amount in minor units with the given exponent.
pub(super) fn minor_units_amount(
    provider: &'static str,
    text: &str,
    exponent: u32,
    currency: Currency,
) -> Result<Money, NormalizeError> {
    let bad = |detail: String| NormalizeError::BadAmount { provider, detail };
    let minor: i128 = text
        .trim()
        .parse()
        .map_err(|_| bad(format!("{text:?} is not an integer amount in minor units")))?;
    Money::from_minor_units(minor, exponent, currency).map_err(|e| bad(e.to_string()))
}

/// Reads a compact local time (`yyyyMMddHHmmss`, as M-Pesa sends) in `zone`.
pub(super) fn compact_local_time(
    provider: &'static str,
    field: &'static str,
    text: &str,
    zone: Tz,
) -> Result<DateTime<Utc>, NormalizeError> {
    let bad = || NormalizeError::BadTime {
        provider,
        field,
        text: text.to_string(),
    };
    let digits = text.trim().as_bytes();
    if digits.len() != 14 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    // Hand-parsed: this runs for every M-Pesa payment.
    let num = |from: usize, to: usize| {
        digits[from..to]
            .iter()
            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
    };
    let naive = chrono::NaiveDate::from_ymd_opt(num(0, 4) as i32, num(4, 6), num(6, 8))
        .and_then(|d| d.and_hms_opt(num(8, 10), num(10, 12), num(12, 14)))
        .ok_or_else(bad)?;
    zone.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(bad)
}

/// Reads an RFC 3339 time, with any offset, as UTC.
pub(super) fn rfc3339_time(
    provider: &'static str,
    field: &'static str,
    text: &str,
) -> Result<DateTime<Utc>, NormalizeError> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| NormalizeError::BadTime {
            provider,
            field,
            text: text.to_string(),
        })
}

/// Reads Unix seconds.
pub(super) fn unix_time(
    provider: &'static str,
    field: &'static str,
    seconds: i64,
) -> Result<DateTime<Utc>, NormalizeError> {
    DateTime::from_timestamp(seconds, 0).ok_or_else(|| NormalizeError::BadTime {
        provider,
        field,
        text: seconds.to_string(),
    })
}

/// The payer's phone: a SHA-256 digest (M-Pesa hashed MSISDN), a readable
/// number, or nothing when masked (`2547*****149`) or unreadable. A bad
/// phone never refuses a payment: money still moved.
pub(super) fn payer_phone(text: Option<&str>, country_code: &str) -> Option<PayerPhone> {
    let text = text?.trim();
    if text.is_empty() || text.contains('*') {
        return None;
    }
    if is_sha256_hex(text) {
        return Some(PayerPhone::Hashed(text.to_ascii_lowercase()));
    }
    normalize_msisdn(text, country_code)
        .ok()
        .map(PayerPhone::Clear)
}

/// The references a payload carries, in trust order, skipping absent ones.
pub(super) fn references<'a>(
    candidates: impl IntoIterator<Item = (ReferenceKind, Option<Cow<'a, str>>)>,
) -> Vec<ReferenceValue> {
    candidates
        .into_iter()
        .filter_map(|(kind, value)| {
            value.map(|value| ReferenceValue {
                kind,
                value: value.into_owned(),
            })
        })
        .collect()
}

/// Joins name parts, skipping empty ones and collapsing spaces.
pub(super) fn full_name<const N: usize>(parts: [Option<&str>; N]) -> Option<String> {
    // Sized once: the words and a space after each fit in the parts'
    // lengths plus one each.
    let most: usize = parts.iter().flatten().map(|p| p.len() + 1).sum();
    let mut joined = String::with_capacity(most);
    for word in parts.into_iter().flatten().flat_map(str::split_whitespace) {
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(word);
    }
    (!joined.is_empty()).then_some(joined)
}

/// Refuses amounts no real payment has: zero or negative money received,
/// or more than the configured maximum. Failed payments may carry zero.
pub(super) fn check_limits(
    payment: &Payment,
    config: &ProvidersConfig,
) -> Result<(), NormalizeError> {
    let amount = payment.money.amount;
    let zero_allowed = matches!(payment.status, PaymentStatus::Failed { .. });
    let too_small = if zero_allowed {
        amount < Decimal::ZERO
    } else {
        amount <= Decimal::ZERO
    };
    if too_small || amount > config.max_amount {
        return Err(NormalizeError::AmountOutOfRange {
            amount: amount.to_string(),
            currency: payment.money.currency.to_string(),
            max: config.max_amount.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// The shortcut trims exactly as `str::trim`.
        #[test]
        fn trim_is_str_trim(
            text in prop::collection::vec(
                prop::sample::select(vec!['a', 'Z', '0', ' ', '\t', '\n', '\u{0b}', '\u{85}',
                    '\u{a0}', '\u{2028}', '\u{3000}', 'é', '~', '\u{7f}', '!']),
                0..8,
            ).prop_map(String::from_iter),
        ) {
            prop_assert_eq!(super::trim(&text), text.trim());
        }
    }
}
