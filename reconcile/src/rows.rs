//! Row addresses: fetching a table's columns back by row, without a join.
//!
//! The classification groups 20M rows into 10M txn ids in one hash
//! aggregation, and every value carried through it costs memory per group:
//! an accumulator that grows, is merged and is copied out. A string carried
//! that way (`min(customer_id)`) costs a heap allocation per group. So the
//! aggregation carries numbers only, among them each side's first row as an
//! *address* into that side's in-memory batches (`batch << 16 | row`, 32
//! bits: every address column and accumulator is half the size of a
//! 64-bit one, 40 MB less per 10M rows each), and
//! the columns an output needs are fetched back by address afterwards:
//! `ledger_customer_id(l_addr)`, `statement_completed_at(s_addr)`.
//!
//! A fetch is Arrow's `interleave`, O(1) per row (a dictionary column is
//! held as a dictionary and fetched as its values); a join back on a row
//! number would build another 10M-entry hash table. The groups come out of
//! the aggregation roughly in input order, so fetches walk the batches
//! nearly sequentially.

use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, UInt32Array};
use arrow::compute::{cast, interleave};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt32Type};
use arrow::record_batch::RecordBatch;
use datafusion::common::exec_err;
use datafusion::logical_expr::{create_udf, ColumnarValue, Volatility};
use datafusion::prelude::SessionContext;

use crate::Result;

/// The address column every addressed table carries.
pub const ADDRESS: &str = "addr";

/// An address: batch and row in 32 bits.
pub type Address = u32;

/// The Arrow type of an address column.
pub const ADDRESS_TYPE: DataType = DataType::UInt32;

/// Bits of the row within its batch: a batch holds at most 65 536 rows
/// (longer ones are sliced when registered), and a table at most 65 536
/// batches, 4 billion rows.
const ROW_BITS: u32 = 16;

/// Rows a batch may hold.
const MAX_ROWS: usize = 1 << ROW_BITS;

/// The address of `row` in batch `batch` (both below 65 536).
pub fn address(batch: usize, row: usize) -> Address {
    debug_assert!(batch < MAX_ROWS && row < MAX_ROWS);
    ((batch as Address) << ROW_BITS) | row as Address
}

/// The batch and row an address points at.
pub fn locate(addr: Address) -> (usize, usize) {
    (
        (addr >> ROW_BITS) as usize,
        (addr & ((1 << ROW_BITS) - 1)) as usize,
    )
}

/// `batches`, each cut into slices of at most [`MAX_ROWS`] rows (slices
/// share the batches' memory).
///
/// # Errors
/// When that makes more batches than an address can tell apart.
fn addressable(batches: Vec<RecordBatch>, table: &str) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::with_capacity(batches.len());
    for batch in batches {
        let mut start = 0;
        while start < batch.num_rows() {
            let len = MAX_ROWS.min(batch.num_rows() - start);
            out.push(batch.slice(start, len));
            start += len;
        }
    }
    if out.len() > MAX_ROWS {
        return Err(crate::Error::Invalid(format!(
            "table `{table}` is too large to hold in memory: {} batches of up to {MAX_ROWS} rows",
            out.len()
        )));
    }
    Ok(out)
}

/// `schema` with the address column appended.
fn addressed_schema(schema: &Schema) -> SchemaRef {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(ADDRESS, ADDRESS_TYPE, false));
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Registers `batches` as table `table` with an address column, and one
/// function `{prefix}_{column}(addr)` per column that fetches the column's
/// value at an address (NULL for a NULL address).
///
/// # Errors
/// When a batch does not have `schema`.
pub fn register(
    ctx: &SessionContext,
    table: &str,
    prefix: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<()> {
    let batches = addressable(batches, table)?;
    let with_address = addressed_schema(&schema);
    let mut addressed = Vec::with_capacity(batches.len());
    for (i, batch) in batches.iter().enumerate() {
        let addresses: UInt32Array = (0..batch.num_rows()).map(|row| address(i, row)).collect();
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(addresses));
        addressed.push(RecordBatch::try_new(with_address.clone(), columns)?);
    }
    for (column, field) in schema.fields().iter().enumerate() {
        tracing::debug!(
            table,
            column = field.name().as_str(),
            bytes = held_bytes(batches.iter().map(|b| b.column(column).to_data())),
            "held"
        );
        let mut sources: Vec<ArrayRef> = batches.iter().map(|b| b.column(column).clone()).collect();
        // The last source answers NULL addresses.
        sources.push(new_null_array(field.data_type(), 1));
        let name = format!("{prefix}_{}", field.name());
        // A dictionary column's values come back as its values' type.
        let output = match field.data_type() {
            DataType::Dictionary(_, values) => values.as_ref().clone(),
            other => other.clone(),
        };
        let fetch = Fetch {
            name: name.clone(),
            lens: sources.iter().map(|a| a.len()).collect(),
            sources,
            output: output.clone(),
        };
        ctx.register_udf(create_udf(
            &name,
            vec![ADDRESS_TYPE],
            output,
            Volatility::Immutable,
            Arc::new(move |args: &[ColumnarValue]| fetch.call(args)),
        ));
    }
    crate::engine::register_batches(ctx, table, with_address, addressed)
}

