//! The end-to-end throughput harness (not a test): N customers indexed in
//! RocksDB, M generated payment callbacks through stage 1 (normalize +
//! dedupe + match) and stage 2 (allocate + access policy), in process, on
//! one thread. Prints payments/s per stage and peak memory.
//!
//! `cargo run --release -p benches --bin throughput -- --customers 1000000 --payments 1000000`

use std::io::BufRead;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::Utc;
use clap::Parser;
use matchers::store::CountingStore;
use pipeline::generator::{self, GenerateOptions};
use pipeline::stages::{Routed, Stage1, Stage2};
use pipeline::Config;

/// The allocator the `paymatch` binary runs with, so the harness measures
/// what operators run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Throughput harness.
#[derive(Parser)]
struct Args {
    /// Customers to index.
    #[arg(long, default_value_t = 1_000_000)]
    customers: usize,
    /// Payments to process.
    #[arg(long, default_value_t = 1_000_000)]
    payments: usize,
    /// Reuse (or create) the generated data here instead of a temporary directory.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Stop after stage 1 (for profiling it alone).
    #[arg(long)]
    stage1_only: bool,
    /// Use the in-memory store instead of RocksDB (a ceiling: what the
    /// stages cost when storage costs nothing).
    #[arg(long)]
    memory: bool,
    /// Payments stage 1 takes at a time (`Stage1::process_batch`, which
    /// reads their first index lookups ahead together); 1 processes them
    /// one by one.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Alternate, every 8 192 payments, between `--batch` and one by one,
    /// and report each's CPU time: an A/B inside one run, which this
    /// machine's noise (±10–20 % between runs) does not blur.
    #[arg(long)]
    compare_batch: bool,
}

