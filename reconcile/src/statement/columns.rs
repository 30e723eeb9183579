//! Column builders for statement columns that are often empty.
//!
//! Most statements have no per-line fee (only Stripe's do) and no details
//! (only M-Pesa's), and many leave the counterparty blank. Built the plain
//! way, at 10M lines those columns still took 16 bytes a row for the zero
//! fee and 8 for each blank text: 320 MB of memory touched for nothing,
//! and on a machine where the first touch of a page is dear. So a batch
//! whose fees are all zero, or whose texts are all missing, gets a slice
//! of one shared array instead, and a builder starts storing values only
//! when the first real one arrives.

use std::sync::{Arc, OnceLock};

use arrow::array::{new_null_array, Array, ArrayRef, Decimal128Array, StringBuilder};
use arrow::datatypes::DataType;

use crate::schema::amount_type;

/// An amount column that stays unallocated while every value is zero.
pub(super) struct SparseAmounts {
    /// Rows per batch: the longest shared array needed.
    batch_rows: usize,
    rows: usize,
    /// The values, once one was not zero (with the zeros before it).
    values: Option<Vec<i128>>,
}

impl SparseAmounts {
    pub(super) fn new(batch_rows: usize) -> Self {
        SparseAmounts {
            batch_rows,
            rows: 0,
            values: None,
        }
    }

    pub(super) fn append(&mut self, units: i128) {
        match &mut self.values {
            Some(values) => values.push(units),
            None if units == 0 => {}
            None => {
                let mut values = Vec::with_capacity(self.batch_rows);
                values.resize(self.rows, 0);
                values.push(units);
                self.values = Some(values);
            }
        }
        self.rows += 1;
    }

    pub(super) fn finish(&mut self) -> ArrayRef {
        let rows = std::mem::take(&mut self.rows);
        match self.values.take() {
            Some(values) => Arc::new(Decimal128Array::from(values).with_data_type(amount_type())),
            None => shared(&ZEROS, self.batch_rows, rows, zero_amounts),
        }
    }
}

/// A text column that stays unallocated while every value is missing.
pub(super) struct OptionalTexts {
    batch_rows: usize,
    rows: usize,
    /// The values, once one was present (with the NULLs before it).
    builder: Option<StringBuilder>,
}

impl OptionalTexts {
    pub(super) fn new(batch_rows: usize) -> Self {
        OptionalTexts {
            batch_rows,
            rows: 0,
            builder: None,
        }
    }

    pub(super) fn append(&mut self, text: Option<&str>) {
        match (&mut self.builder, text) {
            (Some(builder), text) => builder.append_option(text),
            (None, None) => {}
            (None, Some(text)) => {
                let mut builder =
                    StringBuilder::with_capacity(self.batch_rows, self.batch_rows * 8);
                builder.append_nulls(self.rows);
                builder.append_value(text);
                self.builder = Some(builder);
            }
        }
        self.rows += 1;
    }

    pub(super) fn finish(&mut self) -> ArrayRef {
        let rows = std::mem::take(&mut self.rows);
        match self.builder.take() {
            Some(mut builder) => Arc::new(builder.finish()),
            None => shared(&NULL_TEXTS, self.batch_rows, rows, null_texts),
        }
    }
}

static ZEROS: OnceLock<ArrayRef> = OnceLock::new();
static NULL_TEXTS: OnceLock<ArrayRef> = OnceLock::new();

fn zero_amounts(rows: usize) -> ArrayRef {
    Arc::new(Decimal128Array::from(vec![0i128; rows]).with_data_type(amount_type()))
}

fn null_texts(rows: usize) -> ArrayRef {
    new_null_array(&DataType::Utf8, rows)
}

/// The first `rows` rows of the process-wide array in `cell` (`build` of
/// `batch_rows` rows, made once), or a fresh one when that is too short.
fn shared(
    cell: &OnceLock<ArrayRef>,
    batch_rows: usize,
    rows: usize,
    build: fn(usize) -> ArrayRef,
) -> ArrayRef {
    let array = cell.get_or_init(|| build(batch_rows));
    if rows <= array.len() {
        array.slice(0, rows)
    } else {
        build(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use arrow::datatypes::Decimal128Type;

    #[test]
    fn all_zero_fees_share_one_array() {
        let mut fees = SparseAmounts::new(8);
        for _ in 0..5 {
            fees.append(0);
        }
        let first = fees.finish();
        fees.append(0);
        let second = fees.finish();
        assert_eq!((first.len(), second.len()), (5, 1));
        assert_eq!(first.data_type(), &amount_type());
        assert!(first
            .as_primitive::<Decimal128Type>()
            .values()
            .iter()
            .all(|v| *v == 0));
        let (a, b) = (first.to_data(), second.to_data());
        assert_eq!(a.buffers()[0].as_ptr(), b.buffers()[0].as_ptr(), "shared");
    }

    #[test]
    fn a_fee_after_zeros_keeps_every_row() {
        let mut fees = SparseAmounts::new(8);
        fees.append(0);
        fees.append(0);
        fees.append(150);
        fees.append(0);
        let array = fees.finish();
        let values: Vec<i128> = array.as_primitive::<Decimal128Type>().values().to_vec();
        assert_eq!(values, vec![0, 0, 150, 0]);
        assert_eq!(array.data_type(), &amount_type());
        // The next batch starts sparse again.
        fees.append(0);
        assert_eq!(fees.finish().len(), 1);
    }

    #[test]
    fn texts_after_nulls_keep_their_rows() {
        let mut texts = OptionalTexts::new(4);
        texts.append(None);
        texts.append(None);
        let empty = texts.finish();
        assert_eq!((empty.len(), empty.null_count()), (2, 2));
        texts.append(None);
        texts.append(Some("Jane"));
        texts.append(None);
        let array = texts.finish();
        let strings = array.as_string::<i32>();
        assert_eq!(strings.len(), 3);
        assert!(strings.is_null(0) && strings.is_null(2));
        assert_eq!(strings.value(1), "Jane");
    }

    #[test]
    fn batches_longer_than_the_shared_array_still_build() {
        let mut texts = OptionalTexts::new(2);
        for _ in 0..5 {
            texts.append(None);
        }
        assert_eq!(texts.finish().null_count(), 5);
        let mut fees = SparseAmounts::new(2);
        for _ in 0..5 {
            fees.append(0);
        }
        assert_eq!(fees.finish().len(), 5);
    }
}
