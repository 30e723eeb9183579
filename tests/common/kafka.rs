//! Kafka in the shared harness: a real Apache Kafka broker started by
//! `scripts/kafka.sh` on a free loopback port with its own data directory,
//! `paymatch run` processes pointed at it, and read_committed readers for
//! the output topics.
//!
//! The broker is stopped when its [`Broker`] is dropped; a watchdog in
//! `kafka.sh` also stops it when the test process dies, so a failed or
//! killed test leaves nothing running.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::{paymatch_bin, repo_root};

/// Generates a data set under `dir/data` and its embedded reference run
/// under `dir/embedded`; returns the number of payment lines.
pub fn data(dir: &std::path::Path, customers: usize, payments: usize, seed: u64) -> Result<usize> {
    let data = dir.join("data");
    let path = |p: &std::path::Path| p.display().to_string();
    super::paymatch(&[
        "generate",
        "--out",
        &path(&data),
        "--customers",
        &customers.to_string(),
        "--payments",
        &payments.to_string(),
        "--seed",
        &seed.to_string(),
    ])?;
    super::paymatch(&[
        "match",
        "--customers",
        &path(&data.join("customers.jsonl")),
        "--invoices",
        &path(&data.join("invoices.jsonl")),
        "--payments",
        &path(&data.join("payments.jsonl")),
        "--out",
        &path(&dir.join("embedded")),
    ])?;
    let inputs = std::fs::read_to_string(data.join("payments.jsonl"))?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    Ok(inputs)
}

/// A broker of this test process.
pub struct Broker {
    /// Its port on 127.0.0.1.
    pub port: u16,
    data: tempfile::TempDir,
}

/// A free TCP port on loopback whose next port is free too (the broker's
/// controller listens there).
pub fn free_port() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
        let port = l.local_addr().expect("local address").port();
        if port < 65000 && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

impl Broker {
    /// Starts a broker (jars fetched from Maven Central on first use).
    pub fn start() -> Result<Broker> {
        let data = tempfile::Builder::new()
            .prefix("paymatch-kafka-")
            .tempdir()?;
        let broker = Broker {
            port: free_port(),
            data,
        };
        broker.script("up", false)?;
        Ok(broker)
    }

    fn script(&self, action: &str, keep: bool) -> Result<()> {
        let mut cmd = Command::new(repo_root().join("scripts/kafka.sh"));
        cmd.arg(action)
            .env("PAYMATCH_KAFKA_PORT", self.port.to_string())
            // The temporary directory itself: the script's watchdog removes
            // it when this process ends, as the shared broker (a static)
            // is never dropped.
            .env("PAYMATCH_KAFKA_DATA", self.data.path())
            .env("PAYMATCH_KAFKA_OWNER_PID", std::process::id().to_string())
            .env("PAYMATCH_KAFKA_JAVA_OPTS", "-Xms256m -Xmx768m -XX:+UseG1GC");
        if keep {
            cmd.env("PAYMATCH_KAFKA_KEEP", "1");
        }
        let status = cmd.status().context("running scripts/kafka.sh")?;
        if !status.success() {
            bail!("scripts/kafka.sh {action} failed");
        }
        Ok(())
    }

    /// Stops the broker, keeping its data.
    pub fn stop_keeping_data(&self) -> Result<()> {
        self.script("down", true)
    }

    /// Starts the broker again on its old data.
    pub fn restart(&self) -> Result<()> {
        self.script("up", true)
    }

    /// Its bootstrap address.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.script("down", false);
    }
}

/// Settings of one paymatch process against one broker: a topic prefix
/// and group prefix of the test's own, so tests can share a broker.
#[derive(Clone, Debug)]
pub struct Setup {
    /// Bootstrap address.
    pub brokers: String,
    /// Topic prefix (`t-e2e.`).
    pub prefix: String,
    /// Working directory (state directories live here).
    pub dir: PathBuf,
}

