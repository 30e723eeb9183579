//! The fetch's inner loop: a column's values gathered by row address.
//!
//! Writing `matched.parquet` and the summary fetch about ten columns for
//! each of 10M keyed rows. Arrow's `interleave` takes a list of `(array,
//! row)` pairs, built per row, and reaches each array through `dyn Array`;
//! the column types the jobs hold are few — integers, decimals, times,
//! text, text dictionaries — so for them the values are copied straight
//! from typed slices, with no pair list. Any other type returns `None` and
//! takes `interleave`.
//!
//! Addresses are checked by the caller: every non-NULL one points at a row
//! of `sources`.

use std::sync::Arc;

use arrow::array::builder::NullBufferBuilder;
use arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, PrimitiveArray, StringArray, StringBuilder,
    UInt32Array,
};
use arrow::datatypes::{
    DataType, Decimal128Type, Int64Type, TimeUnit, TimestampMicrosecondType, UInt16Type,
    UInt32Type, UInt64Type,
};

use crate::rows::locate;

/// `sources`' values at `addresses` (NULL for a NULL address) as `output`,
/// or `None` for a column type without a fast path.
pub(crate) fn gather(
    sources: &[ArrayRef],
    addresses: &UInt32Array,
    output: &DataType,
) -> Option<ArrayRef> {
    let first = sources.first()?;
    match (first.data_type(), output) {
        (DataType::UInt64, _) => primitive::<UInt64Type>(sources, addresses),
        (DataType::UInt32, _) => primitive::<UInt32Type>(sources, addresses),
        (DataType::Int64, _) => primitive::<Int64Type>(sources, addresses),
        (DataType::Decimal128(_, _), _) => primitive::<Decimal128Type>(sources, addresses),
        (DataType::Timestamp(TimeUnit::Microsecond, _), _) => {
            primitive::<TimestampMicrosecondType>(sources, addresses)
        }
        (DataType::Utf8, DataType::Utf8) => strings(sources, addresses),
        (DataType::Dictionary(key, value), DataType::Utf8)
            if **key == DataType::UInt16 && **value == DataType::Utf8 =>
        {
            dictionary_texts(sources, addresses)
        }
        _ => None,
    }
}

fn primitive<T: ArrowPrimitiveType>(
    sources: &[ArrayRef],
    addresses: &UInt32Array,
) -> Option<ArrayRef> {
    let arrays: Vec<&PrimitiveArray<T>> = sources
        .iter()
        .map(|a| a.as_primitive_opt::<T>())
        .collect::<Option<_>>()?;
    let data_type = arrays.first()?.data_type().clone();
    let any_null = addresses.null_count() > 0 || arrays.iter().any(|a| a.null_count() > 0);
    let mut values = Vec::with_capacity(addresses.len());
    // Allocates its bits only once a row is NULL: `None` when none is.
    let mut validity = NullBufferBuilder::new(addresses.len());
    if any_null {
        for (i, &addr) in addresses.values().iter().enumerate() {
            if addresses.is_null(i) {
                values.push(T::Native::default());
                validity.append_null();
                continue;
            }
            let (batch, row) = locate(addr);
            let array = arrays[batch];
            values.push(array.values()[row]);
            validity.append(array.is_valid(row));
        }
    } else {
        values.extend(addresses.values().iter().map(|&addr| {
            let (batch, row) = locate(addr);
            arrays[batch].values()[row]
        }));
    }
    let array = PrimitiveArray::<T>::new(values.into(), validity.finish());
    Some(Arc::new(array.with_data_type(data_type)))
}

fn strings(sources: &[ArrayRef], addresses: &UInt32Array) -> Option<ArrayRef> {
    let arrays: Vec<&StringArray> = sources
        .iter()
        .map(|a| a.as_string_opt::<i32>())
        .collect::<Option<_>>()?;
    let (bytes, rows) = arrays.iter().fold((0, 0), |(bytes, rows), a| {
        (bytes + a.value_data().len(), rows + a.len())
    });
    let mut out =
        StringBuilder::with_capacity(addresses.len(), bytes / rows.max(1) * addresses.len() + 16);
    for (i, &addr) in addresses.values().iter().enumerate() {
        let (batch, row) = locate(addr);
        match arrays.get(batch) {
            Some(array) if addresses.is_valid(i) && array.is_valid(row) => {
                out.append_value(array.value(row));
            }
            _ => out.append_null(),
        }
    }
    Some(Arc::new(out.finish()))
}

