//! The SQL functions the plans use, registered in every session:
//!
//! * `payment_provider(payment_id)`, `payment_txn_id(payment_id)`: the two
//!   halves of `provider:provider_txn_id`, so a Parquet ledger need not
//!   carry them as columns;
//! * `currency_code(currency)`, `currency_name(code)`: a three-letter code
//!   as an integer and back. Grouping aggregates over integers are several
//!   times cheaper than over strings, and currencies are compared for every
//!   payment;
//! * `money_key(amount, currency)`, `money_currency(key)`: an amount and
//!   its currency as one integer that orders by amount, then currency. One
//!   `min` and one `max` of it per side of a duplicated txn id say whether
//!   all its amounts and currencies agree;
//! * `txn_key(txn_id)`, `hashed_key(key)`: a txn id as one 128-bit
//!   integer, the key the classification groups by (see [`txn_key`]).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, Int64Array, StringArray, UInt32Array,
};
use arrow::datatypes::{DataType, Decimal128Type, Int64Type};
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};
use datafusion::prelude::SessionContext;

use crate::ledger::split_payment_id;
use crate::schema::amount_type;

/// Packs an upper-case three-letter code into an integer.
pub fn currency_code(code: &str) -> Option<i64> {
    let b = code.as_bytes();
    (b.len() == 3).then(|| (i64::from(b[0]) << 16) | (i64::from(b[1]) << 8) | i64::from(b[2]))
}

/// Unpacks [`currency_code`].
pub fn currency_name(code: i64) -> String {
    let bytes = [(code >> 16) as u8, (code >> 8) as u8, code as u8];
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Bits of a money key that hold the currency code.
const CURRENCY_BITS: u32 = 24;

/// An amount (in `Decimal128(18, 4)` units) and a [`currency_code`] as one
/// integer: orders by amount, then currency.
pub fn money_key(units: i128, code: i64) -> i128 {
    (units << CURRENCY_BITS) | i128::from(code & ((1 << CURRENCY_BITS) - 1))
}

/// The amount units and currency code of a [`money_key`].
pub fn money_parts(key: i128) -> (i128, i64) {
    (
        key >> CURRENCY_BITS,
        (key & ((1 << CURRENCY_BITS) - 1)) as i64,
    )
}

/// The Arrow type of money keys and txn keys: Arrow's 128-bit integer.
fn key_type() -> DataType {
    DataType::Decimal128(38, 0)
}

/// Keys (money or txn) as a column of [`key_type`].
fn key_column(
    keys: impl Iterator<Item = Option<i128>>,
) -> datafusion::error::Result<ColumnarValue> {
    let out: Decimal128Array = keys.collect();
    Ok(ColumnarValue::Array(Arc::new(
        out.with_precision_and_scale(38, 0)?,
    )))
}

fn key_of(args: &[ColumnarValue]) -> datafusion::error::Result<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let amounts = arrays[0].as_primitive::<Decimal128Type>();
    let currencies = arrays[1].as_string::<i32>();
    key_column(
        amounts
            .iter()
            .zip(currencies.iter())
            .map(|(units, currency)| Some(money_key(units?, currency_code(currency?)?))),
    )
}

fn currency_of_key(a: &ArrayRef) -> ArrayRef {
    let keys = a.as_primitive::<Decimal128Type>();
    let out: Int64Array = keys.iter().map(|k| k.map(|k| money_parts(k).1)).collect();
    Arc::new(out)
}

type Kernel = fn(&ArrayRef) -> ArrayRef;

fn udf(name: &str, input: DataType, output: DataType, kernel: Kernel) -> ScalarUDF {
    let f = move |args: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(args)?;
        Ok(ColumnarValue::Array(kernel(&arrays[0])))
    };
    create_udf(
        name,
        vec![input],
        output,
        Volatility::Immutable,
        Arc::new(f),
    )
}

fn provider_of(a: &ArrayRef) -> ArrayRef {
    let ids = a.as_string::<i32>();
    let out: StringArray = ids
        .iter()
        .map(|id| id.map(|id| split_payment_id(id).0))
        .collect();
    Arc::new(out)
}