/// The calling thread's CPU clock (user + system), in seconds, to the
/// nanosecond: fine enough to time one batch.
fn thread_cpu_clock() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// Copies `lines` into `into`, reusing its strings: the hand-over of a
/// batch of input lines, untimed.
fn read_into(into: &mut Vec<String>, lines: &[String]) {
    into.resize_with(lines.len(), String::new);
    for (to, from) in into.iter_mut().zip(lines) {
        to.clear();
        to.push_str(from);
    }
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn read_lines(path: &std::path::Path) -> Result<Vec<String>> {
    let file = std::fs::File::open(path).with_context(|| path.display().to_string())?;
    Ok(std::io::BufReader::new(file)
        .lines()
        .collect::<Result<Vec<_>, _>>()?)
}

fn main() -> Result<()> {
    let process_start = Instant::now();
    let args = Args::parse();
    let temp = tempfile::tempdir()?;
    let data = args
        .data
        .clone()
        .unwrap_or_else(|| temp.path().join("data"));
    if !data.join("payments.jsonl").exists() {
        let started = Instant::now();
        let options = GenerateOptions {
            customers: args.customers,
            payments: args.payments,
            seed: args.seed,
        };
        generator::generate(&options, &data)?;
        eprintln!("generated in {:.1}s", started.elapsed().as_secs_f64());
    }
    // PAYMATCH_SECTION__KEY variables apply, as for the binary.
    let config = Config::load(None, std::env::vars())?;
    let opened = pipeline::store::open(Some(temp.path().join("state")), &config)?;
    let store: std::sync::Arc<dyn matchers::store::KvStore> = if args.memory {
        std::sync::Arc::new(matchers::store::MemoryStore::new())
    } else {
        opened.store.clone()
    };
    let store = std::sync::Arc::new(CountingStore::new(store));
    let counter = store.clone();
    let index = pipeline::store::index(store, &config);

    let started = Instant::now();
    let mut writer = index.writer();
    let mut customers = 0usize;
    for line in read_lines(&data.join("customers.jsonl"))? {
        writer.upsert_customer(serde_json::from_str(&line)?)?;
        customers += 1;
        if writer.pending() > 100_000 {
            std::mem::replace(&mut writer, index.writer()).commit()?;
        }
    }
    for line in read_lines(&data.join("invoices.jsonl"))? {
        writer.upsert_invoice(serde_json::from_str(&line)?)?;
        if writer.pending() > 100_000 {
            std::mem::replace(&mut writer, index.writer()).commit()?;
        }
    }
    writer.commit()?;
    index.compact()?;
    let held = index.warm()?;
    eprintln!("index held in memory: {held}");
    let index_seconds = started.elapsed().as_secs_f64();

    let payments = read_lines(&data.join("payments.jsonl"))?;
    let mut stage1 = Stage1::new(
        index.clone(),
        config.providers.clone(),
        config.matching.clone(),
    )?
    .with_dedupe_memory_mb(config.store.dedupe_memory_mb);
    let now = Utc::now();
    let mut decisions = Vec::with_capacity(if args.stage1_only { 0 } else { payments.len() });
    let gets_before = counter.gets();
    eprintln!(
        "stage 1 starts {:.1} s after process start",
        process_start.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let cpu_started = thread_cpu_clock();
    // Stage 1's calls are timed alone, on the thread's CPU clock, with
    // their input in cache: each batch's lines are first copied into
    // `reading`, as a reader hands them over (`paymatch match` reads each
    // line just before stage 1 takes it; Kafka mode hands over a message
    // just fetched). The whole loop's CPU, copies included, is reported
    // too: it also pays for reading a 400 MB vector of lines from memory,
    // which no real input path does (BENCHMARKS, session 21).
    let mut reading: Vec<String> = Vec::new();
    let mut timed = 0.0f64;
    let mut cpu_by_batch = [0.0f64; 2];
    let mut payments_by_batch = [0usize; 2];
    for (round, block) in payments.chunks(8192).enumerate() {
        // Batched unless comparing and this is an odd block.
        let one_by_one = args.batch <= 1 || (args.compare_batch && round % 2 == 1);
        let mut block_cpu = 0.0f64;
        // Kept only for stage 2: holding a million decisions faults in
        // hundreds of MiB of fresh pages, the harness's cost, not stage 1's
        // (the binary writes them out and drops them).
        let mut keep = |routed: Routed| {
            if let (Routed::Decided { decision, .. }, false) = (routed, args.stage1_only) {
                decisions.push(decision);
            }
        };
        for chunk in block.chunks(if one_by_one { 1 } else { args.batch.max(1) }) {
            read_into(&mut reading, chunk);
            let call = thread_cpu_clock();
            if one_by_one {
                keep(stage1.process(&reading[0], now)?);
            } else {
                let inputs: Vec<(&str, _)> =
                    reading.iter().map(|line| (line.as_str(), None)).collect();
                stage1
                    .process_batch(&inputs, now)?
                    .into_iter()
                    .for_each(&mut keep);
            }
            block_cpu += thread_cpu_clock() - call;
        }
        // A flush per block (one by one used to flush every 4 096).
        let call = thread_cpu_clock();
        stage1.flush()?;
        block_cpu += thread_cpu_clock() - call;
        timed += block_cpu;
        cpu_by_batch[usize::from(one_by_one)] += block_cpu;
        payments_by_batch[usize::from(one_by_one)] += block.len();
    }
    if args.compare_batch {
        for (mode, name) in [(0, "batched"), (1, "one by one")] {
            println!(
                "stage 1 {name:<11} {:.2} s = {:.0} payments per CPU-second (input in cache)",
                cpu_by_batch[mode],
                payments_by_batch[mode] as f64 / cpu_by_batch[mode]
            );
        }
    }
    let call = thread_cpu_clock();
    stage1.flush()?;
    timed += thread_cpu_clock() - call;
    let stage1_seconds = started.elapsed().as_secs_f64();
    let stage1_cpu = thread_cpu_clock() - cpu_started;
    println!(
        "stage 1 CPU, input in cache  {timed:.2} s = {:.0} payments per CPU-second",
        payments.len() as f64 / timed
    );
    println!(
        "stage 1 CPU                  {stage1_cpu:.2} s = {:.0} payments per CPU-second (whole loop: copying cold input lines included)",
        payments.len() as f64 / stage1_cpu
    );
    let gets = counter.gets() - gets_before;
    println!(
        "store reads per payment      {:.2}",
        gets as f64 / payments.len() as f64
    );
    if args.stage1_only {
        println!(
            "stage 1 (normalize+dedupe+match) {stage1_seconds:.2} s = {:.0} payments/s on one core",
            payments.len() as f64 / stage1_seconds
        );
        // Skip freeing gigabytes of caches one by one: it is not measured,
        // and it would dominate a profile of this mode. Exiting skips
        // destructors, so the temporary state directory goes first.
        temp.close()?;
        std::process::exit(0);
    }

    let mut stage2 = Stage2::new(index, config.access.clone());
    let started = Instant::now();
    let mut restores = 0usize;
    for (i, d) in decisions.iter().enumerate() {
        restores += stage2.apply(&d.into(), now)?.commands.len();
        if i % 4096 == 4095 {
            stage2.flush()?;
        }
    }
    stage2.flush()?;
    let stage2_seconds = started.elapsed().as_secs_f64();

    let n = payments.len() as f64;
    println!("customers indexed            {customers}");
    println!(
        "index build                  {index_seconds:.1} s ({:.0} customers/s)",
        customers as f64 / index_seconds
    );
    println!("payments                     {}", payments.len());
    println!(
        "stage 1 (normalize+dedupe+match) {stage1_seconds:.2} s = {:.0} payments/s on one core",
        n / stage1_seconds
    );
    println!(
        "stage 2 (allocate+policy)    {stage2_seconds:.2} s = {:.0} decisions/s",
        decisions.len() as f64 / stage2_seconds
    );
    println!(
        "both stages                  {:.0} payments/s",
        n / (stage1_seconds + stage2_seconds)
    );
    println!("restore commands             {restores}");
    println!("peak memory (VmHWM)          {:.0} MiB", peak_rss_mib());
    Ok(())
}
