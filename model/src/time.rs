//! UTC times as the output records write them: RFC 3339, exactly chrono's
//! serde form (`2026-11-02T12:00:00Z`, fractions of a second only when
//! present, in 3, 6 or 9 digits), written without chrono's `Display`.
//!
//! Every decision, ledger entry and access command carries one or two
//! times, and chrono's serde impl formats through `fmt::Write` one
//! character at a time: in the Kafka mode's profile, more than half of
//! encoding a decision. This writes the same bytes from a stack buffer.
//!
//! Reading: chrono's parser, which accepts any offset, goes through its
//! general format machinery, 2 % of stage 1 for each envelope's
//! `received_at`. [`parse`] reads the common forms
//! (`2026-11-02T06:38:45Z`, `2026-11-02T06:38:45.824Z`) by hand and leaves
//! every other to chrono.

use std::fmt;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Timelike, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serializer};

/// chrono's own form, for years outside 0–9999 (written with a sign).
fn fallback(t: &DateTime<Utc>) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| t.to_rfc3339())
}

/// Writes `value` as `width` decimal digits at `at`.
fn put(buf: &mut [u8; 32], at: usize, value: u32, width: usize) {
    let mut v = value;
    for i in (0..width).rev() {
        buf[at + i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Writes `t` into `buf`; 0 if the year needs chrono's signed form.
fn write(t: &DateTime<Utc>, buf: &mut [u8; 32]) -> usize {
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return 0;
    }
    // A leap second is held as 1 000 000 000 ns or more; chrono writes
    // it as second 60.
    let (second, nanos) = match t.nanosecond() {
        n if n >= 1_000_000_000 => (t.second() + 1, n - 1_000_000_000),
        n => (t.second(), n),
    };
    buf[..20].copy_from_slice(b"0000-00-00T00:00:00Z");
    put(buf, 0, year as u32, 4);
    put(buf, 5, t.month(), 2);
    put(buf, 8, t.day(), 2);
    put(buf, 11, t.hour(), 2);
    put(buf, 14, t.minute(), 2);
    put(buf, 17, second, 2);
    let mut at = 19;
    if nanos != 0 {
        buf[at] = b'.';
        let (value, width) = if nanos % 1_000_000 == 0 {
            (nanos / 1_000_000, 3)
        } else if nanos % 1_000 == 0 {
            (nanos / 1_000, 6)
        } else {
            (nanos, 9)
        };
        put(buf, at + 1, value, width);
        at += 1 + width;
    }
    buf[at] = b'Z';
    at + 1
}

/// Appends `t` as a JSON string, as [`serialize`] writes it through
/// serde_json.
pub(crate) fn write_json(t: &DateTime<Utc>, out: &mut Vec<u8>) {
    let mut buf = [0u8; 32];
    let len = write(t, &mut buf);
    if len > 0 {
        out.push(b'"');
        out.extend_from_slice(&buf[..len]);
        out.push(b'"');
    } else {
        // The fallback's text is RFC 3339: nothing in it needs escaping.
        let _ = serde_json::to_writer(&mut *out, &fallback(t));
    }
}

/// `serialize_with` for a `DateTime<Utc>`.
///
/// # Errors
/// The serializer's.
pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 32];
    let len = write(t, &mut buf);
    // Only ASCII digits and separators are written: always UTF-8.
    match std::str::from_utf8(&buf[..len]) {
        Ok(text) if len > 0 => s.serialize_str(text),
        _ => s.serialize_str(&fallback(t)),
    }
}

/// `serialize_with` for an `Option<DateTime<Utc>>` (`null` when absent).
///
/// # Errors
/// The serializer's.
pub fn serialize_option<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => serialize(t, s),
        None => s.serialize_none(),
    }
}

/// Reads an RFC 3339 time as chrono's serde impl does (any offset, as
/// UTC); `YYYY-MM-DDTHH:MM:SS[.f]Z` without its general parser.
///
/// # Errors
/// chrono's, for text that is not such a time.
pub fn parse(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    if let Some(t) = parse_plain_utc(text.as_bytes()) {
        return Ok(t);
    }
    text.parse::<DateTime<FixedOffset>>()
        .map(|t| t.with_timezone(&Utc))
}

/// `YYYY-MM-DDTHH:MM:SS[.f]Z` (one to nine digits of fraction) exactly;
/// `None` for anything else (chrono then decides, with its own error).
fn parse_plain_utc(b: &[u8]) -> Option<DateTime<Utc>> {
    let pattern = b"dddd-dd-ddTdd:dd:dd";
    let (seconds, rest) = b.split_at_checked(pattern.len())?;
    let shaped = seconds.iter().zip(pattern).all(|(&c, &p)| match p {
        b'd' => c.is_ascii_digit(),
        _ => c == p,
    });
    let fraction = match rest {
        [b'Z'] => &[][..],
        [b'.', digits @ .., b'Z'] if (1..=9).contains(&digits.len()) => digits,
        _ => return None,
    };
    if !shaped || !fraction.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let num = |digits: &[u8]| {
        digits
            .iter()
            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
    };
    let nanos = num(fraction) * 10u32.pow(9 - fraction.len() as u32);
    NaiveDate::from_ymd_opt(num(&b[0..4]) as i32, num(&b[5..7]), num(&b[8..10]))?
        .and_hms_nano_opt(num(&b[11..13]), num(&b[14..16]), num(&b[17..19]), nanos)
        .map(|t| t.and_utc())
}

