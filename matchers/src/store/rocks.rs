//! The RocksDB backend: one column family per [`Table`], bloom filters for
//! point lookups (most lookups miss: a reference nobody has), an LRU block
//! cache, and the set merge operator on every table.

use std::path::{Path, PathBuf};

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DataBlockIndexType, Direction, IteratorMode,
    MergeOperands, Options, ReadOptions, WriteBatch, WriteOptions, DB,
};

use super::{set, Batch, KvStore, Op, Table};
use crate::error::Result;

/// How to open the store.
#[derive(Clone, Debug)]
pub struct RocksOptions {
    /// The database directory (created when missing).
    pub path: PathBuf,
    /// LRU block cache size, MiB, shared by all tables.
    pub block_cache_mb: usize,
    /// Skip the write-ahead log: faster, and safe when the store is
    /// rebuilt from its sources after a crash (embedded batch runs, the
    /// Kafka mode whose sources are topics). [`KvStore::flush`] persists.
    pub disable_wal: bool,
}

impl RocksOptions {
    /// Defaults for a directory: 256 MiB cache, WAL on.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        RocksOptions {
            path: path.into(),
            block_cache_mb: 256,
            disable_wal: false,
        }
    }
}

fn merge_sets(_key: &[u8], existing: Option<&[u8]>, operands: &MergeOperands) -> Option<Vec<u8>> {
    // A corrupt operand cannot happen (we write them all); if it did, keep
    // the existing value rather than fail the read.
    set::merge(existing.into_iter().chain(operands)).ok()
}

/// The RocksDB store.
pub struct RocksStore {
    db: DB,
    write_options: WriteOptions,
    read_options: ReadOptions,
    path: PathBuf,
}

impl RocksStore {
    /// Opens (or creates) the store.
    ///
    /// # Errors
    /// RocksDB's error: a lock held by another process, a bad path, a full disk.
    pub fn open(options: &RocksOptions) -> Result<Self> {
        let cache = Cache::new_lru_cache(options.block_cache_mb.max(8) << 20);
        let mut block = BlockBasedOptions::default();
        block.set_block_cache(&cache);
        block.set_bloom_filter(10.0, false);
        // Index and filter blocks stay in the table readers' memory rather
        // than compete in the block cache: each lookup saves two cache probes.
        block.set_cache_index_and_filter_blocks(false);
        // A hash index inside data blocks: point lookups skip the binary search.
        block.set_data_block_index_type(DataBlockIndexType::BinaryAndHash);
        block.set_data_block_hash_ratio(0.75);
        let table_options = |table: Table| {
            let mut cf = Options::default();
            cf.set_block_based_table_factory(&block);
            // Most lookups miss (a reference nobody has): a bloom filter on
            // the memtable answers them too. Not for the dedupe table: stage
            // 1 only reads a block its in-memory fingerprint map says holds
            // the payment (`pipeline::dedupe`), so its reads never miss.
            if table != Table::Dedupe {
                cf.set_memtable_whole_key_filtering(true);
                cf.set_memtable_prefix_bloom_ratio(0.1);
            }
            cf.set_merge_operator_associative("paymatch_set_v1", merge_sets);
            cf.set_compression_type(rocksdb::DBCompressionType::Lz4);
            cf.set_write_buffer_size(64 << 20);
            cf
        };
        let mut db_options = Options::default();
        db_options.create_if_missing(true);
        db_options.create_missing_column_families(true);
        db_options.increase_parallelism(2);
        let families = Table::ALL
            .iter()
            .map(|t| ColumnFamilyDescriptor::new(t.name(), table_options(*t)));
        let db = DB::open_cf_descriptors(&db_options, &options.path, families)?;
        let mut write_options = WriteOptions::default();
        write_options.disable_wal(options.disable_wal);
        let mut read_options = ReadOptions::default();
        // Blocks are checksummed when read from disk; re-verifying cached
        // blocks on every point lookup buys nothing.
        read_options.set_verify_checksums(false);
        Ok(RocksStore {
            db,
            write_options,
            read_options,
            path: options.path.clone(),
        })
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn cf(&self, table: Table) -> &rocksdb::ColumnFamily {
        // Every table is created at open.
        self.db
            .cf_handle(table.name())
            .expect("column family created at open")
    }
}

impl KvStore for RocksStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self
            .db
            .get_pinned_cf_opt(self.cf(table), key, &self.read_options)?
            .map(|v| v.to_vec()))
    }

    fn write(&self, batch: Batch) -> Result<()> {
        let mut ops = batch.ops;
        // In key order, each insert into the memtable's skip list starts
        // from where the previous one ended (RocksDB keeps the search path
        // of the last insert) instead of from the top: a batch of random
        // payment ids cost a full search each, the largest single share of
        // stage 1. Stable, so writes to one key keep their order.
        ops.sort_by(|a, b| a.target().cmp(&b.target()));
        let mut wb = WriteBatch::default();
        for op in ops {
            match op {
                Op::Put(t, k, v) => wb.put_cf(self.cf(t), k, v),
                Op::Delete(t, k) => wb.delete_cf(self.cf(t), k),
                Op::SetAdd(t, k, m) => wb.merge_cf(self.cf(t), k, set::operand(&m, true)),
                Op::SetRemove(t, k, m) => wb.merge_cf(self.cf(t), k, set::operand(&m, false)),
                Op::SetChanges(t, k, run) => wb.merge_cf(self.cf(t), k, run),
            }
        }
        self.db.write_opt(wb, &self.write_options)?;
        Ok(())
    }

    fn scan_prefix(
        &self,
        table: Table,
        prefix: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        let iter = self.db.iterator_cf(
            self.cf(table),
            IteratorMode::From(prefix, Direction::Forward),
        );
        for item in iter {
            let (key, value) = item?;
            if !key.starts_with(prefix) || !visit(&key, &value) {
                break;
            }
        }
        Ok(())
    }

    fn compact(&self, table: Table) -> Result<()> {
        let cf = self.cf(table);
        self.db.flush_cf(cf)?;
        self.db.compact_range_cf(cf, None::<&[u8]>, None::<&[u8]>);
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        for table in Table::ALL {
            self.db.flush_cf(self.cf(table))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rocksdb_batches_apply_in_key_order_but_keep_the_order_of_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = RocksStore::open(&RocksOptions::new(dir.path())).unwrap();
        let mut batch = Batch::default();
        // Keys out of order, and three writes to `k` whose last must win.
        batch.put(Table::Dedupe, b"z".to_vec(), b"1".to_vec());
        batch.put(Table::Dedupe, b"k".to_vec(), b"first".to_vec());
        batch.put(Table::State, b"a".to_vec(), b"2".to_vec());
        batch.delete(Table::Dedupe, b"k".to_vec());
        batch.put(Table::Dedupe, b"a".to_vec(), b"3".to_vec());
        batch.put(Table::Dedupe, b"k".to_vec(), b"last".to_vec());
        batch.set_add(Table::Refs, b"s".to_vec(), b"m".to_vec());
        batch.set_remove(Table::Refs, b"s".to_vec(), b"m".to_vec());
        store.write(batch).unwrap();
        assert_eq!(store.get(Table::Dedupe, b"k").unwrap().unwrap(), b"last");
        assert_eq!(store.get(Table::Dedupe, b"z").unwrap().unwrap(), b"1");
        assert_eq!(store.get(Table::Dedupe, b"a").unwrap().unwrap(), b"3");
        assert_eq!(store.get(Table::State, b"a").unwrap().unwrap(), b"2");
        assert!(crate::store::owned_members(&store, Table::Refs, b"s").is_empty());
    }
}
