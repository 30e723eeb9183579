//! Reading a large statement on every core. The body (after the header) is
//! cut into one byte range per core at line breaks; each range is parsed on
//! its own thread into its own batches, and line numbers are made absolute
//! afterwards from the line breaks counted in the ranges before it.
//!
//! A quoted field may hold a line break, and a cut there would split a row.
//! Each thread also counts quote characters: if any range but the last has
//! an odd count, a cut fell inside quotes, and the caller reads the file
//! sequentially instead.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, UInt64Array};
use arrow::compute::kernels::numeric::add;
use arrow::record_batch::RecordBatch;
use indicatif::ProgressBar;

use super::reader::{read_rows, StatementRead};
use super::{FormatOptions, StatementFormat};
use crate::{engine, Error, Result};

/// Statements smaller than this are read on one thread.
pub(super) const MIN_BYTES: u64 = 32 << 20;

/// Where the body of a statement file is.
pub(super) struct Split<'p> {
    /// The file.
    pub(super) path: &'p Path,
    /// First byte after the header.
    pub(super) body_start: u64,
    /// File length.
    pub(super) end: u64,
    /// Line number of the header.
    pub(super) header_line: u64,
}

/// Cut points: `body_start`, one line start per extra core, `end`.
fn cuts(split: &Split<'_>, parts: u64) -> Result<Vec<u64>> {
    let mut file = File::open(split.path).map_err(|e| Error::io(split.path, e))?;
    let mut cuts = vec![split.body_start];
    let mut buf = vec![0u8; 1 << 16];
    for i in 1..parts {
        let target = split.body_start + (split.end - split.body_start) * i / parts;
        file.seek(SeekFrom::Start(target))
            .map_err(|e| Error::io(split.path, e))?;
        let n = file.read(&mut buf).map_err(|e| Error::io(split.path, e))?;
        if let Some(p) = buf[..n].iter().position(|b| *b == b'\n') {
            let cut = target + p as u64 + 1;
            if cut > *cuts.last().expect("non-empty") && cut < split.end {
                cuts.push(cut);
            }
        }
    }
    cuts.push(split.end);
    Ok(cuts)
}

/// One range, parsed: its rows and its line breaks and quotes.
struct Part {
    read: StatementRead,
    newlines: u64,
    quotes: u64,
}

/// A reader that counts the line breaks and quote characters it passes on,
/// so a range is read once, streaming, in a buffer of its own size only.
struct Counting<R> {
    inner: R,
    newlines: u64,
    quotes: u64,
}

/// How often `byte` occurs in `bytes`: counted in byte-wide lanes, 255
/// bytes at a time, which the compiler turns into wide vector compares.
fn occurrences(bytes: &[u8], byte: u8) -> u64 {
    bytes
        .chunks(255)
        .map(|chunk| u64::from(chunk.iter().fold(0u8, |n, b| n + u8::from(*b == byte))))
        .sum()
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.newlines += occurrences(&buf[..n], b'\n');
        self.quotes += occurrences(&buf[..n], b'"');
        Ok(n)
    }
}

fn read_part(
    path: &Path,
    from: u64,
    to: u64,
    positions: &[Option<usize>],
    format: &dyn StatementFormat,
    options: &FormatOptions,
    progress: &ProgressBar,
) -> Result<Part> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    file.seek(SeekFrom::Start(from))
        .map_err(|e| Error::io(path, e))?;
    let counting = Counting {
        inner: file.take(to - from),
        newlines: 0,
        quotes: 0,
    };
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(counting);
    let read = read_rows(&mut csv, 0, positions, format, options, progress)?;
    let counted = csv.into_inner();
    Ok(Part {
        read,
        newlines: counted.newlines,
        quotes: counted.quotes,
    })
}

/// Adds `offset` to every batch's `line` column and to the bad lines.
fn shift(read: &mut StatementRead, offset: u64) -> Result<()> {
    for batch in &mut read.batches {
        let lines = add(batch.column(0), &UInt64Array::new_scalar(offset))?;
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        columns[0] = Arc::clone(&lines);
        *batch = RecordBatch::try_new(batch.schema(), columns)?;
    }
    for bad in &mut read.bad_lines {
        bad.line += offset;
    }
    Ok(())
}

