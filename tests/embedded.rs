//! The embedded mode's guarantees, end to end through the binary: every
//! input line ends in exactly one output; redeliveries never count twice,
//! even across runs sharing a state directory; restores are never repeated;
//! operator mistakes get clear errors.

use std::collections::HashSet;

use anyhow::Result;
use model::{AccessCommand, Decision, LedgerEntry, LedgerKind, Outcome};
use rust_decimal::Decimal;
use serde_json::Value;
use tests::{fixture, paymatch, paymatch_bin, read_jsonl, workdir};

fn run_golden(out: &std::path::Path, state: Option<&std::path::Path>) -> Result<()> {
    let mut args = vec![
        "match".to_string(),
        "--customers".into(),
        fixture("golden/customers.jsonl").display().to_string(),
        "--invoices".into(),
        fixture("golden/invoices.jsonl").display().to_string(),
        "--payments".into(),
        fixture("golden/payments.jsonl").display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    if let Some(s) = state {
        args.extend(["--state".into(), s.display().to_string()]);
    }
    paymatch(&args.iter().map(String::as_str).collect::<Vec<_>>())?;
    Ok(())
}

#[test]
fn every_input_ends_in_exactly_one_output() -> Result<()> {
    let dir = workdir();
    let out = dir.path().join("out");
    run_golden(&out, None)?;
    let inputs = std::fs::read_to_string(fixture("golden/payments.jsonl"))?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    let decisions: Vec<Decision> = read_jsonl(&out.join("decisions.jsonl"))?;
    let dlq: Vec<Value> = read_jsonl(&out.join("dlq.jsonl"))?;
    assert_eq!(decisions.len() + dlq.len(), inputs);
    for letter in &dlq {
        assert!(
            letter["input"].is_string() && letter["error"].as_str().is_some_and(|e| !e.is_empty())
        );
    }
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json"))?)?;
    assert_eq!(summary["payments_read"].as_u64(), Some(inputs as u64));
    assert_eq!(
        summary["records_rejected"].as_u64(),
        Some(1),
        "the broken customer line"
    );
    let rejected: Vec<Value> = read_jsonl(&out.join("rejected_records.jsonl"))?;
    assert_eq!(rejected[0]["line"].as_u64(), Some(5));
    Ok(())
}

#[test]
fn money_is_counted_once_and_restores_are_not_repeated() -> Result<()> {
    let dir = workdir();
    let out = dir.path().join("out");
    run_golden(&out, None)?;
    let decisions: Vec<Decision> = read_jsonl(&out.join("decisions.jsonl"))?;
    let ledger: Vec<LedgerEntry> = read_jsonl(&out.join("ledger.jsonl"))?;
    let commands: Vec<AccessCommand> = read_jsonl(&out.join("access_commands.jsonl"))?;
    // One payment ledger entry per matched decision, none for duplicates.
    let matched: HashSet<_> = decisions
        .iter()
        .filter(|d| d.outcome == Outcome::Matched)
        .map(|d| d.payment_id.clone())
        .collect();
    let payments: Vec<_> = ledger
        .iter()
        .filter(|e| e.kind == LedgerKind::Payment)
        .map(|e| e.payment_id.clone())
        .collect();
    assert_eq!(payments.len(), matched.len());
    assert_eq!(payments.iter().cloned().collect::<HashSet<_>>(), matched);
    // Allocations plus credit add up to each payment.
    for d in decisions.iter().filter(|d| d.outcome == Outcome::Matched) {
        let parts: Decimal = ledger
            .iter()
            .filter(|e| {
                e.payment_id == d.payment_id
                    && matches!(e.kind, LedgerKind::Allocation | LedgerKind::Credit)
            })
            .map(|e| e.amount)
            .sum();
        assert_eq!(parts, d.amount, "{}", d.payment_id);
        let allocated: Decimal = d.allocations.iter().map(|a| a.amount).sum();
        assert!(allocated <= d.amount);
    }
    let ids: HashSet<_> = commands.iter().map(|c| c.command_id.clone()).collect();
    assert_eq!(ids.len(), commands.len(), "a restore command was repeated");
    let entry_ids: HashSet<_> = ledger.iter().map(|e| e.entry_id.clone()).collect();
    assert_eq!(
        entry_ids.len(),
        ledger.len(),
        "a ledger entry id was repeated"
    );
    Ok(())
}

#[test]
fn a_second_run_on_the_same_state_sees_only_duplicates() -> Result<()> {
    let dir = workdir();
    let state = dir.path().join("state");
    run_golden(&dir.path().join("first"), Some(&state))?;
    let second = dir.path().join("second");
    run_golden(&second, Some(&state))?;
    let decisions: Vec<Decision> = read_jsonl(&second.join("decisions.jsonl"))?;
    assert!(!decisions.is_empty());
    assert!(
        decisions.iter().all(|d| d.outcome == Outcome::Duplicate),
        "{decisions:#?}"
    );
    assert!(read_jsonl::<Value>(&second.join("ledger.jsonl"))?.is_empty());
    assert!(read_jsonl::<Value>(&second.join("access_commands.jsonl"))?.is_empty());
    Ok(())
}

#[test]
fn operator_mistakes_get_clear_errors() -> Result<()> {
    let dir = workdir();
    let out = std::process::Command::new(paymatch_bin())
        .args([
            "match",
            "--customers",
            "/nonexistent/customers.jsonl",
            "--payments",
            "x.jsonl",
            "--out",
        ])
        .arg(dir.path())
        .output()?;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/customers.jsonl") && stderr.contains("not found"),
        "{stderr}"
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[matching]\nauto_match_treshold = 0.9\n")?;
    let out = std::process::Command::new(paymatch_bin())
        .args(["providers", "--config"])
        .arg(&bad)
        .output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("auto_match_treshold"));
    Ok(())
}