fn txn_of(a: &ArrayRef) -> ArrayRef {
    let ids = a.as_string::<i32>();
    let out: StringArray = ids
        .iter()
        .map(|id| id.map(|id| split_payment_id(id).1))
        .collect();
    Arc::new(out)
}

fn code_of(a: &ArrayRef) -> ArrayRef {
    let names = a.as_string::<i32>();
    let out: Int64Array = names.iter().map(|c| c.and_then(currency_code)).collect();
    Arc::new(out)
}

fn name_of(a: &ArrayRef) -> ArrayRef {
    let codes = a.as_primitive::<Int64Type>();
    let out: StringArray = (0..codes.len())
        .map(|i| (!codes.is_null(i)).then(|| currency_name(codes.value(i))))
        .collect();
    Arc::new(out)
}

/// Bytes of a txn id its key holds exactly.
const PACKED_BYTES: usize = 15;
/// The top byte of a key that is a hash; a packed key's top byte is its
/// id's length, at most [`PACKED_BYTES`].
const HASHED: u8 = 0xFF;

/// Hashes a long txn id to two 64-bit halves.
pub type IdHasher = fn(&[u8]) -> [u64; 2];

/// Two fixed-seed hashes of `id`: 120 of their bits go into a key.
pub fn seeded_hashes(id: &[u8]) -> [u64; 2] {
    use datafusion::common::hash_utils::RandomState;
    use std::hash::BuildHasher;
    [
        RandomState::with_seed(0x7478_6e5f_6b65_7931).hash_one(id),
        RandomState::with_seed(0x7478_6e5f_6b65_7932).hash_one(id),
    ]
}

/// A txn id as one 128-bit integer, the key the classification groups by:
/// a hash aggregation over 20M fixed-width integers runs about twice as
/// fast as over 20M strings, and holds less.
///
/// An id of at most 15 bytes (M-Pesa receipts, most bank and generic ids)
/// is *packed*: its bytes and its length, so two ids share a key only when
/// they are equal. A longer id (Stripe's `pi_…`, MoMo's UUIDs) is hashed
/// to 120 bits; two such ids sharing a key is as likely as guessing a
/// 120-bit number, and the job checks for it anyway (see
/// [`crate::job`]'s key check), failing rather than merging them.
pub fn txn_key(id: &[u8], hasher: IdHasher) -> i128 {
    let mut bytes = [0u8; 16];
    if id.len() <= PACKED_BYTES {
        bytes[..id.len()].copy_from_slice(id);
        bytes[15] = id.len() as u8;
    } else {
        let [high, low] = hasher(id);
        bytes[..8].copy_from_slice(&high.to_le_bytes());
        bytes[8..15].copy_from_slice(&low.to_le_bytes()[..7]);
        bytes[15] = HASHED;
    }
    i128::from_le_bytes(bytes)
}

/// Whether a [`txn_key`] is a hash (its id was longer than 15 bytes).
pub fn is_hashed(key: i128) -> bool {
    key.to_le_bytes()[15] == HASHED
}

/// Registers `txn_key(txn_id)` with `hasher` for long ids (tests register
/// a weak one to see collisions caught).
pub fn register_txn_key(ctx: &SessionContext, hasher: IdHasher) {
    let keys = move |args: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let ids = arrays[0].as_string::<i32>();
        key_column(
            ids.iter()
                .map(|id| id.map(|id| txn_key(id.as_bytes(), hasher))),
        )
    };
    ctx.register_udf(create_udf(
        "txn_key",
        vec![DataType::Utf8],
        key_type(),
        Volatility::Immutable,
        Arc::new(keys),
    ));
}

fn hashed_of(a: &ArrayRef) -> ArrayRef {
    let keys = a.as_primitive::<Decimal128Type>();
    let out: BooleanArray = keys.iter().map(|k| k.map(is_hashed)).collect();
    Arc::new(out)
}

