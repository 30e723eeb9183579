//! Every exception kind on hand-made data with known answers.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::Path;

use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::summary::{strings, text_at};
use super::*;

fn entry(payment_id: &str, kind: &str, amount: &str, currency: &str, at: &str) -> String {
    format!(
        r#"{{"entry_id":"{kind}:{payment_id}","customer_id":"C1","payment_id":"{payment_id}","invoice_id":null,"kind":"{kind}","amount":"{amount}","currency":"{currency}","at":"{at}"}}"#
    )
}

const DAY: &str = "2026-11-02T06:38:45Z";

fn ledger_lines() -> Vec<String> {
    let p = |id: &str, amount: &str| entry(id, "payment", amount, "KES", DAY);
    vec![
        p("generic:G1", "100.00"),
        entry("generic:G1", "allocation", "100.00", "KES", DAY),
        p("generic:G2", "100.00"),
        p("generic:G3", "100.00"),
        p("generic:G4", "100.00"),
        p("generic:G6", "100.00"),
        p("generic:G6", "100.00"),
        p("generic:G7", "100.00"),
        p("generic:G8", "100.00"),
        p("generic:G8", "100.00"),
        entry("generic:R1", "reversal", "-50.00", "KES", DAY),
        p("mtn_momo:MM1", "100.00"),
        p("mpesa_c2b:M1", "100.00"),
    ]
}

const STATEMENT: &str = "txn_id,amount,currency,completed_at,reference,counterparty
G1,100.00,KES,2026-11-02T06:38:45Z,ACC1,Jane
G2,100.01,KES,2026-11-02T06:38:45Z,ACC1,
G3,100.00,UGX,2026-11-02T06:38:45Z,ACC1,
G5,250.00,KES,2026-11-02T07:00:00Z,ACC9,254712345678
G6,100.00,KES,2026-11-02T06:38:45Z,,
G7,100.00,KES,2026-11-02T06:38:45Z,,
G7,100.00,KES,2026-11-02T06:38:45Z,,
G8,100.00,KES,2026-11-02T06:38:45Z,,
G8,100.00,KES,2026-11-02T06:38:45Z,,
R1,-50.00,KES,2026-11-02T06:38:45Z,,
mtn_momo:MM1,100.00,KES,2026-11-02T06:38:45Z,,
G9,lots,KES,2026-11-02T06:38:45Z,,
";

/// (kind, txn id) pairs as `pairs` reads them.
fn kinds(expected: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    expected
        .iter()
        .map(|(k, t)| (k.to_string(), t.to_string()))
        .collect()
}

fn text(batch: &RecordBatch, name: &str, row: usize) -> Option<String> {
    text_at(&strings(batch, name), row)
}

fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let file = File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn pairs(batches: &[RecordBatch], a: &str, b: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            out.insert((
                text(batch, a, row).unwrap_or_default(),
                text(batch, b, row).unwrap_or_default(),
            ));
        }
    }
    out
}

struct Case {
    dir: tempfile::TempDir,
    options: ReconcileOptions,
}

fn case(ledger: &[String], statement: &str, format: &str) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let ledger_path = dir.path().join("ledger.jsonl");
    std::fs::write(&ledger_path, ledger.join("\n") + "\n").unwrap();
    let statement_path = dir.path().join("statement.csv");
    std::fs::write(&statement_path, statement).unwrap();
    let options = ReconcileOptions {
        ledger: ledger_path,
        statement: statement_path,
        format: format.into(),
        out: dir.path().join("out"),
        providers: None,
        format_options: FormatOptions::default(),
        replay_missing: Some(dir.path().join("replay.jsonl")),
        progress: false,
    };
    Case { dir, options }
}

