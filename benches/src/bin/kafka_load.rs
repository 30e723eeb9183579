//! The Kafka mode's load generator and clock (not a test; run by
//! `benches/kafka/run.sh`).
//!
//! * `pace`: publishes the payment envelopes of a file to `payments.raw` at
//!   a fixed rate (keyed by payment id, like `paymatch publish`), while
//!   * reading `access.commands`, `ledger` and `payments.decisions`
//!     (read_committed) and taking each record's latency: its commit
//!     becoming visible minus the raw payment's append time (the
//!     `paymatch-origin-ms` header paymatch carries through both stages).
//! * `drain`: waits until `decisions + dlq` reach N and reports when the
//!   first and last ones became visible: throughput of a backlog.
//! * `watch`: the same throughput without reading a record. It polls the
//!   offsets the stages' consumer groups committed (each commit is the
//!   transaction that also made its outputs visible): stage 1's first
//!   commit past the warm-up starts the clock, its commit of the last raw
//!   payment is "decided", and stage 2's commit of the last decision is
//!   "applied". A reader of every decision would take a core's share from
//!   the two stages it measures (`drain` used 0.6 s of CPU for 600 000
//!   payments; BENCHMARKS, Kafka "Session 27").

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

#[derive(Parser)]
struct Args {
    /// Bootstrap servers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Topic prefix.
    #[arg(long, default_value = "paymatch.")]
    prefix: String,
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// Publish at a fixed rate and measure latency.
    Pace {
        /// Payment envelopes (JSONL).
        #[arg(long)]
        payments: std::path::PathBuf,
        /// Payments per second.
        #[arg(long)]
        rate: u64,
        /// The load generator's `linger.ms`: how long its producer gathers
        /// payments into one request, as a payment gateway's would.
        #[arg(long, default_value_t = 1)]
        linger_ms: u32,
    },
    /// Wait for N answers; print the throughput.
    Drain {
        /// Inputs to wait for.
        #[arg(long)]
        inputs: usize,
        /// Answers already on the topics (an earlier, unmeasured round):
        /// read past them before the clock starts.
        #[arg(long, default_value_t = 0)]
        skip: usize,
    },
    /// Wait until both stages have committed every input; print the
    /// throughput, reading no record.
    Watch {
        /// Raw payments stage 1 had committed already (an earlier,
        /// unmeasured round): the clock starts at its next commit.
        #[arg(long, default_value_t = 0)]
        skip: i64,
        /// Consumer groups' prefix (`kafka.group_prefix`).
        #[arg(long, default_value = "paymatch")]
        group_prefix: String,
    },
}

/// A read_committed consumer that joins no group (partitions are assigned).
fn committed_reader(brokers: &str, group: &str) -> Result<BaseConsumer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("fetch.wait.max.ms", "10")
        .set("log_level", "3")
        .create()?)
}

fn reader(brokers: &str, topics: &[std::sync::Arc<str>]) -> Result<BaseConsumer> {
    let consumer = committed_reader(brokers, "paymatch-bench-reader")?;
    let mut tpl = TopicPartitionList::new();
    for topic in topics {
        add_partitions(&consumer, &mut tpl, topic, Some(Offset::End))?;
    }
    consumer.assign(&tpl)?;
    Ok(consumer)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Latency samples: (origin ms since the epoch, latency ms).
type Samples = Vec<(i64, f64)>;

fn report(name: &str, samples: &[(i64, f64)]) {
    let mut ms: Vec<f64> = samples.iter().map(|(_, l)| *l).collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{name:>10}: {:>8} records  p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms",
        ms.len(),
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms.last().copied().unwrap_or(f64::NAN)
    );
}

