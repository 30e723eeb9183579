//! Golden test: the provider fixtures, wrapped as envelopes in
//! `fixtures/golden/payments.jsonl`, through `paymatch match` against the
//! golden customers and invoices; decisions, ledger, commands and dead
//! letters compared with `fixtures/golden/expected/`, ignoring order and the
//! wall-clock fields. `UPDATE_GOLDEN=1 cargo test --release -p tests --test
//! golden` rewrites the expected files after an intended change.

use std::path::Path;

use anyhow::Result;
use serde_json::Value;
use tests::{fixture, paymatch, read_jsonl, update_golden, workdir};

/// Drops fields that change from run to run, sorts records canonically.
fn canonical(records: Vec<Value>) -> Vec<String> {
    let mut out: Vec<String> = records
        .into_iter()
        .map(|mut v| {
            if let Some(o) = v.as_object_mut() {
                o.remove("decided_at");
                o.remove("issued_at");
                // A dead letter's `at` is the wall clock; a ledger entry's is the payment's time.
                if o.contains_key("input") {
                    o.remove("at");
                }
            }
            v.to_string()
        })
        .collect();
    out.sort();
    out
}

fn compare(run: &Path, name: &str) -> Result<()> {
    let actual = canonical(read_jsonl(&run.join(name))?);
    let expected_path = fixture("golden/expected").join(name);
    if update_golden() {
        std::fs::create_dir_all(expected_path.parent().unwrap())?;
        std::fs::write(&expected_path, actual.join("\n") + "\n")?;
        return Ok(());
    }
    let expected = canonical(read_jsonl(&expected_path)?);
    let missing: Vec<_> = expected.iter().filter(|e| !actual.contains(e)).collect();
    let extra: Vec<_> = actual.iter().filter(|a| !expected.contains(a)).collect();
    assert!(missing.is_empty() && extra.is_empty(), "{name} differs from the golden file\nmissing:\n{missing:#?}\nunexpected:\n{extra:#?}\n(UPDATE_GOLDEN=1 rewrites after an intended change)");
    Ok(())
}

#[test]
fn provider_fixtures_decide_as_recorded() -> Result<()> {
    let dir = workdir();
    let out = dir.path().join("out");
    paymatch(&[
        "match",
        "--customers",
        fixture("golden/customers.jsonl").to_str().unwrap(),
        "--invoices",
        fixture("golden/invoices.jsonl").to_str().unwrap(),
        "--payments",
        fixture("golden/payments.jsonl").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])?;
    for name in [
        "decisions.jsonl",
        "ledger.jsonl",
        "access_commands.jsonl",
        "dlq.jsonl",
    ] {
        compare(&out, name)?;
    }
    Ok(())
}
