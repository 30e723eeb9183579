//! Criterion micro-benchmarks: normalizing each provider's callback, and
//! matching the generator's payment mix (exact and noisy references,
//! phones, hashed phones, typos, unknown payers) against a RocksDB index of
//! 100k customers.

use std::hint::black_box;

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use model::{Payment, PaymentEnvelope, PaymentStatus};
use pipeline::generator::{self, GenerateOptions};
use pipeline::providers::{NormalizeContext, Providers};
use pipeline::Config;

fn fixture(name: &str) -> String {
    // The directory at run time, not at build time: the shared target
    // directory may hold this binary built from another checkout.
    let path = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("../fixtures/providers")
    .join(name);
    std::fs::read_to_string(path).expect("fixture")
}

fn normalize(c: &mut Criterion) {
    let providers = Providers::default();
    let config = Config::default();
    let ctx = NormalizeContext {
        config: &config.providers,
        received_at: None,
        now: Utc::now(),
    };
    let mut group = c.benchmark_group("normalize");
    group.throughput(Throughput::Elements(1));
    for (provider, file) in [
        ("mpesa_c2b", "mpesa_c2b_confirmation.json"),
        ("mpesa_stk", "mpesa_stk_success.json"),
        ("mtn_momo", "mtn_momo_successful.json"),
        ("airtel_money", "airtel_money_success.json"),
        ("stripe", "stripe_payment_intent_succeeded.json"),
        ("generic", "generic_succeeded.json"),
    ] {
        let payload = fixture(file);
        group.bench_function(provider, |b| {
            b.iter(|| providers.normalize(provider, black_box(&payload), &ctx))
        });
    }
    group.finish();
}

fn matching(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    generator::generate(
        &GenerateOptions {
            customers: 100_000,
            payments: 20_000,
            seed: 3,
        },
        &data,
    )
    .expect("generate");
    let config = Config::default();
    let opened = pipeline::store::open(Some(dir.path().join("state")), &config).expect("store");
    let index = pipeline::store::index(opened.store.clone(), &config);
    let mut writer = index.writer();
    for line in std::fs::read_to_string(data.join("customers.jsonl"))
        .expect("customers")
        .lines()
    {
        writer
            .upsert_customer(serde_json::from_str(line).expect("customer"))
            .expect("index");
    }
    for line in std::fs::read_to_string(data.join("invoices.jsonl"))
        .expect("invoices")
        .lines()
    {
        writer
            .upsert_invoice(serde_json::from_str(line).expect("invoice"))
            .expect("index");
    }
    writer.commit().expect("commit");
    let providers = Providers::default();
    let ctx = NormalizeContext {
        config: &config.providers,
        received_at: None,
        now: Utc::now(),
    };
    let payments: Vec<Payment> = std::fs::read_to_string(data.join("payments.jsonl"))
        .expect("payments")
        .lines()
        .filter_map(|l| serde_json::from_str::<PaymentEnvelope>(l).ok())
        .filter_map(|e| providers.normalize(&e.provider, e.payload.get(), &ctx).ok())
        .filter(|p| p.status == PaymentStatus::Succeeded)
        .collect();
    let matchers = matchers::strategies::registry();

    let mut group = c.benchmark_group("match");
    group.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    group.bench_function("generated_mix_against_100k_customers", |b| {
        b.iter(|| {
            i = (i + 1) % payments.len();
            black_box(
                matchers::match_payment(&payments[i], &index, &matchers, &config.matching)
                    .expect("match"),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, normalize, matching);
criterion_main!(benches);
