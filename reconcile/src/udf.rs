//! The SQL functions the plans use, registered in every session:
//!
//! * `payment_provider(payment_id)`, `payment_txn_id(payment_id)`: the two
//!   halves of `provider:provider_txn_id`, so a Parquet ledger need not
//!   carry them as columns;
//! * `currency_code(currency)`, `currency_name(code)`: a three-letter code
//!   as an integer and back. Grouping aggregates over integers are several
//!   times cheaper than over strings, and currencies are compared for every
//!   payment.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray};
use arrow::datatypes::{DataType, Int64Type};
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};
use datafusion::prelude::SessionContext;

use crate::ledger::split_payment_id;

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
}