fn dictionary_texts(sources: &[ArrayRef], addresses: &UInt32Array) -> Option<ArrayRef> {
    let arrays = sources
        .iter()
        .map(|a| {
            let dictionary = a.as_dictionary_opt::<UInt16Type>()?;
            Some((dictionary, dictionary.values().as_string_opt::<i32>()?))
        })
        .collect::<Option<Vec<_>>>()?;
    let mut out = StringBuilder::with_capacity(addresses.len(), addresses.len() * 4);
    for (i, &addr) in addresses.values().iter().enumerate() {
        let (batch, row) = locate(addr);
        let text = arrays
            .get(batch)
            .filter(|(keys, _)| addresses.is_valid(i) && keys.is_valid(row))
            .and_then(|(keys, values)| {
                let key = usize::from(keys.keys().value(row));
                (key < values.len() && values.is_valid(key)).then(|| values.value(key))
            });
        out.append_option(text);
    }
    Some(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Decimal128Array, DictionaryArray, TimestampMicrosecondArray, UInt64Array};
    use arrow::compute::{cast, interleave};

    use crate::rows::address;

    /// What the general path (`interleave`, then a cast to `output`) gives.
    fn general(sources: &[ArrayRef], addresses: &UInt32Array, output: &DataType) -> ArrayRef {
        let with_null: Vec<ArrayRef> = sources
            .iter()
            .cloned()
            .chain([arrow::array::new_null_array(sources[0].data_type(), 1)])
            .collect();
        let indices: Vec<(usize, usize)> = addresses
            .iter()
            .map(|a| a.map_or((sources.len(), 0), locate))
            .collect();
        let refs: Vec<&dyn Array> = with_null.iter().map(|a| a.as_ref()).collect();
        let values = interleave(&refs, &indices).unwrap();
        cast(&values, output).unwrap()
    }

    fn same_as_general(sources: Vec<ArrayRef>, output: DataType) {
        let addresses = UInt32Array::from(vec![
            Some(address(1, 1)),
            None,
            Some(address(0, 0)),
            Some(address(0, 2)),
            Some(address(1, 0)),
            None,
            Some(address(0, 1)),
        ]);
        let fast = gather(&sources, &addresses, &output).expect("a fast path");
        assert_eq!(
            fast.as_ref(),
            general(&sources, &addresses, &output).as_ref()
        );
        // Without NULL addresses (and so, for columns without NULLs, the
        // loop that tracks no validity).
        let all = UInt32Array::from(vec![address(0, 1), address(1, 1), address(0, 0)]);
        let fast = gather(&sources, &all, &output).expect("a fast path");
        assert_eq!(fast.as_ref(), general(&sources, &all, &output).as_ref());
    }

    #[test]
    fn integers_decimals_and_times_are_gathered_as_interleave_does() {
        same_as_general(
            vec![
                Arc::new(UInt64Array::from(vec![1, 2, 3])),
                Arc::new(UInt64Array::from(vec![4, 5])),
            ],
            DataType::UInt64,
        );
        let amounts = |v: Vec<Option<i128>>| -> ArrayRef {
            Arc::new(
                Decimal128Array::from(v)
                    .with_precision_and_scale(18, 4)
                    .unwrap(),
            )
        };
        same_as_general(
            vec![
                amounts(vec![Some(10), None, Some(30)]),
                amounts(vec![Some(40), Some(50)]),
            ],
            DataType::Decimal128(18, 4),
        );
        let times = |v: Vec<i64>| -> ArrayRef {
            Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC"))
        };
        same_as_general(
            vec![times(vec![1, 2, 3]), times(vec![4, 5])],
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        );
    }

    #[test]
    fn texts_and_dictionaries_are_gathered_as_interleave_does() {
        same_as_general(
            vec![
                Arc::new(StringArray::from(vec![Some("a"), None, Some("ccc")])),
                Arc::new(StringArray::from(vec![Some(""), Some("ee")])),
            ],
            DataType::Utf8,
        );
        let dictionary = |v: Vec<Option<&str>>| -> ArrayRef {
            Arc::new(v.into_iter().collect::<DictionaryArray<UInt16Type>>())
        };
        same_as_general(
            vec![
                dictionary(vec![Some("KES"), None, Some("UGX")]),
                dictionary(vec![Some("USD"), Some("KES")]),
            ],
            DataType::Utf8,
        );
    }

    #[test]
    fn other_types_take_the_general_path() {
        let floats: ArrayRef = Arc::new(arrow::array::Float64Array::from(vec![1.0]));
        let addresses = UInt32Array::from(vec![address(0, 0)]);
        assert!(gather(&[floats], &addresses, &DataType::Float64).is_none());
        assert!(gather(&[], &addresses, &DataType::UInt64).is_none());
    }
}