fn pace(args: &Args, payments: &std::path::Path, rate: u64, linger_ms: u32) -> Result<()> {
    let topics = pipeline::kafka::Topics::new(&args.prefix);
    let watched = vec![
        topics.commands.clone(),
        topics.ledger.clone(),
        topics.decisions.clone(),
    ];
    let consumer = reader(&args.brokers, &watched)?;
    let done = Arc::new(AtomicBool::new(false));
    let stop = done.clone();
    let watch = std::thread::spawn(move || {
        let mut lat: [Samples; 3] = Default::default();
        let mut quiet_since = None;
        loop {
            match consumer.poll(Duration::from_millis(50)) {
                Some(Ok(m)) => {
                    quiet_since = None;
                    let now = chrono::Utc::now().timestamp_millis();
                    if let Some(o) = pipeline::kafka::driver::origin_header(&m) {
                        let i = watched.iter().position(|t| &**t == m.topic()).unwrap_or(2);
                        lat[i].push((o, (now - o) as f64));
                    }
                }
                Some(Err(e)) => eprintln!("reader: {e}"),
                None => {
                    if stop.load(Ordering::SeqCst) {
                        let since = *quiet_since.get_or_insert_with(Instant::now);
                        if since.elapsed() > Duration::from_secs(3) {
                            return lat;
                        }
                    }
                }
            }
        }
    });
    // Give the reader its assignment before the first payment.
    std::thread::sleep(Duration::from_secs(2));
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("enable.idempotence", "true")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", linger_ms.to_string())
        .create()?;
    let text = std::fs::read_to_string(payments).context("reading payments")?;
    let providers = pipeline::providers::Providers::default();
    let config = pipeline::config::ProvidersConfig::default();
    // Keys first, so the paced loop only sends.
    let lines: Vec<(Option<String>, &str)> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let key = pipeline::kafka::publish::payment_key(line, &providers, &config).ok();
            (key, line)
        })
        .collect();
    let started = Instant::now();
    let mut sent = 0u64;
    for (key, line) in lines {
        let due = started + Duration::from_secs_f64(sent as f64 / rate as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let mut record: BaseRecord<'_, str, str> = BaseRecord::to(&topics.raw).payload(line);
        if let Some(k) = &key {
            record = record.key(k);
        }
        while let Err((_, back)) = producer.send(record) {
            record = back;
            std::thread::sleep(Duration::from_millis(1));
        }
        sent += 1;
    }
    producer.flush(Duration::from_secs(30))?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "published {sent} payments in {secs:.1} s ({:.0}/s, target {rate}/s)",
        sent as f64 / secs
    );
    done.store(true, Ordering::SeqCst);
    let [commands, ledger, decisions] = watch.join().map_err(|_| anyhow::anyhow!("reader"))?;
    println!("latency from the raw payment's append to the output's commit:");
    report("restores", &commands);
    report("ledger", &ledger);
    report("decisions", &decisions);
    // The same after the first ten seconds (start-up excluded), and the
    // restore-and-ledger p99 per five seconds of the run.
    let start = decisions.iter().map(|(o, _)| *o).min().unwrap_or(0);
    let steady = |s: &Samples| -> Samples {
        s.iter()
            .copied()
            .filter(|(o, _)| *o >= start + 10_000)
            .collect()
    };
    println!("from the 10th second on:");
    report("restores", &steady(&commands));
    report("ledger", &steady(&ledger));
    report("decisions", &steady(&decisions));
    let mut stage2: Samples = commands.iter().chain(&ledger).copied().collect();
    stage2.sort_by_key(|(o, _)| *o);
    let line: Vec<String> = stage2
        .chunk_by(|a, b| (a.0 - start) / 5000 == (b.0 - start) / 5000)
        .map(|chunk| {
            let mut ms: Vec<f64> = chunk.iter().map(|(_, l)| *l).collect();
            ms.sort_by(|a, b| a.total_cmp(b));
            format!("{:.0}", percentile(&ms, 0.99))
        })
        .collect();
    println!("restore+ledger p99 per 5 s (ms): {}", line.join(" "));
    Ok(())
}

fn drain(args: &Args, inputs: usize, skip: usize) -> Result<()> {
    let topics = pipeline::kafka::Topics::new(&args.prefix);
    let consumer = committed_reader(&args.brokers, "paymatch-bench-drain")?;
    let mut tpl = TopicPartitionList::new();
    for topic in [&topics.decisions, &topics.dlq] {
        add_partitions(&consumer, &mut tpl, topic, Some(Offset::Beginning))?;
    }
    consumer.assign(&tpl)?;
    let mut seen = 0usize;
    let mut first = None;
    let deadline = Instant::now() + Duration::from_secs(3600);
    while seen < skip + inputs {
        if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
            seen += 1;
            if seen > skip {
                first.get_or_insert_with(Instant::now);
            }
        }
        if Instant::now() > deadline {
            bail!("only {seen} of {inputs} answered");
        }
    }
    let secs = first.map(|f| f.elapsed().as_secs_f64()).unwrap_or(0.0);
    println!(
        "{inputs} payments decided in {secs:.2} s from the first visible decision: {:.0} payments/s",
        inputs as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// Adds every partition of `topic` to `tpl`, at `offset` if given.
fn add_partitions(
    consumer: &BaseConsumer,
    tpl: &mut TopicPartitionList,
    topic: &str,
    offset: Option<Offset>,
) -> Result<()> {
    let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(20))?;
    let n = md
        .topics()
        .first()
        .map(|t| t.partitions().len())
        .unwrap_or(0);
    if n == 0 {
        bail!("no topic {topic}");
    }
    for p in 0..n as i32 {
        match offset {
            Some(offset) => {
                tpl.add_partition_offset(topic, p, offset)?;
            }
            None => {
                tpl.add_partition(topic, p);
            }
        }
    }
    Ok(())
}

