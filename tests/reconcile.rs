//! Reconciliation end to end, through the real binary: statements generated
//! from the demo's ledger with injected exceptions are reconciled to exactly
//! what was injected, for every format; lost M-Pesa callbacks come back
//! through `--replay-missing` and `paymatch match`; the Parquet outputs are
//! read by pyarrow and DuckDB.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use anyhow::{ensure, Context, Result};
use serde_json::Value;
use tests::{paymatch, read_jsonl, repo_root, workdir};

/// (kind, txn_id) of every row of an exceptions.csv.
fn exceptions(path: &Path) -> Result<BTreeSet<(String, String)>> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    Ok(text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.splitn(4, ',').collect();
            (f[0].to_string(), f[2].to_string())
        })
        .collect())
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn demo_statements_reconcile_to_exactly_what_was_injected() -> Result<()> {
    let dir = workdir();
    let d = dir.path();
    paymatch(&[
        "demo",
        "--dir",
        s(d),
        "--customers",
        "2000",
        "--payments",
        "8000",
    ])?;
    let ledger = d.join("run/ledger.jsonl");
    for (format, seed) in [("mpesa", "1"), ("stripe", "2"), ("generic", "3")] {
        let statement = d.join(format!("{format}.csv"));
        let ledger2 = d.join(format!("ledger-{format}.jsonl"));
        let truth_path = d.join(format!("truth-{format}.jsonl"));
        paymatch(&[
            "generate-statement",
            "--ledger",
            s(&ledger),
            "--format",
            format,
            "--out",
            s(&statement),
            "--ledger-out",
            s(&ledger2),
            "--truth",
            s(&truth_path),
            "--inject-rate",
            "0.02",
            "--seed",
            seed,
        ])?;
        let out = d.join(format!("recon-{format}"));
        let summary_text = paymatch(&[
            "reconcile",
            "--ledger",
            s(&ledger2),
            "--statement",
            s(&statement),
            "--format",
            format,
            "--out",
            s(&out),
        ])?
        .stdout;
        let summary: Value = serde_json::from_slice(&summary_text)?;
        let truth: BTreeSet<(String, String)> = read_jsonl::<Value>(&truth_path)?
            .iter()
            .map(|e| {
                (
                    e["kind"].as_str().unwrap().to_string(),
                    e["txn_id"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let kinds: BTreeSet<&str> = truth.iter().map(|(k, _)| k.as_str()).collect();
        // M-Pesa statements have no currency column: no currency mismatch there.
        let all_kinds = if format == "mpesa" { 5 } else { 6 };
        ensure!(
            kinds.len() == all_kinds,
            "{format}: every kind injected: {kinds:?}"
        );
        let found = exceptions(&out.join("exceptions.csv"))?;
        ensure!(
            found == truth,
            "{format}: reported {:?}\nwanted {:?}",
            found.difference(&truth).collect::<Vec<_>>(),
            truth.difference(&found).collect::<Vec<_>>()
        );
        ensure!(summary["bad_lines"] == 0, "{format}: {summary}");
        // Days without injected exceptions reconcile to zero difference.
        for day in summary["days"].as_array().unwrap() {
            if day["exceptions"].as_object().unwrap().is_empty() {
                ensure!(
                    day["difference"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches('-')
                        .chars()
                        .all(|c| c == '0' || c == '.'),
                    "{format}: {day}"
                );
            }
        }
    }
    // Stripe and M-Pesa statements carry fees and payouts: the net ties to them.
    let stripe: Value =
        serde_json::from_slice(&std::fs::read(d.join("recon-stripe/summary.json"))?)?;
    ensure!(
        stripe["days"]
            .as_array()
            .unwrap()
            .iter()
            .any(|day| day["statement"]["fees"] != "0.00" && day["statement"]["payouts"] != "0.00"),
        "stripe fees and payouts: {stripe}"
    );
    Ok(())
}

/// The M-Pesa statement line for a c2b confirmation, as the org portal prints it.
fn mpesa_line(p: &Value) -> String {
    let t = p["TransTime"].as_str().unwrap();
    let time = format!(
        "{}-{}-{} {}:{}:{}",
        &t[6..8],
        &t[4..6],
        &t[0..4],
        &t[8..10],
        &t[10..12],
        &t[12..14]
    );
    let name = [&p["FirstName"], &p["MiddleName"], &p["LastName"]]
        .iter()
        .filter_map(|v| v.as_str())
        .filter(|n| !n.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "{id},{time},{time},Pay Bill,Completed,{amount},,,true,Pay Bill,{msisdn} - {name},,{acc}",
        id = p["TransID"].as_str().unwrap(),
        amount = p["TransAmount"].as_str().unwrap(),
        msisdn = p["MSISDN"].as_str().unwrap(),
        acc = p["BillRefNumber"].as_str().unwrap(),
    )
}

#[test]
fn lost_mpesa_callbacks_come_back_and_restore_service() -> Result<()> {
    let dir = workdir();
    let d = dir.path();
    let data = d.join("data");
    paymatch(&[
        "generate",
        "--out",
        s(&data),
        "--customers",
        "3000",
        "--payments",
        "12000",
        "--seed",
        "11",
    ])?;
    let args = |payments: &Path, out: &Path, state: &Path| -> Vec<String> {
        [
            "match",
            "--customers",
            s(&data.join("customers.jsonl")),
            "--invoices",
            s(&data.join("invoices.jsonl")),
            "--payments",
            s(payments),
            "--out",
            s(out),
            "--state",
            s(state),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    };
    let run = |a: Vec<String>| paymatch(&a.iter().map(String::as_str).collect::<Vec<_>>());
    run(args(
        &data.join("payments.jsonl"),
        &d.join("full"),
        &d.join("state-full"),
    ))?;

    // The generated callbacks include malformed lines (for the dead-letter
    // queue): keep them as they are.
    let raw = std::fs::read_to_string(data.join("payments.jsonl"))?;
    let decisions: Vec<Value> = read_jsonl(&d.join("full/decisions.jsonl"))?;
    let commands: Vec<Value> = read_jsonl(&d.join("full/access_commands.jsonl"))?;
    let matched: BTreeMap<String, String> = decisions
        .iter()
        .filter(|x| x["outcome"] == "matched" && x["provider"] == "mpesa_c2b")
        .map(|x| {
            (
                x["provider_txn_id"].as_str().unwrap().to_string(),
                x["customer_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let restoring: BTreeSet<String> = commands
        .iter()
        .filter_map(|c| {
            c["cause"]
                .as_str()?
                .strip_prefix("mpesa_c2b:")
                .map(str::to_string)
        })
        .collect();
    // Lose the callbacks of payments that restored service, and a few more.
    let mut lost: BTreeSet<String> = restoring
        .iter()
        .filter(|t| matched.contains_key(*t))
        .take(15)
        .cloned()
        .collect();
    lost.extend(
        matched
            .keys()
            .filter(|t| !restoring.contains(*t))
            .take(15)
            .cloned(),
    );
    ensure!(lost.len() >= 20, "enough lost payments: {}", lost.len());
    let mut kept = String::new();
    let mut statement = String::from("Organisation Name:,ACME ISP\nReceipt No.,Completion Time,Initiation Time,Details,Transaction Status,Paid In,Withdrawn,Balance,Balance Confirmed,Reason Type,Other Party Info,Linked Transaction ID,A/C No.\n");
    let mut printed = BTreeSet::new();
    for line in raw.lines() {
        let e: Value = serde_json::from_str(line).unwrap_or(Value::Null);
        let txn = e["payload"]["TransID"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if e["provider"] == "mpesa_c2b" && matched.contains_key(&txn) && printed.insert(txn.clone())
        {
            statement.push_str(&mpesa_line(&e["payload"]));
            statement.push('\n');
        }
        if !(e["provider"] == "mpesa_c2b" && lost.contains(&txn)) {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    std::fs::write(d.join("kept.jsonl"), kept)?;
    std::fs::write(d.join("statement.csv"), statement)?;
    run(args(
        &d.join("kept.jsonl"),
        &d.join("partial"),
        &d.join("state"),
    ))?;

    let replay = d.join("replay.jsonl");
    let summary: Value = serde_json::from_slice(
        &paymatch(&[
            "reconcile",
            "--ledger",
            s(&d.join("partial/ledger.jsonl")),
            "--statement",
            s(&d.join("statement.csv")),
            "--format",
            "mpesa",
            "--provider",
            "mpesa_c2b",
            "--out",
            s(&d.join("recon")),
            "--replay-missing",
            s(&replay),
            "--shortcode",
            "600638",
        ])?
        .stdout,
    )?;
    let missing: BTreeSet<String> = exceptions(&d.join("recon/exceptions.csv"))?
        .into_iter()
        .filter(|(k, _)| k == "missing_in_ledger")
        .map(|(_, t)| t)
        .collect();
    ensure!(
        missing == lost,
        "missing_in_ledger is exactly the lost callbacks: {summary}"
    );
    ensure!(
        summary["exceptions"]["missing_in_statement"] == 0,
        "{summary}"
    );
    ensure!(summary["replay"]["replayed"] == lost.len(), "{summary}");

    // Replayed: matched to the same customers as the original callbacks, and service restored.
    run(args(&replay, &d.join("replayed"), &d.join("state")))?;
    let replayed: Vec<Value> = read_jsonl(&d.join("replayed/decisions.jsonl"))?;
    ensure!(replayed.len() == lost.len());
    for x in &replayed {
        let txn = x["provider_txn_id"].as_str().unwrap();
        ensure!(
            x["outcome"] == "matched"
                && x["customer_id"].as_str() == matched.get(txn).map(String::as_str),
            "replayed {txn} as the original: {x}"
        );
        ensure!(x["payment_id"] == format!("mpesa_c2b:{txn}"));
    }
    let restored: Vec<Value> = read_jsonl(&d.join("replayed/access_commands.jsonl"))?;
    ensure!(
        !restored.is_empty(),
        "lost payments that cleared a balance restore service"
    );
    ensure!(restored.iter().all(|c| lost.contains(
        c["cause"]
            .as_str()
            .unwrap()
            .trim_start_matches("mpesa_c2b:")
    )));

    // A second replay changes nothing.
    run(args(&replay, &d.join("again"), &d.join("state")))?;
    let again: Vec<Value> = read_jsonl(&d.join("again/decisions.jsonl"))?;
    ensure!(
        again.iter().all(|x| x["outcome"] == "duplicate"),
        "second replay: duplicates only"
    );
    ensure!(
        std::fs::read_to_string(d.join("again/access_commands.jsonl"))?
            .trim()
            .is_empty()
    );
    Ok(())
}

#[test]
fn other_engines_read_the_parquet_outputs() -> Result<()> {
    let dir = workdir();
    let d = dir.path();
    paymatch(&[
        "demo",
        "--dir",
        s(d),
        "--customers",
        "1000",
        "--payments",
        "3000",
    ])?;
    let ledger = d.join("run/ledger.jsonl");
    paymatch(&[
        "generate-statement",
        "--ledger",
        s(&ledger),
        "--format",
        "mpesa",
        "--out",
        s(&d.join("m.csv")),
        "--inject-rate",
        "0.02",
    ])?;
    let out = d.join("recon");
    paymatch(&[
        "reconcile",
        "--ledger",
        s(&ledger),
        "--statement",
        s(&d.join("m.csv")),
        "--format",
        "mpesa",
        "--out",
        s(&out),
    ])?;
    paymatch(&[
        "snapshot",
        "--ledger",
        s(&ledger),
        "--out",
        s(&out.join("ledger")),
    ])?;
    let ours = paymatch(&["sql", "--dir", s(&out), "--format", "csv",
        "SELECT (SELECT count(*) FROM matched) AS matched, (SELECT count(*) FROM exceptions) AS exceptions, (SELECT count(*) FROM ledger) AS ledger"])?;
    let ours = String::from_utf8(ours.stdout)?;
    let python = Command::new(repo_root().join("scripts/python-peers.sh")).output()?;
    ensure!(
        python.status.success(),
        "installing pyarrow and duckdb: {}",
        String::from_utf8_lossy(&python.stderr)
    );
    let python = String::from_utf8(python.stdout)?.trim().to_string();
    let check = Command::new(&python)
        .arg(repo_root().join("tests/python/read_outputs.py"))
        .arg(&out)
        .output()?;
    ensure!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let theirs = String::from_utf8(check.stdout)?;
    ensure!(
        ours.lines().nth(1) == theirs.lines().next(),
        "paymatch sql: {ours}\npyarrow/duckdb: {theirs}"
    );
    Ok(())
}