/// Bytes the buffers of `arrays` hold, each buffer counted once: batches
/// may share one (an all-zero or all-empty statement column, slices of one
/// long batch), and counting it per batch would report memory that is not
/// there.
fn held_bytes(arrays: impl Iterator<Item = arrow::array::ArrayData>) -> usize {
    fn visit(data: &arrow::array::ArrayData, seen: &mut std::collections::HashSet<usize>) -> usize {
        let buffers = data
            .buffers()
            .iter()
            .chain(data.nulls().map(|n| n.buffer()));
        let own: usize = buffers
            .filter(|b| seen.insert(b.data_ptr().as_ptr() as usize))
            .map(|b| b.capacity())
            .sum();
        own + data
            .child_data()
            .iter()
            .map(|c| visit(c, seen))
            .sum::<usize>()
    }
    let mut seen = std::collections::HashSet::new();
    arrays.map(|data| visit(&data, &mut seen)).sum()
}

/// One column of one table, by address.
struct Fetch {
    name: String,
    /// The column's arrays, one per batch, then a one-row NULL array.
    sources: Vec<ArrayRef>,
    /// Their lengths, to check an address without a call through `dyn
    /// Array` per row.
    lens: Vec<usize>,
    /// The type a fetch returns: the column's, or its dictionary's values'.
    output: DataType,
}