/// Registers `name(key)`: the number `entries` holds for a [`txn_key`],
/// NULL for a key it does not hold. For a map small enough to hold in
/// memory, looked up from millions of rows: a hash lookup per row, where a
/// join would build its table or copy every row of the big side.
pub fn register_lookup(
    ctx: &SessionContext,
    name: &str,
    entries: impl IntoIterator<Item = (i128, crate::rows::Address)>,
) {
    let entries: datafusion::common::HashMap<i128, crate::rows::Address> =
        entries.into_iter().collect();
    let lookup = move |args: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let keys = arrays[0].as_primitive::<Decimal128Type>();
        let out: UInt32Array = if entries.is_empty() {
            UInt32Array::new_null(keys.len())
        } else {
            keys.iter()
                .map(|k| k.and_then(|k| entries.get(&k).copied()))
                .collect()
        };
        Ok(ColumnarValue::Array(Arc::new(out)))
    };
    ctx.register_udf(create_udf(
        name,
        vec![key_type()],
        crate::rows::ADDRESS_TYPE,
        Volatility::Immutable,
        Arc::new(lookup),
    ));
}

/// Registers every function in `ctx`.
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(udf(
        "payment_provider",
        DataType::Utf8,
        DataType::Utf8,
        provider_of,
    ));
    ctx.register_udf(udf(
        "payment_txn_id",
        DataType::Utf8,
        DataType::Utf8,
        txn_of,
    ));
    ctx.register_udf(udf(
        "currency_code",
        DataType::Utf8,
        DataType::Int64,
        code_of,
    ));
    ctx.register_udf(udf(
        "currency_name",
        DataType::Int64,
        DataType::Utf8,
        name_of,
    ));
    ctx.register_udf(create_udf(
        "money_key",
        vec![amount_type(), DataType::Utf8],
        key_type(),
        Volatility::Immutable,
        Arc::new(key_of),
    ));
    register_txn_key(ctx, seeded_hashes);
    ctx.register_udf(udf("hashed_key", key_type(), DataType::Boolean, hashed_of));
    ctx.register_udf(udf(
        "money_currency",
        key_type(),
        DataType::Int64,
        currency_of_key,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_codes_round_trip() {
        for c in ["KES", "UGX", "USD"] {
            assert_eq!(currency_name(currency_code(c).unwrap()), c);
        }
        assert!(currency_code("KE").is_none());
        assert!(currency_code("KES") < currency_code("UGX"));
    }

    #[test]
    fn money_keys_order_by_amount_then_currency() {
        let kes = currency_code("KES").unwrap();
        let usd = currency_code("USD").unwrap();
        for (units, code) in [
            (25_000_000, kes),
            (-1, usd),
            (0, kes),
            (10i128.pow(18) - 1, usd),
        ] {
            assert_eq!(money_parts(money_key(units, code)), (units, code));
        }
        assert!(money_key(-5, usd) < money_key(-5 + 1, kes));
        assert!(money_key(100, kes) < money_key(100, usd));
        assert!(money_key(99, usd) < money_key(100, kes));
        assert!(money_key(10i128.pow(18) - 1, usd) < 10i128.pow(38));
    }

    #[test]
    fn short_ids_pack_exactly_and_long_ones_hash() {
        let key = |id: &str| txn_key(id.as_bytes(), seeded_hashes);
        // Packed: equal only when equal, whatever the bytes.
        let short = [
            "",
            "A",
            "A\0",
            "RKTQDM7W6S",
            "T0000000001",
            "123456789012345",
        ];
        for a in short {
            assert!(!is_hashed(key(a)), "{a:?}");
            for b in short {
                assert_eq!(key(a) == key(b), a == b, "{a:?} {b:?}");
            }
        }
        // Hashed: flagged, stable, and apart for near-equal ids.
        let long = "pi_3MtwBwLkdIwHu7ix28a3tqPa";
        assert!(is_hashed(key(long)));
        assert_eq!(key(long), key(long));
        assert_ne!(key(long), key("pi_3MtwBwLkdIwHu7ix28a3tqPb"));
        assert_ne!(key("1234567890123456"), key("123456789012345"));
        // A weak hasher makes every long id one key: what the job's check
        // must catch.
        let weak = |_: &[u8]| [0, 0];
        assert_eq!(
            txn_key(b"re_1234567890abcdef", weak),
            txn_key(b"re_fedcba0987654321", weak)
        );
    }
}
