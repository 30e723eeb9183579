//! This machine's memory latency, and how much of it overlapping hides
//! (not a test): random reads of a buffer far larger than the caches,
//! one after another (each read gives the next address), as eight
//! interleaved chains, and fully independent.
//!
//! Stage 1's index probes are such reads (docs/BENCHMARKS.md, session
//! 16): the gap between the first and the other two figures is what a
//! batch that overlaps its payments' probes could win. Then the same
//! reads behind a lock or an atomic (what a shared table costs), and gets
//! from hash tables of the memory tier's shape: std's (two dependent
//! misses a get) and one with a cache line per slot, probed one by one,
//! or touched for a batch of keys whose homes are computed first. How
//! many misses overlap depends on how much work sits between the loads:
//! the processor only looks a few hundred instructions ahead.
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

    // The same reads, each behind an uncontended lock, as the memory
    // tier's shards take one per probe: a locked instruction waits for
    // every earlier load, so the misses can no longer overlap.
    let lock = std::sync::Mutex::new(0u64);
    let started = Instant::now();
    for k in 0..args.reads {
        let mut held = lock.lock().unwrap_or_else(|e| e.into_inner());
        *held = held.wrapping_add(next[order[k % order.len()]]);
    }
    println!("reads behind a lock   {:6.1} ns a read", per_read(started));
    std::hint::black_box(lock);

    let counter = std::sync::atomic::AtomicU64::new(0);
    let started = Instant::now();
    let mut sum = 0u64;
    for k in 0..args.reads {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        sum = sum.wrapping_add(next[order[k % order.len()]]);
    }
    println!("reads after an atomic {:6.1} ns a read", per_read(started));
    std::hint::black_box((sum, counter));

    let counter = std::sync::atomic::AtomicU64::new(0);
    let started = Instant::now();
    let mut sum = 0u64;
    for k in 0..args.reads {
        counter.load(std::sync::atomic::Ordering::Acquire);
        sum = sum.wrapping_add(next[order[k % order.len()]]);
    }
    println!("reads after a load    {:6.1} ns a read", per_read(started));
    std::hint::black_box((sum, counter));
    drop(next);
    hash_map_gets(&args);
}

/// Gets from a hash map of the memory tier's shape (24-byte keys and
/// values, FxHash, a few million entries): each key taken from the last
/// value found, then the same gets with keys known in advance.
fn hash_map_gets(args: &Args) {
    use std::collections::HashMap;
    let entries = (args.mib << 20) / 64;
    let key = |i: usize| {
        let mut k = [0u8; 24];
        k[..8].copy_from_slice(&(i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
        k
    };
    let mut map: HashMap<[u8; 24], [u8; 24], matchers::fxhash::FxBuild> =
        HashMap::with_capacity_and_hasher(entries, Default::default());
    for i in 0..entries {
        // Each value names another entry: a random cycle.
        map.insert(key(i), key((i * 7919 + 1) % entries));
    }
    let per_get = |started: Instant| started.elapsed().as_nanos() as f64 / args.reads as f64;
    let started = Instant::now();
    let mut at = key(0);
    for _ in 0..args.reads {
        at = map.get(&at).copied().unwrap_or(at);
    }
    println!("map gets, dependent   {:6.1} ns a get", per_get(started));
    std::hint::black_box(at);
    let keys: Vec<[u8; 24]> = (0..args.reads)
        .map(|i| key((i * 104_729) % entries))
        .collect();
    let started = Instant::now();
    let mut sum = 0u8;
    for k in &keys {
        sum ^= map.get(k).map_or(0, |v| v[0]);
    }
    println!("map gets, independent {:6.1} ns a get", per_get(started));
    std::hint::black_box(sum);
    drop(map);

    // Open addressing, the key and value in one cache-line slot.
    #[derive(Clone, Copy)]
    #[repr(align(64))]
    struct Slot {
        used: bool,
        key: [u8; 24],
        value: [u8; 24],
    }
    let buckets = (entries * 8 / 7).next_power_of_two();
    let mask = buckets - 1;
    let hash = |k: &[u8; 24]| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = matchers::fxhash::FxBuild::default().build_hasher();
        h.write(k);
        h.finish() as usize
    };
    let mut slots = vec![
        Slot {
            used: false,
            key: [0; 24],
            value: [0; 24]
        };
        buckets
    ];
    for i in 0..entries {
        let k = key(i);
        let mut at = hash(&k) & mask;
        while slots[at].used {
            at = (at + 1) & mask;
        }
        slots[at] = Slot {
            used: true,
            key: k,
            value: key((i * 7919 + 1) % entries),
        };
    }
    let find = |k: &[u8; 24]| {
        let mut at = hash(k) & mask;
        loop {
            let slot = &slots[at];
            if !slot.used {
                return None;
            }
            if slot.key == *k {
                return Some(slot.value);
            }
            at = (at + 1) & mask;
        }
    };
    let started = Instant::now();
    let mut at = key(0);
    for _ in 0..args.reads {
        at = find(&at).unwrap_or(at);
    }
    println!("line slots, dependent {:6.1} ns a get", per_get(started));
    std::hint::black_box(at);
    let started = Instant::now();
    let mut sum = 0u8;
    for k in &keys {
        sum ^= find(k).map_or(0, |v| v[0]);
    }
    println!("line slots, independ. {:6.1} ns a get", per_get(started));
    std::hint::black_box(sum);
    let started = Instant::now();
    let mut sum = 0u8;
    for batch in keys.chunks(32) {
        let mut touched = 0u8;
        for k in batch {
            touched ^= slots[hash(k) & mask].key[0];
        }
        std::hint::black_box(touched);
        for k in batch {
            sum ^= find(k).map_or(0, |v| v[0]);
        }
    }
    println!("line slots, touched   {:6.1} ns a get", per_get(started));
    std::hint::black_box(sum);
    let homes: Vec<usize> = keys.iter().map(|k| hash(k) & mask).collect();
    let started = Instant::now();
    let mut touched = 0u8;
    for &h in &homes {
        touched ^= slots[h].key[0];
    }
    println!("line slots, touch only{:6.1} ns a get", per_get(started));
    std::hint::black_box(touched);
    let started = Instant::now();
    let mut touched = 0u8;
    for k in &keys {
        touched ^= slots[hash(k) & mask].key[0];
    }
    println!("touch with hashing    {:6.1} ns a get", per_get(started));
    std::hint::black_box(touched);
}
