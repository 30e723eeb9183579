//! The broker restarts mid-stream (stopped cleanly, down for a few
//! seconds, started again on its data): `paymatch run` recovers by itself —
//! no restart of paymatch — and the outputs still equal the embedded run.
//! A broker of its own, since the other Kafka tests must not see it go.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tests::kafka::{check_against_embedded, Broker, Outputs, Setup};
use tests::workdir;

#[test]
fn the_pipeline_recovers_by_itself_when_the_broker_restarts() -> Result<()> {
    let broker = Broker::start()?;
    let dir = workdir();
    tests::kafka::data(dir.path(), 5000, 30000, 41)?;
    let data = dir.path().join("data");
    // The payments in two halves: one before the outage, one after.
    let text = std::fs::read_to_string(data.join("payments.jsonl"))?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let (first, second) = lines.split_at(lines.len() / 2);
    std::fs::write(dir.path().join("first.jsonl"), first.join("\n") + "\n")?;
    std::fs::write(dir.path().join("second.jsonl"), second.join("\n") + "\n")?;

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
    let mut service = setup.start("a", &[])?;
    let path = |f: &str| dir.path().join(f).display().to_string();
    setup.paymatch(&["publish", "payments", &path("first.jsonl")])?;
    let mut outputs = Outputs::new(&setup.brokers, &setup.prefix)?;
    let deadline = Instant::now() + Duration::from_secs(300);
    while outputs.poll()? < first.len() / 3 {
        anyhow::ensure!(Instant::now() < deadline, "stalled: {}", service.log_tail());
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(outputs);

    broker.stop_keeping_data()?;
    std::thread::sleep(Duration::from_secs(5));
    anyhow::ensure!(service.running(), "paymatch exited: {}", service.log_tail());
    broker.restart()?;

    setup.paymatch(&["publish", "payments", &path("second.jsonl")])?;
    let mut outputs = Outputs::new(&setup.brokers, &setup.prefix)?;
    outputs
        .wait_for(lines.len(), Duration::from_secs(600), &mut service)
        .with_context(|| service.log_tail())?;
    check_against_embedded(&mut outputs, &dir.path().join("embedded"))?;
    anyhow::ensure!(service.running(), "paymatch exited: {}", service.log_tail());
    service.terminate()?;
    Ok(())
}