#[test]
fn every_exception_kind_with_duplicates_on_both_sides_and_a_one_cent_difference() {
    let c = case(&ledger_lines(), STATEMENT, "generic");
    let summary = reconcile(&c.options).unwrap();
    let out = &c.options.out;
    let exceptions = read_parquet(&out.join("exceptions.parquet"));
    let expected = kinds(&[
        ("amount_mismatch", "G2"),
        ("currency_mismatch", "G3"),
        ("duplicate_in_ledger", "G6"),
        ("duplicate_in_ledger", "G8"),
        ("duplicate_in_statement", "G7"),
        ("duplicate_in_statement", "G8"),
        ("missing_in_ledger", "G5"),
        ("missing_in_statement", "G4"),
    ]);
    assert_eq!(pairs(&exceptions, "kind", "txn_id"), expected);
    let matched = read_parquet(&out.join("matched.parquet"));
    let matched_ids: BTreeSet<String> = pairs(&matched, "txn_id", "provider")
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    let want: BTreeSet<String> = ["G1", "G6", "G7", "G8", "R1", "MM1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(matched_ids, want);

    // The one-cent difference is shown exactly, with both sides.
    let csv = std::fs::read_to_string(out.join("exceptions.csv")).unwrap();
    let g2 = csv
        .lines()
        .find(|l| l.starts_with("amount_mismatch"))
        .unwrap();
    assert!(
        g2.contains("100.0000") && g2.contains("100.0100") && g2.contains("0.0100"),
        "{g2}"
    );

    assert_eq!(summary.matched, 6);
    assert_eq!(summary.exceptions["duplicate_in_ledger"], 2);
    assert_eq!(summary.exceptions["missing_in_ledger"], 1);
    assert_eq!(summary.bad_lines, 1);
    let bad = std::fs::read_to_string(out.join("bad_lines.jsonl")).unwrap();
    assert!(
        bad.contains("\"line\":13") && bad.contains("amount"),
        "{bad}"
    );
    // The out-of-scope M-Pesa payment and the allocation take no part.
    assert!(!csv.contains("M1,"));

    // The lost callback comes back as a generic payment with its own id.
    let replay = std::fs::read_to_string(c.dir.path().join("replay.jsonl")).unwrap();
    let envelope: serde_json::Value = serde_json::from_str(replay.trim()).unwrap();
    assert_eq!(envelope["provider"], "generic");
    assert_eq!(envelope["payload"]["txn_id"], "G5");
    assert_eq!(envelope["payload"]["amount"], "250");
    assert_eq!(envelope["payload"]["payer_phone"], "254712345678");
    assert_eq!(summary.replay.unwrap().replayed, 1);
}

#[test]
fn summary_ties_gross_fees_net_and_payouts_for_mpesa() {
    let ledger = vec![
        entry("mpesa_c2b:RK1", "payment", "2500.00", "KES", DAY),
        entry("mpesa_stk:RK2", "payment", "1000.00", "KES", DAY),
    ];
    let statement = "Receipt No.,Completion Time,Initiation Time,Details,Transaction Status,Paid In,Withdrawn,Balance,Balance Confirmed,Reason Type,Other Party Info,Linked Transaction ID,A/C No.
RK1,02-11-2026 09:38:45,02-11-2026 09:38:45,Pay Bill from 254712345678 - JANE DOE Acc. ACC1,Completed,\"2,500.00\",,,true,Pay Bill,254712345678 - JANE DOE,,ACC1
RK1,02-11-2026 09:38:45,02-11-2026 09:38:45,Pay Bill Charge,Completed,,-12.50,,true,Pay Bill Charge,,,
RK2,02-11-2026 10:00:00,02-11-2026 10:00:00,Pay Bill Online,Completed,\"1,000.00\",,,true,Pay Bill Online,,,ACC2
RK2,02-11-2026 10:00:00,02-11-2026 10:00:00,Pay Bill Charge,Completed,,-5.00,,true,Pay Bill Charge,,,
RK3,02-11-2026 11:00:00,02-11-2026 11:00:00,Pay Bill,Failed,300.00,,,true,Pay Bill,,,ACC3
RK9,02-11-2026 23:00:00,02-11-2026 23:00:00,Business Transfer to Bank,Completed,,\"-3,482.50\",,true,Business Payment to Bank,,,
";
    let c = case(&ledger, statement, "mpesa");
    let s = reconcile(&c.options).unwrap();
    assert_eq!(s.matched, 2);
    assert!(s.exceptions.values().all(|n| *n == 0), "{:?}", s.exceptions);
    assert_eq!(s.not_completed, 1);
    let day = &s.days[0];
    assert_eq!(
        (day.provider.as_str(), day.day.as_str()),
        ("mpesa", "2026-11-02")
    );
    assert_eq!(day.statement.gross, "3500.00");
    assert_eq!(day.statement.fees, "17.50");
    assert_eq!(day.statement.net, "3482.50");
    assert_eq!(day.statement.payouts, "3482.50");
    assert_eq!(day.ledger.total, "3500.00");
    assert_eq!(day.difference, "0.00");
}

#[test]
fn stripe_fees_ride_on_the_charge_line() {
    let ledger = vec![entry("stripe:pi_1", "payment", "2500.00", "KES", DAY)];
    let statement =
        "id,Type,Source,Amount,Fee,Net,Currency,Created (UTC),Available On (UTC),Description
txn_1,charge,pi_1,2500.00,72.80,2427.20,kes,2026-11-02 06:38:45,2026-11-04 00:00:00,Internet
txn_2,refund,re_9,-100.00,0.00,-100.00,kes,2026-11-02 08:00:00,2026-11-04 00:00:00,Refund
";
    let c = case(&ledger, statement, "stripe");
    let s = reconcile(&c.options).unwrap();
    assert_eq!(s.matched, 1);
    assert_eq!(s.exceptions["missing_in_ledger"], 1);
    assert_eq!(s.days[0].statement.fees, "72.80");
    assert_eq!(s.days[0].statement.net, "2327.20");
    assert_eq!(s.days[0].difference, "-100.00");
    // A refund cannot be replayed as a payment.
    assert_eq!(s.replay.unwrap().not_replayable, 1);
}

#[test]
fn a_statement_in_a_currency_the_ledger_does_not_use_is_refused() {
    let ledger = vec![entry("generic:G1", "payment", "100.00", "KES", DAY)];
    let statement = "txn_id,amount,currency,completed_at,reference,counterparty\nG1,100.00,USD,2026-11-02T06:38:45Z,,\n";
    let c = case(&ledger, statement, "generic");
    let err = reconcile(&c.options).unwrap_err();
    assert!(matches!(err, Error::CurrencyNotInLedger { .. }), "{err}");
    assert!(err.to_string().contains("USD") && err.to_string().contains("KES"));
}

#[test]
fn a_ledger_as_parquet_snapshot_gives_the_same_answer() {
    let c = case(&ledger_lines(), STATEMENT, "generic");
    let from_jsonl = reconcile(&c.options).unwrap();
    let snap = c.dir.path().join("snapshot");
    let written = crate::snapshot::snapshot(&c.options.ledger, &snap, false).unwrap();
    assert_eq!(written.days.len(), 1);
    assert!(snap.join("day=2026-11-02/part-0.parquet").exists());
    let options = ReconcileOptions {
        ledger: snap,
        out: c.dir.path().join("out2"),
        ..c.options.clone()
    };
    let from_parquet = reconcile(&options).unwrap();
    assert_eq!(from_parquet.exceptions, from_jsonl.exceptions);
    assert_eq!(from_parquet.matched, from_jsonl.matched);
    let a = pairs(
        &read_parquet(&c.options.out.join("exceptions.parquet")),
        "kind",
        "txn_id",
    );
    let b = pairs(
        &read_parquet(&options.out.join("exceptions.parquet")),
        "kind",
        "txn_id",
    );
    assert_eq!(a, b);
}

#[test]
fn sql_sees_each_parquet_file_and_the_snapshot_as_tables() {
    let c = case(&ledger_lines(), STATEMENT, "generic");
    reconcile(&c.options).unwrap();
    crate::snapshot::snapshot(&c.options.ledger, &c.options.out.join("ledger"), false).unwrap();
    let batches = engine::runtime()
        .unwrap()
        .block_on(crate::sql::query(
            &c.options.out,
            "SELECT kind, count(*) AS n FROM exceptions GROUP BY kind ORDER BY kind",
        ))
        .unwrap();
    assert_eq!(pairs(&batches, "kind", "kind").len(), 6);
    let batches = engine::runtime()
        .unwrap()
        .block_on(crate::sql::query(
            &c.options.out,
            "SELECT day, count(*) AS n FROM ledger GROUP BY day",
        ))
        .unwrap();
    assert_eq!(text(&batches[0], "day", 0).as_deref(), Some("2026-11-02"));
    let mut csv = Vec::new();
    crate::sql::print(&batches, crate::sql::OutputFormat::Csv, &mut csv).unwrap();
    assert_eq!(String::from_utf8(csv).unwrap(), "day,n\n2026-11-02,13\n");
}

#[test]
fn duplicates_at_other_amounts_or_currencies_are_mismatches_and_totals_add_every_row() {
    let p = |id: &str, amount: &str, currency: &str| entry(id, "payment", amount, currency, DAY);
    let ledger = vec![
        // Booked twice at different amounts, printed once.
        p("generic:D1", "100.00", "KES"),
        p("generic:D1", "120.00", "KES"),
        // Booked once, printed twice: once in another currency.
        p("generic:D2", "100.00", "KES"),
        // Same amounts on both sides, currencies swapped between them.
        p("generic:D3", "100.00", "KES"),
        p("generic:D3", "200.00", "KES"),
        // Twice on both sides, all equal.
        p("generic:D4", "50.00", "KES"),
        p("generic:D4", "50.00", "KES"),
    ];
    let statement = "txn_id,amount,currency,completed_at,reference,counterparty
D1,100.00,KES,2026-11-02T06:38:45Z,,
D2,100.00,KES,2026-11-03T06:38:45Z,,
D2,100.00,UGX,2026-11-03T06:38:45Z,,
D3,100.00,KES,2026-11-03T06:38:45Z,,
D3,200.00,UGX,2026-11-03T06:38:45Z,,
D4,50.00,KES,2026-11-02T06:38:45Z,,
D4,50.00,KES,2026-11-02T06:38:45Z,,
";
    let c = case(&ledger, statement, "generic");
    let summary = reconcile(&c.options).unwrap();
    let exceptions = read_parquet(&c.options.out.join("exceptions.parquet"));
    let expected = kinds(&[
        ("amount_mismatch", "D1"),
        ("duplicate_in_ledger", "D1"),
        ("currency_mismatch", "D2"),
        ("duplicate_in_statement", "D2"),
        ("currency_mismatch", "D3"),
        ("duplicate_in_ledger", "D3"),
        ("duplicate_in_statement", "D3"),
        ("duplicate_in_ledger", "D4"),
        ("duplicate_in_statement", "D4"),
    ]);
    assert_eq!(pairs(&exceptions, "kind", "txn_id"), expected);
    assert_eq!(summary.matched, 1);

    // Every row counts in its id's day (the first statement line's):
    // duplicates included, each at its own amount.
    let day = summary
        .days
        .iter()
        .find(|d| d.day == "2026-11-02")
        .expect("the day of D1 and D4");
    assert_eq!(day.currency, "KES");
    assert_eq!(day.ledger.entries, 4);
    assert_eq!(day.ledger.total, "320.00");
    assert_eq!(day.statement.lines, 3);
    assert_eq!(day.statement.gross, "200.00");
    assert_eq!(day.difference, "-120.00");
}

/// Runs `c` with every long txn id hashed to one key.
fn reconcile_with_one_long_key(c: &Case) -> Result<Summary> {
    let weak: udf::IdHasher = |_| [7, 7];
    engine::runtime()?.block_on(run(&c.options, weak))
}

#[test]
fn long_ids_that_share_a_key_stop_the_job_rather_than_merge() {
    let long = |n: u32| format!("pi_3MtwBwLkdIwHu7ix28a3tq{n:02}");
    let p = |id: &str| entry(&format!("generic:{id}"), "payment", "100.00", "KES", DAY);
    let line = |id: &str| format!("{id},100.00,KES,{DAY},,\n");
    let header = "txn_id,amount,currency,completed_at,reference,counterparty\n";

    // Equal long ids share their key as they should: no clash.
    let c = case(
        &[p(&long(1)), p("G1")],
        &format!("{header}{}{}", line(&long(1)), line("G1")),
        "generic",
    );
    let summary = reconcile_with_one_long_key(&c).unwrap();
    assert_eq!(summary.matched, 2);

    // One on each side, one row each: the pair's ids differ.
    let c = case(
        &[p(&long(1))],
        &format!("{header}{}", line(&long(2))),
        "generic",
    );
    let err = reconcile_with_one_long_key(&c).unwrap_err();
    assert!(
        matches!(&err, Error::KeyClash(ids) if ids[0] == long(1) && ids[1] == long(2)),
        "{err}"
    );

    // Both on one side, none on the other: a key of two rows, two ids.
    let c = case(&[p(&long(1)), p(&long(2)), p("G1")], header, "generic");
    let err = reconcile_with_one_long_key(&c).unwrap_err();
    assert!(
        matches!(&err, Error::KeyClash(ids) if ids[0] == long(1) && ids[1] == long(2)),
        "{err}"
    );
    assert!(err.to_string().contains("share a grouping key"), "{err}");

    // Short ids are packed, never hashed: the weak hasher cannot join them.
    let c = case(
        &[p("G1"), p("G2")],
        &format!("{header}{}{}", line("G1"), line("G3")),
        "generic",
    );
    let summary = reconcile_with_one_long_key(&c).unwrap();
    assert_eq!(summary.matched, 1);
    assert_eq!(summary.exceptions["missing_in_statement"], 1);
    assert_eq!(summary.exceptions["missing_in_ledger"], 1);
}
