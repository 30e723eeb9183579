//! Stage 1's memory of every payment it decided: a redelivery is a
//! `duplicate`, never a second ledger entry or restore.
//!
//! Every payment leaves an entry, so the entry's cost is paid at stream
//! rate. Written one RocksDB key per payment id, each was a memtable insert
//! (a skip-list search over random ids: a fifth of stage 1's time) and, in
//! Kafka mode, a changelog record. Entries are written in blocks of up to
//! [`block::BLOCK_ENTRIES`] instead ([`block`]): one value, one changelog
//! record each. What finds an entry again is in memory: each payment id's
//! 64-bit fingerprint maps to the block holding it ([`places`]: 8 bytes a
//! payment), so
//! a new payment — nearly every payment — is answered "never seen" by one
//! hash probe, and a redelivery reads one block.
//!
//! A block is keyed by where its first entry came from: the input
//! partition and offset in Kafka mode (`#3/00000000000000001200`: a
//! transaction aborted and replayed writes the same key), a sequence in
//! embedded mode (`#e/…`). Payment ids start with a provider name, so no
//! block key is a payment id: stores and changelogs written one entry per
//! payment id by earlier versions are still read.

mod block;
mod places;
mod seen;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use matchers::store::{Batch, KvStore, Table};

pub use seen::Seen;

use crate::error::Result;
use crate::state::{Change, StateValue};
use block::{fingerprint, OpenBlock, Sealed};
use places::Places;

/// Where an input came from, in Kafka mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Source {
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
}

/// An entry written one per key by earlier versions: read by its id.
const ONE_PER_KEY: u32 = u32::MAX;

/// Bytes of stored blocks kept in memory by default (see
/// [`Dedupe::hold_recent`]): about 4 000 blocks, a million payments.
pub const DEFAULT_RECENT_BYTES: usize = 64 << 20;

enum State {
    /// Being filled, from this partition (`None`: embedded mode).
    Open(Option<i32>, OpenBlock),
    /// Full or its transaction ended; not in the store yet.
    Sealed(Option<i32>, Arc<[u8]>),
    /// In the store (and in memory while cached).
    Stored(Option<Arc<[u8]>>),
    /// Its transaction aborted: it never happened.
    Discarded,
}

struct Block {
    key: String,
    state: State,
}

/// The dedupe entries of one stage 1 instance.
pub struct Dedupe {
    store: Arc<dyn KvStore>,
    /// Fingerprint → the block holding that payment (ordinal in `blocks`).
    index: Places,
    /// Ids whose fingerprint's top bits another id held first, with their
    /// block (rare: see `places`), and ids in blocks beyond what `index`
    /// packs.
    collided: HashMap<String, u32>,
    blocks: Vec<Block>,
    by_key: HashMap<String, u32>,
    /// Open blocks, at most one per source partition.
    open: Vec<u32>,
    /// Sealed blocks waiting for the store (or the changelog).
    sealed: Vec<u32>,
    /// Stored blocks still in memory, oldest first, and their bytes.
    cached: VecDeque<u32>,
    cached_bytes: usize,
    /// The most `cached_bytes` may reach.
    recent_bytes: usize,
    /// The next embedded block's sequence number.
    next_embedded: u64,
    /// Reused for each entry's encoding.
    scratch: Vec<u8>,
}

impl Dedupe {
    /// Loads what the store holds.
    ///
    /// # Errors
    /// A storage failure or a damaged block.
    pub fn load(store: Arc<dyn KvStore>) -> Result<Self> {
        let mut dedupe = Dedupe {
            store,
            index: Places::default(),
            collided: HashMap::new(),
            blocks: Vec::new(),
            by_key: HashMap::new(),
            open: Vec::new(),
            sealed: Vec::new(),
            cached: VecDeque::new(),
            cached_bytes: 0,
            recent_bytes: DEFAULT_RECENT_BYTES,
            next_embedded: 0,
            scratch: Vec::new(),
        };
        let mut failure = None;
        let store = dedupe.store.clone();
        store.scan_prefix(Table::Dedupe, b"", &mut |key, value| {
            let key = String::from_utf8_lossy(key);
            match dedupe.adopt(&key, value) {
                Ok(_) => true,
                Err(e) => {
                    failure = Some(e);
                    false
                }
            }
        })?;
        match failure {
            Some(e) => Err(e),
            None => Ok(dedupe),
        }
    }

