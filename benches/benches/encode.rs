//! Criterion micro-benchmarks: writing the records made for every payment
//! (decisions, ledger entries) as JSON, by serde_json and by their own
//! writers (`model::encode`), over the records of an embedded run of the
//! generator's data.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use model::encode::WriteJson;
use model::{Decision, LedgerEntry};
use pipeline::embedded::{run_match, MatchFiles};
use pipeline::generator::{self, GenerateOptions};
use pipeline::Config;
use serde::de::DeserializeOwned;

fn read<T: DeserializeOwned>(path: &std::path::Path) -> Vec<T> {
    std::fs::read_to_string(path)
        .expect("output")
        .lines()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect()
}

fn bench<T: WriteJson + serde::Serialize>(c: &mut Criterion, name: &str, records: &[T]) {
    let mut group = c.benchmark_group(format!("encode_{name}"));
    group.throughput(Throughput::Elements(records.len() as u64));
    let mut out = Vec::with_capacity(1 << 20);
    group.bench_function("serde_json", |b| {
        b.iter(|| {
            out.clear();
            for r in records {
                serde_json::to_writer(&mut out, r).expect("json");
            }
            black_box(out.len())
        })
    });
    group.bench_function("write_json", |b| {
        b.iter(|| {
            out.clear();
            for r in records {
                r.write_json(&mut out);
            }
            black_box(out.len())
        })
    });
    group.finish();
}

fn encode(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    generator::generate(
        &GenerateOptions {
            customers: 20_000,
            payments: 10_000,
            seed: 3,
        },
        &data,
    )
    .expect("generate");
    let out = dir.path().join("out");
    let files = MatchFiles {
        customers: data.join("customers.jsonl"),
        invoices: Some(data.join("invoices.jsonl")),
        payments: data.join("payments.jsonl"),
        out: out.clone(),
        state: None,
    };
    run_match(&files, &Config::default(), false).expect("match");
    let decisions: Vec<Decision> = read(&out.join("decisions.jsonl"));
    let ledger: Vec<LedgerEntry> = read(&out.join("ledger.jsonl"));
    bench(c, "decisions", &decisions);
    bench(c, "ledger_entries", &ledger);
}

criterion_group!(benches, encode);
criterion_main!(benches);
