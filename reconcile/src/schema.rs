//! The Arrow shapes every job agrees on: the ledger and statement tables the
//! plan reads, and the money type. Amounts are `Decimal128(18, 4)`: exact,
//! stored as 64-bit integers in Parquet (cheap to scan, readable by DuckDB
//! and pandas as decimals), with room for three-decimal currencies.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use rust_decimal::Decimal;

/// Digits of an amount.
pub const AMOUNT_PRECISION: u8 = 18;
/// Decimals of an amount.
pub const AMOUNT_SCALE: i8 = 4;

/// The Arrow type of every amount.
pub fn amount_type() -> DataType {
    DataType::Decimal128(AMOUNT_PRECISION, AMOUNT_SCALE)
}

/// The Arrow type of every time: microseconds, UTC.
pub fn time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// An amount as the integer `Decimal128(18, 4)` stores, or `None` when it
/// has more than four decimals or more than 14 integer digits.
pub fn to_amount_units(value: Decimal) -> Option<i128> {
    let mut v = value;
    // Trailing zeros beyond four decimals (`1.50000`) are no more precise.
    if v.scale() > AMOUNT_SCALE as u32 {
        v = v.normalize();
        if v.scale() > AMOUNT_SCALE as u32 {
            return None;
        }
    }
    v.rescale(AMOUNT_SCALE as u32);
    if v.scale() != AMOUNT_SCALE as u32 {
        return None;
    }
    let units = v.mantissa();
    (units.abs() < 10i128.pow(AMOUNT_PRECISION as u32)).then_some(units)
}

/// The decimal an amount integer stands for.
pub fn from_amount_units(units: i128) -> Decimal {
    Decimal::from_i128_with_scale(units, AMOUNT_SCALE as u32).normalize()
}

/// An amount as a decimal string with the currency's decimals at least
/// (`2500` in KES is `"2500.00"`).
pub fn amount_text(units: i128, exponent: u32) -> String {
    let mut d = from_amount_units(units);
    if d.scale() < exponent {
        d.rescale(exponent);
    }
    d.to_string()
}

/// The ledger as the plan reads it: one row per ledger entry, with the
/// payment id split into provider and provider txn id.
pub fn ledger_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("entry_id", DataType::Utf8, false),
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("payment_id", DataType::Utf8, false),
        Field::new("invoice_id", DataType::Utf8, true),
        Field::new("kind", DataType::Utf8, false),
        Field::new("amount", amount_type(), false),
        Field::new("currency", DataType::Utf8, false),
        Field::new("at", time_type(), false),
        Field::new("provider", DataType::Utf8, false),
        Field::new("provider_txn_id", DataType::Utf8, false),
    ]))
}

/// The Arrow type of a text column with few distinct values (provider,
/// kind, currency): a dictionary, two bytes a row where the text took
/// eleven. Keys are `UInt16`, more than a batch has rows, so a batch can
/// never run out of them.
pub fn few_strings_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::UInt16), Box::new(DataType::Utf8))
}

/// A provider statement as the plan reads it, whatever its file format.
pub fn statement_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("line", DataType::UInt64, false),
        Field::new("provider", few_strings_type(), false),
        Field::new("txn_id", DataType::Utf8, false),
        Field::new("kind", few_strings_type(), false),
        Field::new("amount", amount_type(), false),
        Field::new("fee", amount_type(), false),
        Field::new("currency", few_strings_type(), false),
        Field::new("completed_at", time_type(), false),
        Field::new("reference", DataType::Utf8, true),
        Field::new("counterparty", DataType::Utf8, true),
        Field::new("details", DataType::Utf8, true),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn amounts_round_trip_exactly() {
        for text in ["2500.00", "0.01", "-120.5", "1.234", "99999999999999.9999"] {
            let d = Decimal::from_str(text).unwrap();
            let units = to_amount_units(d).unwrap();
            assert_eq!(from_amount_units(units), d.normalize(), "{text}");
        }
        assert_eq!(to_amount_units(Decimal::from_str("0.00001").unwrap()), None);
        assert_eq!(
            to_amount_units(Decimal::from_str("1.500000").unwrap()),
            Some(15_000)
        );
        assert_eq!(
            to_amount_units(Decimal::from_str("-7").unwrap()),
            Some(-70_000)
        );
        assert_eq!(
            to_amount_units(Decimal::from_str("100000000000000").unwrap()),
            None
        );
        assert_eq!(amount_text(25_000_000, 2), "2500.00");
        assert_eq!(amount_text(25_000_000, 0), "2500");
        assert_eq!(amount_text(12_345, 2), "1.2345");
    }
}