    /// Indexes a stored record (a block, or an entry of the earlier
    /// layout); false if it was known already.
    fn adopt(&mut self, key: &str, value: &[u8]) -> Result<bool> {
        if !Sealed::is_block(value) {
            self.note(fingerprint(key), key, ONE_PER_KEY);
            return Ok(true);
        }
        // A block discarded here may still have committed (an ambiguous
        // commit error ends in an abort locally): the changelog wins.
        if let Some(&known) = self.by_key.get(key) {
            if !matches!(self.blocks[known as usize].state, State::Discarded) {
                return Ok(false);
            }
        }
        let block = Sealed::parse(value).map_err(|detail| corrupt(key, detail))?;
        let ordinal = self.blocks.len() as u32;
        for (f, id) in block.ids().map_err(|detail| corrupt(key, detail))? {
            self.note(f, id, ordinal);
        }
        if let Some(seq) = key.strip_prefix("#e/").and_then(|s| s.parse::<u64>().ok()) {
            self.next_embedded = self.next_embedded.max(seq + 1);
        }
        self.add_block(key.to_string(), State::Stored(None));
        Ok(true)
    }

    /// Keeps up to `bytes` of the most recently written blocks in memory
    /// (default [`DEFAULT_RECENT_BYTES`]). A redelivery whose payment is
    /// in one of them is answered from memory; an older one reads its
    /// block (about 15 KB) from the store. Providers redeliver mostly
    /// within seconds or minutes (M-Pesa on a timeout, Stripe's first
    /// retries), so the recent blocks answer most of them.
    pub fn hold_recent(&mut self, bytes: usize) {
        self.recent_bytes = bytes;
        self.evict();
    }

    fn add_block(&mut self, key: String, state: State) -> u32 {
        let ordinal = self.blocks.len() as u32;
        self.by_key.insert(key.clone(), ordinal);
        self.blocks.push(Block { key, state });
        ordinal
    }

    /// Points `id` at block `ordinal`.
    fn note(&mut self, f: u64, id: &str, ordinal: u32) {
        if let Some(slot) = self.collided.get_mut(id) {
            *slot = ordinal;
            return;
        }
        if !Places::fits(ordinal) {
            self.collided.insert(id.to_string(), ordinal);
            return;
        }
        match self.index.get(f) {
            None => self.index.set(f, ordinal),
            Some(held) => {
                let live = held == ONE_PER_KEY
                    || !matches!(
                        self.blocks.get(held as usize).map(|b| &b.state),
                        Some(State::Discarded) | None
                    );
                if live && held != ordinal {
                    self.collided.insert(id.to_string(), ordinal);
                } else {
                    self.index.set(f, ordinal);
                }
            }
        }
    }

    /// [`Dedupe::get`] of each of `ids` (`None` for the ones not given).
    /// Where their entries would be is read ahead first, one load each
    /// with nothing between them, so the gets find those lines in cache:
    /// the places are far larger than the caches, and a batch's probes,
    /// one after another, waited for a miss each (3 % of stage 1's
    /// profile at a million customers; BENCHMARKS, session 25).
    ///
    /// # Errors
    /// As [`Dedupe::get`], the first one met.
    pub fn get_many(&self, ids: &[Option<&str>]) -> Result<Vec<Option<Seen>>> {
        let fingerprints: Vec<Option<u64>> = ids.iter().map(|id| id.map(fingerprint)).collect();
        let touched = fingerprints
            .iter()
            .flatten()
            .fold(0u64, |acc, &f| acc ^ self.index.touch(f));
        std::hint::black_box(touched);
        ids.iter()
            .zip(fingerprints)
            .map(|(id, f)| match (id, f) {
                (Some(id), Some(f)) => self.get_as(id, f),
                _ => Ok(None),
            })
            .collect()
    }

