//! The Kafka mode against a real Apache Kafka broker (started by
//! `scripts/kafka.sh` through the harness, one broker for this file, each
//! test under its own topic prefix):
//!
//! * end to end: the same decisions, ledger and restores as the embedded
//!   mode on the same input; a customer published while the service runs
//!   is matchable at once; `/metrics` answers;
//! * crash safety: `kill -9` three times at random points of a 100k-payment
//!   stream, restarted each time: nothing lost, nothing doubled;
//! * rebalance: a second instance joins and leaves mid-stream;
//! * clear errors for missing topics and an unreachable broker.

use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use model::{Decision, Outcome};
use tests::kafka::{check_against_embedded, data, free_port, Broker, Outputs, Setup};
use tests::{http_get, workdir};

/// One broker for the tests of this file; they take turns (two cores).
fn broker() -> &'static Broker {
    static BROKER: OnceLock<Broker> = OnceLock::new();
    BROKER.get_or_init(|| Broker::start().expect("starting the Kafka broker"))
}

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

fn setup(dir: &Path, prefix: &str) -> Result<Setup> {
    let setup = Setup {
        brokers: broker().bootstrap(),
        prefix: prefix.into(),
        dir: dir.to_path_buf(),
    };
    setup.paymatch(&["topics", "create"])?;
    for kind in ["customers", "invoices"] {
        let file = dir.join("data").join(format!("{kind}.jsonl"));
        setup.paymatch(&["publish", kind, &file.display().to_string()])?;
    }
    Ok(setup)
}

fn publish_payments(setup: &Setup, dir: &Path) -> Result<()> {
    let file = dir.join("data/payments.jsonl");
    setup.paymatch(&["publish", "payments", &file.display().to_string()])?;
    Ok(())
}

#[test]
fn kafka_mode_equals_the_embedded_mode_and_follows_the_customer_table() -> Result<()> {
    let _turn = one_at_a_time();
    let dir = workdir();
    let inputs = data(dir.path(), 2_000, 8_000, 11)?;
    let setup = setup(dir.path(), "e2e.")?;
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut service = setup.start("a", &[("PAYMATCH_SERVICE__METRICS_LISTEN", &metrics)])?;
    publish_payments(&setup, dir.path())?;
    let mut outputs = Outputs::new(&setup.brokers, &setup.prefix)?;
    outputs
        .wait_for(inputs, Duration::from_secs(300), &mut service)
        .with_context(|| service.log_tail())?;
    check_against_embedded(&mut outputs, &dir.path().join("embedded"))?;
    let reviews = outputs
        .decisions
        .values::<Decision>()?
        .iter()
        .filter(|d| d.outcome == Outcome::Review)
        .count();
    let mut review = tests::kafka::TopicReader::new(&setup.brokers, "e2e.payments.review")?;
    review.read_at_least(reviews, Duration::from_secs(30))?;
    assert_eq!(
        review.records.len(),
        reviews,
        "review topic = review decisions"
    );

    // A customer added upstream is matchable about a second later.
    let live = dir.path().join("live");
    std::fs::create_dir_all(&live)?;
    std::fs::write(
        live.join("customers.jsonl"),
        r#"{"customer_id":"C-LIVE-1","account_number":"LIVE7001","name":"Amina Live","msisdns":["254799000001"],"services":[],"status":"active","currency":"KES","updated_at":"2026-11-01T00:00:00Z"}"#,
    )?;
    std::fs::write(
        live.join("payments.jsonl"),
        r#"{"provider":"generic","received_at":"2026-11-02T07:00:00Z","payload":{"txn_id":"LIVE-1","amount":"100.00","currency":"KES","reference":"LIVE7001","payer_name":"Amina Live","payer_phone":"254799000001","paid_at":"2026-11-02T07:00:00Z","status":"succeeded"}}"#,
    )?;
    setup.paymatch(&[
        "publish",
        "customers",
        &live.join("customers.jsonl").display().to_string(),
    ])?;
    std::thread::sleep(Duration::from_millis(1500));
    setup.paymatch(&[
        "publish",
        "payments",
        &live.join("payments.jsonl").display().to_string(),
    ])?;
    outputs.wait_for(inputs + 1, Duration::from_secs(60), &mut service)?;
    let decisions: Vec<Decision> = outputs.decisions.values()?;
    let last = decisions
        .iter()
        .find(|d| d.payment_id == "generic:LIVE-1")
        .context("no decision for the live payment")?;
    assert_eq!(last.outcome, Outcome::Matched, "{last:?}");
    assert_eq!(last.customer_id.as_deref(), Some("C-LIVE-1"));

    // Every output carries the raw payment's time twice: as the
    // `paymatch-origin-ms` header (the contract) and as its timestamp
    // (what stage 2 reads); the live payment's is its raw record's.
    let mut raw = tests::kafka::TopicReader::new(&setup.brokers, "e2e.payments.raw")?;
    raw.read_at_least(inputs + 1, Duration::from_secs(30))?;
    let raw_time = |id: &str| {
        raw.records
            .iter()
            .position(|(key, _)| key.as_deref() == Some(id))
            .and_then(|i| raw.times[i].timestamp)
    };
    let live_origin = raw_time("generic:LIVE-1").context("no raw record for the live payment")?;
    outputs.poll()?;
    for reader in [&outputs.decisions, &outputs.ledger, &outputs.commands] {
        for (times, (_, value)) in reader.times.iter().zip(&reader.records) {
            assert!(times.origin_header.is_some(), "no origin header: {value}");
            assert_eq!(times.timestamp, times.origin_header, "{value}");
            if value.contains("generic:LIVE-1") {
                assert_eq!(times.timestamp, Some(live_origin), "{value}");
            }
        }
    }

    // Prometheus metrics.
    let page = http_get(&metrics, "/metrics")?;
    for name in [
        "paymatch_payments_total",
        "paymatch_transactions_total",
        "paymatch_transaction_commit_seconds_bucket",
        "paymatch_end_to_end_seconds_bucket",
        "paymatch_restore_commands_total",
    ] {
        assert!(page.contains(name), "{name} missing from /metrics:\n{page}");
    }
    service.terminate()?;
    Ok(())
}