/// Every partition of `topic`, at no particular offset.
fn partitions(consumer: &BaseConsumer, topic: &str) -> Result<TopicPartitionList> {
    let mut tpl = TopicPartitionList::new();
    add_partitions(consumer, &mut tpl, topic, None)?;
    Ok(tpl)
}

/// The offsets `group` has committed on `tpl`'s partitions (0 where none).
fn committed(consumer: &BaseConsumer, tpl: &TopicPartitionList) -> Result<Vec<i64>> {
    let got = consumer.committed_offsets(tpl.clone(), Duration::from_secs(10))?;
    Ok(got
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        })
        .collect())
}

/// Each partition's high watermark (its end, transaction markers included).
fn ends(consumer: &BaseConsumer, tpl: &TopicPartitionList) -> Result<Vec<i64>> {
    tpl.elements()
        .iter()
        .map(|e| {
            let (_, high) =
                consumer.fetch_watermarks(e.topic(), e.partition(), Duration::from_secs(10))?;
            Ok(high)
        })
        .collect()
}

fn watch(args: &Args, skip: i64, group_prefix: &str) -> Result<()> {
    const STEP: Duration = Duration::from_millis(10);
    let topics = pipeline::kafka::Topics::new(&args.prefix);
    let stage1 = committed_reader(&args.brokers, &format!("{group_prefix}-stage1"))?;
    let stage2 = committed_reader(&args.brokers, &format!("{group_prefix}-stage2"))?;
    let raw = partitions(&stage1, &topics.raw)?;
    let decisions = partitions(&stage2, &topics.decisions)?;
    // The raw payments are all published before the run starts.
    let raw_ends = ends(&stage1, &raw)?;
    let inputs: i64 = raw_ends.iter().sum::<i64>() - skip;
    let deadline = Instant::now() + Duration::from_secs(3600);
    let wait_until = |what: &str, done: &dyn Fn() -> Result<bool>| -> Result<Instant> {
        while !done()? {
            if Instant::now() > deadline {
                bail!("{what}: not within the hour");
            }
            std::thread::sleep(STEP);
        }
        Ok(Instant::now())
    };
    let total = |offsets: Vec<i64>| offsets.iter().sum::<i64>();
    let first = wait_until("stage 1's first commit", &|| {
        Ok(total(committed(&stage1, &raw)?) > skip)
    })?;
    let decided = wait_until("stage 1's last commit", &|| {
        let at = committed(&stage1, &raw)?;
        Ok(at.iter().zip(&raw_ends).all(|(c, end)| c >= end))
    })?;
    // Stage 1 is done, so the decisions' ends are final. A committed
    // offset is the next record's; the end of a partition a transaction
    // wrote last is its commit marker's offset + 1.
    let decision_ends = ends(&stage2, &decisions)?;
    let applied = wait_until("stage 2's last commit", &|| {
        let at = committed(&stage2, &decisions)?;
        Ok(at
            .iter()
            .zip(&decision_ends)
            .all(|(c, end)| *end == 0 || c + 1 >= *end))
    })?;
    let rate = |until: Instant| {
        let secs = (until - first).as_secs_f64();
        (secs, inputs as f64 / secs.max(1e-9))
    };
    let (secs, per_s) = rate(decided);
    println!(
        "{inputs} payments decided in {secs:.2} s from the first visible decision: {per_s:.0} payments/s"
    );
    let (secs, per_s) = rate(applied);
    println!("{inputs} payments applied by stage 2 in {secs:.2} s from the same start: {per_s:.0} payments/s");
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    match &args.what {
        What::Pace {
            payments,
            rate,
            linger_ms,
        } => pace(&args, payments, *rate, *linger_ms),
        What::Drain { inputs, skip } => drain(&args, *inputs, *skip),
        What::Watch { skip, group_prefix } => watch(&args, *skip, group_prefix),
    }
}