/// `deserialize_with` for an `Option<DateTime<Utc>>`: [`parse`], with
/// chrono's error texts.
///
/// # Errors
/// The deserializer's, or chrono's for a string that is not a time.
pub fn deserialize_option<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    struct Rfc3339(DateTime<Utc>);
    struct Text;
    impl Visitor<'_> for Text {
        type Value = Rfc3339;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an RFC 3339 formatted date and time string")
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<Rfc3339, E> {
            parse(text).map(Rfc3339).map_err(E::custom)
        }
    }
    impl<'de> Deserialize<'de> for Rfc3339 {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_str(Text)
        }
    }
    Ok(Option::<Rfc3339>::deserialize(d)?.map(|t| t.0))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;

    /// What [`serialize`] writes, without the JSON quotes.
    fn rfc3339(t: &DateTime<Utc>) -> String {
        let mut json = Vec::new();
        serialize(t, &mut serde_json::Serializer::new(&mut json)).unwrap();
        serde_json::from_slice(&json).unwrap()
    }

    fn chrono_form(t: &DateTime<Utc>) -> String {
        serde_json::to_value(t)
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn the_forms_chrono_writes() {
        let t = Utc.with_ymd_and_hms(2026, 11, 2, 12, 0, 0).unwrap();
        assert_eq!(rfc3339(&t), "2026-11-02T12:00:00Z");
        for nanos in [0, 5_000_000, 123_456_000, 1, 999_999_999] {
            let t = t + chrono::Duration::nanoseconds(nanos);
            assert_eq!(rfc3339(&t), chrono_form(&t), "{nanos}");
        }
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .unwrap()
            .and_utc();
        assert_eq!(rfc3339(&leap), "2016-12-31T23:59:60.500Z");
        assert_eq!(rfc3339(&leap), chrono_form(&leap));
        let far = Utc.with_ymd_and_hms(12026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(rfc3339(&far), chrono_form(&far));
    }

    /// What [`deserialize_option`] reads, as JSON.
    fn read(json: &str) -> Result<Option<DateTime<Utc>>, String> {
        deserialize_option(&mut serde_json::Deserializer::from_str(json)).map_err(|e| e.to_string())
    }

    /// What chrono's serde impl reads.
    fn chrono_reads(json: &str) -> Result<Option<DateTime<Utc>>, String> {
        serde_json::from_str::<Option<DateTime<Utc>>>(json).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_what_chrono_reads_with_its_errors() {
        for json in [
            r#""2026-11-02T06:38:45Z""#,
            r#""2026-11-02T06:38:45.5Z""#,
            r#""2026-11-02T06:38:45.824Z""#,
            r#""2026-11-02T06:38:45.123456789Z""#,
            r#""2026-11-02T06:38:45.1234567891Z""#,
            r#""2026-11-02T06:38:45.Z""#,
            r#""2026-11-02T06:38:45.82xZ""#,
            r#""2016-12-31T23:59:60.5Z""#,
            r#""2026-11-02T09:38:45+03:00""#,
            r#""2026-11-02t06:38:45z""#,
            r#""2026-11-02 06:38:45Z""#,
            r#""2016-12-31T23:59:60Z""#,
            r#""2026-02-30T06:38:45Z""#,
            r#""2026-11-02T24:00:00Z""#,
            r#""2026-11-02""#,
            r#""yesterday""#,
            r#""""#,
            "null",
            "5",
            "{}",
        ] {
            assert_eq!(read(json), chrono_reads(json), "{json}");
        }
    }

    proptest! {
        /// Any time chrono writes, and any text of the plain form's shape,
        /// reads as chrono reads it.
        #[test]
        fn reads_as_chrono_reads(
            secs in -70_000_000_000i64..300_000_000_000i64,
            shaped in "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,10})?Z",
            nanos in 0u32..1_000_000_000,
        ) {
            if let Some(t) = DateTime::from_timestamp(secs, nanos) {
                let json = serde_json::to_string(&t).unwrap();
                prop_assert_eq!(read(&json), chrono_reads(&json));
            }
            let json = format!("{shaped:?}");
            prop_assert_eq!(read(&json), chrono_reads(&json));
        }

        /// Byte for byte chrono's serde form, for any time it can hold.
        #[test]
        fn any_time_is_written_as_chrono_writes_it(
            secs in -70_000_000_000i64..300_000_000_000i64,
            nanos in prop_oneof![Just(0u32), 0u32..1_000, 0u32..2_000_000_000],
            scale in prop_oneof![Just(1u32), Just(1_000), Just(1_000_000)],
        ) {
            let nanos = nanos.saturating_mul(scale) % 2_000_000_000;
            if let Some(t) = DateTime::from_timestamp(secs, nanos) {
                prop_assert_eq!(rfc3339(&t), chrono_form(&t));
            }
        }
    }
}