/// A small random number from the clock (the kill points differ per run;
/// they are printed so a failure can be replayed by eye).
fn jitter(n: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    ((nanos ^ (nanos >> 7)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % n.max(1)
}

#[test]
fn kill_dash_nine_three_times_loses_and_doubles_nothing() -> Result<()> {
    let _turn = one_at_a_time();
    let dir = workdir();
    let inputs = data(dir.path(), 20_000, 100_000, 23)?;
    let setup = setup(dir.path(), "crash.")?;
    publish_payments(&setup, dir.path())?;
    let mut outputs = Outputs::new(&setup.brokers, &setup.prefix)?;
    let mut service = setup.start("a", &[])?;
    // Three kill points, random, spread over the stream.
    let mut points: Vec<usize> = (0..3)
        .map(|i| inputs * (10 + 25 * i + (jitter(20) as usize % 20)) / 100)
        .collect();
    points.sort_unstable();
    eprintln!("kill -9 after {points:?} of {inputs} inputs");
    for point in points {
        let deadline = Instant::now() + Duration::from_secs(300);
        while outputs.poll()? < point {
            anyhow::ensure!(Instant::now() < deadline, "stalled: {}", service.log_tail());
            anyhow::ensure!(service.running(), "exited: {}", service.log_tail());
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(jitter(300)));
        service.kill9()?;
        service = setup.start("a", &[])?;
    }
    outputs
        .wait_for(inputs, Duration::from_secs(600), &mut service)
        .with_context(|| service.log_tail())?;
    check_against_embedded(&mut outputs, &dir.path().join("embedded"))?;
    service.terminate()?;
    Ok(())
}

#[test]
fn a_second_instance_joins_and_leaves_mid_stream() -> Result<()> {
    let _turn = one_at_a_time();
    let dir = workdir();
    let inputs = data(dir.path(), 10_000, 50_000, 31)?;
    let setup = setup(dir.path(), "rebalance.")?;
    publish_payments(&setup, dir.path())?;
    let mut outputs = Outputs::new(&setup.brokers, &setup.prefix)?;
    let mut a = setup.start("a", &[])?;
    let wait_until = |outputs: &mut Outputs, n: usize| -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(300);
        while outputs.poll()? < n {
            anyhow::ensure!(Instant::now() < deadline, "stalled at {n}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    };
    wait_until(&mut outputs, inputs / 5)?;
    let mut b = setup.start("b", &[])?;
    // B has taken partitions of both stages when its log says so.
    let took_partitions = |log: &str, stage: &str| {
        log.lines()
            .any(|l| l.contains("assigned") && l.contains(stage) && !l.contains("partitions=0"))
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !{
        let log = std::fs::read_to_string(&b.log)?;
        took_partitions(&log, "stage1") && took_partitions(&log, "stage2")
    } {
        anyhow::ensure!(
            Instant::now() < deadline,
            "b never joined: {}",
            b.log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_until(&mut outputs, inputs * 3 / 5)?;
    b.terminate()?;
    outputs
        .wait_for(inputs, Duration::from_secs(600), &mut a)
        .with_context(|| a.log_tail())?;
    check_against_embedded(&mut outputs, &dir.path().join("embedded"))?;
    a.terminate()?;
    Ok(())
}

#[test]
fn missing_topics_and_an_unreachable_broker_are_clear_errors() -> Result<()> {
    let _turn = one_at_a_time();
    let dir = workdir();
    let setup = Setup {
        brokers: broker().bootstrap(),
        prefix: "never-created.".into(),
        dir: dir.path().to_path_buf(),
    };
    let err = setup.paymatch(&["run"]).unwrap_err().to_string();
    assert!(err.contains("missing Kafka topics"), "{err}");
    assert!(err.contains("paymatch topics create"), "{err}");
    assert!(err.contains("never-created.payments.raw"), "{err}");

    let nowhere = Setup {
        brokers: format!("127.0.0.1:{}", free_port()),
        ..setup
    };
    let started = Instant::now();
    let out = std::process::Command::new(tests::paymatch_bin())
        .args(["topics", "check"])
        .envs(nowhere.env("cli"))
        .env("PAYMATCH_KAFKA__REQUEST_TIMEOUT_MS", "3000")
        .output()?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no Kafka broker answers"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
    Ok(())
}