impl Setup {
    /// The environment that configures paymatch for this setup.
    pub fn env(&self, instance: &str) -> Vec<(String, String)> {
        vec![
            ("PAYMATCH_KAFKA__BROKERS".into(), self.brokers.clone()),
            ("PAYMATCH_KAFKA__TOPIC_PREFIX".into(), self.prefix.clone()),
            (
                "PAYMATCH_KAFKA__GROUP_PREFIX".into(),
                self.prefix.trim_end_matches('.').to_string(),
            ),
            ("PAYMATCH_KAFKA__SESSION_TIMEOUT_MS".into(), "6000".into()),
            (
                "PAYMATCH_KAFKA__TRANSACTION_TIMEOUT_MS".into(),
                "10000".into(),
            ),
            ("PAYMATCH_KAFKA__REQUEST_TIMEOUT_MS".into(), "20000".into()),
            ("PAYMATCH_SERVICE__INSTANCE_ID".into(), instance.into()),
            (
                "PAYMATCH_SERVICE__STATE_DIR".into(),
                self.dir
                    .join(format!("state-{instance}"))
                    .display()
                    .to_string(),
            ),
        ]
    }

    /// Runs a paymatch command to completion with this setup.
    pub fn paymatch(&self, args: &[&str]) -> Result<String> {
        let out = super::paymatch_with_env(args, self.env("cli"))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts `paymatch run` as instance `instance`; its log goes to
    /// `{dir}/{instance}.log`.
    pub fn start(&self, instance: &str, extra: &[(&str, &str)]) -> Result<Service> {
        let log_path = self.dir.join(format!("{instance}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let child = Command::new(paymatch_bin())
            .arg("run")
            .envs(self.env(instance))
            .envs(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .env("PAYMATCH_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting paymatch run")?;
        Ok(Service {
            child,
            log: log_path,
        })
    }
}

/// A running `paymatch run`; killed when dropped.
pub struct Service {
    child: Child,
    /// Its log file.
    pub log: PathBuf,
}

impl Service {
    /// `kill -9`: no chance to finish anything.
    pub fn kill9(&mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn terminate(&mut self) -> Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!(
                        "paymatch run exited with {status}; log: {}",
                        self.log_tail()
                    );
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("paymatch run did not stop within 60 s of SIGTERM")
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads one topic's committed records as they arrive: every partition,
/// from the start, `isolation.level=read_committed`.
pub struct TopicReader {
    consumer: BaseConsumer,
    /// Records read so far: (key, value).
    pub records: Vec<(Option<String>, String)>,
    /// Their times, in the same order.
    pub times: Vec<RecordTimes>,
}

/// The times a record carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordTimes {
    /// The record's timestamp, ms since the epoch.
    pub timestamp: Option<i64>,
    /// Its `paymatch-origin-ms` header, if any.
    pub origin_header: Option<i64>,
}

impl TopicReader {
    /// A reader of `topic`.
    pub fn new(brokers: &str, topic: &str) -> Result<TopicReader> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", "paymatch-test-reader")
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .set("log_level", "3")
            .create()?;
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(20))?;
        let partitions = metadata
            .topics()
            .first()
            .map(|t| t.partitions().len())
            .unwrap_or(0);
        if partitions == 0 {
            bail!("topic {topic} has no partitions");
        }
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions as i32 {
            tpl.add_partition_offset(topic, p, Offset::Beginning)?;
        }
        consumer.assign(&tpl)?;
        Ok(TopicReader {
            consumer,
            records: Vec::new(),
            times: Vec::new(),
        })
    }

    /// Reads what is there now (until nothing comes for `quiet`).
    pub fn poll(&mut self, quiet: Duration) -> Result<usize> {
        let before = self.records.len();
        loop {
            match self.consumer.poll(quiet) {
                Some(Ok(m)) => {
                    self.records.push((
                        m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                        String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                    ));
                    self.times.push(RecordTimes {
                        timestamp: m.timestamp().to_millis(),
                        origin_header: pipeline::kafka::driver::origin_header(&m),
                    });
                }
                Some(Err(KafkaError::PartitionEOF(_))) => {}
                Some(Err(e)) => eprintln!("test reader: {e}"),
                None => return Ok(self.records.len() - before),
            }
        }
    }

    /// Reads until at least `n` records are in (a fresh reader's first
    /// fetch can outlast one quiet poll on a loaded machine) or `timeout`
    /// passes, then once more, so anything beyond `n` shows too.
    pub fn read_at_least(&mut self, n: usize, timeout: Duration) -> Result<()> {
        let quiet = Duration::from_millis(500);
        let deadline = Instant::now() + timeout;
        while self.records.len() < n && Instant::now() < deadline {
            self.poll(quiet)?;
        }
        self.poll(quiet)?;
        Ok(())
    }

    /// The values parsed as JSON records.
    pub fn values<T: serde::de::DeserializeOwned>(&self) -> Result<Vec<T>> {
        self.records
            .iter()
            .map(|(_, v)| serde_json::from_str(v).with_context(|| v.clone()))
            .collect()
    }
}

/// Readers of the four outputs the invariants look at.
pub struct Outputs {
    /// `payments.decisions`.
    pub decisions: TopicReader,
    /// `payments.dlq`.
    pub dlq: TopicReader,
    /// `access.commands`.
    pub commands: TopicReader,
    /// `ledger`.
    pub ledger: TopicReader,
}

impl Outputs {
    /// Readers under `prefix`.
    pub fn new(brokers: &str, prefix: &str) -> Result<Outputs> {
        Ok(Outputs {
            decisions: TopicReader::new(brokers, &format!("{prefix}payments.decisions"))?,
            dlq: TopicReader::new(brokers, &format!("{prefix}payments.dlq"))?,
            commands: TopicReader::new(brokers, &format!("{prefix}access.commands"))?,
            ledger: TopicReader::new(brokers, &format!("{prefix}ledger"))?,
        })
    }

    /// Reads what is there; returns decisions + dead letters so far.
    pub fn poll(&mut self) -> Result<usize> {
        let quiet = Duration::from_millis(200);
        self.decisions.poll(quiet)?;
        self.dlq.poll(quiet)?;
        self.commands.poll(quiet)?;
        self.ledger.poll(quiet)?;
        Ok(self.decisions.records.len() + self.dlq.records.len())
    }

    /// Polls until `done` holds or `timeout` passes, then waits 2 s and
    /// reads again, so anything doubled arrives too.
    pub fn settle_when(
        &mut self,
        timeout: Duration,
        done: impl Fn(&Outputs) -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        self.poll()?;
        while !done(self) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(300));
            self.poll()?;
        }
        std::thread::sleep(Duration::from_secs(2));
        self.poll()?;
        Ok(())
    }

    /// Polls until `inputs` inputs are answered (decision or dead letter)
    /// and nothing more arrives, or `timeout` passes, or `service` exits.
    pub fn wait_for(
        &mut self,
        inputs: usize,
        timeout: Duration,
        service: &mut Service,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if !service.running() {
                bail!("paymatch run exited: {}", service.log_tail());
            }
            let n = self.poll()?;
            if n >= inputs {
                // Settle: anything doubled would show up now.
                std::thread::sleep(Duration::from_secs(2));
                self.poll()?;
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("only {n} of {inputs} inputs answered within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

/// Counts of each value in an iterator.
pub fn counts<T: std::hash::Hash + Eq>(items: impl IntoIterator<Item = T>) -> HashMap<T, usize> {
    let mut m = HashMap::new();
    for i in items {
        *m.entry(i).or_insert(0) += 1;
    }
    m
}

/// What a Kafka run must show against the embedded run of the same input:
/// every input answered exactly once, the same decisions, the same money
/// on the ledger, the same restores, no restore twice.
///
/// Stage 2 runs behind stage 1 (after a restart with a backlog, by
/// several long transactions), so every input having its decision does
/// not mean stage 2 is done: the check first waits, up to two minutes,
/// until the ledger and the commands have as many records as the embedded
/// run's, then lets anything doubled arrive. What was lost never arrives,
/// and the comparison below says what differs.
pub fn check_against_embedded(outputs: &mut Outputs, embedded: &std::path::Path) -> Result<()> {
    use model::{AccessCommand, DeadLetter, Decision, LedgerEntry, LedgerKind, Outcome};
    use rust_decimal::Decimal;

    let e_decisions: Vec<Decision> = super::read_jsonl(&embedded.join("decisions.jsonl"))?;
    let e_dlq: Vec<DeadLetter> = super::read_jsonl(&embedded.join("dlq.jsonl"))?;
    let e_commands: Vec<AccessCommand> =
        super::read_jsonl(&embedded.join("access_commands.jsonl"))?;
    let e_ledger: Vec<LedgerEntry> = super::read_jsonl(&embedded.join("ledger.jsonl"))?;
    outputs.settle_when(Duration::from_secs(120), |o| {
        o.commands.records.len() >= e_commands.len() && o.ledger.records.len() >= e_ledger.len()
    })?;
    let outputs: &Outputs = outputs;

    let decisions: Vec<Decision> = outputs.decisions.values()?;
    let dlq: Vec<DeadLetter> = outputs.dlq.values()?;
    let commands: Vec<AccessCommand> = outputs.commands.values()?;
    let ledger: Vec<LedgerEntry> = outputs.ledger.values()?;

    anyhow::ensure!(
        dlq.len() == e_dlq.len(),
        "dead letters: {} on Kafka, {} embedded",
        dlq.len(),
        e_dlq.len()
    );
    anyhow::ensure!(
        decisions.len() == e_decisions.len(),
        "decisions: {} on Kafka, {} embedded",
        decisions.len(),
        e_decisions.len()
    );
    // Exactly one first decision per payment: the rest are duplicates.
    let firsts = counts(
        decisions
            .iter()
            .filter(|d| d.outcome != Outcome::Duplicate)
            .map(|d| d.payment_id.as_str()),
    );
    if let Some((id, n)) = firsts.iter().find(|(_, n)| **n != 1) {
        bail!("payment {id} decided {n} times");
    }
    // The same decisions: outcome, customer and rule per payment.
    let key = |d: &Decision| {
        (
            d.payment_id.clone(),
            d.outcome,
            d.customer_id.clone(),
            d.rule.clone(),
        )
    };
    let kafka_set = counts(decisions.iter().map(key));
    let embedded_set = counts(e_decisions.iter().map(key));
    if kafka_set != embedded_set {
        let diff: Vec<_> = kafka_set
            .iter()
            .filter(|(k, n)| embedded_set.get(*k) != Some(n))
            .take(5)
            .collect();
        bail!("decisions differ from the embedded run, e.g. {diff:?}");
    }
    // Restores: never twice, and the same services restored.
    let ids = counts(commands.iter().map(|c| c.command_id.as_str()));
    if let Some((id, n)) = ids.iter().find(|(_, n)| **n != 1) {
        bail!("command {id} emitted {n} times");
    }
    let restored = |cs: &[AccessCommand]| {
        counts(
            cs.iter()
                .map(|c| (c.customer_id.clone(), c.service_id.clone(), c.action)),
        )
    };
    anyhow::ensure!(
        restored(&commands) == restored(&e_commands),
        "restore commands differ: {} on Kafka, {} embedded",
        commands.len(),
        e_commands.len()
    );
    // Money: the same entries per payment, the same totals per customer.
    let entries = counts(
        ledger
            .iter()
            .map(|e| (e.entry_id.clone(), e.amount))
            .filter(|(id, _)| id.starts_with("payment:") || id.starts_with("reversal:")),
    );
    let e_entries = counts(
        e_ledger
            .iter()
            .map(|e| (e.entry_id.clone(), e.amount))
            .filter(|(id, _)| id.starts_with("payment:") || id.starts_with("reversal:")),
    );
    anyhow::ensure!(
        entries == e_entries,
        "payment and reversal ledger entries differ"
    );
    let totals = |l: &[LedgerEntry]| {
        let mut m: HashMap<(String, bool), Decimal> = HashMap::new();
        for e in l {
            let applied = matches!(e.kind, LedgerKind::Allocation | LedgerKind::Credit);
            *m.entry((e.customer_id.clone(), applied)).or_default() += e.amount;
        }
        m
    };
    anyhow::ensure!(
        totals(&ledger) == totals(&e_ledger),
        "ledger totals per customer differ"
    );
    Ok(())
}