    /// The first decision's summary of `id`, if it was decided.
    ///
    /// # Errors
    /// A storage failure or a damaged entry.
    pub fn get(&self, id: &str) -> Result<Option<Seen>> {
        self.get_as(id, fingerprint(id))
    }

    fn get_as(&self, id: &str, f: u64) -> Result<Option<Seen>> {
        let ordinal = match self.collided.get(id) {
            Some(&o) => o,
            None => match self.index.get(f) {
                Some(o) => o,
                None => return Ok(None),
            },
        };
        self.find(ordinal, f, id)
    }

    fn find(&self, ordinal: u32, f: u64, id: &str) -> Result<Option<Seen>> {
        if ordinal == ONE_PER_KEY {
            return match self.store.get(Table::Dedupe, id.as_bytes())? {
                Some(bytes) => decode(id, &bytes).map(Some),
                None => Ok(None),
            };
        }
        let Some(block) = self.blocks.get(ordinal as usize) else {
            return Ok(None);
        };
        let search = |bytes: &[u8]| -> Result<Option<Seen>> {
            let sealed = Sealed::parse(bytes).map_err(|detail| corrupt(&block.key, detail))?;
            sealed.find(f, id).map(|b| decode(id, b)).transpose()
        };
        match &block.state {
            State::Open(_, open) => open.find(f, id).map(|b| decode(id, b)).transpose(),
            State::Discarded => Ok(None),
            State::Sealed(_, bytes) | State::Stored(Some(bytes)) => search(bytes),
            // An older block, read for a redelivery: not cached, as
            // redeliveries of old payments rarely share a block.
            State::Stored(None) => match self.store.get(Table::Dedupe, block.key.as_bytes())? {
                Some(bytes) => search(&bytes),
                None => Ok(None),
            },
        }
    }

    fn cache(&mut self, ordinal: u32, bytes: Arc<[u8]>) {
        self.cached_bytes += bytes.len();
        self.blocks[ordinal as usize].state = State::Stored(Some(bytes));
        self.cached.push_back(ordinal);
        self.evict();
    }

    /// Drops the oldest blocks from memory until the rest fit.
    fn evict(&mut self) {
        while self.cached_bytes > self.recent_bytes {
            let Some(old) = self.cached.pop_front() else {
                break;
            };
            if let State::Stored(held) = &mut self.blocks[old as usize].state {
                if let Some(bytes) = held.take() {
                    self.cached_bytes -= bytes.len();
                }
            }
        }
    }

    /// Records the first decision on `id`, which [`Dedupe::get`] did not
    /// find; `source` is where the input came from (Kafka mode).
    pub fn record(&mut self, source: Option<Source>, id: &str, seen: &Seen) {
        self.record_as(source, id, fingerprint(id), seen);
    }

    /// [`Dedupe::record`] under a given fingerprint (tests force
    /// collisions with it).
    fn record_as(&mut self, source: Option<Source>, id: &str, f: u64, seen: &Seen) {
        let partition = source.map(|s| s.partition);
        let at = self.open.iter().position(
            |&o| matches!(&self.blocks[o as usize].state, State::Open(p, _) if *p == partition),
        );
        let ordinal = match at {
            Some(at) => self.open[at],
            None => {
                let key = match source {
                    Some(s) => format!("#{}/{:020}", s.partition, s.offset),
                    None => {
                        self.next_embedded += 1;
                        format!("#e/{:020}", self.next_embedded - 1)
                    }
                };
                let ordinal = self.add_block(key, State::Open(partition, OpenBlock::default()));
                self.open.push(ordinal);
                ordinal
            }
        };
        let full = match &mut self.blocks[ordinal as usize].state {
            State::Open(_, open) => {
                self.scratch.clear();
                seen.encode_into(&mut self.scratch);
                open.push(f, id, &self.scratch);
                open.is_full()
            }
            _ => false,
        };
        self.note(f, id, ordinal);
        if full {
            self.seal(ordinal);
        }
    }

