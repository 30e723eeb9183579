//! The broker restarts mid-stream (stopped cleanly, down for a few
//! seconds, started again on its data): `paymatch run` recovers by itself —
//! no restart of paymatch — and the outputs still equal the embedded run.
//! A broker of its own, since the other Kafka tests must not see it go.
//!
//! The outage is timed to hit an open transaction: stage 1's windows are
//! made long (6 s), and the broker stops a second after a batch of
//! payments was published, so that transaction's end (its outputs'
//! acknowledgements, `send_offsets_to_transaction`, the commit) meets a
//! broker that is not there. That is where librdkafka was once seen to
//! block for good; the service's metrics must show the transaction was
//! given up and recovered, and the outputs must still be exact.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tests::kafka::{check_against_embedded, free_port, Broker, Outputs, Setup};
use tests::{http_get, metric_sum, workdir};

#[test]
fn the_pipeline_recovers_by_itself_when_the_broker_restarts() -> Result<()> {
    let broker = Broker::start()?;
    let dir = workdir();
    tests::kafka::data(dir.path(), 5000, 30000, 41)?;
    let data = dir.path().join("data");
    // The payments in three parts: one the pipeline has decided before the
    // outage, one inside a transaction the outage interrupts, one after.
    let text = std::fs::read_to_string(data.join("payments.jsonl"))?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let (first, second) = lines.split_at(lines.len() / 2);
    let (early, late) = first.split_at(first.len() / 2);
    for (name, part) in [("early", early), ("late", late), ("second", second)] {
        std::fs::write(
            dir.path().join(format!("{name}.jsonl")),
            part.join("\n") + "\n",
        )?;
    }

    let setup = Setup {
        brokers: broker.bootstrap(),
        prefix: "restart.".into(),
        dir: dir.path().to_path_buf(),
    };
    setup.paymatch(&["topics", "create"])?;
    for kind in ["customers", "invoices"] {
        let file = data.join(format!("{kind}.jsonl"));
        setup.paymatch(&["publish", kind, &file.display().to_string()])?;
    }
    let metrics = format!("127.0.0.1:{}", free_port());
    // Stage 1 holds each transaction open 6 s (under the harness's 10 s
    // transaction timeout); stage 2's input comes in bursts and it
    // commits as each is drained.
    let long_windows = [
        ("PAYMATCH_KAFKA__TRANSACTION_MS", "6000"),
        ("PAYMATCH_KAFKA__BACKLOG_TRANSACTION_MS", "6000"),
        ("PAYMATCH_SERVICE__METRICS_LISTEN", metrics.as_str()),
        // Shorter than the outage: the transaction's end must give up.
        ("PAYMATCH_KAFKA__REQUEST_TIMEOUT_MS", "3000"),
    ];
    let mut service = setup.start("a", &long_windows)?;
    let path = |f: &str| dir.path().join(f).display().to_string();
    setup.paymatch(&["publish", "payments", &path("early.jsonl")])?;
    let mut outputs = Outputs::new(&setup.brokers, &setup.prefix)?;
    let deadline = Instant::now() + Duration::from_secs(300);
    while outputs.poll()? < early.len() {
        anyhow::ensure!(Instant::now() < deadline, "stalled: {}", service.log_tail());
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(outputs);

    // Stage 1 takes these into a new transaction at once and ends it
    // 6 s later: while the broker is down.
    setup.paymatch(&["publish", "payments", &path("late.jsonl")])?;
    std::thread::sleep(Duration::from_secs(1));
    broker.stop_keeping_data()?;
    std::thread::sleep(Duration::from_secs(8));
    anyhow::ensure!(service.running(), "paymatch exited: {}", service.log_tail());
    broker.restart()?;

    setup.paymatch(&["publish", "payments", &path("second.jsonl")])?;
    let mut outputs = Outputs::new(&setup.brokers, &setup.prefix)?;
    outputs
        .wait_for(lines.len(), Duration::from_secs(600), &mut service)
        .with_context(|| service.log_tail())?;
    check_against_embedded(&mut outputs, &dir.path().join("embedded"))?;
    anyhow::ensure!(service.running(), "paymatch exited: {}", service.log_tail());

    // The outage did meet an open transaction, and it was given up.
    let page = http_get(&metrics, "/metrics")?;
    let given_up = metric_sum(
        &page,
        "paymatch_transactions_total",
        &[r#"stage="stage1""#, r#"result="aborted""#],
    );
    anyhow::ensure!(
        given_up >= 1.0,
        "no stage 1 transaction was aborted: the outage missed it\n{}",
        service.log_tail()
    );
    service.terminate()?;
    Ok(())
}