impl Fetch {
    fn call(&self, args: &[ColumnarValue]) -> datafusion::error::Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let Some(addresses) = arrays
            .first()
            .and_then(|a| a.as_primitive_opt::<UInt32Type>())
        else {
            return exec_err!("{}: expects one address (UInt32)", self.name);
        };
        let null_source = self.sources.len() - 1;
        for addr in addresses.iter().flatten() {
            let (batch, row) = locate(addr);
            if batch >= null_source || row >= self.lens[batch] {
                return exec_err!("{}: no row at address {addr}", self.name);
            }
        }
        let values =
            match crate::gather::gather(&self.sources[..null_source], addresses, &self.output) {
                Some(values) => values,
                None => {
                    let indices: Vec<(usize, usize)> = addresses
                        .iter()
                        .map(|addr| addr.map_or((null_source, 0), locate))
                        .collect();
                    let sources: Vec<&dyn Array> =
                        self.sources.iter().map(|a| a.as_ref()).collect();
                    interleave(&sources, &indices)?
                }
            };
        if values.data_type() == &self.output {
            Ok(ColumnarValue::Array(values))
        } else {
            Ok(ColumnarValue::Array(cast(&values, &self.output)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};

    fn batch(schema: &SchemaRef, ids: &[&str], values: &[i64]) -> RecordBatch {
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(ids.to_vec())),
                Arc::new(Int64Array::from(values.to_vec())),
            ],
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_dictionary_column_is_fetched_as_its_values() {
        use arrow::array::DictionaryArray;
        use arrow::datatypes::UInt16Type;
        let schema = Arc::new(Schema::new(vec![Field::new(
            "currency",
            DataType::Dictionary(Box::new(DataType::UInt16), Box::new(DataType::Utf8)),
            false,
        )]));
        let batch = |texts: Vec<&str>| {
            let column: DictionaryArray<UInt16Type> = texts.into_iter().collect();
            RecordBatch::try_new(schema.clone(), vec![Arc::new(column)]).unwrap()
        };
        let ctx = SessionContext::new();
        let batches = vec![batch(vec!["KES", "UGX", "KES"]), batch(vec!["USD"])];
        register(&ctx, "t", "t", schema.clone(), batches).unwrap();
        let out = ctx
            .sql("SELECT t_currency(addr) AS c FROM t WHERE currency <> 'UGX' ORDER BY addr")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let texts: Vec<String> = out
            .iter()
            .flat_map(|b| {
                let c = b.column(0).as_string::<i32>().clone();
                (0..c.len()).map(move |i| c.value(i).to_string())
            })
            .collect();
        assert_eq!(texts, ["KES", "KES", "USD"]);
    }

    #[test]
    fn shared_buffers_are_held_once() {
        let values: ArrayRef = Arc::new(Int64Array::from(vec![7; 1000]));
        let one = held_bytes(std::iter::once(values.to_data()));
        let slices = [values.slice(0, 500), values.slice(500, 500)];
        assert_eq!(held_bytes(slices.iter().map(|a| a.to_data())), one);
        let other: ArrayRef = Arc::new(Int64Array::from(vec![7; 1000]));
        assert!(held_bytes([values.to_data(), other.to_data()].into_iter()) >= 2 * 8000);
    }

    #[test]
    fn addresses_round_trip() {
        assert_eq!(locate(address(0, 0)), (0, 0));
        assert_eq!(locate(address(7, 65_535)), (7, 65_535));
        assert_eq!(locate(address(65_535, 65_535)), (65_535, 65_535));
    }

    #[tokio::test]
    async fn long_batches_are_sliced_to_addressable_ones() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("value", DataType::Int64, false),
        ]));
        let rows = MAX_ROWS + 3;
        let ids: Vec<String> = (0..rows).map(|i| format!("r{i}")).collect();
        let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let values: Vec<i64> = (0..rows as i64).collect();
        let ctx = SessionContext::new();
        register(
            &ctx,
            "t",
            "t",
            schema.clone(),
            vec![batch(&schema, &id_refs, &values)],
        )
        .unwrap();
        // Every row's address fetches that row back, past the cut too.
        let out = ctx
            .sql("SELECT count(*) AS n FROM t WHERE t_value(addr) = value AND t_id(addr) = id")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let n = out[0]
            .column(0)
            .as_primitive::<arrow::datatypes::Int64Type>()
            .value(0);
        assert_eq!(n as usize, rows);
    }

    #[tokio::test]
    async fn columns_come_back_by_address() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("value", DataType::Int64, false),
        ]));
        let ctx = SessionContext::new();
        let batches = vec![
            batch(&schema, &["a", "b"], &[1, 2]),
            batch(&schema, &["c"], &[3]),
        ];
        register(&ctx, "t", "t", schema, batches).unwrap();
        let out = ctx
            .sql(
                "SELECT addr, t_id(addr) AS id, t_value(addr) AS v, t_id(CASE WHEN value > 2 THEN NULL ELSE addr END) AS maybe \
                 FROM t ORDER BY value",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let rows: Vec<(Address, String, i64, Option<String>)> = out
            .iter()
            .flat_map(|b| {
                let addr = b.column(0).as_primitive::<UInt32Type>().clone();
                let id = b.column(1).as_string::<i32>().clone();
                let v = b
                    .column(2)
                    .as_primitive::<arrow::datatypes::Int64Type>()
                    .clone();
                let maybe = b.column(3).as_string::<i32>().clone();
                (0..b.num_rows())
                    .map(|i| {
                        (
                            addr.value(i),
                            id.value(i).to_string(),
                            v.value(i),
                            (!maybe.is_null(i)).then(|| maybe.value(i).to_string()),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                (address(0, 0), "a".into(), 1, Some("a".into())),
                (address(0, 1), "b".into(), 2, Some("b".into())),
                (address(1, 0), "c".into(), 3, None),
            ]
        );
        // An address that points nowhere is an error, not a panic.
        let bad = ctx
            .sql(&format!(
                "SELECT t_id(CAST({} AS INT UNSIGNED))",
                address(9, 0)
            ))
            .await
            .unwrap()
            .collect()
            .await;
        assert!(bad.is_err());
    }
}