    fn seal(&mut self, ordinal: u32) {
        let block = &mut self.blocks[ordinal as usize];
        if let State::Open(partition, open) = std::mem::replace(&mut block.state, State::Discarded)
        {
            block.state = State::Sealed(partition, open.seal().into());
            self.open.retain(|&o| o != ordinal);
            self.sealed.push(ordinal);
        }
    }

    fn seal_all(&mut self) {
        for ordinal in std::mem::take(&mut self.open) {
            self.seal(ordinal);
        }
    }

    /// Writes every entry recorded so far to the store (embedded mode's
    /// commit point).
    ///
    /// # Errors
    /// A storage failure; the entries stay pending to retry.
    pub fn flush(&mut self) -> Result<()> {
        self.seal_all();
        self.write_sealed()
    }

    /// Writes the sealed blocks to the store; they stay in memory, cached.
    fn write_sealed(&mut self) -> Result<()> {
        let mut batch = Batch::default();
        for &o in &self.sealed {
            let block = &self.blocks[o as usize];
            if let State::Sealed(_, bytes) = &block.state {
                batch.put(Table::Dedupe, block.key.as_bytes(), bytes.to_vec());
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.store.write(batch)?;
        for o in std::mem::take(&mut self.sealed) {
            if let State::Sealed(_, bytes) = &self.blocks[o as usize].state {
                let bytes = bytes.clone();
                self.cache(o, bytes);
            }
        }
        Ok(())
    }

    /// Seals every open block and hands out the blocks not yet in the
    /// store, for the changelog (Kafka mode, at the end of a transaction).
    /// They stay readable from memory until [`Dedupe::committed`] or
    /// [`Dedupe::discard`].
    pub fn take_changes(&mut self) -> Vec<Change> {
        self.seal_all();
        self.sealed
            .iter()
            .filter_map(|&o| match &self.blocks[o as usize].state {
                State::Sealed(partition, bytes) => Some(Change {
                    partition: partition.unwrap_or(0),
                    key: self.blocks[o as usize].key.clone(),
                    value: bytes.to_vec(),
                }),
                _ => None,
            })
            .collect()
    }

    /// The transaction that carried the last [`Dedupe::take_changes`]
    /// committed: writes those blocks (still sealed here, byte for byte
    /// what went to the changelog) to the store.
    ///
    /// # Errors
    /// A storage failure.
    pub fn committed(&mut self) -> Result<()> {
        self.write_sealed()
    }

    /// Forgets every entry not committed (their transaction aborted).
    pub fn discard(&mut self) {
        self.seal_all();
        for o in std::mem::take(&mut self.sealed) {
            self.blocks[o as usize].state = State::Discarded;
        }
    }

    /// Adds records read back from the changelog (blocks, or entries of
    /// the earlier layout) to the store and the index. Blocks known
    /// already are skipped: a restart reads its store first.
    ///
    /// # Errors
    /// A storage failure or a damaged record.
    pub fn restore(&mut self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        let mut batch = Batch::default();
        for (key, value) in records {
            let Some(value) = value else { continue };
            let key_text = String::from_utf8_lossy(key);
            if self.adopt(&key_text, value)? {
                batch.put(Table::Dedupe, key.clone(), value.clone());
            }
        }
        if !batch.is_empty() {
            self.store.write(batch)?;
        }
        Ok(())
    }

    /// Payments held (their fingerprints).
    pub fn len(&self) -> usize {
        self.index.len() + self.collided.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn corrupt(key: &str, detail: impl Into<String>) -> crate::error::Error {
    matchers::Error::Corrupt {
        table: Table::Dedupe.name(),
        key: key.to_string(),
        detail: detail.into(),
    }
    .into()
}

fn decode(id: &str, bytes: &[u8]) -> Result<Seen> {
    Seen::decode(bytes).map_err(|detail| corrupt(id, detail))
}

#[cfg(test)]
mod tests;
