//! This machine's memory latency, and how much of it overlapping hides
//! (not a test): random reads of a buffer far larger than the caches,
//! one after another (each read gives the next address), as eight
//! interleaved chains, and fully independent.
//!
//! Stage 1's index probes are such reads (docs/BENCHMARKS.md, session
//! 16): the gap between the first and the other two figures is what a
//! batch that overlaps its payments' probes could win.
//!
//! `cargo run --release -p benches --bin memory_latency -- --mib 256`

use std::time::Instant;

use clap::Parser;

/// Command-line options.
#[derive(Parser)]
struct Args {
    /// Buffer size, MiB.
    #[arg(long, default_value_t = 256)]
    mib: usize,
    /// Reads per measurement.
    #[arg(long, default_value_t = 4_000_000)]
    reads: usize,
}

const WORDS_PER_LINE: usize = 8;

fn main() {
    let args = Args::parse();
    let words = (args.mib << 20) / 8;
    // One slot per cache line, visited in a random cyclic order.
    let mut order: Vec<usize> = (0..words).step_by(WORDS_PER_LINE).collect();
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    for i in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    let mut next = vec![0u64; words];
    for (w, &slot) in order.iter().enumerate() {
        next[slot] = order[(w + 1) % order.len()] as u64;
    }
    let per_read = |started: Instant| started.elapsed().as_nanos() as f64 / args.reads as f64;

    let started = Instant::now();
    let mut at = order[0];
    for _ in 0..args.reads {
        at = next[at] as usize;
    }
    println!("dependent reads       {:6.1} ns a read", per_read(started));
    std::hint::black_box(at);

    let started = Instant::now();
    let step = order.len() / 8;
    let mut chains: [usize; 8] = std::array::from_fn(|c| order[c * step]);
    for _ in 0..args.reads / 8 {
        for at in chains.iter_mut() {
            *at = next[*at] as usize;
        }
    }
    println!("eight chains          {:6.1} ns a read", per_read(started));
    std::hint::black_box(chains);

    let started = Instant::now();
    let mut sum = 0u64;
    for k in 0..args.reads {
        sum = sum.wrapping_add(next[order[k % order.len()]]);
    }
    println!("independent reads     {:6.1} ns a read", per_read(started));
    std::hint::black_box(sum);
}