/// Reads the body on every core; `None` when a cut fell inside a quoted
/// field (read it sequentially then).
///
/// # Errors
/// I/O and Arrow errors.
pub(super) fn read(
    split: &Split<'_>,
    positions: &[Option<usize>],
    format: &dyn StatementFormat,
    options: &FormatOptions,
    progress: &ProgressBar,
) -> Result<Option<StatementRead>> {
    let cuts = cuts(split, engine::cores() as u64)?;
    let parts: Vec<Result<Part>> = std::thread::scope(|scope| {
        let handles: Vec<_> = cuts
            .windows(2)
            .map(|w| {
                let (from, to) = (w[0], w[1]);
                scope.spawn(move || {
                    read_part(split.path, from, to, positions, format, options, progress)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Invalid("statement reader panicked".into())))
            })
            .collect()
    });
    let parts = parts.into_iter().collect::<Result<Vec<Part>>>()?;
    if parts[..parts.len() - 1].iter().any(|p| p.quotes % 2 == 1) {
        tracing::debug!("a cut fell inside a quoted field: reading sequentially");
        return Ok(None);
    }
    let mut all = StatementRead::default();
    let mut offset = split.header_line;
    for mut part in parts {
        shift(&mut part.read, offset)?;
        offset += part.newlines;
        all.lines += part.read.lines;
        all.not_completed += part.read.not_completed;
        all.batches.append(&mut part.read.batches);
        all.bad_lines.append(&mut part.read.bad_lines);
        all.currencies.append(&mut part.read.currencies);
    }
    Ok(Some(all))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occurrences_count_every_byte_across_chunks() {
        let mut bytes = vec![b'x'; 1000];
        for at in [0, 254, 255, 256, 509, 510, 999] {
            bytes[at] = b'\n';
        }
        assert_eq!(occurrences(&bytes, b'\n'), 7);
        assert_eq!(occurrences(&vec![b'"'; 600], b'"'), 600);
        assert_eq!(occurrences(&[], b'"'), 0);
    }
    use crate::statement::format;
    use arrow::array::AsArray;
    use arrow::datatypes::UInt64Type;

    fn lines_of(read: &StatementRead) -> Vec<u64> {
        read.batches
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<UInt64Type>().values().to_vec())
            .collect()
    }

    fn sequential(path: &Path, positions: &[Option<usize>]) -> StatementRead {
        let format = format("generic").unwrap();
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_path(path)
            .unwrap();
        csv.byte_headers().unwrap();
        read_rows(
            &mut csv,
            0,
            positions,
            format.as_ref(),
            &FormatOptions::default(),
            &ProgressBar::hidden(),
        )
        .unwrap()
    }

    #[test]
    fn parallel_and_sequential_reads_agree_line_for_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.csv");
        let header = "txn_id,amount,currency,completed_at,reference,counterparty\n";
        let mut text = String::from(header);
        for i in 0..20_000 {
            if i == 12_345 {
                text.push_str("BAD,x,KES,2026-11-02T00:00:00Z,,\n");
            } else {
                text.push_str(&format!(
                    "T{i},{i}.50,KES,2026-11-02T00:00:00Z,\"ACC, {i}\",\n"
                ));
            }
        }
        std::fs::write(&path, &text).unwrap();
        let positions: Vec<Option<usize>> = (0..6).map(Some).collect();
        let split = Split {
            path: &path,
            body_start: header.len() as u64,
            end: text.len() as u64,
            header_line: 1,
        };
        let format = format("generic").unwrap();
        let parallel = read(
            &split,
            &positions,
            format.as_ref(),
            &FormatOptions::default(),
            &ProgressBar::hidden(),
        )
        .unwrap()
        .expect("no quoted line breaks");
        let seq = sequential(&path, &positions);
        assert_eq!(lines_of(&parallel), lines_of(&seq));
        assert_eq!(parallel.bad_lines, seq.bad_lines);
        assert_eq!(parallel.bad_lines[0].line, 12_347);
        assert_eq!(parallel.lines, 20_000);
    }

    #[test]
    fn a_cut_inside_quotes_falls_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.csv");
        let header = "txn_id,amount,currency,completed_at,reference,counterparty\n";
        // One reference spanning thousands of lines: the middle cut lands in it.
        let long = "line\n".repeat(5_000);
        let text = format!(
            "{header}T1,1.00,KES,2026-11-02T00:00:00Z,\"{long}\",\nT2,1.00,KES,2026-11-02T00:00:00Z,,\n"
        );
        std::fs::write(&path, &text).unwrap();
        let positions: Vec<Option<usize>> = (0..6).map(Some).collect();
        let split = Split {
            path: &path,
            body_start: header.len() as u64,
            end: text.len() as u64,
            header_line: 1,
        };
        let format = format("generic").unwrap();
        assert_eq!(cuts(&split, 2).unwrap().len(), 3);
        let result = read(
            &split,
            &positions,
            format.as_ref(),
            &FormatOptions::default(),
            &ProgressBar::hidden(),
        )
        .unwrap();
        assert!(
            result.is_none(),
            "a split quoted field must not be read in parallel"
        );
    }
}
