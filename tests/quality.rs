//! Matching quality on the project's labelled generator, held to the goals
//! of `docs/BENCHMARKS.md`: precision ≥ 99.9 %, recall ≥ 97 % on payments a
//! deterministic signal identifies, no unknown payer matched, every
//! redelivery caught, nothing lost, no restore repeated.

use anyhow::Result;
use pipeline::eval::Scores;
use tests::{paymatch, workdir};

#[test]
fn generated_data_meets_the_quality_goals() -> Result<()> {
    let dir = workdir();
    let d = dir.path();
    let data = d.join("data");
    let run = d.join("run");
    paymatch(&[
        "generate",
        "--out",
        data.to_str().unwrap(),
        "--customers",
        "4000",
        "--payments",
        "20000",
        "--seed",
        "11",
    ])?;
    paymatch(&[
        "match",
        "--customers",
        data.join("customers.jsonl").to_str().unwrap(),
        "--invoices",
        data.join("invoices.jsonl").to_str().unwrap(),
        "--payments",
        data.join("payments.jsonl").to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ])?;
    let out = paymatch(&[
        "eval",
        "--data",
        data.to_str().unwrap(),
        "--run",
        run.to_str().unwrap(),
        "--json",
    ])?;
    let s: Scores = serde_json::from_slice(&out.stdout)?;
    let report = serde_json::to_string_pretty(&s)?;
    assert!(s.auto_match_precision.percent >= 99.9, "{report}");
    assert!(s.recall_deterministic.percent >= 97.0, "{report}");
    assert_eq!(s.unknown_payers_matched, 0, "{report}");
    assert_eq!(s.redeliveries_caught.percent, 100.0, "{report}");
    assert_eq!(s.lost, 0, "{report}");
    assert_eq!(s.restores_repeated, 0, "{report}");
    assert_eq!(s.failures_recognised.percent, 100.0, "{report}");
    assert_eq!(s.malformed_dead_lettered.percent, 100.0, "{report}");
    assert!(
        s.restore_precision.percent >= 99.0 && s.restore_recall.percent >= 95.0,
        "{report}"
    );
    Ok(())
}
